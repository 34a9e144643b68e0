//! Windows (`GetLastInputInfo`) and macOS (IOKit `HIDIdleTime`) through `user-idle`.
//!
//! Not compiled yet: this project's machines and CI are Linux only, with no toolchain for these
//! targets. Compile and test on Windows and macOS before relying on it.

use std::time::Duration;

use super::{IdleError, IdleSource};

/// The platform's own idle counter.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlatformIdle;

const NAME: &str = if cfg!(target_os = "windows") { "windows" } else { "macos" };

impl IdleSource for PlatformIdle {
    fn name(&self) -> &'static str {
        NAME
    }

    fn idle_time(&self) -> Result<Duration, IdleError> {
        user_idle::UserIdle::get_time()
            .map(|t| t.duration())
            .map_err(|e| IdleError::Query { source_name: NAME, reason: e.to_string() })
    }
}
