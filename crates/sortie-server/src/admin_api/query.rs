//! What an admin request asks for, decided from its query string and body alone (pure). Every
//! refusal names the parameter and says which values are valid.

use serde::Deserialize;
use sortie_core::job::JobState;
use sortie_store::{InstanceFilter, InstanceState, JobFilter, JobId, Pool};
use std::collections::{BTreeMap, BTreeSet};

/// The query string, one value per name (a repeated name keeps the last).
pub type Params = BTreeMap<String, String>;

/// The largest `limit` accepted: each listed job costs a history lookup.
pub const MAX_LIMIT: u32 = 1000;
/// `GET /api/v1/jobs` without `limit`.
pub const DEFAULT_JOBS_LIMIT: u32 = 100;
/// `GET /api/v1/deliveries` without `limit`.
pub const DEFAULT_DELIVERIES_LIMIT: u32 = 50;

/// `GET /api/v1/jobs?state=&limit=`.
pub fn jobs_filter(params: &Params) -> Result<JobFilter, String> {
    only(params, "/api/v1/jobs", &["state", "limit"])?;
    Ok(JobFilter {
        state: value(params, "state").map(job_state).transpose()?,
        limit: limit(params, DEFAULT_JOBS_LIMIT)?,
    })
}

/// `GET /api/v1/instances?state=&job=`.
pub fn instances_filter(params: &Params) -> Result<InstanceFilter, String> {
    only(params, "/api/v1/instances", &["state", "job"])?;
    Ok(InstanceFilter {
        state: value(params, "state").map(instance_state).transpose()?,
        job: value(params, "job")
            .map(|v| job_id(v).map_err(|e| format!("parameter `job`: {e}")))
            .transpose()?,
    })
}

/// `GET /api/v1/deliveries?limit=`.
pub fn deliveries_limit(params: &Params) -> Result<u32, String> {
    only(params, "/api/v1/deliveries", &["limit"])?;
    limit(params, DEFAULT_DELIVERIES_LIMIT)
}

/// A job id from the path.
pub fn job_id(text: &str) -> Result<JobId, String> {
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(JobId(id)),
        _ => Err(format!(
            "job id {text:?} is not a job id: use the number in the `id` column of `sortie jobs` \
             (or GET /api/v1/jobs)"
        )),
    }
}

/// A job state name.
pub fn job_state(text: &str) -> Result<JobState, String> {
    text.parse::<JobState>().map_err(|_| {
        let valid: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
        format!(
            "parameter `state`: {text:?} is not a job state; use one of {}",
            valid.join(", ")
        )
    })
}

fn instance_state(text: &str) -> Result<InstanceState, String> {
    InstanceState::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| {
            let valid: Vec<&str> = InstanceState::ALL.iter().map(|s| s.as_str()).collect();
            format!(
                "parameter `state`: {text:?} is not an instance state; use one of {}",
                valid.join(", ")
            )
        })
}

/// The body of `PUT /api/v1/pools/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolBody {
    labels: BTreeSet<String>,
    #[serde(default)]
    hot: u32,
    #[serde(default)]
    stopped: u32,
}

/// The pool `PUT /api/v1/pools/{name}` asks for.
pub fn pool(name: &str, body: &[u8]) -> Result<Pool, String> {
    let name_ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(format!(
            "pool name {name:?} is not valid: use 1 to 64 letters, digits, '-', '_' or '.' \
             (it is written in `pool=NAME` labels)"
        ));
    }
    let body: PoolBody = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the body is not a pool: {e}; send JSON like \
             {{\"labels\": [\"self-hosted\", \"go\"], \"hot\": 1, \"stopped\": 2}}"
        )
    })?;
    if body.labels.is_empty() {
        return Err(
            "`labels` is empty: a pool serves the jobs that ask for all its labels, \
                    so give it at least one"
                .into(),
        );
    }
    if let Some(bad) = body
        .labels
        .iter()
        .find(|l| l.is_empty() || l.trim() != l.as_str())
    {
        return Err(format!(
            "label {bad:?} in `labels` is empty or has surrounding spaces"
        ));
    }
    Ok(Pool {
        name: name.to_string(),
        labels: body.labels,
        hot: body.hot,
        stopped: body.stopped,
    })
}

/// An empty value counts as absent (`?state=` from a form's "all" choice).
fn value<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn limit(params: &Params, default: u32) -> Result<u32, String> {
    let Some(text) = value(params, "limit") else {
        return Ok(default);
    };
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!(
            "parameter `limit`: {text:?} is not a number from 1 to {MAX_LIMIT}"
        )),
    }
}

/// Refuses a parameter the route does not know (a typo would otherwise be silently ignored).
fn only(params: &Params, route: &str, known: &[&str]) -> Result<(), String> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(format!(
            "unknown parameter `{k}` for {route}; it takes {}",
            known.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn jobs_filters() {
        let f = jobs_filter(&params(&[])).unwrap();
        assert_eq!((f.state, f.limit), (None, DEFAULT_JOBS_LIMIT));
        let f = jobs_filter(&params(&[("state", "timed_out"), ("limit", "5")])).unwrap();
        assert_eq!((f.state, f.limit), (Some(JobState::TimedOut), 5));
        let f = jobs_filter(&params(&[("state", ""), ("limit", "")])).unwrap();
        assert_eq!((f.state, f.limit), (None, DEFAULT_JOBS_LIMIT));
    }

    #[test]
    fn refusals_name_the_parameter_and_the_valid_values() {
        // (query, fragments of the message)
        type Row<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let rows: [Row; 7] = [
            (
                &[("state", "done")],
                &["`state`", "\"done\"", "queued", "timed_out"],
            ),
            (&[("limit", "0")], &["`limit`", "1 to 1000"]),
            (&[("limit", "1001")], &["`limit`", "1 to 1000"]),
            (&[("limit", "-3")], &["`limit`"]),
            (&[("limit", "ten")], &["`limit`", "\"ten\""]),
            (
                &[("sate", "queued")],
                &["unknown parameter `sate`", "state, limit"],
            ),
            (&[("limit", "5"), ("job", "1")], &["`job`", "/api/v1/jobs"]),
        ];
        for (query, fragments) in rows {
            let e = jobs_filter(&params(query)).unwrap_err();
            for f in fragments {
                assert!(e.contains(f), "{query:?}: {f:?} not in {e:?}");
            }
        }
    }

    #[test]
    fn instances_filters() {
        let f = instances_filter(&params(&[("state", "running"), ("job", "12")])).unwrap();
        assert_eq!(f.state, Some(InstanceState::Running));
        assert_eq!(f.job, Some(JobId(12)));
        let e = instances_filter(&params(&[("state", "queued")])).unwrap_err();
        assert!(
            e.contains("pending, running, stopping, stopped, terminated"),
            "{e}"
        );
        let e = instances_filter(&params(&[("job", "x1")])).unwrap_err();
        assert!(e.contains("parameter `job`"), "{e}");
        assert_eq!(
            deliveries_limit(&params(&[])).unwrap(),
            DEFAULT_DELIVERIES_LIMIT
        );
        assert!(deliveries_limit(&params(&[("state", "x")])).is_err());
    }

    #[test]
    fn job_ids() {
        assert_eq!(job_id("42").unwrap(), JobId(42));
        for bad in ["", "abc", "0", "-1", "1.5", "99999999999999999999"] {
            assert!(job_id(bad).unwrap_err().contains("sortie jobs"), "{bad}");
        }
    }

    #[test]
    fn pools() {
        let p = pool("go-warm", br#"{"labels":["self-hosted","go"],"hot":1}"#).unwrap();
        assert_eq!(p.labels.len(), 2);
        assert_eq!((p.hot, p.stopped), (1, 0));
        let rows: [(&str, &[u8], &str); 7] = [
            ("a/b", br#"{"labels":["go"]}"#, "pool name"),
            ("", br#"{"labels":["go"]}"#, "pool name"),
            ("ok", br#"{"labels":[]}"#, "`labels` is empty"),
            ("ok", br#"{"labels":[" go"]}"#, "surrounding spaces"),
            ("ok", br#"{"labels":["go"],"hot":-1}"#, "not a pool"),
            (
                "ok",
                br#"{"labels":["go"],"warm":1}"#,
                "unknown field `warm`",
            ),
            ("ok", b"labels=go", "send JSON like"),
        ];
        for (name, body, fragment) in rows {
            let e = pool(name, body).unwrap_err();
            assert!(e.contains(fragment), "{name} {body:?}: {e}");
        }
    }
}
