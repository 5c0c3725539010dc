use super::*;
use crate::interruption::InterruptionKind;
use crate::provider::{Bootstrap, OneTimeSecret, TAG_JOB, TAG_OWNER};
use sortie_core::forge::Flavor;
use sortie_core::job::JobKey;
use sortie_core::spec::RunnerSpec;
use std::sync::atomic::{AtomicU32, Ordering};

fn temp_root() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("sortie-local-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn provider(script: &str, max: usize, limit: Duration) -> (LocalProvider, PathBuf) {
    let root = temp_root();
    let cfg = LocalConfig {
        command: vec!["sh".into(), "-c".into(), script.into()],
        work_root: root.join("work"),
        log_dir: root.join("logs"),
        max_concurrent: max,
        time_limit: limit,
        env: BTreeMap::from([("EXTRA".to_string(), "yes".to_string())]),
        owner: "test-owner".into(),
    };
    (LocalProvider::new(cfg).unwrap(), root)
}

fn request(job_id: u64) -> LaunchRequest {
    LaunchRequest {
        job: JobKey::WorkflowJob {
            forge: Flavor::Github,
            repo: "octo/app".into(),
            run_id: 9,
            run_attempt: 1,
            job_id,
        },
        attempt: 1,
        spec: RunnerSpec::default(),
        bootstrap: Bootstrap {
            orchestrator_url: "http://127.0.0.1:1".into(),
            credential: OneTimeSecret::new("jit-secret-123"),
            ssm_parameter: None,
        },
        tags: BTreeMap::new(),
    }
}

fn alive(pid: u32) -> bool {
    // A zombie (state Z) has exited; only its table entry is left.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[tokio::test]
async fn runs_with_credential_in_env_captures_log_and_cleans_up() {
    let script = "echo token=$SORTIE_BOOTSTRAP_TOKEN arg={jitconfig} extra=$EXTRA; \
                  echo cargo=${CARGO_MANIFEST_DIR:-unset}; pwd; echo to-stderr >&2";
    let (p, root) = provider(script, 2, Duration::from_secs(30));
    let launched = p.launch(&request(1)).await.unwrap();
    assert!(!launched.adopted);
    assert!(
        p.wait(&launched.instance_id, Duration::from_secs(10)).await,
        "runner did not finish"
    );
    let log = std::fs::read_to_string(p.log_path(&launched.instance_id).unwrap()).unwrap();
    assert!(
        log.contains("token=jit-secret-123 arg=jit-secret-123 extra=yes"),
        "{log}"
    );
    assert!(
        log.contains("cargo=unset"),
        "the orchestrator's environment leaked: {log}"
    );
    assert!(log.contains("to-stderr"), "{log}");
    let workdir = root.join("work").join(request(1).runner_name());
    assert!(log.contains(&workdir.display().to_string()), "{log}");
    assert!(!workdir.exists(), "work dir not removed");
    assert_eq!(p.exit(&launched.instance_id), Some(LocalExit::Code(0)));
    let info = p.describe(&launched.instance_id).await.unwrap().unwrap();
    assert_eq!(info.state, InstanceState::Terminated);
    assert_eq!(info.tags[TAG_OWNER], "test-owner");
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn launch_is_idempotent_on_job_and_attempt() {
    let (p, root) = provider(
        "echo started >> ../../started; sleep 30",
        4,
        Duration::from_secs(60),
    );
    let first = p.launch(&request(2)).await.unwrap();
    let second = p.launch(&request(2)).await.unwrap();
    assert_eq!(first.instance_id, second.instance_id);
    assert!(second.adopted);
    let mut next = request(2);
    next.attempt = 2;
    let third = p.launch(&next).await.unwrap();
    assert_ne!(
        third.instance_id, first.instance_id,
        "a new attempt gets a new runner"
    );
    let by_job = p
        .list_by_tag(TAG_JOB, &crate::provider::job_tag_value(&next.job))
        .await
        .unwrap();
    assert_eq!(by_job.len(), 2);
    p.terminate(&first.instance_id).await.unwrap();
    p.terminate(&third.instance_id).await.unwrap();
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn time_limit_kills_the_whole_process_tree() {
    let (p, root) = provider(
        "sleep 300 & echo grandchild=$!; wait",
        2,
        Duration::from_millis(700),
    );
    let launched = p.launch(&request(3)).await.unwrap();
    let log_path = p.log_path(&launched.instance_id).unwrap();
    let mut grandchild = None;
    for _ in 0..50 {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        grandchild = log
            .trim()
            .strip_prefix("grandchild=")
            .and_then(|s| s.parse::<u32>().ok());
        if grandchild.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let grandchild = grandchild.expect("the runner never printed its grandchild's pid");
    assert!(alive(grandchild), "grandchild should run until the limit");
    assert!(p.wait(&launched.instance_id, Duration::from_secs(10)).await);
    assert_eq!(p.exit(&launched.instance_id), Some(LocalExit::TimeLimit));
    let mut gone = false;
    for _ in 0..40 {
        if !alive(grandchild) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "grandchild {grandchild} survived the time limit");
    let events = p.drain_interruptions().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, InterruptionKind::TimeLimit);
    assert!(p.drain_interruptions().await.is_empty());
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn concurrency_limit_refuses_then_frees() {
    let (p, root) = provider("sleep 30", 1, Duration::from_secs(60));
    let first = p.launch(&request(4)).await.unwrap();
    let err = p.launch(&request(5)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "local provider at its limit of 1 concurrent runners; the job waits for one to finish"
    );
    // The same job is not "beyond the limit": it is the runner that already exists.
    assert!(p.launch(&request(4)).await.unwrap().adopted);
    p.terminate(&first.instance_id).await.unwrap();
    let next = p.launch(&request(5)).await.unwrap();
    p.terminate(&next.instance_id).await.unwrap();
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn terminate_stops_and_cleans_up() {
    let (p, root) = provider("sleep 300", 2, Duration::from_secs(60));
    let launched = p.launch(&request(6)).await.unwrap();
    let workdir = root.join("work").join(request(6).runner_name());
    assert!(workdir.exists());
    assert_eq!(
        p.describe(&launched.instance_id)
            .await
            .unwrap()
            .unwrap()
            .state,
        InstanceState::Running
    );
    p.terminate(&launched.instance_id).await.unwrap();
    assert_eq!(
        p.describe(&launched.instance_id)
            .await
            .unwrap()
            .unwrap()
            .state,
        InstanceState::Terminated
    );
    assert_eq!(p.exit(&launched.instance_id), Some(LocalExit::Terminated));
    assert!(!workdir.exists());
    p.terminate(&launched.instance_id).await.unwrap();
    assert!(matches!(
        p.terminate(&InstanceId::from("local-nope")).await,
        Err(ProviderError::UnknownInstance(_))
    ));
    assert!(
        p.drain_interruptions().await.is_empty(),
        "terminate is not an interruption"
    );
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test]
async fn bad_configuration_and_missing_program_are_errors() {
    let (p, root) = provider("true", 1, Duration::from_secs(1));
    let mut cfg = (*p.cfg).clone();
    cfg.command.clear();
    assert!(matches!(
        LocalProvider::new(cfg.clone()),
        Err(ProviderError::Config(_))
    ));
    cfg.command = vec!["/nonexistent/runner".into()];
    let p = LocalProvider::new(cfg).unwrap();
    let err = p.launch(&request(7)).await.unwrap_err();
    assert!(err.to_string().contains("/nonexistent/runner"), "{err}");
    assert!(!root.join("work").join(request(7).runner_name()).exists());
    let _ = std::fs::remove_dir_all(root);
}
