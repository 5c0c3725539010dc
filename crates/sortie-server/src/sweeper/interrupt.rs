//! Step 2: interruptions the providers observed themselves (`Provider::drain_interruptions`:
//! the local provider's time-limit kills). The decision is the EC2 endpoint's,
//! [`crate::interruption::decide`]: requeue once per attempt, only a launching or running job of
//! the machine's own attempt.

use super::act::Pass;
use super::decide::{requeue_or_fail, JobAction};
use super::report::ActionKind;
use crate::interruption::{decide, Seen};
use sortie_core::job::JobEvent;
use sortie_provider::interruption::InterruptionEvent;
use sortie_store::StoreError;

impl Pass<'_> {
    /// Drains every provider's interruptions and applies them.
    pub(super) async fn interruptions(&mut self) -> Result<(), StoreError> {
        let providers: Vec<_> = self
            .fleet
            .providers
            .iter()
            .map(|(name, p)| (name.clone(), p.clone()))
            .collect();
        for (name, provider) in providers {
            let events = match self.bounded(provider.drain_interruptions()).await {
                Ok(events) => events,
                Err(late) => {
                    self.fail(format!("provider {name} draining interruptions: {late}"));
                    continue;
                }
            };
            for event in events {
                if let Err(e) = self.interruption(&name, &event).await {
                    // The event is drained: say what was lost.
                    self.fail(format!(
                        "interruption of {name}/{} ({:?}) not applied: {e}",
                        event.instance_id, event.kind
                    ));
                }
            }
        }
        Ok(())
    }

    async fn interruption(
        &mut self,
        provider: &str,
        event: &InterruptionEvent,
    ) -> Result<(), StoreError> {
        let id = &event.instance_id.0;
        let Some(instance) = self.fleet.store.find_instance(provider, id).await? else {
            tracing::debug!(provider, instance = %id, "interruption of a machine sortie has no record of; ignored");
            return Ok(());
        };
        let Some(job) = self.fresh_job(instance.job).await? else {
            return Ok(());
        };
        let seen = Seen {
            instance_state: instance.state,
            instance_attempt: instance.attempt,
            job_state: job.state,
            job_attempt: job.attempt,
        };
        let decision = decide(event.kind, id, &seen);
        if let Some(next) = decision.instance_state {
            self.fleet
                .store
                .set_instance_state(instance.id, next)
                .await?;
            self.act(
                ActionKind::InstanceState,
                Some(job.id),
                format!("{provider}/{id}"),
                decision.outcome.clone(),
            );
        }
        let Some(reason) = decision.requeue else {
            return Ok(());
        };
        let what = reason.strip_suffix("; requeued").unwrap_or(&reason);
        match requeue_or_fail(what, job.attempt, self.fleet.limits.max_attempts) {
            JobAction::Requeue(r) => self.apply(job.id, JobEvent::Requeue, &r).await?,
            JobAction::Fail(r) => self.apply(job.id, JobEvent::Fail, &r).await?,
            JobAction::Note(n) => {
                self.note(job.id, &n).await?;
                return Ok(());
            }
        };
        Ok(())
    }
}
