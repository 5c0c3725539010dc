//! Which forge's semantics to mirror, and where each forge keeps its workflow files.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The forge whose behaviour a decision mirrors. GitHub and Gitea differ in how they read workflow
/// folders and combine push filters; Forgejo follows Gitea except for its own workflow folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// github.com and GitHub Enterprise Server.
    Github,
    /// Gitea (act_runner), semantics of `modules/actions/workflows.go`.
    Gitea,
    /// Forgejo: Gitea semantics, `.forgejo/workflows` first.
    Forgejo,
}

impl Flavor {
    /// The workflow folders this forge reads, in order of preference. Only the *first folder that
    /// exists* is read (Gitea and Forgejo never merge two folders); GitHub has exactly one.
    ///
    /// - GitHub reads `.github/workflows` only, without sub-folders.
    /// - Gitea (`modules/actions/workflows.go`, `ListWorkflows`) reads `.gitea/workflows` and falls
    ///   back to `.github/workflows` only when the first is absent.
    /// - Forgejo reads `.forgejo/workflows`, then `.github/workflows`.
    pub fn workflow_dirs(self) -> &'static [&'static str] {
        match self {
            Flavor::Github => &[".github/workflows"],
            Flavor::Gitea => &[".gitea/workflows", ".github/workflows"],
            Flavor::Forgejo => &[".forgejo/workflows", ".github/workflows"],
        }
    }

    /// Whether sub-folders of the workflow folder are read. GitHub ignores them; Gitea and Forgejo
    /// walk the tree (`ListWorkflows` uses `ListEntriesRecursiveFast`).
    pub fn reads_subfolders(self) -> bool {
        !matches!(self, Flavor::Github)
    }

    /// True for Gitea and Forgejo, which share act-based trigger semantics.
    pub fn is_gitea_like(self) -> bool {
        !matches!(self, Flavor::Github)
    }

    /// Lower-case name as used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Github => "github",
            Flavor::Gitea => "gitea",
            Flavor::Forgejo => "forgejo",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown forge name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown forge {0:?}: expected one of github, gitea, forgejo")]
pub struct UnknownFlavor(pub String);

impl FromStr for Flavor {
    type Err = UnknownFlavor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "github" | "ghes" => Ok(Flavor::Github),
            "gitea" => Ok(Flavor::Gitea),
            "forgejo" => Ok(Flavor::Forgejo),
            _ => Err(UnknownFlavor(s.to_string())),
        }
    }
}

/// Is `path` (relative to the repository root, `/`-separated) a workflow file that `flavor` would
/// read from `dir`? Checks the extension and, for GitHub, that it sits directly in `dir`.
pub fn is_workflow_file(flavor: Flavor, dir: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    if rest.is_empty() || (!flavor.reads_subfolders() && rest.contains('/')) {
        return false;
    }
    rest.ends_with(".yml") || rest.ends_with(".yaml")
}

/// Selects, from every file path in a repository (relative, `/`-separated), the workflow files
/// `flavor` reads, sorted. Only the first workflow folder that exists is used: Gitea reads
/// `.github/workflows` only when `.gitea/workflows` is absent (`ListWorkflows`), never both.
pub fn select_workflow_files<S: AsRef<str>>(flavor: Flavor, paths: &[S]) -> Vec<String> {
    for dir in flavor.workflow_dirs() {
        let prefix = format!("{dir}/");
        if !paths.iter().any(|p| p.as_ref().starts_with(&prefix)) {
            continue;
        }
        let mut files: Vec<String> = paths
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| is_workflow_file(flavor, dir, p))
            .map(String::from)
            .collect();
        files.sort();
        return files;
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_in_order() {
        assert_eq!(Flavor::Github.workflow_dirs(), &[".github/workflows"]);
        assert_eq!(Flavor::Gitea.workflow_dirs()[0], ".gitea/workflows");
        assert_eq!(Flavor::Forgejo.workflow_dirs()[0], ".forgejo/workflows");
    }

    #[test]
    fn workflow_files() {
        // GitHub: no sub-folders (docs: "You must store workflow files in the .github/workflows
        // directory"); Gitea walks the tree recursively.
        assert!(is_workflow_file(
            Flavor::Github,
            ".github/workflows",
            ".github/workflows/ci.yml"
        ));
        assert!(!is_workflow_file(
            Flavor::Github,
            ".github/workflows",
            ".github/workflows/sub/ci.yml"
        ));
        assert!(is_workflow_file(
            Flavor::Gitea,
            ".gitea/workflows",
            ".gitea/workflows/sub/ci.yaml"
        ));
        assert!(!is_workflow_file(
            Flavor::Gitea,
            ".gitea/workflows",
            ".gitea/workflows/README.md"
        ));
        assert!(!is_workflow_file(
            Flavor::Gitea,
            ".gitea/workflows",
            ".gitea/workflowsx/a.yml"
        ));
    }

    // Source: go-gitea/gitea modules/actions/workflows.go `ListWorkflows` (fallback only when
    // `.gitea/workflows` is absent); DESIGN.md forge facts for Forgejo.
    #[test]
    fn only_the_first_existing_folder_is_read() {
        let paths = [
            ".gitea/workflows/a.yml",
            ".github/workflows/b.yml",
            ".github/workflows/sub/c.yml",
        ];
        assert_eq!(
            select_workflow_files(Flavor::Gitea, &paths),
            vec![".gitea/workflows/a.yml"]
        );
        assert_eq!(
            select_workflow_files(Flavor::Github, &paths),
            vec![".github/workflows/b.yml"]
        );
        assert_eq!(
            select_workflow_files(Flavor::Forgejo, &paths),
            vec![".github/workflows/b.yml", ".github/workflows/sub/c.yml"]
        );
        let forgejo = [".forgejo/workflows/x.yaml", ".gitea/workflows/a.yml"];
        assert_eq!(
            select_workflow_files(Flavor::Forgejo, &forgejo),
            vec![".forgejo/workflows/x.yaml"]
        );
        assert!(select_workflow_files(Flavor::Github, &["src/main.rs"]).is_empty());
    }

    #[test]
    fn parse_names() {
        assert_eq!("GitHub".parse::<Flavor>().unwrap(), Flavor::Github);
        assert!("gitlab".parse::<Flavor>().is_err());
    }
}
