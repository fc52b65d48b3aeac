//! The Shopify sandbox.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{DeliveryKnobs, DeliveryRecord, SimConfig, err, post as send};

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
}

#[derive(Default)]
struct St {
    listings: BTreeMap<u64, SimListing>,
    orders: BTreeMap<u64, Order>,
    next: u64,
    deliveries: Vec<DeliveryRecord>,
}

pub struct Shopify {
    cfg: SimConfig,
    http: reqwest::Client,
    st: Mutex<St>,
}

/// What placing an order gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Placed {
    pub order_id: String,
    pub line_ids: Vec<String>,
    pub event_id: String,
}

#[derive(Debug, Clone, Deserialize)]
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
            cfg,
            http,
            st: Mutex::new(St {
                next: 5_830_012_345_000,
                ..Default::default()
            }),
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

    /// A buyer checks out: sells only what is displayed, then the webhook goes out.
    pub fn place_order(self: &Arc<Self>, req: &OrderReq) -> Result<Placed, String> {
        let (order, body) = {
            let mut st = self.st();
            for (v, q) in &req.lines {
                let l = st
                    .listings
                    .get(v)
                    .ok_or_else(|| format!("no variant {v}"))?;
                if l.qty < *q {
                    return Err(format!("only {} of variant {v} on display", l.qty));
                }
            }
            st.next += 1;
            let id = st.next;
            let mut lines = Vec::new();
            for (i, (v, q)) in req.lines.iter().enumerate() {
                let l = st.listings.get_mut(v).expect("checked");
                l.qty -= q;
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
        let body = {
            let mut st = self.st();
            let order = st.orders.get_mut(&order_id).ok_or("no such order")?;
            if order.cancelled {
                return Err("already cancelled".into());
            }
            order.cancelled = true;
            let order = order.clone();
            for l in &order.lines {
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
            json!({"id": refund_id, "order_id": order_id, "created_at": "2026-03-15T09:00:00-04:00", "restock": true,
                   "refund_line_items": [{"id": refund_id + 1, "line_item_id": line_id, "quantity": qty, "restock_type": "return",
                                          "location_id": 71234567, "line_item": {"id": line_id, "variant_id": line.variant_id, "sku": line.sku}}]})
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

fn order_json(o: &Order) -> serde_json::Value {
    json!({
        "id": o.id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{}", o.id),
        "name": format!("#{}", o.id % 10_000),
        "created_at": "2026-03-14T10:21:07-04:00",
        "updated_at": "2026-03-14T10:21:08-04:00",
        "financial_status": "paid",
        "cancelled_at": null,
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
        .route("/_sim/state", get(|State(s): State<Arc<Shopify>>| async move {
            let st = s.st();
            Json(json!({"listings": st.listings.values().collect::<Vec<_>>(), "orders": st.orders.values().collect::<Vec<_>>(), "deliveries": st.deliveries}))
        }))
        .with_state(s)
}

use axum::response::IntoResponse;
