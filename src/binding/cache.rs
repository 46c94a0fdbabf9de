//! `WorkflowCache(options)`: the planned synchronous cache over `core::cache` — `maxSize`
//! exact, eviction by recency and frequency, TTL without timers (nothing keeps the process
//! alive), a stored `null` told apart from a miss by `has()`. Values are kept as data (what
//! JSON holds, plus `Date` and `undefined`), never as JS objects: `get` returns an equal copy.

use napi::bindgen_prelude::Unknown;
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::json;

use super::input::{input, optional};
use super::js::{input_value, string, throw, value, JsResult};
use super::jsref::{Level, Logger};
use crate::core::cache::{Cache, Entry, Key};
use crate::core::error::{Error, Result};
use crate::core::input::{Fields, Input};
use crate::core::value::{now_millis, Value};

const DEFAULT_MAX_SIZE: usize = 1000;
const DEFAULT_TTL: i64 = 300_000;

/// An in-process cache with the planned synchronous API.
#[napi]
pub struct WorkflowCache {
    cache: Cache,
    logger: Logger,
}

/// `maxSize` (an integer ≥ 1), `ttl` (ms; 0 or Infinity: no expiry).
fn limits(f: &Fields<'_>) -> Result<(Option<usize>, Option<Option<i64>>)> {
    let max = f
        .integer("maxSize", 1, u32::MAX as i64)?
        .map(|n| n as usize);
    Ok((max, ttl_of(f.get("ttl"), "options.ttl")?))
}

/// A TTL argument: None when absent, Some(None) for "never" (0 or Infinity).
fn ttl_of(v: &Input, field: &str) -> Result<Option<Option<i64>>> {
    match v {
        Input::Undefined | Input::Null => Ok(None),
        Input::Number(n) if *n == f64::INFINITY || *n == 0.0 => Ok(Some(None)),
        Input::Number(n) if n.is_finite() && *n > 0.0 => Ok(Some(Some(n.ceil() as i64))),
        _ => Err(Error::validation(format!(
            "{field} must be a positive number of milliseconds (0 or Infinity: no expiry)"
        ))),
    }
}

fn key_of(env: sys::napi_env, key: &Unknown) -> Result<Key> {
    match input(env, key.raw()) {
        Input::Text(s) => Ok(Key::Text(s)),
        Input::Number(n) if !n.is_nan() => Ok(Key::number(n)),
        _ => Err(Error::validation("key must be a string or a number")),
    }
}

fn key_value(env: sys::napi_env, key: &Key) -> JsResult {
    match key {
        Key::Text(s) => string(env, s),
        Key::Number(bits) => value(env, &Value::Float(f64::from_bits(*bits))),
    }
}

/// `{timestamp, expiresAt, metadata}` (and `key`, `value` for `entries()`).
fn entry_object(env: sys::napi_env, e: &Entry, with_key_value: bool) -> JsResult {
    let mut obj = std::ptr::null_mut();
    unsafe { sys::napi_create_object(env, &mut obj) };
    let set = |name: &str, v: sys::napi_value| -> napi::Result<()> {
        let k = string(env, name)?;
        napi::check_status!(unsafe { sys::napi_set_property(env, obj, k, v) })
    };
    if with_key_value {
        set("key", key_value(env, &e.key)?)?;
        set("value", input_value(env, &e.value)?)?;
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
    pub fn new(env: &Env, options: Option<Unknown>) -> napi::Result<Self> {
        let raw = optional(env.raw(), options.map(|o| o.raw()));
        let fail = |e: Error| throw(env.raw(), "Failed to create workflow cache", &e);
        let f = Fields::of_optional(&raw, "options").map_err(fail)?;
        let (max, ttl) = limits(&f).map_err(fail)?;
        let logger = Logger::from_option(env.raw(), options.map(|o| o.raw()))?;
        Ok(WorkflowCache {
            cache: Cache::new(
                max.unwrap_or(DEFAULT_MAX_SIZE),
                ttl.unwrap_or(Some(DEFAULT_TTL)),
            ),
            logger: logger.unwrap_or_default(),
        })
    }

    /// Stores `value` (options: `ttl`, `metadata`); false when the value cannot be kept as data
    /// (a function, a symbol, a bigint).
    #[napi(ts_args_type = "key: CacheKey, value: unknown, options?: CacheSetOptions")]
    pub fn set(
        &mut self,
        env: &Env,
        key: Unknown,
        value: Unknown,
        options: Option<Unknown>,
    ) -> napi::Result<bool> {
        let fail = |e: Error| throw(env.raw(), "Failed to set cache entry", &e);
        let key = key_of(env.raw(), &key).map_err(fail)?;
        let options = optional(env.raw(), options.map(|o| o.raw()));
        let f = Fields::of_optional(&options, "options").map_err(fail)?;
        let ttl = ttl_of(f.get("ttl"), "options.ttl").map_err(fail)?;
        let metadata = match f.get("metadata") {
            Input::Undefined | Input::Null => Input::Object(Vec::new()),
            m => m.clone(),
        };
        let value = input(env.raw(), value.raw());
        if let Some(what) = unstorable(&value).or_else(|| unstorable(&metadata)) {
            self.logger.log(
                env.raw(),
                Level::Warn,
                "WorkflowCache: value not cached",
                json!({"reason": what}),
            );
            return Ok(false);
        }
        self.cache.set(key, value, ttl, metadata, now_millis());
        Ok(true)
    }

    /// The value, or null on a miss (use `has` to tell a stored null apart).
    #[napi(ts_args_type = "key: CacheKey", ts_return_type = "unknown")]
    pub fn get(&mut self, env: &Env, key: Unknown) -> napi::Result<Unknown<'_>> {
        let key = key_of(env.raw(), &key)
            .map_err(|e| throw(env.raw(), "Failed to get cache entry", &e))?;
        let v = match self.cache.get(&key, now_millis()) {
            Some(v) => input_value(env.raw(), v)?,
            None => value(env.raw(), &Value::Null)?,
        };
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), v) })
    }

    /// Removes an entry; true when it existed.
    #[napi(ts_args_type = "key: CacheKey")]
    pub fn delete(&mut self, env: &Env, key: Unknown) -> napi::Result<bool> {
        let key = key_of(env.raw(), &key)
            .map_err(|e| throw(env.raw(), "Failed to delete cache entry", &e))?;
        Ok(self.cache.delete(&key, now_millis()))
    }

    /// Whether a live entry exists (a stored null or undefined counts).
    #[napi(ts_args_type = "key: CacheKey")]
    pub fn has(&mut self, env: &Env, key: Unknown) -> napi::Result<bool> {
        let key = key_of(env.raw(), &key)
            .map_err(|e| throw(env.raw(), "Failed to read cache entry", &e))?;
        Ok(self.cache.has(&key, now_millis()))
    }

    /// Removes every entry (counted as deletes; stats are kept).
    #[napi]
    pub fn clear(&mut self, env: &Env) {
        let previous = self.cache.clear(now_millis());
        self.logger.log(
            env.raw(),
            Level::Info,
            "WorkflowCache: Cache cleared",
            json!({"previousSize": previous}),
        );
    }

    /// Counters; `sets = size + deletes + evictions + expirations + rewrites of a live key`.
    #[napi]
    pub fn get_stats(&mut self) -> WorkflowCacheStats {
        let size = self.cache.len(now_millis());
        let s = self.cache.stats;
        let total = s.hits + s.misses;
        let rate = if total == 0 {
            0.0
        } else {
            (s.hits as f64 * 10_000.0 / total as f64).round() / 100.0
        };
        WorkflowCacheStats {
            hits: s.hits as f64,
            misses: s.misses as f64,
            sets: s.sets as f64,
            deletes: s.deletes as f64,
            evictions: s.evictions as f64,
            expirations: s.expirations as f64,
            size: size as f64,
            max_size: self.cache.max_size() as f64,
            hit_rate: rate,
            total_requests: total as f64,
        }
    }

    /// Live keys.
    #[napi(ts_return_type = "CacheKey[]")]
    pub fn keys(&mut self, env: &Env) -> napi::Result<Vec<Unknown<'_>>> {
        let raw = env.raw();
        self.cache
            .entries(now_millis())
            .into_iter()
            .map(|e| Ok(unsafe { Unknown::from_raw_unchecked(raw, key_value(raw, &e.key)?) }))
            .collect()
    }

    /// Live values.
    #[napi(ts_return_type = "unknown[]")]
    pub fn values(&mut self, env: &Env) -> napi::Result<Vec<Unknown<'_>>> {
        let raw = env.raw();
        self.cache
            .entries(now_millis())
            .into_iter()
            .map(|e| Ok(unsafe { Unknown::from_raw_unchecked(raw, input_value(raw, &e.value)?) }))
            .collect()
    }

    /// Live entries: `{key, value, timestamp, expiresAt, metadata}`.
    #[napi(ts_return_type = "CacheEntry[]")]
    pub fn entries(&mut self, env: &Env) -> napi::Result<Vec<Unknown<'_>>> {
        let raw = env.raw();
        self.cache
            .entries(now_millis())
            .into_iter()
            .map(|e| Ok(unsafe { Unknown::from_raw_unchecked(raw, entry_object(raw, e, true)?) }))
            .collect()
    }

    /// Removes expired entries now; returns how many (they also go at every other call).
    #[napi]
    pub fn cleanup(&mut self, env: &Env) -> u32 {
        let n = self.cache.cleanup(now_millis());
        if n > 0 {
            self.logger.log(
                env.raw(),
                Level::Info,
                "WorkflowCache: Expired entries removed",
                json!({"removed": n}),
            );
        }
        n as u32
    }

    /// Changes `maxSize` (a smaller size evicts at once), the default `ttl` of later sets, and
    /// the `logger`.
    #[napi(ts_args_type = "config: WorkflowCacheOptions")]
    pub fn set_config(&mut self, env: &Env, config: Unknown) -> napi::Result<()> {
        let raw = input(env.raw(), config.raw());
        let fail = |e: Error| throw(env.raw(), "Failed to configure workflow cache", &e);
        let f = Fields::of(&raw, "config").map_err(fail)?;
        let (max, ttl) = limits(&f).map_err(fail)?;
        if let Some(logger) = Logger::from_option(env.raw(), Some(config.raw()))? {
            self.logger = logger;
        }
        self.cache.configure(max, ttl, now_millis());
        Ok(())
    }

    /// The number of live entries.
    #[napi]
    pub fn size(&mut self) -> u32 {
        self.cache.len(now_millis()) as u32
    }

    /// `size() >= maxSize`.
    #[napi]
    pub fn is_full(&mut self) -> bool {
        self.cache.len(now_millis()) >= self.cache.max_size()
    }

    /// `{timestamp, expiresAt, metadata}` of a live entry, or null.
    #[napi(
        ts_args_type = "key: CacheKey",
        ts_return_type = "CacheEntryMetadata | null"
    )]
    pub fn get_metadata(&mut self, env: &Env, key: Unknown) -> napi::Result<Unknown<'_>> {
        let raw = env.raw();
        let key = key_of(raw, &key).map_err(|e| throw(raw, "Failed to read cache entry", &e))?;
        let v = match self.cache.peek(&key, now_millis()) {
            Some(e) => entry_object(raw, e, false)?,
            None => value(raw, &Value::Null)?,
        };
        Ok(unsafe { Unknown::from_raw_unchecked(raw, v) })
    }

    /// Merges `metadata` into a live entry's metadata; false when there is no such entry.
    #[napi(ts_args_type = "key: CacheKey, metadata: Record<string, unknown>")]
    pub fn update_metadata(
        &mut self,
        env: &Env,
        key: Unknown,
        metadata: Unknown,
    ) -> napi::Result<bool> {
        let raw = env.raw();
        let fail = |e: Error| throw(raw, "Failed to update cache metadata", &e);
        let key = key_of(raw, &key).map_err(fail)?;
        let Input::Object(patch) = input(raw, metadata.raw()) else {
            return Err(fail(Error::validation("metadata must be an object")));
        };
        Input::Object(patch.clone())
            .to_json("metadata")
            .map_err(fail)?;
        let Some(entry) = self.cache.peek(&key, now_millis()) else {
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
    }

    /// Sets a live entry's expiry to `ttl` ms from now (0 or Infinity: never); false when there
    /// is no such entry.
    #[napi(ts_args_type = "key: CacheKey, ttl: number")]
    pub fn set_expiration_timer(
        &mut self,
        env: &Env,
        key: Unknown,
        ttl: Unknown,
    ) -> napi::Result<bool> {
        let raw = env.raw();
        let fail = |e: Error| throw(raw, "Failed to set cache expiry", &e);
        let key = key_of(raw, &key).map_err(fail)?;
        let ttl = ttl_of(&input(raw, ttl.raw()), "ttl")
            .map_err(fail)?
            .ok_or_else(|| fail(Error::validation("ttl is required")))?;
        self.reset_expiry(key, ttl)
    }

    /// Makes a live entry never expire; false when there is no such entry.
    #[napi(ts_args_type = "key: CacheKey")]
    pub fn clear_expiration_timer(&mut self, env: &Env, key: Unknown) -> napi::Result<bool> {
        let raw = env.raw();
        let key = key_of(raw, &key).map_err(|e| throw(raw, "Failed to clear cache expiry", &e))?;
        self.reset_expiry(key, None)
    }

    /// Evicts the entry the cache values least (the least recent of those read once).
    #[napi]
    pub fn evict_oldest(&mut self) {
        self.cache.evict(now_millis());
    }
}

impl WorkflowCache {
    fn reset_expiry(&mut self, key: Key, ttl: Option<i64>) -> napi::Result<bool> {
        let now = now_millis();
        let Some(entry) = self.cache.peek(&key, now) else {
            return Ok(false);
        };
        let (value, metadata) = (entry.value.clone(), entry.metadata.clone());
        // A rewrite keeps the value and metadata; it is not counted as a set.
        self.cache.set(key, value, Some(ttl), metadata, now);
        self.cache.stats.sets -= 1;
        Ok(true)
    }
}

/// What in a value cannot be kept as data, if anything.
fn unstorable(v: &Input) -> Option<&'static str> {
    match v {
        Input::Unsupported(what) => Some(what),
        Input::Array(items) => items.iter().find_map(unstorable),
        Input::Object(fields) => fields.iter().find_map(|(_, v)| unstorable(v)),
        _ => None,
    }
}
