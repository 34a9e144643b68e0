//! [`AuthorizationRequest`]: the authorization request of one browser sign-in (RFC 6749 §4.1.1
//! with PKCE S256, RFC 7636, and OpenID Connect's `nonce`), and the URL the browser opens.

use tessera_protocol::AuthorizeParams;
use tessera_protocol::oidc::SCOPES;
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

impl AuthorizationRequest {
    /// A request to `endpoint` for `client_id`, answered at `redirect_uri`. `prompt` is passed
    /// through (`login` forces the password at the provider).
    pub fn new(endpoint: &Url, client_id: &str, redirect_uri: &str, prompt: Option<&str>) -> Self {
        let verifier = CodeVerifier::generate();
        let state = pkce::random_urlsafe(RANDOM_BYTES);
        let nonce = pkce::random_urlsafe(RANDOM_BYTES);
        let params = AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some(client_id.into()),
            redirect_uri: Some(redirect_uri.into()),
            scope: Some(SCOPES.into()),
            state: Some(state.clone()),
            nonce: Some(nonce.clone()),
            code_challenge: Some(verifier.challenge().as_str().to_owned()),
            code_challenge_method: Some(pkce::METHOD.into()),
            prompt: prompt.map(str::to_owned),
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

    #[test]
    fn the_url_carries_pkce_s256_state_nonce_and_keeps_the_endpoint_query() {
        let endpoint = Url::parse("https://idp.example/authorize?tenant=t1").unwrap();
        let request = AuthorizationRequest::new(&endpoint, "tessera-cli", "http://127.0.0.1:4000/callback", None);
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
        assert!(!request.url().contains(request.verifier().expose()), "the verifier never goes to the browser");
    }

    #[test]
    fn every_request_is_fresh() {
        let endpoint = Url::parse("https://idp.example/authorize").unwrap();
        let a = AuthorizationRequest::new(&endpoint, "c", "http://127.0.0.1:1/callback", Some("login"));
        let b = AuthorizationRequest::new(&endpoint, "c", "http://127.0.0.1:1/callback", Some("login"));
        assert_ne!(a.state(), b.state());
        assert_ne!(a.nonce(), b.nonce());
        assert_ne!(a.verifier().expose(), b.verifier().expose());
        assert!(a.url().contains("prompt=login"));
    }
}
