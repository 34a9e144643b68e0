//! Webhook signatures: what a receiver checks to know a delivery came from this server.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `Tessera-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

/// HMAC-SHA256 over `"<t>.<body>"`.
pub fn mac(secret: &str, t: i64, body: &[u8]) -> Vec<u8> {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Known answer computed independently (Python hmac): HMAC-SHA256("key", "1.{}").
        let header = signature_header("key", 1, b"{}");
        assert_eq!(
            header, "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224",
            "receivers verify exactly this construction"
        );
        assert_ne!(signature_header("key", 2, b"{}"), header, "the timestamp is covered");
    }
}
