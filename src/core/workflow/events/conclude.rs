//! After an event's writes: what is logged, and the follow-up events to publish. A handler
//! never rejects: a failure is logged.

use serde_json::{json, Value as Json};

use super::kind::EventKind;
use crate::core::db::Output;
use crate::core::error::Result;
use crate::core::exec::outcome::{Level, LogRecord, Outcome, Publish};
use crate::core::exec::report::{Audience, Conclude};
use crate::core::input::Input;
use crate::core::value::{millis_to_iso, now_millis};
use crate::core::workflow::writes::cleanup_counts;

/// What to publish after an event's writes committed.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUp {
    None,
    /// `workflow.alert.performance` with this payload.
    Alert(Json),
    /// `workflow.cleanup.completed` with `{deletedCount, metricsDeletedCount, daysOld, timestamp}`
    /// (the counts come from the call's result).
    CleanupCompleted {
        days_old: i64,
    },
    /// `workflow.maintenance.completed` with `{maintenanceType, timestamp}`, after a cleanup
    /// when `cleanup` is set.
    Maintenance {
        kind: String,
        cleanup: Option<i64>,
    },
}

/// An event whose writes ran (or were refused): what its report needs.
#[derive(Debug)]
pub struct Handled {
    pub kind: EventKind,
    /// What the log line names (`executionId`, `task …`).
    pub subject: Option<String>,
    pub follow_up: FollowUp,
}

const SOURCE: &str = "WorkflowEventHandlers";

/// The executor hands an event's result to it (see [`Handled::conclude`]).
impl Conclude for Handled {
    fn conclude(self: Box<Self>, _: &str, _: Audience, result: Result<Output>) -> Outcome {
        Handled::conclude(*self, result)
    }
}

impl Handled {
    /// Refused before anything ran (the payload did not validate).
    pub fn refused(kind: EventKind) -> Handled {
        Handled {
            kind,
            subject: None,
            follow_up: FollowUp::None,
        }
    }

    /// The log records and follow-up events of `result`; the handler resolves with nothing.
    pub fn conclude(self, result: Result<Output>) -> Outcome {
        let name = self.kind.name();
        let mut outcome = Outcome::plain(Ok(Output::Null));
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                outcome.logs.push(LogRecord::new(
                    Level::Error,
                    format!("{SOURCE}: Failed to handle {name}"),
                    json!({"error": e.message, "code": e.code.as_str()}),
                ));
                return outcome;
            }
        };
        let logs = &mut outcome.logs;
        if matches!(out, Output::Null | Output::Bool(false)) && self.kind.is_execution_change() {
            logs.push(LogRecord::new(
                Level::Warn,
                format!("{SOURCE}: execution not found, or already finished"),
                json!({"eventType": name, "executionId": self.subject}),
            ));
        } else {
            logs.push(LogRecord::new(
                Level::Debug,
                format!("{SOURCE}: handled {name}"),
                json!({"executionId": self.subject}),
            ));
        }
        let publish = &mut outcome.publish;
        match self.follow_up {
            FollowUp::None => {}
            FollowUp::Alert(payload) => {
                logs.push(LogRecord::new(
                    Level::Warn,
                    format!("{SOURCE}: Performance alert"),
                    payload.clone(),
                ));
                publish.push(Publish {
                    event: "workflow.alert.performance",
                    payload,
                });
            }
            FollowUp::CleanupCompleted { days_old } => {
                cleaned(&out, days_old, logs, publish);
            }
            FollowUp::Maintenance { kind, cleanup } => {
                match (kind.as_str(), cleanup) {
                    (_, Some(days)) => cleaned(&out, days, logs, publish),
                    ("optimize", None) => logs.push(LogRecord::new(
                        Level::Info,
                        format!("{SOURCE}: optimize maintenance requested"),
                        json!({}),
                    )),
                    _ => logs.push(LogRecord::new(
                        Level::Warn,
                        format!("{SOURCE}: Unknown maintenance type"),
                        json!({"maintenanceType": kind}),
                    )),
                }
                publish.push(Publish {
                    event: "workflow.maintenance.completed",
                    payload: json!({"maintenanceType": kind, "timestamp": timestamp()}),
                });
            }
        }
        outcome
    }
}

/// A cleanup's counts, logged and published as `workflow.cleanup.completed`.
fn cleaned(out: &Output, days: i64, logs: &mut Vec<LogRecord>, publish: &mut Vec<Publish>) {
    let (executions, metrics) = cleanup_counts(out);
    logs.push(LogRecord::new(
        Level::Info,
        format!("{SOURCE}: cleanup finished"),
        json!({"deletedExecutions": executions, "deletedMetrics": metrics, "daysOld": days}),
    ));
    publish.push(Publish {
        event: "workflow.cleanup.completed",
        payload: json!({
            "deletedCount": executions,
            "metricsDeletedCount": metrics,
            "daysOld": days,
            "timestamp": timestamp(),
        }),
    });
}

fn timestamp() -> String {
    millis_to_iso(now_millis())
}

/// The record of an event type that is not one of ours (`handle(eventType, event)`).
pub fn unknown_type(event_type: &Input) -> LogRecord {
    let shown = match event_type {
        Input::Text(t) => json!(t),
        other => json!(format!("(not a string: {})", other.type_name())),
    };
    LogRecord::new(
        Level::Warn,
        format!("{SOURCE}: Unknown event type"),
        json!({"eventType": shown}),
    )
}
