//! `setLogger(logger)`: the addon's `tracing` events to any object with
//! `info/debug/warn/error(message, meta)`. Events reach the JS thread through the shared,
//! unreferenced threadsafe function — a logger never keeps the process alive — and at most
//! 1,000 wait at a time (more are dropped rather than queued without bound).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::Unknown;
use napi::{Env, JsValue};
use napi_derive::napi;

use super::node::logger::{call_logger, Level, Logger};
use super::node::settle::Settler;
use crate::core::logging;

const QUEUE_MAX: usize = 1000;

/// Sends the addon's log events to `logger` (`null` restores stderr). The level filter is
/// `WORKFLOW_INFRA_LOG`, or `info` when it is not set.
#[napi(ts_args_type = "logger: Logger | null")]
pub fn set_logger(env: &Env, logger: Option<Unknown>) -> napi::Result<()> {
    let Logger::Js(logger) = Logger::from_arg(env.raw(), logger.map(|l| l.raw()))? else {
        logging::set_sink(None);
        return Ok(());
    };
    let settler = Settler::current(env.raw())?;
    let pending = Arc::new(AtomicUsize::new(0));
    logging::set_sink(Some(Arc::new(move |level, message, fields| {
        if pending.fetch_add(1, Ordering::AcqRel) >= QUEUE_MAX {
            pending.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let level = match level {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        };
        let (logger, pending) = (logger.clone(), pending.clone());
        settler.send(Box::new(move |env| {
            pending.fetch_sub(1, Ordering::AcqRel);
            let _ = call_logger(
                env,
                &logger,
                level,
                &message,
                &serde_json::Value::Object(fields),
            );
        }));
    })));
    Ok(())
}
