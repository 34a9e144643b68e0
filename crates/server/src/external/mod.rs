//! Trusting an organisation's OpenID provider (issue 15): with `external_issuer` set, this
//! server signs nobody in. It validates the provider's access tokens — JWTs against the
//! provider's published keys ([`jwt`]), or any token by RFC 7662 introspection ([`introspect`])
//! — and turns each token into a local user and a session for the desktop it came from
//! ([`devices`]), so devices, remote sign-out, notifications and tickets work as with its own
//! sign-in.
//!
//! The provider's discovery document is read on first use (and again, at most every
//! [`RETRY_FLOOR`], while it cannot be read), so the server starts while the provider is down.

mod devices;
mod http;
mod introspect;
mod jwt;

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use tessera_protocol::{ClientSetup, ErrorCode, Role};

use crate::config::Config;
use crate::error::AppError;

pub use devices::authenticate;

/// Clock skew allowed on `exp` / `nbf` / `iat` of the provider's tokens (seconds).
pub const LEEWAY_SECS: i64 = 30;

/// Shortest time between two reads of discovery or the JWKS after a failure or an unknown key.
pub const RETRY_FLOOR: Duration = Duration::from_secs(10);

/// What a valid access token says, whichever way it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderClaims {
    /// The provider's subject (stable user id there).
    pub sub: String,
    /// Issued at (seconds), when the provider says.
    pub iat: Option<i64>,
    /// Expiry (seconds).
    pub exp: i64,
    /// The provider's session id (`sid`), when it puts one in the token.
    pub sid: Option<String>,
    /// The client the token was issued to (`client_id`, `azp` or Okta's `cid`).
    pub client_id: Option<String>,
    /// A login name for the user (`preferred_username`, `username`, `upn` or `email`).
    pub username: Option<String>,
    /// A display name (`name`).
    pub name: Option<String>,
    /// The role the configured claim grants.
    pub role: Role,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Forged, for another audience or client, of a refused type or algorithm, inactive:
    /// 401 `invalid_token` saying which.
    Invalid(String),
    /// Past its `exp` (beyond the leeway): 401 `invalid_token`, refresh and retry.
    Expired,
    /// The provider could not be asked (keys or introspection unreachable): 503
    /// `provider_unavailable`, not a sign-out.
    Unavailable(String),
}

impl From<Rejection> for AppError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Invalid(why) => AppError::invalid_token(ErrorCode::InvalidToken, why),
            Rejection::Expired => AppError::invalid_token(ErrorCode::InvalidToken, "the access token has expired"),
            Rejection::Unavailable(why) => AppError::provider_unavailable(why),
        }
    }
}

/// The provider's endpoints this server uses, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
struct ProviderMeta {
    issuer: String,
    jwks_uri: Option<String>,
    introspection_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
}

/// The provider this server trusts, its keys and its introspection answers.
#[derive(Debug)]
pub struct Provider {
    issuer: String,
    client_id: String,
    audience: Option<String>,
    scopes: String,
    redirect_ports: Vec<u16>,
    role_claim: Option<String>,
    admin_role: String,
    http: http::ProviderHttp,
    meta: tokio::sync::Mutex<(Option<ProviderMeta>, Option<Instant>)>,
    keys: jwt::KeyCache,
    introspection: Option<introspect::Introspector>,
}

impl Provider {
    /// The provider of an `external_issuer` configuration; `None` when the server is its own.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        if !config.is_external() {
            return Ok(None);
        }
        let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let introspection = non_empty(&config.external_introspection_client_id)
            .map(|id| introspect::Introspector::new(id, config.external_introspection_client_secret.clone()));
        Ok(Some(Self {
            issuer: config.external_issuer.clone(),
            client_id: config.external_client_id.trim().to_owned(),
            audience: non_empty(&config.external_audience),
            redirect_ports: tessera_protocol::parse_ports(&config.external_redirect_ports).unwrap_or_default(),
            scopes: config.external_scopes.split_whitespace().collect::<Vec<_>>().join(" "),
            role_claim: non_empty(&config.external_role_claim),
            admin_role: config.external_admin_role.clone(),
            http: http::ProviderHttp::new()?,
            meta: tokio::sync::Mutex::new((None, None)),
            keys: jwt::KeyCache::default(),
            introspection,
        }))
    }

    /// The issuer whose tokens are trusted.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `GET /api/client-config`.
    pub fn client_setup(&self) -> ClientSetup {
        ClientSetup {
            issuer: self.issuer.clone(),
            client_id: Some(self.client_id.clone()),
            scopes: self.scopes.clone(),
            audience: self.audience.clone(),
            external: true,
            redirect_ports: self.redirect_ports.clone(),
        }
    }

    /// Checks an access token at `now_secs`: by introspection when it is configured, else as a
    /// JWT against the provider's keys (an opaque token is then refused).
    pub async fn verify(&self, token: &str, now_secs: i64) -> Result<ProviderClaims, Rejection> {
        if token.len() > 16 * 1024 {
            return Err(Rejection::Invalid("the access token is longer than 16 KiB".into()));
        }
        let meta = self.meta().await?;
        let claims = match &self.introspection {
            Some(introspector) => {
                let endpoint = meta.introspection_endpoint.as_deref().ok_or_else(|| {
                    Rejection::Unavailable("the provider's discovery names no introspection_endpoint".into())
                })?;
                introspector.check(&self.http, endpoint, token, now_secs).await?
            }
            None => {
                if !jwt::looks_like_jwt(token) {
                    return Err(Rejection::Invalid(
                        "the access token is not a JWT and no introspection client is configured \
                         (external_introspection_client_id)"
                            .into(),
                    ));
                }
                let jwks_uri = meta
                    .jwks_uri
                    .as_deref()
                    .ok_or_else(|| Rejection::Unavailable("the provider's discovery names no jwks_uri".into()))?;
                self.keys.verify(&self.http, jwks_uri, token, &self.issuer).await?
            }
        };
        self.check_claims(&claims, now_secs)?;
        Ok(self.read_claims(&claims))
    }

    /// Fills in a login name and display name the token lacks from the provider's userinfo
    /// (OIDC Core §5.3), called once, when the user is first seen. Best effort: without an
    /// answer the subject stands in.
    pub async fn complete_profile(&self, token: &str, claims: &mut ProviderClaims) {
        if claims.username.is_some() && claims.name.is_some() {
            return;
        }
        let Ok(meta) = self.meta().await else { return };
        let Some(endpoint) = meta.userinfo_endpoint.as_deref() else { return };
        match self.http.get_json_with_token::<Value>(endpoint, token).await {
            Ok(info) if str_at(&info, "sub") == Some(claims.sub.as_str()) => {
                let text = |name: &str| str_at(&info, name).filter(|s| !s.is_empty()).map(str::to_owned);
                claims.username =
                    claims.username.take().or_else(|| text("preferred_username")).or_else(|| text("email"));
                claims.name = claims.name.take().or_else(|| text("name"));
            }
            Ok(_) => tracing::warn!("the provider's userinfo names another subject; ignored"),
            Err(why) => tracing::info!(error = %why, "no profile from the provider's userinfo"),
        }
    }

    /// What both ways of checking require of the claims: issuer, expiry, audience or client,
    /// a subject, and not an id_token.
    fn check_claims(&self, claims: &Value, now_secs: i64) -> Result<(), Rejection> {
        let invalid = |why: &str| Err(Rejection::Invalid(why.into()));
        if let Some(iss) = claims.get("iss") {
            if iss.as_str() != Some(self.issuer.as_str()) {
                return invalid("the access token was issued by another provider (iss)");
            }
        }
        let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
            return invalid("the access token has no exp");
        };
        if now_secs >= exp.saturating_add(LEEWAY_SECS) {
            return Err(Rejection::Expired);
        }
        if claims.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > now_secs + LEEWAY_SECS) {
            return invalid("the access token is not valid yet (nbf)");
        }
        if claims.get("iat").and_then(Value::as_i64).is_some_and(|iat| iat > now_secs + LEEWAY_SECS) {
            return invalid("the access token was issued in the future (iat)");
        }
        if claims.get("sub").and_then(Value::as_str).is_none_or(str::is_empty) {
            return invalid("the access token has no sub");
        }
        // An id_token is for the client, not for resource servers (OIDC Core §2; RFC 9068 §4).
        if claims.get("nonce").is_some() || claims.get("at_hash").is_some() || str_at(claims, "typ") == Some("ID") {
            return invalid("an id_token is not an access token");
        }
        match &self.audience {
            Some(audience) => {
                if !strings(claims.get("aud")).iter().any(|aud| aud == audience) {
                    return invalid("the access token is not for this server (aud)");
                }
            }
            None => {
                if client_of(claims) != Some(self.client_id.as_str()) {
                    return invalid("the access token was issued to another client (client_id / azp)");
                }
            }
        }
        Ok(())
    }

    fn read_claims(&self, claims: &Value) -> ProviderClaims {
        let text = |name: &str| str_at(claims, name).filter(|s| !s.is_empty()).map(str::to_owned);
        let role = match &self.role_claim {
            Some(path) if strings(lookup(claims, path)).iter().any(|r| *r == self.admin_role) => Role::Admin,
            _ => Role::Agent,
        };
        ProviderClaims {
            sub: text("sub").unwrap_or_default(),
            iat: claims.get("iat").and_then(Value::as_i64),
            exp: claims.get("exp").and_then(Value::as_i64).unwrap_or_default(),
            sid: text("sid"),
            client_id: client_of(claims).map(str::to_owned),
            username: text("preferred_username")
                .or_else(|| text("username"))
                .or_else(|| text("upn"))
                .or_else(|| text("email")),
            name: text("name"),
            role,
        }
    }

    /// The discovery document, read on first use; after a failure, read again at most every
    /// [`RETRY_FLOOR`] (in between, requests get 503 at once instead of waiting on the provider).
    async fn meta(&self) -> Result<ProviderMeta, Rejection> {
        let mut slot = self.meta.lock().await;
        if let Some(meta) = &slot.0 {
            return Ok(meta.clone());
        }
        if slot.1.is_some_and(|failed| failed.elapsed() < RETRY_FLOOR) {
            return Err(Rejection::Unavailable("the provider's discovery document could not be read".into()));
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let read = self.http.get_json::<ProviderMeta>(&url).await.and_then(|meta| {
            // OIDC Discovery §4.3: the issuer in the document is exactly the one configured.
            if meta.issuer == self.issuer {
                Ok(meta)
            } else {
                Err(format!("its discovery document names issuer {:?}, not {:?}", meta.issuer, self.issuer))
            }
        });
        match read {
            Ok(meta) => {
                tracing::info!(issuer = %self.issuer, "read the identity provider's discovery document");
                slot.0 = Some(meta.clone());
                Ok(meta)
            }
            Err(why) => {
                tracing::warn!(issuer = %self.issuer, error = %why, "identity provider unavailable");
                slot.1 = Some(Instant::now());
                Err(Rejection::Unavailable(format!("the identity provider could not be reached: {why}")))
            }
        }
    }
}

/// The client a token was issued to: RFC 9068 `client_id`, OIDC `azp`, or Okta's `cid`.
fn client_of(claims: &Value) -> Option<&str> {
    str_at(claims, "client_id").or_else(|| str_at(claims, "azp")).or_else(|| str_at(claims, "cid"))
}

fn str_at<'a>(claims: &'a Value, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// A dotted path into the claims (`realm_access.roles`); a claim whose name has a dot (Auth0's
/// `https://example.com/roles`) is tried whole first.
fn lookup<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    claims.get(path).or_else(|| path.split('.').try_fold(claims, |value, part| value.get(part)))
}

/// A string or a list of strings (as `aud` and role claims come), as a list.
fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
