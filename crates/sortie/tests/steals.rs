//! Stolen runners, as the forge reports them: GitHub sends `workflow_job` `in_progress` for job A
//! naming the runner sortie launched for job B (`sortie-<digest of B>-<attempt>`). The real
//! server (in this process, SQLite and PostgreSQL) records that A is served by B's machine and
//! gets B a machine: A's own machine when it is still coming up, otherwise a replacement at once
//! ("runner taken by another job"). Machines here never boot (the local provider runs `sleep`),
//! so only the forge's reports move the jobs.

mod world;

use sortie_store::DeliveryId;
use sortie_testkit::forge::payloads::github_workflow_job_event;
use sortie_testkit::forge::FakeJob;
use world::*;

const LABELS: &[&str] = &["self-hosted", "linux"];

fn key_of(j: &FakeJob) -> JobKey {
    JobKey::WorkflowJob {
        forge: sortie_core::forge::Flavor::Github,
        repo: j.repo.clone(),
        run_id: j.run_id,
        run_attempt: j.run_attempt,
        job_id: j.id,
    }
}

impl World {
    /// Sends GitHub's `in_progress` for `job` as run by the runner named `runner`.
    async fn report_in_progress(&self, delivery: &str, job: &FakeJob, runner: &str) -> u16 {
        let mut taken = job.clone();
        taken.runner_id = Some(77);
        taken.runner_name = Some(runner.to_string());
        let body =
            github_workflow_job_event("in_progress", &taken, INSTALLATION, 1, &self.fake.url())
                .expect("fixture");
        let hook = Webhook::github("workflow_job", delivery, SECRET, body);
        let url = format!("{}/webhooks/github", self.replicas[0].url);
        hook.send(&url).await.expect("server answers").0
    }

    async fn job_of(&self, j: &FakeJob) -> Job {
        let key = key_of(j);
        eventually("the job is stored", Duration::from_secs(20), || async {
            self.store.get_job_by_key(&key).await.unwrap()
        })
        .await
    }

    async fn history(&self, job: &Job) -> Vec<String> {
        self.store
            .job_history(job.id)
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.reason)
            .collect()
    }

    /// Waits until the server has planned delivery `id` (the steal repair is part of it).
    async fn processed(&self, id: &str) {
        let id = DeliveryId(id.to_string());
        eventually(
            "the delivery is planned",
            Duration::from_secs(20),
            || async {
                let d = self
                    .store
                    .get_delivery(sortie_core::forge::Flavor::Github, &id)
                    .await
                    .unwrap()?;
                d.status.processed_at.map(|_| ())
            },
        )
        .await
    }
}

/// B waits on its machine; A, whose `queued` webhook was lost (so it has no machine), is reported
/// in progress on B's runner → A is recorded as served by B's machine and B is requeued at once
/// for a replacement. The same report again changes nothing.
async fn a_thief_without_a_machine_gets_the_victim_replaced_at_once(db: Db, name: &str) {
    let w = World::start(db, Machines::Idle, name).await;
    let b = w.fake.queue_job(REPO, LABELS);
    let b_job = w.job_of(&b).await;
    eventually(
        "B's machine is launched",
        Duration::from_secs(20),
        || async { (w.instances_of(&b_job).await.len() == 1).then_some(()) },
    )
    .await;
    w.fake.lose_next_webhooks(1);
    let a = w.fake.queue_job(REPO, LABELS);
    w.fake.flush_webhooks().await;
    let b_runner = key_of(&b).runner_name(1);
    assert_eq!(w.report_in_progress("steal-1", &a, &b_runner).await, 202);

    let a_job = w.job_of(&a).await;
    let b_now = eventually("B is relaunched", Duration::from_secs(20), || async {
        let j = w.store.get_job(b_job.id).await.unwrap()?;
        (j.attempt == 2 && w.instances_of(&j).await.len() == 2).then_some(j)
    })
    .await;
    let b_history = w.history(&b_now).await;
    assert!(
        b_history.iter().any(|r| r.starts_with(&format!(
            "runner taken by another job: its runner {b_runner} took job {}",
            a_job.id
        ))),
        "{b_history:#?}"
    );
    let a_history = w.history(&a_job).await;
    assert!(
        a_history.iter().any(|r| r.contains(&format!(
            "served by the machine launched for job {}",
            b_job.id
        ))),
        "{a_history:#?}"
    );
    assert_eq!(a_job.state, JobState::Running);
    assert!(
        w.instances_of(&a_job).await.is_empty(),
        "A needs no machine"
    );
    assert_eq!(w.steals(), 1.0);

    // GitHub repeats the report (a redelivery): nothing more happens.
    assert_eq!(
        w.report_in_progress("steal-1-again", &a, &b_runner).await,
        202
    );
    assert_eq!(
        w.report_in_progress("steal-1-redo", &a, &b_runner).await,
        202
    );
    w.processed("steal-1-again").await;
    w.processed("steal-1-redo").await;
    let b_later = w.store.get_job(b_job.id).await.unwrap().unwrap();
    assert_eq!(b_later.attempt, 2, "{:#?}", w.history(&b_later).await);
    assert_eq!(w.instances_of(&b_later).await.len(), 2);
    assert_eq!(w.steals(), 1.0);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thief_without_a_machine_gets_the_victim_replaced_at_once_on_sqlite() {
    a_thief_without_a_machine_gets_the_victim_replaced_at_once(Db::Sqlite, "steal-replace-lite")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thief_without_a_machine_gets_the_victim_replaced_at_once_on_postgres() {
    a_thief_without_a_machine_gets_the_victim_replaced_at_once(Db::Postgres, "steal-replace-pg")
        .await;
}

/// A and B both have machines coming up; A is reported in progress on B's runner → A's own
/// machine serves B instead: B keeps its attempt, no third machine is launched.
async fn the_thiefs_machine_still_coming_up_serves_the_victim(db: Db, name: &str) {
    let w = World::start(db, Machines::Idle, name).await;
    let a = w.fake.queue_job(REPO, LABELS);
    let b = w.fake.queue_job(REPO, LABELS);
    let (a_job, b_job) = (w.job_of(&a).await, w.job_of(&b).await);
    eventually(
        "both machines are launched",
        Duration::from_secs(20),
        || async {
            (w.instances_of(&a_job).await.len() == 1 && w.instances_of(&b_job).await.len() == 1)
                .then_some(())
        },
    )
    .await;
    let a_machine = w.instances_of(&a_job).await[0].provider_id.clone();
    let b_runner = key_of(&b).runner_name(1);
    assert_eq!(w.report_in_progress("swap-1", &a, &b_runner).await, 202);
    w.processed("swap-1").await;

    let b_history = eventually(
        "B is told who serves it",
        Duration::from_secs(20),
        || async {
            let j = w.store.get_job(b_job.id).await.unwrap()?;
            let h = w.history(&j).await;
            h.iter()
                .any(|r| r.contains("still coming up, serves this job instead"))
                .then_some(h)
        },
    )
    .await;
    assert!(
        b_history.iter().any(|r| r
            .starts_with(&format!("its runner {b_runner} took job {}", a_job.id))
            && r.contains(&a_machine)),
        "{b_history:#?}"
    );
    // Planned already (the repair is part of planning): nothing requeued B since.
    let b_later = w.store.get_job(b_job.id).await.unwrap().unwrap();
    assert_eq!(b_later.attempt, 1, "no replacement: {b_history:#?}");
    assert_eq!(w.recorded_instances().await, 2, "no third machine");
    let a_later = w.store.get_job(a_job.id).await.unwrap().unwrap();
    assert_eq!(a_later.state, JobState::Running);
    assert_eq!(w.steals(), 1.0);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thiefs_machine_still_coming_up_serves_the_victim_on_sqlite() {
    the_thiefs_machine_still_coming_up_serves_the_victim(Db::Sqlite, "steal-swap-lite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thiefs_machine_still_coming_up_serves_the_victim_on_postgres() {
    the_thiefs_machine_still_coming_up_serves_the_victim(Db::Postgres, "steal-swap-pg").await;
}
