//! The caches: [`store`], the segmented LRU behind `WorkflowCache`, and [`service`], the
//! read-through cache of rows that `WorkflowCacheService` keeps in step with the writes.

pub mod service;
pub mod store;

pub use store::{Cache, Entry, Key, KeyRef, Lifetime, Stats};
