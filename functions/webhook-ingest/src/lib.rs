//! Webhook ingest: verify on the exact raw bytes, normalise, de-duplicate, queue, answer
//! fast. Transport-free: the Lambda `main` and the local host both call [`Ingest::handle`].
//!
//! Answers: 401 for a missing or bad signature (nothing queued); 413 over 256 KB; 200 once
//! the event is on the order queue; a signed but unreadable body or unknown topic is
//! quarantined whole, alerted and answered 200 so the channel stops retrying; 5xx only
//! when queueing (or keeping) it failed, so the channel retries.

use onecount::clock::now_ms;
use std::time::Instant;

use onecount::Channel;
use onecount::alerts::Alert;
use onecount::channels::live::LiveChannels;
use onecount::channels::{ChannelKit, OrderEvent, Parsed, Refusal, Verified};
use onecount::ports::{AlertSink, Inbox, OrderQueue, Quarantined};

/// Bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 256 * 1024;

/// A request as any transport gives it: the body is the exact bytes received.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestResponse {
    pub status: u16,
    /// JSON.
    pub body: String,
}

fn reply(status: u16, body: serde_json::Value) -> IngestResponse {
    IngestResponse {
        status,
        body: body.to_string(),
    }
}

pub struct Ingest<Q, I, A> {
    /// The configured channels, read again every few minutes (a rotated webhook secret is
    /// used without a cold start); a delivery for any other channel is answered 404.
    pub channels: LiveChannels,
    pub queue: Q,
    pub inbox: I,
    pub alerts: A,
}

impl<Q: OrderQueue, I: Inbox, A: AlertSink> Ingest<Q, I, A> {
    pub async fn handle(&self, req: &IngestRequest) -> IngestResponse {
        let started = Instant::now();
        let Some(channel) = route(&req.path) else {
            return reply(404, serde_json::json!({"error": "no such route"}));
        };
        let registry = self.channels.current().await;
        let kit = match registry.kit(channel) {
            Ok(kit) => kit,
            Err(e) => return reply(404, serde_json::json!({"error": e.to_string()})),
        };
        if req.method.eq_ignore_ascii_case("GET")
            && let Some(c) = kit.challenge(req.query.as_deref())
        {
            return reply(c.status, c.body);
        }
        if !req.method.eq_ignore_ascii_case("POST") {
            return reply(405, serde_json::json!({"error": "use POST"}));
        }
        if req.body.len() > MAX_BODY {
            tracing::warn!(channel = %channel, bytes = req.body.len(), "refused: body too large");
            return reply(413, serde_json::json!({"error": "body larger than 256 KB"}));
        }
        let resp = match kit.verify(&req.headers, &req.body, now_ms()).await {
            Ok(v) => self.accept(kit.as_ref(), v, req).await,
            Err(refusal) => {
                let (status, why) = match refusal {
                    Refusal::Unauthorized(e) => (401, format!("signature refused: {e}")),
                    Refusal::Unavailable(why) => (503, why),
                };
                tracing::warn!(channel = %channel, status, reason = %why, "refused");
                reply(status, serde_json::json!({"error": why}))
            }
        };
        tracing::info!(channel = %channel, status = resp.status, elapsed_us = started.elapsed().as_micros() as u64, "webhook answered");
        resp
    }

    async fn accept(
        &self,
        kit: &dyn ChannelKit,
        verified: Verified,
        req: &IngestRequest,
    ) -> IngestResponse {
        let channel = kit.channel();
        let Verified {
            delivery_id: delivery,
            topic,
        } = verified;
        let log = |status: &str| tracing::info!(channel = %channel, delivery_id = %delivery, topic = %topic, outcome = status);
        match self.inbox.delivery_seen(channel, &delivery).await {
            Ok(true) => {
                log("duplicate delivery");
                return reply(200, serde_json::json!({"status": "duplicate"}));
            }
            Ok(false) => {}
            // Not knowing is no reason to refuse: the ledger is idempotent anyway.
            Err(e) => {
                tracing::warn!(channel = %channel, error = %e, "delivery check failed; queueing anyway")
            }
        }
        let parsed = kit.parse(&topic, &req.body);
        match parsed {
            Parsed::Event(action) => {
                let event = OrderEvent {
                    channel,
                    delivery_id: delivery.clone(),
                    topic: topic.clone(),
                    received_at: now_ms(),
                    action,
                };
                if let Err(e) = self.queue.enqueue(&event).await {
                    tracing::error!(channel = %channel, delivery_id = %delivery, error = %e, "could not queue; asking the channel to retry");
                    return reply(
                        503,
                        serde_json::json!({"error": "could not queue the event; please retry"}),
                    );
                }
                if let Err(c) = onecount::crash::at(onecount::crash::INGEST_AFTER_QUEUED) {
                    return reply(500, serde_json::json!({"error": c.to_string()}));
                }
                self.mark(channel, &delivery).await;
                log("queued");
                reply(200, serde_json::json!({"status": "queued"}))
            }
            Parsed::Ignored(why) => {
                self.mark(channel, &delivery).await;
                log("ignored");
                reply(200, serde_json::json!({"status": "ignored", "reason": why}))
            }
            Parsed::Quarantine(reason) => {
                let q = Quarantined::new(channel, &reason, req.headers.clone(), req.body.clone());
                let id = match self.inbox.quarantine(&q).await {
                    Ok(id) => id,
                    Err(e) => {
                        tracing::error!(channel = %channel, delivery_id = %delivery, error = %e, "could not quarantine; asking the channel to retry");
                        return reply(
                            503,
                            serde_json::json!({"error": "could not keep the webhook; please retry"}),
                        );
                    }
                };
                if let Err(e) = self
                    .alerts
                    .publish(&Alert::quarantined_webhook(channel, &reason, &id))
                    .await
                {
                    tracing::error!(channel = %channel, quarantine_id = %id, error = %e, "quarantined, but the alert failed");
                }
                self.mark(channel, &delivery).await;
                tracing::warn!(channel = %channel, delivery_id = %delivery, topic = %topic, quarantine_id = %id, reason = %reason, "quarantined");
                reply(200, serde_json::json!({"status": "quarantined", "id": id}))
            }
        }
    }

    async fn mark(&self, channel: Channel, delivery: &str) {
        if let Err(e) = self.inbox.mark_delivery(channel, delivery).await {
            tracing::warn!(channel = %channel, error = %e, "could not remember the delivery id");
        }
    }
}

/// The channel a webhook route is for: `/webhooks/<channel>`.
fn route(path: &str) -> Option<Channel> {
    path.trim_end_matches('/')
        .strip_prefix("/webhooks/")?
        .parse::<Channel>()
        .ok()
        .filter(|c| c.is_connected())
}

/// The request as API Gateway (HTTP API, payload v2) gave it to Lambda. `lambda_http` has
/// already decoded a base64 body (`isBase64Encoded`), so these are the bytes Shopify signed.
pub fn from_lambda(req: &lambda_http::Request) -> IngestRequest {
    use lambda_http::RequestExt;
    IngestRequest {
        method: req.method().to_string(),
        path: req.raw_http_path().to_string(),
        query: req.uri().query().map(str::to_string),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: req.body().as_ref().to_vec(),
    }
}
