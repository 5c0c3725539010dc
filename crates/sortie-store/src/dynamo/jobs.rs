//! Jobs: create-if-absent through a key item, events through the core state machine, each state
//! change written with its history entry in one transaction.
//!
//! Every write to a job item adds one to its `version`; `apply_event` writes only if the version
//! is still the one it read (optimistic concurrency), so the state it computed from is the state
//! it replaces. The history entry's sort key is that new version, so entries sort in order.

use super::item::{
    self, history_sk, id20, job_key_pk, job_pk, jobs_in_state, n, s, Item, GSI1, GSI1_PK, GSI1_SK,
    GSI2, GSI2_PK, GSI2_SK, GSI3_PK, GSI3_SK, HISTORY_PREFIX, JOBS, JOB_KEY_SK, JOB_SK, PK, SK,
};
use super::read::{self, Query};
use super::txn::{self, built, Outcome};
use super::{backoff, gave_up, sdk, DynamoStore, RETRIES};
use crate::clock::Timestamp;
use crate::codec;
use crate::error::StoreError;
use crate::types::{Applied, HistoryEntry, Job, JobCreate, JobFilter, JobId, NewJob};
use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};
use sortie_core::job::{JobEvent, JobKey, JobState, Transition};
use std::collections::HashMap;

/// The next number of `sequence` (`jobs`, `instances`, `registrations`): 1, 2, 3, …
pub(super) async fn next_id(
    st: &DynamoStore,
    sequence: &str,
    action: &'static str,
) -> Result<i64, StoreError> {
    let out = st
        .client
        .update_item()
        .table_name(&st.table)
        .set_key(Some(item::key(
            item::counter_pk(sequence),
            item::COUNTER_SK,
        )))
        .update_expression("ADD #next :one")
        .expression_attribute_names("#next", "next")
        .expression_attribute_values(":one", n(1))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(sdk(action))?;
    item::get_i64(&out.attributes.unwrap_or_default(), "next")
}

/// The history reason written when a job is stored (the same words as the SQL backends).
fn creation_reason(job: &NewJob) -> String {
    let kind = codec::route_kind_name(job.route.kind);
    match &job.route.target {
        Some(target) => format!("job created; route {kind} {target}: {}", job.route.reason),
        None => format!("job created; route {kind}: {}", job.route.reason),
    }
}

fn job_item(id: JobId, job: &NewJob, now: Timestamp) -> Result<Item, StoreError> {
    let mut it = HashMap::from([
        (PK.to_string(), s(job_pk(id))),
        (SK.to_string(), s(JOB_SK)),
        ("kind".to_string(), s("job")),
        ("id".to_string(), n(id.0)),
        ("job_key".to_string(), s(job.key.to_string())),
        (
            "key_json".to_string(),
            s(item::to_json("job key", &job.key)?),
        ),
        ("forge".to_string(), s(job.key.forge().as_str())),
        ("repo".to_string(), s(job.key.repo())),
        ("labels".to_string(), item::list(&job.labels)),
        (
            "route_kind".to_string(),
            s(codec::route_kind_name(job.route.kind)),
        ),
        ("route_reason".to_string(), s(job.route.reason.as_str())),
        ("state".to_string(), s(JobState::Queued.as_str())),
        ("attempt".to_string(), n(1)),
        ("version".to_string(), n(1)),
        ("created_at_ms".to_string(), n(now.as_millis())),
        ("updated_at_ms".to_string(), n(now.as_millis())),
        (GSI1_PK.to_string(), s(JOBS)),
        (GSI1_SK.to_string(), s(id20(id.0))),
        (
            GSI2_PK.to_string(),
            s(jobs_in_state(JobState::Queued.as_str())),
        ),
        (GSI2_SK.to_string(), s(id20(id.0))),
        (
            GSI3_PK.to_string(),
            s(item::claimable_in_state(JobState::Queued)),
        ),
        (GSI3_SK.to_string(), s(item::claim_order(id, None))),
    ]);
    if let Some(target) = &job.route.target {
        it.insert("route_target".into(), s(target.as_str()));
    }
    if let Some(spec) = &job.spec {
        it.insert("spec".into(), s(item::to_json("runner spec", spec)?));
    }
    if let Some(delivery) = &job.delivery {
        it.insert("delivery_id".into(), s(delivery.0.as_str()));
    }
    Ok(it)
}

fn history_item(id: JobId, version: i64, entry: &HistoryEntry) -> Item {
    let mut it = HashMap::from([
        (PK.to_string(), s(job_pk(id))),
        (SK.to_string(), s(history_sk(version))),
        ("kind".to_string(), s("history")),
        ("job_id".to_string(), n(id.0)),
        ("to_state".to_string(), s(entry.to.as_str())),
        ("reason".to_string(), s(entry.reason.as_str())),
        ("at_ms".to_string(), n(entry.at.as_millis())),
    ]);
    if let Some(from) = entry.from {
        it.insert("from_state".into(), s(from.as_str()));
    }
    if let Some(event) = entry.event {
        it.insert("event".into(), s(codec::event_name(event)));
    }
    it
}

/// Stores `job` queued unless its key exists.
pub(super) async fn create(st: &DynamoStore, job: &NewJob) -> Result<JobCreate, StoreError> {
    // No read first: a new job (the common case) costs a counter update and one transaction; a
    // key stored before fails the transaction's first condition, and costs an unused id.
    let key_pk = job_key_pk(&job.key.digest(64));
    let id = JobId(next_id(st, "jobs", "numbering a job").await?);
    let now = st.now();
    let it = job_item(id, job, now)?;
    let created = item::job(&it)?;
    let key_item = HashMap::from([
        (PK.to_string(), s(key_pk.as_str())),
        (SK.to_string(), s(JOB_KEY_SK)),
        ("kind".to_string(), s("job_key")),
        ("job_key".to_string(), s(job.key.to_string())),
        ("job_id".to_string(), n(id.0)),
    ]);
    let entry = HistoryEntry {
        from: None,
        to: JobState::Queued,
        event: None,
        reason: creation_reason(job),
        at: now,
    };
    let writes = vec![
        txn::put_new(&st.table, key_item)?,
        txn::put_new(&st.table, it)?,
        txn::put_new(&st.table, history_item(id, 1, &entry))?,
    ];
    match txn::write(st, writes, "storing a job").await? {
        Outcome::Committed => Ok(JobCreate::Created(created)),
        // Another caller stored the same key first; its transaction has committed.
        Outcome::ConditionFailed(_) => by_key_pk(st, &key_pk, &job.key)
            .await?
            .map(JobCreate::Existing)
            .ok_or_else(|| {
                StoreError::corrupt("job key", &job.key.to_string(), "conflict but not found")
            }),
    }
}

async fn by_key_pk(
    st: &DynamoStore,
    key_pk: &str,
    key: &JobKey,
) -> Result<Option<Job>, StoreError> {
    let Some(key_item) = read::get(st, key_pk.to_string(), JOB_KEY_SK, "reading a job key").await?
    else {
        return Ok(None);
    };
    let id = JobId(item::get_i64(&key_item, "job_id")?);
    // The key item and the job are written in one transaction, so the job exists.
    get(st, id).await?.map(Some).ok_or_else(|| {
        StoreError::corrupt(
            "job key",
            &key.to_string(),
            format!("names job {id}, which is missing"),
        )
    })
}

/// The update of a job item from `before` to `after`, if the item is still at `version`. The
/// job moves to its state's partitions of `gsi2` and, while claimable, of the claim index.
fn state_update(
    st: &DynamoStore,
    before: &Job,
    after: &Job,
    version: i64,
) -> Result<TransactWriteItem, StoreError> {
    let mut set = String::from(
        "SET #state = :state, #attempt = :attempt, #updated = :now, #version = :next, #g2p = :g2p",
    );
    let mut remove = Vec::new();
    if before.claim.is_some() && after.claim.is_none() {
        remove.extend(["#cw", "#ce"]);
    }
    let claimable = item::claimable(after.state);
    if claimable {
        set.push_str(", #g3p = :g3p, #g3s = :g3s");
    } else {
        remove.extend(["#g3p", "#g3s"]);
    }
    let expression = match remove.is_empty() {
        true => set,
        false => format!("{set} REMOVE {}", remove.join(", ")),
    };
    let mut update = Update::builder()
        .table_name(&st.table)
        .set_key(Some(item::key(job_pk(before.id), JOB_SK)))
        .update_expression(expression)
        .condition_expression("#version = :version")
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#attempt", "attempt")
        .expression_attribute_names("#updated", "updated_at_ms")
        .expression_attribute_names("#version", "version")
        .expression_attribute_names("#g2p", GSI2_PK)
        .expression_attribute_names("#g3p", GSI3_PK)
        .expression_attribute_names("#g3s", GSI3_SK)
        .expression_attribute_values(":state", s(after.state.as_str()))
        .expression_attribute_values(":attempt", n(i64::from(after.attempt)))
        .expression_attribute_values(":now", n(after.updated_at.as_millis()))
        .expression_attribute_values(":next", n(version + 1))
        .expression_attribute_values(":version", n(version))
        .expression_attribute_values(":g2p", s(jobs_in_state(after.state.as_str())));
    if remove.contains(&"#cw") {
        update = update
            .expression_attribute_names("#cw", "claim_worker")
            .expression_attribute_names("#ce", "claim_expires_ms");
    }
    if claimable {
        update = update
            .expression_attribute_values(":g3p", s(item::claimable_in_state(after.state)))
            .expression_attribute_values(
                ":g3s",
                s(item::claim_order(after.id, after.claim.as_ref())),
            );
    }
    Ok(TransactWriteItem::builder()
        .update(update.build().map_err(built)?)
        .build())
}

/// Applies `event` to job `id`: read, decide with the core state machine, write if unchanged.
pub(super) async fn apply_event(
    st: &DynamoStore,
    id: JobId,
    at_attempt: Option<u32>,
    event: JobEvent,
    reason: &str,
) -> Result<Applied, StoreError> {
    for attempt in 1..=RETRIES {
        let it = read::get(st, job_pk(id), JOB_SK, "reading a job")
            .await?
            .ok_or(StoreError::JobNotFound(id))?;
        let job = item::job(&it)?;
        let version = item::get_i64(&it, "version")?;
        if at_attempt.is_some_and(|a| a != job.attempt) {
            // The write below is conditional on `version`: a requeue racing this read fails it.
            return Ok(Applied {
                job,
                transition: Transition::Ignored(crate::types::MOVED_ON),
            });
        }
        let transition = job.state.apply(event);
        let Transition::To(next) = transition else {
            // Nothing changes: no write, nothing to record.
            return Ok(Applied { job, transition });
        };
        let now = st.now();
        let requeued = next == JobState::Queued;
        let mut after = job.clone();
        after.state = next;
        after.attempt = job.attempt.saturating_add(u32::from(requeued));
        after.updated_at = now;
        if requeued || next.is_terminal() {
            after.claim = None;
        }
        let entry = HistoryEntry {
            from: Some(job.state),
            to: next,
            event: Some(event),
            reason: reason.to_string(),
            at: now,
        };
        let writes = vec![
            state_update(st, &job, &after, version)?,
            txn::put_new(&st.table, history_item(id, version + 1, &entry))?,
        ];
        match txn::write(st, writes, "applying a job event").await? {
            Outcome::Committed => {
                return Ok(Applied {
                    job: after,
                    transition,
                })
            }
            // The job changed since it was read (a claim, another event): read it again.
            Outcome::ConditionFailed(_) => backoff(attempt).await,
        }
    }
    Err(gave_up(
        "applying a job event",
        format!("job {id} kept changing under {RETRIES} attempts to update it"),
    ))
}

/// A job by id.
pub(super) async fn get(st: &DynamoStore, id: JobId) -> Result<Option<Job>, StoreError> {
    read::get(st, job_pk(id), JOB_SK, "reading a job")
        .await?
        .as_ref()
        .map(item::job)
        .transpose()
}

/// A job by key.
pub(super) async fn get_by_key(st: &DynamoStore, key: &JobKey) -> Result<Option<Job>, StoreError> {
    by_key_pk(st, &job_key_pk(&key.digest(64)), key).await
}

/// Jobs, newest first.
pub(super) async fn list(st: &DynamoStore, filter: JobFilter) -> Result<Vec<Job>, StoreError> {
    if filter.limit == 0 {
        return Ok(Vec::new());
    }
    let q = match filter.state {
        Some(state) => Query {
            index: Some(GSI2),
            partition: (GSI2_PK, jobs_in_state(state.as_str())),
            sk_prefix: None,
            ascending: false,
            limit: Some(filter.limit),
        },
        None => Query {
            index: Some(GSI1),
            partition: (GSI1_PK, JOBS.to_string()),
            sk_prefix: None,
            ascending: false,
            limit: Some(filter.limit),
        },
    };
    let items = read::query(st, q, "listing jobs").await?;
    items.iter().map(item::job).collect()
}

/// A job's history, oldest first.
pub(super) async fn history(st: &DynamoStore, id: JobId) -> Result<Vec<HistoryEntry>, StoreError> {
    let q = Query {
        index: None,
        partition: (PK, job_pk(id)),
        sk_prefix: Some(HISTORY_PREFIX),
        ascending: true,
        limit: None,
    };
    let items = read::query(st, q, "reading job history").await?;
    items.iter().map(item::history).collect()
}

/// Appends a note (a history entry without a state change) unless the latest entry says the
/// same; the job's `updated_at` moves with it.
pub(super) async fn note(st: &DynamoStore, id: JobId, reason: &str) -> Result<(), StoreError> {
    for attempt in 1..=RETRIES {
        let it = read::get(st, job_pk(id), JOB_SK, "reading a job")
            .await?
            .ok_or(StoreError::JobNotFound(id))?;
        let job = item::job(&it)?;
        let version = item::get_i64(&it, "version")?;
        let latest = Query {
            index: None,
            partition: (PK, job_pk(id)),
            sk_prefix: Some(HISTORY_PREFIX),
            ascending: false,
            limit: Some(1),
        };
        let last = read::query(st, latest, "reading job history").await?;
        if let Some(last) = last.first() {
            if item::get_s(last, "reason")? == reason {
                return Ok(());
            }
        }
        let now = st.now();
        let update = Update::builder()
            .table_name(&st.table)
            .set_key(Some(item::key(job_pk(id), JOB_SK)))
            .update_expression("SET #updated = :now, #version = :next")
            .condition_expression("#version = :version")
            .expression_attribute_names("#updated", "updated_at_ms")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":version", n(version))
            .build()
            .map_err(built)?;
        let entry = HistoryEntry {
            from: Some(job.state),
            to: job.state,
            event: None,
            reason: reason.to_string(),
            at: now,
        };
        let writes = vec![
            TransactWriteItem::builder().update(update).build(),
            txn::put_new(&st.table, history_item(id, version + 1, &entry))?,
        ];
        match txn::write(st, writes, "noting a job").await? {
            Outcome::Committed => return Ok(()),
            Outcome::ConditionFailed(_) => backoff(attempt).await,
        }
    }
    Err(gave_up(
        "noting a job",
        format!("job {id} kept changing under {RETRIES} attempts to note it"),
    ))
}
