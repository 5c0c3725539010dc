//! Where the one-time bootstrap token comes from: `--token-file` (read, then deleted) or the
//! `SORTIE_BOOTSTRAP_TOKEN` environment variable. SSM parameters are recognised but not read by
//! this build.

use crate::UsageError;
use anyhow::{Context, Result};
use std::path::Path;

/// The environment variable the user data exports the token in.
pub(crate) const TOKEN_ENV: &str = "SORTIE_BOOTSTRAP_TOKEN";

/// The one-time bootstrap token. Redacted in `Debug`; there is no `Display`.
pub(crate) struct BootstrapToken(String);

impl BootstrapToken {
    /// The token, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BootstrapToken(<redacted>)")
    }
}

/// Reads `SORTIE_BOOTSTRAP_TOKEN` and removes it from this process's environment. Call before
/// any other thread starts (environment changes are not thread-safe).
pub(crate) fn take_env_token() -> Option<String> {
    let value = std::env::var(TOKEN_ENV).ok();
    if value.is_some() {
        std::env::remove_var(TOKEN_ENV);
    }
    value
}

/// Picks the token: the file wins over the environment. The file is deleted after reading, so a
/// job that runs later on this machine cannot find it (it is spent by then anyway).
pub(crate) fn bootstrap_token(
    file: Option<&Path>,
    env: Option<String>,
    ssm_parameter: Option<&str>,
) -> Result<BootstrapToken> {
    let raw = match (file, env) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the bootstrap token file {}", path.display())
            })?;
            if let Err(err) = std::fs::remove_file(path) {
                tracing::warn!(
                    "cannot delete the bootstrap token file {}: {err}",
                    path.display()
                );
            }
            text
        }
        (None, Some(value)) => value,
        (None, None) => {
            if let Some(name) = ssm_parameter {
                return Err(UsageError(format!(
                    "the bootstrap token is in SSM parameter {name:?}, but this build of `sortie agent` cannot read SSM (it carries no AWS SDK); pass the token in {TOKEN_ENV} or --token-file"
                ))
                .into());
            }
            return Err(UsageError(format!(
                "no bootstrap token: set {TOKEN_ENV} or pass --token-file FILE"
            ))
            .into());
        }
    };
    let token = raw.trim();
    if token.is_empty() {
        return Err(UsageError("the bootstrap token is empty".into()).into());
    }
    Ok(BootstrapToken(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_wins_over_environment_and_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "sbt_from_file\n").unwrap();
        let token = bootstrap_token(Some(&path), Some("sbt_from_env".into()), None).unwrap();
        assert_eq!(token.expose(), "sbt_from_file");
        assert!(!path.exists());
        assert!(!format!("{token:?}").contains("sbt_"));
    }

    #[test]
    fn missing_or_ssm_only_token_is_a_usage_error() {
        let err = bootstrap_token(None, None, Some("/sortie/token")).unwrap_err();
        assert!(err.downcast_ref::<UsageError>().is_some());
        assert!(err.to_string().contains("SSM"), "{err}");
        let err = bootstrap_token(None, None, None).unwrap_err();
        assert!(err.to_string().contains(TOKEN_ENV), "{err}");
        assert!(bootstrap_token(None, Some("  \n".into()), None).is_err());
    }
}
