//! An event's payload, read once at the boundary into the fields its writes need.

use serde_json::Value as Json;

use super::kind::EventKind;
use crate::core::error::{Error, Result};
use crate::core::input::{Fields, Input};
use crate::core::repo::metrics::metric_value;

/// Where an execution event's timing came from: a step of the workflow, or a handler run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Step,
    Handler,
}

/// Which moment of a step or handler run an event marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Started,
    Completed,
    Failed,
}

/// Which execution a finishing event is about.
#[derive(Debug)]
pub enum Target {
    Id(String),
    /// PIDEA's orchestration sends `{taskId, result}`: that task's latest running execution.
    LatestRunningOfTask(String),
}

impl Target {
    /// What the log line names.
    pub fn subject(&self) -> String {
        match self {
            Target::Id(id) => id.clone(),
            Target::LatestRunningOfTask(task) => format!("task {task}"),
        }
    }
}

/// A step's or a handler run's moment.
#[derive(Debug)]
pub struct Timing {
    pub stage: Stage,
    pub phase: Phase,
    pub id: Option<String>,
    /// `stepId` and `stepName`, or `handlerType`.
    pub labels: Vec<(&'static str, Json)>,
    /// The failure's message (failed events only).
    pub error: Option<Json>,
    /// A non-zero `duration` (completed events only).
    pub duration: Option<f64>,
}

/// An event, with the fields of its payload that matter (JSON where they are only stored).
#[derive(Debug)]
pub enum Event {
    ExecutionStarted {
        id: String,
    },
    ExecutionCompleted {
        target: Target,
        result: Json,
    },
    ExecutionFailed {
        id: String,
        error: Json,
        stack: Json,
    },
    ExecutionCancelled {
        id: String,
        reason: Json,
        cancelled_by: Json,
    },
    /// `workflow.step.*` and `handler.execution.*`.
    Timing(Timing),
    /// `workflow.performance.metric`: a metric as `recordMetric` takes it.
    Metric {
        metric: Input,
        id: Option<String>,
    },
    PerformanceAlert {
        id: Option<String>,
        alert_type: Json,
        threshold: Json,
        actual: Option<f64>,
        severity: Json,
        unit: Option<String>,
    },
    CleanupRequired {
        days_old: i64,
    },
    MaintenanceRequired {
        kind: String,
        days_old: i64,
    },
}

/// The metric fields a `workflow.performance.metric` event carries.
const METRIC_FIELDS: [&str; 7] = [
    "executionId",
    "metricName",
    "metricValue",
    "metricUnit",
    "metricType",
    "metricCategory",
    "metadata",
];

impl Event {
    /// Reads `event` as an event of `kind`; a missing or mistyped field is `ERR_VALIDATION`.
    pub fn parse(kind: EventKind, event: &Input) -> Result<Event> {
        let f = Fields::of_optional(event, "event")?;
        let id = || f.text("executionId", 255);
        let json = |key: &str| -> Result<Json> { Ok(f.json(key)?.unwrap_or(Json::Null)) };
        use EventKind as K;
        Ok(match kind {
            K::ExecutionStarted => Event::ExecutionStarted {
                id: required_id(&f)?,
            },
            K::ExecutionCompleted => {
                Event::ExecutionCompleted {
                    target: match id()? {
                        Some(id) => Target::Id(id),
                        None => Target::LatestRunningOfTask(f.text("taskId", 255)?.ok_or_else(
                            || Error::validation("event.executionId (or event.taskId) is required"),
                        )?),
                    },
                    result: json("result")?,
                }
            }
            K::ExecutionFailed => Event::ExecutionFailed {
                id: required_id(&f)?,
                error: json("error")?,
                stack: json("stack")?,
            },
            K::ExecutionCancelled => Event::ExecutionCancelled {
                id: required_id(&f)?,
                reason: json("reason")?,
                cancelled_by: json("cancelledBy")?,
            },
            K::StepStarted | K::StepCompleted | K::StepFailed => {
                let id = id()?;
                let labels = vec![("stepId", json("stepId")?), ("stepName", json("stepName")?)];
                let phase = phase(kind);
                Event::Timing(Timing {
                    stage: Stage::Step,
                    phase,
                    id,
                    labels,
                    error: match phase {
                        Phase::Failed => Some(json("error")?),
                        _ => None,
                    },
                    duration: duration(&f, phase)?,
                })
            }
            K::HandlerStarted | K::HandlerCompleted | K::HandlerFailed => {
                let id = id()?;
                let labels = vec![("handlerType", json("handlerType")?)];
                let phase = phase(kind);
                Event::Timing(Timing {
                    stage: Stage::Handler,
                    phase,
                    id,
                    labels,
                    error: match phase {
                        Phase::Failed => Some(error_text(f.get("error"))),
                        _ => None,
                    },
                    duration: duration(&f, phase)?,
                })
            }
            K::PerformanceMetric => Event::Metric {
                metric: Input::Object(
                    METRIC_FIELDS
                        .iter()
                        .map(|k| (k.to_string(), f.get(k).clone()))
                        .collect(),
                ),
                id: id()?,
            },
            K::PerformanceAlert => Event::PerformanceAlert {
                id: id()?,
                actual: metric_value(&f, "actualValue")?,
                alert_type: json("alertType")?,
                threshold: json("threshold")?,
                severity: json("severity")?,
                unit: f.text("metricUnit", 50)?,
            },
            K::CleanupRequired => Event::CleanupRequired {
                days_old: days_or_30(&f)?,
            },
            K::MaintenanceRequired => Event::MaintenanceRequired {
                kind: f.text("maintenanceType", 100)?.unwrap_or_default(),
                days_old: days_or_30(&f)?,
            },
        })
    }
}

fn phase(kind: EventKind) -> Phase {
    match kind {
        EventKind::StepStarted | EventKind::HandlerStarted => Phase::Started,
        EventKind::StepCompleted | EventKind::HandlerCompleted => Phase::Completed,
        _ => Phase::Failed,
    }
}

/// A completed event's non-zero `duration`.
fn duration(f: &Fields<'_>, phase: Phase) -> Result<Option<f64>> {
    Ok(match phase {
        Phase::Completed => metric_value(f, "duration")?.filter(|d| *d != 0.0),
        _ => None,
    })
}

fn required_id(f: &Fields<'_>) -> Result<String> {
    f.text("executionId", 255)?
        .ok_or_else(|| Error::validation("event.executionId is required"))
}

/// `daysOld`, where 0 or absent means 30 (as planned).
fn days_or_30(f: &Fields<'_>) -> Result<i64> {
    let days = f.integer("daysOld", 0, 1_000_000)?.unwrap_or(0);
    Ok(if days == 0 { 30 } else { days })
}

/// An error as the planned handlers logged it: its message when it is an Error-like object.
fn error_text(error: &Input) -> Json {
    match error {
        Input::Object(_) => match Fields::of(error, "error").map(|f| f.get("message").clone()) {
            Ok(Input::Text(m)) => Json::String(m),
            _ => error.to_json("error").unwrap_or(Json::Null),
        },
        other => other.to_json("error").unwrap_or(Json::Null),
    }
}
