//! A client-chosen `X-Request-Id` is echoed (and logged) only when it is 1 to 128 characters of
//! `[A-Za-z0-9._-]`; anything else is replaced by a generated id.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Harness, config};
use tessera_protocol::paths;

async fn echoed(h: &Harness, id: &str) -> String {
    let resp = h.http.get(h.url(paths::HEALTHZ)).header("x-request-id", id).send().await.unwrap();
    let values: Vec<_> =
        resp.headers().get_all("x-request-id").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(values.len(), 1, "exactly one request id comes back: {values:?}");
    values.into_iter().next().unwrap()
}

#[tokio::test]
async fn oversized_or_odd_request_ids_are_replaced_by_generated_ones() {
    let h = Harness::start(config()).await;
    let fine = "client-42.retry_3";
    assert_eq!(echoed(&h, fine).await, fine, "a well-formed id is kept, so client and server logs line up");
    let longest = "a".repeat(128);
    assert_eq!(echoed(&h, &longest).await, longest, "128 characters is still accepted");
    for bad in ["a".repeat(129), "x".repeat(5000), "has space".into(), "semi;colon".into(), "a/b".into()] {
        let got = echoed(&h, &bad).await;
        assert_ne!(got, bad, "{:.40}… must not be echoed", bad);
        assert!(uuid::Uuid::parse_str(&got).is_ok(), "a generated id (UUID) replaces it: {got}");
    }
}
