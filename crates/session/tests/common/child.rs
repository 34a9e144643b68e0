//! Tests that need a different process environment (`DISPLAY`, `DBUS_SESSION_BUS_ADDRESS`, ...):
//! setting variables in-process is unsafe with threads running, so the test runs itself again
//! as a child process with the environment it needs, and the child's exit status is the verdict.

use std::future::Future;
use std::process::Command;

/// Set in the child.
const CHILD: &str = "TESSERA_TEST_CHILD";

/// True in the child run.
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Parent: runs the test `name` of this binary again with `env` set and `remove` unset, and
/// asserts it passed. Child: runs `body` on a fresh runtime.
pub fn as_child<F, Fut>(name: &str, env: &[(&str, String)], remove: &[&str], body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    if is_child() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
        rt.unwrap_or_else(|e| panic!("runtime: {e}")).block_on(body());
        return;
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("test binary path: {e}"));
    let mut command = Command::new(exe);
    command.args(["--exact", name, "--nocapture", "--test-threads", "1", "--include-ignored"]);
    command.env(CHILD, "1").env_remove("WAYLAND_DISPLAY").env_remove("DISPLAY");
    for var in remove {
        command.env_remove(var);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap_or_else(|e| panic!("child test must start: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the child run of {name} failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("1 passed"), "the child must have run exactly {name}:\n{stdout}");
}
