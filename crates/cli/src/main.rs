//! `tessera` command line (being built: see issue 3).
fn main() {}
