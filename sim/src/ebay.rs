//! The eBay sandbox: `ORDER_CONFIRMATION` per line item signed with a real P-256 key
//! (SHA1withECDSA, as `getPublicKey` announces), the key by kid, OAuth, `getOrder`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use onecount::channels::push::{parse_rfc3339, rfc3339};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha1::{Digest, Sha1};

use crate::{
    DeliveryKnobs, DeliveryRecord, FaultGate, SimConfig, WriteRecord, err, now_ms, post as send,
};

mod trading;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimListing {
    pub item_id: u64,
    pub sku: String,
    pub qty: i64,
}

#[derive(Default)]
struct St {
    listings: BTreeMap<u64, SimListing>,
    /// Listings whose SKU also has an unpublished offer (a draft, or a listing withdrawn).
    unpublished: std::collections::BTreeSet<u64>,
    /// The seller has out-of-stock control off: a listing that reaches 0 ends.
    no_oos_control: bool,
    /// Variations of a multi-variation listing: variation key (its `item_id` here, also its
    /// `legacyVariationId`) → the listing's item id.
    variation_of: BTreeMap<u64, u64>,
    /// Listings eBay ended at 0; they take no more revisions until relisted.
    ended: std::collections::BTreeSet<u64>,
    orders: BTreeMap<String, serde_json::Value>,
    next: u64,
    deliveries: Vec<DeliveryRecord>,
    key_fetches: u64,
    /// Revisions per item on the current day.
    revisions: BTreeMap<u64, u32>,
    writes: Vec<WriteRecord>,
    /// Inventory API request bodies, by operation id, for contract checks.
    requests: Vec<(String, serde_json::Value)>,
    calls: u64,
    /// Listings made in Seller Hub (keys): served by the Trading API only, unknown to
    /// the Inventory API.
    seller_hub: std::collections::BTreeSet<u64>,
    /// Units sold per key (the Trading API's `QuantitySold`).
    sold: BTreeMap<u64, i64>,
    /// Keys whose Trading revisions fail with this error code (a per-item failure).
    trading_failures: BTreeMap<u64, u64>,
    /// Listing titles by item id (default "Sandbox item ID").
    titles: BTreeMap<u64, String>,
    /// Trading API request bodies, by call name, for contract checks.
    trading_requests: Vec<(String, String)>,
}

/// eBay's revision limit per listing per calendar day.
pub const DAILY_REVISIONS: u32 = 250;

/// The offer id the sandbox gives an item's single offer.
pub fn offer_id(item_id: u64) -> String {
    format!("{}", 8_000_000_000u64 + item_id % 1_000_000_000)
}

/// Where the sandbox's RuName sends the seller after consent (a page of the merchant's).
pub const ACCEPT_URL: &str = "https://onecount.invalid/ebay/accepted";

pub struct Ebay {
    /// The sandbox's OAuth tokens (`tokens.set_ttl`, `tokens.revoke`).
    pub tokens: crate::tokens::TokenAuthority,
    cfg: SimConfig,
    http: reqwest::Client,
    key: SigningKey,
    pub kid: String,
    st: Mutex<St>,
    pub faults: FaultGate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Placed {
    pub order_id: String,
    pub line_item_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderReq {
    /// (item id, quantity)
    pub lines: Vec<(u64, i64)>,
    #[serde(default)]
    pub knobs: DeliveryKnobs,
}

fn random_key() -> SigningKey {
    loop {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        if let Ok(k) = SigningKey::from_slice(&bytes) {
            return k;
        }
    }
}

impl Ebay {
    pub fn new(cfg: SimConfig, http: reqwest::Client) -> Self {
        let tokens = crate::tokens::TokenAuthority::new("v^1.1#i^1#p^3#", false);
        tokens.add_refresh(&cfg.ebay_refresh_token);
        Ebay {
            tokens,
            cfg,
            http,
            key: random_key(),
            kid: uuid::Uuid::new_v4().to_string(),
            st: Mutex::new(St {
                next: 1_123_456_789,
                ..Default::default()
            }),
            faults: FaultGate::default(),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_listing(&self, l: SimListing) {
        self.st().listings.insert(l.item_id, l);
    }

    /// A variation (its own SKU, offer and quantity) of the multi-variation listing
    /// `listing_id`: `v.item_id` is the variation's key, and orders and offers name the
    /// listing.
    pub fn add_variation(&self, listing_id: u64, v: SimListing) {
        let mut st = self.st();
        st.variation_of.insert(v.item_id, listing_id);
        st.listings.insert(v.item_id, v);
    }

    /// Give a listing its title.
    pub fn set_title(&self, item_id: u64, title: &str) {
        self.st().titles.insert(item_id, title.to_string());
    }

    /// A single-SKU listing made in Seller Hub (the Trading API serves it).
    pub fn add_seller_hub_listing(&self, l: SimListing) {
        let mut st = self.st();
        st.seller_hub.insert(l.item_id);
        st.listings.insert(l.item_id, l);
    }

    /// A variation of the Seller Hub multi-variation listing `item_id`: `v.item_id` is
    /// the variation's key here (also its `legacyVariationId`), `v.sku` its SKU.
    pub fn add_seller_hub_variation(&self, item_id: u64, v: SimListing) {
        let mut st = self.st();
        st.seller_hub.insert(v.item_id);
        st.variation_of.insert(v.item_id, item_id);
        st.listings.insert(v.item_id, v);
    }

    /// Make every Trading revision of `key` fail with `code` (10007: eBay's internal
    /// error, a system error to retry).
    pub fn fail_trading_revisions(&self, key: u64, code: Option<u64>) {
        let mut st = self.st();
        match code {
            Some(c) => st.trading_failures.insert(key, c),
            None => st.trading_failures.remove(&key),
        };
    }

    /// Trading API requests received: (call name, XML body), in order.
    pub fn trading_requests(&self) -> Vec<(String, String)> {
        self.st().trading_requests.clone()
    }

    /// Whether the listing of `key` is hidden from search (out-of-stock control on, and
    /// nothing left on any of its variations).
    pub fn hidden(&self, key: u64) -> bool {
        let st = self.st();
        let item = Ebay::listing_of(&st, key);
        let keys: Vec<u64> = Ebay::keys_of(&st, item);
        !st.no_oos_control
            && !keys.iter().any(|k| st.ended.contains(k))
            && keys
                .iter()
                .all(|k| st.listings.get(k).is_none_or(|l| l.qty <= 0))
    }

    /// Every key shown under the listing `item` (its variations, or itself).
    fn keys_of(st: &St, item: u64) -> Vec<u64> {
        let v: Vec<u64> = st
            .variation_of
            .iter()
            .filter(|(_, p)| **p == item)
            .map(|(k, _)| *k)
            .collect();
        if v.is_empty() { vec![item] } else { v }
    }

    /// The eBay listing (item id) an entry shows under.
    fn listing_of(st: &St, key: u64) -> u64 {
        st.variation_of.get(&key).copied().unwrap_or(key)
    }

    pub fn quantity(&self, item_id: u64) -> Option<i64> {
        self.st().listings.get(&item_id).map(|l| l.qty)
    }

    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.st().deliveries.clone()
    }

    /// Quantity updates accepted, in order.
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.st().writes.clone()
    }

    /// The bodies of the bulk calls received, with their operation ids, in order.
    pub fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.st().requests.clone()
    }

    /// Inventory API calls served.
    pub fn api_calls(&self) -> u64 {
        self.st().calls
    }

    /// End the listing and delete its inventory item (its SKU is gone from eBay).
    pub fn remove_listing(&self, item_id: u64) {
        self.st().listings.remove(&item_id);
    }

    /// Set the quantity by hand, as a seller would on ebay.com.
    pub fn set_quantity(&self, item_id: u64, qty: i64) {
        if let Some(l) = self.st().listings.get_mut(&item_id) {
            l.qty = qty;
        }
    }

    /// The seller's out-of-stock control preference (on unless set off): off, a listing
    /// whose quantity reaches 0 ends, and revising it afterwards fails.
    pub fn set_out_of_stock_control(&self, on: bool) {
        self.st().no_oos_control = !on;
    }

    /// The seller's out-of-stock control preference.
    pub fn out_of_stock_control(&self) -> bool {
        !self.st().no_oos_control
    }

    /// Whether eBay ended the listing (it reached 0 without out-of-stock control).
    pub fn ended(&self, item_id: u64) -> bool {
        self.st().ended.contains(&item_id)
    }

    /// End the listing if it is at 0 and the seller has out-of-stock control off; a
    /// multi-variation listing ends when none of its variations has any left.
    fn end_at_zero(st: &mut St, item_id: u64) {
        let keys = Ebay::keys_of(st, Ebay::listing_of(st, item_id));
        if st.no_oos_control
            && keys
                .iter()
                .all(|k| st.listings.get(k).is_none_or(|l| l.qty <= 0))
        {
            st.ended.extend(keys);
        }
    }

    /// Pretend this many revisions were already made today on an item.
    pub fn set_revisions(&self, item_id: u64, n: u32) {
        self.st().revisions.insert(item_id, n);
    }

    /// The inventory item of `sku` (Seller Hub listings have none).
    fn by_sku(st: &St, sku: &str) -> Option<u64> {
        st.listings
            .values()
            .find(|l| l.sku == sku && !st.seller_hub.contains(&l.item_id))
            .map(|l| l.item_id)
    }

    /// `GET /oauth2/authorize` (on auth.ebay.com): the consent page, approved at once by
    /// the sandbox's seller. eBay's rules: the app's `client_id`, the RuName as
    /// `redirect_uri`, `response_type=code`, `scope`. eBay then sends the browser to the
    /// RuName's "auth accepted" URL (here [`ACCEPT_URL`]) with `state`, `code` and
    /// `expires_in`.
    fn consent(&self, q: &BTreeMap<String, String>) -> axum::response::Response {
        let field = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
        if field("client_id") != self.cfg.ebay_client_id {
            return err(400, "invalid client_id");
        }
        if field("response_type") != "code" || field("redirect_uri").is_empty() {
            return err(
                400,
                "response_type=code and redirect_uri (the RuName) are required",
            );
        }
        let code = self.tokens.authorize(field("redirect_uri"), None);
        let to = format!(
            "{ACCEPT_URL}?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("state", field("state"))
                .append_pair("code", &code)
                .append_pair("expires_in", "299")
                .finish()
        );
        axum::response::Redirect::to(&to).into_response()
    }

    /// Bearer token and faults for one Inventory API call.
    async fn inventory_gate(&self, headers: &HeaderMap) -> Option<axum::response::Response> {
        if !self.bearer_ok(headers) {
            return Some(ebay_err(401, 1001, "Invalid access token"));
        }
        self.st().calls += 1;
        self.faults.check().await
    }

    fn bulk_get(&self, body: &serde_json::Value) -> axum::response::Response {
        self.st()
            .requests
            .push(("bulkGetInventoryItem".into(), body.clone()));
        let reqs = body["requests"].as_array().cloned().unwrap_or_default();
        if reqs.len() > 25 {
            return too_many();
        }
        let st = self.st();
        let responses: Vec<serde_json::Value> = reqs
            .iter()
            .map(|r| {
                let sku = r["sku"].as_str().unwrap_or("");
                match Ebay::by_sku(&st, sku).and_then(|i| st.listings.get(&i)) {
                    Some(l) => json!({"statusCode": 200, "sku": sku, "inventoryItem": {"sku": sku,
                    "availability": {"shipToLocationAvailability": {"quantity": l.qty}}}}),
                    None => not_found(sku),
                }
            })
            .collect();
        Json(json!({"responses": responses})).into_response()
    }

    fn bulk_update(&self, body: &serde_json::Value) -> axum::response::Response {
        self.st()
            .requests
            .push(("bulkUpdatePriceQuantity".into(), body.clone()));
        let reqs = body["requests"].as_array().cloned().unwrap_or_default();
        if reqs.len() > 25 {
            return too_many();
        }
        let mut st = self.st();
        let at = now_ms();
        let mut responses = Vec::new();
        for r in &reqs {
            let sku = r["sku"].as_str().unwrap_or("").to_string();
            let Some(item) = Ebay::by_sku(&st, &sku) else {
                responses.push(not_found(&sku));
                continue;
            };
            if st.ended.contains(&item) {
                // What eBay says of a revision to an ended listing (the Trading API's
                // message, through the Inventory API's generic user error).
                responses.push(
                    json!({"statusCode": 400, "sku": sku, "offerId": offer_id(item), "errors": [{"errorId": 25002,
                    "domain": "API_INVENTORY", "category": "REQUEST",
                    "message": "A user error has occurred. You are not allowed to revise ended listings."}]}),
                );
                continue;
            }
            let used = st.revisions.get(&item).copied().unwrap_or(0);
            if used >= DAILY_REVISIONS {
                responses.push(
                    json!({"statusCode": 400, "sku": sku, "errors": [{"errorId": 25019,
                    "message": "This listing has reached its limit of 250 revisions for today."}]}),
                );
                continue;
            }
            let total = r
                .pointer("/shipToLocationAvailability/quantity")
                .and_then(|v| v.as_i64());
            let mut shown = total;
            let mut bad_offer = None;
            for o in r["offers"].as_array().into_iter().flatten() {
                if o["offerId"].as_str() != Some(offer_id(item).as_str()) {
                    bad_offer = o["offerId"].as_str().map(str::to_string);
                    continue;
                }
                let q = o["availableQuantity"].as_i64();
                shown = match (shown, q) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            if let Some(bad) = bad_offer {
                responses.push(json!({"statusCode": 404, "sku": sku, "offerId": bad, "errors": [{"errorId": 25713, "message": "This Offer is not available."}]}));
                continue;
            }
            let Some(q) = shown.filter(|q| *q >= 0) else {
                responses.push(json!({"statusCode": 400, "sku": sku, "errors": [{"errorId": 25702, "message": "quantity is missing or invalid"}]}));
                continue;
            };
            st.revisions.insert(item, used + 1);
            if let Some(l) = st.listings.get_mut(&item) {
                l.qty = q;
            }
            Ebay::end_at_zero(&mut st, item);
            st.writes.push(WriteRecord {
                at_ms: at,
                listing: item.to_string(),
                qty: q,
            });
            responses.push(
                json!({"statusCode": 200, "sku": sku, "offerId": offer_id(item), "warnings": []}),
            );
        }
        Json(json!({"responses": responses})).into_response()
    }

    /// `getInventoryItems`: the seller's inventory items (Seller Hub listings have none),
    /// `limit` (1 to 100, default 100) a page, `offset` the page number; `next` while more.
    fn inventory_items(&self, q: &BTreeMap<String, String>) -> axum::response::Response {
        // eBay's answer to a limit outside 1..=100 is not in the definition: clamped here.
        let limit = q
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(1, 100);
        let page = q
            .get("offset")
            .and_then(|o| o.parse::<usize>().ok())
            .unwrap_or(0);
        let st = self.st();
        let all: Vec<&SimListing> = st
            .listings
            .values()
            .filter(|l| !st.seller_hub.contains(&l.item_id))
            .collect();
        let items: Vec<serde_json::Value> = all
            .iter()
            .skip(page * limit)
            .take(limit)
            .map(|l| {
                json!({"sku": l.sku, "locale": "en_US", "condition": "NEW",
                       "product": {"title": format!("Sandbox item {}", l.sku)},
                       "availability": {"shipToLocationAvailability": {"quantity": l.qty}}})
            })
            .collect();
        let href = |p: usize| {
            format!(
                "https://api.ebay.com/sell/inventory/v1/inventory_item?offset={p}&limit={limit}"
            )
        };
        let mut v = json!({"href": href(page), "limit": limit, "size": items.len(),
                           "total": all.len(), "inventoryItems": items});
        if (page + 1) * limit < all.len() {
            v["next"] = json!(href(page + 1));
        }
        if page > 0 {
            v["prev"] = json!(href(page - 1));
        }
        Json(v).into_response()
    }

    /// Give the listing's SKU an unpublished offer beside its published one.
    pub fn add_unpublished_offer(&self, item_id: u64) {
        self.st().unpublished.insert(item_id);
    }

    /// How often `getPublicKey` was called (the key should be cached).
    pub fn key_fetches(&self) -> u64 {
        self.st().key_fetches
    }

    /// The public key as `getPublicKey` returns it: PEM on one line.
    pub fn public_key_json(&self) -> serde_json::Value {
        let pem = self
            .key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("encodes");
        json!({"algorithm": "ECDSA", "digest": "SHA1", "key": pem.replace('\n', "")})
    }

    /// `X-EBAY-SIGNATURE` for a body, signed with this sandbox's key.
    pub fn signature_header(&self, body: &[u8]) -> String {
        let sig: DerSignature = self.key.sign_prehash(&Sha1::digest(body)).expect("signs");
        let b64 = base64::engine::general_purpose::STANDARD;
        let header = json!({"alg": "ecdsa", "kid": self.kid, "signature": b64.encode(sig.as_bytes()), "digest": "SHA1"});
        b64.encode(header.to_string())
    }

    pub fn place_order(self: &Arc<Self>, req: &OrderReq) -> Result<Placed, String> {
        let order = {
            let mut st = self.st();
            for (i, q) in &req.lines {
                let x = st.listings.get(i).ok_or_else(|| format!("no item {i}"))?;
                if st.ended.contains(i) {
                    return Err(format!("item {i} has ended"));
                }
                if x.qty < *q {
                    return Err(format!("only {} of item {i} on display", x.qty));
                }
            }
            st.next += 1;
            let n = st.next;
            let id = format!(
                "{:02}-{:05}-{:05}",
                n % 100,
                (n / 100) % 100_000,
                n % 100_000
            );
            let mut items = Vec::new();
            for (k, (i, q)) in req.lines.iter().enumerate() {
                let x = st.listings.get_mut(i).expect("checked");
                x.qty -= q;
                let sku = x.sku.clone();
                *st.sold.entry(*i).or_default() += q;
                Ebay::end_at_zero(&mut st, *i);
                let mut line = json!({"lineItemId": format!("{}", 10_071_000_000_000u64 + n * 10 + k as u64), "legacyItemId": Ebay::listing_of(&st, *i).to_string(),
                                  "sku": sku, "title": "Sandbox item", "quantity": q, "lineItemFulfillmentStatus": "NOT_STARTED"});
                if st.variation_of.contains_key(i) {
                    line["legacyVariationId"] = json!(i.to_string());
                }
                items.push(line);
            }
            let order = json!({"orderId": id, "creationDate": rfc3339(now_ms()), "lastModifiedDate": rfc3339(now_ms()),
                               "orderPaymentStatus": "PAID", "orderFulfillmentStatus": "NOT_STARTED",
                               "buyer": {"username": "ada_l"}, "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
                               "lineItems": items});
            st.orders.insert(id.clone(), order.clone());
            order
        };
        let id = order["orderId"].as_str().unwrap_or_default().to_string();
        let lines: Vec<String> = order["lineItems"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|l| l["lineItemId"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        // One notification per line item.
        for _ in &lines {
            self.notify(&id, &req.knobs);
        }
        Ok(Placed {
            order_id: id,
            line_item_ids: lines,
        })
    }

    /// Another `ORDER_CONFIRMATION` for the order (checkout flipped back to complete).
    pub fn resend(self: &Arc<Self>, order_id: &str, knobs: &DeliveryKnobs) {
        self.notify(order_id, knobs);
    }

    /// Cancel the order; eBay sends no notification for it (reconciliation reads it).
    pub fn cancel(&self, order_id: &str) -> Result<(), String> {
        let mut st = self.st();
        let o = st.orders.get_mut(order_id).ok_or("no such order")?;
        o["cancelStatus"]["cancelState"] = json!("CANCELED");
        o["lastModifiedDate"] = json!(rfc3339(now_ms()));
        let items = o["lineItems"].as_array().cloned().unwrap_or_default();
        for li in items {
            // The line's key: its variation, else its listing.
            let key = li["legacyVariationId"]
                .as_str()
                .or(li["legacyItemId"].as_str())
                .and_then(|i| i.parse::<u64>().ok());
            let q = li["quantity"].as_i64().unwrap_or(0);
            if let Some(k) = key
                && let Some(l) = st.listings.get_mut(&k)
            {
                l.qty += q;
                let sold = st.sold.entry(k).or_default();
                *sold = (*sold - q).max(0);
            }
        }
        Ok(())
    }

    fn notify(self: &Arc<Self>, order_id: &str, knobs: &DeliveryKnobs) {
        if knobs.lose {
            return;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let body = json!({"metadata": {"topic": "ORDER_CONFIRMATION", "schemaVersion": "1.0", "deprecated": false},
                          "notification": {"notificationId": id, "eventDate": "2026-03-14T14:21:07.000Z", "publishDate": "2026-03-14T14:21:09.120Z",
                                           "publishAttemptCount": 1, "data": {"orderId": order_id}}});
        let me = self.clone();
        let knobs = knobs.clone();
        tokio::spawn(async move {
            if knobs.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(knobs.delay_ms)).await;
            }
            let bytes = serde_json::to_vec(&body).expect("JSON");
            let headers = vec![
                ("content-type".to_string(), "application/json".to_string()),
                ("X-EBAY-SIGNATURE".to_string(), me.signature_header(&bytes)),
            ];
            for _ in 0..knobs.deliveries.max(1) {
                let status = send(
                    &me.http,
                    &format!("{}/webhooks/ebay", me.cfg.webhook_base),
                    &headers,
                    &bytes,
                )
                .await;
                me.st().deliveries.push(DeliveryRecord {
                    topic: "ORDER_CONFIRMATION".into(),
                    delivery_id: id.clone(),
                    status,
                });
            }
        });
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        auth.strip_prefix("Bearer ")
            .is_some_and(|t| self.tokens.check(t))
    }
}

pub fn router(s: Arc<Ebay>) -> Router {
    Router::new()
        .route("/_sim/listings", post(|State(s): State<Arc<Ebay>>, Json(ls): Json<Vec<SimListing>>| async move {
            for l in ls {
                s.add_listing(l);
            }
            Json(json!({"ok": true}))
        }))
        .route("/_sim/orders", post(|State(s): State<Arc<Ebay>>, Json(r): Json<OrderReq>| async move {
            match s.place_order(&r) {
                Ok(p) => Json(json!(p)).into_response(),
                Err(e) => err(409, &e),
            }
        }))
        .route("/_sim/orders/{id}/cancel", post(|State(s): State<Arc<Ebay>>, Path(id): Path<String>| async move {
            match s.cancel(&id) {
                Ok(()) => Json(json!({"ok": true})).into_response(),
                Err(e) => err(409, &e),
            }
        }))
        .route("/identity/v1/oauth2/token", post(|State(s): State<Arc<Ebay>>, headers: HeaderMap, axum::extract::Form(f): axum::extract::Form<BTreeMap<String, String>>| async move {
            let b64 = base64::engine::general_purpose::STANDARD;
            let want = format!("Basic {}", b64.encode(format!("{}:{}", s.cfg.ebay_client_id, s.cfg.ebay_client_secret)));
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
                return err(401, "invalid_client");
            }
            let issued = match f.get("grant_type").map(String::as_str) {
                // A user token from the seller's refresh token (eBay does not rotate it).
                Some("refresh_token") => f.get("refresh_token").and_then(|r| s.tokens.refresh(r)),
                // An application token (getPublicKey).
                Some("client_credentials") => Some(s.tokens.issue()),
                // The seller's consent: a user token and the refresh token (~18 months).
                Some("authorization_code") => {
                    let field = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
                    match s.tokens.exchange(field("code"), field("redirect_uri"), None) {
                        Ok(i) => return Json(json!({"access_token": i.access, "expires_in": i.expires_in,
                            "refresh_token": i.refresh, "refresh_token_expires_in": 47_304_000,
                            "token_type": "User Access Token"})).into_response(),
                        Err(e) => return (axum::http::StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": e}))).into_response(),
                    }
                }
                _ => None,
            };
            match issued {
                Some(i) => Json(json!({"access_token": i.access, "expires_in": i.expires_in, "token_type": "User Access Token"})).into_response(),
                None => (axum::http::StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant",
                    "error_description": "the provided authorization refresh token is invalid or was issued to another client"}))).into_response(),
            }
        }))
        .route("/oauth2/authorize", get(|State(s): State<Arc<Ebay>>, Query(q): Query<BTreeMap<String, String>>| async move {
            s.consent(&q)
        }))
        .route("/commerce/identity/v1/user/", get(|State(s): State<Arc<Ebay>>, headers: HeaderMap| async move {
            if !s.bearer_ok(&headers) {
                return err(401, "Invalid access token");
            }
            Json(json!({"userId": "nY8mXcGJ0yP", "username": "onecount_sandbox_seller",
                        "accountType": "BUSINESS", "registrationMarketplaceId": "EBAY_US"})).into_response()
        }))
        .route("/commerce/notification/v1/public_key/{kid}", get(|State(s): State<Arc<Ebay>>, Path(kid): Path<String>, headers: HeaderMap| async move {
            if !s.bearer_ok(&headers) {
                return err(401, "Invalid access token");
            }
            s.st().key_fetches += 1;
            if kid != s.kid {
                return err(404, "public key not found");
            }
            Json(s.public_key_json()).into_response()
        }))
        .route("/sell/inventory/v1/bulk_get_inventory_item", post(|State(s): State<Arc<Ebay>>, headers: HeaderMap, Json(body): Json<serde_json::Value>| async move {
            if let Some(r) = s.inventory_gate(&headers).await {
                return r;
            }
            s.bulk_get(&body)
        }))
        .route("/sell/inventory/v1/bulk_update_price_quantity", post(|State(s): State<Arc<Ebay>>, headers: HeaderMap, Json(body): Json<serde_json::Value>| async move {
            if let Some(r) = s.inventory_gate(&headers).await {
                return r;
            }
            s.bulk_update(&body)
        }))
        .route("/sell/inventory/v1/inventory_item", get(|State(s): State<Arc<Ebay>>, headers: HeaderMap, Query(q): Query<BTreeMap<String, String>>| async move {
            if let Some(r) = s.inventory_gate(&headers).await {
                return r;
            }
            s.inventory_items(&q)
        }))
        .route("/sell/inventory/v1/offer", get(|State(s): State<Arc<Ebay>>, headers: HeaderMap, Query(q): Query<BTreeMap<String, String>>| async move {
            if let Some(r) = s.inventory_gate(&headers).await {
                return r;
            }
            let sku = q.get("sku").cloned().unwrap_or_default();
            let st = s.st();
            match Ebay::by_sku(&st, &sku).and_then(|i| st.listings.get(&i)) {
                Some(l) => {
                    let mut offers = vec![json!({"offerId": offer_id(l.item_id), "sku": sku, "marketplaceId": "EBAY_US", "format": "FIXED_PRICE",
                        "availableQuantity": l.qty, "status": "PUBLISHED",
                        "listing": {"listingId": Ebay::listing_of(&st, l.item_id).to_string(), "listingStatus": if st.ended.contains(&l.item_id) { "ENDED" } else if l.qty > 0 { "ACTIVE" } else { "OUT_OF_STOCK" }}})];
                    if st.unpublished.contains(&l.item_id) {
                        // No listing container: eBay returns none for unpublished offers.
                        offers.push(json!({"offerId": format!("{}9", offer_id(l.item_id)), "sku": sku, "marketplaceId": "EBAY_US",
                            "format": "FIXED_PRICE", "availableQuantity": 0, "status": "UNPUBLISHED"}));
                    }
                    Json(json!({"total": offers.len(), "size": offers.len(), "offers": offers})).into_response()
                }
                None => ebay_err(404, 25713, "This Offer is not available."),
            }
        }))
        .route("/ws/api.dll", post(|State(s): State<Arc<Ebay>>, headers: HeaderMap, body: String| async move {
            s.trading(&headers, &body).await
        }))
        .route("/_sim/faults", post(|State(s): State<Arc<Ebay>>, Json(f): Json<crate::Faults>| async move {
            s.faults.set(f);
            Json(json!({"ok": true}))
        }))
        .route("/_sim/writes", get(|State(s): State<Arc<Ebay>>| async move { Json(json!(s.writes())) }))
        .route("/sell/fulfillment/v1/order", get(|State(s): State<Arc<Ebay>>, headers: HeaderMap, Query(q): Query<BTreeMap<String, String>>| async move {
            if let Some(r) = s.inventory_gate(&headers).await {
                return r;
            }
            // filter=lastmodifieddate:[2026-03-14T00:00:00.000Z..]: UTC, three-digit
            // milliseconds (else 30810), within the 90 days eBay keeps (else 30830).
            let from = q.get("filter")
                .and_then(|f| f.strip_prefix("lastmodifieddate:["))
                .and_then(|f| f.split("..").next())
                .unwrap_or("");
            let well_formed = from.len() == 24 && from.ends_with('Z') && from.as_bytes().get(19) == Some(&b'.');
            let since = match parse_rfc3339(from) {
                Some(t) if well_formed => t,
                _ => return ebay_err(400, 30810, "Invalid date format."),
            };
            if since < now_ms() - 90 * 86_400_000 {
                return ebay_err(400, 30830, "Start date must be within 90 days of end date and current date.");
            }
            let limit = q.get("limit").and_then(|v| v.parse::<usize>().ok()).unwrap_or(50).min(200);
            let offset = q.get("offset").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
            let st = s.st();
            let all: Vec<&serde_json::Value> = st.orders.values()
                .filter(|o| o["lastModifiedDate"].as_str().and_then(parse_rfc3339).unwrap_or(0) >= since)
                .collect();
            let page: Vec<serde_json::Value> = all.iter().skip(offset).take(limit).map(|o| (*o).clone()).collect();
            Json(json!({"total": all.len(), "offset": offset, "limit": limit, "orders": page})).into_response()
        }))
        .route("/sell/fulfillment/v1/order/{id}", get(|State(s): State<Arc<Ebay>>, Path(id): Path<String>, headers: HeaderMap| async move {
            if !s.bearer_ok(&headers) {
                return ebay_err(401, 1001, "Invalid access token");
            }
            match s.st().orders.get(&id) {
                Some(o) => Json(o.clone()).into_response(),
                None => ebay_err(404, 32100, "Invalid order ID."),
            }
        }))
        .with_state(s)
}

fn too_many() -> axum::response::Response {
    ebay_err(
        400,
        25727,
        "The number of requests exceeds the limit of 25.",
    )
}

/// An error as eBay's REST APIs send it: `{errors: [ErrorDetailV3]}`.
fn ebay_err(status: u16, error_id: u32, message: &str) -> axum::response::Response {
    (
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST),
        Json(json!({"errors": [{"errorId": error_id, "domain": "API_INVENTORY", "category": "REQUEST", "message": message}]})),
    )
        .into_response()
}

fn not_found(sku: &str) -> serde_json::Value {
    json!({"statusCode": 404, "sku": sku, "errors": [{"errorId": 25710, "message": "We didn't find the resource/entity you are requesting."}]})
}
