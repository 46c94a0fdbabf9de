//! The core: everything that knows SQL and nothing of napi.

pub mod admin;
pub mod cache;
pub mod cache_service;
pub mod columns;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod input;
pub mod invalidate;
pub mod logging;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod repo;
pub mod seed;
pub mod value;
pub mod workflow;
