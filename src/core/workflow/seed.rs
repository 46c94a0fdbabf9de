//! The seed fixture: a deterministic, documented data set (README "Seed data") that tests and the
//! demo reuse. Seeding twice gives the same rows: every seeded key starts with `seed_`, and a
//! seed first removes the previous seed's rows, all in one transaction.

use crate::core::db::{Database, DbKind, Statement};
use crate::core::error::Result;
use crate::core::value::Value;

/// 2026-01-01T00:00:00Z: every seeded timestamp is an offset from it.
pub const SEED_EPOCH_MS: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;

pub const WORKFLOWS: [(&str, &str); 4] = [
    ("seed_wf_refactoring", "Refactoring Workflow"),
    ("seed_wf_testing", "Testing Workflow"),
    ("seed_wf_analysis", "Analysis Workflow"),
    ("seed_wf_documentation", "Documentation Workflow"),
];
pub const STATUSES: [&str; 5] = ["pending", "running", "completed", "failed", "cancelled"];
pub const EXECUTIONS: usize = 20;
/// (metric_name, metric_unit, metric_type, metric_category): one of each per execution.
pub const METRICS: [(&str, &str, &str, &str); 4] = [
    (
        "execution_duration",
        "milliseconds",
        "performance",
        "execution_time",
    ),
    ("memory_usage", "megabytes", "resource", "memory"),
    ("test_coverage", "percent", "quality", "coverage"),
    ("files_changed", "count", "business", "output"),
];
/// (handler_type, handler_name, handler_class, is_active, is_default, priority)
pub const HANDLERS: [(&str, &str, &str, bool, bool, i64); 5] = [
    (
        "seed_analysis_handler",
        "Analysis Handler",
        "AnalysisHandler",
        true,
        true,
        5,
    ),
    (
        "seed_refactoring_handler",
        "Refactoring Handler",
        "RefactoringHandler",
        true,
        false,
        4,
    ),
    (
        "seed_testing_handler",
        "Testing Handler",
        "TestingHandler",
        true,
        true,
        3,
    ),
    (
        "seed_documentation_handler",
        "Documentation Handler",
        "DocumentationHandler",
        true,
        false,
        2,
    ),
    (
        "seed_legacy_handler",
        "Legacy Handler",
        "LegacyHandler",
        false,
        false,
        1,
    ),
];
pub const USAGES: usize = 30;

/// How many rows a seed wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSummary {
    pub executions: usize,
    pub metrics: usize,
    pub handlers: usize,
    pub usage_history: usize,
}

fn seed_uuid(table: u64, n: u64) -> Value {
    Value::Uuid(uuid::Uuid::from_u128(
        0x0000_0000_0000_4000_8000_0000_0000_0000 | (table << 16) as u128 | n as u128,
    ))
}

/// Writes the fixture, replacing any previous seed.
pub async fn seed(db: &Database) -> Result<SeedSummary> {
    let mut statements = Vec::new();
    if db.kind() == DbKind::Postgres {
        // Seeds one at a time (SQLite's writer already runs them so): two concurrent seeds
        // would otherwise delete and insert the same keys in opposite orders.
        statements.push(Statement::new(
            "SELECT pg_advisory_xact_lock(hashtext('workflow_infra_seed'))",
            vec![],
        ));
    }
    statements.extend([
        Statement::new(
            "DELETE FROM handler_usage_history WHERE handler_type LIKE 'seed\\_%' ESCAPE '\\'",
            vec![],
        ),
        Statement::new(
            "DELETE FROM handler_registry WHERE handler_type LIKE 'seed\\_%' ESCAPE '\\'",
            vec![],
        ),
        Statement::new(
            "DELETE FROM workflow_metrics WHERE execution_id LIKE 'seed\\_%' ESCAPE '\\'",
            vec![],
        ),
        Statement::new(
            "DELETE FROM workflow_executions WHERE execution_id LIKE 'seed\\_%' ESCAPE '\\'",
            vec![],
        ),
    ]);
    statements.extend(executions());
    statements.extend(metrics());
    statements.extend(handlers_and_usage());
    db.write(statements).await?;
    Ok(SeedSummary {
        executions: EXECUTIONS,
        metrics: EXECUTIONS * METRICS.len(),
        handlers: HANDLERS.len(),
        usage_history: USAGES,
    })
}

pub fn execution_id(i: usize) -> String {
    format!("seed_exec_{:02}", i + 1)
}

/// Start, end and duration of execution `i` (None where its status has not started/ended).
fn timing(i: usize) -> (Option<i64>, Option<i64>, Option<i64>) {
    let start = SEED_EPOCH_MS + i as i64 * HOUR;
    match STATUSES[i % STATUSES.len()] {
        "pending" => (None, None, None),
        "running" => (Some(start), None, None),
        _ => {
            let duration = 30_000 + i as i64 * 1_500;
            (Some(start), Some(start + duration), Some(duration))
        }
    }
}

fn executions() -> Vec<Statement> {
    (0..EXECUTIONS)
        .map(|i| {
            let (workflow_id, workflow_name) = WORKFLOWS[i % WORKFLOWS.len()];
            let status = STATUSES[i % STATUSES.len()];
            let (start, end, duration) = timing(i);
            let created = SEED_EPOCH_MS + i as i64 * HOUR - 60_000;
            let result = (status == "completed").then(|| serde_json::json!({"success": true, "filesChanged": i}));
            let error = (status == "failed").then(|| serde_json::json!({"error": "Step failed", "step": "validate"}));
            Statement::new(
                "INSERT INTO workflow_executions (id, execution_id, workflow_id, workflow_name, workflow_version, \
                 task_id, user_id, status, strategy, priority, estimated_duration, actual_duration, start_time, \
                 end_time, result_data, error_data, metadata, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, '1.0.0', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                vec![
                    seed_uuid(1, i as u64),
                    execution_id(i).into(),
                    workflow_id.into(),
                    workflow_name.into(),
                    format!("task_seed_{}_{:02}", SEED_EPOCH_MS, i % 10).into(),
                    format!("seed_user_{}", i % 3 + 1).into(),
                    status.into(),
                    ["sequential", "parallel", "adaptive"][i % 3].into(),
                    Value::Int(1 + (i % 5) as i64),
                    Value::Int(60_000 + i as i64 * 1_000),
                    duration.into(),
                    start.map_or(Value::Null, Value::Timestamp),
                    end.map_or(Value::Null, Value::Timestamp),
                    result.into(),
                    error.into(),
                    Value::Json(serde_json::json!({"seed": true, "index": i})),
                    Value::Timestamp(created),
                    Value::Timestamp(end.or(start).unwrap_or(created)),
                ],
            )
        })
        .collect()
}

fn metric_value(metric: usize, i: usize) -> f64 {
    let i = i as f64;
    match metric {
        0 => 30_000.0 + i * 1_500.0,
        1 => 128.0 + i * 16.5,
        2 => 60.0 + (i * 7.0) % 40.0,
        _ => i % 9.0 + 1.0,
    }
}

fn metrics() -> Vec<Statement> {
    let mut out = Vec::new();
    for i in 0..EXECUTIONS {
        for (m, (name, unit, kind, category)) in METRICS.iter().enumerate() {
            let recorded = SEED_EPOCH_MS + i as i64 * HOUR + (m as i64 + 1) * 1_000;
            out.push(Statement::new(
                "INSERT INTO workflow_metrics (id, execution_id, metric_name, metric_value, metric_unit, \
                 metric_type, metric_category, metadata, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                vec![
                    seed_uuid(2, (i * METRICS.len() + m) as u64),
                    execution_id(i).into(),
                    (*name).into(),
                    Value::Float(metric_value(m, i)),
                    (*unit).into(),
                    (*kind).into(),
                    (*category).into(),
                    Value::Json(serde_json::json!({"seed": true})),
                    Value::Timestamp(recorded),
                ],
            ));
        }
    }
    out
}

/// Usage `j`: (handler index, status, execution time in ms, created at).
pub fn usage(j: usize) -> (usize, &'static str, i64, i64) {
    let handler = j % 4; // the four active handlers
    let status = if j % 5 == 3 {
        "failure"
    } else if j % 7 == 6 {
        "timeout"
    } else {
        "success"
    };
    (
        handler,
        status,
        100 + (j as i64 * 37) % 900,
        SEED_EPOCH_MS + j as i64 * HOUR / 2,
    )
}

fn handlers_and_usage() -> Vec<Statement> {
    let mut out = Vec::new();
    for (h, (handler_type, name, class, active, default, priority)) in HANDLERS.iter().enumerate() {
        let runs: Vec<_> = (0..USAGES).map(usage).filter(|u| u.0 == h).collect();
        let successes = runs.iter().filter(|u| u.1 == "success").count() as i64;
        let average = if runs.is_empty() {
            0.0
        } else {
            runs.iter().map(|u| u.2 as f64).sum::<f64>() / runs.len() as f64
        };
        let last_used = runs.iter().map(|u| u.3).max();
        out.push(Statement::new(
            "INSERT INTO handler_registry (id, handler_type, handler_name, handler_class, handler_path, version, \
             description, capabilities, configuration, dependencies, metadata, is_active, is_default, priority, \
             registered_at, updated_at, last_used_at, usage_count, success_count, failure_count, average_execution_time, \
             timed_count) \
             VALUES ($1, $2, $3, $4, $5, '1.0.0', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $17)",
            vec![
                seed_uuid(3, h as u64),
                (*handler_type).into(),
                (*name).into(),
                (*class).into(),
                format!("handlers/{class}.js").into(),
                format!("{name} (seed fixture)").into(),
                Value::Json(serde_json::json!({"languages": ["javascript", "typescript"], "parallel": h % 2 == 0})),
                Value::Json(serde_json::json!({"timeoutMs": 30_000 + h * 10_000})),
                Value::Json(serde_json::json!(if h == 1 { vec!["seed_analysis_handler"] } else { vec![] })),
                Value::Json(serde_json::json!({"seed": true})),
                Value::Bool(*active),
                Value::Bool(*default),
                Value::Int(*priority),
                Value::Timestamp(SEED_EPOCH_MS - 24 * HOUR),
                Value::Timestamp(last_used.unwrap_or(SEED_EPOCH_MS - 24 * HOUR)),
                last_used.map_or(Value::Null, Value::Timestamp),
                Value::Int(runs.len() as i64),
                Value::Int(successes),
                Value::Int(runs.len() as i64 - successes),
                Value::Float(average),
            ],
        ));
    }
    for j in 0..USAGES {
        let (h, status, time, created) = usage(j);
        out.push(Statement::new(
            "INSERT INTO handler_usage_history (id, handler_type, execution_id, status, execution_time, \
             error_message, metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            vec![
                seed_uuid(4, j as u64),
                HANDLERS[h].0.into(),
                execution_id(j % EXECUTIONS).into(),
                status.into(),
                Value::Int(time),
                (status != "success").then(|| format!("seed {status}")).into(),
                Value::Json(serde_json::json!({"seed": true, "run": j})),
                Value::Timestamp(created),
            ],
        ));
    }
    out
}
