//! `WorkflowPersistenceService(workflowRepository, logger?)`: the planned service over a
//! `WorkflowRepository`, on its database. Its methods are the repository's plans under the
//! service's names (see `core::workflow::service`); the bulk methods and the export are one
//! transaction / one run each.

use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

use super::call::{promise_methods, Host};
use super::database::DbSlot;
use super::node::convert::instance;
use super::node::logger::Logger;
use super::node::reference::JsRef;
use super::workflow::{held, logger_members, shared_methods, WorkflowRepository};
use crate::core::workflow::service;

/// The planned persistence service, over a `WorkflowRepository`.
#[napi]
pub struct WorkflowPersistenceService {
    db: DbSlot,
    logger: Logger,
    workflow_repository: JsRef,
}

impl Host for WorkflowPersistenceService {
    fn slot(&self) -> &DbSlot {
        &self.db
    }
    fn source(&self) -> &'static str {
        "WorkflowPersistenceService"
    }
    fn logger(&self) -> Logger {
        self.logger.clone()
    }
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
            db: workflow_repository.db.clone(),
            logger: Logger::from_arg(env.raw(), logger.map(|l| napi::JsValue::raw(&l)))?,
            workflow_repository: JsRef::new(env.raw(), workflow_repository.value)?,
        })
    }

    /// The `WorkflowRepository` given to the constructor.
    #[napi(getter, ts_return_type = "WorkflowRepository")]
    pub fn workflow_repository<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        held(env, &self.workflow_repository)
    }
}

promise_methods! {
    WorkflowPersistenceService as PERSISTENCE_METHODS;
    " Creates the execution (and its `execution_started` metric)."
    fn create_workflow_execution(execution_data):
        "executionData: CreateExecutionInput" -> "Promise<WorkflowExecutionRow>"
        = "Failed to create workflow execution", |_, e| service::create_execution(&e);
    " Updates the execution (and records its status metrics); null when it does not exist."
    fn update_workflow_execution(execution_id, updates):
        "executionId: string, updates: ExecutionUpdates" -> "Promise<WorkflowExecutionRow | null>"
        = "Failed to update workflow execution", |_, id, u| service::update_execution(&id, &u);
    " The execution with its metrics, or null."
    fn get_workflow_execution(execution_id):
        "executionId: string" -> "Promise<ExecutionWithMetrics | null>"
        = "Failed to get workflow execution", |_, id| service::with_metrics(id);
    " By `workflowId`, else `taskId`, else `userId`, else `status`; with no filter, every"
    " execution (paged: `limit` 50)."
    fn find_workflow_executions(filters, options):
        "filters?: ExecutionFilters, options?: ExecutionListOptions"
        -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find workflow executions", |_, f, o| service::find(&f, &o);
    " Deletes the execution and its metrics; true when it existed."
    fn delete_workflow_execution(execution_id): "executionId: string" -> "Promise<boolean>"
        = "Failed to delete workflow execution", |_, id| service::delete(&id);
    " Records a metric of the execution."
    fn record_workflow_metric(execution_id, metric):
        "executionId: string, metric: Omit<MetricInput, 'executionId'> & { executionId?: string }"
        -> "Promise<WorkflowMetricRow>"
        = "Failed to record workflow metric", |_, id, m| service::record_metric(&id, &m);
    " Metrics of an execution, newest first."
    fn get_workflow_metrics(execution_id, options):
        "executionId: string, options?: MetricListOptions" -> "PagedCall<WorkflowMetricRow>"
        = "Failed to get workflow metrics", |_, id, o| service::workflow_metrics(&id, &o);
    " `{executions, metrics}` statistics."
    fn get_workflow_statistics(filters):
        "filters?: ExecutionStatisticsFilters & MetricFilters, options?: CallOptions"
        -> "Promise<WorkflowStatistics>"
        = "Failed to get workflow statistics", |_, f| service::statistics(f);
    " Creates every valid execution in one transaction; invalid items and existing ids are"
    " reported per item: `{created, errors: [{executionData, error}], summary}`."
    fn bulk_create_workflow_executions(executions):
        "executions: CreateExecutionInput[], options?: CallOptions"
        -> "Promise<BulkResult<'created', WorkflowExecutionRow, 'executionData'>>"
        = "Failed to bulk create workflow executions", |_, items| service::bulk_create(items);
    " Applies every valid `{executionId, ...updates}` in one transaction; invalid items and"
    " missing executions are reported per item: `{updated, errors: [{update, error}], summary}`."
    fn bulk_update_workflow_executions(updates):
        "updates: Array<ExecutionUpdates & { executionId: string }>, options?: CallOptions"
        -> "Promise<BulkResult<'updated', WorkflowExecutionRow, 'update'>>"
        = "Failed to bulk update workflow executions", |_, items| service::bulk_update(items);
    " Up to 10,000 executions with statistics and aggregates, and a `metadata` header."
    fn export_workflow_data(filters, options):
        "filters?: ExecutionFilters, options?: ExecutionListOptions & CallOptions"
        -> "Promise<WorkflowExport>"
        = "Failed to export workflow data", |_, f, o| service::export(f, o);
}

shared_methods!(WorkflowPersistenceService as PERSISTENCE_SHARED_METHODS);
logger_members!(WorkflowPersistenceService);
