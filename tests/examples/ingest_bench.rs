//! Order-path benchmark. Prints numbers; asserts nothing about speed. `make bench`.
//!
//! 1. Ingest CPU time per webhook for a 10-line order: verify + parse + build the queue
//!    message (no network), per channel.
//! 2. End to end on the local stack (sandboxes → HTTP → ingest → SQS → decrement →
//!    DynamoDB, all on moto): webhook-to-count-changed latency, p50 and p95.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use onecount::channels::{OrderEvent, Parsed, ebay, etsy, shopify};
use onecount::domain::{EventKind, NewStock};
use onecount::ports::{ListingStore, StockLedger, TimelineStore};
use onecount::{Channel, ChannelRef, Listing, ListingPolicy, Sku};
use onecount_local::{LocalConfig, LocalHost};
use onecount_sim::{DeliveryKnobs, SimConfig};

fn ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn per_call(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn event(channel: Channel, action: onecount::channels::Action) -> String {
    serde_json::to_string(&OrderEvent {
        channel,
        delivery_id: "d".into(),
        topic: "t".into(),
        received_at: 0,
        action,
    })
    .unwrap()
}

fn cpu() {
    let lines: Vec<serde_json::Value> = (0..10)
        .map(|i| serde_json::json!({"id": 14012345678900u64 + i, "variant_id": 44123456789000u64 + i, "sku": format!("SKU-{i}"), "quantity": 1 + i % 3, "title": "Stoneware Mug", "price": "24.00"}))
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({"id": 5830012345678u64, "test": false, "email": "buyer@example.com", "line_items": lines})).unwrap();
    let secret = b"shpss_bench";
    let headers = vec![
        (
            "X-Shopify-Hmac-Sha256".to_string(),
            shopify::sign(secret, &body),
        ),
        ("X-Shopify-Topic".to_string(), "orders/create".to_string()),
    ];
    let shopify_us = per_call(20_000, || {
        shopify::verify(&headers, &body, &[secret]).unwrap();
        let Parsed::Event(a) = shopify::parse("orders/create", &body, false) else {
            panic!()
        };
        std::hint::black_box(event(Channel::Shopify, a));
    });

    let sim = SimConfig::random("http://127.0.0.1:9");
    let ebody = br#"{"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/12345678/receipts/3456789012","shop_id":12345678}"#;
    let now = ms() / 1000;
    let eh = vec![
        ("webhook-id".to_string(), "msg_1".to_string()),
        ("webhook-timestamp".to_string(), now.to_string()),
        (
            "webhook-signature".to_string(),
            etsy::sign(&sim.etsy_secret, "msg_1", now, ebody).unwrap(),
        ),
    ];
    let etsy_us = per_call(20_000, || {
        etsy::verify(&eh, ebody, &sim.etsy_secret, now).unwrap();
        let Parsed::Event(a) = etsy::parse(ebody) else {
            panic!()
        };
        std::hint::black_box(event(Channel::Etsy, a));
    });

    let eb = onecount_sim::ebay::Ebay::new(sim, reqwest::Client::new());
    let bbody = br#"{"metadata":{"topic":"ORDER_CONFIRMATION","schemaVersion":"1.0","deprecated":false},"notification":{"notificationId":"49e9a2f0-3c41-4b5e-9d7a-2f4c1b0e8a55","eventDate":"2026-03-14T14:21:07.000Z","publishDate":"2026-03-14T14:21:09.120Z","publishAttemptCount":1,"data":{"orderId":"14-11234-56789"}}}"#;
    let hv = eb.signature_header(bbody);
    let key: ebay::PublicKey = serde_json::from_value(eb.public_key_json()).unwrap();
    let ebay_us = per_call(2_000, || {
        let h = ebay::parse_header(Some(&hv)).unwrap();
        ebay::verify_with_key(bbody, &h, &key).unwrap();
        let Parsed::Event(a) = ebay::parse(bbody) else {
            panic!()
        };
        std::hint::black_box(event(Channel::Ebay, a));
    });
    println!(
        "\nIngest CPU per webhook (verify + parse + queue message; no network; debug build, deps opt-level 1)"
    );
    println!(
        "  shopify orders/create, 10 lines, {} bytes: {shopify_us:>8.1} µs",
        body.len()
    );
    println!("  etsy order.paid pointer:                 {etsy_us:>8.1} µs");
    println!("  ebay ORDER_CONFIRMATION (ECDSA P-256):   {ebay_us:>8.1} µs");
}

fn pct(v: &mut [i64], p: f64) -> i64 {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn end_to_end(n: usize) {
    let sdk = onecount::aws::load_sdk_config().await;
    let prefix = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut cfg = LocalConfig::new(&prefix);
    cfg.sandbox = true;
    let h = LocalHost::start(&sdk, cfg).await.unwrap();
    let sb = h.sandboxes.as_ref().unwrap();
    let sku = Sku::parse("MUG").unwrap();
    h.store
        .create_stock(&NewStock {
            sku: sku.clone(),
            on_hand: 100_000,
            low_stock_threshold: 0,
        })
        .await
        .unwrap();
    for (c, r) in [
        (Channel::Shopify, "variant:1"),
        (Channel::Etsy, "listing:2"),
        (Channel::Ebay, "item:3"),
    ] {
        h.store
            .put_listing(&Listing {
                sku: sku.clone(),
                channel: c,
                refs: vec![r.parse::<ChannelRef>().unwrap()],
                policy: ListingPolicy::default(),
            })
            .await
            .unwrap();
    }
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: 1,
        sku: "MUG".into(),
        qty: 100_000,
        inventory_item_id: 0,
    });
    sb.etsy.add_listing(onecount_sim::etsy::SimListing {
        listing_id: 2,
        sku: "MUG".into(),
        qty: 100_000,
    });
    sb.ebay.add_listing(onecount_sim::ebay::SimListing {
        item_id: 3,
        sku: "MUG".into(),
        qty: 100_000,
    });
    let mut placed = Vec::new();
    for i in 0..n {
        let t = ms();
        let order = match i % 3 {
            0 => {
                sb.shopify
                    .place_order(&onecount_sim::shopify::OrderReq {
                        lines: vec![(1, 1)],
                        test: false,
                        knobs: DeliveryKnobs::default(),
                    })
                    .unwrap()
                    .order_id
            }
            1 => {
                sb.etsy
                    .place_order(&onecount_sim::etsy::OrderReq {
                        lines: vec![(2, 1)],
                        skus: vec![],
                        knobs: DeliveryKnobs::default(),
                    })
                    .unwrap()
                    .receipt_id
            }
            _ => {
                sb.ebay
                    .place_order(&onecount_sim::ebay::OrderReq {
                        lines: vec![(3, 1)],
                        knobs: DeliveryKnobs::default(),
                    })
                    .unwrap()
                    .order_id
            }
        };
        placed.push((i % 3, order, t));
        // A steady stream, not a burst: about 10 orders a second.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let mut applied = Vec::new();
    while Instant::now() < deadline {
        let tl = h.store.timeline(&sku, 10_000).await.unwrap();
        applied = tl
            .into_iter()
            .filter(|e| e.kind() == EventKind::SaleApplied)
            .collect();
        if applied.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut by_channel: [Vec<i64>; 3] = Default::default();
    for (c, order, t) in &placed {
        if let Some(e) = applied.iter().find(|e| {
            e.event
                .line()
                .is_some_and(|l| l.order.as_str() == order.as_str())
        }) {
            by_channel[*c].push(e.at - t);
        }
    }
    println!(
        "\nEnd to end on the local stack (moto), {n} orders at ~10/s: webhook sent -> count changed"
    );
    for (i, name) in [
        "shopify",
        "etsy (+ receipt fetch)",
        "ebay (+ key, token, getOrder)",
    ]
    .iter()
    .enumerate()
    {
        let v = &mut by_channel[i];
        if v.is_empty() {
            println!("  {name:<30} no samples");
            continue;
        }
        let (p50, p95, max) = (pct(v, 0.5), pct(v, 0.95), *v.iter().max().unwrap());
        println!(
            "  {name:<30} p50 {p50:>4} ms   p95 {p95:>4} ms   max {max:>4} ms   ({} samples)",
            v.len()
        );
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    cpu();
    let n = std::env::var("BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    end_to_end(n).await;
}
