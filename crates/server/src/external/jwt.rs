//! JWT access tokens (RFC 9068) checked against the provider's JWKS: an algorithm allow-list
//! (asymmetric only: never `none`, never HMAC with a public key as the secret), the key by
//! `kid`, the header `typ` where present, and the issuer. The key set is cached and read again
//! only when a token names a key it does not have, at most every [`super::RETRY_FLOOR`].

use std::time::Instant;

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::http::ProviderHttp;
use super::{RETRY_FLOOR, Rejection};

/// Algorithms accepted for access tokens.
pub(super) const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Header `typ` values accepted: RFC 9068's `at+jwt` (with or without `application/`), and
/// plain `JWT` from providers that predate it (Keycloak, Entra ID, Okta, Auth0).
const TYPES: &[&str] = &["at+jwt", "application/at+jwt", "jwt"];

/// Whether a token has the shape of a JWS (three base64url parts and a readable header).
pub(super) fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && jsonwebtoken::decode_header(token).is_ok()
}

/// The provider's keys, as last read.
#[derive(Debug, Default)]
pub(super) struct KeyCache {
    keys: tokio::sync::RwLock<Option<JwkSet>>,
    /// When the key set was last read (success or not): the floor for reading it again.
    last_read: tokio::sync::Mutex<Option<Instant>>,
}

impl KeyCache {
    /// Verifies signature, algorithm, key and type; returns the claims for the common checks.
    pub(super) async fn verify(
        &self,
        http: &ProviderHttp,
        jwks_uri: &str,
        token: &str,
        issuer: &str,
    ) -> Result<Value, Rejection> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Rejection::Invalid("the access token's JWT header is malformed".into()))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(Rejection::Invalid(format!("access tokens signed with {:?} are not accepted", header.alg)));
        }
        if let Some(typ) = &header.typ {
            if !TYPES.iter().any(|t| t.eq_ignore_ascii_case(typ)) {
                return Err(Rejection::Invalid(format!("a JWT of type {typ:?} is not an access token")));
            }
        }
        let key = self.key_for(http, jwks_uri, header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[issuer]);
        // Expiry, audience and client are checked by the caller, for both kinds of token.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp", "iss", "sub"].iter().map(|s| (*s).to_owned()).collect();
        jsonwebtoken::decode::<Value>(token, &key, &validation).map(|data| data.claims).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            Rejection::Invalid(match e.kind() {
                ErrorKind::InvalidIssuer => "the access token was issued by another provider (iss)".into(),
                ErrorKind::InvalidSignature => "the access token's signature does not verify".into(),
                ErrorKind::MissingRequiredClaim(claim) => format!("the access token has no {claim}"),
                _ => format!("the access token is malformed: {e}"),
            })
        })
    }

    /// The key for `kid` (or the only key for `alg` when the token names none), reading the set
    /// again once when it is not there.
    async fn key_for(
        &self,
        http: &ProviderHttp,
        jwks_uri: &str,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, Rejection> {
        if let Some(key) = self.find(kid, alg).await? {
            return Ok(key);
        }
        let mut last_read = self.last_read.lock().await;
        // Another request may have read the set while this one waited for the lock.
        if let Some(key) = self.find(kid, alg).await? {
            return Ok(key);
        }
        let have_keys = self.keys.read().await.is_some();
        if have_keys && last_read.is_some_and(|at| at.elapsed() < RETRY_FLOOR) {
            return Err(Rejection::Invalid(
                "the access token is signed with a key the provider does not publish".into(),
            ));
        }
        if !have_keys && last_read.is_some_and(|at| at.elapsed() < RETRY_FLOOR) {
            return Err(Rejection::Unavailable("the provider's keys (jwks_uri) could not be read".into()));
        }
        *last_read = Some(Instant::now());
        let set = http.get_json::<JwkSet>(jwks_uri).await.map_err(|why| {
            tracing::warn!(error = %why, "could not read the identity provider's keys");
            Rejection::Unavailable(format!("the provider's keys could not be read: {why}"))
        })?;
        tracing::info!(keys = set.keys.len(), "read the identity provider's keys");
        *self.keys.write().await = Some(set);
        drop(last_read);
        self.find(kid, alg).await?.ok_or_else(|| {
            Rejection::Invalid("the access token is signed with a key the provider does not publish".into())
        })
    }

    async fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<Option<DecodingKey>, Rejection> {
        let keys = self.keys.read().await;
        let Some(set) = keys.as_ref() else { return Ok(None) };
        let mut usable = set.keys.iter().filter(|jwk| usable_for(jwk, alg));
        let found = match kid {
            Some(kid) => usable.find(|jwk| jwk.common.key_id.as_deref() == Some(kid)),
            // No `kid`: only unambiguous when one key fits.
            None => usable.next().filter(|_| usable.next().is_none()),
        };
        found
            .map(|jwk| {
                DecodingKey::from_jwk(jwk)
                    .map_err(|e| Rejection::Invalid(format!("the provider's key is unusable: {e}")))
            })
            .transpose()
    }
}

/// Whether a published key may verify a signature of `alg`: a signing key (or one of no stated
/// use) of the matching family, whose own `alg`, when stated, is `alg`.
fn usable_for(jwk: &Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::jwk::AlgorithmParameters as P;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return false;
    }
    if let Some(stated) = jwk.common.key_algorithm {
        if !same_alg(stated, alg) {
            return false;
        }
    }
    matches!(
        (&jwk.algorithm, alg),
        (P::RSA(_), Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512)
            | (P::RSA(_), Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512)
            | (P::EllipticCurve(_), Algorithm::ES256 | Algorithm::ES384)
            | (P::OctetKeyPair(_), Algorithm::EdDSA)
    )
}

fn same_alg(stated: KeyAlgorithm, alg: Algorithm) -> bool {
    format!("{stated:?}") == format!("{alg:?}")
}
