//! Tessera's wire protocol: the request and response bodies, error codes and endpoint paths that
//! the client engine (`tessera-session`) and the reference server (`tessera-server`) share.
//!
//! The token endpoint is shaped after OAuth 2.0 (RFC 6749) so the same engine can later talk to a
//! standard identity provider; Tessera's additions (`session_id`, `refresh_expires_in`, a stable
//! [`ErrorCode`] beside the OAuth `error`) are optional extensions a standard client ignores.
//!
//! ```
//! use tessera_protocol::{ErrorBody, ErrorCode};
//!
//! let body: ErrorBody = serde_json::from_str(
//!     r#"{"error":"invalid_grant","error_description":"session revoked","code":"session_revoked"}"#,
//! ).unwrap();
//! assert_eq!(body.code, ErrorCode::SessionRevoked);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod admin;
mod client_setup;
mod error;
pub mod loopback;
mod notification;
pub mod oidc;
pub mod paths;
pub mod pkce;
mod session;
mod sign_out;
mod token;

pub use admin::{AdminPasswordReset, AdminUser, AdminUserOutcome};
pub use client_setup::{
    ClientSetup, DEVICE_APP_VERSION_HEADER, DEVICE_NAME_HEADER, DEVICE_PLATFORM_HEADER, DEVICE_SESSION_HEADER,
    decode_header_text, encode_header_text, parse_ports,
};
pub use error::{ErrorBody, ErrorCode, OAuthError, error_chain};
pub use notification::{
    AdminNotify, AssignTicket, Comment, NewComment, NewTicket, NewWebhook, Notification, NotificationPage,
    ReadAllResponse, Ticket, UnreadCount, WEBHOOK_EVENT_HEADER, WEBHOOK_EVENT_NOTIFICATION_CREATED,
    WEBHOOK_SIGNATURE_HEADER, WS_CLOSE_SERVER_RESTART, WS_CLOSE_SESSION_ENDED, WS_CLOSE_TOKEN_EXPIRED, WebhookBody,
    WebhookCreated, WebhookDelivery, WebhookDeliveryList, WebhookInfo, WebhookList, WsClientMessage, WsServerMessage,
};
pub use oidc::{
    AuthorizeParams, DeviceAuthorizationRequest, DeviceAuthorizationResponse, Discovery, IdTokenClaims, UserInfo,
};
pub use session::{
    AuditEntry, AuditList, DeviceInfo, Me, RevokeOthersResponse, Role, SessionInfo, SessionList, TesseraEndpoints,
};
pub use sign_out::SignOutReason;
pub use token::{GrantType, RevokeRequest, TokenRequest, TokenResponse};

/// The `User-Agent` prefix Tessera clients send (`Tessera/<version> (<os>)`).
pub const USER_AGENT_PRODUCT: &str = "Tessera";

/// Header carrying a per-request id; accepted from clients, generated when missing, echoed back.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
