//! HTTP routes.

pub mod admin;
pub mod api;
pub mod meta;
pub mod notifications;
pub mod oauth;
pub mod tickets;
pub mod webhooks;
