//! The checks every provider token goes through, whichever way it was validated. (Signature and
//! key handling are exercised against real providers in `tests/external_provider.rs`.)

use serde_json::json;
use tessera_protocol::Role;

use super::*;
use crate::config::check_issuer_url;

const NOW: i64 = 1_900_000_000;

fn provider(audience: &str, role_claim: &str) -> Provider {
    let config = Config {
        external_issuer: "https://idp.example/realms/support".into(),
        external_client_id: "tessera".into(),
        external_audience: audience.into(),
        external_role_claim: role_claim.into(),
        ..Config::default()
    };
    Provider::from_config(&config).unwrap().unwrap()
}

fn token() -> Value {
    json!({
        "iss": "https://idp.example/realms/support",
        "sub": "f1c2",
        "exp": NOW + 300,
        "iat": NOW,
        "azp": "tessera",
        "aud": ["account", "https://tessera.example"],
        "sid": "kc-session",
        "preferred_username": "alice",
        "name": "Alice Agent",
        "realm_access": {"roles": ["offline_access", "tessera-admin"]},
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn invalid(result: Result<(), Rejection>) -> String {
    match result {
        Err(Rejection::Invalid(why)) => why,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_token_for_this_client_from_this_issuer_is_accepted() {
    let p = provider("", "");
    p.check_claims(&token(), NOW).unwrap();
    let claims = p.read_claims(&token());
    assert_eq!(claims.sub, "f1c2");
    assert_eq!(claims.sid.as_deref(), Some("kc-session"));
    assert_eq!(claims.client_id.as_deref(), Some("tessera"), "azp counts as the client");
    assert_eq!(claims.username.as_deref(), Some("alice"));
    assert_eq!(claims.role, Role::Agent, "no role claim configured: everyone is an agent");
}

#[test]
fn without_an_audience_the_client_must_be_ours() {
    let p = provider("", "");
    let other = with(token(), "azp", json!("someone-else"));
    assert!(invalid(p.check_claims(&other, NOW)).contains("another client"));
    let none = without(token(), "azp");
    assert!(invalid(p.check_claims(&none, NOW)).contains("another client"), "no client at all is refused too");
    let rfc9068 = with(none, "client_id", json!("tessera"));
    p.check_claims(&rfc9068, NOW).unwrap();
    let okta = with(without(token(), "azp"), "cid", json!("tessera"));
    p.check_claims(&okta, NOW).unwrap();
}

#[test]
fn with_an_audience_aud_must_name_this_server() {
    let p = provider("https://tessera.example", "");
    p.check_claims(&token(), NOW).unwrap();
    let string_aud = with(token(), "aud", json!("https://tessera.example"));
    p.check_claims(&string_aud, NOW).unwrap();
    let elsewhere = with(token(), "aud", json!(["account"]));
    assert!(invalid(p.check_claims(&elsewhere, NOW)).contains("aud"));
    assert!(invalid(p.check_claims(&without(token(), "aud"), NOW)).contains("aud"));
}

#[test]
fn issuer_expiry_and_not_before_are_checked_with_a_small_leeway() {
    let p = provider("", "");
    let foreign = with(token(), "iss", json!("https://evil.example"));
    assert!(invalid(p.check_claims(&foreign, NOW)).contains("iss"));
    let expired = with(token(), "exp", json!(NOW - LEEWAY_SECS));
    assert_eq!(p.check_claims(&expired, NOW), Err(Rejection::Expired));
    let just = with(token(), "exp", json!(NOW - LEEWAY_SECS + 1));
    p.check_claims(&just, NOW).unwrap();
    assert!(invalid(p.check_claims(&without(token(), "exp"), NOW)).contains("exp"));
    let early = with(token(), "nbf", json!(NOW + LEEWAY_SECS + 1));
    assert!(invalid(p.check_claims(&early, NOW)).contains("nbf"));
    let future = with(token(), "iat", json!(NOW + LEEWAY_SECS + 1));
    assert!(invalid(p.check_claims(&future, NOW)).contains("iat"));
    assert!(invalid(p.check_claims(&with(token(), "sub", json!("")), NOW)).contains("sub"));
}

#[test]
fn an_id_token_is_not_an_access_token() {
    let p = provider("", "");
    for (name, value) in [("nonce", json!("n")), ("at_hash", json!("h")), ("typ", json!("ID"))] {
        let id_token = with(token(), name, value);
        assert!(invalid(p.check_claims(&id_token, NOW)).contains("id_token"), "{name} marks an id_token");
    }
}

#[test]
fn the_role_comes_from_the_configured_claim() {
    assert_eq!(provider("", "realm_access.roles").read_claims(&token()).role, Role::Admin, "nested list");
    let plain = with(token(), "roles", json!("tessera-admin"));
    assert_eq!(provider("", "roles").read_claims(&plain).role, Role::Admin, "a single string");
    let auth0 = with(token(), "https://tessera.example/roles", json!(["tessera-admin"]));
    assert_eq!(provider("", "https://tessera.example/roles").read_claims(&auth0).role, Role::Admin, "dotted name");
    let agent = with(token(), "roles", json!(["tessera-agent"]));
    assert_eq!(provider("", "roles").read_claims(&agent).role, Role::Agent);
}

#[test]
fn the_issuer_url_must_be_https_or_loopback() {
    assert!(check_issuer_url("https://login.microsoftonline.com/tenant/v2.0").is_ok());
    assert!(check_issuer_url("http://127.0.0.1:9000").is_ok());
    assert!(check_issuer_url("http://[::1]:9000").is_ok());
    assert!(check_issuer_url("http://localhost:9000").is_ok());
    assert!(check_issuer_url("http://10.0.0.5").is_err());
    assert!(check_issuer_url("https://x.example/?a=b").is_err());
}

#[test]
fn client_setup_names_the_provider() {
    let setup = provider("https://tessera.example", "").client_setup();
    assert_eq!(setup.issuer, "https://idp.example/realms/support");
    assert_eq!(setup.client_id.as_deref(), Some("tessera"));
    assert_eq!(setup.scopes, "openid profile email offline_access");
    assert_eq!(setup.audience.as_deref(), Some("https://tessera.example"));
    assert!(setup.external);
}
