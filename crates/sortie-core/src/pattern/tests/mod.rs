//! Tests for filter patterns. Every table names its upstream source above it.

mod act;
mod github;
mod props;
mod reference;
mod syntax;

use super::{Pattern, PatternList};

/// Compiles a list that the test expects to be valid.
fn list(patterns: &[&str]) -> PatternList {
    match PatternList::new(patterns) {
        Ok(list) => list,
        Err(e) => panic!("{patterns:?} should compile: {e}"),
    }
}

/// Compiles one pattern that the test expects to be valid.
fn pattern(source: &str) -> Pattern {
    match Pattern::new(source) {
        Ok(p) => p,
        Err(e) => panic!("{source:?} should compile: {e}"),
    }
}
