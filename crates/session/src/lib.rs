//! Tessera's client session engine: everything between the user and the server that is not UI.
//! No Tauri, no webview: the desktop shell and the `tessera` CLI are thin layers over this crate.
//!
//! - the access token lives in memory only ([`AccessToken`]); the refresh token lives in the OS
//!   keychain ([`KeychainVault`]), or in memory when no keychain works, and status says so;
//! - refresh is scheduled before expiry ([`RefreshScheduler`]) and single-flight: concurrent
//!   callers, and other Tessera processes sharing the keychain record, share one refresh;
//! - a 401 triggers one refresh and one retry ([`SessionEngine::authorized`]); network failures
//!   make the session [`SessionState::Offline`], never signed out;
//! - every state change is a [`SessionEvent`] on a bounded broadcast channel, and a hash-chained
//!   [`AuditLog`] records them without secrets.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tessera_protocol::DeviceInfo;
//! use tessera_session::{EngineConfig, KeychainVault, Password, SessionEngine};
//!
//! let device = DeviceInfo { name: "front-desk".into(), platform: "linux".into(), app_version: "0.1.0".into() };
//! let config = EngineConfig::new("http://127.0.0.1:8787", "/tmp/tessera-data", "tessera-cli", device);
//! let engine = SessionEngine::new(config, Arc::new(KeychainVault::new()))?;
//! let mut events = engine.subscribe();
//! engine.sign_in("alice", &Password::new("correct horse")).await?;
//! let _schedule = engine.spawn_scheduler(); // refreshes before expiry while it lives
//! let me = engine.me().await?;               // 401 → one single-flight refresh → retry
//! println!("signed in as {}; first event: {:?}", me.username, events.recv().await?);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod account;
pub mod audit;
pub mod backoff;
pub mod browser;
pub mod client;
pub mod clock;
pub mod config;
pub mod desk;
mod engine;
pub mod error;
pub mod feed;
pub mod idle;
pub mod local;
pub mod lock;
pub mod metrics;
pub mod schedule;
pub mod secret;
pub mod setup;
pub mod state;
pub mod token;
pub mod vault;

mod url_policy;

pub use account::{Account, CurrentAccountFile, normalize_server_url};
pub use audit::{AuditEntry, AuditError, AuditEvent, AuditKind, AuditLog, VerifyReport};
pub use client::{AuthClient, ClientConfig, Revocation};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConfigError, EngineConfig, IdleTimeoutRefused, check_idle_timeout};
pub use desk::Desk;
pub use engine::{BrowserSignIn, DeviceSignIn, SessionEngine, SessionStatus, SignOutOutcome};
pub use error::{ClientError, EngineError, ErrorClass, ErrorPayload};
pub use feed::NotificationFeed;
pub use idle::{IdleError, IdleSource, IdleStatus, IdleWatch, SystemIdle};
pub use local::{LocalDirs, LocalError};
pub use metrics::MetricsSnapshot;
pub use schedule::RefreshScheduler;
pub use secret::{AccessToken, AuthorizationCode, DeviceCode, IdToken, Password, RefreshToken};
pub use setup::{SetupOverrides, server_setup};
pub use state::{FeedMode, SessionEvent, SessionState, SignOutReason, WarningCode};
pub use token::TokenGrant;
pub use vault::{
    AnchorStore, AuditAnchor, KeychainVault, MemoryVault, StorageTier, Vault, VaultChoice, VaultError, VaultRecord,
};
