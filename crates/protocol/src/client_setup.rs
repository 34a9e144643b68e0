//! What a client needs to sign in to a server that may trust an organisation's identity
//! provider (issue 15): `GET /api/client-config` ([`ClientSetup`]), and the headers a client
//! sends so such a server can tell its devices apart.

use serde::{Deserialize, Serialize};

/// `GET /api/client-config` (no token): where and how clients sign in, so staff type only the
/// server's URL.
///
/// ```json
/// {"issuer":"https://login.example.com/realms/support","client_id":"tessera",
///  "scopes":"openid profile email offline_access","audience":"https://tessera.example.com",
///  "external":true}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSetup {
    /// The OpenID provider's issuer: discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The public client id registered at that provider. `None`: the client's built-in id
    /// (the reference server knows `tessera-desktop` and `tessera-cli`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The scopes to ask for (space-separated).
    pub scopes: String,
    /// The `audience` / `resource` (RFC 8707) parameter to send, when the provider needs one
    /// to issue tokens for this server (Auth0, Entra ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// True when the server trusts another provider's tokens (it signs nobody in itself).
    #[serde(default)]
    pub external: bool,
    /// The loopback ports registered at a provider that matches redirect URIs exactly
    /// (`http://127.0.0.1:PORT/callback`, as glewlwyd does): the client listens on the first free
    /// one. Empty: any port (RFC 8252 §7.3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_ports: Vec<u16>,
}

/// `53100-53109`, `53100,53105`: a list of ports, ranges inclusive. `Err` names what is wrong.
pub fn parse_ports(text: &str) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let port = |s: &str| match s.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("{s:?} is not a port (1-65535)")),
            Ok(n) => Ok(n),
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (port(first)?, port(last)?);
                if first > last || last - first > 1000 {
                    return Err(format!("{part:?} is not a range of at most 1000 ports"));
                }
                ports.extend(first..=last);
            }
            None => ports.push(port(part)?),
        }
    }
    Ok(ports)
}

/// Sent by clients with every API request to a server: a random id the client chose at
/// sign-in, shared by the app and the CLI through the keychain record. A server that trusts an
/// external provider keys the user's device (its sessions list entry) by it; signing that
/// device out refuses every token that comes with it. At most 128 characters of
/// `[A-Za-z0-9._-]`.
pub const DEVICE_SESSION_HEADER: &str = "x-tessera-device-session";
/// The device's name as the sessions list shows it (at most 128 bytes are kept). The text
/// headers carry UTF-8 percent-encoded ([`encode_header_text`]), so a host name like
/// `Jürgen's laptop` travels intact.
pub const DEVICE_NAME_HEADER: &str = "x-tessera-device-name";
/// The device's platform (`linux`, `windows`, `macos`).
pub const DEVICE_PLATFORM_HEADER: &str = "x-tessera-platform";
/// The client's version.
pub const DEVICE_APP_VERSION_HEADER: &str = "x-tessera-app-version";

/// `text` as a header value: bytes outside visible ASCII, and `%`, as `%XX` (RFC 3986 §2.1).
pub fn encode_header_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The text [`encode_header_text`] encoded. A `%` not followed by two hex digits stays as it
/// is; bytes that are not UTF-8 become U+FFFD.
pub fn decode_header_text(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_setup_json_is_pinned_and_optional_fields_stay_out() {
        let setup = ClientSetup {
            issuer: "https://idp.example".into(),
            client_id: None,
            scopes: "openid".into(),
            audience: None,
            external: false,
            redirect_ports: Vec::new(),
        };
        let json = serde_json::to_string(&setup).unwrap();
        assert_eq!(json, r#"{"issuer":"https://idp.example","scopes":"openid","external":false}"#);
        let parsed: ClientSetup =
            serde_json::from_str(r#"{"issuer":"i","client_id":"c","scopes":"s","audience":"a"}"#).unwrap();
        assert_eq!(parsed.client_id.as_deref(), Some("c"));
        assert!(!parsed.external, "a document without `external` reads as the server's own sign-in");
    }

    #[test]
    fn ports_are_listed_and_ranged() {
        assert_eq!(parse_ports("53100-53102, 8080"), Ok(vec![53100, 53101, 53102, 8080]));
        assert_eq!(parse_ports(""), Ok(vec![]));
        for bad in ["0", "70000", "x", "9-3", "1-5000"] {
            assert!(parse_ports(bad).is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn header_text_survives_any_name() {
        for name in ["front-desk", "Jürgen's laptop", "100% desk", "名前", "tab\there", ""] {
            let encoded = encode_header_text(name);
            assert!(encoded.bytes().all(|b| (0x20..0x7f).contains(&b)), "{encoded:?} is a valid header value");
            assert_eq!(decode_header_text(&encoded), name);
        }
        assert_eq!(decode_header_text("50%"), "50%", "a stray % stays");
        assert_eq!(decode_header_text("%zz%4"), "%zz%4");
        assert_eq!(decode_header_text("%FF"), "\u{FFFD}", "not UTF-8: replaced, no panic");
    }
}
