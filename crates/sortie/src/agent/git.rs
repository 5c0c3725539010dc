//! Short-lived git access for the job's repository.
//!
//! The password goes into one file only: a `git-credential-store` file with mode 0600 under
//! `$HOME/.config/sortie/`. The global git configuration names that file as the credential
//! helper for `https://HOST/OWNER/REPO` (and `….git`) only, with `useHttpPath` so the stored
//! entry matches that repository alone. The password is never an argument and never logged.
//!
//! Matching (gitcredentials(7), "Credential contexts"): a pattern URL with a path matches contexts
//! with that path (as a path prefix since git 2.26.1, exactly before), so both spellings of the
//! repository URL get an entry.

use sortie_core::agent::GitAccess;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Configures git for `access` in the agent user's HOME (the runner runs as the same user).
/// Skipped with a log line when git is not installed or HOME is unset; errors are logged, never
/// fatal: a job that does not need the extra access still runs.
pub(crate) async fn configure(access: &GitAccess) {
    let Some(git) = find_on_path("git") else {
        tracing::info!("git is not installed; skipping git credentials");
        return;
    };
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        tracing::warn!("HOME is not set; skipping git credentials");
        return;
    };
    match write_credentials(&git, &home, access).await {
        Ok(()) => tracing::info!(
            host = %access.host,
            repo = %access.repo,
            "git credentials configured for this repository"
        ),
        Err(err) => tracing::warn!("cannot configure git credentials: {err}"),
    }
}

async fn write_credentials(git: &Path, home: &Path, access: &GitAccess) -> Result<(), String> {
    check_part("host", &access.host)?;
    check_part("repository", &access.repo)?;
    let dir = home.join(".config").join("sortie");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    let store = dir.join("git-credentials");
    write_private(&store, &store_lines(access))
        .map_err(|e| format!("cannot write {}: {e}", store.display()))?;
    let helper = format!("store --file={}", sh_quote(&store.display().to_string()));
    for url in repo_urls(access) {
        for (key, value) in [("helper", helper.as_str()), ("useHttpPath", "true")] {
            let name = format!("credential.{url}.{key}");
            let out = tokio::process::Command::new(git)
                .args(["config", "--global", &name, value])
                .env_remove(super::token::TOKEN_ENV)
                .output()
                .await
                .map_err(|e| format!("cannot run git: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "git config {name} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
    }
    Ok(())
}

/// The two URL spellings of the repository.
fn repo_urls(access: &GitAccess) -> [String; 2] {
    let repo = access.repo.trim_matches('/').trim_end_matches(".git");
    [
        format!("https://{}/{repo}", access.host),
        format!("https://{}/{repo}.git", access.host),
    ]
}

/// `git-credential-store` lines: `https://user:password@host/path`, percent-encoded.
fn store_lines(access: &GitAccess) -> String {
    let user = percent_encode(&access.username);
    let password = percent_encode(&access.password);
    repo_urls(access)
        .iter()
        .map(|url| {
            let rest = url.trim_start_matches("https://");
            format!("https://{user}:{password}@{rest}\n")
        })
        .collect()
}

/// Refuses values that would change the meaning of a config key or URL.
fn check_part(what: &str, value: &str) -> Result<(), String> {
    let bad = value.is_empty()
        || value.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '@' | '"' | '\\' | '?' | '#')
        });
    if bad {
        Err(format!("the {what} {value:?} is not usable in a git URL"))
    } else {
        Ok(())
    }
}

/// Creates (or truncates) `path` with mode 0600 before any byte is written.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An older file keeps its mode on truncate: tighten it too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Quotes `s` for the shell git runs helpers through.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The first executable file called `name` on PATH.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> GitAccess {
        GitAccess {
            host: "github.com".into(),
            repo: "octo/app".into(),
            username: "x-access-token".into(),
            password: "ghs_p@ss:/word".into(),
            expires_at: None,
        }
    }

    #[test]
    fn store_lines_are_scoped_and_encoded() {
        let text = store_lines(&access());
        assert_eq!(
            text,
            "https://x-access-token:ghs_p%40ss%3A%2Fword@github.com/octo/app\n\
             https://x-access-token:ghs_p%40ss%3A%2Fword@github.com/octo/app.git\n"
        );
    }

    #[test]
    fn odd_hosts_and_repos_are_refused() {
        assert!(check_part("host", "github.com").is_ok());
        for bad in ["", "evil.com@github.com", "a b", "x\"y", "h?q"] {
            assert!(check_part("host", bad).is_err(), "{bad}");
        }
    }
}
