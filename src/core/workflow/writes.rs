//! The single-call operations of `WorkflowRepository` and `WorkflowPersistenceService`: each
//! multi-step write is one transaction (one [`Call`]).

use serde_json::json;

use crate::core::db::merge::renumber as renumbered;
use crate::core::db::{Call, Merge, Op, Output, Shape, Statement, Touch};
use crate::core::error::{Error, Result};
use crate::core::input::{self, Fields, Input};
use crate::core::repo::executions::{self, execution_id, touch_execution};
use crate::core::repo::{metrics, rollups};
use crate::core::value::{now_millis, Value};

/// One metric row written beside an execution change.
pub struct MetricRow {
    pub name: &'static str,
    pub value: Value,
    pub unit: Value,
    pub category: &'static str,
    pub metadata: serde_json::Value,
}

impl MetricRow {
    /// A `performance` metric of execution `id`, as a statement.
    pub fn statement(self, id: Value, now: i64) -> Statement {
        metrics_insert(vec![(id, self)], now)
    }
}

/// A metric row written beside an execution change (type `performance`).
static METRIC_ROW: Merge = Merge {
    head: "INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, metric_unit, metric_type, \
           metric_category, metadata, recorded_at)",
    tuple: "($1, $2, CAST($3 AS DOUBLE PRECISION), $4, 'performance', $5, $6, $7)",
    tail: "",
    width: 7,
    key: None,
    key_param: 0,
};

/// One INSERT of several metric rows (type `performance`), recorded at `now`; mergeable with
/// other such INSERTs by PostgreSQL's group commit.
pub fn metrics_insert(rows: Vec<(Value, MetricRow)>, now: i64) -> Statement {
    let mut params = Vec::with_capacity(rows.len() * METRIC_ROW.width);
    let mut tuples = Vec::with_capacity(rows.len());
    for (id, m) in rows {
        tuples.push(renumbered(METRIC_ROW.tuple, params.len()));
        params.extend([
            id,
            Value::from(m.name),
            m.value,
            m.unit,
            Value::from(m.category),
            Value::Json(m.metadata),
            Value::Timestamp(now),
        ]);
    }
    Statement::new(
        format!("{} VALUES {}", METRIC_ROW.head, tuples.join(", ")),
        params,
    )
    .merging(&METRIC_ROW)
}

/// `saveExecution(execution)`: the execution and its `execution_started` metric, in one
/// transaction; resolves the execution row.
pub fn save_execution(execution: &Input) -> Result<Call> {
    let now = now_millis();
    let insert = executions::insert(execution, now)?;
    let id = insert.params[0].clone();
    Ok(Call::write(
        vec![insert, started_metric().statement(id, now)],
        Shape::RowAt(0),
    ))
}

pub(super) fn started_metric() -> MetricRow {
    MetricRow {
        name: "execution_started",
        value: Value::Int(1),
        unit: Value::from("count"),
        category: "execution_status",
        metadata: json!({"status": "started"}),
    }
}

/// `updateExecution(executionId, updates)`: the update and, in the same transaction, the
/// planned metrics — `execution_duration` and `execution_completed` when the status becomes
/// completed with an `actualDuration`, `execution_failed` when it becomes failed. Resolves the
/// row, or null when there is no such execution (then no metric is written).
pub fn update_execution(id: &Input, updates: &Input) -> Result<Call> {
    let mut call = executions::update(id, updates)?;
    let Op::Write(statements) = &mut call.op else {
        return Ok(call); // an empty update reads the current row
    };
    let id = execution_id(id)?;
    let f = Fields::of(updates, "updates")?;
    let status = f.text("status", 50)?;
    let now = now_millis();
    let mut rows = Vec::new();
    match status.as_deref() {
        Some("completed") => {
            if let Some(d) = f.millis("actualDuration")?.filter(|d| *d != 0) {
                rows.push(MetricRow {
                    name: "execution_duration",
                    value: Value::Int(d),
                    unit: Value::from("milliseconds"),
                    category: "execution_time",
                    metadata: json!({"status": "completed"}),
                });
                rows.push(MetricRow {
                    name: "execution_completed",
                    value: Value::Int(1),
                    unit: Value::from("count"),
                    category: "execution_status",
                    metadata: json!({"status": "completed"}),
                });
            }
        }
        Some("failed") => rows.push(MetricRow {
            name: "execution_failed",
            value: Value::Int(1),
            unit: Value::from("count"),
            category: "execution_status",
            metadata: json!({"status": "failed", "error": f.json("errorData")?}),
        }),
        _ => {}
    }
    if !rows.is_empty() {
        let rows = rows.into_iter().map(|r| (id.clone(), r)).collect();
        statements.push(metrics_insert(rows, now).only_if(0));
    }
    call.shape = Shape::RowOrNullAt(0);
    Ok(call)
}

/// `recordExecutionMetrics(executionId, metric)`: the metric under `executionId` unless the
/// metric names its own (the planned spread order).
pub fn record_execution_metric(id: &Input, metric: &Input) -> Result<Call> {
    let Input::Object(fields) = metric else {
        return Err(Error::validation("metric must be an object"));
    };
    let mut merged = vec![("executionId".to_string(), id.clone())];
    for (k, v) in fields {
        if k == "executionId" && v.is_absent() {
            continue;
        }
        merged.retain(|(m, _)| m != k);
        merged.push((k.clone(), v.clone()));
    }
    metrics::record(&Input::Object(merged))
}

/// `deleteExecution(executionId)`: its metrics and the row, in one transaction; true when the
/// execution existed.
pub fn delete_execution(id: &Input) -> Result<Call> {
    let id = execution_id(id)?;
    let touch = touch_execution(&id);
    Ok(Call::write(
        vec![
            Statement::new(
                "DELETE FROM workflow_metrics WHERE execution_id = $1",
                vec![id.clone()],
            ),
            Statement::new(
                "DELETE FROM workflow_executions WHERE execution_id = $1",
                vec![id],
            ),
        ],
        Shape::Touched(1),
    )
    .touching(touch))
}

/// Rows removed by a cleanup: `{executions, metrics}` (after the statement that keeps the
/// rollups, when it does).
pub const CLEANUP_COUNTS: &[&str] = &["executions", "metrics"];
const CLEANUP_COUNTS_KEEPING: &[&str] = &["", "executions", "metrics"];

/// `cleanupOldExecutions(daysOld = 30, {limit})`: finished executions created more than
/// `daysOld` days ago (their metrics and usage rows go with them) and metrics recorded before
/// then, in one transaction; at most `limit` rows of each when given (retention in chunks).
/// Resolves `{executions, metrics}` counts.
///
/// The statistics' rollups keep the rows removed unless `keepRollups` is false; with
/// `rollupRetentionDays` (at least `daysOld`), the metric rollups of the days before then go
/// too.
pub fn cleanup(days_old: &Input, options: &Input) -> Result<Call> {
    let f = Fields::of_optional(options, "options")?;
    f.only(&["limit", "keepRollups", "rollupRetentionDays"])?;
    let limit = f.integer("limit", 1, 1_000_000_000)?;
    let keep = f.boolean("keepRollups")?.unwrap_or(true);
    let days = input::days_old(days_old)?;
    let retention = f.integer("rollupRetentionDays", 0, 1_000_000)?;
    if retention.is_some_and(|r| r < days) {
        return Err(Error::validation(
            "options.rollupRetentionDays must be at least daysOld (the rollups answer for the days the raw rows no longer hold)",
        ));
    }
    let cutoff = Value::Timestamp(now_millis() - days * 86_400_000);
    let chunked = |table: &str, filter: &str| match limit {
        None => Statement::new(
            format!("DELETE FROM {table} WHERE {filter}"),
            vec![cutoff.clone()],
        ),
        Some(n) => Statement::new(
            format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {filter} LIMIT $2)"
            ),
            vec![cutoff.clone(), Value::Int(n)],
        ),
    };
    let deletes = vec![
        chunked(
            "workflow_executions",
            "created_at < $1 AND status IN ('completed', 'failed', 'cancelled')",
        ),
        chunked("workflow_metrics", "recorded_at < $1"),
    ];
    let (mut statements, counts) = if keep {
        (rollups::keeping_rollups(deletes), CLEANUP_COUNTS_KEEPING)
    } else {
        (deletes, CLEANUP_COUNTS)
    };
    if let Some(days) = retention {
        statements.extend(rollups::retention(rollups::retention_first_day(days)));
    }
    Ok(Call::write(statements, Shape::Counts(counts)).touching(Touch::Executions))
}

/// `(executions, metrics)` removed, from a cleanup's counts row.
pub fn cleanup_counts(o: &Output) -> (u64, u64) {
    match o {
        Output::Row(row) => {
            let n = |c: &str| match row.get(c) {
                Some(Value::Int(n)) => *n as u64,
                _ => 0,
            };
            (n("executions"), n("metrics"))
        }
        _ => (0, 0),
    }
}
