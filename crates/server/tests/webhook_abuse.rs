//! Webhooks as an attacker with one ordinary account would use them: targets inside the
//! server's own network (SSRF) must see no connection at all, one user's unresponsive URLs must
//! not hold up another user's deliveries, and owed deliveries recorded by another process are
//! swept up without a restart.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use common::{Harness, config, expect_error};
use tessera_protocol::{AdminNotify, ErrorCode, NewWebhook, WebhookCreated, WebhookDeliveryList, WebhookList, paths};
use tessera_server::clock::Clock;
use tessera_server::testing::TestServer;
use tokio::sync::mpsc;

/// Longest wait for something that must happen (a failure then reads as a message, not a hang).
const DEADLINE: Duration = Duration::from_secs(20);

/// A listener that must see no connection: it is checked with a non-blocking `accept`, after the
/// server has recorded the deliveries, so no timeout decides the outcome.
struct Tripwire {
    listener: std::net::TcpListener,
}

impl Tripwire {
    fn bind(addr: &str) -> Self {
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        Self { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn assert_untouched(&self, why: &str) {
        let accepted = self.listener.accept();
        assert!(
            matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{why}: the listener on {} must have seen no connection, got {accepted:?}",
            self.listener.local_addr().unwrap()
        );
    }
}

async fn register(h: &Harness, token: &str, url: &str) -> reqwest::Response {
    h.http.post(h.url(paths::WEBHOOKS)).bearer_auth(token).json(&NewWebhook { url: url.into() }).send().await.unwrap()
}

async fn notify(h: &Harness, user: &str, text: &str) {
    let carol = h.sign_in_as("carol", "admin").await;
    let body = AdminNotify { user: user.into(), message: text.into() };
    let resp =
        h.http.post(h.url(paths::ADMIN_NOTIFY)).bearer_auth(&carol.access_token).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "admin notify works");
}

/// The delivery log of webhook `id`, once it has an entry (deadline [`DEADLINE`]).
async fn first_log_entry(h: &Harness, token: &str, id: &str) -> WebhookDeliveryList {
    let path = paths::webhook_deliveries(id);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let log: WebhookDeliveryList = h.get(&path, token).await.json().await.unwrap();
        if !log.deliveries.is_empty() || tokio::time::Instant::now() > deadline {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn webhooks_to_loopback_and_private_addresses_are_refused_at_registration() {
    let v4 = Tripwire::bind("127.0.0.1:0");
    let v6 = Tripwire::bind("[::1]:0");
    let (p, q) = (v4.port(), v6.port());
    let h = Harness::start(config()).await;
    let alice = h.sign_in().await;
    let targets = [
        format!("https://127.0.0.1:{p}/hook"),
        format!("https://127.1:{p}/hook"),
        format!("https://2130706433:{p}/hook"),
        format!("https://0x7f.0.0.1:{p}/hook"),
        format!("https://localhost:{p}/hook"),
        format!("https://LOCALHOST.:{p}/hook"),
        format!("https://hooks.localhost:{p}/hook"),
        format!("https://[::1]:{q}/hook"),
        format!("https://[::ffff:127.0.0.1]:{p}/hook"),
        format!("https://[::127.0.0.1]:{p}/hook"),
        format!("https://[64:ff9b::7f00:1]:{p}/hook"),
        format!("https://[2002:7f00:1::]:{p}/hook"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://10.0.0.1/hook".to_owned(),
        "https://100.64.0.1/hook".to_owned(),
        "https://[fd00::1]/hook".to_owned(),
        "https://0.0.0.0/hook".to_owned(),
    ];
    for url in &targets {
        let body = expect_error(
            register(&h, &alice.access_token, url).await,
            reqwest::StatusCode::BAD_REQUEST,
            ErrorCode::WebhookTargetForbidden,
        )
        .await;
        let text = body.error_description.unwrap_or_default();
        assert!(text.contains("webhook_allowed_http_hosts"), "the message says how an operator allows it: {text}");
    }
    let list: WebhookList = h.get(paths::WEBHOOKS, &alice.access_token).await.json().await.unwrap();
    assert!(list.webhooks.is_empty(), "no refused target was stored");
    notify(&h, "alice", "anything for my loopback?").await;
    v4.assert_untouched("refused registrations");
    v6.assert_untouched("refused registrations");
    let ok = register(&h, &alice.access_token, "https://hooks.example.com/tessera").await;
    assert_eq!(ok.status(), reqwest::StatusCode::CREATED, "a public name is still accepted");
}

#[tokio::test]
async fn a_webhook_whose_host_left_the_allow_list_is_never_connected_to() {
    let v4 = Tripwire::bind("127.0.0.1:0");
    let v6 = Tripwire::bind("[::1]:0");
    let (p, q) = (v4.port(), v6.port());
    let mut allowed = config();
    allowed.webhook_allowed_http_hosts = "127.0.0.1, localhost, hooks.localhost, ::1, ::ffff:127.0.0.1".into();
    let h = Harness::start(allowed).await;
    let alice = h.sign_in().await;
    // Literals are refused before any connection; names by the resolver (`localhost` as the
    // system resolves it, from /etc/hosts; `hooks.localhost` by RFC 6761).
    let urls = [
        format!("http://127.0.0.1:{p}/hook"),
        format!("https://[::ffff:127.0.0.1]:{p}/hook"),
        format!("https://[::1]:{q}/hook"),
        format!("https://localhost:{p}/hook"),
        format!("https://hooks.localhost:{p}/hook"),
    ];
    let mut ids = Vec::new();
    for url in &urls {
        let resp = register(&h, &alice.access_token, url).await;
        assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "{url} is allowed while the operator lists it");
        ids.push(resp.json::<WebhookCreated>().await.unwrap().webhook.id);
    }

    // The operator takes the hosts off the list: the stored webhooks must not reach them now.
    let Harness { server, http, clock, dir } = h;
    server.stop().await;
    let server = TestServer::start_in(dir.path(), config(), clock.clone() as Arc<dyn Clock>).await.unwrap();
    let h = Harness { server, http, clock, dir };
    let alice = h.sign_in().await;
    notify(&h, "alice", "into the loopback").await;
    for (url, id) in urls.iter().zip(&ids) {
        let log = first_log_entry(&h, &alice.access_token, id).await;
        let entry = log.deliveries.first().unwrap_or_else(|| panic!("{url}: the refusal is logged"));
        assert_eq!(entry.outcome, "failed", "{url}: a refused target is settled at once, not retried");
        assert_eq!(entry.status, None, "{url}: no request was made, so there is no status");
        let error = entry.error.clone().unwrap_or_default();
        assert!(error.starts_with("not attempted:") && error.contains("loopback"), "{url}: the reason: {error}");
        assert_eq!(log.deliveries.len(), 1, "{url}: one entry, no retries");
    }
    v4.assert_untouched("deliveries to loopback literals and names");
    v6.assert_untouched("deliveries to the IPv6 loopback");
    let refused = h.server.state.metrics.webhook_refused.load(Ordering::Relaxed);
    assert_eq!(refused, 5, "each refused delivery is counted in tessera_webhook_refused_total");
}

/// A receiver on loopback that records bodies and answers 200.
async fn start_receiver() -> (String, mpsc::Receiver<Bytes>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel(64);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body).await;
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// A receiver that accepts connections and never answers; returns its URL base and how many
/// connections it holds.
async fn start_blackhole() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let held = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&held);
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            open.push(stream);
        }
    });
    (base, held)
}

#[tokio::test]
async fn one_users_unresponsive_webhooks_do_not_hold_up_another_users_delivery() {
    let mut c = config();
    c.webhook_allowed_http_hosts = "127.0.0.1".into();
    c.webhook_timeout_secs = 3600; // the blackhole holds every attempt for the whole test
    let per_user = c.webhook_max_in_flight_per_user;
    let h = Harness::start(c).await;
    let alice = h.sign_in().await;
    let (blackhole, held) = start_blackhole().await;
    for i in 0..10 {
        let resp = register(&h, &alice.access_token, &format!("{blackhole}/hook/{i}")).await;
        assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "alice may have 10 webhooks");
    }
    // 70 deliveries owed to URLs that never answer: more than all delivery slots together.
    for n in 0..7 {
        notify(&h, "alice", &format!("into the void {n}")).await;
    }
    let bob = h.sign_in_as("bob", "desk").await;
    let (url, mut bodies) = start_receiver().await;
    assert_eq!(register(&h, &bob.access_token, &url).await.status(), reqwest::StatusCode::CREATED, "bob's hook");
    notify(&h, "bob", "for bob").await;

    let body = tokio::time::timeout(DEADLINE, bodies.recv()).await;
    let body = body.expect("bob's delivery must not wait behind alice's").expect("a body");
    assert!(String::from_utf8_lossy(&body).contains("for bob"), "bob gets his notification");
    let held = held.load(Ordering::SeqCst);
    assert!(
        (1..=per_user).contains(&held),
        "alice's deliveries in flight are capped at webhook_max_in_flight_per_user = {per_user}: {held}"
    );
}

#[tokio::test]
async fn a_delivery_recorded_by_another_process_is_made_by_the_periodic_sweep() {
    let mut c = config();
    c.webhook_allowed_http_hosts = "127.0.0.1".into();
    c.webhook_sweep_interval_secs = 1;
    let h = Harness::start(c.clone()).await;
    let alice = h.sign_in().await;
    let (url, mut bodies) = start_receiver().await;
    assert_eq!(register(&h, &alice.access_token, &url).await.status(), reqwest::StatusCode::CREATED, "registered");

    // As `tessera-server notify` does when it cannot reach the control socket: the delivery is
    // recorded as owed, and the running server is not told.
    let tool = tessera_server::AppState::open_for_tool(c, h.dir.path()).await.unwrap();
    let alice_id = {
        let mut conn = tool.db.read.acquire().await.unwrap();
        tessera_server::store::users::by_name(&mut conn, "alice").await.unwrap().unwrap().id
    };
    let payload = serde_json::json!({ "message": "from the shell", "from": "tessera-server" });
    tessera_server::notify::outbox::publish(&tool, alice_id, "message", &payload).await.unwrap();
    tool.db.close().await;
    // The tool stamps its due time with the system clock; the server's manual clock catches up.
    h.clock.advance(Duration::from_secs(60));

    let body = tokio::time::timeout(DEADLINE, bodies.recv()).await;
    let body = body.expect("the sweep must find the owed delivery without a restart").expect("a body");
    assert!(String::from_utf8_lossy(&body).contains("from the shell"), "the owed notification is delivered");
}
