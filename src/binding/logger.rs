//! `setLogger(logger)`: the addon's `tracing` events to any object with
//! `info/debug/warn/error(message, meta)`. Events reach the JS thread through the shared,
//! unreferenced threadsafe function — a logger never keeps the process alive — and at most
//! 1,000 wait at a time (more are dropped and counted rather than queued without bound); a
//! slow logger is paced (see `node::logger::pace`).

use std::sync::Arc;

use napi::bindgen_prelude::Unknown;
use napi::{Env, JsValue};
use napi_derive::napi;

use super::node::convert::throw;
use super::node::input::argument;
use super::node::logger::{pace, Level, Logger, Style};
use super::node::settle::Settler;
use crate::core::input::Fields;
use crate::core::logging;

/// Sends the addon's log events to `logger` (`null` restores stderr). The level filter is
/// `WORKFLOW_INFRA_LOG`, or `info` when it is not set. pino and bunyan loggers are called
/// `(fields, message)`, any other `(message, fields)`; `options.style` (`'object-first'` or
/// `'message-first'`) says which instead.
#[napi(ts_args_type = "logger: Logger | null, options?: SetLoggerOptions")]
pub fn set_logger(
    env: &Env,
    logger: Option<Unknown>,
    options: Option<Unknown>,
) -> napi::Result<()> {
    const PREFIX: &str = "Failed to set the logger";
    let style = (|| {
        let options = argument(env, options);
        let fields = Fields::of_optional(&options, "options")?;
        fields.only(&["style"])?;
        Ok(fields
            .one_of("style", &["message-first", "object-first"])?
            .and_then(|name| Style::parse(&name)))
    })()
    .map_err(|e| throw(env.raw(), PREFIX, &e))?;
    let logger = Logger::with_style(env.raw(), logger.map(|l| l.raw()), style)?;
    let Logger::Js(logger) = logger else {
        logging::forward(None);
        return Ok(());
    };
    let settler = Settler::current(env.raw())?;
    logging::forward(Some(Arc::new(move |record, place| {
        let logger = logger.clone();
        settler.send(Box::new(move |env| {
            drop(place);
            pace::log(env, &logger, record.level, record.message, record.fields);
        }));
    })));
    Ok(())
}

/// Logs `message` with `fields` at `level` (`'error'`, `'warn'`, `'info'` or `'debug'`) through
/// `logger`, as the addon's own classes log: a pino or bunyan logger gets `(fields, message)`,
/// any other `(message, fields)`; null writes to the addon's own log (internal: `lib/cache.js`).
#[napi(skip_typescript, js_name = "__log")]
pub fn log_through(
    env: &Env,
    logger: Option<Unknown>,
    level: String,
    message: String,
    fields: Option<Unknown>,
) -> napi::Result<()> {
    let logger = Logger::from_arg(env.raw(), logger.map(|l| l.raw()))?;
    let level = match level.as_str() {
        "error" => Level::Error,
        "warn" => Level::Warn,
        "info" => Level::Info,
        _ => Level::Debug,
    };
    let fields = argument(env, fields)
        .to_json("fields")
        .unwrap_or(serde_json::Value::Null);
    logger.log(env.raw(), level, &message, fields);
    Ok(())
}
