//! Telling the hosting platform: every state change of a node is POSTed as JSON to `[webhook] url`, so
//! the platform that hands servers to customer accounts learns of a ready server or a failed one without
//! polling. Each body is signed, HMAC-SHA256 with `[webhook] secret`, in `X-Rackhand-Signature:
//! sha256=<hex>` (the receiver recomputes it over the raw body, as for GitHub's webhooks).
//!
//! Never blocking the lifecycle: the node service only queues a notice ([`Webhook::notify`], which never
//! waits); one thread delivers them in order, retrying a failed delivery (no answer, or not 2xx) with
//! doubling waits ([`backoff`]) up to [`WebhookConfig::attempts`] times before it logs it as lost. The
//! queue is in memory: notices queued when the service stops are lost (the node API still has every
//! change).

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

use hmac::{KeyInit, Mac};
use jiff::Timestamp;
use rackhand_api::{NodeId, NodeState};
use serde::Serialize;

use crate::token::Secret;

/// Notices waiting beyond this are dropped (and said), never waited for.
const QUEUE: usize = 10_000;

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: Secret,
    /// Tries per notice, the first included.
    pub attempts: u32,
    /// The wait after the first failed try; doubled after each, up to a minute.
    pub first_retry: Duration,
    /// How long one try may take.
    pub timeout: Duration,
}

impl WebhookConfig {
    pub fn new(url: String, secret: Secret) -> Self {
        WebhookConfig {
            url,
            secret,
            attempts: 8,
            first_retry: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One state change (`state_changed`), or a change in what is wrong with a ready server
/// (`health_changed`: its BMC's problems, empty once mended), as the platform receives it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Notice {
    /// `state_changed` or `health_changed`.
    pub kind: String,
    pub node: NodeId,
    /// The node's name as technicians read it (`rack1-u2 (node 3)`).
    pub label: String,
    pub from: Option<NodeState>,
    pub to: NodeState,
    pub reason: Option<String>,
    /// `health_changed`: what is wrong now, each with its fix (empty: nothing is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<rackhand_api::Problem>>,
    pub at: Timestamp,
}

/// `sha256=<hex>`: the signature of `body` with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before try `attempt + 1` (after `attempt` failed tries, from 1): `first`, doubled each time,
/// at most a minute.
pub fn backoff(first: Duration, attempt: u32) -> Duration {
    let doubled = first.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX));
    doubled.min(Duration::from_secs(60))
}

/// The queue to the delivering thread.
#[derive(Clone)]
pub struct Webhook {
    queue: SyncSender<Notice>,
}

impl Webhook {
    /// Start the delivering thread.
    pub fn start(config: WebhookConfig) -> Webhook {
        let (queue, notices) = std::sync::mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("webhook".into())
            .spawn(move || deliver_all(&config, notices))
            .expect("starting the webhook thread");
        Webhook { queue }
    }

    /// Queue a notice; never waits.
    pub fn notify(&self, notice: Notice) {
        match self.queue.try_send(notice) {
            Ok(()) => {}
            Err(TrySendError::Full(notice)) => {
                tracing::error!(node = %notice.node, to = %notice.to, "webhook queue full: notice dropped");
            }
            Err(TrySendError::Disconnected(_)) => tracing::error!("webhook thread stopped: notice dropped"),
        }
    }
}

fn deliver_all(config: &WebhookConfig, notices: Receiver<Notice>) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(config.timeout)).build().into();
    let mut delivery: u64 = 0;
    for notice in notices {
        delivery += 1;
        let body = serde_json::to_vec(&notice).expect("a notice serialises");
        let signature = sign(config.secret.expose(), &body);
        let id = format!("{}-{delivery}", std::process::id());
        for attempt in 1..=config.attempts.max(1) {
            let sent = agent
                .post(&config.url)
                .header("content-type", "application/json")
                .header("x-rackhand-event", &notice.kind)
                .header("x-rackhand-delivery", &id)
                .header("x-rackhand-signature", &signature)
                .send(&body[..]);
            let failed = match sent {
                Ok(response) if response.status().is_success() => None,
                Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
                Err(error) => Some(error.to_string()),
            };
            let Some(why) = failed else { break };
            if attempt == config.attempts.max(1) {
                tracing::error!(node = %notice.node, to = %notice.to, url = %config.url, %why, attempt,
                    "webhook not delivered: given up");
                break;
            }
            let wait = backoff(config.first_retry, attempt);
            tracing::warn!(node = %notice.node, url = %config.url, %why, attempt, ?wait, "webhook failed: retrying");
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests;
