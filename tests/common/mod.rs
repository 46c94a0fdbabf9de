//! Test databases: a fresh SQLite file, a private memory database, and (when reachable) a fresh
//! PostgreSQL database created for the test and dropped after it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use workflow_infra::core::config::{ConnectConfig, RawConfig};
use workflow_infra::core::db::connect;
use workflow_infra::core::db::Database;

/// The server the PostgreSQL tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("WORKFLOW_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL tests must run (CI) rather than be skipped when the server is down.
pub fn pg_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// A fresh PostgreSQL database, dropped when this value is dropped.
pub struct PgScratch {
    pub name: String,
    pub url: String,
}

impl PgScratch {
    /// Creates a database, or returns None (with a visible message) when the server is
    /// unreachable outside CI. In CI an unreachable server fails the test.
    pub async fn create() -> Option<PgScratch> {
        let admin = PgConnectOptions::from_str(&pg_admin_url()).unwrap();
        let mut conn = match admin.connect().await {
            Ok(c) => c,
            Err(e) if !pg_required() => {
                eprintln!(
                    "SKIPPED: PostgreSQL unreachable at {} ({e}); set CI=true to require it",
                    pg_admin_url()
                );
                return None;
            }
            Err(e) => panic!("PostgreSQL is required (CI=true) but unreachable: {e}"),
        };
        let name = unique("wfi_test");
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        conn.close().await.unwrap();
        let url = format!("{}/{}", pg_admin_url().rsplit_once('/').unwrap().0, name);
        Some(PgScratch { name, url })
    }
}

impl Drop for PgScratch {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop on a thread of its own: Drop may run inside a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let admin = PgConnectOptions::from_str(&pg_admin_url()).unwrap();
                if let Ok(mut conn) = admin.connect().await {
                    let _ = conn
                        .execute(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A temporary SQLite file path in a fresh directory (which does not exist yet), removed with
/// everything in it when this value is dropped.
pub struct TempPath {
    root: PathBuf,
    path: PathBuf,
}

impl std::ops::Deref for TempPath {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn sqlite_path() -> TempPath {
    let root = std::env::temp_dir().join(unique("wfi_sqlite"));
    TempPath {
        path: root.join("nested").join("workflow.db"),
        root,
    }
}

pub fn url_config(url: &str) -> ConnectConfig {
    ConnectConfig::from_raw(
        RawConfig {
            url: Some(url.to_string()),
            ..Default::default()
        },
        None,
    )
    .unwrap()
}

/// One of the three backends, opened and migrated, with whatever keeps it alive.
pub struct Backend {
    pub name: &'static str,
    pub db: Database,
    pub url: String,
    _pg: Option<PgScratch>,
    _file: Option<TempPath>,
}

/// Every backend available here: SQLite file, memory, and PostgreSQL when reachable.
pub async fn all_backends() -> Vec<Backend> {
    let mut out = Vec::new();
    let path = sqlite_path();
    let url = format!("sqlite://{}", path.display());
    out.push(Backend {
        name: "sqlite",
        db: connect::connect(&url_config(&url)).await.unwrap(),
        url,
        _pg: None,
        _file: Some(path),
    });
    out.push(Backend {
        name: "memory",
        db: connect::connect(&url_config("sqlite::memory:"))
            .await
            .unwrap(),
        url: "sqlite::memory:".into(),
        _pg: None,
        _file: None,
    });
    if let Some(pg) = PgScratch::create().await {
        let url = pg.url.clone();
        out.push(Backend {
            name: "postgresql",
            db: connect::connect(&url_config(&url)).await.unwrap(),
            url,
            _pg: Some(pg),
            _file: None,
        });
    }
    out
}
