//! [`SerialWorker`]: one thread that runs blocking keychain operations one at a time, in the
//! order they were asked for.
//!
//! Why one thread and not a call on tokio's blocking pool each: a call that outlives its time
//! limit cannot be cancelled. On the pool it would keep running beside the calls made after it,
//! so a record written by a timed-out `store` could land *after* the newer record of the next
//! `store`, silently putting an old (already rotated) refresh token back. Through one worker,
//! calls take effect strictly in submission order:
//!
//! - a call whose caller gave up **before it started** is skipped: it never runs;
//! - a call that **had started** runs to its end before the next one begins;
//! - either way the caller got a time-out and must treat the outcome as unknown, and every
//!   later call queues behind (its own time limit counts from its submission, queue wait
//!   included).
//!
//! The queue is bounded: when it is full (the worker is stuck in one call with many waiting)
//! a new call fails at once with [`WorkerError::Busy`] instead of piling up.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

/// The job waits in the queue.
const QUEUED: u8 = 0;
/// The worker has started the job; it will run to its end.
const STARTED: u8 = 1;
/// The caller gave up before the job started; the worker skips it.
const ABANDONED: u8 = 2;

/// Why a job did not deliver its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkerError {
    /// The queue was full: the job was not queued.
    Busy,
    /// The time limit passed. `started`: the job had started (it runs to its end, and its effect
    /// happens); otherwise it will never run.
    TimedOut {
        /// Whether the job had started when the caller gave up.
        started: bool,
    },
    /// The job panicked, or the worker thread is gone.
    Lost,
}

/// One job: its closure and its state (shared with the caller).
struct Job {
    state: Arc<AtomicU8>,
    run: Box<dyn FnOnce() + Send>,
}

/// A thread running submitted closures one at a time, first in first out.
#[derive(Debug)]
pub(crate) struct SerialWorker {
    jobs: SyncSender<Job>,
}

impl SerialWorker {
    /// Starts the thread `name` with room for `capacity` waiting jobs. The thread ends when the
    /// worker is dropped and the queue is empty.
    pub(crate) fn spawn(name: &str, capacity: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel(capacity);
        std::thread::Builder::new().name(name.to_owned()).spawn(move || work(queue))?;
        Ok(Self { jobs })
    }

    /// Runs `op` on the worker and waits for its result at most `limit` (from now, queue wait
    /// included), without blocking the async threads.
    pub(crate) async fn run<T, F>(&self, limit: Duration, op: F) -> Result<T, WorkerError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (reply, result) = tokio::sync::oneshot::channel();
        let state = self.submit(Box::new(move || {
            // The caller may have stopped waiting; then nobody wants the result.
            let _ = reply.send(op());
        }))?;
        match tokio::time::timeout(limit, result).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_dropped)) => Err(WorkerError::Lost),
            Err(_elapsed) => Err(give_up(&state)),
        }
    }

    /// Like [`run`](Self::run), for callers on a thread that may block (never an async one).
    pub(crate) fn run_blocking<T, F>(&self, limit: Duration, op: F) -> Result<T, WorkerError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (reply, result) = mpsc::sync_channel(1);
        let state = self.submit(Box::new(move || {
            let _ = reply.send(op());
        }))?;
        match result.recv_timeout(limit) {
            Ok(value) => Ok(value),
            Err(RecvTimeoutError::Disconnected) => Err(WorkerError::Lost),
            Err(RecvTimeoutError::Timeout) => Err(give_up(&state)),
        }
    }

    fn submit(&self, run: Box<dyn FnOnce() + Send>) -> Result<Arc<AtomicU8>, WorkerError> {
        let state = Arc::new(AtomicU8::new(QUEUED));
        match self.jobs.try_send(Job { state: Arc::clone(&state), run }) {
            Ok(()) => Ok(state),
            Err(TrySendError::Full(_)) => Err(WorkerError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(WorkerError::Lost),
        }
    }
}

/// Marks a job the caller stopped waiting for; says whether it had already started.
fn give_up(state: &AtomicU8) -> WorkerError {
    let started = state.compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire).is_err();
    WorkerError::TimedOut { started }
}

/// The worker thread: each job in order, skipping those given up before they started.
fn work(queue: Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        if job.state.compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire).is_err() {
            continue;
        }
        // A panicking job loses its own result (its caller sees `Lost`), not the worker.
        if catch_unwind(AssertUnwindSafe(job.run)).is_err() {
            tracing::warn!("a keychain call panicked; the worker goes on");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A job that blocks the worker until the test releases it, and says when it has started.
    fn gate(worker: &SerialWorker) -> (mpsc::Receiver<()>, mpsc::SyncSender<()>) {
        let (started_tx, started) = mpsc::sync_channel(1);
        let (release, release_rx) = mpsc::sync_channel::<()>(1);
        let submitted = worker.submit(Box::new(move || {
            let _ = started_tx.send(());
            let _ = release_rx.recv();
        }));
        assert!(submitted.is_ok(), "the gate job must be queued");
        (started, release)
    }

    /// Records which writes took effect, in order, like the keychain entry they would replace.
    fn writer(log: &Arc<Mutex<Vec<&'static str>>>, name: &'static str) -> impl FnOnce() + Send + 'static {
        let log = Arc::clone(log);
        move || log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(name)
    }

    #[test]
    fn a_write_given_up_before_it_started_never_lands() {
        let worker = SerialWorker::spawn("test-worker", 8).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (started, release) = gate(&worker);
        started.recv().unwrap();
        let old = worker.run_blocking(Duration::from_millis(20), writer(&log, "old token"));
        assert_eq!(old, Err(WorkerError::TimedOut { started: false }), "the worker is stuck: the old write waits");
        release.send(()).unwrap();
        let new = worker.run_blocking(Duration::from_secs(60), writer(&log, "new token"));
        assert_eq!(new, Ok(()), "the newer write runs once the worker is free");
        assert_eq!(*log.lock().unwrap(), ["new token"], "a write given up before it started must never run");
    }

    #[test]
    fn a_write_that_timed_out_while_running_lands_before_the_next_one() {
        let worker = SerialWorker::spawn("test-worker", 8).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, started) = mpsc::sync_channel(1);
        let (release, release_rx) = mpsc::sync_channel::<()>(1);
        let slow_write = writer(&log, "old token");
        let state = worker
            .submit(Box::new(move || {
                let _ = started_tx.send(());
                let _ = release_rx.recv();
                slow_write();
            }))
            .unwrap();
        started.recv().unwrap();
        // What the caller's time limit does when it passes while the write hangs in the keychain.
        assert_eq!(give_up(&state), WorkerError::TimedOut { started: true }, "the old write had started");
        // The newer write is asked for while the old one still hangs; then the keychain answers.
        assert!(worker.submit(Box::new(writer(&log, "new token"))).is_ok(), "the newer write is queued");
        release.send(()).unwrap();
        assert_eq!(worker.run_blocking(Duration::from_secs(60), || ()), Ok(()), "the worker drains its queue");
        assert_eq!(
            *log.lock().unwrap(),
            ["old token", "new token"],
            "a timed-out write that had started must land before the newer one, never after it"
        );
    }

    #[tokio::test]
    async fn async_callers_share_the_same_order_and_a_full_queue_is_busy_at_once() {
        let worker = SerialWorker::spawn("test-worker", 2).unwrap();
        let (started, release) = gate(&worker);
        started.recv().unwrap();
        // Two waiting jobs fill the queue (the gate is running, not queued).
        let (a, b) = (Arc::new(AtomicU8::new(0)), Arc::new(AtomicU8::new(0)));
        let (done_tx, done) = mpsc::sync_channel(2);
        for _ in 0..2 {
            let done_tx = done_tx.clone();
            assert!(worker.submit(Box::new(move || done_tx.send(()).unwrap_or_default())).is_ok(), "room for two");
        }
        let full = worker.run(Duration::from_secs(60), || 1).await;
        assert_eq!(full, Err(WorkerError::Busy), "a full queue must refuse at once, not wait its time limit");
        release.send(()).unwrap();
        // The queue drains once the worker is free.
        done.recv().unwrap();
        done.recv().unwrap();
        let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
        let first = worker.run(Duration::from_secs(60), move || a2.store(1, Ordering::SeqCst));
        let second =
            worker.run(Duration::from_secs(60), move || b2.store(a.load(Ordering::SeqCst) + 1, Ordering::SeqCst));
        let (first, second) = tokio::join!(first, second);
        assert!(first.is_ok() && second.is_ok(), "both run once the worker is free");
        assert_eq!(b.load(Ordering::SeqCst), 2, "the second job must see the first one's effect");
    }

    #[test]
    fn a_panicking_job_loses_its_result_not_the_worker() {
        let worker = SerialWorker::spawn("test-worker", 2).unwrap();
        let lost = worker.run_blocking(Duration::from_secs(60), || -> u8 { panic!("keychain library bug") });
        assert_eq!(lost, Err(WorkerError::Lost), "the caller learns the job died");
        assert_eq!(worker.run_blocking(Duration::from_secs(60), || 7), Ok(7), "the worker keeps serving");
    }
}
