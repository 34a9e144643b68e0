//! Queries, grouped by table. Functions take an executor so callers choose the pool or a
//! transaction; none of them decides policy (that is in `auth`).

pub mod audit;
pub mod device_codes;
pub mod external;
pub mod notifications;
pub mod oidc;
pub mod sessions;
pub mod tickets;
pub mod users;
pub mod webhooks;
