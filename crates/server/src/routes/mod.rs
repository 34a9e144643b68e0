//! HTTP routes.

pub mod api;
pub mod meta;
pub mod oauth;
