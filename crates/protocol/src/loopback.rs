//! Loopback redirect URIs for native apps (RFC 8252 §7.3): `http://127.0.0.1:{port}/callback` or
//! `http://[::1]:{port}/callback`, any port, host and path exact. The client builds one from the
//! address its listener was given ([`LoopbackRedirect::for_listener`]); the server accepts only
//! what [`LoopbackRedirect::parse`] accepts, compared as text: no `localhost` (RFC 8252 §8.3: it
//! may resolve elsewhere), no other spelling of the address, no query, fragment or user info.
//!
//! ```
//! use tessera_protocol::loopback::LoopbackRedirect;
//! let redirect = LoopbackRedirect::parse("http://127.0.0.1:53682/callback").unwrap();
//! assert_eq!(redirect.port(), 53682);
//! assert!(LoopbackRedirect::parse("http://localhost:53682/callback").is_err());
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The path every Tessera loopback redirect uses.
pub const CALLBACK_PATH: &str = "/callback";

/// A redirect URI that is not an acceptable loopback redirect (the server shows an error page
/// for it and never redirects there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectRefused(String);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect_uri must be http://127.0.0.1:PORT/callback or http://[::1]:PORT/callback: {}", self.0)
    }
}

impl std::error::Error for RedirectRefused {}

/// An accepted loopback redirect: the loopback address and port of the client's listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopbackRedirect {
    addr: SocketAddr,
}

impl LoopbackRedirect {
    /// The redirect for a listener bound to `addr` (127.0.0.1 or ::1, the port the OS chose).
    pub fn for_listener(addr: SocketAddr) -> Result<Self, RedirectRefused> {
        let loopback = addr.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST) || addr.ip() == IpAddr::V6(Ipv6Addr::LOCALHOST);
        if !loopback {
            return Err(RedirectRefused(format!("{} is not 127.0.0.1 or ::1", addr.ip())));
        }
        if addr.port() == 0 {
            return Err(RedirectRefused("port 0 is not a listener's port".into()));
        }
        Ok(Self { addr })
    }

    /// Checks a `redirect_uri` (or `post_logout_redirect_uri`) exactly as sent.
    pub fn parse(uri: &str) -> Result<Self, RedirectRefused> {
        let rest = uri.strip_prefix("http://").ok_or_else(|| RedirectRefused("the scheme must be http".into()))?;
        let (ip, rest) = if let Some(rest) = rest.strip_prefix("127.0.0.1:") {
            (IpAddr::V4(Ipv4Addr::LOCALHOST), rest)
        } else if let Some(rest) = rest.strip_prefix("[::1]:") {
            (IpAddr::V6(Ipv6Addr::LOCALHOST), rest)
        } else {
            return Err(RedirectRefused("the host must be 127.0.0.1 or [::1], with a port".into()));
        };
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (port, path) = rest.split_at(digits);
        if port.starts_with('0') {
            return Err(RedirectRefused("the port must be written without leading zeros".into()));
        }
        let port: u16 = port.parse().map_err(|_| RedirectRefused("the port must be 1 to 65535".into()))?;
        if path != CALLBACK_PATH {
            return Err(RedirectRefused(format!("the path must be exactly {CALLBACK_PATH}, with no query")));
        }
        Self::for_listener(SocketAddr::new(ip, port))
    }

    /// The listener's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the client's listener is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl std::fmt::Display for LoopbackRedirect {
    /// The URI as sent and compared: `http://127.0.0.1:53682/callback`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{CALLBACK_PATH}", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_loopback_addresses_on_any_port_are_accepted_and_read_back_as_sent() {
        for uri in ["http://127.0.0.1:1/callback", "http://127.0.0.1:53682/callback", "http://[::1]:65535/callback"] {
            let redirect = LoopbackRedirect::parse(uri).map(|r| r.to_string());
            assert_eq!(redirect.as_deref(), Ok(uri), "accepted and spelled the same");
        }
        let listener = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 4000);
        let built = LoopbackRedirect::for_listener(listener).map(|r| r.to_string());
        assert_eq!(built.as_deref(), Ok("http://[::1]:4000/callback"));
    }

    #[test]
    fn every_other_host_spelling_path_or_scheme_is_refused() {
        let refused = [
            "http://localhost:53682/callback",
            "http://LOCALHOST:53682/callback",
            "http://127.0.0.2:53682/callback",
            "http://127.1:53682/callback",
            "http://2130706433:53682/callback",
            "http://[::ffff:127.0.0.1]:53682/callback",
            "http://[0:0:0:0:0:0:0:1]:53682/callback",
            "http://0.0.0.0:53682/callback",
            "https://127.0.0.1:53682/callback",
            "HTTP://127.0.0.1:53682/callback",
            "http://user@127.0.0.1:53682/callback",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:053682/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:53682/callback/",
            "http://127.0.0.1:53682/Callback",
            "http://127.0.0.1:53682/callback?next=evil",
            "http://127.0.0.1:53682/callback#fragment",
            "http://127.0.0.1:53682/other",
            "http://127.0.0.1:53682",
            "http://evil.example/?http://127.0.0.1:53682/callback",
            " http://127.0.0.1:53682/callback",
            "",
        ];
        for uri in refused {
            assert!(LoopbackRedirect::parse(uri).is_err(), "must be refused: {uri:?}");
        }
        let remote = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 4000);
        assert!(LoopbackRedirect::for_listener(remote).is_err(), "a listener off loopback has no redirect");
    }

    #[test]
    fn the_refusal_says_what_is_accepted() {
        let why = LoopbackRedirect::parse("http://localhost:1/callback").map_err(|e| e.to_string());
        let text = why.err().unwrap_or_default();
        assert!(text.starts_with("redirect_uri must be http://127.0.0.1:PORT/callback"), "{text}");
        assert!(text.contains("127.0.0.1 or [::1]"), "and why this one is not: {text}");
    }
}
