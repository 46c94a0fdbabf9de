//! `WorkflowRepository(executions, metrics)`: executions with their metrics, each multi-step
//! write one transaction; it logs through its logger (`setLogger`), or through `tracing`. What
//! each method does is planned in `core::workflow::service`.

use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

use super::call::{promise_methods, Host};
use super::database::DbSlot;
use super::executions::WorkflowExecutionRepository;
use super::metrics::WorkflowMetricsRepository;
use super::node::convert::instance;
use super::node::logger::Logger;
use super::node::raw::unknown;
use super::node::reference::JsRef;
use crate::core::workflow::service;

/// Executions and their metrics together, over the executions repository's database.
#[napi]
pub struct WorkflowRepository {
    pub(crate) db: DbSlot,
    logger: Logger,
    execution_repository: JsRef,
    metrics_repository: JsRef,
}

impl Host for WorkflowRepository {
    fn slot(&self) -> &DbSlot {
        &self.db
    }
    fn source(&self) -> &'static str {
        "WorkflowRepository"
    }
    fn logger(&self) -> Logger {
        self.logger.clone()
    }
}

/// A JS value an object keeps (a constructor argument), as a getter returns it.
pub(crate) fn held<'e>(env: &'e Env, value: &JsRef) -> napi::Result<Unknown<'e>> {
    Ok(unknown(env, value.get(env.raw())?))
}

/// A `logger` member: the logger given, or one that writes to the addon's own log.
pub(crate) fn logger_member<'e>(env: &'e Env, logger: &Logger) -> napi::Result<Unknown<'e>> {
    Ok(unknown(env, logger.to_js(env.raw())?))
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
        if !std::sync::Arc::ptr_eq(&executions.on.slot, &metrics.on.slot) {
            tracing::debug!("WorkflowRepository: metrics are kept on the executions' database");
        }
        Ok(WorkflowRepository {
            db: executions.on.slot.clone(),
            logger: Logger::Tracing,
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
}

promise_methods! {
    WorkflowRepository as WORKFLOW_METHODS;
    " Creates the execution and its `execution_started` metric in one transaction."
    fn save_execution(execution):
        "execution: CreateExecutionInput" -> "Promise<WorkflowExecutionRow>"
        = "Failed to save workflow execution", |_, e| service::save_execution(&e);
    " Updates the execution and records the planned status metrics, in one transaction;"
    " null when there is no such execution."
    fn update_execution(execution_id, updates):
        "executionId: string, updates: ExecutionUpdates" -> "Promise<WorkflowExecutionRow | null>"
        = "Failed to update workflow execution", |_, id, u| service::update_execution(&id, &u);
    " Records a metric of the execution (`metric.executionId`, when given, wins)."
    fn record_execution_metrics(execution_id, metric):
        "executionId: string, metric: Omit<MetricInput, 'executionId'> & { executionId?: string }"
        -> "Promise<WorkflowMetricRow>"
        = "Failed to record execution metrics", |_, id, m| service::record_metric(&id, &m);
    " The execution with `metrics` (its 100 newest), or null."
    fn get_execution_with_metrics(execution_id):
        "executionId: string" -> "Promise<ExecutionWithMetrics | null>"
        = "Failed to get execution with metrics", |_, id| service::with_metrics(id);
    " `{executions: getStatistics(filters), metrics: getAggregatedMetrics(filters)}`."
    fn get_execution_statistics(filters):
        "filters?: ExecutionStatisticsFilters & MetricFilters, options?: CallOptions"
        -> "Promise<WorkflowStatistics>"
        = "Failed to get execution statistics", |_, f| service::statistics(f);
    " Executions of a workflow, newest first."
    fn find_executions_by_workflow_id(workflow_id, options):
        "workflowId: string, options?: ExecutionListOptions"
        -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find executions by workflow ID", |_, k, o| service::by_workflow_id(&k, &o);
    " Executions of a task, newest first."
    fn find_executions_by_task_id(task_id, options):
        "taskId: string, options?: ExecutionListOptions" -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find executions by task ID", |_, k, o| service::by_task_id(&k, &o);
    " Executions of a user, newest first."
    fn find_executions_by_user_id(user_id, options):
        "userId: string, options?: ExecutionListOptions" -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find executions by user ID", |_, k, o| service::by_user_id(&k, &o);
    " Executions with a status, newest first."
    fn find_executions_by_status(status, options):
        "status: ExecutionStatus, options?: ExecutionListOptions"
        -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find executions by status", |_, k, o| service::by_status(&k, &o);
    " Deletes the execution and its metrics in one transaction; true when it existed."
    fn delete_execution(execution_id): "executionId: string" -> "Promise<boolean>"
        = "Failed to delete workflow execution", |_, id| service::delete(&id);
    " Metrics of an execution, newest first (`limit` 100)."
    fn get_metrics_for_execution(execution_id, options):
        "executionId: string, options?: MetricListOptions" -> "PagedCall<WorkflowMetricRow>"
        = "Failed to get metrics for execution", |_, id, o| service::metrics_for_execution(&id, &o);
}

/// The methods `WorkflowRepository` and `WorkflowPersistenceService` share, name for name.
macro_rules! shared_methods {
    ($class:ident as $table:ident) => {
        promise_methods! {
            $class as $table;
            " Per (name, type, category) aggregates, percentiles included."
            fn get_aggregated_metrics(filters): "filters?: MetricFilters, options?: CallOptions"
                -> "Promise<MetricAggregateRow[]>"
                = "Failed to get aggregated metrics", |_, f| service::aggregated(&f);
            " Statistics over the metrics."
            fn get_metrics_statistics(filters): "filters?: MetricFilters, options?: CallOptions"
                -> "Promise<MetricStatistics>"
                = "Failed to get metrics statistics", |_, f| service::metrics_statistics(&f);
            " Removes finished executions older than `daysOld` (30) days and older metrics, in one"
            " transaction (at most `options.limit` rows of each); resolves the number of executions"
            " removed (the metric count is logged)."
            fn cleanup_old_executions(days_old, options):
                "daysOld?: number, options?: CleanupOptions & CallOptions"
                -> "Promise<number>"
                = "Failed to cleanup old executions", |_, d, o| service::cleanup(&d, &o);
        }
    };
}

pub(crate) use shared_methods;

shared_methods!(WorkflowRepository as WORKFLOW_SHARED_METHODS);

/// A service's `logger` member and `setLogger(logger)`.
macro_rules! logger_members {
    ($class:ident) => {
        #[napi]
        impl $class {
            #[doc = " The logger given, or one that writes to the addon's own log."]
            #[napi(getter, ts_return_type = "Logger")]
            pub fn logger<'e>(
                &self,
                env: &'e Env,
            ) -> napi::Result<napi::bindgen_prelude::Unknown<'e>> {
                $crate::binding::workflow::logger_member(env, &self.logger)
            }

            #[doc = " Sends this object's log lines to `logger` (null: back to `tracing`)."]
            #[napi(ts_args_type = "logger: Logger | null")]
            pub fn set_logger(
                &mut self,
                env: &Env,
                logger: Option<napi::bindgen_prelude::Unknown>,
            ) -> napi::Result<()> {
                let logger = logger.map(|l| napi::JsValue::raw(&l));
                self.logger = Logger::from_arg(env.raw(), logger)?;
                Ok(())
            }
        }
    };
}

pub(crate) use logger_members;

logger_members!(WorkflowRepository);
