//! # sortie-core
//!
//! The pure domain of sortie: given a forge event and a repository's workflow files, decide which
//! workflows trigger, which jobs they contain, what each job's `runs-on` asks for
//! ([`RunnerSpec`](spec::RunnerSpec)) and where it goes ([`Route`](route::Route)).
//!
//! Nothing in this crate performs I/O or is async: every function takes plain data and returns
//! plain data, so the semantics can be tested exhaustively and fuzzed. The binary and the server
//! crates do the reading, fetching and launching.
//!
//! Module map:
//! - [`forge`]: which forge's semantics to mirror ([`forge::Flavor`]) and where it keeps workflows.
//! - [`pattern`]: GitHub filter patterns and act's `workflowpattern` flavour used by Gitea.
//! - [`workflow`]: the workflow file model, parsed from YAML with line/column positions.
//! - [`matrix`] and [`expr`]: `strategy.matrix` expansion and the small expression language needed
//!   to resolve `runs-on`.
//! - [`event`]: the parts of forge webhook payloads that decide triggering.
//! - [`trigger`]: does a workflow's `on:` fire for an event, and why (or why not).
//! - [`labels`], [`spec`], [`route`], [`catalog`]: labels → `RunnerSpec` → `Route`.
//! - [`job`]: job identity and the job state machine.
//! - [`secret`]: [`secret::Secret`], a value that never prints.
//! - [`plan`]: everything above joined into one [`plan::Plan`], the output of `sortie plan`.

pub mod agent;
pub mod catalog;
pub mod event;
pub mod expr;
pub mod forge;
pub mod job;
pub mod labels;
pub mod matrix;
pub mod pattern;
pub mod plan;
pub mod route;
pub mod secret;
pub mod spec;
pub mod trigger;
pub mod workflow;
