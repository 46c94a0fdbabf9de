//! Handing results to JS: a call's outcome settles its promise (log records written, follow-up
//! events published), and a list of promises is awaited with its rejections reported.

use std::sync::Arc;

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{sys, Env, JsValue};

use super::convert::value;
use super::logger::{Level, Logger};
use super::raw::{array, get, global, items, resolved, string, undefined, JsResult};
use super::reference::{call, describe, function, method, JsRef};
use super::settle::{deferred, to_js, Pending};
use crate::core::db::Database;
use crate::core::error::{Error, Result};
use crate::core::exec::{self, Outcome, Publish, Request, Submitted};
use crate::core::value::Value;

/// How an outcome settles its promise, on the JS thread.
pub struct Delivery {
    /// The rejection's prefix ("Failed to …").
    pub prefix: &'static str,
    /// Where the outcome's log records go.
    pub logger: Logger,
    /// Where its follow-up events go (event handlers): then the promise resolves once they were
    /// published, and never rejects.
    pub bus: Option<Arc<JsRef>>,
}

impl Delivery {
    fn deliver(&self, env: sys::napi_env, outcome: Outcome) -> Result<sys::napi_value> {
        self.logger.write(env, outcome.logs);
        match &self.bus {
            Some(bus) => publish(env, bus, &self.logger, outcome.publish)
                .or_else(|_| undefined(env))
                .map_err(|e| Error::internal(e.to_string())),
            None => outcome.result.and_then(|o| to_js(env, o)),
        }
    }
}

/// Submits `request` to the core and returns its promise: settled at once when the core had
/// the outcome on this thread, else when the job finished elsewhere.
pub fn submit<'env>(
    env: &'env Env,
    db: &Arc<Database>,
    request: Request,
    delivery: Delivery,
) -> napi::Result<PromiseRaw<'env, ()>> {
    match exec::submit(db, request, turn::write_now()) {
        Submitted::Ready(outcome) => delivered(env, outcome, delivery),
        Submitted::Written(outcome) => {
            if turn::wrote(env.raw()) == turn::Settle::Now {
                return delivered(env, outcome, delivery);
            }
            // The turn's budget is spent: the caller goes on in a later turn of the loop.
            deferred(env, delivery.prefix, move |complete| {
                complete(Box::new(move |env| delivery.deliver(env, outcome)))
            })
        }
        Submitted::Later(job) => deferred(env, delivery.prefix, move |complete| {
            job.run(move |outcome| complete(Box::new(move |env| delivery.deliver(env, outcome))))
        }),
    }
}

/// Which SQLite writes run at once on the JS thread, and when their promises settle.
/// - A lone `await repo.create(…)` is the first of its microtask (the `await` ends it): it runs
///   at once. Writes started one after another without awaiting, as
///   `Promise.all(items.map(…))` does, are a burst: after the first, they queue and commit
///   together on the writer thread.
/// - A write run at once settles at once within the first [`turn::BUDGET`] of writing in a turn
///   of the event loop; after that, in the next turn, so that a loop of awaited writes lets
///   timers and I/O go on in between (without the writer thread's round trip).
mod turn {
    use std::cell::{Cell, RefCell};
    use std::time::{Duration, Instant};

    use napi::sys;

    use crate::binding::node::reference::Scheduled;
    use crate::core::exec::WriteNow;

    /// How long writes may run on the JS thread within one turn of the event loop.
    pub const BUDGET: Duration = Duration::from_millis(5);

    /// What ends a microtask's and a turn's note, made once per JS thread (and environment).
    struct Ends {
        env: sys::napi_env,
        microtask: Scheduled,
        turn: Scheduled,
    }

    thread_local! {
        /// A write ran on this thread since the last microtask checkpoint.
        static WROTE: Cell<bool> = const { Cell::new(false) };
        /// When the first write of this turn of the event loop ran on this thread.
        static TURN: Cell<Option<Instant>> = const { Cell::new(None) };
        static ENDS: RefCell<Option<Ends>> = const { RefCell::new(None) };
    }

    pub fn write_now() -> WriteNow {
        if WROTE.get() {
            WriteNow::Refused
        } else {
            WriteNow::Allowed
        }
    }

    /// When the promise of a write run at once settles.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Settle {
        Now,
        NextTurn,
    }

    /// Notes that a write ran on this thread (until the next microtask, and for the turn), and
    /// says when its promise settles.
    pub fn wrote(env: sys::napi_env) -> Settle {
        let started = TURN.get();
        if started.is_none() {
            TURN.set(Some(Instant::now()));
        }
        let first_of_microtask = !WROTE.replace(true);
        if schedule(env, first_of_microtask, started.is_none()).is_err() {
            WROTE.set(false);
            TURN.set(None);
        }
        match started {
            Some(start) if start.elapsed() >= BUDGET => Settle::NextTurn,
            _ => Settle::Now,
        }
    }

    fn schedule(env: sys::napi_env, microtask: bool, turn: bool) -> napi::Result<()> {
        ENDS.with(|cell| {
            let mut ends = cell.borrow_mut();
            if ends.as_ref().is_none_or(|e| e.env != env) {
                *ends = Some(Ends {
                    env,
                    microtask: Scheduled::new(env, c"queueMicrotask", "endOfMicrotask", |_| {
                        WROTE.set(false)
                    })?,
                    turn: Scheduled::new(env, c"setImmediate", "endOfTurn", |_| TURN.set(None))?,
                });
            }
            let ends = ends.as_ref().expect("made above");
            if microtask {
                ends.microtask.schedule(env)?;
            }
            if turn {
                ends.turn.schedule(env)?;
            }
            Ok(())
        })
    }
}

/// A promise settled now with `outcome` (had on the JS thread).
pub fn delivered<'env>(
    env: &'env Env,
    outcome: Outcome,
    delivery: Delivery,
) -> napi::Result<PromiseRaw<'env, ()>> {
    let (pending, promise) = Pending::new(env, delivery.prefix)?;
    pending.settle_value(env.raw(), delivery.deliver(env.raw(), outcome));
    Ok(promise)
}

/// Publishes `events` on `bus` (its `publish`, else `emit`); a promise for the publishes (a
/// rejected publish is the bus's to report), or undefined when there is nothing to publish.
fn publish(env: sys::napi_env, bus: &JsRef, logger: &Logger, events: Vec<Publish>) -> JsResult {
    if events.is_empty() {
        return undefined(env);
    }
    let bus = bus.get(env)?;
    let Some(f) = method(env, bus, "publish")?.or(method(env, bus, "emit")?) else {
        return undefined(env);
    };
    let mut results = Vec::new();
    for event in events {
        let args = [
            string(env, event.event)?,
            value(env, &Value::Json(event.payload))?,
        ];
        match call(env, bus, f, &args) {
            Ok(r) => results.push(r),
            Err(message) => logger.log(
                env,
                Level::Error,
                "WorkflowEventHandlers: Failed to publish",
                serde_json::json!({"eventType": event.event, "error": message}),
            ),
        }
    }
    let settled = promise_static(env, "allSettled", &results)?;
    let then = method(env, settled, "then")?.ok_or_else(|| napi::Error::from_reason("no then"))?;
    let done = function(env, "published", |ctx| undefined(ctx.env.raw()))?;
    call(env, settled, then, &[done]).map_err(napi::Error::from_reason)
}

/// `Promise[name](values)`.
pub fn promise_static(env: sys::napi_env, name: &str, values: &[sys::napi_value]) -> JsResult {
    let promise = global(env, c"Promise")?;
    let f = method(env, promise, name)?
        .ok_or_else(|| napi::Error::from_reason("Promise lacks a static method"))?;
    let array = array(env, values)?;
    call(env, promise, f, &[array]).map_err(napi::Error::from_reason)
}

/// `Promise.allSettled(promises)`, each rejection's reason handed to `rejected`; resolves
/// undefined.
pub fn all_settled(
    env: sys::napi_env,
    promises: Vec<sys::napi_value>,
    rejected: impl Fn(sys::napi_env, String) + 'static,
) -> JsResult {
    if promises.is_empty() {
        return resolved(env);
    }
    let settled = promise_static(env, "allSettled", &promises)?;
    let on_settled = function(env, "logRejections", move |ctx| {
        let env = ctx.env.raw();
        if ctx.length() > 0 {
            let results: Unknown = ctx.get(0)?;
            for item in items(env, results.raw()) {
                if describe(env, get(env, item, c"status")?) == "rejected" {
                    rejected(env, describe(env, get(env, item, c"reason")?));
                }
            }
        }
        undefined(env)
    })?;
    let then = method(env, settled, "then")?
        .ok_or_else(|| napi::Error::from_reason("Promise.allSettled returned no promise"))?;
    call(env, settled, then, &[on_settled]).map_err(napi::Error::from_reason)
}
