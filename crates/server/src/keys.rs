//! The access-token signing key (Ed25519, generated on first start, kept in the data dir with
//! 0600 permissions), issuing and verifying access tokens, and the public JWKS.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::Digest;

pub use crate::private_files::KEY_FILE;

/// The `typ` claim of access tokens, so no other JWT we might sign is accepted as one.
pub const ACCESS_TYP: &str = "access";

/// Claims of an access token (RFC 7519 §4.1 names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// RFC 7519 §4.1.1 issuer.
    pub iss: String,
    /// RFC 7519 §4.1.2 subject: the user id.
    pub sub: String,
    /// Tessera: the session id.
    pub sid: String,
    /// RFC 7519 §4.1.6 issued at (seconds).
    pub iat: i64,
    /// RFC 7519 §4.1.4 expiration time (seconds).
    pub exp: i64,
    /// RFC 7519 §4.1.7 JWT id.
    pub jti: String,
    /// Token type; always [`ACCESS_TYP`].
    pub typ: String,
    /// RFC 9068 §2.2 audience: this server's issuer (a resource server trusting it checks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// RFC 9068 §2.2 the client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Why an access token was refused (all map to 401 `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Not a JWT, bad signature, wrong algorithm or key, wrong type.
    #[error("the access token is malformed or not signed by this server")]
    Invalid,
    /// Past its `exp`.
    #[error("the access token has expired")]
    Expired,
}

/// The server's signing key.
pub struct SigningKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    kid: String,
    public_x: String,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Loads the key from `data_dir`, generating and saving one (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(KEY_FILE);
        let der = match std::fs::read(&path) {
            Ok(der) => der,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(&path)?,
            Err(e) => return Err(e).with_context(|| format!("reading signing key {}", path.display())),
        };
        Self::from_pkcs8(&der).with_context(|| format!("signing key {} is damaged", path.display()))
    }

    fn from_pkcs8(der: &[u8]) -> anyhow::Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 key: {e}"))?;
        let public = pair.public_key().as_ref();
        let public_x = URL_SAFE_NO_PAD.encode(public);
        let kid = hex::encode(&sha2::Sha256::digest(public)[..8]);
        let decoding = DecodingKey::from_ed_components(&public_x).context("public key")?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Only EdDSA: `alg: none`, HS256-with-the-public-key and RSA/EC tricks are refused here.
        validation.algorithms = vec![Algorithm::EdDSA];
        // Expiry is checked against the injected clock by the caller.
        validation.validate_exp = false;
        // Its own tokens name this server as their audience; the key is the proof here.
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp", "iat", "sub"].iter().map(|s| (*s).to_owned()).collect();
        Ok(Self { encoding: EncodingKey::from_ed_der(der), decoding, validation, kid, public_x })
    }

    /// Key id (`kid`) of the current key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs an access token.
    pub fn issue(&self, claims: &AccessClaims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".into()); // RFC 9068 §2.1
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing access token")
    }

    /// Verifies signature, algorithm, key id, type and expiry (against `now_secs`).
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<AccessClaims, TokenRejection> {
        if token.len() > 4096 {
            return Err(TokenRejection::Invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejection::Invalid)?;
        if header.alg != Algorithm::EdDSA || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenRejection::Invalid);
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenRejection::Invalid)?;
        let claims = data.claims;
        if claims.typ != ACCESS_TYP {
            return Err(TokenRejection::Invalid);
        }
        if now_secs >= claims.exp {
            return Err(TokenRejection::Expired);
        }
        Ok(claims)
    }

    /// The public key as a JWK (RFC 7517 §4; OKP keys per RFC 8037 §2).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.public_x,
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }
}

/// Generates an Ed25519 key and saves it (see [`save_new_private`]).
fn create_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let rng = ring::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| anyhow::anyhow!("generating Ed25519 key"))?;
    save_new_private(path, doc.as_ref(), "access-token signing key")
}

/// Writes `der` to `path` with owner-only permissions, without ever leaving a readable or
/// half-written file: write to a 0600 temp file, fsync, then `create_new`-link into place. When
/// another process saved a key first, theirs is read and returned instead.
pub(crate) fn save_new_private(path: &Path, der: &[u8], what: &str) -> anyhow::Result<Vec<u8>> {
    let tmp: PathBuf = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut file = crate::private_files::private_options()
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(der)?;
        file.sync_all()?;
    }
    // hard_link fails if another process created the key first: then use theirs.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a new {what}");
            Ok(der.to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("saving {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "http://test".into(),
            sub: "1".into(),
            sid: "s".into(),
            iat: 0,
            exp,
            jti: "j".into(),
            typ: ACCESS_TYP.into(),
            aud: Some("http://test".into()),
            client_id: Some("tessera-cli".into()),
        }
    }

    #[test]
    fn key_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let a = SigningKeys::load_or_create(dir.path()).unwrap();
        let b = SigningKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(a.kid(), b.kid(), "the second start must reuse the saved key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "private key must be readable by the owner only");
        }
    }

    #[test]
    fn issued_tokens_verify_until_exp() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load_or_create(dir.path()).unwrap();
        let token = keys.issue(&claims(100)).unwrap();
        assert_eq!(keys.verify(&token, 99).unwrap().sid, "s", "valid before exp");
        assert_eq!(keys.verify(&token, 100), Err(TokenRejection::Expired), "invalid at exp");
    }

    #[test]
    fn tokens_of_another_key_are_refused() {
        let a = SigningKeys::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        let b = SigningKeys::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        let token = a.issue(&claims(100)).unwrap();
        assert_eq!(b.verify(&token, 0), Err(TokenRejection::Invalid), "foreign key must not verify");
    }

    #[test]
    fn damaged_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"garbage").unwrap();
        let err = SigningKeys::load_or_create(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("damaged"), "must say the key is damaged: {err:#}");
    }
}
