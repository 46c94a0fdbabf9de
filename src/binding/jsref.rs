//! JS values kept across calls (subscribers, loggers, event buses), and calling them.
//!
//! A [`JsRef`] may travel to other threads inside a completion, but is only ever used on the JS
//! thread that made it: it is dereferenced there, and deleted there — dropped anywhere else (a
//! settlement dropped at environment teardown) it is left to the environment's own cleanup.

use std::ptr;
use std::thread::ThreadId;

use napi::{check_status, sys};

use super::input::ok;
use super::js::{string, value};
use crate::core::value::Value;

pub struct JsRef {
    env: sys::napi_env,
    inner: sys::napi_ref,
    thread: ThreadId,
}

// Only dereferenced and deleted on the thread that created it (checked).
unsafe impl Send for JsRef {}
unsafe impl Sync for JsRef {}

impl JsRef {
    pub fn new(env: sys::napi_env, value: sys::napi_value) -> napi::Result<JsRef> {
        let mut inner = ptr::null_mut();
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
        check_status!(unsafe { sys::napi_get_reference_value(env, self.inner, &mut v) })?;
        Ok(v)
    }

    /// Whether this refers to the same JS value as `other`.
    pub fn is(&self, env: sys::napi_env, other: sys::napi_value) -> bool {
        let Ok(mine) = self.get(env) else {
            return false;
        };
        let mut same = false;
        unsafe { sys::napi_strict_equals(env, mine, other, &mut same) };
        same
    }
}

impl Drop for JsRef {
    fn drop(&mut self) {
        if std::thread::current().id() == self.thread {
            unsafe { sys::napi_delete_reference(self.env, self.inner) };
        }
    }
}

/// A reference held by a JS object's own native state (the cache's entries), so it is only
/// ever reached on that object's thread: unlike [`JsRef`], no thread check at each use.
pub struct LocalRef {
    env: sys::napi_env,
    inner: sys::napi_ref,
}

impl LocalRef {
    pub fn new(env: sys::napi_env, value: sys::napi_value) -> napi::Result<LocalRef> {
        let mut inner = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_reference(env, value, 1, &mut inner) })?;
        Ok(LocalRef { env, inner })
    }

    pub fn get(&self) -> napi::Result<sys::napi_value> {
        let mut v = ptr::null_mut();
        check_status!(unsafe { sys::napi_get_reference_value(self.env, self.inner, &mut v) })?;
        Ok(v)
    }
}

impl Drop for LocalRef {
    fn drop(&mut self) {
        unsafe { sys::napi_delete_reference(self.env, self.inner) };
    }
}

/// `typeof value === 'function'`.
pub fn is_function(env: sys::napi_env, value: sys::napi_value) -> bool {
    let mut kind = 0;
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
        unsafe { sys::napi_call_function(env, this, f, args.len(), args.as_ptr(), &mut out) };
    if status == sys::Status::napi_ok {
        return Ok(out);
    }
    let mut pending = false;
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if !pending {
        return Err(format!("call failed ({status})"));
    }
    let mut thrown = ptr::null_mut();
    unsafe { sys::napi_get_and_clear_last_exception(env, &mut thrown) };
    Err(describe(env, thrown))
}

/// `String(value)` or, for an Error, its message.
pub fn describe(env: sys::napi_env, value: sys::napi_value) -> String {
    let mut message = ptr::null_mut();
    let mut has = false;
    // Each step may run a caller's getter or Proxy trap: one that throws makes the value
    // unprintable (its exception cleared).
    if !ok(env, unsafe {
        sys::napi_has_named_property(env, value, c"message".as_ptr(), &mut has)
    }) {
        return "unprintable value".into();
    }
    let target = if has {
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
    if !ok(env, unsafe {
        sys::napi_coerce_to_string(env, target, &mut text)
    }) {
        return "unprintable value".into();
    }
    super::input::string(env, text).unwrap_or_else(|| "unprintable value".into())
}

/// Where a service logs: a JS logger (`info/debug/warn/error(message, meta)`), or `tracing`
/// (stderr, or the `setLogger` logger).
#[derive(Clone, Default)]
pub enum Logger {
    #[default]
    Tracing,
    Js(std::sync::Arc<JsRef>),
}

/// Log levels, as the logger methods are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    pub fn method(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

impl Logger {
    /// The logger argument: an object with logging methods, or (undefined/null) `tracing`.
    pub fn from_arg(env: sys::napi_env, logger: Option<sys::napi_value>) -> napi::Result<Logger> {
        let Some(logger) = logger else {
            return Ok(Logger::Tracing);
        };
        let mut kind = 0;
        unsafe { sys::napi_typeof(env, logger, &mut kind) };
        match kind {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(Logger::Tracing),
            sys::ValueType::napi_object => {
                Ok(Logger::Js(std::sync::Arc::new(JsRef::new(env, logger)?)))
            }
            _ => Err(super::js::throw(
                env,
                "Failed to use logger",
                &crate::core::error::Error::validation(
                    "logger must be an object with info/debug/warn/error methods",
                ),
            )),
        }
    }

    /// The `logger` property of an options object: Some when it is given.
    pub fn from_option(
        env: sys::napi_env,
        options: Option<sys::napi_value>,
    ) -> napi::Result<Option<Logger>> {
        let Some(options) = options.filter(|o| {
            let mut kind = 0;
            unsafe { sys::napi_typeof(env, *o, &mut kind) };
            kind == sys::ValueType::napi_object
        }) else {
            return Ok(None);
        };
        let mut logger = ptr::null_mut();
        if !ok(env, unsafe {
            sys::napi_get_named_property(env, options, c"logger".as_ptr(), &mut logger)
        }) {
            return Ok(None); // a throwing getter: as if no logger was given
        }
        let mut kind = 0;
        unsafe { sys::napi_typeof(env, logger, &mut kind) };
        if kind == sys::ValueType::napi_undefined {
            return Ok(None);
        }
        Logger::from_arg(env, Some(logger)).map(Some)
    }

    /// Logs on the JS thread. A logger that throws or lacks the method is skipped (a logging
    /// failure must never fail the operation it describes).
    pub fn log(&self, env: sys::napi_env, level: Level, message: &str, meta: serde_json::Value) {
        match self {
            Logger::Tracing => match level {
                Level::Error => tracing::error!(meta = %meta, "{message}"),
                Level::Warn => tracing::warn!(meta = %meta, "{message}"),
                Level::Info => tracing::info!(meta = %meta, "{message}"),
                Level::Debug => tracing::debug!(meta = %meta, "{message}"),
            },
            Logger::Js(logger) => {
                let _ = call_logger(env, logger, level, message, &meta);
            }
        }
    }
}

impl Logger {
    /// The logger as a `logger` member shows it: the object given, or one whose
    /// `info/debug/warn/error(message, meta)` write to the addon's own log.
    pub fn to_js(&self, env: sys::napi_env) -> napi::Result<sys::napi_value> {
        if let Logger::Js(logger) = self {
            return logger.get(env);
        }
        let mut obj = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_object(env, &mut obj) })?;
        for level in [Level::Error, Level::Warn, Level::Info, Level::Debug] {
            let f = function(env, level.method(), move |ctx| {
                let env = ctx.env.raw();
                let text = |i: usize| -> napi::Result<Option<serde_json::Value>> {
                    if ctx.length() <= i {
                        return Ok(None);
                    }
                    let v = ctx.get::<napi::bindgen_prelude::Unknown>(i)?;
                    Ok(super::input::input(env, napi::JsValue::raw(&v))
                        .to_json("meta")
                        .ok())
                };
                let message = match text(0)? {
                    Some(serde_json::Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let meta = text(1)?.unwrap_or(serde_json::Value::Null);
                Logger::Tracing.log(env, level, &message, meta);
                super::js::undefined(env)
            })?;
            let name = std::ffi::CString::new(level.method()).expect("no NUL in a level name");
            check_status!(unsafe { sys::napi_set_named_property(env, obj, name.as_ptr(), f) })?;
        }
        Ok(obj)
    }
}

pub fn call_logger(
    env: sys::napi_env,
    logger: &JsRef,
    level: Level,
    message: &str,
    meta: &serde_json::Value,
) -> napi::Result<()> {
    let obj = logger.get(env)?;
    let Some(f) = method(env, obj, level.method())? else {
        return Ok(());
    };
    let args = [
        string(env, message)?,
        value(env, &Value::Json(meta.clone()))?,
    ];
    let _ = call(env, obj, f, &args);
    Ok(())
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
