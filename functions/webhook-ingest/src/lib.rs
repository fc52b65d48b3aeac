//! Webhook ingest: verify on the exact raw bytes, normalise, de-duplicate, queue, answer
//! fast. Transport-free: the Lambda `main` and the local host both call [`Ingest::handle`].
//!
//! Answers: 401 for a missing or bad signature (nothing queued); 413 over 256 KB; 200 once
//! the event is on the order queue; a signed but unreadable body or unknown topic is
//! quarantined whole, alerted and answered 200 so the channel stops retrying; 5xx only
//! when queueing (or keeping) it failed, so the channel retries.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use onecount::Channel;
use onecount::alerts::Alert;
use onecount::channels::config::ChannelsConfig;
use onecount::channels::ebay::{EbayClient, PublicKey};
use onecount::channels::{HttpError, OrderEvent, Parsed, SigError, ebay, etsy, shopify};
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

/// Where eBay public keys come from (the eBay API, cached; a fake in tests).
#[async_trait]
pub trait EbayKeys: Send + Sync {
    async fn key(&self, kid: &str) -> Result<PublicKey, HttpError>;
}

#[async_trait]
impl EbayKeys for EbayClient {
    async fn key(&self, kid: &str) -> Result<PublicKey, HttpError> {
        self.public_key(kid).await
    }
}

pub struct Ingest<Q, I, A> {
    pub channels: ChannelsConfig,
    pub queue: Q,
    pub inbox: I,
    pub alerts: A,
    pub ebay: Option<Box<dyn EbayKeys>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Why a request was refused before its body was used.
enum Refusal {
    Status(u16, String),
}

impl<Q: OrderQueue, I: Inbox, A: AlertSink> Ingest<Q, I, A> {
    pub async fn handle(&self, req: &IngestRequest) -> IngestResponse {
        let started = Instant::now();
        let channel = match req.path.trim_end_matches('/') {
            "/webhooks/shopify" => Channel::Shopify,
            "/webhooks/etsy" => Channel::Etsy,
            "/webhooks/ebay" => Channel::Ebay,
            _ => return reply(404, serde_json::json!({"error": "no such route"})),
        };
        if channel == Channel::Ebay && req.method.eq_ignore_ascii_case("GET") {
            return self.ebay_challenge(req);
        }
        if !req.method.eq_ignore_ascii_case("POST") {
            return reply(405, serde_json::json!({"error": "use POST"}));
        }
        if req.body.len() > MAX_BODY {
            tracing::warn!(channel = %channel, bytes = req.body.len(), "refused: body too large");
            return reply(413, serde_json::json!({"error": "body larger than 256 KB"}));
        }
        let resp = match self.verified(channel, req).await {
            Ok((delivery, topic)) => self.accept(channel, delivery, topic, req).await,
            Err(Refusal::Status(status, why)) => {
                tracing::warn!(channel = %channel, status, reason = %why, "refused");
                reply(status, serde_json::json!({"error": why}))
            }
        };
        tracing::info!(channel = %channel, status = resp.status, elapsed_us = started.elapsed().as_micros() as u64, "webhook answered");
        resp
    }

    /// Verify the signature; on success, the delivery id and topic.
    async fn verified(
        &self,
        channel: Channel,
        req: &IngestRequest,
    ) -> Result<(String, String), Refusal> {
        let not_configured =
            |e: onecount::channels::config::NotConfigured| Refusal::Status(404, e.to_string());
        let unauthorized = |e: SigError| Refusal::Status(401, format!("signature refused: {e}"));
        let h = &req.headers;
        match channel {
            Channel::Shopify => {
                let cfg = self.channels.shopify().map_err(not_configured)?;
                let mut secrets = vec![cfg.webhook_secret.expose().as_bytes()];
                if let Some(prev) = &cfg.previous_webhook_secret {
                    secrets.push(prev.expose().as_bytes());
                }
                shopify::verify(h, &req.body, &secrets).map_err(unauthorized)?;
                let topic = onecount::channels::Headers::get(h, shopify::TOPIC_HEADER)
                    .unwrap_or("")
                    .to_string();
                let id = shopify::delivery_id(h)
                    .unwrap_or_else(|| format!("sha:{}", &shopify::sign(b"id", &req.body)));
                Ok((id, topic))
            }
            Channel::Etsy => {
                let cfg = self.channels.etsy().map_err(not_configured)?;
                etsy::verify(h, &req.body, cfg.webhook_secret.expose(), now_ms() / 1000)
                    .map_err(unauthorized)?;
                let id = onecount::channels::Headers::get(h, etsy::ID_HEADER)
                    .unwrap_or("")
                    .to_string();
                let topic = serde_json::from_slice::<serde_json::Value>(&req.body)
                    .ok()
                    .and_then(|v| {
                        v.get("event_type")
                            .and_then(|t| t.as_str())
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                Ok((id, topic))
            }
            Channel::Ebay => {
                self.channels.ebay().map_err(not_configured)?;
                let header =
                    ebay::parse_header(onecount::channels::Headers::get(h, ebay::SIGNATURE_HEADER))
                        .map_err(unauthorized)?;
                let keys = self
                    .ebay
                    .as_ref()
                    .ok_or_else(|| Refusal::Status(500, "eBay key client missing".into()))?;
                let key = match keys.key(&header.kid).await {
                    Ok(k) => k,
                    Err(HttpError::Permanent { .. }) => {
                        return Err(unauthorized(SigError::UnknownKey(header.kid.clone())));
                    }
                    // Cannot verify now: let eBay retry.
                    Err(e) => {
                        return Err(Refusal::Status(
                            503,
                            format!("cannot fetch the eBay public key: {e}"),
                        ));
                    }
                };
                ebay::verify_with_key(&req.body, &header, &key).map_err(unauthorized)?;
                let id = ebay::delivery_id(&req.body)
                    .unwrap_or_else(|| format!("kid:{}:{}", header.kid, &header.signature));
                Ok((id, ebay::topic(&req.body).unwrap_or_default()))
            }
            Channel::Offline => Err(Refusal::Status(404, "no such route".into())),
        }
    }

    async fn accept(
        &self,
        channel: Channel,
        delivery: String,
        topic: String,
        req: &IngestRequest,
    ) -> IngestResponse {
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
        let parsed = match channel {
            Channel::Shopify => {
                let test_ok = self
                    .channels
                    .shopify
                    .as_ref()
                    .is_some_and(|c| c.process_test_orders);
                shopify::parse(&topic, &req.body, test_ok)
            }
            Channel::Etsy => etsy::parse(&req.body),
            _ => ebay::parse(&req.body),
        };
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

    /// eBay's endpoint check: `GET ?challenge_code=…`.
    fn ebay_challenge(&self, req: &IngestRequest) -> IngestResponse {
        let Ok(cfg) = self.channels.ebay() else {
            return reply(404, serde_json::json!({"error": "ebay is not configured"}));
        };
        let code = req
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("challenge_code="))
            .filter(|c| !c.is_empty());
        match code {
            Some(code) => reply(
                200,
                serde_json::json!({
                    "challengeResponse": ebay::challenge_response(code, cfg.verification_token.expose(), &cfg.endpoint_url)
                }),
            ),
            None => reply(400, serde_json::json!({"error": "missing challenge_code"})),
        }
    }
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
