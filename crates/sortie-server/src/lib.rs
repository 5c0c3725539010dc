//! # sortie-server
//!
//! The HTTP side of sortie: webhook ingest and planning after the answer.
//!
//! ```text
//! POST /webhooks/{github,gitea}, /webhook
//!   │  webhook::inspect — secret set? signature (constant time), delivery id, event, JSON  → 401/400
//!   ▼
//! ingest::Ingest — one writer task, batches in one transaction (group commit)       → 202 / 200 dup
//!   ▼ (after the commit)
//! planner::Planner — workflow_job → job rows (route, settle, lifecycle events); recovery sweep
//! ```
//!
//! Modules: [`config`] (the typed, layered configuration), [`signature`] (HMAC-SHA256),
//! [`webhook`] (what a request is, pure), [`ingest`] (group commit), [`planner`] (deliveries →
//! jobs), [`admin`] (the admin API's bearer token), [`interruption`] (`POST /api/v1/events/ec2`:
//! EC2 spot warnings and state changes requeue jobs), [`reconciler`] (GitHub, Gitea: jobs and
//! pushes whose webhook never arrived, failed deliveries redelivered), [`app`] (routes), [`server`] (run and stop),
//! [`shutdown`] (signals).

pub mod admin;
pub mod admin_api;
pub mod agent_api;
pub mod app;
pub mod config;
pub mod dispatcher;
pub mod fleet;
pub mod ingest;
pub mod interruption;
pub mod metrics;
pub mod planner;
pub mod reconciler;
pub mod server;
pub mod shutdown;
pub mod signature;
pub mod steal;
pub mod sweeper;
pub mod ui;
pub mod webhook;

pub use config::{ConfigError, Overrides, Settings};
pub use server::{run, Options, RunningServer};
