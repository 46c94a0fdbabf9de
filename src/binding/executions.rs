//! `WorkflowExecutionRepository` (also exported as `PostgreSQLWorkflowExecutionRepository`).

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;

use super::input::{input, optional};
use super::jsref::JsRef;
use super::repository::{db_member, run, slot_or_memory, DbSlot};
use crate::core::repo::executions as q;

/// Workflow executions, on the database it was built with.
#[napi]
pub struct WorkflowExecutionRepository {
    pub(crate) db: DbSlot,
    database: Option<JsRef>,
}

#[napi]
impl WorkflowExecutionRepository {
    /// `'workflow_executions'`, as planned.
    #[napi(getter)]
    pub fn table_name(&self) -> &'static str {
        "workflow_executions"
    }

    /// On `db`; without it, on a private in-memory database (the planned
    /// `InMemoryWorkflowExecutionRepository()`).
    #[napi(constructor, ts_args_type = "db?: WorkflowDatabase | null")]
    pub fn new(env: &Env, db: Option<Unknown>) -> napi::Result<Self> {
        let (db, database) =
            slot_or_memory(env, db, "Failed to create workflow execution repository")?;
        Ok(WorkflowExecutionRepository { db, database })
    }

    /// The `WorkflowDatabase` it was built on (null for a private in-memory one).
    #[napi(getter, ts_return_type = "WorkflowDatabase | null")]
    pub fn db<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        db_member(env, &self.database)
    }

    /// Inserts an execution; resolves its row. Defaults: `executionId` `exec_<uuid>`,
    /// `workflowVersion` '1.0.0', `status` 'pending', `priority` 1, `startTime` now, `metadata` {}.
    #[napi(
        ts_args_type = "execution: CreateExecutionInput",
        ts_return_type = "Promise<WorkflowExecutionRow>"
    )]
    pub fn create<'env>(
        &self,
        env: &'env Env,
        execution: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let execution = input(env.raw(), execution.raw());
        run(env, &self.db, "Failed to create workflow execution", |_| {
            q::create(&execution)
        })
    }

    /// The execution, or null.
    #[napi(
        ts_args_type = "executionId: string",
        ts_return_type = "Promise<WorkflowExecutionRow | null>"
    )]
    pub fn find_by_execution_id<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let id = input(env.raw(), execution_id.raw());
        run(env, &self.db, "Failed to find workflow execution", |_| {
            q::find_by_execution_id(&id)
        })
    }

    /// Sets the given columns (camelCase keys of the updatable columns only); resolves the
    /// updated row, null when there is no such execution, the current row for `{}`.
    #[napi(
        ts_args_type = "executionId: string, updates: ExecutionUpdates",
        ts_return_type = "Promise<WorkflowExecutionRow | null>"
    )]
    pub fn update<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
        updates: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (id, updates) = (
            input(env.raw(), execution_id.raw()),
            input(env.raw(), updates.raw()),
        );
        run(env, &self.db, "Failed to update workflow execution", |_| {
            q::update(&id, &updates)
        })
    }

    /// Executions of a workflow, newest first (`limit` 50, `offset` 0, `status`, `after`).
    #[napi(
        ts_args_type = "workflowId: string, options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_by_workflow_id<'env>(
        &self,
        env: &'env Env,
        workflow_id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (w, o) = (
            input(env.raw(), workflow_id.raw()),
            optional(env.raw(), options.map(|o| o.raw())),
        );
        run(
            env,
            &self.db,
            "Failed to find workflow executions by workflow ID",
            |_| q::find_by_workflow_id(&w, &o),
        )
    }

    /// Executions of a task, newest first.
    #[napi(
        ts_args_type = "taskId: string, options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_by_task_id<'env>(
        &self,
        env: &'env Env,
        task_id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (t, o) = (
            input(env.raw(), task_id.raw()),
            optional(env.raw(), options.map(|o| o.raw())),
        );
        run(
            env,
            &self.db,
            "Failed to find workflow executions by task ID",
            |_| q::find_by_task_id(&t, &o),
        )
    }

    /// Executions of a user, newest first (`limit` 50, `offset` 0, `status`, `after`).
    #[napi(
        ts_args_type = "userId: string, options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_by_user_id<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (u, o) = (
            input(env.raw(), user_id.raw()),
            optional(env.raw(), options.map(|o| o.raw())),
        );
        run(
            env,
            &self.db,
            "Failed to find workflow executions by user ID",
            |_| q::find_by_user_id(&u, &o),
        )
    }

    /// Executions in a status, newest first (`limit` 50, `offset` 0, `workflowId`, `after`).
    #[napi(
        ts_args_type = "status: ExecutionStatus, options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_by_status<'env>(
        &self,
        env: &'env Env,
        status: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (s, o) = (
            input(env.raw(), status.raw()),
            optional(env.raw(), options.map(|o| o.raw())),
        );
        run(
            env,
            &self.db,
            "Failed to find workflow executions by status",
            |_| q::find_by_status(&s, &o),
        )
    }

    /// Every execution, newest first (`limit` 50, `offset` 0, `after`).
    #[napi(
        ts_args_type = "options?: ExecutionListOptions",
        ts_return_type = "Promise<Page<WorkflowExecutionRow>>"
    )]
    pub fn find_all<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let o = optional(env.raw(), options.map(|o| o.raw()));
        run(env, &self.db, "Failed to find workflow executions", |_| {
            q::find_all(&o)
        })
    }

    /// Counts per status, duration mean/min/max/p50/p95/p99 and the mean estimate.
    #[napi(
        ts_args_type = "filters?: ExecutionStatisticsFilters",
        ts_return_type = "Promise<ExecutionStatistics>"
    )]
    pub fn get_statistics<'env>(
        &self,
        env: &'env Env,
        filters: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let f = optional(env.raw(), filters.map(|o| o.raw()));
        run(
            env,
            &self.db,
            "Failed to get workflow execution statistics",
            |d| q::statistics(d, &f),
        )
    }

    /// Deletes an execution with its metrics and usage rows; true when it existed.
    #[napi(
        ts_args_type = "executionId: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn delete<'env>(
        &self,
        env: &'env Env,
        execution_id: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let id = input(env.raw(), execution_id.raw());
        run(env, &self.db, "Failed to delete workflow execution", |_| {
            q::delete(&id)
        })
    }

    /// Deletes finished executions created more than `daysOld` (default 30) days ago; resolves
    /// how many.
    #[napi(ts_args_type = "daysOld?: number", ts_return_type = "Promise<number>")]
    pub fn cleanup_old_executions<'env>(
        &self,
        env: &'env Env,
        days_old: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let days = optional(env.raw(), days_old.map(|o| o.raw()));
        run(
            env,
            &self.db,
            "Failed to cleanup old workflow executions",
            |_| q::cleanup(&days),
        )
    }

    /// `camelCase` → `snake_case`, as planned (synchronous).
    #[napi(ts_args_type = "str: string")]
    pub fn to_snake_case(&self, env: &Env, str: Unknown) -> napi::Result<String> {
        super::repository::snake_case(env, str)
    }
}
