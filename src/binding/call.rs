//! How a class method runs a call: read the arguments, submit a [`Plan`] to the core, settle the
//! Promise with the outcome ([`submit`]). [`promise_methods!`] writes those methods from one
//! declaration each: the JS name, the TypeScript signature, the rejection's prefix and the core
//! function that validates the input and plans the work.

use std::sync::{Arc, RwLock};

use napi::bindgen_prelude::PromiseRaw;
use napi::Env;

use super::node::deliver::{self, Delivery};
use super::node::logger::Logger;
use crate::core::db::{Database, DbKind, Dialect};
use crate::core::error::{Error, Result};
use crate::core::exec::{Plan, Request};

/// The database slot shared by a `WorkflowDatabase` and everything built on it: `close()`
/// empties it, and every later call rejects with `ERR_CLOSED`.
pub type DbSlot = Arc<RwLock<Option<Arc<Database>>>>;

/// The open database of a slot, or `ERR_CLOSED`.
pub fn open_db(slot: &DbSlot) -> Result<Arc<Database>> {
    slot.read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(Error::closed)
}

/// A class whose Promise methods submit calls to its database.
pub trait Host {
    /// The database slot it was built on.
    fn slot(&self) -> &DbSlot;
    /// The class name its log lines start with.
    fn source(&self) -> &'static str;
    /// Where its log lines go.
    fn logger(&self) -> Logger {
        Logger::Tracing
    }
}

/// Plans the call on the host's database and submits it; the Promise settles with the outcome
/// (rejecting with `operation` as the message's prefix). After `close()` it rejects with
/// `ERR_CLOSED`, reported as the plan says.
pub fn submit<'env, P: Into<Plan>>(
    env: &'env Env,
    host: &impl Host,
    operation: &'static str,
    plan: impl FnOnce(&Dialect) -> P,
) -> napi::Result<PromiseRaw<'env, ()>> {
    let logger = host.logger();
    let audience = logger.audience();
    let delivery = Delivery {
        prefix: operation,
        logger,
        bus: None,
    };
    match open_db(host.slot()) {
        Ok(db) => {
            let plan = plan(&Dialect::of(&db)).into();
            let request = Request {
                operation,
                source: host.source(),
                audience,
                plan,
            };
            deliver::submit(env, &db, request, delivery)
        }
        Err(closed) => {
            // Nothing runs: the plan is made only for what it reports.
            let Plan { report, .. } = plan(&Dialect(DbKind::Memory)).into();
            let outcome = report.conclude(host.source(), audience, Err(closed));
            deliver::delivered(env, outcome, delivery)
        }
    }
}

/// Writes a `#[napi] impl` block of Promise methods (a class may have other `#[napi] impl`
/// blocks), one per declaration:
///
/// ```text
/// " Doc line."
/// fn js_name(arg, …): "arg: TsType, …" -> "Promise<TsType>"
///     = "Failed to …", |dialect, arg, …| core::plan(&arg, …);
/// ```
///
/// The doc lines are plain strings, as napi-rs reads them into `index.d.ts` (it cannot read
/// the raw strings `///` comments become inside a macro). Each argument is read once into an
/// [`Input`](crate::core::input::Input) (a missing one is undefined); the closure gets them
/// by value and returns a [`Plan`] or a repository call.
macro_rules! promise_methods {
    (
        $class:ident;
        $(
            $($doc:literal)*
            fn $name:ident($($arg:ident),*): $args:literal -> $returns:literal
                = $operation:literal, $plan:expr;
        )*
    ) => {
        #[napi]
        impl $class {
            $(
                $(#[doc = $doc])*
                #[napi(ts_args_type = $args, ts_return_type = $returns)]
                pub fn $name<'env>(
                    &self,
                    env: &'env napi::Env,
                    $($arg: Option<napi::bindgen_prelude::Unknown>,)*
                ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
                    $(let $arg = $crate::binding::node::input::argument(env, $arg);)*
                    $crate::binding::call::submit(env, self, $operation, move |d| {
                        ($plan)(d, $($arg),*)
                    })
                }
            )*
        }
    };
}

pub(crate) use promise_methods;
