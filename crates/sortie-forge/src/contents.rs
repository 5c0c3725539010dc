//! Workflow files through the contents API, which GitHub (`GET /repos/{o}/{r}/contents/{path}`)
//! and Gitea/Forgejo (`GET /api/v1/repos/{o}/{r}/contents/{filepath}`, go-gitea/gitea
//! `routers/api/v1/repo/file.go` `GetContents`) shape alike: a folder answers with an array of
//! entries (`path`, `type` = `file` | `dir` | …), a file with an object whose `content` is base64.

use crate::budget::Priority;
use crate::error::ForgeError;
use crate::http::{enc, enc_path, Api, Auth, Call};
use crate::types::RepoRef;
use base64::Engine;
use reqwest::Method;
use serde::Deserialize;
use sortie_core::forge::{select_workflow_files, Flavor};

/// Upper bound on files listed per workflow folder (a guard against a huge tree, not a forge rule).
const MAX_ENTRIES: usize = 500;
/// Upper bound on folder depth walked.
const MAX_DEPTH: usize = 8;

#[derive(Deserialize)]
struct Entry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

/// The workflow files `flavor` reads at `commit`. Only the first workflow folder that exists is
/// read (go-gitea/gitea `modules/actions/workflows.go` `ListWorkflows`: `.github/workflows` only
/// when `.gitea/workflows` is absent); the selection rules are `sortie_core`'s.
pub(crate) async fn workflow_files(
    api: &Api,
    auth: &Auth,
    flavor: Flavor,
    repo: &RepoRef,
    commit: &str,
) -> Result<Vec<(String, String)>, ForgeError> {
    for dir in flavor.workflow_dirs() {
        let Some(paths) =
            list_tree(api, auth, repo, dir, commit, flavor.reads_subfolders()).await?
        else {
            continue;
        };
        let mut out = Vec::new();
        for path in select_workflow_files(flavor, &paths) {
            let text = fetch_file(api, auth, repo, &path, commit).await?;
            out.push((path, text));
        }
        return Ok(out);
    }
    Ok(Vec::new())
}

/// Every file path under `dir` at `commit`; `None` when `dir` does not exist there.
async fn list_tree(
    api: &Api,
    auth: &Auth,
    repo: &RepoRef,
    dir: &str,
    commit: &str,
    recursive: bool,
) -> Result<Option<Vec<String>>, ForgeError> {
    let mut files = Vec::new();
    let mut pending = vec![(dir.to_string(), 0usize)];
    let mut first = true;
    while let Some((folder, depth)) = pending.pop() {
        let Some(entries) = list_dir(api, auth, repo, &folder, commit).await? else {
            if first {
                return Ok(None);
            }
            continue;
        };
        first = false;
        for e in entries {
            match e.kind.as_str() {
                "file" | "symlink" => files.push(e.path),
                "dir" if recursive && depth < MAX_DEPTH => pending.push((e.path, depth + 1)),
                _ => {}
            }
        }
        if files.len() > MAX_ENTRIES {
            break;
        }
    }
    files.sort();
    Ok(Some(files))
}

async fn list_dir(
    api: &Api,
    auth: &Auth,
    repo: &RepoRef,
    dir: &str,
    commit: &str,
) -> Result<Option<Vec<Entry>>, ForgeError> {
    let call = contents_call(repo, dir, commit).auth(auth);
    let reply = api.send(&call).await?;
    if reply.status == 404 {
        return Ok(None);
    }
    let value: serde_json::Value = api.decode(&call, reply)?;
    if !value.is_array() {
        // A file where a folder was expected: the folder is absent.
        return Ok(None);
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| ForgeError::BadResponse {
            forge: api.forge,
            what: call.what(),
            message: e.to_string(),
        })
}

/// One file's text at `commit`.
pub(crate) async fn fetch_file(
    api: &Api,
    auth: &Auth,
    repo: &RepoRef,
    path: &str,
    commit: &str,
) -> Result<String, ForgeError> {
    let call = contents_call(repo, path, commit).auth(auth);
    let file: File = api.json(&call).await?;
    decode_content(&file).map_err(|message| ForgeError::BadResponse {
        forge: api.forge,
        what: call.what(),
        message,
    })
}

fn contents_call(repo: &RepoRef, path: &str, commit: &str) -> Call {
    Call::new(
        Method::GET,
        format!(
            "/repos/{}/{}/contents/{}?ref={}",
            enc(&repo.owner),
            enc(&repo.name),
            enc_path(path),
            enc(commit)
        ),
    )
    // Push-mode planning reads workflows to queue jobs: more than a listing.
    .priority(Priority::Action)
}

/// Base64 content as both forges send it (GitHub wraps lines at 60 characters).
fn decode_content(file: &File) -> Result<String, String> {
    let Some(content) = &file.content else {
        return Err("the file has no content field (too large for the contents API?)".into());
    };
    if let Some(enc) = &file.encoding {
        if enc != "base64" {
            return Err(format!("unexpected content encoding {enc:?}"));
        }
    }
    let compact: String = content
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("bad base64 content: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_string())
}

#[derive(Deserialize)]
struct Compare {
    #[serde(default)]
    files: Option<Vec<ChangedFile>>,
    #[serde(default)]
    commits: Vec<CompareCommit>,
}

#[derive(Deserialize)]
struct CompareCommit {
    #[serde(default)]
    files: Option<Vec<ChangedFile>>,
}

#[derive(Deserialize)]
struct ChangedFile {
    filename: String,
}

/// The files changed between `base` and `head`: `GET /repos/{o}/{r}/compare/{base}...{head}`.
/// GitHub lists them at the top level (`files`, at most 300); Gitea lists them per commit
/// (go-gitea/gitea `routers/api/v1/repo/compare.go` `CompareDiff`, `files` defaults to true), so
/// both lists are read and merged in first-seen order.
pub(crate) async fn changed_files(
    api: &Api,
    auth: &Auth,
    repo: &RepoRef,
    base: &str,
    head: &str,
) -> Result<Vec<String>, ForgeError> {
    let path = format!(
        "/repos/{}/{}/compare/{}...{}",
        enc(&repo.owner),
        enc(&repo.name),
        enc(base),
        enc(head)
    );
    // Push-mode planning needs it to queue jobs: more than a listing.
    let call = Call::new(Method::GET, path)
        .priority(Priority::Action)
        .auth(auth);
    let cmp: Compare = api.json(&call).await?;
    let mut seen = std::collections::HashSet::new();
    let top = cmp.files.into_iter().flatten();
    let per_commit = cmp
        .commits
        .into_iter()
        .flat_map(|c| c.files.unwrap_or_default());
    Ok(top
        .chain(per_commit)
        .map(|f| f.filename)
        .filter(|f| seen.insert(f.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_wrapped_base64() {
        let f = File {
            content: Some("b246\nIHB1\nc2g=\n".into()),
            encoding: Some("base64".into()),
        };
        assert_eq!(decode_content(&f).unwrap(), "on: push");
        assert!(decode_content(&File {
            content: None,
            encoding: None
        })
        .is_err());
        assert!(decode_content(&File {
            content: Some("!!".into()),
            encoding: None
        })
        .is_err());
        assert!(decode_content(&File {
            content: Some("".into()),
            encoding: Some("utf-8".into())
        })
        .is_err());
    }
}
