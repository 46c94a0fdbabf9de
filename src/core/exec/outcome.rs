//! What a call comes to: its result, and what is to be said and published about it.

use serde_json::Value as Json;

use crate::core::db::Output;
use crate::core::error::Result;

/// Log levels, named as a logger's methods are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    /// The logger method of this level (`logger.warn(…)`).
    pub fn method(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// Writes a line to the addon's own log (`tracing`).
pub fn trace(level: Level, message: &str, meta: &Json) {
    match level {
        Level::Error => tracing::error!(meta = %meta, "{message}"),
        Level::Warn => tracing::warn!(meta = %meta, "{message}"),
        Level::Info => tracing::info!(meta = %meta, "{message}"),
        Level::Debug => tracing::debug!(meta = %meta, "{message}"),
    }
}

/// One line for the caller's logger (or the addon's own log).
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    pub level: Level,
    pub message: String,
    pub fields: Json,
}

impl LogRecord {
    pub fn new(level: Level, message: impl Into<String>, fields: Json) -> LogRecord {
        LogRecord {
            level,
            message: message.into(),
            fields,
        }
    }
}

/// An event to publish on the caller's event bus once the call's writes committed.
#[derive(Clone, Debug, PartialEq)]
pub struct Publish {
    pub event: &'static str,
    pub payload: Json,
}

/// The result of a call, with its log records and its follow-up events.
#[derive(Debug)]
pub struct Outcome {
    pub result: Result<Output>,
    pub logs: Vec<LogRecord>,
    pub publish: Vec<Publish>,
}

impl Outcome {
    /// A result with nothing to log or publish.
    pub fn plain(result: Result<Output>) -> Outcome {
        Outcome {
            result,
            logs: Vec::new(),
            publish: Vec::new(),
        }
    }
}
