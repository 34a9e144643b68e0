//! Windows (`GetLastInputInfo`) and macOS (IOKit `HIDIdleTime`) through `user-idle`.
//!
//! Compile-checked only on those platforms themselves: this project's CI runs on Linux.

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
