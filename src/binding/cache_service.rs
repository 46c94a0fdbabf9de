//! `WorkflowCacheService(db, options)`: executions by id, handlers by type and the best handler
//! per type, read through a moka cache (`core::cache::service`). A hit resolves at once, without
//! the database; writes through the addon, and on PostgreSQL those of every process on the
//! database, remove what they touch.

use std::sync::Arc;

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;

use super::call::{submit, Host};
use super::database::WorkflowDatabase;
use super::database::{open_db, DbSlot};
use super::node::convert::throw;
use super::node::input::{input, optional};
use super::node::reference::JsRef;
use super::node::settle;
use crate::core::cache::service::{CacheService, Key};
use crate::core::db::invalidate::Invalidate;
use crate::core::db::{Call, Output};
use crate::core::error::{Error, Result};
use crate::core::input::{self as inp, Input};
use crate::core::repo::{executions, handlers};

/// A read-through cache of executions and handlers.
#[napi]
pub struct WorkflowCacheService {
    db: DbSlot,
    inner: Arc<CacheService>,
    /// The `WorkflowDatabase` it was built on (the `db` member).
    member: JsRef,
}

/// What `getStats()` returns.
#[napi(object)]
pub struct CacheServiceStats {
    pub hits: f64,
    pub misses: f64,
    /// Entries dropped because a write touched them.
    pub invalidations: f64,
    /// Times everything was dropped (`clear()`, a lost notification connection).
    pub flushes: f64,
    pub size: f64,
    /// Percent of reads that hit, 0–100, two decimals.
    pub hit_rate: f64,
}

#[napi]
impl WorkflowCacheService {
    /// Options: `maxEntries` (default 10000), `ttl` in ms (default 300000).
    #[napi(
        constructor,
        ts_args_type = "db: WorkflowDatabase, options?: CacheServiceOptions"
    )]
    pub fn new(env: &Env, db: Unknown, options: Option<Unknown>) -> napi::Result<Self> {
        let db = super::node::convert::instance::<WorkflowDatabase>(
            env,
            db,
            "Failed to create cache service",
            "db must be a WorkflowDatabase",
        )?;
        let options = optional(env.raw(), options.map(|o| o.raw()));
        let fail = |e: Error| throw(env.raw(), "Failed to create cache service", &e);
        let slot = db.slot();
        let member = JsRef::new(env.raw(), db.value)?;
        let database = open_db(&slot).map_err(fail)?;
        let inner = CacheService::open(&database, &options).map_err(fail)?;
        if inner.needs_hub() {
            let inner = inner.clone();
            napi::bindgen_prelude::spawn(async move {
                // A failure is reported by ready(); until then reads go to the database.
                let _ = inner.ready(&database).await;
            });
        }
        Ok(WorkflowCacheService {
            db: slot,
            inner,
            member,
        })
    }

    /// The `WorkflowDatabase` it was built on.
    #[napi(getter, ts_return_type = "WorkflowDatabase")]
    pub fn db<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        let v = self.member.get(env.raw())?;
        Ok(super::node::raw::unknown(env, v))
    }

    /// Resolves once the cache is live (on PostgreSQL: listening for other processes' writes;
    /// until then every read goes to the database).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn ready<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let prefix = "Failed to start the cache service";
        if !self.inner.needs_hub() {
            return settle::settled(env, prefix, Ok(Output::Null));
        }
        let (db, inner) = match open_db(&self.db) {
            Ok(db) => (db, self.inner.clone()),
            Err(e) => return settle::settled::<Output, _>(env, prefix, Err(e)),
        };
        settle::spawn(env, prefix, async move {
            inner.ready(&db).await.map(|_| Output::Null)
        })
    }

    /// Hits, misses, invalidations, flushes and size.
    #[napi]
    pub fn get_stats(&self) -> CacheServiceStats {
        let s = self.inner.stats();
        CacheServiceStats {
            hits: s.hits as f64,
            misses: s.misses as f64,
            invalidations: s.invalidations as f64,
            flushes: s.flushes as f64,
            size: s.size as f64,
            hit_rate: s.hit_rate(),
        }
    }

    /// Drops every entry.
    #[napi]
    pub fn clear(&self) {
        self.inner.flush();
    }
}

impl Host for WorkflowCacheService {
    fn slot(&self) -> &DbSlot {
        &self.db
    }
    fn source(&self) -> &'static str {
        "WorkflowCacheService"
    }
}

impl WorkflowCacheService {
    /// A cached row (settled at once), or the read that fills the cache.
    fn read<'env>(
        &self,
        env: &'env Env,
        prefix: &'static str,
        arg: &Input,
        field: &str,
        key: fn(String) -> Key,
        call: fn(&Input) -> Result<Call>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let text = match inp::required_text(arg, field, 255) {
            Ok(t) => t,
            Err(e) => return settle::settled::<Output, _>(env, prefix, Err(e)),
        };
        let key = key(text);
        let generation = match self.inner.lookup(&key) {
            Ok(row) => return settle::settled(env, prefix, Ok(row)),
            Err(generation) => generation,
        };
        submit(env, self, prefix, |_| {
            self.inner.read_through(key, generation, call(arg))
        })
    }
}

/// The cached reads, one declaration each: a hit settles at once, a miss reads through.
macro_rules! cached_reads {
    ($($doc:literal fn $name:ident($arg:ident): $args:literal -> $returns:literal
        = $operation:literal, $field:literal, $key:path, $read:path;)*) => {
        #[napi]
        impl WorkflowCacheService {
            $(
                #[doc = $doc]
                #[napi(ts_args_type = $args, ts_return_type = $returns)]
                pub fn $name<'env>(
                    &self,
                    env: &'env Env,
                    $arg: Unknown,
                ) -> napi::Result<PromiseRaw<'env, ()>> {
                    let arg = input(env.raw(), $arg.raw());
                    self.read(env, $operation, &arg, $field, $key, $read)
                }
            )*
        }
    };
}

cached_reads! {
    " The execution row, or null."
    fn get_execution(execution_id): "executionId: string" -> "Promise<WorkflowExecutionRow | null>"
        = "Failed to find workflow execution", "executionId", Key::Execution,
        executions::find_by_execution_id;
    " The handler row, or null."
    fn get_handler(handler_type): "handlerType: string" -> "Promise<HandlerRow | null>"
        = "Failed to get handler by type", "handlerType", Key::Handler, handlers::by_type;
    " The best active handler of the type, or null."
    fn get_best_handler(handler_type): "handlerType: string" -> "Promise<HandlerRow | null>"
        = "Failed to get best handler", "handlerType", Key::BestHandler, handlers::best;
}
