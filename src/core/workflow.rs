//! `WorkflowRepository` and `WorkflowPersistenceService`: executions and their metrics together.
//! Every multi-step write is one transaction (one [`Call`]); reads that combine several queries
//! are async functions over [`Database`].

use serde_json::json;

use super::db::{merge::renumber as renumbered, Database, Merge, Statement, StmtResult};
use super::error::{Error, Result};
use super::input::{self, Fields, Input};
use super::repo::executions::{self, execution_id, touch_execution};
use super::repo::{metrics, Call, Dialect, Output, Shape, Touch};
use super::value::{millis_to_iso, now_millis, Value};

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

fn started_metric() -> MetricRow {
    MetricRow {
        name: "execution_started",
        value: Value::Int(1),
        unit: Value::from("count"),
        category: "execution_status",
        metadata: json!({"status": "started"}),
    }
}

/// `bulkCreateWorkflowExecutions(executions)`: the valid items, each with its metric, in one
/// transaction; an item whose `executionId` already exists is reported, not fatal.
pub async fn bulk_create(db: &Database, executions: &Input) -> Result<Output> {
    let Input::Array(items) = executions else {
        return Err(Error::validation("executions must be an array"));
    };
    let now = now_millis();
    let mut errors = Vec::new();
    let mut statements = Vec::new();
    let mut written = Vec::new();
    for item in items {
        match executions::insert(item, now) {
            Ok(mut insert) => {
                insert.sql = INSERT_IF_NEW.as_str().into();
                let id = insert.params[0].clone();
                written.push((item, statements.len()));
                let guard = statements.len();
                statements.push(insert);
                statements.push(started_metric().statement(id, now).only_if(guard));
            }
            Err(e) => errors.push(item_error("executionData", item, &e.message)),
        }
    }
    let results = run_all(db, statements).await?;
    let mut created = Vec::new();
    for (item, at) in written {
        match results[at].rows.first() {
            Some(row) => created.push(Output::Row(row.clone())),
            None => errors.push(item_error(
                "executionData",
                item,
                "an execution with this executionId already exists",
            )),
        }
    }
    Ok(summary("created", created, errors, items.len()))
}

/// `bulkUpdateWorkflowExecutions(updates)`: each `{executionId, ...updates}` with its metrics,
/// in one transaction; invalid items and missing executions are reported per item.
pub async fn bulk_update(db: &Database, updates: &Input) -> Result<Output> {
    let Input::Array(items) = updates else {
        return Err(Error::validation("updates must be an array"));
    };
    let mut errors = Vec::new();
    let mut statements = Vec::new();
    let mut written = Vec::new();
    let mut touches = Vec::new();
    for item in items {
        let call = match item {
            Input::Object(fields) => {
                let id = item_field(item, "executionId");
                let rest = Input::Object(
                    fields
                        .iter()
                        .filter(|(k, _)| k != "executionId")
                        .cloned()
                        .collect(),
                );
                update_execution(id, &rest)
            }
            _ => Err(Error::validation("each update must be an object")),
        };
        match call {
            Ok(call) => {
                touches.extend(call.touches);
                let mut own = match call.op {
                    super::repo::Op::Write(s) | super::repo::Op::Batch { statements: s, .. } => s,
                    super::repo::Op::Read(s) | super::repo::Op::Scan(s) => vec![s],
                };
                let base = statements.len();
                for s in &mut own {
                    s.only_if = s.only_if.map(|n| n + base);
                }
                written.push((item, base));
                statements.extend(own);
            }
            Err(e) => errors.push(item_error("update", item, &e.message)),
        }
    }
    let results = run_all(db, statements).await;
    db.invalidate(&touches);
    let results = results?;
    let mut updated = Vec::new();
    for (item, at) in written {
        match results[at].rows.first() {
            Some(row) => updated.push(Output::Row(row.clone())),
            None => errors.push(item_error(
                "update",
                item,
                "no execution with this executionId",
            )),
        }
    }
    Ok(summary("updated", updated, errors, items.len()))
}

async fn run_all(db: &Database, statements: Vec<Statement>) -> Result<Vec<StmtResult>> {
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    db.write(statements).await
}

fn item_field<'a>(item: &'a Input, key: &str) -> &'a Input {
    match item {
        Input::Object(fields) => fields
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&Input::Undefined, |(_, v)| v),
        _ => &Input::Undefined,
    }
}

/// `{<what>: item, error: message}`, the item as JSON (Dates become ISO text).
fn item_error(what: &str, item: &Input, message: &str) -> Output {
    let data = item.to_json(what).unwrap_or(serde_json::Value::Null);
    Output::Object(vec![
        (what.to_string(), Output::Value(Value::Json(data))),
        ("error".into(), Output::Value(Value::from(message))),
    ])
}

fn summary(done: &str, ok: Vec<Output>, errors: Vec<Output>, total: usize) -> Output {
    let (n_ok, n_err) = (ok.len() as i64, errors.len() as i64);
    Output::Object(vec![
        (done.to_string(), Output::List(ok)),
        ("errors".into(), Output::List(errors)),
        (
            "summary".into(),
            Output::Object(vec![
                ("total".into(), Output::Value(Value::Int(total as i64))),
                (done.to_string(), Output::Value(Value::Int(n_ok))),
                ("failed".into(), Output::Value(Value::Int(n_err))),
            ]),
        ),
    ])
}

/// `updateExecution(executionId, updates)`: the update and, in the same transaction, the
/// planned metrics — `execution_duration` and `execution_completed` when the status becomes
/// completed with an `actualDuration`, `execution_failed` when it becomes failed. Resolves the
/// row, or null when there is no such execution (then no metric is written).
pub fn update_execution(id: &Input, updates: &Input) -> Result<Call> {
    let mut call = executions::update(id, updates)?;
    let super::repo::Op::Write(statements) = &mut call.op else {
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

/// Rows removed by a cleanup: `{executions, metrics}`.
pub const CLEANUP_COUNTS: &[&str] = &["executions", "metrics"];

/// `cleanupOldExecutions(daysOld = 30, {limit})`: finished executions created more than
/// `daysOld` days ago (their metrics and usage rows go with them) and metrics recorded before
/// then, in one transaction; at most `limit` rows of each when given (retention in chunks).
/// Resolves `{executions, metrics}` counts.
pub fn cleanup(days_old: &Input, options: &Input) -> Result<Call> {
    let f = Fields::of_optional(options, "options")?;
    f.only(&["limit"])?;
    let limit = f.integer("limit", 1, 1_000_000_000)?;
    let cutoff = Value::Timestamp(now_millis() - input::days_old(days_old)? * 86_400_000);
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
    Ok(Call::write(
        vec![
            chunked(
                "workflow_executions",
                "created_at < $1 AND status IN ('completed', 'failed', 'cancelled')",
            ),
            chunked("workflow_metrics", "recorded_at < $1"),
        ],
        Shape::Counts(CLEANUP_COUNTS),
    )
    .touching(Touch::Executions))
}

/// `getExecutionWithMetrics(executionId)`: the row with `metrics` (its 100 newest), or null.
pub async fn execution_with_metrics(db: &Database, id: &Input) -> Result<Output> {
    let row = match db.call(executions::find_by_execution_id(id)?).await? {
        Output::Row(row) => row,
        _ => return Ok(Output::Null),
    };
    let metrics = db
        .call(metrics::for_execution(id, &Input::Undefined)?)
        .await?;
    Ok(Output::row_with(row, vec![("metrics".into(), metrics)]))
}

/// `getExecutionStatistics(filters)`: `{executions, metrics}` from the same filters.
pub async fn execution_statistics(db: &Database, filters: &Input) -> Result<Output> {
    let (executions, metrics) = statistics_parts(db, filters).await?;
    Ok(statistics_object(executions, metrics))
}

/// `getStatistics(filters)` and `getAggregatedMetrics(filters)`.
async fn statistics_parts(db: &Database, filters: &Input) -> Result<(Output, Output)> {
    let d = Dialect::of(db);
    let executions = db.call(executions::statistics(&d, filters)?).await?;
    let metrics = db.call(metrics::aggregated(&d, filters)?).await?;
    Ok((executions, metrics))
}

fn statistics_object(executions: Output, metrics: Output) -> Output {
    Output::Object(vec![
        ("executions".into(), executions),
        ("metrics".into(), metrics),
    ])
}

/// `findWorkflowExecutions(filters, options)`: by `workflowId`, else `taskId`, else `userId`,
/// else `status`; with none of them, every execution (paged).
pub fn find_executions(filters: &Input, options: &Input) -> Result<Call> {
    let f = Fields::of_optional(filters, "filters")?;
    let present = |key: &str| !f.get(key).is_absent();
    if present("workflowId") {
        executions::find_by_workflow_id(f.get("workflowId"), options)
    } else if present("taskId") {
        executions::find_by_task_id(f.get("taskId"), options)
    } else if present("userId") {
        executions::find_by_user_id(f.get("userId"), options)
    } else if present("status") {
        executions::find_by_status(f.get("status"), options)
    } else {
        executions::find_all(options)
    }
}

/// `exportWorkflowData(filters, options)`: up to 10,000 executions, the statistics and the
/// aggregated metrics, with a `metadata` header.
pub async fn export(db: &Database, filters: &Input, options: &Input) -> Result<Output> {
    Fields::of_optional(options, "options")?;
    let mut page: Vec<(String, Input)> = match options {
        Input::Object(fields) => fields.clone(),
        _ => Vec::new(),
    };
    page.retain(|(k, _)| k != "limit");
    page.push(("limit".into(), Input::Number(10_000.0)));
    let executions = db
        .call(find_executions(filters, &Input::Object(page))?)
        .await?;
    // The aggregates are also the statistics' `metrics`: read once.
    let (execution_stats, aggregated) = statistics_parts(db, filters).await?;
    let statistics = statistics_object(execution_stats, aggregated.clone());
    let count = |o: &Output| match o {
        Output::Rows { rows, .. } => rows.len() as i64,
        _ => 0,
    };
    let as_json = |i: &Input, what: &str| -> Result<Output> {
        Ok(Output::Value(Value::Json(match i {
            Input::Undefined | Input::Null => json!({}),
            i => i.to_json(what)?,
        })))
    };
    let metadata = Output::Object(vec![
        (
            "exportedAt".into(),
            Output::Value(Value::from(millis_to_iso(now_millis()))),
        ),
        ("filters".into(), as_json(filters, "filters")?),
        ("options".into(), as_json(options, "options")?),
        (
            "summary".into(),
            Output::Object(vec![
                (
                    "executions".into(),
                    Output::Value(Value::Int(count(&executions))),
                ),
                ("statistics".into(), statistics.clone()),
                (
                    "metrics".into(),
                    Output::Value(Value::Int(count(&aggregated))),
                ),
            ]),
        ),
    ]);
    Ok(Output::Object(vec![
        ("metadata".into(), metadata),
        ("executions".into(), executions),
        ("statistics".into(), statistics),
        ("aggregatedMetrics".into(), aggregated),
    ]))
}

/// The execution INSERT that skips an existing `executionId` (no row comes back for it).
static INSERT_IF_NEW: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    executions::INSERT_SQL.replacen(
        " RETURNING",
        " ON CONFLICT (execution_id) DO NOTHING RETURNING",
        1,
    )
});
