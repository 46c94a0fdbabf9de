//! The error codes, exported as constants (`err.code` of every rejection is one of these). Their
//! declarations are in header.d.ts, each typed as its literal (napi-rs would type them `string`).

use napi_derive::napi;

use crate::core::error::ErrorCode;

/// Bad input: wrong type, missing field, unknown key or status, out-of-range value.
#[napi(skip_typescript)]
pub const ERR_VALIDATION: &str = ErrorCode::Validation.as_str();
/// A unique or foreign-key constraint refused the write.
#[napi(skip_typescript)]
pub const ERR_CONFLICT: &str = ErrorCode::Conflict.as_str();
/// The database cannot be reached (down, connection refused, timed out, unknown host, unreadable
/// file): an outage, the one reason a configured fallback is used.
#[napi(skip_typescript)]
pub const ERR_DB_UNAVAILABLE: &str = ErrorCode::DbUnavailable.as_str();
/// The server answered and refused: no such database, authentication failed, TLS required,
/// refused or unverified, no permission. A configuration error: no fallback is used.
#[napi(skip_typescript)]
pub const ERR_DB_REFUSED: &str = ErrorCode::DbRefused.as_str();
/// Any other database failure.
#[napi(skip_typescript)]
pub const ERR_DB: &str = ErrorCode::Db.as_str();
/// The database was closed before the call.
#[napi(skip_typescript)]
pub const ERR_CLOSED: &str = ErrorCode::Closed.as_str();
/// A migration failed, or an applied migration differs from the embedded one.
#[napi(skip_typescript)]
pub const ERR_MIGRATION: &str = ErrorCode::Migration.as_str();
/// A lock or a connection was not obtained in time.
#[napi(skip_typescript)]
pub const ERR_TIMEOUT: &str = ErrorCode::Timeout.as_str();
/// More calls in flight on the database than its `maxInFlight` (default 10,000): refused at
/// once, nothing written. Await some calls before making more, or raise the limit.
#[napi(skip_typescript)]
pub const ERR_OVERLOADED: &str = ErrorCode::Overloaded.as_str();
/// A bug in this package: please report it.
#[napi(skip_typescript)]
pub const ERR_INTERNAL: &str = ErrorCode::Internal.as_str();
