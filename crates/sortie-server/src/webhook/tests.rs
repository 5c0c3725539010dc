use super::*;
use crate::signature::sign_hex;
use axum::http::HeaderValue;

const SECRET: &str = "It's a Secret to Everybody";
const BODY: &[u8] = br#"{"zen":"Keep it logically awesome."}"#;

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn github(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        (
            "x-hub-signature-256",
            format!("sha256={}", sign_hex(SECRET.as_bytes(), body)),
        ),
        ("x-github-delivery", "d-1".into()),
        ("x-github-event", "ping".into()),
        ("user-agent", "GitHub-Hookshot/abc".into()),
        ("cookie", "not kept".into()),
    ]
}

fn run(
    route: WebhookRoute,
    pairs: &[(&'static str, String)],
    body: &[u8],
) -> Result<Delivery, Refusal> {
    let secret = Secret::new(SECRET);
    inspect(
        route,
        Some(&secret),
        &headers(pairs),
        body,
        Timestamp::from_millis(5),
    )
}

#[test]
fn a_signed_github_delivery_is_kept_with_its_headers() {
    let d = run(WebhookRoute::Github, &github(BODY), BODY).unwrap();
    assert_eq!(d.id, DeliveryId("d-1".into()));
    assert_eq!(d.forge, Flavor::Github);
    assert_eq!(d.event, "ping");
    assert_eq!(d.body, BODY);
    assert_eq!(d.received_at, Timestamp::from_millis(5));
    assert!(d.headers.contains_key("user-agent"));
    assert!(d.headers.contains_key("x-github-delivery"));
    assert!(!d.headers.contains_key("cookie"));
}

#[test]
fn gitea_and_forgejo_are_told_apart_by_their_headers() {
    let sig = sign_hex(SECRET.as_bytes(), BODY);
    let gitea = [
        ("x-gitea-signature", sig.clone()),
        ("x-gitea-delivery", "g-1".to_string()),
        ("x-gitea-event", "workflow_job".to_string()),
    ];
    assert_eq!(
        run(WebhookRoute::Gitea, &gitea, BODY).unwrap().forge,
        Flavor::Gitea
    );
    // Forgejo sends its own names and Gitea's; its own signature header alone suffices.
    let forgejo = [
        ("x-forgejo-signature", sig),
        ("x-forgejo-delivery", "f-1".to_string()),
        ("x-forgejo-event", "push".to_string()),
    ];
    let d = run(WebhookRoute::Gitea, &forgejo, BODY).unwrap();
    assert_eq!((d.forge, d.id.0.as_str()), (Flavor::Forgejo, "f-1"));
}

#[test]
fn refusals_say_why() {
    let without = |name: &str| {
        github(BODY)
            .into_iter()
            .filter(|(k, _)| *k != name)
            .collect::<Vec<_>>()
    };
    let with = |name: &'static str, value: &str| {
        let mut h = without(name);
        h.push((name, value.to_string()));
        h
    };
    let bad_sig = format!("sha256={}", sign_hex(b"another secret", BODY));
    let signed = |body: &[u8], event: &str| {
        let mut h = github(body);
        h.retain(|(k, _)| *k != "x-github-event");
        h.push(("x-github-event", event.to_string()));
        h
    };
    type Row<'a> = (Vec<(&'static str, String)>, &'a [u8], StatusCode, &'a str);
    let rows: Vec<Row> = vec![
        (
            without("x-hub-signature-256"),
            BODY,
            StatusCode::UNAUTHORIZED,
            "X-Hub-Signature-256",
        ),
        (
            with("x-hub-signature-256", &bad_sig),
            BODY,
            StatusCode::UNAUTHORIZED,
            "does not match",
        ),
        (
            with("x-hub-signature-256", "sha256=xyz"),
            BODY,
            StatusCode::UNAUTHORIZED,
            "malformed",
        ),
        (
            without("x-github-delivery"),
            BODY,
            StatusCode::BAD_REQUEST,
            "x-github-delivery",
        ),
        (
            with("x-github-delivery", " "),
            BODY,
            StatusCode::BAD_REQUEST,
            "x-github-delivery",
        ),
        (
            without("x-github-event"),
            BODY,
            StatusCode::BAD_REQUEST,
            "x-github-event",
        ),
        (
            signed(BODY, "no_such_event"),
            BODY,
            StatusCode::BAD_REQUEST,
            "unknown event \"no_such_event\"",
        ),
        (
            signed(b"{not json", "push"),
            b"{not json",
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            signed(b"payload=%7B%7D", "push"),
            b"payload=%7B%7D",
            StatusCode::BAD_REQUEST,
            "application/json",
        ),
        (
            signed(b"[1]", "push"),
            b"[1]",
            StatusCode::BAD_REQUEST,
            "not an object",
        ),
    ];
    for (h, body, status, fragment) in rows {
        let refusal = run(WebhookRoute::Github, &h, body).unwrap_err();
        assert_eq!(refusal.status, status, "{}", refusal.reason);
        assert!(
            refusal
                .reason
                .to_lowercase()
                .contains(&fragment.to_lowercase()),
            "{fragment:?} not in {:?}",
            refusal.reason
        );
        assert!(!refusal.reason.contains(SECRET));
    }
}

#[test]
fn a_route_without_a_secret_refuses_and_names_the_setting() {
    let r = inspect(
        WebhookRoute::Gitea,
        None,
        &headers(&github(BODY)),
        BODY,
        Timestamp::from_millis(0),
    )
    .unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.reason.contains("SORTIE_GITEA_WEBHOOK_SECRET"),
        "{}",
        r.reason
    );
    let r = inspect(
        WebhookRoute::Github,
        None,
        &headers(&github(BODY)),
        BODY,
        Timestamp::from_millis(0),
    )
    .unwrap_err();
    assert!(r.reason.contains("github.webhook_secret"), "{}", r.reason);
}

#[test]
fn a_github_signature_on_the_gitea_route_is_not_enough() {
    // Gitea's route reads X-Gitea-Signature / X-Forgejo-Signature, not X-Hub-Signature-256.
    let mut h = github(BODY);
    h.push(("x-gitea-delivery", "g".into()));
    h.push(("x-gitea-event", "push".into()));
    let r = run(WebhookRoute::Gitea, &h, BODY).unwrap_err();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
