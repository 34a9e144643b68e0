//! [`AuthorizationRequest`]: the authorization request of one browser sign-in (RFC 6749 §4.1.1
//! with PKCE S256, RFC 7636, and OpenID Connect's `nonce`), and the URL the browser opens.

use tessera_protocol::AuthorizeParams;
use tessera_protocol::pkce::{self, CodeVerifier};
use url::Url;

/// Bytes of randomness in `state` and `nonce` (RFC 9700 §4.7: unguessable, one per request).
const RANDOM_BYTES: usize = 32;

/// One sign-in's request: fresh verifier, `state` and `nonce`, and the URL built from them.
pub struct AuthorizationRequest {
    url: Url,
    redirect_uri: String,
    verifier: CodeVerifier,
    state: String,
    nonce: String,
}

impl std::fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationRequest").field("redirect_uri", &self.redirect_uri).finish_non_exhaustive()
    }
}

/// What a sign-in asks the provider for.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The client id registered there.
    pub client_id: &'a str,
    /// Scopes, space-separated (`openid` among them).
    pub scopes: &'a str,
    /// The API the tokens are for, sent as Auth0's `audience` and RFC 8707's `resource`.
    pub audience: Option<&'a str>,
    /// Passed through: `login` forces the password at the provider.
    pub prompt: Option<&'a str>,
}

impl AuthorizationRequest {
    /// A request to `endpoint` for what `ask` says, answered at `redirect_uri`.
    pub fn new(endpoint: &Url, ask: &Ask<'_>, redirect_uri: &str) -> Self {
        let verifier = CodeVerifier::generate();
        let state = pkce::random_urlsafe(RANDOM_BYTES);
        let nonce = pkce::random_urlsafe(RANDOM_BYTES);
        let params = AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some(ask.client_id.into()),
            redirect_uri: Some(redirect_uri.into()),
            scope: Some(ask.scopes.into()),
            state: Some(state.clone()),
            nonce: Some(nonce.clone()),
            code_challenge: Some(verifier.challenge().as_str().to_owned()),
            code_challenge_method: Some(pkce::METHOD.into()),
            prompt: ask.prompt.map(str::to_owned),
            audience: ask.audience.map(str::to_owned),
            resource: ask.audience.map(str::to_owned),
            ..AuthorizeParams::default()
        };
        let mut url = endpoint.clone();
        // Appended, so a query the provider's endpoint already has (a tenant) is kept. The
        // form of the protocol's own type: what the server parses is what is sent.
        let query = serde_urlencoded::to_string(&params).unwrap_or_default();
        url.query_pairs_mut().extend_pairs(url::form_urlencoded::parse(query.as_bytes()));
        Self { url, redirect_uri: redirect_uri.to_owned(), verifier, state, nonce }
    }

    /// The URL to open in the browser (and to show, so it can be copied).
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The `redirect_uri` the exchange must repeat.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The PKCE verifier (sent only with the code, to the token endpoint).
    pub fn verifier(&self) -> &CodeVerifier {
        &self.verifier
    }

    /// The `state` the response must carry.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The `nonce` the id_token must carry.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask<'a>(client_id: &'a str, prompt: Option<&'a str>) -> Ask<'a> {
        Ask { client_id, scopes: tessera_protocol::oidc::SCOPES, audience: None, prompt }
    }

    #[test]
    fn the_url_carries_pkce_s256_state_nonce_and_keeps_the_endpoint_query() {
        let endpoint = Url::parse("https://idp.example/authorize?tenant=t1").unwrap();
        let request = AuthorizationRequest::new(&endpoint, &ask("tessera-cli", None), "http://127.0.0.1:4000/callback");
        let url = Url::parse(request.url()).unwrap();
        let get = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        assert_eq!(get("tenant").as_deref(), Some("t1"));
        assert_eq!(get("response_type").as_deref(), Some("code"));
        assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
        assert_eq!(get("code_challenge").unwrap(), request.verifier().challenge().as_str());
        assert_eq!(get("state").unwrap(), request.state());
        assert_eq!(get("nonce").unwrap(), request.nonce());
        assert_eq!(get("redirect_uri").as_deref(), Some("http://127.0.0.1:4000/callback"));
        assert!(get("scope").unwrap().split(' ').any(|s| s == "openid"));
        assert!(get("prompt").is_none());
        assert!(get("audience").is_none() && get("resource").is_none(), "no audience unless asked");
        assert!(!request.url().contains(request.verifier().expose()), "the verifier never goes to the browser");
    }

    #[test]
    fn every_request_is_fresh() {
        let endpoint = Url::parse("https://idp.example/authorize").unwrap();
        let a = AuthorizationRequest::new(&endpoint, &ask("c", Some("login")), "http://127.0.0.1:1/callback");
        let b = AuthorizationRequest::new(&endpoint, &ask("c", Some("login")), "http://127.0.0.1:1/callback");
        assert_ne!(a.state(), b.state());
        assert_ne!(a.nonce(), b.nonce());
        assert_ne!(a.verifier().expose(), b.verifier().expose());
        assert!(a.url().contains("prompt=login"));
    }

    #[test]
    fn an_audience_goes_as_audience_and_resource_with_the_configured_scopes() {
        let endpoint = Url::parse("https://tenant.auth0.example/authorize").unwrap();
        let ask = Ask {
            client_id: "abc",
            scopes: "openid offline_access",
            audience: Some("https://tessera.example"),
            prompt: None,
        };
        let request = AuthorizationRequest::new(&endpoint, &ask, "http://127.0.0.1:1/callback");
        let url = Url::parse(request.url()).unwrap();
        let get = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        assert_eq!(get("audience").as_deref(), Some("https://tessera.example"));
        assert_eq!(get("resource").as_deref(), Some("https://tessera.example"));
        assert_eq!(get("scope").as_deref(), Some("openid offline_access"));
    }
}
