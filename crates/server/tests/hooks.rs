//! Domain events from the ticket API reach the built-in handler; a handler that errors or
//! panics is logged and does not stop the others.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Harness, config};
use tessera_protocol::{AssignTicket, NewComment, NewTicket, NotificationPage, Ticket, paths};
use tessera_server::notify::hooks::{DomainEvent, Hook, HookFuture};
use tessera_server::notify::publisher::Publisher;

struct Panics;
impl Hook for Panics {
    fn name(&self) -> &str {
        "panics"
    }
    fn handle(&self, _: Publisher, _: Arc<DomainEvent>) -> HookFuture {
        Box::pin(async { panic!("this handler is broken on purpose") })
    }
}

struct Fails;
impl Hook for Fails {
    fn name(&self) -> &str {
        "fails"
    }
    fn handle(&self, _: Publisher, _: Arc<DomainEvent>) -> HookFuture {
        Box::pin(async { Err(anyhow::anyhow!("downstream system unavailable")) })
    }
}

async fn kinds(h: &Harness, token: &str) -> Vec<(String, serde_json::Value)> {
    let page: NotificationPage = h.get(&format!("{}?after=0", paths::NOTIFICATIONS), token).await.json().await.unwrap();
    page.items.into_iter().map(|n| (n.kind, n.payload)).collect()
}

async fn open_ticket(h: &Harness, token: &str, assignee: Option<&str>) -> Ticket {
    let body = NewTicket { subject: "Printer on fire".into(), assignee: assignee.map(str::to_owned) };
    let resp = h.http.post(h.url(paths::TICKETS)).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "opening a ticket works");
    resp.json().await.unwrap()
}

async fn comment(h: &Harness, token: &str, ticket: i64, body: &str) {
    let resp = h
        .http
        .post(h.url(&paths::ticket_comments(ticket)))
        .bearer_auth(token)
        .json(&NewComment { body: body.into() })
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "commenting works");
}

#[tokio::test]
async fn a_comment_notifies_requester_and_assignee_but_never_its_author() {
    let h = Harness::start(config()).await;
    let (alice, bob, carol) = (h.sign_in().await, h.sign_in_as("bob", "d").await, h.sign_in_as("carol", "d").await);
    let ticket = open_ticket(&h, &alice.access_token, Some("bob")).await;
    let bob_before = kinds(&h, &bob.access_token).await;
    assert_eq!(bob_before.len(), 1, "bob hears he was assigned the new ticket");
    assert_eq!(bob_before[0].0, "ticket.assigned", "assignment notification");

    comment(&h, &carol.access_token, ticket.id, "Have you tried water?").await;
    let alice_got = kinds(&h, &alice.access_token).await;
    assert_eq!(alice_got.len(), 1, "the requester hears of a comment by someone else");
    assert_eq!(alice_got[0].0, "comment.created", "comment notification type");
    assert_eq!(alice_got[0].1["author"], "carol", "payload names the author");
    assert_eq!(kinds(&h, &bob.access_token).await.len(), 2, "the assignee hears of it too");
    assert!(kinds(&h, &carol.access_token).await.is_empty(), "the author is never notified of her own comment");

    comment(&h, &bob.access_token, ticket.id, "On my way").await;
    assert_eq!(kinds(&h, &alice.access_token).await.len(), 2, "the requester hears of the assignee's comment");
    assert_eq!(kinds(&h, &bob.access_token).await.len(), 2, "the assignee is not told of his own comment");
}

#[tokio::test]
async fn a_panicking_and_a_failing_handler_do_not_stop_the_built_in_one() {
    let h = Harness::start(config()).await;
    h.server.state.notify.hooks.register(Arc::new(Panics));
    h.server.state.notify.hooks.register(Arc::new(Fails));
    let (alice, bob) = (h.sign_in().await, h.sign_in_as("bob", "d").await);
    let ticket = open_ticket(&h, &alice.access_token, None).await;
    comment(&h, &bob.access_token, ticket.id, "Looking into it").await;
    let got = kinds(&h, &alice.access_token).await;
    assert_eq!(got.len(), 1, "the built-in handler still notified the requester: {got:?}");
    // Two events (ticket.created, comment.created) × two broken handlers.
    assert_eq!(h.server.state.notify.hooks.failures(), 4, "each failure is counted (and logged)");

    let assign = AssignTicket { assignee: "bob".into() };
    let resp = h
        .http
        .post(h.url(&paths::ticket_assign(ticket.id)))
        .bearer_auth(&alice.access_token)
        .json(&assign)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK, "the ticket API keeps working after handler failures");
    let bob_got = kinds(&h, &bob.access_token).await;
    assert_eq!(bob_got.last().map(|k| k.0.as_str()), Some("ticket.assigned"), "assignment notifies the new assignee");
}
