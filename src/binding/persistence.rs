//! `WorkflowPersistenceService(workflowRepository, logger?)`: the planned service over a
//! `WorkflowRepository` — its single calls share the repository's [`Facade`]; the bulk methods
//! and the export are one transaction / one run each (see `core::workflow`).

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;

use super::input::{input, optional};
use super::js::instance;
use super::jsref::{JsRef, Level, Logger};
use super::repository::{run_async, run_then};
use super::workflow::{held, logger_member, Facade, WorkflowRepository};
use crate::core::repo::metrics as me;
use crate::core::workflow as wf;

/// The planned persistence service, over a `WorkflowRepository`.
#[napi]
pub struct WorkflowPersistenceService {
    facade: Facade,
    workflow_repository: JsRef,
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
        workflow_repository: Unknown,
        logger: Option<Unknown>,
    ) -> napi::Result<Self> {
        let workflow_repository = instance::<WorkflowRepository>(
            env,
            workflow_repository,
            "Failed to create workflow persistence service",
            "workflowRepository must be a WorkflowRepository",
        )?;
        Ok(WorkflowPersistenceService {
            facade: Facade {
                db: workflow_repository.facade.db.clone(),
                logger: Logger::from_arg(env.raw(), logger.map(|l| l.raw()))?,
                source: "WorkflowPersistenceService",
            },
            workflow_repository: JsRef::new(env.raw(), workflow_repository.value)?,
        })
    }

    /// The `WorkflowRepository` given to the constructor.
    #[napi(getter, ts_return_type = "WorkflowRepository")]
    pub fn workflow_repository<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        held(env, &self.workflow_repository)
    }

    /// The logger given, or one that writes to the addon's own log.
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
        self.facade.update(
            env,
            "Failed to update workflow execution",
            execution_id,
            updates,
        )
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
        self.facade
            .with_metrics(env, "Failed to get workflow execution", execution_id)
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
        self.facade.list(
            env,
            "Failed to find workflow executions",
            "find workflow executions",
            (filters, options),
            wf::find_executions,
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
        self.facade
            .delete(env, "Failed to delete workflow execution", execution_id)
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
        self.facade.record_metric(
            env,
            "Failed to record workflow metric",
            execution_id,
            metric,
        )
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
        self.facade.list(
            env,
            "Failed to get workflow metrics",
            "get workflow metrics",
            (Some(execution_id), options),
            me::for_execution,
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
        self.facade
            .statistics(env, "Failed to get workflow statistics", filters)
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
        self.facade
            .cleanup(env, "Failed to cleanup old executions", days_old, options)
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
