//! A user's outbox, for handlers holding the whole server state: publishing goes through
//! [`Publisher`](super::publisher::Publisher); reading and resuming are [`super::stored`].

use std::sync::Arc;

use tessera_protocol::Notification;

use crate::state::AppState;
use crate::store::notifications::StreamRow;

pub use super::stored::{can_resume, new_epoch, read_after, read_one, to_notification};

/// Appends a notification for `user_id` and announces it. Returns it once it is durable.
pub async fn publish(
    state: &AppState,
    user_id: i64,
    kind: &str,
    payload: &serde_json::Value,
) -> anyhow::Result<Arc<Notification>> {
    state.notify.publisher.publish(user_id, kind, payload).await
}

/// The user's stream, created if the user has none yet.
pub async fn stream(state: &AppState, user_id: i64) -> sqlx::Result<StreamRow> {
    state.notify.publisher.stream(user_id).await
}
