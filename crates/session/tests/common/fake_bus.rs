//! A private bus (`dbus-daemon --session`) with stand-ins on it. logind: it owns
//! `org.freedesktop.login1`, answers `GetSessionByPID`, and emits `PrepareForSleep` and `Lock`
//! when the test says so. Mutter: answers `GetIdletime`. The real libdbus and bus daemon carry
//! the calls and signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use dbus::Message;
use dbus::Path;
use dbus::blocking::Connection;
use dbus::channel::{MatchingReceiver, Sender};
use dbus::message::MatchRule;

const MANAGER_PATH: &str = "/org/freedesktop/login1";
const SESSION_PATH: &str = "/org/freedesktop/login1/session/_3";

enum Command_ {
    Sleep(bool),
    Lock,
}

pub struct FakeLogind {
    /// Bus address to give the idle watch.
    pub address: String,
    _bus: PrivateBus,
    commands: Option<mpsc::Sender<Command_>>,
    thread: Option<JoinHandle<()>>,
}

/// A private bus daemon (`dbus-daemon --session`, which lets anyone own any name).
pub struct PrivateBus {
    pub address: String,
    daemon: Child,
}

impl PrivateBus {
    pub fn start() -> PrivateBus {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("dbus-daemon must be installed (tools/setup installs dbus): {e}"));
        let stdout = daemon.stdout.take().unwrap_or_else(|| panic!("dbus-daemon stdout"));
        let mut address = String::new();
        BufReader::new(stdout).read_line(&mut address).unwrap_or_else(|e| panic!("dbus-daemon address: {e}"));
        PrivateBus { address: address.trim().to_owned(), daemon }
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// GNOME Shell's idle monitor, standing in: `GetIdletime` answers `idle_ms`.
pub struct FakeMutter {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeMutter {
    pub fn start(address: &str, idle_ms: u64) -> FakeMutter {
        let (stop, stopped) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let bus = address.to_owned();
        let thread = std::thread::spawn(move || {
            let conn = Connection::new_address(&bus).unwrap_or_else(|e| panic!("connect to the private bus: {e}"));
            conn.request_name("org.gnome.Mutter.IdleMonitor", false, true, true)
                .unwrap_or_else(|e| panic!("own the Mutter name: {e}"));
            conn.start_receive(
                MatchRule::new_method_call(),
                Box::new(move |msg: Message, conn: &Connection| {
                    let ours = msg.path().as_deref() == Some("/org/gnome/Mutter/IdleMonitor/Core")
                        && msg.interface().as_deref() == Some("org.gnome.Mutter.IdleMonitor")
                        && msg.member().as_deref() == Some("GetIdletime");
                    if ours {
                        let _ = conn.send(msg.method_return().append1(idle_ms));
                    }
                    true
                }),
            );
            let _ = ready_tx.send(());
            while matches!(stopped.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                let _ = conn.process(Duration::from_millis(50));
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the stand-in Mutter must start: {e}"));
        FakeMutter { stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for FakeMutter {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl FakeLogind {
    pub fn start() -> FakeLogind {
        let bus = PrivateBus::start();
        let address = bus.address.clone();
        let (commands, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_bus = address.clone();
        let thread = std::thread::spawn(move || serve(&thread_bus, rx, ready_tx));
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the stand-in logind must start: {e}"));
        FakeLogind { address, _bus: bus, commands: Some(commands), thread: Some(thread) }
    }

    pub fn prepare_for_sleep(&self, starting: bool) {
        self.send(Command_::Sleep(starting));
    }

    pub fn lock(&self) {
        self.send(Command_::Lock);
    }

    fn send(&self, command: Command_) {
        if let Some(tx) = &self.commands {
            tx.send(command).unwrap_or_else(|e| panic!("stand-in logind gone: {e}"));
        }
    }
}

fn serve(address: &str, commands: mpsc::Receiver<Command_>, ready: mpsc::Sender<()>) {
    let conn = Connection::new_address(address).unwrap_or_else(|e| panic!("connect to the private bus: {e}"));
    conn.request_name("org.freedesktop.login1", false, true, true)
        .unwrap_or_else(|e| panic!("own the logind name: {e}"));
    conn.start_receive(
        MatchRule::new_method_call(),
        Box::new(|msg: Message, conn: &Connection| {
            if msg.member().as_deref() == Some("GetSessionByPID") {
                let _ = conn.send(msg.method_return().append1(Path::from(SESSION_PATH)));
            }
            true
        }),
    );
    let _ = ready.send(());
    loop {
        let _ = conn.process(Duration::from_millis(50));
        let signal = match commands.try_recv() {
            Ok(Command_::Sleep(starting)) => {
                Message::new_signal(MANAGER_PATH, "org.freedesktop.login1.Manager", "PrepareForSleep")
                    .map(|m| m.append1(starting))
            }
            Ok(Command_::Lock) => Message::new_signal(SESSION_PATH, "org.freedesktop.login1.Session", "Lock"),
            Err(mpsc::TryRecvError::Empty) => continue,
            Err(mpsc::TryRecvError::Disconnected) => return,
        };
        let signal = signal.unwrap_or_else(|e| panic!("signal: {e}"));
        let _ = conn.send(signal);
    }
}

impl Drop for FakeLogind {
    fn drop(&mut self) {
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
