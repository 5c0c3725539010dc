//! act's own test rows for `Skip` and `Filter`.

use super::list;

/// `(patterns, inputs, Skip result, Filter result)`.
type Row = (&'static [&'static str], &'static [&'static str], bool, bool);

/// Every row of `TestMatchPattern` in nektos/act `pkg/workflowpattern/workflow_pattern_test.go`
/// (commit f57c26fb77eddf0f31e978e936f61f558b2fa7a8), in order. act writes Go string literals, so
/// `"\\!file"` there is the pattern `\!file` here too.
const ACT_ROWS: &[Row] = &[
    (&["*"], &["path/with/slash"], true, false),
    (
        &["path/a", "path/b", "path/c"],
        &["meta", "path/b", "otherfile"],
        false,
        false,
    ),
    (&["path/a", "path/b", "path/c"], &["path/b"], false, true),
    (
        &["path/a", "path/b", "path/c"],
        &["path/c", "path/b"],
        false,
        true,
    ),
    (
        &["path/a", "path/b", "path/c"],
        &["path/c", "path/b", "path/a"],
        false,
        true,
    ),
    (
        &["path/a", "path/b", "path/c"],
        &["path/c", "path/b", "path/d", "path/a"],
        false,
        false,
    ),
    (&[], &[], false, false),
    (&["\\!file"], &["!file"], false, true),
    (
        &["escape\\\\backslash"],
        &["escape\\backslash"],
        false,
        true,
    ),
    (&[".yml"], &["fyml"], true, false),
    // act: "https://docs.github.com/…#patterns-to-match-branches-and-tags"
    (&["feature/*"], &["feature/my-branch"], false, true),
    (&["feature/*"], &["feature/your-branch"], false, true),
    (&["feature/**"], &["feature/beta-a/my-branch"], false, true),
    (&["feature/**"], &["feature/beta-a/my-branch"], false, true),
    (&["feature/**"], &["feature/mona/the/octocat"], false, true),
    (
        &["main", "releases/mona-the-octocat"],
        &["main"],
        false,
        true,
    ),
    (
        &["main", "releases/mona-the-octocat"],
        &["releases/mona-the-octocat"],
        false,
        true,
    ),
    (&["*"], &["main"], false, true),
    (&["*"], &["releases"], false, true),
    (&["**"], &["all/the/branches"], false, true),
    (&["**"], &["every/tag"], false, true),
    (&["*feature"], &["mona-feature"], false, true),
    (&["*feature"], &["feature"], false, true),
    (&["*feature"], &["ver-10-feature"], false, true),
    (&["v2*"], &["v2"], false, true),
    (&["v2*"], &["v2.0"], false, true),
    (&["v2*"], &["v2.9"], false, true),
    (&["v[12].[0-9]+.[0-9]+"], &["v1.10.1"], false, true),
    (&["v[12].[0-9]+.[0-9]+"], &["v2.0.0"], false, true),
    // act: "https://docs.github.com/…#patterns-to-match-file-paths"
    (&["*"], &["README.md"], false, true),
    (&["*"], &["server.rb"], false, true),
    (&["*.jsx?"], &["page.js"], false, true),
    (&["*.jsx?"], &["page.jsx"], false, true),
    (&["**"], &["all/the/files.md"], false, true),
    (&["*.js"], &["app.js"], false, true),
    (&["*.js"], &["index.js"], false, true),
    (&["**.js"], &["index.js"], false, true),
    (&["**.js"], &["js/index.js"], false, true),
    (&["**.js"], &["src/js/app.js"], false, true),
    (&["docs/*"], &["docs/README.md"], false, true),
    (&["docs/*"], &["docs/file.txt"], false, true),
    (&["docs/**"], &["docs/README.md"], false, true),
    (&["docs/**"], &["docs/mona/octocat.txt"], false, true),
    (&["docs/**/*.md"], &["docs/README.md"], false, true),
    (
        &["docs/**/*.md"],
        &["docs/mona/hello-world.md"],
        false,
        true,
    ),
    (&["docs/**/*.md"], &["docs/a/markdown/file.md"], false, true),
    (&["**/docs/**"], &["docs/hello.md"], false, true),
    (&["**/docs/**"], &["dir/docs/my-file.txt"], false, true),
    (&["**/docs/**"], &["space/docs/plan/space.doc"], false, true),
    (&["**/README.md"], &["README.md"], false, true),
    (&["**/README.md"], &["js/README.md"], false, true),
    (&["**/*src/**"], &["a/src/app.js"], false, true),
    (&["**/*src/**"], &["my-src/code/js/app.js"], false, true),
    (&["**/*-post.md"], &["my-post.md"], false, true),
    (&["**/*-post.md"], &["path/their-post.md"], false, true),
    (&["**/migrate-*.sql"], &["migrate-10909.sql"], false, true),
    (&["**/migrate-*.sql"], &["db/migrate-v1.0.sql"], false, true),
    (
        &["**/migrate-*.sql"],
        &["db/sept/migrate-v1.sql"],
        false,
        true,
    ),
    (&["*.md", "!README.md"], &["hello.md"], false, true),
    (&["*.md", "!README.md"], &["README.md"], true, true),
    (&["*.md", "!README.md"], &["docs/hello.md"], true, true),
    (
        &["*.md", "!README.md", "README*"],
        &["hello.md"],
        false,
        true,
    ),
    (
        &["*.md", "!README.md", "README*"],
        &["README.md"],
        false,
        true,
    ),
    (
        &["*.md", "!README.md", "README*"],
        &["README.doc"],
        false,
        true,
    ),
];

#[test]
fn act_match_pattern_rows_skip_and_filter() {
    assert_eq!(ACT_ROWS.len(), 64, "every row of act's TestMatchPattern");
    for &(patterns, inputs, skip, filter) in ACT_ROWS {
        let l = list(patterns);
        assert_eq!(l.act_skip(inputs), skip, "Skip({patterns:?}, {inputs:?})");
        assert_eq!(
            l.act_filter(inputs),
            filter,
            "Filter({patterns:?}, {inputs:?})"
        );
    }
}

/// The same rows read as plain matching (act's `PatternToRegex` + `MatchString`): in every
/// single-pattern, single-input row, `Filter` is true exactly when the pattern matches the input.
#[test]
fn act_rows_as_single_pattern_matches() {
    let mut checked = 0;
    for &(patterns, inputs, _, filter) in ACT_ROWS {
        if let ([p], [input]) = (patterns, inputs) {
            let p = super::pattern(p);
            assert!(!p.is_negative());
            assert_eq!(p.is_match(input), filter, "{:?} on {input:?}", p.as_str());
            checked += 1;
        }
    }
    assert_eq!(checked, 50);
}

/// act's `Filter` reads `!p` in an ignore list as "ignored when it does NOT match p", unlike
/// GitHub's last-match-wins rule (nektos/act `Filter`: `item.Regex.MatchString(file) ==
/// !item.Negative`). Rows worked out by hand from that line.
#[test]
fn act_filter_treats_a_negative_ignore_pattern_as_its_complement() {
    let ignore = list(&["docs/**", "!docs/keep.md"]);
    for path in ["docs/a.md", "docs/keep.md", "src/x.rs"] {
        assert!(ignore.act_filter(&[path]), "act ignores {path}");
    }
    assert!(
        ignore.github_selects("docs/a.md"),
        "GitHub ignores docs/a.md"
    );
    assert!(
        !ignore.github_selects("docs/keep.md"),
        "GitHub re-includes docs/keep.md"
    );
    assert!(
        !ignore.github_selects("src/x.rs"),
        "GitHub does not ignore src/x.rs"
    );
    // Order does not matter to Filter, and one negative pattern ignores everything else.
    assert!(list(&["!docs/keep.md"]).act_filter(&["src/x.rs"]));
    assert!(!list(&["!docs/keep.md"]).act_filter(&["docs/keep.md"]));
    assert!(list(&["!a", "a"]).act_filter(&["a", "b"]));
}

/// act's `Skip` and `Filter` with no inputs: both skip unless the list is empty (the loops never
/// run and both return `true`).
#[test]
fn act_no_inputs() {
    assert!(list(&["**"]).act_skip(&[]));
    assert!(list(&["**"]).act_filter(&[]));
    assert!(!list(&[]).act_skip(&[]));
    assert!(!list(&[]).act_filter(&["x"]));
}
