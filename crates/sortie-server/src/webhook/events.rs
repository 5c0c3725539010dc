//! The event names each forge documents. A delivery whose event is not listed is refused with
//! 400 and nothing is stored (see `docs/configuration.md`, "Refusals"): a name outside these
//! lists means a misconfigured sender, not a forge. Events that are listed but not planned
//! (`push` on GitHub, `issues`, `ping`, …) are stored and marked "stored; not planned".

use sortie_core::forge::Flavor;

/// GitHub's webhook events: docs.github.com, "Webhook events and payloads" (every `##` heading
/// of that page), plus `ping`, sent when a webhook is created.
const GITHUB: &[&str] = &[
    "branch_protection_configuration",
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "code_scanning_alert",
    "commit_comment",
    "create",
    "custom_property",
    "custom_property_values",
    "delete",
    "dependabot_alert",
    "deploy_key",
    "deployment",
    "deployment_protection_rule",
    "deployment_review",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "github_app_authorization",
    "gollum",
    "installation",
    "installation_repositories",
    "installation_target",
    "issue_comment",
    "issue_dependencies",
    "issues",
    "label",
    "marketplace_purchase",
    "member",
    "membership",
    "merge_group",
    "meta",
    "milestone",
    "org_block",
    "organization",
    "package",
    "page_build",
    "personal_access_token_request",
    "ping",
    "project",
    "project_card",
    "project_column",
    "projects_v2",
    "projects_v2_item",
    "projects_v2_status_update",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "registry_package",
    "release",
    "repository",
    "repository_advisory",
    "repository_dispatch",
    "repository_import",
    "repository_ruleset",
    "repository_vulnerability_alert",
    "secret_scanning_alert",
    "secret_scanning_alert_location",
    "secret_scanning_scan",
    "security_advisory",
    "security_and_analysis",
    "sponsorship",
    "star",
    "status",
    "sub_issues",
    "team",
    "team_add",
    "watch",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
];

/// Gitea's and Forgejo's `X-Gitea-Event` values: `HookEventType.Event()` in go-gitea/gitea
/// `modules/webhook/type.go` (`pull_request_*` review events map to `pull_request_approved`,
/// `pull_request_rejected`, `pull_request_comment`), with `workflow_run` and `workflow_job`
/// (Gitea 1.24+), `package`, `status` and `schedule` from newer releases of the same file, and
/// Forgejo's `action_run_*` notifications (forgejo `modules/webhook/type.go`).
const GITEA: &[&str] = &[
    "create",
    "delete",
    "fork",
    "push",
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_approved",
    "pull_request_rejected",
    "pull_request_comment",
    "pull_request_review_request",
    "wiki",
    "repository",
    "release",
    "package",
    "status",
    "schedule",
    "workflow_run",
    "workflow_job",
    "workflow_dispatch",
    "action_run_failure",
    "action_run_success",
    "action_run_recover",
];

/// True when `event` is one `flavor` documents.
pub fn is_known(flavor: Flavor, event: &str) -> bool {
    match flavor {
        Flavor::Github => GITHUB.contains(&event),
        _ => GITEA.contains(&event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_hold_what_sortie_plans_and_refuse_nonsense() {
        for flavor in [Flavor::Github, Flavor::Gitea, Flavor::Forgejo] {
            assert!(is_known(flavor, "workflow_job"));
            assert!(is_known(flavor, "push"));
            assert!(!is_known(flavor, "no_such_event"));
            assert!(!is_known(flavor, ""));
            assert!(!is_known(flavor, "PUSH"));
        }
        assert!(is_known(Flavor::Github, "ping"));
        assert!(!is_known(Flavor::Gitea, "ping"));
    }
}
