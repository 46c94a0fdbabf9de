//! The services' core on every backend: the workflow facade's transactions, the event plans,
//! cache invalidation through writes, and (PostgreSQL) notifications between connections.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use workflow_infra::core::cache::service::{CacheService, Key};
use workflow_infra::core::db::connect;
use workflow_infra::core::db::invalidate::Invalidate;
use workflow_infra::core::db::postgres::notify;
use workflow_infra::core::db::{Database, DbKind};
use workflow_infra::core::db::{Dialect, Output};
use workflow_infra::core::error::ErrorCode;
use workflow_infra::core::input::Input;
use workflow_infra::core::repo::statistics::MetricFilters;
use workflow_infra::core::repo::{executions, metrics, statistics};
use workflow_infra::core::value::{Row, Value};
use workflow_infra::core::workflow;
use workflow_infra::core::workflow::events::{self, FollowUp};

fn i(j: serde_json::Value) -> Input {
    Input::from(j)
}

/// Waits until `done()` holds, failing with `what` after `within`.
async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn row(db: &Database, id: &str) -> Option<Row> {
    match db
        .call(executions::find_by_execution_id(&i(json!(id))).unwrap())
        .await
        .unwrap()
    {
        Output::Row(r) => Some(r),
        _ => None,
    }
}

async fn metric_names(db: &Database, id: &str) -> Vec<String> {
    let out = db
        .call(metrics::for_execution(&i(json!(id)), &Input::Undefined).unwrap())
        .await
        .unwrap();
    let mut names: Vec<String> = out
        .into_rows()
        .iter()
        .map(|r| r.get("metric_name").unwrap().as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn event(db: &Database, name: &str, payload: serde_json::Value) -> (Output, FollowUp) {
    let work = events::plan(&Dialect::of(db), name, &i(payload)).unwrap();
    let out = match work.call {
        Some(call) => db.call(call).await.unwrap(),
        None => Output::Null,
    };
    (out, work.follow_up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_facade_writes_each_change_with_its_metrics_in_one_transaction() {
    for b in all_backends().await {
        let db = &b.db;
        let saved = db
            .call(
                workflow::save_execution(&i(
                    json!({"workflowId": "w", "workflowName": "W", "executionId": "e1"}),
                ))
                .unwrap(),
            )
            .await
            .unwrap();
        assert!(matches!(saved, Output::Row(_)), "{}", b.name);
        assert_eq!(metric_names(db, "e1").await, ["execution_started"]);
        // The second save conflicts: neither the row nor a second metric is written.
        let err = db
            .call(
                workflow::save_execution(&i(
                    json!({"workflowId": "w", "workflowName": "W", "executionId": "e1"}),
                ))
                .unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Conflict, "{}", b.name);
        assert_eq!(metric_names(db, "e1").await, ["execution_started"]);

        let updated = db
            .call(
                workflow::update_execution(
                    &i(json!("e1")),
                    &i(json!({"status": "completed", "actualDuration": 5})),
                )
                .unwrap(),
            )
            .await
            .unwrap();
        assert!(matches!(updated, Output::Row(_)));
        assert_eq!(
            metric_names(db, "e1").await,
            [
                "execution_completed",
                "execution_duration",
                "execution_started"
            ]
        );
        let missing = db
            .call(
                workflow::update_execution(&i(json!("nope")), &i(json!({"status": "failed"})))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(missing, Output::Null);
        assert!(workflow::update_execution(&i(json!("e1")), &i(json!({"bogus": 1}))).is_err());
        let found = db
            .call(workflow::find_executions(&Input::Undefined, &i(json!({"limit": 10}))).unwrap())
            .await
            .unwrap();
        assert_eq!(found.into_rows().len(), 1);
        let with = workflow::execution_with_metrics(db, &i(json!("e1")))
            .await
            .unwrap();
        let Output::Object(fields) = with else {
            panic!("{with:?}")
        };
        assert!(fields.iter().any(|(k, _)| k == "metrics"));
        let stats = workflow::execution_statistics(db, &Input::Undefined)
            .await
            .unwrap();
        assert!(matches!(stats, Output::Object(_)));
        let export = workflow::export(db, &Input::Undefined, &Input::Undefined)
            .await
            .unwrap();
        let Output::Object(parts) = export else {
            panic!()
        };
        assert_eq!(
            parts.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["metadata", "executions", "statistics", "aggregatedMetrics"]
        );

        let bulk = workflow::bulk_create(
            db,
            &i(json!([
                {"workflowId": "w", "workflowName": "W", "executionId": "b1"},
                {"workflowId": "w", "workflowName": "W", "executionId": "e1"},
                {"workflowName": "no id"}
            ])),
        )
        .await
        .unwrap();
        let Output::Object(parts) = bulk else {
            panic!()
        };
        let summary = format!("{:?}", parts[2].1);
        assert!(
            summary.contains("Int(3)") && summary.contains("Int(1)") && summary.contains("Int(2)"),
            "{summary}"
        );
        let bulk = workflow::bulk_update(
            db,
            &i(json!([{"executionId": "b1", "status": "failed"}, {"executionId": "zz", "status": "failed"}, 7])),
        )
        .await
        .unwrap();
        let Output::Object(parts) = bulk else {
            panic!()
        };
        assert!(format!("{:?}", parts[1].1).contains("no execution with this executionId"));
        assert_eq!(
            metric_names(db, "b1").await,
            ["execution_failed", "execution_started"]
        );

        let deleted = db
            .call(workflow::delete_execution(&i(json!("e1"))).unwrap())
            .await
            .unwrap();
        assert_eq!(deleted, Output::Bool(true));
        assert!(metric_names(db, "e1").await.is_empty());
        let counts = db
            .call(workflow::cleanup(&i(json!(0)), &i(json!({"limit": 10}))).unwrap())
            .await
            .unwrap();
        assert!(matches!(counts, Output::Row(_)));
        assert!(workflow::cleanup(&i(json!(0)), &i(json!({"limit": 0}))).is_err());
        assert!(workflow::record_execution_metric(&i(json!("b1")), &i(json!(5))).is_err());
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_compute_durations_in_sql_and_finish_an_execution_once() {
    for b in all_backends().await {
        let db = &b.db;
        for id in ["a", "c"] {
            db.call(workflow::save_execution(&i(json!({"workflowId": "w", "workflowName": "W", "executionId": id, "taskId": "t"}))).unwrap())
                .await
                .unwrap();
        }
        event(
            db,
            "workflow.execution.started",
            json!({"executionId": "a"}),
        )
        .await;
        event(
            db,
            "workflow.execution.started",
            json!({"executionId": "c"}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(12)).await;
        let (done, _) = event(
            db,
            "workflow.execution.completed",
            json!({"executionId": "a", "result": {"n": 1}}),
        )
        .await;
        let Output::Row(r) = done else {
            panic!("{}: {done:?}", b.name)
        };
        let ms = |k: &str| match r.get(k) {
            Some(Value::Timestamp(t)) => *t,
            other => panic!("{k}: {other:?}"),
        };
        let duration = r.get("actual_duration").and_then(Value::as_f64).unwrap() as i64;
        assert_eq!(duration, ms("end_time") - ms("start_time"), "{}", b.name);
        assert!(duration >= 12, "{}: {duration}", b.name);
        // A second finishing event changes nothing and writes no metric.
        let (again, _) = event(
            db,
            "workflow.execution.cancelled",
            json!({"executionId": "a", "reason": "late"}),
        )
        .await;
        assert_eq!(again, Output::Null, "{}", b.name);
        assert_eq!(
            metric_names(db, "a").await,
            [
                "execution_completed",
                "execution_duration",
                "execution_started",
                "workflow_completion_time",
                "workflow_start_time",
                "workflow_total_duration"
            ]
        );
        // The task form completes the task's running execution.
        let (by_task, _) = event(db, "workflow.execution.completed", json!({"taskId": "t"})).await;
        assert!(matches!(by_task, Output::Row(_)), "{}", b.name);
        assert_eq!(
            row(db, "c").await.unwrap().get("status"),
            Some(&Value::from("completed"))
        );
        assert!(metric_names(db, "c")
            .await
            .contains(&"workflow_total_duration".to_string()));
        let (_, follow) = event(
            db,
            "workflow.maintenance.required",
            json!({"maintenanceType": "cleanup", "daysOld": 1}),
        )
        .await;
        assert_eq!(
            follow,
            FollowUp::Maintenance {
                kind: "cleanup".into(),
                cleanup: Some(1)
            }
        );
        let (_, follow) = event(db, "workflow.cleanup.required", json!({})).await;
        assert_eq!(follow, FollowUp::CleanupCompleted { days_old: 30 });
        assert!(events::plan(&Dialect::of(db), "nope", &Input::Undefined).is_err());
        assert!(events::plan(
            &Dialect::of(db),
            "workflow.execution.completed",
            &i(json!({}))
        )
        .is_err());
        assert_eq!(
            events::canonical("handler:execution:failed"),
            Some("handler.execution.failed")
        );
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_invalidate_the_cache_service_before_they_return() {
    for b in all_backends().await {
        let db = &b.db;
        let pg = db.kind() == DbKind::Postgres;
        let cache = Arc::new(CacheService::new(100, Duration::from_secs(60), pg));
        let watcher: Arc<dyn Invalidate> = cache.clone();
        db.watch(Arc::downgrade(&watcher));
        if pg {
            cache.attach(db.hub().await.unwrap().unwrap());
        } else {
            assert!(db.hub().await.unwrap().is_none());
        }
        db.call(
            workflow::save_execution(&i(
                json!({"workflowId": "w", "workflowName": "W", "executionId": "x"}),
            ))
            .unwrap(),
        )
        .await
        .unwrap();
        let key = Key::Execution("x".into());
        let generation = cache.lookup(&key).unwrap_err();
        cache.store(key.clone(), row(db, "x").await.unwrap(), generation);
        assert!(cache.lookup(&key).is_ok(), "{}", b.name);
        db.call(executions::update(&i(json!("x")), &i(json!({"priority": 3}))).unwrap())
            .await
            .unwrap();
        assert!(
            cache.lookup(&key).is_err(),
            "{}: stale after a write",
            b.name
        );
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_connections_hear_each_others_changes_and_events() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let a = connect::connect(&url_config(&scratch.url)).await.unwrap();
    let b = connect::connect(&url_config(&scratch.url)).await.unwrap();
    let cache = Arc::new(CacheService::new(100, Duration::from_secs(60), true));
    let watcher: Arc<dyn Invalidate> = cache.clone();
    b.watch(Arc::downgrade(&watcher));
    let hub = b.hub().await.unwrap().unwrap();
    cache.attach(hub.clone());
    let mut rx = remote_events(&hub);
    a.call(
        workflow::save_execution(&i(
            json!({"workflowId": "w", "workflowName": "W", "executionId": "p"}),
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    let key = Key::Execution("p".into());
    let generation = cache.lookup(&key).unwrap_err();
    cache.store(key.clone(), row(&b, "p").await.unwrap(), generation);
    a.call(executions::update(&i(json!("p")), &i(json!({"status": "running"}))).unwrap())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while cache.lookup(&key).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "no invalidation within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A dropped listening connection: everything cached is flushed, the listener reconnects
    // and invalidations flow again.
    let flushes = cache.stats().flushes;
    cut_listeners(&a).await;
    wait_until(
        "no flush and reconnection after the connection dropped",
        Duration::from_secs(3),
        || cache.stats().flushes > flushes && hub.connected(),
    )
    .await;
    let generation = cache.lookup(&key).unwrap_err();
    cache.store(key.clone(), row(&b, "p").await.unwrap(), generation);
    assert!(
        cache.lookup(&key).is_ok(),
        "caching resumes once reconnected"
    );
    a.call(executions::update(&i(json!("p")), &i(json!({"priority": 9}))).unwrap())
        .await
        .unwrap();
    wait_until(
        "no invalidation after reconnecting",
        Duration::from_secs(1),
        || cache.lookup(&key).is_err(),
    )
    .await;

    let workflow_infra::core::db::Backend::Postgres(pg) = a.backend() else {
        panic!()
    };
    notify::publish(
        pg.pool(),
        pg.channels(),
        &notify::Outgoing {
            origin: "origin-a",
            event_type: "small",
            data: &json!({"n": 1}),
            event_id: None,
        },
    )
    .await
    .unwrap();
    notify::publish(
        pg.pool(),
        pg.channels(),
        &notify::Outgoing {
            origin: "origin-a",
            event_type: "big",
            data: &json!({"s": "y".repeat(9000)}),
            event_id: None,
        },
    )
    .await
    .unwrap();
    for expected in ["small", "big"] {
        let e = tokio::time::timeout(Duration::from_secs(1), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.origin.as_str(), e.event_type.as_str()),
            ("origin-a", expected)
        );
    }
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_planned_event_writes_its_metrics() {
    let cases = [
        (
            "workflow.step.started",
            json!({"executionId": "s", "stepId": "1", "stepName": "Lint"}),
            "step_started",
        ),
        (
            "workflow.step.completed",
            json!({"executionId": "s", "stepId": "1", "stepName": "Lint", "duration": 4}),
            "step_duration",
        ),
        (
            "workflow.step.failed",
            json!({"executionId": "s", "stepId": "2", "stepName": "Test", "error": "red"}),
            "step_failed",
        ),
        (
            "handler.execution.started",
            json!({"executionId": "s", "handlerType": "lint"}),
            "handler_started",
        ),
        (
            "handler:execution:completed",
            json!({"executionId": "s", "handlerType": "lint", "duration": 3}),
            "handler_duration",
        ),
        (
            "handler.execution.failed",
            json!({"executionId": "s", "handlerType": "lint", "error": {"name": "Error", "message": "bad"}}),
            "handler_failed",
        ),
        (
            "workflow.performance.metric",
            json!({"executionId": "s", "metricName": "tokens", "metricValue": 9}),
            "tokens",
        ),
        (
            "workflow.performance.alert",
            json!({"executionId": "s", "alertType": "slow", "threshold": 1, "actualValue": 2, "metricUnit": "ms", "severity": "low"}),
            "performance_alert",
        ),
        (
            "workflow.execution.failed",
            json!({"executionId": "f", "error": "boom", "stack": "at x"}),
            "execution_failed",
        ),
        (
            "workflow.execution.cancelled",
            json!({"executionId": "c", "cancelledBy": "ann", "reason": "why"}),
            "workflow_cancellation_time",
        ),
    ];
    for b in all_backends().await {
        let db = &b.db;
        for id in ["s", "f", "c"] {
            db.call(workflow::save_execution(&i(json!({"workflowId": "w", "workflowName": "W", "executionId": id, "metadata": {"keep": 1}}))).unwrap())
                .await
                .unwrap();
        }
        for (name, payload, metric) in &cases {
            let id = payload["executionId"].as_str().unwrap();
            let (_, follow) = event(db, name, payload.clone()).await;
            assert!(
                metric_names(db, id).await.contains(&metric.to_string()),
                "{}: {name} wrote no {metric}",
                b.name
            );
            if *name == "workflow.performance.alert" {
                let FollowUp::Alert(alert) = follow else {
                    panic!("{follow:?}")
                };
                assert_eq!(
                    (alert["executionId"].as_str(), alert["actualValue"].as_f64()),
                    (Some("s"), Some(2.0))
                );
            }
        }
        let cancelled = row(db, "c").await.unwrap();
        assert_eq!(
            cancelled.get("metadata"),
            Some(&Value::Json(
                json!({"keep": 1, "cancelledBy": "ann", "cancellationReason": "why"})
            )),
            "{}",
            b.name
        );
        let failed = row(db, "f").await.unwrap();
        assert_eq!(failed.get("status"), Some(&Value::from("failed")));
        let (_, follow) = event(
            db,
            "workflow.maintenance.required",
            json!({"maintenanceType": "optimize"}),
        )
        .await;
        assert_eq!(
            follow,
            FollowUp::Maintenance {
                kind: "optimize".into(),
                cleanup: None
            }
        );
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_commit_together_and_a_bad_one_fails_alone() {
    for b in all_backends().await {
        let db = Arc::new(b.db);
        db.call(
            workflow::save_execution(&i(
                json!({"workflowId": "w", "workflowName": "W", "executionId": "g"}),
            ))
            .unwrap(),
        )
        .await
        .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..64 {
            let db = db.clone();
            tasks.spawn(async move {
                // Every 16th names an execution that does not exist (a foreign-key violation).
                let execution = if n % 16 == 5 { "missing" } else { "g" };
                let metric = json!({"executionId": execution, "metricName": format!("m{n}"), "metricValue": n});
                let single = db.call(metrics::record(&i(metric)).unwrap()).await;
                let event = json!({"executionId": "g", "stepId": n.to_string(), "stepName": "s", "duration": n + 1});
                let (plan_db, name) = (db.clone(), "workflow.step.completed");
                let work = events::plan(&Dialect::of(&plan_db), name, &i(event)).unwrap();
                let evented = db.call(work.call.unwrap()).await;
                (n, execution, single, evented)
            });
        }
        let mut ok = 0;
        while let Some(done) = tasks.join_next().await {
            let (n, execution, single, evented) = done.unwrap();
            assert!(evented.is_ok(), "{}: {evented:?}", b.name);
            match (execution, single) {
                ("g", Ok(Output::Row(row))) => {
                    assert_eq!(
                        row.get("metric_name"),
                        Some(&Value::from(format!("m{n}"))),
                        "{}",
                        b.name
                    );
                    assert_eq!(
                        row.get("metric_value").and_then(Value::as_f64),
                        Some(n as f64)
                    );
                    ok += 1;
                }
                ("missing", Err(e)) => assert_eq!(e.code, ErrorCode::Conflict, "{}", b.name),
                (_, other) => panic!("{}: metric {n}: {other:?}", b.name),
            }
        }
        assert_eq!(ok, 60, "{}", b.name);
        // 60 single metrics, 64 × (step_completed + step_duration), and the execution_started.
        let stats = db
            .call(statistics::statistics_scan(
                &Dialect::of(&db),
                &MetricFilters::parse(&i(json!({"executionId": "g"}))).unwrap(),
            ))
            .await
            .unwrap();
        let Output::Row(stats) = stats else { panic!() };
        assert_eq!(
            stats.get("total_metrics").and_then(Value::as_f64),
            Some(60.0 + 128.0 + 1.0),
            "{}",
            b.name
        );
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_events_published_while_a_listener_reconnects_all_arrive_once() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let a = connect::connect(&url_config(&scratch.url)).await.unwrap();
    let b = connect::connect(&url_config(&scratch.url)).await.unwrap();
    let hub = b.hub().await.unwrap().unwrap();
    let mut rx = remote_events(&hub);
    let workflow_infra::core::db::Backend::Postgres(pg) = a.backend() else {
        panic!()
    };
    const EVENTS: usize = 60;
    for n in 0..EVENTS {
        if n % 20 == 5 {
            // b's listening connection dies; the events published while it reconnects are
            // read back from the outbox once it is back.
            cut_listeners(&a).await;
        }
        notify::publish(
            pg.pool(),
            pg.channels(),
            &notify::Outgoing {
                origin: "origin-a",
                event_type: "tick",
                data: &json!({"n": n}),
                event_id: None,
            },
        )
        .await
        .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < EVENTS {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(e)) => got.push(e.data["n"].as_u64().unwrap() as usize),
            _ => break,
        }
    }
    // Nothing more comes (each event once).
    assert!(tokio::time::timeout(Duration::from_millis(300), rx.recv())
        .await
        .is_err());
    assert_eq!(
        got,
        (0..EVENTS).collect::<Vec<_>>(),
        "every event, once, in order"
    );
    a.close().await;
    b.close().await;
}

/// Ends every LISTEN connection on `db`'s database (the listeners then reconnect).
async fn cut_listeners(db: &Database) {
    db.fetch(
        "SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        vec![],
    )
    .await
    .unwrap();
}

/// The events other processes publish, as `hub` delivers them.
fn remote_events(hub: &notify::Hub) -> tokio::sync::mpsc::UnboundedReceiver<notify::RemoteEvent> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let backlog = workflow_infra::core::backlog::Backlog::default();
    hub.add_sink(
        backlog,
        Arc::new(move |e: notify::RemoteEvent| {
            let _ = tx.send(e);
        }),
    );
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_ups_of_earlier_versions_are_still_delivered_once() {
    let Some(scratch) = PgScratch::create().await else {
        return;
    };
    let a = connect::connect(&url_config(&scratch.url)).await.unwrap();
    let b = connect::connect(&url_config(&scratch.url)).await.unwrap();
    let hub = b.hub().await.unwrap().unwrap();
    let mut rx = remote_events(&hub);
    let workflow_infra::core::db::Backend::Postgres(pg) = a.backend() else {
        panic!()
    };
    let notify_raw = |payload: serde_json::Value| {
        a.fetch(
            "SELECT pg_notify($1, $2) AS sent",
            vec![
                Value::Text(pg.channels().events.clone()),
                Value::Text(payload.to_string()),
            ],
        )
    };
    // An event inline, as the first versions sent it.
    notify_raw(json!({"o": "old", "t": "inline", "d": {"n": 1}}))
        .await
        .unwrap();
    // One stored without its type, read by id, as the next versions sent it.
    let stored = a
        .fetch(
            "INSERT INTO workflow_infra_events (payload) VALUES ($1) RETURNING id",
            vec![Value::Text(json!({"n": 2}).to_string())],
        )
        .await
        .unwrap();
    let id = stored[0].get("id").and_then(Value::as_i64).unwrap();
    notify_raw(json!({"o": "old", "t": "stored", "p": id}))
        .await
        .unwrap();
    // And this version's.
    notify::publish(
        pg.pool(),
        pg.channels(),
        &notify::Outgoing {
            origin: "new",
            event_type: "current",
            data: &json!({"n": 3}),
            event_id: None,
        },
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
        got.push((e.event_type, e.data["n"].as_i64().unwrap()));
    }
    assert_eq!(
        got,
        vec![
            ("inline".to_string(), 1),
            ("stored".to_string(), 2),
            ("current".to_string(), 3)
        ]
    );
    a.close().await;
    b.close().await;
}
