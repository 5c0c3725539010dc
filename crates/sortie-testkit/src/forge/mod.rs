//! Fake GitHub and Gitea/Forgejo HTTP servers — stateful, real REST shapes, real webhook
//! signing — for tests of the forge clients and the server.
//!
//! Each fake serves on 127.0.0.1:0, keeps its state behind a mutex (repositories with files at
//! commits, installations, runners, registrations, scripted failures such as rate limits) and
//! records every API call for assertions. [`webhook`] signs deliveries as the real forges do;
//! [`payloads`] builds them from the documented examples in `fixtures/`.

mod common;
pub mod gitea;
pub mod github;
pub mod keys;
pub mod payloads;
pub mod webhook;

pub use common::{ApiCall, RepoFiles, ScriptedFailure};
pub use gitea::{FakeGitea, GiteaKind};
pub use github::FakeGithub;
pub use webhook::Webhook;
