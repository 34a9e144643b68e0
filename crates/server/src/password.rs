//! Password hashing: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), computed on
//! blocking threads behind a semaphore so a burst of sign-ins cannot starve the async workers or
//! exhaust memory. Unknown users are checked against a dummy hash so they cost the same time.
//!
//! The permit is *owned by the blocking closure*: a hash that started keeps its slot until it
//! finishes, even when the request that asked for it was cancelled (client gone, time limit), so
//! at most `concurrency` hashes ever run. Requests beyond that wait in a queue of bounded depth;
//! past it they are refused at once ([`HashError::Busy`], answered 503 `server_busy`).
//!
//! Hashes run on `concurrency` dedicated threads, not tokio's blocking pool: the pool starts a
//! new thread whenever none is idle at that instant, and every thread that ever hashed keeps a
//! 19 MiB block in its own malloc arena (measured: 360–400 MiB RSS after a storm with only two
//! hashes at once). With fixed threads, memory stays at about `concurrency` × 19 MiB.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::metrics::Metrics;

/// OWASP Password Storage Cheat Sheet, argon2id option 2: m=19 MiB, t=2, p=1.
fn argon2() -> Argon2<'static> {
    // Constant, valid parameters.
    #[allow(clippy::expect_used)]
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why no hash was computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot is hashing and the wait queue is full: retry later (503).
    #[error("the password-hash queue is full")]
    Busy,
    /// The hash itself failed (or its thread panicked).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Hashes and verifies passwords off the async threads.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    concurrency: u32,
    queue_depth: u64,
    metrics: Arc<Metrics>,
    dummy_hash: Arc<String>,
    /// Jobs for the hashing threads; they stop when the last hasher is dropped.
    jobs: mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// Starts `n` hashing threads sharing one job queue (at most `n` jobs are ever in it: each holds
/// a permit).
fn spawn_workers(n: u32) -> anyhow::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n {
        let rx = Arc::clone(&rx);
        std::thread::Builder::new().name(format!("tessera-argon2-{i}")).spawn(move || {
            loop {
                // The lock is held only while taking a job; a poisoned lock still holds the queue.
                let job = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                let Ok(job) = job else { return }; // every hasher was dropped
                // A panicking job loses its own answer (the caller sees `Failed`), not the thread.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })?;
    }
    Ok(tx)
}

/// One place in the wait queue; leaves it on drop (also when the waiting request is cancelled).
struct Queued(Arc<Metrics>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.password_hashes_queued.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running hash: counted from the moment its blocking closure starts until it returns.
struct Running(Arc<Metrics>);

impl Running {
    fn start(metrics: &Arc<Metrics>) -> Self {
        let now = metrics.password_hashes_running.fetch_add(1, Ordering::Relaxed) + 1;
        metrics.password_hashes_running_max.fetch_max(now, Ordering::Relaxed);
        Self(Arc::clone(metrics))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.password_hashes_running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PasswordHasher {
    /// `concurrency` hashes at once (0 = number of CPUs), `queue_depth` requests waiting beyond
    /// those; gauges go to `metrics`.
    pub fn new(concurrency: usize, queue_depth: usize, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let n = if concurrency == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        } else {
            concurrency
        };
        let n = u32::try_from(n.min(Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        let dummy = hash_blocking("tessera-dummy-password-for-unknown-users").map_err(anyhow::Error::msg)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(n as usize)),
            concurrency: n,
            queue_depth: queue_depth as u64,
            metrics,
            dummy_hash: Arc::new(dummy),
            jobs: spawn_workers(n)?,
        })
    }

    /// How many hashes may run at once.
    pub fn concurrency(&self) -> u32 {
        self.concurrency
    }

    /// Hashes a new password (PHC string).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || hash_blocking(&password)).await?.map_err(HashError::Failed)
    }

    /// Checks `password` against `stored`, or against a dummy hash when the user is unknown (so
    /// the answer takes as long either way). Returns false for unknown users.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, HashError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.as_str().to_owned());
        let ok = self.run(move || verify_blocking(&password, &hash)).await?;
        Ok(ok && known)
    }

    /// Waits until no hash runs or waits ahead of the caller, then holds every slot until the
    /// returned guard is dropped (no hash starts meanwhile). Tests use it to wait for a storm to
    /// drain and to fill the server; an operator tool could use it to pause sign-ins.
    pub async fn hold_all(&self) -> Result<OwnedSemaphorePermit, HashError> {
        Arc::clone(&self.permits).acquire_many_owned(self.concurrency).await.map_err(|_| HashError::Busy)
    }

    /// Runs `work` on a hashing thread once a slot is free. The slot's permit moves into the
    /// job, so it is released when `work` returns, not when the caller stops waiting.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _queued = self.join_queue()?;
                Arc::clone(&self.permits).acquire_owned().await.map_err(|_| HashError::Busy)?
            }
        };
        let metrics = Arc::clone(&self.metrics);
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let running = Running::start(&metrics);
            let result = work();
            // The slot is free before the answer arrives, so a caller's next hash can take it.
            drop(running);
            drop(permit);
            let _ = done.send(result); // the caller may have gone: the hash still ran to its end
        });
        self.jobs.send(job).map_err(|_| HashError::Failed("the hashing threads stopped".into()))?;
        answer.await.map_err(|_| HashError::Failed("the hash panicked".into()))
    }

    fn join_queue(&self) -> Result<Queued, HashError> {
        let queued = &self.metrics.password_hashes_queued;
        let admitted =
            queued.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < self.queue_depth).then_some(n + 1));
        match admitted {
            Ok(_) => Ok(Queued(Arc::clone(&self.metrics))),
            Err(_) => {
                crate::metrics::inc(&self.metrics.password_hash_busy);
                Err(HashError::Busy)
            }
        }
    }
}

fn hash_blocking(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| format!("argon2: {e}"))
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    fn hasher(concurrency: usize, queue: usize) -> (PasswordHasher, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        (PasswordHasher::new(concurrency, queue, Arc::clone(&metrics)).unwrap(), metrics)
    }

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let (hasher, _) = hasher(1, 4);
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "OWASP parameters: {hash}");
        assert!(hasher.verify("correct horse".into(), Some(hash.clone())).await.unwrap(), "right password");
        assert!(!hasher.verify("wrong".into(), Some(hash)).await.unwrap(), "wrong password");
        assert!(!hasher.verify("correct horse".into(), None).await.unwrap(), "unknown user never verifies");
        assert!(!hasher.verify("x".into(), Some("not a hash".into())).await.unwrap(), "damaged hash never verifies");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_instead_of_waiting() {
        let (hasher, metrics) = hasher(1, 1);
        let hold = hasher.hold_all().await.unwrap();
        let mut waiting = Box::pin(hasher.verify("pw".into(), None));
        assert!((&mut waiting).now_or_never().is_none(), "the first request waits: every slot is held");
        assert_eq!(metrics.password_hashes_queued.load(Ordering::Relaxed), 1, "it is counted as queued");
        let refused = hasher.verify("pw".into(), None).now_or_never();
        assert!(matches!(refused, Some(Err(HashError::Busy))), "the second is refused at once: {refused:?}");
        drop(hold);
        assert!(!waiting.await.unwrap(), "the queued request runs once a slot is free (unknown user: false)");
        assert_eq!(metrics.password_hashes_queued.load(Ordering::Relaxed), 0, "the queue is empty again");
        assert_eq!(metrics.password_hash_busy.load(Ordering::Relaxed), 1, "one refusal counted");
    }

    #[tokio::test]
    async fn a_cancelled_request_keeps_its_slot_until_its_hash_finishes() {
        let (hasher, metrics) = hasher(1, 8);
        // Start a hash and cancel the request as soon as the blocking closure runs.
        let mut first = Box::pin(hasher.verify("pw".into(), None));
        assert!((&mut first).now_or_never().is_none(), "the hash runs on a hashing thread");
        drop(first);
        // The slot is still taken by the running hash: nothing else may start until it ends.
        let hold = hasher.hold_all().await.unwrap();
        assert_eq!(metrics.password_hashes_running.load(Ordering::Relaxed), 0, "the cancelled hash ran to its end");
        assert_eq!(metrics.password_hashes_running_max.load(Ordering::Relaxed), 1, "never more than one at once");
        drop(hold);
    }
}
