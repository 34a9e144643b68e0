//! The app's commands are named in five places that must agree: the `#[tauri::command]`
//! functions (src/commands.rs), the handler list (`generate_handler!` in src/lib.rs), the
//! build script's list (build.rs: one `allow-<command>` permission each), the capability file
//! (capabilities/main.json: what the webview may call) and the UI's calls (ui/js). A command
//! missing from one of them is a command the webview cannot call, or one nobody meant to allow.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("{start:?} not found")) + start.len();
    let to = text[from..].find(end).unwrap_or_else(|| panic!("{end:?} not found after {start:?}"));
    &text[from..from + to]
}

/// Every `"quoted"` word in `text`.
fn quoted(text: &str) -> BTreeSet<String> {
    text.split('"').skip(1).step_by(2).map(str::to_owned).collect()
}

fn defined() -> BTreeSet<String> {
    let source = read("src/commands.rs");
    let mut names = BTreeSet::new();
    for chunk in source.split("#[tauri::command]").skip(1) {
        let name = between(chunk, "pub async fn ", "(");
        names.insert(name.trim().to_owned());
    }
    names
}

fn handled() -> BTreeSet<String> {
    let source = read("src/lib.rs");
    let list = between(&source, "generate_handler![", "]");
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_start_matches("commands::").to_owned())
        .collect()
}

fn built() -> BTreeSet<String> {
    quoted(between(&read("build.rs"), "fn tessera_commands()", "\n}"))
}

fn allowed() -> BTreeSet<String> {
    let capability: serde_json::Value = serde_json::from_str(&read("capabilities/main.json")).expect("capability JSON");
    let permissions = capability["permissions"].as_array().expect("permissions list");
    permissions
        .iter()
        .map(|p| p.as_str().expect("a permission is a string"))
        .map(|p| p.strip_prefix("allow-").unwrap_or_else(|| panic!("only allow-<command> is granted: {p}")))
        .map(|p| p.replace('-', "_"))
        .collect()
}

fn called_by_the_ui() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/js");
    for entry in std::fs::read_dir(&dir).expect("ui/js") {
        let source = std::fs::read_to_string(entry.expect("entry").path()).expect("read a UI module");
        for chunk in source.split("call(\"").skip(1) {
            names.insert(chunk.split('"').next().unwrap_or_default().to_owned());
        }
    }
    names
}

#[test]
fn every_list_of_commands_names_the_same_commands() {
    let defined = defined();
    assert!(defined.len() >= 10, "the commands must be found in src/commands.rs: {defined:?}");
    assert_eq!(handled(), defined, "generate_handler! in src/lib.rs lists exactly the defined commands");
    assert_eq!(built(), defined, "build.rs lists exactly the defined commands");
    assert_eq!(allowed(), defined, "capabilities/main.json allows exactly the defined commands");
    assert_eq!(called_by_the_ui(), defined, "the UI calls every command, and only those");
}
