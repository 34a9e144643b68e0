//! [`SessionEngine`]: one signed-in session, its tokens, state and events.
//!
//! - The access token lives in memory only; the refresh token in the [`Vault`] (and memory).
//! - Refreshes are single-flight inside the process (one async gate; callers that waited share
//!   the outcome of the attempt that ran) and serialized across processes by a lock file in the
//!   data directory, inside which the vault is re-read so a token another process already rotated
//!   is adopted instead of replayed ([`refresh`](self) module).
//! - A rotated refresh token is in the vault before the new state is reported.
//! - Sign-in, restore, sign-out and pending revocations are in the `lifecycle` module; every
//!   change of the keychain record goes through the `records` module's guard.

mod api;
mod browser_sign_in;
mod lifecycle;
mod records;
mod refresh;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::account::Account;
use crate::audit::{AuditEvent, AuditKind, AuditLog};
use crate::client::AuthClient;
use crate::clock::{Clock, SystemClock};
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::schedule::{RefreshScheduler, ScheduleInput, SchedulePolicy, TokenTimes};
use crate::secret::AccessToken;
use crate::state::{SessionEvent, SessionState, SignOutReason, WarningCode};
use crate::vault::{StorageTier, Vault, VaultRecord};

pub use browser_sign_in::{BrowserSignIn, DeviceSignIn};
pub use lifecycle::SignOutOutcome;

/// Events a subscriber may fall behind by before it loses the oldest.
const EVENT_CAPACITY: usize = 64;

/// The session engine. Cheap to clone: clones share one session.
#[derive(Clone)]
pub struct SessionEngine {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    client: AuthClient,
    vault: Arc<dyn Vault>,
    clock: Arc<dyn Clock>,
    /// Serializes refresh, sign-in, sign-out and session end within this process.
    gate: tokio::sync::Mutex<()>,
    current: Mutex<Current>,
    events: broadcast::Sender<SessionEvent>,
    schedule: watch::Sender<ScheduleInput>,
    metrics: Metrics,
    audit: Option<AuditLog>,
}

/// What the engine holds. Never held across an `.await`.
struct Current {
    state: SessionState,
    session: Option<Held>,
    /// Bumped when a refresh attempt completes or the session changes: callers that saw an
    /// older value share the newer outcome instead of refreshing again.
    epoch: u64,
    /// The failure of the attempt that set `epoch`, if it failed.
    last_failure: Option<EngineError>,
    /// Bumped for every new token; what the scheduler re-arms on.
    token_generation: u64,
    /// Whether the vault holds the current refresh token (false after a failed vault write).
    persisted: bool,
    /// When the engine went offline, while it is.
    offline_since: Option<DateTime<Utc>>,
    /// The account whose revocation this engine queued at an offline sign-out, until sent: a
    /// memory-only session is current nowhere else, yet its revocation is still owed.
    queued_for: Option<Account>,
}

/// A live session.
struct Held {
    record: VaultRecord,
    access: Option<AccessToken>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The engine's view of the session, for status displays and `status --json`. No token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionStatus {
    /// The state.
    pub state: SessionState,
    /// The server.
    pub server_url: String,
    /// Signed-in user, if any.
    pub username: Option<String>,
    /// Server-side session id, if any.
    pub session_id: Option<String>,
    /// Where the refresh token lives: `keychain`, or `memory` (ends with the process).
    pub storage: StorageTier,
    /// When the access token expires (local clock).
    pub access_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token stops working: the session's idle or absolute end.
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// The session's absolute end.
    pub session_expires_at: Option<DateTime<Utc>>,
    /// Server clock minus local clock, from the last response's `Date` header.
    pub clock_skew_ms: Option<i64>,
    /// A sign-out whose revocation has not reached the server yet.
    pub pending_revocation: bool,
}

impl std::fmt::Debug for SessionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEngine").field("state", &self.cur().state).field("client", &self.inner.client).finish()
    }
}

impl SessionEngine {
    /// An engine on the system clock. Signed out until [`sign_in`](Self::sign_in) or
    /// [`restore`](Self::restore).
    pub fn new(config: EngineConfig, vault: Arc<dyn Vault>) -> Result<Self, EngineError> {
        Self::with_clock(config, vault, Arc::new(SystemClock))
    }

    /// An engine reading wall-clock time from `clock`.
    pub fn with_clock(config: EngineConfig, vault: Arc<dyn Vault>, clock: Arc<dyn Clock>) -> Result<Self, EngineError> {
        let client = AuthClient::new(config.client.clone(), clock.clone())?;
        // Anchored in the keychain when the vault is the keychain; memory cannot outlive us.
        let opened = match vault.anchor_store() {
            Some(store) => AuditLog::open_anchored(&config.data_dir, store),
            None => AuditLog::open(&config.data_dir),
        };
        let audit = match opened {
            Ok(log) => Some(log),
            Err(e) => {
                tracing::warn!(error = %e, "audit log unavailable; continuing without it");
                None
            }
        };
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (schedule, _) = watch::channel(ScheduleInput::default());
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                client,
                vault,
                clock,
                gate: tokio::sync::Mutex::new(()),
                current: Mutex::new(Current {
                    state: SessionState::SignedOut { reason: None },
                    session: None,
                    epoch: 0,
                    last_failure: None,
                    token_generation: 0,
                    persisted: false,
                    offline_since: None,
                    queued_for: None,
                }),
                events,
                schedule,
                metrics: Metrics::default(),
                audit,
            }),
        })
    }

    /// The HTTP client (for calls that need no session, e.g. discovery).
    pub fn client(&self) -> &AuthClient {
        &self.inner.client
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Events from now on (bounded: a slow subscriber loses the oldest and gets `Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.events.subscribe()
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.cur().state.clone()
    }

    /// The current status.
    pub fn status(&self) -> SessionStatus {
        let cur = self.cur();
        let held = cur.session.as_ref();
        SessionStatus {
            state: cur.state.clone(),
            server_url: self.inner.config.server_url(),
            username: held.map(|h| h.record.username.clone()),
            session_id: held.map(|h| h.record.session_id.clone()),
            storage: if cur.persisted { self.inner.vault.tier() } else { StorageTier::Memory },
            access_expires_at: held.and_then(|h| h.access.as_ref().map(|_| h.expires_at)),
            refresh_expires_at: held.map(|h| h.record.refresh_expires_at),
            session_expires_at: held.map(|h| h.record.session_expires_at),
            clock_skew_ms: self.inner.client.clock_skew().map(|s| s.num_milliseconds()),
            pending_revocation: held.is_some_and(|h| h.record.pending_revocation.is_some()),
        }
    }

    /// Refresh counters and latencies.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// Counts a notification-feed reconnect in the metrics.
    pub fn note_reconnect(&self) {
        self.inner.metrics.reconnected();
    }

    /// Starts the refresh schedule for this engine (one per engine; drop it to stop).
    pub fn spawn_scheduler(&self) -> RefreshScheduler {
        let c = &self.inner.config;
        let policy = SchedulePolicy {
            lead: c.refresh_lead,
            jitter_ratio: c.jitter_ratio,
            max_jitter: c.max_jitter,
            expiring_warning: c.expiring_warning,
        };
        RefreshScheduler::spawn(self.clone(), self.inner.schedule.subscribe(), policy, self.inner.clock.clone())
    }

    /// Makes every [`RefreshScheduler`] of this engine wake and recompute its deadlines from the
    /// wall clock (as [`RefreshScheduler::recheck`] does). The idle watch calls it after a
    /// resume from suspend, once it has decided whether the session survives the sleep.
    pub fn recheck_schedule(&self) {
        // The scheduler wakes on any send, and only re-arms when the generation changed.
        self.inner.schedule.send_modify(|_| {});
    }

    fn cur(&self) -> MutexGuard<'_, Current> {
        // Every update of `Current` is a few assignments; a panic cannot leave it half-done in a
        // way later code depends on, so a poisoned lock is still usable.
        self.inner.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    pub(crate) fn emit(&self, event: SessionEvent) {
        // No subscriber is fine.
        let _ = self.inner.events.send(event);
    }

    pub(crate) fn warn(&self, code: WarningCode, message: String) {
        tracing::warn!(code = ?code, "{message}");
        self.emit(SessionEvent::Warning { code, message });
    }

    /// Moves to `state`, emitting an event when it changed.
    fn set_state_locked(&self, cur: &mut Current, state: SessionState) {
        if cur.state != state {
            let reason = match &state {
                SessionState::SignedOut { reason } => *reason,
                _ => None,
            };
            let entering_expiring =
                matches!(state, SessionState::Expiring { .. }) && !matches!(cur.state, SessionState::Expiring { .. });
            cur.state = state.clone();
            self.emit(SessionEvent::StateChanged { state: state.clone(), reason });
            if let (true, SessionState::Expiring { session_ends_at }) = (entering_expiring, state) {
                self.emit(SessionEvent::Warning {
                    code: WarningCode::SessionExpiring,
                    message: format!(
                        "the session ends at {session_ends_at} and cannot be extended; sign in again then"
                    ),
                });
            }
        }
    }

    /// Puts `session` (or none) in place of the current one: every earlier refresh outcome and
    /// token generation is superseded, and the schedule re-arms on the new dates.
    fn replace_session(&self, cur: &mut Current, session: Option<Held>, persisted: bool, state: SessionState) {
        if let Some(held) = &session {
            self.inner.client.set_device_session(&held.record.session_id);
        }
        cur.session = session;
        cur.epoch += 1;
        cur.token_generation += 1;
        cur.last_failure = None;
        cur.persisted = persisted;
        cur.offline_since = None;
        self.set_state_locked(cur, state);
        self.publish_schedule(cur);
    }

    fn set_state(&self, state: SessionState) {
        let mut cur = self.cur();
        self.set_state_locked(&mut cur, state);
    }

    /// `Active`, or `Expiring` near the absolute end, for a session with a token.
    fn settled_state(&self, held: &Held, now: DateTime<Utc>) -> SessionState {
        let warning = chrono::Duration::from_std(self.inner.config.expiring_warning).unwrap_or(chrono::Duration::MAX);
        let ends = held.record.session_expires_at;
        if ends.checked_sub_signed(warning).is_none_or(|start| now >= start) {
            SessionState::Expiring { session_ends_at: ends }
        } else {
            SessionState::Active { expires_at: held.expires_at, session_expires_at: ends }
        }
    }

    /// Publishes the token dates for the scheduler.
    fn publish_schedule(&self, cur: &Current) {
        let times = cur.session.as_ref().map(|h| TokenTimes {
            issued_at: h.issued_at,
            expires_at: h.expires_at,
            session_expires_at: h.record.session_expires_at,
        });
        self.inner.schedule.send_replace(ScheduleInput { generation: cur.token_generation, times });
    }

    /// Records an audit event (off the async threads: the log takes a file lock). Failures are
    /// logged only.
    async fn audit(&self, event: AuditEvent) {
        let Some(log) = self.inner.audit.clone() else { return };
        let at = self.now();
        match tokio::task::spawn_blocking(move || log.append(at, &event)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "audit append failed"),
            Err(e) => tracing::warn!(error = %e, "audit task failed"),
        }
    }

    fn audit_event(kind: AuditKind, session_id: Option<&str>) -> AuditEvent {
        let event = AuditEvent::new(kind);
        match session_id {
            Some(id) => event.session(id),
            None => event,
        }
    }

    /// The error for "no session here": the reason the last one ended, if any.
    fn no_session_error(cur: &Current) -> EngineError {
        match cur.state {
            SessionState::SignedOut { reason: Some(reason) } => EngineError::SignedOut(reason),
            _ => EngineError::NotSignedIn,
        }
    }

    /// The user is reachable again after an `Offline` spell caused by an API call.
    fn note_online(&self) {
        let mut cur = self.cur();
        if matches!(cur.state, SessionState::Offline { .. }) && cur.last_failure.is_none() {
            if let Some(held) = cur.session.as_ref().filter(|h| h.access.is_some()) {
                let state = self.settled_state(held, self.now());
                cur.offline_since = None;
                self.set_state_locked(&mut cur, state);
            }
        }
    }

    /// A transient failure: still signed in, but offline.
    fn note_offline(&self) {
        let now = self.now();
        let mut cur = self.cur();
        if cur.session.is_some() {
            let since = *cur.offline_since.get_or_insert(now);
            self.set_state_locked(&mut cur, SessionState::Offline { since });
        }
    }

    /// Ends the current session if it is still `session_id` (takes the gate).
    pub(crate) async fn end_session_if(&self, session_id: &str, reason: SignOutReason) {
        let _gate = self.inner.gate.lock().await;
        let same = self.cur().session.as_ref().is_some_and(|h| h.record.session_id == session_id);
        if same {
            self.end_locked(reason, None).await;
        }
    }
}
