//! The data directory is private to the OS user that runs the server: it holds the argon2 hashes,
//! the plaintext webhook secrets and the signing key.
//!
//! Everything is *created* owner-only (directory 0700, files 0600: `DirBuilder`/`OpenOptions`
//! with a mode, so there is no moment where a file exists with the umask's looser mode). The
//! database file is created here, empty, before SQLite opens it, because SQLite creates its
//! `-wal` and `-shm` files with the permissions of the database file: 0600 as well. At start, a
//! directory or file that other users can read (left by an older version, a restore, a `cp`) is
//! made private with a warning naming it; one that cannot be changed (not ours) stops the start
//! with an error naming it.

use std::path::Path;

use anyhow::Context;

use crate::db::DB_FILE;

/// File name of the access-token signing key (PKCS#8 DER) inside the data dir.
pub const KEY_FILE: &str = "signing-key.p8";

/// File name of the id_token signing key (RSA, PKCS#1 DER) inside the data dir.
pub const ID_TOKEN_KEY_FILE: &str = "id-token-key.der";

/// Mode of the data directory.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in it.
pub const FILE_MODE: u32 = 0o600;

/// The files checked at start (those that exist): the database, its WAL and shared-memory files,
/// the two signing keys.
pub fn private_file_names() -> [String; 5] {
    [
        DB_FILE.to_owned(),
        format!("{DB_FILE}-wal"),
        format!("{DB_FILE}-shm"),
        KEY_FILE.to_owned(),
        ID_TOKEN_KEY_FILE.to_owned(),
    ]
}

/// Creates `data_dir` (0700) if needed, makes it and the files in it private, and creates the
/// empty database file (0600) when there is none yet.
pub fn prepare_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    create_dir(data_dir)?;
    make_private(data_dir, DIR_MODE)?;
    for name in private_file_names() {
        let path = data_dir.join(name);
        if path.exists() {
            make_private(&path, FILE_MODE)?;
        }
    }
    let db = data_dir.join(DB_FILE);
    match private_options().open(&db) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating database file {}", db.display())),
    }
}

/// Options that create a new file (failing if it exists) readable and writable by its owner only.
pub fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir).with_context(|| format!("creating data dir {}", dir.display()))
}

/// Removes group and other permissions from `path` if it has any (unix; elsewhere the OS's ACLs
/// apply and nothing is checked).
#[cfg(unix)]
fn make_private(path: &Path, wanted: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let private = (mode & 0o700) | (wanted & 0o700);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(private)).with_context(|| {
        format!(
            "{} is readable by other users (mode {:o}) and could not be made private; \
             run `chmod {:o} {}` as its owner",
            path.display(),
            mode & 0o777,
            wanted,
            path.display()
        )
    })?;
    tracing::warn!(
        path = %path.display(),
        "{} was readable by other users (mode {:o}); changed it to {:o}",
        path.display(),
        mode & 0o777,
        private & 0o777
    );
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_path: &Path, _wanted: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)] // a failed unwrap in a test helper is a failed test
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_data_dir_and_database_file_are_owner_only() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("nested").join("data");
        prepare_data_dir(&dir).unwrap();
        assert_eq!(mode(&dir), DIR_MODE, "the data dir is created 0700");
        assert_eq!(mode(&dir.join(DB_FILE)), FILE_MODE, "the database file is created 0600 before SQLite opens it");
    }

    #[test]
    fn files_readable_by_others_are_made_private() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let wal = dir.join(format!("{DB_FILE}-wal"));
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare_data_dir(dir).unwrap();
        assert_eq!(mode(dir), 0o700, "a 0755 data dir is made 0700");
        assert_eq!(mode(&wal), 0o600, "a 0644 WAL file is made 0600");
    }
}
