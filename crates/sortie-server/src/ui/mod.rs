//! The web UI: one page (`GET /` and `GET /ui`) with its script and style sheet, compiled into
//! the binary. It asks for the admin token (kept in the tab's session storage), lists jobs with
//! the reason for their state (refreshed every 2 s, filterable by state) and shows a job's history
//! and instances. It talks only to this server's admin API: the Content-Security-Policy forbids
//! every other origin and inline script, and the script writes API data as text, never as HTML.

use crate::app::AppState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The page.
pub const INDEX_HTML: &str = include_str!("index.html");
/// Its script.
pub const APP_JS: &str = include_str!("app.js");
/// Its style sheet.
pub const APP_CSS: &str = include_str!("app.css");

/// Only this origin, no inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The UI routes, to merge into [`crate::app::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(index))
        .route("/ui/app.js", get(script))
        .route("/ui/app.css", get(style))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sortie_core::job::JobState;

    #[test]
    fn the_state_filter_offers_every_job_state() {
        for state in JobState::ALL {
            assert!(
                APP_JS.contains(&format!("\"{}\"", state.as_str())),
                "{state} missing from app.js STATES"
            );
        }
    }

    #[test]
    fn api_data_never_becomes_html() {
        for (name, text) in [("app.js", APP_JS), ("index.html", INDEX_HTML)] {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!text.contains(sink), "{name} uses {sink}");
            }
        }
    }
}
