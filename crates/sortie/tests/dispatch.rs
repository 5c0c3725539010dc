//! Dispatch end to end: the real server (in this process, or the real binary for the crash test)
//! with the fake GitHub of `sortie-testkit`, on SQLite and PostgreSQL, with
//! - the local provider running the real `sortie agent` binary (fake runner mode): a job goes
//!   queued → launching → running → completed, its machine ends and its runner is gone;
//! - the ec2 provider against moto for counting machines: nothing runs on them, so the jobs
//!   stay `launching` and every machine ever made is visible in moto by its tags.

mod world;

use futures::future::join_all;
use sortie_testkit::forge::{Assignment, JobStatus};
use world::*;
async fn one_job_one_machine(db: Db, name: &str) {
    let w = World::start(db, Machines::Local, name).await;
    let job = w.fake.queue_job(REPO, &["self-hosted", "linux"]);
    let gpu = w.fake.queue_job(REPO, &["self-hosted", "gpu-a100"]);

    let done = eventually(
        "the job completed, its machine ended and recorded so, no runner of ours left",
        Duration::from_secs(60),
        || async {
            let j = w.job_for(job.id).await?;
            if j.state != JobState::Completed {
                return None;
            }
            let instances = w.instances_of(&j).await;
            let ended = instances
                .iter()
                .all(|i| i.state == InstanceState::Terminated);
            let runners_left = w
                .fake
                .runners()
                .iter()
                .filter(|r| r.name.starts_with("sortie-"))
                .count();
            (ended && runners_left == 0).then_some((j, instances))
        },
    )
    .await;
    let (j, instances) = done;
    assert_eq!(instances.len(), 1, "exactly one machine: {instances:?}");
    let history = w.store.job_history(j.id).await.unwrap();
    let states: Vec<JobState> = history.iter().map(|h| h.to).collect();
    for s in [
        JobState::Queued,
        JobState::Launching,
        JobState::Running,
        JobState::Completed,
    ] {
        assert!(states.contains(&s), "{s} in {states:?}");
    }
    let on_forge = w.fake.job(job.id).expect("the fake knows the job");
    assert_eq!(on_forge.conclusion.as_deref(), Some("success"));
    assert!(
        on_forge
            .runner_name
            .as_deref()
            .is_some_and(|n| n.starts_with("sortie-")),
        "{on_forge:?}"
    );

    // The unroutable job says why and never gets a machine.
    let g = eventually(
        "the gpu job is settled",
        Duration::from_secs(10),
        || async { w.job_for(gpu.id).await.filter(|j| j.state.is_terminal()) },
    )
    .await;
    assert_eq!(g.state, JobState::Failed);
    let why = w.reason(&g).await;
    assert!(why.contains("unknown label \"gpu-a100\""), "{why}");
    assert!(w.instances_of(&g).await.is_empty());
    assert_eq!(
        w.fake.jit_requests().len(),
        1,
        "one runner credential, for one machine"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_one_machine_completed_ended_and_deregistered_on_sqlite() {
    one_job_one_machine(Db::Sqlite, "one-sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_one_machine_completed_ended_and_deregistered_on_postgres() {
    one_job_one_machine(Db::Postgres, "one-pg").await;
}

/// Waits until every job has a recorded machine, then checks moto made exactly one per job.
async fn exactly_one_machine_each(w: &World, jobs: usize) {
    eventually(
        &format!("{jobs} machines recorded"),
        Duration::from_secs(240),
        || async {
            let n = w.recorded_instances().await;
            (n >= jobs).then_some(())
        },
    )
    .await;
    let machines = w.machines_by_job().await;
    let extra: Vec<_> = machines.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        extra.is_empty(),
        "a job with other than one machine: {extra:?}"
    );
    assert_eq!(machines.len(), jobs, "machines per job: {machines:?}");
    assert_eq!(w.recorded_instances().await, jobs);
    let launching = w
        .jobs()
        .await
        .iter()
        .filter(|j| j.state == JobState::Launching)
        .count();
    assert_eq!(launching, jobs, "every job waits for its machine to boot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_jobs_at_once_get_exactly_a_hundred_machines() {
    let w = World::start(Db::Sqlite, Machines::Ec2, "hundred").await;
    let sends = (0..100u64).map(|i| {
        let w = &w;
        async move {
            let id = 7_000_000 + i;
            w.deliver(
                0,
                &format!("hundred-{i}"),
                "queued",
                id,
                &["self-hosted", "linux"],
            )
            .await
        }
    });
    let statuses = join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    exactly_one_machine_each(&w, 100).await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_out_of_order_deliveries_make_no_extra_machine() {
    let w = World::start(Db::Sqlite, Machines::Ec2, "dupes").await;
    let labels = ["self-hosted", "linux"];
    // The same delivery twice (a retry), and GitHub's redelivery of it under a new delivery id.
    assert_eq!(
        w.deliver(0, "dup-1", "queued", 8_000_001, &labels).await,
        202
    );
    assert_eq!(
        w.deliver(0, "dup-1", "queued", 8_000_001, &labels).await,
        200
    );
    assert_eq!(
        w.deliver(0, "dup-1-again", "queued", 8_000_001, &labels)
            .await,
        202
    );
    // Out of order: `in_progress` (a runner took it) before `queued` for the second job: the job
    // is already served, no machine is made for it.
    assert_eq!(
        w.deliver(0, "ooo-2", "in_progress", 8_000_002, &labels)
            .await,
        202
    );
    assert_eq!(
        w.deliver(0, "ooo-1", "queued", 8_000_002, &labels).await,
        202
    );
    // A third job whose `completed` overtakes its `queued`.
    assert_eq!(
        w.deliver(0, "ooo-4", "completed", 8_000_003, &labels).await,
        202
    );
    assert_eq!(
        w.deliver(0, "ooo-3", "queued", 8_000_003, &labels).await,
        202
    );

    let first = eventually(
        "the first job has its machine",
        Duration::from_secs(60),
        || async {
            let j = w.job_for(8_000_001).await?;
            (j.state == JobState::Launching && !w.instances_of(&j).await.is_empty()).then_some(j)
        },
    )
    .await;
    let second = w.job_for(8_000_002).await.expect("second job stored");
    let third = w.job_for(8_000_003).await.expect("third job stored");
    // Let the dispatcher look at everything queued (it polls every 50 ms) before counting.
    eventually(
        "every delivery planned",
        Duration::from_secs(20),
        || async {
            let pending = w.store.list_unprocessed_deliveries(10).await.ok()?;
            pending.is_empty().then_some(())
        },
    )
    .await;
    assert_eq!(
        second.state,
        JobState::Running,
        "{}",
        w.reason(&second).await
    );
    // `completed` without a conclusion ends the job (failed: GitHub did not say it succeeded).
    assert!(third.state.is_terminal(), "{}", w.reason(&third).await);
    assert_eq!(w.instances_of(&first).await.len(), 1);
    assert!(w.instances_of(&second).await.is_empty());
    assert!(w.instances_of(&third).await.is_empty());
    let machines = w.machines_by_job().await;
    assert_eq!(machines.len(), 1, "{machines:?}");
    assert_eq!(machines.values().sum::<usize>(), 1);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_runners_every_job_completes_with_at_most_one_extra_machine_per_steal_on_sqlite() {
    stolen_runners_every_job_completes(Db::Sqlite, "steals-lite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_runners_every_job_completes_with_at_most_one_extra_machine_per_steal_on_postgres() {
    stolen_runners_every_job_completes(Db::Postgres, "steals-pg").await;
}

/// GitHub hands a fresh runner any queued job with matching labels: here a random one, so most
/// runners take another job than their own. Every job still completes, and each steal costs at
/// most one extra machine.
async fn stolen_runners_every_job_completes(db: Db, name: &str) {
    let w = World::start(db, Machines::Local, name).await;
    w.fake.set_assignment(Assignment::Random(7));
    let queued: Vec<u64> = (0..20)
        .map(|_| w.fake.queue_job(REPO, &["self-hosted", "linux"]).id)
        .collect();
    eventually(
        "all 20 jobs completed on the forge",
        Duration::from_secs(120),
        || async {
            let done = queued
                .iter()
                .filter(|id| {
                    w.fake
                        .job(**id)
                        .is_some_and(|j| j.status == JobStatus::Completed)
                })
                .count();
            (done == queued.len()).then_some(())
        },
    )
    .await;
    let jobs = eventually(
        "all 20 jobs completed in the store",
        Duration::from_secs(30),
        || async {
            let jobs = w.jobs().await;
            (jobs.len() == 20 && jobs.iter().all(|j| j.state == JobState::Completed))
                .then_some(jobs)
        },
    )
    .await;
    let machines: usize = w.machines_by_job().await.values().sum();
    let steals = w.steals() as usize;
    eprintln!(
        "{machines} machines for {} jobs, {steals} steals",
        jobs.len()
    );
    assert!(
        machines <= jobs.len() + steals,
        "{machines} machines for {} jobs and {steals} steals",
        jobs.len()
    );
    assert!(machines >= 20, "at least one machine per job: {machines}");
    w.end_local_machines().await;
    w.stop().await;
}

/// A machine that never boots (the local provider runs `sleep`: no agent ever redeems the token)
/// is ended after `launching_timeout` and relaunched for the same job, and after
/// `max_attempts` the job fails with a reason that says what to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_that_never_registers_is_replaced_then_the_job_fails_with_why() {
    let w = World::start_with(
        Db::Sqlite,
        Machines::Idle,
        "never-boots",
        "launching_timeout_secs = 1\nmax_attempts = 2",
    )
    .await;
    assert_eq!(
        w.deliver(0, "boot-1", "queued", 8_200_001, &["self-hosted", "linux"])
            .await,
        202
    );
    let failed = eventually("the job gives up", Duration::from_secs(60), || async {
        w.job_for(8_200_001)
            .await
            .filter(|j| j.state == JobState::Failed)
    })
    .await;
    assert_eq!(failed.attempt, 2, "one replacement, then no more");
    let instances = w.instances_of(&failed).await;
    assert_eq!(instances.len(), 2, "{instances:?}");
    let why = w.reason(&failed).await;
    assert!(
        why.contains("never asked for its runner credential")
            && why.contains("gave up after 2 attempts"),
        "{why}"
    );
    let history = w.store.job_history(failed.id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.reason.contains("relaunching (attempt 2)")),
        "{history:#?}"
    );
    eventually("both machines ended", Duration::from_secs(30), || async {
        let mut live = 0;
        for r in &w.replicas {
            let local = r.fleet.provider("local").unwrap();
            for i in local.list_managed(&w.owner).await.unwrap() {
                if i.state.is_live() {
                    live += 1;
                }
            }
        }
        (live == 0).then_some(())
    })
    .await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_interruption_gets_one_replacement_even_when_reported_twice() {
    let w = World::start(Db::Sqlite, Machines::Ec2, "interrupted").await;
    assert_eq!(
        w.deliver(0, "spot-1", "queued", 8_100_001, &["self-hosted", "linux"])
            .await,
        202
    );
    let (job, first) = eventually(
        "the job has its machine",
        Duration::from_secs(60),
        || async {
            let j = w.job_for(8_100_001).await?;
            let i = w.instances_of(&j).await.into_iter().next()?;
            Some((j, i))
        },
    )
    .await;
    let mut event: serde_json::Value = serde_json::from_str(SPOT_WARNING).unwrap();
    event["detail"]["instance-id"] = serde_json::json!(first.provider_id);
    event["resources"] = serde_json::json!([format!(
        "arn:aws:ec2:us-east-1a:123456789012:instance/{}",
        first.provider_id
    )]);
    let client = reqwest::Client::new();
    // EventBridge delivers at least once: the same warning twice.
    for _ in 0..2 {
        let resp = client
            .post(format!("{}/api/v1/events/ec2", w.replicas[0].url))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(event.to_string())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }
    let replaced = eventually("a replacement machine", Duration::from_secs(60), || async {
        let i = w.instances_of(&job).await;
        (i.len() >= 2).then_some(i)
    })
    .await;
    assert_eq!(replaced.len(), 2, "{replaced:?}");
    let j = w.job_for(8_100_001).await.unwrap();
    assert_eq!(j.attempt, 2, "one requeue for one interruption");
    assert_eq!(j.state, JobState::Launching);
    let machines = w.machines_by_job().await;
    assert_eq!(machines.values().sum::<usize>(), 2, "{machines:?}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_launch_500_jobs_once_each() {
    let mut w = World::start(Db::Postgres, Machines::Idle, "two-replicas").await;
    w.add_replica("b").await;
    let labels = ["self-hosted", "linux"];
    let client_side: Vec<u64> = (0..500u64).collect();
    for chunk in client_side.chunks(50) {
        let sends = chunk.iter().map(|i| {
            let w = &w;
            async move {
                let id = 9_000_000 + i;
                // Alternate replicas, as a load balancer would.
                w.deliver(
                    (*i % 2) as usize,
                    &format!("two-{i}"),
                    "queued",
                    id,
                    &labels,
                )
                .await
            }
        });
        let statuses = join_all(sends).await;
        assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    }
    exactly_one_machine_each(&w, 500).await;
    // Both replicas launched some: the work is shared, with no leader.
    for r in &w.replicas {
        let metrics = r.fleet.metrics.render();
        assert!(
            metrics
                .lines()
                .any(|l| l.contains("launched") && !l.starts_with('#')),
            "replica {} launched nothing:\n{metrics}",
            r.url
        );
    }
    w.end_local_machines().await;
    w.stop().await;
}
