//! `HandlerRegistryRepository` (also exported as `PostgreSQLHandlerRegistryRepository` and, with
//! no argument, `InMemoryHandlerRegistryRepository`).

use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

use super::call::promise_methods;
use super::database::{repository_class, snake_case};
use crate::core::repo::handlers;
use crate::core::repo::usage as history;

repository_class!(
    " The handler registry and its usage history, on the database it was built with."
    HandlerRegistryRepository, "handler registry repository",
    { handler_table: "handler_registry", usage_table: "handler_usage_history" }
);

#[napi]
impl HandlerRegistryRepository {
    /// `camelCase` → `snake_case`, as planned (synchronous).
    #[napi(ts_args_type = "str: string")]
    pub fn to_snake_case(&self, env: &Env, str: Unknown) -> napi::Result<String> {
        snake_case(env, str)
    }
}

promise_methods! {
    HandlerRegistryRepository as HANDLER_METHODS;
    " Registers a handler, or updates it: an upsert on `handlerType` that keeps its id,"
    " `registered_at` and counters. Resolves the row."
    fn register_handler(handler): "handler: HandlerInput" -> "Promise<HandlerRow>"
        = "Failed to register handler", |_, handler| handlers::register(&handler);
    " The handler, or null."
    fn get_handler_by_type(handler_type): "handlerType: string" -> "Promise<HandlerRow | null>"
        = "Failed to get handler by type", |_, handler_type| handlers::by_type(&handler_type);
    " Sets the given columns (allow-listed); the updated row, null when missing, the current"
    " row for `{}`."
    fn update_handler(handler_type, updates):
        "handlerType: string, updates: HandlerUpdates" -> "Promise<HandlerRow | null>"
        = "Failed to update handler",
        |_, handler_type, updates| handlers::update(&handler_type, &updates);
    " Every handler (`limit` 100, `offset` 0, `sortBy` 'handler_type' from the allow-list)."
    fn get_all_handlers(options): "options?: HandlerListOptions" -> "PagedCall<HandlerRow>"
        = "Failed to get all handlers", |_, options| handlers::all(&options);
    " Active handlers (`limit` 100, `offset` 0, `sortBy` 'priority DESC')."
    fn get_active_handlers(options): "options?: HandlerListOptions" -> "PagedCall<HandlerRow>"
        = "Failed to get active handlers", |_, options| handlers::active(&options);
    " Default, active handlers by priority (`limit` 100, `offset` 0)."
    fn get_default_handlers(options): "options?: HandlerListOptions" -> "PagedCall<HandlerRow>"
        = "Failed to get default handlers", |_, options| handlers::defaults(&options);
    " The active handler of that type, or null."
    fn get_best_handler(handler_type): "handlerType: string" -> "Promise<HandlerRow | null>"
        = "Failed to get best handler", |_, handler_type| handlers::best(&handler_type);
    " Counts one run (`status` success|failure|timeout|error, `executionTime` ms) in one"
    " statement; the updated row, or null for an unknown handler."
    fn update_handler_statistics(handler_type, statistics):
        "handlerType: string, statistics: HandlerStatisticsInput" -> "Promise<HandlerRow | null>"
        = "Failed to update handler statistics",
        |_, handler_type, statistics| handlers::update_statistics(&handler_type, &statistics);
    " Records a run in the usage history and counts it on the handler, in one transaction;"
    " resolves the usage row."
    fn record_handler_usage(usage): "usage: HandlerUsageInput" -> "Promise<HandlerUsageRow>"
        = "Failed to record handler usage", |_, usage| history::record_usage(&usage);
    " Many runs in one transaction (usage rows and counters); resolves the usage rows."
    fn record_handler_usages(usages): "usages: HandlerUsageInput[]" -> "Promise<HandlerUsageRow[]>"
        = "Failed to record handler usages", |_, usages| history::record_usages(&usages);
    " A handler's runs, newest first (`limit` 100, `offset` 0, `status`, `after`)."
    fn get_handler_usage_history(handler_type, options):
        "handlerType: string, options?: HandlerListOptions" -> "PagedCall<HandlerUsageRow>"
        = "Failed to get handler usage history",
        |_, handler_type, options| history::usage_history(&handler_type, &options);
    " The `handler_performance_summary` view, best success rate first (`limit` 100, `offset` 0)."
    fn get_handler_performance_summary(options):
        "options?: HandlerListOptions" -> "Promise<HandlerPerformanceRow[]>"
        = "Failed to get handler performance summary",
        |_, options| handlers::performance_summary(&options);
    " Deletes a handler; true when it existed."
    fn delete_handler(handler_type): "handlerType: string" -> "Promise<boolean>"
        = "Failed to delete handler", |_, handler_type| handlers::delete(&handler_type);
    " Deletes usage rows older than `daysOld` (default 30) days; resolves how many."
    fn cleanup_old_usage_history(days_old): "daysOld?: number, options?: CallOptions" -> "Promise<number>"
        = "Failed to cleanup old usage history", |_, days_old| history::cleanup_usage(&days_old);
}
