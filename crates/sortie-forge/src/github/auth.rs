//! GitHub App authentication: an RS256 JWT signed with the App's private key, exchanged for
//! installation access tokens, which are cached until five minutes before they expire.
//!
//! Source: GitHub docs, "Generating a JSON Web Token (JWT) for a GitHub App" (`iat` 60 seconds in
//! the past against clock drift, `exp` at most 10 minutes in the future, `iss` the App's id, RS256)
//! and "Generating an installation access token for a GitHub App"
//! (`POST /app/installations/{installation_id}/access_tokens`, optional `repositories` and
//! `permissions` to narrow the token; tokens expire after one hour).

use crate::error::ForgeError;
use crate::http::{enc, Api, Auth, Call};
use crate::types::{RepoRef, Secret};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// How far `iat` is backdated (GitHub: "60 seconds in the past to allow for clock drift").
pub const JWT_BACKDATE: Duration = Duration::from_secs(60);
/// How far `exp` lies ahead of now. GitHub refuses more than 10 minutes; 9 keeps a margin.
pub const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);
/// A cached installation token is renewed this long before its `expires_at`.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The claims of a GitHub App JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppClaims {
    /// Issued at (epoch seconds), backdated by [`JWT_BACKDATE`].
    pub iat: i64,
    /// Expires (epoch seconds), [`JWT_LIFETIME`] from now.
    pub exp: i64,
    /// The App's id (or client id).
    pub iss: String,
}

/// Signs the App JWT for `now`. Pure apart from the signature.
pub fn app_jwt(app_id: &str, key: &EncodingKey, now: OffsetDateTime) -> Result<String, ForgeError> {
    let claims = AppClaims {
        iat: (now - JWT_BACKDATE).unix_timestamp(),
        exp: (now + JWT_LIFETIME).unix_timestamp(),
        iss: app_id.to_string(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key).map_err(|e| {
        ForgeError::Config {
            message: format!("cannot sign the GitHub App JWT for app {app_id}: {e}"),
        }
    })
}

/// Reads the App's private key (PEM, PKCS#1 `BEGIN RSA PRIVATE KEY` as GitHub issues it, or
/// PKCS#8).
pub fn encoding_key(pem: &str) -> Result<EncodingKey, ForgeError> {
    EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| ForgeError::Config {
        message: format!(
            "the GitHub App private key is not a usable RSA PEM ({e}); download a new .pem from the App's settings page"
        ),
    })
}

/// An installation access token and when it stops working.
#[derive(Debug, Clone)]
pub struct InstallationToken {
    /// The token (`ghs_…`).
    pub token: Secret,
    /// From the API's `expires_at`.
    pub expires_at: OffsetDateTime,
}

impl InstallationToken {
    /// Still good for at least [`TOKEN_REFRESH_MARGIN`].
    pub fn usable_at(&self, now: OffsetDateTime) -> bool {
        now + TOKEN_REFRESH_MARGIN < self.expires_at
    }
}

/// Who an installation is looked up for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Repo(&'a RepoRef),
    Org(&'a str),
}

impl Target<'_> {
    fn key(&self) -> String {
        match self {
            Target::Repo(r) => format!("repo:{r}"),
            Target::Org(o) => format!("org:{o}"),
        }
    }
}

/// App credentials plus the caches of installation ids and tokens.
pub(crate) struct AppAuth {
    app_id: String,
    key: EncodingKey,
    fixed_installation: Option<u64>,
    installations: Mutex<HashMap<String, u64>>,
    tokens: Mutex<HashMap<(u64, Option<String>), InstallationToken>>,
}

impl std::fmt::Debug for AppAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AppAuth(app {}, installation {:?})",
            self.app_id, self.fixed_installation
        )
    }
}

#[derive(Deserialize)]
struct InstallationRef {
    id: u64,
}

#[derive(Deserialize)]
struct TokenReply {
    token: String,
    expires_at: String,
}

impl AppAuth {
    pub fn new(
        app_id: &str,
        pem: &str,
        fixed_installation: Option<u64>,
    ) -> Result<AppAuth, ForgeError> {
        Ok(AppAuth {
            app_id: app_id.to_string(),
            key: encoding_key(pem)?,
            fixed_installation,
            installations: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn jwt(&self, api: &Api) -> Result<Auth, ForgeError> {
        let jwt = app_jwt(&self.app_id, &self.key, api.clock.now())?;
        Ok(Auth {
            header: format!("Bearer {jwt}"),
            scope: format!("app {}", self.app_id),
        })
    }

    /// The App's id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The installation serving `target` when it is already known (configured or looked up),
    /// without calling GitHub.
    pub fn known_installation(&self, target: Target<'_>) -> Option<u64> {
        self.fixed_installation
            .or_else(|| lock(&self.installations).get(&target.key()).copied())
    }

    /// The configured installation, if any.
    pub fn fixed_installation(&self) -> Option<u64> {
        self.fixed_installation
    }

    /// The installation serving `target`: the configured one, else looked up once and cached
    /// (`GET /repos/{o}/{r}/installation`, `GET /orgs/{org}/installation`).
    pub async fn installation(&self, api: &Api, target: Target<'_>) -> Result<u64, ForgeError> {
        if let Some(id) = self.fixed_installation {
            return Ok(id);
        }
        let key = target.key();
        if let Some(id) = lock(&self.installations).get(&key) {
            return Ok(*id);
        }
        let path = match target {
            Target::Repo(r) => format!("/repos/{}/{}/installation", enc(&r.owner), enc(&r.name)),
            Target::Org(o) => format!("/orgs/{}/installation", enc(o)),
        };
        let found: InstallationRef = api
            .json(&Call::new(Method::GET, path).auth(&self.jwt(api)?))
            .await?;
        lock(&self.installations).insert(key, found.id);
        Ok(found.id)
    }

    /// An installation token, from the cache while it has more than five minutes left. With
    /// `only`, the token is narrowed to that repository and `contents: read` (for git clones).
    pub async fn token(
        &self,
        api: &Api,
        installation: u64,
        only: Option<&RepoRef>,
    ) -> Result<InstallationToken, ForgeError> {
        let key = (installation, only.map(|r| r.full_name()));
        let now = api.clock.now();
        if let Some(t) = lock(&self.tokens).get(&key).filter(|t| t.usable_at(now)) {
            return Ok(t.clone());
        }
        let body = match only {
            Some(r) => {
                serde_json::json!({ "repositories": [r.name], "permissions": { "contents": "read" } })
            }
            None => serde_json::json!({}),
        };
        let call = Call::new(
            Method::POST,
            format!("/app/installations/{installation}/access_tokens"),
        )
        .body(body)
        .auth(&self.jwt(api)?);
        let reply: TokenReply = api.json(&call).await?;
        let expires_at = OffsetDateTime::parse(
            &reply.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| ForgeError::BadResponse {
            forge: api.forge,
            what: call.what(),
            message: format!("expires_at {:?} is not RFC 3339: {e}", reply.expires_at),
        })?;
        let token = InstallationToken {
            token: Secret::new(reply.token),
            expires_at,
        };
        lock(&self.tokens).insert(key, token.clone());
        Ok(token)
    }

    /// The installations of this App (`GET /app/installations`, JWT; GitHub docs, "Apps" →
    /// "List installations for the authenticated app"), as `(id, account login)`, first page of
    /// 100.
    pub async fn installations(&self, api: &Api) -> Result<Vec<(u64, String)>, ForgeError> {
        #[derive(Deserialize)]
        struct Account {
            #[serde(default)]
            login: String,
        }
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
            account: Option<Account>,
        }
        let call = Call::new(Method::GET, "/app/installations?per_page=100")
            .priority(crate::budget::Priority::Action)
            .auth(&self.jwt(api)?);
        let all: Vec<Installation> = api.json(&call).await?;
        Ok(all
            .into_iter()
            .map(|i| (i.id, i.account.map(|a| a.login).unwrap_or_default()))
            .collect())
    }

    /// Drops what is cached for `target` (its installation id, and that installation's tokens),
    /// after GitHub answered 401 to a cached token: revoked, or the App was reinstalled.
    pub fn forget(&self, target: Target<'_>) {
        let installation = match self.fixed_installation {
            Some(id) => Some(id),
            None => lock(&self.installations).remove(&target.key()),
        };
        if let Some(id) = installation {
            lock(&self.tokens).retain(|(i, _), _| *i != id);
        }
    }

    /// The `Authorization` for calls about `target`.
    pub async fn auth_for(&self, api: &Api, target: Target<'_>) -> Result<Auth, ForgeError> {
        let installation = self.installation(api, target).await?;
        let t = self.token(api, installation, None).await?;
        Ok(Auth {
            header: format!("Bearer {}", t.token.expose()),
            scope: super::installation_scope(installation),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
