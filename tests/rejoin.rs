//! The fallback's journal and its replay, in the core: write calls made on the fallback are
//! journaled in their own transaction (a refused one is not), and replay onto PostgreSQL with
//! the ids and times the callers got, exactly once however often the replay runs; a row the
//! primary holds with other content is set aside as a conflict.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;
use workflow_infra::core::config::{ConnectConfig, RawConfig, RawFallback};
use workflow_infra::core::db::connect;
use workflow_infra::core::db::journal::{self, Entry};
use workflow_infra::core::db::{Database, Dialect, Output};
use workflow_infra::core::exec::rejoin::{self, Replayed};
use workflow_infra::core::exec::{self, Audience, Plan, Request, Submitted, WriteNow};
use workflow_infra::core::input::Input;
use workflow_infra::core::stamp::Stamp;
use workflow_infra::core::value::Value;
use workflow_infra::core::workflow::service;

/// The methods these tests journal, as the binding's table names them.
fn replan(method: &str, _d: &Dialect, args: Vec<Input>) -> Option<Plan> {
    let first = args.into_iter().next().unwrap_or(Input::Undefined);
    match method {
        "Test.create" => Some(service::create_execution(&first)),
        "Test.bulk" => Some(service::bulk_create(first)),
        _ => None,
    }
}

/// Submits `plan` journaled as `method(arg)` under a fresh stamp, as the binding does.
async fn journaled(db: &Arc<Database>, method: &str, arg: Input) -> Result<Output, String> {
    let stamp = Stamp::fresh();
    let plan = stamp.apply(|| replan(method, &Dialect::of(db), vec![arg.clone()]).unwrap());
    let request = Request {
        operation: "Failed to test",
        source: "Test",
        audience: Audience::Own,
        plan,
        journal: Some(Entry::new(method.to_string(), vec![arg], stamp)),
    };
    let outcome = match exec::submit(db, request, WriteNow::Allowed) {
        Submitted::Ready(o) | Submitted::Written(o) => o,
        Submitted::Later(job) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            job.run(move |o| {
                let _ = tx.send(o);
            });
            rx.await.unwrap()
        }
    };
    outcome.result.map_err(|e| e.message)
}

fn fallback_config(path: &std::path::Path) -> ConnectConfig {
    ConnectConfig::from_raw(
        RawConfig {
            kind: Some("postgresql".into()),
            host: Some("127.0.0.1".into()),
            port: Some("1".into()),
            fallback: Some(RawFallback {
                kind: Some("sqlite".into()),
                database: Some(path.display().to_string()),
            }),
            connect_timeout_ms: Some(500.0),
            ..Default::default()
        },
        None,
    )
    .unwrap()
}

fn execution(id: &str, name: &str) -> Input {
    Input::from(json!({"executionId": id, "workflowId": "w", "workflowName": name}))
}

async fn one(db: &Database, sql: &'static str, id: &str) -> Option<Value> {
    db.fetch(sql, vec![Value::from(id)])
        .await
        .unwrap()
        .first()
        .and_then(|r| r.values.first().cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_the_fallback_replay_once_with_the_rows_the_callers_got() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    let path = sqlite_path();
    let fallback = Arc::new(connect::connect(&fallback_config(&path)).await.unwrap());
    assert!(fallback.used_fallback() && fallback.journaling());

    let Output::Row(created) = journaled(&fallback, "Test.create", execution("a", "A"))
        .await
        .unwrap()
    else {
        panic!("a row")
    };
    journaled(&fallback, "Test.create", execution("b", "On the fallback"))
        .await
        .unwrap();
    // Refused input writes nothing, so nothing is journaled.
    assert!(journaled(&fallback, "Test.create", Input::Null)
        .await
        .is_err());
    let bulk = Input::from(json!([{"executionId": "c1", "workflowId": "w", "workflowName": "C"}]));
    journaled(&fallback, "Test.bulk", bulk).await.unwrap();
    assert_eq!(journal::count(&fallback, "pending").await.unwrap(), 3);
    assert_eq!(fallback.journal().figures(), (3, 0, 0));

    // The primary already holds `b`, with other content.
    let primary = Arc::new(connect::connect(&url_config(&pg.url)).await.unwrap());
    journaled(&primary, "Test.create", execution("b", "On PostgreSQL"))
        .await
        .unwrap();
    let done = rejoin::replay(&fallback, &primary, replan).await.unwrap();
    assert_eq!(
        done,
        Replayed {
            replayed: 2,
            conflicts: 1
        }
    );
    let id = "SELECT id FROM workflow_executions WHERE execution_id = $1";
    assert_eq!(one(&primary, id, "a").await, created.get("id").cloned());
    let name = "SELECT workflow_name FROM workflow_executions WHERE execution_id = $1";
    assert_eq!(
        one(&primary, name, "b").await,
        Some(Value::from("On PostgreSQL"))
    );
    assert!(one(&primary, id, "c1").await.is_some());

    // Replaying again applies nothing twice, even an operation marked pending once more (as
    // when a process died between PostgreSQL's commit and the journal's mark).
    fallback
        .write(vec![workflow_infra::core::db::Statement::new(
            "UPDATE workflow_infra_journal SET state = 'pending' WHERE state = 'replayed'",
            vec![],
        )])
        .await
        .unwrap();
    let again = rejoin::replay(&fallback, &primary, replan).await.unwrap();
    assert_eq!(
        again,
        Replayed {
            replayed: 2,
            conflicts: 0
        }
    );
    let count = primary
        .fetch("SELECT count(*) AS n FROM workflow_executions", vec![])
        .await
        .unwrap();
    assert_eq!(count[0].get("n").and_then(Value::as_i64), Some(3));
    let left = journal::unreplayed(&fallback).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].get("state"), Some(&Value::from("conflict")));
    fallback.close().await;
    primary.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_left_in_the_fallback_file_is_replayed_at_connect() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    let path = sqlite_path();
    let fallback = Arc::new(connect::connect(&fallback_config(&path)).await.unwrap());
    journaled(&fallback, "Test.create", execution("left", "L"))
        .await
        .unwrap();
    fallback.close().await;
    drop(fallback);

    let mut config = url_config(&pg.url);
    config.fallback = fallback_config(&path).fallback;
    let primary = rejoin::connect(&config, replan).await.unwrap();
    assert!(!primary.used_fallback());
    assert_eq!(primary.journal().figures(), (0, 1, 0));
    let id = "SELECT execution_id FROM workflow_executions WHERE execution_id = $1";
    assert_eq!(one(&primary, id, "left").await, Some(Value::from("left")));
    primary.close().await;
}
