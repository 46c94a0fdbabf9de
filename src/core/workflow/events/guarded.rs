//! The guarded state changes of an execution: only a pending execution can start, only a
//! pending or running one can finish. Each is one transaction with its metrics, which read the
//! duration back from the row itself and are written only when the update happened.

use serde_json::{json, Value as Json};

use super::parse::Target;
use crate::core::db::{Call, Dialect, Shape, Statement, Touch};
use crate::core::repo::executions::{touch_execution, COLUMNS};
use crate::core::value::Value;
use crate::core::workflow::writes::MetricRow;

/// `workflow.execution.started`: a pending execution becomes running from now, with its
/// `workflow_start_time` metric.
pub(super) fn started(d: &Dialect, id: &str, now: i64) -> Call {
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
        let statement = Statement::new(
            // RETURNING: the statement's row count is how the handler knows the update happened.
            format!(
                "WITH u AS ({update} RETURNING execution_id) {METRICS_INSERT} {selects} RETURNING execution_id"
            ),
            params,
        );
        return Call::write(vec![statement], Shape::Touched(0)).touching(touch);
    }
    let update = Statement::new(update, vec![Value::Timestamp(now), id.clone()]);
    let metric = metric.statement(id, now).only_if(0);
    Call::write(vec![update, metric], Shape::Touched(0)).touching(touch)
}

/// A metric written after a finishing update.
pub(super) enum Derived {
    /// `(name, category, metadata)`: the row's computed `actual_duration`, in milliseconds.
    Duration(&'static str, &'static str, Json),
    Fixed(MetricRow),
}

pub(super) struct Finish {
    pub(super) status: &'static str,
    pub(super) set: Vec<(&'static str, Value)>,
    pub(super) merge_metadata: Option<Json>,
    pub(super) metrics: Vec<Derived>,
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
pub(super) fn finish(d: &Dialect, target: Target, now: i64, f: Finish) -> Call {
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
        COLUMNS
    );
    if d.is_postgres() {
        // One statement: the metrics are inserted from the updated row itself (none when no row
        // was updated), and the row is what the statement returns.
        let selects = metric_selects(f.metrics, &mut params, "u", " WHERE ");
        let statement = Statement::new(
            format!(
                "WITH u AS ({update_sql}), m AS ({METRICS_INSERT} {selects}) SELECT {} FROM u",
                COLUMNS
            ),
            params,
        );
        return Call::write(vec![statement], Shape::RowOrNullAt(0)).touching(touch);
    }
    let update = Statement::new(update_sql, params);
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
    let metrics = Statement::new(format!("{METRICS_INSERT} {selects}"), mparams).only_if(0);
    Call::write(vec![update, metrics], Shape::RowOrNullAt(0)).touching(touch)
}
