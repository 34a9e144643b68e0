//! Refresh-token rotation across OS processes and across crashes, through the real `tessera`
//! binary, the real keychain and the real reference server.
//!
//! - Two processes refreshing the same keychain record at once, with the server's grace window
//!   off: the lock file in the data dir plus the vault re-read keep both signed in, and the
//!   server never sees a rotated token replayed.
//! - SIGKILL at random moments of a refresh loop: the next start restores the session or
//!   cleanly says "not signed in", and never trips reuse detection (grace at its default).
//!
//! Ignored by default: they need an unlocked Secret Service (`tools/test` provides one).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use common::{Server, Tessera};
use rand::Rng;

/// Refreshes per process in the cross-process test.
const LOOP: u64 = 40;

/// One test at a time: a client SIGKILLed while opening a Secret Service session can abort
/// gnome-keyring-daemon (an upstream bug; `tools/test`'s bus restarts it, unlocked), which must
/// not fail the other test's calls in flight.
static KEYCHAIN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    KEYCHAIN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn two_processes_refreshing_one_keychain_record_both_stay_signed_in_without_reuse() {
    let _serial = one_at_a_time();
    let mut config = common::config();
    config.refresh_grace_secs = 0; // any replay of a rotated token would be caught at once
    let server = Server::start(config);
    let cli = Tessera::new();
    assert_eq!(cli.login(&server).code, 0, "login");
    let before = server.refresh_count();

    let count = LOOP.to_string();
    let args = ["debug", "refresh-loop", count.as_str(), "--start-on-stdin"];
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            let mut command = cli.command(&args);
            // The engine logs (info) when it adopts a token the other process rotated.
            command.env("TESSERA_LOG", "tessera_session=info");
            command
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn refresh loop")
        })
        .collect();
    // Both restored (one refresh each) and wait at the start line: release them together.
    for child in &mut children {
        let mut ready = String::new();
        let stdout = child.stdout.as_mut().expect("stdout");
        BufReader::new(stdout).read_line(&mut ready).expect("ready line");
        assert!(ready.contains("\"ready\""), "each process restores the session first: {ready:?}");
    }
    for child in &mut children {
        child.stdin.take().expect("stdin").write_all(b"go\n").expect("start the loop");
    }
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().expect("wait")).collect();

    let mut adopted = 0;
    for (i, out) in outputs.iter().enumerate() {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "process {i} must stay signed in through all its refreshes: {stdout} {stderr}"
        );
        assert!(stdout.contains("\"event\":\"done\""), "process {i} finished its loop: {stdout}");
        adopted += stderr.matches("another process rotated the refresh token").count();
    }
    let served = server.refresh_count() - before;
    println!(
        "cross-process: 2 processes x ({LOOP} + 1 restore) refreshes; server served {served}; tokens adopted from the other process: {adopted}; reuse detections: {}",
        server.reuse_count()
    );
    assert_eq!(server.reuse_count(), 0, "no rotated refresh token may ever be replayed (grace 0 would catch it)");
    assert_eq!(
        served,
        2 * (LOOP + 1),
        "every refresh (restore + loop, both processes) reached the server exactly once"
    );
    assert!(adopted > 0, "the loops must really have interleaved (a process adopted the other's rotated token)");
    let status = cli.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "still signed in afterwards: {status:?}");
    assert_eq!(server.reuse_count(), 0, "and the next process does not replay either");
}

/// Kills in the crash test.
const TRIALS: usize = 60;
/// Longest random wait before the kill, in milliseconds.
const MAX_KILL_DELAY_MS: u64 = 150;

#[test]
#[ignore = "needs an unlocked Secret Service; run tools/test"]
fn killing_the_cli_at_random_moments_of_a_refresh_loop_never_trips_reuse_detection() {
    let _serial = one_at_a_time();
    let server = Server::start(common::config()); // grace window at its default
    let cli = Tessera::new();
    assert_eq!(cli.login(&server).code, 0, "login");
    let mut rng = rand::thread_rng();
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut kill_points: BTreeMap<&str, usize> = BTreeMap::new();

    for trial in 0..TRIALS {
        let before = server.refresh_count();
        let mut child = cli.spawn(&["debug", "refresh-loop", "1000000"]);
        // Every third kill lands anywhere from process start (probe, restore); the others in
        // the loop proper, counted from the `ready` line.
        if trial % 3 != 0 {
            let mut ready = String::new();
            let stdout = child.stdout.as_mut().expect("stdout");
            let _ = BufReader::new(stdout).read_line(&mut ready);
        }
        // The random moment of the kill (not a wait for anything to start).
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..=MAX_KILL_DELAY_MS)));
        let killed_running = matches!(child.try_wait(), Ok(None));
        child.kill().expect("SIGKILL the refresh loop");
        let output = child.wait_with_output().expect("reap");
        if !killed_running {
            panic!("trial {trial}: the refresh loop ended before the kill: {output:?}");
        }
        *kill_points
            .entry(if server.refresh_count() > before { "after_some_refreshes" } else { "before_any_refresh" })
            .or_default() += 1;

        let status = cli.run(&["status", "--json"]);
        match status.code {
            0 => *outcomes.entry("restored").or_default() += 1,
            3 => {
                *outcomes.entry("asked_to_sign_in").or_default() += 1;
                assert_eq!(cli.login(&server).code, 0, "trial {trial}: signing in again must work");
            }
            _ => panic!("trial {trial}: after a kill, status must restore (0) or say not signed in (3): {status:?}"),
        }
        assert_eq!(server.reuse_count(), 0, "trial {trial}: a kill must never lead to a replayed refresh token");
    }

    let verify = cli.run(&["audit", "--verify", "--json"]);
    let report = verify.json();
    let token = cli.run(&["token"]);
    assert_eq!(token.code, 0, "still signed in at the end: {token:?}");
    println!(
        "crash-safe rotation: {TRIALS} SIGKILLs; next start: {outcomes:?}; kill points: {kill_points:?}; \
         server refreshes {}; of them replays inside the grace window (kill between rotation and keychain write) {}; \
         reuse detections {}; audit lines torn by a kill {}",
        server.refresh_count(),
        server.grace_retries(token.stdout.trim()),
        server.reuse_count(),
        report["torn_lines"].as_array().map_or(0, Vec::len),
    );
    assert_eq!(server.reuse_count(), 0, "no kill may trip reuse detection while the grace window is at its default");
    assert_eq!(outcomes.values().sum::<usize>(), TRIALS, "every trial ends in one of the two clean outcomes");
    assert_eq!(verify.code, 0, "kills mid-append may tear a line, but the audit chain must still verify: {verify:?}");
}
