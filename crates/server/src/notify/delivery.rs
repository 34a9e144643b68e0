//! The delivery scheduler. The `webhook_pending` table is the queue: a delivery is made when
//! its durable due time has come, one attempt at a time; a failed attempt writes the next due
//! time and frees its slot (nothing sleeps while holding one). Deliveries in flight are capped
//! in all, per user and per webhook, so one user's blackholed URLs cannot hold the slots the
//! others need. The scheduler wakes when a notification is published, when an attempt ends,
//! when the earliest owed delivery falls due, and at least every sweep interval (which also
//! picks up what another process recorded, and what was owed at start).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tessera_protocol::{
    WEBHOOK_EVENT_HEADER, WEBHOOK_EVENT_NOTIFICATION_CREATED, WEBHOOK_SIGNATURE_HEADER, WebhookBody,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::clock::Clock;
use crate::db::Db;
use crate::egress::{AllowList, Target, judge};
use crate::metrics::{Metrics, inc};
use crate::notify::guard::{Clients, refusal_of};
use crate::notify::signing::signature_header;
use crate::notify::stored;
use crate::store::webhooks::{self, Attempt, DueRow};

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How many deliveries may be in flight, and how often to look for owed ones regardless.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// In all (also bounds the resume of what was owed at start).
    pub global: usize,
    /// Per user.
    pub per_user: usize,
    /// Per webhook.
    pub per_webhook: usize,
    /// Longest time between two looks at the owed deliveries.
    pub sweep: Duration,
}

/// What an attempt needs besides the row.
pub struct Worker {
    /// Storage.
    pub db: Db,
    /// Wall clock (due times).
    pub clock: Arc<dyn Clock>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The guarded and the trusted client.
    pub clients: Clients,
    /// `webhook_allowed_http_hosts`.
    pub allow: AllowList,
    /// Attempts per delivery, first included.
    pub max_attempts: u32,
    /// Wait after the first failure (doubles per attempt).
    pub retry_base: Duration,
}

/// Deliveries in flight.
#[derive(Default)]
struct Busy {
    keys: HashSet<(String, i64)>,
    /// Deliveries that ended since the current look at the table began: that read may predate
    /// their settlement, so they are not started again from it (the next look sees them right).
    ended: HashSet<(String, i64)>,
    users: HashMap<i64, usize>,
    hooks: HashMap<String, usize>,
}

struct Scheduler {
    worker: Worker,
    limits: Limits,
    slots: Arc<Semaphore>,
    busy: Mutex<Busy>,
}

/// Starts the scheduler; it runs until every returned sender (and every attempt) is gone.
pub fn spawn(worker: Worker, limits: Limits) -> mpsc::Sender<()> {
    let limits = Limits {
        global: limits.global.max(1),
        per_user: limits.per_user.max(1),
        per_webhook: limits.per_webhook.max(1),
        sweep: limits.sweep.max(Duration::from_millis(1)),
    };
    let scheduler =
        Scheduler { worker, limits, slots: Arc::new(Semaphore::new(limits.global)), busy: Mutex::default() };
    let (wake, rx) = mpsc::channel(1);
    tokio::spawn(run(Arc::new(scheduler), wake.downgrade(), rx));
    wake
}

async fn run(scheduler: Arc<Scheduler>, wake: mpsc::WeakSender<()>, mut woken: mpsc::Receiver<()>) {
    loop {
        let next_due = scheduler.dispatch(&wake).await;
        let now = scheduler.worker.clock.now_ms();
        let until_due = next_due.map(|due| Duration::from_millis(u64::try_from(due - now).unwrap_or(0).max(1)));
        let wait = until_due.map_or(scheduler.limits.sweep, |d| d.min(scheduler.limits.sweep));
        tokio::select! {
            woke = woken.recv() => if woke.is_none() { return },
            () = tokio::time::sleep(wait) => {}
        }
    }
}

impl Scheduler {
    /// Starts every due delivery the caps allow; returns when the next one not yet due is due.
    async fn dispatch(self: &Arc<Self>, wake: &mpsc::WeakSender<()>) -> Option<i64> {
        let now = self.worker.clock.now_ms();
        // Every delivery that ended until now was settled (committed) before: the read sees it.
        self.busy.lock().unwrap_or_else(PoisonError::into_inner).ended.clear();
        let limits = self.limits;
        let batch = limits.global.saturating_mul(limits.per_webhook.saturating_add(2));
        let read = async {
            let mut conn = self.worker.db.read.acquire().await?;
            let due =
                webhooks::due(&mut conn, now, count(limits.per_webhook), count(limits.per_user), count(batch)).await?;
            Ok::<_, sqlx::Error>((due, webhooks::next_due_after(&mut conn, now).await?))
        };
        let (due, next_due) = match read.await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!("reading owed webhook deliveries failed: {e}");
                return None;
            }
        };
        for row in due {
            // Gone: the server is stopping (no handle left to wake the loop).
            let wake = wake.upgrade()?;
            let Some(permit) = self.reserve(&row) else { continue };
            let scheduler = Arc::clone(self);
            tokio::spawn(async move {
                scheduler.worker.attempt(&row).await;
                scheduler.release(&row);
                drop(permit);
                // Full means a wake is already pending: either way the loop looks again.
                let _ = wake.try_send(());
            });
        }
        next_due
    }

    /// Takes a slot for `row` unless it is in flight already or a cap is reached.
    fn reserve(&self, row: &DueRow) -> Option<OwnedSemaphorePermit> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (row.webhook_id.clone(), row.seq);
        let user = busy.users.get(&row.user_id).copied().unwrap_or(0);
        let hook = busy.hooks.get(&row.webhook_id).copied().unwrap_or(0);
        let taken = busy.keys.contains(&key) || busy.ended.contains(&key);
        if taken || user >= self.limits.per_user || hook >= self.limits.per_webhook {
            return None;
        }
        let permit = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        busy.keys.insert(key);
        *busy.users.entry(row.user_id).or_default() += 1;
        *busy.hooks.entry(row.webhook_id.clone()).or_default() += 1;
        Some(permit)
    }

    fn release(&self, row: &DueRow) {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (row.webhook_id.clone(), row.seq);
        busy.keys.remove(&key);
        busy.ended.insert(key);
        decrement(&mut busy.users, row.user_id);
        decrement(&mut busy.hooks, row.webhook_id.clone());
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
    if let Some(n) = map.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&key);
        }
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// How one attempt went.
enum Outcome {
    Delivered(u16),
    /// Worth retrying (status if there was a response).
    Failed(Option<u16>, String),
    /// The target may not be reached: settled at once, nothing was sent.
    Refused(String),
}

impl Worker {
    /// The wait after failed attempt `attempt` (1-based): the base, doubled per attempt, capped.
    fn backoff_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.retry_base.saturating_mul(1 << doublings).min(MAX_BACKOFF)
    }

    /// Makes the next attempt of an owed delivery and records it.
    async fn attempt(&self, row: &DueRow) {
        let found = match self.db.read.acquire().await {
            Ok(mut conn) => stored::read_one(&mut conn, row.user_id, row.seq).await,
            Err(e) => Err(e),
        };
        let notification = match found {
            Ok(Some(notification)) => notification,
            Ok(None) => {
                tracing::info!(webhook_id = %row.webhook_id, seq = row.seq, "owed notification no longer retained; dropping the delivery");
                if let Ok(mut conn) = self.db.write.acquire().await {
                    let _ = webhooks::drop_pending(&mut conn, &row.webhook_id, row.seq).await;
                }
                return;
            }
            Err(e) => return tracing::error!(webhook_id = %row.webhook_id, "reading an owed notification failed: {e}"),
        };
        let attempt = u32::try_from(row.attempts).unwrap_or(u32::MAX).saturating_add(1);
        let body = WebhookBody { event: WEBHOOK_EVENT_NOTIFICATION_CREATED.into(), notification };
        let outcome = match (url::Url::parse(&row.url), serde_json::to_vec(&body)) {
            (Err(e), _) => Outcome::Refused(format!("not attempted: the stored url is not valid ({e})")),
            (_, Err(e)) => Outcome::Refused(format!("not attempted: the body could not be serialized ({e})")),
            (Ok(url), Ok(body)) => match judge(&url, &self.allow) {
                Target::Allowed => self.post(&self.clients.trusted, url, row, body).await,
                Target::Checked if url.scheme() != "https" => Outcome::Refused(
                    "not attempted: plain http is allowed only for hosts in webhook_allowed_http_hosts".into(),
                ),
                Target::Checked => self.post(&self.clients.guarded, url, row, body).await,
                Target::Refused(reason) => Outcome::Refused(format!("not attempted: {reason}")),
            },
        };
        self.settle(row, attempt, outcome).await;
    }

    async fn post(&self, client: &reqwest::Client, url: url::Url, row: &DueRow, body: Vec<u8>) -> Outcome {
        let t = self.clock.now_ms().div_euclid(1000);
        let result = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(WEBHOOK_EVENT_HEADER, WEBHOOK_EVENT_NOTIFICATION_CREATED)
            .header(WEBHOOK_SIGNATURE_HEADER, signature_header(&row.secret, t, &body))
            .body(body)
            .send()
            .await;
        match result {
            Ok(resp) if resp.status().is_success() => Outcome::Delivered(resp.status().as_u16()),
            Ok(resp) => Outcome::Failed(Some(resp.status().as_u16()), format!("HTTP {}", resp.status())),
            Err(e) => match refusal_of(&e) {
                Some(refused) => {
                    tracing::warn!(webhook_id = %row.webhook_id, host = %refused.host, addresses = ?refused.refused, "webhook target refused");
                    Outcome::Refused(format!("not attempted: {refused}"))
                }
                None => Outcome::Failed(None, describe(&e)),
            },
        }
    }

    /// Logs the attempt and moves the owed delivery on (next due time, or settled).
    async fn settle(&self, row: &DueRow, attempt: u32, outcome: Outcome) {
        let last = attempt >= self.max_attempts;
        let (status, error, logged) = match &outcome {
            Outcome::Delivered(status) => (Some(*status), None, "delivered"),
            Outcome::Failed(status, error) => (*status, Some(error.as_str()), if last { "failed" } else { "retrying" }),
            Outcome::Refused(reason) => (None, Some(reason.as_str()), "failed"),
        };
        inc(match (&outcome, logged) {
            (Outcome::Refused(_), _) => &self.metrics.webhook_refused,
            (_, "delivered") => &self.metrics.webhook_delivered,
            (_, "retrying") => &self.metrics.webhook_retried,
            _ => &self.metrics.webhook_failed,
        });
        let now = self.clock.now_ms();
        let backoff = self.backoff_after(attempt);
        let next_due =
            (logged == "retrying").then(|| now.saturating_add(i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX)));
        let record =
            Attempt { webhook_id: &row.webhook_id, seq: row.seq, attempt, at: now, status, outcome: logged, error };
        let written = match self.db.write.acquire().await {
            Ok(mut conn) => webhooks::settle_attempt(&mut conn, record, next_due).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::error!(webhook_id = %row.webhook_id, "recording a webhook delivery failed: {e}");
        }
        let (webhook_id, seq) = (&row.webhook_id, row.seq);
        match (logged, error) {
            ("retrying", Some(error)) => {
                tracing::info!(%webhook_id, seq, attempt, "webhook delivery failed ({error}); retrying in {backoff:?}")
            }
            (_, Some(error)) => tracing::warn!(%webhook_id, seq, attempt, "webhook delivery gave up: {error}"),
            _ => tracing::debug!(%webhook_id, seq, attempt, "webhook delivered"),
        }
    }
}

/// A transport error in words, without the URL (which may carry a token in its query).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_redirect() {
        "redirects are not followed".into()
    } else {
        "request failed".into()
    }
}
