//! The OpenID Provider's id_token key: RSA (RS256, the algorithm every relying party supports),
//! created owner-only in the data dir, kept across restarts, and published in the JWKS beside the
//! EdDSA access-token key.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Harness, config};
use tessera_protocol::paths;
use tessera_server::clock::Clock;
use tessera_server::id_token::ID_TOKEN_KEY_FILE;
use tessera_server::testing::TestServer;

async fn jwks(http: &reqwest::Client, base: &str) -> Vec<serde_json::Value> {
    let body: serde_json::Value =
        http.get(format!("{base}{}", paths::JWKS)).send().await.unwrap().json().await.unwrap();
    body["keys"].as_array().expect("keys is an array (RFC 7517 §5)").clone()
}

fn key_of<'a>(keys: &'a [serde_json::Value], kty: &str) -> &'a serde_json::Value {
    keys.iter().find(|k| k["kty"] == kty).unwrap_or_else(|| panic!("JWKS must publish a {kty} key: {keys:?}"))
}

#[tokio::test]
async fn jwks_publishes_the_rsa_id_token_key_and_the_eddsa_access_key_and_both_survive_a_restart() {
    let h = Harness::start(config()).await;
    let keys = jwks(&h.http, &h.server.url).await;
    assert_eq!(keys.len(), 2, "exactly the access-token key and the id_token key: {keys:?}");
    let rsa = key_of(&keys, "RSA");
    assert_eq!(rsa["alg"], "RS256", "id_tokens are RS256");
    assert_eq!(rsa["use"], "sig", "a signing key");
    for field in ["n", "e", "kid"] {
        assert!(rsa[field].as_str().is_some_and(|v| !v.is_empty()), "RSA JWK has {field}: {rsa}");
    }
    let n = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, rsa["n"].as_str().unwrap())
        .expect("n is base64url without padding (RFC 7518 §6.3.1.1)");
    assert_eq!(n.len() * 8, 2048, "a 2048-bit modulus");
    assert_eq!(key_of(&keys, "OKP")["alg"], "EdDSA", "access tokens stay EdDSA");
    assert_ne!(rsa["kid"], key_of(&keys, "OKP")["kid"], "the two keys have distinct ids");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(h.dir.path().join(ID_TOKEN_KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the RSA private key is readable by the owner only");
    }

    let Harness { server, http, clock, dir } = h;
    server.stop().await;
    let server = TestServer::start_in(dir.path(), config(), clock as Arc<dyn Clock>).await.unwrap();
    let after = jwks(&http, &server.url).await;
    assert_eq!(key_of(&after, "RSA"), rsa, "the id_token key (same kid, same modulus) survives a restart");
    server.stop().await;
}
