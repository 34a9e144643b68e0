//! Secret newtypes. None of them implements `Display` or `Serialize`; `Debug` prints
//! `Name(<redacted>)`. The raw value is reachable only through `secret()`.

use std::fmt;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps a raw secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The raw secret. Do not log it, put it in an error, an event, the audit log or
            /// anything that reaches the webview: pass it straight to the wire or the keychain.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// A short, non-reversible fingerprint (first 8 hex digits of SHA-256) that logs and
            /// diagnostics may show to tell two values apart.
            pub fn fingerprint(&self) -> String {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(self.0.as_bytes());
                hex::encode(&digest[..4])
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_type!(
    /// An access token (RFC 6749 §1.4): short-lived, kept in memory only.
    AccessToken
);
secret_type!(
    /// A refresh token (RFC 6749 §1.5): long-lived, kept only in the OS keychain.
    RefreshToken
);
secret_type!(
    /// A password typed by the user: sent once to the token endpoint, never stored.
    Password
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2): single-use, exchanged at once, never stored.
    AuthorizationCode
);
secret_type!(
    /// An id_token (OpenID Connect Core §2): validated once at sign-in, kept only in memory as
    /// the `id_token_hint` of a browser sign-out.
    IdToken
);
secret_type!(
    /// A device code (RFC 8628 §3.2): what this device polls the token endpoint with.
    DeviceCode
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let access = AccessToken::new("eyJ-very-secret");
        let refresh = RefreshToken::new("trt_very-secret");
        let password = Password::new("hunter2");
        assert_eq!(format!("{access:?}"), "AccessToken(<redacted>)", "access token must not print");
        assert_eq!(format!("{refresh:?}"), "RefreshToken(<redacted>)", "refresh token must not print");
        assert_eq!(format!("{password:?}"), "Password(<redacted>)", "password must not print");
        assert_eq!(format!("{:?}", Some(&refresh)), "Some(RefreshToken(<redacted>))", "nested Debug too");
        assert_eq!(refresh.secret(), "trt_very-secret", "secret() returns the raw value");
    }

    #[test]
    fn fingerprint_is_short_and_stable() {
        let a = RefreshToken::new("a");
        assert_eq!(a.fingerprint(), RefreshToken::new("a").fingerprint(), "same value, same print");
        assert_ne!(a.fingerprint(), RefreshToken::new("b").fingerprint(), "values are told apart");
        assert_eq!(a.fingerprint().len(), 8, "eight hex digits");
    }
}
