//! HTTP routes.

pub mod admin;
pub mod api;
pub mod authorize;
pub mod code_grant;
pub mod device;
pub mod meta;
pub mod notifications;
pub mod oauth;
pub mod op_session;
pub mod pages;
pub mod tickets;
pub mod webhooks;
