//! What the UI (`ui/`, plain ES modules, no bundler) and the app agree on, checked from the files
//! themselves: the sign-out reasons and their words, the module graph, and the event numbers the
//! UI's state module relies on (a real session against the real server).

#![allow(clippy::expect_used, clippy::unwrap_used, reason = "test code: a failed expectation is the test failing")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tessera_app::commands::NotificationList;
use tessera_app::error::tessera_reason_text;
use tessera_app::shell::{RelayedEvent, Shell, UiEvent};
use tessera_protocol::Role;
use tessera_server::testing::TestServer;
use tessera_session::{LocalDirs, Password, SessionEvent, SignOutReason};

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{} must be readable: {e}", path.display()))
}

/// `REASONS` of ui/js/errors.js: one `key: "words",` per line between `{` and `};`.
fn ui_reasons() -> BTreeMap<String, String> {
    let source = read(&ui_dir().join("js/errors.js"));
    let start = source.find("export const REASONS = {").expect("errors.js must export its REASONS table");
    let body = &source[start..];
    let body = &body[body.find('{').unwrap_or(0) + 1..body.find("};").expect("REASONS must end with `};`")];
    body.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .map(|line| {
            let (key, words) = line.split_once(':').unwrap_or_else(|| panic!("`{line}` must be `key: \"words\",`"));
            // A double-quoted JS string without template or escapes beyond JSON's is a JSON string.
            let words: String = serde_json::from_str(words.trim().trim_end_matches(','))
                .unwrap_or_else(|e| panic!("the words of `{key}` must be one double-quoted string on its line: {e}"));
            (key.trim().to_owned(), words)
        })
        .collect()
}

/// Every variant's wire name, from serde's own list: asking it for an unknown variant makes the
/// derived code name all of them ("unknown variant ``, expected one of `a`, `b`, …").
fn rust_reasons() -> BTreeSet<String> {
    let error = serde_json::from_str::<SignOutReason>("\"\"").expect_err("the empty string names no reason");
    let message = error.to_string();
    let expected = &message[message.find("expected").expect("serde names the variants it expected")..];
    expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[test]
fn every_sign_out_reason_has_the_same_words_in_the_ui_and_the_app() {
    let ui = ui_reasons();
    let rust = rust_reasons();
    assert!(rust.len() >= 7, "serde's variant list must have been read whole: {rust:?}");
    let ui_keys: BTreeSet<String> = ui.keys().cloned().collect();
    let missing_in_ui: Vec<_> = rust.difference(&ui_keys).collect();
    let unknown_to_rust: Vec<_> = ui_keys.difference(&rust).collect();
    assert!(
        missing_in_ui.is_empty(),
        "ui/js/errors.js REASONS must word every SignOutReason; missing {missing_in_ui:?}"
    );
    assert!(unknown_to_rust.is_empty(), "REASONS must list only SignOutReasons; the engine has no {unknown_to_rust:?}");
    for (reason, words) in &ui {
        assert_eq!(
            words,
            tessera_reason_text(reason),
            "the sign-in screen and a failed command's message must say the same for `{reason}`"
        );
    }
}

/// The relative module specifiers of a module (`import … from "./x.js"`, `export … from`,
/// `import "./x.js"`, `import("./x.js")`), resolved against its directory.
fn imports_of(module: &Path) -> Vec<PathBuf> {
    let source = read(module);
    let mut found = Vec::new();
    for marker in ["from \"", "import \"", "import(\""] {
        for (at, _) in source.match_indices(marker) {
            let rest = &source[at + marker.len()..];
            let spec = &rest[..rest.find('"').unwrap_or(0)];
            if spec.starts_with("./") || spec.starts_with("../") {
                let dir = module.parent().expect("a module is in a directory");
                found.push(
                    dir.join(spec)
                        .canonicalize()
                        .unwrap_or_else(|e| panic!("{} imports {spec}, which must exist: {e}", module.display())),
                );
            }
        }
    }
    found
}

/// The module graph reachable from `entry`, and a circle in it if there is one.
fn module_graph(entry: &Path) -> (BTreeMap<PathBuf, Vec<PathBuf>>, Option<Vec<PathBuf>>) {
    fn visit(
        module: &Path,
        graph: &mut BTreeMap<PathBuf, Vec<PathBuf>>,
        path: &mut Vec<PathBuf>,
        circle: &mut Option<Vec<PathBuf>>,
    ) {
        if let Some(at) = path.iter().position(|m| m == module) {
            circle.get_or_insert_with(|| [&path[at..], &[module.to_path_buf()]].concat());
            return;
        }
        if graph.contains_key(module) {
            return;
        }
        let imports = imports_of(module);
        graph.insert(module.to_path_buf(), imports.clone());
        path.push(module.to_path_buf());
        for next in &imports {
            visit(next, graph, path, circle);
        }
        path.pop();
    }
    let (mut graph, mut circle) = (BTreeMap::new(), None);
    visit(entry, &mut graph, &mut Vec::new(), &mut circle);
    (graph, circle)
}

#[test]
fn ui_modules_import_each_other_without_a_circle() {
    let js = ui_dir().join("js").canonicalize().expect("ui/js exists");
    let modules: Vec<PathBuf> = std::fs::read_dir(&js)
        .expect("ui/js is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "js"))
        .collect();
    assert!(modules.len() >= 5, "the UI's modules must have been found: {modules:?}");
    for module in &modules {
        let (_, circle) = module_graph(module);
        let names: Vec<_> = circle.iter().flatten().filter_map(|p| p.file_name()).collect();
        assert!(circle.is_none(), "ES modules in a circle see each other half-initialised: {names:?}");
    }
}

#[test]
fn index_html_preloads_exactly_the_modules_app_js_imports() {
    let ui = ui_dir().canonicalize().expect("ui exists");
    let html = read(&ui.join("index.html"));
    let preloaded: BTreeSet<PathBuf> = html
        .match_indices("<link rel=\"modulepreload\" href=\"")
        .map(|(at, marker)| {
            let rest = &html[at + marker.len()..];
            ui.join(&rest[..rest.find('"').unwrap_or(0)]).canonicalize().expect("a preloaded module exists")
        })
        .collect();
    let entry = ui.join("js/app.js");
    assert!(html.contains("<script type=\"module\" src=\"js/app.js\">"), "app.js must be the page's one module script");
    let (graph, _) = module_graph(&entry);
    let imported: BTreeSet<PathBuf> = graph.into_keys().filter(|m| *m != entry).collect();
    assert_eq!(
        preloaded, imported,
        "index.html preloads app.js's imports so they are fetched with it, not after it is parsed"
    );
}

#[test]
fn notifications_list_json_is_pinned() {
    let list = NotificationList { items: Vec::new(), unread: 2, event_seq: 5 };
    assert_eq!(
        serde_json::to_string(&list).unwrap_or_default(),
        r#"{"items":[],"unread":2,"event_seq":5}"#,
        "ui/js/state.js reads `unread` and `event_seq` next to the items"
    );
}

const USER: &str = "alice";
const PASSWORD: &str = "correct horse battery staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_read_after_an_event_carries_at_least_its_number() {
    let server = TestServer::start(tessera_server::testing::scripted_config()).await.expect("server");
    server.add_user(USER, PASSWORD, Role::Agent).await.expect("user");
    let dir = tempfile::tempdir().expect("temp dir");
    let dirs = LocalDirs { config: dir.path().join("config"), data: dir.path().join("data") };
    let shell = Shell::new(dirs, dir.path().join("app/settings.json"), dir.path().join("logs"), Arc::new(|_| {}));
    shell.start(server.url.clone()).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RelayedEvent>(1024);
    shell.subscribe(move |event| tx.try_send(event).is_ok());
    let first = shell.event_seq() + 1;

    let signed_in = shell.sign_in(&server.url, USER, &Password::new(PASSWORD)).await.expect("sign in");
    let mut seqs = Vec::new();
    let signed_in_event = loop {
        let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the relay must deliver the sign-in's state changes")
            .expect("the relay stays open");
        seqs.push(event.seq);
        if let UiEvent::Session(SessionEvent::StateChanged { state, .. }) = &event.event
            && state.is_signed_in()
        {
            break event.seq;
        }
    };
    let expected: Vec<u64> = (first..first + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "the webview sees every event numbered one more than the last");
    assert!(
        signed_in.event_seq >= first - 1 && signed_in.event_seq <= shell.event_seq(),
        "sign_in's reply is read after sign-in began and names an event that was sent: {}",
        signed_in.event_seq
    );
    let json = serde_json::to_value(&signed_in).expect("app_status serializes");
    assert_eq!(json["event_seq"], signed_in.event_seq, "ui/js/state.js reads `event_seq` at the top of app_status");
    let status = shell.status().await;
    assert!(
        status.event_seq >= signed_in_event,
        "app_status read after event {signed_in_event} was applied must not look older than it: {}",
        status.event_seq
    );
    assert!(status.session.state.is_signed_in(), "and it does reflect that event: the session is signed in");
}
