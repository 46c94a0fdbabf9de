//! The storage seam and its backends. Repositories and services talk to [`Database`]: a
//! [`Call`] (statements written once, PostgreSQL dialect with `$n` placeholders, and how to
//! shape what they return) runs on whichever backend is open.
//!
//! The files, from the bottom up: [`statement`] and [`sync`]; the SQLite side ([`sqlite`],
//! [`writer`], [`room`], [`merge`]) and the PostgreSQL side ([`postgres`], [`pg_group`],
//! [`breaker`], [`notify`]); [`database`] over both, with its [`lanes`]; [`call`] and [`dialect`], what the
//! repositories build; [`migrate`], [`connect`], [`admin`] and [`health`] on top.

pub mod breaker;
pub mod broadcast;
pub mod call;
pub mod checkpoint;
pub mod connect;
pub mod database;
pub mod dialect;
pub mod health;
pub mod invalidate;
pub mod journal;
pub mod lanes;
pub mod merge;
pub mod migrate;
pub mod notify;
pub mod pg_exec;
pub mod pg_group;
pub mod postgres;
pub mod room;
pub mod sqlite;
pub mod sqlite_exec;
pub mod statement;
pub mod sync;
pub mod writer;

pub use call::{Call, Op, Output, Shape};
pub use database::{Backend, CallGuard, Database, DbKind};
pub use dialect::Dialect;
pub use invalidate::Touch;
pub use statement::{Bulk, BulkType, Merge, Statement, StmtResult};
pub use sync::{blocking, lock};
