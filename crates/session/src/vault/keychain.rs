//! [`KeychainVault`]: the OS keychain through the `keyring` crate (Secret Service on Linux,
//! Keychain Services on macOS, Credential Manager on Windows).
//!
//! One keychain entry per [`Account`]: service = [`Account::keychain_service`], user = the login name,
//! password = [`VaultRecord::to_payload`].
//!
//! Every call of every `KeychainVault` in the process runs on **one serial worker thread**
//! (`tessera-keychain`) under a time limit (3 s by default, counted from submission): D-Bus round
//! trips and OS prompts block, and a keychain that never answers must become
//! [`VaultError::Timeout`], not a frozen app. A call that timed out cannot be cancelled once it
//! has started; it runs to its end *before* any later call, so a write that timed out can never
//! land after a newer one. A call whose caller gave up before it started is skipped. Either way
//! the caller's `Timeout` means "outcome unknown". See the `worker` module.
//!
//! Audit anchors ([`AnchorStore`]) are entries of their own, under service
//! [`KeychainVault::ANCHOR_SERVICE`] and the log file's path as user: independent of any
//! session record, so signing out (which deletes the session record) keeps the anchor.
//!
//! No mock store, ever: keyring 3 silently stores into process memory when built without a
//! platform feature, and anyone in the process can swap its global default store. This vault
//! bypasses that global and builds entries with the platform store compiled into keyring
//! (`keyring::default`), and refuses to work ([`VaultError::Unavailable`]) if that store does
//! not persist across restarts.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyring::credential::{CredentialBuilder, CredentialPersistence};

use super::worker::{SerialWorker, WorkerError};
use super::{AnchorStore, AuditAnchor, StorageTier, Vault, VaultError, VaultRecord};
use crate::account::Account;

/// Keychain calls that may wait behind the one running before new ones are refused as busy.
const QUEUE_CAPACITY: usize = 16;

/// The process's one keychain worker (started on first use), or why it could not start.
fn worker() -> Result<&'static SerialWorker, VaultError> {
    static WORKER: OnceLock<Result<SerialWorker, String>> = OnceLock::new();
    WORKER
        .get_or_init(|| SerialWorker::spawn("tessera-keychain", QUEUE_CAPACITY).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| VaultError::Failed(format!("cannot start the keychain worker thread: {e}")))
}

/// A builder of keychain entries on the platform store.
type EntryFor<'a> = &'a dyn Fn(&str, &str) -> keyring::Result<keyring::Entry>;

/// A [`Vault`] backed by the OS keychain. Cheap to clone; clones share the configuration.
#[derive(Clone)]
pub struct KeychainVault {
    builder: Arc<CredentialBuilder>,
    timeout: Duration,
}

impl KeychainVault {
    /// Time limit for one keychain call unless [`with_timeout`](Self::with_timeout) says otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

    /// The keychain "service" name under which [`probe`](Self::probe) writes its test entry.
    pub const PROBE_SERVICE: &'static str = "tessera:probe";

    /// The keychain "service" name of audit anchors (user: the log file's path).
    pub const ANCHOR_SERVICE: &'static str = "tessera:audit-anchor";

    /// A vault on the platform keychain with the default time limit (3 s).
    pub fn new() -> Self {
        Self::with_timeout(Self::DEFAULT_TIMEOUT)
    }

    /// A vault on the platform keychain whose calls fail with [`VaultError::Timeout`] after
    /// `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        // The store compiled into keyring for this platform, not the process-wide default
        // that `keyring::set_default_credential_builder` can replace (with a mock, say).
        let builder: Arc<CredentialBuilder> = Arc::from(keyring::default::default_credential_builder());
        Self { builder, timeout }
    }

    /// The time limit for one keychain call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Checks that the keychain works right now: writes, reads back and deletes an entry under
    /// [`PROBE_SERVICE`](Self::PROBE_SERVICE) with a fresh random user name and value. The
    /// engine calls this to pick the keychain or the memory tier, and shows the error's code to
    /// say why. Like every call, it is bounded by the time limit.
    pub async fn probe(&self) -> Result<(), VaultError> {
        // The pid tells whose entry it is: a process killed mid-probe leaves one behind, and
        // nobody else's probe may be mistaken for it.
        let user = format!("probe-{}-{}", std::process::id(), uuid::Uuid::new_v4());
        let value = uuid::Uuid::new_v4().to_string();
        self.call(move |entry_for| {
            let entry = entry_for(Self::PROBE_SERVICE, &user)?;
            entry.set_password(&value)?;
            let read = entry.get_password();
            // Delete before judging the read, so a failed probe leaves nothing behind.
            let deleted = entry.delete_credential();
            match read {
                Ok(read) if read == value => {}
                Ok(_) => return Ok(Err(VaultError::Failed("keychain probe read back a different value".into()))),
                Err(keyring::Error::NoEntry) => {
                    return Ok(Err(VaultError::Failed(
                        "keychain accepted the probe entry but then could not find it".into(),
                    )));
                }
                Err(err) => return Err(err),
            }
            deleted.map(Ok)
        })
        .await?
    }

    /// Runs `op` on the keychain worker under the time limit, with a way to build entries on
    /// the platform store, and maps keyring errors (other than `NoEntry`, which `op` handles).
    async fn call<T, F>(&self, op: F) -> Result<T, VaultError>
    where
        T: Send + 'static,
        F: Fn(EntryFor<'_>) -> keyring::Result<T> + Send + 'static,
    {
        let job = self.job(op)?;
        let outcome = worker()?.run(self.timeout, job).await;
        self.finish(outcome)
    }

    /// [`call`](Self::call) for a thread that may block (the audit log's appends and checks).
    fn call_blocking<T, F>(&self, op: F) -> Result<T, VaultError>
    where
        T: Send + 'static,
        F: Fn(EntryFor<'_>) -> keyring::Result<T> + Send + 'static,
    {
        let job = self.job(op)?;
        let outcome = worker()?.run_blocking(self.timeout, job);
        self.finish(outcome)
    }

    /// `op` as a job for the worker. When the keychain service disappears in the middle of the
    /// call (gnome-keyring crashed or was restarted), `op` runs once more: the bus starts a fresh
    /// daemon on demand, and every operation here is idempotent (set, get, delete of one entry).
    fn job<T, F>(&self, op: F) -> Result<impl FnOnce() -> keyring::Result<T> + Send + 'static, VaultError>
    where
        F: Fn(EntryFor<'_>) -> keyring::Result<T> + Send + 'static,
    {
        if !matches!(self.builder.persistence(), CredentialPersistence::UntilDelete) {
            return Err(VaultError::Unavailable(
                "this build has no persistent keychain store for this platform (keyring would use a mock)".into(),
            ));
        }
        let builder = Arc::clone(&self.builder);
        Ok(move || {
            let entry_for =
                |service: &str, user: &str| builder.build(None, service, user).map(keyring::Entry::new_with_credential);
            match op(&entry_for) {
                Err(err) if service_went_away(&err) => {
                    tracing::info!("the keychain service went away during a call; trying once more");
                    op(&entry_for)
                }
                result => result,
            }
        })
    }

    /// What the caller gets from the worker's outcome.
    fn finish<T>(&self, outcome: Result<keyring::Result<T>, WorkerError>) -> Result<T, VaultError> {
        match outcome {
            Ok(result) => result.map_err(vault_error),
            Err(WorkerError::TimedOut { started }) => {
                if started {
                    tracing::warn!("a keychain call timed out while running; it completes before any later call");
                }
                Err(VaultError::Timeout(whole_seconds_up(self.timeout)))
            }
            // The worker is stuck in one call with a full queue behind it: the keychain is not
            // answering, and waiting longer would only add to the pile.
            Err(WorkerError::Busy) => Err(VaultError::Timeout(whole_seconds_up(self.timeout))),
            Err(WorkerError::Lost) => Err(VaultError::Failed("keychain call did not complete".into())),
        }
    }
}

impl Default for KeychainVault {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for KeychainVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeychainVault").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Vault for KeychainVault {
    async fn load(&self, key: &Account) -> Result<Option<VaultRecord>, VaultError> {
        let (service, user) = (key.keychain_service(), key.username().to_owned());
        let payload = self
            .call(move |entry_for| match entry_for(&service, &user)?.get_password() {
                Ok(payload) => Ok(Some(payload)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(err) => Err(err),
            })
            .await?;
        payload.map(|p| VaultRecord::from_payload(&p)).transpose()
    }

    async fn store(&self, record: &VaultRecord) -> Result<(), VaultError> {
        let key = record.key();
        let (service, user, payload) = (key.keychain_service(), key.username().to_owned(), record.to_payload());
        self.call(move |entry_for| entry_for(&service, &user)?.set_password(&payload)).await
    }

    async fn delete(&self, key: &Account) -> Result<(), VaultError> {
        let (service, user) = (key.keychain_service(), key.username().to_owned());
        self.call(move |entry_for| match entry_for(&service, &user)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(err),
        })
        .await
    }

    fn tier(&self) -> StorageTier {
        StorageTier::Keychain
    }

    fn anchor_store(&self) -> Option<Arc<dyn AnchorStore>> {
        Some(Arc::new(self.clone()))
    }
}

impl AnchorStore for KeychainVault {
    fn load_anchor(&self, log: &Path) -> Result<Option<AuditAnchor>, VaultError> {
        let user = log.to_string_lossy().into_owned();
        let payload =
            self.call_blocking(move |entry_for| match entry_for(Self::ANCHOR_SERVICE, &user)?.get_password() {
                Ok(payload) => Ok(Some(payload)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(err) => Err(err),
            })?;
        payload.map(|p| AuditAnchor::from_payload(&p)).transpose()
    }

    fn store_anchor(&self, log: &Path, anchor: &AuditAnchor) -> Result<(), VaultError> {
        let (user, payload) = (log.to_string_lossy().into_owned(), anchor.to_payload());
        self.call_blocking(move |entry_for| entry_for(Self::ANCHOR_SERVICE, &user)?.set_password(&payload))
    }
}

/// `VaultError::Timeout` counts whole seconds; a sub-second limit must not read "0 s".
fn whole_seconds_up(timeout: Duration) -> u64 {
    timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0)
}

/// Maps a keyring error to a [`VaultError`]. `NoEntry` is handled by each caller (it means
/// "nothing stored", not a failure); reaching this function with it is a keychain failure.
fn vault_error(err: keyring::Error) -> VaultError {
    let text = err.to_string();
    match err {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            // The Debug form carries the D-Bus error name (e.g. `org.freedesktop.DBus.Error.
            // ServiceUnknown`), which the Display form leaves out: classify on both.
            match classify_platform_text(&format!("{text} {inner:?}")) {
                PlatformProblem::Unavailable => VaultError::Unavailable(text),
                PlatformProblem::Locked => VaultError::Locked(text),
                PlatformProblem::Other => VaultError::Failed(text),
            }
        }
        keyring::Error::BadEncoding(_) => VaultError::Corrupt("the keychain entry is not UTF-8 text".into()),
        keyring::Error::Ambiguous(matches) => VaultError::Failed(format!(
            "{} keychain entries match this server and user; remove the duplicates",
            matches.len()
        )),
        // TooLong, Invalid, NoEntry and variants added to keyring later: the message says which.
        _ => VaultError::Failed(text),
    }
}

/// Whether the keychain service vanished while answering (it crashed or was restarted), as
/// opposed to refusing: D-Bus `NoReply` ("Message recipient disconnected from message bus
/// without replying"), measured with gnome-keyring 42.1 aborting mid-call.
fn service_went_away(err: &keyring::Error) -> bool {
    match err {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            let text = format!("{err} {inner:?}").to_lowercase();
            GONE_MARKERS.iter().any(|m| text.contains(m))
        }
        _ => false,
    }
}

/// Fragments (lower case) of the errors [`service_went_away`] looks for.
const GONE_MARKERS: &[&str] = &["disconnected from message bus without replying", "org.freedesktop.dbus.error.noreply"];

/// What the text of a platform keychain error says about the keychain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlatformProblem {
    /// There is no keychain to talk to (no session bus, no Secret Service provider, no keyring).
    Unavailable,
    /// The keychain is there but locked, and was not unlocked.
    Locked,
    /// Anything else.
    Other,
}

/// Fragments of platform error texts that mean "no keychain here". Measured on Debian 12 with
/// keyring 3.6 / dbus-secret-service 4.1 unless marked otherwise.
const UNAVAILABLE_MARKERS: &[&str] = &[
    // No session bus, and no X display to autolaunch one.
    "Unable to autolaunch a dbus-daemon",
    "DBUS_SESSION_BUS_ADDRESS",
    // DBUS_SESSION_BUS_ADDRESS names a socket nobody listens on.
    "Failed to connect to socket",
    "org.freedesktop.DBus.Error.NoServer",
    // A session bus, but nothing provides the Secret Service.
    "org.freedesktop.secrets was not provided",
    "ServiceUnknown",
    // dbus-secret-service's own "nothing there" error.
    "No DBus session or Secret Service provider found",
    // A Secret Service with no collection to store into (e.g. gnome-keyring started without a
    // login keyring and no display to prompt for creating one).
    "Secret Service: no result found",
    // macOS (not measured here): no default keychain.
    "default keychain could not be found",
];

/// Fragments that mean "the keychain is locked". Compared case-insensitively, after
/// [`UNAVAILABLE_MARKERS`]; the word "locked" on its own counts too (but not "blocked" or
/// "unlocked").
const LOCKED_MARKERS: &[&str] = &[
    // Creating an entry in a locked gnome-keyring collection.
    "cannot create an item in a locked collection",
    "org.freedesktop.secret.error.islocked",
    // Reading, replacing or deleting an entry in a locked collection: the unlock prompt could
    // not be shown (no display) or the user dismissed it.
    "prompt was dismissed",
    "prompt dismissed",
    "object locked",
    // macOS (not measured here): the keychain is locked and may not prompt.
    "user interaction is not allowed",
];

/// Classifies a platform error by its text. Pure, so the exact texts users see are pinned in
/// tests; see [`UNAVAILABLE_MARKERS`] and [`LOCKED_MARKERS`].
fn classify_platform_text(text: &str) -> PlatformProblem {
    let lower = text.to_lowercase();
    if UNAVAILABLE_MARKERS.iter().any(|m| lower.contains(&m.to_lowercase())) {
        PlatformProblem::Unavailable
    } else if LOCKED_MARKERS.iter().any(|m| lower.contains(m))
        || lower.split(|c: char| !c.is_alphanumeric()).any(|word| word == "locked")
    {
        PlatformProblem::Locked
    } else {
        PlatformProblem::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts keyring 3.6 produced on this machine (see SETUP-NOTES.md), Display then Debug.
    const NO_BUS: &str = "Platform secure storage failure: DBus error: Unable to autolaunch a dbus-daemon without a $DISPLAY for X11 PlatformFailure(Dbus(D-Bus error: Unable to autolaunch a dbus-daemon without a $DISPLAY for X11 (org.freedesktop.DBus.Error.NotSupported)))";
    const DEAD_BUS: &str = "Platform secure storage failure: DBus error: Failed to connect to socket /tmp/nonexistent-sock: No such file or directory";
    const NO_PROVIDER: &str = "Platform secure storage failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files";
    const NO_COLLECTION: &str = "Couldn't access platform secure storage: Secret Service: no result found NoResult";
    const LOCKED_CREATE: &str = "Platform secure storage failure: DBus error: Cannot create an item in a locked collection PlatformFailure(Dbus(D-Bus error: Cannot create an item in a locked collection (org.freedesktop.Secret.Error.IsLocked)))";
    const LOCKED_PROMPT: &str =
        "Couldn't access platform secure storage: Secret Service: unlock prompt was dismissed Prompt";

    #[test]
    fn no_session_bus_or_provider_is_unavailable() {
        for text in [NO_BUS, DEAD_BUS, NO_PROVIDER, NO_COLLECTION, "DBUS_SESSION_BUS_ADDRESS not set"] {
            assert_eq!(classify_platform_text(text), PlatformProblem::Unavailable, "must be unavailable: {text}");
        }
        assert_eq!(
            classify_platform_text("D-Bus error: x (org.freedesktop.DBus.Error.ServiceUnknown)"),
            PlatformProblem::Unavailable,
            "the D-Bus error name alone must be enough"
        );
    }

    #[test]
    fn locked_collection_or_dismissed_prompt_is_locked() {
        for text in [LOCKED_CREATE, LOCKED_PROMPT, "Secret Service: object locked", "Keychain is locked."] {
            assert_eq!(classify_platform_text(text), PlatformProblem::Locked, "must be locked: {text}");
        }
    }

    #[test]
    fn other_platform_texts_are_not_guessed() {
        // libdbus after 25 s without an answer: "blocked" must not read as "locked".
        let no_reply = "DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply, the message bus security policy blocked the reply, the reply timeout expired, or the network connection was broken.";
        for text in
            [no_reply, "DBus error: Crypto error: bad padding", "Collection is unlocked", "Unexpected Error: Parse", ""]
        {
            assert_eq!(classify_platform_text(text), PlatformProblem::Other, "must not be classified: {text:?}");
        }
    }

    #[test]
    fn keyring_errors_map_to_stable_codes() {
        let platform = |text: &str| keyring::Error::PlatformFailure(Box::new(std::io::Error::other(text.to_owned())));
        let access = |text: &str| keyring::Error::NoStorageAccess(Box::new(std::io::Error::other(text.to_owned())));
        let cases = [
            (platform("Unable to autolaunch a dbus-daemon without a $DISPLAY for X11"), "keychain_unavailable"),
            (platform("Cannot create an item in a locked collection"), "keychain_locked"),
            (access("Secret Service: unlock prompt was dismissed"), "keychain_locked"),
            (access("The name org.freedesktop.secrets was not provided by any .service files"), "keychain_unavailable"),
            (platform("something new"), "keychain_failed"),
            (keyring::Error::BadEncoding(vec![0xff]), "keychain_corrupt"),
            (keyring::Error::TooLong("service".into(), 255), "keychain_failed"),
            (keyring::Error::Invalid("user".into(), "empty".into()), "keychain_failed"),
            (keyring::Error::Ambiguous(Vec::new()), "keychain_failed"),
        ];
        for (err, code) in cases {
            let shown = err.to_string();
            let mapped = vault_error(err);
            assert_eq!(mapped.code(), code, "{shown} must map to {code}, got {mapped:?}");
        }
    }

    #[test]
    fn a_keychain_service_that_vanished_mid_call_is_retried_and_nothing_else_is() {
        let platform = |text: &str| keyring::Error::PlatformFailure(Box::new(std::io::Error::other(text.to_owned())));
        // The text the CLI's SIGKILL test got when gnome-keyring 42.1 aborted under it.
        let gone = "DBus error: Message recipient disconnected from message bus without replying";
        assert!(service_went_away(&platform(gone)));
        assert!(service_went_away(&platform("D-Bus error (org.freedesktop.DBus.Error.NoReply)")));
        for other in [NO_BUS, DEAD_BUS, NO_PROVIDER, LOCKED_CREATE, "something new"] {
            assert!(!service_went_away(&platform(other)), "{other} is not retried");
        }
        assert!(!service_went_away(&keyring::Error::NoEntry));
        // Still a keychain failure if the second attempt meets the same.
        assert_eq!(vault_error(platform(gone)).code(), "keychain_failed");
    }

    #[test]
    fn this_build_uses_a_persistent_platform_store() {
        // keyring 3 without platform features falls back to a mock that forgets everything.
        let persistence = keyring::default::default_credential_builder().persistence();
        assert!(
            matches!(persistence, CredentialPersistence::UntilDelete),
            "the keyring platform store must persist entries until deleted: check keyring's platform features"
        );
    }

    #[test]
    fn timeout_reports_whole_seconds_rounded_up() {
        assert_eq!(whole_seconds_up(Duration::from_secs(3)), 3, "exact seconds stay as they are");
        assert_eq!(whole_seconds_up(Duration::from_millis(200)), 1, "a sub-second limit must not read 0 s");
    }

    #[test]
    fn debug_and_tier() {
        let vault = KeychainVault::with_timeout(Duration::from_secs(7));
        assert_eq!(vault.timeout(), Duration::from_secs(7), "with_timeout must set the limit");
        assert_eq!(KeychainVault::new().timeout(), KeychainVault::DEFAULT_TIMEOUT, "new uses the default limit");
        assert_eq!(vault.tier(), StorageTier::Keychain, "a keychain vault reports the keychain tier");
        assert!(format!("{vault:?}").starts_with("KeychainVault"), "Debug names the type");
    }
}
