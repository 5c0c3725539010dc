//! Jobs: create-if-absent by key, the core state machine, history with reasons.

use super::new_job;
use crate::Harness;
use sortie_core::job::{JobEvent, JobState, Transition};
use sortie_store::{JobFilter, JobId, StoreError};
use std::time::Duration;

pub async fn create_if_absent_is_idempotent_under_concurrency(h: Harness) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = h.store.clone();
            tokio::spawn(async move { s.create_job(&new_job(7)).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|o| o.is_created()).count(),
        1,
        "exactly one caller creates"
    );
    let id = outcomes[0].job().id;
    assert!(
        outcomes.iter().all(|o| o.job().id == id),
        "everyone gets the same job"
    );
    assert_eq!(
        h.store.list_jobs(JobFilter::default()).await.unwrap().len(),
        1
    );
    assert_eq!(
        h.store.job_history(id).await.unwrap().len(),
        1,
        "one creation entry"
    );
}

pub async fn job_fields_round_trip(h: Harness) {
    let new = new_job(1);
    let created = h.store.create_job(&new).await.unwrap().into_job();
    assert_eq!(
        (
            &created.key,
            &created.labels,
            &created.route,
            &created.spec,
            &created.delivery
        ),
        (&new.key, &new.labels, &new.route, &new.spec, &new.delivery)
    );
    assert_eq!(
        (created.state, created.attempt, created.claim.clone()),
        (JobState::Queued, 1, None)
    );
    assert_eq!(created.created_at, h.clock_now());
    assert_eq!(
        h.store.get_job(created.id).await.unwrap().as_ref(),
        Some(&created)
    );
    assert_eq!(
        h.store.get_job_by_key(&new.key).await.unwrap().as_ref(),
        Some(&created)
    );
    assert_eq!(h.store.get_job(JobId(999_999)).await.unwrap(), None);
}

pub async fn transitions_are_recorded_with_reasons(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(1)).await.unwrap().into_job();
    let steps = [
        (JobEvent::Launch, "dispatcher d1 launching i-1"),
        (JobEvent::Started, "workflow_job in_progress (delivery x)"),
        (JobEvent::Started, "duplicate in_progress"),
        (JobEvent::Succeeded, "workflow_job completed: success"),
    ];
    for (event, reason) in steps {
        h.clock.advance(Duration::from_secs(1));
        s.apply_event(job.id, event, reason).await.unwrap();
    }
    let history = s.job_history(job.id).await.unwrap();
    let rows: Vec<_> = history
        .iter()
        .map(|e| (e.from, e.to, e.event, e.reason.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            (
                None,
                JobState::Queued,
                None,
                "job created; route provider ec2: labels ask for sortie=cpu=2"
            ),
            (
                Some(JobState::Queued),
                JobState::Launching,
                Some(JobEvent::Launch),
                "dispatcher d1 launching i-1"
            ),
            (
                Some(JobState::Launching),
                JobState::Running,
                Some(JobEvent::Started),
                "workflow_job in_progress (delivery x)"
            ),
            (
                Some(JobState::Running),
                JobState::Completed,
                Some(JobEvent::Succeeded),
                "workflow_job completed: success"
            ),
        ]
    );
    // Times come from the clock: creation at t0, the last change 4 s later (the duplicate wrote nothing).
    assert_eq!(history[3].at.as_millis() - history[0].at.as_millis(), 4_000);
    let done = s.get_job(job.id).await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.updated_at),
        (JobState::Completed, history[3].at)
    );
}

pub async fn terminal_states_absorb_events(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(1)).await.unwrap().into_job();
    s.apply_event(job.id, JobEvent::Cancel, "cancelled on the forge")
        .await
        .unwrap();
    for event in [
        JobEvent::Launch,
        JobEvent::Started,
        JobEvent::Succeeded,
        JobEvent::Requeue,
        JobEvent::Cancel,
    ] {
        let applied = s.apply_event(job.id, event, "late delivery").await.unwrap();
        assert_eq!(applied.job.state, JobState::Cancelled, "{event:?}");
        assert!(
            !matches!(applied.transition, Transition::To(_)),
            "{event:?}"
        );
    }
    assert_eq!(
        s.job_history(job.id).await.unwrap().len(),
        2,
        "creation and cancel only"
    );
}

/// Two decisions about one attempt's machine (a stolen runner reported by the webhook and by the
/// agent) requeue the job once: the second finds it moved on.
pub async fn an_event_for_a_past_attempt_is_ignored(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(1)).await.unwrap().into_job();
    s.apply_event(job.id, JobEvent::Launch, "launched")
        .await
        .unwrap();
    let first = s
        .apply_event_at(job.id, 1, JobEvent::Requeue, "runner taken")
        .await
        .unwrap();
    assert_eq!(first.transition, Transition::To(JobState::Queued));
    assert_eq!(first.job.attempt, 2);
    s.apply_event(job.id, JobEvent::Launch, "launched again")
        .await
        .unwrap();
    let second = s
        .apply_event_at(job.id, 1, JobEvent::Requeue, "runner taken, said again")
        .await
        .unwrap();
    assert_eq!(
        second.transition,
        Transition::Ignored(sortie_store::MOVED_ON)
    );
    assert_eq!(
        (second.job.state, second.job.attempt),
        (JobState::Launching, 2)
    );
    assert_eq!(s.job_history(job.id).await.unwrap().len(), 4);
    let current = s
        .apply_event_at(job.id, 2, JobEvent::Requeue, "deadline missed")
        .await
        .unwrap();
    assert_eq!(
        (current.job.state, current.job.attempt),
        (JobState::Queued, 3)
    );
}

pub async fn unknown_job_is_an_error(h: Harness) {
    let err = h
        .store
        .apply_event(JobId(4242), JobEvent::Launch, "x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::JobNotFound(JobId(4242))), "{err}");
    assert!(err.to_string().contains("job 4242 does not exist"), "{err}");
}

pub async fn list_filters_by_state(h: Harness) {
    let s = &h.store;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(s.create_job(&new_job(n)).await.unwrap().into_job().id);
    }
    s.apply_event(ids[1], JobEvent::Fail, "unknown label")
        .await
        .unwrap();
    let queued = s
        .list_jobs(JobFilter {
            state: Some(JobState::Queued),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        queued.iter().map(|j| j.id).collect::<Vec<_>>(),
        [ids[3], ids[2], ids[0]],
        "newest first"
    );
    let failed = s
        .list_jobs(JobFilter {
            state: Some(JobState::Failed),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(failed.iter().map(|j| j.id).collect::<Vec<_>>(), [ids[1]]);
    assert_eq!(
        s.list_jobs(JobFilter {
            state: None,
            limit: 2
        })
        .await
        .unwrap()
        .len(),
        2
    );
}

/// A job first heard of by its `in_progress` event is stored already running: no dispatcher ever
/// sees it queued (and launches a machine a runner does not need). A second create returns it.
pub async fn create_then_applies_the_first_event(h: Harness) {
    let created = h
        .store
        .create_job_then(&new_job(3), Some((JobEvent::Started, "in progress on r1")))
        .await
        .unwrap();
    assert!(created.is_created());
    let job = created.job().clone();
    assert_eq!(job.state, JobState::Running);
    let history = h.store.job_history(job.id).await.unwrap();
    let states: Vec<(Option<JobState>, JobState)> =
        history.iter().map(|e| (e.from, e.to)).collect();
    assert_eq!(
        states,
        vec![
            (None, JobState::Queued),
            (Some(JobState::Queued), JobState::Running)
        ]
    );
    assert_eq!(history[1].reason, "in progress on r1");
    assert!(h
        .store
        .claim_next("w", Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    let again = h
        .store
        .create_job_then(&new_job(3), Some((JobEvent::Succeeded, "done")))
        .await
        .unwrap();
    assert!(!again.is_created());
    assert_eq!(
        again.job().state,
        JobState::Running,
        "an existing job is unchanged"
    );
    // No event: the plain create.
    let plain = h.store.create_job_then(&new_job(4), None).await.unwrap();
    assert_eq!(plain.job().state, JobState::Queued);
}
