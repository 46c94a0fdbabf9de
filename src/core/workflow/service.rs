//! The methods of `WorkflowRepository` and `WorkflowPersistenceService`, each as a [`Plan`]:
//! its work and what is logged once it ended. The two classes share every plan but the first
//! (they name the creation differently).

use serde_json::json;

use super::{bulk, reads, writes};
use crate::core::db::{Call, Output};
use crate::core::error::Result;
use crate::core::exec::outcome::{Level, LogRecord, Outcome};
use crate::core::exec::report::{failure_record, outcome_record, Audience, Conclude, Report};
use crate::core::exec::request::{Plan, Work};
use crate::core::input::Input;
use crate::core::repo::{executions, metrics, statistics};

/// `work`, logged as `{source}: {done}` at `level` (or `Failed to {failed}`).
fn logged(level: Level, done: &'static str, failed: &'static str, work: Result<Work>) -> Plan {
    Plan::new(
        work,
        Report::Outcome {
            level,
            done,
            failed,
        },
    )
}

/// A read, logged at debug under one description.
fn read(what: &'static str, call: Result<Call>) -> Plan {
    logged(Level::Debug, what, what, call.map(Work::Call))
}

/// `saveExecution(execution)`.
pub fn save_execution(execution: &Input) -> Plan {
    logged(
        Level::Info,
        "Workflow execution saved",
        "save workflow execution",
        writes::save_execution(execution).map(Work::Call),
    )
    .about("executionId", execution)
}

/// `createWorkflowExecution(executionData)`.
pub fn create_execution(execution: &Input) -> Plan {
    logged(
        Level::Info,
        "Workflow execution created",
        "create workflow execution",
        writes::save_execution(execution).map(Work::Call),
    )
    .about("executionId", execution)
}

/// `updateExecution` / `updateWorkflowExecution`.
pub fn update_execution(id: &Input, updates: &Input) -> Plan {
    logged(
        Level::Info,
        "Workflow execution updated",
        "update workflow execution",
        writes::update_execution(id, updates).map(Work::Call),
    )
    .about("executionId", id)
}

/// `recordExecutionMetrics` / `recordWorkflowMetric`.
pub fn record_metric(id: &Input, metric: &Input) -> Plan {
    logged(
        Level::Debug,
        "Execution metric recorded",
        "record execution metrics",
        writes::record_execution_metric(id, metric).map(Work::Call),
    )
    .about("executionId", id)
}

/// `getExecutionWithMetrics` / `getWorkflowExecution`.
pub fn with_metrics(id: Input) -> Plan {
    let about = id.clone();
    logged(
        Level::Info,
        "Execution with metrics read",
        "get execution with metrics",
        Ok(Work::steps(move |db| async move {
            reads::execution_with_metrics(&db, &id).await
        })),
    )
    .about("executionId", &about)
}

/// `getExecutionStatistics` / `getWorkflowStatistics`.
pub fn statistics(filters: Input) -> Plan {
    logged(
        Level::Debug,
        "Execution statistics read",
        "get execution statistics",
        Ok(Work::steps(move |db| async move {
            reads::execution_statistics(&db, &filters).await
        })),
    )
}

/// `getAggregatedMetrics`.
pub fn aggregated(filters: &Input) -> Plan {
    logged(
        Level::Debug,
        "Aggregated metrics read",
        "get aggregated metrics",
        statistics::aggregated(filters),
    )
}

/// `getMetricsStatistics`.
pub fn metrics_statistics(filters: &Input) -> Plan {
    logged(
        Level::Debug,
        "Metrics statistics read",
        "get metrics statistics",
        statistics::metric_statistics(filters),
    )
}

/// `findExecutionsByWorkflowId`.
pub fn by_workflow_id(key: &Input, options: &Input) -> Plan {
    read(
        "find executions by workflow ID",
        executions::find_by_workflow_id(key, options),
    )
}

/// `findExecutionsByTaskId`.
pub fn by_task_id(key: &Input, options: &Input) -> Plan {
    read(
        "find executions by task ID",
        executions::find_by_task_id(key, options),
    )
}

/// `findExecutionsByUserId`.
pub fn by_user_id(key: &Input, options: &Input) -> Plan {
    read(
        "find executions by user ID",
        executions::find_by_user_id(key, options),
    )
}

/// `findExecutionsByStatus`.
pub fn by_status(key: &Input, options: &Input) -> Plan {
    read(
        "find executions by status",
        executions::find_by_status(key, options),
    )
}

/// `findWorkflowExecutions(filters, options)`.
pub fn find(filters: &Input, options: &Input) -> Plan {
    read(
        "find workflow executions",
        reads::find_executions(filters, options),
    )
}

/// `getMetricsForExecution`.
pub fn metrics_for_execution(id: &Input, options: &Input) -> Plan {
    read(
        "get metrics for execution",
        metrics::for_execution(id, options),
    )
    .about("executionId", id)
}

/// `getWorkflowMetrics`.
pub fn workflow_metrics(id: &Input, options: &Input) -> Plan {
    read("get workflow metrics", metrics::for_execution(id, options)).about("executionId", id)
}

/// `deleteExecution` / `deleteWorkflowExecution`.
pub fn delete(id: &Input) -> Plan {
    let report = Report::By(Box::new(Deletion));
    Plan::new(writes::delete_execution(id).map(Work::Call), report).about("executionId", id)
}

/// A deletion is logged as an outcome, and "not found for deletion" when nothing was there.
struct Deletion;

impl Conclude for Deletion {
    fn conclude(
        self: Box<Self>,
        source: &str,
        audience: Audience,
        result: Result<Output>,
    ) -> Outcome {
        let record = match &result {
            Ok(Output::Bool(false)) => LogRecord::new(
                audience.notice(),
                format!("{source}: Workflow execution not found for deletion"),
                json!({}),
            ),
            other => outcome_record(
                audience,
                source,
                Level::Info,
                "Workflow execution deleted",
                "delete workflow execution",
                other,
            ),
        };
        Outcome::logged(result, record)
    }
}

/// `cleanupOldExecutions(daysOld, options)`.
pub fn cleanup(days_old: &Input, options: &Input) -> Plan {
    Plan::new(
        writes::cleanup(days_old, options).map(Work::Call),
        Report::By(Box::new(Cleanup)),
    )
}

/// A cleanup logs the counts of executions and metrics removed; its result is the number of
/// executions.
struct Cleanup;

impl Conclude for Cleanup {
    fn conclude(
        self: Box<Self>,
        source: &str,
        audience: Audience,
        result: Result<Output>,
    ) -> Outcome {
        let counts = result.map(|o| writes::cleanup_counts(&o));
        let record = match &counts {
            Ok((executions, metrics)) => LogRecord::new(
                Level::Info,
                format!("{source}: Old executions cleaned up"),
                json!({"deletedExecutions": executions, "deletedMetrics": metrics}),
            ),
            Err(e) => failure_record(
                audience,
                format!("{source}: Failed to cleanup old executions"),
                e,
            ),
        };
        Outcome::logged(
            counts.map(|(executions, _)| Output::Count(executions)),
            record,
        )
    }
}

/// `bulkCreateWorkflowExecutions(executions)`.
pub fn bulk_create(items: Input) -> Plan {
    logged(
        Level::Info,
        "Bulk creation finished",
        "bulk create workflow executions",
        Ok(Work::write_steps(move |db| async move {
            bulk::bulk_create(&db, &items).await
        })),
    )
}

/// `bulkUpdateWorkflowExecutions(updates)`.
pub fn bulk_update(items: Input) -> Plan {
    logged(
        Level::Info,
        "Bulk update finished",
        "bulk update workflow executions",
        Ok(Work::write_steps(move |db| async move {
            bulk::bulk_update(&db, &items).await
        })),
    )
}

/// `exportWorkflowData(filters, options)`.
pub fn export(filters: Input, options: Input) -> Plan {
    logged(
        Level::Info,
        "Workflow data exported",
        "export workflow data",
        Ok(Work::steps(move |db| async move {
            reads::export(&db, &filters, &options).await
        })),
    )
}
