//! The open backend: SQLite (file or memory) or PostgreSQL, and a [`Store`] itself, handing each
//! call to the one that is open.

use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::statement::{Bulk, Statement, StmtResult};
use super::store::{Steps, Store};
use crate::core::error::Result;
use crate::core::metrics::BackendFigures;
use crate::core::value::{Row, Value};

/// The open backend.
pub enum Backend {
    Postgres(Box<PgDb>),
    Sqlite(SqliteDb),
}

impl Backend {
    /// The PostgreSQL backend, for what only it has (LISTEN/NOTIFY, distributed events).
    pub fn postgres(&self) -> Option<&PgDb> {
        match self {
            Backend::Postgres(pg) => Some(pg),
            Backend::Sqlite(_) => None,
        }
    }

    /// The SQLite backend, for what only it has (putting a file back as it was found).
    pub fn sqlite(&self) -> Option<&SqliteDb> {
        match self {
            Backend::Sqlite(db) => Some(db),
            Backend::Postgres(_) => None,
        }
    }
}

/// `Store::$method(backend, args…)` on whichever backend is open.
macro_rules! open {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self {
            Backend::Postgres(pg) => Store::$method(&**pg, $($arg),*),
            Backend::Sqlite(db) => Store::$method(db, $($arg),*),
        }
    };
    ($self:ident, $method:ident($($arg:expr),*).await) => {
        match $self {
            Backend::Postgres(pg) => Store::$method(&**pg, $($arg),*).await,
            Backend::Sqlite(db) => Store::$method(db, $($arg),*).await,
        }
    };
}

impl Store for Backend {
    async fn write(&self, statements: Vec<Statement>) -> Result<Vec<StmtResult>> {
        open!(self, write(statements).await)
    }

    async fn fetch(&self, statement: Statement) -> Result<Vec<Row>> {
        open!(self, fetch(statement).await)
    }

    async fn append(
        &self,
        bulk: &'static Bulk,
        statements: Vec<Statement>,
    ) -> Result<Vec<StmtResult>> {
        open!(self, append(bulk, statements).await)
    }

    async fn transact<S: Steps + 'static>(&self, steps: S) -> Result<S> {
        open!(self, transact(steps).await)
    }

    async fn migrate(&self) -> Result<()> {
        open!(self, migrate().await)
    }

    async fn probe(&self) -> Result<()> {
        open!(self, probe().await)
    }

    async fn settle(&self) {
        open!(self, settle().await)
    }

    async fn close(&self) {
        open!(self, close().await)
    }

    fn figures(&self, kind: &'static str) -> BackendFigures {
        open!(self, figures(kind))
    }

    fn describe(&self, out: &mut Vec<(&'static str, Value)>) {
        open!(self, describe(out))
    }

    fn failing_fast(&self) -> bool {
        open!(self, failing_fast())
    }

    fn disk_full(&self) -> bool {
        open!(self, disk_full())
    }

    fn has_writer(&self) -> bool {
        open!(self, has_writer())
    }

    fn read_now(&self, statement: &Statement) -> Option<Result<Vec<StmtResult>>> {
        open!(self, read_now(statement))
    }

    fn write_now(&self, statements: &[Statement]) -> Option<Result<Vec<StmtResult>>> {
        open!(self, write_now(statements))
    }

    fn write_with(
        &self,
        statements: Vec<Statement>,
        done: impl FnOnce(Result<Vec<StmtResult>>) + Send + 'static,
    ) {
        open!(self, write_with(statements, done))
    }
}
