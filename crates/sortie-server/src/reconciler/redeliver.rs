//! Step 1: failed webhook deliveries sent again (GitHub App only: "Webhooks for GitHub Apps" →
//! "List deliveries for an app webhook" / "Redeliver a delivery for an app webhook"). Other
//! forges answer [`ForgeError::Unsupported`] and the step is skipped quietly.

use super::{lock, ReconcileReport, Reconciler, Redelivered};
use sortie_forge::{Forge, ForgeError};
use time::OffsetDateTime;

impl Reconciler {
    /// Redelivers the forge's failed deliveries since the last pass, once per GUID.
    pub(super) async fn redeliver(&self, forge: &dyn Forge, report: &mut ReconcileReport) {
        let flavor = forge.flavor();
        let started = OffsetDateTime::now_utc();
        let since = {
            let memory = lock(&self.memory);
            match memory.last_pass.get(&flavor) {
                Some(last) => *last - self.options.overlap,
                None => started - self.options.first_lookback,
            }
        };
        let failed = match self.call(flavor, forge.failed_deliveries(since)).await {
            Ok(failed) => failed,
            Err(ForgeError::Unsupported { what, .. }) => {
                tracing::debug!(forge = %flavor, %what, "webhook deliveries not reconciled");
                return;
            }
            Err(e) => {
                report
                    .errors
                    .push(format!("cannot list failed webhook deliveries: {e}"));
                return;
            }
        };
        for d in failed {
            if lock(&self.memory).redelivered.contains_key(&d.guid) {
                continue;
            }
            let event = match &d.action {
                Some(action) => format!("{}.{action}", d.event),
                None => d.event.clone(),
            };
            match self.call(flavor, forge.redeliver(d.id)).await {
                Ok(()) => {
                    tracing::info!(delivery = d.id, guid = %d.guid, %event, status = %d.status, "redelivered a failed webhook delivery");
                    lock(&self.memory)
                        .redelivered
                        .insert(d.guid.clone(), started);
                    self.fleet.metrics.reconcile_action("redelivery");
                    report.redelivered.push(Redelivered {
                        delivery_id: d.id,
                        guid: d.guid,
                        event,
                    });
                }
                Err(e) => report.errors.push(format!(
                    "cannot redeliver delivery {} ({}): {e}",
                    d.id, d.guid
                )),
            }
        }
        let mut memory = lock(&self.memory);
        memory.last_pass.insert(flavor, started);
        // A GUID older than the window is never listed again.
        let horizon = since - self.options.first_lookback;
        memory.redelivered.retain(|_, at| *at >= horizon);
    }
}
