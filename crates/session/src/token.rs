//! A token response turned into secret newtypes and local-clock deadlines.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use tessera_protocol::TokenResponse;

use crate::error::ClientError;
use crate::secret::{AccessToken, IdToken, RefreshToken};

/// What a successful password or refresh grant gave us. Times are on the *local* clock: relative
/// lifetimes from the response are added to the moment it arrived, so clock skew does not matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// RFC 6749 §5.1 `access_token`.
    pub access_token: AccessToken,
    /// RFC 6749 §5.1 `refresh_token` (rotated on every use).
    pub refresh_token: RefreshToken,
    /// Tessera's server-side session id.
    pub session_id: String,
    /// When the response arrived.
    pub issued_at: DateTime<Utc>,
    /// When the access token expires: `issued_at + expires_in` (RFC 6749 §5.1), or earlier when
    /// the JWT's `exp` (RFC 7519 §4.1.4, shifted by the measured clock skew) says so.
    pub expires_at: DateTime<Utc>,
    /// When the refresh token stops working (the session's idle or absolute end).
    pub refresh_expires_at: DateTime<Utc>,
    /// The session's absolute end.
    pub session_expires_at: DateTime<Utc>,
    /// OpenID Connect `id_token`, on a code or device code exchange (validate before use).
    pub id_token: Option<IdToken>,
}

impl TokenGrant {
    /// Builds a grant from a token response that arrived at `now`. `skew` is server time minus
    /// local time, when known.
    pub(crate) fn from_response(
        response: TokenResponse,
        now: DateTime<Utc>,
        skew: Option<chrono::Duration>,
    ) -> Result<Self, String> {
        if !response.token_type.eq_ignore_ascii_case("bearer") {
            return Err(format!("token_type is {:?}, expected Bearer", response.token_type));
        }
        if response.access_token.is_empty() || response.refresh_token.is_empty() {
            return Err("empty access_token or refresh_token".into());
        }
        let after = |secs: u64| {
            now + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000).min(100 * 365 * 86_400))
        };
        let mut expires_at = after(response.expires_in);
        if let Some(exp) = jwt_exp(&response.access_token) {
            let exp_local = exp - skew.unwrap_or_else(chrono::Duration::zero);
            if exp_local < expires_at && exp_local > now {
                expires_at = exp_local;
            }
        }
        Ok(Self {
            access_token: AccessToken::new(response.access_token),
            refresh_token: RefreshToken::new(response.refresh_token),
            session_id: response.session_id,
            issued_at: now,
            expires_at,
            refresh_expires_at: after(response.refresh_expires_in),
            session_expires_at: after(response.session_expires_in),
            id_token: response.id_token.filter(|t| !t.is_empty()).map(IdToken::new),
        })
    }
}

impl From<String> for ClientError {
    fn from(reason: String) -> Self {
        ClientError::Malformed { status: 200, reason, body_prefix: String::new(), request_id: String::new() }
    }
}

/// The `exp` claim of a JWT, read *without verifying the signature*: only to schedule refreshes,
/// never to decide what the token grants. `None` when the token is not a JWT.
pub fn jwt_exp(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(exp: i64) -> String {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", enc(r#"{"alg":"EdDSA"}"#), enc(&format!(r#"{{"sub":"u","exp":{exp}}}"#)))
    }

    fn response(access: String) -> TokenResponse {
        TokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: 600,
            refresh_token: "trt_x".into(),
            refresh_expires_in: 1800,
            session_expires_in: 43200,
            session_id: "s1".into(),
            scope: None,
            id_token: None,
        }
    }

    #[test]
    fn deadlines_come_from_relative_lifetimes() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let grant = TokenGrant::from_response(response("opaque".into()), now, None);
        let grant = grant.unwrap_or_else(|e| panic!("a valid response must parse: {e}"));
        assert_eq!(grant.expires_at, now + chrono::Duration::seconds(600), "expires_in counts from arrival");
        assert_eq!(grant.refresh_expires_at, now + chrono::Duration::seconds(1800), "refresh_expires_in too");
        assert_eq!(grant.session_expires_at, now + chrono::Duration::seconds(43200), "session_expires_in too");
    }

    #[test]
    fn an_earlier_jwt_exp_wins_after_skew_correction() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        // The server's clock is 100 s ahead; its exp says 300 s from its now.
        let skew = chrono::Duration::seconds(100);
        let token = jwt(1_800_000_000 + 100 + 300);
        let grant = TokenGrant::from_response(response(token), now, Some(skew));
        let grant = grant.unwrap_or_else(|e| panic!("a valid response must parse: {e}"));
        assert_eq!(
            grant.expires_at,
            now + chrono::Duration::seconds(300),
            "exp shifted by the skew is the earlier deadline"
        );
    }

    #[test]
    fn wrong_token_type_is_refused() {
        let mut r = response("a".into());
        r.token_type = "mac".into();
        assert!(TokenGrant::from_response(r, Utc::now(), None).is_err(), "only Bearer tokens are usable (RFC 6750)");
        assert_eq!(jwt_exp("not-a-jwt"), None, "opaque tokens have no exp");
    }
}
