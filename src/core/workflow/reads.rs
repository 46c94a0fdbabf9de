//! The reads that combine several queries: an execution with its metrics, the statistics, the
//! filtered list and the export.

use serde_json::json;

use crate::core::db::{Call, Database, Output};
use crate::core::error::Result;
use crate::core::input::{Fields, Input};
use crate::core::repo::executions::{self};
use crate::core::repo::metrics;
use crate::core::repo::statistics::{self, ExecutionFilters, MetricFilters};
use crate::core::value::{millis_to_iso, now_millis, Value};

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
    let (executions, metrics) = (
        ExecutionFilters::parse(filters)?,
        MetricFilters::parse(filters)?,
    );
    Ok((
        statistics::execution_statistics_row(db, &executions).await?,
        statistics::aggregated_rows(db, &metrics).await?,
    ))
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
