//! Schema migrations, embedded in the binary, with the same bookkeeping on both backends (the
//! table sqlx's migrator keeps: version, description, installed_on, success, SHA-384 checksum,
//! execution_time). Each migration runs in its own transaction under a lock (a PostgreSQL
//! advisory lock, SQLite's write lock), so several processes may migrate at
//! once. Applied migrations are never edited: a changed checksum is an `ERR_MIGRATION`.
//!
//! Before the first change, tables and views that a pending migration would create are looked
//! for: one that exists, and that no applied migration of this package created, belongs to
//! someone else (PIDEA's own `workflow_executions`, for one), and the database is refused as it
//! was found. A migration that fails rolls back whole; when it was the first, nothing of the
//! package is left (no bookkeeping table, no schema it created).

use std::collections::HashMap;

use rusqlite::Connection;
use sqlx::migrate::{Migration, Migrator};
use sqlx::postgres::PgConnection;
use sqlx::{Acquire, Row as _};

use crate::core::error::{Error, ErrorCode, Result};
use crate::core::value::{millis_to_iso, now_millis, Row, Value};

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

/// The tables and views `sql` creates (`CREATE TABLE name`, `CREATE [OR REPLACE] VIEW name`).
pub fn created_relations(sql: &str) -> Vec<String> {
    let words: Vec<String> = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .flat_map(|line| line.split(|c: char| c.is_whitespace() || c == '(' || c == ';'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut names = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if w != "create" {
            continue;
        }
        let mut rest = words[i + 1..].iter().map(String::as_str);
        let mut kind = rest.next();
        if kind == Some("or") {
            rest.next(); // replace
            kind = rest.next();
        }
        if !matches!(kind, Some("table" | "view")) {
            continue;
        }
        let mut name = rest.next();
        if name == Some("if") {
            rest.next(); // not
            rest.next(); // exists
            name = rest.next();
        }
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            names.push(name.to_string());
        }
    }
    names
}

/// `ERR_MIGRATION` for relations someone else created, naming them and the way out.
fn foreign(names: &[String], remedy: &str) -> Error {
    let list = names.join(", ");
    let what = if names.len() == 1 {
        format!("table {list} already exists in this database and was")
    } else {
        format!("tables {list} already exist in this database and were")
    };
    Error::migration(format!(
        "{what} not created by @pidea/workflow-infra; nothing was changed. {remedy}"
    ))
}

const SQLITE_REMEDY: &str = "Give the package an SQLite file of its own (another `database` path).";
const POSTGRES_REMEDY: &str =
    "Give the package a schema of its own (the `schema` option, e.g. 'workflow_infra').";

/// What the bookkeeping says was applied: version -> (checksum, success).
type Applied = HashMap<i64, (Vec<u8>, bool)>;

/// Checks the applied migrations against the embedded ones: each applied one must be known,
/// complete and unchanged.
fn check_applied(known: &Migrator, applied: &Applied) -> Result<()> {
    for (version, (checksum, success)) in applied {
        let Some(m) = known.iter().find(|m| m.version == *version) else {
            return Err(Error::migration(format!(
                "migration {version} is applied in the database but unknown to this version of \
                 the package"
            )));
        };
        if !success {
            return Err(Error::migration(format!(
                "migration {version} is partially applied"
            )));
        }
        if checksum.as_slice() != &*m.checksum {
            return Err(Error::migration(format!(
                "migration {version} was changed after it was applied (checksum mismatch)"
            )));
        }
    }
    Ok(())
}

/// The relations that the migrations not yet applied would create.
fn pending_relations(known: &Migrator, applied: &Applied) -> Vec<String> {
    known
        .iter()
        .filter(|m| !applied.contains_key(&m.version))
        .flat_map(|m| created_relations(m.sql.as_str()))
        .collect()
}

fn failed(migration: &Migration, err: Error) -> Error {
    Error {
        code: ErrorCode::Migration,
        message: format!("migration {} failed: {}", migration.version, err.message),
        cause: err.cause,
        meta: err.meta,
    }
}

// ---- PostgreSQL ---------------------------------------------------------------------------------

const PG_BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS workflow_infra_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)";

async fn pg_applied(conn: &mut PgConnection) -> Result<Option<Applied>> {
    let present: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(MIGRATIONS_TABLE)
        .fetch_one(&mut *conn)
        .await?;
    if !present {
        return Ok(None);
    }
    let rows = sqlx::query("SELECT version, checksum, success FROM workflow_infra_migrations")
        .fetch_all(&mut *conn)
        .await?;
    Ok(Some(
        rows.iter()
            .map(|r| {
                (
                    r.get::<i64, _>(0),
                    (r.get::<Vec<u8>, _>(1), r.get::<bool, _>(2)),
                )
            })
            .collect(),
    ))
}

/// Applies pending PostgreSQL migrations on `conn`, whose `search_path` is `schema` when given.
pub async fn migrate_postgres(conn: &mut PgConnection, schema: Option<&str>) -> Result<()> {
    // Nothing pending: one read, no lock.
    if let Some(applied) = pg_applied(conn).await? {
        check_applied(&POSTGRES, &applied)?;
        if POSTGRES.iter().all(|m| applied.contains_key(&m.version)) {
            return Ok(());
        }
    }
    // A session lock, taken before the transactions begin: each then starts with a fresh view
    // of the catalogs, including tables another process created while this one waited.
    let key = format!("{MIGRATIONS_TABLE}:{}", schema.unwrap_or(""));
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
        .bind(&key)
        .execute(&mut *conn)
        .await?;
    let outcome = apply_postgres(conn, schema).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(&key)
        .execute(&mut *conn)
        .await;
    outcome.and(unlocked.map(|_| ()).map_err(Error::from))
}

async fn apply_postgres(conn: &mut PgConnection, schema: Option<&str>) -> Result<()> {
    for migration in POSTGRES.iter() {
        let mut tx = conn.begin().await?;
        let applied = pg_applied(&mut tx).await?.unwrap_or_default();
        check_applied(&POSTGRES, &applied)?;
        if applied.contains_key(&migration.version) {
            continue; // the transaction rolls back: it changed nothing
        }
        if applied.is_empty() {
            let mut found = Vec::new();
            for name in pending_relations(&POSTGRES, &applied) {
                let present: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                    .bind(&name)
                    .fetch_one(&mut *tx)
                    .await?;
                if present {
                    found.push(name);
                }
            }
            if !found.is_empty() {
                return Err(foreign(&found, POSTGRES_REMEDY));
            }
            if let Some(schema) = schema {
                // Checked by the configuration: lowercase letters, digits and underscores.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}"
                )))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::raw_sql(PG_BOOKKEEPING).execute(&mut *tx).await?;
        }
        let started = std::time::Instant::now();
        sqlx::raw_sql(migration.sql.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| failed(migration, Error::from(e)))?;
        sqlx::query(
            "INSERT INTO workflow_infra_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, $4)",
        )
        .bind(migration.version)
        .bind(migration.description.as_ref())
        .bind(&*migration.checksum)
        .bind(started.elapsed().as_nanos() as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(version = migration.version, "applied PostgreSQL migration");
    }
    Ok(())
}

// ---- SQLite -------------------------------------------------------------------------------------

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

fn sqlite_exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?1)",
        [name],
        |r| r.get(0),
    )?)
}

fn sqlite_applied(conn: &Connection) -> Result<Applied> {
    if !sqlite_exists(conn, MIGRATIONS_TABLE)? {
        return Ok(Applied::new());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT version, checksum, success FROM {MIGRATIONS_TABLE}"
    ))?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            (r.get::<_, Vec<u8>>(1)?, r.get::<_, bool>(2)?),
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<Applied>>()?)
}

/// Refuses an SQLite file in which a table the package would create belongs to someone else.
/// Reads only: the file is left exactly as it was.
pub fn refuse_foreign_sqlite(conn: &Connection) -> Result<()> {
    let applied = sqlite_applied(conn)?;
    let mut found = Vec::new();
    for name in pending_relations(&SQLITE, &applied) {
        if sqlite_exists(conn, &name)? {
            found.push(name);
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(foreign(&found, SQLITE_REMEDY))
    }
}

/// Applies pending SQLite migrations on `conn` (each in its own `BEGIN IMMEDIATE` transaction).
pub fn migrate_sqlite(conn: &mut Connection) -> Result<()> {
    for migration in SQLITE.iter() {
        let started = std::time::Instant::now();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let applied = sqlite_applied(&tx)?;
        check_applied(&SQLITE, &applied)?;
        if applied.contains_key(&migration.version) {
            continue;
        }
        if applied.is_empty() {
            refuse_foreign_sqlite(&tx)?;
        }
        ensure_table(&tx)?;
        tx.execute_batch(migration.sql.as_str())
            .map_err(|e| failed(migration, Error::from(e)))?;
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

/// The embedded migrations of PostgreSQL (`postgres`) or of SQLite.
pub fn embedded(postgres: bool) -> &'static Migrator {
    match postgres {
        true => &POSTGRES,
        false => &SQLITE,
    }
}

/// Every migration of `known`, with whether and when a database applied it, from the rows of its
/// bookkeeping table (`version`, `installed_on`, `checksum` of the successful ones).
pub fn states(known: &Migrator, rows: &[Row]) -> Vec<MigrationState> {
    known
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
        .collect()
}

#[cfg(test)]
mod tests;
