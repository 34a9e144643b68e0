use super::*;

const MIN: Duration = Duration::from_secs(60);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn wall0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

fn wall(start: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    start + chrono::Duration::from_std(d).unwrap_or_default()
}

/// 15 min timeout, 60 s warning, report every 3 min; armed at `t0`.
fn tracker() -> (Tracker, Instant, DateTime<Utc>) {
    let t0 = Instant::now();
    let w0 = wall0();
    (Tracker::new(15 * MIN, secs(60), 3 * MIN, t0, w0), t0, w0)
}

#[test]
fn an_active_user_is_looked_at_again_only_when_the_warning_could_start() {
    let (mut t, t0, w0) = tracker();
    let e = t.evaluate(t0 + secs(10), wall(w0, secs(10)), Some(secs(10)));
    assert_eq!(e.verdict, Verdict::Fine { cancelled: false }, "10 s idle is fine");
    assert_eq!(e.next, Some(15 * MIN - secs(60) - secs(10)), "sleep until timeout − warning − idle, not a poll");
    assert!(!e.report_activity, "no input since the sign-in: nothing to tell the server");
}

#[test]
fn the_warning_counts_down_once_per_second_and_input_cancels_it() {
    let (mut t, t0, w0) = tracker();
    let at = |n: u64| (t0 + secs(n), wall(w0, secs(n)));
    let (m, w) = at(14 * 60 + 1);
    let e = t.evaluate(m, w, Some(secs(14 * 60 + 1)));
    assert_eq!(e.verdict, Verdict::Warn { seconds_left: 59, announce: true }, "59 s left is announced");
    assert_eq!(e.next, Some(secs(1)), "the next second of the countdown");
    let e = t.evaluate(m, w, Some(secs(14 * 60 + 1)));
    assert_eq!(
        e.verdict,
        Verdict::Warn { seconds_left: 59, announce: false },
        "the same second is not announced twice"
    );
    let (m, w) = at(14 * 60 + 3);
    let e = t.evaluate(m, w, Some(Duration::from_millis(200)));
    assert_eq!(e.verdict, Verdict::Fine { cancelled: true }, "input during the warning cancels it");
    assert!(!t.warning_active, "and the warning is over");
}

#[test]
fn idle_for_the_whole_timeout_signs_out() {
    let (mut t, t0, w0) = tracker();
    let e = t.evaluate(t0 + 15 * MIN, wall(w0, 15 * MIN), Some(15 * MIN));
    assert_eq!(e.verdict, Verdict::SignOut, "15 min idle with a 15 min timeout signs out");
    assert_eq!(e.next, None, "nothing to look at after a sign-out");
}

#[test]
fn without_a_source_only_the_app_window_counts() {
    let (mut t, t0, w0) = tracker();
    t.app_input(t0 + 10 * MIN);
    let e = t.evaluate(t0 + 15 * MIN, wall(w0, 15 * MIN), None);
    assert_eq!(e.idle, 5 * MIN, "idle counts from the app's last input");
    assert_eq!(e.verdict, Verdict::Fine { cancelled: false }, "5 min idle is fine");
}

#[test]
fn app_input_counts_even_when_the_system_says_idle() {
    let (mut t, t0, w0) = tracker();
    t.app_input(t0 + 14 * MIN);
    let e = t.evaluate(t0 + 15 * MIN, wall(w0, 15 * MIN), Some(15 * MIN));
    assert_eq!(e.idle, MIN, "effective idle is the smaller of system and app idle");
}

#[test]
fn a_sleep_longer_than_the_timeout_signs_out_even_after_input_on_wake() {
    let (mut t, t0, w0) = tracker();
    // Awake 1 min, asleep 20 min (the wall clock runs ahead), a key press on wake.
    let e = t.evaluate(t0 + MIN, wall(w0, 21 * MIN), Some(Duration::from_millis(100)));
    assert_eq!(e.resumed, Some(20 * MIN), "the wall clock's lead is the time asleep");
    assert_eq!(e.verdict, Verdict::SignOut, "nobody can have been at the desk while it slept");
}

#[test]
fn a_short_sleep_counts_toward_idle_until_the_next_input() {
    let (mut t, t0, w0) = tracker();
    let e = t.evaluate(t0 + MIN, wall(w0, 6 * MIN), Some(MIN));
    assert_eq!(e.idle, 6 * MIN, "1 min awake idle + 5 min asleep");
    assert_eq!(e.verdict, Verdict::Fine { cancelled: false }, "6 min is below the timeout");
    let e = t.evaluate(t0 + 10 * MIN, wall(w0, 15 * MIN), Some(10 * MIN));
    assert_eq!(e.idle, 15 * MIN, "still no input: the credit stays");
    assert_eq!(e.verdict, Verdict::SignOut, "and the total reaches the timeout");
}

#[test]
fn input_after_a_sleep_ends_the_credit() {
    let (mut t, t0, w0) = tracker();
    let e = t.evaluate(t0 + MIN, wall(w0, 6 * MIN), Some(MIN));
    assert_eq!(e.idle, 6 * MIN, "credit counted");
    let e = t.evaluate(t0 + 2 * MIN, wall(w0, 7 * MIN), Some(secs(5)));
    assert_eq!(e.idle, secs(5), "input after the wake starts idle time afresh");
}

#[test]
fn logind_sleep_note_counts_idle_time_before_the_sleep() {
    let (mut t, t0, w0) = tracker();
    let _ = t.evaluate(t0 + 10 * MIN, wall(w0, 10 * MIN), Some(10 * MIN));
    t.preparing_for_sleep();
    // Asleep 6 min, key press on wake: without the note only 6 min would be known.
    let e = t.evaluate(t0 + 10 * MIN + secs(1), wall(w0, 16 * MIN + secs(1)), Some(Duration::from_millis(100)));
    assert_eq!(e.verdict, Verdict::SignOut, "10 min idle before the sleep + 6 min asleep ≥ 15 min");
}

#[test]
fn activity_is_mirrored_at_most_once_per_interval_and_never_while_idle() {
    let (mut t, t0, w0) = tracker();
    let e = t.evaluate(t0 + MIN, wall(w0, MIN), Some(Duration::ZERO));
    assert!(!e.report_activity, "1 min after the sign-in is too soon to report again");
    assert_eq!(e.next, Some(2 * MIN), "look again when a report is allowed");
    let e = t.evaluate(t0 + 3 * MIN, wall(w0, 3 * MIN), Some(Duration::ZERO));
    assert!(e.report_activity, "input and 3 min since the last report: tell the server");
    let e = t.evaluate(t0 + 7 * MIN, wall(w0, 7 * MIN), Some(4 * MIN));
    assert!(!e.report_activity, "no input since the last report: say nothing");
    assert_eq!(e.next, Some(15 * MIN - MIN - 4 * MIN), "and sleep until the warning could start");
}

#[test]
fn the_server_timeout_caps_the_timeout_and_the_warning_fits_inside() {
    let (mut t, _, _) = tracker();
    t.server = Some(secs(120));
    assert_eq!(t.timeout(), secs(120), "never longer than the server's idle timeout");
    assert_eq!(t.warning(), secs(60), "a 60 s warning fits in 120 s");
    t.server = Some(secs(60));
    assert_eq!(t.warning(), secs(30), "a warning as long as the timeout becomes half of it");
}

#[test]
fn a_clock_check_without_a_jump_only_moves_the_reference() {
    let (mut t, t0, w0) = tracker();
    assert!(!t.clock_check(t0 + secs(30), wall(w0, secs(30))), "clocks agree: nothing to do");
    assert!(t.clock_check(t0 + secs(60), wall(w0, 10 * MIN)), "the wall clock ran ahead: look now");
    let e = t.evaluate(t0 + secs(60), wall(w0, 10 * MIN), Some(secs(60)));
    assert_eq!(e.resumed, Some(10 * MIN - secs(60)), "the check did not consume the jump");
}
