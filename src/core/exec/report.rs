//! What is logged about a call, and what its result becomes: the logging policy of the
//! services, stated once.

use serde_json::json;

use super::outcome::{Level, LogRecord, Outcome};
use crate::core::db::Output;
use crate::core::error::{Error, Result};

/// Whose logger the records go to. The planned levels are for a logger the caller gave; in
/// the addon's own log, "not found" and a failure the caller also gets as a rejection are
/// debug lines (stderr stays for what nobody else reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The addon's own log (`tracing`).
    Own,
    /// A logger the caller gave.
    Caller,
}

impl Audience {
    /// "Not found": `warn` for the caller's logger (as planned), `debug` in the addon's log.
    pub fn notice(self) -> Level {
        match self {
            Audience::Own => Level::Debug,
            Audience::Caller => Level::Warn,
        }
    }

    /// A failure the caller also receives as a rejection: `error` for the caller's logger (as
    /// planned), `debug` in the addon's own log.
    pub fn failure(self) -> Level {
        match self {
            Audience::Own => Level::Debug,
            Audience::Caller => Level::Error,
        }
    }
}

/// How a layer above the executor concludes a call of its own kind: the outcome of `result`,
/// with what is to be logged and published about it.
pub trait Conclude: Send {
    fn conclude(
        self: Box<Self>,
        source: &str,
        audience: Audience,
        result: Result<Output>,
    ) -> Outcome;
}

/// What to log about a call once it ended.
pub enum Report {
    /// Nothing (the repositories log nothing).
    Quiet,
    /// `{source}: {done}` at `level` (`…: not found` at the notice level for a null result of an
    /// `Info` operation), or `{source}: Failed to {failed}` with the error.
    Outcome {
        level: Level,
        done: &'static str,
        failed: &'static str,
    },
    /// What the layer above says about the call (a deletion, a cleanup, an event's writes): the
    /// executor runs the call and hands the result to it.
    By(Box<dyn Conclude>),
    /// Nothing to log; a read-through cache keeps what was read (on the thread that read it).
    Remember(Box<dyn FnOnce(&Output) + Send>),
}

impl Report {
    /// The outcome of `result`, with what this report says about it.
    pub fn conclude(self, source: &str, audience: Audience, result: Result<Output>) -> Outcome {
        match self {
            Report::Quiet => Outcome::plain(result),
            Report::Outcome {
                level,
                done,
                failed,
            } => {
                let record = outcome_record(audience, source, level, done, failed, &result);
                Outcome::logged(result, record)
            }
            Report::By(conclude) => conclude.conclude(source, audience, result),
            Report::Remember(keep) => {
                if let Ok(out) = &result {
                    keep(out);
                }
                Outcome::plain(result)
            }
        }
    }
}

/// `{source}: {done}` at `level` (`…: not found` at the notice level for a null result of an
/// `Info` operation), or `{source}: Failed to {failed}` with the error.
pub fn outcome_record(
    audience: Audience,
    source: &str,
    level: Level,
    done: &str,
    failed: &str,
    result: &Result<Output>,
) -> LogRecord {
    match result {
        Ok(Output::Null) if level == Level::Info => LogRecord::new(
            audience.notice(),
            format!("{source}: {done}: not found"),
            json!({}),
        ),
        Ok(_) => LogRecord::new(level, format!("{source}: {done}"), json!({})),
        Err(e) => failure_record(audience, format!("{source}: Failed to {failed}"), e),
    }
}

/// A failure, with its message and code.
pub fn failure_record(audience: Audience, message: String, e: &Error) -> LogRecord {
    LogRecord::new(
        audience.failure(),
        message,
        json!({"error": e.message, "code": e.code.as_str()}),
    )
}
