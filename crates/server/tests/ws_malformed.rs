//! Malformed WebSocket client frames are logged and ignored (or close the connection with a
//! documented code); the server never panics and keeps serving.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod ws_support;

use common::{Harness, config};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::protocol::Message;
use ws_support::{Event, connect, next_event, resume};

#[tokio::test]
async fn invalid_json_binary_and_unknown_types_are_ignored_and_the_stream_still_works() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let mut ws = connect(&h.server.url, &t.access_token).await;
    for frame in [
        Message::text("{not json"),
        Message::text(r#"{"type":"subscribe","channel":"everything"}"#),
        Message::text(r#"{"type":"resume","after":"seven"}"#),
        Message::text(r#"{"after":0}"#),
        Message::binary(vec![0u8, 159, 146, 150]),
    ] {
        ws.send(frame).await.expect("the server still reads");
    }
    let (replayed, epoch) = resume(&mut ws, 0, None).await;
    assert!(replayed.is_empty() && !epoch.is_empty(), "a valid resume after garbage is served normally");
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009_and_the_server_keeps_serving() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let mut ws = connect(&h.server.url, &t.access_token).await;
    let huge = format!(r#"{{"type":"resume","after":0,"epoch":"{}"}}"#, "x".repeat(64 * 1024));
    let _ = ws.send(Message::text(huge)).await;
    match next_event(&mut ws).await {
        Event::Closed(code) => {
            assert!(matches!(code, Some(1009) | None), "too big closes the stream (1009 when it can say so): {code:?}")
        }
        Event::Message(m) => panic!("an oversized message must not be processed: {m:?}"),
    }
    let mut again = connect(&h.server.url, &t.access_token).await;
    let (replayed, _) = resume(&mut again, 0, None).await;
    assert!(replayed.is_empty(), "the server still serves new streams");
}

#[tokio::test]
async fn a_client_that_keeps_sending_garbage_is_closed_for_policy_violation() {
    let h = Harness::start(config()).await;
    let t = h.sign_in().await;
    let mut ws = connect(&h.server.url, &t.access_token).await;
    for _ in 0..40 {
        if ws.send(Message::text("garbage")).await.is_err() {
            break;
        }
    }
    match next_event(&mut ws).await {
        Event::Closed(code) => {
            assert!(matches!(code, Some(1008) | None), "a flood of garbage ends with 1008: {code:?}")
        }
        Event::Message(m) => panic!("garbage gets no answer: {m:?}"),
    }
}
