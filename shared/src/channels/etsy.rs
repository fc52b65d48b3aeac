//! Etsy: Standard Webhooks signatures, pointer payloads, receipts fetched from Open API v3.

use std::sync::Mutex;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::config::EtsyConfig;
use super::http::{HttpError, send_json};
use super::{Action, Headers, Key, LineShape, Parsed, SigError, b64, ct_eq, id_text, parse_lines};
use crate::domain::OrderId;

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
pub fn verify(headers: &impl Headers, body: &[u8], secret: &str, now: i64) -> Result<(), SigError> {
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
    if (now - ts).abs() > TOLERANCE_SECS {
        return Err(SigError::Stale(now - ts));
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
    let parts: Vec<&str> = url
        .split('?')
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .split('/')
        .collect();
    match parts.iter().position(|p| *p == "shops") {
        Some(i) if parts.get(i + 2) == Some(&"receipts") && parts.len() == i + 4 => {
            Parsed::Event(Action::FetchEtsyReceipt {
                shop_id: parts[i + 1].to_string(),
                receipt_id: parts[i + 3].to_string(),
            })
        }
        _ => Parsed::Quarantine(format!("{event}: resource_url is not a receipt URL")),
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
        Action::Sale { order, lines }
    })
}

/// Etsy Open API v3 client: `x-api-key: keystring:shared_secret` plus a Bearer token,
/// refreshed once on 401.
pub struct EtsyClient {
    cfg: EtsyConfig,
    http: reqwest::Client,
    token: Mutex<String>,
}

impl EtsyClient {
    pub fn new(cfg: EtsyConfig) -> Self {
        let token = cfg.access_token.expose().to_string();
        EtsyClient {
            cfg,
            http: super::http::client(),
            token: Mutex::new(token),
        }
    }

    fn api_key(&self) -> String {
        format!("{}:{}", self.cfg.keystring, self.cfg.shared_secret.expose())
    }

    async fn refresh(&self) -> Result<(), HttpError> {
        let url = format!(
            "{}/v3/public/oauth/token",
            self.cfg.api_base.trim_end_matches('/')
        );
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", self.cfg.keystring.as_str()),
            ("refresh_token", self.cfg.refresh_token.expose()),
        ];
        let body = serde_urlencoded(&form);
        let v = send_json(
            "etsy token refresh",
            self.http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await?;
        let t = v
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| HttpError::Permanent {
                what: "etsy token refresh".into(),
                status: 200,
                detail: "no access_token in the answer".into(),
            })?;
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = t.to_string();
        Ok(())
    }

    /// GET with auth; one token refresh on 401.
    pub async fn get(&self, what: &str, path: &str) -> Result<Value, HttpError> {
        let url = format!("{}{}", self.cfg.api_base.trim_end_matches('/'), path);
        for attempt in 0..2 {
            let token = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let req = self
                .http
                .get(&url)
                .header("x-api-key", self.api_key())
                .bearer_auth(token);
            match send_json(what, req).await {
                Err(HttpError::Permanent { status: 401, .. }) if attempt == 0 => {
                    self.refresh().await?
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// `getShopReceipt`.
    pub async fn receipt(&self, shop_id: &str, receipt_id: &str) -> Result<Value, HttpError> {
        self.get(
            "etsy getShopReceipt",
            &format!("/v3/application/shops/{shop_id}/receipts/{receipt_id}"),
        )
        .await
    }
}

/// application/x-www-form-urlencoded, for the few token calls.
pub(crate) fn serde_urlencoded(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::Candidate;

    fn h(id: &str, ts: &str, sig: &str) -> Vec<(String, String)> {
        vec![
            ("webhook-id".into(), id.into()),
            ("webhook-timestamp".into(), ts.into()),
            ("webhook-signature".into(), sig.into()),
        ]
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
            Parsed::Event(Action::FetchEtsyReceipt {
                shop_id: "12345678".into(),
                receipt_id: "3456789012".into()
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
    fn receipts_become_lines_and_cancellations() {
        let r: Value = serde_json::from_str(r#"{"receipt_id":3456789012,"status":"paid","transactions":[{"transaction_id":4567890123,"listing_id":1234567890,"sku":"MUG","quantity":2}]}"#).unwrap();
        let Action::Sale { lines, .. } = receipt_action(&r).unwrap() else {
            panic!()
        };
        assert_eq!(lines[0].candidates[0], Candidate::Sku("MUG".into()));
        let mut c = r.clone();
        c["status"] = "canceled".into();
        assert!(matches!(receipt_action(&c).unwrap(), Action::Cancel { .. }));
    }
}
