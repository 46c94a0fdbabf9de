//! Logging through `tracing`, filtered by `WORKFLOW_INFRA_LOG` (default `warn`), to stderr.
//! Messages never carry credentials or parameter values.

use std::sync::Once;

use tracing_subscriber::EnvFilter;

/// The environment variable that sets the log filter (`error`, `warn`, `info`, `debug`, `trace`,
/// or any `tracing` filter directive).
pub const LOG_ENV: &str = "WORKFLOW_INFRA_LOG";

/// Installs the stderr subscriber once per process. Later calls do nothing, and a subscriber
/// another library installed first is left alone.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    });
}
