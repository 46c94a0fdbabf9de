//! The error codes, exported as constants (`err.code` of every rejection is one of these).

use napi_derive::napi;

/// Bad input: wrong type, missing field, unknown key or status, out-of-range value.
#[napi]
pub const ERR_VALIDATION: &str = "ERR_VALIDATION";
/// The row asked for does not exist.
#[napi]
pub const ERR_NOT_FOUND: &str = "ERR_NOT_FOUND";
/// A unique or foreign-key constraint refused the write.
#[napi]
pub const ERR_CONFLICT: &str = "ERR_CONFLICT";
/// The database cannot be reached (down, refused, wrong credentials, unreadable file).
#[napi]
pub const ERR_DB_UNAVAILABLE: &str = "ERR_DB_UNAVAILABLE";
/// Any other database failure.
#[napi]
pub const ERR_DB: &str = "ERR_DB";
/// The database was closed before the call.
#[napi]
pub const ERR_CLOSED: &str = "ERR_CLOSED";
/// A migration failed, or an applied migration differs from the embedded one.
#[napi]
pub const ERR_MIGRATION: &str = "ERR_MIGRATION";
/// A lock or a connection was not obtained in time.
#[napi]
pub const ERR_TIMEOUT: &str = "ERR_TIMEOUT";
/// A bug in this package: please report it.
#[napi]
pub const ERR_INTERNAL: &str = "ERR_INTERNAL";
