//! Authenticated writes have a per-session budget (`session_writes_per_min`): a flood of activity
//! reports, read marks, tickets or comments from one session gets 429 `rate_limited` with
//! `Retry-After`, other sessions are unaffected, and activity reports are coalesced.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, config, expect_error};
use reqwest::StatusCode;
use tessera_protocol::{ErrorCode, NewComment, NewTicket, SessionInfo, paths};

fn limited(per_min: u32) -> tessera_server::Config {
    tessera_server::Config { session_writes_per_min: per_min, ..config() }
}

#[tokio::test]
async fn three_hundred_activity_reports_in_a_row_are_throttled_per_session() {
    let h = Harness::start(limited(120)).await;
    let t = h.sign_in().await;
    let (mut ok, mut refused, mut retry_after) = (0, 0, None);
    for _ in 0..300 {
        let resp = h.post(paths::SESSION_ACTIVITY, &t.access_token).await;
        match resp.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                expect_error(resp, StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited).await;
            }
            other => panic!("an activity report is answered 200 or 429, got {other}"),
        }
    }
    // The clock stands still: the burst of 120 is all there is.
    assert_eq!((ok, refused), (120, 180), "120 per minute per session, the rest refused");
    assert_eq!(retry_after.as_deref(), Some("1"), "one token comes back every 0.5 s: retry in 1 s");
    let other = h.sign_in_as("alice", "second device").await;
    let resp = h.post(paths::SESSION_ACTIVITY, &other.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "the budget is per session: another device of alice still reports");
    h.clock.advance(Duration::from_secs(1));
    let resp = h.post(paths::SESSION_ACTIVITY, &t.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "after Retry-After the throttled session may write again");
}

#[tokio::test]
async fn tickets_comments_and_read_marks_share_the_session_write_budget() {
    let h = Harness::start(limited(3)).await;
    let t = h.sign_in().await;
    let ticket = NewTicket { subject: "printer on fire".into(), assignee: None };
    let resp = h.http.post(h.url(paths::TICKETS)).bearer_auth(&t.access_token).json(&ticket).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "first write inside the budget");
    let id: tessera_protocol::Ticket = resp.json().await.unwrap();
    let comment = NewComment { body: "still burning".into() };
    let url = h.url(&format!("{}/{}/comments", paths::TICKETS, id.id));
    let resp = h.http.post(&url).bearer_auth(&t.access_token).json(&comment).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "second write inside the budget");
    let resp = h.post(paths::NOTIFICATIONS_READ_ALL, &t.access_token).await;
    assert_eq!(resp.status(), StatusCode::OK, "third write inside the budget");
    let resp = h.http.post(&url).bearer_auth(&t.access_token).json(&comment).send().await.unwrap();
    assert!(resp.headers().contains_key("retry-after"), "a refused write says when to retry");
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited).await;
    let resp = h.post(&format!("{}/1/read", paths::NOTIFICATIONS), &t.access_token).await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited).await;
    let resp = h.http.post(h.url(paths::TICKETS)).bearer_auth(&t.access_token).json(&ticket).send().await.unwrap();
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited).await;
    assert_eq!(h.get(paths::ME, &t.access_token).await.status(), StatusCode::OK, "reads are not limited");
}

#[tokio::test]
async fn activity_reports_close_together_are_coalesced() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    h.clock.advance(Duration::from_secs(60));
    let first: SessionInfo = h.post(paths::SESSION_ACTIVITY, &t.access_token).await.json().await.unwrap();
    h.clock.advance(Duration::from_secs(2));
    let second: SessionInfo = h.post(paths::SESSION_ACTIVITY, &t.access_token).await.json().await.unwrap();
    assert_eq!(second.last_activity_at, first.last_activity_at, "a report 2 s after the last one writes nothing");
    h.clock.advance(Duration::from_secs(4));
    let third: SessionInfo = h.post(paths::SESSION_ACTIVITY, &t.access_token).await.json().await.unwrap();
    assert_eq!(
        (third.last_activity_at - first.last_activity_at).num_seconds(),
        6,
        "a report 6 s later (past the 5 s resolution) moves the idle deadline"
    );
}
