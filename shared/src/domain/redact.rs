//! What a quarantine record keeps of a webhook or an order line: enough to find the order
//! and act on it (its ids, SKUs, quantities, topic, sizes, a hash of the whole), never the
//! customer's name, address or email, nor the signature headers.
//!
//! A webhook body carries personal data (Shopify's `orders/create` has the buyer's name,
//! email, phone and addresses); the quarantine is kept for days and read by people, so it
//! holds this summary instead. The SHA-256 ties it to the channel's own copy of the event.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Headers whose values are kept (lowercase); any other header is kept by name only.
pub const KEPT_HEADERS: [&str; 10] = [
    "content-type",
    "content-length",
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-triggered-at",
    "webhook-id",
    "webhook-timestamp",
];

/// What a dropped header's value reads as.
pub const NOT_KEPT: &str = "(not kept)";
/// Values found in a body, at most.
const KEPT_VALUES: usize = 100;
/// A string value longer than this is not an id.
const VALUE_CHARS_MAX: usize = 100;

/// The headers with only [`KEPT_HEADERS`]' values.
pub fn headers(all: &[(String, String)]) -> Vec<(String, String)> {
    all.iter()
        .map(|(k, v)| {
            let keep = KEPT_HEADERS.contains(&k.to_ascii_lowercase().as_str());
            (k.clone(), if keep { v.clone() } else { NOT_KEPT.into() })
        })
        .collect()
}

/// A field worth keeping: an id (`id`, `…_id`, `…Id`), a SKU, a quantity, a topic.
fn kept_key(k: &str) -> bool {
    k == "id"
        || k.ends_with("_id")
        || k.ends_with("Id")
        || matches!(
            k,
            "sku" | "quantity" | "qty" | "topic" | "line" | "order" | "channel"
        )
}

fn walk(v: &Value, path: &str, out: &mut Map<String, Value>) {
    if out.len() >= KEPT_VALUES {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"));
                let small = match x {
                    Value::Number(_) | Value::Bool(_) => true,
                    Value::String(s) => s.chars().count() <= VALUE_CHARS_MAX,
                    _ => false,
                };
                if small && kept_key(k) {
                    if out.len() < KEPT_VALUES {
                        out.insert(p, x.clone());
                    }
                } else {
                    walk(x, &p, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// SHA-256 of `text`, hex: a short, stable key for something long.
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The summary kept of `body`: `{"bytes", "sha256", "json", "kept": {pointer: value}}`.
pub fn summary(body: &[u8]) -> Value {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let mut kept = Map::new();
    if let Some(v) = &parsed {
        walk(v, "", &mut kept);
    }
    serde_json::json!({
        "bytes": body.len(),
        "sha256": hex::encode(Sha256::digest(body)),
        "json": parsed.is_some(),
        "kept": kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like Shopify's `orders/create`, with the personal fields it really has.
    fn order() -> Vec<u8> {
        serde_json::json!({
            "id": 5830012345678u64,
            "admin_graphql_api_id": "gid://shopify/Order/5830012345678",
            "name": "#1001",
            "email": "ana@example.com",
            "phone": "+15551234567",
            "customer": {"id": 7001, "first_name": "Ana", "last_name": "Lima", "email": "ana@example.com"},
            "shipping_address": {"address1": "1 Main St", "city": "Lisbon", "zip": "1000-001", "name": "Ana Lima"},
            "line_items": [{"id": 1, "variant_id": 44123, "sku": "MUG-1", "quantity": 2, "title": "Mug"}],
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn ids_skus_and_quantities_are_kept_personal_data_is_not() {
        let body = order();
        let s = summary(&body);
        let text = s.to_string();
        for personal in [
            "ana@example.com",
            "Lima",
            "Main St",
            "Lisbon",
            "+15551234567",
        ] {
            assert!(!text.contains(personal), "{personal} in {text}");
        }
        let kept = &s["kept"];
        assert_eq!(kept["/id"], 5830012345678u64);
        assert_eq!(kept["/customer/id"], 7001);
        assert_eq!(kept["/line_items/0/sku"], "MUG-1");
        assert_eq!(kept["/line_items/0/quantity"], 2);
        assert_eq!(kept["/line_items/0/variant_id"], 44123);
        assert_eq!(s["bytes"], body.len());
        assert_eq!(s["sha256"], hex::encode(Sha256::digest(&body)));
    }

    #[test]
    fn an_unreadable_body_keeps_only_its_size_and_hash() {
        let s = summary(b"{\"id\": 1, \"email\": \"ana@example.com\" oops");
        assert_eq!(s["json"], false);
        assert_eq!(s["kept"], serde_json::json!({}));
        assert!(!s.to_string().contains("ana@"));
    }

    #[test]
    fn signature_headers_are_kept_by_name_only() {
        let h = headers(&[
            ("X-Shopify-Topic".into(), "orders/create".into()),
            ("X-Shopify-Hmac-Sha256".into(), "c2lnbmF0dXJl".into()),
            ("X-EBAY-SIGNATURE".into(), "eyJ...".into()),
        ]);
        assert_eq!(h[0].1, "orders/create");
        assert_eq!((h[1].1.as_str(), h[2].1.as_str()), (NOT_KEPT, NOT_KEPT));
    }
}
