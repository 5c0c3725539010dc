//! An SDK HTTP client that sends one request at a time to moto.
//!
//! moto's server (5.2) handles requests on threads without a lock, so a conditional write is not
//! atomic under concurrency: its "read item, check condition, write" can interleave with another
//! request's. Eight threads racing one `UpdateItem ... ConditionExpression attribute_not_exists`
//! on a fresh item each round let two of them win in about one round in thirty (measured against
//! `moto_server` 5.2.1 on this machine); the conformance suite's eight dispatchers then claim a
//! job twice. On AWS a conditional write is atomic per item
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate>).
//! Serialising the requests of one store restores that atomicity without touching the store's
//! own concurrency: its tasks still race, and still lose conditions to each other. The same holds
//! for EC2's "adopt the machine tagged with this job, else launch" under concurrency.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Wraps an SDK HTTP client so that one request at a time reaches moto; clones share one lock.
#[derive(Debug, Clone)]
pub struct SerialClient {
    inner: SharedHttpClient,
    lock: Arc<Mutex<()>>,
}

impl SerialClient {
    /// Wraps `inner`.
    pub fn new(inner: SharedHttpClient) -> Self {
        SerialClient {
            inner,
            lock: Arc::default(),
        }
    }
}

impl HttpClient for SerialClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(SerialConnector {
            inner: self.inner.http_connector(settings, components),
            lock: self.lock.clone(),
        })
    }
}

#[derive(Debug)]
struct SerialConnector {
    inner: SharedHttpConnector,
    lock: Arc<Mutex<()>>,
}

impl HttpConnector for SerialConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, lock) = (self.inner.clone(), self.lock.clone());
        HttpConnectorFuture::new(async move {
            // Held until moto's response arrives: moto has applied the request by then.
            let _turn = lock.lock().await;
            inner.call(request).await
        })
    }
}
