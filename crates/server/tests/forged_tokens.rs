//! Access tokens an attacker can make — unsigned, HMAC-signed with the public key, signed by
//! another key, edited after signing, of the wrong type, expired, or not JWTs at all — are refused
//! with 401 `invalid_token` on every `/api` call, and cannot revoke anyone's session.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Harness, config, expect_error};
use reqwest::StatusCode;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use tessera_protocol::{ErrorCode, Me, OAuthError, paths};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Header and claims of a real token, to forge from.
fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let header = decode_part(it.next().unwrap());
    let claims = decode_part(it.next().unwrap());
    (header, claims, it.next().unwrap().to_owned())
}

/// A JWS compact serialization (RFC 7515 §7.1) of `header` and `claims`, signed by `sign`.
fn jwt(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn hmac(alg: ring::hmac::Algorithm, secret: &[u8]) -> impl FnOnce(&[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(alg, secret);
    move |input| ring::hmac::sign(&key, input).as_ref().to_vec()
}

fn ed25519(pair: &Ed25519KeyPair) -> impl FnOnce(&[u8]) -> Vec<u8> + '_ {
    |input| pair.sign(input).as_ref().to_vec()
}

/// Control: `token` verifies under `alg` with `key`, so a verifier that trusted the token's
/// header would accept it. Without this, a refusal could just mean the forgery was malformed.
fn naive_verifier_accepts(token: &str, alg: jsonwebtoken::Algorithm, key: &jsonwebtoken::DecodingKey) {
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let result = jsonwebtoken::decode::<Value>(token, key, &validation);
    assert!(result.is_ok(), "control: the forgery must be a well-formed {alg:?} token: {result:?}");
}

fn attacker_key() -> Ed25519KeyPair {
    let rng = ring::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
}

/// The server's own private key, read from its data dir: lets a test make tokens whose
/// signature is valid, to prove the checks that come after the signature.
fn server_key(h: &Harness) -> Ed25519KeyPair {
    let der = std::fs::read(h.server.data_dir.join(tessera_server::keys::KEY_FILE)).unwrap();
    Ed25519KeyPair::from_pkcs8(&der).unwrap()
}

/// The published key (RFC 7517 JWKS): `(kid, raw public key bytes, x as published)`.
async fn published_key(h: &Harness) -> (String, Vec<u8>, String) {
    let jwks: Value = h.http.get(h.url(paths::JWKS)).send().await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    let x = key["x"].as_str().unwrap().to_owned();
    (key["kid"].as_str().unwrap().to_owned(), URL_SAFE_NO_PAD.decode(&x).unwrap(), x)
}

/// Asserts `token` is refused on every authenticated endpoint with 401 `invalid_token` (RFC 6750
/// §3.1) and the given Tessera `code`.
async fn assert_refused(h: &Harness, what: &str, token: &str, code: ErrorCode) {
    for (get, path) in [(true, paths::ME), (true, paths::SESSIONS), (false, paths::SESSION_ACTIVITY)] {
        let resp = if get { h.get(path, token).await } else { h.post(path, token).await };
        let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} on {path} must be refused with 401; body: {text}");
        let body: tessera_protocol::ErrorBody =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: 401 must be an ErrorBody ({e}): {text}"));
        assert_eq!(body.error, OAuthError::InvalidToken, "{what}: RFC 6750 §3.1 invalid_token; body: {text}");
        assert_eq!(body.code, code, "{what}: Tessera code; body: {text}");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{what}: RFC 6750 §3 challenge, got {challenge:?}"
        );
    }
}

#[tokio::test]
async fn unsigned_alg_none_tokens_are_refused() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let (header, claims, signature) = parts(&t.access_token);
    for alg in ["none", "None", "NONE", "nOnE"] {
        let mut forged_header = header.clone();
        forged_header["alg"] = json!(alg);
        let unsigned = jwt(&forged_header, &claims, |_| Vec::new());
        assert!(unsigned.ends_with('.'), "an unsigned JWS has an empty signature part");
        assert_refused(&h, &format!("alg {alg:?} without signature"), &unsigned, ErrorCode::InvalidToken).await;
        let with_old_signature = format!("{}{signature}", unsigned);
        assert_refused(
            &h,
            &format!("alg {alg:?} with the real signature"),
            &with_old_signature,
            ErrorCode::InvalidToken,
        )
        .await;
    }
    assert_eq!(h.get(paths::ME, &t.access_token).await.status(), StatusCode::OK, "the real token still works");
}

#[tokio::test]
async fn hmac_tokens_keyed_with_the_public_key_are_refused() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let (kid, public, x) = published_key(&h).await;
    assert_eq!(public.len(), 32, "an Ed25519 public key is 32 bytes (RFC 8037 §2)");
    let (header, claims, _) = parts(&t.access_token);
    assert_eq!(header["kid"], kid.as_str(), "real tokens name the published kid");
    // Key confusion: a verifier that takes `alg` from the token would check an HMAC with the
    // public key as the secret, which anyone can compute.
    let algorithms =
        [("HS256", ring::hmac::HMAC_SHA256), ("HS384", ring::hmac::HMAC_SHA384), ("HS512", ring::hmac::HMAC_SHA512)];
    for (alg, algorithm) in algorithms {
        let mut forged_header = header.clone();
        forged_header["alg"] = json!(alg);
        for (secret_name, secret) in [("raw public key", public.clone()), ("published x", x.clone().into_bytes())] {
            let forged = jwt(&forged_header, &claims, hmac(algorithm, &secret));
            let alg_enum: jsonwebtoken::Algorithm = alg.parse().unwrap();
            naive_verifier_accepts(&forged, alg_enum, &jsonwebtoken::DecodingKey::from_secret(&secret));
            assert_refused(&h, &format!("{alg} keyed with the {secret_name}"), &forged, ErrorCode::InvalidToken).await;
        }
    }
}

#[tokio::test]
async fn tokens_signed_by_any_other_key_are_refused_even_with_the_right_kid() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let (header, claims, _) = parts(&t.access_token);
    let attacker = attacker_key();

    let forged = jwt(&header, &claims, ed25519(&attacker));
    let attacker_public = jsonwebtoken::DecodingKey::from_ed_der(attacker.public_key().as_ref());
    naive_verifier_accepts(&forged, jsonwebtoken::Algorithm::EdDSA, &attacker_public);
    assert_refused(&h, "EdDSA by another key with the server's kid", &forged, ErrorCode::InvalidToken).await;

    // RFC 7515 §4.1.3: an embedded `jwk` header must not be trusted as the verification key.
    let mut with_jwk = header.clone();
    with_jwk["jwk"] = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(attacker.public_key().as_ref())});
    let forged = jwt(&with_jwk, &claims, ed25519(&attacker));
    assert_refused(&h, "EdDSA by another key announced in a jwk header", &forged, ErrorCode::InvalidToken).await;

    let mut with_jku = header.clone();
    with_jku["jku"] = json!("http://attacker.invalid/jwks.json");
    let forged = jwt(&with_jku, &claims, ed25519(&attacker));
    assert_refused(&h, "EdDSA by another key announced by jku", &forged, ErrorCode::InvalidToken).await;

    // Another asymmetric algorithm with a key of the attacker's.
    let rng = ring::rand::SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng).unwrap();
    let mut es256 = header.clone();
    es256["alg"] = json!("ES256");
    let forged = jwt(&es256, &claims, |input| ec.sign(&rng, input).unwrap().as_ref().to_vec());
    assert_refused(&h, "ES256 by another key with the server's kid", &forged, ErrorCode::InvalidToken).await;
}

#[tokio::test]
async fn tokens_edited_after_signing_are_refused() {
    let h = Harness::start(config()).await;
    let alice = h.sign_in().await;
    let bob = h.sign_in_as("bob", "bob's desk").await;
    let bob_me: Me = h.get(paths::ME, &bob.access_token).await.json().await.unwrap();
    let (header, claims, signature) = parts(&alice.access_token);
    let resign = |header: &Value, claims: &Value| {
        format!("{}.{}.{signature}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
    };

    let edits: Vec<(&str, Value)> = vec![
        ("sid changed to bob's session", json!(bob.session_id)),
        ("sub changed to bob", json!(bob_me.user_id)),
        ("exp pushed a day later", json!(claims["exp"].as_i64().unwrap() + 86_400)),
        ("typ changed", json!("refresh")),
    ];
    let keys = ["sid", "sub", "exp", "typ"];
    for ((what, value), key) in edits.into_iter().zip(keys) {
        let mut edited = claims.clone();
        edited[key] = value;
        assert_refused(&h, what, &resign(&header, &edited), ErrorCode::InvalidToken).await;
    }
    let mut hs256 = header.clone();
    hs256["alg"] = json!("HS256");
    assert_refused(&h, "alg changed, signature kept", &resign(&hs256, &claims), ErrorCode::InvalidToken).await;

    let stripped = alice.access_token.rsplit_once('.').unwrap().0.to_owned();
    assert_refused(&h, "signature removed (two parts)", &stripped, ErrorCode::InvalidToken).await;
    let mut flipped = URL_SAFE_NO_PAD.decode(&signature).unwrap();
    flipped[0] ^= 1;
    let tampered = format!("{stripped}.{}", b64(&flipped));
    assert_refused(&h, "one signature bit flipped", &tampered, ErrorCode::InvalidToken).await;

    let me: Me = h.get(paths::ME, &bob.access_token).await.json().await.unwrap();
    assert_eq!(me.username, "bob", "bob's session is untouched by forgeries naming it");
}

#[tokio::test]
async fn validly_signed_tokens_with_wrong_claims_are_refused() {
    let h = Harness::start(config()).await;
    let alice = h.sign_in().await;
    let bob = h.sign_in_as("bob", "bob's desk").await;
    let bob_me: Me = h.get(paths::ME, &bob.access_token).await.json().await.unwrap();
    let key = server_key(&h);
    let (header, claims, _) = parts(&alice.access_token);
    let signed = |header: &Value, claims: &Value| jwt(header, claims, ed25519(&key));
    assert_eq!(
        h.get(paths::ME, &signed(&header, &claims)).await.status(),
        StatusCode::OK,
        "control: re-signing the same claims with the server key must verify, or this test proves nothing"
    );

    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    let without = |key: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(key);
        c
    };
    // The `typ` claim keeps any other JWT the server might sign from passing as an access token.
    assert_refused(&h, "typ refresh", &signed(&header, &with("typ", json!("refresh"))), ErrorCode::InvalidToken).await;
    assert_refused(&h, "typ missing", &signed(&header, &without("typ")), ErrorCode::InvalidToken).await;
    assert_refused(&h, "sid missing", &signed(&header, &without("sid")), ErrorCode::InvalidToken).await;
    assert_refused(&h, "exp missing", &signed(&header, &without("exp")), ErrorCode::InvalidToken).await;
    assert_refused(&h, "exp as text", &signed(&header, &with("exp", json!("never"))), ErrorCode::InvalidToken).await;
    let mut other_kid = header.clone();
    other_kid["kid"] = json!("0000000000000000");
    assert_refused(&h, "server key, unknown kid", &signed(&other_kid, &claims), ErrorCode::InvalidToken).await;
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    assert_refused(&h, "server key, no kid", &signed(&no_kid, &claims), ErrorCode::InvalidToken).await;
    // A token can name only a live session of its own subject.
    assert_refused(
        &h,
        "sid of a session that does not exist",
        &signed(&header, &with("sid", json!("00000000-0000-0000-0000-000000000000"))),
        ErrorCode::SessionRevoked,
    )
    .await;
    assert_refused(
        &h,
        "alice's session claimed for bob",
        &signed(&header, &with("sub", json!(bob_me.user_id))),
        ErrorCode::SessionRevoked,
    )
    .await;
}

#[tokio::test]
async fn expired_access_tokens_are_refused() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    h.clock.advance(Duration::from_secs(h.server.state.config.access_token_ttl_secs));
    let body =
        expect_error(h.get(paths::ME, &t.access_token).await, StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken).await;
    assert_eq!(body.error, OAuthError::InvalidToken, "RFC 6750 §3.1: expired tokens are invalid_token");
    assert!(
        body.error_description.unwrap_or_default().contains("expired"),
        "the description tells a developer the token expired rather than was forged"
    );
    assert_refused(&h, "expired token", &t.access_token, ErrorCode::InvalidToken).await;
}

#[tokio::test]
async fn refresh_tokens_and_garbage_are_not_bearer_tokens() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    assert_refused(&h, "refresh token as bearer", &t.refresh_token, ErrorCode::InvalidToken).await;
    let garbage = [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        "..".to_owned(),
        "eyJhbGciOiJFZERTQSJ9".to_owned(),
        format!("{}..", b64(br#"{"alg":"EdDSA"}"#)),
        format!("{}.{}.", b64(b"not json"), b64(b"not json")),
        format!("{}.{}.{}", b64(b"{}"), b64(b"{}"), b64(b"{}")),
        r#"{"alg":"none"}"#.to_owned(),
        format!("{}.{}", t.access_token, t.access_token),
        "A".repeat(4000),
        format!("{}.{}.{}", "e".repeat(2000), "e".repeat(2000), "e".repeat(2000)),
    ];
    for token in &garbage {
        let shown: String = token.chars().take(30).collect();
        assert_refused(&h, &format!("garbage {shown:?}"), token, ErrorCode::InvalidToken).await;
    }
    assert_eq!(h.get(paths::ME, &t.access_token).await.status(), StatusCode::OK, "the real token still works");
}

#[tokio::test]
async fn forged_tokens_cannot_revoke_a_session() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let (kid, public, _) = published_key(&h).await;
    let (header, claims, _) = parts(&t.access_token);
    let mut hs256 = header.clone();
    hs256["alg"] = json!("HS256");
    hs256["kid"] = json!(kid);
    let mut none = header.clone();
    none["alg"] = json!("none");
    let attacker = attacker_key();
    let forgeries = [
        jwt(&header, &claims, ed25519(&attacker)),
        jwt(&hs256, &claims, hmac(ring::hmac::HMAC_SHA256, &public)),
        jwt(&none, &claims, |_| Vec::new()),
    ];
    for forged in &forgeries {
        let resp = h.http.post(h.url(paths::REVOKE)).form(&[("token", forged.as_str())]).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "RFC 7009 §2.2: unknown tokens answer 200");
    }
    assert_eq!(
        h.get(paths::ME, &t.access_token).await.status(),
        StatusCode::OK,
        "a forged token naming alice's session must not sign her out"
    );
    assert_eq!(h.refresh(&t.refresh_token).await.status(), StatusCode::OK, "her refresh token still works too");
}
