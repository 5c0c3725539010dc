//! The task that watches one local runner: waits for it to exit, or kills its process group when
//! the time limit passes or `terminate` asks, then removes the work dir and records the end.

use super::{LocalExit, LocalProvider};
use crate::interruption::{InterruptionEvent, InterruptionKind};
use crate::provider::{InstanceId, InstanceState};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::process::Child;
use tokio::sync::{watch, Notify};

/// Kills every process in group `pgid`. Uses the `kill` utility so no `unsafe` is needed; an
/// error (the group is already empty) is expected and ignored.
pub(crate) async fn kill_group(pgid: u32) {
    let _ = tokio::process::Command::new("kill")
        .arg("-KILL")
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
}

pub(crate) async fn supervise(
    provider: LocalProvider,
    id: InstanceId,
    mut child: Child,
    stop: Arc<Notify>,
    limit: Duration,
    workdir: PathBuf,
    done: watch::Sender<bool>,
) {
    let pgid = child.id();
    let exit = tokio::select! {
        status = child.wait() => match status.ok().and_then(|s| s.code()) {
            Some(code) => LocalExit::Code(code),
            None => LocalExit::Signal,
        },
        _ = tokio::time::sleep(limit) => LocalExit::TimeLimit,
        _ = stop.notified() => LocalExit::Terminated,
    };
    // Always kill the group: a runner that exited may have left background processes behind.
    if let Some(pgid) = pgid {
        kill_group(pgid).await;
    }
    let _ = child.wait().await;
    let _ = tokio::fs::remove_dir_all(&workdir).await;
    {
        let mut state = provider.lock();
        if let Some(run) = state.runs.get_mut(&id) {
            run.info.state = InstanceState::Terminated;
            run.exit = Some(exit);
        }
        if exit == LocalExit::TimeLimit {
            let event = InterruptionEvent {
                instance_id: id,
                kind: InterruptionKind::TimeLimit,
                time: SystemTime::now(),
            };
            state.interruptions.push(event);
        }
    }
    let _ = done.send(true);
}
