//! The rules for login names, passwords and the display names made from login names.

/// Longest password accepted (bytes), the same as the token endpoint accepts: a longer one could
/// be set but never used to sign in.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A login name: 1 to 128 characters without whitespace.
pub fn check_username(username: &str) -> Result<(), String> {
    if username.is_empty() || username.len() > 128 || username.chars().any(char::is_whitespace) {
        return Err("a username is 1 to 128 characters without spaces".into());
    }
    Ok(())
}

/// A password: at least 8 characters, at most [`MAX_PASSWORD_BYTES`] bytes.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 8 {
        return Err("a password needs at least 8 characters".into());
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("a password has at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// The display name made from a login name.
pub fn capitalize(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
