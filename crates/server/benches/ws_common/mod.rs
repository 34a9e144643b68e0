//! Shared by the WebSocket benchmarks: users and sessions minted straight into the database
//! (argon2 sign-ins would dominate the set-up), a tungstenite client, percentiles.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tessera_protocol::{Role, WsClientMessage, WsServerMessage, paths};
use tessera_server::AppState;
use tessera_server::keys::{ACCESS_TYP, AccessClaims};
use tessera_server::store::sessions::{self, NewSession};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Creates `users` users (with an unusable password hash) and returns their ids.
pub async fn mint_users(state: &AppState, users: usize) -> anyhow::Result<Vec<i64>> {
    let mut tx = state.db.write.begin().await?;
    let mut ids = Vec::with_capacity(users);
    for i in 0..users {
        let name = format!("bench{i}");
        ids.push(
            tessera_server::store::users::upsert(&mut tx, &name, &name, Role::Agent, "!", state.clock.now_ms()).await?,
        );
    }
    tx.commit().await?;
    Ok(ids)
}

/// Opens one session per entry of `user_ids` and returns an access token for each (1 h).
pub async fn mint_tokens(state: &AppState, user_ids: &[i64]) -> anyhow::Result<Vec<String>> {
    let now = state.clock.now_ms();
    let mut tx = state.db.write.begin().await?;
    let mut tokens = Vec::with_capacity(user_ids.len());
    for &user_id in user_ids {
        let id = uuid::Uuid::new_v4().to_string();
        let (_, hash) = tessera_server::auth::new_refresh_token();
        let session = NewSession {
            id: &id,
            user_id,
            client_id: "tessera-cli",
            device_name: "bench",
            platform: "linux",
            app_version: "0",
            ip: "127.0.0.1",
            now_ms: now,
            expires_at: now + 3_600_000,
            token_hash: &hash,
        };
        sessions::insert(&mut tx, session).await?;
        let claims = AccessClaims {
            iss: state.issuer.clone(),
            sub: user_id.to_string(),
            sid: id,
            iat: now / 1000,
            exp: now / 1000 + 3600,
            jti: uuid::Uuid::new_v4().to_string(),
            typ: ACCESS_TYP.into(),
            aud: Some(state.issuer.clone()),
            client_id: Some("tessera-cli".into()),
        };
        tokens.push(state.keys.issue(&claims)?);
    }
    tx.commit().await?;
    Ok(tokens)
}

/// Connects to `/ws` with small client buffers.
pub async fn connect(server_url: &str, token: &str) -> anyhow::Result<Ws> {
    let url = format!("{}{}", server_url.replacen("http://", "ws://", 1), paths::WS);
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}"))?);
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0).max_write_buffer_size(65536);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true).await?;
    Ok(ws)
}

pub async fn send_resume(ws: &mut Ws, after: i64, epoch: Option<&str>) -> anyhow::Result<()> {
    let m = WsClientMessage::Resume { after, epoch: epoch.map(str::to_owned) };
    ws.send(Message::text(serde_json::to_string(&m)?)).await?;
    Ok(())
}

/// The next server message, `None` when the connection ended.
pub async fn next(ws: &mut Ws) -> Option<WsServerMessage> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Resumes and returns (replayed seqs, epoch).
pub async fn resume(ws: &mut Ws, after: i64, epoch: Option<&str>) -> anyhow::Result<(Vec<i64>, String)> {
    send_resume(ws, after, epoch).await?;
    let mut seqs = Vec::new();
    loop {
        match next(ws).await {
            Some(WsServerMessage::Notification { notification }) => seqs.push(notification.seq),
            Some(WsServerMessage::Resumed { epoch, .. }) => return Ok((seqs, epoch)),
            Some(other) => anyhow::bail!("unexpected {other:?}"),
            None => anyhow::bail!("closed during resume"),
        }
    }
}
