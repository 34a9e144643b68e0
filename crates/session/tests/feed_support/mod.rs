//! Set-up for the feed tests: a feed-friendly server and engine, publishing into a user's
//! outbox, reading the cache file, and a loopback proxy that forwards HTTP to the real server
//! but answers `/ws` itself (refusing it, or playing a misbehaving stream).
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_protocol::WsClientMessage;
use tessera_server::Config;
use tessera_server::testing::TestServer;
use tessera_session::{MemoryVault, SessionEngine, SessionEvent};
use tokio::sync::broadcast;

use crate::common::{engine_config, server_config, wait_for};

/// The server pings every second so dead connections are noticed quickly.
pub fn feed_server_config() -> Config {
    Config { ws_ping_interval_secs: 1, ..server_config() }
}

/// An engine that polls often and gives up on a silent stream after ping + 1 s.
pub fn feed_engine(url: &str, dir: &Path, vault: &MemoryVault) -> SessionEngine {
    let mut config = engine_config(url, dir);
    config.poll_interval = Duration::from_millis(300);
    config.feed_heartbeat_grace = Duration::from_secs(1);
    SessionEngine::new(config, Arc::new(vault.clone())).unwrap_or_else(|e| panic!("engine must build: {e}"))
}

pub async fn user_id(server: &TestServer, name: &str) -> i64 {
    let mut conn = server.state.db.read.acquire().await.unwrap_or_else(|e| panic!("db: {e}"));
    let user = tessera_server::store::users::by_name(&mut conn, name).await.unwrap_or_else(|e| panic!("db: {e}"));
    user.unwrap_or_else(|| panic!("user {name} exists")).id
}

/// Publishes notification `n` (payload `{"message":"note n"}`) to `user`.
pub async fn publish(server: &TestServer, user: i64, n: i64) {
    let payload = serde_json::json!({ "message": format!("note {n}") });
    let published = tessera_server::notify::outbox::publish(&server.state, user, "message", &payload).await;
    published.unwrap_or_else(|e| panic!("publish must succeed: {e}"));
}

/// Collects announced notification seqs until `last` is announced.
pub async fn seqs_until(events: &mut broadcast::Receiver<SessionEvent>, last: i64) -> Vec<i64> {
    let mut seqs = Vec::new();
    wait_for(events, |e| match e {
        SessionEvent::Notification { notification } => {
            seqs.push(notification.seq);
            (notification.seq >= last).then_some(())
        }
        _ => None,
    })
    .await;
    seqs
}

/// Waits for the feed to announce `mode`.
pub async fn wait_mode(events: &mut broadcast::Receiver<SessionEvent>, mode: tessera_session::FeedMode) {
    wait_for(events, |e| matches!(e, SessionEvent::FeedMode { mode: m } if *m == mode).then_some(())).await;
}

/// The modes the feed announces up to and including `last`.
pub async fn modes_until(
    events: &mut broadcast::Receiver<SessionEvent>,
    last: tessera_session::FeedMode,
) -> Vec<tessera_session::FeedMode> {
    let mut modes = Vec::new();
    wait_for(events, |e| match e {
        SessionEvent::FeedMode { mode } => {
            modes.push(*mode);
            (*mode == last).then_some(())
        }
        _ => None,
    })
    .await;
    modes
}

/// Rows the cache file holds for `username` (0 when the file or table is missing).
pub fn cached_rows(dir: &Path, username: &str) -> i64 {
    let Ok(conn) = rusqlite::Connection::open(dir.join("notifications.sqlite3")) else { return 0 };
    let count = |table: &str| {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table} WHERE username = ?1"), [username], |r| r.get::<_, i64>(0))
            .unwrap_or(0)
    };
    count("notifications") + count("pending_marks")
}

/// Retries `check` until it holds (a failsafe limit only; no timing is asserted).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(done.is_ok(), "{what} never happened");
}

/// What the proxy does with `/ws`.
#[derive(Debug, Clone, Copy)]
pub enum WsMode {
    /// Answers every upgrade with this status (as a proxy without WebSocket support does).
    Refuse(u16),
    /// First connection: malformed, binary, unknown-type and oversized messages around a valid
    /// notification 1. Later connections: `resumed`, notification 1 again, notification 2.
    Misbehave,
}

/// A loopback HTTP proxy in front of a real server.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Upgrade requests seen on `/ws`.
    pub ws_attempts: Arc<AtomicUsize>,
    /// The `resume` messages clients sent, in order.
    pub resumes: Arc<Mutex<Vec<WsClientMessage>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct ProxyState {
    upstream: String,
    upstream_host: String,
    own_host: String,
    http: reqwest::Client,
    mode: WsMode,
    ws_attempts: Arc<AtomicUsize>,
    resumes: Arc<Mutex<Vec<WsClientMessage>>>,
}

impl Proxy {
    pub async fn start(upstream: &str, mode: WsMode) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let (ws_attempts, resumes) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            upstream_host: upstream.trim_start_matches("http://").trim_end_matches('/').to_owned(),
            own_host: addr.to_string(),
            http: reqwest::Client::new(),
            mode,
            ws_attempts: ws_attempts.clone(),
            resumes: resumes.clone(),
        });
        let app = Router::new().route("/ws", get(ws)).fallback(forward).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Proxy { url: format!("http://{addr}"), ws_attempts, resumes, task }
    }
}

/// Forwards a request to the real server; rewrites the server's address in bodies (discovery).
async fn forward(State(s): State<Arc<ProxyState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, 1 << 20).await else { return StatusCode::BAD_REQUEST.into_response() };
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut upstream = s.http.request(parts.method, format!("{}{path}", s.upstream)).body(body);
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(answer) = upstream.send().await else { return StatusCode::BAD_GATEWAY.into_response() };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).replace(&s.upstream_host, &s.own_host);
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != axum::http::header::CONTENT_LENGTH && name != axum::http::header::TRANSFER_ENCODING {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

async fn ws(State(s): State<Arc<ProxyState>>, upgrade: WebSocketUpgrade) -> Response {
    let n = s.ws_attempts.fetch_add(1, Ordering::SeqCst) + 1;
    match s.mode {
        WsMode::Refuse(status) => {
            (StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND), "no WebSocket here").into_response()
        }
        WsMode::Misbehave => upgrade.on_upgrade(move |socket| misbehave(s, socket, n)),
    }
}

fn notification(seq: i64) -> Message {
    let json = serde_json::json!({
        "type": "notification",
        "notification": {"seq": seq, "type": "message", "payload": {"message": format!("fake {seq}")},
                         "created_at": "2026-11-22T20:31:07Z", "read_at": null}
    });
    Message::Text(json.to_string().into())
}

async fn misbehave(s: Arc<ProxyState>, mut socket: WebSocket, n: usize) {
    while let Some(Ok(message)) = socket.recv().await {
        if let Message::Text(text) = message {
            if let Ok(resume) = serde_json::from_str::<WsClientMessage>(text.as_str()) {
                s.resumes.lock().unwrap_or_else(|e| e.into_inner()).push(resume);
                break;
            }
        }
    }
    let resumed = Message::Text(r#"{"type":"resumed","epoch":"fake","last_seq":0}"#.into());
    let script = if n == 1 {
        vec![
            Message::Text("this is not json".into()),
            Message::Binary(vec![0u8, 1, 2, 3].into()),
            Message::Text(r#"{"type":"mystery","x":1}"#.into()),
            Message::Text(r#"{"type":"notification","notification":{"seq":"one"}}"#.into()),
            resumed,
            notification(1),
            Message::Text("x".repeat(300 * 1024).into()),
        ]
    } else {
        vec![resumed, notification(1), notification(2)]
    };
    for message in script {
        if socket.send(message).await.is_err() {
            return;
        }
    }
    // Keep the connection open until the client goes (it may, on silence).
    while let Some(Ok(_)) = socket.recv().await {}
}
