//! The machine's user data: a small shell script that fetches and starts `sortie agent` with only
//! the orchestrator URL and a one-time bootstrap token (or the name of an SSM parameter holding
//! it).
//!
//! The seed dispatcher put `GITEA_TOKEN` (a long-lived forge API token) and the runner
//! registration token into user data, where anything on the instance can read them back from the
//! metadata service. sortie does not: [`crate::provider::Bootstrap`] has no field for a forge
//! token, and [`render`] refuses credentials shaped like one.

use crate::error::{ProviderError, Result};
use crate::provider::Bootstrap;

/// Prefixes of GitHub tokens (personal, OAuth, user-to-server, server-to-server, refresh, fine-
/// grained). Source: <https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/>.
const GITHUB_TOKEN_PREFIXES: [&str; 6] = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"];

/// Refuses a credential that looks like a forge token: GitHub's prefixed tokens, and 40 hex
/// digits (the shape of Gitea and Forgejo access tokens, a SHA-1 hex string).
pub fn check_not_forge_token(credential: &str) -> Result<()> {
    if GITHUB_TOKEN_PREFIXES
        .iter()
        .any(|p| credential.starts_with(p))
    {
        return Err(ProviderError::UnsafeBootstrap(
            "the credential is a GitHub token; pass sortie's one-time bootstrap token instead"
                .into(),
        ));
    }
    if credential.len() == 40 && credential.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ProviderError::UnsafeBootstrap(
            "the credential looks like a Gitea/Forgejo access token (40 hex digits); pass sortie's one-time bootstrap token instead".into(),
        ));
    }
    Ok(())
}

/// Quotes `s` for a POSIX shell: single quotes, with embedded `'` written as `'\''`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn check_url(url: &str) -> Result<()> {
    let ok_scheme = url.starts_with("https://") || url.starts_with("http://");
    if !ok_scheme || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ProviderError::Config(format!(
            "orchestrator URL {url:?} must be an http(s) URL without spaces"
        )));
    }
    Ok(())
}

/// Renders the bootstrap script for `runner_name`. The script downloads the agent from the
/// orchestrator when the image lacks it, runs it, and powers the machine off when it exits (the
/// instance's shutdown behaviour is `terminate`, so power-off ends it).
pub fn render(bootstrap: &Bootstrap, runner_name: &str) -> Result<String> {
    check_url(&bootstrap.orchestrator_url)?;
    let url = bootstrap.orchestrator_url.trim_end_matches('/');
    let credential_line = match &bootstrap.ssm_parameter {
        Some(name) => format!("export SORTIE_BOOTSTRAP_SSM_PARAMETER={}", sh_quote(name)),
        None => {
            check_not_forge_token(bootstrap.credential.expose())?;
            format!(
                "export SORTIE_BOOTSTRAP_TOKEN={}",
                sh_quote(bootstrap.credential.expose())
            )
        }
    };
    Ok(format!(
        r#"#!/bin/sh
# sortie runner bootstrap: only the orchestrator URL and a one-time credential live here.
set -eu
trap 'shutdown -h now' EXIT
export SORTIE_URL={url}
{credential_line}
export SORTIE_RUNNER_NAME={name}
if ! command -v sortie >/dev/null 2>&1; then
  curl -fsSL --retry 5 --retry-connrefused -o /usr/local/bin/sortie "$SORTIE_URL/agent/download/linux-$(uname -m)"
  chmod +x /usr/local/bin/sortie
fi
sortie agent
"#,
        url = sh_quote(url),
        name = sh_quote(runner_name),
    ))
}

/// [`render`], base64-encoded as EC2's `UserData` parameter wants it.
pub fn render_base64(bootstrap: &Bootstrap, runner_name: &str) -> Result<String> {
    Ok(aws_smithy_types::base64::encode(render(
        bootstrap,
        runner_name,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::OneTimeSecret;

    fn bootstrap(credential: &str) -> Bootstrap {
        Bootstrap {
            orchestrator_url: "https://ci.example.com/".into(),
            credential: OneTimeSecret::new(credential),
            ssm_parameter: None,
        }
    }

    #[test]
    fn script_holds_url_token_and_name_only() {
        let script = render(&bootstrap("sbt_0123456789abcdef"), "sortie-abc-1").unwrap();
        assert!(
            script.contains("export SORTIE_URL='https://ci.example.com'\n"),
            "{script}"
        );
        assert!(script.contains("export SORTIE_BOOTSTRAP_TOKEN='sbt_0123456789abcdef'\n"));
        assert!(script.contains("export SORTIE_RUNNER_NAME='sortie-abc-1'\n"));
        assert!(script.contains("\nsortie agent\n"));
        // Every exported variable is one of the three sortie ones: nothing else reaches the box.
        let exports: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("export "))
            .collect();
        assert_eq!(exports.len(), 3, "{exports:?}");
        // None of the seed's secrets or its git-credential trick.
        for forbidden in [
            "GITEA_TOKEN",
            "RUNNER_TOKEN",
            "GITHUB_TOKEN",
            "insteadOf",
            "act_runner register",
        ] {
            assert!(!script.contains(forbidden), "{forbidden} in {script}");
        }
    }

    // Token shapes: GitHub's documented prefixes, and Gitea's 40-hex access tokens.
    #[test]
    fn forge_tokens_are_refused() {
        for token in [
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "0123456789abcdef0123456789abcdef01234567",
        ] {
            let err = render(&bootstrap(token), "r").unwrap_err();
            assert!(
                matches!(err, ProviderError::UnsafeBootstrap(_)),
                "{token}: {err}"
            );
            assert!(
                !err.to_string().contains(token),
                "the refusal must not echo the token"
            );
        }
    }

    #[test]
    fn ssm_parameter_replaces_the_token() {
        let mut b = bootstrap("sbt_secret");
        b.ssm_parameter = Some("/sortie/jobs/abc".into());
        let script = render(&b, "r").unwrap();
        assert!(script.contains("export SORTIE_BOOTSTRAP_SSM_PARAMETER='/sortie/jobs/abc'"));
        assert!(!script.contains("sbt_secret"));
    }

    #[test]
    fn hostile_values_stay_quoted() {
        let script = render(&bootstrap("a'; rm -rf / #"), "n$(id)").unwrap();
        assert!(
            script.contains(r"export SORTIE_BOOTSTRAP_TOKEN='a'\''; rm -rf / #'"),
            "{script}"
        );
        assert!(script.contains("export SORTIE_RUNNER_NAME='n$(id)'"));
        let mut b = bootstrap("t");
        b.orchestrator_url = "https://x\n; curl evil".into();
        assert!(render(&b, "r").is_err());
        b.orchestrator_url = "file:///etc/passwd".into();
        assert!(render(&b, "r").is_err());
    }

    #[test]
    fn base64_round_trips() {
        let b = bootstrap("sbt_x");
        let encoded = render_base64(&b, "r").unwrap();
        let decoded = aws_smithy_types::base64::decode(&encoded).unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            render(&b, "r").unwrap()
        );
    }
}
