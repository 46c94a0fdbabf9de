//! How a class method runs a call: read the arguments, submit a [`Plan`] to the core, settle the
//! Promise with the outcome ([`submit`]). [`promise_methods!`] writes those methods from one
//! declaration each: the JS name, the TypeScript signature, the rejection's prefix and the core
//! function that validates the input and plans the work.

use std::sync::Arc;

use napi::bindgen_prelude::PromiseRaw;
use napi::Env;

use super::node::deliver::{self, Delivery};
use super::node::logger::Logger;
use crate::core::db::journal::Entry;
use crate::core::db::{Database, DbKind, Dialect};
use crate::core::error::{Error, Result};
use crate::core::exec::{Plan, Request};
use crate::core::input::Input;
use crate::core::stamp::Stamp;

/// The database slot shared by a `WorkflowDatabase` and everything built on it: `close()`
/// empties it (every later call rejects with `ERR_CLOSED`), a rejoin switches it.
pub use crate::core::exec::rejoin::DbSlot;

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
    submit_journaled(env, host, operation, None, move |d, _| (plan(d), None))
}

/// [`submit`], for a method the fallback journals under the name `journal` (`Class.method`).
/// `plan(dialect, copy)` makes the plan and, when `copy` is true (only while the fallback serves),
/// a copy of its arguments; the plan is then made under a fresh [`Stamp`], kept with them, so
/// that its replay onto the primary draws the same ids and time.
pub fn submit_journaled<'env, P: Into<Plan>>(
    env: &'env Env,
    host: &impl Host,
    operation: &'static str,
    journal: Option<&'static str>,
    plan: impl FnOnce(&Dialect, bool) -> (P, Option<Vec<Input>>),
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
            let dialect = Dialect::of(&db);
            let (plan, journal) = match journal.filter(|_| db.journaling()) {
                Some(method) => {
                    let stamp = Stamp::fresh();
                    let (plan, args) = stamp.apply(|| plan(&dialect, true));
                    let entry = Entry::new(method.to_string(), args.unwrap_or_default(), stamp);
                    (plan.into(), Some(entry))
                }
                None => (plan(&dialect, false).0.into(), None),
            };
            let request = Request {
                operation,
                source: host.source(),
                audience,
                plan,
                journal,
            };
            deliver::submit(env, &db, request, delivery)
        }
        Err(closed) => {
            // Nothing runs: the plan is made only for what it reports.
            let Plan { report, .. } = plan(&Dialect(DbKind::Memory), false).0.into();
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
        $class:ident as $table:ident;
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
                    $crate::binding::call::submit_journaled(
                        env,
                        self,
                        $operation,
                        Some(concat!(stringify!($class), ".", stringify!($name))),
                        move |d, copy| {
                            let args = copy.then(|| vec![$($arg.clone()),*]);
                            (($plan)(d, $($arg),*), args)
                        },
                    )
                }
            )*
        }

        /// The methods' plans by `Class.method`, for the fallback's journal to replay.
        pub(crate) const $table: &[(&str, $crate::binding::call::Replan)] = &[
            $(
                (
                    concat!(stringify!($class), ".", stringify!($name)),
                    |d, args| {
                        #[allow(unused_mut, unused_variables)]
                        let mut args = args.into_iter();
                        $(let $arg = args.next().unwrap_or($crate::core::input::Input::Undefined);)*
                        ($plan)(d, $($arg),*).into()
                    },
                ),
            )*
        ];
    };
}

/// A method's plan from its arguments (see [`promise_methods!`]).
pub type Replan = fn(&Dialect, Vec<Input>) -> Plan;

pub(crate) use promise_methods;
