//! Webhook signatures: HMAC-SHA256 of the raw body under the webhook secret, compared in
//! constant time (`Mac::verify_slice`).
//!
//! - GitHub sends `X-Hub-Signature-256: sha256=<hex>` (docs.github.com, "Validating webhook
//!   deliveries").
//! - Gitea sends `X-Gitea-Signature: <hex>` (bare hex of the same HMAC), Forgejo
//!   `X-Forgejo-Signature: <hex>` (go-gitea/gitea `services/webhook/deliver.go`; Forgejo keeps
//!   Gitea's scheme under its own header names).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How the signature header encodes the digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `sha256=<64 hex digits>` (GitHub's `X-Hub-Signature-256`).
    PrefixedSha256,
    /// `<64 hex digits>` (Gitea's and Forgejo's headers).
    BareHex,
}

/// Why a signature was refused. The text goes to the log and the 401 body; it never contains
/// the secret or the expected digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not in the expected form.
    #[error("the signature header is malformed: {0}")]
    Malformed(&'static str),
    /// Well formed, but not the HMAC of this body under the configured secret.
    #[error("the signature does not match the body under the configured secret (the forge's webhook secret differs from sortie's, or the body was altered)")]
    Mismatch,
}

/// Checks `header` (the signature header's value) against `body` under `secret`.
pub fn verify(
    secret: &[u8],
    body: &[u8],
    header: &str,
    encoding: Encoding,
) -> Result<(), SignatureError> {
    let header = header.trim();
    let hex_digest = match encoding {
        Encoding::PrefixedSha256 => header
            .strip_prefix("sha256=")
            .ok_or(SignatureError::Malformed("expected sha256=<hex>"))?,
        Encoding::BareHex => header,
    };
    let expected = hex::decode(hex_digest)
        .map_err(|_| SignatureError::Malformed("the digest is not hexadecimal"))?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed(
            "the digest is not 32 bytes (64 hex digits)",
        ));
    }
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The lowercase hex HMAC-SHA256 of `body` under `secret`, as Gitea sends it (and GitHub after
/// `sha256=`). For tests, the bench and the fake forges.
pub fn sign_hex(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never takes the fallback.
    match HmacSha256::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented example ("Validating webhook deliveries", docs.github.com).
    const GH_SECRET: &str = "It's a Secret to Everybody";
    const GH_BODY: &str = "Hello, World!";
    const GH_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_example_verifies() {
        assert_eq!(
            verify(
                GH_SECRET.as_bytes(),
                GH_BODY.as_bytes(),
                GH_SIGNATURE,
                Encoding::PrefixedSha256
            ),
            Ok(())
        );
        assert_eq!(
            format!(
                "sha256={}",
                sign_hex(GH_SECRET.as_bytes(), GH_BODY.as_bytes())
            ),
            GH_SIGNATURE
        );
    }

    #[test]
    fn refusals() {
        let good_hex = &GH_SIGNATURE["sha256=".len()..];
        let mut flipped = good_hex.to_string();
        flipped.replace_range(0..1, "8");
        let rows: [(&str, &str, &str, Encoding, SignatureError); 7] = [
            (
                GH_SECRET,
                "Hello, World?",
                GH_SIGNATURE,
                Encoding::PrefixedSha256,
                SignatureError::Mismatch,
            ),
            (
                "wrong secret",
                GH_BODY,
                GH_SIGNATURE,
                Encoding::PrefixedSha256,
                SignatureError::Mismatch,
            ),
            (
                GH_SECRET,
                GH_BODY,
                good_hex,
                Encoding::PrefixedSha256,
                SignatureError::Malformed("expected sha256=<hex>"),
            ),
            (
                GH_SECRET,
                GH_BODY,
                "sha1=757107",
                Encoding::PrefixedSha256,
                SignatureError::Malformed("expected sha256=<hex>"),
            ),
            (
                GH_SECRET,
                GH_BODY,
                "sha256=zz",
                Encoding::PrefixedSha256,
                SignatureError::Malformed("the digest is not hexadecimal"),
            ),
            (
                GH_SECRET,
                GH_BODY,
                "sha256=abcd",
                Encoding::PrefixedSha256,
                SignatureError::Malformed("the digest is not 32 bytes (64 hex digits)"),
            ),
            (
                GH_SECRET,
                GH_BODY,
                &flipped,
                Encoding::BareHex,
                SignatureError::Mismatch,
            ),
        ];
        for (secret, body, header, enc, want) in rows {
            assert_eq!(
                verify(secret.as_bytes(), body.as_bytes(), header, enc),
                Err(want),
                "{header}"
            );
        }
    }

    #[test]
    fn gitea_bare_hex_verifies_in_either_case() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let hex = sign_hex(b"gitea-secret", body);
        assert_eq!(
            verify(b"gitea-secret", body, &hex, Encoding::BareHex),
            Ok(())
        );
        assert_eq!(
            verify(
                b"gitea-secret",
                body,
                &hex.to_uppercase(),
                Encoding::BareHex
            ),
            Ok(())
        );
        assert_eq!(
            verify(b"other", body, &hex, Encoding::BareHex),
            Err(SignatureError::Mismatch)
        );
    }
}
