//! The statistics' rollups (migration 010) beside their triggers: what a cleanup does to them
//! (keep the rows it removes, or forget old days), and the backfill of rows older than them.

use crate::core::db::distinct::UNDATED;
use crate::core::db::{Call, Database, Dialect, Output, Shape, Statement};
use crate::core::error::Result;
use crate::core::value::{Row, Value};

/// The day number of the all-time rollup rows (and sketches).
pub use crate::core::db::distinct::ALL_TIME;

pub const DAY_MS: i64 = 86_400_000;

/// A timestamp column of `row`.
pub fn time(row: &Row, column: &str) -> Option<i64> {
    match row.get(column) {
        Some(Value::Timestamp(t)) => Some(*t),
        _ => None,
    }
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
/// `rollupRetentionDays` of a cleanup): their rows, bins and sketches go, and are taken out of
/// the all-time rows (whose extremes and times are recomputed from the days left).
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
        // The sketches of distinct executions (migration 012): the old days go, and their keys'
        // all-time sketches are rebuilt from the days left at the next fold.
        format!(
            "INSERT INTO workflow_metric_execution_dirty (day, metric_name, type_key, category_key) \
             SELECT DISTINCT {ALL_TIME}, metric_name, type_key, category_key FROM workflow_metric_executions \
             WHERE day > {UNDATED} AND day < $1 ON CONFLICT DO NOTHING"
        ),
        format!("DELETE FROM workflow_metric_executions WHERE day > {UNDATED} AND day < $1"),
        format!("DELETE FROM workflow_metric_execution_dirty WHERE day > {UNDATED} AND day < $1"),
        "DELETE FROM workflow_metric_execution_pending WHERE day < $1".to_string(),
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
    Ok(state(
        db,
        "SELECT next_day, last_day, done FROM workflow_rollup_backfill",
    )
    .await?
    .0)
}

/// What a metric statistics read does first: whether the metric rollups can answer (else it
/// scans). On PostgreSQL this folds the pending changes into the rollups (migration 011), so that
/// the read sees every write committed before it, and resolves where the backfill stands, in
/// one round trip; a read-only connection cannot fold, and scans while changes are pending.
pub async fn ready(db: &Database) -> Result<bool> {
    if !Dialect::of(db).is_postgres() {
        return Ok(backfill_state(db).await?.done);
    }
    let (state, folded) = state(
        db,
        "SELECT next_day, last_day, done, workflow_rollup_fold() AS folded FROM workflow_rollup_backfill",
    )
    .await?;
    Ok(state.done && folded)
}

/// What an execution statistics read does first: on PostgreSQL, folds the pending changes into
/// the rollups (see [`ready`]); whether they can answer.
pub async fn fold(db: &Database) -> Result<bool> {
    if !Dialect::of(db).is_postgres() {
        return Ok(true);
    }
    let out = db
        .call(Call::scan(
            Statement::new("SELECT workflow_rollup_fold() AS folded", Vec::new()),
            Shape::Row,
        ))
        .await?;
    Ok(matches!(out, Output::Row(row) if !matches!(row.get("folded"), None | Some(Value::Null))))
}

/// The backfill's state, and whether the statement's `folded` column (when it has one) says the
/// pending changes were folded.
async fn state(db: &Database, sql: &'static str) -> Result<(Backfill, bool)> {
    let out = db
        .call(Call::scan(Statement::new(sql, Vec::new()), Shape::Row))
        .await?;
    let Output::Row(row) = out else {
        let none = Backfill {
            next_day: None,
            last_day: None,
            done: true,
        };
        return Ok((none, true));
    };
    let state = Backfill {
        next_day: row.get("next_day").and_then(Value::as_i64),
        last_day: row.get("last_day").and_then(Value::as_i64),
        done: matches!(row.get("done"), Some(Value::Bool(true) | Value::Int(1))),
    };
    Ok((state, !matches!(row.get("folded"), Some(Value::Null))))
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
/// PostgreSQL, and folds the pending changes (which then hold none of that table's) into the
/// rollups it rebuilds; SQLite's write transaction already does all this.
fn lock(d: &Dialect) -> Vec<Statement> {
    if d.is_postgres() {
        vec![
            Statement::new(
                "LOCK TABLE workflow_metrics IN SHARE ROW EXCLUSIVE MODE",
                Vec::new(),
            ),
            Statement::new("SELECT workflow_rollup_fold() AS folded", Vec::new()),
        ]
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
