//! The drift check end to end on the local stack: reconciliation of lost webhooks, drift
//! and mismatch on the sandboxes, low-stock alerts, auto-pause and last-unit protection.

use std::time::Duration;

use onecount::domain::{Event, EventKind, Held};
use onecount::ports::{PushStore, StockLedger, TimelineStore};
use onecount::{Channel, ListingPolicy, Sku};
use onecount_local::LocalHost;
use onecount_sim::{DeliveryKnobs, Faults};
use onecount_tests::stack::{self, ids};
use onecount_tests::{PublishedAlert, eventually, published_alerts};

fn plain() -> [ListingPolicy; 3] {
    [
        ListingPolicy::default(),
        ListingPolicy::default(),
        ListingPolicy::default(),
    ]
}

async fn on_hand(h: &LocalHost, sku: &Sku) -> u32 {
    h.store.get_stock(sku).await.unwrap().unwrap().on_hand
}

/// Push every listing once so each has a confirmed baseline.
async fn baseline(h: &LocalHost, sku: &Sku) {
    for ch in Channel::CONNECTED {
        stack::request_push(h, sku, ch, "baseline").await;
    }
    let ok = eventually(20, || async {
        let tl = h.store.timeline(sku, 100).await.unwrap();
        Channel::CONNECTED.iter().all(|c| {
            tl.iter()
                .any(|e| matches!(e.event, Event::Pushed { channel, .. } if channel == *c))
        })
    })
    .await;
    assert!(ok, "baseline pushes confirmed");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn alerts_of(h: &LocalHost, kind: &str, sku: &str) -> Vec<PublishedAlert> {
    published_alerts(&h.resources.topic_arn)
        .await
        .into_iter()
        .filter(|a| {
            a.attributes.get("type").map(String::as_str) == Some(kind)
                && a.attributes.get("sku").map(String::as_str) == Some(sku)
        })
        .collect()
}

fn shopify_sale(h: &LocalHost, i: u64, qty: i64, lose: bool) -> String {
    h.sandboxes
        .as_ref()
        .unwrap()
        .shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(ids(i).variant, qty)],
            test: false,
            knobs: DeliveryKnobs {
                lose,
                ..DeliveryKnobs::default()
            },
        })
        .unwrap()
        .order_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_webhook_is_found_by_reconciliation_applied_once_and_never_reinflated() {
    let h = stack::start(|_| {}).await;
    let sku = stack::add_sku(&h, 1, "LOST", 10, 1, plain(), 10).await;
    baseline(&h, &sku).await;
    let sb = h.sandboxes.as_ref().unwrap();
    // A Shopify buyer takes 2; the webhook never arrives.
    let order = shopify_sale(&h, 1, 2, true);
    // Then an Etsy sale that does arrive asks every channel to show 9.
    sb.etsy
        .place_order(&onecount_sim::etsy::OrderReq {
            lines: vec![(ids(1).listing, 1)],
            skus: vec![],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    assert!(eventually(20, || async { on_hand(&h, &sku).await == 9 }).await);
    // Shopify fell 2 further than the sales heard from it: its pusher records them as
    // sold-unheard, so every channel lists what is really left (10 - 2 - 1) long before
    // the order is found, and Shopify is never raised over them.
    stack::converge(&h, 1, [7, 7, 7], 30).await;
    assert_eq!(
        on_hand(&h, &sku).await,
        9,
        "the count waits for the order itself"
    );
    let st = h.store.get_stock(&sku).await.unwrap().unwrap();
    assert_eq!(st.unheard_on(Channel::Shopify, now_ms()), 2);
    assert!(
        sb.shopify.writes().iter().all(|w| w.qty <= 8),
        "{:?}",
        sb.shopify.writes()
    );
    let tl = h.store.timeline(&sku, 100).await.unwrap();
    assert!(tl.iter().any(|e| matches!(
        e.event,
        Event::PushHeld {
            channel: Channel::Shopify,
            held: Held::Recorded { held_back: 2 },
            ..
        }
    )));

    let report = h.drift.run().await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.orders_reconciled >= 1);
    assert_eq!(on_hand(&h, &sku).await, 7, "the lost order was applied");
    let st = h.store.get_stock(&sku).await.unwrap().unwrap();
    assert_eq!(
        st.unheard_on(Channel::Shopify, now_ms()),
        0,
        "heard now: no longer held back"
    );
    stack::converge(&h, 1, [7, 7, 7], 30).await;
    // Again: idempotent.
    let again = h.drift.run().await;
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    assert_eq!(on_hand(&h, &sku).await, 7, "applied once");
    // The overlap window re-reads the same orders; the ledger holds them, so none is
    // sent through the order path again.
    assert!(again.orders_reconciled >= 2, "{again:?}");
    assert_eq!(
        again.orders_already_recorded, again.orders_reconciled,
        "{again:?}"
    );
    let tl = h.store.timeline(&sku, 200).await.unwrap();
    let sales: Vec<_> = tl
        .iter()
        .filter(|e| matches!(&e.event, Event::SaleApplied { line, .. } if line.order.as_str() == order.as_str()))
        .collect();
    assert_eq!(sales.len(), 1);
    assert!(sb.shopify.writes().iter().all(|w| w.qty <= 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etsy_hand_edit_is_corrected_and_a_deleted_ebay_listing_is_a_mismatch() {
    let h = stack::start(|_| {}).await;
    let sku = stack::add_sku(&h, 2, "EDIT", 10, 1, plain(), 10).await;
    baseline(&h, &sku).await;
    let sb = h.sandboxes.as_ref().unwrap();
    // Someone raises the Etsy quantity by hand.
    sb.etsy.set_quantity(ids(2).listing, 15);
    let r = h.drift.run().await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.drift, 1, "{r:?}");
    stack::converge(&h, 2, [10, 10, 10], 30).await;
    let drift = alerts_of(&h, "drift_corrected", "EDIT").await;
    assert_eq!(drift.len(), 1, "a 5-unit drift is worth telling");
    // And lowers it by hand: after reconciling Etsy's orders (none), it is raised back.
    sb.etsy.set_quantity(ids(2).listing, 6);
    let r = h.drift.run().await;
    assert_eq!(r.drift, 1, "{r:?}");
    stack::converge(&h, 2, [10, 10, 10], 30).await;
    let tl = h.store.timeline(&sku, 200).await.unwrap();
    assert!(
        tl.iter()
            .filter(|e| matches!(
                e.event,
                Event::DriftFound {
                    channel: Channel::Etsy,
                    ..
                }
            ))
            .count()
            >= 2
    );

    // The eBay listing is deleted on eBay.
    sb.ebay.remove_listing(ids(2).item);
    let r = h.drift.run().await;
    assert_eq!(r.mismatch, 1, "{r:?}");
    // A push still on its way when the listing went may have found it gone first: then
    // its pusher tells, and its alert can land just after the run.
    assert!(
        eventually(10, || async {
            !alerts_of(&h, "sku_mismatch", "EDIT").await.is_empty()
        })
        .await
    );
    let mm = alerts_of(&h, "sku_mismatch", "EDIT").await;
    assert_eq!(mm.len(), 1);
    assert_eq!(mm[0].attributes["channel"], "ebay");
    assert!(mm[0].body.contains("not a sync delay"));
    // No more pushes to it: a sale reaches Shopify and Etsy, eBay is not called.
    let calls = sb.ebay.api_calls();
    shopify_sale(&h, 2, 1, false);
    assert!(eventually(20, || async { stack::shows(&h, 2)[1] == Some(9) }).await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        sb.ebay.api_calls(),
        calls,
        "nothing pushed to the broken listing"
    );
    let r = h.drift.run().await;
    assert_eq!(r.mismatch, 1);
    assert_eq!(
        alerts_of(&h, "sku_mismatch", "EDIT").await.len(),
        1,
        "told once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_stock_alerts_exactly_once_per_crossing() {
    let h = stack::start(|_| {}).await;
    let sku = stack::add_sku(&h, 3, "LOW", 5, 3, plain(), 5).await;
    shopify_sale(&h, 3, 2, false);
    assert!(eventually(20, || async { on_hand(&h, &sku).await == 3 }).await);
    // The sale that crossed the threshold says so at once: no drift run yet.
    assert!(
        eventually(10, || async {
            alerts_of(&h, "low_stock", "LOW").await.len() == 1
        })
        .await,
        "low_stock at the sale"
    );
    let a = alerts_of(&h, "low_stock", "LOW").await;
    assert!(a[0].sms.chars().count() <= 140, "{}", a[0].sms);
    assert!(a[0].body.contains("What to do:"));
    assert!(a[0].body.contains("shopify order"), "{}", a[0].body);
    h.drift.run().await;
    h.drift.run().await;
    assert_eq!(
        alerts_of(&h, "low_stock", "LOW").await.len(),
        1,
        "once per crossing: not again from the drift check"
    );
    // Further down: still the same crossing.
    shopify_sale(&h, 3, 1, false);
    assert!(eventually(20, || async { on_hand(&h, &sku).await == 2 }).await);
    h.drift.run().await;
    assert_eq!(alerts_of(&h, "low_stock", "LOW").await.len(), 1);
    // Restocked above the threshold, then down again by hand (no sale): the drift
    // check finds the new crossing.
    h.store.adjust(&sku, 10, "received", "test").await.unwrap();
    h.drift.run().await;
    assert_eq!(alerts_of(&h, "low_stock", "LOW").await.len(), 1);
    h.store.adjust(&sku, -9, "damaged", "test").await.unwrap();
    h.drift.run().await;
    let a = alerts_of(&h, "low_stock", "LOW").await;
    assert_eq!(a.len(), 2);
    assert!(
        a[1].body.contains("Listed now: shopify ") && a[1].body.contains(", ebay "),
        "each channel's listed quantity: {}",
        a[1].body
    );
    assert!(
        a[1].body.contains("3 sold in the last hour"),
        "{}",
        a[1].body
    );
}

/// Errors in run after run (a channel down while the drift check reads it) are told
/// once, as `drift_check_failing`, on the third run in a row; a clean run ends the streak.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_check_failing_run_after_run_is_told_once() {
    use onecount::ports::DriftStore;
    let h = stack::start(|_| {}).await;
    let sku = stack::add_sku(&h, 6, "DERR", 5, 0, plain(), 5).await;
    baseline(&h, &sku).await;
    let sb = h.sandboxes.as_ref().unwrap();
    sb.ebay.faults.set(Faults {
        down_for_ms: 600_000,
        ..Faults::default()
    });
    let failing = || async {
        published_alerts(&h.resources.topic_arn)
            .await
            .into_iter()
            .filter(|a| a.attributes.get("type").map(String::as_str) == Some("drift_check_failing"))
            .collect::<Vec<_>>()
    };
    for run in 1..=4 {
        let r = h.drift.run().await;
        assert!(!r.errors.is_empty(), "run {run} had errors: {r:?}");
        let told = failing().await.len();
        assert_eq!(told, usize::from(run >= 3), "after run {run}");
    }
    let a = failing().await;
    assert_eq!(a[0].attributes["severity"], "warning");
    assert!(a[0].body.contains("last 3 runs"), "{}", a[0].body);
    assert!(
        a[0].body.contains("ebay"),
        "names the first error: {}",
        a[0].body
    );
    sb.ebay.faults.set(Faults::default());
    let r = h.drift.run().await;
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!(
        h.store.checkpoint("error-runs").await.unwrap().as_deref(),
        Some("0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_pause_engages_while_a_channel_is_stuck_and_releases_after() {
    let h = stack::start(|c| {
        c.drift.lag_threshold_ms = 1000;
        c.max_receive_count = 20;
        c.push_backoff_base_ms = 200;
    })
    .await;
    let sku = stack::add_sku(&h, 4, "RISK", 4, 3, plain(), 4).await;
    baseline(&h, &sku).await;
    let sb = h.sandboxes.as_ref().unwrap();
    sb.etsy.faults.set(Faults {
        down_for_ms: 120_000,
        ..Faults::default()
    });
    shopify_sale(&h, 4, 1, false);
    assert!(eventually(20, || async { on_hand(&h, &sku).await == 3 }).await);
    stack::converge(&h, 4, [3, 4, 3], 30).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = h.drift.run().await;
    assert_eq!(r.stuck, 1, "{r:?}");
    assert_eq!(r.auto_paused, 1, "{r:?}");
    // Only the primary (Shopify) keeps selling.
    stack::converge(&h, 4, [3, 4, 0], 30).await;
    let stock = h.store.get_stock(&sku).await.unwrap().unwrap();
    assert!(stock.guard.auto_paused);
    assert!(!alerts_of(&h, "sync_lagging", "RISK").await.is_empty());
    let paused = alerts_of(&h, "auto_paused", "RISK").await;
    assert_eq!(paused.len(), 1, "auto_paused, once");
    assert!(paused[0].body.contains("etsy"), "{}", paused[0].body);
    assert_eq!(paused[0].attributes["severity"], "warning");
    // Etsy comes back; its push goes through (to 0 while paused), then the next check
    // releases the pause and every channel lists the count again.
    sb.etsy.faults.set(Faults::default());
    stack::converge(&h, 4, [3, 0, 0], 30).await;
    let r = h.drift.run().await;
    assert_eq!(r.auto_released, 1, "{r:?}");
    stack::converge(&h, 4, [3, 3, 3], 30).await;
    assert_eq!(alerts_of(&h, "auto_resumed", "RISK").await.len(), 1);
    h.drift.run().await;
    assert_eq!(
        alerts_of(&h, "auto_paused", "RISK").await.len(),
        1,
        "not again"
    );
    let tl = h.store.timeline(&sku, 300).await.unwrap();
    let pauses: Vec<_> = tl
        .iter()
        .filter(|e| e.kind() == EventKind::AutoPause)
        .collect();
    assert_eq!(pauses.len(), 2, "engaged and released, on the timeline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_unit_protection_deals_the_last_units_out_between_the_channels() {
    let h = stack::start(|_| {}).await;
    let sku = stack::add_sku(&h, 5, "LAST", 3, 0, plain(), 3).await;
    h.store
        .set_guard(&sku, Some(Channel::Etsy), Some(Some(2)), "test")
        .await
        .unwrap();
    let sb = h.sandboxes.as_ref().unwrap();
    sb.ebay
        .place_order(&onecount_sim::ebay::OrderReq {
            lines: vec![(ids(5).item, 1)],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    // 2 left, at the protection level: dealt out one at a time, Etsy (the primary)
    // first, then Shopify; eBay lists none. Together the channels list exactly 2.
    stack::converge(&h, 5, [1, 1, 0], 30).await;
    assert_eq!(on_hand(&h, &sku).await, 2);
    // Shopify sells its unit: the last one stays on Etsy alone.
    shopify_sale(&h, 5, 1, false);
    assert!(eventually(20, || async { on_hand(&h, &sku).await == 1 }).await);
    stack::converge(&h, 5, [0, 1, 0], 30).await;
    let v = h
        .store
        .push_views(std::slice::from_ref(&sku), Channel::Etsy)
        .await
        .unwrap();
    let listed = onecount::ports::listed_where_allotted(&h.store, [&v[0].stock], None, now_ms())
        .await
        .unwrap();
    let (q, why) = onecount::domain::push::listed_why(
        &v[0].stock,
        &v[0].listing.policy,
        Channel::Etsy,
        None,
        now_ms(),
        &listed[&sku],
    );
    assert_eq!(q, 1);
    assert!(
        why.iter().any(|w| w.contains("last-unit protection at 2")),
        "{why:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_held_for_orders_that_never_come_are_listed_again_after_reconciliation() {
    // Orders show in a channel's list at once here (the deployed default allows 2 min).
    let h = stack::start(|c| c.drift.orders_listed_within_ms = 0).await;
    let sku = stack::add_sku(&h, 7, "HELD", 10, 1, plain(), 10).await;
    baseline(&h, &sku).await;
    // Someone lowers eBay by hand to 7: to the pusher, 3 units sold there unheard. A
    // Shopify sale makes it look: the 3 are held back on every channel.
    h.sandboxes
        .as_ref()
        .unwrap()
        .ebay
        .set_quantity(ids(7).item, 7);
    shopify_sale(&h, 7, 1, false);
    stack::converge(&h, 7, [6, 6, 6], 30).await;
    let st = h.store.get_stock(&sku).await.unwrap().unwrap();
    assert_eq!(st.unheard_on(Channel::Ebay, now_ms()), 3);
    // The drift check lists eBay's orders: none of them is one of the 3, so they were no
    // sale, and every channel lists them again — not 15 minutes later.
    let r = h.drift.run().await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.holds_released, 1, "{r:?}");
    stack::converge(&h, 7, [9, 9, 9], 30).await;
    let st = h.store.get_stock(&sku).await.unwrap().unwrap();
    assert_eq!((st.on_hand, st.unheard_on(Channel::Ebay, now_ms())), (9, 0));
    let tl = h.store.timeline(&sku, 100).await.unwrap();
    assert!(tl.iter().any(|e| matches!(
        &e.event,
        Event::PushHeld {
            channel: Channel::Ebay,
            held: Held::Recorded { held_back: 0 },
            ..
        }
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_finds_lost_etsy_receipts_and_ebay_cancellations() {
    let h = stack::start(|_| {}).await;
    let sku = stack::add_sku(&h, 6, "RECON", 10, 1, plain(), 10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    // An Etsy receipt whose webhook is lost.
    sb.etsy
        .place_order(&onecount_sim::etsy::OrderReq {
            lines: vec![(ids(6).listing, 2)],
            skus: vec![],
            knobs: DeliveryKnobs {
                lose: true,
                ..DeliveryKnobs::default()
            },
        })
        .unwrap();
    // An eBay order that arrives, then is cancelled on eBay (no notification exists).
    let placed = sb
        .ebay
        .place_order(&onecount_sim::ebay::OrderReq {
            lines: vec![(ids(6).item, 3)],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    assert!(eventually(20, || async { on_hand(&h, &sku).await == 7 }).await);
    sb.ebay.cancel(&placed.order_id).unwrap();
    let r = h.drift.run().await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // 10 − 2 (Etsy, found) − 3 (eBay) + 3 (eBay cancellation, found) = 8.
    assert_eq!(on_hand(&h, &sku).await, 8, "{r:?}");
    h.drift.run().await;
    assert_eq!(on_hand(&h, &sku).await, 8, "applied once");
    let tl = h.store.timeline(&sku, 100).await.unwrap();
    assert!(tl.iter().any(
        |e| matches!(&e.event, Event::Restocked { line, .. } if line.channel == Channel::Ebay)
    ));
}

/// A run reads eBay while a sale's push is on its way, the push lands and is confirmed,
/// then the run judges: the read is older than the push, so it is not taken for drift (it
/// looked like "shows 10, should show 9" and sent a `drift_corrected` alert for a listing
/// that was right).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_taken_before_a_push_landed_is_not_drift() {
    use crate::push_path::{Gate, Staged, ebay_pusher, ebay_stage, event};
    use onecount::channels::ebay::EbayClient;
    use onecount_drift_check::{ChannelLink, DriftCheck};
    use std::sync::Arc;
    use tokio::sync::Notify;
    let (h, sku, sdk, cfg) = ebay_stage(7, "SOCK", 10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let pusher = ebay_pusher(&h, &sdk, EbayClient::new(cfg.clone()));
    let r = pusher.handle_batch(event(&sku, Channel::Ebay, 1)).await;
    assert!(r.batch_item_failures.is_empty(), "eBay's 10 is on record");
    let (read, pushed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let staged = Staged {
        inner: EbayClient::new(cfg),
        read: Gate::new(&read, &pushed),
        write: None,
        own_lease: None,
    };
    let check = DriftCheck {
        store: h.store.clone(),
        pushes: onecount::aws::sqs::SqsQueues::new(&sdk, h.resources.queue_urls()),
        alerts: onecount::aws::sns::SnsAlerts::new(&sdk, &h.resources.topic_arn),
        orders: h.drift.orders.clone(),
        channels: vec![ChannelLink {
            api: Arc::new(staged),
            orders: None,
        }],
        cfg: h.drift.cfg.clone(),
    };
    // Sold: eBay still shows 10 when the run reads it, its push lands before the judging.
    h.store.adjust(&sku, -1, "test", "sold").await.unwrap();
    let sale_pushed = async {
        read.notified().await;
        let r = pusher.handle_batch(event(&sku, Channel::Ebay, 1)).await;
        assert!(r.batch_item_failures.is_empty());
        pushed.notify_one();
    };
    let (report, ()) = tokio::join!(check.run(), sale_pushed);
    assert_eq!(sb.ebay.quantity(ids(7).item), Some(9), "the push landed");
    assert_eq!((report.drift, report.pending), (0, 1), "{report:?}");
    let tl = h.store.timeline(&sku, 100).await.unwrap();
    assert!(
        !tl.iter().any(|e| e.kind() == EventKind::DriftFound),
        "no drift on the timeline"
    );
    assert!(alerts_of(&h, "drift_corrected", "SOCK").await.is_empty());
    // The next run reads again, and finds it in sync.
    let again = h.drift.run().await;
    assert_eq!(again.drift, 0, "{again:?}");
}
