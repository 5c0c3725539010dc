//! Fake GitHub and Gitea/Forgejo HTTP servers — stateful, real REST shapes, real webhook
//! signing — for tests of the forge clients and the server.
//!
//! Each fake serves on 127.0.0.1:0, keeps its state behind a mutex (repositories with files at
//! commits, installations, runners, registrations, scripted failures such as rate limits) and
//! records every API call for assertions. [`webhook`] signs deliveries as the real forges do;
//! [`payloads`] builds them from the documented examples in `fixtures/`.
//!
//! Both fakes are also small CI simulations for end-to-end tests and `sortie demo`: jobs queued
//! on them ([`FakeGithub::queue_job`], [`FakeGitea::push_with_jobs`]) send signed webhooks to the
//! URL given to `set_webhook`; runners connect to `POST /_fake/runner/connect` with the
//! credential sortie obtained (a JIT config, Forgejo's uuid and token, or a registration token),
//! long-poll `POST /_fake/runner/{id}/next` and take any job their labels satisfy (in an order
//! set with [`Assignment`]), and report `POST /_fake/runner/{id}/finish`; the forges' listing
//! endpoints (`…/actions/runs`, `…/jobs`) and GitHub's App webhook deliveries API show the
//! state. Nothing in them panics on bad input: a malformed request gets a 4xx JSON message.

mod common;
pub mod gitea;
pub mod github;
pub mod keys;
pub mod payloads;
mod sim;
pub mod webhook;
pub mod workflows;

pub use common::{ApiCall, RepoFiles, ScriptedFailure};
pub use gitea::{FakeGitea, GiteaKind};
pub use github::{decode_jit_config, FakeGithub, FakeJitConfig};
pub use sim::{Assignment, Chooser, Delivery, FakeJob, JobStatus};
pub use webhook::Webhook;
