//! The runner the agent supervises, real or fake, behind one handle: [`RunnerProcess`] reports
//! [`RunnerEvent`]s and can be told to terminate. The supervisor (heartbeats, stop, max runtime)
//! does not know which kind it drives.

mod fake;
mod process;

use super::RunnerMode;
use sortie_core::agent::RunnerLaunch;
use std::path::PathBuf;
use tokio::sync::{mpsc, watch};

/// What a runner tells its supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunnerEvent {
    /// The runner took a job (best effort for real runners: read from their output).
    JobStarted,
    /// The runner ended; the exit code, when it exited by itself rather than by a signal.
    Exited(Option<i32>),
}

/// How to start the runner, besides the orchestrator's [`RunnerLaunch`].
#[derive(Debug, Clone)]
pub(crate) struct RunnerOptions {
    /// Real or fake.
    pub(crate) mode: RunnerMode,
    /// `--runner-dir`, when given.
    pub(crate) runner_dir: Option<PathBuf>,
    /// `--act-runner-bin`, when given.
    pub(crate) act_runner_bin: Option<PathBuf>,
    /// The runner name from the configuration.
    pub(crate) runner_name: String,
}

/// A started runner. Dropping it does not stop the runner; call [`RunnerProcess::terminate`] and
/// wait for [`RunnerEvent::Exited`].
pub(crate) struct RunnerProcess {
    kind: &'static str,
    events: mpsc::Receiver<RunnerEvent>,
    stop: watch::Sender<bool>,
}

/// Where a runner task sends its events and learns it must stop.
pub(crate) struct RunnerLink {
    events: mpsc::Sender<RunnerEvent>,
    stop: watch::Receiver<bool>,
}

impl RunnerLink {
    /// Tells the supervisor something happened; a gone supervisor is not an error.
    pub(crate) async fn send(&self, event: RunnerEvent) {
        let _ = self.events.send(event).await;
    }

    /// Resolves once the supervisor asked the runner to stop (at once if it already did).
    pub(crate) async fn stopped(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|stop| *stop).await;
    }
}

impl RunnerProcess {
    /// Starts the runner `launch` describes. Returns once it is started (and, for runners that
    /// register themselves, registered); errors say what is missing.
    pub(crate) async fn start(
        launch: &RunnerLaunch,
        options: &RunnerOptions,
    ) -> Result<RunnerProcess, String> {
        let (process, link) = Self::channel(launch.kind());
        match options.mode {
            RunnerMode::Fake => fake::start(launch, options, link).await?,
            RunnerMode::Real => process::start(launch, options, link).await?,
        }
        Ok(process)
    }

    fn channel(kind: &'static str) -> (RunnerProcess, RunnerLink) {
        let (events_tx, events_rx) = mpsc::channel(16);
        let (stop_tx, stop_rx) = watch::channel(false);
        (
            RunnerProcess {
                kind,
                events: events_rx,
                stop: stop_tx,
            },
            RunnerLink {
                events: events_tx,
                stop: stop_rx,
            },
        )
    }

    /// The launch kind, for logs.
    pub(crate) fn kind(&self) -> &'static str {
        self.kind
    }

    /// The next event; `Exited(None)` if the runner task vanished without saying so.
    pub(crate) async fn next_event(&mut self) -> RunnerEvent {
        self.events
            .recv()
            .await
            .unwrap_or(RunnerEvent::Exited(None))
    }

    /// Asks the runner to end (process group: SIGTERM, then SIGKILL after a grace period).
    /// Idempotent; the runner answers with [`RunnerEvent::Exited`].
    pub(crate) fn terminate(&self) {
        self.stop.send_replace(true);
    }
}

/// Replaces every secret in a line of runner output with `***`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    /// A scrubber for these secrets (empty ones are ignored).
    pub(crate) fn new<I: IntoIterator<Item = String>>(secrets: I) -> Self {
        Scrubber {
            secrets: secrets.into_iter().filter(|s| s.len() >= 4).collect(),
        }
    }

    /// `line` with every secret replaced.
    pub(crate) fn scrub(&self, line: &str) -> String {
        self.secrets.iter().fold(line.to_owned(), |acc, secret| {
            acc.replace(secret.as_str(), "***")
        })
    }
}

/// The secrets in a launch, for the scrubber.
pub(crate) fn launch_secrets(launch: &RunnerLaunch) -> Vec<String> {
    match launch {
        RunnerLaunch::GithubJit { encoded_jit_config } => vec![encoded_jit_config.clone()],
        RunnerLaunch::EphemeralRunner { token, .. }
        | RunnerLaunch::ActRunnerRegister { token, .. } => vec![token.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubber_hides_every_occurrence() {
        let s = Scrubber::new(["s3cr3t-token".to_owned(), String::new()]);
        assert_eq!(
            s.scrub("a s3cr3t-token b s3cr3t-token"),
            "a *** b ***".to_owned()
        );
        assert_eq!(s.scrub("nothing here"), "nothing here");
    }
}
