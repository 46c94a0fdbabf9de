//! The backend seam. Repositories and services talk to [`Database`]: statements written once
//! (PostgreSQL dialect with `$n` placeholders), run by whichever backend is open.

pub mod breaker;
pub mod merge;
pub mod pg_group;
pub mod postgres;
pub mod room;
pub mod sqlite;
pub mod writer;

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};

use super::config::{ConnectConfig, Target};
use super::error::{Error, ErrorCode, Result};
use super::invalidate::{Invalidate, Watchers};
use super::metrics::{Metrics, Snapshot};
use super::notify::Hub;
use super::repo::Touch;
use super::value::{Row, Value};
use postgres::PgDb;
use sqlite::SqliteDb;

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

    /// Whether it only deletes rows (so that it may run on a full disk, see [`room`]).
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

/// The open backend.
pub enum Backend {
    Postgres(Box<PgDb>),
    Sqlite(SqliteDb),
}

/// Which kind of database is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Postgres,
    Sqlite,
    Memory,
}

impl DbKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DbKind::Postgres => "postgresql",
            DbKind::Sqlite => "sqlite",
            DbKind::Memory => "memory",
        }
    }
}

/// The calls under way on a database: `close()` lets them finish before it closes.
#[derive(Default)]
pub struct Calls {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// One call under way (see [`Database::begin_call`]); dropping it ends the call.
pub struct CallGuard(Arc<Calls>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self
            .0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}

impl Calls {
    /// Waits until no call is under way, or `limit` passed (a call stuck on an unreachable
    /// server must not hold `close()` forever); false when it gave up.
    async fn drained(&self, limit: std::time::Duration) -> bool {
        use std::sync::atomic::Ordering;
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

/// How long `close()` waits for the calls under way.
const CLOSE_DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// An open database: the backend, its kind, and whether the fallback was used.
pub struct Database {
    backend: Backend,
    kind: DbKind,
    used_fallback: bool,
    /// The calls under way.
    calls: Arc<Calls>,
    /// The caches built on this database.
    watchers: Arc<Watchers>,
    /// The LISTEN side (PostgreSQL), started on first need.
    hub: tokio::sync::OnceCell<Arc<Hub>>,
    /// The package's own counters (`getMetrics()`).
    metrics: Arc<Metrics>,
}

impl Database {
    /// Opens the primary target; if it cannot be reached, logs a warning and opens the fallback.
    /// A primary that is reachable but fails otherwise (migrations, a bad schema) is an error:
    /// falling back then would hide the real data behind an empty embedded database.
    pub async fn connect(config: &ConnectConfig) -> Result<Database> {
        let primary = Self::open(&config.primary, config).await;
        let db = match (primary, &config.fallback) {
            (Ok(db), _) => db,
            (Err(e), Some(fallback))
                if is_unreachable(&e) && matches!(config.primary, Target::Postgres(_)) =>
            {
                tracing::warn!(
                    primary = config.primary.kind(),
                    fallback = fallback.kind(),
                    reason = %e.message,
                    "primary database unavailable; using the fallback"
                );
                let mut db = Self::open(fallback, config).await?;
                db.used_fallback = true;
                db
            }
            (Err(e), _) => return Err(e),
        };
        if config.migrate {
            if let Err(e) = super::migrate::migrate(&db).await {
                let restore = match &db.backend {
                    Backend::Sqlite(s) => s.restore(),
                    Backend::Postgres(_) => None,
                };
                db.close().await;
                drop(db);
                // A first migration that failed leaves the file as it was found.
                if let Some(restore) = restore {
                    blocking(move || {
                        restore.run(super::migrate::MIGRATIONS_TABLE);
                        Ok(())
                    })
                    .await?;
                }
                return Err(e);
            }
        }
        Ok(db)
    }

    async fn open(target: &Target, config: &ConnectConfig) -> Result<Database> {
        let (backend, kind) = match target {
            Target::Postgres(options) => (
                Backend::Postgres(Box::new(
                    PgDb::connect(
                        (**options).clone(),
                        config.pool_size,
                        config.connect_timeout,
                        config.acquire_timeout,
                        config.schema.clone(),
                    )
                    .await?,
                )),
                DbKind::Postgres,
            ),
            Target::Sqlite(path) => {
                let path = path.clone();
                let db = blocking(move || {
                    SqliteDb::open_file(&path, super::migrate::refuse_foreign_sqlite)
                })
                .await?;
                (Backend::Sqlite(db), DbKind::Sqlite)
            }
            Target::Memory => (Backend::Sqlite(SqliteDb::open_memory()?), DbKind::Memory),
        };
        Ok(Database::new(backend, kind))
    }

    /// Opens and migrates a private in-memory database without a runtime (blocks the caller
    /// for the migration, a few milliseconds of CPU).
    pub fn open_memory_now() -> Result<Database> {
        let db = SqliteDb::open_memory()?;
        let (tx, rx) = std::sync::mpsc::channel();
        db.exclusive_with(super::migrate::migrate_sqlite, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().map_err(|_| Error::closed())??;
        Ok(Database::new(Backend::Sqlite(db), DbKind::Memory))
    }

    fn new(backend: Backend, kind: DbKind) -> Database {
        Database {
            backend,
            kind,
            used_fallback: false,
            calls: Arc::default(),
            watchers: Arc::default(),
            hub: tokio::sync::OnceCell::new(),
            metrics: Arc::default(),
        }
    }

    /// The package's own counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The counters as read now, with what the backend reports.
    pub fn metrics_snapshot(&self) -> Snapshot {
        let figures = match &self.backend {
            Backend::Postgres(pg) => pg.figures(),
            Backend::Sqlite(db) => db.figures(self.kind.as_str()),
        };
        self.metrics.snapshot(figures)
    }

    /// Registers a cache to be told what writes change.
    pub fn watch(&self, watcher: std::sync::Weak<dyn Invalidate>) {
        self.watchers.add(watcher);
    }

    /// Tells this process's caches what a write changed.
    pub fn invalidate(&self, touches: &[Touch]) {
        self.watchers.invalidate(touches);
    }

    /// The LISTEN/NOTIFY hub of a PostgreSQL database (started on first call); None on SQLite,
    /// where one process owns the data.
    pub async fn hub(&self) -> Result<Option<Arc<Hub>>> {
        let Backend::Postgres(pg) = &self.backend else {
            return Ok(None);
        };
        let hub = self
            .hub
            .get_or_try_init(|| {
                Hub::start(
                    pg.pool().clone(),
                    pg.channels().clone(),
                    self.watchers.clone(),
                    self.metrics.clone(),
                )
            })
            .await?;
        Ok(Some(hub.clone()))
    }

    /// The hub, if it was started.
    pub fn started_hub(&self) -> Option<&Arc<Hub>> {
        self.hub.get()
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn used_fallback(&self) -> bool {
        self.used_fallback
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Where the data lives, without credentials: `{type, database, host?, port?}`.
    pub fn describe(&self) -> Vec<(&'static str, Value)> {
        let mut out = vec![("type", Value::from(self.kind.as_str()))];
        match &self.backend {
            Backend::Postgres(pg) => {
                let o = pg.options();
                out.push(("host", Value::from(o.get_host())));
                out.push(("port", Value::Int(o.get_port().into())));
                out.push((
                    "database",
                    Value::from(o.get_database().map(str::to_string)),
                ));
                if let Some(schema) = pg.schema() {
                    out.push(("schema", Value::from(schema)));
                }
            }
            Backend::Sqlite(db) => {
                let path = db
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| ":memory:".into());
                out.push(("database", Value::from(path)));
            }
        }
        out
    }

    /// Runs a read query. On SQLite it runs on the scan connection off the calling thread.
    pub async fn fetch(
        &self,
        sql: impl Into<Cow<'static, str>>,
        params: Vec<Value>,
    ) -> Result<Vec<Row>> {
        let statement = Statement::new(sql, params);
        match &self.backend {
            Backend::Postgres(pg) => pg.query(&statement).await,
            Backend::Sqlite(db) => {
                db.scan(move |conn| {
                    Ok(
                        sqlite::run_statements(conn, std::slice::from_ref(&statement))?
                            .remove(0)
                            .rows,
                    )
                })
                .await
            }
        }
    }

    /// Whether `table` exists (the catalogs are the one dialect difference here).
    pub async fn table_exists(&self, table: &'static str) -> Result<bool> {
        let sql = match self.kind {
            DbKind::Postgres => "SELECT to_regclass($1) IS NOT NULL AS present",
            DbKind::Sqlite | DbKind::Memory => {
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1) AS present"
            }
        };
        let rows = self.fetch(sql, vec![Value::from(table)]).await?;
        Ok(match rows.first().and_then(|r| r.get("present")) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Int(i)) => *i != 0,
            _ => false,
        })
    }

    /// Runs statements in one transaction and returns what each produced.
    pub async fn write(&self, statements: Vec<Statement>) -> Result<Vec<StmtResult>> {
        match &self.backend {
            Backend::Postgres(pg) => pg.write(statements).await,
            Backend::Sqlite(db) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                db.write_with(statements, move |r| {
                    let _ = tx.send(r);
                });
                rx.await.map_err(|_| Error::closed())?
            }
        }
    }

    /// Marks a call as under way until the guard is dropped: take it when the call is made (on
    /// the caller's thread), so that a `close()` that follows waits for it.
    pub fn begin_call(&self) -> CallGuard {
        self.calls
            .count
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        CallGuard(self.calls.clone())
    }

    /// Closes the pool or the connections once the calls made before it finished (every
    /// queued write commits, on every backend).
    pub async fn close(&self) {
        if !self.calls.drained(CLOSE_DRAIN_LIMIT).await {
            tracing::warn!(
                "closing with calls still under way after 30 s; they fail with ERR_CLOSED"
            );
        }
        if let Some(hub) = self.hub.get() {
            hub.stop();
        }
        match &self.backend {
            Backend::Postgres(pg) => pg.close().await,
            Backend::Sqlite(db) => {
                // Joining the writer waits for its queue: keep that off the runtime's workers.
                tokio::task::block_in_place(|| db.close());
            }
        }
    }
}

/// Unavailability that justifies the fallback (as opposed to a schema or a configuration error).
fn is_unreachable(err: &Error) -> bool {
    matches!(err.code, ErrorCode::DbUnavailable | ErrorCode::Timeout)
}

/// Runs blocking work (file I/O) on the runtime's blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::internal("blocking work panicked"))?
}

/// Locks a mutex, recovering it if a panic poisoned it (the data it guards stays consistent:
/// connections roll back their own transactions).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
