//! eBay listings made in Seller Hub: the Trading API path. The client against the
//! sandbox (reads with variations and `QuantitySold`, four entries a write, per-entry
//! failures, out-of-stock control), then end to end through the local host: a single-SKU
//! item and a multi-variation item follow sales made on Shopify and Etsy, a variation sold
//! on eBay comes back through the Fulfillment API, a sell-out hides the listing and a
//! restock brings it back, and without out-of-stock control nothing is ended.

use onecount::channels::ebay::{EbayClient, EbayConfig};
use onecount::channels::push::{ChannelApi, PushError, Target, Write};
use onecount::domain::Event;
use onecount::ports::{DriftStore, ListingFlag, ListingStore, StockLedger, TimelineStore};
use onecount::{Channel, ChannelRef, Listing, ListingPolicy, Sku};
use onecount_local::LocalHost;
use onecount_sim::ebay::{OrderReq, SimListing};
use onecount_sim::{DeliveryKnobs, Sandboxes};
use onecount_tests::stack::{self, ids};
use onecount_tests::{contracts, eventually, published_alerts};

fn listing(key: u64, sku: &str, qty: i64) -> SimListing {
    SimListing {
        item_id: key,
        sku: sku.into(),
        qty,
    }
}

fn target(sku: &str, refs: &[&str]) -> Target {
    Target {
        sku: Sku::parse(sku).unwrap(),
        refs: refs.iter().map(|r| r.parse().unwrap()).collect(),
    }
}

async fn client() -> (Sandboxes, EbayClient) {
    let (sb, _, cfg): (_, _, EbayConfig) = crate::contracts::sandbox(Channel::Ebay).await;
    (sb, EbayClient::new(cfg))
}

async fn set(c: &EbayClient, t: &Target, qty: u32) -> Result<(), PushError> {
    let seen = c.read(std::slice::from_ref(t)).await.remove(0)?;
    c.write(&[Write {
        target: t.clone(),
        seen,
        qty,
    }])
    .await
    .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seller_hub_items_and_variations_are_read_and_written_through_the_trading_api() {
    let (sb, c) = client().await;
    sb.ebay
        .add_seller_hub_listing(listing(110_100_000_001, "MUG-SH", 5));
    for (k, sku) in [(110_100_000_011u64, "TEE-S"), (110_100_000_012, "TEE-M")] {
        sb.ebay
            .add_seller_hub_variation(110_100_000_010, listing(k, sku, 4));
    }
    // A sale on eBay: Quantity stays the total, QuantitySold grows, available falls.
    sb.ebay
        .place_order(&OrderReq {
            lines: vec![(110_100_000_012, 1), (110_100_000_001, 2)],
            knobs: DeliveryKnobs {
                lose: true,
                ..Default::default()
            },
        })
        .unwrap();
    let single = target("MUG-SH", &["item:110100000001"]);
    let small = target("TEE-S", &["item:110100000010"]);
    // A variation whose eBay SKU differs from ours, named in the mapping.
    let medium = target("TEE-MEDIUM", &["item:110100000010", "sku:TEE-M"]);
    let got = c
        .read(&[single.clone(), small.clone(), medium.clone()])
        .await;
    let qty: Vec<i64> = got.iter().map(|r| r.as_ref().unwrap().qty).collect();
    assert_eq!(qty, [3, 4, 3], "available = Quantity − QuantitySold");
    let calls = sb.ebay.trading_requests();
    assert_eq!(
        calls.iter().filter(|(c, _)| c == "GetItem").count(),
        2,
        "one GetItem per item, its variations included"
    );

    // Five writes: four in the first ReviseInventoryStatus, one in the second.
    sb.ebay
        .add_seller_hub_listing(listing(110_100_000_002, "A", 1));
    sb.ebay
        .add_seller_hub_listing(listing(110_100_000_003, "B", 1));
    sb.ebay
        .add_seller_hub_listing(listing(110_100_000_004, "C", 1));
    let more: Vec<Target> = [("A", 2), ("B", 3), ("C", 4)]
        .iter()
        .map(|(s, n)| target(s, &[&format!("item:11010000000{n}")]))
        .collect();
    let all: Vec<Target> = [single, small, medium].into_iter().chain(more).collect();
    let seen = c.read(&all).await;
    let writes: Vec<Write> = all
        .iter()
        .zip(seen)
        .zip([7u32, 6, 5, 2, 9, 8])
        .map(|((t, s), q)| Write {
            target: t.clone(),
            seen: s.unwrap(),
            qty: q,
        })
        .collect();
    let before = sb.ebay.trading_requests().len();
    let out = c.write(&writes).await;
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    let revises: Vec<String> = sb.ebay.trading_requests()[before..]
        .iter()
        .filter(|(c, _)| c == "ReviseInventoryStatus")
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(revises.len(), 2, "6 entries: 4 + 2");
    // The two calls run side by side: their order at eBay is not fixed.
    let mut sizes: Vec<usize> = revises
        .iter()
        .map(|b| b.matches("<InventoryStatus>").count())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [2, 4]);
    assert!(
        revises
            .iter()
            .any(|r| r.contains("<SKU>TEE-M</SKU>") && r.contains("<SKU>TEE-S</SKU>")),
        "both variations of one item in one call"
    );
    let shown: Vec<Option<i64>> = [
        110_100_000_001u64,
        110_100_000_011,
        110_100_000_012,
        110_100_000_002,
        110_100_000_003,
        110_100_000_004,
    ]
    .iter()
    .map(|k| sb.ebay.quantity(*k))
    .collect();
    assert_eq!(
        shown,
        [Some(7), Some(6), Some(5), Some(2), Some(9), Some(8)]
    );
    // No Inventory API call touched them.
    assert_eq!(
        sb.ebay.requests().len(),
        0,
        "Seller Hub listings have no inventory item"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_entry_of_a_revision_has_its_own_outcome() {
    let (sb, c) = client().await;
    for (k, s) in [(1u64, "OK-1"), (2, "FLAKY"), (3, "GONE"), (4, "OK-2")] {
        sb.ebay
            .add_seller_hub_listing(listing(110_200_000_000 + k, s, 3));
    }
    // An Inventory API listing, mapped by its item alone.
    sb.ebay.add_listing(listing(110_200_000_005, "REST", 3));
    let ts: Vec<Target> = [
        (1, "OK-1"),
        (2, "FLAKY"),
        (3, "GONE"),
        (4, "OK-2"),
        (5, "REST"),
    ]
    .iter()
    .map(|(k, s)| target(s, &[&format!("item:11020000000{k}")]))
    .collect();
    let seen = c.read(&ts).await;
    assert!(seen.iter().all(Result::is_ok), "GetItem reads both kinds");
    sb.ebay.fail_trading_revisions(110_200_000_002, Some(10007));
    // GONE ends: out-of-stock control off and its last units sold on eBay.
    sb.ebay.set_out_of_stock_control(false);
    sb.ebay
        .place_order(&OrderReq {
            lines: vec![(110_200_000_003, 3)],
            knobs: DeliveryKnobs {
                lose: true,
                ..Default::default()
            },
        })
        .unwrap();
    sb.ebay.set_out_of_stock_control(true);
    let writes: Vec<Write> = ts
        .iter()
        .zip(seen)
        .map(|(t, s)| Write {
            target: t.clone(),
            seen: s.unwrap(),
            qty: 2,
        })
        .collect();
    let out = c.write(&writes).await;
    assert_eq!(out[0], Ok(()));
    assert!(
        matches!(&out[1], Err(PushError::Transient { .. })),
        "a system error is retried: {:?}",
        out[1]
    );
    assert!(
        matches!(&out[2], Err(PushError::Mismatch(m)) if m.contains("ended")),
        "{:?}",
        out[2]
    );
    assert_eq!(out[3], Ok(()), "the entry after two failures still landed");
    // An Inventory API listing mapped by its item alone (onecount's older mappings): eBay
    // refuses the Trading revision, and the client writes it through the Inventory API.
    assert_eq!(out[4], Ok(()), "{:?}", out[4]);
    assert_eq!(sb.ebay.quantity(110_200_000_005), Some(2));
    let gets = |sb: &Sandboxes| {
        sb.ebay
            .trading_requests()
            .iter()
            .filter(|(c, b)| c == "GetItem" && b.contains("110200000005"))
            .count()
    };
    let before = gets(&sb);
    c.read(&ts[4..]).await.remove(0).unwrap();
    assert_eq!(
        gets(&sb),
        before,
        "read through the Inventory API from then on"
    );
    assert_eq!(sb.ebay.quantity(110_200_000_001), Some(2));
    assert_eq!(sb.ebay.quantity(110_200_000_002), Some(3));
    assert_eq!(sb.ebay.quantity(110_200_000_004), Some(2));

    // Two SKUs mapped to one listing: one write, the other named as a mapping to fix.
    let twice = target("OK-1-COPY", &["item:110200000001"]);
    let seen = c.read(&[ts[0].clone(), twice.clone()]).await;
    let writes: Vec<Write> = [ts[0].clone(), twice]
        .into_iter()
        .zip(seen)
        .map(|(t, s)| Write {
            target: t,
            seen: s.unwrap(),
            qty: 1,
        })
        .collect();
    let out = c.write(&writes).await;
    assert_eq!(out[0], Ok(()));
    assert!(
        matches!(&out[1], Err(PushError::Mismatch(m)) if m.contains("mapped to both")),
        "{:?}",
        out[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_out_of_stock_control_zero_is_never_written_and_nothing_ends() {
    let (sb, c) = client().await;
    sb.ebay
        .add_seller_hub_listing(listing(110_300_000_001, "LAST", 3));
    sb.ebay.set_out_of_stock_control(false);
    let t = target("LAST", &["item:110300000001"]);
    let r = set(&c, &t, 0).await;
    assert!(
        matches!(&r, Err(PushError::Mismatch(m)) if m.contains("--out-of-stock-control on") && m.contains("end the listing")),
        "the seller is told both choices: {r:?}"
    );
    assert_eq!(sb.ebay.quantity(110_300_000_001), Some(1), "kept at 1");
    assert!(!sb.ebay.ended(110_300_000_001), "never ended");
    assert!(
        !sb.ebay
            .trading_requests()
            .iter()
            .any(|(c, b)| c == "ReviseInventoryStatus" && b.contains("<Quantity>0</Quantity>")),
        "no zero was sent"
    );
    // The seller's choice: out-of-stock control on (what `connect ebay` does).
    assert!(!c.out_of_stock_control().await.unwrap());
    c.set_out_of_stock_control(true).await.unwrap();
    set(&c, &t, 0).await.unwrap();
    assert_eq!(sb.ebay.quantity(110_300_000_001), Some(0));
    assert!(sb.ebay.hidden(110_300_000_001), "hidden, not ended");
    assert!(!sb.ebay.ended(110_300_000_001));
    set(&c, &t, 4).await.unwrap();
    assert!(!sb.ebay.hidden(110_300_000_001), "a restock brings it back");
    assert_eq!(sb.ebay.quantity(110_300_000_001), Some(4));
}

// ----- end to end ---------------------------------------------------------------

const SINGLE: u64 = 317_100_000_001;
const PARENT: u64 = 317_100_000_100;
const VARIATIONS: [(&str, u64); 2] = [("TEE-S", 317_100_000_101), ("TEE-M", 317_100_000_102)];

/// Map `sku` (catalog entry `i`, on Shopify and Etsy as usual) on eBay to a Seller Hub
/// listing instead: `refs`, and the sandbox holding `key` (under `parent` for a variation).
async fn on_seller_hub(
    h: &LocalHost,
    i: u64,
    sku: &str,
    qty: u32,
    key: u64,
    parent: Option<u64>,
) -> Sku {
    let s = stack::add_sku(h, i, sku, qty, 0, Default::default(), i64::from(qty)).await;
    let sb = h.sandboxes.as_ref().unwrap();
    // Replace the Inventory API listing `add_sku` made.
    sb.ebay.remove_listing(ids(i).item);
    let refs = match parent {
        // The medium's SKU on eBay differs from onecount's: mapped with `sku:`.
        Some(p) if sku == "TEE-M" => {
            sb.ebay
                .add_seller_hub_variation(p, listing(key, "TM-0002", i64::from(qty)));
            vec![
                ChannelRef::new("item", &p.to_string()).unwrap(),
                ChannelRef::new("sku", "TM-0002").unwrap(),
            ]
        }
        Some(p) => {
            sb.ebay
                .add_seller_hub_variation(p, listing(key, sku, i64::from(qty)));
            vec![ChannelRef::new("item", &p.to_string()).unwrap()]
        }
        None => {
            sb.ebay
                .add_seller_hub_listing(listing(key, sku, i64::from(qty)));
            vec![ChannelRef::new("item", &key.to_string()).unwrap()]
        }
    };
    h.store
        .put_listing(&Listing {
            sku: s.clone(),
            channel: Channel::Ebay,
            refs,
            policy: ListingPolicy::default(),
        })
        .await
        .unwrap();
    s
}

async fn on_hand(h: &LocalHost, sku: &Sku) -> u32 {
    h.store.get_stock(sku).await.unwrap().unwrap().on_hand
}

async fn ebay_shows(h: &LocalHost, key: u64, want: i64) -> bool {
    let sb = h.sandboxes.as_ref().unwrap();
    eventually(20, || async { sb.ebay.quantity(key) == Some(want) }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seller_hub_listings_follow_sales_on_shopify_and_etsy_and_report_their_own() {
    let h = stack::start(|_| {}).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let single = on_seller_hub(&h, 41, "MUG-SH", 6, SINGLE, None).await;
    let mut sizes = Vec::new();
    for (k, (sku, key)) in VARIATIONS.iter().enumerate() {
        sizes.push(on_seller_hub(&h, 42 + k as u64, sku, 5, *key, Some(PARENT)).await);
    }
    // A Shopify sale of the single-SKU item, an Etsy sale of the medium.
    sb.shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(ids(41).variant, 2)],
            test: false,
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    sb.etsy
        .place_order(&onecount_sim::etsy::OrderReq {
            lines: vec![(ids(43).listing, 1)],
            skus: vec![],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    assert!(
        ebay_shows(&h, SINGLE, 4).await,
        "the Seller Hub item follows Shopify: {:?}",
        sb.ebay.quantity(SINGLE)
    );
    assert!(
        ebay_shows(&h, VARIATIONS[1].1, 4).await,
        "the medium follows Etsy: {:?}",
        sb.ebay.quantity(VARIATIONS[1].1)
    );
    assert_eq!(
        sb.ebay.quantity(VARIATIONS[0].1),
        Some(5),
        "the small is left alone"
    );
    assert!(
        sb.ebay
            .trading_requests()
            .iter()
            .any(|(c, _)| c == "ReviseInventoryStatus")
    );

    // A variation sold on eBay: the order names the item and the variation's SKU.
    sb.ebay
        .place_order(&OrderReq {
            lines: vec![(VARIATIONS[0].1, 2)],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    assert!(
        eventually(20, || async { on_hand(&h, &sizes[0]).await == 3 }).await,
        "the small's eBay sale reached its own count: {}",
        on_hand(&h, &sizes[0]).await
    );
    assert_eq!(on_hand(&h, &sizes[1]).await, 4, "not the medium's");
    assert!(
        eventually(20, || async {
            sb.shopify.quantity(ids(42).variant) == Some(3)
                && sb.etsy.quantity(ids(42).listing) == Some(3)
        })
        .await,
        "Shopify and Etsy follow the eBay sale of the small"
    );
    assert_eq!(sb.ebay.quantity(VARIATIONS[0].1), Some(3));
    assert_eq!(on_hand(&h, &single).await, 4);
    // The medium sold on eBay under its eBay SKU: found through the `sku:` ref.
    sb.ebay
        .place_order(&OrderReq {
            lines: vec![(VARIATIONS[1].1, 1)],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    assert!(
        eventually(20, || async { on_hand(&h, &sizes[1]).await == 3 }).await,
        "the medium's eBay sale (SKU TM-0002) reached TEE-M: {}",
        on_hand(&h, &sizes[1]).await
    );
    // A variation sale whose notification is lost: reconciliation (getOrders, in the
    // drift check) finds it.
    sb.ebay
        .place_order(&OrderReq {
            lines: vec![(VARIATIONS[0].1, 1)],
            knobs: DeliveryKnobs {
                lose: true,
                ..Default::default()
            },
        })
        .unwrap();
    h.drift.run().await;
    assert!(
        eventually(20, || async { on_hand(&h, &sizes[0]).await == 2 }).await,
        "reconciliation applied the small's unheard eBay sale: {}",
        on_hand(&h, &sizes[0]).await
    );
    assert_eq!(on_hand(&h, &sizes[1]).await, 3, "and only the small's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_hub_sell_out_hides_the_listing_and_a_restock_brings_it_back() {
    let h = stack::start(|_| {}).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let sku = on_seller_hub(&h, 51, "PRINT-SH", 2, SINGLE + 50, None).await;
    sb.shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(ids(51).variant, 2)],
            test: false,
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    assert!(ebay_shows(&h, SINGLE + 50, 0).await);
    assert!(
        sb.ebay.hidden(SINGLE + 50),
        "hidden by out-of-stock control"
    );
    assert!(!sb.ebay.ended(SINGLE + 50));
    h.store.adjust(&sku, 3, "test", "restock").await.unwrap();
    stack::request_push(&h, &sku, Channel::Ebay, "restock").await;
    assert!(
        ebay_shows(&h, SINGLE + 50, 3).await,
        "restored: {:?}",
        sb.ebay.quantity(SINGLE + 50)
    );
    assert!(!sb.ebay.hidden(SINGLE + 50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_out_of_stock_control_a_sell_out_ends_nothing_and_the_seller_is_asked() {
    let h = stack::start(|_| {}).await;
    let sb = h.sandboxes.as_ref().unwrap();
    sb.ebay.set_out_of_stock_control(false);
    let key = SINGLE + 60;
    let sku = on_seller_hub(&h, 61, "LAMP-SH", 3, key, None).await;
    sb.shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(ids(61).variant, 3)],
            test: false,
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    assert!(
        ebay_shows(&h, key, 1).await,
        "kept at 1: {:?}",
        sb.ebay.quantity(key)
    );
    assert!(
        !sb.ebay.ended(key),
        "never ended without the seller's choice"
    );
    let asked = || async {
        published_alerts(&h.resources.topic_arn)
            .await
            .iter()
            .any(|a| a.body.contains("--out-of-stock-control on") && a.body.contains("LAMP-SH"))
    };
    assert!(eventually(20, asked).await, "the seller is asked to choose");
    let tl = h.store.timeline(&sku, 50).await.unwrap();
    assert!(
        tl.iter().any(|e| matches!(
            &e.event,
            Event::PushFailed {
                channel: Channel::Ebay,
                mismatch: true,
                ..
            }
        )),
        "on the SKU's timeline"
    );
    // Asked once: the listing is marked broken, so neither the drift check nor the next
    // pushes keep writing 1 and alerting.
    let revisions = || {
        sb.ebay
            .trading_requests()
            .iter()
            .filter(|(c, _)| c == "ReviseInventoryStatus")
            .count()
    };
    let before = revisions();
    h.drift.run().await;
    h.drift.run().await;
    stack::request_push(&h, &sku, Channel::Ebay, "another push").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(revisions(), before, "no write loop");
    let asked_times = published_alerts(&h.resources.topic_arn)
        .await
        .iter()
        .filter(|a| a.body.contains("--out-of-stock-control on") && a.body.contains("LAMP-SH"))
        .count();
    assert_eq!(asked_times, 1, "asked once");
    // The seller turns it on (what `connect ebay --out-of-stock-control on` does, and it
    // clears the channel's broken marks); the next push lists 0: hidden, alive.
    let cfg: EbayConfig = h.channels.section(Channel::Ebay).unwrap();
    EbayClient::new(cfg)
        .set_out_of_stock_control(true)
        .await
        .unwrap();
    h.store
        .set_listing_flag(&sku, Channel::Ebay, ListingFlag::Mismatch, None)
        .await
        .unwrap();
    stack::request_push(&h, &sku, Channel::Ebay, "out-of-stock control on").await;
    assert!(ebay_shows(&h, key, 0).await);
    assert!(sb.ebay.hidden(key) && !sb.ebay.ended(key));
}

// ----- against eBay's own answers -------------------------------------------------

pub(crate) fn sample(name: &str) -> String {
    let p = contracts::dir().join("ebay/trading").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A raw Trading call to the sandbox, as eBay's own documents make it.
pub(crate) async fn raw_call(sb: &Sandboxes, call: &str, body: &str) -> String {
    let token = sb.ebay.tokens.issue().access;
    reqwest::Client::new()
        .post(format!("{}/ws/api.dll", sb.ebay_url))
        .header("X-EBAY-API-CALL-NAME", call)
        .header("X-EBAY-API-SITEID", "0")
        .header("X-EBAY-API-COMPATIBILITY-LEVEL", "1451")
        .header("X-EBAY-API-IAF-TOKEN", token)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) fn fits(what: &str, ours: &str, official: &str) {
    let off = contracts::off_example(&contracts::xml_json(ours), &contracts::xml_json(official));
    assert!(off.is_empty(), "{what}: {off:#?}\n{ours}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trading_answers_and_requests_fit_ebays_own() {
    use onecount::channels::ebay::trading::{self, Entry, GetItemResponse, ReviseResponse};
    // The client reads eBay's real answers.
    let (got, ack, _) =
        trading::parse::<GetItemResponse>("GetItem", &sample("GetItem.variations.xml")).unwrap();
    assert_eq!(ack, "Success");
    let item = got.item.unwrap();
    let black = trading::seen(
        &item,
        &target("JEANS-B", &["item:110142400319", "sku:testSku501_B"]),
    );
    assert_eq!(black.unwrap().qty, 299, "300 listed, 1 sold");
    let white = trading::seen(&item, &target("testSku501_W", &["item:110142400319"]));
    assert_eq!(white.unwrap().qty, 298, "found by our SKU");
    assert!(matches!(
        trading::seen(&item, &target("JEANS-RED", &["item:110142400319"])),
        Err(PushError::Mismatch(_))
    ));
    let ok = sample("ReviseInventoryStatus.success.xml");
    let (r, _, errors) = trading::parse::<ReviseResponse>("Revise", &ok).unwrap();
    let e = |item: &str, sku: Option<&str>| Entry {
        item: item.into(),
        sku: sku.map(str::to_string),
    };
    assert_eq!(
        trading::revised(&e("110136942332", None), &r, &errors, 1),
        Ok(())
    );
    let bad = sample("ReviseInventoryStatus.failure.xml");
    let (r, ack, errors) = trading::parse::<ReviseResponse>("Revise", &bad).unwrap();
    assert_eq!(ack, "Failure");
    let out = trading::revised(&e("110136942399", Some("TTV559HP-004")), &r, &errors, 2);
    assert!(
        matches!(&out, Err(PushError::Mismatch(m)) if m.contains("21916286")),
        "the error naming the entry's SKU is its own: {out:?}"
    );

    // The sandbox answers with no element eBay's answers lack.
    let (sb, c) = client().await;
    for (k, sku) in [(1u64, "testSku501_B"), (2, "testSku501_W")] {
        sb.ebay
            .add_seller_hub_variation(110_142_400_319, listing(110_142_400_300 + k, sku, 300));
    }
    sb.ebay
        .add_seller_hub_listing(listing(110_999_999_999, "SOLO", 9));
    sb.ebay.add_listing(listing(110_999_999_998, "REST", 9));
    let answer = raw_call(&sb, "GetItem", &sample("GetItem.request.xml")).await;
    fits("GetItem", &answer, &sample("GetItem.variations.xml"));
    let answer = raw_call(
        &sb,
        "ReviseInventoryStatus",
        &sample("ReviseInventoryStatus.request.xml"),
    )
    .await;
    assert!(answer.contains("<Ack>Success</Ack>"), "{answer}");
    fits("ReviseInventoryStatus", &answer, &ok);
    // Its second entry alone, pointed at an Inventory API listing: an all-failure answer.
    let req = sample("ReviseInventoryStatus.request.xml");
    let (first, end) = (
        req.find("<InventoryStatus>").unwrap(),
        req.find("</InventoryStatus>").unwrap() + "</InventoryStatus>".len(),
    );
    let to_rest =
        format!("{}{}", &req[..first], &req[end..]).replace("110999999999", "110999999998");
    let answer = raw_call(&sb, "ReviseInventoryStatus", &to_rest).await;
    assert!(
        answer.contains("<ErrorCode>21919474</ErrorCode>"),
        "{answer}"
    );
    fits("ReviseInventoryStatus errors", &answer, &bad);

    // onecount's requests carry no element the call reference lacks.
    let t = target("testSku501_B", &["item:110142400319"]);
    let seen = c.read(std::slice::from_ref(&t)).await.remove(0).unwrap();
    c.write(&[Write {
        target: t,
        seen,
        qty: 12,
    }])
    .await
    .remove(0)
    .unwrap();
    for (call, body) in sb.ebay.trading_requests() {
        if let Some(official) = match call.as_str() {
            "GetItem" => Some(sample("GetItem.request.xml")),
            "ReviseInventoryStatus" => Some(sample("ReviseInventoryStatus.request.xml")),
            _ => None,
        } {
            fits(&format!("our {call}"), &body, &official);
        }
    }
}
