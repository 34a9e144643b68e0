//! Schedule tests on paused tokio time: the scheduler's sleeps and the fake wall clock move only
//! when the test (or tokio's auto-advance while everything is idle) moves them.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::mpsc;

use super::*;
use crate::clock::ManualClock;

const T0: i64 = 1_800_000_000;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + secs, 0).unwrap_or_default()
}

fn policy() -> SchedulePolicy {
    SchedulePolicy {
        lead: Duration::from_secs(60),
        jitter_ratio: 0.1,
        max_jitter: Duration::ZERO,
        expiring_warning: Duration::from_secs(300),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Refresh,
    Reassess,
}

/// Records each call with the wall and monotonic time it came at; answers refreshes from a
/// script (default: success, publishing a new token of `ttl`).
struct Fake {
    clock: Arc<ManualClock>,
    start: tokio::time::Instant,
    calls: mpsc::Sender<(Call, DateTime<Utc>, Duration)>,
    script: Mutex<VecDeque<RefreshOutcome>>,
    input: watch::Sender<ScheduleInput>,
    ttl: i64,
    end_on_reassess_after: Option<DateTime<Utc>>,
}

#[async_trait::async_trait]
impl ScheduleTarget for Arc<Fake> {
    async fn refresh(&self) -> RefreshOutcome {
        let now = self.clock.now();
        let _ = self.calls.send((Call::Refresh, now, self.start.elapsed())).await;
        let outcome = self.script.lock().map(|mut s| s.pop_front()).ok().flatten().unwrap_or(RefreshOutcome::Refreshed);
        if outcome == RefreshOutcome::Refreshed {
            self.input.send_modify(|i| {
                i.generation += 1;
                let session_expires_at = i.times.map_or(at(100_000), |t| t.session_expires_at);
                i.times = Some(TokenTimes {
                    issued_at: now,
                    expires_at: now + chrono::Duration::seconds(self.ttl),
                    session_expires_at,
                });
            });
        }
        outcome
    }

    async fn reassess(&self) {
        let now = self.clock.now();
        let _ = self.calls.send((Call::Reassess, now, self.start.elapsed())).await;
        if self.end_on_reassess_after.is_some_and(|end| now >= end) {
            self.input.send_modify(|i| {
                i.generation += 1;
                i.times = None;
            });
        }
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    input: watch::Sender<ScheduleInput>,
    calls: mpsc::Receiver<(Call, DateTime<Utc>, Duration)>,
    scheduler: RefreshScheduler,
}

fn rig(times: Option<TokenTimes>, script: Vec<RefreshOutcome>, end_after: Option<DateTime<Utc>>) -> Rig {
    let clock = Arc::new(ManualClock::new(at(0)));
    let (input, rx) = watch::channel(ScheduleInput { generation: 1, times });
    let (tx, calls) = mpsc::channel(64);
    let fake = Arc::new(Fake {
        clock: clock.clone(),
        start: tokio::time::Instant::now(),
        calls: tx,
        script: Mutex::new(script.into()),
        input: input.clone(),
        ttl: 600,
        end_on_reassess_after: end_after,
    });
    let scheduler = RefreshScheduler::spawn_with_rng(fake, rx, policy(), clock.clone(), StdRng::seed_from_u64(5));
    Rig { clock, input, calls, scheduler }
}

fn token(issued: i64, ttl: i64) -> Option<TokenTimes> {
    Some(TokenTimes { issued_at: at(issued), expires_at: at(issued + ttl), session_expires_at: at(100_000) })
}

async fn next_call(rig: &mut Rig) -> (Call, DateTime<Utc>, Duration) {
    match rig.calls.recv().await {
        Some(call) => call,
        None => panic!("the scheduler stopped unexpectedly"),
    }
}

/// Lets every ready task run without moving paused time.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn refreshes_lead_before_expiry_then_rearms_on_the_new_token() {
    let mut rig = rig(token(0, 600), vec![], None);
    let (call, wall, _) = next_call(&mut rig).await;
    assert_eq!((call, wall), (Call::Refresh, at(540)), "first refresh must come 60 s before the 600 s token expires");
    let (call, wall, _) = next_call(&mut rig).await;
    assert_eq!(
        (call, wall),
        (Call::Refresh, at(1080)),
        "the new token must re-arm the sleep, with no extra wake in between"
    );
    assert!(rig.scheduler.is_running(), "the scheduler keeps running");
}

#[tokio::test(start_paused = true)]
async fn a_new_token_replaces_the_pending_sleep() {
    let mut rig = rig(token(0, 600), vec![], None);
    tokio::time::advance(Duration::from_secs(100)).await;
    rig.input.send_modify(|i| {
        i.generation += 1;
        i.times = token(100, 1200);
    });
    let (_, wall, _) = next_call(&mut rig).await;
    assert_eq!(wall, at(1240), "the sleep must follow the newest token, not the one it was armed for");
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_jump_with_recheck_refreshes_at_once() {
    let mut rig = rig(token(0, 600), vec![], None);
    tokio::time::advance(Duration::from_secs(10)).await;
    settle().await;
    rig.clock.jump(chrono::Duration::minutes(30));
    rig.scheduler.recheck();
    let (call, wall, mono) = next_call(&mut rig).await;
    assert_eq!(call, Call::Refresh, "a token past its refresh moment must be refreshed");
    assert_eq!(
        mono,
        Duration::from_secs(10),
        "after a 30 min jump (suspend) the refresh must not wait for the old sleep"
    );
    assert_eq!(wall, at(10 + 1800), "the refresh happens at the jumped wall time");
}

#[tokio::test(start_paused = true)]
async fn a_backwards_jump_does_not_refresh_early() {
    let mut rig = rig(token(0, 600), vec![], None);
    tokio::time::advance(Duration::from_secs(10)).await;
    settle().await;
    rig.clock.jump(chrono::Duration::seconds(-100));
    rig.scheduler.recheck();
    let (_, wall, mono) = next_call(&mut rig).await;
    assert_eq!(wall, at(540), "the refresh moment is a wall-clock date");
    assert_eq!(mono, Duration::from_secs(640), "with the clock set back 100 s, the wait is 100 s longer");
}

#[tokio::test(start_paused = true)]
async fn transient_failures_back_off_and_honour_retry_after() {
    let script = vec![
        RefreshOutcome::Retry { retry_after: Some(Duration::from_secs(30)) },
        RefreshOutcome::Retry { retry_after: None },
    ];
    let mut rig = rig(token(0, 600), script, None);
    let (_, first, _) = next_call(&mut rig).await;
    let (_, second, _) = next_call(&mut rig).await;
    let (_, third, _) = next_call(&mut rig).await;
    assert_eq!(first, at(540), "the first attempt is on schedule");
    assert_eq!(second, at(570), "Retry-After 30 s beats the 0.5 s first backoff");
    assert!(
        third >= second && third <= second + chrono::Duration::seconds(1),
        "the second backoff is within [0, 1 s]: {third}"
    );
    let (_, fourth, _) = next_call(&mut rig).await;
    assert_eq!(fourth, third + chrono::Duration::seconds(540), "success resets the schedule to the new token");
}

#[tokio::test(start_paused = true)]
async fn expiring_warning_then_end_are_reassessed() {
    let times = Some(TokenTimes { issued_at: at(0), expires_at: at(600), session_expires_at: at(400) });
    let mut rig = rig(times, vec![], Some(at(400)));
    let first = next_call(&mut rig).await;
    let second = next_call(&mut rig).await;
    assert_eq!((first.0, first.1), (Call::Reassess, at(100)), "the warning starts 5 min before the absolute end");
    assert_eq!((second.0, second.1), (Call::Reassess, at(400)), "the absolute end is reassessed (signs out)");
    tokio::time::advance(Duration::from_secs(86_400)).await;
    settle().await;
    assert!(rig.calls.try_recv().is_err(), "after the session ended nothing more is scheduled");
}

#[tokio::test(start_paused = true)]
async fn signed_out_schedules_nothing_until_a_session_appears() {
    let mut rig = rig(None, vec![], None);
    tokio::time::advance(Duration::from_secs(86_400)).await;
    settle().await;
    assert!(rig.calls.try_recv().is_err(), "no session, no wake-ups");
    rig.input.send_modify(|i| {
        i.generation += 1;
        i.times = token(86_400, 600);
    });
    let (call, wall, _) = next_call(&mut rig).await;
    assert_eq!((call, wall), (Call::Refresh, at(86_400 + 540)), "a new session is scheduled at once");
}

#[test]
fn refresh_moment_respects_lead_jitter_and_half_life() {
    let p = SchedulePolicy { max_jitter: Duration::from_secs(30), ..policy() };
    let t = TokenTimes { issued_at: at(0), expires_at: at(600), session_expires_at: at(10_000) };
    assert_eq!(p.refresh_at(&t, 0.0), at(540), "no jitter: exactly the lead");
    assert_eq!(p.refresh_at(&t, 0.5), at(525), "jitter is 10 % of 600 s = 60 s, capped at 30 s, times 0.5 = 15 s");
    let short = TokenTimes { issued_at: at(0), expires_at: at(3), session_expires_at: at(10_000) };
    assert_eq!(
        p.refresh_at(&short, 0.9),
        at(0) + chrono::Duration::milliseconds(1500),
        "a token shorter than the lead refreshes at half-life"
    );
    assert_eq!(p.expiring_at(&t), at(10_000 - 300), "the warning starts expiring_warning before the end");
}
