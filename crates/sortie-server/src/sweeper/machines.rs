//! The machine steps: recorded state, running timeouts, machines of finished or superseded
//! attempts, orphans by tag.

use super::act::Pass;
use super::decide::{self, human, machine_verdict, since, AgentView, MachineView, Verdict};
use super::report::ActionKind;
use sortie_core::job::{JobEvent, JobState, Transition};
use sortie_provider::provider::{job_tag_value, TAG_ATTEMPT, TAG_JOB};
use sortie_provider::{InstanceInfo, InstanceState as ProviderState};
use sortie_store::{Instance, InstanceFilter, InstanceState, Job, StoreError, Timestamp};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The store's name for a provider state; `None` for a state this version does not know.
fn recorded(state: ProviderState) -> Option<InstanceState> {
    Some(match state {
        ProviderState::Pending => InstanceState::Pending,
        ProviderState::Running => InstanceState::Running,
        ProviderState::Stopping => InstanceState::Stopping,
        ProviderState::Stopped => InstanceState::Stopped,
        ProviderState::ShuttingDown | ProviderState::Terminated => InstanceState::Terminated,
        ProviderState::Unknown => return None,
    })
}

fn millis(t: SystemTime) -> Timestamp {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_millis(ms)
}

impl Pass<'_> {
    /// Instances the store does not record as terminated.
    async fn live_instances(&mut self) -> Result<Vec<Instance>, StoreError> {
        let mut all = Vec::new();
        for state in InstanceState::ALL {
            if state == InstanceState::Terminated {
                continue;
            }
            let filter = InstanceFilter {
                state: Some(state),
                job: None,
            };
            all.extend(self.fleet.store.list_instances(filter).await?);
        }
        Ok(all)
    }

    /// Step 1: the store follows the providers.
    pub(super) async fn instance_state(&mut self) -> Result<(), StoreError> {
        for inst in self.live_instances().await? {
            let listed = self.managed(&inst.provider).await;
            let Some(p) = self.fleet.provider(&inst.provider).cloned() else {
                continue; // reported once by `managed`
            };
            let found = listed.and_then(|l| l.into_iter().find(|i| i.id.0 == inst.provider_id));
            let info = match found {
                Some(info) => Some(info),
                None => {
                    let id = sortie_provider::InstanceId(inst.provider_id.clone());
                    match self.bounded(p.describe(&id)).await {
                        Ok(Ok(info)) => info,
                        Ok(Err(e)) => {
                            self.fail(format!(
                                "describing {}/{}: {e}",
                                inst.provider, inst.provider_id
                            ));
                            continue;
                        }
                        Err(late) => {
                            self.fail(format!(
                                "describing {}/{}: {late}",
                                inst.provider, inst.provider_id
                            ));
                            continue;
                        }
                    }
                }
            };
            let (next, why) = match info {
                Some(info) => match recorded(info.state) {
                    Some(s) => (s, format!("the provider reports it {}", s.as_str())),
                    None => continue,
                },
                None if since(self.now, inst.created_at) >= self.opts.unseen_grace => (
                    InstanceState::Terminated,
                    "the provider no longer knows it".to_string(),
                ),
                None => continue,
            };
            if next == inst.state {
                continue;
            }
            self.fleet.store.set_instance_state(inst.id, next).await?;
            self.act(
                ActionKind::InstanceState,
                Some(inst.job),
                format!("{}/{}", inst.provider, inst.provider_id),
                format!(
                    "recorded {} → {}: {why}",
                    inst.state.as_str(),
                    next.as_str()
                ),
            );
        }
        Ok(())
    }

    /// Step 3: jobs running longer than `running_timeout`.
    pub(super) async fn running_timeout(&mut self) -> Result<(), StoreError> {
        let limit = self.fleet.limits.running_timeout;
        for job in self.jobs_in(JobState::Running).await? {
            // A job cannot have entered `running` before it was stored.
            if since(self.now, job.created_at) < limit {
                continue;
            }
            let history = self.history(job.id).await?;
            let started = decide::entered(&history, JobState::Running).unwrap_or(job.updated_at);
            let ran = since(self.now, started);
            if ran < limit {
                continue;
            }
            let reason = format!(
                "running for {}, longer than running_timeout ({}); timed out by the sweep",
                human(ran),
                human(limit)
            );
            let t = self.apply(job.id, JobEvent::TimeOut, &reason).await?;
            if t != Transition::To(JobState::TimedOut) {
                continue;
            }
            let filter = InstanceFilter {
                state: None,
                job: Some(job.id),
            };
            let machines = self.fleet.store.list_instances(filter).await?;
            for m in machines
                .iter()
                .filter(|m| m.state != InstanceState::Terminated)
            {
                let why = format!("its job timed out: {reason}");
                self.terminate(&m.provider, &m.provider_id, Some(job.id), &why)
                    .await?;
            }
        }
        Ok(())
    }

    /// Step 5: recorded machines of finished jobs and superseded attempts.
    pub(super) async fn finished_machines(&mut self) -> Result<(), StoreError> {
        for inst in self.live_instances().await? {
            if self
                .ended
                .contains(&(inst.provider.clone(), inst.provider_id.clone()))
            {
                continue;
            }
            let job = match self.job(inst.job).await? {
                Some(job) => Some(self.job_view(&job).await?),
                None => None,
            };
            let view = MachineView {
                attempt: Some(inst.attempt),
                age: Some(since(self.now, inst.created_at)),
                job,
                agent: AgentView::Quiet,
            };
            let target = (inst.provider.clone(), inst.provider_id.clone());
            self.judge(view, inst.job, inst.attempt, target, false)
                .await?;
        }
        Ok(())
    }

    /// Step 6: machines found by their tags that no live attempt accounts for.
    pub(super) async fn orphans(&mut self) -> Result<(), StoreError> {
        let by_tag = self.jobs_by_tag().await?;
        let providers: Vec<String> = self.fleet.providers.keys().cloned().collect();
        for provider in providers {
            let Some(listed) = self.managed(&provider).await else {
                continue;
            };
            for info in listed {
                if matches!(
                    info.state,
                    ProviderState::Terminated | ProviderState::ShuttingDown
                ) || self.ended.contains(&(provider.clone(), info.id.0.clone()))
                {
                    continue;
                }
                self.orphan(&provider, &info, &by_tag).await?;
            }
        }
        Ok(())
    }

    async fn orphan(
        &mut self,
        provider: &str,
        info: &InstanceInfo,
        by_tag: &HashMap<String, Job>,
    ) -> Result<(), StoreError> {
        let record = self.fleet.store.find_instance(provider, &info.id.0).await?;
        // A live record was judged by the previous step.
        if record
            .as_ref()
            .is_some_and(|r| r.state != InstanceState::Terminated)
        {
            return Ok(());
        }
        let age = info
            .launched_at
            .map(|t| since(self.now, millis(t)))
            .or(record.as_ref().map(|r| since(self.now, r.created_at)));
        let attempt = info
            .tags
            .get(TAG_ATTEMPT)
            .and_then(|a| a.parse().ok())
            .or(record.as_ref().map(|r| r.attempt));
        let job = match info.tags.get(TAG_JOB).and_then(|d| by_tag.get(d)) {
            Some(job) => Some(job.clone()),
            None => match &record {
                Some(r) => self.job(r.job).await?,
                None => None,
            },
        };
        let view = MachineView {
            attempt,
            age,
            job: match &job {
                Some(j) => Some(self.job_view(j).await?),
                None => None,
            },
            agent: AgentView::Quiet,
        };
        let target = (provider.to_string(), info.id.0.clone());
        match job {
            Some(j) => {
                self.judge(view, j.id, attempt.unwrap_or(j.attempt), target, true)
                    .await
            }
            None => {
                if let Verdict::End(reason) =
                    machine_verdict(&view, &self.fleet.limits, &self.opts, true)
                {
                    self.terminate(&target.0, &target.1, None, &reason).await?;
                }
                Ok(())
            }
        }
    }

    /// Ends, spares or keeps one machine of `job`: the verdict is taken without the agent, then
    /// again with it when the machine would be ended (one session read per candidate only).
    async fn judge(
        &mut self,
        mut view: MachineView,
        job: sortie_store::JobId,
        attempt: u32,
        (provider, id): (String, String),
        orphan: bool,
    ) -> Result<(), StoreError> {
        let limits = self.fleet.limits.clone();
        if machine_verdict(&view, &limits, &self.opts, orphan) == Verdict::Keep {
            return Ok(());
        }
        let session = self.session(job, attempt).await?;
        view.agent = decide::agent_view(session.as_ref(), self.now, decide::agent_silence(&limits));
        match machine_verdict(&view, &limits, &self.opts, orphan) {
            Verdict::Keep => {}
            Verdict::End(reason) => {
                self.terminate(&provider, &id, Some(job), &reason).await?;
            }
            Verdict::Spare(reason) => {
                self.act(
                    ActionKind::Spare,
                    Some(job),
                    format!("{provider}/{id}"),
                    reason,
                );
            }
        }
        Ok(())
    }

    /// Every job not finished, and the newest `recent_jobs`, by their `sortie:job` tag value.
    pub(super) async fn jobs_by_tag(&mut self) -> Result<HashMap<String, Job>, StoreError> {
        let mut jobs = HashMap::new();
        for job in self.live_and_recent_jobs().await? {
            jobs.insert(job_tag_value(&job.key), job);
        }
        Ok(jobs)
    }

    /// Every job not finished, and the newest `recent_jobs`.
    pub(super) async fn live_and_recent_jobs(&mut self) -> Result<Vec<Job>, StoreError> {
        let mut jobs = Vec::new();
        for state in [JobState::Queued, JobState::Launching, JobState::Running] {
            jobs.extend(self.jobs_in(state).await?);
        }
        let filter = sortie_store::JobFilter {
            state: None,
            limit: self.opts.recent_jobs,
        };
        jobs.extend(self.fleet.store.list_jobs(filter).await?);
        let mut seen = std::collections::HashSet::new();
        jobs.retain(|j| seen.insert(j.id));
        Ok(jobs)
    }
}
