//! The Etsy sandbox: pointer webhooks (Standard Webhooks) and the receipts they point at.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    DeliveryKnobs, DeliveryRecord, FaultGate, SimConfig, WriteRecord, err, now_ms, now_secs,
    post as send,
};

pub const SHOP_ID: &str = "12345678";

/// One product of a listing (its SKU and quantity). Several with one `listing_id` make a
/// listing with variations, the products told apart by a colour property.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimListing {
    pub listing_id: u64,
    pub sku: String,
    pub qty: i64,
}

#[derive(Default)]
struct St {
    /// Each listing's products, in the order added.
    listings: BTreeMap<u64, Vec<SimListing>>,
    receipts: BTreeMap<u64, serde_json::Value>,
    next: u64,
    deliveries: Vec<DeliveryRecord>,
    public_base: String,
    api_calls: u64,
    /// Listing titles (default "Sandbox mug").
    titles: BTreeMap<u64, String>,
    /// Listing states other than `active` (`inactive`, `sold_out`, `expired`, `draft`).
    states: BTreeMap<u64, String>,
    /// Sold-out or expired listings made active again: each one a listing fee on Etsy.
    renewals: u32,
    /// The bodies of inventory PUTs and listing PATCHes received (operation id, body; a
    /// form as an object), for the contract checks.
    requests: Vec<(String, serde_json::Value)>,
    /// Product and offering ids, new on every inventory write (as on Etsy).
    ids: BTreeMap<u64, (u64, u64)>,
    next_id: u64,
    limits: Limits,
    /// Calls per wall-clock second, and in the sandbox's "day" (its lifetime).
    second: (i64, u32),
    today: u32,
    rate_limited: u64,
    writes: Vec<WriteRecord>,
}

impl St {
    fn state(&self, listing_id: u64) -> &str {
        self.states
            .get(&listing_id)
            .map_or("active", String::as_str)
    }

    fn active(&self, listing_id: u64) -> bool {
        self.state(listing_id) == "active"
    }

    /// What buyers can buy of a product now.
    fn shows(&self, l: &SimListing) -> i64 {
        if self.active(l.listing_id) { l.qty } else { 0 }
    }

    fn product(&self, listing_id: u64, sku: Option<&str>) -> Option<&SimListing> {
        let ps = self.listings.get(&listing_id)?;
        match sku {
            Some(sku) => ps.iter().find(|p| p.sku == sku),
            None => ps.first(),
        }
    }

    fn product_mut(&mut self, listing_id: u64, sku: Option<&str>) -> Option<&mut SimListing> {
        let ps = self.listings.get_mut(&listing_id)?;
        match sku {
            Some(sku) => ps.iter_mut().find(|p| p.sku == sku),
            None => ps.first_mut(),
        }
    }

    /// A write accepted: what each product of the listing shows after it (a listing's
    /// first product is recorded under the listing id, the others under `id:sku`).
    fn record_writes(&mut self, listing_id: u64) {
        let ps = self.listings.get(&listing_id).cloned().unwrap_or_default();
        for (i, p) in ps.iter().enumerate() {
            let listing = if i == 0 {
                listing_id.to_string()
            } else {
                format!("{listing_id}:{}", p.sku)
            };
            let qty = self.shows(p);
            self.writes.push(WriteRecord {
                at_ms: now_ms(),
                listing,
                qty,
            });
        }
    }
}

/// The colours that tell a listing's products apart, in order.
const COLOURS: [&str; 6] = ["Blue", "Red", "Green", "Black", "White", "Yellow"];

/// The processing profile sandbox offerings carry (shown by single-listing reads only).
const READINESS_STATE_ID: u64 = 1_402_336_022_581;

/// One offering of an inventory PUT: its quantity as buyers see it (0 when disabled).
/// The definition makes `readiness_state_id` a required key that may be null, and says
/// reads fill it in only for active physical listings; so null is refused only there.
fn offering_quantity(o: &serde_json::Value, active: bool) -> Result<i64, (u16, String)> {
    if o.get("offering_id").is_some() {
        return Err((400, "offering_id is not a valid field on update".into()));
    }
    if !o["price"].is_number() {
        return Err((400, "price must be a number".into()));
    }
    match o.get("readiness_state_id") {
        None => {
            return Err((
                400,
                "readiness_state_id is required on every offering".into(),
            ));
        }
        Some(r) if r.is_null() && active => {
            return Err((400, "An active physical listing's offerings need a processing profile (readiness_state_id)".into()));
        }
        Some(_) => {}
    }
    let q = o["quantity"].as_i64().unwrap_or(-1);
    if !(0..=999).contains(&q) {
        return Err((400, "quantity must be between 0 and 999".into()));
    }
    Ok(if o["is_enabled"].as_bool().unwrap_or(true) {
        q
    } else {
        0
    })
}

/// Etsy's per-second and per-day limits (QPS first, as Etsy evaluates them).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Limits {
    pub per_second: u32,
    pub per_day: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_second: 10,
            per_day: 10_000,
        }
    }
}

pub struct Etsy {
    /// The sandbox's OAuth tokens (`tokens.set_ttl`, `tokens.revoke`).
    pub tokens: crate::tokens::TokenAuthority,
    cfg: SimConfig,
    http: reqwest::Client,
    st: Mutex<St>,
    pub faults: FaultGate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Placed {
    pub receipt_id: String,
    pub transaction_ids: Vec<String>,
    pub webhook_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderReq {
    /// (listing id, quantity)
    pub lines: Vec<(u64, i64)>,
    /// The SKU of each line's product, for listings with several (none: the first).
    #[serde(default)]
    pub skus: Vec<String>,
    #[serde(default)]
    pub knobs: DeliveryKnobs,
}

impl Etsy {
    pub fn new(cfg: SimConfig, http: reqwest::Client) -> Self {
        // Access tokens are `<user id>.<token>`; refresh tokens rotate on every use.
        let tokens = crate::tokens::TokenAuthority::new("5550001.", true);
        tokens.add_access(&cfg.etsy_token);
        tokens.add_refresh(&cfg.etsy_refresh_token);
        Etsy {
            tokens,
            cfg,
            http,
            st: Mutex::new(St {
                next: 3_456_789_000,
                next_id: 11_000_000_000,
                ..Default::default()
            }),
            faults: FaultGate::default(),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_public_base(&self, url: &str) {
        self.st().public_base = url.to_string();
    }

    /// Add a listing, or a product to a listing (a product with the same SKU replaced).
    pub fn add_listing(&self, l: SimListing) {
        let mut st = self.st();
        let ps = st.listings.entry(l.listing_id).or_default();
        match ps.iter_mut().find(|p| p.sku == l.sku) {
            Some(p) => *p = l,
            None => ps.push(l),
        }
    }

    /// What buyers can buy of the listing's first product: 0 unless the listing is active.
    pub fn quantity(&self, listing_id: u64) -> Option<i64> {
        let st = self.st();
        st.product(listing_id, None).map(|l| st.shows(l))
    }

    /// The `n`th product of a listing: its SKU and what buyers can buy of it.
    pub fn product(&self, listing_id: u64, n: usize) -> Option<(String, i64)> {
        let st = self.st();
        let p = st.listings.get(&listing_id)?.get(n)?;
        Some((p.sku.clone(), st.shows(p)))
    }

    /// What buyers can buy of the product with `sku`.
    pub fn quantity_of(&self, listing_id: u64, sku: &str) -> Option<i64> {
        let st = self.st();
        st.product(listing_id, Some(sku)).map(|l| st.shows(l))
    }

    /// Give a listing its title.
    pub fn set_title(&self, listing_id: u64, title: &str) {
        self.st().titles.insert(listing_id, title.to_string());
    }

    /// The listing's `state`.
    pub fn state(&self, listing_id: u64) -> String {
        self.st().state(listing_id).to_string()
    }

    /// Set a listing's state by hand (`expired`, `draft`, …), as Etsy or the seller would.
    pub fn set_listing_state(&self, listing_id: u64, state: &str) {
        let mut st = self.st();
        match state {
            "active" => st.states.remove(&listing_id),
            s => st.states.insert(listing_id, s.to_string()),
        };
    }

    /// Sold-out or expired listings made active again (each a listing fee on Etsy).
    pub fn renewals(&self) -> u32 {
        self.st().renewals
    }

    /// The write requests received, oldest first: (operation id, body).
    pub fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.st().requests.clone()
    }

    fn log_request(&self, op: &str, body: serde_json::Value) {
        self.st().requests.push((op.to_string(), body));
    }

    /// Whether the listing is on sale.
    pub fn is_active(&self, listing_id: u64) -> bool {
        let st = self.st();
        st.listings.contains_key(&listing_id) && st.active(listing_id)
    }

    /// The first product's own quantity, whatever the listing's state.
    pub fn stored_quantity(&self, listing_id: u64) -> Option<i64> {
        self.st().product(listing_id, None).map(|l| l.qty)
    }

    /// Set the first product's quantity by hand, as a seller would on etsy.com.
    pub fn set_quantity(&self, listing_id: u64, qty: i64) {
        if let Some(l) = self.st().product_mut(listing_id, None) {
            l.qty = qty;
        }
    }

    pub fn remove_listing(&self, listing_id: u64) {
        self.st().listings.remove(&listing_id);
    }

    pub fn set_limits(&self, limits: Limits) {
        let mut st = self.st();
        st.limits = limits;
        st.second = (0, 0);
        st.today = 0;
    }

    /// Inventory writes and state changes accepted, in order (`qty` = what shows after).
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.st().writes.clone()
    }

    /// Calls refused with 429.
    pub fn rate_limited(&self) -> u64 {
        self.st().rate_limited
    }

    /// Count the call against the limits: the headers to answer with, or the 429.
    #[allow(clippy::result_large_err)] // an HTTP answer is the natural error of a server
    fn meter(&self) -> Result<Vec<(&'static str, String)>, axum::response::Response> {
        let mut st = self.st();
        let sec = now_ms() / 1000;
        if st.second.0 != sec {
            st.second = (sec, 0);
        }
        let lim = st.limits;
        if st.second.1 >= lim.per_second {
            st.rate_limited += 1;
            return Err(err(429, "Exceeded per second rate limit"));
        }
        if st.today >= lim.per_day {
            st.rate_limited += 1;
            let mut r = err(429, "Exceeded per day rate limit");
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("86400"));
            return Err(r);
        }
        st.second.1 += 1;
        st.today += 1;
        Ok(vec![
            ("x-limit-per-second", lim.per_second.to_string()),
            (
                "x-remaining-this-second",
                (lim.per_second - st.second.1).to_string(),
            ),
            ("x-limit-per-day", lim.per_day.to_string()),
            ("x-remaining-today", (lim.per_day - st.today).to_string()),
        ])
    }

    /// Auth, faults and limits for one API call.
    async fn gate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Vec<(&'static str, String)>, axum::response::Response> {
        if let Some(r) = self.refuse(headers) {
            return Err(r);
        }
        if let Some(r) = self.faults.check().await {
            return Err(r);
        }
        self.meter()
    }

    /// A listing's `inventory` (`ListingInventory`, prices as Money). `readiness` fills in
    /// the offerings' processing profile, which only single-listing reads of an active
    /// listing do; the batch read leaves it null.
    fn inventory(st: &St, listing_id: u64, readiness: bool) -> serde_json::Value {
        let (pid, oid) = st
            .ids
            .get(&listing_id)
            .copied()
            .unwrap_or((listing_id * 10 + 1, listing_id * 10 + 2));
        let profile = (readiness && st.active(listing_id)).then_some(READINESS_STATE_ID);
        let ps = st.listings.get(&listing_id).cloned().unwrap_or_default();
        let products: Vec<serde_json::Value> = ps.iter().enumerate().map(|(i, l)| {
            let i = i as u64;
            let (value_id, colour) = (1213 + i, COLOURS[i as usize % COLOURS.len()]);
            json!({
                "product_id": pid + 100 * i, "sku": l.sku, "is_deleted": false,
                "property_values": [{"property_id": 200, "property_name": "Primary color", "scale_id": null, "scale_name": null, "value_ids": [value_id], "values": [colour]}],
                "offerings": [{"offering_id": oid + 100 * i, "quantity": l.qty, "is_enabled": true, "is_deleted": false,
                               "price": {"amount": 2400, "divisor": 100, "currency_code": "USD"}, "readiness_state_id": profile}]
            })
        }).collect();
        json!({
            "products": products,
            "price_on_property": [], "quantity_on_property": [200], "sku_on_property": [200], "readiness_state_on_property": []
        })
    }

    /// The listing (`ShopListing`, the fields onecount reads and a few beside them).
    fn listing(st: &St, listing_id: u64) -> serde_json::Value {
        let qty: i64 = st
            .listings
            .get(&listing_id)
            .into_iter()
            .flatten()
            .map(|p| p.qty.max(0))
            .sum();
        json!({
            "listing_id": listing_id, "user_id": 5550001, "shop_id": SHOP_ID.parse::<u64>().unwrap_or(0),
            "title": st.titles.get(&listing_id).map_or("Sandbox mug", String::as_str), "state": st.state(listing_id), "quantity": qty,
            "listing_type": "physical", "has_variations": true, "url": format!("https://www.etsy.com/listing/{listing_id}"),
        })
    }

    /// One element of `getListingsInventoryByListingIds`: the listing with its inventory.
    fn with_inventory(st: &St, listing_id: u64) -> serde_json::Value {
        let mut v = Etsy::listing(st, listing_id);
        v["inventory"] = Etsy::inventory(st, listing_id, false);
        v
    }

    /// `getListingsByShop`: one state's listings (default `active`), `limit` 1–100
    /// (default 25) from `offset`, in listing id order; `count` is every listing in that
    /// state. `includes=Inventory` adds each one's inventory.
    fn listings_by_shop(
        &self,
        shop: &str,
        q: &BTreeMap<String, String>,
    ) -> Result<serde_json::Value, (u16, String)> {
        if shop != SHOP_ID {
            return Err((404, format!("Shop {shop} not found")));
        }
        let state = q.get("state").map_or("active", String::as_str);
        if !["active", "inactive", "sold_out", "draft", "expired"].contains(&state) {
            return Err((
                400,
                format!("state: {state} is not one of the allowed values"),
            ));
        }
        let number = |k: &str, default: usize| -> Result<usize, (u16, String)> {
            q.get(k).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| (400, format!("{k} must be an integer")))
            })
        };
        let (limit, offset) = (number("limit", 25)?, number("offset", 0)?);
        if !(1..=100).contains(&limit) {
            return Err((400, "limit must be between 1 and 100".into()));
        }
        let inventory = q
            .get("includes")
            .is_some_and(|i| i.split(',').any(|x| x.trim() == "Inventory"));
        let st = self.st();
        let ids: Vec<u64> = st
            .listings
            .keys()
            .copied()
            .filter(|id| st.state(*id) == state)
            .collect();
        let results: Vec<serde_json::Value> = ids
            .iter()
            .skip(offset)
            .take(limit)
            .map(|id| {
                if inventory {
                    Etsy::with_inventory(&st, *id)
                } else {
                    Etsy::listing(&st, *id)
                }
            })
            .collect();
        Ok(json!({"count": ids.len(), "results": results}))
    }

    /// `getListingInventory?includes=Listing`: the inventory, the listing under `listing`.
    fn single_inventory(st: &St, listing_id: u64) -> serde_json::Value {
        let mut v = Etsy::inventory(st, listing_id, true);
        v["listing"] = Etsy::listing(st, listing_id);
        v
    }

    /// `updateListingInventory`: validates like Etsy (read-only ids refused, price as a
    /// float, `readiness_state_id` on every offering and set on a physical listing's, not
    /// every offering at 0, quantity ≤ 999) and replaces the inventory, with new ids.
    fn put_inventory(
        &self,
        listing_id: u64,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, (u16, String)> {
        let mut st = self.st();
        let Some(ours) = st.listings.get(&listing_id).cloned() else {
            return Err((404, "Listing not found".into()));
        };
        let products = body["products"].as_array().cloned().unwrap_or_default();
        if products.is_empty() {
            return Err((400, "Products can't be empty".into()));
        }
        let mut any_positive = false;
        let mut set: BTreeMap<String, i64> = BTreeMap::new();
        for p in &products {
            if p.get("product_id").is_some() {
                return Err((400, "product_id is not a valid field on update".into()));
            }
            if p["property_values"].as_array().is_none_or(|v| v.is_empty()) {
                return Err((400, "Property values can't be empty".into()));
            }
            for o in p["offerings"].as_array().into_iter().flatten() {
                let q = offering_quantity(o, st.active(listing_id))?;
                any_positive |= q > 0;
                if let Some(sku) = p["sku"].as_str() {
                    set.insert(sku.to_string(), q);
                }
            }
        }
        if !any_positive {
            return Err((400, "One offering must have quantity greater than 0".into()));
        }
        // The body replaces the inventory: a product left out would be deleted.
        if let Some(gone) = ours.iter().find(|p| !set.contains_key(&p.sku)) {
            return Err((400, format!("product with sku {} is missing", gone.sku)));
        }
        st.next_id += 2;
        let ids = (st.next_id, st.next_id + 1);
        st.ids.insert(listing_id, ids);
        for p in st.listings.get_mut(&listing_id).into_iter().flatten() {
            p.qty = set[&p.sku];
        }
        st.record_writes(listing_id);
        Ok(Etsy::inventory(&st, listing_id, true))
    }

    /// `updateListing` with a state. `active` from `sold_out` or `expired` renews the
    /// listing (a fee on Etsy) and, from `sold_out`, sets its quantity to 1; a draft
    /// needs an image to go live, which sandbox listings have not.
    fn set_state(&self, listing_id: u64, state: &str) -> Result<serde_json::Value, (u16, String)> {
        let mut st = self.st();
        if !st.listings.contains_key(&listing_id) {
            return Err((404, "Listing not found".into()));
        }
        let before = st.state(listing_id).to_string();
        match (state, before.as_str()) {
            ("inactive", _) => {
                st.states.insert(listing_id, "inactive".into());
            }
            ("active", "draft") => {
                return Err((400, "A listing needs an image to be active".into()));
            }
            ("active", was) => {
                st.states.remove(&listing_id);
                if was == "sold_out" || was == "expired" {
                    st.renewals += 1;
                }
                if was == "sold_out"
                    && let Some(x) = st.product_mut(listing_id, None)
                {
                    x.qty = 1;
                }
            }
            (other, _) => return Err((400, format!("state {other} is not allowed"))),
        }
        st.record_writes(listing_id);
        Ok(Etsy::listing(&st, listing_id))
    }

    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.st().deliveries.clone()
    }

    /// API calls served (receipts and, later, inventory).
    pub fn api_calls(&self) -> u64 {
        self.st().api_calls
    }

    pub fn place_order(self: &Arc<Self>, req: &OrderReq) -> Result<Placed, String> {
        let (id, txs) = {
            let mut st = self.st();
            let sku = |i: usize| req.skus.get(i).map(String::as_str);
            for (i, (l, q)) in req.lines.iter().enumerate() {
                let x = st
                    .product(*l, sku(i))
                    .ok_or_else(|| format!("no listing {l} (product {:?})", sku(i)))?;
                let shows = st.shows(x);
                if shows < *q {
                    return Err(format!("only {shows} of listing {l} on display"));
                }
            }
            st.next += 1;
            let id = st.next;
            let mut txs = Vec::new();
            for (i, (l, q)) in req.lines.iter().enumerate() {
                let x = st.product_mut(*l, sku(i)).expect("checked");
                x.qty -= q;
                let x = x.clone();
                let sold_out = st.listings[l].iter().all(|p| p.qty <= 0);
                if sold_out {
                    // Etsy marks a listing whose last unit sold as sold out.
                    st.states.insert(*l, "sold_out".into());
                }
                txs.push(json!({"transaction_id": id * 10 + i as u64 + 4_000_000_000_000u64, "title": "Sandbox item", "listing_id": l,
                                "product_id": 9_876_543_210u64 + i as u64, "sku": x.sku, "quantity": q,
                                "variations": [{"property_id": 200, "value_id": 1213, "formatted_name": "Color", "formatted_value": "Blue"}]}));
            }
            let receipt = json!({"receipt_id": id, "receipt_type": 0, "seller_user_id": 5550001, "buyer_user_id": 6660002,
                                 "buyer_email": "buyer@example.com", "name": "Ada Lovelace", "status": "paid", "is_paid": true,
                                 "is_shipped": false, "created_timestamp": now_secs(), "updated_timestamp": now_secs(), "transactions": txs});
            st.receipts.insert(id, receipt);
            (id, txs)
        };
        let webhook_id = self.notify("order.paid", id, &req.knobs);
        Ok(Placed {
            receipt_id: id.to_string(),
            transaction_ids: txs
                .iter()
                .map(|t| t["transaction_id"].to_string())
                .collect(),
            webhook_id,
        })
    }

    /// The receipt's webhook again, as a new message (new `webhook-id`).
    pub fn resend(self: &Arc<Self>, receipt_id: u64, knobs: &DeliveryKnobs) -> String {
        self.notify("order.paid", receipt_id, knobs)
    }

    pub fn cancel(self: &Arc<Self>, receipt_id: u64, knobs: &DeliveryKnobs) -> Result<(), String> {
        {
            let mut st = self.st();
            let r = st.receipts.get_mut(&receipt_id).ok_or("no such receipt")?;
            if r["status"] == "canceled" {
                return Err("already cancelled".into());
            }
            r["status"] = json!("canceled");
            r["updated_timestamp"] = json!(now_secs());
            let txs = r["transactions"].as_array().cloned().unwrap_or_default();
            for t in txs {
                let (Some(l), sku) = (t["listing_id"].as_u64(), t["sku"].as_str()) else {
                    continue;
                };
                if let Some(l) = st.product_mut(l, sku) {
                    l.qty += t["quantity"].as_i64().unwrap_or(0);
                }
            }
        }
        self.notify("order.canceled", receipt_id, knobs);
        Ok(())
    }

    fn notify(self: &Arc<Self>, event: &str, receipt_id: u64, knobs: &DeliveryKnobs) -> String {
        let webhook_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        if knobs.lose {
            return webhook_id;
        }
        let base = self.st().public_base.clone();
        let body = json!({"event_type": event, "resource_url": format!("{base}/v3/application/shops/{SHOP_ID}/receipts/{receipt_id}"), "shop_id": SHOP_ID.parse::<u64>().unwrap_or(0)});
        let me = self.clone();
        let (event, id, knobs) = (event.to_string(), webhook_id.clone(), knobs.clone());
        tokio::spawn(async move {
            if knobs.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(knobs.delay_ms)).await;
            }
            let bytes = serde_json::to_vec(&body).expect("JSON");
            for _ in 0..knobs.deliveries.max(1) {
                // Each attempt: same webhook-id, fresh timestamp and signature.
                let ts = now_secs();
                let sig = onecount::channels::etsy::sign(&me.cfg.etsy_secret, &id, ts, &bytes)
                    .expect("valid secret");
                let headers = vec![
                    ("content-type".to_string(), "application/json".to_string()),
                    ("webhook-id".to_string(), id.clone()),
                    ("webhook-timestamp".to_string(), ts.to_string()),
                    ("webhook-signature".to_string(), sig),
                ];
                let status = send(
                    &me.http,
                    &format!("{}/webhooks/etsy", me.cfg.webhook_base),
                    &headers,
                    &bytes,
                )
                .await;
                me.st().deliveries.push(DeliveryRecord {
                    topic: event.clone(),
                    delivery_id: id.clone(),
                    status,
                });
            }
        });
        webhook_id
    }

    /// Etsy's auth rules: `x-api-key: keystring:shared_secret` and the Bearer token.
    /// `Some(refusal)` when the call is not authorised.
    fn refuse(&self, headers: &HeaderMap) -> Option<axum::response::Response> {
        self.st().api_calls += 1;
        let key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if key
            != format!(
                "{}:{}",
                self.cfg.etsy_keystring, self.cfg.etsy_shared_secret
            )
        {
            return Some(err(403, "Shared secret is required in x-api-key header."));
        }
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !auth
            .strip_prefix("Bearer ")
            .is_some_and(|t| self.tokens.check(t))
        {
            return Some(err(401, "invalid_token"));
        }
        None
    }

    /// `GET /oauth/connect` (on www.etsy.com): the consent page, approved at once by the
    /// sandbox's seller. Etsy's rules: `response_type=code`, the app's keystring as
    /// `client_id`, a `state`, and PKCE with `code_challenge_method=S256`. Redirects to
    /// `redirect_uri` with the code and the state.
    fn consent(&self, q: &BTreeMap<String, String>) -> axum::response::Response {
        let field = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
        let problem = if field("response_type") != "code" {
            Some("response_type must be code")
        } else if field("client_id") != self.cfg.etsy_keystring {
            Some("client_id is not an app's keystring")
        } else if field("code_challenge_method") != "S256" || field("code_challenge").is_empty() {
            Some("PKCE is required: code_challenge with code_challenge_method=S256")
        } else if field("state").is_empty() || field("redirect_uri").is_empty() {
            Some("state and redirect_uri are required")
        } else {
            None
        };
        if let Some(p) = problem {
            return err(400, p);
        }
        let code = self
            .tokens
            .authorize(field("redirect_uri"), Some(field("code_challenge")));
        let to = format!(
            "{}?{}",
            field("redirect_uri"),
            form_urlencoded::Serializer::new(String::new())
                .append_pair("code", &code)
                .append_pair("state", field("state"))
                .finish()
        );
        axum::response::Redirect::to(&to).into_response()
    }

    /// `getShopByOwnerUserId`: needs only the API key.
    fn user_shop(&self, user: &str, headers: &HeaderMap) -> axum::response::Response {
        let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
        if key
            != Some(&format!(
                "{}:{}",
                self.cfg.etsy_keystring, self.cfg.etsy_shared_secret
            ))
        {
            return err(403, "Shared secret is required in x-api-key header.");
        }
        if user != "5550001" {
            return err(404, "user has no shop");
        }
        Json(
            json!({"shop_id": SHOP_ID.parse::<u64>().unwrap_or(0), "user_id": 5550001,
                    "shop_name": "OnecountSandbox", "currency_code": "USD"}),
        )
        .into_response()
    }

    /// `POST /v3/public/oauth/token`: `grant_type=refresh_token` gives a new access token
    /// and a new refresh token (the one used stops working); `authorization_code` trades
    /// a consent's code (with its PKCE verifier) for the first pair.
    fn token(&self, form: &BTreeMap<String, String>) -> axum::response::Response {
        let bad = |d: &str| {
            (
                axum::http::StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant", "error_description": d})),
            )
                .into_response()
        };
        if form.get("client_id") != Some(&self.cfg.etsy_keystring) {
            return bad("client_id is invalid");
        }
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        let i = match field("grant_type") {
            "refresh_token" => match self.tokens.refresh(field("refresh_token")) {
                Some(i) => i,
                None => return bad("refresh_token is revoked"),
            },
            "authorization_code" => {
                let verifier = form.get("code_verifier").map(String::as_str);
                match self
                    .tokens
                    .exchange(field("code"), field("redirect_uri"), verifier)
                {
                    Ok(i) => i,
                    Err(e) => return bad(e),
                }
            }
            _ => return bad("unsupported grant_type"),
        };
        Json(
            json!({"access_token": i.access, "token_type": "Bearer", "expires_in": i.expires_in,
                    "refresh_token": i.refresh}),
        )
        .into_response()
    }
}

pub fn router(s: Arc<Etsy>) -> Router {
    Router::new()
        .route("/v3/public/oauth/token", post(|State(s): State<Arc<Etsy>>, axum::extract::Form(f): axum::extract::Form<BTreeMap<String, String>>| async move {
            s.token(&f)
        }))
        .route("/oauth/connect", get(|State(s): State<Arc<Etsy>>, Query(q): Query<BTreeMap<String, String>>| async move {
            s.consent(&q)
        }))
        .route("/v3/application/users/{user}/shops", get(|State(s): State<Arc<Etsy>>, Path(user): Path<String>, headers: HeaderMap| async move {
            s.user_shop(&user, &headers)
        }))
        .route("/_sim/listings", post(|State(s): State<Arc<Etsy>>, Json(ls): Json<Vec<SimListing>>| async move {
            for l in ls {
                s.add_listing(l);
            }
            Json(json!({"ok": true}))
        }))
        .route("/_sim/orders", post(|State(s): State<Arc<Etsy>>, Json(r): Json<OrderReq>| async move {
            match s.place_order(&r) {
                Ok(p) => Json(json!(p)).into_response(),
                Err(e) => err(409, &e),
            }
        }))
        .route("/_sim/orders/{id}/cancel", post(|State(s): State<Arc<Etsy>>, Path(id): Path<u64>, Json(k): Json<DeliveryKnobs>| async move {
            match s.cancel(id, &k) {
                Ok(()) => Json(json!({"ok": true})).into_response(),
                Err(e) => err(409, &e),
            }
        }))
        .route("/_sim/state", get(|State(s): State<Arc<Etsy>>| async move {
            let st = s.st();
            Json(json!({"listings": st.listings.values().flatten().collect::<Vec<_>>(), "receipts": st.receipts.values().collect::<Vec<_>>(), "deliveries": st.deliveries}))
        }))
        .route("/v3/application/shops/{shop}/receipts/{id}", get(|State(s): State<Arc<Etsy>>, Path((shop, id)): Path<(String, u64)>, headers: HeaderMap| async move {
            let h = match s.gate(&headers).await {
                Ok(h) => h,
                Err(r) => return r,
            };
            if shop != SHOP_ID {
                return with_headers(err(404, "shop not found"), &h);
            }
            let r = match s.st().receipts.get(&id) {
                Some(r) => Json(r.clone()).into_response(),
                None => err(404, "receipt not found"),
            };
            with_headers(r, &h)
        }))
        .route("/v3/application/shops/{shop}/receipts", get(|State(s): State<Arc<Etsy>>, Path(shop): Path<String>, Query(q): Query<BTreeMap<String, String>>, headers: HeaderMap| async move {
            let h = match s.gate(&headers).await {
                Ok(h) => h,
                Err(r) => return r,
            };
            if shop != SHOP_ID {
                return with_headers(err(404, "shop not found"), &h);
            }
            // The definition: min_last_modified ≥ 946684800 (2000-01-01), 1 ≤ limit ≤ 100.
            let min = q.get("min_last_modified").and_then(|v| v.parse::<i64>().ok()).unwrap_or(946_684_800);
            let limit = q.get("limit").and_then(|v| v.parse::<usize>().ok()).unwrap_or(25);
            if min < 946_684_800 || !(1..=100).contains(&limit) {
                return with_headers(err(400, "min_last_modified must be at least 946684800 and limit between 1 and 100"), &h);
            }
            let offset = q.get("offset").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
            let st = s.st();
            let all: Vec<&serde_json::Value> = st.receipts.values().filter(|r| r["updated_timestamp"].as_i64().unwrap_or(0) >= min).collect();
            let page: Vec<serde_json::Value> = all.iter().skip(offset).take(limit).map(|r| (*r).clone()).collect();
            with_headers(Json(json!({"count": all.len(), "results": page})).into_response(), &h)
        }))
        .route("/v3/application/shops/{shop}/listings", get(|State(s): State<Arc<Etsy>>, Path(shop): Path<String>, Query(q): Query<BTreeMap<String, String>>, headers: HeaderMap| async move {
            let h = match s.gate(&headers).await {
                Ok(h) => h,
                Err(r) => return r,
            };
            // The query as its definition types it (numbers, an array of includes).
            let typed: serde_json::Map<String, serde_json::Value> = q.iter().map(|(k, v)| {
                let v = match (k.as_str(), v.parse::<i64>()) {
                    ("includes", _) => json!(v.split(',').collect::<Vec<_>>()),
                    (_, Ok(n)) => json!(n),
                    _ => json!(v),
                };
                (k.clone(), v)
            }).collect();
            s.log_request("getListingsByShop", serde_json::Value::Object(typed));
            let r = match s.listings_by_shop(&shop, &q) {
                Ok(v) => Json(v).into_response(),
                Err((code, msg)) => err(code, &msg),
            };
            with_headers(r, &h)
        }))
        .route("/v3/application/listings/batch/inventory", get(|State(s): State<Arc<Etsy>>, Query(q): Query<BTreeMap<String, String>>, headers: HeaderMap| async move {
            let h = match s.gate(&headers).await {
                Ok(h) => h,
                Err(r) => return r,
            };
            let ids: Vec<u64> = q.get("listing_ids").map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect()).unwrap_or_default();
            if ids.len() > 100 {
                return with_headers(err(400, "listing_ids: at most 100"), &h);
            }
            let st = s.st();
            // Etsy: every id must exist, or the whole request answers 404.
            if let Some(gone) = ids.iter().find(|id| !st.listings.contains_key(id)) {
                return with_headers(err(404, &format!("Listing {gone} not found")), &h);
            }
            let results: Vec<serde_json::Value> = ids.iter().map(|id| Etsy::with_inventory(&st, *id)).collect();
            with_headers(Json(json!({"count": results.len(), "results": results})).into_response(), &h)
        }))
        .route("/v3/application/listings/{id}/inventory", get(|State(s): State<Arc<Etsy>>, Path(id): Path<u64>, headers: HeaderMap| async move {
            let h = match s.gate(&headers).await {
                Ok(h) => h,
                Err(r) => return r,
            };
            let st = s.st();
            let r = if st.listings.contains_key(&id) {
                Json(Etsy::single_inventory(&st, id)).into_response()
            } else {
                err(404, "Listing not found")
            };
            with_headers(r, &h)
        }).put(|State(s): State<Arc<Etsy>>, Path(id): Path<u64>, headers: HeaderMap, Json(body): Json<serde_json::Value>| async move {
            let h = match s.gate(&headers).await {
                Ok(h) => h,
                Err(r) => return r,
            };
            s.log_request("updateListingInventory", body.clone());
            let r = match s.put_inventory(id, &body) {
                Ok(v) => Json(v).into_response(),
                Err((code, msg)) => err(code, &msg),
            };
            with_headers(r, &h)
        }))
        .route("/v3/application/shops/{shop}/listings/{id}", patch(|State(s): State<Arc<Etsy>>, Path((shop, id)): Path<(String, u64)>, headers: HeaderMap, body: axum::body::Bytes| async move {
            let h = match s.gate(&headers).await {
                Ok(h) => h,
                Err(r) => return r,
            };
            if shop != SHOP_ID {
                return with_headers(err(404, "shop not found"), &h);
            }
            // updateListing takes a form (application/x-www-form-urlencoded), not JSON.
            let form = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
            if !form {
                return with_headers(err(415, "updateListing takes application/x-www-form-urlencoded"), &h);
            }
            let fields: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
            s.log_request("updateListing", json!(fields));
            let r = match s.set_state(id, fields.get("state").map_or("", String::as_str)) {
                Ok(v) => Json(v).into_response(),
                Err((code, msg)) => err(code, &msg),
            };
            with_headers(r, &h)
        }))
        .route("/_sim/faults", post(|State(s): State<Arc<Etsy>>, Json(f): Json<crate::Faults>| async move {
            s.faults.set(f);
            Json(json!({"ok": true}))
        }))
        .route("/_sim/limits", post(|State(s): State<Arc<Etsy>>, Json(l): Json<Limits>| async move {
            s.set_limits(l);
            Json(json!({"ok": true}))
        }))
        .route("/_sim/writes", get(|State(s): State<Arc<Etsy>>| async move { Json(json!(s.writes())) }))
        .with_state(s)
}

fn with_headers(
    mut r: axum::response::Response,
    headers: &[(&'static str, String)],
) -> axum::response::Response {
    for (k, v) in headers {
        if let Ok(v) = axum::http::HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}
