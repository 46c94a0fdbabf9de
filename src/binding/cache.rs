//! `WorkflowCache(options)`: the planned synchronous cache over `core::cache` — `maxSize`
//! exact, eviction by recency and frequency, TTL without timers (nothing keeps the process
//! alive), a stored `null` told apart from a miss by `has()`. The values it keeps and its hot
//! path (`get`, `set`, `has`, `delete`) are in `node/cache_state.rs`.

use std::cell::RefCell;
use std::rc::Rc;

use napi::bindgen_prelude::{This, Unknown};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::json;

use super::node::bound;
use super::node::cache_state::{key_value, plain_instance, with_key, CachedValue, State, BOUND};
use super::node::clock::recent_millis;
use super::node::convert::{input_value, throw, value};
use super::node::input::{input, optional};
use super::node::logger::{Level, Logger};
use super::node::raw::{object, set, undefined, unknown, JsResult};
use crate::core::cache::entry::{limits, DEFAULT_MAX_SIZE, DEFAULT_TTL};
use crate::core::cache::service::hit_rate;
use crate::core::cache::{Cache, Entry, Lifetime};
use crate::core::error::Error;
use crate::core::input::{Fields, Input};
use crate::core::value::{now_millis, Value};

/// An in-process cache with the planned synchronous API.
#[napi]
pub struct WorkflowCache {
    state: Rc<State>,
}

/// `{timestamp, expiresAt, metadata}` (and `key`, `value` for `entries()`).
fn entry_object(env: sys::napi_env, e: &Entry<CachedValue>, with_key_value: bool) -> JsResult {
    let obj = object(env)?;
    let set = |name: &str, v: sys::napi_value| set(env, obj, name, v);
    if with_key_value {
        set("key", key_value(env, &e.key)?)?;
        set("value", e.value.get(env)?)?;
    }
    set("timestamp", value(env, &Value::Int(e.timestamp))?)?;
    set(
        "expiresAt",
        value(
            env,
            &e.expires_at.map_or(Value::Float(f64::INFINITY), Value::Int),
        )?,
    )?;
    set("metadata", input_value(env, &e.metadata)?)?;
    Ok(obj)
}

/// What `getStats()` returns.
#[napi(object)]
pub struct WorkflowCacheStats {
    pub hits: f64,
    pub misses: f64,
    pub sets: f64,
    pub deletes: f64,
    pub evictions: f64,
    /// Entries removed because their TTL passed.
    pub expirations: f64,
    pub size: f64,
    pub max_size: f64,
    /// Percent of reads that hit, 0–100, two decimals.
    pub hit_rate: f64,
    pub total_requests: f64,
}

#[napi]
impl WorkflowCache {
    /// `maxSize` (default 1000), `ttl` in ms (default 300000; 0 or Infinity: no expiry),
    /// `logger` (default: `tracing`).
    #[napi(constructor, ts_args_type = "options?: WorkflowCacheOptions")]
    pub fn new(env: &Env, this: This, options: Option<Unknown>) -> napi::Result<Self> {
        let raw = optional(env.raw(), options.map(|o| o.raw()));
        let fail = |e: Error| throw(env.raw(), "Failed to create workflow cache", &e);
        let f = Fields::of_optional(&raw, "options").map_err(fail)?;
        let (max, ttl) = limits(&f).map_err(fail)?;
        let logger = Logger::from_option(env.raw(), options.map(|o| o.raw()))?;
        let state = Rc::new(State {
            cache: RefCell::new(Cache::new(
                max.unwrap_or(DEFAULT_MAX_SIZE),
                ttl.unwrap_or(DEFAULT_TTL),
            )),
            logger: RefCell::new(logger.unwrap_or_default()),
        });
        if plain_instance(env.raw(), this.raw())? {
            bound::bind(env.raw(), this.raw(), &state, &BOUND)?;
        }
        Ok(WorkflowCache { state })
    }

    /// Stores `value` itself (options: `ttl` ms, 0 or Infinity: never; `metadata`, kept as
    /// data); false, with a warning, when the metadata holds a function, a symbol or a bigint.
    #[napi(
        ts_args_type = "key: K, value: V, options?: CacheSetOptions",
        ts_return_type = "boolean"
    )]
    pub fn set<'e>(
        &self,
        env: &'e Env,
        key: Unknown,
        value: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<Unknown<'e>> {
        let options = options.map_or_else(|| undefined(env.raw()), |o| Ok(o.raw()))?;
        let stored = self.state.set(env.raw(), key.raw(), value.raw(), options)?;
        Ok(unknown(env, stored))
    }

    /// The stored value (the same object that was set), or null on a miss (see `has`).
    #[napi(ts_args_type = "key: K", ts_return_type = "V | null")]
    pub fn get<'e>(&self, env: &'e Env, key: Unknown) -> napi::Result<Unknown<'e>> {
        Ok(unknown(env, self.state.get(env.raw(), key.raw())?))
    }

    /// Whether a live entry exists (a stored null or undefined counts).
    #[napi(ts_args_type = "key: K", ts_return_type = "boolean")]
    pub fn has<'e>(&self, env: &'e Env, key: Unknown) -> napi::Result<Unknown<'e>> {
        Ok(unknown(env, self.state.has(env.raw(), key.raw())?))
    }

    /// Removes an entry; true when it existed.
    #[napi(ts_args_type = "key: K", ts_return_type = "boolean")]
    pub fn delete<'e>(&self, env: &'e Env, key: Unknown) -> napi::Result<Unknown<'e>> {
        Ok(unknown(env, self.state.delete(env.raw(), key.raw())?))
    }

    /// Removes every entry (counted as deletes; stats are kept).
    #[napi]
    pub fn clear(&self, env: &Env) -> napi::Result<()> {
        let previous = self.state.cache()?.clear(recent_millis());
        self.state.log(
            env.raw(),
            Level::Info,
            "WorkflowCache: Cache cleared",
            json!({"previousSize": previous}),
        );
        Ok(())
    }

    /// Counters; `sets = size + deletes + evictions + expirations + rewrites of a live key`.
    #[napi]
    pub fn get_stats(&self) -> napi::Result<WorkflowCacheStats> {
        let mut cache = self.state.cache()?;
        let size = cache.len(recent_millis());
        let s = cache.stats;
        Ok(WorkflowCacheStats {
            hits: s.hits as f64,
            misses: s.misses as f64,
            sets: s.sets as f64,
            deletes: s.deletes as f64,
            evictions: s.evictions as f64,
            expirations: s.expirations as f64,
            size: size as f64,
            max_size: cache.max_size() as f64,
            hit_rate: hit_rate(s.hits, s.misses),
            total_requests: (s.hits + s.misses) as f64,
        })
    }

    /// Live keys.
    #[napi(ts_return_type = "K[]")]
    pub fn keys<'e>(&self, env: &'e Env) -> napi::Result<Vec<Unknown<'e>>> {
        self.each_entry(env, |e| key_value(env.raw(), &e.key))
    }

    /// Live values (the stored values themselves).
    #[napi(ts_return_type = "V[]")]
    pub fn values<'e>(&self, env: &'e Env) -> napi::Result<Vec<Unknown<'e>>> {
        self.each_entry(env, |e| e.value.get(env.raw()))
    }

    /// Live entries: `{key, value, timestamp, expiresAt, metadata}`.
    #[napi(ts_return_type = "CacheEntry<K, V>[]")]
    pub fn entries<'e>(&self, env: &'e Env) -> napi::Result<Vec<Unknown<'e>>> {
        self.each_entry(env, |e| entry_object(env.raw(), e, true))
    }

    /// Removes expired entries now; returns how many (they also go at every other call).
    #[napi]
    pub fn cleanup(&self, env: &Env) -> napi::Result<u32> {
        let n = self.state.cache()?.cleanup(recent_millis());
        if n > 0 {
            self.state.log(
                env.raw(),
                Level::Info,
                "WorkflowCache: Expired entries removed",
                json!({"removed": n}),
            );
        }
        Ok(n as u32)
    }

    /// Changes `maxSize` (a smaller size evicts at once), the default `ttl` of later sets, and
    /// the `logger`.
    #[napi(ts_args_type = "config: WorkflowCacheOptions")]
    pub fn set_config(&self, env: &Env, config: Unknown) -> napi::Result<()> {
        let raw = input(env.raw(), config.raw());
        let fail = |e: Error| throw(env.raw(), "Failed to configure workflow cache", &e);
        let f = Fields::of(&raw, "config").map_err(fail)?;
        let (max, ttl) = limits(&f).map_err(fail)?;
        if let Some(logger) = Logger::from_option(env.raw(), Some(config.raw()))? {
            *self.state.logger.borrow_mut() = logger;
        }
        self.state.cache()?.configure(max, ttl, recent_millis());
        Ok(())
    }

    /// The planned `maxSize` member: the most entries kept.
    #[napi(getter)]
    pub fn max_size(&self) -> napi::Result<u32> {
        Ok(self.state.cache()?.max_size() as u32)
    }

    /// The planned `ttl` member: the default time to live in ms (Infinity: no expiry).
    #[napi(getter)]
    pub fn ttl(&self) -> napi::Result<f64> {
        Ok(self
            .state
            .cache()?
            .ttl()
            .expiry(0)
            .map_or(f64::INFINITY, |ms| ms as f64))
    }

    /// The planned `stats` member: the counters of `getStats()`.
    #[napi(getter)]
    pub fn stats(&self) -> napi::Result<WorkflowCacheStats> {
        self.get_stats()
    }

    /// The logger given, or one that writes to the addon's own log.
    #[napi(getter, ts_return_type = "Logger")]
    pub fn logger<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        super::workflow::logger_member(env, &self.state.logger.borrow())
    }

    /// The number of live entries.
    #[napi]
    pub fn size(&self) -> napi::Result<u32> {
        Ok(self.state.cache()?.len(recent_millis()) as u32)
    }

    /// `size() >= maxSize`.
    #[napi]
    pub fn is_full(&self) -> napi::Result<bool> {
        let mut cache = self.state.cache()?;
        Ok(cache.len(recent_millis()) >= cache.max_size())
    }

    /// `{timestamp, expiresAt, metadata}` of a live entry, or null.
    #[napi(ts_args_type = "key: K", ts_return_type = "CacheEntryMetadata | null")]
    pub fn get_metadata<'e>(&self, env: &'e Env, key: Unknown) -> napi::Result<Unknown<'e>> {
        let raw = env.raw();
        let v = with_key(
            raw,
            key.raw(),
            "Failed to read cache entry",
            |key| match self.state.cache()?.peek(key, recent_millis()) {
                Some(e) => entry_object(raw, e, false),
                None => value(raw, &Value::Null),
            },
        )?;
        Ok(unknown(env, v))
    }

    /// Merges `metadata` into a live entry's metadata; false when there is no such entry.
    #[napi(ts_args_type = "key: K, metadata: Record<string, unknown>")]
    pub fn update_metadata(
        &self,
        env: &Env,
        key: Unknown,
        metadata: Unknown,
    ) -> napi::Result<bool> {
        let raw = env.raw();
        let context = "Failed to update cache metadata";
        let fail = |e: Error| throw(raw, context, &e);
        let Input::Object(patch) = input(raw, metadata.raw()) else {
            return Err(fail(Error::validation("metadata must be an object")));
        };
        Input::Object(patch.clone())
            .to_json("metadata")
            .map_err(fail)?;
        with_key(raw, key.raw(), context, |key| {
            let mut cache = self.state.cache()?;
            let Some(entry) = cache.peek(key, recent_millis()) else {
                return Ok(false);
            };
            let mut fields = match std::mem::replace(&mut entry.metadata, Input::Null) {
                Input::Object(f) => f,
                _ => Vec::new(),
            };
            for (k, v) in patch {
                fields.retain(|(existing, _)| *existing != k);
                fields.push((k, v));
            }
            entry.metadata = Input::Object(fields);
            Ok(true)
        })
    }

    /// Sets a live entry's expiry to `ttl` ms from now (0 or Infinity: never); false when there
    /// is no such entry.
    #[napi(ts_args_type = "key: K, ttl: number")]
    pub fn set_expiration_timer(
        &self,
        env: &Env,
        key: Unknown,
        ttl: Unknown,
    ) -> napi::Result<bool> {
        let raw = env.raw();
        let context = "Failed to set cache expiry";
        let fail = |e: Error| throw(raw, context, &e);
        let ttl = Lifetime::argument(&input(raw, ttl.raw()), "ttl")
            .map_err(fail)?
            .ok_or_else(|| fail(Error::validation("ttl is required")))?;
        with_key(raw, key.raw(), context, |key| {
            Ok(self.state.cache()?.set_expiry(key, ttl, now_millis()))
        })
    }

    /// Makes a live entry never expire; false when there is no such entry.
    #[napi(ts_args_type = "key: K")]
    pub fn clear_expiration_timer(&self, env: &Env, key: Unknown) -> napi::Result<bool> {
        with_key(
            env.raw(),
            key.raw(),
            "Failed to clear cache expiry",
            |key| {
                Ok(self
                    .state
                    .cache()?
                    .set_expiry(key, Lifetime::Forever, now_millis()))
            },
        )
    }

    /// Evicts the entry the cache values least (the least recent of those read once).
    #[napi]
    pub fn evict_oldest(&self) -> napi::Result<()> {
        self.state.cache()?.evict(recent_millis());
        Ok(())
    }
}

impl WorkflowCache {
    fn each_entry<'e>(
        &self,
        env: &'e Env,
        f: impl Fn(&Entry<CachedValue>) -> JsResult,
    ) -> napi::Result<Vec<Unknown<'e>>> {
        let mut cache = self.state.cache()?;
        let entries = cache.entries(recent_millis());
        entries
            .into_iter()
            .map(|e| Ok(unknown(env, f(e)?)))
            .collect()
    }
}
