//! Webhook deliveries signed exactly as the forges sign them, and sending them to sortie.
//!
//! - GitHub (docs "Webhook events and payloads" → "Delivery headers", "Validating webhook
//!   deliveries"): `X-GitHub-Event`, `X-GitHub-Delivery`, `X-GitHub-Hook-ID`,
//!   `X-GitHub-Hook-Installation-Target-Type`/`-ID`, `X-Hub-Signature` (`sha1=`, legacy) and
//!   `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, `User-Agent: GitHub-Hookshot/…`.
//! - Gitea (go-gitea/gitea `services/webhook/deliver.go`): `X-Gitea-Delivery`, `X-Gitea-Event`,
//!   `X-Gitea-Event-Type`, `X-Gitea-Signature` (plain hex HMAC-SHA256), the same under `X-Gogs-*`,
//!   plus `X-Hub-Signature`/`X-Hub-Signature-256` and `X-GitHub-Delivery`/`-Event`/`-Event-Type`.
//! - Forgejo (its fork of `deliver.go`): everything Gitea sends plus `X-Forgejo-Delivery`,
//!   `X-Forgejo-Event`, `X-Forgejo-Event-Type`, `X-Forgejo-Signature`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex HMAC-SHA256 of `body` with `secret`.
pub fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Hex HMAC-SHA1 (the legacy `X-Hub-Signature`).
pub fn hmac_sha1_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// One delivery: headers and the exact body bytes that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
}

impl Webhook {
    /// A GitHub delivery of `event` (e.g. `workflow_job`).
    pub fn github(event: &str, delivery: &str, secret: &str, body: Vec<u8>) -> Webhook {
        let headers = vec![
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), "GitHub-Hookshot/sortie-testkit".into()),
            ("X-GitHub-Event".into(), event.into()),
            ("X-GitHub-Delivery".into(), delivery.into()),
            ("X-GitHub-Hook-ID".into(), "292430182".into()),
            (
                "X-GitHub-Hook-Installation-Target-Type".into(),
                "integration".into(),
            ),
            (
                "X-GitHub-Hook-Installation-Target-ID".into(),
                "79929171".into(),
            ),
            (
                "X-Hub-Signature".into(),
                format!("sha1={}", hmac_sha1_hex(secret, &body)),
            ),
            (
                "X-Hub-Signature-256".into(),
                format!("sha256={}", hmac_sha256_hex(secret, &body)),
            ),
        ];
        Webhook { headers, body }
    }

    /// A Gitea delivery. `event` is the hook event (`push`), `event_type` the finer type Gitea
    /// also sends (`push`, `pull_request_sync`, …).
    pub fn gitea(
        event: &str,
        event_type: &str,
        delivery: &str,
        secret: &str,
        body: Vec<u8>,
    ) -> Webhook {
        let sig = hmac_sha256_hex(secret, &body);
        let sig1 = hmac_sha1_hex(secret, &body);
        let mut headers: Vec<(String, String)> =
            vec![("Content-Type".into(), "application/json".into())];
        for prefix in ["X-Gitea", "X-Gogs"] {
            headers.push((format!("{prefix}-Delivery"), delivery.into()));
            headers.push((format!("{prefix}-Event"), event.into()));
            headers.push((format!("{prefix}-Event-Type"), event_type.into()));
            headers.push((format!("{prefix}-Signature"), sig.clone()));
        }
        headers.push(("X-Hub-Signature".into(), format!("sha1={sig1}")));
        headers.push(("X-Hub-Signature-256".into(), format!("sha256={sig}")));
        headers.push(("X-GitHub-Delivery".into(), delivery.into()));
        headers.push(("X-GitHub-Event".into(), event.into()));
        headers.push(("X-GitHub-Event-Type".into(), event_type.into()));
        Webhook { headers, body }
    }

    /// A Forgejo delivery: Gitea's headers plus `X-Forgejo-*`.
    pub fn forgejo(
        event: &str,
        event_type: &str,
        delivery: &str,
        secret: &str,
        body: Vec<u8>,
    ) -> Webhook {
        let mut w = Webhook::gitea(event, event_type, delivery, secret, body);
        let sig = hmac_sha256_hex(secret, &w.body);
        w.headers
            .push(("X-Forgejo-Delivery".into(), delivery.into()));
        w.headers.push(("X-Forgejo-Event".into(), event.into()));
        w.headers
            .push(("X-Forgejo-Event-Type".into(), event_type.into()));
        w.headers.push(("X-Forgejo-Signature".into(), sig));
        w
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// POSTs the delivery to `url`; returns the status and body text.
    pub async fn send(&self, url: &str) -> Result<(u16, String), reqwest::Error> {
        let mut req = reqwest::Client::new().post(url).body(self.body.clone());
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub docs, "Validating webhook deliveries" → "Testing the webhook payload validation":
    // secret "It's a Secret to Everybody", payload "Hello, World!".
    #[test]
    fn github_documented_example() {
        let w = Webhook::github(
            "ping",
            "d1",
            "It's a Secret to Everybody",
            b"Hello, World!".to_vec(),
        );
        assert_eq!(
            w.header("x-hub-signature-256"),
            Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        );
    }

    #[test]
    fn gitea_and_forgejo_headers() {
        let g = Webhook::gitea("push", "push", "d2", "s", b"{}".to_vec());
        let sig = hmac_sha256_hex("s", b"{}");
        assert_eq!(g.header("X-Gitea-Signature"), Some(sig.as_str()));
        assert_eq!(g.header("X-Gitea-Event-Type"), Some("push"));
        assert!(g.header("X-Forgejo-Event").is_none());
        let f = Webhook::forgejo("push", "push", "d3", "s", b"{}".to_vec());
        assert_eq!(f.header("X-Forgejo-Signature"), Some(sig.as_str()));
        assert_eq!(f.header("X-Gitea-Delivery"), Some("d3"));
    }
}
