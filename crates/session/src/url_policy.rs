//! Which server URLs the client will send credentials to.
//!
//! - **No plain HTTP across the network.** `http://` and `ws://` are accepted only for this
//!   machine: an IP in 127.0.0.0/8, `::1` (also written `::ffff:127.x.y.z`), or the name
//!   `localhost`. Anything else is [`ClientError::InsecureServerUrl`]: the server URL given, and
//!   every endpoint discovery names (a discovery document cannot downgrade an `https://` server).
//! - **The issuer is the server asked** (RFC 8414 §3.3): the discovery document's `issuer` must
//!   be the URL the client was given (scheme, host, port and path; a trailing `/` aside), or it
//!   is [`ClientError::IssuerMismatch`].

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::ClientError;

/// Whether `url`'s host is this machine (loopback address or `localhost`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).to_canonical().is_loopback(),
        Some(Host::Domain(name)) => name.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Refuses `http://` and `ws://` URLs whose host is not this machine.
pub(crate) fn require_secure(url: &Url) -> Result<(), ClientError> {
    if matches!(url.scheme(), "http" | "ws") && !is_loopback(url) {
        return Err(ClientError::InsecureServerUrl(url.as_str().trim_end_matches('/').to_owned()));
    }
    Ok(())
}

/// Checks that `issuer` names the server at `base`.
pub(crate) fn check_issuer(base: &Url, issuer: &str) -> Result<(), ClientError> {
    let mismatch = || ClientError::IssuerMismatch {
        expected: base.as_str().trim_end_matches('/').to_owned(),
        found: issuer.to_owned(),
    };
    let parsed = Url::parse(issuer).map_err(|_| mismatch())?;
    let same = parsed.scheme() == base.scheme()
        && parsed.host() == base.host()
        && parsed.port_or_known_default() == base.port_or_known_default()
        && parsed.path().trim_end_matches('/') == base.path().trim_end_matches('/')
        && parsed.query().is_none()
        && parsed.fragment().is_none();
    if same { Ok(()) } else { Err(mismatch()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn plain_http_is_for_this_machine_only() {
        for ok in [
            "http://127.0.0.1:8787",
            "http://127.8.9.10/",
            "http://[::1]:8787",
            "http://[::ffff:127.0.0.1]:1",
            "http://localhost:8787/prefix",
            "http://LOCALHOST.",
            "ws://127.0.0.1:8787/ws",
            "https://tessera.example.com",
            "https://10.0.0.5",
            "wss://tessera.example.com/ws",
        ] {
            assert_eq!(require_secure(&url(ok)), Ok(()), "{ok} must be accepted");
        }
        for refused in [
            "http://tessera.example.com",
            "http://10.0.0.5:8787",
            "http://0.0.0.0:8787",
            "http://[::]:8787",
            "http://192.168.1.2",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "ws://tessera.example.com/ws",
        ] {
            let err = require_secure(&url(refused)).expect_err("must be refused");
            assert_eq!(err.code(), "insecure_server_url", "{refused} must be insecure_server_url: {err}");
            assert!(err.to_string().contains("https://"), "the message says what to use instead: {err}");
        }
    }

    #[test]
    fn the_issuer_must_be_the_server_asked() {
        let base = url("https://tessera.example.com/support");
        for same in [
            "https://tessera.example.com/support",
            "https://tessera.example.com/support/",
            "https://TESSERA.example.com:443/support",
        ] {
            assert_eq!(check_issuer(&base, same), Ok(()), "{same} names the same server");
        }
        for other in [
            "http://tessera.example.com/support",
            "https://evil.example.com/support",
            "https://tessera.example.com:8443/support",
            "https://tessera.example.com",
            "https://tessera.example.com/support?x=1",
            "not a url",
            "",
        ] {
            let err = check_issuer(&base, other).expect_err("must be refused");
            assert_eq!(err.code(), "issuer_mismatch", "{other:?} is another issuer: {err}");
        }
    }
}
