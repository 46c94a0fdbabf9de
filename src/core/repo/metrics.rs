//! `WorkflowMetricsRepository`: the `workflow_metrics` table.

use crate::core::db::{Bulk, BulkType, Merge, Statement};
use crate::core::db::{Call, Op, Shape};
use crate::core::error::{Error, Result};
use crate::core::input::{self, Fields, Input};
use crate::core::page::Page;
use crate::core::value::{now_millis, Value};

pub const COLUMNS: &str =
    "id, execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, metadata, recorded_at";

/// One metric row, id included (so rows merged into one INSERT by PostgreSQL's group commit
/// are told apart by it).
static INSERT_ROW: Merge = Merge {
    head: "INSERT INTO workflow_metrics (id, execution_id, metric_name, metric_value, metric_unit, metric_type, \
           metric_category, metadata, recorded_at)",
    tuple: "($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    tail: " RETURNING id, execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, \
           metadata, recorded_at",
    width: 9,
    key: Some("id"),
    key_param: 0,
};

static INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} VALUES {}{}",
        INSERT_ROW.head, INSERT_ROW.tuple, INSERT_ROW.tail
    )
});

/// The INSERT of one metric (`metricType` defaults to `'performance'`, `metadata` to `{}`).
/// The planned in-memory helper `calculateStandardDeviation(values)`: the population standard
/// deviation of finite numbers, 0 for none (statistics elsewhere use the sample deviation).
pub fn population_std_dev(values: &Input) -> Result<f64> {
    let Input::Array(items) = values else {
        return Err(Error::validation("values must be an array of numbers"));
    };
    let numbers = items
        .iter()
        .map(|v| match v {
            Input::Number(n) if n.is_finite() => Ok(*n),
            _ => Err(Error::validation(
                "values must be an array of finite numbers",
            )),
        })
        .collect::<Result<Vec<f64>>>()?;
    if numbers.is_empty() {
        return Ok(0.0);
    }
    let n = numbers.len() as f64;
    let mean = numbers.iter().sum::<f64>() / n;
    Ok((numbers.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt())
}

/// The largest metric value in magnitude: the statistics sum squares of values, and PostgreSQL
/// refuses (22003) a sum that overflows a double, for every later query. At 1e150 the squares of
/// a hundred million values still fit.
pub const METRIC_VALUE_MAX: f64 = 1e150;

/// The number `f[key]` that becomes a metric's value, within [`METRIC_VALUE_MAX`].
pub fn metric_value(f: &Fields, key: &str) -> Result<Option<f64>> {
    let value = f.number(key)?;
    if value.is_some_and(|v| v.abs() > METRIC_VALUE_MAX) {
        return Err(Error::validation(format!(
            "{} must be at most 1e150 in magnitude (the statistics square it)",
            f.name(key)
        )));
    }
    Ok(value)
}

pub fn insert(metric: &Input, now: i64) -> Result<Statement> {
    let f = Fields::of(metric, "metric")?;
    let params = vec![
        Value::Uuid(crate::core::stamp::new_uuid()),
        f.text("executionId", 255)?.into(),
        f.required_text("metricName", 255)?.into(),
        metric_value(&f, "metricValue")?.into(),
        f.text("metricUnit", 50)?.into(),
        f.text("metricType", 50)?
            .unwrap_or_else(|| "performance".into())
            .into(),
        f.text("metricCategory", 100)?.into(),
        Value::Json(
            f.json("metadata")?
                .filter(|m| !m.is_null())
                .unwrap_or_else(|| serde_json::json!({})),
        ),
        Value::Timestamp(f.timestamp("recordedAt")?.unwrap_or(now)),
    ];
    Ok(Statement::new(INSERT.as_str(), params).merging(&INSERT_ROW))
}

/// `recordMetric(metric)`: resolves the row.
pub fn record(metric: &Input) -> Result<Call> {
    Ok(Call::write(vec![insert(metric, now_millis())?], Shape::Row))
}

/// `recordMetrics(metrics)`: all rows in one transaction (all or none) — on PostgreSQL one
/// `INSERT … SELECT FROM UNNEST` —; resolves the rows.
pub fn record_many(metrics: &Input) -> Result<Call> {
    let Input::Array(items) = metrics else {
        return Err(Error::validation("metrics must be an array"));
    };
    let now = now_millis();
    let statements = items
        .iter()
        .map(|m| insert(m, now))
        .collect::<Result<Vec<_>>>()?;
    Ok(Call {
        op: Op::Batch {
            statements,
            bulk: &BULK,
        },
        shape: Shape::FirstRows { step: 1, from: 0 },
        touches: Vec::new(),
        tail: None,
    })
}

/// The bulk form of [`INSERT_ROW`]: its columns, in the order of its parameters, with the array
/// type each travels as.
static BULK: Bulk = Bulk {
    table: "workflow_metrics",
    columns: &[
        ("id", BulkType::Uuid),
        ("execution_id", BulkType::Text),
        ("metric_name", BulkType::Text),
        ("metric_value", BulkType::Float8),
        ("metric_unit", BulkType::Text),
        ("metric_type", BulkType::Text),
        ("metric_category", BulkType::Text),
        ("metadata", BulkType::Jsonb),
        ("recorded_at", BulkType::Timestamptz),
    ],
};

fn list(filters: Vec<(&'static str, Value)>, page: Page) -> Result<Call> {
    super::newest_first(&SELECT_SQL, &["recorded_at"], filters, page)
}

fn options<'a>(options: &'a Input) -> Result<Fields<'a>> {
    let f = Fields::of_optional(options, "options")?;
    f.only(&[
        "limit",
        "offset",
        "after",
        "executionId",
        "metricType",
        "metricCategory",
        "metricName",
        "timeRange",
    ])?;
    Ok(f)
}

/// `getMetricsForExecution(executionId, {metricType, metricCategory, limit = 100, offset, after})`.
pub fn for_execution(execution_id: &Input, opts: &Input) -> Result<Call> {
    let f = options(opts)?;
    let mut filters = vec![(
        "execution_id",
        Value::Text(input::required_text(execution_id, "executionId", 255)?),
    )];
    if let Some(t) = f.text("metricType", 50)? {
        filters.push(("metric_type", t.into()));
    }
    if let Some(c) = f.text("metricCategory", 100)? {
        filters.push(("metric_category", c.into()));
    }
    list(filters, Page::from(&f, 100)?)
}

/// `getMetricsByType(metricType, {executionId, limit = 100, offset = 0, after})`.
pub fn by_type(metric_type: &Input, opts: &Input) -> Result<Call> {
    let f = options(opts)?;
    let mut filters = vec![(
        "metric_type",
        Value::Text(input::required_text(metric_type, "metricType", 50)?),
    )];
    if let Some(e) = f.text("executionId", 255)? {
        filters.push(("execution_id", e.into()));
    }
    list(filters, Page::from(&f, 100)?)
}

/// `getMetricsByName(metricName, {executionId, limit = 100, offset = 0, after})`.
pub fn by_name(metric_name: &Input, opts: &Input) -> Result<Call> {
    let f = options(opts)?;
    let mut filters = vec![(
        "metric_name",
        Value::Text(input::required_text(metric_name, "metricName", 255)?),
    )];
    if let Some(e) = f.text("executionId", 255)? {
        filters.push(("execution_id", e.into()));
    }
    list(filters, Page::from(&f, 100)?)
}

/// `deleteMetricsForExecution(executionId)`: resolves how many rows were removed.
pub fn delete_for_execution(execution_id: &Input) -> Result<Call> {
    Ok(Call::write(
        vec![Statement::new(
            "DELETE FROM workflow_metrics WHERE execution_id = $1",
            vec![Value::Text(input::required_text(
                execution_id,
                "executionId",
                255,
            )?)],
        )],
        Shape::Count(0),
    ))
}

/// `cleanupOldMetrics(daysOld = 30)`: resolves how many rows were removed (the statistics'
/// rollups keep them).
pub fn cleanup(days_old: &Input) -> Result<Call> {
    super::delete_older_than_keeping_rollups(
        "DELETE FROM workflow_metrics WHERE recorded_at < $1",
        days_old,
    )
}

static SELECT_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {COLUMNS} FROM workflow_metrics"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_beyond_the_bound_are_refused() {
        let metric = |v: f64| {
            Input::Object(vec![
                ("metricName".into(), Input::Text("m".into())),
                ("metricValue".into(), Input::Number(v)),
            ])
        };
        for v in [1e200, -1e200, 1.7e308, f64::MAX] {
            let err = insert(&metric(v), 0).unwrap_err();
            assert_eq!(err.code, crate::core::error::ErrorCode::Validation);
            assert!(err
                .message
                .contains("metric.metricValue must be at most 1e150"));
        }
        for v in [
            METRIC_VALUE_MAX,
            -METRIC_VALUE_MAX,
            5e-324,
            f64::MIN_POSITIVE / 2.0,
            0.0,
        ] {
            assert!(insert(&metric(v), 0).is_ok());
        }
    }

    #[test]
    fn population_standard_deviation_as_planned() {
        let list = |v: &[f64]| Input::Array(v.iter().map(|n| Input::Number(*n)).collect());
        assert_eq!(population_std_dev(&list(&[])).unwrap(), 0.0);
        assert_eq!(population_std_dev(&list(&[5.0])).unwrap(), 0.0);
        assert_eq!(
            population_std_dev(&list(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])).unwrap(),
            2.0
        );
        assert!(population_std_dev(&Input::Null).is_err());
        assert!(population_std_dev(&list(&[f64::NAN])).is_err());
    }
}
