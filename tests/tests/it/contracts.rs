//! Contract checks: every call onecount makes to a channel, and every answer its sandbox
//! gives, against the piece of the channel's official API definition it relies on
//! (`contracts/<channel>/*.schema.json`, each naming its source and version). Answers
//! built from the definitions' examples, replayed by a server with no logic of its own,
//! must read as the sandbox's do. No AWS here.

use onecount::Channel;
use onecount::channels::etsy::{EtsyClient, EtsyConfig};
use onecount::channels::push::{ChannelApi, PushError, Seen, Target, Write};
use onecount::{ChannelRef, Sku};
use onecount_sim::etsy::SimListing;
use onecount_sim::{Sandboxes, SimConfig};
use onecount_tests::contracts::{self, Contract};

fn target(sku: &str, listing: impl ToString) -> Target {
    Target {
        sku: Sku::parse(sku).unwrap(),
        refs: vec![ChannelRef::new("listing", &listing.to_string()).unwrap()],
    }
}

async fn etsy_sandbox() -> (Sandboxes, EtsyConfig) {
    let sim = SimConfig::random("http://127.0.0.1:9");
    let sb = Sandboxes::start(sim.clone()).await;
    let cfg = sb
        .channels_config(&sim, "http://127.0.0.1:9")
        .section::<EtsyConfig>(Channel::Etsy)
        .unwrap();
    (sb, cfg)
}

fn mug(listing_id: u64, sku: &str, qty: i64) -> SimListing {
    SimListing {
        listing_id,
        sku: sku.into(),
        qty,
    }
}

async fn write(c: &EtsyClient, t: &Target, qty: u32) -> Result<(), PushError> {
    let seen: Seen = c.read(std::slice::from_ref(t)).await.remove(0)?;
    let w = Write {
        target: t.clone(),
        seen,
        qty,
    };
    c.write(std::slice::from_ref(&w)).await.remove(0)
}

/// The sandbox answers in the definition's shapes, and what the client sends (inventory
/// PUTs, listing PATCHes) is what the definition asks for.
#[tokio::test]
async fn etsy_sandbox_answers_and_client_requests_fit_the_definition() {
    let mut c = Contract::load("etsy/listings.schema.json");
    let (sb, cfg) = etsy_sandbox().await;
    sb.etsy.add_listing(mug(501, "MUG-A", 5));
    sb.etsy.add_listing(mug(502, "MUG-B", 2));
    let http = reqwest::Client::new();
    let get = |path: String| {
        let req = http
            .get(format!("{}{path}", sb.etsy_url))
            .header(
                "x-api-key",
                format!("{}:{}", cfg.keystring, cfg.shared_secret.expose()),
            )
            .bearer_auth(cfg.access_token.expose());
        async move {
            req.send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let batch = get("/v3/application/listings/batch/inventory?listing_ids=501,502".into()).await;
    c.check("getListingsInventoryByListingIds.200", &batch);
    let single = get("/v3/application/listings/501/inventory?includes=Listing".into()).await;
    c.check("getListingInventory.200", &single);
    let gone = get("/v3/application/listings/batch/inventory?listing_ids=501,999".into()).await;
    c.check("ErrorSchema", &gone);

    let client = EtsyClient::new(cfg);
    let (a, b) = (target("MUG-A", 501), target("MUG-B", 502));
    write(&client, &a, 3).await.unwrap();
    let first = &sb.etsy.requests()[0].1;
    assert!(
        first["products"][0]["offerings"][0]["readiness_state_id"].is_u64(),
        "an active physical listing's processing profile, from a single-listing read: {first}"
    );
    write(&client, &b, 0).await.unwrap(); // its only SKU: off sale
    write(&client, &b, 4).await.unwrap(); // back: inventory, then active
    let sent = sb.etsy.requests();
    let ops: Vec<&str> = sent.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(
        ops,
        [
            "updateListingInventory",
            "updateListing",
            "updateListingInventory",
            "updateListing"
        ]
    );
    for (op, body) in &sent {
        match op.as_str() {
            "updateListingInventory" => {
                c.check("updateListingInventory.request", body);
                let o = &body["products"][0]["offerings"][0];
                assert!(
                    o.get("readiness_state_id").is_some(),
                    "required on every offering: {o}"
                );
            }
            _ => c.check("updateListing.form", body),
        }
    }
    assert_eq!(
        (sb.etsy.quantity(501), sb.etsy.quantity(502)),
        (Some(3), Some(4))
    );
}

/// The shape the client used to expect (products and `listing.state` at the top of each
/// result) breaks the definition, so a sandbox answering that way fails here.
#[tokio::test]
async fn the_old_batch_shape_breaks_the_definition() {
    let mut c = Contract::load("etsy/listings.schema.json");
    let old = serde_json::json!({"count": 1, "results": [{
        "listing_id": 501, "products": [], "listing": {"listing_id": 501, "state": "active"},
        "price_on_property": [], "quantity_on_property": [], "sku_on_property": []
    }]});
    assert!(
        !c.problems("getListingsInventoryByListingIds.200", &old)
            .is_empty()
    );
    // Nor may a PUT leave out an offering's processing profile.
    let put = serde_json::json!({"products": [{"sku": "MUG-A", "property_values": [],
        "offerings": [{"price": 24.0, "quantity": 1, "is_enabled": true}]}]});
    assert!(
        !c.problems("updateListingInventory.request", &put)
            .is_empty()
    );
}

/// Answers built from the definition's examples, replayed by a server the tests did not
/// write: each SKU of a two-SKU listing reads its own quantity, a sold-out listing 0.
#[tokio::test]
async fn etsy_answers_from_the_definition_read_as_expected() {
    let mut c = Contract::load("etsy/listings.schema.json");
    let fixture = contracts::load("etsy/fixtures/getListingsInventoryByListingIds.json");
    c.check("getListingsInventoryByListingIds.200", &fixture);
    let base = contracts::replay(vec![("/v3/application/listings/batch/inventory", fixture)]).await;
    let (_sb, mut cfg) = etsy_sandbox().await;
    cfg.api_base = base;
    let client = EtsyClient::new(cfg);
    let targets = [
        target("SKU-12345", 123456789),
        target("SKU-12346", 123456789),
        target("SKU-22222", 123456790),
        target("SKU-99999", 123456789),
    ];
    let read = client.read(&targets).await;
    let qty: Vec<Option<i64>> = read
        .iter()
        .map(|r| r.as_ref().ok().map(|s| s.qty))
        .collect();
    assert_eq!(qty, [Some(7), Some(3), Some(0), None]);
    assert!(matches!(&read[3], Err(PushError::Mismatch(m)) if m.contains("not on the listing")));
}

/// One gone listing makes Etsy answer 404 for the whole batch: the others still read,
/// and only the gone one is reported.
#[tokio::test]
async fn one_gone_listing_does_not_hide_the_others() {
    let (sb, cfg) = etsy_sandbox().await;
    for i in 0..6 {
        sb.etsy.add_listing(mug(600 + i, &format!("MUG-{i}"), 5));
    }
    let client = EtsyClient::new(cfg);
    let mut targets: Vec<Target> = (0..6)
        .map(|i| target(&format!("MUG-{i}"), 600 + i))
        .collect();
    targets.insert(2, target("MUG-GONE", 699));
    let read = client.read(&targets).await;
    for (t, r) in targets.iter().zip(&read) {
        if t.sku.as_str() == "MUG-GONE" {
            assert!(
                matches!(r, Err(PushError::Mismatch(m)) if m.contains("not found")),
                "{r:?}"
            );
        } else {
            assert_eq!(r.as_ref().map(|s| s.qty).ok(), Some(5), "{}", t.sku);
        }
    }
}

/// A listing Etsy marked sold out comes back only by renewal (a fee): done when the
/// configuration allows it (the default), refused with a reason when not; an expired
/// listing is the seller's to renew.
#[tokio::test]
async fn sold_out_listings_are_renewed_only_when_allowed_and_expired_ones_never() {
    let (sb, cfg) = etsy_sandbox().await;
    sb.etsy.add_listing(mug(701, "MUG-SOLD", 1));
    sb.etsy.add_listing(mug(702, "MUG-KEPT", 1));
    sb.etsy.add_listing(mug(703, "MUG-OLD", 4));
    for l in [701, 702] {
        sb.etsy
            .place_order(&onecount_sim::etsy::OrderReq {
                lines: vec![(l, 1)],
                skus: vec![],
                knobs: onecount_sim::DeliveryKnobs {
                    lose: true,
                    ..Default::default()
                },
            })
            .unwrap();
        assert_eq!(sb.etsy.state(l), "sold_out");
    }
    sb.etsy.set_listing_state(703, "expired");
    let renewing = EtsyClient::new(cfg.clone());
    let sold = target("MUG-SOLD", 701);
    assert_eq!(
        renewing.read(std::slice::from_ref(&sold)).await[0]
            .as_ref()
            .unwrap()
            .qty,
        0
    );
    write(&renewing, &sold, 5).await.unwrap();
    assert_eq!(
        (sb.etsy.state(701), sb.etsy.quantity(701)),
        ("active".into(), Some(5))
    );
    assert_eq!(sb.etsy.renewals(), 1);

    let careful = EtsyClient::new(EtsyConfig {
        renew_sold_out: false,
        ..cfg
    });
    let r = write(&careful, &target("MUG-KEPT", 702), 5).await;
    assert!(
        matches!(&r, Err(PushError::Permanent(m)) if m.contains("listing fee")),
        "{r:?}"
    );
    let r = write(&careful, &target("MUG-OLD", 703), 2).await;
    assert!(
        matches!(&r, Err(PushError::Mismatch(m)) if m.contains("expired")),
        "{r:?}"
    );
    assert_eq!(sb.etsy.renewals(), 1, "nothing else renewed");
    assert_eq!(
        (sb.etsy.state(702), sb.etsy.state(703)),
        ("sold_out".into(), "expired".into())
    );
}

/// Shopify pages `orders.json` (`limit` at most 250, a `Link: rel="next"` cursor):
/// reconciliation after a flash sale or an outage reads every page, not the first 250.
#[tokio::test]
async fn shopify_reconciliation_reads_every_page_of_orders() {
    use onecount::channels::push::OrderSource;
    use onecount::channels::shopify::{ShopifyClient, ShopifyConfig};
    let sim = SimConfig::random("http://127.0.0.1:9");
    let sb = Sandboxes::start(sim.clone()).await;
    let cfg = sb
        .channels_config(&sim, "http://127.0.0.1:9")
        .section::<ShopifyConfig>(Channel::Shopify)
        .unwrap();
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: 801,
        sku: "MUG-FLASH".into(),
        qty: 10_000,
        inventory_item_id: 0,
    });
    for _ in 0..260 {
        sb.shopify
            .place_order(&onecount_sim::shopify::OrderReq {
                lines: vec![(801, 1)],
                test: false,
                knobs: onecount_sim::DeliveryKnobs {
                    lose: true,
                    ..Default::default()
                },
            })
            .unwrap();
    }
    let client = ShopifyClient::new(cfg);
    let found = client.orders_since(0).await.unwrap();
    assert_eq!(found.len(), 260, "every page");
    assert!(
        found.windows(2).all(|w| w[0].updated_at <= w[1].updated_at),
        "oldest change first"
    );
    assert_eq!(client.calls(), 2, "250 a page");
}

/// eBay `getOffers`: the SKU is a query value (encoded), and only published offers take
/// a quantity; an unpublished one beside it must not fail the SKU.
#[tokio::test]
async fn ebay_skus_are_encoded_and_unpublished_offers_left_alone() {
    use onecount::channels::ebay::{EbayClient, EbayConfig};
    let sim = SimConfig::random("http://127.0.0.1:9");
    let sb = Sandboxes::start(sim.clone()).await;
    let cfg = sb
        .channels_config(&sim, "http://127.0.0.1:9")
        .section::<EbayConfig>(Channel::Ebay)
        .unwrap();
    for (item, sku) in [(901, "TEE&CO-1"), (902, "TEE+2"), (903, "TEE#3")] {
        sb.ebay.add_listing(onecount_sim::ebay::SimListing {
            item_id: item,
            sku: sku.into(),
            qty: 5,
        });
    }
    sb.ebay.add_unpublished_offer(901);
    let client = EbayClient::new(cfg);
    let targets: Vec<Target> = ["TEE&CO-1", "TEE+2", "TEE#3"]
        .iter()
        .map(|s| Target {
            sku: Sku::parse(*s).unwrap(),
            refs: vec![],
        })
        .collect();
    let seen = client.read(&targets).await;
    let writes: Vec<Write> = targets
        .iter()
        .zip(seen)
        .map(|(t, s)| Write {
            target: t.clone(),
            seen: s.unwrap(),
            qty: 3,
        })
        .collect();
    for r in client.write(&writes).await {
        r.unwrap();
    }
    for item in [901, 902, 903] {
        assert_eq!(sb.ebay.quantity(item), Some(3), "item {item}");
    }
}
