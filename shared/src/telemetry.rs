//! Tracing set-up. Log with fields, never whole requests or customer data.

use tracing_subscriber::EnvFilter;

/// For the CLI and local tools: human-readable, to stderr, `RUST_LOG` (default `warn`).
pub fn init_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
