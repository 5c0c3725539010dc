//! [`Store`] for [`SqlStore`]: each method delegates to the module that holds its statements.

use super::{agents, connect, deliveries, fleet, jobs, leases, queue, SqlStore};
use crate::error::StoreError;
use crate::store::Store;
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

#[async_trait]
impl Store for SqlStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        connect::migrate(self).await
    }

    async fn insert_delivery(&self, delivery: &Delivery) -> Result<DeliveryInsert, StoreError> {
        let mut out = deliveries::insert_batch(self, std::slice::from_ref(delivery)).await?;
        out.pop()
            .ok_or_else(|| StoreError::corrupt("delivery insert", "", "no outcome returned"))
    }

    async fn insert_deliveries(&self, ds: &[Delivery]) -> Result<Vec<DeliveryInsert>, StoreError> {
        deliveries::insert_batch(self, ds).await
    }

    async fn mark_delivery_processed(
        &self,
        forge: Flavor,
        id: &DeliveryId,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        deliveries::mark_processed(self, forge, id, outcome).await
    }

    async fn get_delivery(
        &self,
        forge: Flavor,
        id: &DeliveryId,
    ) -> Result<Option<StoredDelivery>, StoreError> {
        deliveries::get(self, forge, id).await
    }

    async fn list_unprocessed_deliveries(
        &self,
        limit: u32,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        deliveries::list(self, deliveries::Listing::Unprocessed, limit).await
    }

    async fn list_recent_deliveries(&self, limit: u32) -> Result<Vec<StoredDelivery>, StoreError> {
        deliveries::list(self, deliveries::Listing::Recent, limit).await
    }

    async fn create_job(&self, job: &NewJob) -> Result<JobCreate, StoreError> {
        jobs::create(self, job, None).await
    }

    async fn create_job_then(
        &self,
        job: &NewJob,
        first: Option<(JobEvent, &str)>,
    ) -> Result<JobCreate, StoreError> {
        jobs::create(self, job, first).await
    }

    async fn apply_event(
        &self,
        job: JobId,
        event: JobEvent,
        reason: &str,
    ) -> Result<Applied, StoreError> {
        jobs::apply_event(self, job, None, event, reason).await
    }

    async fn apply_event_at(
        &self,
        job: JobId,
        attempt: u32,
        event: JobEvent,
        reason: &str,
    ) -> Result<Applied, StoreError> {
        jobs::apply_event(self, job, Some(attempt), event, reason).await
    }

    async fn get_job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        jobs::get(self, id).await
    }

    async fn get_job_by_key(&self, key: &JobKey) -> Result<Option<Job>, StoreError> {
        jobs::get_by_key(self, key).await
    }

    async fn list_jobs(&self, filter: JobFilter) -> Result<Vec<Job>, StoreError> {
        jobs::list(self, filter).await
    }

    async fn job_history(&self, id: JobId) -> Result<Vec<HistoryEntry>, StoreError> {
        jobs::history(self, id).await
    }

    async fn claim_next(
        &self,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        queue::claim_next(self, worker, ttl).await
    }

    async fn renew_claim(
        &self,
        job: JobId,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        queue::renew(self, job, worker, ttl).await
    }

    async fn release_claim(&self, job: JobId, worker: &str) -> Result<bool, StoreError> {
        queue::release(self, job, worker).await
    }

    async fn record_instance(&self, instance: &NewInstance) -> Result<Instance, StoreError> {
        fleet::record_instance(self, instance).await
    }

    async fn set_instance_state(
        &self,
        id: InstanceId,
        state: InstanceState,
    ) -> Result<Instance, StoreError> {
        fleet::set_instance_state(self, id, state).await
    }

    async fn list_instances(&self, filter: InstanceFilter) -> Result<Vec<Instance>, StoreError> {
        fleet::list_instances(self, filter).await
    }

    async fn find_instance(
        &self,
        provider: &str,
        provider_id: &str,
    ) -> Result<Option<Instance>, StoreError> {
        fleet::find_instance(self, provider, provider_id).await
    }

    async fn record_registration(&self, reg: &NewRegistration) -> Result<Registration, StoreError> {
        fleet::record_registration(self, reg).await
    }

    async fn set_registration_state(
        &self,
        id: RegistrationId,
        state: RegistrationState,
    ) -> Result<Registration, StoreError> {
        fleet::set_registration_state(self, id, state).await
    }

    async fn list_registrations(
        &self,
        state: Option<RegistrationState>,
    ) -> Result<Vec<Registration>, StoreError> {
        fleet::list_registrations(self, state).await
    }

    async fn delete_registration(&self, id: RegistrationId) -> Result<bool, StoreError> {
        fleet::delete_registration(self, id).await
    }

    async fn put_pool(&self, pool: &Pool) -> Result<(), StoreError> {
        fleet::put_pool(self, pool).await
    }

    async fn get_pool(&self, name: &str) -> Result<Option<Pool>, StoreError> {
        fleet::get_pool(self, name).await
    }

    async fn list_pools(&self) -> Result<Vec<Pool>, StoreError> {
        fleet::list_pools(self).await
    }

    async fn delete_pool(&self, name: &str) -> Result<bool, StoreError> {
        fleet::delete_pool(self, name).await
    }

    async fn try_acquire_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        leases::try_acquire(self, name, owner, ttl).await
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        leases::release(self, name, owner).await
    }

    async fn claim_stale_launching(
        &self,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        queue::claim_stale_launching(self, worker, ttl).await
    }

    async fn note_job(&self, job: JobId, reason: &str) -> Result<(), StoreError> {
        jobs::note(self, job, reason).await
    }

    async fn create_bootstrap(
        &self,
        token_hash: &str,
        job: JobId,
        attempt: u32,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        agents::create_bootstrap(self, token_hash, job, attempt, ttl).await
    }

    async fn redeem_bootstrap(
        &self,
        token_hash: &str,
        session_hash: &str,
    ) -> Result<Redeem, StoreError> {
        agents::redeem(self, token_hash, session_hash).await
    }

    async fn unredeem_bootstrap(&self, job: JobId, attempt: u32) -> Result<bool, StoreError> {
        agents::unredeem(self, job, attempt).await
    }

    async fn find_session(&self, session_hash: &str) -> Result<Option<AgentSession>, StoreError> {
        agents::find_session(self, session_hash).await
    }

    async fn record_phase(
        &self,
        job: JobId,
        attempt: u32,
        phase: AgentPhase,
        exit_code: Option<i32>,
    ) -> Result<AgentSession, StoreError> {
        agents::record_phase(self, job, attempt, phase, exit_code).await
    }

    async fn list_sessions(&self, job: Option<JobId>) -> Result<Vec<AgentSession>, StoreError> {
        agents::list_sessions(self, job).await
    }
}
