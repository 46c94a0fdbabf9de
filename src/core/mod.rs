//! The core: everything that knows SQL and nothing of napi.

pub mod admin;
pub mod columns;
pub mod config;
pub mod db;
pub mod error;
pub mod input;
pub mod logging;
pub mod migrate;
pub mod repo;
pub mod seed;
pub mod value;
