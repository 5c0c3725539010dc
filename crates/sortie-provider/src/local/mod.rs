//! The `local` provider: each job's runner is a child process on this host, in its own process
//! group and its own work directory, with a wall-clock limit that kills the whole process tree.
//!
//! The embedded default: no cloud account needed. The child gets a clean environment (PATH and
//! the job's variables only) so nothing of the orchestrator's environment — forge tokens
//! included — leaks into a job.

mod supervise;
#[cfg(test)]
mod tests;

use crate::error::{ProviderError, Result};
use crate::interruption::InterruptionEvent;
use crate::provider::{
    InstanceId, InstanceInfo, InstanceState, LaunchRequest, Launched, Lifecycle, Provider,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};
use tokio::sync::{watch, Notify};

/// Configuration of the local provider.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The command and its arguments. Placeholders replaced in every element: `{jitconfig}` (the
    /// job's one-time credential), `{runner_name}`, `{url}` (orchestrator URL), `{workdir}`.
    /// The credential is also in the environment as `SORTIE_BOOTSTRAP_TOKEN`; prefer that, since
    /// arguments are visible to every user of the host.
    pub command: Vec<String>,
    /// Parent of the per-job work directories (each removed when its process exits).
    pub work_root: PathBuf,
    /// Where `<runner name>.log` files (stdout and stderr) are kept; they outlive the work dir.
    pub log_dir: PathBuf,
    /// Most runners alive at once.
    pub max_concurrent: usize,
    /// Wall-clock limit per runner; the process tree is killed when it passes.
    pub time_limit: Duration,
    /// Extra environment for every runner.
    pub env: BTreeMap<String, String>,
    /// Owner id written to the `sortie:owner` tag.
    pub owner: String,
}

/// How a local runner ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalExit {
    /// Exited by itself with this code.
    Code(i32),
    /// Killed by a signal it did not send itself (or exit status unavailable).
    Signal,
    /// Killed by the wall-clock limit.
    TimeLimit,
    /// Killed by [`Provider::terminate`].
    Terminated,
}

pub(crate) struct Run {
    pub(crate) info: InstanceInfo,
    pub(crate) log_path: PathBuf,
    pub(crate) stop: Arc<Notify>,
    pub(crate) done: watch::Receiver<bool>,
    pub(crate) exit: Option<LocalExit>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) runs: BTreeMap<InstanceId, Run>,
    pub(crate) interruptions: Vec<InterruptionEvent>,
}

/// The local process provider. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct LocalProvider {
    cfg: Arc<LocalConfig>,
    state: Arc<Mutex<State>>,
}

impl LocalProvider {
    /// A provider with `cfg`; refuses an empty command or a zero limit.
    pub fn new(cfg: LocalConfig) -> Result<Self> {
        if cfg.command.is_empty() {
            return Err(ProviderError::Config(
                "local.command is empty: set the runner command to run".into(),
            ));
        }
        if cfg.max_concurrent == 0 {
            return Err(ProviderError::Config(
                "local.max_concurrent is 0: no runner could ever start".into(),
            ));
        }
        Ok(LocalProvider {
            cfg: Arc::new(cfg),
            state: Arc::default(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The deterministic id of the process for a job and attempt.
    fn id_for(req: &LaunchRequest) -> InstanceId {
        InstanceId(format!("local-{}-{}", req.job.digest(16), req.attempt))
    }

    /// The log file of a runner, if the provider knows it.
    pub fn log_path(&self, id: &InstanceId) -> Option<PathBuf> {
        self.lock().runs.get(id).map(|r| r.log_path.clone())
    }

    /// How a runner ended; `None` while it runs or when unknown.
    pub fn exit(&self, id: &InstanceId) -> Option<LocalExit> {
        self.lock().runs.get(id).and_then(|r| r.exit)
    }

    /// Waits up to `timeout` for the runner to end and its work dir to be removed; returns
    /// whether it ended.
    pub async fn wait(&self, id: &InstanceId, timeout: Duration) -> bool {
        let Some(mut done) = self.lock().runs.get(id).map(|r| r.done.clone()) else {
            return false;
        };
        let outcome = tokio::time::timeout(timeout, done.wait_for(|d| *d))
            .await
            .map(|r| r.is_ok());
        outcome == Ok(true)
    }

    fn launched(run: &Run, adopted: bool) -> Launched {
        Launched {
            instance_id: run.info.id.clone(),
            instance_type: run.info.instance_type.clone(),
            availability_zone: None,
            lifecycle: Lifecycle::OnDemand,
            adopted,
            skipped: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn substitute(&self, arg: &str, req: &LaunchRequest, workdir: &Path) -> String {
        arg.replace("{jitconfig}", req.bootstrap.credential.expose())
            .replace("{runner_name}", &req.runner_name())
            .replace("{url}", &req.bootstrap.orchestrator_url)
            .replace("{workdir}", &workdir.to_string_lossy())
    }

    fn build_command(
        &self,
        req: &LaunchRequest,
        workdir: &Path,
        log: &std::fs::File,
    ) -> Result<tokio::process::Command> {
        let argv: Vec<String> = self
            .cfg
            .command
            .iter()
            .map(|a| self.substitute(a, req, workdir))
            .collect();
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]).current_dir(workdir).env_clear();
        cmd.env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        );
        cmd.env("HOME", workdir).env("TMPDIR", workdir);
        cmd.envs(&self.cfg.env);
        cmd.env("SORTIE_URL", &req.bootstrap.orchestrator_url)
            .env("SORTIE_BOOTSTRAP_TOKEN", req.bootstrap.credential.expose())
            .env("SORTIE_RUNNER_NAME", req.runner_name())
            .env("SORTIE_WORKDIR", workdir);
        let out = log
            .try_clone()
            .map_err(|e| ProviderError::io("cloning the runner log handle", e))?;
        let err = log
            .try_clone()
            .map_err(|e| ProviderError::io("cloning the runner log handle", e))?;
        cmd.stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err);
        // Own process group (pgid = pid), so the limit can kill the whole tree with `kill -- -pgid`.
        cmd.process_group(0);
        Ok(cmd)
    }

    fn prepare_dirs(&self, name: &str) -> Result<(PathBuf, PathBuf, std::fs::File)> {
        let workdir = self.cfg.work_root.join(name);
        std::fs::create_dir_all(&workdir).map_err(|e| {
            ProviderError::io(format!("creating work dir {}", workdir.display()), e)
        })?;
        std::fs::create_dir_all(&self.cfg.log_dir).map_err(|e| {
            ProviderError::io(
                format!("creating log dir {}", self.cfg.log_dir.display()),
                e,
            )
        })?;
        let log_path = self.cfg.log_dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .map_err(|e| ProviderError::io(format!("creating log {}", log_path.display()), e))?;
        Ok((workdir, log_path, log))
    }
}

#[async_trait::async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    async fn launch(&self, req: &LaunchRequest) -> Result<Launched> {
        let id = Self::id_for(req);
        // The lock is held across spawning so two concurrent launches of one job make one process.
        let mut state = self.lock();
        if let Some(run) = state.runs.get(&id) {
            return Ok(Self::launched(run, true));
        }
        let live = state
            .runs
            .values()
            .filter(|r| r.info.state.is_live())
            .count();
        if live >= self.cfg.max_concurrent {
            return Err(ProviderError::AtLimit(self.cfg.max_concurrent));
        }
        let name = req.runner_name();
        let (workdir, log_path, log) = self.prepare_dirs(&name)?;
        let child = match self.build_command(req, &workdir, &log)?.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&workdir);
                let program = self.cfg.command.first().cloned().unwrap_or_default();
                return Err(ProviderError::io(
                    format!("starting local runner command {program:?}"),
                    e,
                ));
            }
        };
        let stop = Arc::new(Notify::new());
        let (done_tx, done_rx) = watch::channel(false);
        let info = InstanceInfo {
            id: id.clone(),
            state: InstanceState::Running,
            instance_type: "local".into(),
            lifecycle: Lifecycle::OnDemand,
            availability_zone: None,
            launched_at: Some(SystemTime::now()),
            tags: req.all_tags(&self.cfg.owner),
        };
        let run = Run {
            info,
            log_path,
            stop: stop.clone(),
            done: done_rx,
            exit: None,
        };
        let launched = Self::launched(&run, false);
        state.runs.insert(id.clone(), run);
        drop(state);
        tokio::spawn(supervise::supervise(
            self.clone(),
            id,
            child,
            stop,
            self.cfg.time_limit,
            workdir,
            done_tx,
        ));
        Ok(launched)
    }

    async fn describe(&self, id: &InstanceId) -> Result<Option<InstanceInfo>> {
        Ok(self.lock().runs.get(id).map(|r| r.info.clone()))
    }

    async fn terminate(&self, id: &InstanceId) -> Result<()> {
        let stop = self.lock().runs.get(id).map(|r| r.stop.clone());
        let Some(stop) = stop else {
            return Err(ProviderError::UnknownInstance(id.to_string()));
        };
        stop.notify_one();
        self.wait(id, Duration::from_secs(10)).await;
        Ok(())
    }

    async fn list_by_tag(&self, key: &str, value: &str) -> Result<Vec<InstanceInfo>> {
        let state = self.lock();
        Ok(state
            .runs
            .values()
            .filter(|r| r.info.tags.get(key).map(String::as_str) == Some(value))
            .map(|r| r.info.clone())
            .collect())
    }

    async fn drain_interruptions(&self) -> Vec<InterruptionEvent> {
        std::mem::take(&mut self.lock().interruptions)
    }
}
