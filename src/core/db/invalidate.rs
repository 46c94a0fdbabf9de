//! Who must forget what after a write: the caches built on a database register here, and every
//! write through the addon tells them what it touched before its Promise settles. On PostgreSQL
//! the same news also arrives from other processes (see [`super::postgres::notify`]).

use std::sync::{Mutex, Weak};

use super::sync::lock;

/// What a write changes that a cache may hold: the cache service drops those entries when the
/// write ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// One execution, by `execution_id`.
    Execution(String),
    /// Any number of executions.
    Executions,
    /// One handler, by `handler_type`.
    Handler(String),
    /// Any number of handlers.
    Handlers,
}

/// Something that holds rows and must drop the ones a write changed.
pub trait Invalidate: Send + Sync {
    fn invalidate(&self, touch: &Touch);
    /// Drop everything (news may have been missed).
    fn flush(&self);
}

/// The caches of one database, held weakly: a dropped cache leaves on its own.
#[derive(Default)]
pub struct Watchers(Mutex<Vec<Weak<dyn Invalidate>>>);

impl Watchers {
    pub fn add(&self, watcher: Weak<dyn Invalidate>) {
        let mut list = lock(&self.0);
        list.retain(|w| w.strong_count() > 0);
        list.push(watcher);
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.0).iter().all(|w| w.strong_count() == 0)
    }

    /// Tells every live watcher.
    pub fn each(&self, f: impl Fn(&dyn Invalidate)) {
        let live: Vec<_> = lock(&self.0).iter().filter_map(Weak::upgrade).collect();
        for w in live {
            f(&*w);
        }
    }

    pub fn invalidate(&self, touches: &[Touch]) {
        if touches.is_empty() {
            return;
        }
        self.each(|w| touches.iter().for_each(|t| w.invalidate(t)));
    }
}
