//! The seam: what [`Database`](super::Database) asks of a backend, as one trait, [`Store`].
//! `sqlite/` implements it for SQLite files and memory, `postgres/` for PostgreSQL; what is
//! common in `db/` (statements, calls, dialect, migrations' bookkeeping, invalidation) sits
//! beside this file, and neither backend knows the other. `backend.rs` holds the open one.

use std::future::Future;

use super::statement::{Bulk, Statement, StmtResult};
use crate::core::error::Result;
use crate::core::metrics::BackendFigures;
use crate::core::value::{Row, Value};

/// The statements of a transaction that reads what it writes, given in turn: each batch from
/// what the previous one returned (nothing, at first); `None` ends it (it then commits).
pub trait Steps: Send {
    fn next(&mut self, results: Vec<StmtResult>) -> Result<Option<Vec<Statement>>>;
}

/// What a backend does for the common layer.
pub trait Store: Send + Sync {
    /// Runs statements in one transaction and returns what each produced.
    fn write(
        &self,
        statements: Vec<Statement>,
    ) -> impl Future<Output = Result<Vec<StmtResult>>> + Send;

    /// Runs one read query, off the calling thread.
    fn fetch(&self, statement: Statement) -> impl Future<Output = Result<Vec<Row>>> + Send;

    /// Appends the rows of single-row INSERTs of `bulk`'s table, all or none, each result the
    /// row as sent. By default, as one transaction of the statements.
    fn append(
        &self,
        bulk: &'static Bulk,
        statements: Vec<Statement>,
    ) -> impl Future<Output = Result<Vec<StmtResult>>> + Send {
        let _ = bulk;
        self.write(statements)
    }

    /// Runs `steps` in a write transaction of their own, serialized with every other `transact`
    /// on the database, from any process; resolves them once committed.
    fn transact<S: Steps + 'static>(&self, steps: S) -> impl Future<Output = Result<S>> + Send;

    /// Applies the embedded migrations of its dialect (safe from several processes at once).
    fn migrate(&self) -> impl Future<Output = Result<()>> + Send;

    /// Proves that the database answers and takes writes (`health()`): the error says why not.
    fn probe(&self) -> impl Future<Output = Result<()>> + Send;

    /// Waits until every write queued before it has committed.
    fn settle(&self) -> impl Future<Output = ()> + Send;

    /// Commits what is queued and closes the connections.
    fn close(&self) -> impl Future<Output = ()> + Send;

    /// What a metrics snapshot reports of it (`kind`: `postgresql`, `sqlite` or `memory`).
    fn figures(&self, kind: &'static str) -> BackendFigures;

    /// Where the data lives, without credentials (after `type`).
    fn describe(&self, out: &mut Vec<(&'static str, Value)>);

    /// Whether calls are refused at once because the server was found unreachable.
    fn failing_fast(&self) -> bool {
        false
    }

    /// Whether writes other than deletes are refused for want of room on the disk.
    fn disk_full(&self) -> bool {
        false
    }

    /// Whether writes run on a writer thread of its own ([`Store::write_with`]).
    fn has_writer(&self) -> bool {
        false
    }

    /// A point read on the calling thread, where the backend can (None: use [`Store::fetch`]).
    fn read_now(&self, statement: &Statement) -> Option<Result<Vec<StmtResult>>> {
        let _ = statement;
        None
    }

    /// A write on the calling thread, where the backend can at this moment (None: queue it).
    fn write_now(&self, statements: &[Statement]) -> Option<Result<Vec<StmtResult>>> {
        let _ = statements;
        None
    }

    /// Queues a write on the writer thread, which reports through `done` (see
    /// [`Store::has_writer`]; a backend without one refuses).
    fn write_with(
        &self,
        statements: Vec<Statement>,
        done: impl FnOnce(Result<Vec<StmtResult>>) + Send + 'static,
    );
}
