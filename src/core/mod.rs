//! The core: everything that knows SQL and nothing of napi. [`db`] is the storage seam and its
//! backends, [`repo`] the repositories, [`workflow`] the services and events, [`cache`] the
//! caches, [`exec`] the one path every call takes; the rest is what they all use.

pub mod abort;
pub mod admin;
pub mod backlog;
pub mod cache;
pub mod columns;
pub mod config;
pub mod db;
pub mod error;
pub mod exec;
pub mod input;
pub mod logging;
pub mod metrics;
pub mod page;
pub mod records;
pub mod repo;
pub mod stamp;
pub mod value;
pub mod workflow;
