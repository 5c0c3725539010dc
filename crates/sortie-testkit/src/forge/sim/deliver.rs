//! Webhook deliveries: signed like the real forge, sent one at a time in the order they were
//! made by a background task (so the lock is never held across the network), and recorded.
//!
//! A delivery that cannot reach the receiver is recorded the way GitHub's "Recent Deliveries"
//! shows it: `status_code` 0 and `status` "failed to connect to host". One the receiver answers
//! with a non-2xx status shows `Invalid HTTP Response: <code>`. GitHub waits 10 s for an answer
//! (docs "Handling webhook deliveries": respond within 10 seconds), as does this sender.

use super::super::common::{lock, ServerTask};
use super::super::webhook::Webhook;
use super::{now, splitmix64, SimHost};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// How long the sender waits for the receiver's answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whose headers a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    /// `X-GitHub-*`, `X-Hub-Signature-256`.
    Github,
    /// `X-Gitea-*`, `X-Gogs-*`.
    Gitea,
    /// Gitea's plus `X-Forgejo-*`.
    Forgejo,
}

/// One webhook delivery the fake made, or tried to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Numeric id (GitHub's delivery `id`).
    pub id: u64,
    /// The delivery GUID (`X-GitHub-Delivery` / `X-Gitea-Delivery`); a redelivery keeps it.
    pub guid: String,
    /// `X-GitHub-Event` / `X-Gitea-Event`.
    pub event: String,
    /// The payload's `action`, if any.
    pub action: Option<String>,
    /// Sent again through the redelivery API.
    pub redelivery: bool,
    /// Not sent yet.
    pub pending: bool,
    /// The receiver's HTTP status; 0 when it never answered.
    pub status_code: u16,
    /// `OK`, `Invalid HTTP Response: 500`, `failed to connect to host`, `timed out`, `pending`.
    pub status: String,
    /// When it was made.
    pub delivered_at: OffsetDateTime,
    /// How long the receiver took.
    pub duration: Duration,
    /// Where it went.
    pub url: String,
    /// Request headers, signature included.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Vec<u8>,
    /// The receiver's answer body (truncated to 4 KiB).
    pub response_body: String,
    /// `installation.id` of the payload (GitHub Apps).
    pub installation_id: Option<u64>,
    /// `repository.id` of the payload.
    pub repository_id: Option<u64>,
}

impl Delivery {
    /// Delivered and answered with 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

pub(crate) enum WorkerMsg {
    Send { id: u64, url: String, hook: Webhook },
    Flush(oneshot::Sender<()>),
}

/// Webhook target, the record of deliveries, and the queue to the sender task.
pub(crate) struct Hooks {
    kind: HookKind,
    target: Option<(String, String)>,
    lose_next: usize,
    /// Each delivery (redeliveries too) is lost with this probability in percent, drawn from
    /// the seed in `loss_rng`.
    loss_percent: u64,
    loss_rng: u64,
    deliveries: Vec<Delivery>,
    guid_state: u64,
    pub tx: Option<mpsc::UnboundedSender<WorkerMsg>>,
    /// Deliveries sent at once (1: one by one, in order — the default). GitHub sends them
    /// concurrently and in no guaranteed order.
    pub concurrency: usize,
}

impl Hooks {
    pub(crate) fn new(kind: HookKind) -> Hooks {
        let seed = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
        Hooks {
            kind,
            target: None,
            lose_next: 0,
            loss_percent: 0,
            loss_rng: 0,
            deliveries: Vec::new(),
            guid_state: seed,
            tx: None,
            concurrency: 1,
        }
    }

    /// Where deliveries go from now on, and the secret they are signed with.
    pub(crate) fn set_target(&mut self, url: &str, secret: &str) {
        self.target = Some((url.to_string(), secret.to_string()));
    }

    /// The next `n` deliveries are recorded as failed and never sent.
    pub(crate) fn lose_next(&mut self, n: usize) {
        self.lose_next = n;
    }

    /// From now on each delivery is lost with probability `percent` / 100, reproducibly from
    /// `seed` (0 turns it off).
    pub(crate) fn lose_share(&mut self, percent: u64, seed: u64) {
        self.loss_percent = percent.min(100);
        self.loss_rng = seed;
    }

    pub(crate) fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }

    pub(crate) fn delivery(&self, id: u64) -> Option<&Delivery> {
        self.deliveries.iter().find(|d| d.id == id)
    }

    /// A random version-4 UUID, as both forges use for delivery ids.
    fn guid(&mut self) -> String {
        let a = splitmix64(&mut self.guid_state);
        let b = splitmix64(&mut self.guid_state);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    fn sign(&self, event: &str, guid: &str, secret: &str, body: Vec<u8>) -> Webhook {
        match self.kind {
            HookKind::Github => Webhook::github(event, guid, secret, body),
            HookKind::Gitea => Webhook::gitea(event, event, guid, secret, body),
            HookKind::Forgejo => Webhook::forgejo(event, event, guid, secret, body),
        }
    }

    /// Records and queues a delivery; `None` when no webhook target is set (nothing to send).
    pub(crate) fn enqueue(
        &mut self,
        event: &str,
        action: Option<&str>,
        body: Vec<u8>,
        installation_id: Option<u64>,
        repository_id: Option<u64>,
    ) -> Option<u64> {
        let guid = self.guid();
        self.send(
            event,
            action,
            guid,
            false,
            body,
            installation_id,
            repository_id,
        )
    }

    /// Sends delivery `id` again with the same GUID, as GitHub's redelivery does.
    pub(crate) fn redeliver(&mut self, id: u64) -> Option<u64> {
        let d = self.delivery(id)?.clone();
        self.send(
            &d.event,
            d.action.as_deref(),
            d.guid,
            true,
            d.body,
            d.installation_id,
            d.repository_id,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        event: &str,
        action: Option<&str>,
        guid: String,
        redelivery: bool,
        body: Vec<u8>,
        installation_id: Option<u64>,
        repository_id: Option<u64>,
    ) -> Option<u64> {
        let (url, secret) = self.target.clone()?;
        let hook = self.sign(event, &guid, &secret, body);
        let id = self.deliveries.len() as u64 + 1;
        let drawn =
            self.loss_percent > 0 && splitmix64(&mut self.loss_rng) % 100 < self.loss_percent;
        let lost = self.lose_next > 0 || drawn;
        self.lose_next = self.lose_next.saturating_sub(1);
        self.deliveries.push(Delivery {
            id,
            guid,
            event: event.to_string(),
            action: action.map(String::from),
            redelivery,
            pending: !lost,
            status_code: 0,
            status: if lost { CONNECT_FAILED } else { "pending" }.into(),
            delivered_at: now(),
            duration: Duration::ZERO,
            url: url.clone(),
            headers: hook.headers.clone(),
            body: hook.body.clone(),
            response_body: String::new(),
            installation_id,
            repository_id,
        });
        if !lost {
            if let Some(tx) = &self.tx {
                let _ = tx.send(WorkerMsg::Send { id, url, hook });
            }
        }
        Some(id)
    }

    fn record(&mut self, id: u64, outcome: Outcome) {
        if let Some(d) = self.deliveries.iter_mut().find(|d| d.id == id) {
            d.pending = false;
            d.status_code = outcome.status_code;
            d.status = outcome.status;
            d.duration = outcome.duration;
            d.response_body = outcome.body;
        }
    }
}

const CONNECT_FAILED: &str = "failed to connect to host";

struct Outcome {
    status_code: u16,
    status: String,
    duration: Duration,
    body: String,
}

async fn deliver(client: &reqwest::Client, url: &str, hook: &Webhook) -> Outcome {
    let started = Instant::now();
    let mut req = client.post(url).body(hook.body.clone());
    for (k, v) in &hook.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let result = tokio::time::timeout(DELIVERY_TIMEOUT, async {
        let resp = req.send().await?;
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok::<_, reqwest::Error>((code, text))
    })
    .await;
    let duration = started.elapsed();
    let (status_code, status, body) = match result {
        Ok(Ok((code, text))) => {
            let status = if (200..300).contains(&code) {
                "OK".to_string()
            } else {
                format!("Invalid HTTP Response: {code}")
            };
            let mut text = text;
            if text.len() > 4096 {
                let cut = (0..=4096)
                    .rev()
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(0);
                text.truncate(cut);
            }
            (code, status, text)
        }
        Ok(Err(_)) => (0, CONNECT_FAILED.to_string(), String::new()),
        Err(_) => (0, "timed out".to_string(), String::new()),
    };
    Outcome {
        status_code,
        status,
        duration,
        body,
    }
}

/// Starts the task that sends deliveries of `state` one by one; the task stops when the
/// returned handle is dropped.
pub(crate) fn spawn_worker<H: SimHost>(state: Arc<Mutex<H>>) -> ServerTask {
    let (tx, mut rx) = mpsc::unbounded_channel::<WorkerMsg>();
    lock(&state).sim().hooks.tx = Some(tx);
    ServerTask::spawn(async move {
        let client = reqwest::Client::new();
        let mut in_flight = tokio::task::JoinSet::new();
        while let Some(msg) = rx.recv().await {
            match msg {
                WorkerMsg::Send { id, url, hook } => {
                    let limit = lock(&state).sim().hooks.concurrency.max(1);
                    while in_flight.len() >= limit {
                        in_flight.join_next().await;
                    }
                    let (client, state) = (client.clone(), state.clone());
                    in_flight.spawn(async move {
                        let outcome = deliver(&client, &url, &hook).await;
                        lock(&state).sim().hooks.record(id, outcome);
                    });
                    if limit == 1 {
                        // One by one, in order.
                        in_flight.join_next().await;
                    }
                }
                WorkerMsg::Flush(done) => {
                    while in_flight.join_next().await.is_some() {}
                    let _ = done.send(());
                }
            }
        }
    })
}

/// Waits until every delivery queued before this call has been sent (or failed).
pub(crate) async fn flush<H: SimHost>(state: &Arc<Mutex<H>>) {
    let (done, wait) = oneshot::channel();
    let sent = lock(state)
        .sim()
        .hooks
        .tx
        .as_ref()
        .is_some_and(|tx| tx.send(WorkerMsg::Flush(done)).is_ok());
    if sent {
        let _ = wait.await;
    }
}
