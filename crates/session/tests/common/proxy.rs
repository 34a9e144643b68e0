//! A loopback TCP proxy the test controls, standing in for the network between the engine and
//! the server: forward, drop every connection (open ones too), or refuse connections.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the "network" does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// Connections reach the server.
    Up,
    /// Open connections are cut; new ones are accepted and closed at once.
    Dropping,
    /// Nothing listens: connections are refused.
    Refusing,
}

pub struct Proxy {
    /// `http://127.0.0.1:PORT`: give this to the engine (and as the server's `public_url`).
    pub url: String,
    pub addr: SocketAddr,
    network: watch::Sender<Network>,
    applied: watch::Receiver<Network>,
    upstream: watch::Sender<Option<SocketAddr>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Binds a port; nothing is forwarded until [`forward_to`](Self::forward_to).
    pub async fn bind() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("proxy bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("proxy address: {e}"));
        let (network, network_rx) = watch::channel(Network::Up);
        let (upstream, upstream_rx) = watch::channel(None);
        let (applied_tx, applied) = watch::channel(Network::Up);
        let task = tokio::spawn(run(listener, addr, network_rx, upstream_rx, applied_tx));
        Proxy { url: format!("http://{addr}"), addr, network, applied, upstream, task }
    }

    pub fn forward_to(&self, server: SocketAddr) {
        self.upstream.send_replace(Some(server));
    }

    /// Switches the network and returns once the proxy acts on it (e.g. listens again).
    pub async fn set(&self, network: Network) {
        self.network.send_replace(network);
        let mut applied = self.applied.clone();
        let done = tokio::time::timeout(Duration::from_secs(30), applied.wait_for(|n| *n == network)).await;
        assert!(matches!(done, Ok(Ok(_))), "the proxy must switch to {network:?}");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    listener: TcpListener,
    addr: SocketAddr,
    mut network: watch::Receiver<Network>,
    upstream: watch::Receiver<Option<SocketAddr>>,
    applied: watch::Sender<Network>,
) {
    let mut listener = Some(listener);
    loop {
        let mode = *network.borrow_and_update();
        if mode == Network::Refusing {
            listener = None;
            applied.send_replace(mode);
            if network.changed().await.is_err() {
                return;
            }
            continue;
        }
        let bound = match listener.take() {
            Some(l) => l,
            None => match rebind(addr).await {
                Some(l) => l,
                None => return,
            },
        };
        applied.send_replace(mode);
        tokio::select! {
            accepted = bound.accept() => {
                if let Ok((client, _)) = accepted {
                    let target = *upstream.borrow();
                    match (mode, target) {
                        (Network::Up, Some(target)) => { tokio::spawn(pipe(client, target, network.clone())); }
                        _ => drop(client),
                    }
                }
            }
            changed = network.changed() => if changed.is_err() { return },
        }
        listener = Some(bound);
    }
}

/// The same port again (SO_REUSEADDR is set by tokio on Unix); retried briefly.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Copies both ways until either side closes or the network stops being up.
async fn pipe(mut client: TcpStream, target: SocketAddr, mut network: watch::Receiver<Network>) {
    let Ok(mut server) = TcpStream::connect(target).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = network.wait_for(|n| *n != Network::Up) => {}
    }
}
