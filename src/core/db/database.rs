//! An open database: the backend, the calls under way, the caches to tell, the counters.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use super::backend::Backend;
use super::call::{shape, without_tail, Call, Op, Output};
use super::invalidate::{Invalidate, Touch, Watchers};
use super::migrate::{self, MigrationState};
use super::postgres::notify::Hub;
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::statement::{Statement, StmtResult};
use super::store::{Steps, Store};
use super::sync::blocking;
use crate::core::abort;
use crate::core::config::{ConnectConfig, Target};
use crate::core::error::{Error, Result};
use crate::core::metrics::{Metrics, Snapshot};
use crate::core::value::{Row, Value};

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

/// What the fallback and the rejoin report, shared by the fallback's database and the primary
/// that takes over from it.
#[derive(Default, Debug)]
pub struct JournalState {
    /// Write calls are journaled (the fallback serves).
    pub journaling: AtomicBool,
    /// A replay onto PostgreSQL is under way.
    pub replaying: AtomicBool,
    /// Operations journaled and not yet replayed (nor set aside as conflicts).
    pub pending: AtomicU64,
    pub replayed: AtomicU64,
    pub conflicts: AtomicU64,
}

impl JournalState {
    pub fn figures(&self) -> (u64, u64, u64) {
        use std::sync::atomic::Ordering;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (
            load(&self.pending),
            load(&self.replayed),
            load(&self.conflicts),
        )
    }
}

/// How long `close()` waits for the calls under way.
const CLOSE_DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// An open database: the backend, its kind, and whether the fallback was used.
pub struct Database {
    backend: Backend,
    kind: DbKind,
    pub(super) used_fallback: bool,
    /// The calls under way.
    calls: Arc<Calls>,
    /// The caches built on this database.
    watchers: Arc<Watchers>,
    /// The LISTEN side (PostgreSQL), started on first need.
    hub: tokio::sync::OnceCell<Arc<Hub>>,
    /// The package's own counters (`getMetrics()`).
    metrics: Arc<Metrics>,
    /// The fallback's journal and its replay, as the metrics and `health()` report them.
    journal: Arc<JournalState>,
    /// Where calls wait for their turn on the runtime.
    lanes: Arc<super::lanes::Lanes>,
    /// The most calls in flight at once (`maxInFlight`).
    pub(super) max_in_flight: u64,
}

impl Database {
    pub(super) fn new(backend: Backend, kind: DbKind) -> Database {
        Database {
            backend,
            kind,
            used_fallback: false,
            calls: Arc::default(),
            watchers: Arc::default(),
            hub: tokio::sync::OnceCell::new(),
            metrics: Arc::default(),
            journal: Arc::default(),
            lanes: Arc::default(),
            max_in_flight: crate::core::config::DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// Whether a new call would exceed `maxInFlight`: then it is refused with this error.
    pub fn overloaded(&self) -> Option<crate::core::error::Error> {
        (self.metrics.in_flight() >= self.max_in_flight)
            .then(|| crate::core::error::Error::overloaded(self.max_in_flight))
    }

    /// Where calls on this database wait for their turn on the runtime.
    pub fn lanes(&self) -> &Arc<super::lanes::Lanes> {
        &self.lanes
    }

    /// This database, taking over from `from` (the primary after its fallback): the same caches
    /// to tell, counters and journal figures, so that nothing a caller holds sees a seam.
    pub(super) fn taking_over(self, from: &Database) -> Database {
        Database {
            watchers: from.watchers.clone(),
            metrics: from.metrics.clone(),
            journal: from.journal.clone(),
            ..self
        }
    }

    /// The fallback's journal figures (shared with the primary that takes over).
    pub fn journal(&self) -> &Arc<JournalState> {
        &self.journal
    }

    /// Whether write calls are journaled (the fallback serves, and its journal is open).
    pub fn journaling(&self) -> bool {
        self.journal
            .journaling
            .load(std::sync::atomic::Ordering::Acquire)
            && self.used_fallback
    }

    /// Whether this database's caches are to be told of other processes' writes.
    pub fn watched(&self) -> bool {
        !self.watchers.is_empty()
    }

    /// Tells every cache to drop everything (at the switch from the fallback to the primary).
    pub fn flush_caches(&self) {
        self.watchers.each(|w| w.flush());
    }

    /// The package's own counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The counters as read now, with what the backend reports.
    pub fn metrics_snapshot(&self) -> Snapshot {
        let figures = self.backend.figures(self.kind.as_str());
        let (pending, replayed, conflicts) = self.journal.figures();
        Snapshot {
            fallback_active: self.used_fallback,
            journal_pending: pending,
            journal_replayed: replayed,
            journal_conflicts: conflicts,
            ..self.metrics.snapshot(figures)
        }
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
        let Some(pg) = self.backend.postgres() else {
            return Ok(None);
        };
        let hub = self
            .hub
            .get_or_try_init(|| {
                pg.guarded(Hub::start(
                    pg.pool().clone(),
                    pg.channels().clone(),
                    self.watchers.clone(),
                    self.metrics.clone(),
                ))
            })
            .await?;
        Ok(Some(hub.clone()))
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
        self.backend.describe(&mut out);
        out
    }

    /// Runs a read query. On SQLite it runs on the scan connection off the calling thread.
    pub async fn fetch(
        &self,
        sql: impl Into<Cow<'static, str>>,
        params: Vec<Value>,
    ) -> Result<Vec<Row>> {
        self.backend.fetch(Statement::new(sql, params)).await
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
        crate::core::abort::check()?;
        self.backend.write(statements).await
    }

    /// Runs `steps` in a write transaction of their own (see [`Store::transact`]).
    pub async fn transact<S: Steps + 'static>(&self, steps: S) -> Result<S> {
        crate::core::abort::check()?;
        self.backend.transact(steps).await
    }

    /// Marks a call as under way until the guard is dropped: take it when the call is made (on
    /// the caller's thread), so that a `close()` that follows waits for it.
    pub fn begin_call(&self) -> CallGuard {
        self.calls
            .count
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        CallGuard(self.calls.clone())
    }

    /// Waits until the calls made on this database so far have finished and what they queued
    /// has committed (the fallback, once the slot serves the primary). A call that took this
    /// database just before the switch is given a moment to queue its write first.
    pub async fn settle(&self) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        self.calls.drained(CLOSE_DRAIN_LIMIT).await;
        self.backend.settle().await;
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
        self.backend.close().await;
    }
}

/// Running a [`Call`]: four ways, chosen by the executor (`exec/submit.rs`). A point read at once
/// ([`Database::call_now`]), a write at once ([`Database::write_now`]), a write on the writer
/// thread ([`Database::call_with`]), and any call to completion ([`Database::call`]).
impl Database {
    /// Runs a point read on the calling thread where the backend can (SQLite: no thread hop);
    /// returns None when it has to run elsewhere.
    pub fn call_now(&self, call: &Call) -> Option<Result<Output>> {
        let Op::Read(statement) = &call.op else {
            return None;
        };
        let results = self.backend.read_now(statement)?;
        Some(results.and_then(|r| shape(r, call.shape)))
    }

    /// Runs a write at once on the calling thread where the backend has a writer thread and it
    /// is idle (SQLite, see [`Writer::now`](super::sqlite::writer::Writer::now)); returns None
    /// when nothing ran (then queue it with [`Database::call_with`]).
    pub fn write_now(&self, call: &Call) -> Option<Result<Output>> {
        let (Op::Write(statements) | Op::Batch { statements, .. }) = &call.op else {
            return None;
        };
        if !self.backend.has_writer() {
            return None;
        }
        let results = match &call.tail {
            None => self.backend.write_now(statements)?,
            Some(tail) => {
                let with_tail: Vec<Statement> =
                    statements.iter().chain([&**tail]).cloned().collect();
                self.backend.write_now(&with_tail)?.map(without_tail)
            }
        };
        self.invalidate(&call.touches);
        Some(results.and_then(|r| shape(r, call.shape)))
    }

    /// Runs a write on the backend's writer thread and reports through `done` from there (see
    /// [`Call::runs_on_writer`]; the executor runs everything else).
    pub fn call_with(
        self: &Arc<Self>,
        call: Call,
        done: impl FnOnce(Result<Output>) + Send + 'static,
    ) {
        match call.op {
            Op::Write(mut statements) | Op::Batch { mut statements, .. } => {
                let (db, how, touches) = (self.clone(), call.shape, call.touches);
                let tailed = call.tail.is_some();
                statements.extend(call.tail.map(|t| *t));
                self.backend.write_with(statements, move |r| {
                    db.invalidate(&touches);
                    let r = if tailed { r.map(without_tail) } else { r };
                    done(r.and_then(|r| shape(r, how)))
                });
            }
            // Only writes run on the writer (see [`Call::runs_on_writer`]).
            _ => done(Err(Error::internal("not a write"))),
        }
    }

    /// Runs a call to completion (tests, services). Under an abort (see [`crate::core::abort`])
    /// it does not start once the signal fired, and a read's result is dropped if it fired
    /// meanwhile (a write is checked before it commits).
    pub async fn call(&self, call: Call) -> Result<Output> {
        abort::check()?;
        let Call {
            op,
            shape: how,
            touches,
            tail,
        } = call;
        let reads = !matches!(op, Op::Write(_) | Op::Batch { .. });
        let results = match tail {
            None => self.run_op(op).await,
            // A tail rides in the write's own transaction (a batch then runs as plain writes).
            Some(tail) => match op {
                Op::Write(mut statements) | Op::Batch { mut statements, .. } => {
                    statements.push(*tail);
                    self.write(statements).await.map(without_tail)
                }
                read => self.run_op(read).await,
            },
        };
        // Whatever the outcome (a failed COMMIT may still have landed), caches forget it.
        self.invalidate(&touches);
        if reads {
            abort::check()?;
        }
        shape(results?, how)
    }

    async fn run_op(&self, op: Op) -> Result<Vec<StmtResult>> {
        match op {
            Op::Write(statements) => self.write(statements).await,
            // Under an abort a batch runs as plain writes, in a transaction checked before it
            // commits (a bulk INSERT is one statement, committed as it ends).
            Op::Batch { statements, bulk } if abort::current().is_none() => {
                self.backend.append(bulk, statements).await
            }
            Op::Batch { statements, .. } => self.write(statements).await,
            Op::Read(s) | Op::Scan(s) => {
                let rows = self.backend.fetch(s).await?;
                Ok(vec![StmtResult {
                    affected: rows.len() as u64,
                    rows,
                }])
            }
        }
    }
}

/// Opening one target, and its migrations (the fallback and the journal: `connect.rs`).
impl Database {
    /// Applies every pending migration. Safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<()> {
        self.backend.migrate().await
    }

    /// Every embedded migration, with whether and when this database applied it.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>> {
        let rows = if self.table_exists(migrate::MIGRATIONS_TABLE).await? {
            let sql = format!(
                "SELECT version, installed_on, checksum FROM {} WHERE success",
                migrate::MIGRATIONS_TABLE
            );
            self.fetch(sql, vec![]).await?
        } else {
            Vec::new()
        };
        let known = migrate::embedded(self.kind == DbKind::Postgres);
        Ok(migrate::states(known, &rows))
    }

    /// Opens the SQLite file `path` to read and mark its journal (a fallback a process left).
    pub async fn open_journal_file(path: &std::path::Path) -> Result<Database> {
        let path = path.to_path_buf();
        let db =
            blocking(move || SqliteDb::open_file(&path, migrate::refuse_foreign_sqlite)).await?;
        Ok(Database::new(Backend::Sqlite(db), DbKind::Sqlite))
    }

    /// Opens `target` (not yet migrated).
    pub(super) async fn open(target: &Target, config: &ConnectConfig) -> Result<Database> {
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
                let read_only = config.read_only;
                let db = blocking(move || match read_only {
                    true => SqliteDb::open_file_read_only(&path),
                    false => SqliteDb::open_file(&path, migrate::refuse_foreign_sqlite),
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
        db.exclusive_with(migrate::migrate_sqlite, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().map_err(|_| Error::closed())??;
        Ok(Database::new(Backend::Sqlite(db), DbKind::Memory))
    }
}
