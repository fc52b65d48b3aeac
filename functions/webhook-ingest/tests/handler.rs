//! The ingest handler with in-memory ports (this is about the handler, not AWS):
//! arbitrary bytes and headers never panic it and nothing unsigned is ever queued; a
//! real API Gateway event with a base64 body verifies; a failed enqueue asks the
//! channel to retry; an unconfigured channel is refused clearly.

use onecount::Channel;
use onecount_webhook_ingest::IngestRequest;
use proptest::prelude::*;

mod common;
use common::*;

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
            // Kept redacted: its size and hash tie it to the channel's copy.
            let summary: serde_json::Value = serde_json::from_slice(&ing.inbox.0.lock().unwrap().1[0].body).unwrap();
            prop_assert_eq!(summary["bytes"].as_u64(), Some(body.len() as u64));
            prop_assert_eq!(summary["sha256"].as_str().map(str::len), Some(64));
            prop_assert_eq!(ing.alerts.0.lock().unwrap().len(), 1, "and alerted");
        }
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

#[test]
fn a_channel_without_configuration_is_refused_clearly() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut without = kits();
    without.remove(Channel::Etsy);
    let ing = ingest_with(without);
    let req = IngestRequest {
        method: "POST".into(),
        path: "/webhooks/etsy".into(),
        query: None,
        headers: vec![],
        body: b"{}".to_vec(),
    };
    let resp = rt.block_on(ing.handle(&req));
    assert_eq!(resp.status, 404);
    assert!(
        resp.body.contains("etsy is not configured"),
        "{}",
        resp.body
    );
    assert!(ing.queue.0.lock().unwrap().is_empty());
}
