//! Queries, grouped by table. Functions take an executor so callers choose the pool or a
//! transaction; none of them decides policy (that is in `auth`).

pub mod audit;
pub mod sessions;
pub mod users;
