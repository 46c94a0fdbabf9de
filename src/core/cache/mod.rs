//! The read-through cache of rows that `WorkflowCacheService` keeps in step with the writes.
//! (`WorkflowCache`, the synchronous cache of JS values, is JavaScript: `lib/cache.js`.)

pub mod service;
