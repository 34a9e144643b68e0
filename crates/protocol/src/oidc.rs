//! OpenID Connect bodies: discovery (OIDC Discovery 1.0 §3, RFC 8414 §2), the authorization
//! request's query, the id_token's claims (OIDC Core §2), userinfo (OIDC Core §5.3) and the device
//! authorization response (RFC 8628 §3.2). The client builds requests and the server parses them
//! from these same types, so the two cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::TesseraEndpoints;

/// The client ids the reference server knows: public native clients (RFC 8252 §8.4), PKCE
/// required, loopback redirects only.
pub const CLIENT_DESKTOP: &str = "tessera-desktop";
/// The command-line client's id.
pub const CLIENT_CLI: &str = "tessera-cli";

/// The scopes a Tessera client asks for.
pub const SCOPES: &str = "openid profile email";

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3; RFC 8414 §2).
///
/// Fields added for browser sign-in default to empty so a document from an older Tessera server
/// (password grant only) still parses; the engine then says the server cannot do browser sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// `issuer`: the `iss` of access tokens and id_tokens, and of RFC 9207 responses.
    pub issuer: String,
    /// `authorization_endpoint` (RFC 6749 §3.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint` (RFC 6749 §3.2).
    pub token_endpoint: String,
    /// `userinfo_endpoint` (OIDC Core §5.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// `jwks_uri`: keys that verify access tokens (EdDSA) and id_tokens (RS256).
    pub jwks_uri: String,
    /// `end_session_endpoint` (OIDC RP-Initiated Logout 1.0 §2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// `revocation_endpoint` (RFC 7009). Some providers offer none (Entra ID): clients then
    /// sign out locally and say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// `device_authorization_endpoint` (RFC 8628 §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// `response_types_supported`: `code` only.
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// `response_modes_supported`: `query`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<String>,
    /// `grant_types_supported`; `password` only where the server allows it. Absent in some
    /// providers' documents (RFC 8414 §2 then means `authorization_code` and `implicit`).
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// `subject_types_supported`: `public`.
    #[serde(default)]
    pub subject_types_supported: Vec<String>,
    /// `id_token_signing_alg_values_supported`: RS256 (OIDC Core §15.1).
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Tessera: the access token's signing algorithms (EdDSA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_token_signing_alg_values_supported: Vec<String>,
    /// `scopes_supported`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// `claims_supported`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported` (`none`: public clients).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `code_challenge_methods_supported` (RFC 7636; `S256` only).
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// `prompt_values_supported`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_values_supported: Vec<String>,
    /// RFC 9207 §3: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// Tessera's own endpoints: present in the reference server's document, absent in an
    /// organisation's provider's (the API is then on the Tessera server at [`crate::paths`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tessera: Option<TesseraEndpoints>,
}

impl Discovery {
    /// True when the provider offers what a native client needs for browser sign-in: an
    /// authorization endpoint, the `code` response type and PKCE with S256.
    pub fn supports_browser_sign_in(&self) -> bool {
        self.authorization_endpoint.is_some()
            && self.response_types_supported.iter().any(|t| t == "code")
            && self.code_challenge_methods_supported.iter().any(|m| m == crate::pkce::METHOD)
    }

    /// True when `grant_type` is advertised (RFC 8414 §2: no list means `authorization_code`
    /// and `implicit`).
    pub fn supports_grant(&self, grant_type: &str) -> bool {
        if self.grant_types_supported.is_empty() {
            return matches!(grant_type, "authorization_code" | "implicit");
        }
        self.grant_types_supported.iter().any(|g| g == grant_type)
    }
}

/// The query of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1).
/// `Option` fields are what a client may leave out; the server decides which are required.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeParams {
    /// `response_type` (`code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    /// `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `redirect_uri` (a loopback redirect, RFC 8252 §7.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// `scope` (must include `openid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `state`: echoed in the response (RFC 6749 §4.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `nonce`: copied into the id_token (OIDC Core §3.1.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// `code_challenge` (RFC 7636 §4.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    /// `code_challenge_method` (`S256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<String>,
    /// `prompt`: `login` forces the password, `none` never shows a page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// `max_age` in seconds: an older browser session must sign in again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u64>,
    /// `login_hint`: the username to fill in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// Auth0's `audience`: the API the access token is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// RFC 8707 §2 `resource`: the same, as the standard names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl std::fmt::Debug for AuthorizeParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // state and nonce are bearer values for the duration of one sign-in.
        f.debug_struct("AuthorizeParams")
            .field("response_type", &self.response_type)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("state", &self.state.as_ref().map(|_| "<redacted>"))
            .field("nonce", &self.nonce.as_ref().map(|_| "<redacted>"))
            .field("code_challenge_method", &self.code_challenge_method)
            .field("prompt", &self.prompt)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// The claims of an id_token (OIDC Core §2) the reference server issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience: the client id.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user last entered their password at the provider.
    pub auth_time: i64,
    /// The authorization request's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The Tessera session that the exchange began (OIDC Front-Channel Logout §3 `sid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Authorized party: the client id (OIDC Core §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// Login name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// Name to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `GET /oauth/userinfo` (OIDC Core §5.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Subject: the user id.
    pub sub: String,
    /// Name to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Login name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// E-mail address, when the server knows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Tessera: the user's role at the desk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::Role>,
}

/// The form of `POST /oauth/device_authorization` (RFC 8628 §3.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorizationRequest {
    /// `client_id`.
    pub client_id: String,
    /// `scope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The answer of `POST /oauth/device_authorization` (RFC 8628 §3.2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAuthorizationResponse {
    /// The device code the client polls with. Never log it.
    pub device_code: String,
    /// The short code the user types on the verification page.
    pub user_code: String,
    /// The page where the user enters the code.
    pub verification_uri: String,
    /// The page with the code already filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls (5 when absent, RFC 8628 §3.2).
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

impl std::fmt::Debug for DeviceAuthorizationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorizationResponse")
            .field("device_code", &"<redacted>")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_discovery_document_still_parses_and_says_no_browser_sign_in() {
        let doc = r#"{"issuer":"http://127.0.0.1:1","token_endpoint":"t","revocation_endpoint":"r","jwks_uri":"j",
            "grant_types_supported":["password","refresh_token"],"token_endpoint_auth_methods_supported":["none"],
            "tessera":{"me_endpoint":"m","session_endpoint":"s","activity_endpoint":"a","sessions_endpoint":"ss",
            "revoke_others_endpoint":"ro","audit_endpoint":"au","session_idle_timeout_secs":900,"session_max_age_secs":43200}}"#;
        let discovery: Discovery = serde_json::from_str(doc).unwrap();
        assert!(!discovery.supports_browser_sign_in());
        assert!(discovery.supports_grant("password"));
        assert!(!discovery.supports_grant("authorization_code"));
    }

    #[test]
    fn device_authorization_interval_defaults_to_five_seconds_and_debug_hides_the_device_code() {
        let body: DeviceAuthorizationResponse = serde_json::from_str(
            r#"{"device_code":"dc-secret","user_code":"WDJB-MJHT","verification_uri":"https://x/device","expires_in":600}"#,
        )
        .unwrap();
        assert_eq!(body.interval, 5);
        let text = format!("{body:?}");
        assert!(!text.contains("secret") && text.contains("WDJB-MJHT"), "{text}");
    }

    #[test]
    fn authorize_params_round_trip_through_a_query_and_debug_hides_state_and_nonce() {
        let params = AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some(CLIENT_CLI.into()),
            redirect_uri: Some("http://127.0.0.1:5000/callback".into()),
            scope: Some(SCOPES.into()),
            state: Some("state-secret".into()),
            nonce: Some("nonce-secret".into()),
            code_challenge: Some("abc".into()),
            code_challenge_method: Some("S256".into()),
            max_age: Some(60),
            ..Default::default()
        };
        let query = serde_urlencoded::to_string(&params).unwrap();
        assert!(query.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback"), "{query}");
        let back: AuthorizeParams = serde_urlencoded::from_str(&query).unwrap();
        assert_eq!(back, params);
        let text = format!("{params:?}");
        assert!(!text.contains("secret"), "{text}");
    }
}
