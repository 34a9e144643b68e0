//! Creating users (the `user add` command and `--demo`). The rules for names and passwords are
//! [`crate::user_rules`].

use rand::Rng;
use tessera_protocol::Role;

use crate::admin::{self, Actor, AdminError};
use crate::state::AppState;

/// Creates `username`. A name that exists is refused: resetting a password is
/// [`admin::reset_password`] (`user passwd`), which also ends the user's sessions.
pub async fn add_user(state: &AppState, username: &str, password: &str, role: Role) -> anyhow::Result<()> {
    admin::create_user(state, username, password, role).await?;
    Ok(())
}

/// The demo users: alice and bob (agents), carol (admin).
pub const DEMO_USERS: &[(&str, Role)] = &[("alice", Role::Agent), ("bob", Role::Agent), ("carol", Role::Admin)];

/// Creates the demo users, or resets their passwords (ending their sessions) when they exist,
/// with fresh random passwords, and returns them.
pub async fn add_demo_users(state: &AppState) -> anyhow::Result<Vec<(String, Role, String)>> {
    let mut created = Vec::new();
    for (name, role) in DEMO_USERS {
        let password = random_password();
        match admin::create_user(state, name, &password, *role).await {
            Ok(_) => {}
            Err(AdminError::Exists(_)) => {
                admin::reset_password(state, name, &password, Actor::Host).await?;
            }
            Err(e) => return Err(e.into()),
        }
        created.push(((*name).to_owned(), *role, password));
    }
    Ok(created)
}

/// 16 characters from an alphabet without look-alikes (~90 bits).
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}
