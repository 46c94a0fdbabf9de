//! The napi binding: one file per JavaScript class, with no `unsafe`: each method reads its
//! arguments, submits the call to the core and settles its Promise ([`call`]). The Node-API
//! machinery underneath, and every `unsafe` block, is in [`node`].

mod abort;
mod cache_service;
mod call;
mod database;
mod errors;
mod event_handlers;
mod events;
mod executions;
mod handlers;
mod logger;
mod metrics;
mod node;
mod observe;
mod persistence;
mod replay;
mod workflow;

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::Object;
use napi::{Env, JsValue};
use napi_derive::napi;

#[napi_derive::module_init]
fn init() {
    crate::core::logging::init();
    crate::core::exec::rejoin::install(replay::replan);
    match crate::core::exec::runtime::build() {
        // The core spawns its calls on it (see `core::exec::runtime`), and so does napi-rs.
        Ok(rt) => napi::bindgen_prelude::create_custom_tokio_runtime(rt),
        Err(e) => tracing::warn!(error = %e, "cannot build the tokio runtime; napi's default runs"),
    }
}

/// The planned module names, as aliases of the same classes: `PostgreSQL…` take a database,
/// `InMemory…` construct with no argument on a private in-memory database. (What is written in
/// JavaScript — the error class, `registerWorkflowServices`, the planned `handle…` methods — the
/// entry point adds from `lib/`.)
#[napi(module_exports)]
pub fn module_exports(mut exports: Object) -> napi::Result<()> {
    for class in [
        "WorkflowExecutionRepository",
        "WorkflowMetricsRepository",
        "HandlerRegistryRepository",
    ] {
        let constructor: napi::bindgen_prelude::Unknown = exports.get_named_property(class)?;
        exports.set_named_property(&format!("PostgreSQL{class}"), constructor)?;
        exports.set_named_property(&format!("InMemory{class}"), constructor)?;
    }
    Ok(())
}

/// Makes `class` (`lib/errors.js`'s `WorkflowInfraError`) the class of every error the addon
/// rejects or throws with, in this environment (internal: the entry point calls it, and takes it
/// off the exports).
#[napi(skip_typescript, js_name = "__useErrorClass")]
pub fn use_error_class(env: Env, class: napi::bindgen_prelude::Unknown) -> napi::Result<()> {
    node::convert::use_error_class(env.raw(), class.raw())
}
