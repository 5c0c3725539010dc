//! [`StoreError`]: everything that can go wrong in the store, worded for the operator.

use crate::types::{InstanceId, JobId, RegistrationId};

/// An error from the job store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names a backend this build does not have.
    #[error(
        "database URL {url} uses the {scheme}:// backend, which is not supported yet — \
         use sqlite://PATH (embedded, the default) or postgres://USER@HOST/DB"
    )]
    UnsupportedScheme {
        /// The URL with any password removed.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// The URL could not be understood.
    #[error("database URL {url} is invalid: {reason} — expected sqlite://PATH or postgres://USER@HOST/DB")]
    InvalidUrl {
        /// The URL with any password removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be opened or reached.
    #[error("cannot open database {url}: {source} — {hint}")]
    Open {
        /// The URL with any password removed.
        url: String,
        /// What to check.
        hint: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema migrations failed.
    #[error(
        "cannot migrate database {url}: {source} — if another sortie version wrote this database, \
         run the newer one; if a migration file changed after it was applied, restore it"
    )]
    Migrate {
        /// The URL with any password removed.
        url: String,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed.
    #[error(
        "database error while {action}: {source} — check the database is reachable and not full"
    )]
    Query {
        /// What the store was doing.
        action: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A DynamoDB request failed (the `dynamodb://` backend).
    #[error(
        "DynamoDB request failed while {action}: {detail} — check the table exists (`sortie \
         migrate` creates it), the AWS region and credentials, and that the role may use the table"
    )]
    Dynamo {
        /// What the store was doing.
        action: &'static str,
        /// The SDK's error with its causes, on one line.
        detail: String,
        /// The SDK's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored value could not be read back.
    #[error(
        "stored {what} {value:?} cannot be read ({detail}) — was this database written by a newer \
         sortie? Run that version, or migrate"
    )]
    Corrupt {
        /// Which field.
        what: &'static str,
        /// The stored text (truncated).
        value: String,
        /// Why it is unreadable.
        detail: String,
    },
    /// No job with this id.
    #[error("job {0} does not exist — list jobs with `sortie jobs`")]
    JobNotFound(JobId),
    /// No delivery with this id.
    #[error("delivery {forge}/{id} does not exist — it was never stored, or it was pruned")]
    DeliveryNotFound {
        /// The forge.
        forge: String,
        /// The delivery id.
        id: String,
    },
    /// No instance with this id.
    #[error("instance record {0} does not exist — list instances with `sortie instances`")]
    InstanceNotFound(InstanceId),
    /// No runner registration with this id.
    #[error("runner registration {0} does not exist")]
    RegistrationNotFound(RegistrationId),
    /// The backend does not implement this operation yet.
    #[error("the {backend} store does not support {operation} yet — use sqlite:// or postgres://")]
    Unsupported {
        /// The backend.
        backend: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// A second machine for the same job attempt (invariant: one machine per job attempt).
    #[error(
        "job {job} attempt {attempt} already has instance {existing}; refusing to record {new} — \
         terminate {new}, or requeue the job to start a new attempt"
    )]
    InstanceConflict {
        /// The job.
        job: JobId,
        /// The attempt.
        attempt: u32,
        /// The provider id already recorded.
        existing: String,
        /// The provider id refused.
        new: String,
    },
}

impl StoreError {
    /// Wraps a driver error with what the store was doing.
    pub(crate) fn query(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { action, source }
    }

    /// A stored value that does not parse.
    pub(crate) fn corrupt(what: &'static str, value: &str, detail: impl ToString) -> StoreError {
        let mut value = value.to_string();
        if value.len() > 200 {
            let mut cut = 200;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
        }
        StoreError::Corrupt {
            what,
            value,
            detail: detail.to_string(),
        }
    }
}

/// The URL with the password (if any) replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let rows = [
            (
                "postgres://u:secret@db:5432/x",
                "postgres://u:***@db:5432/x",
            ),
            ("postgres://u@db/x", "postgres://u@db/x"),
            (
                "postgres://u:p%40ss@db/x?sslmode=require",
                "postgres://u:***@db/x?sslmode=require",
            ),
            ("sqlite://./sortie.db", "sqlite://./sortie.db"),
            ("not a url", "not a url"),
        ];
        for (input, want) in rows {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn unsupported_scheme_says_what_works() {
        let e = StoreError::UnsupportedScheme {
            url: "dynamodb://t".into(),
            scheme: "dynamodb".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("dynamodb:// backend, which is not supported yet"),
            "{text}"
        );
        assert!(text.contains("sqlite://"), "{text}");
    }

    #[test]
    fn corrupt_values_are_truncated_on_char_boundaries() {
        let e = StoreError::corrupt("labels", &"é".repeat(300), "bad");
        let StoreError::Corrupt { value, .. } = e else {
            panic!("wrong variant")
        };
        assert!(value.len() <= 200);
    }
}
