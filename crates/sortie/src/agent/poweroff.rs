//! Powering the machine off when the agent ends. EC2 instances are launched with
//! `InstanceInitiatedShutdownBehavior=terminate`, so power-off ends (and stops billing) them.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `command` if given, else `systemctl poweroff`, falling back to `shutdown -h now` when
/// systemd is absent or refuses. Failures are logged: there is nothing else to do about them.
pub(crate) fn power_off(command: Option<&Path>) {
    let candidates: Vec<(String, Vec<&str>)> = match command {
        Some(program) => vec![(program.display().to_string(), vec![])],
        None => vec![
            ("systemctl".into(), vec!["poweroff"]),
            ("shutdown".into(), vec!["-h", "now"]),
        ],
    };
    for (program, args) in candidates {
        tracing::info!("powering off: {program} {}", args.join(" "));
        match Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => return,
            Ok(status) => tracing::warn!("{program} failed ({status})"),
            Err(err) => tracing::warn!("cannot run {program}: {err}"),
        }
    }
    tracing::error!(
        "could not power the machine off; its max runtime tag and sortie's sweep will end it"
    );
}
