//! Tessera session engine (being built: see issue 3).
#![forbid(unsafe_code)]
