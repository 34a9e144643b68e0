//! Calls to the identity provider: short time limits, no redirects, a capped response body.
//! Its URLs come from the operator's configuration and the provider's own discovery document,
//! not from users, so the webhook address rules ([`crate::egress`]) do not apply.

use std::time::Duration;

use serde::de::DeserializeOwned;
use tessera_protocol::error_chain;

/// Largest discovery, JWKS or introspection response read.
const MAX_BODY: usize = 256 * 1024;

/// The HTTP client for one provider.
#[derive(Debug, Clone)]
pub(super) struct ProviderHttp {
    client: reqwest::Client,
}

impl ProviderHttp {
    pub(super) fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("tessera-server/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client })
    }

    /// `GET url` as JSON.
    pub(super) async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        self.json(self.client.get(url), url).await
    }

    /// `GET url` as JSON with a bearer token (userinfo).
    pub(super) async fn get_json_with_token<T: DeserializeOwned>(&self, url: &str, token: &str) -> Result<T, String> {
        self.json(self.client.get(url).bearer_auth(token), url).await
    }

    /// `POST url` with a form body and HTTP Basic client authentication (RFC 6749 §2.3.1:
    /// both parts form-urlencoded first), as JSON.
    pub(super) async fn post_form_json<T: DeserializeOwned>(
        &self,
        url: &str,
        form: &[(&str, &str)],
        client_id: &str,
        client_secret: &str,
    ) -> Result<T, String> {
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let request = self.client.post(url).basic_auth(encode(client_id), Some(encode(client_secret))).form(form);
        self.json(request, url).await
    }

    async fn json<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder, url: &str) -> Result<T, String> {
        let mut response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {}", error_chain(&e)))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {}", error_chain(&e)))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("{url}: the response is larger than {} KiB", MAX_BODY / 1024));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("{url} answered HTTP {}", status.as_u16()));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not the expected JSON: {e}"))
    }
}
