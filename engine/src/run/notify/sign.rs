//! The signature of a webhook's body: `X-Ralph-Signature-256: sha256=<hex>`, the HMAC-SHA256 of
//! the exact bytes sent, keyed with the channel's `secret` — the scheme of GitHub's
//! `X-Hub-Signature-256`, so a receiver checks it the same way (in constant time).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub(super) const HEADER: &str = "x-ralph-signature-256";

/// `sha256=` and the lowercase hex HMAC-SHA256 of `body` under `secret`.
pub(super) fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_the_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
