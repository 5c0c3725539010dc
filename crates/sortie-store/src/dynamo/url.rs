//! `dynamodb://[KEY_ID:SECRET@]TABLE[?endpoint=URL&region=REGION]` → its parts. Pure.

use crate::error::{redact_url, StoreError};

/// What a `dynamodb://` URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DynamoUrl {
    /// The table name.
    pub table: String,
    /// `?endpoint=`: an endpoint URL overriding the environment's (DynamoDB Local, moto).
    pub endpoint: Option<String>,
    /// `?region=`.
    pub region: Option<String>,
    /// Static access key id and secret from the URL's user info.
    pub credentials: Option<(String, String)>,
}

/// Parses a `dynamodb://` URL. Table names follow DynamoDB's rule: 3–255 characters of
/// `A-Z a-z 0-9 _ - .` (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html>).
pub(super) fn parse(url: &str) -> Result<DynamoUrl, StoreError> {
    let invalid = |reason: String| StoreError::InvalidUrl {
        url: redact_url(url),
        reason,
    };
    let rest = url
        .split_once("://")
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("dynamodb"))
        .map(|(_, rest)| rest)
        .ok_or_else(|| invalid("a DynamoDB URL looks like dynamodb://TABLE".into()))?;
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let (userinfo, table) = match authority.rsplit_once('@') {
        Some((userinfo, table)) => (Some(userinfo), table),
        None => (None, authority),
    };
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !(3..=255).contains(&table.len()) || !table.chars().all(valid_char) {
        return Err(invalid(format!(
            "table name {table:?} must be 3 to 255 characters of A-Z, a-z, 0-9, '_', '-' and '.'"
        )));
    }
    let credentials = match userinfo {
        None => None,
        Some(info) => {
            let (key_id, secret) = info
                .split_once(':')
                .ok_or_else(|| invalid("credentials must be KEY_ID:SECRET@".into()))?;
            Some((decode(key_id), decode(secret)))
        }
    };
    let mut parsed = DynamoUrl {
        table: table.to_string(),
        endpoint: None,
        region: None,
        credentials,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value);
        if value.is_empty() {
            return Err(invalid(format!("query parameter {name:?} has no value")));
        }
        match name {
            "endpoint" => parsed.endpoint = Some(value),
            "region" => parsed.region = Some(value),
            other => {
                return Err(invalid(format!(
                    "unknown query parameter {other:?} (known: endpoint, region)"
                )))
            }
        }
    }
    Ok(parsed)
}

/// Percent-decoding (`%3A` → `:`); a malformed escape is kept as written.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_the_url() {
        let rows = [
            ("dynamodb://sortie-jobs", ("sortie-jobs", None, None, None)),
            ("DynamoDB://t.b_1/", ("t.b_1", None, None, None)),
            (
                "dynamodb://sortie?endpoint=http://127.0.0.1:5000&region=eu-west-1",
                (
                    "sortie",
                    Some("http://127.0.0.1:5000"),
                    Some("eu-west-1"),
                    None,
                ),
            ),
            (
                "dynamodb://k:s%2Fx@sortie?endpoint=http%3A%2F%2Flocalhost%3A8000",
                (
                    "sortie",
                    Some("http://localhost:8000"),
                    None,
                    Some(("k", "s/x")),
                ),
            ),
        ];
        for (input, (table, endpoint, region, creds)) in rows {
            let got = parse(input).unwrap();
            assert_eq!(got.table, table, "{input}");
            assert_eq!(got.endpoint.as_deref(), endpoint, "{input}");
            assert_eq!(got.region.as_deref(), region, "{input}");
            assert_eq!(
                got.credentials
                    .as_ref()
                    .map(|(k, s)| (k.as_str(), s.as_str())),
                creds,
                "{input}"
            );
        }
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_the_secret() {
        let rows = [
            ("dynamodb://ab", "3 to 255 characters"),
            ("dynamodb://has space", "3 to 255 characters"),
            ("dynamodb://", "3 to 255 characters"),
            ("dynamodb://tbl?region=", "has no value"),
            (
                "dynamodb://tbl?profile=x",
                "unknown query parameter \"profile\"",
            ),
            ("dynamodb://justkey@tbl", "KEY_ID:SECRET@"),
            ("postgres://x", "dynamodb://TABLE"),
        ];
        for (input, want) in rows {
            let err = parse(input).unwrap_err();
            assert!(matches!(err, StoreError::InvalidUrl { .. }), "{input}");
            assert!(err.to_string().contains(want), "{input}: {err}");
        }
        let err = parse("dynamodb://id:hunter2@x").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%zz%41"), "%zzA");
    }
}
