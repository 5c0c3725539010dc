//! [`LabelError`]: why one `runs-on` label could not be read.

use super::grammar::Key;

/// Why a label could not be parsed. Every message names the label and says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The label is the empty string.
    #[error("empty label in runs-on: remove the empty entry")]
    Empty,
    /// A Gitea `name:scheme` label with nothing before the colon.
    #[error("label {label:?} has an empty name before `:`: write NAME, NAME:host or NAME:docker://IMAGE")]
    EmptyName {
        /// The label as written.
        label: String,
    },
    /// `sortie=` or `runs-fleet=` with nothing after it.
    #[error(
        "label {label:?} has nothing after {prefix:?}: add settings, e.g. {prefix}cpu=4/ram=8"
    )]
    EmptyBody {
        /// The label as written.
        label: String,
        /// The prefix that was found.
        prefix: &'static str,
    },
    /// A `runs-fleet=` label whose first segment is not a run id.
    #[error(
        "label {label:?} has no run id: runs-fleet labels start with it, e.g. \
         runs-fleet=${{{{ github.run_id }}}}/cpu=4 (or use the sortie= prefix, where it is optional)"
    )]
    MissingRunId {
        /// The label as written.
        label: String,
    },
    /// A run id with whitespace or control characters.
    #[error(
        "label {label:?}: run id {run_id:?} contains whitespace: use ${{{{ github.run_id }}}}"
    )]
    InvalidRunId {
        /// The label as written.
        label: String,
        /// The run id as written.
        run_id: String,
    },
    /// `//`, a leading `/` after the prefix, or a trailing `/`.
    #[error("label {label:?} has an empty segment (`//`, or `/` at the start or end): remove it")]
    EmptySegment {
        /// The label as written.
        label: String,
    },
    /// A segment after the run id without `=`.
    #[error(
        "label {label:?}: segment {segment:?} has no `=`: after the optional run id every segment \
         is KEY=VALUE, and values cannot contain `/`"
    )]
    MissingEquals {
        /// The label as written.
        label: String,
        /// The offending segment.
        segment: String,
    },
    /// A key sortie does not know.
    #[error("label {label:?}: unknown key {key:?}; known keys: {known}")]
    UnknownKey {
        /// The label as written.
        label: String,
        /// The unknown key.
        key: String,
        /// The known keys, comma-separated.
        known: String,
    },
    /// The same key twice in one label.
    #[error("label {label:?}: key {key} is given twice: keep one")]
    DuplicateKey {
        /// The label as written.
        label: String,
        /// The repeated key.
        key: Key,
    },
    /// `key=` with nothing after the `=`.
    #[error("label {label:?}: {key}= has an empty value: give a value or remove the key")]
    EmptyValue {
        /// The label as written.
        label: String,
        /// The key.
        key: Key,
    },
    /// A value that does not fit its key.
    #[error("label {label:?}: {key}={value} is invalid: {reason}")]
    InvalidValue {
        /// The label as written.
        label: String,
        /// The key.
        key: Key,
        /// The value as written.
        value: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
}
