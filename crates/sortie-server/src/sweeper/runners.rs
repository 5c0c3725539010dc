//! The runner steps: zombie runners (registered, never took a job) and runner registrations on
//! the forges and in the store.

use super::act::{Pass, ScopeKey};
use super::decide::{
    human, parse_runner_name, runner_verdicts, zombie_for, zombie_job, JobAction, RunnerOwner,
    Verdict,
};
use super::report::ActionKind;
use crate::fleet::ForgeHandle;
use sortie_core::job::JobEvent;
use sortie_forge::{Runner, RunnerScope};
use sortie_store::{AgentSession, InstanceFilter, InstanceState, Job, Registration, StoreError};
use std::collections::{HashMap, HashSet};

impl Pass<'_> {
    /// Step 4: agent sessions whose runner registered and took no job within
    /// `idle_runner_timeout`.
    pub(super) async fn zombie_runners(&mut self) -> Result<(), StoreError> {
        let sessions = match self.fleet.store.list_sessions(None).await {
            Ok(s) => s,
            Err(StoreError::Unsupported { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let idle = self.fleet.limits.idle_runner_timeout;
        for s in sessions {
            if zombie_for(&s, self.now, idle).is_some() {
                self.zombie(&s).await?;
            }
        }
        Ok(())
    }

    /// Ends one zombie: its machine, its registration, and its hold on the job.
    async fn zombie(&mut self, s: &AgentSession) -> Result<(), StoreError> {
        let Some(job) = self.job(s.job).await? else {
            return self
                .close_session(s.job, s.attempt, "its job is no longer stored")
                .await;
        };
        let name = job.key.runner_name(s.attempt);
        let why = format!(
            "runner {name} registered but received no job within {}",
            human(self.fleet.limits.idle_runner_timeout)
        );
        // The forge first: a runner it lists busy took a job (its agent's report may be late),
        // and a busy runner is never ended. When the forge cannot say, wait for the next pass.
        let mut on_forge = None;
        if let Some((handle, scope)) = self.scope_of(&job) {
            let Some(listed) = self.runners_at(&handle, &scope).await else {
                return Ok(());
            };
            if let Some(r) = listed.into_iter().find(|r| r.name == name) {
                if r.busy {
                    self.act(
                        ActionKind::Spare,
                        Some(job.id),
                        format!("runner {} {name} ({scope})", r.id),
                        format!(
                            "{why} by its agent's reports, but the forge lists it busy; left alone"
                        ),
                    );
                    return Ok(());
                }
                on_forge = Some((handle, scope, r));
            }
        }
        let filter = InstanceFilter {
            state: None,
            job: Some(job.id),
        };
        let machines = self.fleet.store.list_instances(filter).await?;
        let mut all_ended = true;
        for m in machines
            .iter()
            .filter(|m| m.attempt == s.attempt && m.state != InstanceState::Terminated)
        {
            all_ended &= self
                .terminate(&m.provider, &m.provider_id, Some(job.id), &why)
                .await?;
        }
        match on_forge {
            Some((handle, scope, r)) => {
                self.delete_runner(&handle, &scope, &r, Some(job.id), &why)
                    .await?;
            }
            None => {
                self.forget_registration(&name, "the forge does not list its runner")
                    .await?
            }
        }
        let max = self.fleet.limits.max_attempts;
        let Some(job) = self.fresh_job(job.id).await? else {
            return Ok(());
        };
        match zombie_job(&why, job.state, job.attempt, s.attempt, max) {
            JobAction::Requeue(reason) => {
                self.apply(job.id, JobEvent::Requeue, &reason).await?;
            }
            JobAction::Fail(reason) => {
                self.apply(job.id, JobEvent::Fail, &reason).await?;
            }
            JobAction::Note(note) => self.note(job.id, &note).await?,
        }
        // Kept open while its machine lives, so the next pass tries again.
        if all_ended {
            self.close_session(job.id, s.attempt, &why).await?;
        }
        Ok(())
    }

    /// Step 7: sortie's runners at every scope of recent jobs, and the store's records.
    pub(super) async fn registrations(&mut self) -> Result<(), StoreError> {
        let regs = self.fleet.store.list_registrations(None).await?;
        let mut jobs = self.live_and_recent_jobs().await?;
        let known: HashSet<_> = jobs.iter().map(|j| j.id).collect();
        for reg in &regs {
            if !known.contains(&reg.job) {
                match self.job(reg.job).await? {
                    Some(j) => jobs.push(j),
                    None => {
                        self.forget_registration(&reg.name, "its job is no longer stored")
                            .await?
                    }
                }
            }
        }
        let by_digest: HashMap<String, Job> =
            jobs.iter().map(|j| (j.key.digest(16), j.clone())).collect();
        let live: HashSet<String> = jobs
            .iter()
            .filter(|j| !j.state.is_terminal())
            .map(|j| j.key.runner_name(j.attempt))
            .collect();
        let mut seen: HashSet<ScopeKey> = HashSet::new();
        let mut scopes: Vec<(ForgeHandle, RunnerScope)> = Vec::new();
        for j in &jobs {
            if let Some((handle, scope)) = self.scope_of(j) {
                if seen.insert((handle.forge.flavor(), scope.clone())) {
                    scopes.push((handle, scope));
                }
            }
        }
        for (handle, scope) in scopes {
            self.scope_runners(&handle, &scope, &by_digest, &live)
                .await?;
            self.scope_records(&handle, &scope, &regs, &by_digest)
                .await?;
        }
        Ok(())
    }

    /// Deletes the spent runners listed at one scope.
    async fn scope_runners(
        &mut self,
        handle: &ForgeHandle,
        scope: &RunnerScope,
        by_digest: &HashMap<String, Job>,
        live: &HashSet<String>,
    ) -> Result<(), StoreError> {
        let Some(listed) = self.runners_at(handle, scope).await else {
            return Ok(());
        };
        let job_of = |r: &Runner| {
            parse_runner_name(&r.name).and_then(|(d, a)| by_digest.get(d).map(|j| (j, a)))
        };
        let owner = |r: &Runner| match job_of(r) {
            Some((j, a)) => RunnerOwner::Job {
                state: j.state,
                job_attempt: j.attempt,
                runner_attempt: a,
            },
            None => RunnerOwner::Unknown,
        };
        let verdicts: Vec<(Runner, Verdict)> = runner_verdicts(&listed, owner, live)
            .into_iter()
            .map(|(r, v)| (r.clone(), v))
            .collect();
        for (r, v) in verdicts {
            let job = job_of(&r).map(|(j, _)| j.id);
            match v {
                Verdict::End(why) => {
                    self.delete_runner(handle, scope, &r, job, &why).await?;
                }
                Verdict::Spare(why) => {
                    let target = format!("runner {} {} ({scope})", r.id, r.name);
                    self.act(ActionKind::Spare, job, target, why);
                }
                Verdict::Keep => {}
            }
        }
        Ok(())
    }

    /// Forgets the store's registrations of finished or superseded attempts at one scope once
    /// the forge no longer lists their runner.
    async fn scope_records(
        &mut self,
        handle: &ForgeHandle,
        scope: &RunnerScope,
        regs: &[Registration],
        by_digest: &HashMap<String, Job>,
    ) -> Result<(), StoreError> {
        let Some(listed) = self.runners_at(handle, scope).await else {
            return Ok(());
        };
        let on_forge: HashSet<String> = listed.into_iter().map(|r| r.name).collect();
        for reg in regs {
            if on_forge.contains(&reg.name) {
                continue;
            }
            let Some(job) = by_digest.values().find(|j| j.id == reg.job).cloned() else {
                continue;
            };
            let here = self
                .scope_of(&job)
                .is_some_and(|(h, s)| h.forge.flavor() == handle.forge.flavor() && &s == scope);
            let attempt = parse_runner_name(&reg.name).map_or(job.attempt, |(_, a)| a);
            if here && (job.state.is_terminal() || attempt < job.attempt) {
                let why = if job.state.is_terminal() {
                    format!(
                        "its job is {} and the forge no longer lists the runner",
                        job.state
                    )
                } else {
                    format!(
                        "attempt {attempt} was superseded by attempt {} and the forge no longer lists the runner",
                        job.attempt
                    )
                };
                self.forget_registration(&reg.name, &why).await?;
            }
        }
        Ok(())
    }
}
