//! Opening a database: the primary target or its fallback, then the migrations.

use std::sync::atomic::Ordering;

use super::database::{Backend, Database, DbKind};
use super::journal;
use super::migrate;
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::sync::blocking;
use crate::core::config::{ConnectConfig, Migrate, Target};
use crate::core::error::{Error, ErrorCode, Result};

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
        let mut db = db;
        db.max_in_flight = config.max_in_flight;
        if let Err(e) = prepare(&db, config.migrate).await {
            let restore = match db.backend() {
                Backend::Sqlite(s) => s.restore(),
                Backend::Postgres(_) => None,
            };
            db.close().await;
            drop(db);
            // A first migration that failed (or a check that refused) leaves the file as it
            // was found.
            if let Some(restore) = restore {
                blocking(move || {
                    restore.run(migrate::MIGRATIONS_TABLE);
                    Ok(())
                })
                .await?;
            }
            return Err(e);
        }
        if db.used_fallback && !config.read_only {
            // From here on every write call is journaled, to be replayed onto the primary.
            let pending = journal::open(&db).await?;
            let state = db.journal();
            state.pending.store(pending, Ordering::Relaxed);
            state.journaling.store(true, Ordering::Release);
        }
        Ok(db)
    }

    /// Opens the primary again while the fallback `from` serves, migrated as `config` says,
    /// taking over the fallback's caches, counters and journal figures.
    pub async fn reopen_primary(config: &ConnectConfig, from: &Database) -> Result<Database> {
        let db = Self::open(&config.primary, config).await?;
        if let Err(e) = prepare(&db, config.migrate).await {
            db.close().await;
            return Err(e);
        }
        let mut db = db.taking_over(from);
        db.max_in_flight = config.max_in_flight;
        Ok(db)
    }

    /// Opens the SQLite file `path` to read and mark its journal (a fallback a process left).
    pub async fn open_journal_file(path: &std::path::Path) -> Result<Database> {
        let path = path.to_path_buf();
        let db =
            blocking(move || SqliteDb::open_file(&path, migrate::refuse_foreign_sqlite)).await?;
        Ok(Database::new(Backend::Sqlite(db), DbKind::Sqlite))
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

/// Unavailability that justifies the fallback (as opposed to a schema or a configuration error).
fn is_unreachable(err: &Error) -> bool {
    matches!(err.code, ErrorCode::DbUnavailable | ErrorCode::Timeout)
}

/// What `migrate` says to do with a database just opened.
async fn prepare(db: &Database, how: Migrate) -> Result<()> {
    match how {
        Migrate::Apply => migrate::migrate(db).await,
        Migrate::Check => refuse_pending(db).await,
        Migrate::Skip => Ok(()),
    }
}

/// `migrate: 'check'`: a database with pending migrations is refused, naming their versions.
async fn refuse_pending(db: &Database) -> Result<()> {
    let pending: Vec<String> = migrate::status(db)
        .await?
        .into_iter()
        .filter(|m| !m.applied)
        .map(|m| format!("{:03}", m.version))
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    Err(Error::migration(format!(
        "migrations are pending ({}); apply them first (`workflow-infra migrate`, or connect with \
         migrate: true)",
        pending.join(", ")
    )))
}
