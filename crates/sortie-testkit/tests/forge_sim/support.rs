//! A webhook receiver that checks signatures, and a fake runner speaking `/_fake/runner/…`.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use sortie_testkit::forge::webhook::hmac_sha256_hex;
use std::sync::{Arc, Mutex};

/// Which signature header the receiver checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Github,
    /// `X-Gitea-Signature: <hex>` (and `X-Gogs-Signature`).
    Gitea,
    /// Gitea's plus `X-Forgejo-Signature`.
    Forgejo,
}

/// One webhook as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn event(&self) -> String {
        self.header("x-github-event")
            .or(self.header("x-gitea-event"))
            .unwrap_or_default()
            .to_string()
    }
}

/// An axum app that verifies every delivery's HMAC with `webhook::hmac_sha256_hex`, keeps those
/// that verify (answering 200) and refuses the others (401, and remembers them as refused).
pub struct Receiver {
    pub url: String,
    good: Arc<Mutex<Vec<Received>>>,
    refused: Arc<Mutex<usize>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self._task.abort();
    }
}

fn verify(signer: Signer, secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let want = hmac_sha256_hex(secret, body);
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    match signer {
        Signer::Github => h("x-hub-signature-256") == Some(format!("sha256={want}")),
        Signer::Gitea => {
            h("x-gitea-signature") == Some(want.clone()) && h("x-gogs-signature") == Some(want)
        }
        Signer::Forgejo => {
            h("x-forgejo-signature") == Some(want.clone()) && h("x-gitea-signature") == Some(want)
        }
    }
}

impl Receiver {
    pub async fn start(signer: Signer, secret: &str) -> Receiver {
        let good: Arc<Mutex<Vec<Received>>> = Arc::default();
        let refused: Arc<Mutex<usize>> = Arc::default();
        let (g, r, secret) = (good.clone(), refused.clone(), secret.to_string());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (g, r, secret) = (g.clone(), r.clone(), secret.clone());
            async move {
                if !verify(signer, &secret, &headers, &body) {
                    *r.lock().unwrap() += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                    .collect();
                g.lock().unwrap().push(Received {
                    headers,
                    body: body.to_vec(),
                });
                StatusCode::OK
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url,
            good,
            refused,
            _task: task,
        }
    }

    /// Deliveries whose signature verified, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.good.lock().unwrap().clone()
    }

    /// `workflow_job` payloads received: (action, job id).
    pub fn job_events(&self) -> Vec<(String, u64)> {
        self.received()
            .iter()
            .filter(|r| r.event() == "workflow_job")
            .map(|r| {
                let v = r.json();
                (
                    v["action"].as_str().unwrap().to_string(),
                    v["workflow_job"]["id"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    pub fn refused(&self) -> usize {
        *self.refused.lock().unwrap()
    }
}

/// `sortie agent`'s fake-runner side of the protocol.
pub struct Runner {
    base: String,
    http: reqwest::Client,
}

/// Status and JSON body (`Null` when empty).
pub type Answer = (u16, Value);

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, v)
}

impl Runner {
    pub fn new(base: &str) -> Runner {
        Runner {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn connect(&self, credential: Value) -> Answer {
        let url = format!("{}/_fake/runner/connect", self.base);
        answer(
            self.http
                .post(url)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&credential).unwrap())
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Connects and returns the runner id, asserting success.
    pub async fn connected(&self, credential: Value) -> u64 {
        let (status, v) = self.connect(credential).await;
        assert_eq!(status, 200, "{v}");
        v["runner_id"].as_u64().unwrap()
    }

    pub async fn next(&self, runner: u64, wait_ms: u64) -> Answer {
        let url = format!("{}/_fake/runner/{runner}/next?wait_ms={wait_ms}", self.base);
        answer(self.http.post(url).send().await.unwrap()).await
    }

    pub async fn finish(&self, runner: u64, job: u64, conclusion: &str) -> Answer {
        let url = format!("{}/_fake/runner/{runner}/finish", self.base);
        let body = json!({ "job_id": job, "conclusion": conclusion });
        answer(
            self.http
                .post(url)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body).unwrap())
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

/// A GUID as both forges send delivery ids: 8-4-4-4-12 hex.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}
