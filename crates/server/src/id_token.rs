//! The id_token signing key (RSA-2048, RS256, generated on first start, kept in the data dir with
//! 0600 permissions next to the Ed25519 access-token key), signing id_tokens (OpenID Connect Core
//! §2) and verifying our own (for `id_token_hint` at the end-session endpoint).
//!
//! RS256 is the one algorithm every relying party must support (OIDC Core §15.1), which is why
//! id_tokens are not signed with the access tokens' EdDSA key.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use sha2::Digest;
use tessera_protocol::IdTokenClaims;

pub use crate::private_files::ID_TOKEN_KEY_FILE;

/// Modulus size of a generated key.
const RSA_BITS: usize = 2048;

/// The server's id_token signing key.
pub struct IdTokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    n: String,
    e: String,
}

impl std::fmt::Debug for IdTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl IdTokenKey {
    /// Loads the key from `data_dir`, generating and saving one (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(ID_TOKEN_KEY_FILE);
        let der = match std::fs::read(&path) {
            Ok(der) => der,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS).context("generating RSA key")?;
                let der = key.to_pkcs1_der().context("encoding RSA key")?;
                crate::keys::save_new_private(&path, der.as_bytes(), "id_token signing key")?
            }
            Err(e) => return Err(e).with_context(|| format!("reading id_token key {}", path.display())),
        };
        Self::from_pkcs1(&der).with_context(|| format!("id_token key {} is damaged", path.display()))
    }

    fn from_pkcs1(der: &[u8]) -> anyhow::Result<Self> {
        let key = rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|e| anyhow::anyhow!("not an RSA PKCS#1 key: {e}"))?;
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        let kid = hex::encode(&sha2::Sha256::digest(format!("{n}.{e}").as_bytes())[..8]);
        let decoding = DecodingKey::from_rsa_components(&n, &e).context("public key")?;
        Ok(Self { encoding: EncodingKey::from_rsa_der(der), decoding, kid, n, e })
    }

    /// Key id (`kid`) of the key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs an id_token (RS256, `typ: JWT`, our `kid`).
    pub fn sign(&self, claims: &IdTokenClaims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing id_token")
    }

    /// Verifies that `token` is an id_token this server signed (RS256 with this key) and returns
    /// its claims. Expiry is not checked: an `id_token_hint` may be expired (OIDC RP-Initiated
    /// Logout §2). `None` for anything else.
    pub fn verify_ignoring_expiry(&self, token: &str) -> Option<IdTokenClaims> {
        if token.len() > 8192 {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some(self.kid.as_str()) {
            return None;
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = ["sub", "iss"].iter().map(|s| (*s).to_owned()).collect();
        jsonwebtoken::decode::<IdTokenClaims>(token, &self.decoding, &validation).ok().map(|d| d.claims)
    }

    /// The public key as a JWK (RFC 7517 §4, RSA parameters per RFC 7518 §6.3.1).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "n": self.n,
            "e": self.e,
            "kid": self.kid,
            "alg": "RS256",
            "use": "sig",
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test
mod tests {
    use super::*;

    fn claims() -> IdTokenClaims {
        IdTokenClaims {
            iss: "http://test".into(),
            sub: "1".into(),
            aud: "tessera-cli".into(),
            exp: 1,
            iat: 0,
            auth_time: 0,
            nonce: Some("n".into()),
            sid: None,
            azp: None,
            preferred_username: None,
            name: None,
        }
    }

    #[test]
    fn own_tokens_verify_even_expired_and_foreign_ones_do_not() {
        let a = IdTokenKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        let b = IdTokenKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        let token = a.sign(&claims()).unwrap();
        assert_eq!(
            a.verify_ignoring_expiry(&token).unwrap().nonce.as_deref(),
            Some("n"),
            "own, expired token verifies"
        );
        assert!(b.verify_ignoring_expiry(&token).is_none(), "a foreign key's token must not verify");
        assert!(a.verify_ignoring_expiry("not.a.jwt").is_none(), "garbage is refused");
    }

    #[test]
    fn damaged_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ID_TOKEN_KEY_FILE), b"garbage").unwrap();
        let err = IdTokenKey::load_or_create(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("damaged"), "must say the key is damaged: {err:#}");
    }
}
