//! The Shopify sandbox.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use onecount::channels::push::{parse_rfc3339, rfc3339};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    DeliveryKnobs, DeliveryRecord, FaultGate, SimConfig, WriteRecord, err, now_ms, post as send,
};

/// The sandbox shop's locations: onecount's (what the channel config names) and another.
pub const HOME_LOCATION: u64 = 71234567;
pub const OTHER_LOCATION: u64 = 71234999;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimListing {
    pub variant_id: u64,
    pub sku: String,
    /// What the storefront shows and sells.
    pub qty: i64,
    #[serde(default)]
    pub inventory_item_id: u64,
}

#[derive(Debug, Clone, Serialize)]
struct Line {
    id: u64,
    variant_id: u64,
    sku: String,
    qty: i64,
}

#[derive(Debug, Clone, Serialize)]
struct Order {
    id: u64,
    lines: Vec<Line>,
    test: bool,
    cancelled: bool,
    created_ms: i64,
    updated_ms: i64,
    refunds: Vec<serde_json::Value>,
}

#[derive(Default)]
struct St {
    /// Scopes the app was given (`None`: every scope onecount asks for).
    scopes: Option<Vec<String>>,
    listings: BTreeMap<u64, SimListing>,
    orders: BTreeMap<u64, Order>,
    next: u64,
    deliveries: Vec<DeliveryRecord>,
    untracked: BTreeSet<u64>,
    /// Available at a second location (`OTHER_LOCATION`), by variant: the storefront
    /// sells it too.
    elsewhere: BTreeMap<u64, i64>,
    unstocked: BTreeSet<u64>,
    bucket: Bucket,
    /// `@idempotent` keys seen: (variables, answer).
    idempotency: BTreeMap<String, (serde_json::Value, serde_json::Value)>,
    writes: Vec<WriteRecord>,
    /// A buyer checks out just as the next write arrives (a sale racing our write).
    race: Option<OrderReq>,
    calls: u64,
    throttled: u64,
    /// GraphQL documents and variables received, for contract checks.
    graphql: Vec<(String, serde_json::Value)>,
    /// (product title, status) by variant; a variant without one is its SKU's product.
    products: BTreeMap<u64, (String, String)>,
    /// The legacy static token was revoked (the app uninstalled).
    static_revoked: bool,
}

impl St {
    /// A variant as `productVariants` answers it.
    fn variant_node(&self, v: u64, l: &SimListing, loc: &str) -> serde_json::Value {
        let (title, status) = self
            .products
            .get(&v)
            .cloned()
            .unwrap_or_else(|| (format!("Product {}", l.sku), "ACTIVE".into()));
        let level = if self.unstocked.contains(&v) || !loc.ends_with(&format!("/{HOME_LOCATION}")) {
            json!(null)
        } else {
            json!({"quantities": [{"name": "available", "quantity": l.qty}]})
        };
        json!({
            "id": format!("gid://shopify/ProductVariant/{v}"),
            "sku": if l.sku.is_empty() { json!(null) } else { json!(l.sku) },
            "title": "Default Title",
            "product": {"title": title, "status": status},
            "inventoryItem": {"id": format!("gid://shopify/InventoryItem/{}", l.inventory_item_id),
                              "tracked": !self.untracked.contains(&v), "inventoryLevel": level},
        })
    }
}

/// An opaque page cursor for a variant id, and back.
fn cursor(id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"last_id\":{id}}}"))
}

fn cursor_id(c: &str) -> Option<u64> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    v.get("last_id")?.as_u64()
}

/// GraphQL's calculated-cost leaky bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketConfig {
    pub maximum: f64,
    pub restore_rate: f64,
    /// Answer THROTTLED with HTTP 429 instead of 200 (Shopify has been seen doing both).
    pub throttle_as_429: bool,
}

struct Bucket {
    cfg: BucketConfig,
    available: f64,
    at: Instant,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            cfg: BucketConfig {
                maximum: 1000.0,
                restore_rate: 100.0,
                throttle_as_429: false,
            },
            available: 1000.0,
            at: Instant::now(),
        }
    }
}

impl Bucket {
    /// Take `cost` if it is there; the throttle status either way.
    fn take(&mut self, cost: f64) -> (bool, serde_json::Value) {
        let now = Instant::now();
        self.available = (self.available
            + self.cfg.restore_rate * now.duration_since(self.at).as_secs_f64())
        .min(self.cfg.maximum);
        self.at = now;
        let ok = self.available >= cost;
        if ok {
            self.available -= cost;
        }
        (
            ok,
            json!({"requestedQueryCost": cost, "actualQueryCost": if ok { json!(cost) } else { json!(null) },
                   "throttleStatus": {"maximumAvailable": self.cfg.maximum, "currentlyAvailable": self.available.floor(), "restoreRate": self.cfg.restore_rate}}),
        )
    }
}

pub struct Shopify {
    /// Tokens from the client credentials grant (`tokens.set_ttl`); the static token
    /// in the configuration is always accepted until `revoke`.
    pub tokens: crate::tokens::TokenAuthority,
    cfg: SimConfig,
    http: reqwest::Client,
    st: Mutex<St>,
    pub faults: FaultGate,
}

/// What placing an order gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Placed {
    pub order_id: String,
    pub line_ids: Vec<String>,
    pub event_id: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OrderReq {
    /// (variant id, quantity)
    pub lines: Vec<(u64, i64)>,
    #[serde(default)]
    pub test: bool,
    #[serde(default)]
    pub knobs: DeliveryKnobs,
}

impl Shopify {
    pub fn new(cfg: SimConfig, http: reqwest::Client) -> Self {
        Shopify {
            tokens: crate::tokens::TokenAuthority::new("shpca_", false),
            cfg,
            http,
            st: Mutex::new(St {
                next: 5_830_012_345_000,
                ..Default::default()
            }),
            faults: FaultGate::default(),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_listing(&self, mut l: SimListing) {
        if l.inventory_item_id == 0 {
            l.inventory_item_id = l.variant_id + 4_000_000_000_000;
        }
        self.st().listings.insert(l.variant_id, l);
    }

    /// The quantity the storefront shows.
    pub fn quantity(&self, variant_id: u64) -> Option<i64> {
        self.st().listings.get(&variant_id).map(|l| l.qty)
    }

    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.st().deliveries.clone()
    }

    /// Writes accepted by `inventorySetQuantities`, in order.
    pub fn writes(&self) -> Vec<WriteRecord> {
        self.st().writes.clone()
    }

    /// GraphQL calls served, and how many of them were throttled.
    pub fn api_calls(&self) -> (u64, u64) {
        let st = self.st();
        (st.calls, st.throttled)
    }

    pub fn set_bucket(&self, cfg: BucketConfig) {
        let mut st = self.st();
        st.bucket.available = cfg.maximum;
        st.bucket.cfg = cfg;
    }

    /// Inventory tracking off (or on) for a variant.
    /// Stock the variant at a second location too (a warehouse, a shop), with `qty`
    /// available there; orders take from onecount's location first.
    pub fn stock_elsewhere(&self, variant_id: u64, qty: i64) {
        self.st().elsewhere.insert(variant_id, qty);
    }

    /// What the storefront sells of a variant: every location's available units.
    pub fn shown(&self, variant_id: u64) -> Option<i64> {
        let st = self.st();
        let other = st.elsewhere.get(&variant_id).copied().unwrap_or(0).max(0);
        st.listings.get(&variant_id).map(|l| l.qty.max(0) + other)
    }

    /// The legacy static token, or a live one from the client credentials grant.
    fn token_ok(&self, headers: &HeaderMap) -> bool {
        let token = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        (token == self.cfg.shopify_token && !self.static_revoked()) || self.tokens.check(token)
    }

    fn static_revoked(&self) -> bool {
        self.st().static_revoked
    }

    /// The merchant uninstalled the app: every token, the static one too, stops working.
    pub fn revoke(&self) {
        self.st().static_revoked = true;
        self.tokens.revoke();
    }

    /// `POST /admin/oauth/access_token`, `grant_type=client_credentials`: a token for a
    /// day (or the sandbox's lifetime), no refresh token.
    fn grant(&self, form: &BTreeMap<String, String>) -> axum::response::Response {
        let ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
            && form.get("client_id") == Some(&self.cfg.shopify_client_id)
            && form.get("client_secret") == Some(&self.cfg.shopify_client_secret);
        if !ok {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_client", "error_description": "Client authentication failed"})),
            )
                .into_response();
        }
        let i = self.tokens.issue();
        let expires_in = if i.expires_in == 3600 {
            86_399
        } else {
            i.expires_in
        };
        Json(json!({"access_token": i.access, "scope": self.scopes().join(","), "expires_in": expires_in}))
            .into_response()
    }

    /// The scopes the app was given.
    fn scopes(&self) -> Vec<String> {
        self.st().scopes.clone().unwrap_or_else(|| {
            [
                "read_orders",
                "read_inventory",
                "write_inventory",
                "read_products",
                "read_locations",
            ]
            .map(String::from)
            .to_vec()
        })
    }

    /// Give the app only these scopes (a merchant who missed some).
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.st().scopes = Some(scopes.iter().map(|s| s.to_string()).collect());
    }

    /// The admin REST reads `onecount connect` makes: `GET /admin/oauth/access_scopes.json`,
    /// `shop.json` and `locations.json`, shaped as the Admin REST API answers them.
    fn admin_read(&self, headers: &HeaderMap, what: &str) -> axum::response::Response {
        if !self.token_ok(headers) {
            return err(
                401,
                "[API] Invalid API key or access token (unrecognized login or wrong password)",
            );
        }
        let location = |id: u64, name: &str| {
            json!({"id": id, "name": name, "active": true, "country_code": "US",
                   "admin_graphql_api_id": format!("gid://shopify/Location/{id}")})
        };
        match what {
            "access_scopes" => Json(json!({"access_scopes": self.scopes().iter().map(|h| json!({"handle": h})).collect::<Vec<_>>()})),
            "shop" => Json(json!({"shop": {"id": 548380009, "name": "onecount sandbox",
                "myshopify_domain": "onecount-sandbox.myshopify.com", "currency": "USD"}})),
            _ => Json(json!({"locations": [location(HOME_LOCATION, "Warehouse"), location(OTHER_LOCATION, "Shop floor")]})),
        }
        .into_response()
    }

    /// Name the product a variant belongs to, as the admin shows it (`status`: ACTIVE,
    /// DRAFT or ARCHIVED).
    pub fn set_product(&self, variant_id: u64, title: &str, status: &str) {
        self.st()
            .products
            .insert(variant_id, (title.to_string(), status.to_string()));
    }

    /// One page of `productVariants(first, after)`: variants in id order, the cursor the
    /// last one's id (opaque to the client, as Shopify's are).
    fn variants_page(&self, vars: &serde_json::Value) -> Result<serde_json::Value, String> {
        let first = vars.get("first").and_then(|v| v.as_u64()).unwrap_or(0);
        if !(1..=250).contains(&first) {
            return Err("The first argument must be between 1 and 250.".into());
        }
        let after = match vars.get("after").and_then(|v| v.as_str()) {
            None => None,
            Some(c) => Some(cursor_id(c).ok_or_else(|| format!("Invalid cursor: {c}"))?),
        };
        let loc = vars.get("loc").and_then(|v| v.as_str()).unwrap_or("");
        let st = self.st();
        let mut page = st
            .listings
            .range(after.map_or(0, |a| a + 1)..)
            .take(first as usize + 1);
        let nodes: Vec<serde_json::Value> = page
            .by_ref()
            .take(first as usize)
            .map(|(v, l)| st.variant_node(*v, l, loc))
            .collect();
        let more = page.next().is_some();
        let end = nodes
            .last()
            .and_then(|n| n["id"].as_str())
            .map(|id| cursor(id.rsplit('/').next().unwrap_or("")));
        Ok(
            json!({"productVariants": {"nodes": nodes, "pageInfo": {"hasNextPage": more, "endCursor": end}}}),
        )
    }

    /// The GraphQL documents and variables received, in order.
    pub fn graphql_requests(&self) -> Vec<(String, serde_json::Value)> {
        self.st().graphql.clone()
    }

    pub fn set_tracked(&self, variant_id: u64, tracked: bool) {
        let mut st = self.st();
        if tracked {
            st.untracked.remove(&variant_id);
        } else {
            st.untracked.insert(variant_id);
        }
    }

    /// Set the quantity by hand, as a merchant would in the admin.
    pub fn set_quantity(&self, variant_id: u64, qty: i64) {
        if let Some(l) = self.st().listings.get_mut(&variant_id) {
            l.qty = qty;
        }
    }

    /// The next write finds that a buyer just bought: the order is placed (and its
    /// webhook sent) right before the write is looked at.
    pub fn race_next_write(&self, order: OrderReq) {
        self.st().race = Some(order);
    }

    /// `inventorySetQuantities` and the `nodes` read, as GraphQL Admin answers them.
    async fn graphql(
        self: &Arc<Self>,
        headers: &HeaderMap,
        body: &serde_json::Value,
    ) -> axum::response::Response {
        if !self.token_ok(headers) {
            return err(
                401,
                "[API] Invalid API key or access token (unrecognized login or wrong password)",
            );
        }
        if let Some(r) = self.faults.check().await {
            return r;
        }
        let query = body.get("query").and_then(|q| q.as_str()).unwrap_or("");
        let vars = body.get("variables").cloned().unwrap_or(json!({}));
        self.st().graphql.push((query.to_string(), vars.clone()));
        let mutation = query.contains("inventorySetQuantities");
        let ids: Vec<String> = vars
            .get("ids")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let catalog = query.contains("productVariants");
        let cost = if mutation {
            10.0
        } else if catalog {
            // A connection: 2 + first × (variant, product, inventory item, level,
            // quantities), as Shopify's published cost rules count it.
            2.0 + 5.0 * vars.get("first").and_then(|v| v.as_f64()).unwrap_or(0.0)
        } else {
            2.0 + ids.len() as f64
        };
        let (ok, cost_json, status_429) = {
            let mut st = self.st();
            st.calls += 1;
            let (ok, c) = st.bucket.take(cost);
            if !ok {
                st.throttled += 1;
            }
            (ok, c, st.bucket.cfg.throttle_as_429)
        };
        if !ok {
            let body = json!({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                              "extensions": {"cost": cost_json}});
            let status = if status_429 {
                axum::http::StatusCode::TOO_MANY_REQUESTS
            } else {
                axum::http::StatusCode::OK
            };
            return (status, [("retry-after", "1")], Json(body)).into_response();
        }
        let data = if mutation {
            match self.set_quantities(query, &vars) {
                Ok(d) => d,
                Err(msg) => {
                    return Json(
                        json!({"errors": [{"message": msg}], "extensions": {"cost": cost_json}}),
                    )
                    .into_response();
                }
            }
        } else if catalog {
            match self.variants_page(&vars) {
                Ok(d) => d,
                Err(msg) => {
                    return Json(
                        json!({"errors": [{"message": msg}], "extensions": {"cost": cost_json}}),
                    )
                    .into_response();
                }
            }
        } else if query.contains("nodes") {
            let loc = vars.get("loc").and_then(|v| v.as_str()).unwrap_or("");
            let st = self.st();
            let nodes: Vec<serde_json::Value> = ids.iter().map(|id| {
                let v = id.rsplit('/').next().and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
                match st.listings.get(&v) {
                    Some(l) if id.contains("ProductVariant") => {
                        let other = st.elsewhere.get(&v).copied().unwrap_or(0);
                        json!({
                        "id": id, "sku": l.sku,
                        "inventoryQuantity": l.qty.max(0) + other.max(0),
                        "inventoryItem": {"id": format!("gid://shopify/InventoryItem/{}", l.inventory_item_id),
                                          "tracked": !st.untracked.contains(&v),
                                          "inventoryLevel": if st.unstocked.contains(&v) || !loc.ends_with(&format!("/{HOME_LOCATION}")) { json!(null) } else {
                                              json!({"quantities": [{"name": "available", "quantity": l.qty}]}) }}
                    })},
                    _ => json!(null),
                }
            }).collect();
            json!({"nodes": nodes})
        } else {
            return err(
                400,
                "the sandbox answers only the inventory read and inventorySetQuantities",
            );
        };
        Json(json!({"data": data, "extensions": {"cost": cost_json}})).into_response()
    }

    fn set_quantities(
        self: &Arc<Self>,
        query: &str,
        vars: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let key = query
            .split("@idempotent(key:")
            .nth(1)
            .and_then(|r| r.split('"').nth(1))
            .map(str::to_string)
            .ok_or("The @idempotent directive is required for this mutation.")?;
        let race = self.st().race.take();
        if let Some(order) = race {
            let _ = self.place_order(&order);
        }
        let mut st = self.st();
        if let Some((v, answer)) = st.idempotency.get(&key) {
            if v == vars {
                return Ok(answer.clone());
            }
            return Ok(
                json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": null,
                "userErrors": [{"code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH", "field": null, "message": "The same idempotency key was used with different parameters."}]}}),
            );
        }
        let input = &vars["input"];
        if input["name"] != "available" {
            return Ok(
                json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": null,
                "userErrors": [{"code": "INVALID_NAME", "field": ["input", "name"], "message": "name must be available or on_hand"}]}}),
            );
        }
        let qs = input["quantities"].as_array().cloned().unwrap_or_default();
        if qs.len() > 250 {
            return Err("quantities: at most 250 items".into());
        }
        let mut errors = Vec::new();
        let mut changes = Vec::new();
        for (i, q) in qs.iter().enumerate() {
            let field = |f: &str| json!(["input", "quantities", i.to_string(), f]);
            let item = q["inventoryItemId"]
                .as_str()
                .and_then(|s| s.rsplit('/').next())
                .and_then(|s| s.parse::<u64>().ok());
            let found = item.and_then(|it| {
                st.listings
                    .values()
                    .find(|l| l.inventory_item_id == it)
                    .map(|l| l.variant_id)
            });
            let Some(variant) = found else {
                errors.push(json!({"code": "INVALID_INVENTORY_ITEM", "field": field("inventoryItemId"), "message": "The specified inventory item could not be found."}));
                continue;
            };
            if st.unstocked.contains(&variant)
                || !q["locationId"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with(&format!("/{HOME_LOCATION}"))
            {
                errors.push(json!({"code": "ITEM_NOT_STOCKED_AT_LOCATION", "field": field("locationId"), "message": "The specified inventory item is not stocked at the location."}));
                continue;
            }
            let Some(new) = q["quantity"].as_i64() else {
                errors.push(json!({"code": "INVALID_QUANTITY_NEGATIVE", "field": field("quantity"), "message": "quantity is required"}));
                continue;
            };
            let current = st.listings[&variant].qty;
            match q.get("changeFromQuantity") {
                None => errors.push(json!({"code": "CHANGE_FROM_QUANTITY_STALE", "field": field("changeFromQuantity"),
                                           "message": "changeFromQuantity is required (pass null to opt out)"})),
                Some(c) if !c.is_null() && c.as_i64() != Some(current) => errors.push(json!({"code": "CHANGE_FROM_QUANTITY_STALE", "field": field("changeFromQuantity"),
                    "message": "The quantity has changed since it was read."})),
                _ => changes.push((variant, new, current)),
            }
        }
        let answer = if errors.is_empty() {
            let at = now_ms();
            let mut out = Vec::new();
            for (variant, new, current) in changes {
                if let Some(l) = st.listings.get_mut(&variant) {
                    l.qty = new;
                }
                st.writes.push(WriteRecord {
                    at_ms: at,
                    listing: variant.to_string(),
                    qty: new,
                });
                out.push(json!({"name": "available", "delta": new - current, "quantityAfterChange": new}));
            }
            json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": {"createdAt": "2026-03-14T14:21:07Z", "reason": "correction", "changes": out}, "userErrors": []}})
        } else {
            json!({"inventorySetQuantities": {"inventoryAdjustmentGroup": null, "userErrors": errors}})
        };
        st.idempotency.insert(key, (vars.clone(), answer.clone()));
        Ok(answer)
    }

    /// A buyer checks out: sells only what is displayed, then the webhook goes out.
    pub fn place_order(self: &Arc<Self>, req: &OrderReq) -> Result<Placed, String> {
        let (order, body) = {
            let mut st = self.st();
            for (v, q) in &req.lines {
                let l = st
                    .listings
                    .get(v)
                    .ok_or_else(|| format!("no variant {v}"))?;
                let other = st.elsewhere.get(v).copied().unwrap_or(0).max(0);
                if l.qty.max(0) + other < *q {
                    return Err(format!(
                        "only {} of variant {v} on display",
                        l.qty.max(0) + other
                    ));
                }
            }
            st.next += 1;
            let id = st.next;
            let mut lines = Vec::new();
            for (i, (v, q)) in req.lines.iter().enumerate() {
                // onecount's location first, then the other one.
                let here = st.listings.get(v).map_or(0, |l| l.qty.max(0));
                let from_other = (q - here).max(0);
                if let Some(o) = st.elsewhere.get_mut(v) {
                    *o -= from_other;
                }
                let l = st.listings.get_mut(v).expect("checked");
                l.qty -= q - from_other;
                lines.push(Line {
                    id: id * 100 + i as u64 + 14_000_000_000_000,
                    variant_id: *v,
                    sku: l.sku.clone(),
                    qty: *q,
                });
            }
            let order = Order {
                id,
                lines,
                test: req.test,
                cancelled: false,
                created_ms: now_ms(),
                updated_ms: now_ms(),
                refunds: Vec::new(),
            };
            st.orders.insert(id, order.clone());
            let body = order_json(&order);
            (order, body)
        };
        let event_id = uuid::Uuid::new_v4().to_string();
        self.deliver("orders/create", &event_id, body, &req.knobs);
        Ok(Placed {
            order_id: order.id.to_string(),
            line_ids: order.lines.iter().map(|l| l.id.to_string()).collect(),
            event_id,
        })
    }

    /// The same order as a new event (a new `X-Shopify-Event-Id`).
    pub fn resend(
        self: &Arc<Self>,
        order_id: u64,
        knobs: &DeliveryKnobs,
    ) -> Result<String, String> {
        let body = order_json(self.st().orders.get(&order_id).ok_or("no such order")?);
        let event_id = uuid::Uuid::new_v4().to_string();
        self.deliver("orders/create", &event_id, body, knobs);
        Ok(event_id)
    }

    /// Cancel with restock: the storefront gets the units back, `orders/cancelled` goes out.
    pub fn cancel(self: &Arc<Self>, order_id: u64, knobs: &DeliveryKnobs) -> Result<(), String> {
        self.cancel_with(order_id, true, knobs)
    }

    /// Cancel with "Restock items" unticked: the units stay sold.
    pub fn cancel_without_restock(
        self: &Arc<Self>,
        order_id: u64,
        knobs: &DeliveryKnobs,
    ) -> Result<(), String> {
        self.cancel_with(order_id, false, knobs)
    }

    /// A cancellation creates a refund whose lines say whether they were restocked
    /// (`restock_type: cancel` or `no_restock`), carried in the order's `refunds`.
    fn cancel_with(
        self: &Arc<Self>,
        order_id: u64,
        restock: bool,
        knobs: &DeliveryKnobs,
    ) -> Result<(), String> {
        let body = {
            let mut st = self.st();
            st.next += 1;
            let refund_id = st.next;
            let order = st.orders.get_mut(&order_id).ok_or("no such order")?;
            if order.cancelled {
                return Err("already cancelled".into());
            }
            order.cancelled = true;
            order.updated_ms = now_ms();
            let items: Vec<serde_json::Value> = order.lines.iter().enumerate().map(|(i, l)| json!({
                "id": refund_id * 10 + i as u64, "line_item_id": l.id, "quantity": l.qty,
                "restock_type": if restock { "cancel" } else { "no_restock" }, "location_id": 71234567u64,
            })).collect();
            order.refunds.push(json!({"id": refund_id, "order_id": order_id, "restock": restock, "refund_line_items": items}));
            let order = order.clone();
            for l in order.lines.iter().filter(|_| restock) {
                if let Some(x) = st.listings.get_mut(&l.variant_id) {
                    x.qty += l.qty;
                }
            }
            let mut v = order_json(&order);
            v["cancelled_at"] = json!("2026-03-14T11:02:40-04:00");
            v["cancel_reason"] = json!("customer");
            v
        };
        self.deliver(
            "orders/cancelled",
            &uuid::Uuid::new_v4().to_string(),
            body,
            knobs,
        );
        Ok(())
    }

    /// The merchant edits the order to add a product (`orderEditAddVariant`, committed):
    /// a new line sells `qty` of `variant_id`, and `orders/edited` goes out carrying, as
    /// Shopify's does, only the new line's id and its delta. The new line id.
    pub fn edit_add_variant(
        self: &Arc<Self>,
        order_id: u64,
        variant_id: u64,
        qty: i64,
        knobs: &DeliveryKnobs,
    ) -> Result<u64, String> {
        let (body, line_id) = {
            let mut st = self.st();
            st.next += 1;
            let edit_id = st.next;
            let l = st
                .listings
                .get_mut(&variant_id)
                .ok_or_else(|| format!("no variant {variant_id}"))?;
            if l.qty < qty {
                return Err(format!("only {} of variant {variant_id} on display", l.qty));
            }
            l.qty -= qty;
            let sku = l.sku.clone();
            let order = st.orders.get_mut(&order_id).ok_or("no such order")?;
            let line_id = order.id * 100 + order.lines.len() as u64 + 14_000_000_000_000;
            order.lines.push(Line {
                id: line_id,
                variant_id,
                sku,
                qty,
            });
            order.updated_ms = now_ms();
            let body = json!({"order_edit": {
                "id": edit_id, "app_id": null, "created_at": rfc3339(now_ms()),
                "committed_at": rfc3339(now_ms()), "notify_customer": false, "order_id": order_id,
                "staff_note": "", "user_id": null,
                "line_items": {"additions": [{"id": line_id, "delta": qty}], "removals": []},
                "discounts": {"line_item": {"additions": [], "removals": []}},
                "shipping_lines": {"additions": [], "removals": []}
            }});
            (body, line_id)
        };
        self.deliver(
            "orders/edited",
            &uuid::Uuid::new_v4().to_string(),
            body,
            knobs,
        );
        Ok(line_id)
    }

    /// Make an order as if placed `days` ago (its later changes keep their times).
    pub fn backdate(&self, order_id: u64, days: i64) {
        if let Some(o) = self.st().orders.get_mut(&order_id) {
            o.created_ms -= days * 86_400_000;
        }
    }

    /// A refund with restock (`restock_type: return`) of `qty` units of one line.
    pub fn refund(
        self: &Arc<Self>,
        order_id: u64,
        line_id: u64,
        qty: i64,
        knobs: &DeliveryKnobs,
    ) -> Result<(), String> {
        let body = {
            let mut st = self.st();
            st.next += 1;
            let refund_id = st.next;
            let order = st.orders.get(&order_id).ok_or("no such order")?.clone();
            let line = order
                .lines
                .iter()
                .find(|l| l.id == line_id)
                .ok_or("no such line")?
                .clone();
            if let Some(x) = st.listings.get_mut(&line.variant_id) {
                x.qty += qty;
            }
            let refund = json!({"id": refund_id, "order_id": order_id, "created_at": "2026-03-15T09:00:00-04:00", "restock": true,
                   "refund_line_items": [{"id": refund_id + 1, "line_item_id": line_id, "quantity": qty, "restock_type": "return",
                                          "location_id": 71234567, "line_item": {"id": line_id, "variant_id": line.variant_id, "sku": line.sku}}]});
            if let Some(o) = st.orders.get_mut(&order_id) {
                o.refunds.push(refund.clone());
                o.updated_ms = now_ms();
            }
            refund
        };
        self.deliver(
            "refunds/create",
            &uuid::Uuid::new_v4().to_string(),
            body,
            knobs,
        );
        Ok(())
    }

    /// Deliver `body` as `topic`, signed, per the knobs; in the background, like Shopify.
    fn deliver(
        self: &Arc<Self>,
        topic: &str,
        event_id: &str,
        body: serde_json::Value,
        knobs: &DeliveryKnobs,
    ) {
        if knobs.lose {
            return;
        }
        let me = self.clone();
        let (topic, event_id, knobs) = (topic.to_string(), event_id.to_string(), knobs.clone());
        tokio::spawn(async move {
            if knobs.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(knobs.delay_ms)).await;
            }
            let bytes = serde_json::to_vec(&body).expect("JSON");
            let hmac = onecount::channels::shopify::sign(me.cfg.shopify_secret.as_bytes(), &bytes);
            for _ in 0..knobs.deliveries.max(1) {
                let headers = vec![
                    ("Content-Type".to_string(), "application/json".to_string()),
                    ("X-Shopify-Topic".to_string(), topic.clone()),
                    ("X-Shopify-Hmac-SHA256".to_string(), hmac.clone()),
                    (
                        "X-Shopify-Shop-Domain".to_string(),
                        "onecount-sandbox.myshopify.com".to_string(),
                    ),
                    ("X-Shopify-API-Version".to_string(), "2026-04".to_string()),
                    ("X-Shopify-Event-Id".to_string(), event_id.clone()),
                    (
                        "X-Shopify-Webhook-Id".to_string(),
                        uuid::Uuid::new_v4().to_string(),
                    ),
                    (
                        "X-Shopify-Triggered-At".to_string(),
                        "2026-03-14T14:21:07.000Z".to_string(),
                    ),
                ];
                let status = send(
                    &me.http,
                    &format!("{}/webhooks/shopify", me.cfg.webhook_base),
                    &headers,
                    &bytes,
                )
                .await;
                me.st().deliveries.push(DeliveryRecord {
                    topic: topic.clone(),
                    delivery_id: event_id.clone(),
                    status,
                });
            }
        });
    }
}

/// One page of `orders.json` as Shopify pages it: `limit` (default 50, at most 250),
/// `order=updated_at asc|desc`, and a `page_info` cursor in a `Link: <…>; rel="next"`
/// header. A request with `page_info` may carry only `limit` (and `fields`) beside it:
/// the cursor holds the filters.
fn orders_page(
    s: &Shopify,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Result<(Vec<serde_json::Value>, Option<String>), String> {
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(l)) if (1..=250).contains(&l) => l,
        Some(_) => return Err("limit must be between 1 and 250".into()),
    };
    let (since, ascending, offset) = match q.get("page_info") {
        Some(cursor) => {
            if q.keys()
                .any(|k| !matches!(k.as_str(), "page_info" | "limit" | "fields"))
            {
                return Err("page_info may only be combined with limit and fields".into());
            }
            decode_cursor(cursor).ok_or("Invalid page_info")?
        }
        None => (
            q.get("updated_at_min")
                .and_then(|v| parse_rfc3339(v))
                .unwrap_or(0),
            q.get("order").is_some_and(|o| o.ends_with("asc")),
            0,
        ),
    };
    let st = s.st();
    let mut all: Vec<&Order> = st
        .orders
        .values()
        // Without the `read_all_orders` scope, Shopify lists only orders created in the
        // last 60 days, however recently an older one changed.
        .filter(|o| o.updated_ms >= since && o.created_ms >= now_ms() - 60 * 86_400_000)
        .collect();
    all.sort_by_key(|o| o.updated_ms);
    if !ascending {
        all.reverse();
    }
    let page: Vec<serde_json::Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| order_json(o))
        .collect();
    let link = (offset + limit < all.len()).then(|| {
        let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        let cursor = format!("{since}.{}.{}", u8::from(ascending), offset + limit);
        format!("<http://{host}/admin/api/2026-04/orders.json?limit={limit}&page_info={cursor}>; rel=\"next\"")
    });
    Ok((page, link))
}

fn decode_cursor(c: &str) -> Option<(i64, bool, usize)> {
    let mut it = c.split('.');
    let since = it.next()?.parse().ok()?;
    let asc = it.next()? == "1";
    let offset = it.next()?.parse().ok()?;
    Some((since, asc, offset))
}

fn order_json(o: &Order) -> serde_json::Value {
    json!({
        "id": o.id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{}", o.id),
        "name": format!("#{}", o.id % 10_000),
        // Whole seconds, as Shopify gives them.
        "created_at": rfc3339(o.created_ms / 1000 * 1000),
        "updated_at": rfc3339(o.updated_ms),
        "cancelled_at": if o.cancelled { json!(rfc3339(o.updated_ms)) } else { json!(null) },
        "refunds": o.refunds,
        "financial_status": "paid",
        "test": o.test,
        "email": "buyer@example.com",
        "customer": {"id": 7012345678901u64, "email": "buyer@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        "line_items": o.lines.iter().map(|l| json!({
            "id": l.id,
            "admin_graphql_api_id": format!("gid://shopify/LineItem/{}", l.id),
            "variant_id": l.variant_id,
            "sku": l.sku,
            "title": "Sandbox item",
            "quantity": l.qty,
            "fulfillable_quantity": l.qty,
            "requires_shipping": true
        })).collect::<Vec<_>>()
    })
}

#[derive(Deserialize)]
struct LineOp {
    line_id: u64,
    qty: i64,
    #[serde(default)]
    knobs: DeliveryKnobs,
}

pub fn router(s: Arc<Shopify>) -> Router {
    Router::new()
        .route("/_sim/listings", post(|State(s): State<Arc<Shopify>>, Json(ls): Json<Vec<SimListing>>| async move {
            for l in ls {
                s.add_listing(l);
            }
            Json(json!({"ok": true}))
        }))
        .route("/_sim/orders", post(|State(s): State<Arc<Shopify>>, Json(r): Json<OrderReq>| async move {
            match s.place_order(&r) {
                Ok(p) => Json(json!(p)).into_response(),
                Err(e) => err(409, &e),
            }
        }))
        .route("/_sim/orders/{id}/cancel", post(|State(s): State<Arc<Shopify>>, Path(id): Path<u64>, Json(k): Json<DeliveryKnobs>| async move {
            match s.cancel(id, &k) {
                Ok(()) => Json(json!({"ok": true})).into_response(),
                Err(e) => err(409, &e),
            }
        }))
        .route("/_sim/orders/{id}/refund", post(|State(s): State<Arc<Shopify>>, Path(id): Path<u64>, Json(r): Json<LineOp>| async move {
            match s.refund(id, r.line_id, r.qty, &r.knobs) {
                Ok(()) => Json(json!({"ok": true})).into_response(),
                Err(e) => err(409, &e),
            }
        }))
        .route("/_sim/orders/{id}/resend", post(|State(s): State<Arc<Shopify>>, Path(id): Path<u64>, Json(k): Json<DeliveryKnobs>| async move {
            match s.resend(id, &k) {
                Ok(e) => Json(json!({"event_id": e})).into_response(),
                Err(e) => err(404, &e),
            }
        }))
        .route("/admin/oauth/access_token", post(|State(s): State<Arc<Shopify>>, axum::extract::Form(f): axum::extract::Form<BTreeMap<String, String>>| async move {
            s.grant(&f)
        }))
        .route("/admin/oauth/access_scopes.json", get(|State(s): State<Arc<Shopify>>, headers: HeaderMap| async move {
            s.admin_read(&headers, "access_scopes")
        }))
        .route("/admin/api/{version}/shop.json", get(|State(s): State<Arc<Shopify>>, headers: HeaderMap| async move {
            s.admin_read(&headers, "shop")
        }))
        .route("/admin/api/{version}/locations.json", get(|State(s): State<Arc<Shopify>>, headers: HeaderMap| async move {
            s.admin_read(&headers, "locations")
        }))
        .route("/admin/api/{version}/graphql.json", post(|State(s): State<Arc<Shopify>>, headers: HeaderMap, Json(body): Json<serde_json::Value>| async move {
            s.graphql(&headers, &body).await
        }))
        .route("/admin/api/{version}/orders/{file}", get(|State(s): State<Arc<Shopify>>, headers: HeaderMap, Path((_v, file)): Path<(String, String)>| async move {
            if !s.token_ok(&headers) {
                return err(401, "[API] Invalid API key or access token");
            }
            if let Some(r) = s.faults.check().await {
                return r;
            }
            let id = file.strip_suffix(".json").and_then(|i| i.parse::<u64>().ok());
            match id.and_then(|i| s.st().orders.get(&i).map(order_json)) {
                Some(o) => Json(json!({"order": o})).into_response(),
                None => err(404, "Not Found"),
            }
        }))
        .route("/admin/api/{version}/orders.json", get(|State(s): State<Arc<Shopify>>, headers: HeaderMap, Query(q): Query<BTreeMap<String, String>>| async move {
            if !s.token_ok(&headers) {
                return err(401, "[API] Invalid API key or access token");
            }
            if let Some(r) = s.faults.check().await {
                return r;
            }
            match orders_page(&s, &q, &headers) {
                Ok((orders, link)) => {
                    let mut r = Json(json!({"orders": orders})).into_response();
                    if let Some(l) = link.and_then(|l| axum::http::HeaderValue::from_str(&l).ok()) {
                        r.headers_mut().insert("link", l);
                    }
                    r
                }
                Err(e) => err(400, &e),
            }
        }))
        .route("/_sim/faults", post(|State(s): State<Arc<Shopify>>, Json(f): Json<crate::Faults>| async move {
            s.faults.set(f);
            Json(json!({"ok": true}))
        }))
        .route("/_sim/bucket", post(|State(s): State<Arc<Shopify>>, Json(b): Json<BucketConfig>| async move {
            s.set_bucket(b);
            Json(json!({"ok": true}))
        }))
        .route("/_sim/writes", get(|State(s): State<Arc<Shopify>>| async move { Json(json!(s.writes())) }))
        .route("/_sim/state", get(|State(s): State<Arc<Shopify>>| async move {
            let st = s.st();
            Json(json!({"listings": st.listings.values().collect::<Vec<_>>(), "orders": st.orders.values().collect::<Vec<_>>(), "deliveries": st.deliveries}))
        }))
        .with_state(s)
}

use axum::response::IntoResponse;
