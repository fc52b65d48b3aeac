//! Its own test binary: a scoped tracing subscriber is only reliable when no other test
//! thread shares the process's callsite cache.

mod common;

use std::sync::Mutex;

use common::*;
use onecount_webhook_ingest::IngestRequest;

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
