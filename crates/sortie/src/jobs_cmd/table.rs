//! Aligned text for people (pure). The reason column is always last and never cut: it is the
//! answer to "why is this job not running". Text from the server passes through [`clean`], so a
//! label or reason from a webhook cannot send escape sequences to the terminal.

use sortie_server::admin_api::{InstanceView, JobDetail, JobView};
use std::fmt::Write;

/// `sortie jobs`.
pub fn jobs(jobs: &[JobView]) -> String {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.state.to_string(),
                j.repo.clone(),
                j.labels.join(","),
                j.attempt.to_string(),
                j.updated_at.clone(),
                j.reason.clone(),
            ]
        })
        .collect();
    let header = [
        "ID", "STATE", "REPO", "LABELS", "ATTEMPT", "UPDATED", "REASON",
    ];
    grid(&header, &rows)
}

/// `sortie instances`, and the instances of `sortie jobs show`.
pub fn instances(instances: &[InstanceView]) -> String {
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                i.job.to_string(),
                i.provider.clone(),
                i.provider_id.clone(),
                i.attempt.to_string(),
                i.state.as_str().to_string(),
                i.updated_at.clone(),
            ]
        })
        .collect();
    let header = [
        "ID",
        "JOB",
        "PROVIDER",
        "PROVIDER_ID",
        "ATTEMPT",
        "STATE",
        "UPDATED",
    ];
    grid(&header, &rows)
}

/// `sortie jobs show ID`: the job, then its history, then its instances.
pub fn detail(d: &JobDetail) -> String {
    let j = &d.job;
    let target = j
        .route
        .target
        .as_deref()
        .map(|t| format!(" {t}"))
        .unwrap_or_default();
    let route = format!("{}{target}: {}", api_name(j.route.kind), j.route.reason);
    let fields = [
        ("state", j.state.to_string()),
        ("reason", j.reason.clone()),
        ("key", j.key.clone()),
        ("repo", format!("{} ({})", j.repo, j.forge)),
        ("labels", j.labels.join(",")),
        ("route", route),
        ("attempt", j.attempt.to_string()),
        ("created", j.created_at.clone()),
        ("updated", j.updated_at.clone()),
    ];
    let mut out = format!("job {}\n", j.id);
    for (name, value) in fields {
        let _ = writeln!(out, "  {:<9}{}", format!("{name}:"), clean(&value));
    }
    let history: Vec<Vec<String>> = d
        .history
        .iter()
        .map(|h| {
            vec![
                h.at.clone(),
                h.from.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                h.to.to_string(),
                h.event.map(api_name).unwrap_or_else(|| "-".into()),
                h.reason.clone(),
            ]
        })
        .collect();
    out.push_str("\nhistory\n");
    out.push_str(&grid(&["AT", "FROM", "TO", "EVENT", "REASON"], &history));
    out.push_str("\ninstances\n");
    if d.instances.is_empty() {
        out.push_str("(none)\n");
    } else {
        out.push_str(&instances(&d.instances));
    }
    out
}

/// The name the API uses for an enum value (`unroutable`, `fail`): its serde name.
fn api_name(value: impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "?".into(),
    }
}

/// Columns padded to their widest cell; the last column is not padded.
fn grid(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let last = row.len().saturating_sub(1);
        for (i, (cell, w)) in row.iter().zip(widths.iter().copied()).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ");
            }
        }
        out.push('\n');
    }
    out
}

/// Control characters (escape sequences, newlines) shown escaped instead of interpreted.
fn clean(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sortie_core::forge::Flavor;
    use sortie_core::job::{JobEvent, JobState};
    use sortie_core::route::Route;
    use sortie_server::admin_api::HistoryView;

    fn job(id: i64, reason: &str) -> JobView {
        JobView {
            id,
            key: format!("github:octo/app:run/1/1/job/{id}"),
            repo: "octo/app".into(),
            forge: Flavor::Github,
            labels: vec!["self-hosted".into(), "gpu".into()],
            state: JobState::Failed,
            attempt: 1,
            route: Route::unroutable("unknown label \"gpu\""),
            reason: reason.into(),
            created_at: "2024-05-01T12:00:00.000Z".into(),
            updated_at: "2024-05-01T12:00:01.000Z".into(),
        }
    }

    #[test]
    fn the_jobs_table_aligns_and_ends_with_the_whole_reason() {
        let long = "unroutable: unknown label \"gpu\": add it under [routing.labels]";
        let text = jobs(&[job(7, long), job(12, "queued")]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID  STATE   REPO"), "{text}");
        assert!(lines[0].ends_with("REASON"), "{text}");
        assert!(lines[1].ends_with(long), "{text}");
        let col = |l: &str| l.find("octo/app").unwrap();
        assert_eq!(col(lines[1]), col(lines[2]), "aligned:\n{text}");
    }

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        let text = jobs(&[job(1, "bad\u{1b}[31mred\nnext")]);
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("bad\\u{1b}[31mred\\nnext"), "{text:?}");
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn the_detail_shows_reason_history_and_no_instances() {
        let d = JobDetail {
            job: job(7, "unroutable: unknown label \"gpu\""),
            history: vec![
                HistoryView {
                    from: None,
                    to: JobState::Queued,
                    event: None,
                    reason: "queued".into(),
                    at: "2024-05-01T12:00:00.000Z".into(),
                },
                HistoryView {
                    from: Some(JobState::Queued),
                    to: JobState::Failed,
                    event: Some(JobEvent::Fail),
                    reason: "unroutable: unknown label \"gpu\"".into(),
                    at: "2024-05-01T12:00:01.000Z".into(),
                },
            ],
            instances: vec![],
        };
        let text = detail(&d);
        assert!(
            text.starts_with("job 7\n  state:   failed\n  reason:  unroutable"),
            "{text}"
        );
        assert!(
            text.contains("route:   unroutable: unknown label"),
            "{text}"
        );
        assert!(
            text.contains("queued  failed  fail   unroutable: unknown label \"gpu\"\n"),
            "{text}"
        );
        assert!(text.ends_with("instances\n(none)\n"), "{text}");
    }
}
