//! One pass's state and the side effects every step shares: reading jobs (cached for the pass),
//! ending machines, deleting runners, applying job events, writing notes, recording actions.

use super::decide::{self, JobView};
use super::report::{ActionKind, Step, SweepAction, SweepError, SweepReport};
use super::SweepOptions;
use crate::fleet::{Fleet, ForgeHandle};
use sortie_core::forge::Flavor;
use sortie_core::job::{JobEvent, JobState, Transition};
use sortie_forge::{Runner, RunnerScope};
use sortie_provider::{InstanceId, InstanceInfo, ProviderError};
use sortie_store::{
    AgentSession, HistoryEntry, InstanceState, Job, JobFilter, JobId, StoreError, Timestamp,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

/// Most jobs of one state read at once (the store lists newest first).
pub(super) const JOB_PAGE: u32 = 10_000;

/// A forge connection and one of its runner scopes.
pub(super) type ScopeKey = (Flavor, RunnerScope);

/// One pass: the facts read so far and the report being written.
pub(super) struct Pass<'a> {
    pub fleet: &'a Fleet,
    pub opts: SweepOptions,
    pub now: Timestamp,
    pub step: Step,
    pub report: SweepReport,
    jobs: HashMap<JobId, Option<Job>>,
    histories: HashMap<JobId, Vec<HistoryEntry>>,
    sessions: HashMap<JobId, Vec<AgentSession>>,
    managed: BTreeMap<String, Option<Vec<InstanceInfo>>>,
    runners: HashMap<ScopeKey, Option<Vec<Runner>>>,
    /// `(provider, id)` of machines ended by this pass.
    pub ended: HashSet<(String, String)>,
}

impl<'a> Pass<'a> {
    pub fn new(fleet: &'a Fleet, opts: SweepOptions, now: Timestamp) -> Pass<'a> {
        Pass {
            fleet,
            opts,
            now,
            step: Step::InstanceState,
            report: SweepReport::new(&fleet.replica, now),
            jobs: HashMap::new(),
            histories: HashMap::new(),
            sessions: HashMap::new(),
            managed: BTreeMap::new(),
            runners: HashMap::new(),
            ended: HashSet::new(),
        }
    }

    /// Runs one step; a step's error ends that step only.
    pub async fn run_step(&mut self, step: Step) {
        let outcome = match step {
            Step::InstanceState => self.instance_state().await,
            Step::Interruptions => self.interruptions().await,
            Step::RunningTimeout => self.running_timeout().await,
            Step::ZombieRunners => self.zombie_runners().await,
            Step::FinishedMachines => self.finished_machines().await,
            Step::Orphans => self.orphans().await,
            Step::Registrations => self.registrations().await,
        };
        if let Err(e) = outcome {
            self.fail(format!(
                "the store failed: {e}; the step is retried next pass"
            ));
        }
    }

    // ---- the report ----

    /// Records an action: report, metrics, log.
    pub fn act(&mut self, kind: ActionKind, job: Option<JobId>, target: String, reason: String) {
        let step = self.step;
        tracing::info!(step = %step, action = kind.as_str(), job = ?job.map(|j| j.0), %target, %reason, "sweep");
        self.fleet
            .metrics
            .sweep_action(&format!("{}:{}", step.as_str(), kind.as_str()));
        self.report.actions.push(SweepAction {
            step,
            kind,
            job,
            target,
            reason,
        });
    }

    /// Records a failure; the pass goes on.
    pub fn fail(&mut self, message: String) {
        tracing::warn!(step = %self.step, %message, "sweep step failed");
        self.report.errors.push(SweepError {
            step: self.step,
            message,
        });
    }

    // ---- reading, cached for the pass ----

    /// A job by id.
    pub async fn job(&mut self, id: JobId) -> Result<Option<Job>, StoreError> {
        if let Some(j) = self.jobs.get(&id) {
            return Ok(j.clone());
        }
        let j = self.fleet.store.get_job(id).await?;
        self.jobs.insert(id, j.clone());
        Ok(j)
    }

    /// A job read again from the store, past the pass's cache: for decisions that move the
    /// job, which the dispatcher or a webhook may have moved since the pass read it.
    pub async fn fresh_job(&mut self, id: JobId) -> Result<Option<Job>, StoreError> {
        self.jobs.remove(&id);
        self.job(id).await
    }

    /// Jobs in `state`, newest first (not cached: states change during a pass).
    pub async fn jobs_in(&mut self, state: JobState) -> Result<Vec<Job>, StoreError> {
        let filter = JobFilter {
            state: Some(state),
            limit: JOB_PAGE,
        };
        let jobs = self.fleet.store.list_jobs(filter).await?;
        for j in &jobs {
            self.jobs.insert(j.id, Some(j.clone()));
        }
        Ok(jobs)
    }

    /// A job's history.
    pub async fn history(&mut self, id: JobId) -> Result<Vec<HistoryEntry>, StoreError> {
        if let Some(h) = self.histories.get(&id) {
            return Ok(h.clone());
        }
        let h = self.fleet.store.job_history(id).await?;
        self.histories.insert(id, h.clone());
        Ok(h)
    }

    /// What the machine verdict needs to know of `job`.
    pub async fn job_view(&mut self, job: &Job) -> Result<JobView, StoreError> {
        let finished_for = if job.state.is_terminal() {
            let history = self.history(job.id).await?;
            decide::finished_at(&history).map(|t| decide::since(self.now, t))
        } else {
            None
        };
        Ok(JobView {
            state: job.state,
            attempt: job.attempt,
            finished_for,
        })
    }

    /// The agent session of `(job, attempt)`, finished or not.
    pub async fn session(
        &mut self,
        job: JobId,
        attempt: u32,
    ) -> Result<Option<AgentSession>, StoreError> {
        if !self.sessions.contains_key(&job) {
            let found = match self.fleet.store.list_sessions(Some(job)).await {
                Ok(s) => s,
                // A store without agent sessions: every agent is quiet.
                Err(StoreError::Unsupported { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
            self.sessions.insert(job, found);
        }
        Ok(self
            .sessions
            .get(&job)
            .and_then(|s| s.iter().find(|s| s.attempt == attempt).cloned()))
    }

    /// Everything `provider` lists as ours; `None` (and an error in the report, once) when the
    /// provider is not configured or does not answer.
    pub async fn managed(&mut self, provider: &str) -> Option<Vec<InstanceInfo>> {
        if let Some(found) = self.managed.get(provider) {
            return found.clone();
        }
        let found = match self.fleet.provider(provider) {
            None => {
                self.fail(format!(
                    "instances of provider {provider:?} are recorded but no such provider is configured; add it to the settings or terminate them by hand"
                ));
                None
            }
            Some(p) => {
                let p = p.clone();
                let owner = self.fleet.owner.clone();
                match self.bounded(p.list_managed(&owner)).await {
                    Ok(Ok(list)) => Some(list),
                    Ok(Err(e)) => {
                        self.fail(format!(
                            "provider {provider} could not list its machines: {e}"
                        ));
                        None
                    }
                    Err(late) => {
                        self.fail(format!("provider {provider} listing its machines: {late}"));
                        None
                    }
                }
            }
        };
        self.managed.insert(provider.to_string(), found.clone());
        found
    }

    /// The runners at `scope` of `handle`'s forge; `None` (and an error in the report) when
    /// the forge does not answer.
    pub async fn runners_at(
        &mut self,
        handle: &ForgeHandle,
        scope: &RunnerScope,
    ) -> Option<Vec<Runner>> {
        let key = (handle.forge.flavor(), scope.clone());
        if let Some(found) = self.runners.get(&key) {
            return found.clone();
        }
        let forge = handle.forge.clone();
        let found = match self.bounded(forge.list_runners(scope)).await {
            Ok(Ok(list)) => Some(list),
            Ok(Err(e)) => {
                self.fail(format!("listing the runners of {scope} on {}: {e}", key.0));
                None
            }
            Err(late) => {
                self.fail(format!(
                    "listing the runners of {scope} on {}: {late}",
                    key.0
                ));
                None
            }
        };
        self.runners.insert(key, found.clone());
        found
    }

    /// Runs a provider or forge call for at most `call_timeout`.
    pub async fn bounded<T>(&self, call: impl Future<Output = T>) -> Result<T, String> {
        tokio::time::timeout(self.opts.call_timeout, call)
            .await
            .map_err(|_| {
                format!(
                    "no answer within {}; retried next pass",
                    decide::human(self.opts.call_timeout)
                )
            })
    }

    // ---- acting ----

    /// Ends a machine, records it terminated and notes its job. False when it could not be
    /// ended (the error is in the report).
    pub async fn terminate(
        &mut self,
        provider: &str,
        id: &str,
        job: Option<JobId>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let key = (provider.to_string(), id.to_string());
        if self.ended.contains(&key) {
            return Ok(true);
        }
        let Some(p) = self.fleet.provider(provider).cloned() else {
            self.fail(format!(
                "cannot end machine {provider}/{id}: no provider {provider:?} is configured"
            ));
            return Ok(false);
        };
        let iid = InstanceId(id.to_string());
        match self.bounded(p.terminate(&iid)).await {
            // Gone already: the provider restarted, or it ended by itself.
            Ok(Ok(())) | Ok(Err(ProviderError::UnknownInstance(_))) => {}
            Ok(Err(e)) => {
                self.fail(format!("ending machine {provider}/{id} ({reason}): {e}"));
                return Ok(false);
            }
            Err(late) => {
                self.fail(format!("ending machine {provider}/{id} ({reason}): {late}"));
                return Ok(false);
            }
        }
        self.ended.insert(key);
        if let Some(rec) = self.fleet.store.find_instance(provider, id).await? {
            if rec.state != InstanceState::Terminated {
                self.fleet
                    .store
                    .set_instance_state(rec.id, InstanceState::Terminated)
                    .await?;
            }
        }
        if let Some(job) = job {
            self.note(
                job,
                &format!("sweep ended machine {provider}/{id}: {reason}"),
            )
            .await?;
        }
        self.act(
            ActionKind::Terminate,
            job,
            format!("{provider}/{id}"),
            reason.to_string(),
        );
        Ok(true)
    }

    /// Deletes a runner on the forge and forgets its store registration. False when the forge
    /// refused (the error is in the report).
    pub async fn delete_runner(
        &mut self,
        handle: &ForgeHandle,
        scope: &RunnerScope,
        runner: &Runner,
        job: Option<JobId>,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let target = format!("runner {} {} ({scope})", runner.id, runner.name);
        let forge = handle.forge.clone();
        match self.bounded(forge.delete_runner(scope, runner.id)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.fail(format!("deleting {target}: {e}"));
                return Ok(false);
            }
            Err(late) => {
                self.fail(format!("deleting {target}: {late}"));
                return Ok(false);
            }
        }
        let key = (handle.forge.flavor(), scope.clone());
        if let Some(Some(list)) = self.runners.get_mut(&key) {
            list.retain(|r| r.id != runner.id);
        }
        if let Some(job) = job {
            self.note(job, &format!("sweep deleted {target}: {reason}"))
                .await?;
        }
        self.act(ActionKind::DeleteRunner, job, target, reason.to_string());
        self.forget_registration(&runner.name, "its runner was deleted")
            .await?;
        Ok(true)
    }

    /// Removes the store's registration records named `name`.
    pub async fn forget_registration(&mut self, name: &str, why: &str) -> Result<(), StoreError> {
        let regs = self.fleet.store.list_registrations(None).await?;
        for reg in regs.into_iter().filter(|r| r.name == name) {
            if self.fleet.store.delete_registration(reg.id).await? {
                self.act(
                    ActionKind::ForgetRegistration,
                    Some(reg.job),
                    format!("registration {} {}", reg.id, reg.name),
                    why.to_string(),
                );
            }
        }
        Ok(())
    }

    /// Applies a job event; records the action when the state changed.
    pub async fn apply(
        &mut self,
        job: JobId,
        event: JobEvent,
        reason: &str,
    ) -> Result<Transition, StoreError> {
        let applied = self.fleet.store.apply_event(job, event, reason).await?;
        self.jobs.insert(job, Some(applied.job.clone()));
        self.histories.remove(&job);
        if let Transition::To(_) = applied.transition {
            let kind = match event {
                JobEvent::TimeOut => ActionKind::TimeOut,
                JobEvent::Fail => ActionKind::Fail,
                _ => {
                    // A requeued job is the dispatcher's again: wake it.
                    self.fleet.wake.notify_one();
                    ActionKind::Requeue
                }
            };
            self.act(kind, Some(job), format!("job {job}"), reason.to_string());
        }
        Ok(applied.transition)
    }

    /// Adds a note to a job's history (stores without notes are skipped).
    pub async fn note(&mut self, job: JobId, text: &str) -> Result<(), StoreError> {
        match self.fleet.store.note_job(job, text).await {
            Ok(()) | Err(StoreError::Unsupported { .. }) | Err(StoreError::JobNotFound(_)) => {
                self.histories.remove(&job);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Records a session `finished` so later passes skip it.
    pub async fn close_session(
        &mut self,
        job: JobId,
        attempt: u32,
        why: &str,
    ) -> Result<(), StoreError> {
        let closed = self
            .fleet
            .store
            .record_phase(job, attempt, sortie_core::agent::AgentPhase::Finished, None)
            .await;
        match closed {
            Ok(_) => {
                self.sessions.remove(&job);
                self.act(
                    ActionKind::CloseSession,
                    Some(job),
                    format!("agent session of job {job} attempt {attempt}"),
                    why.to_string(),
                );
                Ok(())
            }
            Err(StoreError::JobNotFound(_)) | Err(StoreError::Unsupported { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The forge connection serving `job`, and the runner scope of its repository.
    pub fn scope_of(&mut self, job: &Job) -> Option<(ForgeHandle, RunnerScope)> {
        let handle = self.fleet.forge(job.key.forge())?.clone();
        match handle.scope.scope_for(job.key.repo()) {
            Ok(scope) => Some((handle, scope)),
            Err(e) => {
                self.fail(format!("job {} ({}): {e}", job.id, job.key));
                None
            }
        }
    }
}
