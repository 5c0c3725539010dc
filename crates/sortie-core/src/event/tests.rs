use super::*;

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/../../fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
}

fn push_of(flavor: Flavor, path: &str) -> Push {
    match Event::parse(flavor, "push", &fixture(path)).unwrap().kind {
        EventKind::Push(p) => p,
        other => panic!("not a push: {other:?}"),
    }
}

// Source: @octokit/webhooks-examples 7.6.1 (GitHub's documented payloads), see fixtures/README.md.
#[test]
fn github_documented_pushes() {
    let p = push_of(Flavor::Github, "github/push.branch-created.json");
    assert_eq!(p.branch(), Some("master"));
    assert!(p.created && !p.deleted);
    assert_eq!(p.commits[0].files, vec!["README.md".to_string()]);

    let t = push_of(Flavor::Github, "github/push.tag-deleted.json");
    assert_eq!(t.tag(), Some("simple-tag"));
    assert!(t.deleted);
}

// Source: Gitea's webhook documentation push example (fixtures/gitea/push.json).
#[test]
fn gitea_documented_push() {
    let p = push_of(Flavor::Gitea, "gitea/push.json");
    assert_eq!(p.branch(), Some("develop"));
    assert!(
        !p.created && !p.deleted,
        "Gitea has no created/deleted fields: derived from SHAs"
    );
    assert_eq!(
        changed_files(Flavor::Gitea, &p),
        ChangedFiles::explicit(vec!["cmd/tstudio/main.go".into()])
    );
}

#[test]
fn gitea_derives_created_and_deleted_from_zero_shas() {
    let body = br#"{"ref":"refs/heads/x","before":"0000000000000000000000000000000000000000","after":"abc","commits":[]}"#;
    let EventKind::Push(p) = Event::parse(Flavor::Gitea, "push", body).unwrap().kind else {
        panic!()
    };
    assert!(p.created && !p.deleted);
    assert!(matches!(
        changed_files(Flavor::Gitea, &p),
        ChangedFiles::Unavailable(_)
    ));
}

#[test]
fn pull_request_payload() {
    let ev = Event::parse(
        Flavor::Github,
        "pull_request",
        &fixture("github/pull_request.opened.json"),
    )
    .unwrap();
    let EventKind::PullRequest(pr) = &ev.kind else {
        panic!()
    };
    assert_eq!(pr.action, "opened");
    assert!(!pr.base_ref.is_empty());
    assert_eq!(ev.git_ref(), Some(format!("refs/pull/{}/merge", pr.number)));
}

#[test]
fn malformed_payload_is_an_error_not_a_panic() {
    let err = Event::parse(Flavor::Github, "push", b"{not json").unwrap_err();
    assert!(
        err.to_string().contains("push payload is not usable"),
        "{err}"
    );
    assert!(
        Event::parse(Flavor::Github, "push", br#"{"before":"a"}"#).is_err(),
        "push needs ref"
    );
    assert!(Event::parse(Flavor::Github, "pull_request", br#"{"action":"opened"}"#).is_err());
    // Unknown events only need to be JSON.
    assert!(Event::parse(Flavor::Github, "issues", br#"{"action":"opened"}"#).is_ok());
}

fn push_with(commits: usize, files_per_commit: usize) -> Push {
    Push {
        git_ref: "refs/heads/main".into(),
        before: "a".into(),
        after: "b".into(),
        commits: (0..commits)
            .map(|c| CommitFiles {
                id: c.to_string(),
                files: (0..files_per_commit).map(|f| format!("f{c}_{f}")).collect(),
            })
            .collect(),
        ..Push::default()
    }
}

// Source: GitHub workflow syntax docs, "Git diff comparisons": more than 1,000 commits → always
// runs; diffs are limited to 300 files.
#[test]
fn github_diff_limits() {
    assert!(matches!(
        changed_files(Flavor::Github, &push_with(1001, 1)),
        ChangedFiles::AlwaysRun(_)
    ));
    let ChangedFiles::Known { files, note } = changed_files(Flavor::Github, &push_with(1000, 1))
    else {
        panic!()
    };
    assert_eq!(files.len(), GITHUB_MAX_DIFF_FILES);
    assert!(note.unwrap().contains("first 300"));
    let ChangedFiles::Known { files, note } = changed_files(Flavor::Github, &push_with(3, 2))
    else {
        panic!()
    };
    assert_eq!(files.len(), 6);
    assert!(note.is_none());
}

#[test]
fn github_new_branch_without_commits_uses_head_commit() {
    let mut p = push_with(0, 0);
    p.created = true;
    p.head_commit = Some(CommitFiles {
        id: "h".into(),
        files: vec!["src/a.rs".into()],
    });
    assert_eq!(
        changed_files(Flavor::Github, &p),
        ChangedFiles::explicit(vec!["src/a.rs".into()])
    );
}

#[test]
fn gitea_capped_commit_list_is_noted() {
    let mut p = push_with(2, 1);
    p.total_commits = Some(30);
    let ChangedFiles::Known { note, .. } = changed_files(Flavor::Gitea, &p) else {
        panic!()
    };
    assert!(note.unwrap().contains("2 of 30"));
}

#[test]
fn zero_sha() {
    assert!(is_zero_sha("0000000000000000000000000000000000000000"));
    assert!(is_zero_sha(&"0".repeat(64)));
    assert!(!is_zero_sha(""));
    assert!(!is_zero_sha("00a0"));
}

// Source: all eight workflow_job examples of @octokit/webhooks-examples (fixtures/github).
#[test]
fn github_documented_workflow_jobs() {
    for name in [
        "queued",
        "queued.2",
        "waiting",
        "in_progress",
        "in_progress.2",
        "in_progress.3",
        "completed",
        "completed.2",
    ] {
        let body = fixture(&format!("github/workflow_job.{name}.json"));
        let job = WorkflowJob::parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            name.starts_with(&job.action),
            "{name}: action {}",
            job.action
        );
        assert!(job.job_id > 0 && job.run_id > 0, "{name}");
        assert!(job.repo.contains('/'), "{name}");
        assert!(!job.labels.is_empty(), "{name}: labels");
        if job.action == "completed" {
            assert!(job.conclusion.is_some(), "{name}");
        }
    }
    let job = WorkflowJob::parse(&fixture("github/workflow_job.queued.2.json")).unwrap();
    assert_eq!(job.labels, vec!["self-hosted", "k8s"]);
    assert_eq!(job.runner_name, None);
    let key = job.key(Flavor::Github);
    assert!(key.to_string().starts_with("github:"));
}

#[test]
fn workflow_job_malformed() {
    assert!(WorkflowJob::parse(b"[]").is_err());
    assert!(WorkflowJob::parse(
        br#"{"action":"queued","workflow_job":{},"repository":{"full_name":"a/b"}}"#
    )
    .is_err());
}
