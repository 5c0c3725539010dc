//! GitHub's documented examples, evaluated with GitHub's last-match-wins rule.

use super::list;

/// `(patterns, example matches, non-matches)`.
type Row = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

/// Every row of "Patterns to match branches and tags" in the "Filter pattern cheat sheet"
/// (github/docs `content/actions/reference/workflows-and-actions/workflow-syntax.md`): the pattern
/// column and the "Example matches" column verbatim. The cheat sheet lists no non-matches for this
/// table; the third column is ours, chosen from each row's description.
const BRANCHES_AND_TAGS: &[Row] = &[
    // "The `*` wildcard matches any character, but does not match slash (`/`)."
    (
        &["feature/*"],
        &["feature/my-branch", "feature/your-branch"],
        &["feature/a/b", "feature"],
    ),
    // "The `**` wildcard matches any character including slash (`/`) in branch and tag names."
    (
        &["feature/**"],
        &[
            "feature/beta-a/my-branch",
            "feature/your-branch",
            "feature/mona/the/octocat",
        ],
        &["feature", "features/x", "other/feature/x"],
    ),
    // "Matches the exact name of a branch or tag name."
    (
        &["main", "releases/mona-the-octocat"],
        &["main", "releases/mona-the-octocat"],
        &["Main", "main2", "releases/mona-the-octocat/x"],
    ),
    // "Matches all branch and tag names that don't contain a slash (`/`)."
    (&["*"], &["main", "releases"], &["releases/v1"]),
    // "Matches all branch and tag names." (act's `.*`: everything but a line break)
    (
        &["**"],
        &["all/the/branches", "every/tag"],
        &["line\nbreak"],
    ),
    // "The `*` character is a special character in YAML…"
    (
        &["*feature"],
        &["mona-feature", "feature", "ver-10-feature"],
        &["feature-x", "a/feature"],
    ),
    // "Matches branch and tag names that start with `v2`."
    (&["v2*"], &["v2", "v2.0", "v2.9"], &["v1.0", "xv2", "v2/x"]),
    // "Matches all semantic versioning branches and tags with major version 1 or 2."
    (
        &["v[12].[0-9]+.[0-9]+"],
        &["v1.10.1", "v2.0.0"],
        &["v3.0.0", "v1.x.0", "v1.10.1-rc1"],
    ),
];

/// Every row of "Patterns to match file paths" in the same cheat sheet. The last two rows list
/// their non-matches ("_Does not match_ `README.md` `docs/hello.md`"); the rest are ours.
const PATHS: &[Row] = &[
    (&["*"], &["README.md", "server.rb"], &["docs/README.md"]),
    // "The `?` character matches zero or one of the preceding character."
    (
        &["*.jsx?"],
        &["page.js", "page.jsx"],
        &["page.jsxx", "page.j", "src/page.js"],
    ),
    (&["**"], &["all/the/files.md"], &["line\nbreak"]),
    (
        &["*.js"],
        &["app.js", "index.js"],
        &["src/app.js", "app.jsx"],
    ),
    (
        &["**.js"],
        &["index.js", "js/index.js", "src/js/app.js"],
        &["index.jsx", "js/index.ts"],
    ),
    (
        &["docs/*"],
        &["docs/README.md", "docs/file.txt"],
        &["docs/mona/octocat.txt", "README.md"],
    ),
    (
        &["docs/**"],
        &["docs/README.md", "docs/mona/octocat.txt"],
        &["README.md", "src/docs/a", "docs"],
    ),
    (
        &["docs/**/*.md"],
        &[
            "docs/README.md",
            "docs/mona/hello-world.md",
            "docs/a/markdown/file.md",
        ],
        &["docs/README.txt", "src/docs/a.md", "README.md"],
    ),
    (
        &["**/docs/**"],
        &[
            "docs/hello.md",
            "dir/docs/my-file.txt",
            "space/docs/plan/space.doc",
        ],
        &["documents/a", "dir/mydocs/a", "docs"],
    ),
    (
        &["**/README.md"],
        &["README.md", "js/README.md"],
        &["README.mdx", "js/README.md.bak"],
    ),
    (
        &["**/*src/**"],
        &["a/src/app.js", "my-src/code/js/app.js"],
        &["src", "a/source/app.js"],
    ),
    (
        &["**/*-post.md"],
        &["my-post.md", "path/their-post.md"],
        &["post.md", "my-post.mdx"],
    ),
    (
        &["**/migrate-*.sql"],
        &[
            "migrate-10909.sql",
            "db/migrate-v1.0.sql",
            "db/sept/migrate-v1.sql",
        ],
        &["migrate.sql", "db/migrate-v1/x.sql"],
    ),
    // "When a file matches a pattern and also matches a negative pattern defined later in the
    // file, the file will not be included."
    (
        &["*.md", "!README.md"],
        &["hello.md"],
        &["README.md", "docs/hello.md"],
    ),
    // "A pattern that negates a previous pattern will re-include file paths."
    (
        &["*.md", "!README.md", "README*"],
        &["hello.md", "README.md", "README.doc"],
        &["docs/README.md"],
    ),
];

/// The worked examples of the same page: `on.push.<branches|tags>` (reusable
/// `run-on-specific-branches-or-tags4.md`) and `on.push.paths` (`triggering-a-workflow-paths4.md`).
const WORKED_EXAMPLES: &[Row] = &[
    (
        &["releases/**", "!releases/**-alpha"],
        &["releases/10", "releases/beta/mona"],
        &["releases/10-alpha", "releases/beta/3-alpha"],
    ),
    (
        &["sub-project/**", "!sub-project/docs/**"],
        &["sub-project/index.js", "sub-project/src/index.js"],
        &["sub-project/docs/readme.md"],
    ),
];

fn check(table: &[Row]) {
    for &(patterns, matches, non_matches) in table {
        let l = list(patterns);
        for value in matches {
            assert!(
                l.github_selects(value),
                "{patterns:?} should select {value:?}"
            );
        }
        assert!(!non_matches.is_empty(), "{patterns:?} needs a non-match");
        for value in non_matches {
            assert!(
                !l.github_selects(value),
                "{patterns:?} should not select {value:?}"
            );
        }
    }
}

#[test]
fn cheat_sheet_branches_and_tags() {
    assert_eq!(BRANCHES_AND_TAGS.len(), 8);
    check(BRANCHES_AND_TAGS);
}

#[test]
fn cheat_sheet_paths() {
    assert_eq!(PATHS.len(), 15);
    check(PATHS);
}

#[test]
fn documented_include_exclude_examples() {
    check(WORKED_EXAMPLES);
}

/// GitHub reads `!` in an `-ignore` list with the same last-match-wins rule (see
/// `PatternList::github_selects`): actions/runner#2324 reports `paths-ignore: ['.github/workflows/**',
/// '!**.md']` still running for a change to a `.go` file. act's `Filter` would skip that push.
#[test]
fn github_ignore_list_with_negation() {
    let ignore = list(&[".github/workflows/**", "!**.md"]);
    let changed = "samples/chaincode/echo-go/chaincode/echo.go";
    assert!(
        !ignore.github_selects(changed),
        "not ignored on GitHub, so the workflow runs"
    );
    assert!(ignore.github_selects(".github/workflows/ci.yml"));
    assert!(
        !ignore.github_selects(".github/workflows/README.md"),
        "re-included by !**.md"
    );
    assert!(
        ignore.act_filter(&[changed]),
        "act ignores it: it does not match **.md"
    );
}

/// Last match wins, in either direction, and an empty list selects nothing.
#[test]
fn github_order_matters() {
    assert!(!list(&["a*", "!ab"]).github_selects("ab"));
    assert!(list(&["!ab", "a*"]).github_selects("ab"));
    assert!(!list(&["!ab"]).github_selects("zz"));
    assert!(!list(&[]).github_selects("main"));
}
