//! `HandlerRegistryRepository` (also exported as `PostgreSQLHandlerRegistryRepository` and, with
//! no argument, `InMemoryHandlerRegistryRepository`).

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;

use super::input::{input, optional};
use super::jsref::JsRef;
use super::repository::{db_member, run, slot_or_memory, DbSlot};
use crate::core::repo::handlers as q;
use crate::core::repo::usage;

/// The handler registry and its usage history, on the database it was built with.
#[napi]
pub struct HandlerRegistryRepository {
    db: DbSlot,
    database: Option<JsRef>,
}

#[napi]
impl HandlerRegistryRepository {
    /// `'handler_registry'`, as planned.
    #[napi(getter)]
    pub fn handler_table(&self) -> &'static str {
        "handler_registry"
    }

    /// `'handler_usage_history'`, as planned.
    #[napi(getter)]
    pub fn usage_table(&self) -> &'static str {
        "handler_usage_history"
    }

    /// On `db`; without it, on a private in-memory database.
    #[napi(constructor, ts_args_type = "db?: WorkflowDatabase | null")]
    pub fn new(env: &Env, db: Option<Unknown>) -> napi::Result<Self> {
        let (db, database) =
            slot_or_memory(env, db, "Failed to create handler registry repository")?;
        Ok(HandlerRegistryRepository { db, database })
    }

    /// The `WorkflowDatabase` it was built on (null for a private in-memory one).
    #[napi(getter, ts_return_type = "WorkflowDatabase | null")]
    pub fn db<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        db_member(env, &self.database)
    }

    /// Registers a handler, or updates it: an upsert on `handlerType` that keeps its id,
    /// `registered_at` and counters. Resolves the row.
    #[napi(
        ts_args_type = "handler: HandlerInput",
        ts_return_type = "Promise<HandlerRow>"
    )]
    pub fn register_handler<'env>(
        &self,
        env: &'env Env,
        handler: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let h = input(env.raw(), handler.raw());
        run(env, &self.db, "Failed to register handler", |_| {
            q::register(&h)
        })
    }

    /// The handler, or null.
    #[napi(
        ts_args_type = "handlerType: string",
        ts_return_type = "Promise<HandlerRow | null>"
    )]
    pub fn get_handler_by_type<'env>(
        &self,
        env: &'env Env,
        handler_type: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let t = input(env.raw(), handler_type.raw());
        run(env, &self.db, "Failed to get handler by type", |_| {
            q::by_type(&t)
        })
    }

    /// Sets the given columns (allow-listed); the updated row, null when missing, the current
    /// row for `{}`.
    #[napi(
        ts_args_type = "handlerType: string, updates: HandlerUpdates",
        ts_return_type = "Promise<HandlerRow | null>"
    )]
    pub fn update_handler<'env>(
        &self,
        env: &'env Env,
        handler_type: Unknown,
        updates: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (t, u) = (
            input(env.raw(), handler_type.raw()),
            input(env.raw(), updates.raw()),
        );
        run(env, &self.db, "Failed to update handler", |_| {
            q::update(&t, &u)
        })
    }

    /// Every handler (`limit` 100, `offset` 0, `sortBy` 'handler_type' from the allow-list).
    #[napi(
        ts_args_type = "options?: HandlerListOptions",
        ts_return_type = "Promise<HandlerRow[]>"
    )]
    pub fn get_all_handlers<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let o = optional(env.raw(), options.map(|o| o.raw()));
        run(env, &self.db, "Failed to get all handlers", |_| q::all(&o))
    }

    /// Active handlers (`limit` 100, `offset` 0, `sortBy` 'priority DESC').
    #[napi(
        ts_args_type = "options?: HandlerListOptions",
        ts_return_type = "Promise<HandlerRow[]>"
    )]
    pub fn get_active_handlers<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let o = optional(env.raw(), options.map(|o| o.raw()));
        run(env, &self.db, "Failed to get active handlers", |_| {
            q::active(&o)
        })
    }

    /// Default, active handlers by priority (`limit` 100, `offset` 0).
    #[napi(
        ts_args_type = "options?: HandlerListOptions",
        ts_return_type = "Promise<HandlerRow[]>"
    )]
    pub fn get_default_handlers<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let o = optional(env.raw(), options.map(|o| o.raw()));
        run(env, &self.db, "Failed to get default handlers", |_| {
            q::defaults(&o)
        })
    }

    /// The active handler of that type, or null.
    #[napi(
        ts_args_type = "handlerType: string",
        ts_return_type = "Promise<HandlerRow | null>"
    )]
    pub fn get_best_handler<'env>(
        &self,
        env: &'env Env,
        handler_type: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let t = input(env.raw(), handler_type.raw());
        run(env, &self.db, "Failed to get best handler", |_| q::best(&t))
    }

    /// Counts one run (`status` success|failure|timeout|error, `executionTime` ms) in one
    /// statement; the updated row, or null for an unknown handler.
    #[napi(
        ts_args_type = "handlerType: string, statistics: HandlerStatisticsInput",
        ts_return_type = "Promise<HandlerRow | null>"
    )]
    pub fn update_handler_statistics<'env>(
        &self,
        env: &'env Env,
        handler_type: Unknown,
        statistics: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (t, s) = (
            input(env.raw(), handler_type.raw()),
            input(env.raw(), statistics.raw()),
        );
        run(env, &self.db, "Failed to update handler statistics", |_| {
            q::update_statistics(&t, &s)
        })
    }

    /// Records a run in the usage history and counts it on the handler, in one transaction;
    /// resolves the usage row.
    #[napi(
        ts_args_type = "usage: HandlerUsageInput",
        ts_return_type = "Promise<HandlerUsageRow>"
    )]
    pub fn record_handler_usage<'env>(
        &self,
        env: &'env Env,
        usage: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let u = input(env.raw(), usage.raw());
        run(env, &self.db, "Failed to record handler usage", |_| {
            usage::record_usage(&u)
        })
    }

    /// Many runs in one transaction (usage rows and counters); resolves the usage rows.
    #[napi(
        ts_args_type = "usages: HandlerUsageInput[]",
        ts_return_type = "Promise<HandlerUsageRow[]>"
    )]
    pub fn record_handler_usages<'env>(
        &self,
        env: &'env Env,
        usages: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let u = input(env.raw(), usages.raw());
        run(env, &self.db, "Failed to record handler usages", |_| {
            usage::record_usages(&u)
        })
    }

    /// A handler's runs, newest first (`limit` 100, `offset` 0, `status`, `after`).
    #[napi(
        ts_args_type = "handlerType: string, options?: HandlerListOptions",
        ts_return_type = "Promise<Page<HandlerUsageRow>>"
    )]
    pub fn get_handler_usage_history<'env>(
        &self,
        env: &'env Env,
        handler_type: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (t, o) = (
            input(env.raw(), handler_type.raw()),
            optional(env.raw(), options.map(|o| o.raw())),
        );
        run(env, &self.db, "Failed to get handler usage history", |_| {
            usage::usage_history(&t, &o)
        })
    }

    /// The `handler_performance_summary` view, best success rate first (`limit` 100, `offset` 0).
    #[napi(
        ts_args_type = "options?: HandlerListOptions",
        ts_return_type = "Promise<HandlerPerformanceRow[]>"
    )]
    pub fn get_handler_performance_summary<'env>(
        &self,
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let o = optional(env.raw(), options.map(|o| o.raw()));
        run(
            env,
            &self.db,
            "Failed to get handler performance summary",
            |_| q::performance_summary(&o),
        )
    }

    /// Deletes a handler; true when it existed.
    #[napi(
        ts_args_type = "handlerType: string",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn delete_handler<'env>(
        &self,
        env: &'env Env,
        handler_type: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let t = input(env.raw(), handler_type.raw());
        run(env, &self.db, "Failed to delete handler", |_| q::delete(&t))
    }

    /// Deletes usage rows older than `daysOld` (default 30) days; resolves how many.
    #[napi(ts_args_type = "daysOld?: number", ts_return_type = "Promise<number>")]
    pub fn cleanup_old_usage_history<'env>(
        &self,
        env: &'env Env,
        days_old: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let d = optional(env.raw(), days_old.map(|o| o.raw()));
        run(env, &self.db, "Failed to cleanup old usage history", |_| {
            usage::cleanup_usage(&d)
        })
    }

    /// `camelCase` → `snake_case`, as planned (synchronous).
    #[napi(ts_args_type = "str: string")]
    pub fn to_snake_case(&self, env: &Env, str: Unknown) -> napi::Result<String> {
        super::repository::snake_case(env, str)
    }
}
