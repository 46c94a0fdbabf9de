//! SQLite backend: a reader connection used on the caller's thread for point reads, a scan
//! connection for longer reads run off the JS thread, and the [`Writer`] thread for every write.
//! The in-memory mode uses one connection for all three roles (an in-memory database is private
//! to its connection, and shared-cache table locks would bypass `busy_timeout`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};

use super::super::columns::{column_kind, ColumnKind};
use super::super::error::{Error, ErrorCode, Result};
use super::super::metrics::BackendFigures;
use super::super::value::{iso_to_millis, millis_to_iso, Row, Value};
use super::room::{self, Reserve};
use super::writer::Writer;
use super::{lock, merge, Statement, StmtResult};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An open SQLite database (file or memory).
pub struct SqliteDb {
    path: Option<PathBuf>,
    /// The file's journal mode before this open switched it to WAL; `None` for a file this open
    /// created (see [`Restore`]).
    journal_before: Option<String>,
    reader: Arc<Mutex<Connection>>,
    scanner: Arc<Mutex<Connection>>,
    writer: Arc<Writer>,
    reserve: Arc<Reserve>,
}

impl SqliteDb {
    /// Opens (and creates, with its directories) the database file at `path`. `check` reads the
    /// file before anything changes it (before WAL is switched on): an error there leaves the
    /// file exactly as it was.
    pub fn open_file(path: &Path, check: fn(&Connection) -> Result<()>) -> Result<SqliteDb> {
        let existed = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::new(
                    ErrorCode::DbUnavailable,
                    "cannot create the directory of the SQLite file",
                )
                .with_cause(e.to_string(), e.raw_os_error().map(|c| c.to_string()))
            })?;
        }
        let writer_conn = open(path, false)?;
        // One read transaction, so that every read of the check sees the same snapshot: another
        // process's migration commits either wholly before it or wholly after it.
        let checked = writer_conn
            .unchecked_transaction()
            .map_err(Error::from)
            .and_then(|snapshot| check(&snapshot));
        if let Err(e) = checked {
            drop(writer_conn);
            if !existed {
                remove_files(path);
            }
            return Err(e);
        }
        let journal_before = if existed {
            Some(writer_conn.pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))?)
        } else {
            None
        };
        // WAL is a property of the file: set it once, from the writer, before the others open.
        // Switching needs an exclusive lock, and SQLite answers BUSY at once (without its busy
        // handler) when two processes race to switch a new file: retry within the busy timeout.
        retry_busy(|| writer_conn.pragma_update(None, "journal_mode", "WAL"))?;
        // What a process that ended on a full disk left in the WAL goes into the file now, as
        // far as the disk and other processes' readers allow (without waiting for them).
        let _ = writer_conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
        let reader = open(path, true)?;
        let scanner = open(path, true)?;
        Ok(SqliteDb {
            path: Some(path.to_path_buf()),
            journal_before,
            reader: Arc::new(Mutex::new(reader)),
            scanner: Arc::new(Mutex::new(scanner)),
            writer: Arc::new(Writer::start(Arc::new(Mutex::new(writer_conn)))?),
            reserve: Arc::new(Reserve::beside(path)),
        })
    }

    /// Opens a private in-memory database.
    pub fn open_memory() -> Result<SqliteDb> {
        let conn = Connection::open_in_memory()?;
        configure(&conn, false)?;
        let shared = Arc::new(Mutex::new(conn));
        Ok(SqliteDb {
            path: None,
            journal_before: None,
            reader: shared.clone(),
            scanner: shared.clone(),
            writer: Arc::new(Writer::start(shared)?),
            reserve: Arc::new(Reserve::none()),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How to put the file back as this open found it, for when its first migration failed.
    pub fn restore(&self) -> Option<Restore> {
        self.path.clone().map(|path| Restore {
            path,
            journal_before: self.journal_before.clone(),
        })
    }

    /// Whether writes other than deletes are refused for want of room on the disk (see
    /// [`room`]).
    pub fn disk_full(&self) -> bool {
        !self.reserve.held()
    }

    /// What a metrics snapshot reports of this backend (`kind`: `sqlite` or `memory`).
    pub fn figures(&self, kind: &'static str) -> BackendFigures {
        let stats = self.writer.stats();
        BackendFigures {
            kind,
            pool: None,
            write_queue: stats.queued.load(std::sync::atomic::Ordering::Relaxed) as u64,
            groups: stats.groups.snapshot(),
            breaker_open: false,
            breaker_recoveries: 0,
        }
    }

    /// Runs `f` on the reader connection, on the calling thread.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        f(&lock(&self.reader))
    }

    /// Runs `f` on the scan connection, on a blocking thread of the runtime.
    pub async fn scan<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.scanner.clone();
        tokio::task::spawn_blocking(move || f(&lock(&conn)))
            .await
            .map_err(|_| Error::internal("a scan panicked"))?
    }

    /// Queues statements to run in one savepoint of the next group commit (with the rules of
    /// [`room`] for a full disk).
    pub fn write_with(
        &self,
        statements: Vec<Statement>,
        done: impl FnOnce(Result<Vec<StmtResult>>) + Send + 'static,
    ) {
        room::write(&self.writer, &self.reserve, statements, Box::new(done));
    }

    /// Runs `work` alone on the writer connection; it manages its own transactions.
    pub async fn exclusive<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer.exclusive(work, move |r| {
            let _ = tx.send(r);
        });
        rx.await.map_err(|_| Error::closed())?
    }

    /// Runs `work` alone on the writer connection and reports through `done`.
    pub fn exclusive_with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
        done: impl FnOnce(Result<T>) + Send + 'static,
    ) {
        self.writer.exclusive(work, done);
    }

    /// Commits what is queued, stops the writer and closes the connections.
    pub fn close(&self) {
        self.writer.close();
        if self.path.is_some() {
            // Fold the WAL back into the file so a closed database is one file again.
            let _ = lock(&self.scanner).execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        }
    }
}

/// A file as an open found it: run once every connection to it is closed.
pub struct Restore {
    path: PathBuf,
    journal_before: Option<String>,
}

impl Restore {
    /// When the file holds nothing of the package's (no `table`): removes a file the open
    /// created, or gives an existing one its journal mode back; either way without the reserve
    /// the open took beside it.
    pub fn run(self, table: &str) {
        let Ok(conn) = open(&self.path, false) else {
            return;
        };
        let ours: rusqlite::Result<bool> = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?1)",
            [table],
            |r| r.get(0),
        );
        if !matches!(ours, Ok(false)) {
            return;
        }
        let _ = std::fs::remove_file(room::reserve_path(&self.path));
        match self.journal_before {
            None => {
                drop(conn);
                remove_files(&self.path);
            }
            Some(mode) if !mode.eq_ignore_ascii_case("wal") => {
                let _ = conn.pragma_update(None, "journal_mode", &mode);
            }
            Some(_) => {}
        }
    }
}

/// Removes an SQLite file with its WAL, shared-memory and reserve files.
fn remove_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal", room::SUFFIX] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(2);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other.map_err(Error::from),
        }
    }
}

fn open(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        let base = Error::from(e);
        Error {
            code: ErrorCode::DbUnavailable,
            message: "cannot open the SQLite file".into(),
            cause: base.cause,
        }
    })?;
    configure(&conn, read_only)?;
    Ok(conn)
}

fn configure(conn: &Connection, read_only: bool) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoint sub-journals and sort spills in memory: on disk they doubled the I/O of a write.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(128);
    register_functions(conn)?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    Ok(())
}

/// `stddev_samp(x)` as on PostgreSQL (Welford's algorithm: exact for large values such as epoch
/// milliseconds, where the sum-of-squares formula cancels catastrophically). NULL for < 2 values.
fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::{Aggregate, Context, FunctionFlags};

    struct StddevSamp;
    impl Aggregate<(u64, f64, f64), Option<f64>> for StddevSamp {
        fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<(u64, f64, f64)> {
            Ok((0, 0.0, 0.0))
        }
        fn step(&self, ctx: &mut Context<'_>, acc: &mut (u64, f64, f64)) -> rusqlite::Result<()> {
            if let Some(x) = ctx.get::<Option<f64>>(0)? {
                acc.0 += 1;
                let delta = x - acc.1;
                acc.1 += delta / acc.0 as f64;
                acc.2 += delta * (x - acc.1);
            }
            Ok(())
        }
        fn finalize(
            &self,
            _: &mut Context<'_>,
            acc: Option<(u64, f64, f64)>,
        ) -> rusqlite::Result<Option<f64>> {
            Ok(acc
                .filter(|a| a.0 > 1)
                .map(|a| (a.2 / (a.0 - 1) as f64).sqrt()))
        }
    }
    conn.create_aggregate_function(
        "stddev_samp",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        StddevSamp,
    )?;
    Ok(())
}

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
