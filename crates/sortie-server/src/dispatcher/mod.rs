//! The dispatcher: queued job → one machine.
//!
//! ```text
//! claim_next (lease on the job row, claim_ttl)          ─ or ─  claim_stale_launching
//!   ▼                                                              ▼
//! route → provider; limits                               instance recorded for this attempt?
//!   ▼                                                       no  → resume the launch (same attempt)
//! bootstrap token (sbt_…, stored hashed)                    yes → the deadline of the phase it is
//!   ▼                                                             in (boot, register, job start;
//!   ▼                                                             see [`deadlines`]) passed: end it,
//!   ▼                                                             requeue; else hold the claim
//! queued → launching ("launching on ec2: …")
//!   ▼
//! provider.launch(idempotency token = job key + attempt; the provider also adopts a machine
//!                 already tagged with the job, so a crash here never makes a second one)
//!   ▼
//! record_instance (one per job attempt, enforced by the store) → keep the claim until the boot
//! deadline can be checked (at most claim_ttl): the job is this replica's until then
//! ```
//!
//! The runner credential (JIT config, registration) is minted when the machine redeems its
//! bootstrap token (see [`crate::agent_api`]), not here: no runner credential is ever stored, and
//! no forge registration exists for a machine that never booted (the seed's zombie runners).
//!
//! Every step leaves the job where a retry is safe: before `launching` nothing exists; in
//! `launching` without an instance the resumed launch adopts by tag; with an instance the
//! attempt is either served or ended and requeued with the next attempt (a new idempotency
//! token, a new runner name).

pub mod deadlines;
mod overdue;

use crate::fleet::Fleet;
use crate::shutdown::Shutdown;
use sha2::{Digest, Sha256};
use sortie_core::agent::BOOTSTRAP_TOKEN_PREFIX;
use sortie_core::job::{JobEvent, JobState, Transition};
use sortie_core::route::RouteKind;
use sortie_provider::{
    Bootstrap, InstanceId as ProviderInstanceId, LaunchRequest, OneTimeSecret, ProviderError,
};
use sortie_store::{
    ClaimedJob, Clock, InstanceFilter, InstanceState, Job, JobFilter, NewInstance, StoreError,
    SystemClock,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Back-off before a job whose launch could not proceed (limit reached, provider busy, forge
/// not configured) is looked at again.
const BACKOFF: Duration = Duration::from_secs(15);

/// What one dispatch did, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A machine was launched (or adopted) and recorded.
    Launched {
        /// Provider name.
        provider: String,
        /// Provider's instance id.
        instance: String,
    },
    /// The job waits (reason noted on the job); it is looked at again after a back-off.
    Waiting(String),
    /// The job was requeued for a new attempt.
    Requeued(String),
    /// The job failed for good.
    Failed(String),
    /// Nothing to do (the job moved on meanwhile).
    Nothing(String),
}

/// The dispatcher loop of one replica.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    fleet: Arc<Fleet>,
    /// What time it is for the phase deadlines; must be the store's clock (the phase times
    /// come from it).
    clock: Arc<dyn Clock>,
}

impl Dispatcher {
    /// A dispatcher over `fleet`, on the system clock.
    pub fn new(fleet: Arc<Fleet>) -> Dispatcher {
        Dispatcher {
            fleet,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same dispatcher reading time from `clock` (tests share the store's `ManualClock`).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Dispatcher {
        Dispatcher { clock, ..self }
    }

    /// Claims and dispatches jobs until `shutdown`, at most `limits.concurrency` at once. Idle,
    /// it waits for [`Fleet::wake`] or `limits.dispatch_poll` (jobs queued by other replicas).
    /// On shutdown it stops claiming and lets the dispatches in flight finish.
    pub async fn run(self, mut shutdown: Shutdown) {
        let concurrency = self.fleet.limits.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(concurrency));
        loop {
            let permit = tokio::select! {
                biased;
                _ = shutdown.recv() => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            match self.claim().await {
                Ok(Some(claimed)) => {
                    let me = self.clone();
                    tokio::spawn(async move {
                        let outcome = me.dispatch(claimed).await;
                        tracing::debug!(?outcome, "dispatched");
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        biased;
                        _ = shutdown.recv() => break,
                        _ = self.fleet.wake.notified() => {}
                        _ = tokio::time::sleep(self.fleet.limits.dispatch_poll) => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "dispatcher cannot claim jobs; retrying");
                    tokio::select! {
                        biased;
                        _ = shutdown.recv() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        // Let the dispatches in flight finish: each holds a permit.
        let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
        let _ = permits.acquire_many(all).await;
        tracing::debug!("dispatcher stopped");
    }

    /// Claims a queued job, or else a launching job whose claim lapsed.
    pub async fn claim(&self) -> Result<Option<ClaimedJob>, StoreError> {
        let f = &self.fleet;
        if let Some(c) = f.store.claim_next(&f.replica, f.limits.claim_ttl).await? {
            return Ok(Some(c));
        }
        f.store
            .claim_stale_launching(&f.replica, f.limits.claim_ttl)
            .await
    }

    /// Dispatches one claimed job. Never panics; store errors leave the claim to lapse, after
    /// which another pass (this replica or another) picks the job up again.
    pub async fn dispatch(&self, claimed: ClaimedJob) -> Outcome {
        let job = claimed.job;
        let id = job.id;
        let result = match job.state {
            JobState::Queued => self.launch(job).await,
            JobState::Launching => self.resume(job).await,
            other => Ok(Outcome::Nothing(format!("job is {other}"))),
        };
        match result {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "dispatch interrupted by a store error; the claim lapses and the job is retried");
                Outcome::Nothing(format!("store error: {e}"))
            }
        }
    }

    /// Waits: notes why on the job and holds the claim for the back-off.
    async fn wait(&self, job: &Job, why: String) -> Result<Outcome, StoreError> {
        let f = &self.fleet;
        f.store.note_job(job.id, &why).await?;
        f.store.renew_claim(job.id, &f.replica, BACKOFF).await?;
        tracing::info!(job = %job.id, key = %job.key, reason = %why, "job waits");
        Ok(Outcome::Waiting(why))
    }

    async fn fail(&self, job: &Job, why: String) -> Result<Outcome, StoreError> {
        self.fleet
            .store
            .apply_event(job.id, JobEvent::Fail, &why)
            .await?;
        tracing::warn!(job = %job.id, key = %job.key, reason = %why, "job failed");
        Ok(Outcome::Failed(why))
    }

    /// The provider a job goes to, or why it cannot go anywhere (`Err(Ok(..))` = wait,
    /// `Err(Err(..))` = fail).
    fn provider_for(&self, job: &Job) -> Result<String, Result<String, String>> {
        let f = &self.fleet;
        let name = match job.route.kind {
            RouteKind::Provider => job
                .route
                .target
                .clone()
                .unwrap_or_else(|| f.default_provider.clone()),
            // Warm pools are not kept yet: a pool job launches cold on the default provider.
            RouteKind::Pool => f.default_provider.clone(),
            RouteKind::Skip | RouteKind::Unroutable => {
                return Err(Err(job.route.reason.clone()));
            }
        };
        if f.provider(&name).is_none() {
            let have: Vec<&str> = f.providers.keys().map(String::as_str).collect();
            return Err(Ok(format!(
                "waiting: provider {name:?} is not configured on this server (configured: {}) — \
                 configure it (see docs/configuration.md) or change the job's labels",
                have.join(", ")
            )));
        }
        if f.forge(job.key.forge()).is_none() {
            return Err(Ok(format!(
                "waiting: no {} connection is configured, so no runner credential can be made — \
                 set the [{}] settings (see docs/configuration.md)",
                job.key.forge(),
                match job.key.forge() {
                    sortie_core::forge::Flavor::Github => "github",
                    _ => "gitea",
                }
            )));
        }
        Ok(name)
    }

    /// Live machines per provider and per repository, when a limit asks for them.
    async fn over_limit(&self, job: &Job, provider: &str) -> Result<Option<String>, StoreError> {
        let f = &self.fleet;
        if let Some(max) = f.limits.max_per_provider.get(provider) {
            let mut live = 0u32;
            for state in [InstanceState::Pending, InstanceState::Running] {
                live += f
                    .store
                    .list_instances(InstanceFilter {
                        state: Some(state),
                        job: None,
                    })
                    .await?
                    .iter()
                    .filter(|i| i.provider == provider)
                    .count() as u32;
            }
            if live >= *max {
                return Ok(Some(format!(
                    "waiting: provider {provider} has {live} live machines, its limit is {max} \
                     (dispatch.max_per_provider)"
                )));
            }
        }
        let max = f.limits.max_per_repo;
        if max > 0 {
            let repo = job.key.repo();
            let mut live = 0u32;
            for state in [JobState::Launching, JobState::Running] {
                live += f
                    .store
                    .list_jobs(JobFilter {
                        state: Some(state),
                        limit: 100_000,
                    })
                    .await?
                    .iter()
                    .filter(|j| j.key.repo() == repo && j.id != job.id)
                    .count() as u32;
            }
            if live >= max {
                return Ok(Some(format!(
                    "waiting: repository {repo} has {live} jobs launching or running, its limit \
                     is {max} (dispatch.max_per_repo)"
                )));
            }
        }
        Ok(None)
    }

    /// A queued job: route, limits, token, `launching`, launch, record.
    async fn launch(&self, job: Job) -> Result<Outcome, StoreError> {
        let provider = match self.provider_for(&job) {
            Ok(p) => p,
            Err(Ok(wait)) => return self.wait(&job, wait).await,
            Err(Err(fail)) => return self.fail(&job, fail).await,
        };
        if let Some(why) = self.over_limit(&job, &provider).await? {
            return self.wait(&job, why).await;
        }
        let f = &self.fleet;
        let reason = format!("launching on {provider}: {}", job.route.reason);
        let applied = f
            .store
            .apply_event(job.id, JobEvent::Launch, &reason)
            .await?;
        match applied.transition {
            Transition::To(JobState::Launching) | Transition::Unchanged => {}
            other => {
                // Started or finished meanwhile (a runner of another job took it).
                let _ = f.store.release_claim(job.id, &f.replica).await;
                return Ok(Outcome::Nothing(format!("not launched: {other:?}")));
            }
        }
        self.launch_machine(applied.job, provider).await
    }

    /// The machine part of a launch; also used to resume one after a crash.
    async fn launch_machine(&self, job: Job, provider_name: String) -> Result<Outcome, StoreError> {
        let f = &self.fleet;
        let Some(provider) = f.provider(&provider_name).cloned() else {
            return self
                .wait(
                    &job,
                    format!("waiting: provider {provider_name:?} vanished"),
                )
                .await;
        };
        let token = match bootstrap_token() {
            Ok(t) => t,
            Err(e) => {
                let why = format!("waiting: the operating system's random source failed ({e})");
                return self.wait(&job, why).await;
            }
        };
        let token_ttl = f.limits.launching_timeout + Duration::from_secs(60);
        f.store
            .create_bootstrap(&sha256_hex(&token), job.id, job.attempt, token_ttl)
            .await?;
        let request = LaunchRequest {
            job: job.key.clone(),
            attempt: job.attempt,
            spec: job.spec.clone().unwrap_or_default(),
            bootstrap: Bootstrap {
                orchestrator_url: f.public_url.clone(),
                credential: OneTimeSecret::new(token),
                ssm_parameter: None,
            },
            tags: BTreeMap::new(),
        };
        // Keep the claim through the launch: a slow cloud call must not let another replica in.
        let call_limit = f.limits.launch_call_timeout;
        f.store
            .renew_claim(job.id, &f.replica, call_limit + f.limits.claim_ttl)
            .await?;
        let started = Instant::now();
        let launched = tokio::time::timeout(call_limit, provider.launch(&request)).await;
        let secs = started.elapsed().as_secs_f64();
        let launched = match launched {
            Ok(Ok(l)) => {
                f.metrics.launch(&provider_name, "launched", secs);
                l
            }
            Ok(Err(e)) => {
                f.metrics.launch(&provider_name, "error", secs);
                return self.launch_failed(&job, &provider_name, e).await;
            }
            Err(_) => {
                f.metrics.launch(&provider_name, "timeout", secs);
                let why = format!(
                    "waiting: launch on {provider_name} did not answer within {}s \
                     (dispatch.launch_call_timeout_secs); resuming, and a machine it made is \
                     adopted by its tags",
                    call_limit.as_secs()
                );
                return self.wait(&job, why).await;
            }
        };
        if crash_after_launch() {
            // Test hook (SORTIE_FAILPOINT=dispatch-after-launch): die like a SIGKILL between
            // "launch called" and "instance recorded", the window idempotency must cover.
            tracing::error!(job = %job.id, "failpoint dispatch-after-launch: aborting");
            std::process::abort();
        }
        let record = NewInstance {
            job: job.id,
            provider: provider_name.clone(),
            provider_id: launched.instance_id.0.clone(),
            attempt: job.attempt,
            state: InstanceState::Pending,
        };
        match f.store.record_instance(&record).await {
            Ok(_) => {}
            Err(StoreError::InstanceConflict { existing, new, .. }) => {
                // Another machine holds this attempt already (a resumed launch raced the first):
                // keep the recorded one, end the newcomer.
                tracing::warn!(job = %job.id, %existing, %new, "second machine for one job attempt: terminating it");
                if let Err(e) = provider.terminate(&ProviderInstanceId(new.clone())).await {
                    tracing::error!(job = %job.id, instance = %new, error = %e, "cannot terminate the extra machine; the sweeper will retry (it is tagged)");
                }
                f.store
                    .renew_claim(job.id, &f.replica, self.first_check_in(&provider_name))
                    .await?;
                return Ok(Outcome::Launched {
                    provider: provider_name,
                    instance: existing,
                });
            }
            Err(e) => return Err(e),
        }
        let mut note = format!(
            "machine {} ({}, {}) {} on {provider_name}; waiting for it to boot",
            launched.instance_id,
            launched.instance_type,
            match launched.lifecycle {
                sortie_provider::Lifecycle::Spot => "spot",
                sortie_provider::Lifecycle::OnDemand => "on-demand",
            },
            if launched.adopted {
                "adopted (launched before a restart)"
            } else {
                "launched"
            },
        );
        if !launched.notes.is_empty() {
            note.push_str(&format!(" ({})", launched.notes.join("; ")));
        }
        f.store.note_job(job.id, &note).await?;
        f.store
            .renew_claim(job.id, &f.replica, self.first_check_in(&provider_name))
            .await?;
        tracing::info!(job = %job.id, key = %job.key, provider = %provider_name, instance = %launched.instance_id, adopted = launched.adopted, "machine launched");
        Ok(Outcome::Launched {
            provider: provider_name,
            instance: launched.instance_id.0,
        })
    }

    /// A launch call failed: configuration and "nothing fits" fail the job; anything else (no
    /// capacity, throttling, API errors) waits and retries with the same attempt.
    async fn launch_failed(
        &self,
        job: &Job,
        provider: &str,
        e: ProviderError,
    ) -> Result<Outcome, StoreError> {
        let permanent = matches!(e, ProviderError::Config(_) | ProviderError::NoCandidates(_));
        if permanent {
            self.fail(job, format!("cannot launch on {provider}: {e}"))
                .await
        } else {
            // The job stays `launching` without an instance: when the back-off ends the claim
            // lapses and `claim_stale_launching` resumes the launch with the same attempt.
            let why = format!("waiting: launch on {provider} failed, retrying: {e}");
            self.wait(job, why).await
        }
    }

    /// A `launching` job whose claim lapsed.
    async fn resume(&self, job: Job) -> Result<Outcome, StoreError> {
        let f = &self.fleet;
        let instances = f
            .store
            .list_instances(InstanceFilter {
                state: None,
                job: Some(job.id),
            })
            .await?;
        let current = instances.iter().find(|i| i.attempt == job.attempt);
        let Some(instance) = current else {
            // The launch never got recorded (crash, or a failed call): resume with the same
            // attempt; the provider adopts a machine already tagged with this job attempt.
            let provider = match self.provider_for(&job) {
                Ok(p) => p,
                Err(Ok(wait)) => return self.wait(&job, wait).await,
                Err(Err(fail)) => return self.fail(&job, fail).await,
            };
            tracing::info!(job = %job.id, key = %job.key, "resuming a launch that was not recorded");
            return self.launch_machine(job, provider).await;
        };
        self.enforce_deadlines(job, instance).await
    }
}

/// True when the environment asks for the crash test's failpoint.
fn crash_after_launch() -> bool {
    static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SET.get_or_init(|| {
        std::env::var("SORTIE_FAILPOINT").is_ok_and(|v| v == "dispatch-after-launch")
    })
}

/// A fresh one-time bootstrap token: `sbt_` + 32 random bytes in hex (never the 40-hex shape of
/// a forge token, which the user-data renderer refuses).
pub fn bootstrap_token() -> Result<String, getrandom::Error> {
    random_token(BOOTSTRAP_TOKEN_PREFIX)
}

/// `prefix` + 32 bytes from the operating system's random source, hex.
pub fn random_token(prefix: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// SHA-256 of a token, hex: what the store keeps instead of the token.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
