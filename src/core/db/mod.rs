//! The storage floor. Repositories and services talk to [`Database`]: a [`Call`] (statements
//! written once, PostgreSQL dialect with `$n` placeholders, and how to shape what they return)
//! runs on whichever backend is open.
//!
//! The seam is one trait, [`Store`] (`store.rs`): what the common layer asks of a backend.
//! [`sqlite`] (files and memory: reader, scanner and writer thread, checkpoints, the full-disk
//! reserve) and [`postgres`] (the pool, group commit, the circuit breaker, LISTEN/NOTIFY and the
//! distributed events that ride on it) implement it and know nothing of each other.
//!
//! Common, beside them: [`statement`], [`call`], [`dialect`], [`merge`], [`sync`],
//! [`invalidate`], [`lanes`] and the migrations' bookkeeping ([`migrate`]). [`backend`] is the
//! open backend; [`database`] holds every method of [`Database`] (its calls, its lifecycle,
//! opening one target). On top: [`connect`] (the fallback and its journal, [`journal`]) and
//! [`health`].

pub mod backend;
pub mod call;
pub mod connect;
pub mod database;
pub mod dialect;
pub mod distinct;
pub mod health;
pub mod invalidate;
pub mod journal;
pub mod lanes;
pub mod merge;
pub mod migrate;
pub mod postgres;
pub mod sqlite;
pub mod statement;
pub mod store;
pub mod sync;

pub use backend::Backend;
pub use call::{Call, Op, Output, Shape};
pub use database::{CallGuard, Database, DbKind};
pub use dialect::Dialect;
pub use invalidate::Touch;
pub use statement::{Bulk, BulkType, Merge, Statement, StmtResult};
pub use store::Store;
pub use sync::{blocking, lock};
