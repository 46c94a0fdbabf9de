//! The statistics calls, answered from the rollups the triggers of migration 010 keep: their
//! cost depends on the number of keys and days asked for, not on the rows behind them.
//!
//! - Metrics: one rollup row per UTC day and (name, type, category), and one per key for all
//!   time. With no `timeRange`, the all-time rows answer. With one, the whole days from it on
//!   answer, and the part of its first day from the bound on is read from the raw rows through
//!   the `recorded_at` index, so the bound is exact. When the cleanup has removed raw rows of
//!   that first day (it keeps the rollups), the whole day counts: the bound is rounded down to
//!   the day.
//! - Executions: one rollup row per (workflowId, status), for all time.
//! - Counts, sums, means, standard deviations, extremes and times are exact (sums of floating
//!   point values up to rounding); percentiles come from DDSketch bins, within 1 % (see
//!   [`sketch`](super::sketch)).
//! - These scan instead: `exact: true`; a filter that selects few rows (`executionId`, `userId`,
//!   `taskId`); and metrics while the backfill of existing rows has not finished.

use std::collections::{BTreeMap, BTreeSet};

use super::sketch::{greatest, least, Moments, Sketch};
use super::{executions, metrics};
use crate::core::db::{Call, Database, Dialect, Output, Shape, Statement};
use crate::core::error::Result;
use crate::core::exec::request::Work;
use crate::core::input::{Fields, Input};
use crate::core::value::{Row, Value};

/// The day number of the all-time rollup rows.
pub const ALL_TIME: i64 = -2_147_483_648;

const DAY_MS: i64 = 86_400_000;

/// The filters the metric statistics take (and `exact`).
#[derive(Debug, Clone, Default)]
pub struct MetricFilters {
    pub execution_id: Option<String>,
    pub name: Option<String>,
    pub metric_type: Option<String>,
    pub category: Option<String>,
    /// `timeRange`: the lower bound on `recorded_at`, epoch ms.
    pub since: Option<i64>,
    pub exact: bool,
}

impl MetricFilters {
    pub fn parse(filters: &Input) -> Result<MetricFilters> {
        let f = Fields::of_optional(filters, "filters")?;
        let text = |key: &str, max| -> Result<Option<String>> {
            Ok(f.text(key, max)?.filter(|v| !v.is_empty()))
        };
        Ok(MetricFilters {
            execution_id: text("executionId", 255)?,
            name: text("metricName", 255)?,
            metric_type: text("metricType", 50)?,
            category: text("metricCategory", 100)?,
            since: f.timestamp("timeRange")?,
            exact: f.boolean("exact")?.unwrap_or(false),
        })
    }

    /// WHERE clause and parameters on the raw rows (`extra` conditions ANDed).
    pub fn raw_where(&self, extra: &[(&str, Value)]) -> (String, Vec<Value>) {
        let mut clauses = Vec::new();
        let mut params = Vec::new();
        for (column, value) in [
            ("execution_id", &self.execution_id),
            ("metric_name", &self.name),
            ("metric_type", &self.metric_type),
            ("metric_category", &self.category),
        ] {
            if let Some(v) = value {
                params.push(Value::Text(v.clone()));
                clauses.push(format!("{column} = ${}", params.len()));
            }
        }
        if let Some(since) = self.since {
            params.push(Value::Timestamp(since));
            clauses.push(format!("recorded_at >= ${}", params.len()));
        }
        for (condition, value) in extra {
            params.push(value.clone());
            clauses.push(condition.replace("$?", &format!("${}", params.len())));
        }
        (where_clause(&clauses), params)
    }

    /// Whether the rollups can answer (else the call scans).
    fn rolls_up(&self) -> bool {
        !self.exact && self.execution_id.is_none()
    }

    /// WHERE clause and parameters on the rollup tables, for the days from `first_day` (all
    /// time when `None`).
    fn rollup_where(&self, first_day: Option<i64>) -> (String, Vec<Value>) {
        let mut params = Vec::new();
        let mut clauses = Vec::new();
        match first_day {
            None => clauses.push(format!("day = {ALL_TIME}")),
            Some(day) => {
                params.push(Value::Int(day));
                clauses.push(format!("day >= ${}", params.len()));
            }
        }
        if let Some(name) = &self.name {
            params.push(Value::Text(name.clone()));
            clauses.push(format!("metric_name = ${}", params.len()));
        }
        for (column, value) in [
            ("type_key", &self.metric_type),
            ("category_key", &self.category),
        ] {
            if let Some(v) = value {
                params.push(Value::Text(format!("={v}")));
                clauses.push(format!("{column} = ${}", params.len()));
            }
        }
        (where_clause(&clauses), params)
    }
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

/// A metric key in output order: name, then type and category with nulls last.
type Key = (String, (bool, String), (bool, String));

fn nullable_key(value: Option<String>) -> (bool, String) {
    match value {
        Some(v) => (false, v),
        None => (true, String::new()),
    }
}

/// A stored `type_key`/`category_key` ('' for null, '=' and the value otherwise).
fn stored_key(key: &str) -> (bool, String) {
    nullable_key(key.strip_prefix('=').map(str::to_string))
}

fn key_value((null, v): &(bool, String)) -> Value {
    if *null {
        Value::Null
    } else {
        Value::Text(v.clone())
    }
}

/// What one key (or, merged, all of them) holds.
#[derive(Debug, Default, Clone)]
struct Group {
    rows: i64,
    moments: Moments,
    sketch: Sketch,
    earliest: Option<i64>,
    latest: Option<i64>,
}

impl Group {
    fn merge(&mut self, other: &Group) {
        self.rows += other.rows;
        self.moments.merge(&other.moments);
        self.earliest = least(self.earliest, other.earliest);
        self.latest = greatest(self.latest, other.latest);
    }

    fn percentile(&self, q: f64) -> Value {
        let (Some(min), Some(max)) = (self.moments.min, self.moments.max) else {
            return Value::Null;
        };
        self.sketch
            .percentile(q, min, max)
            .map_or(Value::Null, Value::Float)
    }
}

fn float(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::Float)
}

fn rows(output: Output) -> Vec<Row> {
    match output {
        Output::Rows { rows, .. } => rows,
        Output::Row(row) => vec![row],
        _ => Vec::new(),
    }
}

fn scan(statement: Statement) -> Call {
    Call::scan(
        statement,
        Shape::Rows {
            limit: None,
            sort: &[],
            id: "metric_name",
        },
    )
}

fn text(row: &Row, column: &str) -> String {
    match row.get(column) {
        Some(Value::Text(t)) => t.clone(),
        _ => String::new(),
    }
}

fn optional_text(row: &Row, column: &str) -> Option<String> {
    match row.get(column) {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

fn int(row: &Row, column: &str) -> i64 {
    row.get(column).and_then(Value::as_i64).unwrap_or(0)
}

fn number(row: &Row, column: &str) -> Option<f64> {
    row.get(column).and_then(Value::as_f64)
}

fn time(row: &Row, column: &str) -> Option<i64> {
    match row.get(column) {
        Some(Value::Timestamp(t)) => Some(*t),
        _ => None,
    }
}

/// Whether the backfill of the metrics' rollups has finished.
async fn backfilled(db: &Database) -> Result<bool> {
    let out = db
        .call(Call::scan(
            Statement::new("SELECT done FROM workflow_rollup_backfill", Vec::new()),
            Shape::Row,
        ))
        .await?;
    Ok(match out {
        Output::Row(row) => matches!(row.get("done"), Some(Value::Bool(true) | Value::Int(1))),
        _ => false,
    })
}

/// The metric groups matching `f`, per key, from the rollups, with their bins per key
/// (`per_key`) or in one sketch of them all; `None` when the rollups cannot answer (the caller
/// scans).
async fn metric_groups(
    db: &Database,
    f: &MetricFilters,
    per_key: bool,
) -> Result<Option<(BTreeMap<Key, Group>, Sketch)>> {
    if !f.rolls_up() || !backfilled(db).await? {
        return Ok(None);
    }
    // The days the rollups answer for, and the raw part before them.
    let (first_day, partial) = match f.since {
        None => (None, None),
        Some(since) => {
            let day = since.div_euclid(DAY_MS);
            if since.rem_euclid(DAY_MS) == 0 || kept_rows_on(db, f, day).await? {
                (Some(day), None)
            } else {
                (Some(day + 1), Some((since, (day + 1) * DAY_MS)))
            }
        }
    };
    let (filter, params) = f.rollup_where(first_day);
    let aggregates = db
        .call(scan(Statement::new(
            format!(
                "SELECT metric_name, type_key, category_key, row_count, value_count, shift, shifted_sum, \
                 shifted_squares, min_value, max_value, earliest AS earliest_at, latest AS latest_at \
                 FROM workflow_metric_rollups {filter}"
            ),
            params.clone(),
        )))
        .await?;
    let grouping = if per_key {
        "metric_name, type_key, category_key, bin"
    } else {
        "bin"
    };
    let bins = db
        .call(scan(Statement::new(
            format!(
                "SELECT {grouping}, CAST(SUM(count) AS BIGINT) AS count FROM workflow_metric_bins {filter} \
                 GROUP BY {grouping}"
            ),
            params,
        )))
        .await?;
    let key_of = |row: &Row| -> Key {
        (
            text(row, "metric_name"),
            stored_key(&text(row, "type_key")),
            stored_key(&text(row, "category_key")),
        )
    };
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    let mut all = Sketch::default();
    for row in rows(aggregates) {
        let group = Group {
            rows: int(&row, "row_count"),
            moments: Moments::from_shifted(
                int(&row, "value_count"),
                number(&row, "shift").unwrap_or(0.0),
                number(&row, "shifted_sum").unwrap_or(0.0),
                number(&row, "shifted_squares").unwrap_or(0.0),
                number(&row, "min_value"),
                number(&row, "max_value"),
            ),
            sketch: Sketch::default(),
            earliest: time(&row, "earliest_at"),
            latest: time(&row, "latest_at"),
        };
        groups.entry(key_of(&row)).or_default().merge(&group);
    }
    for row in rows(bins) {
        let sketch = if per_key {
            &mut groups.entry(key_of(&row)).or_default().sketch
        } else {
            &mut all
        };
        sketch.add(int(&row, "bin"), int(&row, "count"));
    }
    if let Some((from, to)) = partial {
        let (filter, params) = MetricFilters {
            since: Some(from),
            ..f.clone()
        }
        .raw_where(&[("recorded_at < $?", Value::Timestamp(to))]);
        let raw = db
            .call(scan(Statement::new(
                format!(
                    "SELECT metric_name, metric_type, metric_category, metric_value, recorded_at \
                     FROM workflow_metrics {filter}"
                ),
                params,
            )))
            .await?;
        for row in rows(raw) {
            let key = (
                text(&row, "metric_name"),
                nullable_key(optional_text(&row, "metric_type")),
                nullable_key(optional_text(&row, "metric_category")),
            );
            let at = time(&row, "recorded_at");
            let group = groups.entry(key).or_default();
            group.rows += 1;
            group.earliest = least(group.earliest, at);
            group.latest = greatest(group.latest, at);
            if let Some(v) = number(&row, "metric_value") {
                group.moments.add_value(v);
                if per_key {
                    group.sketch.add_value(v);
                } else {
                    all.add_value(v);
                }
            }
        }
    }
    groups.retain(|_, g| g.rows > 0);
    Ok(Some((groups, all)))
}

/// Whether the cleanup removed raw rows of `day` that the rollups of `f` keep.
async fn kept_rows_on(db: &Database, f: &MetricFilters, day: i64) -> Result<bool> {
    let (filter, mut params) = f.rollup_where(Some(day));
    params.push(Value::Int(day));
    let out = db
        .call(scan(Statement::new(
            format!(
                "SELECT metric_name FROM workflow_metric_rollups {filter} AND day = ${} AND kept_rows > 0 LIMIT 1",
                params.len()
            ),
            params,
        )))
        .await?;
    Ok(!rows(out).is_empty())
}

/// `getAggregatedMetrics(filters)`.
pub fn aggregated(filters: &Input) -> Result<Work> {
    let f = MetricFilters::parse(filters)?;
    Ok(Work::steps(move |db| async move {
        aggregated_rows(&db, &f).await
    }))
}

pub async fn aggregated_rows(db: &Database, f: &MetricFilters) -> Result<Output> {
    let Some((groups, _)) = metric_groups(db, f, true).await? else {
        return db.call(metrics::aggregated_scan(&Dialect::of(db), f)).await;
    };
    let columns: Vec<String> = [
        "metric_name",
        "metric_type",
        "metric_category",
        "average_value",
        "min_value",
        "max_value",
        "count",
        "standard_deviation",
        "p50_value",
        "p95_value",
        "p99_value",
    ]
    .map(String::from)
    .to_vec();
    let rows = groups
        .into_iter()
        .map(|((name, metric_type, category), g)| {
            Row::new(
                columns.clone(),
                vec![
                    Value::Text(name),
                    key_value(&metric_type),
                    key_value(&category),
                    float(g.moments.mean()),
                    float(g.moments.min),
                    float(g.moments.max),
                    Value::Int(g.rows),
                    float(g.moments.sample_std_dev()),
                    g.percentile(0.5),
                    g.percentile(0.95),
                    g.percentile(0.99),
                ],
            )
        })
        .collect();
    Ok(Output::Rows { rows, next: None })
}

/// `getMetricsStatistics(filters)`.
pub fn metric_statistics(filters: &Input) -> Result<Work> {
    let f = MetricFilters::parse(filters)?;
    Ok(Work::steps(move |db| async move {
        let d = Dialect::of(&db);
        let Some((groups, sketch)) = metric_groups(&db, &f, false).await? else {
            return db.call(metrics::statistics_scan(&d, &f)).await;
        };
        let names: BTreeSet<&String> = groups.keys().map(|(name, _, _)| name).collect();
        let types: BTreeSet<&(bool, String)> =
            groups.keys().map(|(_, t, _)| t).filter(|t| !t.0).collect();
        let unique_executions = db.call(metrics::unique_executions(&f)).await?;
        let mut g = Group::default();
        for group in groups.values() {
            g.merge(group);
        }
        g.sketch = sketch;
        let columns: Vec<String> = [
            "total_metrics",
            "unique_executions",
            "unique_metric_names",
            "unique_metric_types",
            "average_metric_value",
            "min_metric_value",
            "max_metric_value",
            "standard_deviation",
            "p50_metric_value",
            "p95_metric_value",
            "p99_metric_value",
            "earliest_metric",
            "latest_metric",
        ]
        .map(String::from)
        .to_vec();
        let unique_executions = match unique_executions {
            Output::Row(row) => row
                .get("unique_executions")
                .cloned()
                .unwrap_or(Value::Int(0)),
            _ => Value::Int(0),
        };
        Ok(Output::Row(Row::new(
            columns,
            vec![
                Value::Int(g.rows),
                unique_executions,
                Value::Int(names.len() as i64),
                Value::Int(types.len() as i64),
                float(g.moments.mean()),
                float(g.moments.min),
                float(g.moments.max),
                float(g.moments.sample_std_dev()),
                g.percentile(0.5),
                g.percentile(0.95),
                g.percentile(0.99),
                g.earliest.map_or(Value::Null, Value::Timestamp),
                g.latest.map_or(Value::Null, Value::Timestamp),
            ],
        )))
    }))
}

/// The filters `getStatistics` takes (and `exact`).
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilters {
    pub workflow_id: Option<String>,
    pub user_id: Option<String>,
    pub task_id: Option<String>,
    pub status: Option<String>,
    pub exact: bool,
}

impl ExecutionFilters {
    pub fn parse(filters: &Input) -> Result<ExecutionFilters> {
        let f = Fields::of_optional(filters, "filters")?;
        let text = |key: &str| -> Result<Option<String>> {
            Ok(f.text(key, 255)?.filter(|v| !v.is_empty()))
        };
        Ok(ExecutionFilters {
            workflow_id: text("workflowId")?,
            user_id: text("userId")?,
            task_id: text("taskId")?,
            status: f.one_of("status", &executions::STATUSES)?,
            exact: f.boolean("exact")?.unwrap_or(false),
        })
    }
}

/// `getStatistics(filters)`.
pub fn execution_statistics(filters: &Input) -> Result<Work> {
    let f = ExecutionFilters::parse(filters)?;
    Ok(Work::steps(move |db| async move {
        execution_statistics_row(&db, &f).await
    }))
}

pub async fn execution_statistics_row(db: &Database, f: &ExecutionFilters) -> Result<Output> {
    let d = Dialect::of(db);
    if f.exact || f.user_id.is_some() || f.task_id.is_some() {
        return db.call(executions::statistics_scan(&d, f)).await;
    }
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    for (column, value) in [("workflow_id", &f.workflow_id), ("status", &f.status)] {
        if let Some(v) = value {
            params.push(Value::Text(v.clone()));
            clauses.push(format!("{column} = ${}", params.len()));
        }
    }
    let filter = where_clause(&clauses);
    let totals = db
        .call(scan(Statement::new(
            format!(
                "SELECT status, execution_count, duration_count, CAST(duration_sum AS DOUBLE PRECISION) AS duration_sum, \
                 min_duration, max_duration, estimated_count, \
                 CAST(estimated_sum AS DOUBLE PRECISION) AS estimated_sum FROM workflow_execution_rollups {filter}"
            ),
            params.clone(),
        )))
        .await?;
    let bins = db
        .call(scan(Statement::new(
            format!(
                "SELECT bin, CAST(SUM(count) AS BIGINT) AS count FROM workflow_execution_bins {filter} GROUP BY bin"
            ),
            params,
        )))
        .await?;
    let mut by_status: BTreeMap<String, i64> = BTreeMap::new();
    let (mut total, mut durations, mut duration_sum, mut estimates, mut estimate_sum) =
        (0, 0, 0.0, 0, 0.0);
    let (mut min, mut max): (Option<i64>, Option<i64>) = (None, None);
    for row in rows(totals) {
        let n = int(&row, "execution_count");
        total += n;
        *by_status.entry(text(&row, "status")).or_default() += n;
        durations += int(&row, "duration_count");
        duration_sum += number(&row, "duration_sum").unwrap_or(0.0);
        estimates += int(&row, "estimated_count");
        estimate_sum += number(&row, "estimated_sum").unwrap_or(0.0);
        min = least(min, row.get("min_duration").and_then(Value::as_i64));
        max = greatest(max, row.get("max_duration").and_then(Value::as_i64));
    }
    let mut sketch = Sketch::default();
    for row in rows(bins) {
        sketch.add(int(&row, "bin"), int(&row, "count"));
    }
    let percentile = |q| match (min, max) {
        (Some(lo), Some(hi)) => float(sketch.percentile(q, lo as f64, hi as f64)),
        _ => Value::Null,
    };
    let mut columns = vec!["total_executions".to_string()];
    let mut values = vec![Value::Int(total)];
    for status in ["completed", "failed", "running", "pending", "cancelled"] {
        columns.push(format!("{status}_executions"));
        values.push(Value::Int(by_status.get(status).copied().unwrap_or(0)));
    }
    let mean = |sum: f64, n: i64| float((n > 0).then(|| sum / n as f64));
    for (column, value) in [
        ("average_duration", mean(duration_sum, durations)),
        ("min_duration", min.map_or(Value::Null, Value::Int)),
        ("max_duration", max.map_or(Value::Null, Value::Int)),
        ("p50_duration", percentile(0.5)),
        ("p95_duration", percentile(0.95)),
        ("p99_duration", percentile(0.99)),
        ("average_estimated_duration", mean(estimate_sum, estimates)),
    ] {
        columns.push(column.to_string());
        values.push(value);
    }
    Ok(Output::Row(Row::new(columns, values)))
}

/// A cleanup's deletes between the statements that make the rollup triggers keep what they
/// remove (the default: statistics keep counting rows the raw retention removed).
pub fn keeping_rollups(deletes: Vec<Statement>) -> Vec<Statement> {
    let keep = |on: bool| {
        Statement::new(
            "UPDATE workflow_rollup_control SET keep_rollups = $1",
            vec![Value::Bool(on)],
        )
    };
    let mut statements = vec![keep(true)];
    statements.extend(deletes);
    statements.push(keep(false));
    statements
}

/// The statements that forget the metric rollups of the days before `first_day` (the
/// `rollupRetentionDays` of a cleanup): their rows and bins go, and are taken out of the
/// all-time rows (whose extremes and times are recomputed from the days left).
pub fn retention(first_day: i64) -> Vec<Statement> {
    let old_in = |p: &str| format!("{p}day > {ALL_TIME} AND {p}day < $1");
    let old = old_in("");
    let same_key = |a: &str, b: &str| {
        format!(
            "{a}.metric_name = {b}.metric_name AND {a}.type_key = {b}.type_key AND {a}.category_key = {b}.category_key"
        )
    };
    let delta = "COALESCE(d.shift - a.shift, 0)";
    let statements = [
        format!(
            "UPDATE workflow_metric_rollups SET row_count = row_count - g.n, value_count = value_count - g.nv, \
             shifted_sum = shifted_sum - g.s1, shifted_squares = shifted_squares - g.s2 \
             FROM (SELECT d.metric_name, d.type_key, d.category_key, SUM(d.row_count) AS n, SUM(d.value_count) AS nv, \
                   SUM(d.shifted_sum + d.value_count * {delta}) AS s1, \
                   SUM(d.shifted_squares + 2 * {delta} * d.shifted_sum + d.value_count * {delta} * {delta}) AS s2 \
                   FROM workflow_metric_rollups d JOIN workflow_metric_rollups a ON a.day = {ALL_TIME} AND {} \
                   WHERE {} GROUP BY d.metric_name, d.type_key, d.category_key) g \
             WHERE workflow_metric_rollups.day = {ALL_TIME} AND {}",
            same_key("a", "d"),
            old_in("d."),
            same_key("workflow_metric_rollups", "g"),
        ),
        format!(
            "UPDATE workflow_metric_bins SET count = count - g.c \
             FROM (SELECT metric_name, type_key, category_key, bin, SUM(count) AS c FROM workflow_metric_bins \
                   WHERE {old} GROUP BY metric_name, type_key, category_key, bin) g \
             WHERE workflow_metric_bins.day = {ALL_TIME} AND {} AND workflow_metric_bins.bin = g.bin",
            same_key("workflow_metric_bins", "g"),
        ),
        format!(
            "UPDATE workflow_metric_rollups SET \
             min_value = (SELECT MIN(x) FROM (SELECT d.min_value AS x FROM workflow_metric_rollups d \
                 WHERE d.day >= $1 AND {k} UNION ALL {raw_min}) v), \
             max_value = (SELECT MAX(x) FROM (SELECT d.max_value AS x FROM workflow_metric_rollups d \
                 WHERE d.day >= $1 AND {k} UNION ALL {raw_max}) v), \
             earliest = (SELECT MIN(d.earliest) FROM workflow_metric_rollups d WHERE d.day >= $1 AND {k}), \
             latest = (SELECT MAX(d.latest) FROM workflow_metric_rollups d WHERE d.day >= $1 AND {k}) \
             WHERE day = {ALL_TIME} AND (metric_name, type_key, category_key) IN \
                 (SELECT metric_name, type_key, category_key FROM workflow_metric_rollups WHERE {old})",
            k = same_key("d", "workflow_metric_rollups"),
            raw_min = undated("MIN"),
            raw_max = undated("MAX"),
        ),
        format!("DELETE FROM workflow_metric_bins WHERE {old} OR (day = {ALL_TIME} AND count <= 0)"),
        format!("DELETE FROM workflow_metric_rollups WHERE {old} OR (day = {ALL_TIME} AND row_count <= 0)"),
    ];
    statements
        .into_iter()
        .map(|sql| Statement::new(sql, vec![Value::Int(first_day)]))
        .collect()
}

/// The extreme of the raw rows without a time of the all-time row being updated (they are in
/// no day).
fn undated(aggregate: &str) -> String {
    format!(
        "SELECT {aggregate}(m.metric_value) FROM workflow_metrics m WHERE m.recorded_at IS NULL \
         AND m.metric_name = workflow_metric_rollups.metric_name \
         AND COALESCE('=' || m.metric_type, '') = workflow_metric_rollups.type_key \
         AND COALESCE('=' || m.metric_category, '') = workflow_metric_rollups.category_key"
    )
}

/// The first UTC day the metric rollups keep under a `rollupRetentionDays` of `days`.
pub fn retention_first_day(days: i64) -> i64 {
    (crate::core::value::now_millis() - days * DAY_MS).div_euclid(DAY_MS)
}

/// Where the backfill of the metric rollups stands: the next UTC day to rebuild from the raw
/// rows, the last day that had rows when the migration ran, and whether it finished.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backfill {
    pub next_day: Option<i64>,
    pub last_day: Option<i64>,
    pub done: bool,
}

impl Backfill {
    pub fn into_output(self) -> Output {
        let day = |d: Option<i64>| d.map_or(Value::Null, |d| Value::Timestamp(d * DAY_MS));
        Output::Row(Row::new(
            ["nextDay", "lastDay", "done", "daysLeft"]
                .map(String::from)
                .to_vec(),
            vec![
                day(self.next_day),
                day(self.last_day),
                Value::Bool(self.done),
                Value::Int(match (self.done, self.next_day, self.last_day) {
                    (false, Some(next), Some(last)) => (last - next + 1).max(0),
                    _ => 0,
                }),
            ],
        ))
    }
}

pub async fn backfill_state(db: &Database) -> Result<Backfill> {
    let out = db
        .call(Call::scan(
            Statement::new(
                "SELECT next_day, last_day, done FROM workflow_rollup_backfill",
                Vec::new(),
            ),
            Shape::Row,
        ))
        .await?;
    let Output::Row(row) = out else {
        return Ok(Backfill {
            next_day: None,
            last_day: None,
            done: true,
        });
    };
    Ok(Backfill {
        next_day: row.get("next_day").and_then(Value::as_i64),
        last_day: row.get("last_day").and_then(Value::as_i64),
        done: matches!(row.get("done"), Some(Value::Bool(true) | Value::Int(1))),
    })
}

/// Rebuilds the metric rollups of the rows that existed before migration 010, one UTC day per
/// transaction (at most `max_days` of them), then the all-time rows; resumable (the state is
/// committed with each day), and safe from several processes at once (each day's transaction
/// locks out writers of metrics and other backfills, not readers). Resolves where it stands.
pub async fn backfill(db: &Database, max_days: Option<i64>) -> Result<Backfill> {
    let d = Dialect::of(db);
    let mut days = 0;
    loop {
        let state = backfill_state(db).await?;
        if state.done || max_days.is_some_and(|m| days >= m) {
            return Ok(state);
        }
        match (state.next_day, state.last_day) {
            (Some(day), Some(last)) if day <= last => {
                let following = next_day_with_rows(db, (day + 1) * DAY_MS).await?;
                db.call(Call::write(
                    rebuild_day(&d, day, following.unwrap_or(last + 1)),
                    Shape::Count(0),
                ))
                .await?;
                days += 1;
            }
            _ => {
                db.call(Call::write(rebuild_all_time(&d), Shape::Count(0)))
                    .await?;
            }
        }
    }
}

/// The UTC day of the first raw row recorded at or after `from`.
async fn next_day_with_rows(db: &Database, from: i64) -> Result<Option<i64>> {
    let out = db
        .call(Call::scan(
            Statement::new(
                "SELECT MIN(recorded_at) AS next_at FROM workflow_metrics WHERE recorded_at >= $1",
                vec![Value::Timestamp(from)],
            ),
            Shape::Row,
        ))
        .await?;
    Ok(match out {
        Output::Row(row) => time(&row, "next_at").map(|t| t.div_euclid(DAY_MS)),
        _ => None,
    })
}

/// Keeps writers of metrics (and other backfills) out of a backfill's transaction on
/// PostgreSQL; SQLite's write transaction already does.
fn lock(d: &Dialect) -> Vec<Statement> {
    if d.is_postgres() {
        vec![Statement::new(
            "LOCK TABLE workflow_metrics IN SHARE ROW EXCLUSIVE MODE",
            Vec::new(),
        )]
    } else {
        Vec::new()
    }
}

/// The statements that rebuild `day` from the raw rows, then move the backfill to `following`
/// (each a no-op when another process rebuilt the day first).
fn rebuild_day(d: &Dialect, day: i64, following: i64) -> Vec<Statement> {
    let guard = "EXISTS (SELECT 1 FROM workflow_rollup_backfill WHERE next_day = $1 AND NOT done)";
    let range = "recorded_at >= $2 AND recorded_at < $3";
    let keys = "metric_name, COALESCE('=' || metric_type, '') AS type_key, COALESCE('=' || metric_category, '') AS category_key";
    let bin = d.sketch_bin("metric_value");
    let mut statements = lock(d);
    for sql in [
        format!("DELETE FROM workflow_metric_rollups WHERE day = $1 AND {guard}"),
        format!("DELETE FROM workflow_metric_bins WHERE day = $1 AND {guard}"),
        format!(
            "INSERT INTO workflow_metric_rollups (day, metric_name, type_key, category_key, row_count, value_count, \
             shift, shifted_sum, shifted_squares, min_value, max_value, earliest, latest) \
             SELECT $1, metric_name, type_key, category_key, COUNT(*), COUNT(v), MIN(k), COALESCE(SUM(v - k), 0), \
             COALESCE(SUM((v - k) * (v - k)), 0), MIN(v), MAX(v), MIN(at), MAX(at) \
             FROM (SELECT {keys}, metric_value AS v, recorded_at AS at, \
                   MIN(metric_value) OVER (PARTITION BY metric_name, metric_type, metric_category) AS k \
                   FROM workflow_metrics WHERE {range}) r \
             WHERE {guard} GROUP BY metric_name, type_key, category_key"
        ),
        format!(
            "INSERT INTO workflow_metric_bins (day, metric_name, type_key, category_key, bin, count) \
             SELECT $1, metric_name, type_key, category_key, b, COUNT(*) \
             FROM (SELECT {keys}, {bin} AS b FROM workflow_metrics WHERE {range} AND metric_value IS NOT NULL) r \
             WHERE {guard} GROUP BY metric_name, type_key, category_key, b"
        ),
        "UPDATE workflow_rollup_backfill SET next_day = $4 WHERE next_day = $1 AND NOT done".to_string(),
    ] {
        statements.push(Statement::new(
            sql,
            vec![
                Value::Int(day),
                Value::Timestamp(day * DAY_MS),
                Value::Timestamp((day + 1) * DAY_MS),
                Value::Int(following),
            ],
        ));
    }
    // Each statement binds only the parameters it names.
    for s in statements.iter_mut() {
        let used = (1..=4)
            .filter(|i| s.sql.contains(&format!("${i}")))
            .max()
            .unwrap_or(0);
        s.params.truncate(used);
    }
    statements
}

/// The statements that rebuild the all-time rows from the day rows (and the raw rows without a
/// time) and mark the backfill done.
fn rebuild_all_time(d: &Dialect) -> Vec<Statement> {
    let guard = "EXISTS (SELECT 1 FROM workflow_rollup_backfill WHERE NOT done AND (next_day IS NULL OR next_day > last_day))";
    let keys = "metric_name, COALESCE('=' || metric_type, '') AS type_key, COALESCE('=' || metric_category, '') AS category_key";
    let delta = "COALESCE(shift - k, 0)";
    let bin = d.sketch_bin("metric_value");
    let mut statements = lock(d);
    for sql in [
        format!("DELETE FROM workflow_metric_rollups WHERE day = {ALL_TIME} AND {guard}"),
        format!("DELETE FROM workflow_metric_bins WHERE day = {ALL_TIME} AND {guard}"),
        format!(
            "INSERT INTO workflow_metric_rollups (day, metric_name, type_key, category_key, row_count, value_count, \
             shift, shifted_sum, shifted_squares, min_value, max_value, earliest, latest, kept_rows, kept_min, kept_max, \
             kept_earliest, kept_latest) \
             SELECT {ALL_TIME}, metric_name, type_key, category_key, SUM(row_count), SUM(value_count), MIN(k), \
             SUM(shifted_sum + value_count * {delta}), \
             SUM(shifted_squares + 2 * {delta} * shifted_sum + value_count * {delta} * {delta}), \
             MIN(min_value), MAX(max_value), MIN(earliest), MAX(latest), SUM(kept_rows), MIN(kept_min), MAX(kept_max), \
             MIN(kept_earliest), MAX(kept_latest) \
             FROM (SELECT u.*, MIN(shift) OVER (PARTITION BY metric_name, type_key, category_key) AS k FROM ( \
                   SELECT metric_name, type_key, category_key, row_count, value_count, shift, shifted_sum, shifted_squares, \
                   min_value, max_value, earliest, latest, kept_rows, kept_min, kept_max, kept_earliest, kept_latest \
                   FROM workflow_metric_rollups WHERE day > {ALL_TIME} \
                   UNION ALL \
                   SELECT {keys}, 1, CASE WHEN metric_value IS NULL THEN 0 ELSE 1 END, metric_value, 0, 0, \
                   metric_value, metric_value, NULL, NULL, 0, NULL, NULL, NULL, NULL \
                   FROM workflow_metrics WHERE recorded_at IS NULL) u) r \
             WHERE {guard} GROUP BY metric_name, type_key, category_key"
        ),
        format!(
            "INSERT INTO workflow_metric_bins (day, metric_name, type_key, category_key, bin, count) \
             SELECT {ALL_TIME}, metric_name, type_key, category_key, bin, SUM(count) FROM ( \
                 SELECT metric_name, type_key, category_key, bin, count FROM workflow_metric_bins WHERE day > {ALL_TIME} \
                 UNION ALL \
                 SELECT {keys}, {bin}, 1 FROM workflow_metrics WHERE recorded_at IS NULL AND metric_value IS NOT NULL) u \
             WHERE {guard} GROUP BY metric_name, type_key, category_key, bin"
        ),
        "UPDATE workflow_rollup_backfill SET done = TRUE WHERE NOT done AND (next_day IS NULL OR next_day > last_day)"
            .to_string(),
    ] {
        statements.push(Statement::new(sql, Vec::new()));
    }
    statements
}
