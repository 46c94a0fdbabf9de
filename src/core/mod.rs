//! The core: everything that knows SQL and nothing of napi.

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
pub mod repo;
pub mod value;
pub mod workflow;
