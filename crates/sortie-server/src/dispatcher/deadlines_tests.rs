//! The deadline decision, table-driven: a machine's phase times and the time now in, the verdict
//! out. Times are seconds after the launch.

use super::*;

const S: Duration = Duration::from_secs(1);

fn at(secs: u64) -> Timestamp {
    Timestamp::from_millis(1_000_000).plus(S * secs as u32)
}

fn progress(
    booted: Option<u64>,
    registered: Option<u64>,
    job_started: Option<u64>,
    finished: Option<u64>,
) -> Progress {
    Progress {
        launched: at(0),
        booted: booted.map(at),
        registered: registered.map(at),
        job_started: job_started.map(at),
        finished: finished.map(at),
    }
}

/// ec2's built-in deadlines with the default overall bound: boot 300, register 180, job_start 900.
fn ec2() -> PhaseDeadlines {
    DeadlineSettings::default().resolve("ec2", Duration::from_secs(900))
}

fn missed(phase: Option<Phase>, deadline: Deadline, secs: u64) -> Verdict {
    Verdict::Missed(Miss {
        phase,
        deadline,
        limit: S * secs as u32,
    })
}

fn on_time(phase: Option<Phase>, deadline: Deadline, check_at: u64) -> Verdict {
    Verdict::OnTime {
        phase,
        deadline,
        check_at: at(check_at),
    }
}

#[test]
fn each_phase_is_held_to_its_own_deadline_from_the_phase_before() {
    use Deadline::{Launching, Phase as P};
    use Phase::{Boot, JobStart, Register};
    // (what the machine reported: booted, registered, job started, finished; now; verdict)
    type Row = (Progress, u64, Verdict);
    let rows: [Row; 14] = [
        // Boot: 300 s from the launch.
        (
            progress(None, None, None, None),
            0,
            on_time(Some(Boot), P(Boot), 300),
        ),
        (
            progress(None, None, None, None),
            299,
            on_time(Some(Boot), P(Boot), 300),
        ),
        (
            progress(None, None, None, None),
            300,
            missed(Some(Boot), P(Boot), 300),
        ),
        // Register: 180 s from booting, wherever in the boot deadline that was.
        (
            progress(Some(10), None, None, None),
            100,
            on_time(Some(Register), P(Register), 190),
        ),
        (
            progress(Some(10), None, None, None),
            190,
            missed(Some(Register), P(Register), 180),
        ),
        (
            progress(Some(290), None, None, None),
            400,
            on_time(Some(Register), P(Register), 470),
        ),
        (
            progress(Some(290), None, None, None),
            470,
            missed(Some(Register), P(Register), 180),
        ),
        // A phase done late is done: booted after 350 s (seen late), register is what counts.
        (
            progress(Some(350), None, None, None),
            360,
            on_time(Some(Register), P(Register), 530),
        ),
        // Job start: 900 s from registering, but never past the launch's overall 900 s.
        (
            progress(Some(10), Some(20), None, None),
            500,
            on_time(Some(JobStart), Launching, 900),
        ),
        (
            progress(Some(10), Some(20), None, None),
            900,
            missed(Some(JobStart), Launching, 900),
        ),
        // The overall bound cuts a late phase short.
        (
            progress(Some(290), Some(460), None, None),
            899,
            on_time(Some(JobStart), Launching, 900),
        ),
        // Busy: a runner at work is never ended here, however late.
        (
            progress(Some(10), Some(20), Some(30), None),
            100_000,
            Verdict::Busy,
        ),
        // A runner that exited while this job still waits: only the overall bound.
        (
            progress(Some(10), Some(20), Some(30), Some(40)),
            899,
            on_time(None, Launching, 900),
        ),
        (
            progress(Some(10), Some(20), Some(30), Some(40)),
            900,
            missed(None, Launching, 900),
        ),
    ];
    for (i, (p, now, want)) in rows.into_iter().enumerate() {
        let got = check(&p, at(now), &ec2(), Duration::from_secs(900));
        assert_eq!(got, want, "row {i}: {p:?} at {now}s");
    }
}

#[test]
fn the_overall_bound_wins_when_it_comes_first_and_the_phase_on_a_tie() {
    // launching_timeout 60 s under ec2's boot 300 s: the overall bound ends the machine at 60 s
    // (the seed's behaviour, and what `launching_timeout_secs = 1` tests rely on).
    let d = ec2();
    let never = progress(None, None, None, None);
    assert_eq!(
        check(&never, at(60), &d, Duration::from_secs(60)),
        missed(Some(Phase::Boot), Deadline::Launching, 60)
    );
    // Both at 300 s: the phase's own deadline is named.
    assert_eq!(
        check(&never, at(300), &d, Duration::from_secs(300)),
        missed(Some(Phase::Boot), Deadline::Phase(Phase::Boot), 300)
    );
    // job_start under a longer overall bound is the phase's own.
    let long = DeadlineSettings::default().resolve("ec2", Duration::from_secs(3600));
    let registered = progress(Some(10), Some(20), None, None);
    assert_eq!(long.job_start, Duration::from_secs(3600));
    let custom = PhaseDeadlines {
        job_start: Duration::from_secs(120),
        ..long
    };
    assert_eq!(
        check(&registered, at(140), &custom, Duration::from_secs(3600)),
        missed(Some(Phase::JobStart), Deadline::Phase(Phase::JobStart), 120)
    );
}

#[test]
fn an_on_time_machine_is_looked_at_again_only_after_now() {
    // The dispatcher holds its claim until `check_at`: it must lie in the future, or the claim
    // would lapse at once and the job be looked at in a loop.
    let d = ec2();
    for booted in [None, Some(0), Some(150), Some(299)] {
        for now in (0..1000).step_by(7) {
            let p = progress(booted, None, None, None);
            if let Verdict::OnTime { check_at, .. } = check(&p, at(now), &d, S * 900) {
                assert!(check_at > at(now), "{p:?} at {now}s: {check_at}");
            }
        }
    }
}

#[test]
fn built_in_defaults_per_provider_and_settings_over_them() {
    let overall = Duration::from_secs(900);
    let secs = |d: PhaseDeadlines| {
        (
            d.boot.as_secs(),
            d.register.as_secs(),
            d.job_start.as_secs(),
        )
    };
    let none = DeadlineSettings::default();
    assert_eq!(secs(none.resolve("ec2", overall)), (300, 180, 900));
    assert_eq!(secs(none.resolve("local", overall)), (60, 120, 900));
    // A provider without built-in defaults: only the overall bound.
    assert_eq!(secs(none.resolve("gcp", overall)), (900, 900, 900));
    // job_start follows launching_timeout unless set.
    assert_eq!(secs(none.resolve("ec2", S * 1800)), (300, 180, 1800));
    let mut set = DeadlineSettings::default();
    set.set(Phase::Register, S * 30);
    assert_eq!(set.get(Phase::Register), Some(S * 30));
    assert_eq!(set.get(Phase::Boot), None);
    assert_eq!(secs(set.resolve("ec2", overall)), (300, 30, 900));
    set.set(Phase::JobStart, S * 60);
    assert_eq!(secs(set.resolve("local", overall)), (60, 30, 60));
}

#[test]
fn a_miss_is_described_by_its_phase_and_the_setting_to_change() {
    // (miss, words of the reason)
    let rows: [(Miss, &str); 6] = [
        (
            Miss { phase: Some(Phase::Boot), deadline: Deadline::Phase(Phase::Boot), limit: S * 300 },
            "machine i-1 never asked for its runner credential (did it boot? can it reach the \
             orchestrator's public_url?) within 300s of its launch (deadline deadlines.ec2.boot_secs)",
        ),
        (
            Miss { phase: Some(Phase::Register), deadline: Deadline::Phase(Phase::Register), limit: S * 180 },
            "machine i-1 did not register its runner within 180s of booting (deadline \
             deadlines.ec2.register_secs)",
        ),
        (
            Miss { phase: Some(Phase::JobStart), deadline: Deadline::Phase(Phase::JobStart), limit: S * 120 },
            "machine i-1 registered its runner, which took no job within 120s of registering \
             (deadline deadlines.ec2.job_start_secs)",
        ),
        (
            Miss { phase: Some(Phase::Boot), deadline: Deadline::Launching, limit: S },
            "machine i-1 never asked for its runner credential (did it boot? can it reach the \
             orchestrator's public_url?) within 1s of its launch (deadline \
             dispatch.launching_timeout_secs)",
        ),
        (
            Miss { phase: Some(Phase::Register), deadline: Deadline::Launching, limit: S * 900 },
            "machine i-1 booted but did not register its runner within 900s of its launch \
             (deadline dispatch.launching_timeout_secs)",
        ),
        (
            Miss { phase: None, deadline: Deadline::Launching, limit: S * 900 },
            "machine i-1 ran its runner, which exited without this job starting, within 900s of \
             its launch (deadline dispatch.launching_timeout_secs)",
        ),
    ];
    for (miss, want) in rows {
        assert_eq!(miss.describe("i-1", "ec2"), want);
    }
}

#[test]
fn the_claim_is_held_until_the_next_check_and_at_most_the_cap() {
    let cap = S * 60;
    assert_eq!(recheck_in(at(10), at(40), cap), S * 30);
    assert_eq!(recheck_in(at(10), at(400), cap), cap);
    // Never zero, even when asked about a time already past.
    assert_eq!(recheck_in(at(10), at(10), cap), Duration::from_millis(1));
    assert_eq!(recheck_in(at(10), at(5), cap), Duration::from_millis(1));
}
