//! The order path end to end: channel sandboxes → HTTP → webhook-ingest → SQS (moto) →
//! stock-decrement → DynamoDB (moto), through the local host.

use std::time::Duration;

use onecount::domain::NewStock;
use onecount::ports::{Inbox, ListingStore, StockLedger};
use onecount::{Channel, ChannelRef, Listing, ListingPolicy, Sku};
use onecount_local::{LocalConfig, LocalHost};
use onecount_sim::DeliveryKnobs;
use onecount_tests::{eventually, published_alerts};

const VARIANT: u64 = 44123456789012;
const LISTING: u64 = 1234567890;
const ITEM: u64 = 316123456789;

async fn host(on_hand: u32) -> LocalHost {
    let sdk = onecount::aws::load_sdk_config().await;
    let prefix = format!("op-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let mut cfg = LocalConfig::new(&prefix);
    cfg.sandbox = true;
    // The push path has its own tests; here the push requests stay on their queues.
    cfg.push_concurrency.clear();
    let h = LocalHost::start(&sdk, cfg)
        .await
        .expect("local host starts");
    let sku = Sku::parse("MUG").unwrap();
    h.store
        .create_stock(&NewStock {
            sku: sku.clone(),
            on_hand,
            low_stock_threshold: 1,
        })
        .await
        .unwrap();
    for (channel, r) in [
        (Channel::Shopify, format!("variant:{VARIANT}")),
        (Channel::Etsy, format!("listing:{LISTING}")),
        (Channel::Ebay, format!("item:{ITEM}")),
    ] {
        let l = Listing {
            sku: sku.clone(),
            channel,
            refs: vec![r.parse::<ChannelRef>().unwrap()],
            policy: ListingPolicy::default(),
        };
        h.store.put_listing(&l).await.unwrap();
    }
    let sb = h.sandboxes.as_ref().unwrap();
    let q = i64::from(on_hand);
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: VARIANT,
        sku: "MUG".into(),
        qty: q,
        inventory_item_id: 0,
    });
    sb.etsy.add_listing(onecount_sim::etsy::SimListing {
        listing_id: LISTING,
        sku: "MUG".into(),
        qty: q,
    });
    sb.ebay.add_listing(onecount_sim::ebay::SimListing {
        item_id: ITEM,
        sku: "MUG".into(),
        qty: q,
    });
    h
}

async fn on_hand(h: &LocalHost) -> u32 {
    h.store
        .get_stock(&Sku::parse("MUG").unwrap())
        .await
        .unwrap()
        .unwrap()
        .on_hand
}

/// Until every delivery the sandboxes sent has been answered and the queue is empty.
async fn settle(h: &LocalHost, deliveries: impl Fn() -> usize, want: usize) {
    assert!(
        eventually(20, || async { deliveries() >= want }).await,
        "the sandbox did not deliver {want}"
    );
    assert!(
        eventually(20, || async { h.pending_orders().await.unwrap() == 0 }).await,
        "order queue did not drain"
    );
    // One more poll cycle for anything received but not yet deleted.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn knobs(deliveries: u32, delay_ms: u64) -> DeliveryKnobs {
    DeliveryKnobs {
        deliveries,
        delay_ms,
        lose: false,
    }
}

async fn wait_on_hand(h: &LocalHost, want: u32) {
    assert!(
        eventually(20, || async { on_hand(h).await == want }).await,
        "on_hand never reached {want}, is {}",
        on_hand(h).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_orders_change_the_count_exactly_once() {
    let h = host(10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let placed = sb
        .shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(VARIANT, 2)],
            test: false,
            knobs: knobs(3, 0),
        })
        .unwrap();
    wait_on_hand(&h, 8).await;
    settle(&h, || sb.shopify.deliveries().len(), 3).await;
    assert!(
        sb.shopify.deliveries().iter().all(|d| d.status == 200),
        "{:?}",
        sb.shopify.deliveries()
    );
    assert_eq!(on_hand(&h).await, 8, "three deliveries, one change");

    // The same order line under a new delivery id.
    let order: u64 = placed.order_id.parse().unwrap();
    sb.shopify.resend(order, &knobs(1, 0)).unwrap();
    settle(&h, || sb.shopify.deliveries().len(), 4).await;
    assert_eq!(on_hand(&h).await, 8);

    // A partial refund with restock, then the cancellation gives back the rest, once.
    sb.shopify
        .refund(order, placed.line_ids[0].parse().unwrap(), 1, &knobs(2, 0))
        .unwrap();
    wait_on_hand(&h, 9).await;
    sb.shopify.cancel(order, &knobs(2, 0)).unwrap();
    wait_on_hand(&h, 10).await;
    settle(&h, || sb.shopify.deliveries().len(), 8).await;
    assert_eq!(on_hand(&h).await, 10);

    // Cancel before create: the create is delayed past its cancellation.
    let late = sb
        .shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(VARIANT, 3)],
            test: false,
            knobs: knobs(1, 1500),
        })
        .unwrap();
    sb.shopify
        .cancel(late.order_id.parse().unwrap(), &knobs(1, 0))
        .unwrap();
    settle(&h, || sb.shopify.deliveries().len(), 10).await;
    assert_eq!(
        on_hand(&h).await,
        10,
        "an order cancelled before it arrived is not applied"
    );
    // Every sale asked for a push of every listing (three channels).
    assert!(h.queued(Channel::Etsy).await.unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etsy_receipts_change_the_count_exactly_once() {
    let h = host(10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let placed = sb
        .etsy
        .place_order(&onecount_sim::etsy::OrderReq {
            lines: vec![(LISTING, 2)],
            skus: vec![],
            knobs: knobs(3, 0),
        })
        .unwrap();
    wait_on_hand(&h, 8).await;
    settle(&h, || sb.etsy.deliveries().len(), 3).await;
    assert!(
        sb.etsy.deliveries().iter().all(|d| d.status == 200),
        "{:?}",
        sb.etsy.deliveries()
    );
    let receipt: u64 = placed.receipt_id.parse().unwrap();
    sb.etsy.resend(receipt, &knobs(1, 0));
    settle(&h, || sb.etsy.deliveries().len(), 4).await;
    assert_eq!(
        on_hand(&h).await,
        8,
        "four deliveries of one receipt, one change"
    );
    assert!(
        sb.etsy.api_calls() >= 1,
        "the receipt was fetched from the Etsy API"
    );

    sb.etsy.cancel(receipt, &knobs(2, 0)).unwrap();
    wait_on_hand(&h, 10).await;
    settle(&h, || sb.etsy.deliveries().len(), 6).await;
    assert_eq!(on_hand(&h).await, 10);

    let late = sb
        .etsy
        .place_order(&onecount_sim::etsy::OrderReq {
            lines: vec![(LISTING, 3)],
            skus: vec![],
            knobs: knobs(1, 1500),
        })
        .unwrap();
    sb.etsy
        .cancel(late.receipt_id.parse().unwrap(), &knobs(1, 0))
        .unwrap();
    settle(&h, || sb.etsy.deliveries().len(), 8).await;
    assert_eq!(
        on_hand(&h).await,
        10,
        "a receipt cancelled before its webhook arrived is not applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebay_orders_change_the_count_exactly_once() {
    let h = host(10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let placed = sb
        .ebay
        .place_order(&onecount_sim::ebay::OrderReq {
            lines: vec![(ITEM, 2)],
            knobs: knobs(3, 0),
        })
        .unwrap();
    wait_on_hand(&h, 8).await;
    settle(&h, || sb.ebay.deliveries().len(), 3).await;
    assert!(
        sb.ebay.deliveries().iter().all(|d| d.status == 200),
        "{:?}",
        sb.ebay.deliveries()
    );
    sb.ebay.resend(&placed.order_id, &knobs(1, 0));
    settle(&h, || sb.ebay.deliveries().len(), 4).await;
    assert_eq!(on_hand(&h).await, 8);
    assert_eq!(
        sb.ebay.key_fetches(),
        1,
        "the public key is fetched once and cached"
    );

    // eBay sends no cancellation notification: reconciliation reads the order and queues
    // it (the drift checker does this); here we queue what it would.
    sb.ebay.cancel(&placed.order_id).unwrap();
    let ev = onecount::channels::OrderEvent {
        channel: Channel::Ebay,
        delivery_id: "reconcile-1".into(),
        topic: "reconcile".into(),
        received_at: 0,
        action: onecount::channels::Action::Fetch {
            pointer: placed.order_id.clone(),
        },
    };
    use onecount::ports::OrderQueue;
    h.ingest.queue.enqueue(&ev).await.unwrap();
    h.ingest.queue.enqueue(&ev).await.unwrap();
    wait_on_hand(&h, 10).await;
    assert!(eventually(10, || async { h.pending_orders().await.unwrap() == 0 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(on_hand(&h).await, 10, "the cancellation restocks once");
}

async fn post(url: &str, headers: &[(&str, String)], body: Vec<u8>) -> u16 {
    let mut r = reqwest::Client::new().post(url).body(body);
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_wrong_key_webhooks_are_refused_and_nothing_is_queued() {
    use base64::Engine;
    let h = host(10).await;
    let sim = h.sim.clone().unwrap();
    let sb = h.sandboxes.as_ref().unwrap();
    let shopify_url = format!("{}/webhooks/shopify", h.url);
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/shopify/orders_create.json"
    ))
    .unwrap();
    let topic = ("X-Shopify-Topic", "orders/create".to_string());
    let forged = onecount::channels::shopify::sign(b"not-the-secret", &body);
    assert_eq!(
        post(
            &shopify_url,
            &[topic.clone(), ("X-Shopify-Hmac-Sha256", forged)],
            body.clone()
        )
        .await,
        401
    );
    assert_eq!(
        post(&shopify_url, std::slice::from_ref(&topic), body.clone()).await,
        401,
        "missing signature"
    );
    let good = onecount::channels::shopify::sign(sim.shopify_secret.as_bytes(), &body);
    let mut altered = body.clone();
    altered[20] ^= 1;
    assert_eq!(
        post(
            &shopify_url,
            &[topic.clone(), ("X-Shopify-Hmac-Sha256", good.clone())],
            altered
        )
        .await,
        401,
        "body changed after signing"
    );

    // Etsy: a correct signature on a timestamp ten minutes old is a replay.
    let etsy_url = format!("{}/webhooks/etsy", h.url);
    let ebody = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/etsy/order_paid.json"
    ))
    .unwrap();
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 600;
    let sig = onecount::channels::etsy::sign(&sim.etsy_secret, "msg_1", old, &ebody).unwrap();
    let hs = vec![
        ("webhook-id", "msg_1".to_string()),
        ("webhook-timestamp", old.to_string()),
        ("webhook-signature", sig),
    ];
    assert_eq!(
        post(&etsy_url, &hs, ebody.clone()).await,
        401,
        "stale timestamp"
    );
    let now = old + 600;
    let forged =
        onecount::channels::etsy::sign("whsec_bm90LXRoZS1zZWNyZXQ=", "msg_2", now, &ebody).unwrap();
    let hs = vec![
        ("webhook-id", "msg_2".to_string()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", forged),
    ];
    assert_eq!(
        post(&etsy_url, &hs, ebody.clone()).await,
        401,
        "wrong secret"
    );

    // eBay: the right kid, but signed by another key.
    let ebay_url = format!("{}/webhooks/ebay", h.url);
    let bbody = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/ebay/order_confirmation.json"
    ))
    .unwrap();
    let impostor = onecount_sim::ebay::Ebay::new(sim.clone(), reqwest::Client::new());
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut header: serde_json::Value =
        serde_json::from_slice(&b64.decode(impostor.signature_header(&bbody)).unwrap()).unwrap();
    header["kid"] = serde_json::json!(sb.ebay.kid);
    assert_eq!(
        post(
            &ebay_url,
            &[("X-EBAY-SIGNATURE", b64.encode(header.to_string()))],
            bbody.clone()
        )
        .await,
        401,
        "wrong key"
    );
    assert_eq!(
        post(
            &ebay_url,
            &[("X-EBAY-SIGNATURE", impostor.signature_header(&bbody))],
            bbody.clone()
        )
        .await,
        401,
        "unknown kid"
    );
    assert_eq!(
        post(&ebay_url, &[], bbody.clone()).await,
        401,
        "missing signature"
    );
    // The genuine signature on the same body is accepted.
    assert_eq!(
        post(
            &ebay_url,
            &[("X-EBAY-SIGNATURE", sb.ebay.signature_header(&bbody))],
            bbody.clone()
        )
        .await,
        200
    );

    // Nothing refused was queued: only the one genuine eBay notification went through.
    assert!(eventually(10, || async { h.pending_orders().await.unwrap() == 0 }).await);
    assert_eq!(on_hand(&h).await, 10);
    // The genuine notification names an order the sandbox never had: kept, not lost.
    let kept = h.store.quarantined(10).await.unwrap();
    assert!(
        kept.iter()
            .all(|q| q.reason.contains("could not fetch the order")),
        "{kept:?}"
    );

    // Oversize: 413.
    let big = vec![b' '; 300 * 1024];
    let sig = onecount::channels::shopify::sign(sim.shopify_secret.as_bytes(), &big);
    assert_eq!(
        post(
            &shopify_url,
            &[topic.clone(), ("X-Shopify-Hmac-Sha256", sig)],
            big
        )
        .await,
        413
    );

    // eBay's endpoint challenge.
    let code = "a8628072-3d33-45ee-9004-bee86830a22d";
    let got: serde_json::Value = reqwest::get(format!("{ebay_url}?challenge_code={code}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cfg: onecount::channels::ebay::EbayConfig = h.channels.section(Channel::Ebay).unwrap();
    use sha2::Digest;
    let want = hex::encode(sha2::Sha256::digest(format!(
        "{code}{}{}",
        cfg.verification_token.expose(),
        cfg.endpoint_url
    )));
    assert_eq!(got["challengeResponse"], want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_garbage_is_quarantined_alerted_and_acknowledged() {
    let h = host(10).await;
    let sim = h.sim.clone().unwrap();
    let body = b"{\"id\": 5830012345678, \"line_items\": [ oops".to_vec();
    let sig = onecount::channels::shopify::sign(sim.shopify_secret.as_bytes(), &body);
    let status = post(
        &format!("{}/webhooks/shopify", h.url),
        &[
            ("X-Shopify-Topic", "orders/create".into()),
            ("X-Shopify-Hmac-Sha256", sig.clone()),
            ("X-Shopify-Event-Id", "ev-garbage".into()),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(status, 200, "acknowledged so Shopify stops retrying");
    let kept = h.store.quarantined(10).await.unwrap();
    assert_eq!(kept.len(), 1);
    // A redacted copy: its size and hash tie it to Shopify's own; no signature kept.
    let summary: serde_json::Value = serde_json::from_slice(&kept[0].body).unwrap();
    assert_eq!(summary["bytes"], body.len());
    use sha2::Digest;
    assert_eq!(summary["sha256"], hex::encode(sha2::Sha256::digest(&body)));
    assert!(
        kept[0]
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-shopify-hmac-sha256")
                && v == onecount::domain::redact::NOT_KEPT),
        "the signature header by name only"
    );
    assert!(
        kept[0]
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-shopify-topic") && v == "orders/create")
    );
    let alerts = published_alerts(&h.resources.topic_arn).await;
    assert!(
        alerts
            .iter()
            .any(
                |a| a.attributes.get("type").map(String::as_str) == Some("quarantined_webhook")
                    && a.body.contains(&kept[0].id)
            ),
        "{alerts:?}"
    );
    assert_eq!(h.pending_orders().await.unwrap(), 0, "nothing queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_channels_sell_the_last_unit_at_the_same_moment() {
    let h = host(1).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let a = sb
        .shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(VARIANT, 1)],
            test: false,
            knobs: knobs(1, 0),
        })
        .unwrap();
    let b = sb
        .etsy
        .place_order(&onecount_sim::etsy::OrderReq {
            lines: vec![(LISTING, 1)],
            skus: vec![],
            knobs: knobs(1, 0),
        })
        .unwrap();
    settle(
        &h,
        || sb.shopify.deliveries().len() + sb.etsy.deliveries().len(),
        2,
    )
    .await;
    assert_eq!(on_hand(&h).await, 0);
    let tl = onecount::ports::TimelineStore::timeline(&h.store, &Sku::parse("MUG").unwrap(), 50)
        .await
        .unwrap();
    let applied = tl
        .iter()
        .filter(|e| e.kind() == onecount::domain::EventKind::SaleApplied)
        .count();
    let oversold: Vec<_> = tl.iter().filter_map(|e| e.event.oversold()).collect();
    assert_eq!(
        (applied, oversold.len()),
        (1, 1),
        "one applied, one oversold"
    );
    let loser = oversold[0].0.order.to_string();
    assert!(loser == a.order_id || loser == b.receipt_id);
    let alerts = published_alerts(&h.resources.topic_arn).await;
    let o = alerts
        .iter()
        .find(|x| x.attributes.get("type").map(String::as_str) == Some("oversold"))
        .expect("an oversold alert");
    assert!(
        o.subject.contains(&loser) && o.body.contains(&loser) && o.sms.contains(&loser),
        "the alert names the order: {o:?}"
    );
    assert_eq!(o.attributes.get("sku").map(String::as_str), Some("MUG"));
    assert!(o.body.contains("What to do:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmapped_item_is_kept_and_alerted() {
    let h = host(5).await;
    let sb = h.sandboxes.as_ref().unwrap();
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: 999,
        sku: "UNKNOWN-THING".into(),
        qty: 3,
        inventory_item_id: 0,
    });
    sb.shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(999, 1)],
            test: false,
            knobs: knobs(1, 0),
        })
        .unwrap();
    assert!(
        eventually(20, || async {
            !h.store.quarantined(5).await.unwrap().is_empty()
        })
        .await
    );
    settle(&h, || sb.shopify.deliveries().len(), 1).await;
    assert_eq!(h.dead_orders().await.unwrap(), 0, "the message completed");
    let alerts = published_alerts(&h.resources.topic_arn).await;
    assert!(
        alerts.iter().any(
            |a| a.attributes.get("type").map(String::as_str) == Some("unmapped_sku")
                && a.body.contains("variant:999")
        ),
        "{alerts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_order_edits_add_and_remove_quantity_once() {
    let h = host(10).await;
    let sim = h.sim.clone().unwrap();
    let sb = h.sandboxes.as_ref().unwrap();
    let placed = sb
        .shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(VARIANT, 2)],
            test: false,
            knobs: knobs(1, 0),
        })
        .unwrap();
    wait_on_hand(&h, 8).await;
    let url = format!("{}/webhooks/shopify", h.url);
    let edit = |id: u64, add: u32, remove: u32| {
        let (mut additions, mut removals) = (vec![], vec![]);
        if add > 0 {
            additions.push(
                serde_json::json!({"id": placed.line_ids[0].parse::<u64>().unwrap(), "delta": add}),
            );
        }
        if remove > 0 {
            removals.push(serde_json::json!({"id": placed.line_ids[0].parse::<u64>().unwrap(), "delta": remove}));
        }
        serde_json::to_vec(&serde_json::json!({"order_edit": {"id": id, "order_id": placed.order_id.parse::<u64>().unwrap(),
            "committed_at": "2026-03-14T12:00:05-04:00", "line_items": {"additions": additions, "removals": removals}}})).unwrap()
    };
    let send = |body: Vec<u8>, event: &'static str| {
        let sig = onecount::channels::shopify::sign(sim.shopify_secret.as_bytes(), &body);
        let url = url.clone();
        async move {
            post(
                &url,
                &[
                    ("X-Shopify-Topic", "orders/edited".into()),
                    ("X-Shopify-Hmac-Sha256", sig),
                    ("X-Shopify-Event-Id", event.into()),
                ],
                body,
            )
            .await
        }
    };
    assert_eq!(send(edit(78912328, 1, 0), "edit-a").await, 200);
    wait_on_hand(&h, 7).await;
    // The same edit under another delivery id changes nothing.
    assert_eq!(send(edit(78912328, 1, 0), "edit-b").await, 200);
    assert_eq!(send(edit(78912399, 0, 2), "edit-c").await, 200);
    wait_on_hand(&h, 9).await;
    assert!(eventually(10, || async { h.pending_orders().await.unwrap() == 0 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        on_hand(&h).await,
        9,
        "+1 once, then 2 of the original line back"
    );
}

/// An edit that adds a product gives only the new line's id and delta (Shopify's
/// `orders/edited` payload); the line is found, with its variant, in the order as it is now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_order_edit_adding_a_product_sells_that_product() {
    const CUP_VARIANT: u64 = 44123456789077;
    let h = host(10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let cup = Sku::parse("CUP").unwrap();
    h.store
        .create_stock(&NewStock {
            sku: cup.clone(),
            on_hand: 5,
            low_stock_threshold: 1,
        })
        .await
        .unwrap();
    h.store
        .put_listing(&Listing {
            sku: cup.clone(),
            channel: Channel::Shopify,
            refs: vec![format!("variant:{CUP_VARIANT}").parse().unwrap()],
            policy: ListingPolicy::default(),
        })
        .await
        .unwrap();
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: CUP_VARIANT,
        // Not the SKU onecount knows: the variant id is what maps it.
        sku: "SHOPIFY-CUP".into(),
        qty: 5,
        inventory_item_id: 0,
    });
    let placed = sb
        .shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(VARIANT, 2)],
            test: false,
            knobs: knobs(1, 0),
        })
        .unwrap();
    wait_on_hand(&h, 8).await;
    sb.shopify
        .edit_add_variant(
            placed.order_id.parse().unwrap(),
            CUP_VARIANT,
            2,
            &knobs(2, 0),
        )
        .unwrap();
    settle(&h, || sb.shopify.deliveries().len(), 3).await;
    let cup_on_hand = || async { h.store.get_stock(&cup).await.unwrap().unwrap().on_hand };
    assert!(
        eventually(20, || async { cup_on_hand().await == 3 }).await,
        "the added product sold 2, once: {}",
        cup_on_hand().await
    );
    assert_eq!(on_hand(&h).await, 8, "the first line is untouched");
    assert!(
        h.store.quarantined(5).await.unwrap().is_empty(),
        "nothing unmapped"
    );
    // Reconciliation reads the edited order (its updated_at moved): the added line is
    // already sold, under its own id, and nothing is taken twice.
    h.drift.run().await;
    assert!(eventually(10, || async { h.pending_orders().await.unwrap() == 0 }).await);
    assert_eq!(cup_on_hand().await, 3, "the edit's line is not sold again");
    assert_eq!(on_hand(&h).await, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebay_account_deletion_is_acknowledged_and_nothing_is_kept() {
    let h = host(10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/ebay/marketplace_account_deletion.json"
    ))
    .unwrap();
    let status = post(
        &format!("{}/webhooks/ebay", h.url),
        &[("X-EBAY-SIGNATURE", sb.ebay.signature_header(&body))],
        body,
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.pending_orders().await.unwrap(), 0, "nothing queued");
    assert!(
        h.store.quarantined(10).await.unwrap().is_empty(),
        "nothing kept"
    );
}
