//! The three repositories, written once over the backend seam. Each method validates its input
//! and returns a [`Call`]: the statements to run and how to shape what they return. The binding
//! (or a test) hands the call to [`Database::call`].

pub mod executions;
pub mod handlers;
pub mod metrics;
pub mod usage;

use super::db::{Backend, Bulk, Database, DbKind, Statement, StmtResult};
use super::error::{Error, ErrorCode, Result};
use super::input::{self, Cursor, Input, Page};
use super::value::{now_millis, Row, Value};

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
    /// How many rows each statement touched, as one row with these names.
    Counts(&'static [&'static str]),
}

/// What a write changes that a cache may hold: the cache service drops those entries when the
/// write ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// One execution, by `execution_id`.
    Execution(String),
    /// Any number of executions.
    Executions,
    /// One handler, by `handler_type`.
    Handler(String),
    /// Any number of handlers.
    Handlers,
}

/// A validated repository call.
#[derive(Debug)]
pub struct Call {
    pub op: Op,
    pub shape: Shape,
    /// What the write changes (empty for reads and for writes no cache holds).
    pub touches: Vec<Touch>,
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
        }
    }

    /// This call, marked as changing `touch`.
    pub fn touching(mut self, touch: Touch) -> Call {
        self.touches.push(touch);
        self
    }
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
        Shape::Counts(names) => Output::Row(Row::new(
            names.iter().map(|n| n.to_string()).collect(),
            names
                .iter()
                .enumerate()
                .map(|(i, _)| Value::Int(results.get(i).map_or(0, |r| r.affected as i64)))
                .collect(),
        )),
    })
}

impl Database {
    /// Runs a call on the calling thread when it is an SQLite point read (no thread hop);
    /// returns None when it has to run elsewhere (then use [`Database::call_with`]).
    pub fn call_now(&self, call: &Call) -> Option<Result<Output>> {
        match (&call.op, self.backend()) {
            (Op::Read(statement), Backend::Sqlite(db)) => Some(
                db.read(|conn| {
                    super::db::sqlite::run_statements(conn, std::slice::from_ref(statement))
                })
                .and_then(|r| shape(r, call.shape)),
            ),
            _ => None,
        }
    }

    /// Runs a call and reports through `done`, from whichever thread finished it: the SQLite
    /// writer thread for writes, a runtime thread otherwise.
    pub fn call_with(
        self: &std::sync::Arc<Self>,
        call: Call,
        done: impl FnOnce(Result<Output>) + Send + 'static,
    ) {
        let Call {
            op,
            shape: how,
            touches,
        } = call;
        match (op, self.backend()) {
            (Op::Write(statements) | Op::Batch { statements, .. }, Backend::Sqlite(sqlite)) => {
                let db = self.clone();
                sqlite.write_with(statements, move |r| {
                    db.invalidate(&touches);
                    done(r.and_then(|r| shape(r, how)))
                });
            }
            (op, _) => match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let db = self.clone();
                    runtime.spawn(async move {
                        let r = db.run_op(op).await;
                        db.invalidate(&touches);
                        done(r.and_then(|r| shape(r, how)));
                    });
                }
                Err(_) => done(Err(Error::internal(
                    "a database call was made outside the runtime",
                ))),
            },
        }
    }

    /// Runs a call to completion (tests, services).
    pub async fn call(&self, call: Call) -> Result<Output> {
        let Call {
            op,
            shape: how,
            touches,
        } = call;
        let results = self.run_op(op).await;
        // Whatever the outcome (a failed COMMIT may still have landed), caches forget it.
        self.invalidate(&touches);
        shape(results?, how)
    }

    async fn run_op(&self, op: Op) -> Result<Vec<StmtResult>> {
        match (op, self.backend()) {
            (Op::Write(statements), _) => self.write(statements).await,
            (Op::Batch { statements, bulk }, Backend::Postgres(pg)) => {
                pg.insert_bulk(bulk, statements).await
            }
            (Op::Batch { statements, .. }, _) => self.write(statements).await,
            (Op::Read(s) | Op::Scan(s), _) => {
                let rows = self.fetch(s.sql, s.params).await?;
                Ok(vec![StmtResult {
                    affected: rows.len() as u64,
                    rows,
                }])
            }
        }
    }
}

/// A page of rows newest first by the time column `sort[0]` (ties by `id`), matching `filters`
/// (column = value): the list shape of executions, metrics and usage history.
pub(crate) fn newest_first(
    select: &str,
    sort: &'static [&'static str],
    filters: Vec<(&'static str, Value)>,
    page: Page,
) -> Result<Call> {
    let time = sort[0];
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    for (column, value) in filters {
        params.push(value);
        clauses.push(format!("{column} = ${}", params.len()));
    }
    if let Some(after) = &page.after {
        params.push(after.key()?.clone());
        params.push(cursor_id(&after.id));
        clauses.push(format!(
            "({time}, id) < (${}, ${})",
            params.len() - 1,
            params.len()
        ));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let tail = limit_offset(&page, &mut params);
    Ok(Call::scan(
        Statement::new(
            format!("{select} {filter} ORDER BY {time} DESC, id DESC {tail}"),
            params,
        ),
        Shape::Rows {
            limit: Some(page.limit),
            sort,
            id: "id",
        },
    ))
}

/// `LIMIT $n OFFSET $m` of a page, its values bound into `params`.
pub(crate) fn limit_offset(page: &Page, params: &mut Vec<Value>) -> String {
    params.push(Value::Int(page.limit));
    params.push(Value::Int(page.offset));
    format!("LIMIT ${} OFFSET ${}", params.len() - 1, params.len())
}

/// Row ids are UUIDs: bound as such so PostgreSQL compares them as its own type.
pub(crate) fn cursor_id(id: &str) -> Value {
    uuid::Uuid::parse_str(id)
        .map(Value::Uuid)
        .unwrap_or_else(|_| Value::Text(id.to_string()))
}

/// `DELETE … WHERE <time> < $1` with the cutoff `daysOld` (default 30) days ago; resolves the
/// number of rows removed.
pub(crate) fn delete_older_than(delete: &'static str, days_old: &Input) -> Result<Call> {
    let cutoff = now_millis() - input::days_old(days_old)? * 86_400_000;
    Ok(Call::write(
        vec![Statement::new(delete, vec![Value::Timestamp(cutoff)])],
        Shape::Count(0),
    ))
}

/// The keyset condition "after this row" for `ORDER BY t1 d1, t2 d2, …` (the last term
/// unique), with any mix of directions: `t1 ≷ v1 OR (t1 = v1 AND (t2 ≷ v2 OR …))`. Each term is
/// `(expression, descending)`; the values are bound into `params`.
pub fn keyset(terms: &[(String, bool)], values: Vec<Value>, params: &mut Vec<Value>) -> String {
    let mut placeholders = Vec::new();
    for v in values {
        params.push(v);
        placeholders.push(format!("${}", params.len()));
    }
    let mut clause = String::new();
    for (i, ((expr, desc), p)) in terms.iter().zip(&placeholders).enumerate().rev() {
        let op = if *desc { "<" } else { ">" };
        clause = if i == terms.len() - 1 {
            format!("{expr} {op} {p}")
        } else {
            format!("({expr} {op} {p} OR ({expr} = {p} AND {clause}))")
        };
    }
    format!("({clause})")
}

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

    /// A value as double precision (PostgreSQL's AVG of integers is NUMERIC).
    pub fn float(&self, expr: &str) -> String {
        if self.pg() {
            format!("({expr})::double precision")
        } else {
            format!("CAST({expr} AS REAL)")
        }
    }
}
