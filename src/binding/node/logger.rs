//! Where a class logs: a logger the caller gave (winston, pino, bunyan, `console`, or anything
//! with `info/debug/warn/error`), or the addon's own log (`tracing`); and what the core's log
//! records become there.

use std::ptr;

use napi::{check_status, sys};

use super::convert::{throw, value};
use super::input::{input, ok};
use super::raw::{string, undefined};
use super::reference::{call, function, method, JsRef};
pub use crate::core::exec::Level;
use crate::core::exec::{Audience, LogRecord};
use crate::core::value::Value;

/// Where a service logs: a JS logger, or `tracing` (stderr, or the `setLogger` logger).
#[derive(Clone, Default)]
pub enum Logger {
    #[default]
    Tracing,
    Js(std::sync::Arc<JsLogger>),
}

/// A logger the caller gave, and how its methods take a record's fields.
pub struct JsLogger {
    pub obj: JsRef,
    pub style: Style,
}

/// How a logger's `info/debug/warn/error` take the message and the fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `(message, fields)`: winston, `console`, the planned API's loggers.
    MessageFirst,
    /// `(fields, message)`: pino and bunyan.
    ObjectFirst,
}

impl Style {
    /// The `style` option: `'message-first'` or `'object-first'`.
    pub fn parse(name: &str) -> Option<Style> {
        match name {
            "message-first" => Some(Style::MessageFirst),
            "object-first" => Some(Style::ObjectFirst),
            _ => None,
        }
    }

    /// The style of `logger`: object-first for pino (a numeric `levelVal`) and bunyan
    /// (`addStream` and `fields`), message-first for anything else.
    fn detect(env: sys::napi_env, logger: sys::napi_value) -> Style {
        // The type of `logger[name]`; undefined when reading it throws (the exception cleared).
        let kind = |name: &std::ffi::CStr| {
            let mut v = ptr::null_mut();
            let mut kind = sys::ValueType::napi_undefined;
            // SAFETY: the object and key are live values of this env (a name is
            // NUL-terminated); the out-pointers are locals Node-API writes.
            if ok(env, unsafe {
                sys::napi_get_named_property(env, logger, name.as_ptr(), &mut v)
            }) {
                // SAFETY: as above.
                unsafe { sys::napi_typeof(env, v, &mut kind) };
            }
            kind
        };
        let pino = kind(c"levelVal") == sys::ValueType::napi_number;
        let bunyan = kind(c"addStream") == sys::ValueType::napi_function
            && kind(c"fields") == sys::ValueType::napi_object;
        match pino || bunyan {
            true => Style::ObjectFirst,
            false => Style::MessageFirst,
        }
    }
}

impl Logger {
    /// The logger argument: an object with logging methods, or (undefined/null) `tracing`.
    pub fn from_arg(env: sys::napi_env, logger: Option<sys::napi_value>) -> napi::Result<Logger> {
        Logger::with_style(env, logger, None)
    }

    /// As [`Logger::from_arg`], in `style` when one is given (else detected).
    pub fn with_style(
        env: sys::napi_env,
        logger: Option<sys::napi_value>,
        style: Option<Style>,
    ) -> napi::Result<Logger> {
        let Some(logger) = logger else {
            return Ok(Logger::Tracing);
        };
        let mut kind = 0;
        // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API
        // writes.
        unsafe { sys::napi_typeof(env, logger, &mut kind) };
        match kind {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(Logger::Tracing),
            sys::ValueType::napi_object => Ok(Logger::Js(std::sync::Arc::new(JsLogger {
                obj: JsRef::new(env, logger)?,
                style: style.unwrap_or_else(|| Style::detect(env, logger)),
            }))),
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
    /// failure must never fail the operation it describes); a slow one is paced (see [`pace`]).
    pub fn log(&self, env: sys::napi_env, level: Level, message: &str, meta: serde_json::Value) {
        match self {
            Logger::Tracing => crate::core::exec::outcome::trace(level, message, &meta),
            Logger::Js(logger) => pace::log(env, logger, level, message.to_string(), meta),
        }
    }
}

impl Logger {
    /// The logger as a `logger` member shows it: the object given, or one whose
    /// `info/debug/warn/error(message, meta)` write to the addon's own log.
    pub fn to_js(&self, env: sys::napi_env) -> napi::Result<sys::napi_value> {
        if let Logger::Js(logger) = self {
            return logger.obj.get(env);
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

/// Calls `logger`'s method of `level` with the message and the fields, in its style.
pub fn call_logger(
    env: sys::napi_env,
    logger: &JsLogger,
    level: Level,
    message: &str,
    meta: &serde_json::Value,
) -> napi::Result<()> {
    let obj = logger.obj.get(env)?;
    let Some(f) = method(env, obj, level.method())? else {
        return Ok(());
    };
    let message = string(env, message)?;
    let fields = match meta {
        serde_json::Value::Null => value(env, &Value::Json(serde_json::json!({})))?,
        meta => value(env, &Value::Json(meta.clone()))?,
    };
    let args = match logger.style {
        Style::MessageFirst => [message, fields],
        Style::ObjectFirst => [fields, message],
    };
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

/// A JS logger is called at once while it is fast. One that takes [`SLOW`] or more for
/// [`SLOW_IN_A_ROW`] records in a row (one slow record may be a GC pause) is slower than the
/// calls it describes: for the next [`SLOW_FOR`], and while records wait,
/// records queue (at most [`QUEUE_MAX`]; more are dropped and counted, and a warning says how
/// many) and are written in later turns of the event loop, at most [`BUDGET`] of logging a
/// turn (one record at least), behind the promises waiting to settle. A logger that blocks
/// 100 ms a record then costs a burst of calls one record, not one per call.
pub mod pace {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use napi::sys;

    use super::{call_logger, JsLogger, Level};
    use crate::binding::node::settle::Settler;
    use crate::core::metrics;

    /// A record that took this long counts towards its logger being slow.
    pub const SLOW: Duration = Duration::from_millis(2);
    /// Slow records in a row that make a logger slow.
    pub const SLOW_IN_A_ROW: u32 = 3;
    /// How long a slow logger stays paced after its last slow record.
    pub const SLOW_FOR: Duration = Duration::from_secs(1);
    /// Records waiting at most; more are dropped.
    pub const QUEUE_MAX: usize = 1000;
    /// Logging per turn of the event loop while paced.
    pub const BUDGET: Duration = Duration::from_millis(2);

    type Record = (Arc<JsLogger>, Level, String, serde_json::Value);

    #[derive(Default)]
    struct Pacing {
        waiting: VecDeque<Record>,
        /// Per logger (by address): paced until, its records waiting, and its slow records in a
        /// row.
        loggers: std::collections::HashMap<usize, (Option<Instant>, usize, u32)>,
        armed: bool,
        /// Dropped since the last warning, and the logger to warn.
        dropped: u64,
        warn_to: Option<Arc<JsLogger>>,
    }

    thread_local! {
        static PACING: RefCell<Pacing> = RefCell::new(Pacing::default());
    }

    /// Writes the record now, or queues it behind a slow logger.
    pub fn log(
        env: sys::napi_env,
        logger: &Arc<JsLogger>,
        level: Level,
        message: String,
        meta: serde_json::Value,
    ) {
        let record = (logger.clone(), level, message, meta);
        // The record back when it is to be written now; queued (or dropped) otherwise.
        let now = PACING.with(|p| {
            let mut p = p.borrow_mut();
            let key = Arc::as_ptr(logger) as usize;
            let paced = p.loggers.get(&key).is_some_and(|(until, waiting, _)| {
                *waiting > 0 || until.is_some_and(|t| Instant::now() < t)
            });
            if !paced {
                return Some(record);
            }
            if p.waiting.len() >= QUEUE_MAX {
                p.dropped += 1;
                p.warn_to = Some(record.0);
                metrics::count_dropped_log_records(1);
            } else {
                p.waiting.push_back(record);
                p.loggers.entry(key).or_default().1 += 1;
            }
            None
        });
        match now {
            Some(record) => write(env, record),
            None => arm(env),
        }
    }

    /// Calls the logger, noting whether it was slow.
    fn write(env: sys::napi_env, (logger, level, message, meta): Record) {
        let started = Instant::now();
        let _ = call_logger(env, &logger, level, &message, &meta);
        let slow = started.elapsed() >= SLOW;
        let key = Arc::as_ptr(&logger) as usize;
        PACING.with(|p| {
            let mut p = p.borrow_mut();
            if !slow {
                // A fast record: nothing to remember unless records of it wait.
                if let Some(pace) = p.loggers.get_mut(&key) {
                    pace.2 = 0;
                    if pace.1 == 0 && pace.0.is_none_or(|t| Instant::now() >= t) {
                        p.loggers.remove(&key);
                    }
                }
                return;
            }
            let pace = p.loggers.entry(key).or_default();
            pace.2 += 1;
            if pace.2 >= SLOW_IN_A_ROW {
                pace.0 = Some(Instant::now() + SLOW_FOR);
            }
        });
    }

    /// Schedules a drain on the JS thread's settler, unless one is on its way.
    fn arm(env: sys::napi_env) {
        let arm = PACING.with(|p| !std::mem::replace(&mut p.borrow_mut().armed, true));
        if !arm {
            return;
        }
        match Settler::current(env) {
            Ok(settler) => settler.send(Box::new(drain)),
            Err(_) => PACING.with(|p| p.borrow_mut().armed = false),
        }
    }

    /// Writes waiting records for at most [`BUDGET`], then hands on to a later turn.
    fn drain(env: sys::napi_env) {
        let started = Instant::now();
        loop {
            let next = PACING.with(|p| {
                let mut p = p.borrow_mut();
                let record = p.waiting.pop_front()?;
                if let Some(pace) = p.loggers.get_mut(&(Arc::as_ptr(&record.0) as usize)) {
                    pace.1 -= 1;
                }
                Some(record)
            });
            let Some(record) = next else { break };
            write(env, record);
            if started.elapsed() >= BUDGET {
                break;
            }
        }
        // Once the queue emptied, a warning says how many records were dropped meanwhile.
        let (more, warn) = PACING.with(|p| {
            let mut p = p.borrow_mut();
            p.armed = false;
            let warn = match p.waiting.is_empty() && p.dropped > 0 {
                true => p
                    .warn_to
                    .take()
                    .map(|l| (l, std::mem::take(&mut p.dropped))),
                false => None,
            };
            (!p.waiting.is_empty(), warn)
        });
        if let Some((logger, dropped)) = warn {
            let _ = call_logger(
                env,
                &logger,
                Level::Warn,
                "log records were dropped: the logger is slower than the calls it describes",
                &serde_json::json!({ "dropped": dropped, "droppedTotal": metrics::dropped_log_records() }),
            );
        }
        if more {
            arm(env);
        }
    }
}
