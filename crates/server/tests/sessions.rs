//! The devices list: current session, list, sign out one, sign out all others, RFC 7009 revoke.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Harness, config, expect_error};
use reqwest::StatusCode;
use tessera_protocol::{ErrorCode, RevokeOthersResponse, RevokeRequest, SessionInfo, SessionList, paths};

#[tokio::test]
async fn sessions_list_shows_each_device_and_marks_the_current_one() {
    let h = Harness::start(config()).await;
    let desk = h.sign_in_as("alice", "Front desk").await;
    let laptop = h.sign_in_as("alice", "Laptop").await;
    let _bob = h.sign_in_as("bob", "Bob's desk").await;

    let list: SessionList = h.get(paths::SESSIONS, &laptop.access_token).await.json().await.unwrap();
    assert_eq!(list.sessions.len(), 2, "alice sees her two sessions and not bob's");
    let current: Vec<_> = list.sessions.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1, "exactly one session is current");
    assert_eq!(current[0].id, laptop.session_id, "the asking session is current");
    assert_eq!(current[0].device.name, "Laptop", "device name shown");
    assert_eq!(current[0].ip, "127.0.0.1", "client IP recorded");
    assert_eq!(list.sessions[1].id, desk.session_id, "newest first");

    let info: SessionInfo = h.get(paths::SESSION, &desk.access_token).await.json().await.unwrap();
    assert!(info.current && info.id == desk.session_id, "GET /api/session describes the caller's session");
    assert_eq!((info.expires_at - info.created_at).num_seconds(), 43200, "absolute end reported");
}

#[tokio::test]
async fn signing_out_another_device_ends_it_immediately() {
    let h = Harness::start(config()).await;
    let desk = h.sign_in_as("alice", "Front desk").await;
    let laptop = h.sign_in_as("alice", "Laptop").await;
    let resp =
        h.http.delete(h.url(&paths::session(&desk.session_id))).bearer_auth(&laptop.access_token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "revoking one's own other session works");
    // The desk's unexpired access token is refused at once, and its refresh token is dead.
    expect_error(h.get(paths::ME, &desk.access_token).await, StatusCode::UNAUTHORIZED, ErrorCode::SessionRevoked).await;
    expect_error(h.refresh(&desk.refresh_token).await, StatusCode::BAD_REQUEST, ErrorCode::SessionRevoked).await;
    assert_eq!(h.get(paths::ME, &laptop.access_token).await.status(), StatusCode::OK, "the laptop stays signed in");
}

#[tokio::test]
async fn a_user_cannot_revoke_someone_elses_session() {
    let h = Harness::start(config()).await;
    let alice = h.sign_in_as("alice", "desk").await;
    let bob = h.sign_in_as("bob", "desk").await;
    let resp =
        h.http.delete(h.url(&paths::session(&alice.session_id))).bearer_auth(&bob.access_token).send().await.unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, ErrorCode::NotFound).await;
    assert_eq!(h.get(paths::ME, &alice.access_token).await.status(), StatusCode::OK, "alice is untouched");
}

#[tokio::test]
async fn sign_out_all_others_keeps_only_the_current_session() {
    let h = Harness::start(config()).await;
    let a = h.sign_in_as("alice", "one").await;
    let b = h.sign_in_as("alice", "two").await;
    let c = h.sign_in_as("alice", "three").await;
    let bob = h.sign_in_as("bob", "desk").await;
    let resp: RevokeOthersResponse = h.post(paths::SESSIONS_REVOKE_OTHERS, &c.access_token).await.json().await.unwrap();
    assert_eq!(resp.revoked, 2, "two other sessions revoked");
    for other in [&a, &b] {
        expect_error(h.get(paths::ME, &other.access_token).await, StatusCode::UNAUTHORIZED, ErrorCode::SessionRevoked)
            .await;
    }
    assert_eq!(h.get(paths::ME, &c.access_token).await.status(), StatusCode::OK, "current session stays");
    assert_eq!(h.get(paths::ME, &bob.access_token).await.status(), StatusCode::OK, "other users are untouched");
    let list: SessionList = h.get(paths::SESSIONS, &c.access_token).await.json().await.unwrap();
    assert_eq!(list.sessions.len(), 1, "only the current session is listed");
}

#[tokio::test]
async fn rfc7009_revocation_ends_the_session_and_answers_200_for_unknown_tokens() {
    let h = Harness::start(config()).await;
    let revoke = |token: &str| {
        let req = RevokeRequest {
            token: token.into(),
            token_type_hint: Some("refresh_token".into()),
            client_id: Some(common::CLIENT.into()),
        };
        h.http.post(h.url(paths::REVOKE)).form(&req).send()
    };
    let t = h.sign_in().await;
    assert_eq!(revoke(&t.refresh_token).await.unwrap().status(), StatusCode::OK, "revocation succeeds");
    expect_error(h.refresh(&t.refresh_token).await, StatusCode::BAD_REQUEST, ErrorCode::SessionRevoked).await;
    expect_error(h.get(paths::ME, &t.access_token).await, StatusCode::UNAUTHORIZED, ErrorCode::SessionRevoked).await;
    assert_eq!(revoke(&t.refresh_token).await.unwrap().status(), StatusCode::OK, "revoking twice is fine");
    assert_eq!(
        revoke("trt_never-issued").await.unwrap().status(),
        StatusCode::OK,
        "RFC 7009 §2.2: unknown tokens get 200"
    );

    // Revoking the access token ends its session as well.
    let t2 = h.sign_in().await;
    assert_eq!(revoke(&t2.access_token).await.unwrap().status(), StatusCode::OK, "access token revocation");
    expect_error(h.refresh(&t2.refresh_token).await, StatusCode::BAD_REQUEST, ErrorCode::SessionRevoked).await;
    let other = h.sign_in().await;
    let kinds = h.audit_kinds(&other.access_token).await;
    assert!(kinds.contains(&"session_revoked".to_owned()), "revocation is audited: {kinds:?}");
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let _ = h.refresh(&t.refresh_token).await;
    let text = h.http.get(h.url(paths::METRICS)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("tessera_sign_ins_total{result=\"success\"} 1"), "sign-in counted:\n{text}");
    assert!(text.contains("tessera_refreshes_total 1"), "refresh counted:\n{text}");
    assert!(text.contains("tessera_active_sessions 1"), "active sessions gauge:\n{text}");
}
