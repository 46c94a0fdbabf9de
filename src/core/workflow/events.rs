//! What `WorkflowEventHandlers` writes for each of the 14 planned events: one [`Call`] per event
//! (one transaction), durations computed in SQL from the row itself, and the follow-up event to
//! publish once it committed. Execution state changes are guarded — only a pending or running
//! execution can finish — so two finishing events racing for one execution leave one
//! consistent row and the metrics of the one that won.

use serde_json::{json, Value as J};

use super::writes::{self as workflow, metrics_insert, MetricRow};
use crate::core::db::{Call, Dialect, Shape, Touch};
use crate::core::error::{Error, Result};
use crate::core::input::{Fields, Input};
use crate::core::repo::executions::touch_execution;
use crate::core::repo::metrics;
use crate::core::value::{millis_to_iso, now_millis, Value};

/// The planned event names, in the planned order.
pub const EVENTS: [&str; 14] = [
    "workflow.execution.started",
    "workflow.execution.completed",
    "workflow.execution.failed",
    "workflow.execution.cancelled",
    "workflow.step.started",
    "workflow.step.completed",
    "workflow.step.failed",
    "handler.execution.started",
    "handler.execution.completed",
    "handler.execution.failed",
    "workflow.performance.metric",
    "workflow.performance.alert",
    "workflow.cleanup.required",
    "workflow.maintenance.required",
];

/// The colon-style names PIDEA's handlers emit, and the planned event each stands for.
pub const ALIASES: [(&str, &str); 3] = [
    ("handler:execution:started", "handler.execution.started"),
    ("handler:execution:completed", "handler.execution.completed"),
    ("handler:execution:failed", "handler.execution.failed"),
];

/// What to publish after an event's writes committed.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUp {
    None,
    /// `workflow.alert.performance` with this payload.
    Alert(J),
    /// `workflow.cleanup.completed` with `{deletedCount, metricsDeletedCount, daysOld, timestamp}`
    /// (the counts come from the call's result).
    CleanupCompleted {
        days_old: i64,
    },
    /// `workflow.maintenance.completed` with `{maintenanceType, timestamp}`, after a
    /// cleanup when `cleanup` is set.
    Maintenance {
        kind: String,
        cleanup: Option<i64>,
    },
}

/// The work of one event.
#[derive(Debug)]
pub struct EventWork {
    /// The writes (None: nothing to write, e.g. `optimize` maintenance).
    pub call: Option<Call>,
    pub follow_up: FollowUp,
    /// What the log line names (`executionId`, `handlerType`, …).
    pub subject: Option<String>,
}

/// The planned event an event name stands for (colon aliases included).
pub fn canonical(event_type: &str) -> Option<&'static str> {
    EVENTS
        .iter()
        .copied()
        .find(|e| *e == event_type)
        .or_else(|| {
            ALIASES
                .iter()
                .find(|(alias, _)| *alias == event_type)
                .map(|(_, e)| *e)
        })
}

/// The writes of `event_type` for `event`.
pub fn plan(d: &Dialect, event_type: &str, event: &Input) -> Result<EventWork> {
    let event_type = canonical(event_type)
        .ok_or_else(|| Error::validation(format!("unknown event type '{event_type}'")))?;
    let f = Fields::of_optional(event, "event")?;
    let now = now_millis();
    let id = || f.text("executionId", 255);
    let work = |call: Call, subject: Option<String>| EventWork {
        call: Some(call),
        follow_up: FollowUp::None,
        subject,
    };
    let meta = |pairs: &[(&str, J)]| -> J {
        J::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    let text = |key: &str| -> Result<J> { Ok(f.json(key)?.unwrap_or(J::Null)) };
    let ts = Value::Int(now);
    Ok(match event_type {
        "workflow.execution.started" => {
            let id = required_id(&f)?;
            work(started(d, &id, now), Some(id))
        }
        "workflow.execution.completed" => {
            let target = match id()? {
                Some(id) => Target::Id(id),
                None => Target::LatestRunningOfTask(f.text("taskId", 255)?.ok_or_else(|| {
                    Error::validation("event.executionId (or event.taskId) is required")
                })?),
            };
            let result = Value::Json(f.json("result")?.unwrap_or(J::Null));
            let subject = target.subject();
            work(
                finish(
                    d,
                    target,
                    now,
                    Finish {
                        status: "completed",
                        set: vec![("result_data", result)],
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
                                value: ts,
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
                    },
                ),
                Some(subject),
            )
        }
        "workflow.execution.failed" => {
            let id = required_id(&f)?;
            let error = text("error")?;
            let error_data = json!({
                "error": error,
                "stack": text("stack")?,
                "timestamp": millis_to_iso(now),
            });
            work(
                finish(
                    d,
                    Target::Id(id.clone()),
                    now,
                    Finish {
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
                                value: ts,
                                unit: Value::from("timestamp"),
                                category: "timing",
                                metadata: json!({"event": "execution_failed", "error": error}),
                            }),
                        ],
                    },
                ),
                Some(id),
            )
        }
        "workflow.execution.cancelled" => {
            let id = required_id(&f)?;
            let reason = text("reason")?;
            work(
                finish(
                    d,
                    Target::Id(id.clone()),
                    now,
                    Finish {
                        status: "cancelled",
                        set: Vec::new(),
                        merge_metadata: Some(json!({
                            "cancelledBy": text("cancelledBy")?,
                            "cancellationReason": reason,
                        })),
                        metrics: vec![Derived::Fixed(MetricRow {
                            name: "workflow_cancellation_time",
                            value: ts,
                            unit: Value::from("timestamp"),
                            category: "timing",
                            metadata: json!({"event": "execution_cancelled", "reason": reason}),
                        })],
                    },
                ),
                Some(id),
            )
        }
        "workflow.step.started" | "workflow.step.completed" | "workflow.step.failed" => {
            let id = id()?;
            let (step_id, step_name) = (text("stepId")?, text("stepName")?);
            let what = event_type.rsplit('.').next().unwrap_or_default();
            let mut m = meta(&[("stepId", step_id.clone()), ("stepName", step_name.clone())]);
            if what == "failed" {
                m["error"] = text("error")?;
            }
            m["event"] = json!(format!("step_{what}"));
            let mut rows = vec![MetricRow {
                name: step_metric(what),
                value: ts,
                unit: Value::from("timestamp"),
                category: "step_timing",
                metadata: m,
            }];
            if what == "completed" {
                if let Some(duration) = f.number("duration")?.filter(|d| *d != 0.0) {
                    rows.push(MetricRow {
                        name: "step_duration",
                        value: Value::Float(duration),
                        unit: Value::from("milliseconds"),
                        category: "step_duration",
                        metadata: meta(&[("stepId", step_id), ("stepName", step_name)]),
                    });
                }
            }
            work(metric_call(id.clone(), rows, now), id)
        }
        "handler.execution.started"
        | "handler.execution.completed"
        | "handler.execution.failed" => {
            let id = id()?;
            let handler_type = text("handlerType")?;
            let what = event_type.rsplit('.').next().unwrap_or_default();
            let mut m = meta(&[("handlerType", handler_type.clone())]);
            if what == "failed" {
                m["error"] = error_text(f.get("error"));
            }
            m["event"] = json!(format!("handler_{what}"));
            let mut rows = vec![MetricRow {
                name: handler_metric(what),
                value: ts,
                unit: Value::from("timestamp"),
                category: "handler_timing",
                metadata: m,
            }];
            if what == "completed" {
                if let Some(duration) = f.number("duration")?.filter(|d| *d != 0.0) {
                    rows.push(MetricRow {
                        name: "handler_duration",
                        value: Value::Float(duration),
                        unit: Value::from("milliseconds"),
                        category: "handler_duration",
                        metadata: meta(&[("handlerType", handler_type)]),
                    });
                }
            }
            work(metric_call(id.clone(), rows, now), id)
        }
        "workflow.performance.metric" => {
            let metric = Input::Object(
                [
                    "executionId",
                    "metricName",
                    "metricValue",
                    "metricUnit",
                    "metricType",
                    "metricCategory",
                    "metadata",
                ]
                .iter()
                .map(|k| (k.to_string(), f.get(k).clone()))
                .collect(),
            );
            work(metrics::record(&metric)?, id()?)
        }
        "workflow.performance.alert" => {
            let id = id()?;
            let actual = f.number("actualValue")?;
            let alert = json!({
                "alertType": text("alertType")?,
                "threshold": text("threshold")?,
                "actualValue": actual,
                "severity": text("severity")?,
            });
            let statement = metrics_insert(
                vec![(
                    Value::from(id.clone()),
                    MetricRow {
                        name: "performance_alert",
                        value: Value::from(actual),
                        unit: f.text("metricUnit", 50)?.into(),
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
        "workflow.cleanup.required" => {
            let days = days_or_30(&f)?;
            EventWork {
                call: Some(cleanup_call(days)?),
                follow_up: FollowUp::CleanupCompleted { days_old: days },
                subject: None,
            }
        }
        "workflow.maintenance.required" => {
            let kind = f.text("maintenanceType", 100)?.unwrap_or_default();
            let days = days_or_30(&f)?;
            let cleanup = kind == "cleanup";
            EventWork {
                call: if cleanup {
                    Some(cleanup_call(days)?)
                } else {
                    None
                },
                follow_up: FollowUp::Maintenance {
                    kind,
                    cleanup: cleanup.then_some(days),
                },
                subject: None,
            }
        }
        _ => unreachable!("every canonical event has a plan"),
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

fn cleanup_call(days: i64) -> Result<Call> {
    workflow::cleanup(&Input::Number(days as f64), &Input::Undefined)
}

/// An error as the planned handlers logged it: its message when it is an Error-like object.
fn error_text(error: &Input) -> J {
    match error {
        Input::Object(_) => match Fields::of(error, "error").map(|f| f.get("message").clone()) {
            Ok(Input::Text(m)) => J::String(m),
            _ => error.to_json("error").unwrap_or(J::Null),
        },
        other => other.to_json("error").unwrap_or(J::Null),
    }
}

fn step_metric(what: &str) -> &'static str {
    match what {
        "started" => "step_started",
        "completed" => "step_completed",
        _ => "step_failed",
    }
}

fn handler_metric(what: &str) -> &'static str {
    match what {
        "started" => "handler_started",
        "completed" => "handler_completed",
        _ => "handler_failed",
    }
}

fn metric_call(id: Option<String>, rows: Vec<MetricRow>, now: i64) -> Call {
    let id = Value::from(id);
    let rows = rows.into_iter().map(|r| (id.clone(), r)).collect();
    Call::write(vec![metrics_insert(rows, now)], Shape::Count(0))
}

/// `workflow.execution.started`: a pending execution becomes running from now, with its
/// `workflow_start_time` metric.
fn started(d: &Dialect, id: &str, now: i64) -> Call {
    let id = Value::from(id);
    let touch = touch_execution(&id);
    let metric = MetricRow {
        name: "workflow_start_time",
        value: Value::Int(now),
        unit: Value::from("timestamp"),
        category: "timing",
        metadata: json!({"event": "execution_started"}),
    };
    let update =
        "UPDATE workflow_executions SET status = 'running', start_time = $1, updated_at = $1 \
                  WHERE execution_id = $2 AND status = 'pending'";
    if d.is_postgres() {
        // One statement: the metric is inserted only if the update happened.
        let mut params = vec![Value::Timestamp(now), id];
        let selects = metric_selects(vec![Derived::Fixed(metric)], &mut params, "u", "");
        let statement = crate::core::db::Statement::new(
            // RETURNING: the statement's row count is how the handler knows the update happened.
            format!(
                "WITH u AS ({update} RETURNING execution_id) {METRICS_INSERT} {selects} RETURNING execution_id"
            ),
            params,
        );
        return Call::write(vec![statement], Shape::Touched(0)).touching(touch);
    }
    let update = crate::core::db::Statement::new(update, vec![Value::Timestamp(now), id.clone()]);
    let metric = metric.statement(id, now).only_if(0);
    Call::write(vec![update, metric], Shape::Touched(0)).touching(touch)
}

/// Which execution a finishing event is about.
enum Target {
    Id(String),
    /// PIDEA's orchestration sends `{taskId, result}`: that task's latest running execution.
    LatestRunningOfTask(String),
}

impl Target {
    fn subject(&self) -> String {
        match self {
            Target::Id(id) => id.clone(),
            Target::LatestRunningOfTask(task) => format!("task {task}"),
        }
    }
}

/// A metric written after a finishing update.
enum Derived {
    /// `(name, category, metadata)`: the row's computed `actual_duration`, in milliseconds.
    Duration(&'static str, &'static str, J),
    Fixed(MetricRow),
}

struct Finish {
    status: &'static str,
    set: Vec<(&'static str, Value)>,
    merge_metadata: Option<J>,
    metrics: Vec<Derived>,
}

const METRICS_INSERT: &str =
    "INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, \
    metric_unit, metric_type, metric_category, metadata, recorded_at)";

/// `SELECT … FROM {from} … UNION ALL …`: one metric row per derived metric, read from the
/// finished row (`$1` is the event's time); their values are bound into `params`. A duration
/// metric is left out when the row has no duration (`{and}` joins that condition on).
fn metric_selects(metrics: Vec<Derived>, params: &mut Vec<Value>, from: &str, and: &str) -> String {
    let mut selects = Vec::new();
    for m in metrics {
        let (name, value, unit, category, metadata, extra) = match m {
            Derived::Duration(name, category, metadata) => (
                name,
                "actual_duration".to_string(),
                Value::from("milliseconds"),
                category,
                metadata,
                format!("{and}actual_duration IS NOT NULL"),
            ),
            Derived::Fixed(row) => {
                params.push(row.value);
                (
                    row.name,
                    format!("${}", params.len()),
                    row.unit,
                    row.category,
                    row.metadata,
                    String::new(),
                )
            }
        };
        params.push(Value::from(name));
        let n_name = params.len();
        params.push(unit);
        let n_unit = params.len();
        params.push(Value::from(category));
        let n_category = params.len();
        params.push(Value::Json(metadata));
        let n_meta = params.len();
        selects.push(format!(
            "SELECT execution_id, ${n_name}, CAST({value} AS DOUBLE PRECISION), ${n_unit}, 'performance', \
             ${n_category}, ${n_meta}, $1 FROM {from}{extra}"
        ));
    }
    selects.join(" UNION ALL ")
}

/// The guarded update of a finishing event and its metrics, one transaction: the execution
/// must be pending or running; `end_time` is now and `actual_duration` is computed in SQL from
/// `start_time`. The metrics are written only when the update happened, and read the duration
/// back from the row.
fn finish(d: &Dialect, target: Target, now: i64, f: Finish) -> Call {
    let mut params = vec![Value::Timestamp(now)];
    let mut sets = vec![
        format!("status = '{}'", f.status),
        "end_time = $1".to_string(),
        "updated_at = $1".to_string(),
        format!("actual_duration = {}", d.millis_between("start_time", "$1")),
    ];
    for (column, value) in f.set {
        params.push(value);
        sets.push(format!("{column} = ${}", params.len()));
    }
    if let Some(patch) = f.merge_metadata {
        params.push(Value::Json(patch));
        sets.push(format!(
            "metadata = {}",
            d.json_merge("metadata", &format!("${}", params.len()))
        ));
    }
    let (which, touch) = match &target {
        Target::Id(id) => {
            params.push(Value::from(id.as_str()));
            (
                format!("execution_id = ${}", params.len()),
                touch_execution(&Value::from(id.as_str())),
            )
        }
        Target::LatestRunningOfTask(task) => {
            params.push(Value::from(task.as_str()));
            (
                format!(
                    "execution_id = (SELECT execution_id FROM workflow_executions WHERE task_id = ${} \
                     AND status = 'running' ORDER BY start_time DESC, created_at DESC LIMIT 1)",
                    params.len()
                ),
                Touch::Executions,
            )
        }
    };
    let update_sql = format!(
        "UPDATE workflow_executions SET {} WHERE {which} AND status IN ('pending', 'running') \
         RETURNING {}",
        sets.join(", "),
        crate::core::repo::executions::COLUMNS
    );
    if d.is_postgres() {
        // One statement: the metrics are inserted from the updated row itself (none when no row
        // was updated), and the row is what the statement returns.
        let selects = metric_selects(f.metrics, &mut params, "u", " WHERE ");
        let statement = crate::core::db::Statement::new(
            format!(
                "WITH u AS ({update_sql}), m AS ({METRICS_INSERT} {selects}) SELECT {} FROM u",
                crate::core::repo::executions::COLUMNS
            ),
            params,
        );
        return Call::write(vec![statement], Shape::RowOrNullAt(0)).touching(touch);
    }
    let update = crate::core::db::Statement::new(update_sql, params);
    // The follow-up metrics select from the row just finished: by id, or (task form) by the
    // task, the new status and this event's end time.
    let (row_filter, mut mparams) = match target {
        Target::Id(id) => ("execution_id = $2".to_string(), vec![Value::from(id)]),
        Target::LatestRunningOfTask(task) => (
            format!("task_id = $2 AND status = '{}' AND end_time = $1", f.status),
            vec![Value::from(task)],
        ),
    };
    mparams.insert(0, Value::Timestamp(now));
    let selects = metric_selects(
        f.metrics,
        &mut mparams,
        &format!("workflow_executions WHERE {row_filter}"),
        " AND ",
    );
    let metrics =
        crate::core::db::Statement::new(format!("{METRICS_INSERT} {selects}"), mparams).only_if(0);
    Call::write(vec![update, metrics], Shape::RowOrNullAt(0)).touching(touch)
}
