//! Shopify: webhooks signed with base64(HMAC-SHA256(app secret, raw body)).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{
    Action, Headers, InLine, Key, LineShape, Parsed, RefundLine, SigError, b64, ct_eq, id_text,
    line_id, parse_lines, whole,
};
use crate::domain::{LineId, OrderId};

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
pub fn verify(headers: &impl Headers, body: &[u8], secrets: &[&[u8]]) -> Result<(), SigError> {
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
pub fn delivery_id(headers: &impl Headers) -> Option<String> {
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
            order_id(&v, "id").and_then(|order| {
                let lines = lines(&v)?;
                Ok(if topic == "orders/cancelled" {
                    Action::Cancel { order, lines }
                } else {
                    Action::Sale { order, lines }
                })
            })
        }
        "refunds/create" => (|| {
            let order = order_id(&v, "order_id")?;
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
        })(),
        "orders/edited" => (|| {
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
        })(),
        other => return Parsed::Quarantine(format!("unknown topic '{other}'")),
    };
    match result {
        Ok(a) => Parsed::Event(a),
        Err(e) => Parsed::Quarantine(format!("{topic}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChannelRef;
    use crate::channels::Candidate;

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
        let order = br#"{"id":5830012345678,"test":false,"line_items":[{"id":14012345678901,"variant_id":44123456789012,"sku":"MUG","quantity":2}]}"#;
        let Parsed::Event(Action::Sale { order: o, lines }) = parse("orders/create", order, false)
        else {
            panic!()
        };
        assert_eq!(o.as_str(), "5830012345678");
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
