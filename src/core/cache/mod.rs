//! The caches: [`store`], the segmented LRU behind `WorkflowCache`, and [`service`], the
//! read-through cache of rows that `WorkflowCacheService` keeps in step with the writes.

pub mod entry;
pub mod service;
pub mod store;

pub use entry::{Entry, Key, KeyRef, Lifetime, Stats};
pub use store::Cache;
