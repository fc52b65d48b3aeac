//! Listings with variations: one Etsy listing carrying several SKUs (its products), mapped,
//! sold and pushed without one SKU's write putting back another's old quantity.

use std::time::Duration;

use onecount::aws::sns::SnsAlerts;
use onecount::aws::sqs::SqsQueues;
use onecount::channels::etsy::EtsyClient;
use onecount::domain::NewStock;
use onecount::ports::{ListingStore, StockLedger};
use onecount::{Channel, ChannelRef, Listing, ListingPolicy, Sku};
use onecount_channel_push::{PushConfig, Pusher};
use onecount_local::LocalHost;
use onecount_sim::etsy::{OrderReq, SimListing};
use onecount_sim::{DeliveryKnobs, Faults};
use onecount_tests::{eventually, stack};

use crate::push_path::{NoDelay, batch};

const LISTING: u64 = 1_299_000_001;
const COLOURS: [&str; 3] = ["MUG-BLUE", "MUG-RED", "MUG-GREEN"];

/// Three colours of one mug on one Etsy listing, 10 of each, mapped in onecount.
async fn three_colours(h: &LocalHost) -> Vec<Sku> {
    let sb = h.sandboxes.as_ref().unwrap();
    let mut skus = Vec::new();
    for c in COLOURS {
        let sku = Sku::parse(c).unwrap();
        h.store
            .create_stock(&NewStock {
                sku: sku.clone(),
                on_hand: 10,
                low_stock_threshold: 0,
            })
            .await
            .unwrap();
        h.store
            .put_listing(&Listing {
                sku: sku.clone(),
                channel: Channel::Etsy,
                refs: vec![ChannelRef::new("listing", &LISTING.to_string()).unwrap()],
                policy: ListingPolicy::default(),
            })
            .await
            .expect("every colour maps to the one listing");
        sb.etsy.add_listing(SimListing {
            listing_id: LISTING,
            sku: c.into(),
            qty: 10,
        });
        skus.push(sku);
    }
    skus
}

fn shows(h: &LocalHost) -> Vec<Option<i64>> {
    let sb = h.sandboxes.as_ref().unwrap();
    COLOURS
        .iter()
        .map(|c| sb.etsy.quantity_of(LISTING, c))
        .collect()
}

async fn on_hand(h: &LocalHost, skus: &[Sku]) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for s in skus {
        let st = h.store.get_stock(s).await.unwrap().unwrap();
        out.push(Some(i64::from(st.on_hand)));
    }
    out
}

fn etsy_pusher(
    h: &LocalHost,
    sdk: &aws_config::SdkConfig,
) -> Pusher<onecount::aws::dynamo::DynamoStore, SnsAlerts, EtsyClient, NoDelay, SqsQueues> {
    Pusher {
        store: h.store.clone(),
        alerts: SnsAlerts::new(sdk, &h.resources.topic_arn),
        api: EtsyClient::new(h.channels.section(Channel::Etsy).unwrap()),
        visibility: NoDelay,
        queue: SqsQueues::new(sdk, h.resources.queue_urls()),
        cfg: PushConfig::default(),
    }
}

fn inventory_puts(h: &LocalHost) -> usize {
    let sb = h.sandboxes.as_ref().unwrap();
    sb.etsy
        .requests()
        .iter()
        .filter(|(op, _)| op == "updateListingInventory")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_colours_of_one_etsy_listing_sell_and_push_without_undoing_each_other() {
    // No pushers of its own: this test runs them by hand.
    let h = stack::start(|c| c.push_concurrency.clear()).await;
    let skus = three_colours(&h).await;
    let sb = h.sandboxes.as_ref().unwrap();

    // A red mug sold on Etsy: the listing id names three SKUs, the line's SKU decides.
    sb.etsy
        .place_order(&OrderReq {
            lines: vec![(LISTING, 2)],
            skus: vec!["MUG-RED".into()],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    let red_sold = eventually(20, || async {
        on_hand(&h, &skus).await == [Some(10), Some(8), Some(10)]
    })
    .await;
    assert!(
        red_sold,
        "the red mug's sale reached the ledger: {:?}",
        on_hand(&h, &skus).await
    );

    // Sold elsewhere: blue and green fall in the ledger; one batch pushes both.
    let sdk = onecount::aws::load_sdk_config().await;
    let pusher = etsy_pusher(&h, &sdk);
    h.store
        .adjust(&skus[0], -3, "test", "shopify sale")
        .await
        .unwrap();
    h.store
        .adjust(&skus[2], -1, "test", "shopify sale")
        .await
        .unwrap();
    let puts = inventory_puts(&h);
    let r = pusher.handle_batch(batch(&skus, Channel::Etsy)).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(
        shows(&h),
        [Some(7), Some(8), Some(9)],
        "written one after the other from one read, the second write puts back the first"
    );
    assert_eq!(inventory_puts(&h) - puts, 1, "one listing, one write");

    // Two pushers at once, one per colour, on a slow Etsy: the listing's lease makes the
    // second wait for the first instead of rewriting the listing from an older read.
    sb.etsy.faults.set(Faults {
        latency_ms: 60,
        ..Faults::default()
    });
    let (a, b) = (etsy_pusher(&h, &sdk), etsy_pusher(&h, &sdk));
    let mut contended = 0;
    for round in 0..4 {
        h.store.adjust(&skus[0], -1, "test", "race").await.unwrap();
        h.store.adjust(&skus[2], -1, "test", "race").await.unwrap();
        let mut todo = [true, true];
        let mut waited = 0;
        while todo.iter().any(|t| *t) {
            let blue = async {
                match todo[0] {
                    true => a
                        .handle_batch(batch(&skus[..1], Channel::Etsy))
                        .await
                        .batch_item_failures
                        .is_empty(),
                    false => true,
                }
            };
            let green = async {
                match todo[1] {
                    true => b
                        .handle_batch(batch(&skus[2..], Channel::Etsy))
                        .await
                        .batch_item_failures
                        .is_empty(),
                    false => true,
                }
            };
            let (x, y) = tokio::join!(blue, green);
            waited += usize::from(!x) + usize::from(!y);
            todo = [!x, !y];
            if todo.iter().any(|t| *t) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(waited < 20, "round {round}: a pusher never got the listing");
        }
        contended += waited;
        let want = on_hand(&h, &skus).await;
        assert_eq!(
            shows(&h),
            want,
            "round {round}: a colour was put back to an older quantity"
        );
    }
    assert!(contended > 0, "the two pushers overlapped at least once");
    sb.etsy.faults.set(Faults::default());

    // Every colour sold out: the listing goes off sale (Etsy refuses all offerings at 0);
    // one colour restocked brings it back with only that colour on sale.
    for s in &skus {
        h.store.set_on_hand(s, 0, "test", "sold out").await.unwrap();
    }
    pusher.handle_batch(batch(&skus, Channel::Etsy)).await;
    assert_eq!(shows(&h), [Some(0); 3]);
    assert_eq!(sb.etsy.state(LISTING), "inactive");
    h.store
        .set_on_hand(&skus[1], 4, "test", "restock")
        .await
        .unwrap();
    pusher.handle_batch(batch(&skus[1..2], Channel::Etsy)).await;
    assert_eq!(sb.etsy.state(LISTING), "active");
    assert_eq!(
        shows(&h),
        [Some(0), Some(4), Some(0)],
        "brought back, the listing shows only the restocked colour"
    );
}

/// Two sizes of one eBay multi-variation listing: each size is its own SKU and offer under
/// one item id. An order names the item (and the variation); its SKU decides which count
/// falls, and one push writes each size's own offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sizes_of_one_ebay_listing_sell_and_push_on_their_own_offers() {
    use onecount::channels::ebay::EbayClient;
    const ITEM: u64 = 316_900_000_001;
    const SIZES: [(&str, u64); 2] = [("TEE-S", 316_900_000_101), ("TEE-M", 316_900_000_102)];
    let h = stack::start(|c| c.push_concurrency.clear()).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let mut skus = Vec::new();
    for (sku, key) in SIZES {
        let s = Sku::parse(sku).unwrap();
        h.store
            .create_stock(&NewStock {
                sku: s.clone(),
                on_hand: 6,
                low_stock_threshold: 0,
            })
            .await
            .unwrap();
        let offer = onecount_sim::ebay::offer_id(key);
        h.store
            .put_listing(&Listing {
                sku: s.clone(),
                channel: Channel::Ebay,
                refs: vec![
                    ChannelRef::new("item", &ITEM.to_string()).unwrap(),
                    ChannelRef::new("offer", &offer).unwrap(),
                ],
                policy: ListingPolicy::default(),
            })
            .await
            .expect("each size maps to the one item, with its own offer");
        sb.ebay.add_variation(
            ITEM,
            onecount_sim::ebay::SimListing {
                item_id: key,
                sku: sku.into(),
                qty: 6,
            },
        );
        skus.push(s);
    }
    sb.ebay
        .place_order(&onecount_sim::ebay::OrderReq {
            lines: vec![(SIZES[1].1, 2)],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    assert!(
        eventually(20, || async {
            on_hand(&h, &skus).await == [Some(6), Some(4)]
        })
        .await,
        "the medium's sale reached the ledger, not the small's: {:?}",
        on_hand(&h, &skus).await
    );
    h.store
        .adjust(&skus[0], -1, "test", "etsy sale")
        .await
        .unwrap();
    let sdk = onecount::aws::load_sdk_config().await;
    let pusher = Pusher {
        store: h.store.clone(),
        alerts: SnsAlerts::new(&sdk, &h.resources.topic_arn),
        api: EbayClient::new(h.channels.section(Channel::Ebay).unwrap()),
        visibility: NoDelay,
        queue: SqsQueues::new(&sdk, h.resources.queue_urls()),
        cfg: PushConfig::default(),
    };
    let r = pusher.handle_batch(batch(&skus, Channel::Ebay)).await;
    assert!(r.batch_item_failures.is_empty());
    let shown: Vec<Option<i64>> = SIZES.iter().map(|(_, k)| sb.ebay.quantity(*k)).collect();
    assert_eq!(shown, [Some(5), Some(4)], "each size shows its own count");
}
