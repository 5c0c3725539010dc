//! Filter patterns for `branches`, `tags` and `paths`, in two flavours.
//!
//! STUB: the implementation is being written; the public types below are the contract.

/// A pattern that failed to compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter pattern {pattern:?}: {message}")]
pub struct PatternError {
    pub pattern: String,
    pub message: String,
}

/// One compiled filter pattern. A leading `!` makes it negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    negative: bool,
}

impl Pattern {
    /// Compiles one pattern as written in a workflow (a leading `!` negates it).
    pub fn new(source: &str) -> Result<Pattern, PatternError> {
        Ok(Pattern { source: source.to_string(), negative: source.starts_with('!') })
    }
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
    /// Whether the pattern was written with a leading `!`.
    pub fn is_negative(&self) -> bool {
        self.negative
    }
    /// Whether `value` matches the pattern body (ignoring negation).
    pub fn is_match(&self, value: &str) -> bool {
        value == self.source.trim_start_matches('!')
    }
}

/// An ordered list of patterns as written under one filter key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PatternList {
    patterns: Vec<Pattern>,
}

impl PatternList {
    /// Compiles every pattern; the first bad one is reported.
    pub fn new<S: AsRef<str>>(sources: &[S]) -> Result<PatternList, PatternError> {
        let patterns = sources.iter().map(|s| Pattern::new(s.as_ref())).collect::<Result<_, _>>()?;
        Ok(PatternList { patterns })
    }
    /// The compiled patterns in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }
    /// GitHub semantics: `value` is selected when the *last* pattern that matches it is positive
    /// (docs: "A matching negative pattern after a positive match will exclude the Git ref. A
    /// matching positive pattern after a negative match will include the Git ref again.").
    pub fn github_selects(&self, value: &str) -> bool {
        let mut selected = false;
        for p in &self.patterns {
            if p.is_match(value) {
                selected = !p.is_negative();
            }
        }
        selected
    }
    /// act's `workflowpattern.Skip` (used by Gitea for `branches`, `tags`, `paths`): true when the
    /// workflow should be skipped, i.e. no input is selected.
    pub fn act_skip(&self, inputs: &[&str]) -> bool {
        !self.patterns.is_empty() && !inputs.iter().any(|i| self.github_selects(i))
    }
    /// act's `workflowpattern.Filter` (used by Gitea for the `-ignore` keys): true when the
    /// workflow should be skipped, i.e. every input is ignored.
    pub fn act_filter(&self, inputs: &[&str]) -> bool {
        !self.patterns.is_empty() && inputs.iter().all(|i| self.github_selects(i))
    }
}
