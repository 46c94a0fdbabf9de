//! Promises without a threadsafe function per call: every asynchronous operation creates a raw
//! `napi_deferred` on the JS thread, and whichever thread finishes the work (a tokio worker, the
//! SQLite writer) sends the settlement through one shared threadsafe function per JS thread.
//!
//! That function is referenced only while operations are in flight, so a script awaiting a
//! result stays alive until it arrives, and an idle process exits on its own even if it never
//! closed its database.

use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::ptr;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::PromiseRaw;
use napi::{check_status, sys, Env};

use super::convert::{make_error, value, IntoJs};
use super::logger::{Level, Logger};
use super::raw::{array, global, string, undefined, JsResult};
use super::reference::{call, function, method, JsRef};
use crate::core::db::Database;
use crate::core::error::{Error, Result};
use crate::core::exec::{self, Outcome, Publish, Request, Submitted};
use crate::core::value::Value;

/// Work to run on the JS thread.
type Job = Box<dyn FnOnce(sys::napi_env) + Send>;

/// The shared threadsafe function of one JS thread.
pub struct Settler {
    tsfn: sys::napi_threadsafe_function,
    /// False once Node finalized the function (environment teardown): sends are dropped.
    open: Arc<Mutex<bool>>,
    /// Operations in flight; touched only on the JS thread.
    in_flight: std::cell::Cell<usize>,
}

// The handle is meant to be called from any thread; `open` guards its lifetime and `in_flight`
// is only read and written on the JS thread that owns the settler.
// SAFETY: the raw handles it holds are only used on the JS thread that made them (see the type's
// doc); moving the owner between threads does not touch them.
unsafe impl Send for Settler {}
unsafe impl Sync for Settler {}

thread_local! {
    static SETTLER: RefCell<Option<Arc<Settler>>> = const { RefCell::new(None) };
}

impl Settler {
    /// The settler of the current JS thread, created on first use.
    pub fn current(env: sys::napi_env) -> napi::Result<Arc<Settler>> {
        SETTLER.with(|cell| {
            if let Some(s) = cell
                .borrow()
                .as_ref()
                .filter(|s| *crate::core::db::lock(&s.open))
            {
                return Ok(s.clone());
            }
            let settler = Arc::new(Settler::create(env)?);
            *cell.borrow_mut() = Some(settler.clone());
            Ok(settler)
        })
    }

    fn create(env: sys::napi_env) -> napi::Result<Settler> {
        let open = Arc::new(Mutex::new(true));
        let mut name = ptr::null_mut();
        let label = "workflow-infra";
        // SAFETY: the env is the current call's; the inputs outlive the call, which copies them,
        // and Node-API writes the out-pointer.
        check_status!(unsafe {
            sys::napi_create_string_utf8(
                env,
                label.as_ptr().cast(),
                label.len() as isize,
                &mut name,
            )
        })?;
        let finalize_data = Arc::into_raw(open.clone()) as *mut c_void;
        let mut tsfn = ptr::null_mut();
        // SAFETY: the threadsafe function lives until Node-API finalizes it, and `open` (checked
        // under its lock) says whether it still does.
        check_status!(unsafe {
            sys::napi_create_threadsafe_function(
                env,
                ptr::null_mut(),
                ptr::null_mut(),
                name,
                0,
                1,
                finalize_data,
                Some(finalize),
                ptr::null_mut(),
                Some(call_js),
                &mut tsfn,
            )
        })?;
        // SAFETY: the threadsafe function lives until Node-API finalizes it, and `open` (checked
        // under its lock) says whether it still does.
        check_status!(unsafe { sys::napi_unref_threadsafe_function(env, tsfn) })?;
        Ok(Settler {
            tsfn,
            open,
            in_flight: std::cell::Cell::new(0),
        })
    }

    /// Queues `job` to run on the JS thread. Dropped if the environment is gone.
    pub fn send(&self, job: Job) {
        let open = crate::core::db::lock(&self.open);
        if !*open {
            return;
        }
        let data = Box::into_raw(Box::new(job)) as *mut c_void;
        // SAFETY: the threadsafe function lives until Node-API finalizes it, and `open` (checked
        // under its lock) says whether it still does.
        let status = unsafe {
            sys::napi_call_threadsafe_function(
                self.tsfn,
                data,
                sys::ThreadsafeFunctionCallMode::nonblocking,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: the pointer came from `Box::into_raw` of this type and is taken back exactly
            // once.
            drop(unsafe { Box::from_raw(data as *mut Job) });
        }
    }

    /// Called on the JS thread when an operation starts: keeps the loop alive while any is pending.
    fn started(&self, env: sys::napi_env) {
        let n = self.in_flight.get();
        if n == 0 {
            // SAFETY: the threadsafe function lives until Node-API finalizes it, and `open`
            // (checked under its lock) says whether it still does.
            unsafe { sys::napi_ref_threadsafe_function(env, self.tsfn) };
        }
        self.in_flight.set(n + 1);
    }

    /// Called on the JS thread when an operation settled.
    fn finished(&self, env: sys::napi_env) {
        let n = self.in_flight.get().saturating_sub(1);
        self.in_flight.set(n);
        if n == 0 {
            // SAFETY: the threadsafe function lives until Node-API finalizes it, and `open`
            // (checked under its lock) says whether it still does.
            unsafe { sys::napi_unref_threadsafe_function(env, self.tsfn) };
        }
    }
}

// SAFETY: Node-API calls this on the JS thread with the env, and with the data pointer this file
// gave it.
unsafe extern "C" fn call_js(
    env: sys::napi_env,
    _cb: sys::napi_value,
    _ctx: *mut c_void,
    data: *mut c_void,
) {
    // SAFETY: the pointer came from `Box::into_raw` of this type and is taken back exactly once.
    let job = unsafe { Box::from_raw(data as *mut Job) };
    if !env.is_null() {
        job(env);
    }
}

// SAFETY: the pointer came from `Arc::into_raw` of this type when Node-API was given it, and this
// is its one release.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    let open = unsafe { Arc::from_raw(data as *const Mutex<bool>) };
    *crate::core::db::lock(&open) = false;
}

/// The deferred half of a promise, sendable to the thread that finishes the work.
pub struct Pending {
    deferred: sys::napi_deferred,
    prefix: &'static str,
}

// A napi_deferred may be moved between threads; it is only used again on the JS thread.
// SAFETY: the raw handles it holds are only used on the JS thread that made them (see the type's
// doc); moving the owner between threads does not touch them.
unsafe impl Send for Pending {}

impl Pending {
    /// Creates a promise whose rejection messages start with `prefix` ("Failed to …").
    pub fn new<'env, T>(
        env: &'env Env,
        prefix: &'static str,
    ) -> napi::Result<(Pending, PromiseRaw<'env, T>)> {
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        // SAFETY: the env is the current call's; Node-API writes both out-pointers.
        check_status!(unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) })?;
        Ok((
            Pending { deferred, prefix },
            PromiseRaw::new(env.raw(), promise),
        ))
    }

    /// Resolves or rejects, on the JS thread.
    pub fn settle<T: IntoJs>(self, env: sys::napi_env, result: Result<T>) {
        self.settle_value(env, result.and_then(|v| to_js(env, v)));
    }

    /// Resolves with a JS value (a promise is adopted) or rejects, on the JS thread.
    pub fn settle_value(self, env: sys::napi_env, value: Result<sys::napi_value>) {
        // SAFETY: the deferred was made on this thread and is settled once, here (its handle is
        // consumed).
        unsafe {
            match value {
                Ok(v) => sys::napi_resolve_deferred(env, self.deferred, v),
                Err(e) => {
                    sys::napi_reject_deferred(env, self.deferred, make_error(env, self.prefix, &e))
                }
            };
        }
    }
}

/// A result as a JS value.
pub fn to_js<T: IntoJs>(env: sys::napi_env, v: T) -> Result<sys::napi_value> {
    v.into_js(env)
        .map_err(|e| Error::internal(format!("cannot build the result: {e}")))
}

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
    match exec::submit(db, request) {
        Submitted::Ready(outcome) => delivered(env, outcome, delivery),
        Submitted::Later(job) => deferred(env, delivery.prefix, move |complete| {
            job.run(move |outcome| complete(Box::new(move |env| delivery.deliver(env, outcome))))
        }),
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

/// What is settled on the JS thread: it makes the value (or the rejection).
type Settlement = Box<dyn FnOnce(sys::napi_env) -> Result<sys::napi_value> + Send>;

/// A promise for work that finishes on another thread: `start` gets the function to call
/// with the settlement, from any thread.
pub fn deferred<'env, R>(
    env: &'env Env,
    prefix: &'static str,
    start: impl FnOnce(Box<dyn FnOnce(Settlement) + Send>),
) -> napi::Result<PromiseRaw<'env, R>> {
    let settler = Settler::current(env.raw())?;
    let (pending, promise) = Pending::new(env, prefix)?;
    settler.started(env.raw());
    start(Box::new(move |settlement: Settlement| {
        let on_js_thread = settler.clone();
        settler.send(Box::new(move |env| {
            pending.settle_value(env, settlement(env));
            on_js_thread.finished(env);
        }));
    }));
    Ok(promise)
}

/// A promise for a future on the runtime, settled with its result.
pub fn spawn<'env, T, R>(
    env: &'env Env,
    prefix: &'static str,
    future: impl Future<Output = Result<T>> + Send + 'static,
) -> napi::Result<PromiseRaw<'env, R>>
where
    T: IntoJs,
{
    spawn_then(env, prefix, future, |env, result| {
        result.and_then(|v| to_js(env, v))
    })
}

/// A promise for a future on the runtime, settled with what `then` makes of its result on the
/// JS thread.
pub fn spawn_then<'env, T: Send + 'static, R>(
    env: &'env Env,
    prefix: &'static str,
    future: impl Future<Output = Result<T>> + Send + 'static,
    then: impl FnOnce(sys::napi_env, Result<T>) -> Result<sys::napi_value> + Send + 'static,
) -> napi::Result<PromiseRaw<'env, R>> {
    deferred(env, prefix, move |complete| {
        napi::bindgen_prelude::spawn(async move {
            let guard = Completion(Some(complete));
            let result = future.await;
            guard.finish(Box::new(move |env| then(env, result)));
        });
    })
}

/// A promise already settled with `result` (work done on the JS thread: no thread hop).
pub fn settled<'env, T: IntoJs, R>(
    env: &'env Env,
    prefix: &'static str,
    result: Result<T>,
) -> napi::Result<PromiseRaw<'env, R>> {
    let (pending, promise) = Pending::new(env, prefix)?;
    pending.settle(env.raw(), result);
    Ok(promise)
}

/// Settles its promise exactly once: with the result, or — if the task unwinds before it has
/// one — with `ERR_INTERNAL`, so that a panic never leaves a promise pending (and the process
/// held open by it).
struct Completion(Option<Box<dyn FnOnce(Settlement) + Send>>);

impl Completion {
    fn finish(mut self, settlement: Settlement) {
        if let Some(complete) = self.0.take() {
            complete(settlement);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(complete) = self.0.take() {
            complete(Box::new(|_| Err(Error::internal("the operation panicked"))));
        }
    }
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
