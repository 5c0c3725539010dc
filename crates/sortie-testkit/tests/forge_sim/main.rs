//! The fake forges as simulations (`workflow_job` webhooks, runners taking jobs, listings,
//! deliveries), driven over real HTTP as `sortie agent` and sortie's server would.

mod gitea;
mod github;
mod support;
