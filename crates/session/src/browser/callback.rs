//! [`CallbackListener`]: the loopback listener for the authorization response (RFC 8252 §7.3).
//!
//! Bound to `127.0.0.1` (else `[::1]`) on a port the OS picks, before the browser is opened, so
//! the redirect URI names a port that is already ours. It answers each request with a small page
//! that says what happened, and returns the first response whose `state` is the one this sign-in
//! sent: a response with another `state` (an old tab, or a page trying to slip its own code in) is
//! refused with a page and does not end the wait. An `iss` that names another issuer is a mix-up
//! (RFC 9207 §2.4) and ends the sign-in.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tessera_protocol::loopback::{CALLBACK_PATH, LoopbackRedirect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::secret::AuthorizationCode;

/// The most a browser's request head may be.
const MAX_REQUEST: usize = 8 * 1024;
/// How long one connection may take to send its request.
const READ_LIMIT: Duration = Duration::from_secs(5);

/// What the browser brought back for this sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    /// The code to exchange (with the PKCE verifier) at the token endpoint.
    pub code: AuthorizationCode,
    /// The `iss` parameter, when the server sent one (already checked against the issuer).
    pub iss: Option<String>,
}

/// Why the browser sign-in did not bring back a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// No answer within the time limit (the user closed the tab, or never signed in).
    #[error("no answer from the browser within {0:?}")]
    TimedOut(Duration),
    /// The server answered with an OAuth error (`access_denied`, `login_required`, …).
    #[error("the server refused the sign-in: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The OAuth `error` code.
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
    },
    /// The response names another issuer than the one this sign-in went to (RFC 9207).
    #[error("the answer came from another issuer ({0}); the sign-in was stopped")]
    IssuerMismatch(String),
    /// The server promised `iss` (`authorization_response_iss_parameter_supported`) and sent none.
    #[error("the answer has no iss parameter, which this server promised")]
    IssuerMissing,
    /// The loopback listener could not be opened or failed.
    #[error("the sign-in listener failed: {0}")]
    Io(String),
}

impl CallbackError {
    /// A stable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TimedOut(_) => "sign_in_timeout",
            Self::Refused { error, .. } if error == "access_denied" => "access_denied",
            Self::Refused { .. } => "sign_in_refused",
            Self::IssuerMismatch(_) | Self::IssuerMissing => "issuer_mismatch",
            Self::Io(_) => "callback_listener_failed",
        }
    }
}

/// A loopback listener waiting for one authorization response.
#[derive(Debug)]
pub struct CallbackListener {
    listener: TcpListener,
    redirect: LoopbackRedirect,
}

/// One request the listener read: its path and query pairs.
struct Request {
    path: String,
    query: Vec<(String, String)>,
}

impl Request {
    fn get(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl CallbackListener {
    /// Binds the first free one of `ports` on `127.0.0.1` (a provider that registered fixed
    /// redirect ports); with none given, [`bind`](Self::bind).
    pub async fn bind_on(ports: &[u16]) -> Result<Self, CallbackError> {
        if ports.is_empty() {
            return Self::bind().await;
        }
        for &port in ports {
            if let Ok(listener) = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await {
                return Self::listening(listener);
            }
        }
        Err(CallbackError::Io(format!(
            "none of the loopback ports registered at the identity provider is free ({}..{})",
            ports[0],
            ports[ports.len() - 1]
        )))
    }

    /// Binds `127.0.0.1:0`, or `[::1]:0` where IPv4 loopback is not available.
    pub async fn bind() -> Result<Self, CallbackError> {
        let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await;
        let listener = match v4 {
            Ok(listener) => listener,
            Err(_) => TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, 0)))
                .await
                .map_err(|e| CallbackError::Io(e.to_string()))?,
        };
        Self::listening(listener)
    }

    fn listening(listener: TcpListener) -> Result<Self, CallbackError> {
        let addr = listener.local_addr().map_err(|e| CallbackError::Io(e.to_string()))?;
        let redirect = LoopbackRedirect::for_listener(addr).map_err(|e| CallbackError::Io(e.to_string()))?;
        Ok(Self { listener, redirect })
    }

    /// The `redirect_uri` to send: `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        self.redirect.to_string()
    }

    /// Waits up to `limit` for the response carrying `state`. `issuer` is where this sign-in
    /// went; `iss_required` when its discovery promised the `iss` parameter (RFC 9207 §3).
    pub async fn wait(
        self,
        state: &str,
        issuer: &str,
        iss_required: bool,
        limit: Duration,
    ) -> Result<AuthorizationResponse, CallbackError> {
        let waited = tokio::time::timeout(limit, async {
            loop {
                let (stream, _) = self.listener.accept().await.map_err(|e| CallbackError::Io(e.to_string()))?;
                if let Some(done) = answer(stream, state, issuer, iss_required).await {
                    return done;
                }
            }
        });
        waited.await.unwrap_or(Err(CallbackError::TimedOut(limit)))
    }
}

/// Reads one request and answers it; `Some` when it decides the sign-in.
async fn answer(
    mut stream: TcpStream,
    state: &str,
    issuer: &str,
    iss_required: bool,
) -> Option<Result<AuthorizationResponse, CallbackError>> {
    let request = match tokio::time::timeout(READ_LIMIT, read_request(&mut stream)).await {
        Ok(Some(request)) => request,
        _ => {
            respond(&mut stream, 400, "This is not a sign-in answer Tessera understands.").await;
            return None;
        }
    };
    if request.path != CALLBACK_PATH {
        respond(&mut stream, 404, "Nothing here: Tessera is waiting for your sign-in.").await;
        return None;
    }
    if request.get("state") != Some(state) {
        let page = "This answer does not belong to the sign-in Tessera started, so it was ignored. \
                    Finish the sign-in in the tab Tessera opened, or start again.";
        respond(&mut stream, 400, page).await;
        return None;
    }
    let outcome = decide(&request, issuer, iss_required);
    match &outcome {
        Ok(_) => respond(&mut stream, 200, "You are signed in to Tessera; you may close this tab.").await,
        Err(e) => {
            respond(&mut stream, 400, &format!("Tessera could not sign you in: {e}. You may close this tab.")).await
        }
    }
    Some(outcome)
}

/// The outcome of a response whose `state` matched.
fn decide(request: &Request, issuer: &str, iss_required: bool) -> Result<AuthorizationResponse, CallbackError> {
    let iss = request.get("iss").map(str::to_owned);
    match iss.as_deref() {
        Some(iss) if iss != issuer => return Err(CallbackError::IssuerMismatch(iss.to_owned())),
        None if iss_required => return Err(CallbackError::IssuerMissing),
        _ => {}
    }
    if let Some(error) = request.get("error") {
        let description = request.get("error_description").map(str::to_owned);
        return Err(CallbackError::Refused { error: error.to_owned(), description });
    }
    match request.get("code").filter(|c| !c.is_empty()) {
        Some(code) => Ok(AuthorizationResponse { code: AuthorizationCode::new(code), iss }),
        None => Err(CallbackError::Refused { error: "invalid_response".into(), description: Some("no code".into()) }),
    }
}

/// The request line's path and query, from a head of at most [`MAX_REQUEST`] bytes.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = std::str::from_utf8(&head).ok()?.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "GET" {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    Some(Request { path: path.to_owned(), query })
}

/// A small HTML page saying `text` (escaped: an error description comes from the request).
async fn respond(stream: &mut TcpStream, status: u16, text: &str) {
    let text = escape_html(text);
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Tessera</title></head>\
         <body><p>{text}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_ports_take_the_first_free_one_and_say_when_none_is() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let busy = taken.local_addr().unwrap().port();
        let spare = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let free = spare.local_addr().unwrap().port();
        drop(spare);
        let listener = CallbackListener::bind_on(&[busy, free]).await.unwrap();
        assert_eq!(listener.redirect_uri(), format!("http://127.0.0.1:{free}/callback"), "the busy one is skipped");
        let none = CallbackListener::bind_on(&[busy]).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(none.contains("registered at the identity provider"), "{none}");
        let any = CallbackListener::bind_on(&[]).await.unwrap();
        assert!(any.redirect_uri().starts_with("http://127.0.0.1:"), "no list: any port");
    }
}
