//! `WorkflowRepository(executions, metrics)` and `WorkflowPersistenceService(workflowRepository,
//! logger?)`: executions with their metrics, each multi-step write one transaction (see
//! `core::workflow`). Both log through their logger (`setLogger`), or through `tracing`.

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::json;

use super::executions::WorkflowExecutionRepository;
use super::input::{input, optional};
use super::jsref::{Level, Logger};
use super::metrics::WorkflowMetricsRepository;
use super::repository::{run_async, run_then, DbSlot};
use super::settle::{to_js, Then};
use crate::core::input::Input;
use crate::core::repo::{executions as ex, metrics as me, Output};
use crate::core::value::Value;
use crate::core::workflow as wf;

/// What both classes share: the database and the logger.
#[derive(Clone)]
pub(crate) struct Facade {
    pub db: DbSlot,
    pub logger: Logger,
    source: &'static str,
}

impl Facade {
    /// Logs the outcome (`done` at `level`, or the failure at error) and settles with the output.
    fn logged(&self, level: Level, done: &'static str, failed: &'static str) -> Then<Output> {
        let (logger, source) = (self.logger.clone(), self.source);
        Box::new(move |env, r| {
            log_outcome(&logger, env, source, level, done, failed, &r);
            r.and_then(|o| to_js(env, o))
        })
    }
}

fn log_outcome(
    logger: &Logger,
    env: sys::napi_env,
    source: &str,
    level: Level,
    done: &str,
    failed: &str,
    r: &crate::core::error::Result<Output>,
) {
    match r {
        Ok(Output::Null) if level == Level::Info => logger.log(
            env,
            notice_level(logger),
            &format!("{source}: {done}: not found"),
            json!({}),
        ),
        Ok(_) => logger.log(env, level, &format!("{source}: {done}"), json!({})),
        Err(e) => logger.log(
            env,
            failure_level(logger),
            &format!("{source}: Failed to {failed}"),
            json!({"error": e.message, "code": e.code.as_str()}),
        ),
    }
}

/// "Not found": `warn` for a logger the caller gave (as planned), `debug` in the addon's log.
fn notice_level(logger: &Logger) -> Level {
    match logger {
        Logger::Tracing => Level::Debug,
        Logger::Js(_) => Level::Warn,
    }
}

/// A failure the caller also receives as a rejection: `error` for a logger the caller gave (as
/// planned), `debug` in the addon's own log (stderr stays for what nobody else reports).
fn failure_level(logger: &Logger) -> Level {
    match logger {
        Logger::Tracing => Level::Debug,
        Logger::Js(_) => Level::Error,
    }
}

/// Executions and their metrics together, over the executions repository's database.
#[napi]
pub struct WorkflowRepository {
    pub(crate) facade: Facade,
}

#[napi]
impl WorkflowRepository {
    /// Over `executions`' database. The metrics repository is expected on the same database
    /// (the multi-step writes are one transaction there); when it is elsewhere (two planned
    /// `InMemory…` repositories each have their own), the executions' database holds both.
    #[napi(constructor)]
    pub fn new(
        executions: &WorkflowExecutionRepository,
        metrics: &WorkflowMetricsRepository,
    ) -> Self {
        if !std::sync::Arc::ptr_eq(&executions.db, &metrics.db) {
            tracing::debug!("WorkflowRepository: metrics are kept on the executions' database");
        }
        WorkflowRepository {
            facade: Facade {
                db: executions.db.clone(),
                logger: Logger::Tracing,
                source: "WorkflowRepository",
            },
        }
    }

    /// Sends this object's log lines to `logger` (null: back to `tracing`).
    #[napi(ts_args_type = "logger: Logger | null")]
    pub fn set_logger(&mut self, env: &Env, logger: Option<Unknown>) -> napi::Result<()> {
        self.facade.logger = Logger::from_arg(env.raw(), logger.map(|l| l.raw()))?;
        Ok(())
    }

    /// Creates the execution and its `execution_started` metric in one transaction.
    #[napi(
        ts_args_type = "execution: CreateExecutionInput",
        ts_return_type = "Promise<WorkflowExecutionRow>"
    )]
    pub fn save_execution<'env>(
        &self,
        env: &'env Env,
        execution: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let e = input(env.raw(), execution.raw());
        let f = &self.facade;
        let then = f.logged(
            Level::Info,
            "Workflow execution saved",
            "save workflow execution",
        );
        run_then(
            env,
            &f.db,
            "Failed to save workflow execution",
            |_| wf::save_execution(&e),
            then,
        )
    }

    /// Updates the execution and records the planned status metrics, in one transaction;
    /// null when there is no such execution.
    #[napi(
        ts_args_type = "executionId: string, updates: ExecutionUpdates",
        ts_return_type = "Promise<WorkflowExecutionRow | null>"
    )]
    pub fn update_execution<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
        updates: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (id, u) = (
            input(env.raw(), execution_id.raw()),
            input(env.raw(), updates.raw()),
        );
        self.facade
            .update(env, "Failed to update workflow execution", id, u)
    }

    /// Records a metric of the execution (`metric.executionId`, when given, wins).
    #[napi(
        ts_args_type = "executionId: string, metric: Omit<MetricInput, 'executionId'> & { executionId?: string }",
        ts_return_type = "Promise<WorkflowMetricRow>"
    )]
    pub fn record_execution_metrics<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
        metric: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (id, m) = (
            input(env.raw(), execution_id.raw()),
            input(env.raw(), metric.raw()),
        );
        self.facade
            .record_metric(env, "Failed to record execution metrics", id, m)
    }

    /// The execution with `metrics` (its 100 newest), or null.
    #[napi(
        ts_args_type = "executionId: string",
        ts_return_type = "Promise<ExecutionWithMetrics | null>"
    )]
    pub fn get_execution_with_metrics<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let id = input(env.raw(), execution_id.raw());
        self.facade
            .with_metrics(env, "Failed to get execution with metrics", id)
    }

    /// `{executions: getStatistics(filters), metrics: getAggregatedMetrics(filters)}`.
    #[napi(
        ts_args_type = "filters?: ExecutionStatisticsFilters & MetricFilters",
        ts_return_type = "Promise<WorkflowStatistics>"
    )]
    pub fn get_execution_statistics<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let f = optional(env.raw(), filters.map(|v| v.raw()));
        self.facade
            .statistics(env, "Failed to get execution statistics", f)
    }

    /// Executions of a workflow, newest first.
    #[napi(
        ts_args_type = "workflowId: string, options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_executions_by_workflow_id<'env>(
        &self,
        env: &'env Env,
        workflow_id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (w, o) = (
            input(env.raw(), workflow_id.raw()),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        self.facade.read(
            env,
            "Failed to find executions by workflow ID",
            "find executions by workflow ID",
            move || ex::find_by_workflow_id(&w, &o),
        )
    }

    /// Executions of a task, newest first.
    #[napi(
        ts_args_type = "taskId: string, options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_executions_by_task_id<'env>(
        &self,
        env: &'env Env,
        task_id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (t, o) = (
            input(env.raw(), task_id.raw()),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        self.facade.read(
            env,
            "Failed to find executions by task ID",
            "find executions by task ID",
            move || ex::find_by_task_id(&t, &o),
        )
    }

    /// Executions of a user, newest first.
    #[napi(
        ts_args_type = "userId: string, options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_executions_by_user_id<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (u, o) = (
            input(env.raw(), user_id.raw()),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        self.facade.read(
            env,
            "Failed to find executions by user ID",
            "find executions by user ID",
            move || ex::find_by_user_id(&u, &o),
        )
    }

    /// Executions with a status, newest first.
    #[napi(
        ts_args_type = "status: ExecutionStatus, options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_executions_by_status<'env>(
        &self,
        env: &'env Env,
        status: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (s, o) = (
            input(env.raw(), status.raw()),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        self.facade.read(
            env,
            "Failed to find executions by status",
            "find executions by status",
            move || ex::find_by_status(&s, &o),
        )
    }

    /// Deletes the execution and its metrics in one transaction; true when it existed.
    #[napi(
        ts_args_type = "executionId: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn delete_execution<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let id = input(env.raw(), execution_id.raw());
        self.facade
            .delete(env, "Failed to delete workflow execution", id)
    }

    /// Removes finished executions older than `daysOld` (30) days and older metrics, in one
    /// transaction (at most `options.limit` rows of each); resolves the number of executions
    /// removed (the metric count is logged).
    #[napi(
        ts_args_type = "daysOld?: number, options?: CleanupOptions",
        ts_return_type = "Promise<number>"
    )]
    pub fn cleanup_old_executions<'env>(
        &self,
        env: &'env Env,
        days_old: Option<Unknown>,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (d, o) = (
            optional(env.raw(), days_old.map(|v| v.raw())),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        self.facade
            .cleanup(env, "Failed to cleanup old executions", d, o)
    }

    /// Metrics of an execution, newest first (`limit` 100).
    #[napi(
        ts_args_type = "executionId: string, options?: MetricListOptions",
        ts_return_type = "Promise<Page<WorkflowMetricRow>>"
    )]
    pub fn get_metrics_for_execution<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (id, o) = (
            input(env.raw(), execution_id.raw()),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        self.facade.read(
            env,
            "Failed to get metrics for execution",
            "get metrics for execution",
            move || me::for_execution(&id, &o),
        )
    }

    /// Per (name, type, category) aggregates, percentiles included.
    #[napi(
        ts_args_type = "filters?: MetricFilters",
        ts_return_type = "Promise<MetricAggregateRow[]>"
    )]
    pub fn get_aggregated_metrics<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let f = optional(env.raw(), filters.map(|v| v.raw()));
        self.facade
            .aggregated(env, "Failed to get aggregated metrics", f)
    }

    /// Statistics over the metrics.
    #[napi(
        ts_args_type = "filters?: MetricFilters",
        ts_return_type = "Promise<MetricStatistics>"
    )]
    pub fn get_metrics_statistics<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let f = optional(env.raw(), filters.map(|v| v.raw()));
        self.facade
            .metrics_statistics(env, "Failed to get metrics statistics", f)
    }
}

impl Facade {
    fn read<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        what: &'static str,
        build: impl FnOnce() -> crate::core::error::Result<crate::core::repo::Call>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let then = self.logged(Level::Debug, what, what);
        run_then(env, &self.db, prefix, |_| build(), then)
    }

    fn update<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        id: Input,
        updates: Input,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let then = self.logged(
            Level::Info,
            "Workflow execution updated",
            "update workflow execution",
        );
        run_then(
            env,
            &self.db,
            prefix,
            |_| wf::update_execution(&id, &updates),
            then,
        )
    }

    fn record_metric<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        id: Input,
        metric: Input,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let then = self.logged(
            Level::Debug,
            "Execution metric recorded",
            "record execution metrics",
        );
        run_then(
            env,
            &self.db,
            prefix,
            |_| wf::record_execution_metric(&id, &metric),
            then,
        )
    }

    fn with_metrics<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        id: Input,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let then = self.logged(
            Level::Info,
            "Execution with metrics read",
            "get execution with metrics",
        );
        run_async(
            env,
            &self.db,
            prefix,
            |db| async move { wf::execution_with_metrics(&db, &id).await },
            then,
        )
    }

    fn statistics<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        filters: Input,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let then = self.logged(
            Level::Debug,
            "Execution statistics read",
            "get execution statistics",
        );
        run_async(
            env,
            &self.db,
            prefix,
            |db| async move { wf::execution_statistics(&db, &filters).await },
            then,
        )
    }

    fn aggregated<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        filters: Input,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let then = self.logged(
            Level::Debug,
            "Aggregated metrics read",
            "get aggregated metrics",
        );
        run_then(env, &self.db, prefix, |d| me::aggregated(d, &filters), then)
    }

    fn metrics_statistics<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        filters: Input,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let then = self.logged(
            Level::Debug,
            "Metrics statistics read",
            "get metrics statistics",
        );
        run_then(env, &self.db, prefix, |d| me::statistics(d, &filters), then)
    }

    fn delete<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        id: Input,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (logger, source) = (self.logger.clone(), self.source);
        let then: Then<Output> = Box::new(move |env, r| {
            match &r {
                Ok(Output::Bool(false)) => logger.log(
                    env,
                    notice_level(&logger),
                    &format!("{source}: Workflow execution not found for deletion"),
                    json!({}),
                ),
                other => log_outcome(
                    &logger,
                    env,
                    source,
                    Level::Info,
                    "Workflow execution deleted",
                    "delete workflow execution",
                    other,
                ),
            }
            r.and_then(|o| to_js(env, o))
        });
        run_then(env, &self.db, prefix, |_| wf::delete_execution(&id), then)
    }

    fn cleanup<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        days: Input,
        options: Input,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (logger, source) = (self.logger.clone(), self.source);
        let then: Then<Output> = Box::new(move |env, r| {
            let counts = r.map(|o| cleanup_counts(&o));
            match &counts {
                Ok((executions, metrics)) => logger.log(
                    env,
                    Level::Info,
                    &format!("{source}: Old executions cleaned up"),
                    json!({"deletedExecutions": executions, "deletedMetrics": metrics}),
                ),
                Err(e) => logger.log(
                    env,
                    failure_level(&logger),
                    &format!("{source}: Failed to cleanup old executions"),
                    json!({"error": e.message, "code": e.code.as_str()}),
                ),
            }
            counts.and_then(|(executions, _)| to_js(env, Output::Count(executions)))
        });
        run_then(
            env,
            &self.db,
            prefix,
            |_| wf::cleanup(&days, &options),
            then,
        )
    }
}

/// `(executions, metrics)` removed, from a cleanup's counts row.
pub(crate) fn cleanup_counts(o: &Output) -> (u64, u64) {
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

/// The planned persistence service, over a `WorkflowRepository`.
#[napi]
pub struct WorkflowPersistenceService {
    facade: Facade,
}

#[napi]
impl WorkflowPersistenceService {
    /// Over `workflowRepository`'s database; logs to `logger` (default: `tracing`).
    #[napi(
        constructor,
        ts_args_type = "workflowRepository: WorkflowRepository, logger?: Logger"
    )]
    pub fn new(
        env: &Env,
        workflow_repository: &WorkflowRepository,
        logger: Option<Unknown>,
    ) -> napi::Result<Self> {
        Ok(WorkflowPersistenceService {
            facade: Facade {
                db: workflow_repository.facade.db.clone(),
                logger: Logger::from_arg(env.raw(), logger.map(|l| l.raw()))?,
                source: "WorkflowPersistenceService",
            },
        })
    }

    /// Sends this object's log lines to `logger` (null: back to `tracing`).
    #[napi(ts_args_type = "logger: Logger | null")]
    pub fn set_logger(&mut self, env: &Env, logger: Option<Unknown>) -> napi::Result<()> {
        self.facade.logger = Logger::from_arg(env.raw(), logger.map(|l| l.raw()))?;
        Ok(())
    }

    /// Creates the execution (and its `execution_started` metric).
    #[napi(
        ts_args_type = "executionData: CreateExecutionInput",
        ts_return_type = "Promise<WorkflowExecutionRow>"
    )]
    pub fn create_workflow_execution<'env>(
        &self,
        env: &'env Env,
        execution_data: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let e = input(env.raw(), execution_data.raw());
        let then = self.facade.logged(
            Level::Info,
            "Workflow execution created",
            "create workflow execution",
        );
        run_then(
            env,
            &self.facade.db,
            "Failed to create workflow execution",
            |_| wf::save_execution(&e),
            then,
        )
    }

    /// Updates the execution (and records its status metrics); null when it does not exist.
    #[napi(
        ts_args_type = "executionId: string, updates: ExecutionUpdates",
        ts_return_type = "Promise<WorkflowExecutionRow | null>"
    )]
    pub fn update_workflow_execution<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
        updates: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (id, u) = (
            input(env.raw(), execution_id.raw()),
            input(env.raw(), updates.raw()),
        );
        self.facade
            .update(env, "Failed to update workflow execution", id, u)
    }

    /// The execution with its metrics, or null.
    #[napi(
        ts_args_type = "executionId: string",
        ts_return_type = "Promise<ExecutionWithMetrics | null>"
    )]
    pub fn get_workflow_execution<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let id = input(env.raw(), execution_id.raw());
        self.facade
            .with_metrics(env, "Failed to get workflow execution", id)
    }

    /// By `workflowId`, else `taskId`, else `userId`, else `status`; with no filter, every
    /// execution (paged: `limit` 50).
    #[napi(
        ts_args_type = "filters?: ExecutionFilters, options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_workflow_executions<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (f, o) = (
            optional(env.raw(), filters.map(|v| v.raw())),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        self.facade.read(
            env,
            "Failed to find workflow executions",
            "find workflow executions",
            move || wf::find_executions(&f, &o),
        )
    }

    /// Deletes the execution and its metrics; true when it existed.
    #[napi(
        ts_args_type = "executionId: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn delete_workflow_execution<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let id = input(env.raw(), execution_id.raw());
        self.facade
            .delete(env, "Failed to delete workflow execution", id)
    }

    /// Records a metric of the execution.
    #[napi(
        ts_args_type = "executionId: string, metric: Omit<MetricInput, 'executionId'> & { executionId?: string }",
        ts_return_type = "Promise<WorkflowMetricRow>"
    )]
    pub fn record_workflow_metric<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
        metric: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (id, m) = (
            input(env.raw(), execution_id.raw()),
            input(env.raw(), metric.raw()),
        );
        self.facade
            .record_metric(env, "Failed to record workflow metric", id, m)
    }

    /// Metrics of an execution, newest first.
    #[napi(
        ts_args_type = "executionId: string, options?: MetricListOptions",
        ts_return_type = "Promise<Page<WorkflowMetricRow>>"
    )]
    pub fn get_workflow_metrics<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (id, o) = (
            input(env.raw(), execution_id.raw()),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        self.facade.read(
            env,
            "Failed to get workflow metrics",
            "get workflow metrics",
            move || me::for_execution(&id, &o),
        )
    }

    /// `{executions, metrics}` statistics.
    #[napi(
        ts_args_type = "filters?: ExecutionStatisticsFilters & MetricFilters",
        ts_return_type = "Promise<WorkflowStatistics>"
    )]
    pub fn get_workflow_statistics<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let f = optional(env.raw(), filters.map(|v| v.raw()));
        self.facade
            .statistics(env, "Failed to get workflow statistics", f)
    }

    /// Per (name, type, category) aggregates.
    #[napi(
        ts_args_type = "filters?: MetricFilters",
        ts_return_type = "Promise<MetricAggregateRow[]>"
    )]
    pub fn get_aggregated_metrics<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let f = optional(env.raw(), filters.map(|v| v.raw()));
        self.facade
            .aggregated(env, "Failed to get aggregated metrics", f)
    }

    /// Statistics over the metrics.
    #[napi(
        ts_args_type = "filters?: MetricFilters",
        ts_return_type = "Promise<MetricStatistics>"
    )]
    pub fn get_metrics_statistics<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let f = optional(env.raw(), filters.map(|v| v.raw()));
        self.facade
            .metrics_statistics(env, "Failed to get metrics statistics", f)
    }

    /// Removes old finished executions and old metrics; resolves the executions count.
    #[napi(
        ts_args_type = "daysOld?: number, options?: CleanupOptions",
        ts_return_type = "Promise<number>"
    )]
    pub fn cleanup_old_executions<'env>(
        &self,
        env: &'env Env,
        days_old: Option<Unknown>,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (d, o) = (
            optional(env.raw(), days_old.map(|v| v.raw())),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        self.facade
            .cleanup(env, "Failed to cleanup old executions", d, o)
    }

    /// Creates every valid execution in one transaction; invalid items and existing ids are
    /// reported per item: `{created, errors: [{executionData, error}], summary}`.
    #[napi(
        ts_args_type = "executions: CreateExecutionInput[]",
        ts_return_type = "Promise<BulkResult<'created', WorkflowExecutionRow, 'executionData'>>"
    )]
    pub fn bulk_create_workflow_executions<'env>(
        &self,
        env: &'env Env,
        executions: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let items = input(env.raw(), executions.raw());
        let then = self.facade.logged(
            Level::Info,
            "Bulk creation finished",
            "bulk create workflow executions",
        );
        run_async(
            env,
            &self.facade.db,
            "Failed to bulk create workflow executions",
            |db| async move { wf::bulk_create(&db, &items).await },
            then,
        )
    }

    /// Applies every valid `{executionId, ...updates}` in one transaction; invalid items and
    /// missing executions are reported per item: `{updated, errors: [{update, error}], summary}`.
    #[napi(
        ts_args_type = "updates: Array<ExecutionUpdates & { executionId: string }>",
        ts_return_type = "Promise<BulkResult<'updated', WorkflowExecutionRow, 'update'>>"
    )]
    pub fn bulk_update_workflow_executions<'env>(
        &self,
        env: &'env Env,
        updates: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let items = input(env.raw(), updates.raw());
        let then = self.facade.logged(
            Level::Info,
            "Bulk update finished",
            "bulk update workflow executions",
        );
        run_async(
            env,
            &self.facade.db,
            "Failed to bulk update workflow executions",
            |db| async move { wf::bulk_update(&db, &items).await },
            then,
        )
    }

    /// Up to 10,000 executions with statistics and aggregates, and a `metadata` header.
    #[napi(
        ts_args_type = "filters?: ExecutionFilters, options?: ExecutionListOptions",
        ts_return_type = "Promise<WorkflowExport>"
    )]
    pub fn export_workflow_data<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (f, o) = (
            optional(env.raw(), filters.map(|v| v.raw())),
            optional(env.raw(), options.map(|v| v.raw())),
        );
        let then = self.facade.logged(
            Level::Info,
            "Workflow data exported",
            "export workflow data",
        );
        run_async(
            env,
            &self.facade.db,
            "Failed to export workflow data",
            |db| async move { wf::export(&db, &f, &o).await },
            then,
        )
    }
}
