//! Bootstrap tokens and agent sessions.
//!
//! - token: `BOOTSTRAP#<token hash>` / `BOOTSTRAP` (job, attempt, expiry; TTL a week after expiry);
//! - session: `JOB#<job id20>` / `SESSION#<attempt10>`, in the job's partition — its key is the
//!   job attempt, so of all the tokens of one attempt exactly one can become a session;
//!   open sessions are in `gsi2` `SESSIONS#OPEN` / `<redeemed t20>#<job id20>`;
//! - session token: `SESSION#<session hash>` / `SESSION` → (job, attempt).
//!
//! Redeeming writes the session and its token item in one transaction, each
//! `attribute_not_exists(pk)`.

use super::item::{self, id20, job_pk, key, n, s, t20, Item, GSI2, GSI2_PK, GSI2_SK, PK, SK, TTL};
use super::read::{self, Query};
use super::txn::{self, Outcome};
use super::{backoff, conditional, gave_up, sdk, DynamoStore, RETRIES};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::types::{AgentSession, JobId, Redeem};
use aws_sdk_dynamodb::types::ReturnValue;
use sortie_core::agent::AgentPhase;
use std::collections::HashMap;
use std::time::Duration;

/// How long a bootstrap token item is kept after it expired (then DynamoDB's TTL deletes it).
const TOKEN_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

const OPEN_SESSIONS: &str = "SESSIONS#OPEN";
const SESSION_PREFIX: &str = "SESSION#";

fn token_pk(hash: &str) -> String {
    format!("BOOTSTRAP#{hash}")
}
const TOKEN_SK: &str = "BOOTSTRAP";

fn session_sk(attempt: u32) -> String {
    format!("SESSION#{attempt:010}")
}

fn session_token_pk(hash: &str) -> String {
    format!("SESSION#{hash}")
}
const SESSION_TOKEN_SK: &str = "SESSION";

const PHASES: [AgentPhase; 5] = [
    AgentPhase::Booted,
    AgentPhase::Registered,
    AgentPhase::JobStarted,
    AgentPhase::Heartbeat,
    AgentPhase::Finished,
];

fn session(it: &Item) -> Result<AgentSession, StoreError> {
    let phase_text = item::get_s(it, "phase")?;
    let phase = PHASES
        .into_iter()
        .find(|p| p.as_str() == phase_text)
        .ok_or_else(|| StoreError::corrupt("agent phase", phase_text, "unknown phase"))?;
    let ts = |name| Ok::<_, StoreError>(item::opt_i64(it, name)?.map(Timestamp::from_millis));
    let attempt = item::get_i64(it, "attempt")?;
    let exit = item::opt_i64(it, "exit_code")?;
    Ok(AgentSession {
        job: JobId(item::get_i64(it, "job_id")?),
        attempt: u32::try_from(attempt)
            .map_err(|e| StoreError::corrupt("attempt", &attempt.to_string(), e))?,
        phase,
        redeemed_at: Timestamp::from_millis(item::get_i64(it, "redeemed_at_ms")?),
        last_seen_at: Timestamp::from_millis(item::get_i64(it, "last_seen_at_ms")?),
        registered_at: ts("registered_at_ms")?,
        job_started_at: ts("job_started_at_ms")?,
        finished_at: ts("finished_at_ms")?,
        exit_code: exit
            .map(|c| {
                i32::try_from(c).map_err(|e| StoreError::corrupt("exit code", &c.to_string(), e))
            })
            .transpose()?,
    })
}

/// Stores a token unless one with this hash exists.
pub(super) async fn create_bootstrap(
    st: &DynamoStore,
    token_hash: &str,
    job: JobId,
    attempt: u32,
    ttl: Duration,
) -> Result<(), StoreError> {
    let now = st.now();
    let expires = now.plus(ttl);
    let it = HashMap::from([
        (PK.to_string(), s(token_pk(token_hash))),
        (SK.to_string(), s(TOKEN_SK)),
        ("kind".to_string(), s("bootstrap_token")),
        ("job_id".to_string(), n(job.0)),
        ("attempt".to_string(), n(i64::from(attempt))),
        ("expires_ms".to_string(), n(expires.as_millis())),
        ("created_at_ms".to_string(), n(now.as_millis())),
        (
            TTL.to_string(),
            n(expires.plus(TOKEN_RETENTION).as_millis().div_euclid(1000)),
        ),
    ]);
    let sent = st
        .client
        .put_item()
        .table_name(&st.table)
        .set_item(Some(it))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .send()
        .await;
    // A token stored before is kept as it was (the SQL stores' ON CONFLICT DO NOTHING).
    conditional(sent.map(|_| ()), "storing a bootstrap token").map(|_| ())
}

async fn get_session(
    st: &DynamoStore,
    job: JobId,
    attempt: u32,
) -> Result<Option<Item>, StoreError> {
    let sk = session_sk(attempt);
    read::get(st, job_pk(job), &sk, "reading an agent session").await
}

/// Redeems a token: creates the attempt's session unless it has one.
pub(super) async fn redeem(
    st: &DynamoStore,
    token_hash: &str,
    session_hash: &str,
) -> Result<Redeem, StoreError> {
    let now = st.now();
    let Some(token) = read::get(
        st,
        token_pk(token_hash),
        TOKEN_SK,
        "reading a bootstrap token",
    )
    .await?
    else {
        return Ok(Redeem::Unknown);
    };
    let job = JobId(item::get_i64(&token, "job_id")?);
    let attempt_n = item::get_i64(&token, "attempt")?;
    let attempt = u32::try_from(attempt_n)
        .map_err(|e| StoreError::corrupt("attempt", &attempt_n.to_string(), e))?;
    // A used token reads "already used" even once it has expired.
    if item::get_i64(&token, "expires_ms")? <= now.as_millis() {
        return Ok(match get_session(st, job, attempt).await? {
            Some(_) => Redeem::AlreadyUsed,
            None => Redeem::Unknown,
        });
    }
    let session_item = HashMap::from([
        (PK.to_string(), s(job_pk(job))),
        (SK.to_string(), s(session_sk(attempt))),
        ("kind".to_string(), s("agent_session")),
        ("job_id".to_string(), n(job.0)),
        ("attempt".to_string(), n(i64::from(attempt))),
        ("session_hash".to_string(), s(session_hash)),
        ("phase".to_string(), s(AgentPhase::Booted.as_str())),
        ("redeemed_at_ms".to_string(), n(now.as_millis())),
        ("last_seen_at_ms".to_string(), n(now.as_millis())),
        (GSI2_PK.to_string(), s(OPEN_SESSIONS)),
        (
            GSI2_SK.to_string(),
            s(format!("{}#{}", t20(now), id20(job.0))),
        ),
    ]);
    let redeemed = session(&session_item)?;
    let token_item = HashMap::from([
        (PK.to_string(), s(session_token_pk(session_hash))),
        (SK.to_string(), s(SESSION_TOKEN_SK)),
        ("kind".to_string(), s("session_token")),
        ("job_id".to_string(), n(job.0)),
        ("attempt".to_string(), n(i64::from(attempt))),
    ]);
    let writes = vec![
        txn::put_new(&st.table, session_item)?,
        txn::put_new(&st.table, token_item)?,
    ];
    match txn::write(st, writes, "redeeming a bootstrap token").await? {
        Outcome::Committed => Ok(Redeem::Redeemed(redeemed)),
        Outcome::ConditionFailed(_) => Ok(Redeem::AlreadyUsed),
    }
}

/// Deletes a session whose runner never registered, with its session token.
pub(super) async fn unredeem(
    st: &DynamoStore,
    job: JobId,
    attempt: u32,
) -> Result<bool, StoreError> {
    let Some(it) = get_session(st, job, attempt).await? else {
        return Ok(false);
    };
    if item::opt_i64(&it, "registered_at_ms")?.is_some() {
        return Ok(false);
    }
    let hash = item::get_s(&it, "session_hash")?;
    let writes = vec![
        txn::delete(
            &st.table,
            key(job_pk(job), &session_sk(attempt)),
            "attribute_exists(#pk) AND attribute_not_exists(#reg) AND #hash = :hash",
            &[
                ("#pk", PK),
                ("#reg", "registered_at_ms"),
                ("#hash", "session_hash"),
            ],
            Some(HashMap::from([(":hash".to_string(), s(hash))])),
        )?,
        txn::delete(
            &st.table,
            key(session_token_pk(hash), SESSION_TOKEN_SK),
            "attribute_exists(#pk)",
            &[("#pk", PK)],
            None,
        )?,
    ];
    match txn::write(st, writes, "undoing a redemption").await? {
        Outcome::Committed => Ok(true),
        // Registered or undone meanwhile.
        Outcome::ConditionFailed(_) => Ok(false),
    }
}

/// The session a session token belongs to.
pub(super) async fn find_session(
    st: &DynamoStore,
    session_hash: &str,
) -> Result<Option<AgentSession>, StoreError> {
    let action = "reading an agent session";
    let Some(pointer) =
        read::get(st, session_token_pk(session_hash), SESSION_TOKEN_SK, action).await?
    else {
        return Ok(None);
    };
    let job = JobId(item::get_i64(&pointer, "job_id")?);
    let attempt_n = item::get_i64(&pointer, "attempt")?;
    let attempt = u32::try_from(attempt_n)
        .map_err(|e| StoreError::corrupt("attempt", &attempt_n.to_string(), e))?;
    get_session(st, job, attempt)
        .await?
        .as_ref()
        .map(session)
        .transpose()
}

/// The session after a report at `now`: phases only move forward, first times are kept.
fn advance(
    mut sess: AgentSession,
    phase: AgentPhase,
    exit_code: Option<i32>,
    now: Timestamp,
) -> AgentSession {
    sess.last_seen_at = now;
    match phase {
        AgentPhase::Heartbeat | AgentPhase::Booted => {}
        AgentPhase::Registered => {
            if sess.phase == AgentPhase::Booted {
                sess.phase = AgentPhase::Registered;
            }
            sess.registered_at.get_or_insert(now);
        }
        AgentPhase::JobStarted => {
            if matches!(sess.phase, AgentPhase::Booted | AgentPhase::Registered) {
                sess.phase = AgentPhase::JobStarted;
            }
            sess.registered_at.get_or_insert(now);
            sess.job_started_at.get_or_insert(now);
        }
        AgentPhase::Finished => {
            sess.phase = AgentPhase::Finished;
            sess.finished_at.get_or_insert(now);
            sess.exit_code = sess.exit_code.or(exit_code);
        }
    }
    sess
}

/// Records an agent report; the session is read, advanced and written back if unchanged.
pub(super) async fn record_phase(
    st: &DynamoStore,
    job: JobId,
    attempt: u32,
    phase: AgentPhase,
    exit_code: Option<i32>,
) -> Result<AgentSession, StoreError> {
    let action = "recording an agent report";
    for round in 1..=RETRIES {
        let Some(it) = get_session(st, job, attempt).await? else {
            return Err(StoreError::JobNotFound(job));
        };
        let before = session(&it)?;
        let after = advance(before.clone(), phase, exit_code, st.now());
        let mut sets = vec!["#phase = :phase".to_string(), "#seen = :seen".to_string()];
        let mut names: HashMap<String, String> = HashMap::from([
            ("#phase".to_string(), "phase".to_string()),
            ("#seen".to_string(), "last_seen_at_ms".to_string()),
        ]);
        let mut values: Item = HashMap::from([
            (":phase".to_string(), s(after.phase.as_str())),
            (":seen".to_string(), n(after.last_seen_at.as_millis())),
            (":old_phase".to_string(), s(before.phase.as_str())),
            (":old_seen".to_string(), n(before.last_seen_at.as_millis())),
        ]);
        let optional = [
            (
                "reg",
                "registered_at_ms",
                after.registered_at.map(|t| t.as_millis()),
            ),
            (
                "started",
                "job_started_at_ms",
                after.job_started_at.map(|t| t.as_millis()),
            ),
            (
                "fin",
                "finished_at_ms",
                after.finished_at.map(|t| t.as_millis()),
            ),
            ("exit", "exit_code", after.exit_code.map(i64::from)),
        ];
        for (tag, attribute, value) in optional {
            if let Some(v) = value {
                sets.push(format!("#{tag} = :{tag}"));
                names.insert(format!("#{tag}"), attribute.to_string());
                values.insert(format!(":{tag}"), n(v));
            }
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if after.finished_at.is_some() {
            // Finished sessions leave the index of open ones.
            expression.push_str(" REMOVE #g2p, #g2s");
            names.insert("#g2p".into(), GSI2_PK.into());
            names.insert("#g2s".into(), GSI2_SK.into());
        }
        let sent = st
            .client
            .update_item()
            .table_name(&st.table)
            .set_key(Some(key(job_pk(job), &session_sk(attempt))))
            .update_expression(expression)
            .condition_expression("#phase = :old_phase AND #seen = :old_seen")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match sent {
            Ok(out) => return session(&out.attributes.unwrap_or_default()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                backoff(round).await;
            }
            Err(e) => return Err(sdk(action)(e)),
        }
    }
    Err(gave_up(
        action,
        format!("the session of job {job} attempt {attempt} kept changing"),
    ))
}

/// Sessions of one job by attempt, or (None) every open session by redemption time.
pub(super) async fn list_sessions(
    st: &DynamoStore,
    job: Option<JobId>,
) -> Result<Vec<AgentSession>, StoreError> {
    let q = match job {
        Some(job) => Query {
            index: None,
            partition: (PK, job_pk(job)),
            sk_prefix: Some(SESSION_PREFIX),
            ascending: true,
            limit: None,
        },
        None => Query {
            index: Some(GSI2),
            partition: (GSI2_PK, OPEN_SESSIONS.to_string()),
            sk_prefix: None,
            ascending: true,
            limit: None,
        },
    };
    let items = read::query(st, q, "listing agent sessions").await?;
    items.iter().map(session).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_move_forward_and_keep_first_times() {
        let t = Timestamp::from_millis;
        let booted = AgentSession {
            job: JobId(1),
            attempt: 1,
            phase: AgentPhase::Booted,
            redeemed_at: t(0),
            last_seen_at: t(0),
            registered_at: None,
            job_started_at: None,
            finished_at: None,
            exit_code: None,
        };
        let reg = advance(booted.clone(), AgentPhase::Registered, None, t(1));
        assert_eq!(
            (reg.phase, reg.registered_at),
            (AgentPhase::Registered, Some(t(1)))
        );
        let beat = advance(reg.clone(), AgentPhase::Heartbeat, None, t(2));
        assert_eq!(
            (beat.phase, beat.last_seen_at),
            (AgentPhase::Registered, t(2))
        );
        let started = advance(beat, AgentPhase::JobStarted, None, t(3));
        let back = advance(started, AgentPhase::Registered, None, t(4));
        assert_eq!(back.phase, AgentPhase::JobStarted, "never backwards");
        assert_eq!(back.registered_at, Some(t(1)), "first time kept");
        let done = advance(back, AgentPhase::Finished, Some(3), t(5));
        let again = advance(done, AgentPhase::Finished, Some(9), t(6));
        assert_eq!((again.exit_code, again.finished_at), (Some(3), Some(t(5))));
    }
}
