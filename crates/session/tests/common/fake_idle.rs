//! An idle source the test drives: idle time grows with tokio's clock (which, like the X
//! server's counter, stands still while a machine sleeps) from the last `touch()`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_session::{IdleError, IdleSource};
use tokio::time::Instant;

#[derive(Debug)]
pub struct FakeIdle {
    last_input: Mutex<Instant>,
    always_active: bool,
}

impl FakeIdle {
    /// Input just now; idle grows from here.
    pub fn new() -> Arc<Self> {
        Arc::new(Self { last_input: Mutex::new(Instant::now()), always_active: false })
    }

    /// A user who never stops typing: idle is always 0.
    pub fn always_active() -> Arc<Self> {
        Arc::new(Self { last_input: Mutex::new(Instant::now()), always_active: true })
    }

    /// Input now.
    pub fn touch(&self) {
        *self.last_input.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
}

impl IdleSource for FakeIdle {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn idle_time(&self) -> Result<Duration, IdleError> {
        if self.always_active {
            return Ok(Duration::ZERO);
        }
        Ok(self.last_input.lock().unwrap_or_else(|p| p.into_inner()).elapsed())
    }
}
