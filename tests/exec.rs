//! The one call path on every backend: plans submitted to the executor come to outcomes with
//! the result, the log records and the follow-up events the binding hands to JS; the database
//! methods' plans; the cache service's read-through; the event service's distributed side.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use workflow_infra::core::admin::{self, Method};
use workflow_infra::core::cache::service::{hit_rate, CacheService, Key};
use workflow_infra::core::db::connect;
use workflow_infra::core::db::postgres::broadcast::{self, Broadcast};
use workflow_infra::core::db::{Database, DbKind, Dialect, Output};
use workflow_infra::core::error::ErrorCode;
use workflow_infra::core::exec::outcome::trace;
use workflow_infra::core::exec::{
    self, Audience, Completion, Level, Outcome, Plan, Request, Submitted, WriteNow,
};
use workflow_infra::core::input::Input;
use workflow_infra::core::repo::executions;
use workflow_infra::core::value::Value;
use workflow_infra::core::workflow::events::{self, conclude, EventKind, Handled};
use workflow_infra::core::workflow::service;

fn i(j: serde_json::Value) -> Input {
    Input::from(j)
}

/// Submits `plan` as the binding does and waits for its outcome, wherever it is had.
async fn run(db: &Arc<Database>, audience: Audience, plan: Plan) -> Outcome {
    let request = Request {
        operation: "Failed to test",
        source: "Test",
        audience,
        plan,
        journal: None,
    };
    match exec::submit(db, request, WriteNow::Allowed) {
        Submitted::Ready(outcome) | Submitted::Written(outcome) => outcome,
        Submitted::Later(job) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            job.run(move |outcome| {
                let _ = tx.send(outcome);
            });
            rx.await.expect("every job hands over its outcome")
        }
    }
}

fn levels(outcome: &Outcome) -> Vec<(Level, String)> {
    outcome
        .logs
        .iter()
        .map(|r| (r.level, r.message.clone()))
        .collect()
}

fn new_execution(id: &str) -> Input {
    i(
        json!({"executionId": id, "workflowId": "wf", "workflowName": "W", "taskId": "t", "userId": "u"}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_plan_comes_to_its_result_and_log_records() {
    for b in all_backends().await {
        let db = Arc::new(b.db);
        let (own, caller) = (Audience::Own, Audience::Caller);

        let created = run(&db, caller, service::create_execution(&new_execution("e1"))).await;
        assert!(matches!(created.result, Ok(Output::Row(_))), "{}", b.name);
        assert_eq!(
            levels(&created),
            vec![(Level::Info, "Test: Workflow execution created".into())]
        );
        let saved = run(&db, own, service::save_execution(&new_execution("e2"))).await;
        assert_eq!(levels(&saved)[0].1, "Test: Workflow execution saved");

        // Refused input: nothing runs; the failure is an error for the caller's logger and a
        // debug line in the addon's own log.
        for (audience, level) in [(caller, Level::Error), (own, Level::Debug)] {
            let refused = run(&db, audience, service::save_execution(&i(json!(42)))).await;
            let err = refused.result.expect_err("not an object");
            assert_eq!(err.code, ErrorCode::Validation);
            assert_eq!(refused.logs[0].level, level);
            assert_eq!(refused.logs[0].fields["code"], "ERR_VALIDATION");
        }

        let updates = i(json!({"status": "completed", "actualDuration": 5}));
        let updated = run(
            &db,
            caller,
            service::update_execution(&i(json!("e1")), &updates),
        )
        .await;
        assert!(matches!(updated.result, Ok(Output::Row(_))));
        // Not found: a notice, warn for the caller's logger, debug in the addon's own log.
        for (audience, level) in [(caller, Level::Warn), (own, Level::Debug)] {
            let missing = service::update_execution(&i(json!("nope")), &updates);
            let missing = run(&db, audience, missing).await;
            assert_eq!(missing.result.unwrap(), Output::Null);
            assert_eq!(missing.logs[0].level, level);
            assert!(missing.logs[0].message.ends_with("not found"));
        }

        let metric = i(json!({"metricName": "m", "metricValue": 2}));
        let recorded = run(&db, own, service::record_metric(&i(json!("e1")), &metric)).await;
        assert!(matches!(recorded.result, Ok(Output::Row(_))));
        assert_eq!(recorded.logs[0].level, Level::Debug);

        let with = run(&db, caller, service::with_metrics(i(json!("e1")))).await;
        let Ok(Output::Object(fields)) = with.result else {
            panic!("{}: the execution with its metrics", b.name)
        };
        assert!(fields.iter().any(|(k, _)| k == "metrics"));

        let lists = [
            service::statistics(Input::Undefined),
            service::aggregated(&Input::Undefined),
            service::metrics_statistics(&Input::Undefined),
            service::by_workflow_id(&i(json!("wf")), &Input::Undefined),
            service::by_task_id(&i(json!("t")), &Input::Undefined),
            service::by_user_id(&i(json!("u")), &Input::Undefined),
            service::by_status(&i(json!("completed")), &Input::Undefined),
            service::find(&i(json!({"taskId": "t"})), &Input::Undefined),
            service::metrics_for_execution(&i(json!("e1")), &Input::Undefined),
            service::workflow_metrics(&i(json!("e1")), &Input::Undefined),
            service::export(Input::Undefined, Input::Undefined),
        ];
        for plan in lists {
            let read = run(&db, own, plan).await;
            assert!(read.result.is_ok(), "{}: {:?}", b.name, read.result);
            assert_eq!(read.logs.len(), 1);
        }
        let by_workflow = service::by_workflow_id(&i(json!("wf")), &Input::Undefined);
        let rows = run(&db, own, by_workflow).await.result.unwrap().into_rows();
        assert_eq!(rows.len(), 2, "{}", b.name);

        let bulk = i(json!([{"executionId": "b1", "workflowId": "wf", "workflowName": "W"}, 7]));
        let created = run(&db, caller, service::bulk_create(bulk)).await;
        let Ok(Output::Object(summary)) = created.result else {
            panic!("a bulk summary")
        };
        assert_eq!(summary[0].0, "created");
        let bulk = i(json!([{"executionId": "b1", "status": "running"}]));
        let updated = run(&db, caller, service::bulk_update(bulk)).await;
        assert!(updated.result.is_ok());

        let deleted = run(&db, caller, service::delete(&i(json!("b1")))).await;
        assert_eq!(deleted.result.unwrap(), Output::Bool(true));
        assert_eq!(deleted.logs[0].message, "Test: Workflow execution deleted");
        let gone = run(&db, caller, service::delete(&i(json!("b1")))).await;
        assert_eq!(gone.result.unwrap(), Output::Bool(false));
        assert_eq!(gone.logs[0].level, Level::Warn);
        assert!(gone.logs[0].message.contains("not found for deletion"));

        // A cleanup resolves the number of executions and logs both counts.
        let cleaned = run(
            &db,
            caller,
            service::cleanup(&i(json!(1)), &Input::Undefined),
        )
        .await;
        assert_eq!(cleaned.result.unwrap(), Output::Count(0));
        assert_eq!(cleaned.logs[0].fields["deletedMetrics"], 0);
        let refused = run(
            &db,
            caller,
            service::cleanup(&i(json!(-1)), &Input::Undefined),
        )
        .await;
        assert!(refused.result.is_err());
        assert_eq!(refused.logs[0].level, Level::Error);

        // Every call was counted under its operation.
        let snapshot = db.metrics_snapshot().to_json();
        assert!(snapshot["calls"].as_u64().unwrap() > 20, "{snapshot}");
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_come_to_their_log_records_and_follow_up_events() {
    for b in all_backends().await {
        let db = Arc::new(b.db);
        let d = Dialect::of(&db);
        let handle = |kind: EventKind, payload: serde_json::Value| {
            events::plan_event(&d, kind, &i(payload)).expect("a valid event")
        };
        run(
            &db,
            Audience::Own,
            service::save_execution(&new_execution("x")),
        )
        .await;

        let started = run(
            &db,
            Audience::Own,
            handle(EventKind::ExecutionStarted, json!({"executionId": "x"})),
        )
        .await;
        assert_eq!(
            started.result.unwrap(),
            Output::Null,
            "a handler resolves nothing"
        );
        assert_eq!(started.logs[0].level, Level::Debug);
        assert!(started.publish.is_empty());

        // A finishing event for an execution that is not running is a warning, not a failure.
        let missing = handle(
            EventKind::ExecutionCompleted,
            json!({"executionId": "nope"}),
        );
        let missing = run(&db, Audience::Own, missing).await;
        assert_eq!(missing.logs[0].level, Level::Warn);
        assert_eq!(
            missing.logs[0].fields["eventType"],
            "workflow.execution.completed"
        );

        let alert = json!({"executionId": "x", "alertType": "slow", "actualValue": 9});
        let alert = run(
            &db,
            Audience::Own,
            handle(EventKind::PerformanceAlert, alert),
        )
        .await;
        assert_eq!(alert.publish[0].event, "workflow.alert.performance");
        assert_eq!(alert.publish[0].payload["actualValue"], 9.0);
        assert!(alert
            .logs
            .iter()
            .any(|r| r.message.ends_with("Performance alert")));

        let cleanup = run(
            &db,
            Audience::Own,
            handle(EventKind::CleanupRequired, json!({"daysOld": 2})),
        )
        .await;
        assert_eq!(cleanup.publish[0].event, "workflow.cleanup.completed");
        assert_eq!(cleanup.publish[0].payload["daysOld"], 2);
        assert_eq!(cleanup.publish[0].payload["deletedCount"], 0);

        for (kind, level, published) in [
            ("cleanup", Level::Info, 2),
            ("optimize", Level::Info, 1),
            ("defragment", Level::Warn, 1),
        ] {
            let maintenance = json!({"maintenanceType": kind});
            let maintenance = handle(EventKind::MaintenanceRequired, maintenance);
            let out = run(&db, Audience::Own, maintenance).await;
            assert_eq!(out.publish.len(), published, "{kind}");
            assert_eq!(
                out.publish.last().unwrap().event,
                "workflow.maintenance.completed"
            );
            assert_eq!(out.logs.last().unwrap().level, level, "{kind}");
        }

        for (kind, payload) in [
            (
                EventKind::StepCompleted,
                json!({"executionId": "x", "stepId": "s", "duration": 3}),
            ),
            (
                EventKind::HandlerFailed,
                json!({"executionId": "x", "handlerType": "h", "error": {"message": "no"}}),
            ),
            (
                EventKind::PerformanceMetric,
                json!({"executionId": "x", "metricName": "m", "metricValue": 1}),
            ),
            (
                EventKind::ExecutionFailed,
                json!({"executionId": "x", "error": "boom"}),
            ),
        ] {
            let out = run(&db, Audience::Own, handle(kind, payload)).await;
            assert!(out.result.is_ok(), "{}: {kind:?}", b.name);
        }

        // A payload that does not validate is refused before anything runs, and logged.
        let refused = events::plan_event(&d, EventKind::ExecutionStarted, &i(json!({})));
        let refused =
            Handled::refused(EventKind::ExecutionStarted).conclude(Err(refused.err().unwrap()));
        assert_eq!(refused.logs[0].level, Level::Error);
        assert_eq!(
            refused.logs[0].message,
            "WorkflowEventHandlers: Failed to handle workflow.execution.started"
        );
        assert_eq!(refused.result.unwrap(), Output::Null);
        db.close().await;
    }
    let unknown = conclude::unknown_type(&i(json!(7)));
    assert_eq!(unknown.fields["eventType"], "(not a string: number)");
    assert_eq!(
        conclude::unknown_type(&i(json!("x.y"))).fields["eventType"],
        "x.y"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_methods_plans_report_what_the_database_holds() {
    for b in all_backends().await {
        let db = Arc::new(b.db);
        let migrated = run(&db, Audience::Own, admin::plan(Method::Migrate)).await;
        assert_eq!(migrated.result.unwrap(), Output::Undefined, "{}", b.name);
        let Ok(Output::List(states)) =
            run(&db, Audience::Own, admin::plan(Method::MigrationStatus))
                .await
                .result
        else {
            panic!("the migrations")
        };
        assert!(!states.is_empty());
        let summaries: [(Method, &[&str]); 2] = [
            (
                Method::Seed,
                &["executions", "metrics", "handlers", "usageHistory"],
            ),
            (Method::Status, &["connection", "migrations", "tables"]),
        ];
        for (method, keys) in summaries {
            let Ok(Output::Object(summary)) =
                run(&db, Audience::Own, admin::plan(method)).await.result
            else {
                panic!("the {method:?} summary")
            };
            let names: Vec<&str> = summary.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, keys);
        }

        let Output::Object(connection) =
            admin::connection_status(db.kind(), true, false, &db.describe())
        else {
            panic!("an object")
        };
        assert_eq!(
            connection[0],
            (
                "type".to_string(),
                Output::Value(Value::from(db.kind().as_str()))
            )
        );
        assert_eq!(connection.iter().filter(|(k, _)| k == "type").count(), 1);
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_service_reads_through_and_keeps_what_it_read() {
    for b in all_backends().await {
        let db = Arc::new(b.db);
        assert!(CacheService::open(&db, &i(json!({"nope": 1}))).is_err());
        let cache = CacheService::open(&db, &i(json!({"maxEntries": 10, "ttl": 60000}))).unwrap();
        assert_eq!(cache.needs_hub(), db.kind() == DbKind::Postgres);
        cache.ready(&db).await.unwrap();
        run(
            &db,
            Audience::Own,
            service::save_execution(&new_execution("c")),
        )
        .await;
        let key = Key::Execution("c".into());
        let generation = cache.lookup(&key).expect_err("not yet cached");
        let read = executions::find_by_execution_id(&i(json!("c")));
        let out = run(
            &db,
            Audience::Own,
            cache.read_through(key.clone(), generation, read),
        )
        .await;
        assert!(matches!(out.result, Ok(Output::Row(_))));
        assert!(
            cache.lookup(&key).is_ok(),
            "{}: the row read is kept",
            b.name
        );
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (1, 1));
        assert_eq!(stats.hit_rate(), 50.0);
        db.close().await;
    }
    assert_eq!(hit_rate(0, 0), 0.0);
    assert_eq!(hit_rate(2, 1), 66.67);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_processes_events_arrive_and_this_ones_do_not_come_back() {
    let memory = connect::connect(&url_config("sqlite::memory:"))
        .await
        .unwrap();
    assert!(Broadcast::on(&memory).is_err(), "SQLite is one process");
    assert!(broadcast::event_name(&i(json!(""))).is_err());
    assert!(broadcast::event_name(&i(json!("a".repeat(256)))).is_err());
    assert_eq!(broadcast::event_name(&i(json!("e"))).unwrap(), "e");
    let Some(pg) = PgScratch::create().await else {
        eprintln!("SKIPPED: PostgreSQL is not reachable");
        return;
    };
    let db = connect::connect(&url_config(&pg.url)).await.unwrap();
    let (a, b) = (Broadcast::on(&db).unwrap(), Broadcast::on(&db).unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let forward: broadcast::Forward = Arc::new(move |event, place| {
        drop(place);
        let _ = tx.send(event);
    });
    b.listen(&db, forward.clone()).await.unwrap();
    b.listen(&db, forward).await.unwrap();
    b.publish(&db, "own", &json!({"n": 0}), None).await.unwrap();
    a.publish(&db, "theirs", &json!({"n": 1}), None)
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the other service's event arrives")
        .unwrap();
    assert_eq!(
        (event.event_type.as_str(), event.data["n"].as_i64()),
        ("theirs", Some(1))
    );
    assert_eq!(db.metrics_snapshot().to_json()["events"]["published"], 2);
    b.stop();
    db.close().await;
}

/// A lone SQLite write runs to its commit on the caller's thread when allowed; refused (within
/// a burst) it goes to the writer thread; PostgreSQL's writes always go out on the runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_sqlite_write_commits_on_the_callers_thread_when_allowed() {
    for b in all_backends().await {
        let db = Arc::new(b.db);
        let sqlite = db.kind() != DbKind::Postgres;
        for (id, now) in [("now", WriteNow::Allowed), ("queued", WriteNow::Refused)] {
            let request = Request {
                operation: "Failed to test",
                source: "Test",
                audience: Audience::Own,
                plan: service::create_execution(&new_execution(id)),
                journal: None,
            };
            let outcome = match exec::submit(&db, request, now) {
                Submitted::Written(outcome) => {
                    assert!(sqlite && now == WriteNow::Allowed, "{}: {id}", b.name);
                    outcome
                }
                Submitted::Later(job) => {
                    assert!(!sqlite || now == WriteNow::Refused, "{}: {id}", b.name);
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    job.run(move |outcome| {
                        let _ = tx.send(outcome);
                    });
                    rx.await.unwrap()
                }
                Submitted::Ready(_) => panic!("{}: a write is not a read", b.name),
            };
            assert!(matches!(outcome.result, Ok(Output::Row(_))), "{}", b.name);
        }
        // A failing write run at once leaves nothing: the duplicate is refused and rolled back.
        let again = run(
            &db,
            Audience::Own,
            service::create_execution(&new_execution("now")),
        )
        .await;
        assert!(again.result.is_err(), "{}", b.name);
        let listed = run(
            &db,
            Audience::Own,
            service::find(&i(json!({"taskId": "t"})), &Input::Undefined),
        )
        .await;
        let Ok(Output::Rows { rows, .. }) = listed.result else {
            panic!("{}: {:?}", b.name, listed.result)
        };
        assert_eq!(rows.len(), 2, "{}", b.name);
    }
}

#[test]
fn a_completion_hands_over_once_and_a_dropped_one_hands_over_its_fallback() {
    let (tx, rx) = std::sync::mpsc::channel();
    let sent = tx.clone();
    Completion::new(Box::new(move |v: i32| sent.send(v).unwrap()), || -1).finish(7);
    drop(Completion::new(
        Box::new(move |v: i32| tx.send(v).unwrap()),
        || -1,
    ));
    assert_eq!(rx.iter().collect::<Vec<_>>(), [7, -1]);
    for level in [Level::Error, Level::Warn, Level::Info, Level::Debug] {
        trace(level, "a line", &json!({}));
        assert!(!level.method().is_empty());
    }
}

#[test]
fn the_runtime_is_built_once_and_every_call_runs_on_it() {
    let rt = Box::leak(Box::new(exec::runtime::build().unwrap()));
    let handle = exec::runtime::handle().expect("installed");
    assert_eq!(handle.block_on(async { 1 + 1 }), 2);
    let db = Arc::new(
        rt.block_on(connect::connect(&url_config("sqlite::memory:")))
            .unwrap(),
    );
    let plan = service::statistics(Input::Undefined);
    let request = Request {
        operation: "Failed to test",
        source: "Test",
        audience: Audience::Own,
        plan,
        journal: None,
    };
    let Submitted::Later(job) = exec::submit(&db, request, WriteNow::Allowed) else {
        panic!("steps run on the runtime")
    };
    let (tx, rx) = std::sync::mpsc::channel();
    job.run(move |outcome| tx.send(outcome.result.is_ok()).unwrap());
    assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
}

/// Beyond `maxInFlight` a call is refused at once, before anything runs; once the calls in
/// flight finished, the next one goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_in_flight_a_call_is_refused_at_once() {
    use workflow_infra::core::config::{ConnectConfig, RawConfig};
    let config = ConnectConfig::from_raw(
        RawConfig {
            url: Some("sqlite::memory:".into()),
            max_in_flight: Some(1.0),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let db = Arc::new(connect::connect(&config).await.unwrap());
    let request = |id: &str| Request {
        operation: "Failed to test",
        source: "Test",
        audience: Audience::Own,
        plan: service::create_execution(&new_execution(id)),
        journal: None,
    };
    let Submitted::Later(first) = exec::submit(&db, request("a"), WriteNow::Refused) else {
        panic!("a write refused the caller's thread is a job");
    };
    let Submitted::Ready(refused) = exec::submit(&db, request("b"), WriteNow::Refused) else {
        panic!("the second call is refused at once");
    };
    assert_eq!(refused.result.unwrap_err().code, ErrorCode::Overloaded);
    let (tx, rx) = tokio::sync::oneshot::channel();
    first.run(move |o| {
        let _ = tx.send(o);
    });
    assert!(rx.await.unwrap().result.is_ok());
    let again = match exec::submit(&db, request("c"), WriteNow::Refused) {
        Submitted::Later(job) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            job.run(move |o| {
                let _ = tx.send(o);
            });
            rx.await.unwrap()
        }
        Submitted::Ready(o) | Submitted::Written(o) => o,
    };
    assert!(again.result.is_ok());
    assert_eq!(
        db.metrics_snapshot().to_json()["errors"]["ERR_OVERLOADED"],
        1
    );
    db.close().await;
}
