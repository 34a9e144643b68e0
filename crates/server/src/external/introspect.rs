//! RFC 7662 token introspection, for providers whose access tokens are opaque (or to see a
//! revocation at the provider within a minute). Each answer is cached by the token's SHA-256 for
//! at most [`CACHE_SECS`] and never past the token's `exp`; inactive answers too, so a flood of
//! made-up tokens does not become a flood at the provider. The cache holds at most
//! [`CACHE_ENTRIES`] answers.

use std::collections::HashMap;

use serde_json::Value;
use sha2::Digest;

use super::Rejection;
use super::http::ProviderHttp;
use crate::config::ConfigSecret;

/// Longest an introspection answer is believed (RFC 7662 §4 leaves it to the resource server).
pub(super) const CACHE_SECS: i64 = 60;

/// Most answers kept at once.
pub(super) const CACHE_ENTRIES: usize = 10_000;

/// The confidential client that asks, and the answers it got.
#[derive(Debug)]
pub(super) struct Introspector {
    client_id: String,
    secret: ConfigSecret,
    cache: std::sync::Mutex<HashMap<[u8; 32], Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    until: i64,
    claims: Option<Value>,
}

impl Introspector {
    pub(super) fn new(client_id: String, secret: ConfigSecret) -> Self {
        Self { client_id, secret, cache: std::sync::Mutex::new(HashMap::new()) }
    }

    /// The claims of an active token (for the common checks), from the cache or the provider.
    pub(super) async fn check(
        &self,
        http: &ProviderHttp,
        endpoint: &str,
        token: &str,
        now_secs: i64,
    ) -> Result<Value, Rejection> {
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let cached = self.lock().get(&key).filter(|c| c.until > now_secs).cloned();
        let claims = match cached {
            Some(cached) => cached.claims,
            None => {
                let form = [("token", token), ("token_type_hint", "access_token")];
                let answer: Value = http
                    .post_form_json(endpoint, &form, &self.client_id, self.secret.expose())
                    .await
                    .map_err(|why| Rejection::Unavailable(format!("introspection failed: {why}")))?;
                let claims = active_claims(answer);
                self.remember(key, &claims, now_secs);
                claims
            }
        };
        claims.ok_or_else(|| Rejection::Invalid("the provider says the access token is not active".into()))
    }

    fn remember(&self, key: [u8; 32], claims: &Option<Value>, now_secs: i64) {
        let exp = claims.as_ref().and_then(|c| c.get("exp")).and_then(Value::as_i64);
        let until = exp.map_or(now_secs + CACHE_SECS, |exp| exp.min(now_secs + CACHE_SECS));
        let mut cache = self.lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, c| c.until > now_secs);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, Cached { until, claims: claims.clone() });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Cached>> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The claims of an RFC 7662 §2.2 answer when it says `active: true` about an access token
/// (not a refresh token presented as one); `None` otherwise.
fn active_claims(answer: Value) -> Option<Value> {
    let active = answer.get("active").and_then(Value::as_bool) == Some(true);
    let refresh =
        answer.get("token_type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("refresh_token"));
    (active && !refresh).then_some(answer)
}
