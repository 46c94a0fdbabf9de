//! `WorkflowDatabase`: connect, describe, migrate, seed, close.

use std::sync::{Arc, Mutex, RwLock};

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{sys, Env, JsValue};
use napi_derive::napi;

pub use super::call::{open_db, DbSlot};
use super::call::{promise_methods, Host};
use super::node::convert::{optional_instance, throw, value, IntoJs};
use super::node::input::{input, optional};
use super::node::raw::{unknown, wrap, JsResult};
use super::node::reference::JsRef;
use super::node::settle;
use crate::core::admin::{self, Method};
use crate::core::config::{ConnectConfig, RawConfig, DATABASE_URL_ENV};
use crate::core::db::{Database, DbKind};
use crate::core::error::{Error, Result};
use crate::core::exec::rejoin;
use crate::core::input::{Fields, Input};
use crate::core::value::Value;

/// What a repository was built on: the database slot, and the planned `db` member (the
/// `WorkflowDatabase`, or none for a private in-memory database).
pub struct OnDatabase {
    pub slot: DbSlot,
    member: Option<JsRef>,
}

impl OnDatabase {
    /// On `db`, or on a fresh private in-memory database when there is none.
    pub fn new(env: &Env, db: Option<Unknown>, prefix: &str) -> napi::Result<OnDatabase> {
        let db = optional_instance::<WorkflowDatabase>(
            env,
            db,
            prefix,
            "db must be a WorkflowDatabase (or absent, for a private in-memory database)",
        )?;
        match db {
            Some(db) => Ok(OnDatabase {
                slot: db.slot(),
                member: Some(JsRef::new(env.raw(), db.value)?),
            }),
            None => WorkflowDatabase::memory_slot()
                .map(|slot| OnDatabase { slot, member: None })
                .map_err(|e| {
                    napi::Error::new(
                        napi::Status::GenericFailure,
                        format!("Failed to open in-memory database: {}", e.message),
                    )
                }),
        }
    }

    /// The `db` member: its `WorkflowDatabase`, or null.
    pub fn member<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        let v = match &self.member {
            Some(db) => db.get(env.raw())?,
            None => value(env.raw(), &Value::Null)?,
        };
        Ok(unknown(env, v))
    }
}

/// Writes a repository class: the struct on a database (its own, or a private in-memory one),
/// its constructor `(db?)`, its planned `db` member and table-name getters. (Doc lines are
/// plain strings, as napi-rs reads them into `index.d.ts`.)
macro_rules! repository_class {
    ($doc:literal $class:ident, $what:literal, { $($getter:ident: $table:literal),* }) => {
        #[doc = $doc]
        #[napi]
        pub struct $class {
            pub(crate) on: $crate::binding::database::OnDatabase,
        }

        impl $crate::binding::call::Host for $class {
            fn slot(&self) -> &$crate::binding::call::DbSlot {
                &self.on.slot
            }
            fn source(&self) -> &'static str {
                stringify!($class)
            }
        }

        #[napi]
        impl $class {
            $(
                #[doc = " The table's name, as planned."]
                #[napi(getter)]
                pub fn $getter(&self) -> &'static str {
                    $table
                }
            )*

            #[doc = " On `db`; without it, on a private in-memory database (the planned"]
            #[doc = " `InMemory…` repositories)."]
            #[napi(constructor, ts_args_type = "db?: WorkflowDatabase | null")]
            pub fn new(
                env: &napi::Env,
                db: Option<napi::bindgen_prelude::Unknown>,
            ) -> napi::Result<Self> {
                let prefix = concat!("Failed to create ", $what);
                let on = $crate::binding::database::OnDatabase::new(env, db, prefix)?;
                Ok($class { on })
            }

            #[doc = " The `WorkflowDatabase` it was built on (null for a private in-memory one)."]
            #[napi(getter, ts_return_type = "WorkflowDatabase | null")]
            pub fn db<'e>(
                &self,
                env: &'e napi::Env,
            ) -> napi::Result<napi::bindgen_prelude::Unknown<'e>> {
                self.on.member(env)
            }
        }
    };
}

pub(crate) use repository_class;

/// The repositories' synchronous `toSnakeCase(str)`: a string that is not one throws
/// `ERR_VALIDATION`.
pub fn snake_case(env: &Env, str: Unknown) -> napi::Result<String> {
    match input(env.raw(), str.raw()) {
        Input::Text(s) => Ok(crate::core::repo::executions::to_snake_case(&s)),
        other => Err(throw(
            env.raw(),
            "Failed to convert to snake case",
            &Error::validation(format!("str must be a string, not {}", other.type_name())),
        )),
    }
}

/// The workflow database: PostgreSQL, an SQLite file, or memory.
#[napi]
pub struct WorkflowDatabase {
    db: DbSlot,
    /// What serves the calls, as last seen: `close()` empties the slot, and getType() and
    /// getConnectionStatus() still answer (a rejoin switches it while open).
    last: Mutex<Identity>,
}

/// What a database is, without credentials.
#[derive(Clone)]
struct Identity {
    kind: DbKind,
    used_fallback: bool,
    description: Vec<(&'static str, Value)>,
}

impl Identity {
    fn of(db: &Database) -> Identity {
        Identity {
            kind: db.kind(),
            used_fallback: db.used_fallback(),
            description: db.describe(),
        }
    }
}

impl WorkflowDatabase {
    /// The open database, or `ERR_CLOSED`.
    pub fn get(&self) -> Result<Arc<Database>> {
        open_db(&self.db)
    }

    /// What serves the calls now (or last, after `close()`).
    fn identity(&self) -> Identity {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(db) = self.get() {
            if db.kind() != last.kind || db.used_fallback() != last.used_fallback {
                *last = Identity::of(&db);
            }
        }
        last.clone()
    }

    /// The kind of database that serves the calls (the last one, after `close()`).
    pub fn kind(&self) -> DbKind {
        self.identity().kind
    }

    pub fn used_fallback(&self) -> bool {
        self.identity().used_fallback
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

/// Hands a freshly opened database to JS as a `WorkflowDatabase` instance; on the fallback, starts
/// probing the primary to rejoin it.
struct Opened(Database, ConnectConfig);

impl IntoJs for Opened {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        let Opened(db, config) = self;
        let on_fallback = db.used_fallback();
        let instance = WorkflowDatabase {
            last: Mutex::new(Identity::of(&db)),
            db: Arc::new(RwLock::new(Some(Arc::new(db)))),
        };
        if on_fallback {
            rejoin::start(&instance.db, config, rejoin::replanner());
        }
        wrap(env, instance)
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
    // Writable and configurable, as a class's static methods are in JavaScript, so the
    // package's JavaScript layer (lib/calls.js) can trace them.
    #[napi(
        writable,
        configurable,
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
                let db = rejoin::connect(&cfg, rejoin::replanner()).await?;
                Ok(Opened(db, cfg))
            }),
        }
    }

    /// Replays by hand the journal an SQLite fallback file holds onto a database (normally the
    /// primary that file stood in for): each pending operation exactly once, conflicts kept in
    /// the file. Resolves `{replayed, conflicts, pending}`.
    // Writable and configurable, as a class's static methods are in JavaScript, so the
    // package's JavaScript layer (lib/calls.js) can trace them.
    #[napi(
        writable,
        configurable,
        ts_args_type = "options: { from: string; to: DatabaseConfig }",
        ts_return_type = "Promise<JournalReplay>"
    )]
    pub fn replay_journal<'env>(
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        const PREFIX: &str = "Failed to replay the journal";
        let parsed = (|| {
            let options = optional(env.raw(), options.map(|o| o.raw()));
            let f = Fields::of(&options, "options")?;
            f.only(&["from", "to"])?;
            let from = f.required_text("from", 4096)?;
            let to = RawConfig::from_input(f.get("to"))?;
            let to = ConnectConfig::from_raw(to, None)?;
            Ok((std::path::PathBuf::from(from), to))
        })();
        match parsed {
            Err(e) => settle::settled::<(), _>(env, PREFIX, Err(e)),
            Ok((from, to)) => settle::spawn(env, PREFIX, async move {
                let (done, pending) =
                    rejoin::replay_file_onto(&from, &to, rejoin::replanner()).await?;
                Ok(Value::Json(serde_json::json!({
                    "replayed": done.replayed,
                    "conflicts": done.conflicts,
                    "pending": pending,
                })))
            }),
        }
    }

    /// `'postgresql'`, `'sqlite'` or `'memory'`: the database that serves the calls now (the
    /// fallback's type while the fallback serves).
    #[napi(ts_return_type = "'postgresql' | 'sqlite' | 'memory'")]
    pub fn get_type(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Whether the database is open (false after `close()`).
    #[napi(getter)]
    pub fn is_connected(&self) -> bool {
        self.get().is_ok()
    }

    /// `{type, isConnected, usedFallback, database, host?, port?}` of the database that serves
    /// the calls now; never credentials.
    #[napi(ts_return_type = "ConnectionStatus")]
    pub fn get_connection_status<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        let now = self.identity();
        let status = admin::connection_status(
            now.kind,
            self.is_connected(),
            now.used_fallback,
            &now.description,
        );
        Ok(unknown(env, status.into_js(env.raw())?))
    }

    /// Commits what is queued and closes the database. Later calls reject with `ERR_CLOSED`;
    /// closing twice is harmless.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let _ = self.identity(); // what getType() answers after close()
        let taken = self.db.write().unwrap_or_else(|e| e.into_inner()).take();
        settle::spawn(env, "Failed to close database", async move {
            if let Some(db) = taken {
                db.close().await;
            }
            Ok(())
        })
    }
}

impl Host for WorkflowDatabase {
    fn slot(&self) -> &DbSlot {
        &self.db
    }
    fn source(&self) -> &'static str {
        "WorkflowDatabase"
    }
}

promise_methods! {
    WorkflowDatabase as DATABASE_METHODS;
    " Applies pending migrations (safe to run from several processes at once)."
    fn migrate(): "" -> "Promise<void>"
        = "Failed to run migrations", |_| admin::plan(Method::Migrate);
    " Rebuilds the statistics' rollups of rows written before they existed, one UTC day per"
    " transaction (at most `maxDays` days; all by default; 0 only reports), resumable;"
    " `migrate()` finishes it."
    fn backfill_rollups(options): "options?: { maxDays?: number }" -> "Promise<RollupBackfill>"
        = "Failed to backfill the rollups", |_, options| admin::backfill(&options);
    " Every embedded migration, with whether and when this database applied it."
    fn migration_status(): "" -> "Promise<MigrationStatus[]>"
        = "Failed to get migration status", |_| admin::plan(Method::MigrationStatus);
    " The backend, the migrations, and every table with its row count."
    fn status(): "" -> "Promise<DatabaseStatus>"
        = "Failed to get database status", |_| admin::plan(Method::Status);
    " The fallback journal's operations not yet replayed onto the primary (pending ones, and"
    " conflicts set aside), oldest first; empty on a database that never served as a fallback."
    fn journal(): "" -> "Promise<JournalEntry[]>"
        = "Failed to read the journal", |_| admin::plan(Method::Journal);
    " Writes the deterministic seed fixture (see the README), replacing a previous seed."
    fn seed(): "" -> "Promise<SeedSummary>"
        = "Failed to seed database", |_| admin::plan(Method::Seed);
}
