use super::*;
use crate::event::{CommitFiles, EventKind, PullRequest, Push};
use crate::workflow::{EventFilters, Pos, Trigger, Workflow};

fn v(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

fn wf(event: &str, filters: EventFilters) -> Workflow {
    Workflow {
        path: "ci.yml".into(),
        name: None,
        triggers: vec![Trigger {
            event: event.into(),
            filters,
            pos: Pos::default(),
        }],
        jobs: vec![],
    }
}

fn push(git_ref: &str, files: &[&str]) -> Event {
    Event {
        name: "push".into(),
        kind: EventKind::Push(Push {
            git_ref: git_ref.into(),
            before: "1111".into(),
            after: "2222".into(),
            commits: vec![CommitFiles {
                id: "2222".into(),
                files: files.iter().map(|s| s.to_string()).collect(),
            }],
            ..Push::default()
        }),
    }
}

fn pr(action: &str, base: &str) -> Event {
    Event {
        name: "pull_request".into(),
        kind: EventKind::PullRequest(PullRequest {
            action: action.into(),
            base_ref: base.into(),
            head_ref: "topic".into(),
            number: 1,
        }),
    }
}

fn other(name: &str, action: Option<&str>) -> Event {
    Event {
        name: name.into(),
        kind: EventKind::Other {
            action: action.map(String::from),
        },
    }
}

fn run(flavor: Flavor, w: &Workflow, e: &Event) -> Decision {
    let changed = match &e.kind {
        EventKind::Push(p) => crate::event::changed_files(flavor, p),
        _ => ChangedFiles::explicit(vec![]),
    };
    evaluate(flavor, w, e, &changed)
}

struct Row {
    what: &'static str,
    filters: EventFilters,
    event: Event,
    github: bool,
    gitea: bool,
}

fn check(rows: Vec<Row>, event_name: &str) {
    for r in rows {
        let w = wf(event_name, r.filters);
        let gh = run(Flavor::Github, &w, &r.event);
        assert_eq!(gh.triggered, r.github, "GitHub: {} — {}", r.what, gh.reason);
        let gt = run(Flavor::Gitea, &w, &r.event);
        assert_eq!(gt.triggered, r.gitea, "Gitea: {} — {}", r.what, gt.reason);
        assert!(!gh.reason.is_empty() && !gt.reason.is_empty());
    }
}

// Sources: GitHub docs "Workflow syntax for GitHub Actions" (on.push.<branches|tags>,
// on.push.paths, "Filter pattern cheat sheet"); go-gitea/gitea modules/actions/workflows.go
// `matchPushEvent` for the Gitea column.
#[test]
fn push_filters_table() {
    let f = EventFilters::default;
    let rows = vec![
        Row {
            what: "no filters",
            filters: f(),
            event: push("refs/heads/x", &["a"]),
            github: true,
            gitea: true,
        },
        Row {
            what: "branch matches",
            filters: EventFilters {
                branches: v(&["main", "releases/**"]),
                ..f()
            },
            event: push("refs/heads/releases/10/a", &["a"]),
            github: true,
            gitea: true,
        },
        Row {
            what: "branch does not match",
            filters: EventFilters {
                branches: v(&["main"]),
                ..f()
            },
            event: push("refs/heads/dev", &["a"]),
            github: false,
            gitea: false,
        },
        // docs: "releases/**-alpha" with "!": a later negative excludes.
        Row {
            what: "negation excludes",
            filters: EventFilters {
                branches: v(&["releases/**", "!releases/**-alpha"]),
                ..f()
            },
            event: push("refs/heads/releases/beta/3-alpha", &["a"]),
            github: false,
            gitea: false,
        },
        Row {
            what: "negation then re-include",
            filters: EventFilters {
                branches: v(&["releases/**", "!releases/**-alpha", "releases/10-alpha"]),
                ..f()
            },
            event: push("refs/heads/releases/10-alpha", &["a"]),
            github: true,
            gitea: true,
        },
        Row {
            what: "branches-ignore excludes",
            filters: EventFilters {
                branches_ignore: v(&["mona/octocat"]),
                ..f()
            },
            event: push("refs/heads/mona/octocat", &["a"]),
            github: false,
            gitea: false,
        },
        Row {
            what: "branches-ignore lets others through",
            filters: EventFilters {
                branches_ignore: v(&["mona/octocat"]),
                ..f()
            },
            event: push("refs/heads/main", &["a"]),
            github: true,
            gitea: true,
        },
        // "If you define only tags/tags-ignore or only branches/branches-ignore, the workflow
        // won't run for events affecting the undefined Git ref."
        Row {
            what: "branch-only filter, tag push",
            filters: EventFilters {
                branches: v(&["**"]),
                ..f()
            },
            event: push("refs/tags/v1", &[]),
            github: false,
            gitea: false,
        },
        Row {
            what: "tag-only filter, branch push",
            filters: EventFilters {
                tags: v(&["v*"]),
                ..f()
            },
            event: push("refs/heads/main", &["a"]),
            github: false,
            gitea: false,
        },
        Row {
            what: "tag matches",
            filters: EventFilters {
                tags: v(&["v[12].[0-9]+.[0-9]+"]),
                ..f()
            },
            event: push("refs/tags/v2.10.3", &[]),
            github: true,
            gitea: true,
        },
        Row {
            what: "tags-ignore",
            filters: EventFilters {
                tags_ignore: v(&["v1.*"]),
                ..f()
            },
            event: push("refs/tags/v1.9", &[]),
            github: false,
            gitea: false,
        },
        // Both kinds present: one of them matching is enough (docs; Gitea's +1 rule).
        Row {
            what: "branch and tag filters, branch push matches",
            filters: EventFilters {
                branches: v(&["main"]),
                tags: v(&["v*"]),
                ..f()
            },
            event: push("refs/heads/main", &["a"]),
            github: true,
            gitea: true,
        },
        Row {
            what: "branch and tag filters, tag push matches",
            filters: EventFilters {
                branches: v(&["main"]),
                tags: v(&["v*"]),
                ..f()
            },
            event: push("refs/tags/v3", &[]),
            github: true,
            gitea: true,
        },
        Row {
            what: "branch and tag filters, neither",
            filters: EventFilters {
                branches: v(&["main"]),
                tags: v(&["v*"]),
                ..f()
            },
            event: push("refs/heads/dev", &["a"]),
            github: false,
            gitea: false,
        },
        // "If you define both branches and paths, the workflow will only run when both are satisfied."
        Row {
            what: "branches and paths both satisfied",
            filters: EventFilters {
                branches: v(&["main"]),
                paths: v(&["**.js"]),
                ..f()
            },
            event: push("refs/heads/main", &["app/index.js"]),
            github: true,
            gitea: true,
        },
        Row {
            what: "branches ok, paths not",
            filters: EventFilters {
                branches: v(&["main"]),
                paths: v(&["**.js"]),
                ..f()
            },
            event: push("refs/heads/main", &["README.md"]),
            github: false,
            gitea: false,
        },
        Row {
            what: "paths-ignore, all ignored",
            filters: EventFilters {
                paths_ignore: v(&["docs/**"]),
                ..f()
            },
            event: push("refs/heads/main", &["docs/a.md"]),
            github: false,
            gitea: false,
        },
        Row {
            what: "paths-ignore, one not ignored",
            filters: EventFilters {
                paths_ignore: v(&["docs/**"]),
                ..f()
            },
            event: push("refs/heads/main", &["docs/a.md", "src/x.rs"]),
            github: true,
            gitea: true,
        },
        // "Path filters are not evaluated for pushes of tags." Gitea: current releases count them
        // as passed on tag pushes.
        Row {
            what: "paths on a tag push",
            filters: EventFilters {
                tags: v(&["v*"]),
                paths: v(&["src/**"]),
                ..f()
            },
            event: push("refs/tags/v1", &["README.md"]),
            github: true,
            gitea: true,
        },
        // Gitea: an unknown key under push never counts, so nothing triggers. GitHub would reject
        // the file at validation; the parser reports it there.
        Row {
            what: "unknown key",
            filters: EventFilters {
                other_keys: vec!["branch".into()],
                ..f()
            },
            event: push("refs/heads/main", &["a"]),
            github: true,
            gitea: false,
        },
    ];
    check(rows, "push");
}

#[test]
fn deleted_refs_never_run_push_workflows() {
    let mut e = push("refs/heads/gone", &[]);
    if let EventKind::Push(p) = &mut e.kind {
        p.deleted = true;
    }
    for flavor in [Flavor::Github, Flavor::Gitea] {
        let d = run(flavor, &wf("push", EventFilters::default()), &e);
        assert!(
            !d.triggered && d.reason.contains("delet"),
            "{flavor}: {}",
            d.reason
        );
    }
}

#[test]
fn gitea_new_branch_with_paths_does_not_run() {
    let mut e = push("refs/heads/feature", &["src/a.rs"]);
    if let EventKind::Push(p) = &mut e.kind {
        p.created = true;
        p.before = "0".repeat(40);
    }
    let w = wf(
        "push",
        EventFilters {
            paths: v(&["src/**"]),
            ..EventFilters::default()
        },
    );
    assert!(!run(Flavor::Gitea, &w, &e).triggered);
    assert!(
        run(Flavor::Github, &w, &e).triggered,
        "GitHub diffs a new branch against its parent"
    );
}

#[test]
fn github_more_than_1000_commits_always_runs_paths() {
    let mut e = push("refs/heads/main", &[]);
    if let EventKind::Push(p) = &mut e.kind {
        p.total_commits = Some(1500);
    }
    let w = wf(
        "push",
        EventFilters {
            paths: v(&["never/**"]),
            ..EventFilters::default()
        },
    );
    let d = run(Flavor::Github, &w, &e);
    assert!(d.triggered && d.reason.contains("1000"), "{}", d.reason);
}

// Sources: GitHub docs "Events that trigger workflows" → pull_request (default types opened,
// synchronize, reopened); go-gitea/gitea modules/actions/workflows_test.go `TestDetectMatched`
// rows for pull_request (Gitea column).
#[test]
fn pull_request_table() {
    let f = EventFilters::default;
    let rows = vec![
        Row {
            what: "opened, no filters",
            filters: f(),
            event: pr("opened", "main"),
            github: true,
            gitea: true,
        },
        // workflows_test.go: "HookEventPullRequestSync(pull_request_sync) matches githubEventPullRequest(pull_request)"
        Row {
            what: "Gitea synchronized",
            filters: f(),
            event: pr("synchronized", "main"),
            github: false,
            gitea: true,
        },
        Row {
            what: "GitHub synchronize",
            filters: f(),
            event: pr("synchronize", "main"),
            github: true,
            gitea: true,
        },
        // "`label_updated` action doesn't match ... with no activity type"
        Row {
            what: "label_updated, no types",
            filters: f(),
            event: pr("label_updated", "main"),
            github: false,
            gitea: false,
        },
        // "`closed` action doesn't match ... with no activity type"
        Row {
            what: "closed, no types",
            filters: f(),
            event: pr("closed", "main"),
            github: false,
            gitea: false,
        },
        // "`closed` action doesn't match ... with branches" (base ref empty)
        Row {
            what: "closed, branches, empty base",
            filters: EventFilters {
                branches: v(&["main"]),
                ..f()
            },
            event: pr("closed", ""),
            github: false,
            gitea: false,
        },
        // Gitea difference: with any key present the default types no longer apply.
        Row {
            what: "closed, branches, base main",
            filters: EventFilters {
                branches: v(&["main"]),
                ..f()
            },
            event: pr("closed", "main"),
            github: false,
            gitea: true,
        },
        // "`label_updated` action matches ... with `label` activity type"
        Row {
            what: "label_updated with types [labeled]",
            filters: EventFilters {
                types: v(&["labeled"]),
                ..f()
            },
            event: pr("label_updated", "main"),
            github: false,
            gitea: true,
        },
        Row {
            what: "labeled with types [labeled]",
            filters: EventFilters {
                types: v(&["labeled"]),
                ..f()
            },
            event: pr("labeled", "main"),
            github: true,
            gitea: true,
        },
        Row {
            what: "base branch filtered",
            filters: EventFilters {
                branches: v(&["releases/**"]),
                ..f()
            },
            event: pr("opened", "main"),
            github: false,
            gitea: false,
        },
    ];
    check(rows, "pull_request");
}

#[test]
fn pull_request_event_runs_pull_request_target_workflows() {
    let w = wf("pull_request_target", EventFilters::default());
    assert!(run(Flavor::Github, &w, &pr("opened", "main")).triggered);
}

// Sources: gitea workflows_test.go rows "HookEventRelease(release) `published` action matches
// githubEventRelease(release) with `published` activity type", create, issues; GitHub docs
// "release" (types).
#[test]
fn other_events() {
    let release = wf(
        "release",
        EventFilters {
            types: v(&["published"]),
            ..EventFilters::default()
        },
    );
    for flavor in [Flavor::Github, Flavor::Gitea] {
        assert!(run(flavor, &release, &other("release", Some("published"))).triggered);
        assert!(!run(flavor, &release, &other("release", Some("deleted"))).triggered);
        assert!(
            run(
                flavor,
                &wf("create", EventFilters::default()),
                &other("create", None)
            )
            .triggered
        );
        assert!(
            run(
                flavor,
                &wf("issues", EventFilters::default()),
                &other("issues", Some("milestoned"))
            )
            .triggered
        );
        assert!(
            run(
                flavor,
                &wf("workflow_dispatch", EventFilters::default()),
                &other("workflow_dispatch", None)
            )
            .triggered
        );
    }
}

#[test]
fn event_not_listed_and_reusable_workflows() {
    let d = run(
        Flavor::Github,
        &wf("workflow_call", EventFilters::default()),
        &push("refs/heads/main", &[]),
    );
    assert!(
        !d.triggered && d.reason.contains("reusable"),
        "{}",
        d.reason
    );
    let d = run(
        Flavor::Github,
        &wf("pull_request", EventFilters::default()),
        &push("refs/heads/main", &[]),
    );
    assert!(
        !d.triggered && d.reason.contains("does not include push"),
        "{}",
        d.reason
    );
}

#[test]
fn reasons_say_what_matched() {
    let w = wf(
        "push",
        EventFilters {
            branches: v(&["main"]),
            ..EventFilters::default()
        },
    );
    let d = run(Flavor::Github, &w, &push("refs/heads/main", &["a"]));
    assert_eq!(d.reason, "push to branch main; matches branches: [main]");
}
