//! The release configuration that cannot run here (Windows and macOS installers, the release
//! workflow) is at least checked for shape: each platform's merged Tauri config (the CLI's own
//! JSON Merge Patch of `tauri.<platform>.conf.json` over `tauri.conf.json`) parses as Tauri's
//! config type and validates against the JSON schema shipped with the pinned CLI, and the
//! workflow's YAML has the jobs, matrix and secrets that docs/release.md describes.
#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tauri::utils::config::Config;
use tauri::utils::config::parse::read_from;
use tauri::utils::platform::Target;

fn src_tauri() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The config the CLI builds with on `target`, as JSON and as Tauri's typed config.
fn merged(target: Target) -> (Value, Config) {
    let (value, files) = read_from(target, &src_tauri()).expect("tauri.conf.json and the platform file parse");
    assert_eq!(files.len(), 2, "{target:?} must have its own platform file merged in: {files:?}");
    let config: Config = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("the merged {target:?} config must be a valid Tauri 2 config: {e}"));
    (value, config)
}

#[test]
fn linux_bundles_deb_and_rpm_with_metadata_and_updater_artifacts() {
    let (value, config) = merged(Target::Linux);
    let bundle = &value["bundle"];
    assert_eq!(
        bundle["targets"],
        serde_json::json!(["deb", "rpm"]),
        "Linux builds .deb and .rpm here (AppImage in CI)"
    );
    assert_eq!(bundle["createUpdaterArtifacts"], true, "installers must be signed for the updater");
    assert_eq!(config.identifier, "dev.tessera.desktop", "identifier");
    assert!(
        !config.identifier.ends_with(".app"),
        "an identifier ending in .app clashes with the macOS bundle extension"
    );
    for field in ["publisher", "license", "homepage", "shortDescription", "longDescription", "category", "copyright"] {
        assert!(bundle[field].as_str().is_some_and(|s| !s.is_empty()), "bundle.{field} must be set");
    }
    assert_eq!(bundle["license"], "Apache-2.0", "the workspace licence");
    for icon in bundle["icon"].as_array().expect("icon list") {
        let path = src_tauri().join(icon.as_str().expect("path"));
        assert!(path.is_file(), "bundle icon {} must exist", path.display());
    }
}

#[test]
fn windows_installers_are_authenticode_signed_and_timestamped() {
    let (value, config) = merged(Target::Windows);
    assert_eq!(value["bundle"]["targets"], serde_json::json!(["msi", "nsis"]), "Windows builds MSI and NSIS");
    let windows = &config.bundle.windows;
    assert_eq!(windows.digest_algorithm.as_deref(), Some("sha256"), "SHA-256 Authenticode digests");
    assert!(windows.timestamp_url.as_deref().is_some_and(|u| u.starts_with("http")), "signatures must be timestamped");
    assert!(
        windows.certificate_thumbprint.is_none() && windows.sign_command.is_none(),
        "the thumbprint comes from the release workflow (--config), never from the repository"
    );
    assert_eq!(value["plugins"]["updater"]["windows"]["installMode"], "passive", "updates install with a progress bar");
    assert!(
        value["plugins"]["updater"]["pubkey"].as_str().is_some_and(|k| !k.is_empty()),
        "the merge keeps the updater key"
    );
}

#[test]
fn macos_app_is_hardened_with_entitlements_and_a_minimum_version() {
    let (value, config) = merged(Target::MacOS);
    assert_eq!(value["bundle"]["targets"], serde_json::json!(["app", "dmg"]), "macOS builds the app and a DMG");
    let mac = &config.bundle.macos;
    assert!(mac.hardened_runtime, "notarization requires the hardened runtime");
    assert_eq!(mac.minimum_system_version.as_deref(), Some("10.15"), "minimum macOS");
    let entitlements = mac.entitlements.as_deref().expect("an entitlements file");
    let plist = std::fs::read_to_string(src_tauri().join(entitlements)).expect("entitlements file exists");
    assert!(plist.contains("<plist") && plist.contains("com.apple.security.network.client"), "entitlements plist");
    assert!(mac.signing_identity.is_none(), "the identity comes from APPLE_SIGNING_IDENTITY, not the repository");
}

/// `python3 -c SCRIPT ARGS…` → its stdout; `None` when python3 or the module is missing.
fn python(script: &str, args: &[&Path]) -> Option<String> {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ModuleNotFoundError"), "python check failed: {err}");
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn every_platform_config_validates_against_the_pinned_cli_schema() {
    let schema = src_tauri().join("../node_modules/@tauri-apps/cli/config.schema.json");
    assert!(schema.is_file(), "{} is missing: run `npm ci` (tools/test and tools/package do)", schema.display());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for target in [Target::Linux, Target::Windows, Target::MacOS] {
        let file = dir.path().join(format!("{target:?}.json"));
        std::fs::write(&file, serde_json::to_vec(&merged(target).0).expect("json")).expect("write");
        files.push(file);
    }
    let mut args = vec![schema.as_path()];
    args.extend(files.iter().map(PathBuf::as_path));
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  for f in sys.argv[2:]:\n    jsonschema.validate(json.load(open(f)), schema)\n\
                  print('ok')";
    let out = python(script, &args).expect("python3 with jsonschema (tools/setup installs python3-jsonschema)");
    assert_eq!(out.trim(), "ok", "all merged configs validate against the CLI's schema");
}

#[test]
fn release_workflow_builds_the_three_platforms_with_the_documented_secrets() {
    let workflow = src_tauri().join("../.github/workflows/release.yml");
    let script = "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let json = python(script, &[workflow.as_path()]).expect("python3 with yaml (tools/setup installs python3-yaml)");
    let wf: Value = serde_json::from_str(&json).expect("workflow YAML parses");
    // PyYAML reads the key `on` as the boolean true.
    let on = wf.get("on").or_else(|| wf.get("true")).expect("a trigger");
    assert!(on["push"]["tags"].as_array().is_some_and(|t| t.contains(&"v*".into())), "version tags trigger a release");

    let build = &wf["jobs"]["build"];
    let oses: Vec<&str> = build["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .filter_map(|m| m["os"].as_str())
        .collect();
    for os in ["ubuntu", "windows", "macos"] {
        assert!(oses.iter().any(|o| o.starts_with(os)), "the matrix must build on {os}: {oses:?}");
    }
    assert!(build["timeout-minutes"].as_u64().is_some_and(|m| m <= 90), "builds are bounded");
    assert_eq!(wf["jobs"]["publish"]["needs"], "build", "publishing waits for every build");
    assert_eq!(wf["permissions"]["contents"], "read", "least privilege by default");

    let text = std::fs::read_to_string(&workflow).expect("workflow");
    let docs = std::fs::read_to_string(src_tauri().join("../docs/release.md")).expect("docs/release.md");
    for secret in [
        "TAURI_SIGNING_PRIVATE_KEY",
        "TAURI_SIGNING_PRIVATE_KEY_PASSWORD",
        "WINDOWS_CERTIFICATE",
        "WINDOWS_CERTIFICATE_PASSWORD",
        "APPLE_CERTIFICATE",
        "APPLE_CERTIFICATE_PASSWORD",
        "APPLE_SIGNING_IDENTITY",
        "APPLE_ID",
        "APPLE_PASSWORD",
        "APPLE_TEAM_ID",
    ] {
        assert!(text.contains(&format!("secrets.{secret} }}")), "the workflow must read secret {secret}");
        assert!(docs.contains(secret), "docs/release.md must explain secret {secret}");
    }
    assert!(!text.contains("-----BEGIN") && !text.contains("untrusted comment"), "no key material in the workflow");

    // The apps embed the release key from the repository variable, never tauri.conf.json's
    // development key (tools/package does the same for local releases).
    assert!(
        text.contains("vars.TESSERA_RELEASE_PUBKEY }}"),
        "the workflow must read the TESSERA_RELEASE_PUBKEY variable"
    );
    assert!(docs.contains("TESSERA_RELEASE_PUBKEY"), "docs/release.md must explain TESSERA_RELEASE_PUBKEY");
    assert!(
        text.contains(r#"{"plugins":{"updater":{"pubkey":"%s"}}}"#) && text.contains("is the development key"),
        "the build step must overlay the release key and refuse the development key"
    );
}

/// Runs `tools/package` with `env` and returns its exit code and stderr; it must stop by itself
/// within a minute (it refuses before building anything), else it is killed and the test fails.
fn package_refusal(env: &[(&str, &Path)]) -> (Option<i32>, String) {
    let out = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(src_tauri().join("../tools/package"))
        .arg("--out")
        .arg(out.path())
        .env_remove("TAURI_SIGNING_PRIVATE_KEY")
        .env_remove("TESSERA_RELEASE_PUBKEY")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tools/package");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("tools/package must refuse at once, not start a build");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_release_package_never_embeds_the_development_key() {
    let dev_key = src_tauri().join("updater-dev.key");
    let dev_pub = src_tauri().join("updater-dev.key.pub");
    let (code, err) = package_refusal(&[("TAURI_SIGNING_PRIVATE_KEY", &dev_key), ("TESSERA_RELEASE_PUBKEY", &dev_pub)]);
    assert_eq!(code, Some(1), "tools/package must refuse the development key: {err}");
    assert!(err.contains("is the development key"), "and say why: {err}");

    let (code, err) = package_refusal(&[("TAURI_SIGNING_PRIVATE_KEY", &dev_key)]);
    assert_eq!(code, Some(1), "a release without TESSERA_RELEASE_PUBKEY must not fall back to tauri.conf.json: {err}");
    assert!(err.contains("TESSERA_RELEASE_PUBKEY"), "and name the variable: {err}");
}

#[path = "../build/updater_key.rs"]
#[allow(dead_code, reason = "the build script uses the whole module; these tests use parts of it")]
mod updater_key;

/// A fresh key pair's public key in the form Tauri embeds (base64 of the minisign `.pub` text).
fn other_pubkey() -> String {
    use base64::Engine as _;
    let pair = minisign::KeyPair::generate_unencrypted_keypair().expect("key pair");
    base64::engine::general_purpose::STANDARD.encode(pair.pk.to_box().expect("pk box").into_string())
}

#[test]
fn a_release_build_refuses_the_development_updater_key_by_key_id_not_by_string() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dev = std::fs::read_to_string(src_tauri().join("updater-dev.key.pub")).expect("dev key");
    let id = updater_key::key_id(&dev).expect("the development key decodes");
    assert_eq!(updater_key::key_id_hex(&id), "F10056B46A2A3B41", "the id minisign prints for the development key");

    // The same key with another comment and line wrapping: a string comparison would miss it.
    let text = String::from_utf8(b64.decode(dev.trim()).expect("base64")).expect("text");
    let key_line = text.lines().nth(1).expect("key line");
    let disguised = b64.encode(format!("untrusted comment: totally the release key\r\n{key_line}\r\n"));
    assert_ne!(disguised.trim(), dev.trim(), "the disguised key is another string");
    for embedded in [dev.trim(), &disguised] {
        let refused = updater_key::refuse_dev_key(Some(embedded), &dev, true, false)
            .expect_err("a release build must refuse the development key");
        assert!(
            refused.contains(updater_key::ALLOW_DEV_KEY_ENV) && refused.contains("F10056B46A2A3B41"),
            "the refusal names the key id and the switch: {refused}"
        );
        assert_eq!(updater_key::refuse_dev_key(Some(embedded), &dev, false, false), Ok(()), "debug builds may");
        assert_eq!(updater_key::refuse_dev_key(Some(embedded), &dev, true, true), Ok(()), "the explicit switch may");
    }
    let release_key = other_pubkey();
    assert_eq!(updater_key::refuse_dev_key(Some(&release_key), &dev, true, false), Ok(()), "another key ships");
    let garbage = updater_key::refuse_dev_key(Some("not a key"), &dev, true, false);
    assert!(garbage.is_err(), "a release with an unreadable updater key must not build: {garbage:?}");
}

#[test]
fn the_build_script_sees_the_key_tauri_build_config_overlays_embed() {
    let dir = src_tauri();
    let refused = updater_key::check_build(&dir, "linux", None, true, false);
    assert!(
        refused.as_ref().is_err_and(|e| e.contains("development updater key")),
        "tauri.conf.json holds the development key: a plain release build must fail: {refused:?}"
    );
    for os in ["windows", "macos"] {
        assert!(updater_key::check_build(&dir, os, None, true, false).is_err(), "{os} too");
    }
    let overlay = format!(r#"{{"plugins":{{"updater":{{"pubkey":"{}"}}}}}}"#, other_pubkey());
    assert_eq!(
        updater_key::check_build(&dir, "linux", Some(&overlay), true, false),
        Ok(()),
        "the release key passed by `tauri build --config` (TAURI_CONFIG) replaces it"
    );
    assert_eq!(updater_key::check_build(&dir, "linux", None, false, false), Ok(()), "debug builds are not checked");
}

#[test]
fn the_release_workflow_never_expands_variables_into_its_scripts() {
    let workflow = src_tauri().join("../.github/workflows/release.yml");
    let script = "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1]))))";
    let json = python(script, &[workflow.as_path()]).expect("python3 with yaml (tools/setup installs python3-yaml)");
    let wf: Value = serde_json::from_str(&json).expect("workflow YAML parses");
    let mut runs = 0;
    for (job, body) in wf["jobs"].as_object().expect("jobs") {
        for step in body["steps"].as_array().expect("steps") {
            let Some(run) = step["run"].as_str() else { continue };
            runs += 1;
            // `${{ }}` in a script is pasted into the shell text before it runs: a secret or a
            // variable holding `"; curl …` becomes code. Through `env:` it stays data.
            assert!(
                !run.contains("${{"),
                "job {job}, step {:?}: pass values through env:, never ${{{{ }}}} in run: {run}",
                step["name"]
            );
        }
    }
    assert!(runs >= 5, "the workflow's scripts were found: {runs}");
}
