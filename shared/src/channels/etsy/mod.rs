//! Etsy: Standard Webhooks signatures, pointer payloads, receipts fetched from Open API v3.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use std::sync::Arc;

use super::auth::{Credentials, Refresher, TokenStore, Tokens};
use super::config::Secret;
use super::http::{HttpError, send_json};
use super::kit::{ChannelKit, FetchError, Refusal, Verified};
use super::push::{ChannelApi, FoundOrder, OrderSource, PushError, Seen, Target, Write, all};
use super::{Action, Headers, Key, LineShape, Parsed, SigError, b64, ct_eq, id_text, parse_lines};
use crate::domain::{Channel, Millis, OrderId};

mod catalog;
mod config;
pub mod connect;
pub mod inventory;

pub use config::EtsyConfig;
use inventory::{ListingState, Quantities, Readiness};

/// What Etsy accepts: at most 999 per offering.
pub const PROFILE: super::Profile = super::Profile {
    rules: crate::domain::push::ChannelRules {
        max_listed: Some(999),
        daily_revisions: None,
    },
    required_refs: &["listing"],
    // A listing with variations: its products carry the SKUs.
    shared_refs: &["listing"],
    // A cancellation counts against star-seller status.
    cancel_penalty: 5.0,
};

/// Etsy's kit: Standard Webhooks in (pointing at receipts), Open API v3 out.
pub fn kit(cfg: EtsyConfig, tokens: Option<Arc<dyn TokenStore>>) -> Arc<dyn ChannelKit> {
    Arc::new(EtsyKit {
        client: Arc::new(EtsyClient::with_store(cfg.clone(), tokens)),
        cfg,
    })
}

pub struct EtsyKit {
    cfg: EtsyConfig,
    client: Arc<EtsyClient>,
}

#[async_trait]
impl ChannelKit for EtsyKit {
    fn channel(&self) -> Channel {
        Channel::Etsy
    }

    async fn verify(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now: Millis,
    ) -> Result<Verified, Refusal> {
        verify(headers, body, self.cfg.webhook_secret.expose(), now / 1000)
            .map_err(Refusal::Unauthorized)?;
        let topic = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("event_type")?.as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(Verified {
            delivery_id: Headers::get(headers, ID_HEADER).unwrap_or("").to_string(),
            topic,
        })
    }

    fn parse(&self, _topic: &str, body: &[u8]) -> Parsed {
        parse(body)
    }

    /// `shops/<shop>/receipts/<receipt>`, as [`parse`] took it from the resource URL.
    async fn fetch(&self, pointer: &str) -> Result<Action, FetchError> {
        let (shop, receipt) = receipt_pointer(pointer)
            .ok_or_else(|| FetchError::Permanent(format!("not a receipt: {pointer}")))?;
        let receipt = self.client.receipt(shop, receipt).await?;
        receipt_action(&receipt).map_err(FetchError::Permanent)
    }

    fn api(&self) -> Arc<dyn ChannelApi> {
        self.client.clone()
    }

    fn orders(&self) -> Arc<dyn OrderSource> {
        self.client.clone()
    }
}

/// The shop and receipt ids of `…/shops/<shop>/receipts/<receipt>` (a URL or a pointer).
fn receipt_pointer(path: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = path
        .split('?')
        .next()?
        .trim_end_matches('/')
        .split('/')
        .collect();
    let i = parts.iter().position(|p| *p == "shops")?;
    (parts.get(i + 2) == Some(&"receipts") && parts.len() == i + 4)
        .then(|| (parts[i + 1], parts[i + 3]))
}

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// Deliveries more than this far from now are refused (replays).
pub const TOLERANCE_SECS: i64 = 300;

fn key(secret: &str) -> Result<Vec<u8>, SigError> {
    b64()
        .decode(secret.trim().trim_start_matches("whsec_"))
        .map_err(|_| SigError::Malformed("webhook secret"))
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SigError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key(secret)?).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", b64().encode(mac.finalize().into_bytes())))
}

/// Verify a Standard Webhooks delivery at time `now` (unix seconds).
pub fn verify(
    headers: &(impl Headers + ?Sized),
    body: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), SigError> {
    let id = headers.get(ID_HEADER).ok_or(SigError::Missing(ID_HEADER))?;
    let ts = headers
        .get(TIMESTAMP_HEADER)
        .ok_or(SigError::Missing(TIMESTAMP_HEADER))?;
    let sigs = headers
        .get(SIGNATURE_HEADER)
        .ok_or(SigError::Missing(SIGNATURE_HEADER))?;
    let ts: i64 = ts
        .trim()
        .parse()
        .map_err(|_| SigError::Malformed(TIMESTAMP_HEADER))?;
    // The timestamp comes before the signature is checked: any i64 must be safe here.
    if now.abs_diff(ts) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SigError::Stale(now.saturating_sub(ts)));
    }
    let expected = sign(secret, id, ts, body)?;
    let expected = b64().decode(&expected[3..]).expect("we just encoded it");
    let matched = sigs
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| b64().decode(s).ok())
        .any(|s| ct_eq(&s, &expected));
    if matched {
        Ok(())
    } else {
        Err(SigError::Mismatch)
    }
}

/// `order.*` events point at a receipt; inventory and listing events are drift signals
/// the drift checker reads for itself.
pub fn parse(body: &[u8]) -> Parsed {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Parsed::Quarantine(format!("body is not JSON: {e}")),
    };
    let event = v.get("event_type").and_then(Value::as_str).unwrap_or("");
    if event.starts_with("inventory.") || event.starts_with("listing.") {
        return Parsed::Ignored(
            "inventory/listing event: the drift checker reads quantities itself",
        );
    }
    if !event.starts_with("order.") {
        return Parsed::Quarantine(format!("unknown event_type '{event}'"));
    }
    // Never follow the URL itself: take the ids from it and call the configured API.
    let url = v.get("resource_url").and_then(Value::as_str).unwrap_or("");
    match receipt_pointer(url) {
        Some((shop, receipt)) => Parsed::Event(Action::Fetch {
            pointer: format!("shops/{shop}/receipts/{receipt}"),
        }),
        None => Parsed::Quarantine(format!("{event}: resource_url is not a receipt URL")),
    }
}

/// A receipt's transactions as order lines; a cancelled receipt cancels them.
pub fn receipt_action(receipt: &Value) -> Result<Action, String> {
    let order = receipt
        .get("receipt_id")
        .and_then(id_text)
        .ok_or("receipt without receipt_id")?;
    let order = OrderId::parse(order).map_err(|e| e.0)?;
    // Etsy keys variations by listing + SKU: product ids change on every write.
    const LINE: LineShape = LineShape {
        id: "transaction_id",
        qty: "quantity",
        keys: &[Key::Sku("sku"), Key::Ref("listing", "listing_id")],
    };
    let lines = parse_lines(receipt.get("transactions"), "transactions", &LINE)?;
    let cancelled = receipt
        .get("status")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("canceled"));
    Ok(if cancelled {
        Action::Cancel { order, lines }
    } else {
        Action::Sale {
            order,
            lines,
            placed_at: receipt
                .get("created_timestamp")
                .and_then(Value::as_i64)
                .map(|secs| secs * 1000),
        }
    })
}

/// "Remaining this second" ran out: the next call waits for the next second (and a
/// little), not a whole second from now — on average half the wait. A per-second 429
/// (another client of the app spent the second) waits the same way.
fn until_next_second() -> Instant {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    Instant::now() + Duration::from_millis(u64::from(1000 - ms) + 20)
}

/// Etsy's refresh grant (`POST /v3/public/oauth/token`, a form): a new access token for an
/// hour and a **new refresh token** (90 days); the one sent stops working.
struct EtsyRefresh {
    http: reqwest::Client,
    url: String,
    client_id: String,
}

#[async_trait]
impl Refresher for EtsyRefresh {
    async fn refresh(&self, current: &Tokens) -> Result<Tokens, HttpError> {
        let what = "etsy token refresh";
        let refresh = current
            .refresh
            .as_ref()
            .ok_or_else(|| HttpError::Permanent {
                what: what.into(),
                status: 401,
                detail: "no refresh token: put the shop's refresh_token in the Etsy configuration"
                    .into(),
            })?;
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", self.client_id.as_str()),
            ("refresh_token", refresh.expose()),
        ];
        let v = send_json(
            what,
            self.http
                .post(&self.url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(super::http::form_urlencoded(&form)),
        )
        .await?;
        let now = crate::clock::now_ms();
        let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|t| !t.is_empty());
        let access = text("access_token").ok_or_else(|| HttpError::Permanent {
            what: what.into(),
            status: 200,
            detail: "no access_token in the answer".into(),
        })?;
        let lifetime = v.get("expires_in").and_then(Value::as_i64).unwrap_or(3600) * 1000;
        let rotated = text("refresh_token");
        Ok(Tokens {
            access: Secret::new(access),
            access_expires_at: Some(now + lifetime),
            access_lifetime_ms: Some(lifetime),
            refresh: Some(rotated.map_or_else(|| refresh.clone(), Secret::new)),
            // 90 days from its issue (a rotated one is new; an old one keeps its date).
            refresh_expires_at: match rotated {
                Some(_) => Some(now + 90 * 86_400_000),
                None => current.refresh_expires_at,
            },
            origin: current.origin.clone(),
        })
    }
}

/// A request body: the inventory PUT takes JSON, `updateListing` a form.
enum Body<'a> {
    Empty,
    Json(&'a Value),
    Form(String),
}

/// Etsy Open API v3 client: `x-api-key: keystring:shared_secret` plus a Bearer token,
/// refreshed once on 401.
pub struct EtsyClient {
    cfg: EtsyConfig,
    http: reqwest::Client,
    creds: super::auth::Credentials,
    calls: AtomicU64,
    /// When `x-remaining-this-second` said 0: no call before this instant.
    pause_until: Mutex<Option<Instant>>,
    /// The last per-second budget Etsy reported: (remaining, limit, when).
    last_budget: Mutex<Option<(i64, i64, Instant)>>,
    /// Listings that held one SKU only when last read (listing id → SKU, when): selling
    /// that SKU out takes the listing off sale, which needs nothing from a read.
    sole_sku: Mutex<std::collections::HashMap<String, (String, Instant)>>,
    /// Processing profiles learnt from single-listing reads (listing id → profiles,
    /// when): the batch read leaves them null and every inventory write must carry them.
    readiness: Mutex<std::collections::HashMap<String, (Readiness, Instant)>>,
}

/// How long learnt processing profiles are used before a write reads them again.
const READINESS_FOR: Duration = Duration::from_secs(3600);

/// How long a read's word that a listing holds one SKU only is trusted for a sell-out
/// without a read. A variation added since would be taken off sale with it until its
/// own next push (which reactivates the listing) — rare, and short.
const SOLE_SKU_FOR: Duration = Duration::from_secs(600);

impl EtsyClient {
    pub fn new(cfg: EtsyConfig) -> Self {
        Self::with_store(cfg, None)
    }

    /// A client whose tokens live in `store` (shared by every function), else in memory.
    pub fn with_store(cfg: EtsyConfig, store: Option<Arc<dyn TokenStore>>) -> Self {
        let http = super::http::client();
        let refresher = Arc::new(EtsyRefresh {
            http: http.clone(),
            url: format!(
                "{}/v3/public/oauth/token",
                cfg.api_base.trim_end_matches('/')
            ),
            client_id: cfg.keystring.clone(),
        });
        let configured = Tokens::fixed(&cfg.access_token, Some(&cfg.refresh_token));
        EtsyClient {
            creds: Credentials::new(Channel::Etsy, configured, store, refresher),
            cfg,
            http,
            calls: AtomicU64::new(0),
            pause_until: Mutex::new(None),
            last_budget: Mutex::new(None),
            sole_sku: Mutex::new(std::collections::HashMap::new()),
            readiness: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn api_key(&self) -> String {
        format!("{}:{}", self.cfg.keystring, self.cfg.shared_secret.expose())
    }

    /// Access-token refreshes this client made (each one a call to Etsy's token endpoint).
    pub fn refreshes(&self) -> u64 {
        self.creds.refreshes()
    }

    /// Wait out the current second when Etsy said none are left in it.
    async fn pace(&self) {
        let until = *self.pause_until.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = until {
            let wait = u.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                tracing::debug!(
                    wait_ms = wait.as_millis() as u64,
                    "etsy: this second's calls are spent; waiting for the next"
                );
            }
            tokio::time::sleep_until(u.into()).await;
        }
    }

    fn note_limits(&self, headers: &reqwest::header::HeaderMap) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let left = num("x-remaining-this-second");
        *self.pause_until.lock().unwrap_or_else(|p| p.into_inner()) =
            (left == Some(0)).then(until_next_second);
        if let (Some(left), Some(limit)) = (left, num("x-limit-per-second")) {
            *self.last_budget.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((left, limit, Instant::now()));
        }
    }

    /// One API call with auth, pacing to the per-second limit; one token refresh on 401,
    /// and one more try in the next second when another client of the app spent this one
    /// (a per-second 429). Blips are retried below, in [`super::http::send`].
    pub async fn call(
        &self,
        method: reqwest::Method,
        what: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        let body = body.map_or(Body::Empty, Body::Json);
        self.call_with(method, what, path, body).await
    }

    async fn call_with(
        &self,
        method: reqwest::Method,
        what: &str,
        path: &str,
        body: Body<'_>,
    ) -> Result<Value, HttpError> {
        let url = format!("{}{}", self.cfg.api_base.trim_end_matches('/'), path);
        let (mut refreshed, mut repaced) = (false, false);
        loop {
            self.pace().await;
            self.calls.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(call = what, "etsy call");
            let token = self.creds.bearer().await?;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("x-api-key", self.api_key())
                .bearer_auth(token.expose());
            match &body {
                Body::Empty => {}
                Body::Json(b) => req = req.json(b),
                Body::Form(f) => {
                    req = req
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(f.clone())
                }
            }
            match super::http::send(what, req).await {
                Err(HttpError::Permanent { status: 401, .. }) if !refreshed => {
                    refreshed = true;
                    self.creds.refused(&token).await?;
                }
                Err(e) if spent_the_second(&e) => {
                    *self.pause_until.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(until_next_second());
                    if repaced {
                        return Err(e);
                    }
                    repaced = true;
                }
                Err(e) => return Err(e),
                Ok((v, headers)) => {
                    self.note_limits(&headers);
                    return Ok(v);
                }
            }
        }
    }

    /// GET with auth.
    pub async fn get(&self, what: &str, path: &str) -> Result<Value, HttpError> {
        self.call(reqwest::Method::GET, what, path, None).await
    }

    /// `getShopReceipt`.
    pub async fn receipt(&self, shop_id: &str, receipt_id: &str) -> Result<Value, HttpError> {
        self.get(
            "etsy getShopReceipt",
            &format!("/v3/application/shops/{shop_id}/receipts/{receipt_id}"),
        )
        .await
    }

    /// `updateListing` with just the state (`active` / `inactive`). Its body is a form
    /// (`application/x-www-form-urlencoded`), unlike the inventory PUT.
    async fn set_state(&self, listing_id: &str, state: &str) -> Result<(), PushError> {
        self.call_with(
            reqwest::Method::PATCH,
            "etsy updateListing",
            &format!(
                "/v3/application/shops/{}/listings/{listing_id}",
                self.cfg.shop_id
            ),
            Body::Form(super::http::form_urlencoded(&[("state", state)])),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ChannelApi for EtsyClient {
    fn channel(&self) -> Channel {
        Channel::Etsy
    }
    fn read_batch(&self) -> usize {
        100
    }
    fn write_batch(&self) -> usize {
        1
    }
    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn catalog(
        &self,
        progress: &super::push::Progress<'_>,
    ) -> Result<Vec<crate::domain::discover::Found>, PushError> {
        self.read_catalog(progress).await
    }

    /// From the last answer's `x-remaining-this-second` / `x-limit-per-second` (or 0
    /// while waiting out a second that ran dry); unknown once that second is over.
    fn budget_left(&self) -> Option<f64> {
        let paused = *self.pause_until.lock().unwrap_or_else(|p| p.into_inner());
        if paused.is_some_and(|u| u > Instant::now()) {
            return Some(0.0);
        }
        let seen = *self.last_budget.lock().unwrap_or_else(|p| p.into_inner());
        seen.filter(|(_, limit, at)| *limit > 0 && at.elapsed() < Duration::from_secs(1))
            .map(|(left, limit, _)| left.max(0) as f64 / limit as f64)
    }

    /// `getListingsInventoryByListingIds`, 100 listings a call. Each result is the listing
    /// (its `state`) with its `inventory`.
    async fn read(&self, targets: &[Target]) -> Vec<Result<Seen, PushError>> {
        let ids: Vec<&str> = targets
            .iter()
            .filter_map(|t| t.reference("listing"))
            .collect();
        let listings = match self.listings(&ids).await {
            Ok(l) => l,
            Err(e) => return all(targets.len(), e),
        };
        targets
            .iter()
            .map(|t| {
                let id = t.reference("listing").ok_or_else(|| {
                    PushError::Mismatch("no Etsy listing id mapped (listing:ID)".into())
                })?;
                let listing = listings
                    .get(id)
                    .ok_or_else(|| PushError::Mismatch(format!("listing {id} not found")))?;
                self.note_sole_sku(id, listing);
                let qty = inventory::shown(listing, t.sku.as_str())
                    .map_err(|m| PushError::Mismatch(format!("{m} {id}")))?;
                Ok(Seen {
                    qty,
                    state: listing.clone(),
                })
            })
            .collect()
    }

    /// A listing that held only this SKU when last read sells out by going off sale:
    /// one call, no read (the state handed to `write` says so).
    fn zero_without_read(&self, target: &Target) -> Option<Seen> {
        let id = target.reference("listing")?;
        let known = self.sole_sku.lock().unwrap_or_else(|p| p.into_inner());
        let (sku, at) = known.get(id)?;
        (sku == target.sku.as_str() && at.elapsed() < SOLE_SKU_FOR).then(|| Seen {
            qty: -1,
            state: serde_json::json!({"state": "active", "inventory": {"products": []}}),
        })
    }

    /// Read-modify-write of the whole inventory, one call per listing: the writes to SKUs
    /// of one listing go in one body (written one after another, each would put back the
    /// other's quantity as read). Never all offerings at 0: deactivate instead, and
    /// reactivate on restock.
    async fn write(&self, writes: &[Write]) -> Vec<Result<(), PushError>> {
        let mut by_listing: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
        let mut out: Vec<Result<(), PushError>> = vec![Ok(()); writes.len()];
        for (i, w) in writes.iter().enumerate() {
            match w.target.reference("listing") {
                Some(id) => by_listing.entry(id).or_default().push(i),
                None => out[i] = Err(PushError::Mismatch("no Etsy listing id mapped".into())),
            }
        }
        for (id, idx) in by_listing {
            let group: Vec<&Write> = idx.iter().map(|i| &writes[*i]).collect();
            let r = self.write_listing(id, &group).await;
            for i in idx {
                out[i] = r.clone();
            }
        }
        out
    }

    fn write_key(&self, target: &Target) -> Option<String> {
        target
            .reference("listing")
            .map(|id| format!("etsy-listing:{id}"))
    }
}

/// Whether a failed call means the app's per-second budget is spent: a 429 without
/// Retry-After (Etsy's per-second refusal carries none, and no limit headers) — another
/// client of the app spent this second, and the next one is ours to try, as when the
/// headers say none are left. A 5xx or a timeout says nothing about the budget: pausing
/// the client for it would hold every other listing's push for nothing.
fn spent_the_second(e: &HttpError) -> bool {
    matches!(
        e,
        HttpError::Transient {
            status: Some(429),
            retry_after: None,
            ..
        }
    )
}

impl EtsyClient {
    fn note_sole_sku(&self, listing_id: &str, listing: &Value) {
        let skus = inventory::skus_of(listing);
        let mut known = self.sole_sku.lock().unwrap_or_else(|p| p.into_inner());
        match skus.iter().next() {
            Some(sku) if skus.len() == 1 && !sku.is_empty() => {
                known.insert(listing_id.to_string(), (sku.to_string(), Instant::now()));
            }
            _ => {
                known.remove(listing_id);
            }
        }
    }

    /// The listings with these ids, by id. Etsy answers 404 for the whole request when
    /// any one id is gone, so a 404 splits the request in halves until the gone ones are
    /// alone (and left out): `k` gone listings cost about `2k·log₂(n)` extra calls.
    async fn listings(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Value>, HttpError> {
        let mut found = std::collections::HashMap::new();
        // Several SKUs of one listing ask for it once.
        let ids: Vec<&str> = ids
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<&str>>()
            .into_iter()
            .collect();
        let mut todo: Vec<Vec<&str>> = ids.chunks(100).map(<[&str]>::to_vec).collect();
        while let Some(part) = todo.pop() {
            if part.is_empty() {
                continue;
            }
            let path = format!(
                "/v3/application/listings/batch/inventory?listing_ids={}",
                part.join(",")
            );
            match self
                .get("etsy getListingsInventoryByListingIds", &path)
                .await
            {
                Ok(v) => {
                    let results = v.get("results").and_then(Value::as_array);
                    for r in results.into_iter().flatten() {
                        if let Some(id) = r.get("listing_id").and_then(id_text) {
                            found.insert(id, r.clone());
                        }
                    }
                }
                Err(HttpError::Permanent { status: 404, .. }) if part.len() > 1 => {
                    let (a, b) = part.split_at(part.len() / 2);
                    todo.push(a.to_vec());
                    todo.push(b.to_vec());
                }
                Err(HttpError::Permanent { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// The processing profiles a write to `listing` needs: learnt before, or read now
    /// with `getListingInventory` (a single-listing read fills them in; the batch read
    /// leaves them null).
    async fn readiness(&self, id: &str, listing: &Value) -> Result<Readiness, PushError> {
        let known = {
            let cache = self.readiness.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(id)
                .filter(|(_, at)| at.elapsed() < READINESS_FOR)
                .map(|(r, _)| r.clone())
                .unwrap_or_default()
        };
        if !inventory::lacks_readiness(listing, &known) {
            return Ok(known);
        }
        let single = self
            .get(
                "etsy getListingInventory",
                &format!("/v3/application/listings/{id}/inventory?includes=Listing"),
            )
            .await?;
        let learnt = inventory::readiness_of(&inventory::as_listing(&single));
        self.readiness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), (learnt.clone(), Instant::now()));
        Ok(learnt)
    }

    /// Set the quantities of `group` (writes to SKUs of listing `id`) in one call.
    async fn write_listing(&self, id: &str, group: &[&Write]) -> Result<(), PushError> {
        // A sell-out written without a read carries no products: any real read wins.
        let Some(listing) = group
            .iter()
            .map(|w| &w.seen.state)
            .max_by_key(|s| inventory::skus_of(s).len())
        else {
            return Ok(());
        };
        let set: Quantities = group
            .iter()
            .map(|w| (w.target.sku.as_str(), w.qty))
            .collect();
        let skus: Vec<&str> = set.keys().copied().collect();
        let skus = skus.join(", ");
        let state = ListingState::of(listing);
        if !inventory::on_sale_after(listing, &set) {
            // Etsy refuses every offering at 0: take the listing off sale instead.
            return match state {
                ListingState::Active => self.set_state(id, "inactive").await,
                _ => Ok(()),
            };
        }
        let raising = set.values().any(|q| *q > 0);
        match &state {
            ListingState::Closed(s) if raising => {
                return Err(PushError::Mismatch(format!(
                    "Etsy listing {id} is {s}: renew or publish it on etsy.com, or map {skus} to a live listing"
                )));
            }
            ListingState::SoldOut if raising && !self.cfg.renew_sold_out => {
                return Err(PushError::Permanent(format!(
                    "Etsy listing {id} is sold out; bringing it back renews it (a listing fee): renew it on etsy.com, or set renew_sold_out in the Etsy configuration"
                )));
            }
            // Making a sold-out listing active renews it and sets its quantity to 1; the
            // inventory write below then sets the true one.
            ListingState::SoldOut if raising => self.set_state(id, "active").await?,
            _ => {}
        }
        let mut set = set;
        if raising && state == ListingState::Inactive {
            // Taken off sale when its last offering went to 0, the listing kept the
            // quantities of the SKUs zeroed by that: brought back, they would list them
            // again. They stay off until their own pushes (or the drift check) raise them.
            let others: Vec<&str> = inventory::skus_of(listing)
                .into_iter()
                .filter(|s| !set.contains_key(s))
                .collect();
            set.extend(others.into_iter().map(|s| (s, 0)));
        }
        self.put_inventory(id, listing, &set).await?;
        if state == ListingState::Inactive && raising {
            self.set_state(id, "active").await?;
        }
        Ok(())
    }

    /// `updateListingInventory` with the offerings of each SKU in `set` at its quantity
    /// (0: disabled).
    async fn put_inventory(
        &self,
        id: &str,
        listing: &Value,
        set: &Quantities<'_>,
    ) -> Result<(), PushError> {
        let known = self.readiness(id, listing).await?;
        let body = inventory::inventory_body(listing, set, &known);
        self.call(
            reqwest::Method::PUT,
            "etsy updateListingInventory",
            &format!("/v3/application/listings/{id}/inventory"),
            Some(&body),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl OrderSource for EtsyClient {
    fn channel(&self) -> Channel {
        Channel::Etsy
    }

    /// `getShopReceipts` by `min_last_modified`, 100 a page.
    async fn orders_since(&self, since: Millis) -> Result<Vec<FoundOrder>, HttpError> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let v = self
                .get(
                    "etsy getShopReceipts",
                    &format!(
                        "/v3/application/shops/{}/receipts?min_last_modified={}&limit=100&offset={offset}",
                        self.cfg.shop_id,
                        // Etsy's floor for the bound: 2000-01-01.
                        (since / 1000).max(946_684_800)
                    ),
                )
                .await?;
            let page = v
                .get("results")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for r in &page {
                let updated_at = r
                    .get("updated_timestamp")
                    .and_then(Value::as_i64)
                    .map_or(since, |s| s * 1000);
                let actions = receipt_action(r).into_iter().collect();
                out.push(FoundOrder {
                    actions,
                    updated_at,
                });
            }
            offset += page.len();
            let total = v.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
            if page.is_empty() || offset >= total {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etsy_caps_at_999_and_the_policy_applies_first() {
        let p = crate::domain::ListingPolicy {
            buffer: 1,
            ..Default::default()
        };
        assert_eq!(
            crate::domain::push::target_quantity(&p, 5000, Channel::Etsy),
            999
        );
        assert_eq!(
            crate::domain::push::target_quantity(&p, 5000, Channel::Shopify),
            4999
        );
        assert_eq!(
            crate::domain::push::target_quantity(&p, 0, Channel::Ebay),
            0
        );
    }

    use crate::channels::Candidate;
    use crate::channels::config::Secret;

    /// A batch-read result shaped like Etsy's: the listing, its inventory under `inventory`.
    fn tree() -> Value {
        serde_json::json!({
            "listing_id": 1234567890u64, "state": "active",
            "inventory": {"products": [
                {"product_id": 11, "sku": "MUG-BLUE-12OZ", "offerings": [{"offering_id": 21, "quantity": 7, "is_enabled": true}]},
                {"product_id": 12, "sku": "MUG-RED-12OZ", "offerings": [{"offering_id": 22, "quantity": 3, "is_enabled": true}]}
            ]}
        })
    }

    fn client() -> EtsyClient {
        EtsyClient::new(EtsyConfig {
            shop_id: "1".into(),
            webhook_secret: Secret::new("whsec_x"),
            api_base: "http://127.0.0.1:9".into(),
            keystring: "k".into(),
            shared_secret: Secret::new("s"),
            access_token: Secret::new("1.t"),
            refresh_token: Secret::new("r"),
            renew_sold_out: true,
        })
    }

    fn target(sku: &str, listing: &str) -> Target {
        Target {
            sku: crate::Sku::parse(sku).unwrap(),
            refs: vec![crate::ChannelRef::new("listing", listing).unwrap()],
        }
    }

    #[test]
    fn only_a_listing_read_as_holding_that_sku_alone_sells_out_without_a_read() {
        let c = client();
        let blue = target("MUG-BLUE-12OZ", "1234567890");
        assert!(
            c.zero_without_read(&blue).is_none(),
            "never read: read first"
        );
        // Two SKUs on the listing: taking it off sale would stop the red mug too.
        c.note_sole_sku("1234567890", &tree());
        assert!(c.zero_without_read(&blue).is_none());
        // The red mug deleted: the blue one is alone, and only the blue one may go blind.
        let mut alone = tree();
        alone["inventory"]["products"][1]["is_deleted"] = Value::Bool(true);
        c.note_sole_sku("1234567890", &alone);
        let seen = c
            .zero_without_read(&blue)
            .expect("a sell-out without a read");
        assert!(
            c.zero_without_read(&target("MUG-RED-12OZ", "1234567890"))
                .is_none()
        );
        assert!(
            c.zero_without_read(&target("MUG-BLUE-12OZ", "42"))
                .is_none()
        );
        // What `write` makes of that state: nothing else on sale, so off sale it goes.
        assert!(!inventory::on_sale_after(
            &seen.state,
            &Quantities::from([("MUG-BLUE-12OZ", 0)])
        ));
        assert_eq!(ListingState::of(&seen.state), ListingState::Active);
        // A variation added since: the next read forgets it.
        c.note_sole_sku("1234567890", &tree());
        assert!(c.zero_without_read(&blue).is_none());
    }

    fn h(id: &str, ts: &str, sig: &str) -> Vec<(String, String)> {
        vec![
            ("webhook-id".into(), id.into()),
            ("webhook-timestamp".into(), ts.into()),
            ("webhook-signature".into(), sig.into()),
        ]
    }

    /// The timestamp is read before the signature is checked, so a forged one at either
    /// end of i64 must be refused as stale, not overflow (a panic in a debug build, a
    /// wrapped difference that passes the check in a release build).
    #[test]
    fn an_extreme_timestamp_is_stale_not_an_overflow() {
        let now = 1_800_000_000;
        for ts in [i64::MIN, i64::MIN + 1, i64::MAX, -1, now - 301] {
            let hs = h("msg_1", &ts.to_string(), "v1,bm9wZQ==");
            assert!(
                matches!(
                    verify(&hs, b"{}", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now),
                    Err(SigError::Stale(_))
                ),
                "{ts}"
            );
        }
    }

    /// The Standard Webhooks specification's published example.
    #[test]
    fn the_specification_example_verifies() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            sig
        );
        let hs = h(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            &format!("v1,bm9wZQ== {sig}"),
        );
        assert_eq!(verify(&hs, body, secret, 1614265330 + 10), Ok(()));
        assert_eq!(
            verify(&hs, body, secret, 1614265330 + 301),
            Err(SigError::Stale(301))
        );
        assert_eq!(
            verify(&hs, b"{\"test\": 1}", secret, 1614265330),
            Err(SigError::Mismatch)
        );
        let only_sig = h(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        assert_eq!(
            verify(&only_sig, body, secret, 1614265330),
            Err(SigError::Mismatch),
            "the v1, prefix is required"
        );
    }

    #[test]
    fn order_events_point_at_receipts() {
        let body = br#"{"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/12345678/receipts/3456789012","shop_id":12345678}"#;
        assert_eq!(
            parse(body),
            Parsed::Event(Action::Fetch {
                pointer: "shops/12345678/receipts/3456789012".into()
            })
        );
        assert!(matches!(
            parse(br#"{"event_type":"order.paid","resource_url":"https://evil.example/x"}"#),
            Parsed::Quarantine(_)
        ));
        assert!(matches!(
            parse(br#"{"event_type":"inventory.updated"}"#),
            Parsed::Ignored(_)
        ));
        assert!(matches!(
            parse(br#"{"event_type":"shop.closed"}"#),
            Parsed::Quarantine(_)
        ));
    }

    #[test]
    fn a_spent_second_waits_for_the_next_one_not_a_whole_second() {
        let before = std::time::SystemTime::now();
        let wait = until_next_second() - Instant::now();
        assert!(wait <= Duration::from_millis(1020), "{wait:?}");
        // It ends past the next whole second of the wall clock.
        let ends = before + wait + Duration::from_millis(5);
        let secs =
            |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs(ends), secs(before) + 1);
    }

    #[test]
    fn only_a_per_second_429_pauses_the_client() {
        let e = |status, retry_after| HttpError::Transient {
            what: "etsy getListingsInventoryByListingIds".into(),
            status,
            detail: "test".into(),
            retry_after,
        };
        assert!(spent_the_second(&e(Some(429), None)));
        // The daily limit says when (its own wait); a server error or a timeout is not
        // about the budget at all.
        assert!(!spent_the_second(&e(Some(429), Some(3600))));
        assert!(!spent_the_second(&e(Some(500), None)));
        assert!(!spent_the_second(&e(Some(503), None)));
        assert!(!spent_the_second(&e(None, None)));
    }

    #[test]
    fn receipts_become_lines_and_cancellations() {
        let r: Value = serde_json::from_str(r#"{"receipt_id":3456789012,"status":"paid","created_timestamp":1773498000,"transactions":[{"transaction_id":4567890123,"listing_id":1234567890,"sku":"MUG","quantity":2}]}"#).unwrap();
        let Action::Sale {
            lines, placed_at, ..
        } = receipt_action(&r).unwrap()
        else {
            panic!()
        };
        assert_eq!(placed_at, Some(1_773_498_000_000));
        assert_eq!(lines[0].candidates[0], Candidate::Sku("MUG".into()));
        let mut c = r.clone();
        c["status"] = "canceled".into();
        assert!(matches!(receipt_action(&c).unwrap(), Action::Cancel { .. }));
    }
}
