//! The `WorkflowDatabase` methods about the database itself (migrate, status, journal, seed), as
//! plans; and what `status` reports: the backend, the migrations, and the tables with their row
//! counts.

use crate::core::db::migrate::MigrationState;
use crate::core::db::{journal, Database, DbKind, Output};
use crate::core::error::Result;
use crate::core::exec::report::Report;
use crate::core::exec::request::{Plan, Work};
use crate::core::input::{Fields, Input};
use crate::core::repo::rollups;
use crate::core::value::Value;
use crate::core::workflow::seed::{self, SeedSummary};

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

/// `WorkflowDatabase`'s methods, as plans: `migrate()`, `migrationStatus()`, `status()`,
/// `seed()` and `journal()`.
pub fn plan(method: Method) -> Plan {
    let run = move |db: std::sync::Arc<Database>| async move {
        Ok(match method {
            Method::Migrate => {
                db.migrate().await?;
                rollups::backfill(&db, None).await?;
                Output::Undefined
            }
            Method::Backfill(max_days) => rollups::backfill(&db, max_days).await?.into_output(),
            Method::MigrationStatus => migrations_output(db.migration_status().await?),
            Method::Status => status(&db).await?.into_output(),
            Method::Seed => seed::seed(&db).await?.into_output(),
            Method::Journal => Output::Rows {
                rows: match journal::exists(&db).await? {
                    true => journal::unreplayed(&db).await?,
                    false => Vec::new(),
                },
                next: None,
            },
        })
    };
    let work = match method {
        Method::Seed => Work::write_steps(run),
        _ => Work::steps(run),
    };
    Plan::new(Ok(work), Report::Quiet)
}

/// `backfillRollups({maxDays})`: rebuilds the statistics' rollups of rows older than migration
/// 010, at most `maxDays` UTC days of them (all by default; 0 only reads where it stands);
/// resolves where the backfill stands.
pub fn backfill(options: &Input) -> Plan {
    let days = Fields::of_optional(options, "options").and_then(|f| {
        f.only(&["maxDays"])?;
        f.integer("maxDays", 0, 1_000_000)
    });
    match days {
        Ok(days) => plan(Method::Backfill(days)),
        Err(e) => Plan::new(Err(e), Report::Quiet),
    }
}

/// A `WorkflowDatabase` method that runs against the open database.
#[derive(Clone, Copy, Debug)]
pub enum Method {
    /// Applies pending migrations, then finishes the rollups' backfill.
    Migrate,
    /// Backfills the rollups, at most this many days (all when None).
    Backfill(Option<i64>),
    MigrationStatus,
    Status,
    Seed,
    /// The fallback journal's operations not replayed: pending ones and conflicts.
    Journal,
}

fn object(fields: Vec<(&str, Output)>) -> Output {
    Output::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn value(v: impl Into<Value>) -> Output {
    Output::Value(v.into())
}

fn migrations_output(states: Vec<MigrationState>) -> Output {
    Output::List(
        states
            .into_iter()
            .map(|m| {
                object(vec![
                    ("version", value(m.version)),
                    ("description", value(m.description)),
                    ("applied", value(m.applied)),
                    (
                        "appliedAt",
                        value(m.applied_at.map_or(Value::Null, Value::Timestamp)),
                    ),
                    ("checksumOk", value(m.checksum_ok)),
                ])
            })
            .collect(),
    )
}

impl Status {
    /// `{connection, migrations, tables: [{name, rows}]}`.
    pub fn into_output(self) -> Output {
        let connection = self
            .connection
            .into_iter()
            .map(|(k, v)| (k, value(v)))
            .collect();
        let tables = self
            .tables
            .into_iter()
            .map(|t| object(vec![("name", value(t.name)), ("rows", value(t.rows))]))
            .collect();
        object(vec![
            ("connection", object(connection)),
            ("migrations", migrations_output(self.migrations)),
            ("tables", Output::List(tables)),
        ])
    }
}

impl SeedSummary {
    /// `{executions, metrics, handlers, usageHistory}`.
    pub fn into_output(self) -> Output {
        let count = |n: usize| value(Value::Int(n as i64));
        object(vec![
            ("executions", count(self.executions)),
            ("metrics", count(self.metrics)),
            ("handlers", count(self.handlers)),
            ("usageHistory", count(self.usage_history)),
        ])
    }
}

/// `getConnectionStatus()`: `{type, isConnected, usedFallback, database, host?, port?}` from
/// what was known at open (it still answers after `close()`); never credentials.
pub fn connection_status(
    kind: DbKind,
    connected: bool,
    used_fallback: bool,
    description: &[(&'static str, Value)],
) -> Output {
    let mut fields = vec![
        ("type", value(kind.as_str())),
        ("isConnected", value(connected)),
        ("usedFallback", value(used_fallback)),
    ];
    fields.extend(
        description
            .iter()
            .filter(|(k, _)| *k != "type")
            .map(|(k, v)| (*k, value(v.clone()))),
    );
    object(fields)
}

pub async fn status(db: &Database) -> Result<Status> {
    Ok(Status {
        connection: db.describe(),
        migrations: db.migration_status().await?,
        tables: table_counts(db).await?,
    })
}
