//! The provider calls of the native-app flow on [`AuthClient`]: the code exchange (RFC 6749
//! §4.1.3 with the PKCE verifier), the device authorization and its polls (RFC 8628), and the
//! provider's JWKS for id_token validation.

use jsonwebtoken::jwk::Jwk;
use tessera_protocol::{DeviceAuthorizationRequest, DeviceAuthorizationResponse, TokenRequest};

use super::id_token::{self, IdTokenError};
use crate::client::{AuthClient, decode_json, discovered, error_from};
use crate::error::ClientError;
use crate::secret::{AuthorizationCode, DeviceCode};
use crate::token::TokenGrant;
use tessera_protocol::pkce::CodeVerifier;

impl AuthClient {
    /// Exchanges an authorization code (with the verifier of its request and the same
    /// `redirect_uri`) for tokens; this device's description travels as in a password sign-in.
    pub async fn exchange_code(
        &self,
        code: &AuthorizationCode,
        redirect_uri: &str,
        verifier: &CodeVerifier,
    ) -> Result<TokenGrant, ClientError> {
        let form = TokenRequest::authorization_code(
            code.secret(),
            redirect_uri,
            verifier.expose(),
            self.client_id(),
            self.device(),
        );
        self.token_request(form, None).await
    }

    /// Starts a device authorization (RFC 8628 §3.1).
    pub async fn device_authorization(&self) -> Result<DeviceAuthorizationResponse, ClientError> {
        let doc = self.discovery().await?;
        let endpoint = doc.device_authorization_endpoint.as_deref().ok_or_else(|| {
            ClientError::InvalidUrl("the server offers no device authorization (device_authorization_endpoint)".into())
        })?;
        let url = discovered(endpoint)?;
        let form = DeviceAuthorizationRequest {
            client_id: self.client_id().to_owned(),
            scope: Some(self.scopes().to_owned()),
        };
        decode_json(self.execute(self.http().post(url).form(&form)).await?)
    }

    /// One poll of the token endpoint with a device code (RFC 8628 §3.4); `authorization_pending`
    /// and `slow_down` come back as [`ClientError::Server`] for the caller to act on.
    pub async fn poll_device_code(&self, device_code: &DeviceCode) -> Result<TokenGrant, ClientError> {
        let form = TokenRequest::device_code(device_code.secret(), self.client_id(), self.device());
        self.token_request(form, None).await
    }

    /// The provider's signing keys that this client can use.
    pub async fn jwks(&self) -> Result<Vec<Jwk>, ClientError> {
        let url = self.endpoint(|d| &d.jwks_uri).await?;
        let raw = self.execute(self.http().get(url)).await?;
        if !raw.status.is_success() {
            return Err(error_from(raw));
        }
        id_token::parse_jwks(&raw.body).map_err(|e: IdTokenError| ClientError::from(e.to_string()))
    }
}
