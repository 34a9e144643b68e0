//! Webhooks: signed POSTs to a receiver on loopback, retried after failures, logged; plain http
//! only for allowlisted hosts.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{Harness, config, expect_error};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tessera_protocol::{
    AdminNotify, ErrorCode, NewWebhook, WEBHOOK_SIGNATURE_HEADER, WebhookBody, WebhookCreated, WebhookDeliveryList,
    WebhookList, paths,
};
use tessera_server::clock::Clock;
use tessera_server::testing::TestServer;
use tokio::sync::mpsc;

/// A receiver on 127.0.0.1:0 that answers 500 to the first `fail_first` requests.
struct Receiver {
    url: String,
    requests: mpsc::Receiver<(HeaderMap, Bytes)>,
}

#[derive(Clone)]
struct ReceiverState {
    tx: mpsc::Sender<(HeaderMap, Bytes)>,
    fail_left: Arc<AtomicU32>,
}

async fn receive(State(s): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let _ = s.tx.send((headers, body)).await;
    let failing = s.fail_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if failing { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
}

async fn start_receiver(fail_first: u32) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, requests) = mpsc::channel(64);
    let state = ReceiverState { tx, fail_left: Arc::new(AtomicU32::new(fail_first)) };
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, requests }
}

fn webhook_config() -> tessera_server::Config {
    let mut c = config();
    c.webhook_allowed_http_hosts = "127.0.0.1, localhost".into();
    c.webhook_retry_base_ms = 10;
    c
}

async fn register(h: &Harness, token: &str, url: &str) -> reqwest::Response {
    h.http.post(h.url(paths::WEBHOOKS)).bearer_auth(token).json(&NewWebhook { url: url.into() }).send().await.unwrap()
}

async fn notify_alice(h: &Harness, text: &str) {
    let carol = h.sign_in_as("carol", "admin").await;
    let body = AdminNotify { user: "alice".into(), message: text.into() };
    let resp =
        h.http.post(h.url(paths::ADMIN_NOTIFY)).bearer_auth(&carol.access_token).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "admin notify works");
}

/// Verifies `t=<unix>,v1=<hex>` as a receiver would; returns the timestamp.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> i64 {
    let header = headers.get(WEBHOOK_SIGNATURE_HEADER).expect("signature header present").to_str().unwrap();
    let (t, v1) = header.split_once(',').expect("t=...,v1=...");
    let t = t.strip_prefix("t=").expect("t= first");
    let v1 = hex::decode(v1.strip_prefix("v1=").expect("v1= second")).expect("hex MAC");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&v1).expect("the signature must verify with the secret given at registration");
    t.parse().expect("unix seconds")
}

#[tokio::test]
async fn a_notification_is_posted_signed_to_the_users_webhook() {
    let h = Harness::start(webhook_config()).await;
    let alice = h.sign_in().await;
    let mut receiver = start_receiver(0).await;
    let resp = register(&h, &alice.access_token, &receiver.url).await;
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "an allowlisted http host may be registered");
    let created: WebhookCreated = resp.json().await.unwrap();
    assert!(created.secret.starts_with("whsec_"), "the secret is returned at registration");

    notify_alice(&h, "Ticket 42 needs you").await;
    let (headers, body) = receiver.requests.recv().await.expect("the webhook is called");
    verify(&created.secret, &headers, &body);
    let parsed: WebhookBody = serde_json::from_slice(&body).expect("body is the documented JSON");
    assert_eq!(parsed.event, "notification.created", "event name");
    assert_eq!(parsed.notification.payload["message"], "Ticket 42 needs you", "notification included");
    assert!(verify_fails_with_wrong_secret(&headers, &body), "a forged signature would not verify");

    let list: WebhookList = h.get(paths::WEBHOOKS, &alice.access_token).await.json().await.unwrap();
    assert_eq!(list.webhooks.len(), 1, "listed");
    let listed = serde_json::to_string(&list).unwrap();
    assert!(!listed.contains(&created.secret), "the secret is never shown again");
    let resp = h
        .http
        .delete(h.url(&paths::webhook(&created.webhook.id)))
        .bearer_auth(&alice.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::NO_CONTENT, "deleted");
}

fn verify_fails_with_wrong_secret(headers: &HeaderMap, body: &[u8]) -> bool {
    std::panic::catch_unwind(|| verify("whsec_wrong", headers, body)).is_err()
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_accepts_and_every_attempt_is_logged() {
    let h = Harness::start(webhook_config()).await;
    let alice = h.sign_in().await;
    let mut receiver = start_receiver(2).await;
    let created: WebhookCreated = register(&h, &alice.access_token, &receiver.url).await.json().await.unwrap();
    notify_alice(&h, "retry me").await;
    let path = paths::webhook_deliveries(&created.webhook.id);
    let mut seqs = Vec::new();
    for n in 1..=3 {
        let (headers, body) = receiver.requests.recv().await.expect("another attempt arrives");
        verify(&created.secret, &headers, &body);
        seqs.push(serde_json::from_slice::<WebhookBody>(&body).unwrap().notification.seq);
        // Retries are due by the durable due time on the server's (manual) clock: once attempt
        // n is logged with its due time, move the clock past it.
        log_with(&h, &path, &alice.access_token, n).await;
        h.clock.advance(std::time::Duration::from_secs(1));
    }
    assert_eq!(seqs, vec![1, 1, 1], "the same notification is retried after each 500");
    let log = log_with(&h, &path, &alice.access_token, 3).await;
    let outcomes: Vec<(u32, &str, Option<u16>)> =
        log.deliveries.iter().rev().map(|d| (d.attempt, d.outcome.as_str(), d.status)).collect();
    assert_eq!(
        outcomes,
        vec![(1, "retrying", Some(500)), (2, "retrying", Some(500)), (3, "delivered", Some(200))],
        "every attempt is logged with its outcome"
    );
    let bob = h.sign_in_as("bob", "d").await;
    expect_error(h.get(&path, &bob.access_token).await, reqwest::StatusCode::NOT_FOUND, ErrorCode::NotFound).await;
}

/// The delivery log of `path`, once it has at least `n` entries (deadline 20 s).
async fn log_with(h: &Harness, path: &str, token: &str, n: usize) -> WebhookDeliveryList {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let log: WebhookDeliveryList = h.get(path, token).await.json().await.unwrap();
        if log.deliveries.len() >= n || tokio::time::Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_retry_owed_when_the_server_stops_is_made_after_it_restarts() {
    let mut c = webhook_config();
    c.webhook_retry_base_ms = 60_000; // the retry cannot happen before the restart below
    let h = Harness::start(c.clone()).await;
    let alice = h.sign_in().await;
    let mut receiver = start_receiver(1).await;
    let created: WebhookCreated = register(&h, &alice.access_token, &receiver.url).await.json().await.unwrap();
    notify_alice(&h, "survive a restart").await;
    receiver.requests.recv().await.expect("the first attempt arrives (and gets a 500)");
    let path = paths::webhook_deliveries(&created.webhook.id);
    assert_eq!(log_with(&h, &path, &alice.access_token, 1).await.deliveries.len(), 1, "attempt 1 is logged");

    let Harness { server, http, clock, dir } = h;
    server.stop().await;
    clock.advance(std::time::Duration::from_secs(61)); // the owed retry is now due
    let server = TestServer::start_in(dir.path(), c, clock.clone() as Arc<dyn Clock>).await.unwrap();
    let h = Harness { server, http, clock, dir };

    let (headers, body) = receiver.requests.recv().await.expect("the owed retry is made by the restarted server");
    verify(&created.secret, &headers, &body);
    assert_eq!(serde_json::from_slice::<WebhookBody>(&body).unwrap().notification.seq, 1, "the same notification");
    let alice = h.sign_in().await;
    let log = log_with(&h, &path, &alice.access_token, 2).await;
    let outcomes: Vec<(u32, &str)> = log.deliveries.iter().rev().map(|d| (d.attempt, d.outcome.as_str())).collect();
    assert_eq!(outcomes, vec![(1, "retrying"), (2, "delivered")], "attempt numbering continues across the restart");
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), receiver.requests.recv()).await.is_err(),
        "a delivered notification is not delivered again"
    );
}

#[tokio::test]
async fn plain_http_urls_are_refused_unless_the_host_is_allowlisted() {
    let h = Harness::start(config()).await;
    let alice = h.sign_in().await;
    let refused = register(&h, &alice.access_token, "http://127.0.0.1:9/hook").await;
    expect_error(refused, reqwest::StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest).await;
    for bad in ["ftp://example.com/x", "not a url", "https://user:pw@example.com/x"] {
        expect_error(
            register(&h, &alice.access_token, bad).await,
            reqwest::StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
        )
        .await;
    }
    let ok = register(&h, &alice.access_token, "https://hooks.example.com/tessera").await;
    assert_eq!(ok.status(), reqwest::StatusCode::CREATED, "https is accepted without any allowlist");
}
