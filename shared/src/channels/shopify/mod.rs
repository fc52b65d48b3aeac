//! Shopify: webhooks signed with base64(HMAC-SHA256(app secret, raw body)).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{
    Action, Headers, InLine, Key, LineShape, Parsed, RefundLine, SigError, b64, ct_eq, id_text,
    line_id, parse_lines, whole,
};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use std::sync::Arc;

use super::auth::{Credentials, Refresher, TokenStore, Tokens};
use super::config::Secret;
use super::kit::{ChannelKit, FetchError, Refusal, Verified};
use super::push::{
    ChannelApi, FoundOrder, OrderSource, PushError, Seen, Target, Write, all, parse_rfc3339,
    rfc3339,
};
use crate::domain::{Channel, LineId, Millis, OrderId};

mod catalog;
mod config;
pub mod connect;

pub use config::ShopifyConfig;

/// What Shopify accepts: any quantity, any number of times.
pub const PROFILE: super::Profile = super::Profile {
    rules: crate::domain::push::ChannelRules {
        max_listed: None,
        daily_revisions: None,
    },
    required_refs: &["variant", "inventory_item"],
    // A product: its variants carry the SKUs.
    shared_refs: &["product"],
    // The merchant's own store: nothing counts against it.
    cancel_penalty: 0.0,
};

/// Shopify's kit: HMAC webhooks in, the GraphQL Admin API out.
pub fn kit(cfg: ShopifyConfig, tokens: Option<Arc<dyn TokenStore>>) -> Arc<dyn ChannelKit> {
    Arc::new(ShopifyKit {
        client: Arc::new(ShopifyClient::with_store(cfg.clone(), tokens)),
        cfg,
    })
}

pub struct ShopifyKit {
    cfg: ShopifyConfig,
    client: Arc<ShopifyClient>,
}

#[async_trait]
impl ChannelKit for ShopifyKit {
    fn channel(&self) -> Channel {
        Channel::Shopify
    }

    async fn verify(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        _now: Millis,
    ) -> Result<Verified, Refusal> {
        let mut secrets = vec![self.cfg.webhook_secret.expose().as_bytes()];
        if let Some(prev) = &self.cfg.previous_webhook_secret {
            secrets.push(prev.expose().as_bytes());
        }
        verify(headers, body, &secrets).map_err(Refusal::Unauthorized)?;
        Ok(Verified {
            delivery_id: delivery_id(headers)
                .unwrap_or_else(|| format!("sha:{}", &sign(b"id", body))),
            topic: Headers::get(headers, TOPIC_HEADER)
                .unwrap_or("")
                .to_string(),
        })
    }

    fn parse(&self, topic: &str, body: &[u8]) -> Parsed {
        parse(topic, body, self.cfg.process_test_orders)
    }

    /// `order:ID`: the order as it is now (`GET orders/ID.json`), read as a sale of
    /// every line. Webhooks carry the whole order; an `orders/edited` addition carries
    /// only a new line's id and delta, and this is how its variant and SKU are found.
    async fn fetch(&self, pointer: &str) -> Result<Action, FetchError> {
        let id = pointer
            .strip_prefix("order:")
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| FetchError::Permanent(format!("not a Shopify order: {pointer}")))?;
        let v = self.client.order(id).await?;
        let order = v
            .get("order")
            .ok_or_else(|| FetchError::Permanent("shopify order: no order in the answer".into()))?;
        order_id(order, "id")
            .and_then(|order_id| {
                Ok(Action::Sale {
                    order: order_id,
                    lines: lines(order)?,
                    placed_at: order
                        .get("created_at")
                        .and_then(Value::as_str)
                        .and_then(parse_rfc3339),
                })
            })
            .map_err(FetchError::Permanent)
    }

    fn api(&self) -> Arc<dyn ChannelApi> {
        self.client.clone()
    }

    fn orders(&self) -> Arc<dyn OrderSource> {
        self.client.clone()
    }
}

pub const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";
pub const TOPIC_HEADER: &str = "X-Shopify-Topic";
pub const EVENT_ID_HEADER: &str = "X-Shopify-Event-Id";
pub const WEBHOOK_ID_HEADER: &str = "X-Shopify-Webhook-Id";

/// base64(HMAC-SHA256(secret, body)): what Shopify puts in `X-Shopify-Hmac-Sha256`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    b64().encode(mac.finalize().into_bytes())
}

/// Verify against the current secret and, during a rotation, the previous one.
pub fn verify(
    headers: &(impl Headers + ?Sized),
    body: &[u8],
    secrets: &[&[u8]],
) -> Result<(), SigError> {
    let given = headers
        .get(HMAC_HEADER)
        .ok_or(SigError::Missing(HMAC_HEADER))?;
    let given = b64()
        .decode(given.trim())
        .map_err(|_| SigError::Malformed(HMAC_HEADER))?;
    if body.is_empty() {
        return Err(SigError::Missing("body"));
    }
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
        mac.update(body);
        if ct_eq(&mac.finalize().into_bytes(), &given) {
            return Ok(());
        }
    }
    Err(SigError::Mismatch)
}

/// The delivery id to deduplicate on: the event id, else the webhook id.
pub fn delivery_id(headers: &(impl Headers + ?Sized)) -> Option<String> {
    headers
        .get(EVENT_ID_HEADER)
        .or_else(|| headers.get(WEBHOOK_ID_HEADER))
        .map(str::to_string)
}

fn order_id(v: &Value, field: &str) -> Result<OrderId, String> {
    let id = v
        .get(field)
        .and_then(id_text)
        .ok_or_else(|| format!("no {field}"))?;
    OrderId::parse(id).map_err(|e| e.0)
}

const LINE: LineShape = LineShape {
    id: "id",
    qty: "quantity",
    keys: &[Key::Ref("variant", "variant_id"), Key::Sku("sku")],
};

fn lines(order: &Value) -> Result<Vec<InLine>, String> {
    parse_lines(order.get("line_items"), "line_items", &LINE)
}

/// Turn a verified body into an action. `process_test_orders` decides whether orders
/// marked `test: true` change the count.
pub fn parse(topic: &str, body: &[u8], process_test_orders: bool) -> Parsed {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Parsed::Quarantine(format!("body is not JSON: {e}")),
    };
    let result = match topic {
        "orders/create" | "orders/paid" | "orders/cancelled" => {
            if v.get("test").and_then(Value::as_bool) == Some(true) && !process_test_orders {
                return Parsed::Ignored("test order (set process_test_orders to count them)");
            }
            if topic == "orders/cancelled"
                && let Some(not) = not_a_restocking_cancel(&v)
            {
                return not;
            }
            order_id(&v, "id").and_then(|order| {
                let lines = lines(&v)?;
                Ok(if topic == "orders/cancelled" {
                    Action::Cancel { order, lines }
                } else {
                    Action::Sale {
                        order,
                        lines,
                        placed_at: v
                            .get("created_at")
                            .and_then(Value::as_str)
                            .and_then(parse_rfc3339),
                    }
                })
            })
        }
        "refunds/create" => refund(&v),
        "orders/edited" => order_edit(&v),
        other => return Parsed::Quarantine(format!("unknown topic '{other}'")),
    };
    match result {
        Ok(a) => Parsed::Event(a),
        Err(e) => Parsed::Quarantine(format!("{topic}: {e}")),
    }
}

/// Why an `orders/cancelled` delivery must not give units back, if it must not. The topic
/// header is not covered by the signature, so the body has to show a cancellation:
/// without `cancelled_at` it is some other order body (a replayed `orders/create`) and is
/// kept for a person. A cancellation whose refunds restocked nothing (the merchant left
/// "Restock items" unticked) leaves the units sold.
fn not_a_restocking_cancel(v: &Value) -> Option<Parsed> {
    if v.get("cancelled_at").is_none_or(Value::is_null) {
        return Some(Parsed::Quarantine(
            "orders/cancelled without cancelled_at: not a cancellation (a replayed order body?)"
                .into(),
        ));
    }
    let items: Vec<&Value> = v
        .get("refunds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|r| {
            r.get("refund_line_items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .collect();
    let restocks = |rl: &&Value| {
        matches!(
            rl.get("restock_type").and_then(Value::as_str),
            Some("cancel" | "return")
        )
    };
    (!items.is_empty() && !items.iter().any(restocks)).then_some(Parsed::Ignored(
        "cancelled without restocking: the units stay sold",
    ))
}

/// `refunds/create`: the lines whose units went back to stock.
fn refund(v: &Value) -> Result<Action, String> {
    let order = order_id(v, "order_id")?;
    let refund_id = v.get("id").and_then(id_text).ok_or("refund without id")?;
    let items = v
        .get("refund_line_items")
        .and_then(Value::as_array)
        .ok_or("no refund_line_items")?;
    let mut lines = Vec::new();
    for rl in items {
        let restock = rl
            .get("restock_type")
            .and_then(Value::as_str)
            .unwrap_or("no_restock");
        if matches!(restock, "return" | "cancel") {
            lines.push(RefundLine {
                line: line_id(rl, "line_item_id")?,
                refund_line_id: rl
                    .get("id")
                    .and_then(id_text)
                    .ok_or("refund line without id")?,
                qty: whole(rl, "quantity")?,
            });
        }
    }
    Ok(Action::Restock {
        order,
        refund_id,
        lines,
    })
}

/// `orders/edited`: quantity added to and removed from existing lines.
fn order_edit(v: &Value) -> Result<Action, String> {
    let edit = v.get("order_edit").ok_or("no order_edit")?;
    let order = order_id(edit, "order_id")?;
    let edit_id = edit.get("id").and_then(id_text).ok_or("edit without id")?;
    let pairs = |kind: &str| -> Result<Vec<(LineId, u32)>, String> {
        edit.pointer(&format!("/line_items/{kind}"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| Ok((line_id(x, "id")?, whole(x, "delta")?)))
                    .collect()
            })
            .unwrap_or(Ok(Vec::new()))
    };
    Ok(Action::Edit {
        order,
        edit_id,
        additions: pairs("additions")?,
        removals: pairs("removals")?,
    })
}

// ----- outbound: GraphQL Admin inventory ----------------------------------------

const READ_QUERY: &str = r#"query OnecountLevels($ids: [ID!]!, $loc: ID!) {
  nodes(ids: $ids) {
    ... on ProductVariant {
      id sku inventoryQuantity
      inventoryItem { id tracked inventoryLevel(locationId: $loc) { quantities(names: ["available"]) { name quantity } } }
    }
  }
}"#;

/// The set mutation with its `@idempotent` key (mandatory from 2026-04).
fn set_mutation(key: &str) -> String {
    format!(
        r#"mutation OnecountSet($input: InventorySetQuantitiesInput!) {{
  inventorySetQuantities(input: $input) @idempotent(key: "{key}") {{
    inventoryAdjustmentGroup {{ createdAt reason changes {{ name delta quantityAfterChange }} }}
    userErrors {{ code field message }}
  }}
}}"#
    )
}

/// Shopify's inventory through the GraphQL Admin API: reads by variant (inventory item,
/// tracked, available at the location), writes with `inventorySetQuantities`
/// (`changeFromQuantity` from the read, an `@idempotent` key), 250 per call.
pub struct ShopifyClient {
    cfg: ShopifyConfig,
    http: reqwest::Client,
    creds: Credentials,
    calls: AtomicU64,
}

fn gid(kind: &str, id: &str) -> String {
    if id.starts_with("gid://") {
        id.to_string()
    } else {
        format!("gid://shopify/{kind}/{id}")
    }
}

impl ShopifyClient {
    pub fn new(cfg: ShopifyConfig) -> Self {
        Self::with_store(cfg, None)
    }

    /// A client whose tokens live in `store` (shared by every function), else in memory.
    pub fn with_store(cfg: ShopifyConfig, store: Option<Arc<dyn TokenStore>>) -> Self {
        let http = super::http::client();
        let refresher = Arc::new(ShopifyGrant {
            http: http.clone(),
            cfg: cfg.clone(),
        });
        let configured = match (&cfg.client_id, &cfg.client_secret) {
            // The first call takes a token from the grant.
            (Some(_), Some(_)) => Tokens::fixed(&Secret::default(), None),
            _ => Tokens::fixed(&cfg.access_token, None),
        };
        ShopifyClient {
            creds: Credentials::new(Channel::Shopify, configured, store, refresher),
            cfg,
            http,
            calls: AtomicU64::new(0),
        }
    }

    /// Access tokens this client took from the client credentials grant.
    pub fn refreshes(&self) -> u64 {
        self.creds.refreshes()
    }

    /// One call with the access token; a refused token (401) is replaced once and the
    /// call made again.
    async fn authed(
        &self,
        what: &str,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<(Value, reqwest::header::HeaderMap), super::http::HttpError> {
        let mut token = self.creds.bearer().await?;
        for attempt in 0..2 {
            let req = build(token.expose());
            match super::http::send(what, req).await {
                Err(super::http::HttpError::Permanent { status: 401, .. }) if attempt == 0 => {
                    token = self.creds.refused(&token).await?;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    fn location(&self) -> Result<String, PushError> {
        self.cfg
            .location_id
            .as_deref()
            .map(|l| gid("Location", l))
            .ok_or_else(|| {
                PushError::Permanent(
                    "shopify.location_id is not configured: set it in the channel configuration"
                        .into(),
                )
            })
    }

    /// POST a GraphQL document; the `data`, or the failure classified. Throttling comes
    /// as HTTP 429 or as HTTP 200 with `THROTTLED`: both are transient, and the wait is
    /// worked out from `extensions.cost.throttleStatus` when there is one.
    async fn graphql(&self, what: &str, query: &str, variables: Value) -> Result<Value, PushError> {
        let v = self.graphql_answer(what, query, variables).await?;
        Ok(v.get("data").cloned().unwrap_or(Value::Null))
    }

    /// [`graphql`](Self::graphql)'s whole answer: `data` and `extensions` (the cost).
    async fn graphql_answer(
        &self,
        what: &str,
        query: &str,
        variables: Value,
    ) -> Result<Value, PushError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let url = format!(
            "{}/admin/api/{}/graphql.json",
            self.cfg.api_base.trim_end_matches('/'),
            self.cfg.api_version
        );
        let body = serde_json::json!({"query": query, "variables": variables});
        let (v, _) = self
            .authed(what, |token| {
                self.http
                    .post(&url)
                    .header("X-Shopify-Access-Token", token)
                    .json(&body)
            })
            .await?;
        if let Some(errors) = v
            .get("errors")
            .and_then(Value::as_array)
            .filter(|e| !e.is_empty())
        {
            let throttled = errors.iter().any(|e| {
                e.pointer("/extensions/code").and_then(Value::as_str) == Some("THROTTLED")
            });
            if throttled {
                return Err(PushError::Transient {
                    detail: format!("{what}: THROTTLED"),
                    retry_after: Some(throttle_wait(&v)),
                });
            }
            let msg = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(PushError::Permanent(format!("{what}: {msg}")));
        }
        Ok(v)
    }
}

/// Seconds until the cost bucket holds what the throttled query asked for.
pub fn throttle_wait(v: &Value) -> u64 {
    let cost = v.pointer("/extensions/cost");
    let f = |p: &str| cost.and_then(|c| c.pointer(p)).and_then(Value::as_f64);
    match (
        f("/requestedQueryCost"),
        f("/throttleStatus/currentlyAvailable"),
        f("/throttleStatus/restoreRate"),
    ) {
        (Some(need), Some(have), Some(rate)) if rate > 0.0 => {
            (((need - have).max(0.0)) / rate).ceil().max(1.0) as u64
        }
        _ => 1,
    }
}

/// The index of the quantity a userError's `field` points at (`["input","quantities","3",…]`).
fn error_index(e: &Value) -> Option<usize> {
    let f = e.get("field")?.as_array()?;
    let pos = f.iter().position(|x| x.as_str() == Some("quantities"))?;
    match f.get(pos + 1)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        _ => None,
    }
}

/// What a userError code means for the write it names.
fn classify_user_error(code: &str, message: &str) -> PushError {
    match code {
        "CHANGE_FROM_QUANTITY_STALE" | "COMPARE_QUANTITY_STALE" => PushError::Stale,
        "IDEMPOTENCY_CONCURRENT_REQUEST" => PushError::Transient {
            detail: "shopify: the same write is still in progress".into(),
            retry_after: Some(1),
        },
        // A new key is made for every call, so a retry is exactly what this asks for.
        "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED" => PushError::Transient {
            detail: "shopify: an earlier attempt with this key failed; retrying with a new key"
                .into(),
            retry_after: None,
        },
        "INVALID_INVENTORY_ITEM"
        | "ITEM_NOT_STOCKED_AT_LOCATION"
        | "NON_MUTABLE_INVENTORY_ITEM"
        | "INVALID_LOCATION" => PushError::Mismatch(format!("shopify {code}: {message}")),
        _ => PushError::Permanent(format!("shopify {code}: {message}")),
    }
}

#[async_trait]
impl ChannelApi for ShopifyClient {
    fn channel(&self) -> Channel {
        Channel::Shopify
    }
    fn read_batch(&self) -> usize {
        100
    }
    fn write_batch(&self) -> usize {
        250
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

    async fn read(&self, targets: &[Target]) -> Vec<Result<Seen, PushError>> {
        let loc = match self.location() {
            Ok(l) => l,
            Err(e) => return all(targets.len(), e),
        };
        let ids: Vec<Option<String>> = targets
            .iter()
            .map(|t| t.reference("variant").map(|v| gid("ProductVariant", v)))
            .collect();
        let asked: Vec<&String> = ids.iter().flatten().collect();
        let data = if asked.is_empty() {
            Value::Null
        } else {
            match self
                .graphql(
                    "shopify inventory read",
                    READ_QUERY,
                    serde_json::json!({"ids": asked, "loc": loc}),
                )
                .await
            {
                Ok(d) => d,
                Err(e) => return all(targets.len(), e),
            }
        };
        let nodes = data
            .get("nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut at = 0;
        ids.iter()
            .zip(targets)
            .map(|(id, t)| {
                let Some(id) = id else {
                    return Err(PushError::Mismatch(
                        "no Shopify variant id mapped (variant:ID)".into(),
                    ));
                };
                let node = nodes.get(at).cloned().unwrap_or(Value::Null);
                at += 1;
                wrong_variant(&node, t)?;
                let item = node
                    .get("inventoryItem")
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| PushError::Mismatch(format!("variant {id} not found")))?;
                if item.get("tracked").and_then(Value::as_bool) != Some(true) {
                    return Err(PushError::Mismatch(format!(
                        "variant {id} does not track inventory"
                    )));
                }
                let level = item
                    .get("inventoryLevel")
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| {
                        PushError::Mismatch(format!(
                            "variant {id} is not stocked at location {loc}"
                        ))
                    })?;
                let here = available(level).ok_or_else(|| {
                    PushError::Permanent("shopify: no available quantity in the answer".into())
                })?;
                let elsewhere = elsewhere(&node, here);
                // The storefront sells what every location has available: that is what the
                // channel shows. Only onecount's location is written.
                Ok(Seen {
                    qty: here + elsewhere,
                    state: serde_json::json!({"inventory_item": item.get("id"), "here": here, "elsewhere": elsewhere}),
                })
            })
            .collect()
    }

    async fn write(&self, writes: &[Write]) -> Vec<Result<(), PushError>> {
        let loc = match self.location() {
            Ok(l) => l,
            Err(e) => return all(writes.len(), e),
        };
        let quantities: Vec<Value> = writes
            .iter()
            .map(|w| {
                let (here, elsewhere) = split(&w.seen);
                serde_json::json!({
                    "inventoryItemId": w.seen.state.get("inventory_item"),
                    "locationId": loc,
                    "quantity": (i64::from(w.qty) - elsewhere).max(0),
                    "changeFromQuantity": here,
                })
            })
            .collect();
        let key = uuid::Uuid::new_v4().to_string();
        let input = serde_json::json!({"input": {
            "name": "available", "reason": "correction",
            "referenceDocumentUri": format!("gid://onecount/Push/{key}"),
            "quantities": quantities,
        }});
        let data = match self
            .graphql("shopify inventorySetQuantities", &set_mutation(&key), input)
            .await
        {
            Ok(d) => d,
            Err(e) => return all(writes.len(), e),
        };
        let errors = data
            .pointer("/inventorySetQuantities/userErrors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if errors.is_empty() {
            return writes.iter().map(short_of_target).collect();
        }
        // The mutation is all or nothing: items without an error of their own were not
        // applied either, so they are re-read and tried again like a stale one.
        let mut out: Vec<Result<(), PushError>> =
            writes.iter().map(|_| Err(PushError::Stale)).collect();
        let mut general = None;
        for e in &errors {
            let code = e.get("code").and_then(Value::as_str).unwrap_or("UNKNOWN");
            let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
            match error_index(e) {
                Some(i) if i < out.len() => out[i] = Err(classify_user_error(code, msg)),
                _ => general = Some(classify_user_error(code, msg)),
            }
        }
        if let Some(g) = general {
            for o in out
                .iter_mut()
                .filter(|o| matches!(o, Err(PushError::Stale)))
            {
                *o = Err(g.clone());
            }
        }
        out
    }
}

impl ShopifyClient {
    /// REST `GET orders/ID.json`: `{"order": {…}}`, the order as it is now.
    pub async fn order(&self, id: &str) -> Result<Value, super::http::HttpError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let url = format!(
            "{}/admin/api/{}/orders/{id}.json",
            self.cfg.api_base.trim_end_matches('/'),
            self.cfg.api_version
        );
        let (v, _) = self
            .authed("shopify order", |token| {
                self.http.get(&url).header("X-Shopify-Access-Token", token)
            })
            .await?;
        Ok(v)
    }
}

#[async_trait]
impl OrderSource for ShopifyClient {
    fn channel(&self) -> Channel {
        Channel::Shopify
    }

    /// REST `orders.json?status=any&updated_at_min=…`, oldest change first, 250 a page,
    /// following the `Link: <…>; rel="next"` cursor to the last page (a flash sale or an
    /// outage leaves far more than one page). Each order is read like its webhooks: the
    /// sale, its cancellation, its refunds.
    async fn orders_since(&self, since: Millis) -> Result<Vec<FoundOrder>, super::http::HttpError> {
        let mut url = format!(
            "{}/admin/api/{}/orders.json?status=any&limit=250&order=updated_at%20asc&updated_at_min={}",
            self.cfg.api_base.trim_end_matches('/'),
            self.cfg.api_version,
            rfc3339(since).replace('+', "%2B")
        );
        let mut out = Vec::new();
        loop {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let (v, headers) = self
                .authed("shopify orders", |token| {
                    self.http.get(&url).header("X-Shopify-Access-Token", token)
                })
                .await?;
            let orders = v.get("orders").and_then(Value::as_array);
            out.extend(orders.into_iter().flatten().map(|o| self.found(o, since)));
            match headers
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(next_link)
            {
                Some(next) => url = next,
                None => return Ok(out),
            }
        }
    }
}

/// A mapping to the wrong variant: the variant carries a SKU, and not ours. (A variant
/// without a SKU is the merchant's choice; ours is matched by id.) Compared ignoring case
/// and surrounding spaces, as merchants type them.
fn wrong_variant(node: &Value, t: &Target) -> Result<(), PushError> {
    let theirs = node.get("sku").and_then(Value::as_str).unwrap_or("").trim();
    if theirs.is_empty() || theirs.eq_ignore_ascii_case(t.sku.as_str().trim()) {
        return Ok(());
    }
    Err(PushError::Mismatch(format!(
        "variant {} has SKU {theirs}, not {}: map {} to its own variant (or correct the SKU in Shopify)",
        t.reference("variant").unwrap_or("?"),
        t.sku,
        t.sku
    )))
}

/// A Dev Dashboard app's token: `POST {shop}/admin/oauth/access_token` with
/// `grant_type=client_credentials` (a form); it lasts 24 hours (`expires_in` 86399) and has
/// no refresh token: the grant is made again. A legacy static token cannot be renewed.
struct ShopifyGrant {
    http: reqwest::Client,
    cfg: ShopifyConfig,
}

#[async_trait]
impl Refresher for ShopifyGrant {
    async fn refresh(&self, _current: &Tokens) -> Result<Tokens, super::http::HttpError> {
        let what = "shopify client credentials grant";
        let refused = |detail: &str| super::http::HttpError::Permanent {
            what: what.into(),
            status: 401,
            detail: detail.into(),
        };
        let (Some(id), Some(secret)) = (&self.cfg.client_id, &self.cfg.client_secret) else {
            return Err(refused(
                "the static access token was refused: put a new one (or a Dev Dashboard app's client_id and client_secret) in the Shopify configuration",
            ));
        };
        let form = super::http::form_urlencoded(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret.expose()),
        ]);
        let v = super::http::send_json(
            what,
            self.http
                .post(format!(
                    "{}/admin/oauth/access_token",
                    self.cfg.api_base.trim_end_matches('/')
                ))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form),
        )
        .await?;
        let access = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| refused("no access_token in the answer"))?;
        let lifetime = v
            .get("expires_in")
            .and_then(Value::as_i64)
            .unwrap_or(86_399)
            * 1000;
        Ok(Tokens {
            access: Secret::new(access),
            access_expires_at: Some(crate::clock::now_ms() + lifetime),
            access_lifetime_ms: Some(lifetime),
            refresh: None,
            refresh_expires_at: None,
            origin: None,
        })
    }
}

/// The `available` quantity of an inventory level.
fn available(level: &Value) -> Option<i64> {
    level
        .get("quantities")
        .and_then(Value::as_array)?
        .iter()
        .find(|x| x.get("name").and_then(Value::as_str) == Some("available"))?
        .get("quantity")?
        .as_i64()
}

/// What the variant has available at locations other than onecount's: its
/// `inventoryQuantity` ("the total sellable quantity", every location) less onecount's
/// location. A scalar, so it adds nothing to the query's cost, unlike a connection of
/// levels per variant (2 + first × fields each, past the 1,000-point query limit at 100
/// variants).
fn elsewhere(variant: &Value, here: i64) -> i64 {
    variant
        .get("inventoryQuantity")
        .and_then(Value::as_i64)
        .map_or(0, |total| (total - here).max(0))
}

/// (at onecount's location, at the others) of a read; a read without the split (an
/// older state) is all at onecount's location.
fn split(seen: &Seen) -> (i64, i64) {
    let get = |k: &str| seen.state.get(k).and_then(Value::as_i64);
    match (get("here"), get("elsewhere")) {
        (Some(h), Some(e)) => (h, e),
        _ => (seen.qty, 0),
    }
}

/// A write that landed but cannot make the storefront show its quantity: other
/// locations alone have more available than onecount lists.
fn short_of_target(w: &Write) -> Result<(), PushError> {
    let (_, elsewhere) = split(&w.seen);
    if elsewhere <= i64::from(w.qty) {
        return Ok(());
    }
    Err(PushError::Mismatch(format!(
        "variant {} has {elsewhere} available at other Shopify locations, more than the {} \
         onecount lists: the storefront sells those too. Set them to 0 in Shopify (or stop \
         stocking the item there) so onecount's location holds the listed stock",
        w.target.reference("variant").unwrap_or("?"),
        w.qty
    )))
}

/// The `rel="next"` URL of a `Link` header (Shopify's cursor paging), if any.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

impl ShopifyClient {
    /// One order of a listing, as the actions its webhooks would have caused.
    fn found(&self, o: &Value, since: Millis) -> FoundOrder {
        let body = o.to_string();
        let mut actions = Vec::new();
        if let Parsed::Event(a) = parse(
            "orders/create",
            body.as_bytes(),
            self.cfg.process_test_orders,
        ) {
            actions.push(a);
        }
        if o.get("cancelled_at").is_some_and(|c| !c.is_null())
            && let Parsed::Event(a) = parse(
                "orders/cancelled",
                body.as_bytes(),
                self.cfg.process_test_orders,
            )
        {
            actions.push(a);
        }
        for r in o
            .get("refunds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Parsed::Event(a) = parse("refunds/create", r.to_string().as_bytes(), true) {
                actions.push(a);
            }
        }
        let updated_at = o
            .get("updated_at")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
            .unwrap_or(since);
        FoundOrder {
            actions,
            updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChannelRef;
    use crate::channels::Candidate;

    /// An order body shaped like Shopify's `orders/*` payloads (one line).
    fn order(cancelled_at: Option<&str>, refunds: Value) -> Vec<u8> {
        serde_json::json!({
            "id": 820982911946154508u64, "created_at": "2026-03-14T11:00:00-04:00",
            "cancelled_at": cancelled_at, "test": false, "refunds": refunds,
            "line_items": [{"id": 866550311766439020u64, "variant_id": 808950810, "sku": "MUG", "quantity": 2}]
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_cancel_must_show_a_cancellation_and_gives_back_only_what_it_restocked() {
        // A captured orders/create body replayed under the orders/cancelled topic (the
        // topic header is not signed): kept for a person, nothing restocked.
        assert!(matches!(
            parse("orders/cancelled", &order(None, serde_json::json!([])), false),
            Parsed::Quarantine(m) if m.contains("cancelled_at")
        ));
        let refund = |restock: &str| serde_json::json!([{"id": 1, "refund_line_items": [{"id": 2, "line_item_id": 866550311766439020u64, "quantity": 2, "restock_type": restock}]}]);
        let at = Some("2026-03-14T11:02:40-04:00");
        assert!(matches!(
            parse("orders/cancelled", &order(at, refund("no_restock")), false),
            Parsed::Ignored(_)
        ));
        assert!(matches!(
            parse("orders/cancelled", &order(at, refund("cancel")), false),
            Parsed::Event(Action::Cancel { .. })
        ));
        // A create delivered after its cancellation still counts as the sale (the
        // cancellation nets it), never quarantined.
        assert!(matches!(
            parse("orders/create", &order(at, refund("cancel")), false),
            Parsed::Event(Action::Sale { .. })
        ));
    }

    #[test]
    fn a_variant_with_another_sku_is_a_wrong_mapping() {
        let t = Target {
            sku: crate::Sku::parse("MUG-BLUE").unwrap(),
            refs: vec![ChannelRef::new("variant", "808950810").unwrap()],
        };
        let node = |sku: &str| serde_json::json!({"id": "gid://shopify/ProductVariant/808950810", "sku": sku});
        assert!(wrong_variant(&node("MUG-BLUE"), &t).is_ok());
        assert!(wrong_variant(&node(" mug-blue "), &t).is_ok());
        assert!(
            wrong_variant(&node(""), &t).is_ok(),
            "no SKU on the variant: matched by id"
        );
        assert!(matches!(
            wrong_variant(&node("MUG-RED"), &t),
            Err(PushError::Mismatch(m)) if m.contains("MUG-RED")
        ));
    }

    #[test]
    fn the_next_page_is_the_link_headers_rel_next() {
        let link = r#"<https://shop.myshopify.com/admin/api/2026-04/orders.json?limit=250&page_info=abc>; rel="previous", <https://shop.myshopify.com/admin/api/2026-04/orders.json?limit=250&page_info=def>; rel="next""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some(
                "https://shop.myshopify.com/admin/api/2026-04/orders.json?limit=250&page_info=def"
            )
        );
        assert_eq!(next_link(r#"<https://x/a>; rel="previous""#), None);
    }

    #[test]
    fn a_throttled_answer_says_how_long_to_wait() {
        // The shape Shopify sends on THROTTLED (data absent, actualQueryCost null).
        let v = serde_json::json!({
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": {"cost": {"requestedQueryCost": 502, "actualQueryCost": null,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 2, "restoreRate": 100.0}}}
        });
        assert_eq!(throttle_wait(&v), 5);
        assert_eq!(throttle_wait(&serde_json::json!({})), 1);
    }

    #[test]
    fn user_errors_name_the_quantity_and_what_to_do() {
        let e = serde_json::json!({"code": "CHANGE_FROM_QUANTITY_STALE", "field": ["input", "quantities", "3", "changeFromQuantity"], "message": "stale"});
        assert_eq!(error_index(&e), Some(3));
        assert_eq!(
            classify_user_error("CHANGE_FROM_QUANTITY_STALE", ""),
            PushError::Stale
        );
        assert!(matches!(
            classify_user_error("ITEM_NOT_STOCKED_AT_LOCATION", "x"),
            PushError::Mismatch(_)
        ));
        assert!(matches!(
            classify_user_error("IDEMPOTENCY_CONCURRENT_REQUEST", ""),
            PushError::Transient {
                retry_after: Some(1),
                ..
            }
        ));
        assert!(matches!(
            classify_user_error("INVALID_QUANTITY_TOO_HIGH", ""),
            PushError::Permanent(_)
        ));
        assert!(set_mutation("k-1").contains("@idempotent(key: \"k-1\")"));
        assert_eq!(
            gid("Location", "71234567"),
            "gid://shopify/Location/71234567"
        );
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn verifies_with_current_or_previous_secret_only() {
        let body = br#"{"id":1}"#;
        let sig = sign(b"old", body);
        let hs = h(&[("x-shopify-hmac-sha256", &sig)]);
        assert_eq!(verify(&hs, body, &[b"new", b"old"]), Ok(()));
        assert_eq!(verify(&hs, body, &[b"new"]), Err(SigError::Mismatch));
        assert_eq!(
            verify(&hs, b"{\"id\":2}", &[b"old"]),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            verify(&h(&[]), body, &[b"old"]),
            Err(SigError::Missing(HMAC_HEADER))
        );
        assert_eq!(
            verify(&h(&[("X-Shopify-Hmac-SHA256", "%%%")]), body, &[b"old"]),
            Err(SigError::Malformed(HMAC_HEADER))
        );
    }

    #[test]
    fn parses_orders_refunds_and_edits() {
        let order = br#"{"id":5830012345678,"created_at":"2026-03-14T10:21:07-04:00","test":false,"line_items":[{"id":14012345678901,"variant_id":44123456789012,"sku":"MUG","quantity":2}]}"#;
        let Parsed::Event(Action::Sale {
            order: o,
            lines,
            placed_at,
        }) = parse("orders/create", order, false)
        else {
            panic!()
        };
        assert_eq!(o.as_str(), "5830012345678");
        // 2026-03-14T14:21:07Z: the offset is honoured.
        assert_eq!(placed_at, Some(1_773_498_067_000));
        assert_eq!(lines[0].qty, 2);
        assert_eq!(
            lines[0].candidates[0],
            Candidate::Ref(ChannelRef {
                kind: "variant".into(),
                id: "44123456789012".into()
            })
        );
        let refund = br#"{"id":990011,"order_id":5830012345678,"refund_line_items":[{"id":77001,"line_item_id":14012345678901,"quantity":1,"restock_type":"return"},{"id":77002,"line_item_id":5,"quantity":1,"restock_type":"no_restock"}]}"#;
        let Parsed::Event(Action::Restock { lines, .. }) = parse("refunds/create", refund, false)
        else {
            panic!()
        };
        assert_eq!(lines.len(), 1, "no_restock lines give nothing back");
        assert!(matches!(
            parse(
                "orders/create",
                br#"{"id":1,"test":true,"line_items":[]}"#,
                false
            ),
            Parsed::Ignored(_)
        ));
        assert!(matches!(
            parse("orders/create", b"not json", false),
            Parsed::Quarantine(_)
        ));
        assert!(matches!(
            parse("orders/create", br#"{"id":1}"#, false),
            Parsed::Quarantine(_)
        ));
        assert!(matches!(
            parse("carts/update", br#"{}"#, false),
            Parsed::Quarantine(_)
        ));
    }
}
