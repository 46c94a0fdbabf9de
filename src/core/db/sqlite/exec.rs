//! Running statements on an SQLite connection: `$n` placeholders as `?n`, merged INSERTs,
//! prepared-statement and column caches, and values to and from SQLite's types.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::core::columns::{column_kind, ColumnKind};
use crate::core::db::merge;
use crate::core::db::statement::{Statement, StmtResult};
use crate::core::db::store::Steps;
use crate::core::error::{Error, Result};
use crate::core::value::{iso_to_millis, millis_to_iso, Row, Value};

/// PostgreSQL-style `$n` placeholders as SQLite's numbered `?n`, so both backends bind by number;
/// and every `updated_at = <value>` an update sets made strictly later than the stored one (see
/// [`later_stamp`]).
pub fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') && !sql.contains(STAMPED) {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|n| n.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(later_stamp(&out))
}

const STAMPED: &str = "updated_at = ";

/// SQLite runs the `updated_at` trigger (which stamps rows an update left unstamped: `WHEN
/// NEW.updated_at IS OLD.updated_at`) after `RETURNING`. An update of ours that stamps a row in
/// the same millisecond as its previous write would set the same value, fire the trigger, and
/// return a row that differs from the stored one. So the stamp we set is never earlier than the
/// stored one plus a millisecond: the trigger never fires for our writes.
fn later_stamp(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 64);
    let mut rest = sql;
    while let Some(at) = rest.find(STAMPED) {
        let (head, tail) = rest.split_at(at + STAMPED.len());
        out.push_str(head);
        let value_len = if let Some(number) = tail.strip_prefix('?') {
            1 + number.chars().take_while(char::is_ascii_digit).count()
        } else if tail.starts_with("excluded.updated_at") {
            "excluded.updated_at".len()
        } else {
            0
        };
        let standalone = head.len() == STAMPED.len()
            || !head[..head.len() - STAMPED.len()]
                .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if value_len == 0 || !standalone {
            rest = tail;
            continue;
        }
        let value = &tail[..value_len];
        out.push_str(&format!(
            "MAX({value}, COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, '+0.001 seconds'), {value}))"
        ));
        rest = &tail[value_len..];
    }
    out.push_str(rest);
    out
}

/// The most rows in one merged INSERT on SQLite (9 columns a row stays far below SQLite's 32,766
/// parameters, and the statement is small enough to stay prepared).
const MAX_MERGED_ROWS: usize = 100;

/// Runs statements in order on `conn`, collecting rows and affected counts (a batch of
/// single-row INSERTs of one shape as merged INSERTs).
pub fn run_statements(conn: &Connection, statements: &[Statement]) -> Result<Vec<StmtResult>> {
    if let Some(results) = run_merged(conn, statements)? {
        return Ok(results);
    }
    let mut out = Vec::with_capacity(statements.len());
    for s in statements {
        let result = if s.skipped(&out) {
            StmtResult::default()
        } else {
            run_one(conn, s)?
        };
        out.push(result);
    }
    Ok(out)
}

/// A write of many single-row INSERTs of one shape (a batch) as a few multi-row INSERTs: one
/// statement (and one statement journal) per [`MAX_MERGED_ROWS`] rows instead of one per row.
/// `None` when the statements are not all of one mergeable shape.
fn run_merged(conn: &Connection, statements: &[Statement]) -> Result<Option<Vec<StmtResult>>> {
    let shape = merge::one_shape(statements.iter().map(std::slice::from_ref));
    let Some(merge) = shape.filter(|_| statements.len() > 1) else {
        return Ok(None);
    };
    let members: Vec<&Statement> = statements.iter().collect();
    let mut out = Vec::with_capacity(statements.len());
    for range in merge::chunks(&members, MAX_MERGED_ROWS) {
        let chunk = &members[range];
        let result = run_one(conn, &merge::merged(merge, chunk))?;
        out.extend(merge::share(merge, chunk, result));
    }
    Ok(Some(out))
}

/// Runs `steps` in one `BEGIN IMMEDIATE` transaction on `conn` (see
/// [`Store::transact`](crate::core::db::store::Store::transact)): rolled back unless they all
/// succeed.
pub fn transact<S: Steps>(conn: &mut Connection, mut steps: S) -> Result<S> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::new();
    while let Some(statements) = steps.next(results)? {
        results = statements
            .iter()
            .map(|s| run_one(&tx, s))
            .collect::<Result<Vec<_>>>()?;
    }
    tx.commit()?;
    Ok(steps)
}

fn run_one(conn: &Connection, statement: &Statement) -> Result<StmtResult> {
    run_sql(conn, &statement.sql, &statement.params)
}

/// What a statement's SQL turns into on SQLite, worked out once per thread: the `?n` text and,
/// once known, its result columns and how to read them.
struct Prepared {
    sql: Rc<str>,
    columns: Option<Columns>,
}

/// A statement's result column names (shared by its rows) and how to read each.
type Columns = (Arc<[String]>, Rc<[ColumnKind]>);

thread_local! {
    /// Keyed by the seam's SQL text. Bounded: dynamic statements (updates of varying column
    /// sets) could otherwise grow it without end.
    static PREPARED: RefCell<HashMap<Box<str>, Prepared>> = RefCell::new(HashMap::new());
}
const PREPARED_MAX: usize = 512;

fn prepared(sql: &str) -> (Rc<str>, Option<Columns>) {
    PREPARED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(p) = cache.get(sql) {
            return (p.sql.clone(), p.columns.clone());
        }
        if cache.len() >= PREPARED_MAX {
            cache.clear();
        }
        let converted: Rc<str> = Rc::from(sqlite_sql(sql).as_ref());
        cache.insert(
            sql.into(),
            Prepared {
                sql: converted.clone(),
                columns: None,
            },
        );
        (converted, None)
    })
}

fn remember_columns(sql: &str, columns: Arc<[String]>, kinds: Rc<[ColumnKind]>) {
    PREPARED.with(|cache| {
        if let Some(p) = cache.borrow_mut().get_mut(sql) {
            p.columns = Some((columns, kinds));
        }
    });
}

fn run_sql(conn: &Connection, sql: &str, params: &[Value]) -> Result<StmtResult> {
    let (converted, known) = prepared(sql);
    let mut stmt = conn.prepare_cached(&converted)?;
    for (i, value) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, value)?;
    }
    if stmt.column_count() == 0 {
        let affected = stmt.raw_execute()? as u64;
        return Ok(StmtResult {
            rows: Vec::new(),
            affected,
        });
    }
    let (columns, kinds) = match known {
        Some(k) => k,
        None => {
            let columns: Arc<[String]> =
                stmt.column_names().iter().map(|c| c.to_string()).collect();
            let kinds: Rc<[ColumnKind]> = columns.iter().map(|c| column_kind(c)).collect();
            remember_columns(sql, columns.clone(), kinds.clone());
            (columns, kinds)
        }
    };
    let mut rows = Vec::new();
    let mut raw = stmt.raw_query();
    while let Some(row) = raw.next()? {
        let mut values = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            values.push(decode(row.get_ref(i)?, *kind)?);
        }
        rows.push(Row {
            columns: columns.clone(),
            values,
        });
    }
    let affected = rows.len() as u64;
    Ok(StmtResult { rows, affected })
}

fn decode(value: ValueRef<'_>, kind: ColumnKind) -> Result<Value> {
    Ok(match (value, kind) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(i), ColumnKind::Bool) => Value::Bool(i != 0),
        (ValueRef::Integer(i), _) => Value::Int(i),
        (ValueRef::Real(f), _) => Value::Float(f),
        (ValueRef::Text(t), kind) => {
            let text = std::str::from_utf8(t)
                .map_err(|_| Error::internal("invalid UTF-8 in SQLite text"))?;
            match kind {
                ColumnKind::Json => serde_json::from_str(text)
                    .map(Value::Json)
                    .unwrap_or_else(|_| Value::Text(text.to_string())),
                ColumnKind::Timestamp => iso_to_millis(text)
                    .map(Value::Timestamp)
                    .unwrap_or_else(|| Value::Text(text.to_string())),
                _ => Value::Text(text.to_string()),
            }
        }
        (ValueRef::Blob(b), _) => Value::Text(b.iter().map(|x| format!("{x:02x}")).collect()),
    })
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as V;
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(V::Null),
            Value::Bool(b) => ToSqlOutput::Owned(V::Integer(*b as i64)),
            Value::Int(i) => ToSqlOutput::Owned(V::Integer(*i)),
            Value::Float(f) => ToSqlOutput::Owned(V::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Json(j) => ToSqlOutput::Owned(V::Text(j.to_string())),
            Value::Timestamp(ms) => ToSqlOutput::Owned(V::Text(millis_to_iso(*ms))),
            Value::Uuid(u) => ToSqlOutput::Owned(V::Text(u.hyphenated().to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_stamps_never_repeat_the_stored_one() {
        assert_eq!(
            sqlite_sql("UPDATE t SET a = $2, updated_at = $3, last_used_at = $3 WHERE id = $1"),
            "UPDATE t SET a = ?2, updated_at = MAX(?3, COALESCE(strftime('%Y-%m-%dT%H:%M:%fZ', \
             updated_at, '+0.001 seconds'), ?3)), last_used_at = ?3 WHERE id = ?1"
        );
        let upsert = sqlite_sql("ON CONFLICT (k) DO UPDATE SET updated_at = excluded.updated_at");
        assert!(
            upsert.contains("MAX(excluded.updated_at, COALESCE("),
            "{upsert}"
        );
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, updated_at TEXT); \
             INSERT INTO t VALUES (1, '2026-01-01T00:00:00.999Z'), (2, NULL);",
        )
        .unwrap();
        let stamp = |id: i64| -> String {
            conn.query_row(
                &sqlite_sql("UPDATE t SET updated_at = $2 WHERE id = $1 RETURNING updated_at"),
                rusqlite::params![id, "2026-01-01T00:00:00.999Z"],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(stamp(1), "2026-01-01T00:00:01.000Z");
        assert_eq!(stamp(2), "2026-01-01T00:00:00.999Z");
    }

    #[test]
    fn placeholders_become_numbered() {
        assert_eq!(
            sqlite_sql("SELECT $1, $12 WHERE a = $2"),
            "SELECT ?1, ?12 WHERE a = ?2"
        );
        assert!(matches!(sqlite_sql("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn values_round_trip_through_sqlite() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (metadata TEXT, created_at TEXT, is_active INTEGER, n REAL, id TEXT)",
        )
        .unwrap();
        let id = uuid::Uuid::new_v4();
        let stmts = vec![
            Statement::new(
                "INSERT INTO t VALUES ($1, $2, $3, $4, $5)",
                vec![
                    Value::Json(serde_json::json!({"a": [1, 2]})),
                    Value::Timestamp(1_767_225_600_123),
                    Value::Bool(true),
                    Value::Float(1.5),
                    Value::Uuid(id),
                ],
            ),
            Statement::new("SELECT * FROM t", vec![]),
        ];
        let out = run_statements(&conn, &stmts).unwrap();
        assert_eq!(out[0].affected, 1);
        let row = &out[1].rows[0];
        assert_eq!(
            row.get("metadata"),
            Some(&Value::Json(serde_json::json!({"a": [1, 2]})))
        );
        assert_eq!(
            row.get("created_at"),
            Some(&Value::Timestamp(1_767_225_600_123))
        );
        assert_eq!(row.get("is_active"), Some(&Value::Bool(true)));
        assert_eq!(row.get("id"), Some(&Value::Text(id.to_string())));
    }
}
