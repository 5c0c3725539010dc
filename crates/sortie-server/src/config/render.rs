//! Printing the effective configuration for `sortie config check`, secrets redacted.

use super::{Secret, Settings};

/// What a set secret prints as.
pub const REDACTED: &str = "<redacted>";

impl Settings {
    /// The effective configuration as TOML that `sortie serve --config` would accept, with every
    /// secret replaced by `<redacted>` (an unset one is a comment saying what that means) and the
    /// database password replaced by `***`.
    pub fn to_redacted_toml(&self) -> String {
        let sources: Vec<String> = self.sources.iter().map(ToString::to_string).collect();
        let mut out = format!("# effective configuration (from {})\n", sources.join(", "));
        out.push_str(&format!("listen = {}\n", quote(&self.listen.to_string())));
        out.push_str(&format!(
            "database_url = {}\n",
            quote(&sortie_store::redact_url(&self.database_url))
        ));
        out.push_str(&format!("provider = {}\n", quote(&self.provider)));
        out.push_str(&format!("max_body_bytes = {}\n", self.max_body_bytes));
        out.push_str(&secret_line(
            "admin_token",
            self.admin_token.as_ref(),
            "the admin API is closed",
        ));
        out.push_str("\n[github]\n");
        out.push_str(&secret_line(
            "webhook_secret",
            self.github.webhook_secret.as_ref(),
            "POST /webhooks/github refuses every delivery (set SORTIE_GITHUB_WEBHOOK_SECRET)",
        ));
        out.push_str("\n[gitea] # also Forgejo\n");
        out.push_str(&secret_line(
            "webhook_secret",
            self.gitea.webhook_secret.as_ref(),
            "POST /webhooks/gitea and POST /webhook refuse every delivery (set SORTIE_GITEA_WEBHOOK_SECRET)",
        ));
        let mut routing = self.routing_table.clone();
        if !routing.contains_key("default_provider") {
            routing.insert(
                "default_provider".into(),
                toml::Value::String(self.routing.default_provider.clone()),
            );
        }
        let mut wrapper = toml::Table::new();
        wrapper.insert("routing".into(), toml::Value::Table(routing));
        out.push('\n');
        out.push_str(
            &toml::to_string(&wrapper)
                .unwrap_or_else(|e| format!("# cannot print [routing]: {e}\n")),
        );
        out
    }
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn secret_line(key: &str, secret: Option<&Secret>, unset: &str) -> String {
    match secret {
        Some(_) => format!("{key} = {}\n", quote(REDACTED)),
        None => format!("# {key} is not set: {unset}\n"),
    }
}
