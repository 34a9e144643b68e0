//! The HTTP clients webhook deliveries use. The guarded one resolves names itself, drops every
//! address [`crate::egress::classify`] refuses and hands reqwest only the addresses it checked, so
//! reqwest connects to nothing else: a name that resolves to a public address when checked and
//! to loopback a moment later (DNS rebinding) gains nothing, since there is no second lookup. A
//! name with no public address fails with [`TargetRefused`] before any connection is made.
//! The trusted client serves only the operator's allow-list. Neither follows redirects nor uses
//! proxies from the environment (a proxy would resolve the name itself, past the check).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::egress::{Refusal, classify, is_localhost_name};

/// A name's addresses, as the system (or a test) resolves it.
pub type Lookup = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Name resolution, behind a trait so tests can make any name resolve to loopback.
pub trait NameLookup: Send + Sync + 'static {
    /// The addresses of `host`.
    fn lookup(&self, host: &str) -> Lookup;
}

/// The system resolver (`getaddrinfo`, as reqwest uses by default).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup(&self, host: &str) -> Lookup {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host, 0)).await?.map(|a| a.ip()).collect()) })
    }
}

/// A name whose every address was refused: the delivery is not attempted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host} resolves only to addresses that are not public ({})", self.ranges())]
pub struct TargetRefused {
    /// The name.
    pub host: String,
    /// Each address and why it was refused (server logs only: the addresses of internal names
    /// are not for the webhook's owner).
    pub refused: Vec<(IpAddr, Refusal)>,
}

impl TargetRefused {
    /// The ranges, without the addresses (what the delivery log shows).
    pub fn ranges(&self) -> String {
        let mut ranges: Vec<&str> = self.refused.iter().map(|(_, r)| r.range.as_str()).collect();
        ranges.dedup();
        if ranges.is_empty() { "no address".into() } else { ranges.join(", ") }
    }
}

/// Keeps the public addresses of `host`; none left is [`TargetRefused`].
pub fn keep_public(host: &str, addrs: Vec<IpAddr>) -> Result<Vec<IpAddr>, TargetRefused> {
    let (public, refused): (Vec<_>, Vec<_>) =
        addrs.into_iter().map(|ip| (ip, classify(ip))).partition(|(_, verdict)| verdict.is_ok());
    let refused: Vec<(IpAddr, Refusal)> = refused.into_iter().filter_map(|(ip, v)| v.err().map(|r| (ip, r))).collect();
    if public.is_empty() {
        return Err(TargetRefused { host: host.to_owned(), refused });
    }
    if !refused.is_empty() {
        tracing::info!(host, ?refused, "dropped non-public addresses of a webhook host");
    }
    Ok(public.into_iter().map(|(ip, _)| ip).collect())
}

/// A reqwest resolver that returns only public addresses.
pub struct GuardedResolver {
    lookup: Arc<dyn NameLookup>,
}

impl GuardedResolver {
    /// Resolves through `lookup`.
    pub fn new(lookup: Arc<dyn NameLookup>) -> Self {
        Self { lookup }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        // RFC 6761 §6.3: names under .localhost are loopback, and no DNS server gets a say (the
        // system resolver may not know them). `localhost` itself is the system's (/etc/hosts).
        let under_localhost = is_localhost_name(&host) && host.trim_end_matches('.').contains('.');
        let lookup = (!under_localhost).then(|| self.lookup.lookup(&host));
        Box::pin(async move {
            let addrs = match lookup {
                Some(lookup) => lookup.await?,
                None => vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)],
            };
            let public = keep_public(&host, addrs)?;
            let addrs: Addrs = Box::new(public.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The two delivery clients.
#[derive(Debug, Clone)]
pub struct Clients {
    /// For every target not in the allow-list.
    pub guarded: reqwest::Client,
    /// For allow-listed targets only.
    pub trusted: reqwest::Client,
}

impl Clients {
    /// Both clients, with `timeout` per request; the guarded one resolves through `lookup`.
    pub fn new(timeout: Duration, lookup: Arc<dyn NameLookup>) -> reqwest::Result<Self> {
        let base = || {
            reqwest::Client::builder()
                .timeout(timeout)
                // A redirect could lead from an allowed URL to one that is not: never follow.
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .user_agent(concat!("Tessera-Webhooks/", env!("CARGO_PKG_VERSION")))
        };
        Ok(Self {
            guarded: base().dns_resolver(Arc::new(GuardedResolver::new(lookup))).build()?,
            trusted: base().build()?,
        })
    }
}

/// The [`TargetRefused`] behind a failed request, if that is why it failed.
pub fn refusal_of<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a TargetRefused> {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if let Some(refused) = e.downcast_ref::<TargetRefused>() {
            return Some(refused);
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Names resolved from a table, as a hostile DNS server would answer; others by the system.
    struct Table(HashMap<&'static str, Vec<IpAddr>>);

    impl NameLookup for Table {
        fn lookup(&self, host: &str) -> Lookup {
            match self.0.get(host).cloned() {
                Some(found) => Box::pin(async move { Ok(found) }),
                None => SystemLookup.lookup(host),
            }
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_kept() {
        let kept = keep_public("mixed.example", vec![ip("127.0.0.1"), ip("93.184.215.14"), ip("fd00::1")]).unwrap();
        assert_eq!(kept, vec![ip("93.184.215.14")], "loopback and unique-local answers are dropped");
        let err = keep_public("inside.example", vec![ip("10.0.0.1"), ip("::ffff:127.0.0.1")]).unwrap_err();
        assert_eq!(err.ranges(), "private (RFC 1918), loopback", "the log shows ranges");
        assert!(!err.to_string().contains("10.0.0.1"), "the message does not show internal addresses: {err}");
        assert!(keep_public("none.example", vec![]).is_err(), "no address at all is not a target either");
    }

    /// Through the real reqwest stack: a name that resolves to loopback, and `*.localhost`, make
    /// no connection to the listener that is there.
    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_never_connected_to() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let table = Table(HashMap::from([("rebind.example", vec![ip("127.0.0.1")])]));
        let clients = Clients::new(Duration::from_secs(30), Arc::new(table)).unwrap();
        for host in ["rebind.example", "hooks.localhost", "localhost"] {
            let err = clients.guarded.post(format!("http://{host}:{port}/hook")).body("{}").send().await.unwrap_err();
            let refused = refusal_of(&err).unwrap_or_else(|| panic!("{host}: refused by the resolver, got {err:?}"));
            assert_eq!(refused.ranges(), "loopback", "{host} resolves to loopback only");
        }
        let accepted = listener.accept();
        assert!(
            matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the loopback listener must have seen no connection: {accepted:?}"
        );
        // The trusted client (allow-list only) does connect: the listener is really there.
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let trusted = clients.trusted.post(format!("http://localhost:{port}/hook")).body("{}").send();
        let sent = tokio::spawn(trusted);
        assert!(listener.accept().await.is_ok(), "a connection made without the guard reaches the listener");
        drop(listener);
        let _ = sent.await;
    }
}
