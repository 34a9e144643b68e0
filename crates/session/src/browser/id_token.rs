//! id_token validation (OpenID Connect Core §3.1.3.7) for the code and device code exchanges.
//!
//! The signature is checked against the provider's JWKS with an algorithm allow-list (the
//! header's `alg` must be on the list *and* match the key: no `none`, no HMAC with a public key
//! as secret), then `iss` (exactly the discovered issuer), `aud` (contains our client id; `azp`
//! when there are several), `exp` and `iat` (60 s leeway for clock skew) and `nonce` (exactly the
//! one this sign-in sent).

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tessera_protocol::IdTokenClaims;

use crate::secret::IdToken;

/// Signing algorithms accepted for id_tokens: RS256 (OIDC Core §15.1 makes it mandatory to
/// support) and the other asymmetric ones common providers use.
pub const ALLOWED_ALGORITHMS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384];

/// Clock skew tolerated on `exp` and `iat`, in seconds.
const LEEWAY_SECS: u64 = 60;

/// Why an id_token was refused. The sign-in stops; nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    /// The token response carried no id_token although `openid` was asked for.
    #[error("the server sent no id_token")]
    Missing,
    /// Not a JWT, or a header this client does not accept.
    #[error("the id_token is malformed: {0}")]
    Malformed(String),
    /// The header's `alg` is not on the allow-list.
    #[error("the id_token is signed with {0}, which is not accepted")]
    AlgorithmRefused(String),
    /// No key in the provider's JWKS fits the token's `kid` and `alg`.
    #[error("no key in the provider's JWKS verifies this id_token")]
    UnknownKey,
    /// Signature, issuer, audience, expiry or nonce do not hold.
    #[error("the id_token does not verify: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// The keys of a JWKS document that this client can use; others (and malformed entries) are
/// skipped, so one unusual key does not break sign-in.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, IdTokenError> {
    let raw: RawJwks =
        serde_json::from_slice(body).map_err(|e| IdTokenError::Malformed(format!("JWKS is not a key set: {e}")))?;
    Ok(raw.keys.into_iter().filter_map(|key| serde_json::from_value(key).ok()).collect())
}

/// Validates `token` and returns its claims (`aud` normalised to our client id).
pub fn validate(
    token: &IdToken,
    keys: &[Jwk],
    issuer: &str,
    client_id: &str,
    nonce: Option<&str>,
) -> Result<IdTokenClaims, IdTokenError> {
    let header = jsonwebtoken::decode_header(token.secret()).map_err(|e| IdTokenError::Malformed(e.to_string()))?;
    if !ALLOWED_ALGORITHMS.contains(&header.alg) {
        return Err(IdTokenError::AlgorithmRefused(format!("{:?}", header.alg)));
    }
    let fits = |jwk: &&Jwk| {
        let kid_ok = match (&header.kid, &jwk.common.key_id) {
            (Some(want), Some(have)) => want == have,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let alg_ok = jwk.common.key_algorithm.is_none_or(|alg| format!("{alg:?}") == format!("{:?}", header.alg));
        kid_ok && alg_ok
    };
    let jwk = keys.iter().find(fits).ok_or(IdTokenError::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| IdTokenError::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECS;
    let data = jsonwebtoken::decode::<serde_json::Value>(token.secret(), &key, &validation)
        .map_err(|e| IdTokenError::Invalid(e.to_string()))?;
    let claims = data.claims;
    // OIDC Core §3.1.3.7 step 4-5: with several audiences, azp must be present and be us.
    if claims.get("aud").and_then(|a| a.as_array()).is_some_and(|a| a.len() > 1)
        && claims.get("azp").and_then(|a| a.as_str()) != Some(client_id)
    {
        return Err(IdTokenError::Invalid("several audiences and azp is not this client".into()));
    }
    // A device sign-in sends no nonce (RFC 8628 has none); a code sign-in always does.
    if nonce.is_some() && claims.get("nonce").and_then(|n| n.as_str()) != nonce {
        return Err(IdTokenError::Invalid("nonce is missing or not the one this sign-in sent".into()));
    }
    let aud = match claims.get("aud") {
        Some(serde_json::Value::Array(_)) => client_id.to_owned(),
        Some(serde_json::Value::String(aud)) => aud.clone(),
        _ => return Err(IdTokenError::Invalid("aud is not a string or list".into())),
    };
    let mut claims = claims;
    claims["aud"] = serde_json::Value::String(aud);
    if claims.get("auth_time").is_none() {
        claims["auth_time"] = claims["iat"].clone();
    }
    serde_json::from_value(claims).map_err(|e| IdTokenError::Invalid(format!("claims: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn unsigned(alg: &str) -> IdToken {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let body = URL_SAFE_NO_PAD.encode(r#"{"iss":"i","sub":"u","aud":"c","exp":9999999999,"iat":1,"nonce":"n"}"#);
        IdToken::new(format!("{header}.{body}."))
    }

    #[test]
    fn none_and_hmac_algorithms_are_refused_before_any_key_is_looked_at() {
        for alg in ["none", "HS256"] {
            let err = validate(&unsigned(alg), &[], "i", "c", Some("n")).unwrap_err();
            assert!(matches!(err, IdTokenError::AlgorithmRefused(_) | IdTokenError::Malformed(_)), "{alg}: {err:?}");
        }
    }

    #[test]
    fn a_token_without_a_matching_key_is_refused() {
        let err = validate(&unsigned("RS256"), &[], "i", "c", Some("n")).unwrap_err();
        assert_eq!(err, IdTokenError::UnknownKey);
    }

    #[test]
    fn jwks_entries_this_client_cannot_read_are_skipped() {
        let keys =
            parse_jwks(br#"{"keys":[{"kty":"weird"},{"kty":"RSA","n":"sXch","e":"AQAB","kid":"k1","alg":"RS256"}]}"#)
                .unwrap();
        assert_eq!(keys.len(), 1);
        assert!(parse_jwks(b"[]").is_err());
    }
}
