//! `WorkflowRepository(executions, metrics)` and `WorkflowPersistenceService(workflowRepository,
//! logger?)`: executions with their metrics, each multi-step write one transaction (see
//! `core::workflow`). Both log through their logger (`setLogger`), or through `tracing`.

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::json;

use super::executions::WorkflowExecutionRepository;
use super::input::{input, optional};
use super::js::instance;
use super::jsref::{JsRef, Level, Logger};
use super::metrics::WorkflowMetricsRepository;
use super::repository::{run_async, run_then, DbSlot};
use super::settle::{to_js, Then};
use crate::core::db::Output;
use crate::core::input::Input;
use crate::core::repo::{executions as ex, metrics as me};
use crate::core::value::Value;
use crate::core::workflow as wf;

/// What both classes share: the database and the logger.
#[derive(Clone)]
pub(crate) struct Facade {
    pub db: DbSlot,
    pub logger: Logger,
    pub(crate) source: &'static str,
}

impl Facade {
    /// Logs the outcome (`done` at `level`, or the failure at error) and settles with the output.
    pub(crate) fn logged(
        &self,
        level: Level,
        done: &'static str,
        failed: &'static str,
    ) -> Then<Output> {
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

/// A JS value this object keeps (a constructor argument), as a getter returns it.
pub(crate) fn held<'e>(env: &'e Env, value: &JsRef) -> napi::Result<Unknown<'e>> {
    let v = value.get(env.raw())?;
    // SAFETY: `v` is a live value of this env, fetched from a reference just now.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), v) })
}

/// A `logger` member: the logger given, or one that writes to the addon's own log.
pub(crate) fn logger_member<'e>(env: &'e Env, logger: &Logger) -> napi::Result<Unknown<'e>> {
    let v = logger.to_js(env.raw())?;
    // SAFETY: `v` was made in this env just now.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), v) })
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
    execution_repository: JsRef,
    metrics_repository: JsRef,
}

#[napi]
impl WorkflowRepository {
    /// Over `executions`' database. The metrics repository is expected on the same database
    /// (the multi-step writes are one transaction there); when it is elsewhere (two planned
    /// `InMemory…` repositories each have their own), the executions' database holds both.
    #[napi(
        constructor,
        ts_args_type = "executions: WorkflowExecutionRepository, metrics: WorkflowMetricsRepository"
    )]
    pub fn new(env: &Env, executions: Unknown, metrics: Unknown) -> napi::Result<Self> {
        const PREFIX: &str = "Failed to create workflow repository";
        let executions = instance::<WorkflowExecutionRepository>(
            env,
            executions,
            PREFIX,
            "executions must be a WorkflowExecutionRepository",
        )?;
        let metrics = instance::<WorkflowMetricsRepository>(
            env,
            metrics,
            PREFIX,
            "metrics must be a WorkflowMetricsRepository",
        )?;
        if !std::sync::Arc::ptr_eq(&executions.db, &metrics.db) {
            tracing::debug!("WorkflowRepository: metrics are kept on the executions' database");
        }
        Ok(WorkflowRepository {
            facade: Facade {
                db: executions.db.clone(),
                logger: Logger::Tracing,
                source: "WorkflowRepository",
            },
            execution_repository: JsRef::new(env.raw(), executions.value)?,
            metrics_repository: JsRef::new(env.raw(), metrics.value)?,
        })
    }

    /// The executions repository given to the constructor.
    #[napi(getter, ts_return_type = "WorkflowExecutionRepository")]
    pub fn execution_repository<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        held(env, &self.execution_repository)
    }

    /// The metrics repository given to the constructor.
    #[napi(getter, ts_return_type = "WorkflowMetricsRepository")]
    pub fn metrics_repository<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        held(env, &self.metrics_repository)
    }

    /// The logger given with `setLogger`, or one that writes to the addon's own log.
    #[napi(getter, ts_return_type = "Logger")]
    pub fn logger<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        logger_member(env, &self.facade.logger)
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
        self.facade.update(
            env,
            "Failed to update workflow execution",
            execution_id,
            updates,
        )
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
        self.facade.record_metric(
            env,
            "Failed to record execution metrics",
            execution_id,
            metric,
        )
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
        self.facade
            .with_metrics(env, "Failed to get execution with metrics", execution_id)
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
        self.facade
            .statistics(env, "Failed to get execution statistics", filters)
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
        self.facade.list(
            env,
            "Failed to find executions by workflow ID",
            "find executions by workflow ID",
            (Some(workflow_id), options),
            ex::find_by_workflow_id,
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
        self.facade.list(
            env,
            "Failed to find executions by task ID",
            "find executions by task ID",
            (Some(task_id), options),
            ex::find_by_task_id,
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
        self.facade.list(
            env,
            "Failed to find executions by user ID",
            "find executions by user ID",
            (Some(user_id), options),
            ex::find_by_user_id,
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
        self.facade.list(
            env,
            "Failed to find executions by status",
            "find executions by status",
            (Some(status), options),
            ex::find_by_status,
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
        self.facade
            .delete(env, "Failed to delete workflow execution", execution_id)
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
        self.facade
            .cleanup(env, "Failed to cleanup old executions", days_old, options)
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
        self.facade.list(
            env,
            "Failed to get metrics for execution",
            "get metrics for execution",
            (Some(execution_id), options),
            me::for_execution,
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
        self.facade
            .aggregated(env, "Failed to get aggregated metrics", filters)
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
        self.facade
            .metrics_statistics(env, "Failed to get metrics statistics", filters)
    }
}

/// A JS argument as input.
fn arg(env: &Env, v: Unknown) -> Input {
    input(env.raw(), v.raw())
}

/// An optional JS argument as input (undefined when missing).
fn opt(env: &Env, v: Option<Unknown>) -> Input {
    optional(env.raw(), v.map(|v| v.raw()))
}

/// A list read by a key and options (`findExecutionsBy…`, `getMetricsForExecution`).
type ListCall = fn(&Input, &Input) -> crate::core::error::Result<crate::core::db::Call>;

impl Facade {
    pub(crate) fn list<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        what: &'static str,
        (key, options): (Option<Unknown>, Option<Unknown>),
        build: ListCall,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (key, options) = (opt(env, key), opt(env, options));
        let then = self.logged(Level::Debug, what, what);
        run_then(env, &self.db, prefix, move |_| build(&key, &options), then)
    }

    pub(crate) fn update<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        id: Unknown,
        updates: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (id, updates) = (arg(env, id), arg(env, updates));
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

    pub(crate) fn record_metric<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        id: Unknown,
        metric: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (id, metric) = (arg(env, id), arg(env, metric));
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

    pub(crate) fn with_metrics<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let id = arg(env, id);
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

    pub(crate) fn statistics<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let filters = opt(env, filters);
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

    pub(crate) fn aggregated<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let filters = opt(env, filters);
        let then = self.logged(
            Level::Debug,
            "Aggregated metrics read",
            "get aggregated metrics",
        );
        run_then(env, &self.db, prefix, |d| me::aggregated(d, &filters), then)
    }

    pub(crate) fn metrics_statistics<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let filters = opt(env, filters);
        let then = self.logged(
            Level::Debug,
            "Metrics statistics read",
            "get metrics statistics",
        );
        run_then(env, &self.db, prefix, |d| me::statistics(d, &filters), then)
    }

    pub(crate) fn delete<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let id = arg(env, id);
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

    pub(crate) fn cleanup<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        days: Option<Unknown>,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (days, options) = (opt(env, days), opt(env, options));
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
