//! `WorkflowCacheService`: a read-through cache (moka) of executions by id, handlers by type and
//! the best handler per type, in front of the repositories. Writes through the addon drop what
//! they touch before their Promise settles ([`crate::core::db::invalidate`]); on PostgreSQL,
//! changes made by other processes arrive through LISTEN/NOTIFY ([`crate::core::db::postgres::notify`]),
//! and nothing is kept while that channel is down.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::core::db::database::{Database, DbKind};
use crate::core::db::invalidate::{Invalidate, Touch};
use crate::core::db::postgres::notify::Hub;
use crate::core::db::{Call, Output};
use crate::core::error::{Error, Result};
use crate::core::exec::report::Report;
use crate::core::exec::request::{Plan, Work};
use crate::core::input::{Fields, Input};
use crate::core::value::Row;

/// What is cached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Execution(String),
    Handler(String),
    BestHandler(String),
}

/// Counters of the cache service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub invalidations: u64,
    pub flushes: u64,
    pub size: u64,
}

impl Stats {
    /// Percent of reads that hit, 0–100, two decimals.
    pub fn hit_rate(&self) -> f64 {
        hit_rate(self.hits, self.misses)
    }
}

/// Percent of `hits` among `hits + misses`, 0–100, two decimals (0 before any read).
pub fn hit_rate(hits: u64, misses: u64) -> f64 {
    let total = hits + misses;
    if total == 0 {
        0.0
    } else {
        (hits as f64 * 10_000.0 / total as f64).round() / 100.0
    }
}

pub struct CacheService {
    cache: moka::sync::Cache<Key, Arc<Row>>,
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
    /// PostgreSQL: the hub whose connection vouches for the cache (unset until it is up).
    hub: OnceLock<Arc<Hub>>,
    needs_hub: bool,
    /// Attached to the hub (see [`CacheService::ready`]).
    started: tokio::sync::OnceCell<std::result::Result<(), Error>>,
}

impl CacheService {
    /// `WorkflowCacheService(db, options)`: `maxEntries` (default 10000), `ttl` in ms (default
    /// 300000); told of every write through `db`.
    pub fn open(db: &Database, options: &Input) -> Result<Arc<CacheService>> {
        let f = Fields::of_optional(options, "options")?;
        f.only(&["maxEntries", "ttl"])?;
        let max = f.integer("maxEntries", 1, 100_000_000)?.unwrap_or(10_000);
        let ttl = f.integer("ttl", 1, i64::MAX / 2)?.unwrap_or(300_000);
        let pg = db.kind() == DbKind::Postgres;
        let service = Arc::new(CacheService::new(
            max as u64,
            Duration::from_millis(ttl as u64),
            pg,
        ));
        let watcher: Arc<dyn Invalidate> = service.clone();
        db.watch(Arc::downgrade(&watcher));
        Ok(service)
    }

    /// Whether it waits for other processes' news (PostgreSQL) before it keeps rows.
    pub fn needs_hub(&self) -> bool {
        self.needs_hub
    }

    /// Live: on PostgreSQL, listening for other processes' writes (started once, whoever asks
    /// first); until then every read goes to the database.
    pub async fn ready(&self, db: &Database) -> Result<()> {
        if !self.needs_hub {
            return Ok(());
        }
        self.started
            .get_or_init(|| async {
                let hub = db
                    .hub()
                    .await?
                    .ok_or_else(|| Error::internal("no hub on PostgreSQL"))?;
                self.attach(hub);
                Ok(())
            })
            .await
            .clone()
    }

    /// A cache of at most `max_entries` rows, each kept at most `ttl`. With `needs_hub`
    /// (PostgreSQL) nothing is kept until [`CacheService::attach`] gives it a live hub.
    pub fn new(max_entries: u64, ttl: Duration, needs_hub: bool) -> CacheService {
        CacheService {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
            generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            hub: OnceLock::new(),
            needs_hub,
            started: tokio::sync::OnceCell::new(),
        }
    }

    pub fn attach(&self, hub: Arc<Hub>) {
        let _ = self.hub.set(hub);
        self.flush();
    }

    /// The cached row (a hit), or None with the generation to hand back to [`Self::store`].
    pub fn lookup(&self, key: &Key) -> Result<Arc<Row>, u64> {
        let generation = self.generation.load(Ordering::Acquire);
        match self.cache.get(key) {
            Some(row) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(row)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Err(generation)
            }
        }
    }

    /// Keeps a row read under `generation`, unless something was invalidated since.
    /// A read that fills the cache on a miss: `call` runs, and the row it finds is kept under
    /// `key` unless a write touched the key since `generation` (see [`CacheService::lookup`]).
    pub fn read_through(self: &Arc<Self>, key: Key, generation: u64, call: Result<Call>) -> Plan {
        let cache = self.clone();
        Plan::new(
            call.map(Work::Call),
            Report::Remember(Box::new(move |out| {
                if let Output::Row(row) = out {
                    cache.store(key, row.clone(), generation);
                }
            })),
        )
    }

    pub fn store(&self, key: Key, row: Row, generation: u64) {
        if !self.live() || self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        self.cache.insert(key.clone(), Arc::new(row));
        // An invalidation that slipped in between the check and the insert removes it again.
        if self.generation.load(Ordering::Acquire) != generation {
            self.cache.invalidate(&key);
        }
    }

    fn live(&self) -> bool {
        !self.needs_hub || self.hub.get().is_some_and(|h| h.connected())
    }

    pub fn stats(&self) -> Stats {
        self.cache.run_pending_tasks();
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            size: self.cache.entry_count(),
        }
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl Invalidate for CacheService {
    fn invalidate(&self, touch: &Touch) {
        self.bump();
        self.invalidations.fetch_add(1, Ordering::Relaxed);
        match touch {
            Touch::Execution(id) => self.cache.invalidate(&Key::Execution(id.clone())),
            Touch::Handler(t) => {
                self.cache.invalidate(&Key::Handler(t.clone()));
                self.cache.invalidate(&Key::BestHandler(t.clone()));
            }
            Touch::Executions | Touch::Handlers => self.cache.invalidate_all(),
        }
    }

    fn flush(&self) {
        self.bump();
        self.flushes.fetch_add(1, Ordering::Relaxed);
        self.cache.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row::new(vec!["id".into()], vec![crate::core::value::Value::Int(1)])
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let c = CacheService::new(100, Duration::from_secs(60), false);
        let key = Key::Execution("e1".into());
        let generation = c.lookup(&key).unwrap_err();
        c.invalidate(&Touch::Execution("e1".into()));
        c.store(key.clone(), row(), generation);
        assert!(c.lookup(&key).is_err());
        let generation = c.lookup(&key).unwrap_err();
        c.store(key.clone(), row(), generation);
        assert!(c.lookup(&key).is_ok());
        c.invalidate(&Touch::Handler("x".into()));
        assert!(c.lookup(&key).is_ok(), "other keys stay");
        c.invalidate(&Touch::Execution("e1".into()));
        assert!(c.lookup(&key).is_err());
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.invalidations), (2, 4, 3));
    }

    #[test]
    fn nothing_is_kept_without_a_live_hub() {
        let c = CacheService::new(100, Duration::from_secs(60), true);
        let key = Key::Handler("h".into());
        let generation = c.lookup(&key).unwrap_err();
        c.store(key.clone(), row(), generation);
        assert!(c.lookup(&key).is_err());
    }
}
