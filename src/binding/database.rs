//! `WorkflowDatabase`: connect, describe, migrate, seed, close.

use std::sync::{Arc, RwLock};

use napi::bindgen_prelude::{PromiseRaw, ToNapiValue, Unknown};
use napi::{sys, Env, JsValue};
use napi_derive::napi;

use super::input::optional;
use super::js::{IntoJs, JsResult, Object};
use super::repository::{open_db, DbSlot};
use super::settle;
use crate::core::config::{ConnectConfig, RawConfig, DATABASE_URL_ENV};
use crate::core::db::admin;
use crate::core::db::migrate::{self, MigrationState};
use crate::core::db::{Database, DbKind};
use crate::core::error::Result;
use crate::core::value::Value;
use crate::core::workflow::seed::{self, SeedSummary};

/// The workflow database: PostgreSQL, an SQLite file, or memory.
#[napi]
pub struct WorkflowDatabase {
    db: DbSlot,
    // Copied at open: `close()` empties the slot, and getType()/getConnectionStatus() still answer.
    kind: DbKind,
    used_fallback: bool,
    description: Vec<(&'static str, Value)>,
}

impl WorkflowDatabase {
    /// The open database, or `ERR_CLOSED`.
    pub fn get(&self) -> Result<Arc<Database>> {
        open_db(&self.db)
    }

    /// What it was when opened (still known after `close()`).
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn used_fallback(&self) -> bool {
        self.used_fallback
    }

    /// The slot repositories built on this database share (so they see `close()`).
    pub fn slot(&self) -> DbSlot {
        self.db.clone()
    }

    /// A private in-memory database, opened and migrated on the calling thread (a few
    /// milliseconds of CPU, no I/O): what the planned `InMemory…` constructors stand on.
    pub fn memory_slot() -> Result<DbSlot> {
        Ok(Arc::new(RwLock::new(Some(Arc::new(
            Database::open_memory_now()?,
        )))))
    }
}

/// Hands a freshly opened database to JS as a `WorkflowDatabase` instance.
struct Opened(Database);

impl IntoJs for Opened {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        let db = self.0;
        let instance = WorkflowDatabase {
            kind: db.kind(),
            used_fallback: db.used_fallback(),
            description: db.describe(),
            db: Arc::new(RwLock::new(Some(Arc::new(db)))),
        };
        unsafe { WorkflowDatabase::to_napi_value(env, instance) }
    }
}

/// The configuration, read as data (a value of the wrong type is named, never shown: it may be
/// a secret). `DatabaseConfig` in header.d.ts states its shape for TypeScript.
fn parse_config(env: &Env, config: Option<Unknown>) -> Result<ConnectConfig> {
    let raw = RawConfig::from_input(&optional(env.raw(), config.map(|c| c.raw())))?;
    ConnectConfig::from_raw(raw, std::env::var(DATABASE_URL_ENV).ok())
}

#[napi]
impl WorkflowDatabase {
    /// Opens the database (and, unless `migrate: false`, applies pending migrations).
    /// With no configuration: `WORKFLOW_DATABASE_URL`, else SQLite at `./data/workflow.db`.
    #[napi(
        ts_args_type = "config?: DatabaseConfig",
        ts_return_type = "Promise<WorkflowDatabase>"
    )]
    pub fn connect<'env>(
        env: &'env Env,
        config: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        const PREFIX: &str = "Failed to connect to database";
        match parse_config(env, config) {
            Err(e) => settle::settled::<(), _>(env, PREFIX, Err(e)),
            Ok(cfg) => settle::spawn(env, PREFIX, async move {
                Database::connect(&cfg).await.map(Opened)
            }),
        }
    }

    /// `'postgresql'`, `'sqlite'` or `'memory'` (the fallback's type when the fallback was used).
    #[napi(ts_return_type = "'postgresql' | 'sqlite' | 'memory'")]
    pub fn get_type(&self) -> &'static str {
        self.kind.as_str()
    }

    /// Whether the database is open (false after `close()`).
    #[napi(getter)]
    pub fn is_connected(&self) -> bool {
        self.get().is_ok()
    }

    /// `{type, isConnected, usedFallback, database, host?, port?}`; never credentials.
    #[napi(ts_return_type = "ConnectionStatus")]
    pub fn get_connection_status(
        &self,
        env: &Env,
    ) -> napi::Result<napi::bindgen_prelude::Unknown<'_>> {
        let mut obj = Object::new()
            .with("type", Value::from(self.kind.as_str()))
            .with("isConnected", self.is_connected())
            .with("usedFallback", self.used_fallback);
        for (k, v) in &self.description {
            if *k != "type" {
                obj = obj.with(k, v.clone());
            }
        }
        let raw = obj.into_js(env.raw())?;
        Ok(unsafe { napi::bindgen_prelude::Unknown::from_raw_unchecked(env.raw(), raw) })
    }

    /// Applies pending migrations (safe to run from several processes at once).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn migrate<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        self.run(env, "Failed to run migrations", |db| async move {
            migrate::migrate(&db).await
        })
    }

    /// Every embedded migration, with whether and when this database applied it.
    #[napi(ts_return_type = "Promise<MigrationStatus[]>")]
    pub fn migration_status<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        self.run(env, "Failed to get migration status", |db| async move {
            migrate::status(&db).await
        })
    }

    /// The backend, the migrations, and every table with its row count.
    #[napi(ts_return_type = "Promise<DatabaseStatus>")]
    pub fn status<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        self.run(env, "Failed to get database status", |db| async move {
            admin::status(&db).await
        })
    }

    /// Writes the deterministic seed fixture (see the README), replacing a previous seed.
    #[napi(ts_return_type = "Promise<SeedSummary>")]
    pub fn seed<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        self.run(env, "Failed to seed database", |db| async move {
            seed::seed(&db).await
        })
    }

    /// Commits what is queued and closes the database. Later calls reject with `ERR_CLOSED`;
    /// closing twice is harmless.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let taken = self.db.write().unwrap_or_else(|e| e.into_inner()).take();
        settle::spawn(env, "Failed to close database", async move {
            if let Some(db) = taken {
                db.close().await;
            }
            Ok(())
        })
    }
}

impl WorkflowDatabase {
    /// Runs `work` on the runtime against the open database; `ERR_CLOSED` after `close()`.
    fn run<'env, T, F, Fut>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        work: F,
    ) -> napi::Result<PromiseRaw<'env, ()>>
    where
        T: IntoJs,
        F: FnOnce(Arc<Database>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        match self.get() {
            Err(e) => settle::settled::<T, _>(env, prefix, Err(e)),
            Ok(db) => {
                let under_way = db.begin_call();
                let timer = db.metrics().start(prefix);
                let work = work(db);
                settle::spawn(env, prefix, async move {
                    let _under_way = under_way;
                    let result = work.await;
                    timer.finish(&result);
                    result
                })
            }
        }
    }
}

// ---- results (their TypeScript interfaces are in header.d.ts) ---------------------------------

impl IntoJs for MigrationState {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        Object::new()
            .with("version", Value::Int(self.version))
            .with("description", Value::Text(self.description))
            .with("applied", self.applied)
            .with(
                "appliedAt",
                self.applied_at.map_or(Value::Null, Value::Timestamp),
            )
            .with("checksumOk", self.checksum_ok)
            .into_js(env)
    }
}

impl IntoJs for admin::Status {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        let mut connection = Object::new();
        for (k, v) in self.connection {
            connection = connection.with(k, v);
        }
        let tables: Vec<Object> = self
            .tables
            .into_iter()
            .map(|t| {
                Object::new()
                    .with("name", Value::from(t.name))
                    .with("rows", Value::from(t.rows))
            })
            .collect();
        Object::new()
            .with("connection", connection)
            .with("migrations", self.migrations)
            .with("tables", tables)
            .into_js(env)
    }
}

impl IntoJs for SeedSummary {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        Object::new()
            .with("executions", Value::Int(self.executions as i64))
            .with("metrics", Value::Int(self.metrics as i64))
            .with("handlers", Value::Int(self.handlers as i64))
            .with("usageHistory", Value::Int(self.usage_history as i64))
            .into_js(env)
    }
}
