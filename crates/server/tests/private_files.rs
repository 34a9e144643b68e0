//! The real binary keeps its data dir private: created 0700 with the database, its `-wal` and
//! `-shm` files and the signing key 0600 even under `umask 000` (so they are created that way,
//! not loosened and fixed later), and files an older version left readable are made private at
//! start, naming each one.
// Helpers outside #[test] functions unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

mod server_process;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use reqwest::StatusCode;
use server_process::{ServerProcess, serve_args, serve_scripted, sign_in, with_umask};
use tessera_server::db::DB_FILE;
use tessera_server::keys::KEY_FILE;
use tessera_server::private_files::private_file_names;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{} must exist: {e}", path.display())).permissions().mode()
        & 0o777
}

#[tokio::test]
async fn a_fresh_start_creates_the_data_dir_and_every_file_owner_only_even_under_umask_000() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("new-data-dir");
    let server = ServerProcess::start_command(with_umask("000", &serve_args(&dir, true))).await;
    // A sign-in writes to the database, so its WAL and shared-memory files exist now.
    let http = reqwest::Client::new();
    let resp = sign_in(&http, &server.url, "alice", &server.passwords["alice"]).await;
    assert_eq!(resp.status(), StatusCode::OK, "the demo user signs in");

    assert_eq!(mode(&dir), 0o700, "the data dir is created 0700 although the umask would allow 0777");
    for name in private_file_names() {
        let path = dir.join(&name);
        assert_eq!(mode(&path), 0o600, "{name} is created 0600 (only the owner may read hashes, secrets, the key)");
    }
    let (status, stderr) = server.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
    assert!(
        !stderr.contains("readable by other users"),
        "nothing had to be fixed after the fact: everything was created private; stderr:\n{stderr}"
    );
}

#[tokio::test]
async fn files_left_readable_by_others_are_made_private_at_start_naming_each_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let first = ServerProcess::start(dir, true).await;
    let password = first.passwords["bob"].clone();
    let (status, stderr) = first.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");

    // What an older version, a restore or a careless `cp` leaves behind.
    let loose = [(dir.to_owned(), 0o755), (dir.join(DB_FILE), 0o644), (dir.join(KEY_FILE), 0o644)];
    for (path, loose_mode) in &loose {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(*loose_mode)).unwrap();
    }
    let second = ServerProcess::start_command(serve_scripted(dir)).await;
    for (path, _) in &loose {
        let want = if path == dir { 0o700 } else { 0o600 };
        assert_eq!(mode(path), want, "{} must be made private before the server serves", path.display());
    }
    let http = reqwest::Client::new();
    let resp = sign_in(&http, &second.url, "bob", &password).await;
    assert_eq!(resp.status(), StatusCode::OK, "the data survives the change of modes");
    let (status, stderr) = second.terminate().await;
    assert!(status.success(), "clean stop; stderr:\n{stderr}");
    for (path, _) in &loose {
        let named = format!("{} was readable by other users", path.display());
        assert!(stderr.contains(&named), "the warning must name {}; stderr:\n{stderr}", path.display());
    }
}
