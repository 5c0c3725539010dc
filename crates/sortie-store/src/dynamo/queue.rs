//! The dispatch queue: claims on queued jobs (and on launching jobs whose dispatcher died).
//!
//! A claim is the pair `claim_worker` / `claim_expires_ms` on the job's one item, so two live
//! claims on one job cannot exist. It is taken only by a conditional `UpdateItem` that re-checks
//! "in this state and no live claim" on the item.
//!
//! Candidates come from the claim index `gsi3` (keys only): partition `CLAIMABLE#<state>` holds
//! the queued and the launching jobs; sort key `U#<id20>` for a job without a claim (so the oldest
//! unclaimed job is the first key) and `C#<expiry t20>#<id20>` for a claimed one (so the lapsed
//! claims are one key range, up to now). Every claim write keeps the sort key in step. The index
//! may lag the table on AWS: a stale candidate costs a failed condition, and the next one is
//! tried (what `FOR UPDATE SKIP LOCKED` does for PostgreSQL).

use super::item::{
    self, job_pk, n, s, Item, CLAIMED_PREFIX, GSI3, GSI3_PK, GSI3_SK, JOB_SK, PK, UNCLAIMED_PREFIX,
};
use super::{conditional, sdk, DynamoStore};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::types::{Claim, ClaimedJob, JobId};
use aws_sdk_dynamodb::types::ReturnValue;
use sortie_core::job::JobState;
use std::time::Duration;

/// Unclaimed candidates read per index page.
const PAGE: i32 = 10;

/// "No live claim at `:now`": expiry is inclusive, a claim is dead at its `expires_at`.
const UNCLAIMED: &str = "(attribute_not_exists(#ce) OR #ce <= :now)";

/// Claims the oldest claimable queued job.
pub(super) async fn claim_next(
    st: &DynamoStore,
    worker: &str,
    ttl: Duration,
) -> Result<Option<ClaimedJob>, StoreError> {
    claim_oldest(st, JobState::Queued, worker, ttl).await
}

/// Claims the oldest job in `state` without a live claim (`queued`: the dispatch queue;
/// `launching`: a launch whose dispatcher died).
pub(super) async fn claim_oldest(
    st: &DynamoStore,
    state: JobState,
    worker: &str,
    ttl: Duration,
) -> Result<Option<ClaimedJob>, StoreError> {
    let now = st.now();
    let partition = item::claimable_in_state(state);
    // Lapsed claims are rare (a dispatcher died or gave up): read them all, once.
    let mut lapsed = Vec::new();
    let mut start = None;
    loop {
        let (ids, next) = candidates(st, &partition, Some(now), start.take()).await?;
        lapsed.extend(ids);
        match next {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    loop {
        let (mut ids, next) = candidates(st, &partition, None, start.take()).await?;
        ids.append(&mut lapsed);
        ids.sort_unstable();
        ids.dedup();
        for k in attempt_order(ids.len()) {
            if let Some(claimed) = try_claim(st, ids[k], state, worker, now, ttl).await? {
                return Ok(Some(claimed));
            }
        }
        match next {
            Some(k) => start = Some(k),
            None => return Ok(None),
        }
    }
}

/// One page of the claim index: jobs without a claim, oldest first (`lapsed_by` None), or the
/// jobs whose claim lapsed by `lapsed_by`.
async fn candidates(
    st: &DynamoStore,
    partition: &str,
    lapsed_by: Option<Timestamp>,
    start: Option<Item>,
) -> Result<(Vec<JobId>, Option<Item>), StoreError> {
    let request = st
        .client
        .query()
        .table_name(&st.table)
        .index_name(GSI3)
        .expression_attribute_names("#p", GSI3_PK)
        .expression_attribute_names("#s", GSI3_SK)
        .expression_attribute_values(":p", s(partition))
        .scan_index_forward(true)
        .set_exclusive_start_key(start);
    let request = match lapsed_by {
        None => request
            .key_condition_expression("#p = :p AND begins_with(#s, :u)")
            .expression_attribute_values(":u", s(UNCLAIMED_PREFIX))
            .limit(PAGE),
        Some(now) => request
            .key_condition_expression("#p = :p AND #s BETWEEN :from AND :to")
            .expression_attribute_values(":from", s(CLAIMED_PREFIX))
            .expression_attribute_values(":to", s(item::claims_lapsed_by(now))),
    };
    let page = request
        .send()
        .await
        .map_err(sdk("looking for claimable jobs"))?;
    let ids = page
        .items()
        .iter()
        .map(|it| {
            let pk = item::get_s(it, PK)?;
            pk.strip_prefix("JOB#")
                .and_then(|id| id.parse().ok())
                .map(JobId)
                .ok_or_else(|| StoreError::corrupt("claim index key", pk, "not JOB#<id>"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let next = page.last_evaluated_key.filter(|k| !k.is_empty());
    Ok((ids, next))
}

/// The order to try `n` candidates in: the oldest first; when another dispatcher took it, the
/// rest starting at a random one, so dispatchers that lost the same race spread over the page
/// instead of all trying the next-oldest job.
fn attempt_order(n: usize) -> impl Iterator<Item = usize> {
    use std::hash::{BuildHasher, RandomState};
    let rest = n.saturating_sub(1);
    let start = match rest {
        0 => 0,
        _ => (RandomState::new().hash_one(n) % rest as u64) as usize,
    };
    std::iter::once(0)
        .take(n.min(1))
        .chain((0..rest).map(move |k| 1 + (start + k) % rest))
}

/// Claims job `id` if it is in `state` and unclaimed on the table (not just in the index).
async fn try_claim(
    st: &DynamoStore,
    id: JobId,
    state: JobState,
    worker: &str,
    now: Timestamp,
    ttl: Duration,
) -> Result<Option<ClaimedJob>, StoreError> {
    let claim = Claim {
        worker: worker.to_string(),
        expires_at: now.plus(ttl),
    };
    let sent = st
        .client
        .update_item()
        .table_name(&st.table)
        .set_key(Some(item::key(job_pk(id), JOB_SK)))
        .update_expression("SET #cw = :worker, #ce = :expires, #g3s = :g3s ADD #version :one")
        .condition_expression(format!("#state = :state AND {UNCLAIMED}"))
        .expression_attribute_names("#cw", "claim_worker")
        .expression_attribute_names("#ce", "claim_expires_ms")
        .expression_attribute_names("#g3s", GSI3_SK)
        .expression_attribute_names("#version", "version")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":worker", s(worker))
        .expression_attribute_values(":expires", n(claim.expires_at.as_millis()))
        .expression_attribute_values(":g3s", s(item::claim_order(id, Some(&claim))))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":state", s(state.as_str()))
        .expression_attribute_values(":now", n(now.as_millis()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match sent {
        Ok(out) => {
            let job = item::job(&out.attributes.unwrap_or_default())?;
            let claim = job
                .claim
                .clone()
                .ok_or_else(|| StoreError::corrupt("claim", worker, "claimed item has no claim"))?;
            Ok(Some(ClaimedJob { job, claim }))
        }
        // Taken (or moved on) since the index was read.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk("claiming a job")(e)),
    }
}

/// Extends a live claim held by `worker`.
pub(super) async fn renew(
    st: &DynamoStore,
    job: JobId,
    worker: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = st.now();
    let claim = Claim {
        worker: worker.to_string(),
        expires_at: now.plus(ttl),
    };
    // The claim index key moves with the expiry. (A job outside the claim index, e.g. running,
    // keeps a sort key without a partition key there, which DynamoDB does not index.)
    let sent = st
        .client
        .update_item()
        .table_name(&st.table)
        .set_key(Some(item::key(job_pk(job), JOB_SK)))
        .update_expression("SET #ce = :expires, #g3s = :g3s ADD #version :one")
        .condition_expression("#cw = :worker AND #ce > :now")
        .expression_attribute_names("#cw", "claim_worker")
        .expression_attribute_names("#ce", "claim_expires_ms")
        .expression_attribute_names("#g3s", GSI3_SK)
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":worker", s(worker))
        .expression_attribute_values(":expires", n(claim.expires_at.as_millis()))
        .expression_attribute_values(":g3s", s(item::claim_order(job, Some(&claim))))
        .expression_attribute_values(":now", n(now.as_millis()))
        .expression_attribute_values(":one", n(1))
        .send()
        .await;
    conditional(sent.map(|_| ()), "renewing a claim")
}

/// Drops the claim if `worker` holds it (live or not, as the SQL backends do).
pub(super) async fn release(
    st: &DynamoStore,
    job: JobId,
    worker: &str,
) -> Result<bool, StoreError> {
    let sent = st
        .client
        .update_item()
        .table_name(&st.table)
        .set_key(Some(item::key(job_pk(job), JOB_SK)))
        .update_expression("REMOVE #cw, #ce SET #g3s = :g3s ADD #version :one")
        .condition_expression("#cw = :worker")
        .expression_attribute_names("#cw", "claim_worker")
        .expression_attribute_names("#ce", "claim_expires_ms")
        .expression_attribute_names("#g3s", GSI3_SK)
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":worker", s(worker))
        .expression_attribute_values(":g3s", s(item::claim_order(job, None)))
        .expression_attribute_values(":one", n(1))
        .send()
        .await;
    conditional(sent.map(|_| ()), "releasing a claim")
}

#[cfg(test)]
mod tests {
    use super::attempt_order;

    #[test]
    fn oldest_first_then_every_other_candidate_once() {
        assert_eq!(attempt_order(0).count(), 0);
        assert_eq!(attempt_order(1).collect::<Vec<_>>(), [0]);
        for n in [2, 3, 100] {
            let order: Vec<usize> = attempt_order(n).collect();
            assert_eq!(order[0], 0);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "{order:?}");
        }
    }
}
