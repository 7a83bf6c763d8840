//! Delivery signatures: `X-Webhook-Signature: v1=<hex HMAC-SHA256>` over
//! `"{timestamp}.{body}"` with the webhook's secret, the timestamp (Unix
//! seconds) in `X-Webhook-Timestamp`. Receivers recompute it, compare in
//! constant time and refuse stale timestamps.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does (also used by the tests).
pub fn verify(secret: &[u8], timestamp: i64, body: &[u8], signature: &str) -> bool {
    let Some(hex_mac) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_mac) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_the_same_secret_timestamp_and_body() {
        let signature = sign(b"secret-1234567890", 1_800_000_000, b"{\"a\":1}");
        assert!(verify(
            b"secret-1234567890",
            1_800_000_000,
            b"{\"a\":1}",
            &signature
        ));
        assert!(!verify(
            b"another-secret-000",
            1_800_000_000,
            b"{\"a\":1}",
            &signature
        ));
        assert!(!verify(
            b"secret-1234567890",
            1_800_000_001,
            b"{\"a\":1}",
            &signature
        ));
        assert!(!verify(
            b"secret-1234567890",
            1_800_000_000,
            b"{\"a\":2}",
            &signature
        ));
    }
}
