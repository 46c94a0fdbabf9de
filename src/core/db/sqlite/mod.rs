//! SQLite backend: a reader connection used on the caller's thread for point reads, a scan
//! connection for longer reads run off the JS thread, and the [`Writer`] thread for every write.
//! The in-memory mode uses one connection for all three roles (an in-memory database is private
//! to its connection, and shared-cache table locks would bypass `busy_timeout`).

pub mod checkpoint;
pub mod exec;
pub mod room;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use self::exec::run_statements;
use self::room::Reserve;
use self::writer::{Writer, BUSY_TIMEOUT};
use crate::core::db::migrate;
use crate::core::db::statement::{Statement, StmtResult};
use crate::core::db::store::{Steps, Store};
use crate::core::db::sync::lock;
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::metrics::BackendFigures;
use crate::core::value::{Row, Value};

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
    /// Opened by [`SqliteDb::open_file_read_only`]: nothing is to be restored or written.
    read_only: bool,
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
        checkpoint::watch(&writer_conn);
        let writer = Writer::start(Arc::new(Mutex::new(writer_conn)))?;
        Ok(SqliteDb {
            path: Some(path.to_path_buf()),
            journal_before,
            reader: Arc::new(Mutex::new(reader)),
            scanner: Arc::new(Mutex::new(scanner)),
            writer: Arc::new(writer),
            reserve: Arc::new(Reserve::beside(path)),
            read_only: false,
        })
    }

    /// Opens the existing database file at `path` without writing to it: nothing is created
    /// (no folder, file or reserve), the journal mode is left as it is, and every connection is
    /// `query_only`. A missing file is `ERR_DB_UNAVAILABLE`.
    pub fn open_file_read_only(path: &Path) -> Result<SqliteDb> {
        if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return Err(Error::new(
                ErrorCode::DbUnavailable,
                "the SQLite file does not exist (a read-only open creates nothing)",
            ));
        }
        let connect = || -> Result<Connection> {
            let conn = Connection::open_with_flags(
                path,
                // Read-write without CREATE, every connection `query_only`: SQLite's own read-only
                // mode leaves the WAL and shared-memory files it makes behind, where the last
                // connection of a read-write open removes them as it closes.
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| Error {
                code: ErrorCode::DbUnavailable,
                message: "cannot open the SQLite file".into(),
                cause: Error::from(e).cause,
                meta: None,
            })?;
            configure(&conn, true)?;
            Ok(conn)
        };
        let writer = Writer::start(Arc::new(Mutex::new(connect()?)))?;
        Ok(SqliteDb {
            path: Some(path.to_path_buf()),
            journal_before: None,
            reader: Arc::new(Mutex::new(connect()?)),
            scanner: Arc::new(Mutex::new(connect()?)),
            writer: Arc::new(writer),
            reserve: Arc::new(Reserve::none()),
            read_only: true,
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
            read_only: false,
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How to put the file back as this open found it, for when its first migration failed.
    pub fn restore(&self) -> Option<Restore> {
        if self.read_only {
            return None;
        }
        self.path.clone().map(|path| Restore {
            path,
            journal_before: self.journal_before.clone(),
        })
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

    /// Commits what is queued, stops the writer and closes the connections, on this thread.
    pub fn close_now(&self) {
        self.writer.close();
        if self.path.is_some() && !self.read_only {
            // Fold the WAL back into the file so a closed database is one file again.
            let _ = lock(&self.scanner).execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
        }
    }
}

impl Store for SqliteDb {
    async fn write(&self, statements: Vec<Statement>) -> Result<Vec<StmtResult>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.write_with(statements, move |r| {
            let _ = tx.send(r);
        });
        rx.await.map_err(|_| Error::closed())?
    }

    /// On the scan connection, on a blocking thread of the runtime.
    async fn fetch(&self, statement: Statement) -> Result<Vec<Row>> {
        self.scan(move |conn| {
            Ok(run_statements(conn, std::slice::from_ref(&statement))?
                .remove(0)
                .rows)
        })
        .await
    }

    /// On the writer connection; its `BEGIN IMMEDIATE` holds other processes' writers off.
    async fn transact<S: Steps + 'static>(&self, steps: S) -> Result<S> {
        self.exclusive(move |conn| exec::transact(conn, steps))
            .await
    }

    async fn migrate(&self) -> Result<()> {
        self.exclusive(migrate::migrate_sqlite).await
    }

    /// `SELECT 1` on the scan connection, then a turn through the writer thread's queue; and
    /// the disk must have room (see [`room`]).
    async fn probe(&self) -> Result<()> {
        self.fetch(Statement::new("SELECT 1 AS one", Vec::new()))
            .await?;
        self.exclusive(|_| Ok(())).await?;
        match self.disk_full() {
            true => Err(room::disk_full()),
            false => Ok(()),
        }
    }

    /// The writer runs its queue in order: this runs after every write queued before it.
    async fn settle(&self) {
        let _ = self.exclusive(|_| Ok(())).await;
    }

    /// Joining the writer waits for its queue: kept off the runtime's workers.
    async fn close(&self) {
        tokio::task::block_in_place(|| self.close_now());
    }

    fn figures(&self, kind: &'static str) -> BackendFigures {
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

    fn describe(&self, out: &mut Vec<(&'static str, Value)>) {
        let path = self
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ":memory:".into());
        out.push(("database", Value::from(path)));
    }

    /// See [`room`].
    fn disk_full(&self) -> bool {
        !self.reserve.held()
    }

    fn has_writer(&self) -> bool {
        true
    }

    /// On the reader connection, on the calling thread.
    fn read_now(&self, statement: &Statement) -> Option<Result<Vec<StmtResult>>> {
        Some(self.read(|conn| run_statements(conn, std::slice::from_ref(statement))))
    }

    /// When the writer is idle (see [`Writer::now`] and [`room::write_now`]).
    fn write_now(&self, statements: &[Statement]) -> Option<Result<Vec<StmtResult>>> {
        if self.read_only {
            return Some(Err(read_only()));
        }
        room::write_now(&self.writer, &self.reserve, statements)
    }

    /// In one savepoint of the next group commit (with the rules of [`room`] for a full disk).
    fn write_with(
        &self,
        statements: Vec<Statement>,
        done: impl FnOnce(Result<Vec<StmtResult>>) + Send + 'static,
    ) {
        if self.read_only {
            return done(Err(read_only()));
        }
        room::write(&self.writer, &self.reserve, statements, Box::new(done));
    }
}

/// A write on a read-only open: refused before it runs (as PostgreSQL's read-only transactions
/// refuse it, SQLSTATE 25006).
fn read_only() -> Error {
    Error::new(
        ErrorCode::DbRefused,
        "the database is open read-only: writes are refused",
    )
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
            meta: None,
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

/// `stddev_samp(x)` as on PostgreSQL: NULL for < 2 values. Welford's algorithm on the values
/// shifted by the first one, so large values close together (epoch milliseconds) lose nothing:
/// unshifted, the running mean's rounding (a quarter of a unit at 1.8e12) reached the result.
fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::{Aggregate, Context, FunctionFlags};

    /// Count, shift (the first value), mean of the shifted values, sum of squared deviations.
    type Acc = (u64, f64, f64, f64);
    struct StddevSamp;
    impl Aggregate<Acc, Option<f64>> for StddevSamp {
        fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Acc> {
            Ok((0, 0.0, 0.0, 0.0))
        }
        fn step(&self, ctx: &mut Context<'_>, acc: &mut Acc) -> rusqlite::Result<()> {
            if let Some(x) = ctx.get::<Option<f64>>(0)? {
                if acc.0 == 0 {
                    acc.1 = x;
                }
                acc.0 += 1;
                let d = x - acc.1;
                let delta = d - acc.2;
                acc.2 += delta / acc.0 as f64;
                acc.3 += delta * (d - acc.2);
            }
            Ok(())
        }
        fn finalize(&self, _: &mut Context<'_>, acc: Option<Acc>) -> rusqlite::Result<Option<f64>> {
            Ok(acc
                .filter(|a| a.0 > 1)
                .map(|a| (a.3 / (a.0 - 1) as f64).sqrt()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch milliseconds a second apart: the unshifted running mean was off by 6e-8 here.
    #[test]
    fn stddev_samp_is_exact_for_large_close_values() {
        let conn = Connection::open_in_memory().unwrap();
        register_functions(&conn).unwrap();
        let sd = |values: &str| -> Option<f64> {
            conn.query_row(
                &format!(
                    "SELECT stddev_samp(x) FROM (SELECT value AS x FROM json_each('{values}'))"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        let xs = [1780084570456.0_f64, 1780084570474.0, 1780084571457.0];
        let mean = xs.iter().sum::<f64>() / 3.0;
        let exact = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        let got = sd("[1780084570456,1780084570474,1780084571457]").unwrap();
        assert!((got / exact - 1.0).abs() < 1e-12, "{got} vs {exact}");
        assert_eq!(sd("[2,4,4,4,5,5,7,9]").unwrap(), (32.0_f64 / 7.0).sqrt());
        assert_eq!(sd("[5]"), None);
        assert_eq!(sd("[]"), None);
        assert_eq!(sd("[null, 1, 3]").unwrap(), 2.0_f64.sqrt());
    }
}
