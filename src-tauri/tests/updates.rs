//! Signed updates, end to end through the real updater plugin: a release server on loopback
//! serves `latest.json` and an artifact signed with a throwaway minisign key (the format
//! `tauri signer sign` writes); the app finds the newer version, downloads it and verifies the
//! signature. Tampered bytes, a foreign key and a signature made for another version are refused.
//! The installer test (`installers.rs`) repeats the check with the real `.deb` and the `.sig`
//! that `tools/package` signed with the Tauri CLI.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

mod release;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tessera_app::updates::fetch_verified;

/// A throwaway key pair, generated per test; nothing is written to disk.
struct Key(minisign::KeyPair);

impl Key {
    fn new() -> Self {
        Self(minisign::KeyPair::generate_unencrypted_keypair().expect("key pair"))
    }

    /// The development key pair committed in `src-tauri/` (`tauri signer generate`, password
    /// `tessera-dev`): its public half is the one `tauri.conf.json` holds.
    fn development() -> Self {
        let text = |b64: &str| String::from_utf8(STANDARD.decode(b64.trim()).expect("base64")).expect("utf-8");
        let sk = minisign::SecretKeyBox::from_string(&text(include_str!("../updater-dev.key")))
            .and_then(|b| b.into_secret_key(Some("tessera-dev".into())))
            .expect("updater-dev.key is a minisign secret key with the password tessera-dev");
        let pk = minisign::PublicKeyBox::from_string(&text(include_str!("../updater-dev.key.pub")))
            .and_then(|b| b.into_public_key())
            .expect("updater-dev.key.pub is a minisign public key");
        Self(minisign::KeyPair { pk, sk })
    }

    /// The public key as `plugins.updater.pubkey` holds it: base64 of the minisign `.pub` file.
    fn pubkey(&self) -> String {
        STANDARD.encode(self.0.pk.to_box().expect("pk box").into_string())
    }

    /// An updater signature as the Tauri CLI writes it: base64 of the minisign signature file,
    /// the version in the trusted comment.
    fn sign(&self, data: &[u8], file: &str, version: &str) -> String {
        let comment = format!("timestamp:1763812800\tfile:{file}\tversion:{version}");
        let sig = minisign::sign(Some(&self.0.pk), &self.0.sk, data, Some(&comment), None).expect("sign");
        STANDARD.encode(sig.into_string())
    }
}

const ARTIFACT: &[u8] = b"pretend this is Tessera_0.2.0_amd64.deb";

async fn release_server(version: &str, artifact: &[u8], signature: &str) -> String {
    // The URL is only known once bound: serve latest.json from a second server pointing at the first.
    let files = release::Files::from([("tessera.deb".to_owned(), artifact.to_vec())]);
    let artifacts = release::serve(files).await;
    let manifest = release::latest_json(version, &format!("{artifacts}/tessera.deb"), signature);
    release::serve(release::Files::from([("latest.json".to_owned(), manifest)])).await
}

#[tokio::test]
async fn app_finds_a_newer_signed_release_and_verifies_it() {
    let key = Key::new();
    let base = release_server("0.2.0", ARTIFACT, &key.sign(ARTIFACT, "tessera.deb", "0.2.0")).await;
    let app = release::app(&key.pubkey(), "0.1.0");
    let update = fetch_verified(app.handle(), Some(release::endpoint(&base)))
        .await
        .expect("a correctly signed update must pass verification")
        .expect("0.2.0 is newer than the running 0.1.0");
    assert_eq!(update.version, "0.2.0", "the announced version is the one offered");
    assert_eq!(update.current_version, "0.1.0", "the running version is the mock app's");
    assert_eq!(update.artifact, ARTIFACT, "the verified bytes are exactly what was signed");
}

#[tokio::test]
async fn an_app_that_is_up_to_date_downloads_nothing() {
    let key = Key::new();
    let base = release_server("0.1.0", ARTIFACT, &key.sign(ARTIFACT, "tessera.deb", "0.1.0")).await;
    let app = release::app(&key.pubkey(), "0.1.0");
    let update = fetch_verified(app.handle(), Some(release::endpoint(&base))).await.expect("check succeeds");
    assert!(update.is_none(), "the same version must not be offered as an update");
}

#[tokio::test]
async fn a_tampered_artifact_is_rejected() {
    let key = Key::new();
    let signature = key.sign(ARTIFACT, "tessera.deb", "0.2.0");
    let mut tampered = ARTIFACT.to_vec();
    tampered[0] ^= 1;
    let base = release_server("0.2.0", &tampered, &signature).await;
    let app = release::app(&key.pubkey(), "0.1.0");
    let err =
        fetch_verified(app.handle(), Some(release::endpoint(&base))).await.expect_err("one flipped bit must fail");
    assert!(matches!(err, tauri_plugin_updater::Error::Minisign(_)), "must fail in signature verification: {err:?}");
    assert_eq!(err.to_string(), "The signature verification failed", "the user-facing error names the cause");
}

#[tokio::test]
async fn an_artifact_signed_with_another_key_is_rejected() {
    let (trusted, attacker) = (Key::new(), Key::new());
    let base = release_server("0.2.0", ARTIFACT, &attacker.sign(ARTIFACT, "tessera.deb", "0.2.0")).await;
    let app = release::app(&trusted.pubkey(), "0.1.0");
    let err = fetch_verified(app.handle(), Some(release::endpoint(&base))).await.expect_err("a foreign key must fail");
    assert!(matches!(err, tauri_plugin_updater::Error::Minisign(_)), "must fail in signature verification: {err:?}");
}

#[tokio::test]
async fn an_old_release_announced_as_new_is_rejected() {
    // A genuine, validly signed 0.1.0 artifact offered under the version number 0.2.0 (a downgrade
    // attack through an unsigned latest.json): the signed version must match the announced one.
    let key = Key::new();
    let base = release_server("0.2.0", ARTIFACT, &key.sign(ARTIFACT, "tessera.deb", "0.1.0")).await;
    let app = release::app(&key.pubkey(), "0.1.0");
    let err =
        fetch_verified(app.handle(), Some(release::endpoint(&base))).await.expect_err("version mismatch must fail");
    assert!(
        matches!(err, tauri_plugin_updater::Error::SignedVersionMismatch { .. }),
        "requireSignedVersion must refuse the mismatch: {err:?}"
    );
}

#[test]
fn in_repo_updater_config_is_https_with_the_development_key() {
    let conf: serde_json::Value =
        serde_json::from_str(include_str!("../tauri.conf.json")).expect("tauri.conf.json is JSON");
    let updater = conf["plugins"]["updater"].clone();
    let parsed: tauri_plugin_updater::Config = serde_json::from_value(updater.clone())
        .expect("plugins.updater parses as the plugin's config (HTTPS endpoints only)");
    assert!(!parsed.endpoints.is_empty(), "the app must know where to look for updates");
    assert!(parsed.endpoints.iter().all(|u| u.scheme() == "https"), "production endpoints must be HTTPS");
    assert!(parsed.require_signed_version, "the signed version must be checked against latest.json");
    let decoded = STANDARD.decode(&parsed.pubkey).expect("pubkey is base64");
    let text = String::from_utf8(decoded).expect("pubkey decodes to the minisign .pub text");
    minisign::PublicKeyBox::from_string(&text)
        .and_then(|b| b.into_public_key())
        .expect("pubkey is a minisign public key");
    // Releases replace it with the team's key (tools/package, release.yml: TESSERA_RELEASE_PUBKEY)
    // and refuse this one; a build from the repository alone trusts only the development key.
    assert_eq!(
        parsed.pubkey,
        include_str!("../updater-dev.key.pub").trim(),
        "the key in tauri.conf.json must be the development key, never a release key"
    );
}

#[tokio::test]
async fn a_build_from_the_repository_accepts_updates_signed_with_the_development_key() {
    // The development pair really is a pair: a local `tauri build` signed with
    // src-tauri/updater-dev.key verifies against the key tauri.conf.json embeds.
    let conf: serde_json::Value = serde_json::from_str(include_str!("../tauri.conf.json")).expect("tauri.conf.json");
    let embedded = conf["plugins"]["updater"]["pubkey"].as_str().expect("pubkey");
    let key = Key::development();
    let base = release_server("0.2.0", ARTIFACT, &key.sign(ARTIFACT, "tessera.deb", "0.2.0")).await;
    let app = release::app(embedded, "0.1.0");
    let update = fetch_verified(app.handle(), Some(release::endpoint(&base))).await;
    assert!(
        matches!(update, Ok(Some(_))),
        "the development key pair must sign what the embedded key verifies: {update:?}"
    );
}
