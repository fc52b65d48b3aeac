//! Channel sandboxes: fake Shopify, Etsy and eBay servers on loopback, faithful where
//! onecount depends on them. Each holds listings with its *own* displayed quantity, sells
//! only what it displays (and decrements it, as the real channels do), and delivers
//! signed webhooks the way the real one signs them, with knobs for duplicate, delayed
//! (hence reordered) and lost deliveries. Control endpoints live under `/_sim/`.
//!
//! - Shopify: `X-Shopify-Hmac-Sha256` webhooks (`orders/create`, `orders/cancelled`,
//!   `refunds/create`) with a stable `X-Shopify-Event-Id` across duplicate deliveries.
//! - Etsy: Standard Webhooks pointer payloads (`order.paid`, `order.canceled`) and the
//!   receipts they point at, behind `x-api-key: keystring:shared_secret` + Bearer.
//! - eBay: `ORDER_CONFIRMATION` per line item signed with a real P-256 key
//!   (SHA1withECDSA), the public key by kid, OAuth tokens and `getOrder`.

pub mod catalog;
pub mod ebay;
pub mod etsy;
pub mod shopify;
pub mod tokens;

pub(crate) use onecount::clock::now_ms;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// How a webhook is delivered.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DeliveryKnobs {
    /// How many times the same delivery is sent (duplicates).
    pub deliveries: u32,
    /// Wait before delivering (reorders events relative to later ones).
    pub delay_ms: u64,
    /// Never deliver (a lost webhook).
    pub lose: bool,
}

impl Default for DeliveryKnobs {
    fn default() -> Self {
        DeliveryKnobs {
            deliveries: 1,
            delay_ms: 0,
            lose: false,
        }
    }
}

/// A record of one delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub topic: String,
    pub delivery_id: String,
    pub status: u16,
}

/// Where the sandboxes send webhooks, and the secrets they sign with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// e.g. `http://127.0.0.1:8080`; webhooks go to `{base}/webhooks/{channel}`.
    pub webhook_base: String,
    pub shopify_secret: String,
    pub etsy_secret: String,
    pub etsy_keystring: String,
    pub etsy_shared_secret: String,
    pub etsy_token: String,
    pub etsy_refresh_token: String,
    pub ebay_client_id: String,
    pub ebay_client_secret: String,
    pub ebay_refresh_token: String,
    pub shopify_token: String,
    /// A Dev Dashboard app's credentials (client credentials grant).
    pub shopify_client_id: String,
    pub shopify_client_secret: String,
}

impl SimConfig {
    /// Fresh random secrets, delivering to `webhook_base`.
    pub fn random(webhook_base: &str) -> SimConfig {
        let r = || uuid::Uuid::new_v4().simple().to_string();
        use base64::Engine;
        SimConfig {
            webhook_base: webhook_base.trim_end_matches('/').to_string(),
            shopify_secret: format!("shpss_{}", r()),
            etsy_secret: format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(r())
            ),
            etsy_keystring: r()[..24].to_string(),
            etsy_shared_secret: r()[..10].to_string(),
            etsy_token: format!("5550001.{}", r()),
            etsy_refresh_token: format!("5550001.r{}", r()),
            ebay_client_id: format!("onecount-{}", &r()[..8]),
            ebay_client_secret: format!("PRD-{}", r()),
            ebay_refresh_token: format!("v^1.1#i^1#r^1#{}", r()),
            shopify_token: format!("shpat_{}", r()),
            shopify_client_id: r(),
            shopify_client_secret: format!("shpss_{}", r()),
        }
    }
}

/// The three sandboxes, running.
pub struct Sandboxes {
    pub shopify: Arc<shopify::Shopify>,
    pub etsy: Arc<etsy::Etsy>,
    pub ebay: Arc<ebay::Ebay>,
    pub shopify_url: String,
    pub etsy_url: String,
    pub ebay_url: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sandboxes {
    /// Each sandbox's name and URL, for a person.
    pub fn urls(&self) -> Vec<String> {
        vec![
            format!("shopify {}", self.shopify_url),
            format!("etsy {}", self.etsy_url),
            format!("ebay {}", self.ebay_url),
        ]
    }

    /// Every sandbox's access tokens end `ttl` after they are issued (and the ones out
    /// now, `ttl` from now).
    pub fn expire_tokens_after(&self, ttl: std::time::Duration) {
        self.shopify.tokens.set_ttl(Some(ttl));
        self.etsy.tokens.set_ttl(Some(ttl));
        self.ebay.tokens.set_ttl(Some(ttl));
    }

    /// Access tokens each sandbox issued: (Shopify grants, Etsy refreshes, eBay grants).
    pub fn tokens_issued(&self) -> [u64; 3] {
        [
            self.shopify.tokens.issued(),
            self.etsy.tokens.issued(),
            self.ebay.tokens.issued(),
        ]
    }

    /// Calls each sandbox refused for a dead or unknown token.
    pub fn tokens_refused(&self) -> [u64; 3] {
        [
            self.shopify.tokens.refused(),
            self.etsy.tokens.refused(),
            self.ebay.tokens.refused(),
        ]
    }

    /// `cfg` with Shopify connected as a Dev Dashboard app: its tokens come from the
    /// client credentials grant instead of a static token.
    pub fn as_dev_app(
        &self,
        mut cfg: onecount::channels::ChannelsConfig,
        sim: &SimConfig,
    ) -> onecount::channels::ChannelsConfig {
        use onecount::Channel;
        use onecount::channels::config::Secret;
        if let Ok(mut s) =
            cfg.section::<onecount::channels::shopify::ShopifyConfig>(Channel::Shopify)
        {
            s.access_token = Secret::default();
            s.client_id = Some(sim.shopify_client_id.clone());
            s.client_secret = Some(Secret::new(&sim.shopify_client_secret));
            cfg.set(Channel::Shopify, &s);
        }
        cfg
    }

    /// The channels configuration that points at these sandboxes; eBay notifications are
    /// verified against `webhook_base/webhooks/ebay`.
    pub fn channels_config(
        &self,
        sim: &SimConfig,
        webhook_base: &str,
    ) -> onecount::channels::ChannelsConfig {
        use onecount::Channel;
        use onecount::channels::config::Secret;
        use onecount::channels::{ebay::EbayConfig, etsy::EtsyConfig, shopify::ShopifyConfig};
        onecount::channels::ChannelsConfig::default()
            .with(
                Channel::Shopify,
                &ShopifyConfig {
                    shop_domain: "onecount-sandbox.myshopify.com".into(),
                    webhook_secret: Secret::new(&sim.shopify_secret),
                    previous_webhook_secret: None,
                    api_base: self.shopify_url.clone(),
                    access_token: Secret::new(&sim.shopify_token),
                    client_id: None,
                    client_secret: None,
                    api_version: "2026-04".into(),
                    location_id: Some("71234567".into()),
                    process_test_orders: false,
                },
            )
            .with(
                Channel::Etsy,
                &EtsyConfig {
                    shop_id: etsy::SHOP_ID.into(),
                    webhook_secret: Secret::new(&sim.etsy_secret),
                    api_base: self.etsy_url.clone(),
                    keystring: sim.etsy_keystring.clone(),
                    shared_secret: Secret::new(&sim.etsy_shared_secret),
                    access_token: Secret::new(&sim.etsy_token),
                    refresh_token: Secret::new(&sim.etsy_refresh_token),
                    renew_sold_out: true,
                },
            )
            .with(
                Channel::Ebay,
                &EbayConfig {
                    api_base: self.ebay_url.clone(),
                    client_id: sim.ebay_client_id.clone(),
                    client_secret: Secret::new(&sim.ebay_client_secret),
                    refresh_token: Secret::new(&sim.ebay_refresh_token),
                    verification_token: Secret::new("onecount-local-verification-token-0123456789"),
                    endpoint_url: format!("{webhook_base}/webhooks/ebay"),
                    site_id: 0,
                },
            )
    }
}

impl Drop for Sandboxes {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve(router: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, task)
}

impl Sandboxes {
    pub async fn start(cfg: SimConfig) -> Sandboxes {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        let shopify = Arc::new(shopify::Shopify::new(cfg.clone(), http.clone()));
        let (shopify_url, t1) = serve(shopify::router(shopify.clone())).await;
        let etsy = Arc::new(etsy::Etsy::new(cfg.clone(), http.clone()));
        let (etsy_url, t2) = serve(etsy::router(etsy.clone())).await;
        etsy.set_public_base(&etsy_url);
        let ebay = Arc::new(ebay::Ebay::new(cfg.clone(), http));
        let (ebay_url, t3) = serve(ebay::router(ebay.clone())).await;
        Sandboxes {
            shopify,
            etsy,
            ebay,
            shopify_url,
            etsy_url,
            ebay_url,
            tasks: vec![t1, t2, t3],
        }
    }
}

/// Send one webhook; the status code, or 0 when the connection failed.
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> u16 {
    let mut req = http.post(url).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A JSON error answer.
pub(crate) fn err(status: u16, msg: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::from_u16(status).expect("valid status"),
        axum::Json(serde_json::json!({"error": msg})),
    )
        .into_response()
}

/// Fault knobs for a sandbox's API (not its `/_sim/` control routes).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Share of calls answered 500 (0.0–1.0).
    pub error_rate: f64,
    /// Share of calls that hang for 15 s, past any sane client timeout.
    pub timeout_rate: f64,
    /// Added to every call.
    pub latency_ms: u64,
    /// The API answers 503 for this long from when the faults are set.
    pub down_for_ms: u64,
}

/// Applies [`Faults`] to API calls.
pub struct FaultGate {
    st: std::sync::Mutex<(Faults, Option<std::time::Instant>, u64)>,
}

impl Default for FaultGate {
    fn default() -> Self {
        let seed = (uuid::Uuid::new_v4().as_u128() as u64) | 1;
        FaultGate {
            st: std::sync::Mutex::new((Faults::default(), None, seed)),
        }
    }
}

impl FaultGate {
    pub fn set(&self, f: Faults) {
        let mut st = self.st.lock().unwrap_or_else(|p| p.into_inner());
        st.1 = (f.down_for_ms > 0)
            .then(|| std::time::Instant::now() + Duration::from_millis(f.down_for_ms));
        st.0 = f;
    }

    /// Whether the API is down right now.
    pub fn is_down(&self) -> bool {
        let st = self.st.lock().unwrap_or_else(|p| p.into_inner());
        st.1.is_some_and(|u| std::time::Instant::now() < u)
    }

    /// `Some(response)` when this call fails by a fault.
    pub(crate) async fn check(&self) -> Option<axum::response::Response> {
        let (latency, down, error, timeout) = {
            let mut st = self.st.lock().unwrap_or_else(|p| p.into_inner());
            // xorshift: cheap, good enough for fault rates
            let mut roll = || {
                st.2 ^= st.2 << 13;
                st.2 ^= st.2 >> 7;
                st.2 ^= st.2 << 17;
                (st.2 % 10_000) as f64 / 10_000.0
            };
            let (e, t) = (roll(), roll());
            let down = st.1.is_some_and(|u| std::time::Instant::now() < u);
            (
                st.0.latency_ms,
                down,
                e < st.0.error_rate,
                t < st.0.timeout_rate,
            )
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if down {
            return Some(err(503, "Service Unavailable"));
        }
        if timeout {
            tokio::time::sleep(Duration::from_secs(15)).await;
            return Some(err(504, "Gateway Timeout"));
        }
        if error {
            return Some(err(500, "Internal Server Error"));
        }
        None
    }
}

/// One write a sandbox accepted: when, to which listing, and what it shows after.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WriteRecord {
    pub at_ms: i64,
    pub listing: String,
    pub qty: i64,
}
