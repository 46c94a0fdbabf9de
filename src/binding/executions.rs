//! `WorkflowExecutionRepository` (also exported as `PostgreSQLWorkflowExecutionRepository`).

use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

use super::call::promise_methods;
use super::database::{repository_class, snake_case};
use crate::core::repo::{executions, statistics};

repository_class!(
    " Workflow executions, on the database it was built with."
    WorkflowExecutionRepository, "workflow execution repository",
    { table_name: "workflow_executions" }
);

#[napi]
impl WorkflowExecutionRepository {
    /// `camelCase` → `snake_case`, as planned (synchronous).
    #[napi(ts_args_type = "str: string")]
    pub fn to_snake_case(&self, env: &Env, str: Unknown) -> napi::Result<String> {
        snake_case(env, str)
    }
}

promise_methods! {
    WorkflowExecutionRepository as EXECUTION_METHODS;
    " Inserts an execution; resolves its row. Defaults: `executionId` `exec_<uuid>`,"
    " `workflowVersion` '1.0.0', `status` 'pending', `priority` 1, `startTime` now, `metadata` {}."
    fn create(execution): "execution: CreateExecutionInput" -> "Promise<WorkflowExecutionRow>"
        = "Failed to create workflow execution", |_, execution| executions::create(&execution);
    " The execution, or null."
    fn find_by_execution_id(execution_id):
        "executionId: string" -> "Promise<WorkflowExecutionRow | null>"
        = "Failed to find workflow execution",
        |_, execution_id| executions::find_by_execution_id(&execution_id);
    " Sets the given columns (camelCase keys of the updatable columns only); resolves the"
    " updated row, null when there is no such execution, the current row for `{}`."
    fn update(execution_id, updates):
        "executionId: string, updates: ExecutionUpdates" -> "Promise<WorkflowExecutionRow | null>"
        = "Failed to update workflow execution",
        |_, execution_id, updates| executions::update(&execution_id, &updates);
    " Executions of a workflow, newest first (`limit` 50, `offset` 0, `status`, `after`)."
    fn find_by_workflow_id(workflow_id, options):
        "workflowId: string, options?: ExecutionListOptions"
        -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find workflow executions by workflow ID",
        |_, workflow_id, options| executions::find_by_workflow_id(&workflow_id, &options);
    " Executions of a task, newest first."
    fn find_by_task_id(task_id, options):
        "taskId: string, options?: ExecutionListOptions" -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find workflow executions by task ID",
        |_, task_id, options| executions::find_by_task_id(&task_id, &options);
    " Executions of a user, newest first (`limit` 50, `offset` 0, `status`, `after`)."
    fn find_by_user_id(user_id, options):
        "userId: string, options?: ExecutionListOptions" -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find workflow executions by user ID",
        |_, user_id, options| executions::find_by_user_id(&user_id, &options);
    " Executions in a status, newest first (`limit` 50, `offset` 0, `workflowId`, `after`)."
    fn find_by_status(status, options):
        "status: ExecutionStatus, options?: ExecutionListOptions"
        -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find workflow executions by status",
        |_, status, options| executions::find_by_status(&status, &options);
    " Every execution, newest first (`limit` 50, `offset` 0, `after`)."
    fn find_all(options): "options?: ExecutionListOptions" -> "PagedCall<WorkflowExecutionRow>"
        = "Failed to find workflow executions", |_, options| executions::find_all(&options);
    " Counts per status, duration mean/min/max/p50/p95/p99 and the mean estimate."
    fn get_statistics(filters):
        "filters?: ExecutionStatisticsFilters, options?: CallOptions" -> "Promise<ExecutionStatistics>"
        = "Failed to get workflow execution statistics",
        |_, filters| statistics::execution_statistics(&filters);
    " Deletes an execution with its metrics and usage rows; true when it existed."
    fn delete(execution_id): "executionId: string" -> "Promise<boolean>"
        = "Failed to delete workflow execution",
        |_, execution_id| executions::delete(&execution_id);
    " Deletes finished executions created more than `daysOld` (default 30) days ago; resolves"
    " how many."
    fn cleanup_old_executions(days_old): "daysOld?: number, options?: CallOptions" -> "Promise<number>"
        = "Failed to cleanup old workflow executions", |_, days_old| executions::cleanup(&days_old);
}
