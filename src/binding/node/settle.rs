//! Promises without a threadsafe function per call: every asynchronous operation creates a raw
//! `napi_deferred` on the JS thread, and whichever thread finishes the work (a tokio worker, the
//! SQLite writer) sends the settlement through one shared threadsafe function per JS thread.
//!
//! That function is referenced only while operations are in flight, so a script awaiting a
//! result stays alive until it arrives, and an idle process exits on its own even if it never
//! closed its database.
//!
//! Settlements wait in the settler's own queue, and one call of the threadsafe function runs
//! at most [`PER_TURN`] of them; the rest go on in a later turn of the event loop
//! (`setImmediate`). Node runs every call queued on a threadsafe function in one task, with
//! the continuations they release after all of them: a group of 64 writes settled at once
//! stalled the loop for that long. Bounded per turn, timers and I/O get their turn in between.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::future::Future;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::PromiseRaw;
use napi::{check_status, sys, Env};

use super::convert::{make_error, IntoJs};
use super::reference::Scheduled;
use crate::core::error::{Error, Result};
use crate::core::exec::Completion;

/// Work to run on the JS thread.
type Job = Box<dyn FnOnce(sys::napi_env) + Send>;

/// The most settlements run in one turn of the event loop.
pub const PER_TURN: usize = 8;

/// Settlements waiting for the JS thread.
#[derive(Default)]
struct Waiting {
    jobs: VecDeque<Job>,
    /// A drain is on its way (a threadsafe call or a `setImmediate`): sends add to the queue.
    armed: bool,
}

/// The shared threadsafe function of one JS thread.
pub struct Settler {
    tsfn: sys::napi_threadsafe_function,
    /// False once Node finalized the function (environment teardown): sends are dropped.
    open: Arc<Mutex<bool>>,
    waiting: Mutex<Waiting>,
    /// `setImmediate` with the function that drains the rest.
    later: Scheduled,
    /// Operations in flight (an atomic: the settler is shared between threads; the JS thread is
    /// the one that counts).
    in_flight: AtomicUsize,
}

// SAFETY: a threadsafe function is meant to be called from any thread, and `open` (under its
// lock) guards its lifetime; `later` is used only from the JS thread's callbacks (it needs the
// `env` they are given); every other field is a lock or an atomic.
unsafe impl Send for Settler {}
// SAFETY: as for `Send`.
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
        let later = Scheduled::new(env, c"setImmediate", "settleRest", |env| {
            if let Some(settler) = SETTLER.with(|cell| cell.borrow().clone()) {
                settler.drain(env, false);
            }
        })?;
        Ok(Settler {
            tsfn,
            open,
            waiting: Mutex::new(Waiting::default()),
            later,
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Queues `job` to run on the JS thread. Dropped if the environment is gone.
    pub fn send(self: &Arc<Self>, job: Job) {
        let open = crate::core::db::lock(&self.open);
        if !*open {
            return;
        }
        {
            let mut waiting = crate::core::db::lock(&self.waiting);
            waiting.jobs.push_back(job);
            if std::mem::replace(&mut waiting.armed, true) {
                return;
            }
        }
        let data = Arc::into_raw(self.clone()) as *mut c_void;
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
            // SAFETY: the pointer came from `Arc::into_raw` above and is taken back exactly once.
            drop(unsafe { Arc::from_raw(data as *const Settler) });
            let mut waiting = crate::core::db::lock(&self.waiting);
            waiting.jobs.clear();
            waiting.armed = false;
        }
    }

    /// Runs up to [`PER_TURN`] waiting settlements, on the JS thread; the rest in a later turn.
    /// Called by the threadsafe function (`woken`), it always hands on to a `setImmediate`, and
    /// the settler stays armed until then: Node runs a threadsafe function again at once when it
    /// is called while it runs, so a continuation's own send (a write settled in the next turn,
    /// or one from another thread meanwhile) must not call it, or the loop would never turn.
    fn drain(&self, env: sys::napi_env, woken: bool) {
        let batch: Vec<Job> = {
            let mut waiting = crate::core::db::lock(&self.waiting);
            let n = waiting.jobs.len().min(PER_TURN);
            waiting.jobs.drain(..n).collect()
        };
        for job in batch {
            job(env);
        }
        let mut waiting = crate::core::db::lock(&self.waiting);
        if waiting.jobs.is_empty() && !woken {
            waiting.armed = false;
            return;
        }
        drop(waiting);
        if self.later.schedule(env).is_err() {
            // No later turn to be had (the environment is ending): run them all now.
            loop {
                let rest: Vec<Job> = {
                    let mut waiting = crate::core::db::lock(&self.waiting);
                    if waiting.jobs.is_empty() {
                        waiting.armed = false;
                        return;
                    }
                    waiting.jobs.drain(..).collect()
                };
                for job in rest {
                    job(env);
                }
            }
        }
    }

    /// Called on the JS thread when an operation starts: keeps the loop alive while any is pending.
    fn started(&self, env: sys::napi_env) {
        if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
            // SAFETY: the threadsafe function lives until Node-API finalizes it, and `open`
            // (checked under its lock) says whether it still does.
            unsafe { sys::napi_ref_threadsafe_function(env, self.tsfn) };
        }
    }

    /// Called on the JS thread when an operation settled.
    fn finished(&self, env: sys::napi_env) {
        let before = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if before == Ok(1) {
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
    // SAFETY: the pointer came from `Arc::into_raw` in `Settler::send` and is taken back
    // exactly once.
    let settler = unsafe { Arc::from_raw(data as *const Settler) };
    if !env.is_null() {
        settler.drain(env, true);
    }
}

// SAFETY: Node-API calls it once, when it finalizes the threadsafe function, with the data
// pointer `create` gave it.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: the pointer came from `Arc::into_raw` of this type in `create`, and this is its
    // one release.
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
        match value {
            // SAFETY: the deferred was made on this thread and is settled once, here (its handle
            // is consumed).
            Ok(v) => unsafe { sys::napi_resolve_deferred(env, self.deferred, v) },
            Err(e) => {
                let error = make_error(env, self.prefix, &e);
                // SAFETY: as above.
                unsafe { sys::napi_reject_deferred(env, self.deferred, error) }
            }
        };
    }
}

/// A result as a JS value.
pub fn to_js<T: IntoJs>(env: sys::napi_env, v: T) -> Result<sys::napi_value> {
    v.into_js(env)
        .map_err(|e| Error::internal(format!("cannot build the result: {e}")))
}

/// What is settled on the JS thread: it makes the value (or the rejection).
pub type Settlement = Box<dyn FnOnce(sys::napi_env) -> Result<sys::napi_value> + Send>;

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
            let guard = Completion::new(complete, panicked);
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

/// The settlement of a task that unwound.
fn panicked() -> Settlement {
    Box::new(|_| Err(Error::internal("the operation panicked")))
}
