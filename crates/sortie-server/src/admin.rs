//! The admin API's door: `Authorization: Bearer <admin_token>` (DESIGN.md, "Operator interface").
//! A pure function of the configured token and the request headers.

use crate::config::Secret;
use crate::webhook::Refusal;
use axum::http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

/// Lets the request in when it carries `Authorization: Bearer <admin_token>`; otherwise the 401
/// to answer, saying what to do. With no token configured the admin API is closed.
pub fn authorize(token: Option<&Secret>, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(token) = token else {
        return Err(unauthorized(
            "the admin API is closed: no admin token is configured; set admin_token \
             (environment SORTIE_ADMIN_TOKEN) and send it as `Authorization: Bearer <token>`",
        ));
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "the Authorization header is missing; send `Authorization: Bearer <admin_token>`",
        ));
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if same_secret(p.as_bytes(), token.expose().as_bytes()) => Ok(()),
        Some(_) => Err(unauthorized(
            "the bearer token does not match admin_token (SORTIE_ADMIN_TOKEN)",
        )),
        None => Err(unauthorized(
            "the Authorization header is not `Bearer <admin_token>`",
        )),
    }
}

fn unauthorized(reason: &str) -> Refusal {
    Refusal {
        status: StatusCode::UNAUTHORIZED,
        reason: reason.to_string(),
    }
}

/// Compares in constant time: both sides are hashed first, so neither the length nor the
/// position of the first differing byte shows in the timing.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    let diff = da
        .iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn refusals_and_the_good_token() {
        let token = Secret::new("s3cret");
        let none = HeaderMap::new();
        let closed = authorize(None, &with_auth("Bearer s3cret")).unwrap_err();
        assert_eq!(closed.status, StatusCode::UNAUTHORIZED);
        assert!(
            closed.reason.contains("SORTIE_ADMIN_TOKEN"),
            "{}",
            closed.reason
        );
        for (headers, fragment) in [
            (none, "missing"),
            (with_auth("Bearer s3creT"), "does not match"),
            (with_auth("Bearer s3cret2"), "does not match"),
            (with_auth("Bearer "), "does not match"),
            (with_auth("Basic czNjcmV0"), "not `Bearer"),
            (with_auth("s3cret"), "not `Bearer"),
        ] {
            let r = authorize(Some(&token), &headers).unwrap_err();
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            assert!(r.reason.contains(fragment), "{fragment}: {}", r.reason);
            assert!(!r.reason.contains("s3cret"), "{}", r.reason);
        }
        assert!(authorize(Some(&token), &with_auth("Bearer s3cret")).is_ok());
    }

    #[test]
    fn constant_time_comparison_is_equality() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(same_secret(b"", b""));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }
}
