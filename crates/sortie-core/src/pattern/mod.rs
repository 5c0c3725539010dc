//! Filter patterns for `branches`, `tags`, `paths` and their `-ignore` forms, in two flavours.
//!
//! # One pattern
//!
//! A [`Pattern`] matches exactly like act's `workflowpattern` package (nektos/act
//! `pkg/workflowpattern/workflow_pattern.go`, also vendored by Gitea and Forgejo), which implements
//! GitHub's "Filter pattern cheat sheet" (docs.github.com, *Workflow syntax for GitHub Actions*):
//!
//! | syntax | meaning |
//! |---|---|
//! | `*` | any run of characters except `/` |
//! | `**` | any run of characters, `/` included (but not `\n`) |
//! | `**/` | nothing, or at least one character and then `/` (`**/x` matches `x`, `a/x`, not `/x`) |
//! | `?`, `+` | zero-or-one / one-or-more of the preceding character; literal when first |
//! | `[...]` | one character: letters, digits and ascending ranges within `a-z`, `A-Z`, `A-z`, `0-9` |
//! | `\c` | the character `c` literally |
//! | leading `!` | negative pattern (see the list semantics below); `!` elsewhere is literal |
//!
//! The whole value must match. Matching is case-sensitive and works on Unicode characters.
//!
//! Compilation runs act's own translation to a regex (module `translate`), reads that regex as
//! Go's RE2 does (`re2`), and builds an NFA (`nfa`) — no `regex` crate and no backtracking, so matching
//! costs at most `len(value) × len(pattern)` steps. Following act's translation keeps its quirks:
//! `a?+` is refused (Go rejects stacked quantifiers), and `[A-]x]` is the class `[A-]` followed by
//! `x]`. One deliberate difference: act accepts a few patterns whose bracket range ends in `\`,
//! turning the next character into a regex escape such as `\d` or `\b`; sortie refuses those with
//! a [`PatternError`] instead of imitating them.
//!
//! # Lists
//!
//! A [`PatternList`] is one filter key's list. It offers both flavours of evaluation; pick by forge:
//!
//! - GitHub: [`PatternList::github_selects`] — patterns are checked in order and the *last* one
//!   that matches decides (positive includes, `!` excludes).
//! - Gitea/Forgejo (act): [`PatternList::act_skip`] for `branches`/`tags`/`paths` and
//!   [`PatternList::act_filter`] for the `-ignore` keys. They differ from GitHub on `!` inside an
//!   `-ignore` list; see [`PatternList::act_filter`].

mod error;
mod nfa;
mod re2;
mod translate;

#[cfg(test)]
mod tests;

pub use error::PatternError;

/// One compiled filter pattern. A leading `!` makes it negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    negative: bool,
    program: nfa::Program,
}

impl Pattern {
    /// Compiles one pattern as written in a workflow (a leading `!` negates it).
    ///
    /// Fails, naming the column and the fix, where act fails: `[]`, an unclosed `[`, a class member
    /// or range outside letters and digits, a trailing lone `\`, stacked quantifiers such as `*+`.
    pub fn new(source: &str) -> Result<Pattern, PatternError> {
        // act's `CompilePattern`: strip exactly one leading `!`.
        let (negative, body) = match source.strip_prefix('!') {
            Some(body) => (true, body),
            None => (false, source),
        };
        let body_start = source.len() - body.len();
        let regex = translate::act_regex(body)
            .map_err(|problems| PatternError::from_problems(source, body_start, &problems))?;
        let nodes = re2::parse(&regex.text)
            .map_err(|e| PatternError::from_syntax(source, body_start, &regex, &e))?;
        Ok(Pattern {
            source: source.to_string(),
            negative,
            program: nfa::Program::compile(&nodes),
        })
    }

    /// The pattern as written (with its `!`, if any).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern was written with a leading `!`.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Whether the whole of `value` matches the pattern body (negation is not applied here).
    pub fn is_match(&self, value: &str) -> bool {
        self.program.is_match(value)
    }
}

/// An ordered list of patterns as written under one filter key (`branches`, `paths-ignore`, …).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PatternList {
    patterns: Vec<Pattern>,
}

impl PatternList {
    /// Compiles every pattern in order; the first bad one is reported.
    pub fn new<S: AsRef<str>>(sources: &[S]) -> Result<PatternList, PatternError> {
        let patterns = sources
            .iter()
            .map(|s| Pattern::new(s.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(PatternList { patterns })
    }

    /// The compiled patterns in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// GitHub's rule for one value: the *last* pattern that matches decides; it is selected when
    /// that pattern is positive, and not selected when it is negative or nothing matches.
    ///
    /// Source (docs.github.com, *Workflow syntax*, `on.push.<branches|tags|…>` and `paths`): "A
    /// matching negative pattern (prefixed with `!`) after a positive match will exclude the Git
    /// ref. A matching positive pattern after a negative match will include the Git ref again."
    ///
    /// **The `-ignore` keys use this same predicate** on GitHub: a value is *ignored* exactly when
    /// `github_selects` is true on the `-ignore` list. The cheat sheet states the `!` rule for all
    /// filters ("negate previous positive patterns"; "patterns are checked sequentially"), and
    /// GitHub's behaviour agrees (actions/runner#2324: with `paths-ignore: ['.github/workflows/**',
    /// '!**.md']`, a change to `x.go` still runs the workflow — `x.go` matches no pattern, so it is
    /// not ignored). That is why there is no separate `github_ignores`. What differs between the
    /// keys is how the forge combines values: `paths` runs when *some* changed path is selected;
    /// `paths-ignore` runs when *some* changed path is not ignored; a ref is a single value.
    pub fn github_selects(&self, value: &str) -> bool {
        self.patterns
            .iter()
            .rev()
            .find(|p| p.is_match(value))
            .is_some_and(|p| !p.is_negative())
    }

    /// act's `workflowpattern.Skip`, used by Gitea/Forgejo for `branches`, `tags` and `paths`:
    /// true when the workflow should be **skipped**.
    ///
    /// An empty list never skips. Otherwise the workflow is skipped unless some input is selected
    /// by GitHub's last-match-wins rule ([`github_selects`](Self::github_selects)); with no inputs
    /// at all (e.g. a push that changed no file) it is skipped.
    pub fn act_skip(&self, inputs: &[&str]) -> bool {
        !self.patterns.is_empty() && !inputs.iter().any(|i| self.github_selects(i))
    }

    /// act's `workflowpattern.Filter`, used by Gitea/Forgejo for `branches-ignore`, `tags-ignore`
    /// and `paths-ignore`: true when the workflow should be **skipped**, i.e. every input is
    /// ignored (an empty list never skips; no inputs at all skips).
    ///
    /// An input is ignored when *any* pattern "hits" it, where a positive pattern hits what it
    /// matches and a negative pattern `!p` hits what does **not** match `p` (act:
    /// `item.Regex.MatchString(file) == !item.Negative`). Order does not matter. This is not
    /// GitHub's rule: with `paths-ignore: ['docs/**', '!docs/keep.md']` GitHub ignores
    /// `docs/a.md` but not `docs/keep.md` or `src/x.rs`, whereas act ignores all three (the
    /// negative pattern hits every path except `docs/keep.md`, and `docs/**` hits that one). So a
    /// push that changes only `src/x.rs` runs on GitHub and is skipped by act (and Gitea).
    pub fn act_filter(&self, inputs: &[&str]) -> bool {
        !self.patterns.is_empty()
            && inputs.iter().all(|i| {
                self.patterns
                    .iter()
                    .any(|p| p.is_match(i) != p.is_negative())
            })
    }
}
