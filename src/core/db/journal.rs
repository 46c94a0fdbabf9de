//! The fallback's journal: every write call made while the fallback serves, kept in the
//! fallback's own store in the same transaction as the write (an operation id, the call, its
//! arguments and its [`Stamp`]), so that it can be replayed onto PostgreSQL exactly once when
//! PostgreSQL answers again. On PostgreSQL, `workflow_infra_replayed` records each operation
//! applied, in the transaction that applied it.

use super::database::Database;
use super::statement::Statement;
use crate::core::error::Result;
use crate::core::input::{journaled, Input};
use crate::core::stamp::Stamp;
use crate::core::value::{Row, Value};

pub const JOURNAL_TABLE: &str = "workflow_infra_journal";

/// The journal table (SQLite; created when a fallback opens).
const CREATE_JOURNAL: &str = "CREATE TABLE IF NOT EXISTS workflow_infra_journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id TEXT NOT NULL UNIQUE,
    method TEXT NOT NULL,
    args TEXT NOT NULL,
    now_ms INTEGER NOT NULL,
    seed TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'replayed', 'conflict')),
    detail TEXT,
    recorded_at TEXT NOT NULL
)";

/// The record of operations applied (PostgreSQL; created before a replay).
const CREATE_REPLAYED: &str = "DO $$ BEGIN
    IF to_regclass('workflow_infra_replayed') IS NULL THEN
        CREATE TABLE workflow_infra_replayed (
            op_id TEXT PRIMARY KEY,
            replayed_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
    END IF;
END $$";

/// A write call as the journal keeps it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub op_id: String,
    /// `Class.method` (or `WorkflowEventHandlers.<event>`): what replays it.
    pub method: String,
    pub args: Vec<Input>,
    pub stamp: Stamp,
}

impl Entry {
    pub fn new(method: String, args: Vec<Input>, stamp: Stamp) -> Entry {
        Entry {
            op_id: crate::core::stamp::new_uuid().to_string(),
            method,
            args,
            stamp,
        }
    }

    /// The INSERT that journals it (run last in the call's own transaction).
    pub fn statement(&self) -> Statement {
        let args = serde_json::Value::Array(self.args.iter().map(journaled::encode).collect());
        Statement::new(
            "INSERT INTO workflow_infra_journal (op_id, method, args, now_ms, seed, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                Value::from(self.op_id.as_str()),
                Value::from(self.method.as_str()),
                Value::Text(args.to_string()),
                Value::Int(self.stamp.now_ms),
                Value::Text(self.stamp.seed.to_string()),
                Value::Timestamp(crate::core::stamp::now_millis()),
            ],
        )
    }

    fn from_row(row: &Row) -> Option<Entry> {
        let args = match serde_json::from_str(row.get("args")?.as_str()?).ok()? {
            serde_json::Value::Array(items) => items.iter().map(journaled::decode).collect(),
            _ => return None,
        };
        Some(Entry {
            op_id: row.get("op_id")?.as_str()?.to_string(),
            method: row.get("method")?.as_str()?.to_string(),
            args,
            stamp: Stamp {
                now_ms: row.get("now_ms")?.as_i64()?,
                seed: row.get("seed")?.as_str()?.parse().ok()?,
            },
        })
    }
}

/// The INSERT that records `op_id` as applied on PostgreSQL (in the replay's transaction; a
/// second one fails on the key, rolling the operation back).
pub fn replayed_statement(op_id: &str) -> Statement {
    Statement::new(
        "INSERT INTO workflow_infra_replayed (op_id) VALUES ($1)",
        vec![Value::from(op_id)],
    )
}

/// Creates the journal table in a fallback (SQLite) and returns how many operations wait in it.
pub async fn open(db: &Database) -> Result<u64> {
    db.write(vec![Statement::new(CREATE_JOURNAL, vec![])])
        .await?;
    count(db, "pending").await
}

/// Operations in `state`.
pub async fn count(db: &Database, state: &'static str) -> Result<u64> {
    let rows = db
        .fetch(
            "SELECT COUNT(*) AS n FROM workflow_infra_journal WHERE state = $1",
            vec![Value::from(state)],
        )
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.get("n"))
        .and_then(Value::as_i64)
        .unwrap_or(0) as u64)
}

/// Whether `db` (SQLite) has a journal table.
pub async fn exists(db: &Database) -> Result<bool> {
    db.table_exists(JOURNAL_TABLE).await
}

/// The next pending operations, oldest first.
pub async fn pending(db: &Database, limit: i64) -> Result<Vec<Entry>> {
    let rows = db
        .fetch(
            "SELECT op_id, method, args, now_ms, seed FROM workflow_infra_journal \
             WHERE state = 'pending' ORDER BY seq LIMIT $1",
            vec![Value::Int(limit)],
        )
        .await?;
    Ok(rows.iter().filter_map(Entry::from_row).collect())
}

/// Every operation not replayed (pending and conflicts), oldest first: what the CLI lists.
pub async fn unreplayed(db: &Database) -> Result<Vec<Row>> {
    db.fetch(
        "SELECT seq, op_id, method, state, detail, recorded_at FROM workflow_infra_journal \
         WHERE state <> 'replayed' ORDER BY seq",
        vec![],
    )
    .await
}

/// Marks an operation replayed, or set aside as a conflict with why.
pub async fn mark(
    db: &Database,
    op_id: &str,
    state: &'static str,
    detail: Option<String>,
) -> Result<()> {
    db.write(vec![Statement::new(
        "UPDATE workflow_infra_journal SET state = $2, detail = $3 WHERE op_id = $1",
        vec![Value::from(op_id), Value::from(state), Value::from(detail)],
    )])
    .await
    .map(|_| ())
}

/// Creates the record of applied operations on PostgreSQL.
pub async fn open_replayed(pg: &Database) -> Result<()> {
    pg.write(vec![Statement::new(CREATE_REPLAYED, vec![])])
        .await
        .map(|_| ())
}

/// Whether PostgreSQL already applied `op_id`.
pub async fn applied(pg: &Database, op_id: &str) -> Result<bool> {
    let rows = pg
        .fetch(
            "SELECT 1 AS one FROM workflow_infra_replayed WHERE op_id = $1",
            vec![Value::from(op_id)],
        )
        .await?;
    Ok(!rows.is_empty())
}
