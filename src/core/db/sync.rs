//! Small helpers every backend shares: a poison-tolerant lock and blocking work off the runtime.

use std::sync::{Mutex, MutexGuard};

use crate::core::error::{Error, Result};

/// Runs blocking work (file I/O) on the runtime's blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::internal("blocking work panicked"))?
}

/// Locks a mutex, recovering it if a panic poisoned it (the data it guards stays consistent:
/// connections roll back their own transactions).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
