//! PKCE (RFC 7636) for the native-app sign-in (RFC 8252 §6): S256 only — RFC 9700 §2.1.1 says
//! `plain` must not be used where S256 can be, and every Tessera client can. The client makes a
//! [`CodeVerifier`] and sends its [`CodeChallenge`]; the server keeps the challenge with the code
//! and [`verify`]s the verifier at the token endpoint.
//!
//! ```
//! use tessera_protocol::pkce::{self, CodeVerifier};
//! let verifier = CodeVerifier::generate();
//! let challenge = verifier.challenge();
//! assert_eq!(pkce::verify(Some(pkce::METHOD), challenge.as_str(), verifier.expose()), Ok(()));
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// The one `code_challenge_method` offered and accepted.
pub const METHOD: &str = "S256";

/// RFC 7636 §4.1: a verifier is 43 to 128 characters.
const VERIFIER_LEN: std::ops::RangeInclusive<usize> = 43..=128;
/// A SHA-256 digest in base64url without padding.
const CHALLENGE_LEN: usize = 43;

/// Why a PKCE parameter is refused. Each is the client's mistake: `invalid_request` at the
/// authorization endpoint, `invalid_grant` at the token endpoint (RFC 7636 §4.4.1, §4.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkceError {
    /// No `code_challenge` (PKCE is required for every client).
    MissingChallenge,
    /// A method other than S256 (`plain` included).
    UnsupportedMethod(String),
    /// A challenge that is not 43 base64url characters.
    MalformedChallenge,
    /// A verifier outside 43–128 characters of `[A-Za-z0-9-._~]`.
    MalformedVerifier,
    /// The verifier does not hash to the challenge.
    Mismatch,
}

impl std::fmt::Display for PkceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingChallenge => write!(f, "code_challenge is required (PKCE, method S256)"),
            Self::UnsupportedMethod(m) => write!(f, "code_challenge_method {m:?} is not supported; use S256"),
            Self::MalformedChallenge => write!(f, "code_challenge must be 43 base64url characters (S256)"),
            Self::MalformedVerifier => write!(f, "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]"),
            Self::Mismatch => write!(f, "code_verifier does not match the code_challenge"),
        }
    }
}

impl std::error::Error for PkceError {}

/// A PKCE code verifier: the client's secret for one authorization. Debug never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

impl CodeVerifier {
    /// A fresh verifier: 32 bytes from the OS generator, 43 base64url characters (RFC 7636 §7.1).
    pub fn generate() -> Self {
        Self(random_urlsafe(32))
    }

    /// A verifier received from elsewhere, checked against RFC 7636 §4.1.
    pub fn parse(text: &str) -> Result<Self, PkceError> {
        check_verifier(text)?;
        Ok(Self(text.to_owned()))
    }

    /// The S256 challenge to send with the authorization request.
    pub fn challenge(&self) -> CodeChallenge {
        CodeChallenge(s256(&self.0))
    }

    /// The verifier itself, for the token request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An S256 code challenge (not secret: it travels in the browser's address bar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// The `code_challenge` and `code_challenge_method` of an authorization request, checked.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, PkceError> {
        let challenge = challenge.filter(|c| !c.is_empty()).ok_or(PkceError::MissingChallenge)?;
        // RFC 7636 §4.3: an absent method means `plain`, which is refused like a named one.
        let method = method.unwrap_or("plain");
        if method != METHOD {
            return Err(PkceError::UnsupportedMethod(method.to_owned()));
        }
        let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if challenge.len() != CHALLENGE_LEN || !challenge.chars().all(base64url) {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks `verifier` against the `challenge` stored with a code (`method` as stored, S256 only).
/// The comparison takes the same time wherever the first difference is.
pub fn verify(method: Option<&str>, challenge: &str, verifier: &str) -> Result<(), PkceError> {
    let challenge = CodeChallenge::parse(Some(challenge), method)?;
    check_verifier(verifier)?;
    let computed = s256(verifier);
    let differ = computed.bytes().zip(challenge.0.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if differ == 0 && computed.len() == challenge.0.len() { Ok(()) } else { Err(PkceError::Mismatch) }
}

/// `bytes` from the OS generator as base64url without padding: for verifiers, `state`, `nonce`.
pub fn random_urlsafe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn check_verifier(text: &str) -> Result<(), PkceError> {
    let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
    if VERIFIER_LEN.contains(&text.len()) && text.chars().all(unreserved) {
        Ok(())
    } else {
        Err(PkceError::MalformedVerifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifies_and_any_other_verifier_does_not() {
        let verifier = CodeVerifier::parse(RFC_VERIFIER).map_err(|e| e.to_string());
        assert_eq!(verifier.map(|v| v.challenge()), Ok(CodeChallenge(RFC_CHALLENGE.into())), "Appendix B");
        assert_eq!(verify(Some("S256"), RFC_CHALLENGE, RFC_VERIFIER), Ok(()));
        let other = CodeVerifier::generate();
        assert_eq!(verify(Some("S256"), RFC_CHALLENGE, other.expose()), Err(PkceError::Mismatch));
    }

    #[test]
    fn plain_or_no_method_or_no_challenge_is_refused() {
        assert_eq!(CodeChallenge::parse(None, Some("S256")), Err(PkceError::MissingChallenge));
        assert_eq!(CodeChallenge::parse(Some(""), Some("S256")), Err(PkceError::MissingChallenge));
        let plain = Err(PkceError::UnsupportedMethod("plain".into()));
        assert_eq!(CodeChallenge::parse(Some(RFC_CHALLENGE), Some("plain")), plain, "plain is refused");
        assert_eq!(CodeChallenge::parse(Some(RFC_CHALLENGE), None), plain, "absent means plain: refused");
        let lower = CodeChallenge::parse(Some(RFC_CHALLENGE), Some("s256"));
        assert_eq!(lower, Err(PkceError::UnsupportedMethod("s256".into())), "the method is case-sensitive");
        // A plain-method client sends its verifier as the challenge: too long for S256 or not.
        assert_eq!(CodeChallenge::parse(Some(&"a".repeat(64)), Some("S256")), Err(PkceError::MalformedChallenge));
        assert_eq!(CodeChallenge::parse(Some(&"=".repeat(43)), Some("S256")), Err(PkceError::MalformedChallenge));
    }

    #[test]
    fn verifiers_are_43_to_128_unreserved_characters() {
        assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(CodeVerifier::parse(&"~._-".repeat(32)).is_ok(), "128 characters of the unreserved set");
        assert_eq!(CodeVerifier::parse(&"a".repeat(42)), Err(PkceError::MalformedVerifier), "too short");
        assert_eq!(CodeVerifier::parse(&"a".repeat(129)), Err(PkceError::MalformedVerifier), "too long");
        let spaced = format!("{} ", "a".repeat(43));
        assert_eq!(CodeVerifier::parse(&spaced), Err(PkceError::MalformedVerifier), "no other characters");
        assert_eq!(verify(Some("S256"), RFC_CHALLENGE, "short"), Err(PkceError::MalformedVerifier));
    }

    #[test]
    fn generated_verifiers_are_fresh_well_formed_and_never_printed() {
        let (a, b) = (CodeVerifier::generate(), CodeVerifier::generate());
        assert_ne!(a, b, "each authorization gets its own");
        assert_eq!(CodeVerifier::parse(a.expose()), Ok(a.clone()), "and it is a valid verifier");
        assert_eq!(format!("{a:?}"), "CodeVerifier(<redacted>)");
        assert_eq!(random_urlsafe(16).len(), 22, "16 bytes are 22 base64url characters");
    }
}
