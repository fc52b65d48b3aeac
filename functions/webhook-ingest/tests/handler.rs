//! The ingest handler with in-memory ports (this is about the handler, not AWS):
//! arbitrary bytes and headers never panic it and nothing unsigned is ever queued; a
//! real API Gateway event with a base64 body verifies; a failed enqueue asks the
//! channel to retry; logs hold no body, signature or customer data.

use std::sync::Mutex;

use async_trait::async_trait;
use onecount::Channel;
use onecount::alerts::Alert;
use onecount::channels::config::{ChannelsConfig, EbayConfig, EtsyConfig, Secret, ShopifyConfig};
use onecount::channels::ebay::PublicKey;
use onecount::channels::{HttpError, OrderEvent};
use onecount::ports::{AlertSink, Inbox, LedgerError, OrderQueue, Quarantined, SendError};
use onecount_webhook_ingest::{EbayKeys, Ingest, IngestRequest};
use proptest::prelude::*;

#[derive(Default)]
struct Queue(Mutex<Vec<OrderEvent>>, std::sync::atomic::AtomicBool);
#[async_trait]
impl OrderQueue for Queue {
    async fn enqueue(&self, e: &OrderEvent) -> Result<(), SendError> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SendError("SQS is down".into()));
        }
        self.0.lock().unwrap().push(e.clone());
        Ok(())
    }
}

#[derive(Default)]
struct Box_(Mutex<(Vec<String>, Vec<Quarantined>)>);
#[async_trait]
impl Inbox for Box_ {
    async fn delivery_seen(&self, c: Channel, id: &str) -> Result<bool, LedgerError> {
        Ok(self.0.lock().unwrap().0.contains(&format!("{c}{id}")))
    }
    async fn mark_delivery(&self, c: Channel, id: &str) -> Result<(), LedgerError> {
        self.0.lock().unwrap().0.push(format!("{c}{id}"));
        Ok(())
    }
    async fn quarantine(&self, q: &Quarantined) -> Result<String, LedgerError> {
        self.0.lock().unwrap().1.push(q.clone());
        Ok(q.id.clone())
    }
    async fn quarantined(&self, _: u32) -> Result<Vec<Quarantined>, LedgerError> {
        Ok(self.0.lock().unwrap().1.clone())
    }
}

#[derive(Default)]
struct Alerts(Mutex<Vec<Alert>>);
#[async_trait]
impl AlertSink for Alerts {
    async fn publish(&self, a: &Alert) -> Result<(), SendError> {
        self.0.lock().unwrap().push(a.clone());
        Ok(())
    }
}

struct Keys;
#[async_trait]
impl EbayKeys for Keys {
    async fn key(&self, kid: &str) -> Result<PublicKey, HttpError> {
        if kid.len().is_multiple_of(2) {
            Err(HttpError::Permanent {
                what: "key".into(),
                status: 404,
                detail: "no".into(),
            })
        } else {
            Ok(PublicKey {
                algorithm: "ECDSA".into(),
                digest: "SHA1".into(),
                key: "-----BEGIN PUBLIC KEY-----garbage".into(),
            })
        }
    }
}

const SHOPIFY_SECRET: &str = "shpss_fixture_secret";

fn ingest() -> Ingest<Queue, Box_, Alerts> {
    Ingest {
        channels: ChannelsConfig {
            shopify: Some(ShopifyConfig {
                shop_domain: "x.myshopify.com".into(),
                webhook_secret: Secret::new(SHOPIFY_SECRET),
                previous_webhook_secret: None,
                api_base: "http://127.0.0.1:9".into(),
                access_token: Secret::default(),
                api_version: "2026-04".into(),
                location_id: None,
                process_test_orders: false,
            }),
            etsy: Some(EtsyConfig {
                shop_id: "1".into(),
                webhook_secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                api_base: "http://127.0.0.1:9".into(),
                keystring: "k".into(),
                shared_secret: Secret::new("s"),
                access_token: Secret::new("1.t"),
                refresh_token: Secret::default(),
            }),
            ebay: Some(EbayConfig {
                api_base: "http://127.0.0.1:9".into(),
                client_id: "c".into(),
                client_secret: Secret::new("s"),
                refresh_token: Secret::new("r"),
                verification_token: Secret::new("v"),
                endpoint_url: "https://x/webhooks/ebay".into(),
            }),
        },
        queue: Queue::default(),
        inbox: Box_::default(),
        alerts: Alerts::default(),
        ebay: Some(Box::new(Keys)),
    }
}

fn header() -> impl Strategy<Value = (String, String)> {
    let names = prop::sample::select(vec![
        "X-Shopify-Hmac-Sha256",
        "X-Shopify-Topic",
        "X-Shopify-Event-Id",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "X-EBAY-SIGNATURE",
        "content-type",
        "x-anything",
    ]);
    let values = prop_oneof![
        ".{0,80}",
        "v1,[A-Za-z0-9+/=]{0,60}",
        "[A-Za-z0-9+/=]{0,200}",
        Just("orders/create".to_string()),
        Just(
            "eyJhbGciOiJlY2RzYSIsImtpZCI6IjEiLCJzaWduYXR1cmUiOiJNRVVDIiwiZGlnZXN0IjoiU0hBMSJ9"
                .to_string()
        ),
    ];
    (names.prop_map(str::to_string), values)
}

fn request() -> impl Strategy<Value = IngestRequest> {
    (
        prop::sample::select(vec!["POST", "GET", "PUT", "post"]),
        prop_oneof![
            prop::sample::select(vec![
                "/webhooks/shopify",
                "/webhooks/etsy",
                "/webhooks/ebay",
                "/webhooks/ebay/",
                "/",
                "/webhooks/amazon"
            ])
            .prop_map(str::to_string),
            "/[a-z/]{0,20}",
        ],
        prop::option::of(".{0,40}"),
        prop::collection::vec(header(), 0..6),
        prop::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_map(|(method, path, query, headers, body)| IngestRequest {
            method: method.to_string(),
            path,
            query,
            headers,
            body,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn arbitrary_requests_never_panic_and_unsigned_ones_queue_nothing(req in request()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ing = ingest();
        let resp = rt.block_on(ing.handle(&req));
        prop_assert!([200, 400, 401, 404, 405, 413, 503].contains(&resp.status), "status {}", resp.status);
        prop_assert!(serde_json::from_str::<serde_json::Value>(&resp.body).is_ok());
        // Random bytes are never correctly signed: nothing may be queued or kept.
        prop_assert!(ing.queue.0.lock().unwrap().is_empty());
        prop_assert!(ing.inbox.0.lock().unwrap().1.is_empty());
    }

    #[test]
    fn signed_arbitrary_bodies_are_queued_ignored_or_quarantined(body in prop::collection::vec(any::<u8>(), 1..2048), topic in prop::sample::select(vec!["orders/create", "orders/cancelled", "refunds/create", "orders/edited", "shop/update"])) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ing = ingest();
        let sig = onecount::channels::shopify::sign(SHOPIFY_SECRET.as_bytes(), &body);
        let req = IngestRequest {
            method: "POST".into(),
            path: "/webhooks/shopify".into(),
            query: None,
            headers: vec![("X-Shopify-Hmac-Sha256".into(), sig), ("X-Shopify-Topic".into(), topic.to_string())],
            body: body.clone(),
        };
        let resp = rt.block_on(ing.handle(&req));
        prop_assert_eq!(resp.status, 200);
        let queued = ing.queue.0.lock().unwrap().len();
        let kept = ing.inbox.0.lock().unwrap().1.len();
        prop_assert_eq!(queued + kept, 1, "a signed body is either queued or kept: {}", resp.body);
        if kept == 1 {
            prop_assert_eq!(&ing.inbox.0.lock().unwrap().1[0].body, &body, "kept whole");
            prop_assert_eq!(ing.alerts.0.lock().unwrap().len(), 1, "and alerted");
        }
    }
}

/// Logs carry delivery id, channel, topic and timings — never bodies, signatures or
/// customer data.
#[test]
fn logs_hold_no_body_signature_or_customer_data() {
    use std::io::Write;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/shopify/orders_create.json"
    ))
    .unwrap();
    let sig = onecount::channels::shopify::sign(SHOPIFY_SECRET.as_bytes(), &body);
    let garbage = b"{\"email\": \"buyer@example.com\", oops".to_vec();
    let gsig = onecount::channels::shopify::sign(SHOPIFY_SECRET.as_bytes(), &garbage);
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ing = ingest();
        for (b, s, id) in [
            (&body, &sig, "ev-1"),
            (&body, &sig, "ev-1"),
            (&garbage, &gsig, "ev-2"),
            (&body, &"AAAA".to_string(), "ev-3"),
        ] {
            let req = IngestRequest {
                method: "POST".into(),
                path: "/webhooks/shopify".into(),
                query: None,
                headers: vec![
                    ("X-Shopify-Hmac-Sha256".into(), s.clone()),
                    ("X-Shopify-Topic".into(), "orders/create".into()),
                    ("X-Shopify-Event-Id".into(), id.into()),
                ],
                body: b.clone(),
            };
            rt.block_on(ing.handle(&req));
        }
    });
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("ev-1") && logs.contains("orders/create") && logs.contains("elapsed_us"),
        "{logs}"
    );
    for secret in [
        "buyer@example.com",
        "Lovelace",
        "Analytical",
        &sig,
        &gsig,
        SHOPIFY_SECRET,
        "line_items",
    ] {
        assert!(!logs.contains(secret), "logs leak {secret}: {logs}");
    }
}

fn signed_order() -> IngestRequest {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/shopify/orders_create.json"
    ))
    .unwrap();
    IngestRequest {
        method: "POST".into(),
        path: "/webhooks/shopify".into(),
        query: None,
        headers: vec![
            (
                "X-Shopify-Hmac-Sha256".into(),
                onecount::channels::shopify::sign(SHOPIFY_SECRET.as_bytes(), &body),
            ),
            ("X-Shopify-Topic".into(), "orders/create".into()),
            ("X-Shopify-Event-Id".into(), "ev-retry".into()),
        ],
        body,
    }
}

#[test]
fn an_api_gateway_event_with_a_base64_body_verifies_on_the_decoded_bytes() {
    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/apigw/shopify_orders_create_base64.json"
    ))
    .unwrap();
    let req = lambda_http::request::from_str(&json).expect("an HTTP API v2 event");
    let r = onecount_webhook_ingest::from_lambda(&req);
    assert_eq!(r.path, "/webhooks/shopify");
    assert!(
        r.body.starts_with(b"{\"id\":5830012345678"),
        "the body is decoded"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ing = ingest();
    let resp = rt.block_on(ing.handle(&r));
    assert_eq!(resp.status, 200, "{}", resp.body);
    let queued = ing.queue.0.lock().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(
        queued[0].delivery_id,
        "9f1c2b3a-5d4e-4f60-8a7b-1c2d3e4f5a6b"
    );
}

#[test]
fn a_failed_enqueue_asks_the_channel_to_retry_and_the_retry_is_accepted() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ing = ingest();
    ing.queue.1.store(true, std::sync::atomic::Ordering::SeqCst);
    let resp = rt.block_on(ing.handle(&signed_order()));
    assert_eq!(resp.status, 503);
    assert!(
        ing.inbox.0.lock().unwrap().0.is_empty(),
        "the delivery is not remembered as done"
    );
    ing.queue
        .1
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let resp = rt.block_on(ing.handle(&signed_order()));
    assert_eq!(resp.status, 200);
    assert_eq!(ing.queue.0.lock().unwrap().len(), 1);
    // And the next identical delivery is a duplicate.
    let resp = rt.block_on(ing.handle(&signed_order()));
    assert!(resp.body.contains("duplicate"));
    assert_eq!(ing.queue.0.lock().unwrap().len(), 1);
}
