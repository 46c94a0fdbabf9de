//! Where a class logs: a logger the caller gave (`info/debug/warn/error(message, meta)`), or
//! the addon's own log (`tracing`); and what the core's log records become there.

use std::ptr;

use napi::{check_status, sys};

use super::convert::{throw, value};
use super::input::{input, ok};
use super::raw::{string, undefined};
use super::reference::{call, function, method, JsRef};
pub use crate::core::exec::Level;
use crate::core::exec::{Audience, LogRecord};
use crate::core::value::Value;

/// Where a service logs: a JS logger (`info/debug/warn/error(message, meta)`), or `tracing`
/// (stderr, or the `setLogger` logger).
#[derive(Clone, Default)]
pub enum Logger {
    #[default]
    Tracing,
    Js(std::sync::Arc<JsRef>),
}

impl Logger {
    /// The logger argument: an object with logging methods, or (undefined/null) `tracing`.
    pub fn from_arg(env: sys::napi_env, logger: Option<sys::napi_value>) -> napi::Result<Logger> {
        let Some(logger) = logger else {
            return Ok(Logger::Tracing);
        };
        let mut kind = 0;
        // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API
        // writes.
        unsafe { sys::napi_typeof(env, logger, &mut kind) };
        match kind {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(Logger::Tracing),
            sys::ValueType::napi_object => {
                Ok(Logger::Js(std::sync::Arc::new(JsRef::new(env, logger)?)))
            }
            _ => Err(throw(
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
            // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API
            // writes.
            unsafe { sys::napi_typeof(env, *o, &mut kind) };
            kind == sys::ValueType::napi_object
        }) else {
            return Ok(None);
        };
        let mut logger = ptr::null_mut();
        // SAFETY: the object and key are live values of this env (a name is NUL-terminated); the
        // out-pointer is a local Node-API writes.
        if !ok(env, unsafe {
            sys::napi_get_named_property(env, options, c"logger".as_ptr(), &mut logger)
        }) {
            return Ok(None); // a throwing getter: as if no logger was given
        }
        let mut kind = 0;
        // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API
        // writes.
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
            Logger::Tracing => crate::core::exec::outcome::trace(level, message, &meta),
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
        // SAFETY: the env is the current call's; the inputs outlive the call, which copies them,
        // and Node-API writes the out-pointer.
        check_status!(unsafe { sys::napi_create_object(env, &mut obj) })?;
        for level in [Level::Error, Level::Warn, Level::Info, Level::Debug] {
            let f = function(env, level.method(), move |ctx| {
                let env = ctx.env.raw();
                let text = |i: usize| -> napi::Result<Option<serde_json::Value>> {
                    if ctx.length() <= i {
                        return Ok(None);
                    }
                    let v = ctx.get::<napi::bindgen_prelude::Unknown>(i)?;
                    Ok(input(env, napi::JsValue::raw(&v)).to_json("meta").ok())
                };
                let message = match text(0)? {
                    Some(serde_json::Value::String(s)) => s,
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let meta = text(1)?.unwrap_or(serde_json::Value::Null);
                Logger::Tracing.log(env, level, &message, meta);
                undefined(env)
            })?;
            let name = std::ffi::CString::new(level.method()).expect("no NUL in a level name");
            // SAFETY: the object and key are live values of this env (a name is NUL-terminated);
            // the out-pointer is a local Node-API writes.
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

impl Logger {
    /// Whose logger this is, for the core's logging policy.
    pub fn audience(&self) -> Audience {
        match self {
            Logger::Tracing => Audience::Own,
            Logger::Js(_) => Audience::Caller,
        }
    }

    /// Writes the core's records, in order.
    pub fn write(&self, env: sys::napi_env, records: Vec<LogRecord>) {
        for r in records {
            self.log(env, r.level, &r.message, r.fields);
        }
    }
}
