//! What a call comes to: its result, and what is to be said and published about it.

use serde_json::Value as Json;

use crate::core::db::Output;
use crate::core::error::Result;

// The log records are the base floor's (`core::records`); a call's outcome carries them.
pub use crate::core::records::{trace, Level, LogRecord};

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

    /// A result with one record to log.
    pub fn logged(result: Result<Output>, record: LogRecord) -> Outcome {
        Outcome {
            logs: vec![record],
            ..Outcome::plain(result)
        }
    }
}
