//! What is logged about a call, and what its result becomes: the logging policy of the
//! services, stated once.

use serde_json::json;

use super::outcome::{Level, LogRecord, Outcome};
use crate::core::db::Output;
use crate::core::error::{Error, Result};
use crate::core::workflow::events::conclude::Handled;
use crate::core::workflow::writes::cleanup_counts;

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
    fn notice(self) -> Level {
        match self {
            Audience::Own => Level::Debug,
            Audience::Caller => Level::Warn,
        }
    }

    /// A failure the caller also receives as a rejection: `error` for the caller's logger (as
    /// planned), `debug` in the addon's own log.
    fn failure(self) -> Level {
        match self {
            Audience::Own => Level::Debug,
            Audience::Caller => Level::Error,
        }
    }
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
    /// A deletion: as [`Report::Outcome`], and "not found for deletion" when nothing was there.
    Delete,
    /// A cleanup: the counts of executions and metrics removed are logged; the result is the
    /// number of executions.
    Cleanup,
    /// An event's writes (see [`Handled`]): never a rejection, and follow-up events to publish.
    Event(Handled),
    /// Nothing to log; a read-through cache keeps what was read (on the thread that read it).
    Remember(Box<dyn FnOnce(&Output) + Send>),
}

impl Report {
    /// The outcome of `result`, with what this report says about it.
    pub fn conclude(self, source: &str, audience: Audience, result: Result<Output>) -> Outcome {
        let mut logs = Vec::new();
        let result = match self {
            Report::Quiet => result,
            Report::Outcome {
                level,
                done,
                failed,
            } => {
                logs.push(outcome_record(
                    audience, source, level, done, failed, &result,
                ));
                result
            }
            Report::Delete => {
                logs.push(match &result {
                    Ok(Output::Bool(false)) => LogRecord::new(
                        audience.notice(),
                        format!("{source}: Workflow execution not found for deletion"),
                        json!({}),
                    ),
                    other => outcome_record(
                        audience,
                        source,
                        Level::Info,
                        "Workflow execution deleted",
                        "delete workflow execution",
                        other,
                    ),
                });
                result
            }
            Report::Cleanup => {
                let counts = result.map(|o| cleanup_counts(&o));
                logs.push(match &counts {
                    Ok((executions, metrics)) => LogRecord::new(
                        Level::Info,
                        format!("{source}: Old executions cleaned up"),
                        json!({"deletedExecutions": executions, "deletedMetrics": metrics}),
                    ),
                    Err(e) => failure_record(
                        audience,
                        format!("{source}: Failed to cleanup old executions"),
                        e,
                    ),
                });
                counts.map(|(executions, _)| Output::Count(executions))
            }
            Report::Event(handled) => return handled.conclude(result),
            Report::Remember(keep) => {
                if let Ok(out) = &result {
                    keep(out);
                }
                result
            }
        };
        Outcome {
            result,
            logs,
            publish: Vec::new(),
        }
    }
}

fn outcome_record(
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
