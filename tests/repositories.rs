//! The repositories through the core API, on every backend: what the binding runs, minus napi.

mod common;

use common::*;
use serde_json::json;
use workflow_infra::core::db::Database;
use workflow_infra::core::error::ErrorCode;
use workflow_infra::core::input::Input;
use workflow_infra::core::repo::{executions, handlers, metrics, Dialect, Output};
use workflow_infra::core::value::{Row, Value};

fn i(j: serde_json::Value) -> Input {
    Input::from(j)
}

async fn row(db: &Database, call: workflow_infra::core::repo::Call) -> Row {
    match db.call(call).await.unwrap() {
        Output::Row(r) => r,
        other => panic!("expected a row, got {other:?}"),
    }
}

async fn rows(db: &Database, call: workflow_infra::core::repo::Call) -> Vec<Row> {
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
        let stats = row(
            db,
            executions::statistics(&Dialect::of(db), &Input::Undefined).unwrap(),
        )
        .await;
        let d = [11.0, 100.0, 200.0, 300.0, 400.0];
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
        let agg = rows(
            db,
            metrics::aggregated(&Dialect::of(db), &Input::Undefined).unwrap(),
        )
        .await;
        let mean = xs.iter().sum::<f64>() / 4.0;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
        assert!(
            (f(&agg[0], "standard_deviation") - sd).abs() < 1e-3,
            "{}: {agg:?}",
            b.name
        );
        assert!((f(&agg[0], "p50_value") - percentile(&xs, 0.5)).abs() < 1e-3);
        let stats = row(
            db,
            metrics::statistics(&Dialect::of(db), &i(json!({"metricType": "performance"})))
                .unwrap(),
        )
        .await;
        assert_eq!(f(&stats, "total_metrics"), 4.0);
        assert_eq!(f(&stats, "max_metric_value"), 1.0e12 + 19.5);
        assert!(metrics::aggregated(&Dialect::of(db), &i(json!({"timeRange": "1 hour"}))).is_err());
        assert!(
            metrics::record_many(&i(json!([{"metricName": "ok"}, {"metricValue": 1}]))).is_err()
        );
        assert_eq!(
            db.call(metrics::cleanup(&Input::Undefined).unwrap())
                .await
                .unwrap(),
            Output::Count(0)
        );
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
                    handlers::record_usage(&i(
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
