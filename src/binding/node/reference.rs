//! JS values kept across calls (subscribers, loggers, event buses), and calling them.
//!
//! A [`JsRef`] may travel to other threads inside a completion, but is only ever used on the JS
//! thread that made it: it is dereferenced there, and deleted there — dropped anywhere else (a
//! settlement dropped at environment teardown) it is left to the environment's own cleanup.

use std::ptr;
use std::thread::ThreadId;

use napi::{check_status, sys};

use super::input::ok;
use super::raw::string;

pub struct JsRef {
    env: sys::napi_env,
    inner: sys::napi_ref,
    thread: ThreadId,
}

// SAFETY: the reference is only dereferenced and deleted on the thread that created it
// (checked against `thread`); moving or sharing the owner does not touch it.
unsafe impl Send for JsRef {}
// SAFETY: as for `Send`: no method uses the handle off its own thread.
unsafe impl Sync for JsRef {}

impl JsRef {
    pub fn new(env: sys::napi_env, value: sys::napi_value) -> napi::Result<JsRef> {
        let mut inner = ptr::null_mut();
        // SAFETY: the reference was made in this env on this thread and is not yet deleted.
        check_status!(unsafe { sys::napi_create_reference(env, value, 1, &mut inner) })?;
        Ok(JsRef {
            env,
            inner,
            thread: std::thread::current().id(),
        })
    }

    pub fn get(&self, env: sys::napi_env) -> napi::Result<sys::napi_value> {
        if std::thread::current().id() != self.thread {
            return Err(napi::Error::from_reason(
                "a JS value was used off its thread",
            ));
        }
        let mut v = ptr::null_mut();
        // SAFETY: the reference was made in this env on this thread and is not yet deleted.
        check_status!(unsafe { sys::napi_get_reference_value(env, self.inner, &mut v) })?;
        Ok(v)
    }

    /// Whether this refers to the same JS value as `other`.
    pub fn is(&self, env: sys::napi_env, other: sys::napi_value) -> bool {
        let Ok(mine) = self.get(env) else {
            return false;
        };
        let mut same = false;
        // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API
        // writes.
        unsafe { sys::napi_strict_equals(env, mine, other, &mut same) };
        same
    }
}

impl Drop for JsRef {
    fn drop(&mut self) {
        if std::thread::current().id() == self.thread {
            // SAFETY: the reference was made in this env on this thread and is not yet deleted.
            unsafe { sys::napi_delete_reference(self.env, self.inner) };
        }
    }
}

/// `typeof value === 'function'`.
pub fn is_function(env: sys::napi_env, value: sys::napi_value) -> bool {
    let mut kind = 0;
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    unsafe { sys::napi_typeof(env, value, &mut kind) };
    kind == sys::ValueType::napi_function
}

/// `obj[name]`, when it is a function. A getter or Proxy trap that throws reads as no method
/// (its exception is cleared: a caller's object never makes the addon throw).
pub fn method(
    env: sys::napi_env,
    obj: sys::napi_value,
    name: &str,
) -> napi::Result<Option<sys::napi_value>> {
    let key = string(env, name)?;
    let mut f = ptr::null_mut();
    // SAFETY: the object and key are live values of this env (a name is NUL-terminated); the out-
    // pointer is a local Node-API writes.
    if !ok(env, unsafe {
        sys::napi_get_property(env, obj, key, &mut f)
    }) {
        return Ok(None);
    }
    Ok(is_function(env, f).then_some(f))
}

/// Calls `f` with `this` and `args`. A throw becomes `Err` carrying the thrown value's text
/// (the exception is cleared).
pub fn call(
    env: sys::napi_env,
    this: sys::napi_value,
    f: sys::napi_value,
    args: &[sys::napi_value],
) -> std::result::Result<sys::napi_value, String> {
    let mut out = ptr::null_mut();
    let status =
        // SAFETY: the function and its arguments are live values of this env; a thrown exception is
        // reported through the status.
        unsafe { sys::napi_call_function(env, this, f, args.len(), args.as_ptr(), &mut out) };
    if status == sys::Status::napi_ok {
        return Ok(out);
    }
    let mut pending = false;
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if !pending {
        return Err(format!("call failed ({status})"));
    }
    let mut thrown = ptr::null_mut();
    // SAFETY: the env is the current call's; this only reads or clears its pending exception.
    unsafe { sys::napi_get_and_clear_last_exception(env, &mut thrown) };
    Err(describe(env, thrown))
}

/// `String(value)` or, for an Error, its message.
pub fn describe(env: sys::napi_env, value: sys::napi_value) -> String {
    let mut message = ptr::null_mut();
    let mut has = false;
    // Each step may run a caller's getter or Proxy trap: one that throws makes the value
    // unprintable (its exception cleared).
    // SAFETY: the object and key are live values of this env (a name is NUL-terminated); the out-
    // pointer is a local Node-API writes.
    if !ok(env, unsafe {
        sys::napi_has_named_property(env, value, c"message".as_ptr(), &mut has)
    }) {
        return "unprintable value".into();
    }
    let target = if has {
        // SAFETY: the object and key are live values of this env (a name is NUL-terminated); the
        // out-pointer is a local Node-API writes.
        if !ok(env, unsafe {
            sys::napi_get_named_property(env, value, c"message".as_ptr(), &mut message)
        }) {
            return "unprintable value".into();
        }
        message
    } else {
        value
    };
    let mut text = ptr::null_mut();
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    if !ok(env, unsafe {
        sys::napi_coerce_to_string(env, target, &mut text)
    }) {
        return "unprintable value".into();
    }
    super::input::string(env, text).unwrap_or_else(|| "unprintable value".into())
}

/// A JS function running `f` (freed with the function).
pub fn function(
    env: sys::napi_env,
    name: &str,
    f: impl Fn(napi::bindgen_prelude::FunctionCallContext) -> napi::Result<sys::napi_value> + 'static,
) -> napi::Result<sys::napi_value> {
    let env = napi::Env::from_raw(env);
    let f = env.create_function_from_closure::<sys::napi_value, sys::napi_value, _>(name, f)?;
    Ok(napi::JsValue::raw(&f))
}

/// A callback and the global that schedules it (`queueMicrotask`, `setImmediate`), made once
/// and kept for the JS thread's life. Never deleted: the environment frees both when it ends
/// (the thread-locals that hold them are dropped after that).
pub struct Scheduled {
    scheduler: std::mem::ManuallyDrop<JsRef>,
    callback: std::mem::ManuallyDrop<JsRef>,
}

impl Scheduled {
    /// `f` as a JS function named `name`, to be handed to the global `scheduler`.
    pub fn new(
        env: sys::napi_env,
        scheduler: &std::ffi::CStr,
        name: &str,
        f: impl Fn(sys::napi_env) + 'static,
    ) -> napi::Result<Scheduled> {
        let callback = function(env, name, move |ctx| {
            let env = ctx.env.raw();
            f(env);
            super::raw::undefined(env)
        })?;
        Ok(Scheduled {
            scheduler: std::mem::ManuallyDrop::new(JsRef::new(
                env,
                super::raw::global(env, scheduler)?,
            )?),
            callback: std::mem::ManuallyDrop::new(JsRef::new(env, callback)?),
        })
    }

    /// `scheduler(callback)`.
    pub fn schedule(&self, env: sys::napi_env) -> napi::Result<()> {
        let (scheduler, callback) = (self.scheduler.get(env)?, self.callback.get(env)?);
        call(env, super::raw::undefined(env)?, scheduler, &[callback])
            .map(|_| ())
            .map_err(napi::Error::from_reason)
    }
}
