//! Creating users (the `user add` command and `--demo`).

use rand::Rng;
use tessera_protocol::Role;

use crate::state::AppState;
use crate::store;

/// Creates `username` or replaces its password and role.
pub async fn add_user(state: &AppState, username: &str, password: &str, role: Role) -> anyhow::Result<()> {
    anyhow::ensure!(
        !username.is_empty() && username.len() <= 128 && !username.chars().any(char::is_whitespace),
        "a username is 1 to 128 characters without spaces"
    );
    anyhow::ensure!(password.chars().count() >= 8, "a password needs at least 8 characters");
    let hash = state.hasher.hash(password.to_owned()).await?;
    let mut conn = state.db.write.acquire().await?;
    let display_name = capitalize(username);
    store::users::upsert(&mut conn, username, &display_name, role, &hash, state.clock.now_ms()).await?;
    Ok(())
}

/// The demo users: alice and bob (agents), carol (admin).
pub const DEMO_USERS: &[(&str, Role)] = &[("alice", Role::Agent), ("bob", Role::Agent), ("carol", Role::Admin)];

/// Creates (or resets) the demo users with fresh random passwords and returns them.
pub async fn add_demo_users(state: &AppState) -> anyhow::Result<Vec<(String, Role, String)>> {
    let mut created = Vec::new();
    for (name, role) in DEMO_USERS {
        let password = random_password();
        add_user(state, name, &password, *role).await?;
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

fn capitalize(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
