//! What the backends run: statements (PostgreSQL dialect, `$n` placeholders) and what each
//! produced.

use std::borrow::Cow;

use crate::core::value::{Row, Value};

/// One SQL statement and its parameters, bound by number (`$1`, `$2`, …).
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: Cow<'static, str>,
    pub params: Vec<Value>,
    /// Run only when statement `n` of the same transaction touched a row (otherwise it is
    /// skipped and touches nothing): the follow-up writes of a guarded update.
    pub only_if: Option<usize>,
    /// For an `INSERT … VALUES` of rows of this shape (`params` is `width` values a row):
    /// PostgreSQL's group commit may merge it with others of the same shape.
    pub merge: Option<&'static Merge>,
}

/// The shape of a mergeable `INSERT … VALUES`: `{head} VALUES {tuple}, {tuple}…{tail}`.
#[derive(Debug)]
pub struct Merge {
    /// `INSERT INTO table (columns)`.
    pub head: &'static str,
    /// One row's values, with `$1 … $width`.
    pub tuple: &'static str,
    /// `""`, or ` RETURNING …`.
    pub tail: &'static str,
    pub width: usize,
    /// With `RETURNING`: the returned column that identifies a row, and which parameter of the
    /// tuple it was sent as.
    pub key: Option<&'static str>,
    pub key_param: usize,
}

impl Statement {
    pub fn new(sql: impl Into<Cow<'static, str>>, params: Vec<Value>) -> Self {
        Statement {
            sql: sql.into(),
            params,
            only_if: None,
            merge: None,
        }
    }

    /// This statement, mergeable under `merge`.
    pub fn merging(mut self, merge: &'static Merge) -> Self {
        self.merge = Some(merge);
        self
    }

    /// Whether it only deletes rows (so that it may run on a full disk, see [`super::sqlite::room`]).
    pub fn only_deletes(&self) -> bool {
        self.sql
            .trim_start()
            .get(..7)
            .is_some_and(|head| head.eq_ignore_ascii_case("DELETE "))
    }

    /// This statement, run only when statement `n` touched a row.
    pub fn only_if(mut self, n: usize) -> Self {
        self.only_if = Some(n);
        self
    }

    /// Whether an earlier result says to skip this statement.
    pub fn skipped(&self, earlier: &[StmtResult]) -> bool {
        self.only_if
            .is_some_and(|n| earlier.get(n).is_none_or(|r| r.affected == 0))
    }

    /// Whether the statement yields rows (a query, or a write with `RETURNING`).
    pub fn returns_rows(&self) -> bool {
        let head = self.sql.trim_start();
        let starts = |kw: &str| head.len() >= kw.len() && head[..kw.len()].eq_ignore_ascii_case(kw);
        starts("SELECT") || starts("WITH") || starts("VALUES") || self.sql.contains("RETURNING")
    }
}

/// How rows are appended to `table` in bulk (PostgreSQL: one `INSERT … SELECT FROM UNNEST`); the
/// rows are the parameters of single-row INSERTs, in `columns` order.
#[derive(Debug)]
pub struct Bulk {
    pub table: &'static str,
    /// The columns sent, in order, with their PostgreSQL types.
    pub columns: &'static [(&'static str, BulkType)],
}

/// The PostgreSQL array type a column travels as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkType {
    Uuid,
    Text,
    Float8,
    Jsonb,
    Timestamptz,
}

/// What one statement produced: its rows, and how many rows it touched.
#[derive(Debug, Clone, Default)]
pub struct StmtResult {
    pub rows: Vec<Row>,
    pub affected: u64,
}
