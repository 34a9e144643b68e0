//! Tessera's client session engine: everything between the user and the server that is not UI.
//! No Tauri, no webview: the desktop shell and the `tessera` CLI are thin layers over this crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod backoff;
pub mod client;
pub mod clock;
pub mod config;
mod engine;
pub mod error;
pub mod lock;
pub mod metrics;
pub mod schedule;
pub mod secret;
pub mod state;
pub mod token;
pub mod vault;

pub use audit::{AuditEntry, AuditError, AuditEvent, AuditKind, AuditLog, VerifyReport};
pub use secret::{AccessToken, Password, RefreshToken};
pub use vault::{KeychainVault, MemoryVault, StorageTier, Vault, VaultError, VaultKey, VaultRecord};
pub use client::{AuthClient, ClientConfig};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::EngineConfig;
pub use engine::{SessionEngine, SessionStatus, SignOutOutcome};
pub use error::{ClientError, EngineError, ErrorClass, ErrorPayload};
pub use metrics::MetricsSnapshot;
pub use schedule::RefreshScheduler;
pub use state::{SessionEvent, SessionState, SignOutReason, WarningCode};
pub use token::TokenGrant;
