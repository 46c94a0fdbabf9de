//! Schema migrations, embedded in the binary. PostgreSQL uses sqlx's migrator (advisory lock,
//! one transaction per migration, SHA-384 checksums). SQLite keeps the same bookkeeping in a
//! table of the same shape, under SQLite's write lock (`BEGIN IMMEDIATE`).
//! Applied migrations are never edited: a changed checksum is an `ERR_MIGRATION`.

use rusqlite::{Connection, OptionalExtension};
use sqlx::migrate::Migrator;

use super::db::{Backend, Database};
use super::error::{Error, Result};
use super::value::{millis_to_iso, now_millis, Value};

/// The bookkeeping table (on both backends).
pub const MIGRATIONS_TABLE: &str = "workflow_infra_migrations";

static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");

/// One known migration and whether this database has it.
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
    /// Epoch milliseconds when applied.
    pub applied_at: Option<i64>,
    /// False when the applied checksum differs from the embedded file.
    pub checksum_ok: bool,
}

fn postgres_migrator() -> Migrator {
    let mut m = Migrator {
        migrations: POSTGRES.migrations.clone(),
        ..Migrator::DEFAULT
    };
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    m
}

/// Applies every pending migration. Safe to run from several processes at once.
pub async fn migrate(db: &Database) -> Result<()> {
    match db.backend() {
        Backend::Postgres(pg) => {
            let mut conn = pg.dedicated().await?;
            // run_direct, not run: run's `Acquire` bound defeats Send inference in callers' futures.
            let outcome = postgres_migrator().run_direct(None, &mut conn, false).await;
            // Closing the session also releases the advisory lock if the run failed midway.
            let _ = sqlx::Connection::close(conn).await;
            outcome.map_err(Error::from)
        }
        Backend::Sqlite(s) => s.exclusive(migrate_sqlite).await,
    }
}

fn ensure_table(conn: &Connection) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
            version INTEGER PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TEXT NOT NULL,
            success INTEGER NOT NULL,
            checksum BLOB NOT NULL,
            execution_time INTEGER NOT NULL
        )"
    ))?;
    Ok(())
}

/// Applies pending SQLite migrations on `conn` (each in its own `BEGIN IMMEDIATE` transaction).
pub fn migrate_sqlite(conn: &mut Connection) -> Result<()> {
    for migration in SQLITE.iter() {
        let started = std::time::Instant::now();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        ensure_table(&tx)?;
        let applied: Option<Vec<u8>> = tx
            .query_row(
                &format!("SELECT checksum FROM {MIGRATIONS_TABLE} WHERE version = ?1"),
                [migration.version],
                |r| r.get(0),
            )
            .optional()?;
        match applied {
            Some(sum) if sum.as_slice() == &*migration.checksum => continue,
            Some(_) => {
                return Err(Error::migration(format!(
                    "migration {} was changed after it was applied (checksum mismatch)",
                    migration.version
                )))
            }
            None => {}
        }
        tx.execute_batch(migration.sql.as_str()).map_err(|e| {
            let base = Error::from(e);
            Error {
                code: super::error::ErrorCode::Migration,
                message: format!("migration {} failed: {}", migration.version, base.message),
                cause: base.cause,
            }
        })?;
        tx.execute(
            &format!("INSERT INTO {MIGRATIONS_TABLE} (version, description, installed_on, success, checksum, execution_time) VALUES (?1, ?2, ?3, 1, ?4, ?5)"),
            rusqlite::params![
                migration.version,
                migration.description.as_ref(),
                millis_to_iso(now_millis()),
                &*migration.checksum,
                started.elapsed().as_nanos() as i64
            ],
        )?;
        tx.commit()?;
        tracing::info!(version = migration.version, "applied SQLite migration");
    }
    Ok(())
}

/// Every embedded migration, with whether and when this database applied it.
pub async fn status(db: &Database) -> Result<Vec<MigrationState>> {
    let known = match db.backend() {
        Backend::Postgres(_) => &POSTGRES,
        Backend::Sqlite(_) => &SQLITE,
    };
    let rows = if db.table_exists(MIGRATIONS_TABLE).await? {
        db.fetch(
            format!("SELECT version, installed_on, checksum FROM {MIGRATIONS_TABLE} WHERE success"),
            vec![],
        )
        .await?
    } else {
        Vec::new()
    };
    Ok(known
        .iter()
        .map(|m| {
            let row = rows
                .iter()
                .find(|r| r.get("version").and_then(Value::as_i64) == Some(m.version));
            let checksum_hex: String = m.checksum.iter().map(|b| format!("{b:02x}")).collect();
            MigrationState {
                version: m.version,
                description: m.description.to_string(),
                applied: row.is_some(),
                applied_at: row.and_then(|r| match r.get("installed_on") {
                    Some(Value::Timestamp(ms)) => Some(*ms),
                    _ => None,
                }),
                checksum_ok: row.is_none_or(|r| {
                    r.get("checksum").and_then(Value::as_str) == Some(checksum_hex.as_str())
                }),
            }
        })
        .collect())
}
