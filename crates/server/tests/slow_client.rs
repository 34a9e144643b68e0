//! A client whose body stops arriving is answered 408 `request_timeout` (with an ErrorBody), and
//! does not hold the server up.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Harness, config};
use tessera_protocol::{ErrorBody, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn stalled_request_body_gets_408_request_timeout() {
    let mut c = config();
    c.request_timeout_secs = 1;
    let h = Harness::start(c).await;
    let mut stream = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
    // Promise 100 bytes, send 13, then go quiet.
    let head = "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 100\r\nConnection: close\r\n\r\ngrant_type=pa";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "a stalled body must time out with 408:\n{response}");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: ErrorBody =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("408 must carry an ErrorBody ({e}):\n{response}"));
    assert_eq!(body.code, ErrorCode::RequestTimeout, "stable code for the client to switch on");
    let t = h.sign_in().await;
    assert!(!t.access_token.is_empty(), "the server still serves others");
}
