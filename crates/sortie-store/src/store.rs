//! The [`Store`] trait: every durable operation sortie performs, one method per operation.
//!
//! Object-safe (`Arc<dyn Store>`), `Send + Sync`. Each method is one transaction: a method either
//! happens completely or not at all. Times come from the store's [`Clock`](crate::Clock).

use crate::error::StoreError;
use crate::types::{
    AgentSession, Applied, ClaimedJob, Delivery, DeliveryId, DeliveryInsert, HistoryEntry,
    Instance, InstanceFilter, InstanceId, InstanceState, Job, JobCreate, JobFilter, JobId,
    NewInstance, NewJob, NewRegistration, Pool, Redeem, Registration, RegistrationId,
    RegistrationState, StoredDelivery,
};
use async_trait::async_trait;
use sortie_core::agent::AgentPhase;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobEvent, JobKey};
use std::time::Duration;

/// Durable state shared by every sortie replica.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Brings the schema up to date. Idempotent; [`crate::open`] already does it.
    async fn migrate(&self) -> Result<(), StoreError>;

    // ---- deliveries ----

    /// Stores one delivery unless `(forge, id)` is already stored.
    async fn insert_delivery(&self, delivery: &Delivery) -> Result<DeliveryInsert, StoreError>;

    /// Stores many deliveries in ONE transaction (group commit), one outcome per input in order.
    /// A delivery repeated within the batch is `New` the first time and `Duplicate` after.
    async fn insert_deliveries(
        &self,
        deliveries: &[Delivery],
    ) -> Result<Vec<DeliveryInsert>, StoreError>;

    /// Marks a delivery processed with `outcome`. Returns false (and keeps the first outcome) when
    /// it was already processed; [`StoreError::DeliveryNotFound`] when it was never stored.
    async fn mark_delivery_processed(
        &self,
        forge: Flavor,
        id: &DeliveryId,
        outcome: &str,
    ) -> Result<bool, StoreError>;

    /// One delivery.
    async fn get_delivery(
        &self,
        forge: Flavor,
        id: &DeliveryId,
    ) -> Result<Option<StoredDelivery>, StoreError>;

    /// Deliveries not yet processed, oldest first (the planner's work after a crash).
    async fn list_unprocessed_deliveries(
        &self,
        limit: u32,
    ) -> Result<Vec<StoredDelivery>, StoreError>;

    /// The most recent deliveries, newest first.
    async fn list_recent_deliveries(&self, limit: u32) -> Result<Vec<StoredDelivery>, StoreError>;

    // ---- jobs ----

    /// Stores a queued job unless one with the same key exists (then returns that one unchanged).
    async fn create_job(&self, job: &NewJob) -> Result<JobCreate, StoreError>;

    /// Like [`Store::create_job`], and a new job then takes `first` (a job first heard of by its
    /// `in_progress` or `completed` event) before any dispatcher can see it queued: no machine is
    /// launched for a job a runner already took. An existing job is returned unchanged (the
    /// caller applies the event as usual). The default is two steps (not atomic); the SQL
    /// backends do it in one transaction.
    async fn create_job_then(
        &self,
        job: &NewJob,
        first: Option<(JobEvent, &str)>,
    ) -> Result<JobCreate, StoreError> {
        let created = self.create_job(job).await?;
        match (created, first) {
            (JobCreate::Created(j), Some((event, reason))) => Ok(JobCreate::Created(
                self.apply_event(j.id, event, reason).await?.job,
            )),
            (other, _) => Ok(other),
        }
    }

    /// Applies `event` with [`JobState::apply`](sortie_core::job::JobState::apply); a state change
    /// is written to the history with `reason` in the same transaction. A requeue adds one to the
    /// attempt; a requeue or a terminal state drops the job's claim.
    async fn apply_event(
        &self,
        job: JobId,
        event: JobEvent,
        reason: &str,
    ) -> Result<Applied, StoreError>;

    /// [`Store::apply_event`], but only while the job is still on `attempt`: once it has moved
    /// on (requeued by someone else meanwhile), nothing is written and the answer is
    /// [`Transition::Ignored`](sortie_core::job::Transition::Ignored). For decisions taken about
    /// one attempt's machine (a stolen runner, a missed deadline, a machine that ended), so two
    /// of them racing requeue the job once.
    async fn apply_event_at(
        &self,
        job: JobId,
        attempt: u32,
        event: JobEvent,
        reason: &str,
    ) -> Result<Applied, StoreError>;

    /// A job by store id.
    async fn get_job(&self, id: JobId) -> Result<Option<Job>, StoreError>;

    /// A job by forge identity.
    async fn get_job_by_key(&self, key: &JobKey) -> Result<Option<Job>, StoreError>;

    /// Jobs, newest first.
    async fn list_jobs(&self, filter: JobFilter) -> Result<Vec<Job>, StoreError>;

    /// Every recorded state change of a job, oldest first.
    async fn job_history(&self, id: JobId) -> Result<Vec<HistoryEntry>, StoreError>;

    // ---- queue ----

    /// Claims the oldest queued job that has no live claim, for `ttl`. At most one live claim per
    /// job, enforced by a conditional update in the database. `None` when nothing is claimable.
    async fn claim_next(
        &self,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError>;

    /// Extends this worker's live claim to now + `ttl`. False when the claim lapsed or is not
    /// this worker's: stop working on the job.
    async fn renew_claim(
        &self,
        job: JobId,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Drops this worker's claim. False when it held none.
    async fn release_claim(&self, job: JobId, worker: &str) -> Result<bool, StoreError>;

    // ---- instances ----

    /// Records an instance; recording the same `(provider, provider_id)` again returns the
    /// existing record. A different instance for the same `(job, attempt)` is refused with
    /// [`StoreError::InstanceConflict`].
    async fn record_instance(&self, instance: &NewInstance) -> Result<Instance, StoreError>;

    /// Sets an instance's state.
    async fn set_instance_state(
        &self,
        id: InstanceId,
        state: InstanceState,
    ) -> Result<Instance, StoreError>;

    /// Instances matching `filter`, oldest first.
    async fn list_instances(&self, filter: InstanceFilter) -> Result<Vec<Instance>, StoreError>;

    /// The instance a provider knows as `provider_id`.
    async fn find_instance(
        &self,
        provider: &str,
        provider_id: &str,
    ) -> Result<Option<Instance>, StoreError>;

    // ---- runner registrations ----

    /// Records a registration; the same `name` again returns the existing record.
    async fn record_registration(&self, reg: &NewRegistration) -> Result<Registration, StoreError>;

    /// Sets a registration's state.
    async fn set_registration_state(
        &self,
        id: RegistrationId,
        state: RegistrationState,
    ) -> Result<Registration, StoreError>;

    /// Registrations, optionally only in `state`, oldest first.
    async fn list_registrations(
        &self,
        state: Option<RegistrationState>,
    ) -> Result<Vec<Registration>, StoreError>;

    /// Deletes a registration record. False when it did not exist.
    async fn delete_registration(&self, id: RegistrationId) -> Result<bool, StoreError>;

    // ---- pools ----

    /// Creates or replaces a pool by name.
    async fn put_pool(&self, pool: &Pool) -> Result<(), StoreError>;

    /// A pool by name.
    async fn get_pool(&self, name: &str) -> Result<Option<Pool>, StoreError>;

    /// All pools by name.
    async fn list_pools(&self) -> Result<Vec<Pool>, StoreError>;

    /// Deletes a pool. False when it did not exist.
    async fn delete_pool(&self, name: &str) -> Result<bool, StoreError>;

    // ---- named leases ----

    /// Takes (or, for the current owner, extends) the lease `name` for `ttl`. True when `owner`
    /// now holds it; false when another owner holds a live lease.
    async fn try_acquire_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives up the lease if `owner` holds it. False when it did not.
    async fn release_lease(&self, name: &str, owner: &str) -> Result<bool, StoreError>;

    // ---- dispatch recovery and notes ----

    /// Claims the oldest `launching` job whose claim has lapsed (its dispatcher died between
    /// "launch" and "instance recorded", or its machine never came up), for `ttl`.
    async fn claim_stale_launching(
        &self,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let _ = (worker, ttl);
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "claim_stale_launching",
        })
    }

    /// Adds `reason` to a job's history without changing its state (e.g. "waiting: the
    /// provider's limit of 10 machines is reached"). Consecutive identical notes are kept once.
    async fn note_job(&self, job: JobId, reason: &str) -> Result<(), StoreError> {
        let _ = (job, reason);
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "note_job",
        })
    }

    // ---- agent sessions ----

    /// Stores a one-time bootstrap token, by its SHA-256 hex, for `(job, attempt)`, valid for
    /// `ttl`. Several tokens may exist for one attempt (a dispatcher that resumed after a crash
    /// makes a new one); only one of them can ever be redeemed.
    async fn create_bootstrap(
        &self,
        token_hash: &str,
        job: JobId,
        attempt: u32,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let _ = (token_hash, job, attempt, ttl);
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "create_bootstrap",
        })
    }

    /// Redeems a bootstrap token: atomically creates the attempt's agent session, keyed by
    /// `session_hash` (SHA-256 hex of the session token), unless the attempt has one already.
    async fn redeem_bootstrap(
        &self,
        token_hash: &str,
        session_hash: &str,
    ) -> Result<Redeem, StoreError> {
        let _ = (token_hash, session_hash);
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "redeem_bootstrap",
        })
    }

    /// Undoes a redemption whose runner credential could not be made (the forge was down), so
    /// the agent may try again with the same bootstrap token. False when there was none.
    async fn unredeem_bootstrap(&self, job: JobId, attempt: u32) -> Result<bool, StoreError> {
        let _ = (job, attempt);
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "unredeem_bootstrap",
        })
    }

    /// The session a session token (by hash) belongs to.
    async fn find_session(&self, session_hash: &str) -> Result<Option<AgentSession>, StoreError> {
        let _ = session_hash;
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "find_session",
        })
    }

    /// Records an agent report: `last_seen_at` always; the phase (unless a heartbeat) and the
    /// first time of each phase; the exit code with `finished`.
    async fn record_phase(
        &self,
        job: JobId,
        attempt: u32,
        phase: AgentPhase,
        exit_code: Option<i32>,
    ) -> Result<AgentSession, StoreError> {
        let _ = (job, attempt, phase, exit_code);
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "record_phase",
        })
    }

    /// Agent sessions, of one job or (None) all not yet finished, oldest first.
    async fn list_sessions(&self, job: Option<JobId>) -> Result<Vec<AgentSession>, StoreError> {
        let _ = job;
        Err(StoreError::Unsupported {
            backend: "this",
            operation: "list_sessions",
        })
    }
}
