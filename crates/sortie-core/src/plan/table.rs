//! The plan for people: `sortie plan --format table`.

use super::Plan;
use crate::route::RouteKind;
use std::fmt::Write;

impl Plan {
    /// Renders the plan as aligned text: one block per workflow, one line per job.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let git_ref = self.git_ref.as_deref().unwrap_or("-");
        let _ = writeln!(out, "{} {} {}", self.forge, self.event, git_ref);
        for wf in &self.workflows {
            let mark = if wf.triggered { "RUN " } else { "skip" };
            let _ = writeln!(out, "\n{mark} {}\n     {}", wf.path, wf.reason);
            let width = wf
                .jobs
                .iter()
                .map(|j| j.name.chars().count())
                .max()
                .unwrap_or(0);
            for job in &wf.jobs {
                let target = job.route.target.as_deref().unwrap_or("-");
                let kind = match job.route.kind {
                    RouteKind::Provider => "provider",
                    RouteKind::Pool => "pool",
                    RouteKind::Skip => "skip",
                    RouteKind::Unroutable => "UNROUTABLE",
                };
                let types = job
                    .spec
                    .as_ref()
                    .map(|s| {
                        s.instance_types
                            .iter()
                            .take(3)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "     - {:<width$}  [{}]  → {kind} {target} {types}\n         {}",
                    job.name,
                    job.runs_on.join(", "),
                    job.route.reason,
                );
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(out, "\nerrors:");
            for e in &self.errors {
                let _ = writeln!(out, "  {}:{}:{}: {}", e.path, e.line, e.column, e.message);
            }
        }
        out
    }
}
