//! A call's abort on every backend: a write whose signal fires while its statements run is
//! rolled back (its transaction on PostgreSQL, its savepoint in SQLite's group), a write whose
//! signal fired before it started runs nothing, a read's result is dropped, and a write that
//! committed before the signal fired stays committed and is reported as done.

mod common;

use std::time::Duration;

use common::*;
use workflow_infra::core::abort::{Abort, Abortable};
use workflow_infra::core::db::statement::Statement;
use workflow_infra::core::error::{Error, ErrorCode};

/// A statement that takes a while on `backend` (a quarter of a second or more).
fn slow(backend: &str) -> Statement {
    match backend {
        "postgresql" => Statement::new("SELECT pg_sleep(0.25)", vec![]),
        _ => Statement::new(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) \
             SELECT count(*) FROM c",
            vec![],
        ),
    }
}

fn insert(name: &str) -> Statement {
    Statement::new(
        format!("INSERT INTO workflow_metrics (id, metric_name, metric_value) VALUES ('{}', '{name}', 1)", uuid::Uuid::new_v4()),
        vec![],
    )
}

/// What `work` (a slow statement in it) comes to when its abort fires 30 ms in.
async fn fired_while_running<T: std::fmt::Debug>(
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> ErrorCode {
    let abort = Abort::new();
    let fire = abort.clone();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        fire.fire();
    });
    let result = Abortable::new(Some(abort), work).await;
    timer.await.unwrap();
    result.unwrap_err().code
}

async fn count(backend: &Backend, name: &str) -> usize {
    backend
        .db
        .fetch(
            format!("SELECT id FROM workflow_metrics WHERE metric_name = '{name}'"),
            vec![],
        )
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_rolls_back_a_write_under_way_and_stops_one_not_begun() {
    for backend in all_backends().await {
        let db = &backend.db;
        // Fired while its statements run: rolled back.
        let write = db.write(vec![insert("under_way"), slow(backend.name)]);
        let code = fired_while_running(write).await;
        assert_eq!(code, ErrorCode::Aborted, "{}", backend.name);
        assert_eq!(count(&backend, "under_way").await, 0, "{}", backend.name);

        // Fired before it started: nothing runs.
        let abort = Abort::new();
        abort.fire();
        let result = Abortable::new(Some(abort), db.write(vec![insert("not_begun")])).await;
        assert_eq!(result.unwrap_err().code, ErrorCode::Aborted);
        assert_eq!(count(&backend, "not_begun").await, 0);

        // Fired after it committed: done, and kept.
        let abort = Abort::new();
        let result = Abortable::new(Some(abort.clone()), db.write(vec![insert("committed")])).await;
        abort.fire();
        assert!(result.is_ok(), "{}", backend.name);
        assert_eq!(count(&backend, "committed").await, 1);

        // Never fired: a write under an abort commits as any other.
        let abort = Abort::new();
        let result = Abortable::new(
            Some(abort),
            db.write(vec![insert("plain"), insert("plain")]),
        )
        .await;
        assert_eq!(result.unwrap().len(), 2);
        assert_eq!(count(&backend, "plain").await, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_signal_fired_meanwhile_is_dropped() {
    use workflow_infra::core::db::call::{Call, Shape};
    for backend in all_backends().await {
        let read = backend
            .db
            .call(Call::scan(slow(backend.name), Shape::RowOrNull));
        let code = fired_while_running(read).await;
        assert_eq!(code, ErrorCode::Aborted, "{}", backend.name);
    }
}
