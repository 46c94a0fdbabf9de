//! Connecting: the primary target or, when it cannot be reached, the fallback, with its journal;
//! then what `migrate` says. Built on [`Database`]'s own opening of one target.

use std::sync::atomic::Ordering;

use super::database::Database;
use super::journal;
use super::migrate;
use super::sync::blocking;
use crate::core::config::{ConnectConfig, Migrate, Target};
use crate::core::error::{Error, ErrorCode, Result};

/// Opens the primary target; if it cannot be reached, logs a warning and opens the fallback.
/// A primary that is reachable but fails otherwise (migrations, a bad schema) is an error:
/// falling back then would hide the real data behind an empty embedded database.
pub async fn connect(config: &ConnectConfig) -> Result<Database> {
    let primary = Database::open(&config.primary, config).await;
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
            let mut db = Database::open(fallback, config).await?;
            db.used_fallback = true;
            db
        }
        (Err(e), _) => return Err(e),
    };
    let mut db = db;
    db.max_in_flight = config.max_in_flight;
    if let Err(e) = prepare(&db, config.migrate).await {
        let restore = db.backend().sqlite().and_then(|s| s.restore());
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
    let db = Database::open(&config.primary, config).await?;
    if let Err(e) = prepare(&db, config.migrate).await {
        db.close().await;
        return Err(e);
    }
    let mut db = db.taking_over(from);
    db.max_in_flight = config.max_in_flight;
    Ok(db)
}

/// Unavailability that justifies the fallback (as opposed to a schema or a configuration error).
fn is_unreachable(err: &Error) -> bool {
    matches!(err.code, ErrorCode::DbUnavailable | ErrorCode::Timeout)
}

/// What `migrate` says to do with a database just opened.
async fn prepare(db: &Database, how: Migrate) -> Result<()> {
    match how {
        Migrate::Apply => db.migrate().await,
        Migrate::Check => refuse_pending(db).await,
        Migrate::Skip => Ok(()),
    }
}

/// `migrate: 'check'`: a database with pending migrations is refused, naming their versions.
async fn refuse_pending(db: &Database) -> Result<()> {
    let pending: Vec<String> = db
        .migration_status()
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
