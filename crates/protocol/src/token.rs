//! Token endpoint request and response bodies (RFC 6749 §4.3, §5.1, §6; RFC 7009 §2.1).

use std::fmt;

use serde::{Deserialize, Serialize};

/// `grant_type` values the token endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.3: resource owner password credentials.
    Password,
    /// RFC 6749 §6: refreshing an access token.
    RefreshToken,
    /// RFC 6749 §4.1.3: exchanging an authorization code (with its PKCE verifier, RFC 7636 §4.5).
    AuthorizationCode,
    /// RFC 8628 §3.4: polling with a device code.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    /// The wire form (`password`, `refresh_token`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
            Self::AuthorizationCode => "authorization_code",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

/// Form body of `POST /oauth/token` (`application/x-www-form-urlencoded`).
///
/// One flat shape for both grants, as on the wire; the server checks that the fields the grant
/// needs are present. Build it with [`TokenRequest::password`] or [`TokenRequest::refresh`].
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// RFC 6749 §4.3.2 / §6 `grant_type`, kept as text so unknown grants get a proper error.
    pub grant_type: String,
    /// RFC 6749 §4.3.2 `username` (password grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// RFC 6749 §4.3.2 `password` (password grant). Never log it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// RFC 6749 §6 `refresh_token` (refresh grant). Never log it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// RFC 6749 §2.2 `client_id` of this public client (`tessera-desktop`, `tessera-cli`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Tessera: a name for this device, shown in the sessions list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Tessera: operating system (`linux`, `windows`, `macos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Tessera: version of the client application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// RFC 6749 §4.1.3 `code` (authorization code grant). Never log it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// RFC 6749 §4.1.3 `redirect_uri`: the one the authorization request named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// RFC 7636 §4.5 `code_verifier`. Never log it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
    /// RFC 8628 §3.4 `device_code`. Never log it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<String>,
    /// RFC 6749 §6 `scope` of a refresh (some providers want it repeated: Entra ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// RFC 8707 §2 `resource`: the server the tokens are for, where the provider needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl TokenRequest {
    /// A password grant with the device description the sessions list shows.
    pub fn password(
        username: impl Into<String>,
        password: impl Into<String>,
        client_id: impl Into<String>,
        device: &crate::DeviceInfo,
    ) -> Self {
        Self {
            grant_type: GrantType::Password.as_str().into(),
            username: Some(username.into()),
            password: Some(password.into()),
            client_id: Some(client_id.into()),
            device_name: Some(device.name.clone()),
            platform: Some(device.platform.clone()),
            app_version: Some(device.app_version.clone()),
            ..Self::default()
        }
    }

    /// An authorization code grant (RFC 6749 §4.1.3 with PKCE, RFC 7636 §4.5).
    pub fn authorization_code(
        code: impl Into<String>,
        redirect_uri: impl Into<String>,
        code_verifier: impl Into<String>,
        client_id: impl Into<String>,
        device: &crate::DeviceInfo,
    ) -> Self {
        Self {
            grant_type: GrantType::AuthorizationCode.as_str().into(),
            code: Some(code.into()),
            redirect_uri: Some(redirect_uri.into()),
            code_verifier: Some(code_verifier.into()),
            ..Self::for_device(client_id, device)
        }
    }

    /// A device code grant poll (RFC 8628 §3.4).
    pub fn device_code(
        device_code: impl Into<String>,
        client_id: impl Into<String>,
        device: &crate::DeviceInfo,
    ) -> Self {
        Self {
            grant_type: GrantType::DeviceCode.as_str().into(),
            device_code: Some(device_code.into()),
            ..Self::for_device(client_id, device)
        }
    }

    fn for_device(client_id: impl Into<String>, device: &crate::DeviceInfo) -> Self {
        Self {
            client_id: Some(client_id.into()),
            device_name: Some(device.name.clone()),
            platform: Some(device.platform.clone()),
            app_version: Some(device.app_version.clone()),
            ..Self::default()
        }
    }

    /// A refresh-token grant.
    pub fn refresh(refresh_token: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            grant_type: GrantType::RefreshToken.as_str().into(),
            refresh_token: Some(refresh_token.into()),
            client_id: Some(client_id.into()),
            ..Self::default()
        }
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "<redacted>"))
            .field("client_id", &self.client_id)
            .field("device_name", &self.device_name)
            .field("platform", &self.platform)
            .field("app_version", &self.app_version)
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &self.code_verifier.as_ref().map(|_| "<redacted>"))
            .field("device_code", &self.device_code.as_ref().map(|_| "<redacted>"))
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .finish()
    }
}

/// Successful token response (RFC 6749 §5.1) with Tessera's extensions.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// RFC 6749 §5.1 `access_token`: a short-lived JWT (EdDSA) for `Authorization: Bearer`.
    pub access_token: String,
    /// RFC 6749 §5.1 `token_type`: always `Bearer` (RFC 6750).
    pub token_type: String,
    /// RFC 6749 §5.1 `expires_in`: lifetime of the access token in seconds from the response.
    pub expires_in: u64,
    /// RFC 6749 §5.1 `refresh_token`: opaque, single use; rotated on every refresh (RFC 9700 §4.14.2).
    pub refresh_token: String,
    /// Tessera: seconds until the refresh token stops working (the earlier of the session's idle
    /// and absolute deadlines).
    pub refresh_expires_in: u64,
    /// Tessera: seconds until the session's absolute end, whatever the activity.
    pub session_expires_in: u64,
    /// Tessera: id of the server-side session (one per signed-in device).
    pub session_id: String,
    /// RFC 6749 §5.1 `scope`, when it differs from what was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// OpenID Connect Core §3.1.3.3 `id_token` (RS256 JWT), on a code or device code exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &"<redacted>")
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("session_expires_in", &self.session_expires_in)
            .field("session_id", &self.session_id)
            .field("scope", &self.scope)
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Form body of `POST /oauth/revoke` (RFC 7009 §2.1).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeRequest {
    /// RFC 7009 §2.1 `token`: the refresh or access token to revoke. Never log it.
    pub token: String,
    /// RFC 7009 §2.1 `token_type_hint`: `refresh_token` or `access_token`; only a hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_hint: Option<String>,
    /// RFC 6749 §2.2 `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl fmt::Debug for RevokeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevokeRequest")
            .field("token", &"<redacted>")
            .field("token_type_hint", &self.token_type_hint)
            .field("client_id", &self.client_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceInfo;

    #[test]
    fn debug_never_shows_secrets() {
        let device = DeviceInfo { name: "desk".into(), platform: "linux".into(), app_version: "1".into() };
        let req = TokenRequest::password("alice", "hunter2-secret", "tessera-cli", &device);
        let resp = TokenResponse {
            access_token: "eyJ-access-secret".into(),
            token_type: "Bearer".into(),
            expires_in: 600,
            refresh_token: "trt_refresh-secret".into(),
            refresh_expires_in: 1800,
            session_expires_in: 43200,
            session_id: "s1".into(),
            scope: None,
            id_token: Some("eyJ-id-secret".into()),
        };
        let code = TokenRequest::authorization_code(
            "code-secret",
            "http://127.0.0.1:1/callback",
            "verifier-secret",
            "c",
            &device,
        );
        let device_poll = TokenRequest::device_code("device-secret", "c", &device);
        let revoke = RevokeRequest { token: "trt_revoke-secret".into(), ..Default::default() };
        let text = format!(
            "{req:?} {resp:?} {revoke:?} {code:?} {device_poll:?} {:?}",
            TokenRequest::refresh("trt_r2-secret", "c")
        );
        assert!(!text.contains("secret"), "Debug must redact every token and password: {text}");
        assert!(text.contains("<redacted>"), "redaction must be visible: {text}");
    }

    #[test]
    fn password_grant_is_form_encoded_as_rfc_6749_says() {
        let device = DeviceInfo { name: "Front desk".into(), platform: "linux".into(), app_version: "0.1.0".into() };
        let form = serde_urlencoded::to_string(TokenRequest::password("alice", "p w", "tessera-cli", &device)).unwrap();
        assert_eq!(
            form,
            "grant_type=password&username=alice&password=p+w&client_id=tessera-cli&device_name=Front+desk&platform=linux&app_version=0.1.0",
            "field names and order are part of the protocol"
        );
        let parsed: TokenRequest = serde_urlencoded::from_str(&form).unwrap();
        assert_eq!(parsed.device_name.as_deref(), Some("Front desk"));
    }
}
