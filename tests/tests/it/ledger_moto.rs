//! The stock ledger through the real DynamoDB adapter, against moto.

use std::collections::BTreeMap;

use futures::future::join_all;
use onecount::domain::model::LedgerState;
use onecount::domain::{
    Event, EventKind, LineId, NewStock, OrderId, RestockKind, RestockOutcome, RestockRequest,
    SaleOutcome, Unheard,
};
use onecount::ports::{LedgerError, ListingStore, PushStore, StockLedger, TimelineStore};
use onecount::{Channel, ChannelRef, Listing, ListingPolicy, OrderLine, Qty, Sku};
use onecount_tests::fresh_store;

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

fn line(channel: Channel, order: &str, l: &str, sku_: &str, qty: i64) -> OrderLine {
    OrderLine {
        channel,
        order: OrderId::parse(order).unwrap(),
        line: LineId::parse(l).unwrap(),
        sku: sku(sku_),
        qty: Qty::new(qty).unwrap(),
        placed_at: None,
    }
}

fn restock(channel: Channel, order: &str, l: &str, kind: RestockKind) -> RestockRequest {
    RestockRequest {
        channel,
        order: OrderId::parse(order).unwrap(),
        line: LineId::parse(l).unwrap(),
        sku: Some(sku("MUG")),
        kind,
    }
}

fn refund(id: &str, q: i64) -> RestockKind {
    RestockKind::Refund {
        id: id.into(),
        qty: Qty::new(q).unwrap(),
    }
}

async fn create(store: &impl StockLedger, s: &str, on_hand: u32) {
    store
        .create_stock(&NewStock {
            sku: sku(s),
            on_hand,
            low_stock_threshold: 2,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_sales_against_twenty_in_stock() {
    let store = fresh_store("flash").await;
    create(&store, "HOT", 20).await;
    let lines: Vec<OrderLine> = (0..50)
        .map(|i| line(Channel::ALL[i % 3], &format!("order-{i}"), "1", "HOT", 1))
        .collect();

    let outcomes = join_all(lines.iter().map(|l| store.record_sale(l))).await;
    let outcomes: Vec<SaleOutcome> = outcomes.into_iter().map(Result::unwrap).collect();
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, SaleOutcome::Applied))
        .count();
    let oversold = outcomes
        .iter()
        .filter(|o| **o == SaleOutcome::Oversold { short: 1 })
        .count();
    assert_eq!((applied, oversold), (20, 30), "{outcomes:?}");

    let s = store.get_stock(&sku("HOT")).await.unwrap().unwrap();
    assert_eq!(s.on_hand, 0);
    assert_eq!(s.version, 1 + 20, "version rises once per applied change");
    assert!(
        s.last_sold_at.is_some(),
        "the blind sale path keeps when it last sold"
    );

    let tl = store.timeline(&sku("HOT"), 1000).await.unwrap();
    let count = |k| tl.iter().filter(|e| e.kind() == k).count();
    assert_eq!(count(EventKind::SaleApplied), 20);
    assert_eq!(count(EventKind::SaleOversold), 30);
    assert!(
        tl.windows(2).all(|w| w[0].at <= w[1].at),
        "timeline is in time order"
    );
    let (line, _) = tl.iter().find_map(|e| e.event.oversold()).unwrap();
    assert!(
        line.order.as_str().starts_with("order-"),
        "an oversell names its order"
    );

    // The same 50 again, concurrently: every one a duplicate, nothing changes.
    let again = join_all(lines.iter().map(|l| store.record_sale(l))).await;
    assert!(
        again
            .into_iter()
            .all(|o| o.unwrap() == SaleOutcome::Duplicate)
    );
    let s2 = store.get_stock(&sku("HOT")).await.unwrap().unwrap();
    assert_eq!((s2.on_hand, s2.version), (0, 21));
    assert_eq!(
        store.timeline(&sku("HOT"), 1000).await.unwrap().len(),
        tl.len()
    );
}

#[tokio::test]
async fn cancel_restores_exactly_once() {
    let store = fresh_store("cancel").await;
    create(&store, "MUG", 5).await;
    let l = line(
        Channel::Shopify,
        "5830012345678",
        "14012345678901",
        "MUG",
        2,
    );
    assert!(matches!(
        store.record_sale(&l).await.unwrap(),
        SaleOutcome::Applied
    ));
    assert_eq!(
        store.get_stock(&sku("MUG")).await.unwrap().unwrap().on_hand,
        3
    );

    let c = restock(
        Channel::Shopify,
        "5830012345678",
        "14012345678901",
        RestockKind::Cancel,
    );
    assert_eq!(
        store.restock(&c).await.unwrap(),
        RestockOutcome::Restocked { qty: 2 }
    );
    assert_eq!(store.restock(&c).await.unwrap(), RestockOutcome::Duplicate);
    assert_eq!(store.record_sale(&l).await.unwrap(), SaleOutcome::Duplicate);
    let s = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert_eq!((s.on_hand, s.version), (5, 3));
}

#[tokio::test]
async fn cancel_before_order_leaves_the_order_unapplied() {
    let store = fresh_store("early").await;
    create(&store, "MUG", 5).await;
    let c = restock(
        Channel::Etsy,
        "3012345678",
        "4012345678",
        RestockKind::Cancel,
    );
    assert_eq!(
        store.restock(&c).await.unwrap(),
        RestockOutcome::BeforeOrder
    );
    assert_eq!(store.restock(&c).await.unwrap(), RestockOutcome::Duplicate);

    let l = line(Channel::Etsy, "3012345678", "4012345678", "MUG", 1);
    assert_eq!(
        store.record_sale(&l).await.unwrap(),
        SaleOutcome::CancelledBeforeOrder
    );
    assert_eq!(store.record_sale(&l).await.unwrap(), SaleOutcome::Duplicate);
    let s = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert_eq!((s.on_hand, s.version), (5, 1), "nothing changed");
    let kinds: Vec<EventKind> = store
        .timeline(&sku("MUG"), 50)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind())
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::StockCreated,
            EventKind::CancelBeforeOrder,
            EventKind::OrderAfterCancel
        ]
    );
}

#[tokio::test]
async fn a_partial_refund_restocks_only_its_quantity() {
    let store = fresh_store("refund").await;
    create(&store, "MUG", 10).await;
    store
        .record_sale(&line(Channel::Shopify, "1042", "77", "MUG", 3))
        .await
        .unwrap();
    let r1 = restock(Channel::Shopify, "1042", "77", refund("77001", 1));
    assert_eq!(
        store.restock(&r1).await.unwrap(),
        RestockOutcome::Restocked { qty: 1 }
    );
    assert_eq!(store.restock(&r1).await.unwrap(), RestockOutcome::Duplicate);
    assert_eq!(
        store.get_stock(&sku("MUG")).await.unwrap().unwrap().on_hand,
        8
    );
    // A later cancel gives back only what is still out.
    let c = restock(Channel::Shopify, "1042", "77", RestockKind::Cancel);
    assert_eq!(
        store.restock(&c).await.unwrap(),
        RestockOutcome::Restocked { qty: 2 }
    );
    assert_eq!(
        store.get_stock(&sku("MUG")).await.unwrap().unwrap().on_hand,
        10
    );
    // A refund before its order nets the late order.
    let early = restock(Channel::Ebay, "12-34567-89012", "10001", refund("r9", 1));
    assert_eq!(
        store.restock(&early).await.unwrap(),
        RestockOutcome::BeforeOrder
    );
    store
        .record_sale(&line(Channel::Ebay, "12-34567-89012", "10001", "MUG", 3))
        .await
        .unwrap();
    assert_eq!(
        store.get_stock(&sku("MUG")).await.unwrap().unwrap().on_hand,
        8
    );
}

#[tokio::test]
async fn a_short_line_takes_what_is_there_and_records_the_shortfall() {
    let store = fresh_store("short").await;
    create(&store, "MUG", 1).await;
    let before = onecount::clock::now_ms();
    let out = store
        .record_sale(&line(Channel::Ebay, "o1", "1", "MUG", 3))
        .await
        .unwrap();
    assert_eq!(out, SaleOutcome::Oversold { short: 2 });
    let s = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert_eq!((s.on_hand, s.version), (0, 2));
    // It took a unit (the path that reads the count): the SKU is selling.
    let sold_at = s
        .last_sold_at
        .expect("a sale that took units is when it last sold");
    assert!(sold_at >= before, "{sold_at} < {before}");
    // One with nothing left to take changes neither the count nor when it last sold.
    store
        .record_sale(&line(Channel::Ebay, "o2", "1", "MUG", 1))
        .await
        .unwrap();
    let s = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert_eq!((s.on_hand, s.last_sold_at), (0, Some(sold_at)));
    // Cancelling it gives back the one unit it really took.
    let c = restock(Channel::Ebay, "o1", "1", RestockKind::Cancel);
    assert_eq!(
        store.restock(&c).await.unwrap(),
        RestockOutcome::Restocked { qty: 1 }
    );
}

#[tokio::test]
async fn unknown_skus_and_bad_adjustments_are_refused() {
    let store = fresh_store("bad").await;
    let err = store
        .record_sale(&line(Channel::Offline, "o", "1", "NOPE", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::UnknownSku(_)), "{err}");
    assert!(matches!(
        store
            .set_on_hand(&sku("NOPE"), 3, "r", "a")
            .await
            .unwrap_err(),
        LedgerError::UnknownSku(_)
    ));
    create(&store, "MUG", 2).await;
    assert!(matches!(
        store
            .create_stock(&NewStock {
                sku: sku("MUG"),
                on_hand: 1,
                low_stock_threshold: 0
            })
            .await
            .unwrap_err(),
        LedgerError::AlreadyExists(_)
    ));
    let err = store
        .adjust(&sku("MUG"), -3, "damaged", "ana")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("below zero"), "{err}");
    assert_eq!(
        store.get_stock(&sku("MUG")).await.unwrap().unwrap().on_hand,
        2
    );
}

#[tokio::test]
async fn set_and_adjust_are_versioned_and_explained() {
    let store = fresh_store("manual").await;
    create(&store, "MUG", 2).await;
    let a = store
        .adjust(&sku("MUG"), 10, "received PO-17", "ana")
        .await
        .unwrap();
    assert_eq!((a.before, a.after, a.version), (2, 12, 2));
    let s = store
        .set_on_hand(&sku("MUG"), 7, "stock take", "ben")
        .await
        .unwrap();
    assert_eq!((s.before, s.after, s.version), (12, 7, 3));
    let tl = store.timeline(&sku("MUG"), 10).await.unwrap();
    let last = tl.last().unwrap();
    assert!(
        matches!(&last.event, Event::StockSet { reason, actor, .. } if reason == "stock take" && actor == "ben"),
        "{last:?}"
    );
    assert_eq!(last.summary(), "12 -> 7 by ben: stock take");
    // The limit keeps the most recent entries.
    let two = store.timeline(&sku("MUG"), 2).await.unwrap();
    assert_eq!(
        two.iter().map(|e| e.kind()).collect::<Vec<_>>(),
        [EventKind::StockAdjusted, EventKind::StockSet]
    );
}

#[tokio::test]
async fn unheard_sales_are_kept_per_channel_versioned_and_released_by_their_orders() {
    let store = fresh_store("unheard").await;
    create(&store, "MUG", 10).await;
    let u = Unheard {
        units: 2,
        sold_at: 0,
        at: 1_000,
    };
    assert!(
        !store
            .set_unheard(&sku("MUG"), Channel::Etsy, Some(&u), 7)
            .await
            .unwrap(),
        "an old version writes nothing"
    );
    assert!(
        store
            .set_unheard(&sku("MUG"), Channel::Etsy, Some(&u), 1)
            .await
            .unwrap()
    );
    let st = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert_eq!((st.version, st.unheard[&Channel::Etsy]), (2, u));
    assert_eq!((st.on_hand, st.available(2_000)), (10, 8));
    // One of the two Etsy orders arrives through the ledger as usual.
    store
        .record_sale(&line(Channel::Etsy, "3001", "1", "MUG", 1))
        .await
        .unwrap();
    let st = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert_eq!((st.on_hand, st.available(2_000)), (9, 8));
    // An Etsy order placed after the units were found is a new sale: the one still
    // unheard stays held back (both the blind write and the read-then-write path).
    let placed = |o: &str, at: i64| OrderLine {
        placed_at: Some(at),
        ..line(Channel::Etsy, o, "1", "MUG", 1)
    };
    store.record_sale(&placed("3002", 1_500)).await.unwrap();
    let st = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert_eq!((st.on_hand, st.unheard_on(Channel::Etsy, 2_000)), (8, 1));
    assert_eq!(st.available(2_000), 7);
    // The other unheard one (placed before they were found) arrives: released.
    store.record_sale(&placed("3003", 900)).await.unwrap();
    let st = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert_eq!((st.on_hand, st.unheard_on(Channel::Etsy, 2_000)), (7, 0));
    assert_eq!(st.available(2_000), 7);
    assert!(
        store
            .set_unheard(&sku("MUG"), Channel::Etsy, None, st.version)
            .await
            .unwrap()
    );
    let st = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert!(st.unheard.is_empty());
    assert_eq!((st.version, st.available(2_000)), (6, 7));
}

#[tokio::test]
async fn stock_lists_in_pages() {
    let store = fresh_store("list").await;
    for i in 0..7 {
        create(&store, &format!("SKU-{i}"), i).await;
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_stock(after.as_deref(), 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(
            page.items
                .into_iter()
                .map(|s| (s.sku.to_string(), s.on_hand)),
        );
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let want: Vec<(String, u32)> = (0..7).map(|i| (format!("SKU-{i}"), i)).collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn listings_map_channel_ids_back_to_their_sku() {
    let store = fresh_store("listing").await;
    create(&store, "MUG", 5).await;
    create(&store, "BOWL", 5).await;
    let r = |s: &str| s.parse::<ChannelRef>().unwrap();
    let mut mug = Listing {
        sku: sku("MUG"),
        channel: Channel::Shopify,
        refs: vec![
            r("variant:44123456789012"),
            r("inventory_item:48001122334455"),
        ],
        policy: ListingPolicy {
            buffer: 1,
            max_qty: Some(10),
            paused: false,
        },
    };
    store.put_listing(&mug).await.unwrap();
    assert_eq!(
        store
            .resolve(Channel::Shopify, &r("variant:44123456789012"))
            .await
            .unwrap(),
        Some(sku("MUG"))
    );
    assert_eq!(
        store
            .resolve(Channel::Etsy, &r("variant:44123456789012"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_listing(&sku("MUG"), Channel::Shopify)
            .await
            .unwrap(),
        Some(mug.clone())
    );

    // Another SKU cannot take the same channel id.
    let bowl = Listing {
        sku: sku("BOWL"),
        refs: vec![r("variant:44123456789012")],
        ..mug.clone()
    };
    let err = store.put_listing(&bowl).await.unwrap_err();
    assert!(
        matches!(err, LedgerError::RefTaken { ref sku, .. } if sku.as_str() == "MUG"),
        "{err}"
    );

    // Replacing the ids drops the old mapping.
    mug.refs = vec![r("variant:44123456789099")];
    store.put_listing(&mug).await.unwrap();
    assert_eq!(
        store
            .resolve(Channel::Shopify, &r("variant:44123456789012"))
            .await
            .unwrap(),
        None
    );
    store.put_listing(&bowl).await.unwrap();
    assert_eq!(
        store
            .resolve(Channel::Shopify, &r("variant:44123456789012"))
            .await
            .unwrap(),
        Some(sku("BOWL"))
    );
    let etsy = Listing {
        sku: sku("MUG"),
        channel: Channel::Etsy,
        refs: vec![r("listing:1234567890")],
        policy: ListingPolicy::default(),
    };
    store.put_listing(&etsy).await.unwrap();
    assert_eq!(store.listings_for_sku(&sku("MUG")).await.unwrap().len(), 2);
}

#[tokio::test]
async fn init_is_safe_to_run_twice() {
    let store = fresh_store("init").await;
    let again = store.init().await.unwrap();
    assert!(!again.created);
    assert!(again.ttl_enabled);
}

/// The adapter and the pure model agree: the same random stream of sales, duplicates,
/// cancels, refunds, sets and adjusts gives the same outcomes, count and version.
#[tokio::test]
async fn dynamodb_reaches_the_same_states_as_the_model() {
    let store = fresh_store("model").await;
    let mut model = LedgerState::default();
    let new = NewStock {
        sku: sku("MUG"),
        on_hand: 6,
        low_stock_threshold: 2,
    };
    store.create_stock(&new).await.unwrap();
    model.create(&new, 0).unwrap();
    let mut rng: u64 = 0x5eed_1234_abcd_0001;
    let mut next = |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    let mut outcomes = BTreeMap::new();
    for step in 0..200u32 {
        let l = next(40);
        let ch = Channel::ALL[(l % 4) as usize];
        let order = format!("o{}", l / 2);
        let lid = format!("l{l}");
        let (a, b) = match next(10) {
            0..=4 => {
                let ol = line(ch, &order, &lid, "MUG", 1 + next(3) as i64);
                (
                    format!("{:?}", store.record_sale(&ol).await.unwrap()),
                    format!("{:?}", model.record_sale(&ol, 0).unwrap()),
                )
            }
            5 | 6 => {
                let kind = if next(2) == 0 {
                    RestockKind::Cancel
                } else {
                    refund(&format!("r{}", next(3)), 1 + next(2) as i64)
                };
                let r = restock(ch, &order, &lid, kind);
                (
                    format!("{:?}", store.restock(&r).await.unwrap()),
                    format!("{:?}", model.restock(&r, 0).unwrap()),
                )
            }
            7 => {
                let n = next(8) as u32;
                store
                    .set_on_hand(&sku("MUG"), n, "count", "t")
                    .await
                    .unwrap();
                model.set(&sku("MUG"), n, "count", "t", 0).unwrap();
                ("set".into(), "set".into())
            }
            _ => {
                let d = next(7) as i64 - 3;
                (
                    format!("{}", store.adjust(&sku("MUG"), d, "adj", "t").await.is_ok()),
                    format!("{}", model.adjust(&sku("MUG"), d, "adj", "t", 0).is_ok()),
                )
            }
        };
        assert_eq!(a, b, "step {step}: adapter and model disagree");
        *outcomes
            .entry(a.split(' ').next().unwrap_or("").to_string())
            .or_insert(0) += 1;
        let s = store.get_stock(&sku("MUG")).await.unwrap().unwrap();
        let m = &model.stock[&sku("MUG")];
        // When it last sold is the store's clock against the model's 0: compared as
        // whether a sale has taken units yet.
        assert_eq!(
            (s.on_hand, s.version, s.last_sold_at.is_some()),
            (m.on_hand, m.version, m.last_sold_at.is_some()),
            "step {step}"
        );
    }
    // The stream really exercised the interesting paths.
    for k in ["Applied", "Duplicate", "Oversold", "Restocked"] {
        assert!(
            outcomes.keys().any(|o| o.starts_with(k)),
            "no {k} in {outcomes:?}"
        );
    }
}

/// The first answer to each transaction is lost after DynamoDB applied it; the SDK
/// retries. The retry must report what really happened — applied, or oversold — not
/// "duplicate", or an oversell alert would be lost.
#[tokio::test]
async fn a_lost_response_still_reports_the_true_outcome() {
    use onecount::aws::dynamo::DynamoStore;
    use onecount::config::StoreConfig;
    use onecount_tests::lossy_proxy::LossyProxy;

    let direct = fresh_store("lossy").await;
    create(&direct, "MUG", 1).await;
    let endpoint = onecount::aws::endpoint_url().unwrap();
    let proxy = LossyProxy::start(&endpoint, "TransactWriteItems", 2).await;
    let sdk = onecount::aws::load_sdk_config().await;
    let store = DynamoStore::with_endpoint(&sdk, &StoreConfig::new(direct.table()), &proxy.url);

    let first = line(Channel::Shopify, "1", "1", "MUG", 1);
    assert_eq!(
        store.record_sale(&first).await.unwrap(),
        SaleOutcome::Applied
    );
    let second = line(Channel::Etsy, "2", "1", "MUG", 1);
    // Fast path fails on stock, the oversell transaction's answer is lost, the retry
    // finds the line it wrote itself.
    assert_eq!(
        store.record_sale(&second).await.unwrap(),
        SaleOutcome::Oversold { short: 1 }
    );
    assert_eq!(
        proxy.dropped.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "both answers were lost"
    );
    // A genuinely new delivery of the same line is a duplicate.
    assert_eq!(
        store.record_sale(&second).await.unwrap(),
        SaleOutcome::Duplicate
    );
    let s = direct.get_stock(&sku("MUG")).await.unwrap().unwrap();
    assert_eq!((s.on_hand, s.version), (0, 2));
}

/// An Etsy listing with two colours (or an eBay item with variations) carries two SKUs:
/// both map to its id, which then names neither alone (an order line's own SKU decides);
/// a SKU's own ids stay its alone.
#[tokio::test]
async fn a_listing_id_can_carry_several_skus() {
    let store = fresh_store("shared").await;
    create(&store, "MUG-BLUE", 5).await;
    create(&store, "MUG-RED", 5).await;
    let r = |s: &str| s.parse::<ChannelRef>().unwrap();
    let on = |s: &str, refs: &[&str], channel| Listing {
        sku: sku(s),
        channel,
        refs: refs.iter().map(|x| r(x)).collect(),
        policy: ListingPolicy::default(),
    };
    let resolve = |channel, x: &str| {
        let store = &store;
        let x = r(x);
        async move { store.resolve(channel, &x).await.unwrap() }
    };
    store
        .put_listing(&on("MUG-BLUE", &["listing:77"], Channel::Etsy))
        .await
        .unwrap();
    assert_eq!(
        resolve(Channel::Etsy, "listing:77").await,
        Some(sku("MUG-BLUE")),
        "one SKU's alone: it names it"
    );
    store
        .put_listing(&on("MUG-RED", &["listing:77"], Channel::Etsy))
        .await
        .expect("a second SKU on the same listing is not a conflict");
    assert_eq!(resolve(Channel::Etsy, "listing:77").await, None);
    // eBay: the item is shared, each variation's offer is its own.
    store
        .put_listing(&on("MUG-BLUE", &["item:316", "offer:1"], Channel::Ebay))
        .await
        .unwrap();
    let err = store
        .put_listing(&on("MUG-RED", &["item:316", "offer:1"], Channel::Ebay))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::RefTaken { ref reference, .. } if reference.kind == "offer"),
        "{err}"
    );
    store
        .put_listing(&on("MUG-RED", &["item:316", "offer:2"], Channel::Ebay))
        .await
        .unwrap();
    assert_eq!(resolve(Channel::Ebay, "item:316").await, None);
    assert_eq!(
        resolve(Channel::Ebay, "offer:2").await,
        Some(sku("MUG-RED"))
    );
    // Moved to a listing of its own, the blue mug leaves the red one alone on 77.
    store
        .put_listing(&on("MUG-BLUE", &["listing:78"], Channel::Etsy))
        .await
        .unwrap();
    assert_eq!(
        resolve(Channel::Etsy, "listing:77").await,
        Some(sku("MUG-RED"))
    );
    assert_eq!(
        resolve(Channel::Etsy, "listing:78").await,
        Some(sku("MUG-BLUE"))
    );
}

/// The write lease on a shared listing: one holder at a time, taken again by its holder,
/// given back only by it, and free once it has run out.
#[tokio::test]
async fn a_write_lease_has_one_holder_until_given_back_or_run_out() {
    let store = fresh_store("lease").await;
    let now = onecount::clock::now_ms();
    let key = "etsy-listing:77";
    assert!(store.take_lease(key, "a", now + 60_000).await.unwrap());
    assert!(!store.take_lease(key, "b", now + 60_000).await.unwrap());
    assert!(store.take_lease(key, "a", now + 60_000).await.unwrap());
    store.drop_lease(key, "b").await.unwrap();
    assert!(!store.take_lease(key, "b", now + 60_000).await.unwrap());
    store.drop_lease(key, "a").await.unwrap();
    assert!(store.take_lease(key, "b", now - 1).await.unwrap());
    assert!(
        store.take_lease(key, "c", now + 60_000).await.unwrap(),
        "b's has run out"
    );
    assert!(
        store
            .take_lease("etsy-listing:78", "b", now + 60_000)
            .await
            .unwrap()
    );
}

/// A pause changes what the channel should list, so it bumps the stock version: a push
/// computed before it (at the old version) can no longer be confirmed over the pause's
/// own push, and its pusher reads again instead of leaving the listing unpaused.
#[tokio::test]
async fn a_pause_outranks_a_push_computed_before_it() {
    use onecount::domain::push::PushRecord;
    use onecount::ports::Recorded;
    let store = fresh_store("pause").await;
    create(&store, "LAMP", 5).await;
    let mut l = Listing {
        sku: sku("LAMP"),
        channel: Channel::Ebay,
        refs: vec![ChannelRef::new("item", "31").unwrap()],
        policy: ListingPolicy::default(),
    };
    store.put_listing(&l).await.unwrap();
    let before = store
        .get_stock(&sku("LAMP"))
        .await
        .unwrap()
        .unwrap()
        .version;
    // The same policy again changes nothing.
    store.put_listing(&l).await.unwrap();
    assert_eq!(
        store
            .get_stock(&sku("LAMP"))
            .await
            .unwrap()
            .unwrap()
            .version,
        before
    );
    l.policy.paused = true;
    store.put_listing(&l).await.unwrap();
    let paused = store
        .get_stock(&sku("LAMP"))
        .await
        .unwrap()
        .unwrap()
        .version;
    assert_eq!(paused, before + 1);
    let pushed = |version: u64, qty: u32| {
        let rec = PushRecord {
            version,
            qty,
            at: 1,
            sold: 0,
            rev_day: 0,
            revisions: 1,
        };
        let event = Event::Pushed {
            channel: Channel::Ebay,
            qty,
            from: 5,
            wrote: true,
            version,
            latency_ms: None,
            cause: "test".into(),
            origin_channel: None,
            origin_order: None,
        };
        (rec, event)
    };
    // The pause's push (0, at the new version) lands first; the one computed before the
    // pause (5, at the old version) is refused.
    let (first, ev) = pushed(paused, 0);
    let record = |rec: PushRecord, read: Option<PushRecord>, ev: Event| {
        let store = &store;
        async move {
            store
                .record_push(&sku("LAMP"), Channel::Ebay, &rec, read.as_ref(), ev)
                .await
                .unwrap()
        }
    };
    assert_eq!(record(first.clone(), None, ev).await, Recorded::Over);
    let (rec, ev) = pushed(before, 5);
    assert_eq!(record(rec, None, ev).await, Recorded::Newer);
    // Over the record its pusher read: `Over`. Over one another pusher confirmed since
    // (whose write may have landed after this one's): recorded, and said.
    let (mut second, ev) = pushed(paused, 0);
    second.at = 2;
    assert_eq!(
        record(second, Some(first.clone()), ev).await,
        Recorded::Over
    );
    let (newer, ev) = pushed(paused + 1, 0);
    assert_eq!(record(newer, Some(first), ev).await, Recorded::OverAnother);
    let v = store
        .push_views(&[sku("LAMP")], Channel::Ebay)
        .await
        .unwrap();
    assert_eq!(v[0].record.as_ref().map(|r| r.version), Some(paused + 1));
}
