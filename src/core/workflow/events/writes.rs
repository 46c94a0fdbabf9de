//! What each event writes: one [`Call`] per event (one transaction), durations computed in SQL
//! from the row itself. Execution state changes are guarded — only a pending or running
//! execution can finish — so two finishing events racing for one execution leave one
//! consistent row and the metrics of the one that won.

use serde_json::{json, Value as Json};

use super::conclude::{FollowUp, Handled};
use super::guarded::{finish, started, Derived, Finish};
use super::kind::EventKind;
use super::parse::{Event, Phase, Stage, Target, Timing};
use crate::core::db::{Call, Dialect, Shape};
use crate::core::error::Result;
use crate::core::input::Input;
use crate::core::repo::metrics;
use crate::core::value::{millis_to_iso, Value};
use crate::core::workflow::writes::{cleanup, metrics_insert, MetricRow};

/// An event's writes (None: nothing to write, e.g. `optimize` maintenance), and what to report
/// once they ended.
#[derive(Debug)]
pub struct EventWork {
    pub call: Option<Call>,
    pub follow_up: FollowUp,
    /// What the log line names (`executionId`, `task …`).
    pub subject: Option<String>,
}

impl EventWork {
    fn new(call: Call, subject: Option<String>) -> EventWork {
        EventWork {
            call: Some(call),
            follow_up: FollowUp::None,
            subject,
        }
    }

    /// What the report of these writes needs.
    pub fn handled(&self, kind: EventKind) -> Handled {
        Handled {
            kind,
            subject: self.subject.clone(),
            follow_up: self.follow_up.clone(),
        }
    }
}

impl Event {
    /// The writes of this event, at `now`.
    pub fn writes(self, d: &Dialect, now: i64) -> Result<EventWork> {
        Ok(match self {
            Event::ExecutionStarted { id } => EventWork::new(started(d, &id, now), Some(id)),
            Event::ExecutionCompleted { target, result } => completed(d, target, result, now),
            Event::ExecutionFailed { id, error, stack } => failed(d, id, error, stack, now),
            Event::ExecutionCancelled {
                id,
                reason,
                cancelled_by,
            } => cancelled(d, id, reason, cancelled_by, now),
            Event::Timing(t) => timing(t, now),
            Event::Metric { metric, id } => EventWork::new(metrics::record(&metric)?, id),
            Event::PerformanceAlert {
                id,
                alert_type,
                threshold,
                actual,
                severity,
                unit,
            } => {
                let alert = json!({
                    "alertType": alert_type,
                    "threshold": threshold,
                    "actualValue": actual,
                    "severity": severity,
                });
                let statement = metrics_insert(
                    vec![(
                        Value::from(id.clone()),
                        MetricRow {
                            name: "performance_alert",
                            value: Value::from(actual),
                            unit: unit.into(),
                            category: "alerts",
                            metadata: alert.clone(),
                        },
                    )],
                    now,
                );
                let mut payload = alert;
                payload["executionId"] = json!(id);
                payload["timestamp"] = json!(millis_to_iso(now));
                EventWork {
                    call: Some(Call::write(vec![statement], Shape::Count(0))),
                    follow_up: FollowUp::Alert(payload),
                    subject: id,
                }
            }
            Event::CleanupRequired { days_old } => EventWork {
                call: Some(cleanup_call(days_old)?),
                follow_up: FollowUp::CleanupCompleted { days_old },
                subject: None,
            },
            Event::MaintenanceRequired { kind, days_old } => {
                let cleanup = kind == "cleanup";
                EventWork {
                    call: if cleanup {
                        Some(cleanup_call(days_old)?)
                    } else {
                        None
                    },
                    follow_up: FollowUp::Maintenance {
                        kind,
                        cleanup: cleanup.then_some(days_old),
                    },
                    subject: None,
                }
            }
        })
    }
}

fn completed(d: &Dialect, target: Target, result: Json, now: i64) -> EventWork {
    let subject = target.subject();
    let finished = Finish {
        status: "completed",
        set: vec![("result_data", Value::Json(result))],
        merge_metadata: None,
        metrics: vec![
            Derived::Duration(
                "execution_duration",
                "execution_time",
                json!({"status": "completed"}),
            ),
            Derived::Fixed(MetricRow {
                name: "execution_completed",
                value: Value::Int(1),
                unit: Value::from("count"),
                category: "execution_status",
                metadata: json!({"status": "completed"}),
            }),
            Derived::Fixed(MetricRow {
                name: "workflow_completion_time",
                value: Value::Int(now),
                unit: Value::from("timestamp"),
                category: "timing",
                metadata: json!({"event": "execution_completed"}),
            }),
            Derived::Duration(
                "workflow_total_duration",
                "duration",
                json!({"event": "execution_completed"}),
            ),
        ],
    };
    EventWork::new(finish(d, target, now, finished), Some(subject))
}

fn failed(d: &Dialect, id: String, error: Json, stack: Json, now: i64) -> EventWork {
    let error_data = json!({
        "error": error,
        "stack": stack,
        "timestamp": millis_to_iso(now),
    });
    let finished = Finish {
        status: "failed",
        set: vec![("error_data", Value::Json(error_data.clone()))],
        merge_metadata: None,
        metrics: vec![
            Derived::Fixed(MetricRow {
                name: "execution_failed",
                value: Value::Int(1),
                unit: Value::from("count"),
                category: "execution_status",
                metadata: json!({"status": "failed", "error": error_data}),
            }),
            Derived::Fixed(MetricRow {
                name: "workflow_failure_time",
                value: Value::Int(now),
                unit: Value::from("timestamp"),
                category: "timing",
                metadata: json!({"event": "execution_failed", "error": error}),
            }),
        ],
    };
    EventWork::new(finish(d, Target::Id(id.clone()), now, finished), Some(id))
}

fn cancelled(d: &Dialect, id: String, reason: Json, cancelled_by: Json, now: i64) -> EventWork {
    let finished = Finish {
        status: "cancelled",
        set: Vec::new(),
        merge_metadata: Some(json!({
            "cancelledBy": cancelled_by,
            "cancellationReason": reason,
        })),
        metrics: vec![Derived::Fixed(MetricRow {
            name: "workflow_cancellation_time",
            value: Value::Int(now),
            unit: Value::from("timestamp"),
            category: "timing",
            metadata: json!({"event": "execution_cancelled", "reason": reason}),
        })],
    };
    EventWork::new(finish(d, Target::Id(id.clone()), now, finished), Some(id))
}

/// A step's or a handler run's moment as a timestamp metric, and a completed one's duration.
fn timing(t: Timing, now: i64) -> EventWork {
    let Timing {
        stage,
        phase,
        id,
        labels,
        error,
        duration,
    } = t;
    let (prefix, timing_category, duration_category) = match stage {
        Stage::Step => ("step", "step_timing", "step_duration"),
        Stage::Handler => ("handler", "handler_timing", "handler_duration"),
    };
    let (name, what) = match (stage, phase) {
        (Stage::Step, Phase::Started) => ("step_started", "started"),
        (Stage::Step, Phase::Completed) => ("step_completed", "completed"),
        (Stage::Step, Phase::Failed) => ("step_failed", "failed"),
        (Stage::Handler, Phase::Started) => ("handler_started", "started"),
        (Stage::Handler, Phase::Completed) => ("handler_completed", "completed"),
        (Stage::Handler, Phase::Failed) => ("handler_failed", "failed"),
    };
    let labelled = || {
        Json::Object(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    let mut metadata = labelled();
    if let Some(error) = error {
        metadata["error"] = error;
    }
    metadata["event"] = json!(format!("{prefix}_{what}"));
    let mut rows = vec![MetricRow {
        name,
        value: Value::Int(now),
        unit: Value::from("timestamp"),
        category: timing_category,
        metadata,
    }];
    if let Some(duration) = duration {
        rows.push(MetricRow {
            name: duration_category,
            value: Value::Float(duration),
            unit: Value::from("milliseconds"),
            category: duration_category,
            metadata: labelled(),
        });
    }
    let execution = Value::from(id.clone());
    let rows = rows.into_iter().map(|r| (execution.clone(), r)).collect();
    EventWork::new(
        Call::write(vec![metrics_insert(rows, now)], Shape::Count(0)),
        id,
    )
}

fn cleanup_call(days: i64) -> Result<Call> {
    cleanup(&Input::Number(days as f64), &Input::Undefined)
}
