//! Deciding whether a webhook request is a delivery sortie keeps: a pure function of the route,
//! the configured secret, the headers and the raw body. The HTTP handler only performs what this
//! decides (store it, or answer with the refusal).
//!
//! Order of checks, each refusal storing nothing: secret configured (401) → signature header
//! present (401) → signature matches (401) → delivery id and event headers (400) → event known
//! (400) → body is a JSON object (400). The body limit (413) is enforced while reading the body.

mod events;

pub use events::is_known;

use crate::config::Secret;
use crate::signature::{self, Encoding};
use axum::http::{HeaderMap, StatusCode};
use sortie_core::forge::Flavor;
use sortie_store::{Delivery, DeliveryId, Timestamp};
use std::collections::BTreeMap;

/// The webhook route a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRoute {
    /// `POST /webhooks/github`.
    Github,
    /// `POST /webhooks/gitea` and its alias `POST /webhook`: Gitea and Forgejo.
    Gitea,
}

impl WebhookRoute {
    /// The setting that holds this route's secret, for messages.
    pub fn secret_setting(self) -> &'static str {
        match self {
            WebhookRoute::Github => {
                "github.webhook_secret (environment SORTIE_GITHUB_WEBHOOK_SECRET)"
            }
            WebhookRoute::Gitea => "gitea.webhook_secret (environment SORTIE_GITEA_WEBHOOK_SECRET)",
        }
    }
}

/// A request sortie will not store: the status to answer and why (logged, and sent as the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 401 or 413.
    pub status: StatusCode,
    /// One sentence for the operator; never contains the body or a secret.
    pub reason: String,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }
}

/// The longest delivery id kept. GitHub's and Gitea's are UUIDs (36 characters).
const MAX_DELIVERY_ID: usize = 200;

/// Header names of one forge family: (GitHub's) or (Forgejo's, then Gitea's).
struct HeaderNames {
    signature: &'static [&'static str],
    delivery: &'static [&'static str],
    event: &'static [&'static str],
}

/// GitHub: "Webhook events and payloads", delivery headers (docs.github.com).
const GITHUB_HEADERS: HeaderNames = HeaderNames {
    signature: &["x-hub-signature-256"],
    delivery: &["x-github-delivery"],
    event: &["x-github-event"],
};

/// Gitea sets `X-Gitea-*` (go-gitea/gitea `services/webhook/deliver.go`); Forgejo sets
/// `X-Forgejo-*` as well as Gitea's, so Forgejo's names are looked at first.
const GITEA_HEADERS: HeaderNames = HeaderNames {
    signature: &["x-forgejo-signature", "x-gitea-signature"],
    delivery: &["x-forgejo-delivery", "x-gitea-delivery"],
    event: &["x-forgejo-event", "x-gitea-event"],
};

/// Checks a request and, when sortie keeps it, returns the [`Delivery`] to store.
pub fn inspect(
    route: WebhookRoute,
    secret: Option<&Secret>,
    headers: &HeaderMap,
    body: &[u8],
    received_at: Timestamp,
) -> Result<Delivery, Refusal> {
    let (names, encoding) = match route {
        WebhookRoute::Github => (&GITHUB_HEADERS, Encoding::PrefixedSha256),
        WebhookRoute::Gitea => (&GITEA_HEADERS, Encoding::BareHex),
    };
    let Some(secret) = secret else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            format!("no webhook secret is configured for this route, so it refuses every delivery; set {}", route.secret_setting()),
        ));
    };
    let Some((sig_name, sig)) = first_header(headers, names.signature) else {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "the {} header is missing: set the same secret in the forge's webhook settings",
                pretty(names.signature)
            ),
        ));
    };
    signature::verify(secret.expose().as_bytes(), body, sig, encoding)
        .map_err(|e| Refusal::new(StatusCode::UNAUTHORIZED, format!("{sig_name}: {e}")))?;
    let id = required_header(headers, names.delivery)?;
    if id.len() > MAX_DELIVERY_ID {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("the delivery id is longer than {MAX_DELIVERY_ID} characters"),
        ));
    }
    let event = required_header(headers, names.event)?;
    let forge = flavor_of(route, headers);
    if !is_known(forge, event) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("unknown event {:?} for {forge}: not one the forge documents; unsubscribe the webhook from it", truncate(event)),
        ));
    }
    check_json_object(body)?;
    Ok(Delivery {
        id: DeliveryId(id.to_string()),
        forge,
        event: event.to_string(),
        headers: kept_headers(headers),
        body: body.to_vec(),
        received_at,
    })
}

/// Gitea's route serves Forgejo too: any `X-Forgejo-*` header means Forgejo.
fn flavor_of(route: WebhookRoute, headers: &HeaderMap) -> Flavor {
    match route {
        WebhookRoute::Github => Flavor::Github,
        WebhookRoute::Gitea if headers.keys().any(|k| k.as_str().starts_with("x-forgejo-")) => {
            Flavor::Forgejo
        }
        WebhookRoute::Gitea => Flavor::Gitea,
    }
}

/// The first of `names` present, with a value that is visible ASCII.
fn first_header<'h>(
    headers: &'h HeaderMap,
    names: &[&'static str],
) -> Option<(&'static str, &'h str)> {
    names.iter().find_map(|n| {
        headers
            .get(*n)
            .and_then(|v| v.to_str().ok())
            .map(|v| (*n, v))
    })
}

fn required_header<'h>(headers: &'h HeaderMap, names: &[&'static str]) -> Result<&'h str, Refusal> {
    match first_header(headers, names) {
        Some((_, v)) if !v.trim().is_empty() => Ok(v.trim()),
        _ => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("the {} header is missing or empty: this does not look like a forge webhook delivery", pretty(names)),
        )),
    }
}

/// A forge sends one JSON object. Form-encoded deliveries (GitHub's and Gitea's other content
/// type) are refused with a hint, since the signature must cover the JSON sortie reads.
fn check_json_object(body: &[u8]) -> Result<(), Refusal> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let parsed = serde_json::from_slice::<serde::de::IgnoredAny>(body);
    match (first, parsed) {
        (Some(b'{'), Ok(_)) => Ok(()),
        (_, Err(e)) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON ({e}); set the webhook's content type to application/json"),
        )),
        _ => Err(Refusal::new(StatusCode::BAD_REQUEST, "the body is JSON but not an object; a forge sends one JSON object")),
    }
}

/// The headers worth keeping with the delivery: the forge's own, the signature, the user agent.
fn kept_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    const PREFIXES: [&str; 5] = [
        "x-github-",
        "x-gitea-",
        "x-forgejo-",
        "x-gogs-",
        "x-hub-signature",
    ];
    headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            k == "user-agent" || k == "content-type" || PREFIXES.iter().any(|p| k.starts_with(p))
        })
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect()
}

/// Header names as the forges' documentation writes them (`X-GitHub-Delivery`), joined by "or".
fn pretty(names: &[&str]) -> String {
    let one = |name: &str| {
        name.split('-')
            .map(|part| match part {
                "github" => "GitHub".to_string(),
                _ => {
                    let mut c = part.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                }
            })
            .collect::<Vec<_>>()
            .join("-")
    };
    names
        .iter()
        .map(|n| one(n))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests;
