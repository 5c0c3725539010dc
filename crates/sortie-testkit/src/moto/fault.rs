//! An SDK HTTP client that answers chosen requests with a recorded AWS response instead of
//! sending them, and passes every other request to the real client (and so to moto).
//!
//! moto cannot refuse spot capacity or throttle; real AWS does both. The fault injector wraps the
//! SDK's HTTP client (the `aws_smithy_runtime_api::client::http::HttpClient` seam) so the SDK
//! parses a genuine AWS error response and the code under test sees exactly what it would see in
//! production. A refused request never reaches moto, so it creates nothing there.

use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Decides whether a fault applies to a request, given its (form-encoded) body.
type Matcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// One injected response: which requests it applies to, what to answer, and how many times.
#[derive(Clone)]
pub struct Fault {
    matcher: Matcher,
    status: u16,
    body: String,
    /// `None`: every matching request; `Some(n)`: the next `n` matching requests.
    remaining: Option<usize>,
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fault")
            .field("status", &self.status)
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl Fault {
    /// Answers requests whose body contains every one of `needles` with `status` and `body`.
    /// EC2 is a query protocol: the body is `Action=RunInstances&...`, so needles such as
    /// `"Action=RunInstances"` and `"InstanceMarketOptions.MarketType=spot"` select requests.
    pub fn when_body_contains(needles: &[&str], status: u16, body: impl Into<String>) -> Fault {
        let needles: Vec<String> = needles.iter().map(|s| s.to_string()).collect();
        Fault {
            matcher: Arc::new(move |b: &str| needles.iter().all(|n| b.contains(n.as_str()))),
            status,
            body: body.into(),
            remaining: None,
        }
    }

    /// Applies to the next `n` matching requests only.
    pub fn times(mut self, n: usize) -> Fault {
        self.remaining = Some(n);
        self
    }
}

/// The recorded shape of an EC2 API error (HTTP 400 or 503), as documented in
/// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html#api-error-response>.
pub fn ec2_error_body(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors>\
         <RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
    )
}

#[derive(Debug, Default)]
struct State {
    faults: Vec<Fault>,
    /// Bodies of every request seen (injected or passed on), for assertions on the wire format.
    seen: Vec<String>,
}

/// The wrapping HTTP client. Cheap to clone; clones share faults and the request log.
#[derive(Clone, Debug)]
pub struct FaultInjector {
    inner: SharedHttpClient,
    state: Arc<Mutex<State>>,
}

impl Default for FaultInjector {
    fn default() -> Self {
        FaultInjector::new()
    }
}

impl FaultInjector {
    /// A pass-through client over the SDK's default HTTPS client (rustls + aws-lc), no faults.
    pub fn new() -> FaultInjector {
        let inner = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https();
        FaultInjector {
            inner,
            state: Arc::default(),
        }
    }

    /// Adds a fault; earlier faults are checked first.
    pub fn push(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.lock().faults.clear();
    }

    /// The bodies of every request seen so far whose body contains `needle`.
    pub fn requests_containing(&self, needle: &str) -> Vec<String> {
        self.lock()
            .seen
            .iter()
            .filter(|b| b.contains(needle))
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the request and returns the injected response for it, if any.
    fn intercept(&self, body: &str) -> Option<(u16, String)> {
        let mut state = self.lock();
        state.seen.push(body.to_string());
        let idx = state.faults.iter().position(|f| (f.matcher)(body))?;
        let fault = &mut state.faults[idx];
        let answer = (fault.status, fault.body.clone());
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                state.faults.remove(idx);
            }
        }
        Some(answer)
    }
}

impl HttpClient for FaultInjector {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(FaultConnector {
            injector: self.clone(),
            inner,
        })
    }
}

#[derive(Debug)]
struct FaultConnector {
    injector: FaultInjector,
    inner: SharedHttpConnector,
}

impl HttpConnector for FaultConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        match self.injector.intercept(&body) {
            Some((status, text)) => {
                let status = match StatusCode::try_from(status) {
                    Ok(status) => status,
                    Err(e) => {
                        return HttpConnectorFuture::ready(Err(ConnectorError::other(
                            e.into(),
                            None,
                        )))
                    }
                };
                let mut response = Response::new(status, SdkBody::from(text));
                response
                    .headers_mut()
                    .insert("content-type", "text/xml;charset=UTF-8");
                HttpConnectorFuture::ready(Ok(response))
            }
            None => self.inner.call(request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_match_by_body_and_run_out() {
        let inj = FaultInjector::new();
        inj.push(
            Fault::when_body_contains(&["Action=RunInstances", "MarketType=spot"], 400, "x")
                .times(2),
        );
        assert!(inj.intercept("Action=RunInstances&MaxCount=1").is_none());
        assert_eq!(
            inj.intercept("Action=RunInstances&InstanceMarketOptions.MarketType=spot")
                .map(|a| a.0),
            Some(400)
        );
        assert!(inj
            .intercept("Action=RunInstances&InstanceMarketOptions.MarketType=spot")
            .is_some());
        assert!(inj
            .intercept("Action=RunInstances&InstanceMarketOptions.MarketType=spot")
            .is_none());
        assert_eq!(inj.requests_containing("MarketType=spot").len(), 3);
    }

    #[test]
    fn error_body_has_code_and_message() {
        let b = ec2_error_body("InsufficientInstanceCapacity", "no c7g.xlarge");
        assert!(b.contains("<Code>InsufficientInstanceCapacity</Code>"));
        assert!(b.contains("<Message>no c7g.xlarge</Message>"));
    }
}
