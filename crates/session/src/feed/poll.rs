//! HTTP polling with the WebSocket's cursor, and the full reload after a history reset.

use tessera_protocol::{Notification, NotificationPage};

use super::cache::Cursor;
use super::run::Run;
use crate::error::EngineError;
use crate::state::WarningCode;

/// Items per page (the server allows up to 500).
const PAGE_LIMIT: u32 = 500;

impl Run {
    /// Fetches everything after the cursor, page by page.
    pub(crate) async fn poll(&mut self) -> Result<(), EngineError> {
        loop {
            let after = self.cursor.last_seq;
            let page = self.page(after, self.cursor.epoch.clone()).await?;
            if page.reset {
                return self.reload().await;
            }
            if self.cursor.epoch.as_deref() != Some(page.epoch.as_str()) {
                self.cursor.epoch = Some(page.epoch.clone());
                self.save_cursor().await;
            }
            let more = page.next_after < page.last_seq && page.next_after > after;
            self.accept(page.items).await;
            if !more {
                return Ok(());
            }
        }
    }

    /// The cursor cannot be served: fetches the whole retained history, replaces the cache with
    /// it and warns the user. Reloaded notifications are not announced one by one.
    pub(crate) async fn reload(&mut self) -> Result<(), EngineError> {
        let mut items: Vec<Notification> = Vec::new();
        let mut after = 0;
        let epoch = loop {
            let page = self.page(after, None).await?;
            items.extend(page.items);
            if page.next_after >= page.last_seq || page.next_after <= after {
                after = after.max(page.next_after);
                break page.epoch;
            }
            after = page.next_after;
        };
        let last_seq = items.iter().map(|n| n.seq).max().unwrap_or(0).max(after);
        let cursor = Cursor { epoch: Some(epoch), last_seq };
        let (user, stored) = (self.user.clone(), cursor.clone());
        let count = items.len();
        if let Err(e) = self.shared.cache.call(move |db| db.replace(&user, &items, &stored)).await {
            tracing::warn!(code = e.code(), "could not replace the notification cache after a reset");
        }
        self.cursor = cursor;
        self.shared.engine.warn(
            WarningCode::NotificationsReset,
            format!("the server reset the notification history; reloaded {count} notifications"),
        );
        Ok(())
    }

    async fn page(&self, after: i64, epoch: Option<String>) -> Result<NotificationPage, EngineError> {
        let client = self.shared.engine.client().clone();
        self.shared
            .engine
            .authorized(|t| {
                let (c, epoch) = (client.clone(), epoch.clone());
                async move { c.notifications(&t, after, PAGE_LIMIT, epoch.as_deref()).await }
            })
            .await
    }
}
