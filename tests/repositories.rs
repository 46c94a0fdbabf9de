//! The repositories through the core API, on every backend: what the binding runs, minus napi.

mod common;

use common::*;
use serde_json::json;
use workflow_infra::core::db::Database;
use workflow_infra::core::db::{Dialect, Output};
use workflow_infra::core::error::ErrorCode;
use workflow_infra::core::input::Input;
use workflow_infra::core::repo::statistics::{self, ExecutionFilters, MetricFilters};
use workflow_infra::core::repo::{executions, handlers, metrics, usage};
use workflow_infra::core::value::{Row, Value};

fn i(j: serde_json::Value) -> Input {
    Input::from(j)
}

fn output_row(output: Output) -> Row {
    match output {
        Output::Row(row) => row,
        Output::Rows { mut rows, .. } if rows.len() == 1 => rows.remove(0),
        other => panic!("not one row: {other:?}"),
    }
}

async fn row(db: &Database, call: workflow_infra::core::db::Call) -> Row {
    match db.call(call).await.unwrap() {
        Output::Row(r) => r,
        other => panic!("expected a row, got {other:?}"),
    }
}

async fn rows(db: &Database, call: workflow_infra::core::db::Call) -> Vec<Row> {
    match db.call(call).await.unwrap() {
        Output::Rows { rows, .. } => rows,
        other => panic!("expected rows, got {other:?}"),
    }
}

fn f(r: &Row, k: &str) -> f64 {
    r.get(k)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{k} in {r:?}"))
}

fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pos = p * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_round_trip_with_exact_results() {
    for b in all_backends().await {
        let db = &b.db;
        let created = row(db, executions::create(&i(json!({"executionId": "e1", "workflowId": "w", "workflowName": "W", "actualDuration": 10.6}))).unwrap()).await;
        assert_eq!(
            created.get("actual_duration"),
            Some(&Value::Int(11)),
            "{}",
            b.name
        );
        assert_eq!(created.get("metadata"), Some(&Value::Json(json!({}))));
        // SQLite point reads run on the calling thread; PostgreSQL's go through the pool.
        let read = executions::find_by_execution_id(&i(json!("e1"))).unwrap();
        assert_eq!(db.call_now(&read).is_some(), b.name != "postgresql");
        assert!(matches!(db.call(read).await.unwrap(), Output::Row(_)));
        let missing = db
            .call(executions::update(&i(json!("nope")), &i(json!({"status": "running"}))).unwrap())
            .await
            .unwrap();
        assert_eq!(missing, Output::Null);
        let err = executions::update(
            &i(json!("e1")),
            &i(json!({"status = 'x', workflow_name": 1})),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::Validation);
        let updated = row(
            db,
            executions::update(&i(json!("e1")), &i(json!({"status": "completed"}))).unwrap(),
        )
        .await;
        assert_eq!(
            updated.get("status").and_then(Value::as_str),
            Some("completed")
        );
        for n in 0..4 {
            db.call(executions::create(&i(json!({"workflowId": "w", "workflowName": "W", "status": "failed", "actualDuration": 100 * (n + 1)}))).unwrap())
                .await
                .unwrap();
        }
        let stats = output_row(
            statistics::execution_statistics_row(
                db,
                &ExecutionFilters::parse(&i(json!({"exact": true}))).unwrap(),
            )
            .await
            .unwrap(),
        );
        let rolled = output_row(
            statistics::execution_statistics_row(db, &ExecutionFilters::default())
                .await
                .unwrap(),
        );
        let d = [11.0, 100.0, 200.0, 300.0, 400.0];
        assert!(
            (f(&rolled, "p95_duration") - percentile(&d, 0.95)).abs()
                <= 0.01 * percentile(&d, 0.95)
        );
        assert_eq!(
            f(&rolled, "average_duration"),
            f(&stats, "average_duration")
        );
        assert_eq!(f(&stats, "total_executions"), 5.0);
        assert_eq!(f(&stats, "failed_executions"), 4.0);
        assert!((f(&stats, "average_duration") - d.iter().sum::<f64>() / 5.0).abs() < 1e-9);
        assert!(
            (f(&stats, "p95_duration") - percentile(&d, 0.95)).abs() < 1e-9,
            "{}",
            b.name
        );
        let page = db
            .call(executions::find_by_workflow_id(&i(json!("w")), &i(json!({"limit": 2}))).unwrap())
            .await
            .unwrap();
        let Output::Rows {
            rows: first,
            next: Some(cursor),
        } = page
        else {
            panic!("{page:?}")
        };
        let rest = rows(
            db,
            executions::find_by_workflow_id(
                &i(json!("w")),
                &i(json!({"limit": 10, "after": cursor})),
            )
            .unwrap(),
        )
        .await;
        assert_eq!(first.len() + rest.len(), 5);
        assert_eq!(
            db.call(executions::delete(&i(json!("e1"))).unwrap())
                .await
                .unwrap(),
            Output::Bool(true)
        );
        assert_eq!(
            db.call(executions::delete(&i(json!("e1"))).unwrap())
                .await
                .unwrap(),
            Output::Bool(false)
        );
        assert!(executions::cleanup(&i(json!("36500 days' OR 1=1 --"))).is_err());
        assert_eq!(
            db.call(executions::cleanup(&Input::Undefined).unwrap())
                .await
                .unwrap(),
            Output::Count(0)
        );
        b.db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_aggregates_match_computed_values() {
    for b in all_backends().await {
        let db = &b.db;
        let xs = [1.0e12, 1.0e12 + 7.0, 1.0e12 + 19.5, 1.0e12 + 3.25];
        let batch: Vec<_> = xs
            .iter()
            .map(|x| json!({"metricName": "ts", "metricValue": x, "metricType": "performance"}))
            .collect();
        let written = rows(db, metrics::record_many(&i(json!(batch))).unwrap()).await;
        assert_eq!(written.len(), 4);
        let agg = match statistics::aggregated_rows(
            db,
            &MetricFilters {
                exact: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        {
            Output::Rows { rows, .. } => rows,
            other => panic!("{other:?}"),
        };
        let mean = xs.iter().sum::<f64>() / 4.0;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!(
            (f(&agg[0], "standard_deviation") - sd).abs() < 1e-3,
            "{}: {agg:?}",
            b.name
        );
        assert!((f(&agg[0], "p50_value") - percentile(&xs, 0.5)).abs() < 1e-3);
        let stats = output_row(
            statistics::aggregated_rows(
                db,
                &MetricFilters::parse(&i(json!({"metricType": "performance"}))).unwrap(),
            )
            .await
            .unwrap(),
        );
        assert_eq!(f(&stats, "count"), 4.0);
        assert!(
            (f(&stats, "p50_value") - percentile(&xs, 0.5)).abs() <= 0.01 * percentile(&xs, 0.5)
        );
        assert_eq!(f(&stats, "max_value"), 1.0e12 + 19.5);
        assert!(statistics::aggregated(&i(json!({"timeRange": "1 hour"}))).is_err());
        assert!(
            metrics::record_many(&i(json!([{"metricName": "ok"}, {"metricValue": 1}]))).is_err()
        );
        assert_eq!(
            db.call(metrics::cleanup(&Input::Undefined).unwrap())
                .await
                .unwrap(),
            Output::Count(0)
        );
        // `daysOld` 0 removes what was recorded before now: let now move on.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(
            db.call(metrics::cleanup(&i(json!(0))).unwrap())
                .await
                .unwrap(),
            Output::Count(4)
        );
        b.db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_counters_are_exact_under_concurrency() {
    for b in all_backends().await {
        let db = std::sync::Arc::new(b.db);
        let first = row(
            &db,
            handlers::register(&i(json!({"handlerType": "h", "handlerName": "H"}))).unwrap(),
        )
        .await;
        let mut tasks = Vec::new();
        for n in 0..100 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let status = if n % 4 == 0 { "failure" } else { "success" };
                db.call(
                    handlers::update_statistics(
                        &i(json!("h")),
                        &i(json!({"status": status, "executionTime": 8})),
                    )
                    .unwrap(),
                )
                .await
                .unwrap();
                db.call(
                    usage::record_usage(&i(
                        json!({"handlerType": "h", "status": "success", "executionTime": 8}),
                    ))
                    .unwrap(),
                )
                .await
                .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let again = row(
            &db,
            handlers::register(&i(json!({"handlerType": "h", "handlerName": "H2"}))).unwrap(),
        )
        .await;
        assert_eq!(again.get("id"), first.get("id"), "{}", b.name);
        assert_eq!(f(&again, "usage_count"), 200.0, "{}", b.name);
        assert_eq!(f(&again, "success_count"), 175.0);
        assert_eq!(f(&again, "failure_count"), 25.0);
        assert!((f(&again, "average_execution_time") - 8.0).abs() < 1e-9);
        for bad in [
            "(SELECT 1)",
            "priority; DROP TABLE handler_registry",
            "priority UP",
        ] {
            assert_eq!(
                handlers::all(&i(json!({"sortBy": bad}))).unwrap_err().code,
                ErrorCode::Validation
            );
        }
        let best = db
            .call(handlers::best(&i(json!("h"))).unwrap())
            .await
            .unwrap();
        assert!(matches!(best, Output::Row(_)));
        let summary = rows(
            &db,
            handlers::performance_summary(&Input::Undefined).unwrap(),
        )
        .await;
        assert_eq!(f(&summary[0], "success_rate"), 87.5);
        assert_eq!(
            db.call(handlers::delete(&i(json!("h"))).unwrap())
                .await
                .unwrap(),
            Output::Bool(true)
        );
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_filter_and_validation_path() {
    for b in all_backends().await {
        let db = &b.db;
        for n in 0..6 {
            let status = ["running", "completed", "failed"][n % 3];
            db.call(executions::create(&i(json!({"executionId": format!("x{n}"), "workflowId": format!("w{}", n % 2), "workflowName": "W",
                "taskId": "task_1", "userId": format!("u{}", n % 2), "status": status, "actualDuration": n * 10}))).unwrap())
                .await
                .unwrap();
        }
        let ids = |rows: Vec<Row>| {
            rows.iter()
                .map(|r| {
                    r.get("execution_id")
                        .and_then(Value::as_str)
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(rows(
                db,
                executions::find_by_task_id(&i(json!("task_1")), &Input::Undefined).unwrap()
            )
            .await)
            .len(),
            6,
            "{}",
            b.name
        );
        assert_eq!(
            ids(rows(
                db,
                executions::find_by_user_id(&i(json!("u1")), &i(json!({"status": "running"})))
                    .unwrap()
            )
            .await),
            ["x3"]
        );
        assert_eq!(
            ids(rows(
                db,
                executions::find_by_status(&i(json!("failed")), &i(json!({"workflowId": "w1"})))
                    .unwrap()
            )
            .await),
            ["x5"]
        );
        assert_eq!(
            rows(
                db,
                executions::find_all(&i(json!({"limit": 2, "offset": 4}))).unwrap()
            )
            .await
            .len(),
            2
        );
        let stats = output_row(
            statistics::execution_statistics_row(
                db,
                &ExecutionFilters::parse(&i(json!({"workflowId": "w0", "userId": "u0", "taskId": "task_1", "status": "running"}))).unwrap(),
            )
            .await
            .unwrap(),
        );
        assert_eq!(f(&stats, "total_executions"), 1.0);
        let same = row(
            db,
            executions::update(&i(json!("x0")), &i(json!({}))).unwrap(),
        )
        .await;
        assert_eq!(same.get("execution_id").and_then(Value::as_str), Some("x0"));
        let timed = row(db, executions::update(&i(json!("x0")), &i(json!({"startTime": "2026-01-01T00:00:00Z", "endTime": 1_767_225_660_000_i64, "priority": 3, "resultData": {"a": 1}, "metadata": null}))).unwrap()).await;
        assert_eq!(
            timed.get("end_time"),
            Some(&Value::Timestamp(1_767_225_660_000))
        );
        assert_eq!(
            executions::to_snake_case("workflowVersionId"),
            "workflow_version_id"
        );
        for bad in [
            json!({"status": "nope"}),
            json!({"priority": 1.5}),
            json!({"workflowName": null}),
            json!({"startTime": "soon"}),
            json!({"nope": 1}),
        ] {
            assert_eq!(
                executions::update(&i(json!("x0")), &i(bad))
                    .unwrap_err()
                    .code,
                ErrorCode::Validation
            );
        }
        assert!(executions::create(&i(
            json!({"executionId": "", "workflowId": "w", "workflowName": "W"})
        ))
        .is_err());
        assert!(executions::find_by_status(&i(json!(null)), &Input::Undefined).is_err());
        assert!(executions::find_all(&i(json!({"after": "s:x"}))).is_ok());
        assert!(executions::create_many(&i(json!({}))).is_err());
        assert_eq!(
            executions::create_many(&i(json!([{"workflowId": "w", "workflowName": "W"}])))
                .unwrap()
                .len(),
            1
        );

        // Metrics: every list, filter and delete path.
        let batch: Vec<_> = (0..6)
            .map(|n| {
                let (name, kind) = [("a", "performance"), ("b", "quality")][n % 2];
                json!({"executionId": format!("x{}", n % 2), "metricName": name, "metricValue": n, "metricType": kind, "metricCategory": "c"})
            })
            .collect();
        db.call(metrics::record_many(&i(json!(batch))).unwrap())
            .await
            .unwrap();
        assert!(matches!(
            db.call(
                metrics::record(&i(json!({"metricName": "single", "metricValue": 1.5}))).unwrap()
            )
            .await
            .unwrap(),
            Output::Row(_)
        ));
        assert_eq!(
            rows(
                db,
                metrics::for_execution(
                    &i(json!("x0")),
                    &i(json!({"metricType": "performance", "metricCategory": "c"}))
                )
                .unwrap()
            )
            .await
            .len(),
            3
        );
        assert_eq!(
            rows(
                db,
                metrics::by_type(
                    &i(json!("quality")),
                    &i(json!({"executionId": "x1", "limit": 2}))
                )
                .unwrap()
            )
            .await
            .len(),
            2
        );
        assert_eq!(
            rows(
                db,
                metrics::by_name(&i(json!("a")), &i(json!({"executionId": "x0"}))).unwrap()
            )
            .await
            .len(),
            3
        );
        let agg = rows(db, statistics::aggregated_scan(&Dialect::of(db), &MetricFilters::parse(&i(json!({"executionId": "x1", "metricName": "b", "metricType": "quality", "metricCategory": "c", "timeRange": 0}))).unwrap())).await;
        assert_eq!(f(&agg[0], "count"), 3.0);
        assert_eq!(
            db.call(metrics::delete_for_execution(&i(json!("x1"))).unwrap())
                .await
                .unwrap(),
            Output::Count(3)
        );
        assert!(metrics::for_execution(&i(json!("x0")), &i(json!({"bogus": 1}))).is_err());
        assert!(metrics::record(&i(
            json!({"metricName": "x", "metadata": {"f": [1, {"g": null}]}, "recordedAt": "bad"})
        ))
        .is_err());

        // Handlers: lists, updates, usage and their validation.
        for (t, p) in [("h1", 3), ("h2", 5), ("h3", 1)] {
            db.call(handlers::register(&i(json!({"handlerType": t, "handlerName": t, "priority": p, "isDefault": t != "h3", "capabilities": ["x"]}))).unwrap())
                .await
                .unwrap();
        }
        let types = |rows: Vec<Row>| {
            rows.iter()
                .map(|r| {
                    r.get("handler_type")
                        .and_then(Value::as_str)
                        .unwrap()
                        .to_string()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            types(
                rows(
                    db,
                    handlers::all(&i(json!({"sortBy": "priority DESC"}))).unwrap()
                )
                .await
            ),
            ["h2", "h1", "h3"]
        );
        let first = db
            .call(handlers::all(&i(json!({"sortBy": "handlerName", "limit": 2}))).unwrap())
            .await
            .unwrap();
        let Output::Rows {
            next: Some(cursor), ..
        } = first
        else {
            panic!("{first:?}")
        };
        assert_eq!(
            types(
                rows(
                    db,
                    handlers::all(&i(
                        json!({"sortBy": "handlerName", "limit": 2, "after": cursor})
                    ))
                    .unwrap()
                )
                .await
            ),
            ["h3"]
        );
        assert_eq!(
            types(rows(db, handlers::active(&Input::Undefined).unwrap()).await),
            ["h2", "h1", "h3"]
        );
        assert_eq!(
            types(rows(db, handlers::defaults(&Input::Undefined).unwrap()).await),
            ["h2", "h1"]
        );
        let updated = row(db, handlers::update(&i(json!("h3")), &i(json!({"isActive": false, "description": "d", "configuration": {"k": 1}, "metadata": null, "handler_class": "C"}))).unwrap()).await;
        assert_eq!(updated.get("is_active"), Some(&Value::Bool(false)));
        assert!(matches!(
            db.call(handlers::update(&i(json!("h3")), &i(json!({}))).unwrap())
                .await
                .unwrap(),
            Output::Row(_)
        ));
        assert_eq!(
            db.call(handlers::best(&i(json!("h3"))).unwrap())
                .await
                .unwrap(),
            Output::Null
        );
        let usages = rows(db, usage::record_usages(&i(json!([{"handlerType": "h1", "status": "success", "executionTime": 5, "executionId": "x2", "errorMessage": null}, {"handlerType": "h1", "status": "timeout"}]))).unwrap()).await;
        assert_eq!(usages.len(), 2);
        assert_eq!(
            rows(
                db,
                usage::usage_history(&i(json!("h1")), &i(json!({"status": "timeout"}))).unwrap()
            )
            .await
            .len(),
            1
        );
        let summary = db
            .call(handlers::performance_summary(&i(json!({"limit": 1}))).unwrap())
            .await
            .unwrap();
        let Output::Rows {
            next: Some(cursor), ..
        } = summary
        else {
            panic!("{summary:?}")
        };
        assert_eq!(
            rows(
                db,
                handlers::performance_summary(&i(json!({"limit": 5, "after": cursor}))).unwrap()
            )
            .await
            .len(),
            2
        );
        assert_eq!(
            db.call(usage::cleanup_usage(&i(json!(10))).unwrap())
                .await
                .unwrap(),
            Output::Count(0)
        );
        for bad in [
            json!({"isActive": "yes"}),
            json!({"handlerName": null}),
            json!({"priority": "high"}),
            json!({"usageCount": 1}),
        ] {
            assert_eq!(
                handlers::update(&i(json!("h1")), &i(bad)).unwrap_err().code,
                ErrorCode::Validation
            );
        }
        for bad in [
            json!({"sortBy": "priority DESC extra"}),
            json!({"sortBy": "priority sideways"}),
            json!({"limit": -1}),
        ] {
            assert!(handlers::all(&i(bad)).is_err());
        }
        assert!(usage::record_usages(&i(json!({"not": "array"}))).is_err());
        assert!(handlers::update_statistics(
            &i(json!("h1")),
            &i(json!({"status": "success", "executionTime": -1}))
        )
        .is_err());
        assert!(handlers::register(&i(json!({"handlerType": "x"}))).is_err());
        assert!(handlers::performance_summary(&i(json!({"after": "n1:x"}))).is_err());
        // A unique violation and a missing reference, named the same way on both backends.
        let dup = db
            .call(
                executions::create(&i(
                    json!({"executionId": "x0", "workflowId": "w", "workflowName": "W"}),
                ))
                .unwrap(),
            )
            .await
            .unwrap_err();
        assert_eq!(
            (dup.code, dup.message.as_str()),
            (
                ErrorCode::Conflict,
                "a row with the same key already exists (workflow_executions.execution_id)"
            ),
            "{}",
            b.name
        );
        let fk = db
            .call(metrics::record(&i(json!({"executionId": "none", "metricName": "m"}))).unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            (fk.code, fk.message.as_str()),
            (ErrorCode::Conflict, "a referenced row does not exist"),
            "{}",
            b.name
        );
        b.db.close().await;
    }
}
