//! What `status` reports: the backend, the migrations, and the tables with their row counts.

use super::database::Database;
use super::migrate::{self, MigrationState};
use crate::core::error::Result;
use crate::core::value::Value;

/// The tables this package owns, in migration order.
pub const TABLES: [&str; 4] = [
    "workflow_executions",
    "workflow_metrics",
    "handler_registry",
    "handler_usage_history",
];

/// A table and its row count (None when the table does not exist yet).
#[derive(Debug, Clone, PartialEq)]
pub struct TableCount {
    pub name: &'static str,
    pub rows: Option<i64>,
}

/// Row counts of every table of the schema.
pub async fn table_counts(db: &Database) -> Result<Vec<TableCount>> {
    let mut out = Vec::new();
    for name in TABLES {
        let rows = if db.table_exists(name).await? {
            // The name comes from TABLES above, never from input.
            let rows = db
                .fetch(format!("SELECT COUNT(*) AS n FROM {name}"), vec![])
                .await?;
            rows.first()
                .and_then(|r| r.get("n"))
                .and_then(Value::as_i64)
        } else {
            None
        };
        out.push(TableCount { name, rows });
    }
    Ok(out)
}

/// Everything `workflow-infra status` prints.
#[derive(Debug, Clone)]
pub struct Status {
    pub connection: Vec<(&'static str, Value)>,
    pub migrations: Vec<MigrationState>,
    pub tables: Vec<TableCount>,
}

pub async fn status(db: &Database) -> Result<Status> {
    Ok(Status {
        connection: db.describe(),
        migrations: migrate::status(db).await?,
        tables: table_counts(db).await?,
    })
}
