//! A repository call: the statements to run, how they run, and how their results become the
//! caller's [`Output`]. `Database` runs them (`database.rs`).

use super::invalidate::Touch;
use super::statement::{Bulk, Statement, StmtResult};
use super::store::Store;
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::page::Cursor;
use crate::core::value::{Row, Value};

/// How the statements of a call run.
#[derive(Debug)]
pub enum Op {
    /// A point read (a handful of rows through an index). On SQLite it runs on the calling thread.
    Read(Statement),
    /// A longer read: statistics, aggregates, pages. Runs off the calling thread.
    Scan(Statement),
    /// Writes, in one transaction; each statement's rows and count are kept.
    Write(Vec<Statement>),
    /// Rows appended in bulk, one single-row INSERT each: SQLite runs them (merged, in one
    /// transaction, through the writer); PostgreSQL sends their parameters as one
    /// `INSERT … SELECT FROM UNNEST` and each statement's result is the row as sent.
    Batch {
        statements: Vec<Statement>,
        bulk: &'static Bulk,
    },
}

/// What the caller gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// No value: the method resolves `undefined`.
    Undefined,
    Null,
    Bool(bool),
    Count(u64),
    Row(Row),
    /// A list, with the keyset cursor of its last row when the page was full.
    Rows {
        rows: Vec<Row>,
        next: Option<String>,
    },
    /// A scalar.
    Value(Value),
    /// A list of outputs.
    List(Vec<Output>),
    /// An object of named outputs, in order (the services' composite results).
    Object(Vec<(String, Output)>),
}

impl Output {
    /// An object with `row`'s columns followed by `extra`.
    pub fn row_with(row: Row, extra: Vec<(String, Output)>) -> Output {
        let Row { columns, values } = row;
        let mut fields: Vec<(String, Output)> = columns
            .iter()
            .cloned()
            .zip(values.into_iter().map(Output::Value))
            .collect();
        fields.extend(extra);
        Output::Object(fields)
    }

    /// The rows of a list output (empty for anything else).
    pub fn into_rows(self) -> Vec<Row> {
        match self {
            Output::Rows { rows, .. } => rows,
            Output::Row(r) => vec![r],
            _ => Vec::new(),
        }
    }

    /// The count of a count output (0 for anything else).
    pub fn count(&self) -> u64 {
        match self {
            Output::Count(n) => *n,
            Output::Value(Value::Int(n)) => *n as u64,
            _ => 0,
        }
    }
}

/// How the results become the [`Output`].
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// The first row of the last statement, or null.
    RowOrNull,
    /// The first row of the last statement (an error if there is none).
    Row,
    /// The first row of statement `n`.
    RowAt(usize),
    /// All rows of the last statement; when `limit` rows came back, a cursor from the `sort`
    /// columns and the unique `id` column of the last row.
    Rows {
        limit: Option<i64>,
        sort: &'static [&'static str],
        id: &'static str,
    },
    /// The first row of every `step`-th statement from statement `from`, as a list (batch
    /// inserts).
    FirstRows { step: usize, from: usize },
    /// Whether statement `n` touched a row.
    Touched(usize),
    /// How many rows statement `n` touched.
    Count(usize),
    /// The first row of statement `n`, or null (a guarded update and its follow-ups).
    RowOrNullAt(usize),
    /// How many rows each statement touched, as one row with these names (an empty name skips
    /// its statement).
    Counts(&'static [&'static str]),
}

/// A validated repository call.
#[derive(Debug)]
pub struct Call {
    pub op: Op,
    pub shape: Shape,
    /// What the write changes (empty for reads and for writes no cache holds).
    pub touches: Vec<Touch>,
    /// A statement the write runs last, in its transaction, whose result is not the caller's:
    /// the fallback's journal entry of the call, or the replay's record of having applied it.
    pub tail: Option<Box<Statement>>,
}

impl Call {
    pub fn read(statement: Statement, shape: Shape) -> Call {
        Call::new(Op::Read(statement), shape)
    }
    pub fn scan(statement: Statement, shape: Shape) -> Call {
        Call::new(Op::Scan(statement), shape)
    }
    pub fn write(statements: Vec<Statement>, shape: Shape) -> Call {
        Call::new(Op::Write(statements), shape)
    }
    fn new(op: Op, shape: Shape) -> Call {
        Call {
            op,
            shape,
            touches: Vec::new(),
            tail: None,
        }
    }

    /// This call, marked as changing `touch`.
    pub fn touching(mut self, touch: Touch) -> Call {
        self.touches.push(touch);
        self
    }

    /// Whether it writes.
    pub fn writes(&self) -> bool {
        matches!(self.op, Op::Write(_) | Op::Batch { .. })
    }

    /// Whether it runs on the SQLite writer thread (a write, on SQLite).
    pub fn runs_on_writer(&self, backend: &impl Store) -> bool {
        self.writes() && backend.has_writer()
    }
}

/// The results without the tail's (the last statement's).
pub(super) fn without_tail(mut results: Vec<StmtResult>) -> Vec<StmtResult> {
    results.pop();
    results
}

pub fn shape(results: Vec<StmtResult>, shape: Shape) -> Result<Output> {
    let last = |mut results: Vec<StmtResult>| results.pop().unwrap_or_default();
    Ok(match shape {
        Shape::RowOrNull => last(results)
            .rows
            .into_iter()
            .next()
            .map_or(Output::Null, Output::Row),
        Shape::Row => {
            Output::Row(
                last(results).rows.into_iter().next().ok_or_else(|| {
                    Error::new(ErrorCode::Internal, "the statement returned no row")
                })?,
            )
        }
        Shape::RowAt(n) => results
            .into_iter()
            .nth(n)
            .and_then(|r| r.rows.into_iter().next())
            .map(Output::Row)
            .ok_or_else(|| Error::new(ErrorCode::Internal, "the statement returned no row"))?,
        Shape::Rows { limit, sort, id } => {
            let rows = last(results).rows;
            let next = match (limit, rows.last()) {
                (Some(limit), Some(row)) if limit > 0 && rows.len() as i64 == limit => {
                    let keys: Vec<&Value> = sort
                        .iter()
                        .map(|c| row.get(c).unwrap_or(&Value::Null))
                        .collect();
                    Some(Cursor::encode(
                        &keys,
                        row.get(id).and_then(Value::as_str).unwrap_or_default(),
                    ))
                }
                _ => None,
            };
            Output::Rows { rows, next }
        }
        Shape::FirstRows { step, from } => Output::Rows {
            rows: results
                .into_iter()
                .skip(from)
                .step_by(step.max(1))
                .filter_map(|r| r.rows.into_iter().next())
                .collect(),
            next: None,
        },
        Shape::Touched(n) => Output::Bool(results.get(n).is_some_and(|r| r.affected > 0)),
        Shape::Count(n) => Output::Count(results.get(n).map_or(0, |r| r.affected)),
        Shape::RowOrNullAt(n) => results
            .into_iter()
            .nth(n)
            .and_then(|r| r.rows.into_iter().next())
            .map_or(Output::Null, Output::Row),
        Shape::Counts(names) => {
            // An empty name skips its statement's count.
            let named = || names.iter().enumerate().filter(|(_, n)| !n.is_empty());
            Output::Row(Row::new(
                named().map(|(_, n)| n.to_string()).collect(),
                named()
                    .map(|(i, _)| Value::Int(results.get(i).map_or(0, |r| r.affected as i64)))
                    .collect(),
            ))
        }
    })
}
