//! Supervising a started runner, real or fake: report `job_started` once, heartbeat, end the
//! runner when the orchestrator says stop, the job's time is up or the agent itself is told to
//! stop (SIGTERM, ctrl-c), and wait for it to exit.
//!
//! The runner lives in its own process group (so stopping it reaches everything it started);
//! that group does not die with the agent's, hence the signal handling here.

use super::orchestrator::Reporter;
use super::runner::{RunnerEvent, RunnerProcess};
use sortie_core::agent::AgentPhase;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::time::{Instant, MissedTickBehavior};

/// How the runner ended, with its exit code when it exited by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It exited on its own.
    Exited(Option<i32>),
    /// The orchestrator said stop, and the runner was terminated.
    Stopped(Option<i32>),
    /// The job's maximum runtime passed, and the runner was terminated.
    TimedOut(Option<i32>),
    /// The agent received SIGTERM or SIGINT, and the runner was terminated.
    Interrupted(Option<i32>),
}

/// Why the supervisor asked the runner to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Stop,
    Deadline,
    Signal,
}

/// Drives `runner` until it exits. `stop_asked` means the orchestrator already said stop (in
/// its answer to `registered`): the first heartbeat that says so again ends an idle runner.
pub(crate) async fn supervise(
    runner: &mut RunnerProcess,
    reporter: &Reporter,
    heartbeat: Duration,
    deadline: Instant,
    stop_asked: bool,
) -> Ending {
    let mut cause: Option<Cause> = None;
    let mut job_reported = false;
    // A heartbeat answered "stop" while the runner was idle. Acted on only when the next one
    // says so too: the runner may have taken a job while that heartbeat was in flight (its
    // `job_started` report then makes the orchestrator answer "go on"), and a runner that took
    // a job is never ended for being idle.
    let mut stop_asked = stop_asked;
    let mut ticks = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline_passed = tokio::time::sleep_until(deadline);
    tokio::pin!(deadline_passed);
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| tracing::warn!("cannot watch for SIGTERM: {e}"))
        .ok();
    loop {
        tokio::select! {
            biased;
            event = runner.next_event() => match event {
                RunnerEvent::Exited(code) => return ending(cause, code),
                RunnerEvent::JobStarted if !job_reported && cause.is_none() => {
                    job_reported = true;
                    tracing::info!("the runner took a job");
                    if reporter.phase(AgentPhase::JobStarted, deadline).await.stop {
                        cause = Some(Cause::Stop);
                        runner.terminate();
                    }
                }
                RunnerEvent::JobStarted => {}
            },
            _ = &mut deadline_passed, if cause != Some(Cause::Deadline) => {
                tracing::warn!("the job reached its maximum runtime; ending the runner");
                cause = Some(Cause::Deadline);
                runner.terminate();
            }
            _ = shutdown_requested(&mut sigterm), if cause != Some(Cause::Signal) => {
                tracing::warn!("the agent was told to stop; ending the runner");
                cause = Some(Cause::Signal);
                runner.terminate();
            }
            _ = ticks.tick(), if cause.is_none() => {
                let stop = reporter.heartbeat().await.stop;
                if stop && (stop_asked || job_reported) {
                    tracing::info!("the orchestrator says the job is over; ending the runner");
                    cause = Some(Cause::Stop);
                    runner.terminate();
                }
                stop_asked = stop;
            }
        }
    }
}

fn ending(cause: Option<Cause>, code: Option<i32>) -> Ending {
    match cause {
        None => Ending::Exited(code),
        Some(Cause::Stop) => Ending::Stopped(code),
        Some(Cause::Deadline) => Ending::TimedOut(code),
        Some(Cause::Signal) => Ending::Interrupted(code),
    }
}

/// Resolves on SIGTERM or SIGINT (ctrl-c).
async fn shutdown_requested(sigterm: &mut Option<Signal>) {
    let term = async {
        match sigterm {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
