//! `db.health()`: a readiness probe. It never fails: it reports whether the database answers
//! and can take writes, how long the probe took, and what stops it when it cannot.

use std::time::{Duration, Instant};

use super::database::Database;
use super::store::Store;
use crate::core::error::{Error, ErrorCode};

/// How long the probe waits for the database.
const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// What `health()` resolves.
#[derive(Debug, Clone)]
pub struct Health {
    /// The database answered, and writes can be taken.
    pub ok: bool,
    /// `ok`: serving from the configured database; `degraded`: serving, but from the fallback or
    /// while its journal is replayed onto the primary; `down`: not serving (`ok` is false).
    pub status: &'static str,
    pub backend: &'static str,
    pub used_fallback: bool,
    /// The probe's round trip, in milliseconds.
    pub latency_ms: f64,
    /// PostgreSQL: calls are being refused because the server was found unreachable.
    pub breaker_open: bool,
    /// SQLite: writes other than deletes are refused for want of room on the disk.
    pub disk_full: bool,
    /// Why `ok` is false.
    pub error: Option<Error>,
}

/// Probes `db`: `SELECT 1` (PostgreSQL: through the pool; SQLite: on the scan connection and
/// then through the writer thread's queue), within [`PROBE_LIMIT`].
pub async fn health(db: &Database) -> Health {
    let started = Instant::now();
    let probe = db.backend().probe();
    let answered = match tokio::time::timeout(PROBE_LIMIT, probe).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(
            ErrorCode::Timeout,
            "the database did not answer the probe within 5 s",
        )),
    };
    let (breaker_open, disk_full) = (db.backend().failing_fast(), db.backend().disk_full());
    let error = answered.err();
    let replaying = db
        .journal()
        .replaying
        .load(std::sync::atomic::Ordering::Acquire);
    let status = match (&error, db.used_fallback() || replaying) {
        (Some(_), _) => "down",
        (None, true) => "degraded",
        (None, false) => "ok",
    };
    Health {
        ok: error.is_none(),
        status,
        backend: db.kind().as_str(),
        used_fallback: db.used_fallback(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        breaker_open,
        disk_full,
        error,
    }
}

impl Health {
    /// What `health()` resolves (the shape `Health` in index.d.ts states).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.ok,
            "status": self.status,
            "backend": self.backend,
            "usedFallback": self.used_fallback,
            "latencyMs": self.latency_ms,
            "breakerOpen": self.breaker_open,
            "diskFull": self.disk_full,
            "error": self.error.as_ref().map(|e| serde_json::json!({
                "code": e.code.as_str(),
                "message": e.message,
            })),
        })
    }
}
