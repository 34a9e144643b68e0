//! Connection caps for `/ws`: per session, per user and for the whole server. A [`WsSlot`] is
//! taken before the upgrade and held by the stream's task; dropping it (stream ended, upgrade
//! failed, request cancelled) gives the place back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::Config;
use crate::error::AppError;
use crate::metrics::{Metrics, inc};

/// `Retry-After` of a refused upgrade, in seconds: streams end on their own only slowly, so a
/// client should back off for a while (its feed polls meanwhile).
const RETRY_AFTER_SECS: u64 = 30;

#[derive(Debug, Default)]
struct Counts {
    total: u32,
    by_session: HashMap<String, u32>,
    by_user: HashMap<i64, u32>,
}

/// The caps and what is open now.
#[derive(Debug)]
pub struct WsSlots {
    per_session: u32,
    per_user: u32,
    total: u32,
    counts: Mutex<Counts>,
    metrics: Arc<Metrics>,
}

/// One open (or opening) stream's place under the caps.
#[derive(Debug)]
pub struct WsSlot {
    slots: Arc<WsSlots>,
    session_id: String,
    user_id: i64,
}

/// `0` in the config means no cap.
fn cap(value: u32) -> u32 {
    if value == 0 { u32::MAX } else { value }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl WsSlots {
    /// The caps `config` sets (`ws_max_per_session`, `ws_max_per_user`, `ws_max_connections`).
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            per_session: cap(config.ws_max_per_session),
            per_user: cap(config.ws_max_per_user),
            total: cap(config.ws_max_connections),
            counts: Mutex::new(Counts::default()),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // Counts are updated in single steps; a poisoned lock still holds consistent numbers.
        self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a place for a stream of `session_id` (of `user_id`), or refuses: 429
    /// `too_many_connections` for the session and user caps, 503 `server_busy` for the server's.
    pub fn take(self: &Arc<Self>, session_id: &str, user_id: i64) -> Result<WsSlot, AppError> {
        let mut counts = self.lock();
        if counts.total >= self.total {
            inc(&self.metrics.ws_refused_server);
            return Err(AppError::server_busy("every notification stream slot is taken", RETRY_AFTER_SECS));
        }
        if counts.by_user.get(&user_id).copied().unwrap_or(0) >= self.per_user {
            inc(&self.metrics.ws_refused_user);
            let what = format!("for this user (at most {})", self.per_user);
            return Err(AppError::too_many_connections(&what, RETRY_AFTER_SECS));
        }
        if counts.by_session.get(session_id).copied().unwrap_or(0) >= self.per_session {
            inc(&self.metrics.ws_refused_session);
            let what = format!("for this session (at most {})", self.per_session);
            return Err(AppError::too_many_connections(&what, RETRY_AFTER_SECS));
        }
        counts.total += 1;
        *counts.by_user.entry(user_id).or_default() += 1;
        *counts.by_session.entry(session_id.to_owned()).or_default() += 1;
        Ok(WsSlot { slots: Arc::clone(self), session_id: session_id.to_owned(), user_id })
    }

    /// Streams holding a place now.
    pub fn open(&self) -> u32 {
        self.lock().total
    }
}

impl Drop for WsSlot {
    fn drop(&mut self) {
        let mut counts = self.slots.lock();
        counts.total = counts.total.saturating_sub(1);
        decrement(&mut counts.by_user, &self.user_id);
        decrement(&mut counts.by_session, &self.session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_apply_per_session_user_and_server_and_places_come_back() {
        let config = Config { ws_max_per_session: 1, ws_max_per_user: 2, ws_max_connections: 3, ..Config::default() };
        let slots = WsSlots::new(&config, Arc::new(Metrics::default()));
        let a1 = slots.take("a1", 1).unwrap();
        let refused = slots.take("a1", 1).unwrap_err();
        assert_eq!(refused.code(), tessera_protocol::ErrorCode::TooManyConnections, "session cap");
        let _a2 = slots.take("a2", 1).unwrap();
        let refused = slots.take("a3", 1).unwrap_err();
        assert_eq!(refused.code(), tessera_protocol::ErrorCode::TooManyConnections, "user cap");
        let _b1 = slots.take("b1", 2).unwrap();
        let refused = slots.take("c1", 3).unwrap_err();
        assert_eq!(refused.code(), tessera_protocol::ErrorCode::ServerBusy, "server cap");
        drop(a1);
        assert_eq!(slots.open(), 2, "a dropped slot gives its place back");
        assert!(slots.take("a1", 1).is_ok(), "and the session may open a stream again");
    }
}
