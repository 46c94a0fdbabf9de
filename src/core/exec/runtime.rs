//! The tokio runtime calls run on: the one [`build`] made at load time (napi-rs is given the same
//! one), or, in tests and tools, the runtime of the caller.

use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime};

static RUNTIME: OnceLock<Handle> = OnceLock::new();

/// Makes `handle` the runtime of every call (once, at load time).
pub fn install(handle: Handle) {
    let _ = RUNTIME.set(handle);
}

/// The runtime to spawn on, if there is one.
pub fn handle() -> Option<Handle> {
    RUNTIME
        .get()
        .cloned()
        .or_else(|| Handle::try_current().ok())
}

/// Sets the runtime's worker threads (default: half the cores, at least one).
pub const WORKERS_ENV: &str = "WORKFLOW_INFRA_WORKERS";

/// The runtime of every call ([`WORKERS_ENV`] workers), installed as such.
pub fn build() -> std::io::Result<Runtime> {
    let workers = match std::env::var(WORKERS_ENV).ok().map(|v| v.parse::<usize>()) {
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            tracing::warn!("{WORKERS_ENV} must be a positive whole number; ignored");
            default_workers()
        }
        None => default_workers(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    install(rt.handle().clone());
    Ok(rt)
}

/// Half the cores, at least one: the event loop keeps a core busy, and the database server
/// often shares the machine. On 2 cores one worker spent 5–25 % less CPU per PostgreSQL call
/// and per workflow than one a core, at the same throughput (see bench/RESULTS.md).
fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores / 2).max(1)
}
