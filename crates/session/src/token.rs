//! A token response turned into secret newtypes and local-clock deadlines.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use crate::error::ClientError;
use crate::secret::{AccessToken, IdToken, RefreshToken};

/// An access token's lifetime when the provider names none, neither as `expires_in` nor as a
/// JWT `exp` (RFC 6749 §5.1 only RECOMMENDS `expires_in`): short, so a refresh comes early
/// rather than a 401 late.
pub const DEFAULT_ACCESS_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);

/// A session's end when the provider does not say (only Tessera and Keycloak do): the provider
/// ends it sooner by refusing the refresh token, which signs out with its reason.
pub const UNKNOWN_SESSION_LIFETIME: chrono::Duration = chrono::Duration::days(90);

/// A token endpoint's answer (RFC 6749 §5.1) as any provider may send it: `access_token` and
/// `token_type` are all it must carry; Tessera's extensions (`session_id`,
/// `refresh_expires_in`, `session_expires_in`) and Keycloak's `refresh_expires_in` are read when
/// present. The reference server's strict form is [`tessera_protocol::TokenResponse`].
#[derive(Deserialize)]
pub(crate) struct ProviderTokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default, deserialize_with = "seconds")]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "seconds")]
    refresh_expires_in: Option<u64>,
    #[serde(default, deserialize_with = "seconds")]
    session_expires_in: Option<u64>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

/// A lifetime in seconds, as a number or (Entra ID's v1 endpoint, some proxies) a string of
/// digits. `0` from Keycloak's offline tokens means "no limit": read as absent.
fn seconds<'de, D: Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Number(u64),
        Text(String),
    }
    let secs = match Option::<Wire>::deserialize(de)? {
        None => None,
        Some(Wire::Number(n)) => Some(n),
        Some(Wire::Text(text)) => {
            Some(text.trim().parse::<u64>().map_err(|_| serde::de::Error::custom("a lifetime must be whole seconds"))?)
        }
    };
    Ok(secs.filter(|&n| n > 0))
}

/// What a successful grant gave us. Times are on the *local* clock: relative lifetimes from the
/// response are added to the moment it arrived, so clock skew does not matter. What the
/// provider left out is `None`; [`TokenGrant::terms`] fills it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// RFC 6749 §5.1 `access_token`.
    pub access_token: AccessToken,
    /// RFC 6749 §5.1 `refresh_token`: the new one when the provider rotates (Tessera, Okta,
    /// Auth0, Keycloak), else the one the refresh presented (RFC 6749 §6 lets a provider keep it).
    pub refresh_token: RefreshToken,
    /// Tessera's server-side session id; `None` from other providers.
    pub session_id: Option<String>,
    /// When the response arrived.
    pub issued_at: DateTime<Utc>,
    /// When the access token expires: `issued_at + expires_in` (RFC 6749 §5.1), or earlier when
    /// the JWT's `exp` (RFC 7519 §4.1.4, shifted by the measured clock skew) says so; without
    /// either, [`DEFAULT_ACCESS_LIFETIME`].
    pub expires_at: DateTime<Utc>,
    /// When the refresh token stops working (Tessera, Keycloak), when the provider says.
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// The session's absolute end, when the provider says (Tessera).
    pub session_expires_at: Option<DateTime<Utc>>,
    /// OpenID Connect `id_token`, on a code or device code exchange (validate before use). A
    /// refresh response's is not needed: the account was settled at sign-in.
    pub id_token: Option<IdToken>,
}

/// A session's id and deadlines, with what the provider left out filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionTerms {
    pub(crate) session_id: String,
    pub(crate) refresh_expires_at: DateTime<Utc>,
    pub(crate) session_expires_at: DateTime<Utc>,
}

impl TokenGrant {
    /// Builds a grant from a token response that arrived at `now`. `skew` is server time minus
    /// local time, when known. `presented` is the refresh token a refresh sent: kept when the
    /// answer carries none; a sign-in without a refresh token is an error.
    pub(crate) fn from_response(
        response: ProviderTokenResponse,
        now: DateTime<Utc>,
        skew: Option<chrono::Duration>,
        presented: Option<&RefreshToken>,
    ) -> Result<Self, String> {
        if !response.token_type.eq_ignore_ascii_case("bearer") {
            return Err(format!("token_type is {:?}, expected Bearer", response.token_type));
        }
        if response.access_token.is_empty() {
            return Err("empty access_token".into());
        }
        let refresh_token = match (response.refresh_token.filter(|t| !t.is_empty()), presented) {
            (Some(token), _) => RefreshToken::new(token),
            (None, Some(presented)) => presented.clone(),
            (None, None) => {
                return Err("no refresh_token: the provider must allow refresh for this client \
                     (offline_access scope, refresh token grant enabled)"
                    .into());
            }
        };
        let after = |secs: u64| {
            now + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000).min(100 * 365 * 86_400))
        };
        let exp_local = jwt_exp(&response.access_token)
            .map(|exp| exp - skew.unwrap_or_else(chrono::Duration::zero))
            .filter(|&exp| exp > now);
        let expires_at = match (response.expires_in.map(after), exp_local) {
            (Some(stated), Some(exp)) => stated.min(exp),
            (Some(stated), None) => stated,
            (None, Some(exp)) => exp,
            (None, None) => now + DEFAULT_ACCESS_LIFETIME,
        };
        Ok(Self {
            access_token: AccessToken::new(response.access_token),
            refresh_token,
            session_id: response.session_id.filter(|id| !id.is_empty()),
            issued_at: now,
            expires_at,
            refresh_expires_at: response.refresh_expires_in.map(after),
            session_expires_at: response.session_expires_in.map(after),
            id_token: response.id_token.filter(|t| !t.is_empty()).map(IdToken::new),
        })
    }

    /// The session this grant starts (`previous` `None`) or continues: the provider's session id
    /// and deadlines where it gave them, else the previous session's, else for a new session a
    /// fresh device-session id ([`new_device_session`]) and [`UNKNOWN_SESSION_LIFETIME`]. A
    /// refresh token without its own end lasts as long as the session.
    pub(crate) fn terms(&self, previous: Option<&SessionTerms>) -> SessionTerms {
        let session_id = match (&self.session_id, previous) {
            (Some(id), _) => id.clone(),
            (None, Some(previous)) => previous.session_id.clone(),
            (None, None) => new_device_session(),
        };
        let session_expires_at = self
            .session_expires_at
            .or(previous.map(|p| p.session_expires_at))
            .unwrap_or(self.issued_at + UNKNOWN_SESSION_LIFETIME);
        let refresh_expires_at = self.refresh_expires_at.unwrap_or(session_expires_at).min(session_expires_at);
        SessionTerms { session_id, refresh_expires_at, session_expires_at }
    }
}

/// A device-session id for a provider that names no session: random, shared by every Tessera
/// program on this machine through the keychain record, sent as
/// [`tessera_protocol::DEVICE_SESSION_HEADER`].
pub(crate) fn new_device_session() -> String {
    format!("ds-{}", uuid::Uuid::new_v4().simple())
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

    fn parse(json: &str) -> ProviderTokenResponse {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn tessera(access: &str) -> ProviderTokenResponse {
        parse(&format!(
            r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":600,"refresh_token":"trt_x",
                "refresh_expires_in":1800,"session_expires_in":43200,"session_id":"s1"}}"#
        ))
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    #[test]
    fn deadlines_come_from_relative_lifetimes() {
        let now = at();
        let grant = TokenGrant::from_response(tessera("opaque"), now, None, None);
        let grant = grant.unwrap_or_else(|e| panic!("a valid response must parse: {e}"));
        assert_eq!(grant.expires_at, now + secs(600), "expires_in counts from arrival");
        let terms = grant.terms(None);
        assert_eq!(terms.session_id, "s1", "the server's session id");
        assert_eq!(terms.refresh_expires_at, now + secs(1800), "refresh_expires_in too");
        assert_eq!(terms.session_expires_at, now + secs(43200), "session_expires_in too");
    }

    #[test]
    fn the_tessera_servers_strict_response_reads_as_a_provider_response() {
        let strict = tessera_protocol::TokenResponse {
            access_token: "a".into(),
            token_type: "Bearer".into(),
            expires_in: 600,
            refresh_token: "r".into(),
            refresh_expires_in: 1800,
            session_expires_in: 43200,
            session_id: "s9".into(),
            scope: None,
            id_token: Some("i".into()),
        };
        let wire = serde_json::to_string(&strict).unwrap_or_default();
        let grant = TokenGrant::from_response(parse(&wire), at(), None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(grant.session_id.as_deref(), Some("s9"));
        assert_eq!(grant.refresh_token.secret(), "r");
        assert!(grant.id_token.is_some());
    }

    #[test]
    fn an_earlier_jwt_exp_wins_after_skew_correction() {
        let now = at();
        // The server's clock is 100 s ahead; its exp says 300 s from its now.
        let token = jwt(1_800_000_000 + 100 + 300);
        let grant = TokenGrant::from_response(tessera(&token), now, Some(secs(100)), None);
        let grant = grant.unwrap_or_else(|e| panic!("a valid response must parse: {e}"));
        assert_eq!(grant.expires_at, now + secs(300), "exp shifted by the skew is the earlier deadline");
    }

    #[test]
    fn a_provider_that_says_little_gets_safe_defaults() {
        let now = at();
        let presented = RefreshToken::new("rt-entra");
        // No expires_in: the JWT's exp, else the short default.
        let jwt_only = parse(&format!(r#"{{"access_token":"{}","token_type":"bearer"}}"#, jwt(1_800_000_000 + 900)));
        let grant = TokenGrant::from_response(jwt_only, now, None, Some(&presented)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(grant.expires_at, now + secs(900), "the JWT exp stands in for expires_in");
        assert_eq!(grant.refresh_token, presented, "a provider that does not rotate keeps the refresh token");
        let opaque = parse(r#"{"access_token":"ya29.opaque","token_type":"Bearer"}"#);
        let grant = TokenGrant::from_response(opaque, now, None, Some(&presented)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(grant.expires_at, now + DEFAULT_ACCESS_LIFETIME, "neither: the short default");

        // A sign-in: a fresh device session, the unknown-lifetime default.
        let signed_in = parse(r#"{"access_token":"a","token_type":"Bearer","expires_in":"3599","refresh_token":"r1"}"#);
        let grant = TokenGrant::from_response(signed_in, now, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(grant.expires_at, now + secs(3599), "expires_in as a string of digits (Entra v1)");
        let first = grant.terms(None);
        assert!(first.session_id.starts_with("ds-") && first.session_id.len() == 35, "{}", first.session_id);
        assert_ne!(first.session_id, grant.terms(None).session_id, "every sign-in is a new device session");
        assert_eq!(first.session_expires_at, now + UNKNOWN_SESSION_LIFETIME);
        assert_eq!(first.refresh_expires_at, first.session_expires_at, "the refresh token lasts as the session");

        // A refresh later: the device session and its end carry over; Keycloak's 0 is "no limit".
        let later = now + secs(600);
        let refreshed = parse(r#"{"access_token":"a2","token_type":"Bearer","expires_in":300,"refresh_expires_in":0}"#);
        let grant =
            TokenGrant::from_response(refreshed, later, None, Some(&presented)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(grant.refresh_expires_at, None, "refresh_expires_in 0 is read as no stated end");
        assert_eq!(grant.terms(Some(&first)), first, "the same session, the same deadlines");
        let keycloak =
            parse(r#"{"access_token":"a3","token_type":"Bearer","refresh_token":"r2","refresh_expires_in":1800}"#);
        let grant =
            TokenGrant::from_response(keycloak, later, None, Some(&presented)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(grant.terms(Some(&first)).refresh_expires_at, later + secs(1800), "a stated refresh end is kept");
    }

    #[test]
    fn unusable_responses_are_refused() {
        let bad_type = parse(r#"{"access_token":"a","token_type":"mac","refresh_token":"r"}"#);
        let e = TokenGrant::from_response(bad_type, Utc::now(), None, None).err().unwrap_or_default();
        assert!(e.contains("Bearer"), "only Bearer tokens are usable (RFC 6750): {e}");
        let no_refresh = parse(r#"{"access_token":"a","token_type":"Bearer","expires_in":60}"#);
        let e = TokenGrant::from_response(no_refresh, Utc::now(), None, None).err().unwrap_or_default();
        assert!(e.contains("offline_access"), "a sign-in without a refresh token says what to enable: {e}");
        let bad_lifetime = serde_json::from_str::<ProviderTokenResponse>(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#,
        );
        assert!(bad_lifetime.is_err(), "a lifetime that is not seconds is malformed");
        assert_eq!(jwt_exp("not-a-jwt"), None, "opaque tokens have no exp");
    }
}
