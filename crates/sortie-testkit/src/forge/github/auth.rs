//! The fake's authentication: App JWTs (RS256, verified with the registered public key),
//! installation tokens (optionally narrowed to repositories and permissions), and PATs.

use super::super::common::{message, reply};
use super::{GhState, IssuedToken};
use axum::response::Response;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// Runs `f` with the App's id when `auth` is a JWT signed by a registered App's key with sane
/// claims.
pub(super) fn with_jwt(
    s: &mut GhState,
    auth: &str,
    f: impl FnOnce(&mut GhState, &str) -> Response,
) -> Response {
    if s.apps.is_empty() {
        return message(401, "A JSON web token could not be decoded");
    }
    let Some(jwt) = auth.strip_prefix("Bearer ") else {
        return message(401, "A JSON web token could not be decoded");
    };
    let mut why = String::new();
    for (app_id, pem) in s.apps.clone() {
        match verify_jwt(jwt, &app_id, &pem) {
            Ok(()) => return f(s, &app_id),
            Err(e) => why = e,
        }
    }
    message(401, &why)
}

/// The App whose valid JWT `auth` is, if it is one.
pub(super) fn jwt_app(s: &GhState, auth: &str) -> Option<String> {
    let jwt = auth.strip_prefix("Bearer ")?;
    s.apps
        .iter()
        .find(|(id, pem)| verify_jwt(jwt, id, pem).is_ok())
        .map(|(id, _)| id.clone())
}

fn is_first_app(s: &GhState, app: &str) -> bool {
    s.apps.first().is_some_and(|(id, _)| id == app)
}

/// App `app`'s installation on `key` (`repo:o/r`, `org:o`).
pub(super) fn installation_of(s: &GhState, app: &str, key: &str) -> Option<u64> {
    if let Some(id) = s.app_installations.get(&(app.to_string(), key.to_string())) {
        return Some(*id);
    }
    if !is_first_app(s, app) {
        return None;
    }
    if let Some(repo) = key.strip_prefix("repo:") {
        return s.repo_installations.get(repo).copied();
    }
    key.strip_prefix("org:")
        .and_then(|org| s.org_installations.get(org).copied())
}

/// Every installation of App `app`, as `(target key, id)`, sorted by id.
pub(super) fn installations_of(s: &GhState, app: &str) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = s
        .app_installations
        .iter()
        .filter(|((a, _), _)| a == app)
        .map(|((_, key), id)| (key.clone(), *id))
        .collect();
    if is_first_app(s, app) {
        all.extend(
            s.repo_installations
                .iter()
                .map(|(r, id)| (format!("repo:{r}"), *id)),
        );
        all.extend(
            s.org_installations
                .iter()
                .map(|(o, id)| (format!("org:{o}"), *id)),
        );
    }
    all.sort_by_key(|(_, id)| *id);
    // One entry per installation (an App installed on an organisation covers its repositories).
    all.dedup_by_key(|(_, id)| *id);
    all
}

#[derive(serde::Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

fn verify_jwt(jwt: &str, app_id: &str, pem: &str) -> Result<(), String> {
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    // Tests run on clocks of their own; the lifetime rule is checked below instead.
    v.validate_exp = false;
    v.required_spec_claims.clear();
    let c = jsonwebtoken::decode::<Claims>(jwt, &key, &v)
        .map_err(|e| format!("A JSON web token could not be decoded: {e}"))?;
    if c.claims.iss != app_id {
        return Err(format!(
            "'Issuer' claim ('iss') must be the App id {app_id}"
        ));
    }
    if c.claims.exp - c.claims.iat > 660 || c.claims.exp <= c.claims.iat {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    Ok(())
}

pub(super) fn issue_token(s: &mut GhState, app: &str, id: &str, body: &Value) -> Response {
    let Ok(installation) = id.parse::<u64>() else {
        return message(404, "Not Found");
    };
    // An App mints tokens for its own installations only.
    let known = installations_of(s, app)
        .iter()
        .any(|(_, i)| *i == installation);
    if !known {
        return message(404, "Not Found");
    }
    let expires = s
        .token_expiry
        .unwrap_or_else(|| OffsetDateTime::now_utc() + std::time::Duration::from_secs(3600));
    let expires_at = expires
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let token = format!("ghs_fake{:04}", s.tokens.len() + 1);
    let repositories = body.get("repositories").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    });
    let permissions = body.get("permissions").cloned();
    let issued = IssuedToken {
        token: token.clone(),
        installation,
        repositories,
        permissions: permissions.clone(),
        expires_at: expires_at.clone(),
    };
    s.tokens.insert(token.clone(), issued);
    let selection = if body.get("repositories").is_some() {
        "selected"
    } else {
        "all"
    };
    reply(
        201,
        json!({ "token": token, "expires_at": expires_at, "permissions": permissions.unwrap_or(json!({"actions": "write", "administration": "write", "contents": "read"})), "repository_selection": selection }),
    )
}

/// Checks a PAT or an installation token against the repository or organisation; `Some` is the
/// refusal to send.
pub(super) fn authorize(
    s: &GhState,
    auth: &str,
    repo: Option<&str>,
    org: Option<&str>,
    rest: &[&str],
) -> Option<Response> {
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("token "))
        .unwrap_or_default();
    if s.pats.contains(token) {
        return None;
    }
    let Some(t) = s.tokens.get(token).filter(|_| !s.revoked.contains(token)) else {
        return Some(message(401, "Bad credentials"));
    };
    let key = match (repo, org) {
        (Some(r), _) => format!("repo:{r}"),
        (None, Some(o)) => format!("org:{o}"),
        _ => String::new(),
    };
    // Any App's installation on the target will do.
    let installed = s
        .apps
        .iter()
        .any(|(app, _)| installation_of(s, app, &key) == Some(t.installation));
    if !installed {
        return Some(message(404, "Not Found"));
    }
    if let (Some(list), Some(r)) = (&t.repositories, repo) {
        let name = r.split('/').nth(1).unwrap_or_default();
        if !list.iter().any(|n| n == name) {
            return Some(message(404, "Not Found"));
        }
    }
    let narrowed = t
        .permissions
        .as_ref()
        .is_some_and(|p| p.get("administration").is_none());
    if narrowed && rest.first() == Some(&"actions") {
        return Some(message(403, "Resource not accessible by integration"));
    }
    None
}
