//! Talking to a running `sortie serve`'s admin API: one GET, the JSON answer, or an error that
//! says what to do about it.

use crate::UsageError;
use anyhow::{anyhow, Context, Result};
use clap::Args;
use serde_json::Value;
use std::time::Duration;

/// Where the server is and how to get in (shared by `sortie jobs` and `sortie instances`).
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The sortie server's base URL.
    #[arg(
        long,
        env = "SORTIE_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL",
        global = true
    )]
    pub url: String,
    /// The server's admin_token, sent as `Authorization: Bearer`.
    #[arg(
        long,
        env = "SORTIE_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        global = true
    )]
    pub token: Option<String>,
}

/// How long one request may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(15);

impl Connection {
    /// GETs `path_and_query` (e.g. `/api/v1/jobs?limit=5`) and returns the JSON answer.
    pub fn get(&self, path_and_query: &str) -> Result<Value> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(self.fetch(path_and_query))
    }

    async fn fetch(&self, path_and_query: &str) -> Result<Value> {
        let base = self.url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(UsageError(format!(
                "--url {base:?} (SORTIE_URL) is not an http:// or https:// URL; \
                 give the address `sortie serve` listens on, e.g. http://127.0.0.1:8080"
            ))
            .into());
        }
        let url = format!("{base}{path_and_query}");
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        let mut req = client.get(&url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| {
            anyhow!(
                "cannot reach sortie at {base}: {e}; is `sortie serve` running there? \
                 Set SORTIE_URL (or --url) to its address"
            )
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .with_context(|| format!("the answer from {url} could not be read"))?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let message = body
            .as_ref()
            .and_then(|b| b["error"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(200).collect());
        match status {
            200..=299 => body.ok_or_else(|| {
                anyhow!(
                    "the answer from {url} is not JSON: is {base} a sortie server? \
                     Set SORTIE_URL (or --url) to the address `sortie serve` listens on"
                )
            }),
            401 | 403 => Err(anyhow!(
                "sortie at {base} refused the request ({status}): {message}. {}",
                self.token_hint()
            )),
            400 => Err(UsageError(format!("sortie refused the request: {message}")).into()),
            404 if body.is_some() => Err(anyhow!("{message}")),
            404 => Err(anyhow!(
                "{url} was not found: is {base} a sortie server with the admin API? \
                 Set SORTIE_URL (or --url) to the address `sortie serve` listens on"
            )),
            _ => Err(anyhow!("sortie at {base} answered {status}: {message}")),
        }
    }

    fn token_hint(&self) -> &'static str {
        if self.token.is_none() {
            "No token was given: set SORTIE_ADMIN_TOKEN (or --token) to the server's admin_token"
        } else {
            "Set SORTIE_ADMIN_TOKEN (or --token) to the server's admin_token"
        }
    }
}
