use super::*;
use sortie_store::JobId;

const MIN: Duration = Duration::from_secs(60);

fn limits() -> Limits {
    Limits {
        max_runtime: 120 * MIN,
        ..Limits::default()
    }
}

fn job(state: JobState, attempt: u32, finished_for: Option<Duration>) -> Option<JobView> {
    Some(JobView {
        state,
        attempt,
        finished_for,
    })
}

fn machine(attempt: u32, age_min: u32, job: Option<JobView>, agent: AgentView) -> MachineView {
    MachineView {
        attempt: Some(attempt),
        age: Some(age_min * MIN),
        job,
        agent,
    }
}

#[test]
fn machine_table() {
    use AgentView::{Quiet, Working};
    use JobState as S;
    let o = SweepOptions::default(); // finished grace 2 min, orphan grace 5 min
                                     // (machine, orphan?, expected: 'K'eep, 'E'nd, 'S'pare, reason fragment)
    let rows = [
        (
            machine(1, 30, job(S::Running, 1, None), Quiet),
            false,
            'K',
            "",
        ),
        (
            machine(1, 30, job(S::Running, 1, None), Working),
            false,
            'K',
            "",
        ),
        // Issue 9: a long job inside max_runtime is never ended, even when its job looks old.
        (
            machine(1, 119, job(S::Running, 1, None), Working),
            false,
            'K',
            "",
        ),
        (
            machine(1, 121, job(S::Running, 1, None), Working),
            false,
            'E',
            "max_runtime",
        ),
        (
            machine(1, 30, job(S::Completed, 1, Some(MIN)), Quiet),
            false,
            'K',
            "",
        ),
        (
            machine(1, 30, job(S::Completed, 1, Some(3 * MIN)), Quiet),
            false,
            'E',
            "finished 3m ago (completed",
        ),
        (
            machine(1, 30, job(S::Cancelled, 1, Some(3 * MIN)), Working),
            false,
            'S',
            "job in progress",
        ),
        (
            machine(1, 30, job(S::Completed, 1, None), Quiet),
            false,
            'E',
            "completed",
        ),
        (
            machine(1, 3, job(S::Completed, 1, None), Quiet),
            false,
            'K',
            "",
        ),
        (
            machine(1, 1, job(S::Launching, 2, None), Quiet),
            false,
            'E',
            "attempt 1",
        ),
        (
            machine(1, 1, job(S::Running, 2, None), Working),
            false,
            'S',
            "requeued",
        ),
        (
            machine(2, 1, job(S::Launching, 2, None), Quiet),
            true,
            'K',
            "",
        ),
        (machine(1, 4, None, Quiet), true, 'K', ""),
        (machine(1, 6, None, Quiet), true, 'E', "orphan: up for 6m"),
        (
            machine(1, 6, job(S::Failed, 1, Some(3 * MIN)), Quiet),
            true,
            'E',
            "orphan: its job finished 3m ago (failed",
        ),
    ];
    for (i, (m, orphan, want, fragment)) in rows.into_iter().enumerate() {
        let v = machine_verdict(&m, &limits(), &o, orphan);
        let (got, text) = match &v {
            Verdict::Keep => ('K', String::new()),
            Verdict::End(r) => ('E', r.clone()),
            Verdict::Spare(r) => ('S', r.clone()),
        };
        assert_eq!(got, want, "row {i}: {m:?} → {v:?}");
        assert!(
            text.contains(fragment),
            "row {i}: {text:?} lacks {fragment:?}"
        );
    }
    let unknown_age = MachineView {
        attempt: None,
        age: None,
        job: None,
        agent: AgentView::Quiet,
    };
    assert_eq!(
        machine_verdict(&unknown_age, &limits(), &o, true),
        Verdict::Keep
    );
}

fn session(phase: AgentPhase, registered: Option<i64>, started: Option<i64>) -> AgentSession {
    AgentSession {
        job: JobId(1),
        attempt: 1,
        phase,
        redeemed_at: Timestamp::from_millis(0),
        last_seen_at: Timestamp::from_millis(started.or(registered).unwrap_or(0)),
        registered_at: registered.map(Timestamp::from_millis),
        job_started_at: started.map(Timestamp::from_millis),
        finished_at: None,
        exit_code: None,
    }
}

#[test]
fn zombies_are_registered_idle_sessions_past_the_timeout() {
    let idle = 10 * MIN;
    let now = Timestamp::from_millis(0).plus(11 * MIN);
    let registered = session(AgentPhase::Registered, Some(0), None);
    assert_eq!(zombie_for(&registered, now, idle), Some(11 * MIN));
    let young = Timestamp::from_millis(0).plus(9 * MIN);
    assert_eq!(zombie_for(&registered, young, idle), None);
    let started = session(AgentPhase::JobStarted, Some(0), Some(1_000));
    assert_eq!(zombie_for(&started, now, idle), None);
    let booted = session(AgentPhase::Booted, None, None);
    assert_eq!(zombie_for(&booted, now, idle), None);
    let mut finished = registered.clone();
    finished.finished_at = Some(now);
    assert_eq!(zombie_for(&finished, now, idle), None);
}

#[test]
fn working_agents_report_recently() {
    let l = limits(); // heartbeat 15 s → silence 1 min
    let s = session(AgentPhase::JobStarted, Some(0), Some(0));
    let t = |s: u32| Timestamp::from_millis(0).plus(s * Duration::from_secs(1));
    assert_eq!(
        agent_view(Some(&s), t(59), agent_silence(&l)),
        AgentView::Working
    );
    assert_eq!(
        agent_view(Some(&s), t(61), agent_silence(&l)),
        AgentView::Quiet
    );
    let r = session(AgentPhase::Registered, Some(0), None);
    assert_eq!(
        agent_view(Some(&r), t(1), agent_silence(&l)),
        AgentView::Quiet
    );
    assert_eq!(agent_view(None, t(1), agent_silence(&l)), AgentView::Quiet);
}

#[test]
fn zombie_job_actions() {
    use JobState as S;
    let w = "runner x registered but received no job within 10m";
    assert_eq!(
        zombie_job(w, S::Launching, 1, 1, 3),
        JobAction::Requeue(format!("{w}; requeued"))
    );
    assert!(
        matches!(zombie_job(w, S::Launching, 3, 3, 3), JobAction::Fail(r) if r.contains("max_attempts 3"))
    );
    assert!(
        matches!(zombie_job(w, S::Running, 1, 1, 3), JobAction::Note(r) if r.contains("another runner"))
    );
    assert!(
        matches!(zombie_job(w, S::Launching, 2, 1, 3), JobAction::Note(r) if r.contains("attempt 2"))
    );
    assert!(
        matches!(zombie_job(w, S::Completed, 1, 1, 3), JobAction::Note(r) if r.contains("completed"))
    );
}

fn runner(id: u64, name: &str, online: bool, busy: bool) -> Runner {
    Runner {
        id,
        name: name.into(),
        online,
        busy,
        labels: vec![],
    }
}

#[test]
fn runner_table() {
    use JobState as S;
    let runners = vec![
        runner(1, "sortie-00000000000000a1-1", false, false), // finished job
        runner(2, "sortie-00000000000000a2-1", true, true),   // finished job but busy
        runner(3, "sortie-00000000000000a3-1", true, false),  // superseded attempt
        runner(4, "sortie-00000000000000a4-2", true, false),  // live attempt
        runner(5, "sortie-00000000000000a5-1", false, false), // unknown, offline
        runner(6, "sortie-00000000000000a6-1", true, false),  // unknown, online
        runner(7, "host-runner", false, false),               // not ours
        runner(8, "sortie-00000000000000a8-1", false, true),  // unknown, busy
    ];
    let owner = |r: &Runner| {
        let job = |state, job_attempt, runner_attempt| RunnerOwner::Job {
            state,
            job_attempt,
            runner_attempt,
        };
        match r.id {
            1 | 2 => job(S::Completed, 1, 1),
            3 => job(S::Launching, 2, 1),
            4 => job(S::Running, 2, 2),
            _ => RunnerOwner::Unknown,
        }
    };
    let got: Vec<(u64, char)> = runner_verdicts(&runners, owner, &HashSet::new())
        .into_iter()
        .map(|(r, v)| {
            let c = match v {
                Verdict::Keep => 'K',
                Verdict::End(_) => 'E',
                Verdict::Spare(_) => 'S',
            };
            (r.id, c)
        })
        .collect();
    assert_eq!(got, vec![(1, 'E'), (2, 'S'), (3, 'E'), (5, 'E')]);
}

#[test]
fn runner_names_and_history() {
    assert_eq!(
        parse_runner_name("sortie-0123456789abcdef-3"),
        Some(("0123456789abcdef", 3))
    );
    assert_eq!(parse_runner_name("sortie-xyz-1"), None);
    assert_eq!(parse_runner_name("other-0123456789abcdef-1"), None);
    let at = Timestamp::from_millis;
    let h = |from: Option<JobState>, to: JobState, ms: i64| HistoryEntry {
        from,
        to,
        event: None,
        reason: String::new(),
        at: at(ms),
    };
    let history = vec![
        h(None, JobState::Queued, 1),
        h(Some(JobState::Queued), JobState::Launching, 2),
        h(Some(JobState::Launching), JobState::Running, 3),
        h(Some(JobState::Running), JobState::Running, 4), // a note
        h(Some(JobState::Running), JobState::Completed, 5),
        h(Some(JobState::Completed), JobState::Completed, 6), // a note
    ];
    assert_eq!(entered(&history, JobState::Running), Some(at(3)));
    assert_eq!(finished_at(&history), Some(at(5)));
    assert_eq!(finished_at(&history[..4]), None);
    assert_eq!(human(Duration::from_secs(3725)), "1h 2m 5s");
    assert_eq!(human(Duration::from_secs(600)), "10m");
    assert_eq!(human(Duration::from_millis(5)), "5ms");
}
