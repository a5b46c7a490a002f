//! What every command shares, below all of them: the configuration error (exit code 2), the
//! environment, and the async runtime. A leaf: it imports no other module of the binary, so the
//! commands can use it while `main` dispatches to them.

use anyhow::Context as _;

/// A configuration problem (exit code 2) as opposed to a failure at run time (also 2, but worded
/// by the library that failed).
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// A setting the check's rules refused: its message already names the flag or variable.
impl From<netready_check::SettingsError> for ConfigError {
    fn from(e: netready_check::SettingsError) -> Self {
        ConfigError(e.to_string())
    }
}

/// One environment variable, if it is set and Unicode.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A single-threaded runtime for the check and the agent (small, predictable); the plane serves
/// on all cores.
pub fn runtime(multi_thread: bool) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().context("cannot start the async runtime")
}
