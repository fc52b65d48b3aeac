//! The Etsy sandbox: pointer webhooks (Standard Webhooks) and the receipts they point at.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{DeliveryKnobs, DeliveryRecord, SimConfig, err, now_secs, post as send};

pub const SHOP_ID: &str = "12345678";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimListing {
    pub listing_id: u64,
    pub sku: String,
    pub qty: i64,
}

#[derive(Default)]
struct St {
    listings: BTreeMap<u64, SimListing>,
    receipts: BTreeMap<u64, serde_json::Value>,
    next: u64,
    deliveries: Vec<DeliveryRecord>,
    public_base: String,
    api_calls: u64,
}

pub struct Etsy {
    cfg: SimConfig,
    http: reqwest::Client,
    st: Mutex<St>,
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
    #[serde(default)]
    pub knobs: DeliveryKnobs,
}

impl Etsy {
    pub fn new(cfg: SimConfig, http: reqwest::Client) -> Self {
        Etsy {
            cfg,
            http,
            st: Mutex::new(St {
                next: 3_456_789_000,
                ..Default::default()
            }),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_public_base(&self, url: &str) {
        self.st().public_base = url.to_string();
    }

    pub fn add_listing(&self, l: SimListing) {
        self.st().listings.insert(l.listing_id, l);
    }

    pub fn quantity(&self, listing_id: u64) -> Option<i64> {
        self.st().listings.get(&listing_id).map(|l| l.qty)
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
            for (l, q) in &req.lines {
                let x = st
                    .listings
                    .get(l)
                    .ok_or_else(|| format!("no listing {l}"))?;
                if x.qty < *q {
                    return Err(format!("only {} of listing {l} on display", x.qty));
                }
            }
            st.next += 1;
            let id = st.next;
            let mut txs = Vec::new();
            for (i, (l, q)) in req.lines.iter().enumerate() {
                let x = st.listings.get_mut(l).expect("checked");
                x.qty -= q;
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
            let txs = r["transactions"].as_array().cloned().unwrap_or_default();
            for t in txs {
                if let Some(l) = t["listing_id"]
                    .as_u64()
                    .and_then(|l| st.listings.get_mut(&l))
                {
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
        if auth != format!("Bearer {}", self.cfg.etsy_token) {
            return Some(err(401, "invalid_token"));
        }
        None
    }
}

pub fn router(s: Arc<Etsy>) -> Router {
    Router::new()
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
            Json(json!({"listings": st.listings.values().collect::<Vec<_>>(), "receipts": st.receipts.values().collect::<Vec<_>>(), "deliveries": st.deliveries}))
        }))
        .route("/v3/application/shops/{shop}/receipts/{id}", get(|State(s): State<Arc<Etsy>>, Path((shop, id)): Path<(String, u64)>, headers: HeaderMap| async move {
            if let Some(r) = s.refuse(&headers) {
                return r;
            }
            if shop != SHOP_ID {
                return err(404, "shop not found");
            }
            match s.st().receipts.get(&id) {
                Some(r) => Json(r.clone()).into_response(),
                None => err(404, "receipt not found"),
            }
        }))
        .with_state(s)
}
