//! The tokio runtime calls run on: the one the binding built at load time (and gave napi), or,
//! in tests and tools, the runtime of the caller.

use std::sync::OnceLock;

use tokio::runtime::Handle;

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
