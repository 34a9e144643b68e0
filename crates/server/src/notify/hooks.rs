//! Domain events and the handlers registered for them. Every handler runs in its own task, so a
//! handler that returns an error or panics is logged and counted and the others still run.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::json;

use crate::notify::publisher::Publisher;
use crate::store::tickets::TicketRow;

/// Longest a handler may run before it is abandoned (and counted as failed).
const HANDLER_TIMEOUT: Duration = Duration::from_secs(10);

/// Something that happened at the support desk.
#[derive(Debug, Clone)]
pub enum DomainEvent {
    /// `ticket.created`.
    TicketCreated {
        /// The new ticket.
        ticket: TicketRow,
    },
    /// `comment.created`.
    CommentCreated {
        /// The ticket commented on.
        ticket: TicketRow,
        /// Comment id.
        comment_id: i64,
        /// Author's user id.
        author_id: i64,
        /// Author's login name.
        author: String,
        /// Text.
        body: String,
    },
    /// `ticket.assigned`.
    TicketAssigned {
        /// The ticket, with its new assignee.
        ticket: TicketRow,
        /// Who assigned it (user id).
        by_id: i64,
        /// Who assigned it (login name).
        by: String,
    },
}

impl DomainEvent {
    /// The event's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::TicketCreated { .. } => "ticket.created",
            Self::CommentCreated { .. } => "comment.created",
            Self::TicketAssigned { .. } => "ticket.assigned",
        }
    }
}

/// What a handler returns.
pub type HookFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A handler of domain events.
pub trait Hook: Send + Sync {
    /// Name for logs.
    fn name(&self) -> &str;
    /// Handles one event; `publisher` is how it notifies users.
    fn handle(&self, publisher: Publisher, event: Arc<DomainEvent>) -> HookFuture;
}

/// The registered handlers.
#[derive(Default)]
pub struct Hooks {
    handlers: RwLock<Vec<Arc<dyn Hook>>>,
    failures: AtomicU64,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("handlers", &self.snapshot().iter().map(|h| h.name().to_owned()).collect::<Vec<_>>())
            .finish()
    }
}

impl Hooks {
    /// The registry with the built-in handler.
    pub fn with_builtin() -> Self {
        let hooks = Self::default();
        hooks.register(Arc::new(NotifyParticipants));
        hooks
    }

    /// Adds a handler (run for every later event, after those registered before it).
    pub fn register(&self, hook: Arc<dyn Hook>) {
        self.handlers.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(hook);
    }

    fn snapshot(&self) -> Vec<Arc<dyn Hook>> {
        self.handlers.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Handler runs that failed (error, panic or timeout) since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Runs every handler on `event` concurrently and waits for all; failures are logged.
    pub async fn dispatch(&self, publisher: &Publisher, event: DomainEvent) {
        let event = Arc::new(event);
        let runs: Vec<_> = self
            .snapshot()
            .into_iter()
            .map(|hook| {
                let task = tokio::spawn(tokio::time::timeout(
                    HANDLER_TIMEOUT,
                    hook.handle(publisher.clone(), Arc::clone(&event)),
                ));
                (hook, task)
            })
            .collect();
        for (hook, task) in runs {
            let failure = match task.await {
                Ok(Ok(Ok(()))) => None,
                Ok(Ok(Err(e))) => Some(format!("error: {e:#}")),
                Ok(Err(_elapsed)) => Some(format!("timed out after {HANDLER_TIMEOUT:?}")),
                Err(join) if join.is_panic() => Some("panicked".to_owned()),
                Err(join) => Some(format!("was cancelled: {join}")),
            };
            if let Some(failure) = failure {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(hook = hook.name(), event = event.name(), "event handler {failure}");
            }
        }
    }
}

/// The built-in handler: tells the people on a ticket what others did to it.
#[derive(Debug)]
pub struct NotifyParticipants;

impl Hook for NotifyParticipants {
    fn name(&self) -> &str {
        "notify-participants"
    }

    fn handle(&self, publisher: Publisher, event: Arc<DomainEvent>) -> HookFuture {
        Box::pin(async move {
            for (user_id, kind, payload) in recipients(&event) {
                publisher.publish(user_id, kind, &payload).await?;
            }
            Ok(())
        })
    }
}

/// Who hears of `event`, with what. A comment goes to the requester and the assignee, never to
/// its author; an assignment to the new assignee unless they took it themselves.
pub fn recipients(event: &DomainEvent) -> Vec<(i64, &'static str, serde_json::Value)> {
    match event {
        DomainEvent::CommentCreated { ticket, comment_id, author_id, author, body } => {
            let payload = json!({
                "ticket_id": ticket.id, "subject": ticket.subject, "comment_id": comment_id,
                "author": author, "body": body,
            });
            let mut to: Vec<i64> = std::iter::once(ticket.requester_id).chain(ticket.assignee_id).collect();
            to.dedup();
            to.into_iter().filter(|id| id != author_id).map(|id| (id, "comment.created", payload.clone())).collect()
        }
        DomainEvent::TicketAssigned { ticket, by_id, by } => ticket
            .assignee_id
            .filter(|id| id != by_id)
            .map(|id| (id, "ticket.assigned", json!({"ticket_id": ticket.id, "subject": ticket.subject, "by": by})))
            .into_iter()
            .collect(),
        DomainEvent::TicketCreated { ticket } => ticket
            .assignee_id
            .filter(|id| *id != ticket.requester_id)
            .map(|id| {
                let payload = json!({"ticket_id": ticket.id, "subject": ticket.subject, "by": ticket.requester});
                (id, "ticket.assigned", payload)
            })
            .into_iter()
            .collect(),
    }
}
