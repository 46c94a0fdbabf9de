//! The SQL that differs between PostgreSQL and SQLite, in one place.

use super::database::{Database, DbKind};

/// Dialect differences, in one place.
pub struct Dialect(pub DbKind);

impl Dialect {
    pub fn of(db: &Database) -> Dialect {
        Dialect(db.kind())
    }

    fn pg(&self) -> bool {
        self.0 == DbKind::Postgres
    }

    /// Whether statements run on PostgreSQL (which allows writes in `WITH`).
    pub fn is_postgres(&self) -> bool {
        self.pg()
    }

    /// Continuous percentile `p` (0–1) of `col`.
    pub fn percentile(&self, col: &str, p: f64) -> String {
        if self.pg() {
            format!("percentile_cont({p}) WITHIN GROUP (ORDER BY {col})")
        } else {
            format!("percentile_cont({col}, {p})")
        }
    }

    /// Whole milliseconds from the timestamp column `start` to the timestamp parameter `now`
    /// (never negative; null when `start` is null).
    pub fn millis_between(&self, start: &str, now: &str) -> String {
        if self.pg() {
            format!(
                "CAST(GREATEST(0, ROUND(EXTRACT(EPOCH FROM ({now} - {start})) * 1000)) AS BIGINT)"
            )
        } else {
            format!("CAST(MAX(0, ROUND((julianday({now}) - julianday({start})) * 86400000.0)) AS INTEGER)")
        }
    }

    /// The JSON object column `col` with the keys of the JSON parameter `patch` set.
    pub fn json_merge(&self, col: &str, patch: &str) -> String {
        if self.pg() {
            format!("(COALESCE({col}, '{{}}'::jsonb) || {patch})")
        } else {
            format!("json_patch(COALESCE({col}, '{{}}'), {patch})")
        }
    }

    /// `col` as an ORDER BY term: bytewise (the same order on both backends, and Rust's), nulls
    /// last.
    pub fn byte_order(&self, col: &str) -> String {
        if self.pg() {
            format!("{col} COLLATE \"C\" NULLS LAST")
        } else {
            format!("{col} IS NULL, {col}")
        }
    }

    /// The DDSketch bin of the value `expr`, as the rollup triggers of migration 010 store it.
    pub fn sketch_bin(&self, expr: &str) -> String {
        if self.pg() {
            format!("workflow_sketch_bin({expr})")
        } else {
            format!(
                "CASE WHEN {expr} IS NULL THEN NULL WHEN abs({expr}) < 1e-300 THEN 0 \
                 WHEN {expr} > 0 THEN 40000 + CAST(ceil(ln({expr}) / ln(1.01 / 0.99)) AS INTEGER) \
                 ELSE -(40000 + CAST(ceil(ln(-{expr}) / ln(1.01 / 0.99)) AS INTEGER)) END"
            )
        }
    }

    /// The texts `expr` of a group's rows, joined with commas (in no particular order).
    pub fn text_list(&self, expr: &str) -> String {
        if self.pg() {
            format!("string_agg({expr}, ',')")
        } else {
            format!("group_concat({expr}, ',')")
        }
    }

    /// A value as double precision (PostgreSQL's AVG of integers is NUMERIC).
    pub fn float(&self, expr: &str) -> String {
        if self.pg() {
            format!("({expr})::double precision")
        } else {
            format!("CAST({expr} AS REAL)")
        }
    }
}
