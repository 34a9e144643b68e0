//! The Linux installers as a user gets them: `tools/package` builds the `.deb` and `.rpm` (signed
//! with a throwaway key), and this test checks the signed checksum list, the packages'
//! metadata and declared dependencies, unpacks the `.deb`, starts the installed binary on an X
//! server of its own and sees the sign-in window through WebKitWebDriver, and feeds the real
//! `.deb` and its Tauri-CLI signature to the app's updater.
//!
//! Building the packages takes minutes, so the tests are `#[ignore]`d; `tools/test` (the README's
//! test command) builds them with `tools/package --test-key` *before* it starts `cargo test`,
//! passes their directory in `TESSERA_PACKAGE_DIR` and runs these tests with `--include-ignored`. A test never builds them itself: a `tauri build` inside a test is a nested
//! cargo on the same target directory (older cargo held that directory's lock while tests ran, so
//! it waited for ever; cargo 1.95 releases it), and it would compete for the two cores with the
//! webview tests running beside it, its output hidden until it fails.
#![cfg(target_os = "linux")]
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

mod release;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use support::{Bus, Driver, Home, ONE_APP_AT_A_TIME, Xvfb};
use tessera_app::updates::fetch_verified;

/// The directory `tools/package --test-key` wrote, named by `TESSERA_PACKAGE_DIR`.
fn packages() -> PathBuf {
    let dir = std::env::var_os("TESSERA_PACKAGE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "TESSERA_PACKAGE_DIR is not set: run tools/test, or `tools/package --test-key --out DIR` \
             first and set TESSERA_PACKAGE_DIR=DIR (tests do not build packages themselves)"
        )
    });
    assert!(dir.join("SHA256SUMS").is_file(), "{} has no SHA256SUMS: not a tools/package output", dir.display());
    dir
}

fn one(dir: &Path, ext: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("package dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert_eq!(found.len(), 1, "exactly one .{ext} in {}: {found:?}", dir.display());
    found[0].clone()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn deb_field(deb: &Path, field: &str) -> String {
    run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field))
}

#[test]
#[ignore = "builds the release packages (minutes); tools/test runs it"]
fn checksums_are_signed_and_verify() {
    let dir = packages();
    let verify = |sums: &Path| {
        Command::new("minisign")
            .arg("-Vm")
            .arg(sums)
            .arg("-x")
            .arg(dir.join("SHA256SUMS.minisig"))
            .arg("-p")
            .arg(dir.join("tessera-updater.pub"))
            .output()
            .expect("minisign (tools/setup installs it)")
    };
    let ok = verify(&dir.join("SHA256SUMS"));
    assert!(ok.status.success(), "the signed SHA256SUMS must verify: {}", String::from_utf8_lossy(&ok.stderr));
    run(Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(&dir));

    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("SHA256SUMS");
    for listed in [".deb", ".deb.sig", ".rpm", ".rpm.sig", "latest.json", "tessera-updater.pub"] {
        assert!(sums.lines().any(|l| l.ends_with(listed)), "SHA256SUMS must list the {listed} file:\n{sums}");
    }
    let forged = tempfile::tempdir().expect("temp dir");
    let forged_sums = forged.path().join("SHA256SUMS");
    std::fs::write(&forged_sums, sums.replacen(&sums[..1], if &sums[..1] == "0" { "1" } else { "0" }, 1))
        .expect("write");
    let bad = verify(&forged_sums);
    assert!(!bad.status.success(), "a changed checksum list must not verify");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Signature verification failed"), "minisign says why");
}

#[test]
#[ignore = "builds the release packages (minutes); tools/test runs it"]
fn deb_and_rpm_declare_metadata_and_dependencies() {
    let dir = packages();
    let deb = one(&dir, "deb");
    assert_eq!(deb_field(&deb, "Package"), "tessera", "package name");
    assert_eq!(deb_field(&deb, "Version"), env!("CARGO_PKG_VERSION"), "package version is the app's");
    assert_eq!(deb_field(&deb, "Section"), "utils", "section");
    assert!(
        deb_field(&deb, "Description").starts_with("Keeps support staff signed in safely"),
        "short description first"
    );
    assert!(deb_field(&deb, "Description").contains("refresh token in the OS keychain"), "long description follows");
    assert_eq!(deb_field(&deb, "Homepage"), "https://example.invalid/tessera", "homepage");
    assert_eq!(deb_field(&deb, "Architecture"), "amd64", "architecture");
    let depends = deb_field(&deb, "Depends");
    for needed in ["libwebkit2gtk-4.1-0", "libgtk-3-0", "libayatana-appindicator3-1", "libdbus-1-3"] {
        assert!(depends.split(", ").any(|d| d.starts_with(needed)), "Depends must name {needed}: {depends}");
    }
    let names: Vec<&str> = depends.split(", ").collect();
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), unique.len(), "no dependency is listed twice: {depends}");
    let recommends = deb_field(&deb, "Recommends");
    assert!(recommends.contains("gnome-keyring"), "a Secret Service provider is recommended: {recommends}");
    assert!(!depends.contains("gnome-keyring"), "a keyring is recommended, not required (the app runs memory-only)");

    // Every library the binary links must come from a declared dependency (directly or through
    // one): what the installed binary needs, apt can resolve on this distribution.
    let unpacked = tempfile::tempdir().expect("temp dir");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(unpacked.path()));
    let binary = unpacked.path().join("usr/bin/tessera-app");
    let needed = run(Command::new("objdump").arg("-p").arg(&binary));
    for (lib, package) in [
        ("libwebkit2gtk-4.1.so.0", "libwebkit2gtk-4.1-0"),
        ("libgtk-3.so.0", "libgtk-3-0"),
        ("libdbus-1.so.3", "libdbus-1-3"),
    ] {
        if needed.contains(lib) {
            assert!(depends.contains(package), "the binary links {lib}: Depends must name {package}");
        }
    }
    let simulate = Command::new("apt-get")
        .args(["install", "--simulate", "--no-install-recommends"])
        .arg(&deb)
        .output()
        .expect("apt-get");
    assert!(
        simulate.status.success(),
        "apt must resolve the .deb's dependencies: {}",
        String::from_utf8_lossy(&simulate.stderr)
    );

    let desktop =
        std::fs::read_to_string(unpacked.path().join("usr/share/applications/Tessera.desktop")).expect("desktop entry");
    for line in ["Name=Tessera", "Exec=tessera-app", "Icon=tessera-app", "Categories=Utility;"] {
        assert!(desktop.lines().any(|l| l == line), "desktop entry must have {line}:\n{desktop}");
    }
    for size in ["32x32", "64x64", "128x128", "512x512"] {
        let icon = unpacked.path().join(format!("usr/share/icons/hicolor/{size}/apps/tessera-app.png"));
        assert!(icon.is_file(), "icon {size} must be installed at {}", icon.display());
    }

    let rpm = one(&dir, "rpm");
    // `rpm` (tools/setup) reads the header; the package is not installed.
    let info = run(Command::new("rpm").args(["-qp", "--qf", "%{NAME} %{VERSION} %{LICENSE} %{URL}\n"]).arg(&rpm));
    assert_eq!(
        info,
        format!("tessera {} Apache-2.0 https://example.invalid/tessera", env!("CARGO_PKG_VERSION")),
        "rpm header"
    );
    let requires = run(Command::new("rpm").args(["-qp", "--requires"]).arg(&rpm));
    // Library names (sonames) rather than one distribution's package names: they resolve on
    // Fedora, openSUSE and RHEL alike.
    for needed in ["libwebkit2gtk-4.1.so.0", "libgtk-3.so.0", "libayatana-appindicator3.so.1", "libdbus-1.so.3"] {
        assert!(requires.lines().any(|l| l.starts_with(needed)), "rpm must require {needed}:\n{requires}");
    }
    let recommends = run(Command::new("rpm").args(["-qp", "--recommends"]).arg(&rpm));
    assert!(recommends.contains("gnome-keyring"), "a Secret Service provider is recommended: {recommends}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "builds the release packages (minutes); tools/test runs it"]
async fn installed_app_opens_its_sign_in_window() {
    let dir = packages();
    let unpacked = tempfile::tempdir().expect("temp dir");
    run(Command::new("dpkg-deb").arg("-x").arg(one(&dir, "deb")).arg(unpacked.path()));
    let binary = unpacked.path().join("usr/bin/tessera-app");

    let _one = ONE_APP_AT_A_TIME.lock().await;
    let x = Xvfb::start();
    let home = Home::new();
    let driver = Driver::start(&x, &home, Bus::Inherit, &[("TESSERA_SERVER_URL", "http://127.0.0.1:9")]).await;
    let app = driver.launch_binary(&binary, &[]).await;
    let title = app.visible_text("signin-title", "the installed app's sign-in screen").await;
    assert!(!title.is_empty(), "the sign-in screen has a title");
    let page = app.js("return document.title", json!([])).await;
    assert_eq!(page, "Tessera", "the window shows the app's own page");
    app.close().await;
}

#[test]
#[ignore = "builds the release packages (minutes); tools/test runs it"]
fn installed_app_trusts_the_build_key_not_the_development_key() {
    // tools/package embeds the key it signs with (here the throwaway test key; for a release
    // TESSERA_RELEASE_PUBKEY) through a --config overlay; the development key in tauri.conf.json,
    // whose private half is in the repository, must not be in a package.
    let dir = packages();
    let unpacked = tempfile::tempdir().expect("temp dir");
    run(Command::new("dpkg-deb").arg("-x").arg(one(&dir, "deb")).arg(unpacked.path()));
    let binary = std::fs::read(unpacked.path().join("usr/bin/tessera-app")).expect("installed binary");
    let contains = |key: &str| binary.windows(key.len()).any(|w| w == key.as_bytes());
    let build_key =
        std::fs::read_to_string(dir.join("test-key/tessera-test.key.pub")).expect("the test key's public half");
    assert!(contains(build_key.trim()), "the installed app must trust the key the package was signed with");
    let dev_key = include_str!("../updater-dev.key.pub").trim();
    assert!(!contains(dev_key), "the development key must not be embedded in a package");
}

#[tokio::test]
#[ignore = "builds the release packages (minutes); tools/test runs it"]
async fn updater_accepts_the_cli_signed_deb_and_rejects_it_tampered() {
    let dir = packages();
    let deb = one(&dir, "deb");
    let bytes = std::fs::read(&deb).expect("read .deb");
    let signature = std::fs::read_to_string(deb.with_extension("deb.sig")).expect(".deb.sig");
    let pubkey =
        std::fs::read_to_string(dir.join("test-key/tessera-test.key.pub")).expect("the test key's public half");

    let mut tampered = bytes.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x55;
    let artifacts =
        release::serve(release::Files::from([("good.deb".into(), bytes.clone()), ("bad.deb".into(), tampered)])).await;
    let version = env!("CARGO_PKG_VERSION");
    let good = release::serve(release::Files::from([(
        "latest.json".into(),
        release::latest_json(version, &format!("{artifacts}/good.deb"), &signature),
    )]))
    .await;
    let bad = release::serve(release::Files::from([(
        "latest.json".into(),
        release::latest_json(version, &format!("{artifacts}/bad.deb"), &signature),
    )]))
    .await;

    // The running app is older than the package.
    let app = release::app(pubkey.trim(), "0.0.1");
    let update = fetch_verified(app.handle(), Some(release::endpoint(&good)))
        .await
        .expect("the .deb signed by tools/package must verify")
        .expect("the package's version is newer");
    assert_eq!(update.artifact, bytes, "the verified download is the .deb");
    let err = fetch_verified(app.handle(), Some(release::endpoint(&bad))).await.expect_err("a changed .deb must fail");
    assert!(matches!(err, tauri_plugin_updater::Error::Minisign(_)), "signature verification refuses it: {err:?}");
}
