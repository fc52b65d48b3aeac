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

/// Fresh sandboxes, their settings, and channel `ch`'s section of their configuration.
pub(crate) async fn sandbox<C: serde::de::DeserializeOwned>(
    ch: Channel,
) -> (Sandboxes, SimConfig, C) {
    let sim = SimConfig::random("http://127.0.0.1:9");
    let sb = Sandboxes::start(sim.clone()).await;
    let cfg = sb
        .channels_config(&sim, "http://127.0.0.1:9")
        .section::<C>(ch)
        .unwrap();
    (sb, sim, cfg)
}

async fn etsy_sandbox() -> (Sandboxes, EtsyConfig) {
    let (sb, _, cfg) = sandbox::<EtsyConfig>(Channel::Etsy).await;
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
    let (sb, _, cfg) = sandbox::<ShopifyConfig>(Channel::Shopify).await;
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

/// Without `read_all_orders`, `orders.json` lists only orders created in the last 60 days:
/// a change to an older order (a cancel) is not found by reconciliation; its webhook is
/// the only word of it (docs/channels.md).
#[tokio::test]
async fn shopify_lists_only_orders_created_in_the_last_60_days() {
    use onecount::channels::push::OrderSource;
    use onecount::channels::shopify::{ShopifyClient, ShopifyConfig};
    let (sb, _, cfg) = sandbox::<ShopifyConfig>(Channel::Shopify).await;
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: 802,
        sku: "MUG-OLD".into(),
        qty: 10,
        inventory_item_id: 0,
    });
    let lost = onecount_sim::DeliveryKnobs {
        lose: true,
        ..Default::default()
    };
    let mut ids = Vec::new();
    for _ in 0..2 {
        let p = sb
            .shopify
            .place_order(&onecount_sim::shopify::OrderReq {
                lines: vec![(802, 1)],
                test: false,
                knobs: lost.clone(),
            })
            .unwrap();
        ids.push(p.order_id.parse::<u64>().unwrap());
    }
    sb.shopify.backdate(ids[0], 61);
    sb.shopify.cancel(ids[0], &lost).unwrap();
    let found = ShopifyClient::new(cfg).orders_since(0).await.unwrap();
    let seen: Vec<String> = found
        .iter()
        .filter_map(|f| {
            f.actions
                .first()?
                .line_keys()
                .first()
                .map(|(o, _)| o.to_string())
        })
        .collect();
    assert_eq!(
        seen,
        vec![ids[1].to_string()],
        "the 61-day-old order is not listed"
    );
}

/// eBay `getOffers`: the SKU is a query value (encoded), and only published offers take
/// a quantity; an unpublished one beside it must not fail the SKU.
#[tokio::test]
async fn ebay_skus_are_encoded_and_unpublished_offers_left_alone() {
    use onecount::channels::ebay::{EbayClient, EbayConfig};
    let (sb, _, cfg) = sandbox::<EbayConfig>(Channel::Ebay).await;
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

/// A seller without out-of-stock control: eBay ends a listing that reaches 0, and every
/// later revision fails. onecount still writes the 0 (selling what is not there is
/// worse), then names the ended listing and what to do, instead of a generic failure.
#[tokio::test]
async fn an_ebay_listing_ended_at_zero_is_named_with_what_to_do() {
    use onecount::channels::ebay::{EbayClient, EbayConfig};
    let (sb, sim, cfg) = sandbox::<EbayConfig>(Channel::Ebay).await;
    sb.ebay.set_out_of_stock_control(false);
    sb.ebay.add_listing(onecount_sim::ebay::SimListing {
        item_id: 911,
        sku: "LAMP-END".into(),
        qty: 2,
    });
    let client = EbayClient::new(cfg);
    let t = Target {
        sku: Sku::parse("LAMP-END").unwrap(),
        refs: vec![],
    };
    let write = |qty: u32, seen| Write {
        target: t.clone(),
        seen,
        qty,
    };
    let seen = client
        .read(std::slice::from_ref(&t))
        .await
        .remove(0)
        .unwrap();
    client
        .write(&[write(0, seen.clone())])
        .await
        .remove(0)
        .unwrap();
    assert!(sb.ebay.ended(911), "eBay ended it at 0");
    let again = client.write(&[write(4, seen)]).await.remove(0);
    assert!(
        matches!(&again, Err(PushError::Mismatch(m)) if m.contains("ended") && m.contains("out-of-stock control")),
        "{again:?}"
    );
    // A fresh reader finds the offer's listing ENDED through getOffers, before any write.
    let fresh_cfg = sb
        .channels_config(&sim, "http://127.0.0.1:9")
        .section::<EbayConfig>(Channel::Ebay)
        .unwrap();
    let read = EbayClient::new(fresh_cfg).read(&[t]).await.remove(0);
    assert!(
        matches!(&read, Err(PushError::Mismatch(m)) if m.contains("ended")),
        "{read:?}"
    );
}

/// A variant stocked at two locations: the storefront sells both. onecount reads what is
/// sold (every location) and writes its own location so the total is what it lists; when
/// the other location alone has more, it says so.
#[tokio::test]
async fn shopify_counts_every_location_the_storefront_sells_from() {
    use onecount::channels::shopify::{ShopifyClient, ShopifyConfig};
    let (sb, _, cfg) = sandbox::<ShopifyConfig>(Channel::Shopify).await;
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: 803,
        sku: "MUG-2LOC".into(),
        qty: 5,
        inventory_item_id: 0,
    });
    sb.shopify.stock_elsewhere(803, 3);
    let client = ShopifyClient::new(cfg);
    let t = Target {
        sku: Sku::parse("MUG-2LOC").unwrap(),
        refs: vec!["variant:803".parse().unwrap()],
    };
    let seen = client
        .read(std::slice::from_ref(&t))
        .await
        .remove(0)
        .unwrap();
    assert_eq!(seen.qty, 8, "both locations sell");
    let w = |qty: u32, seen: Seen| Write {
        target: t.clone(),
        seen,
        qty,
    };
    client.write(&[w(6, seen)]).await.remove(0).unwrap();
    assert_eq!(
        sb.shopify.shown(803),
        Some(6),
        "the storefront shows what onecount lists"
    );
    assert_eq!(sb.shopify.quantity(803), Some(3));
    let seen = client
        .read(std::slice::from_ref(&t))
        .await
        .remove(0)
        .unwrap();
    let short = client.write(&[w(2, seen)]).await.remove(0);
    assert!(
        matches!(&short, Err(PushError::Mismatch(m)) if m.contains("other Shopify locations")),
        "{short:?}"
    );
    assert_eq!(
        sb.shopify.shown(803),
        Some(3),
        "as low as onecount's location can go"
    );
}

/// eBay: the sandbox's answers and the client's bulk requests against the Sell Inventory
/// and Fulfillment definitions, and eBay's documented examples read as expected.
#[tokio::test]
async fn ebay_sandbox_answers_and_client_requests_fit_the_definition() {
    use base64::Engine;
    use onecount::channels::ebay::{EbayClient, EbayConfig, order_action};
    let mut inv = Contract::load("ebay/inventory.schema.json");
    let mut ful = Contract::load("ebay/fulfillment.schema.json");
    let (sb, _, cfg) = sandbox::<EbayConfig>(Channel::Ebay).await;
    for (item, sku, qty) in [(921, "MUG-BLUE", 7), (922, "MUG-RED", 1)] {
        sb.ebay.add_listing(onecount_sim::ebay::SimListing {
            item_id: item,
            sku: sku.into(),
            qty,
        });
    }
    sb.ebay.add_unpublished_offer(921);
    sb.ebay.set_out_of_stock_control(false);
    let placed = sb
        .ebay
        .place_order(&onecount_sim::ebay::OrderReq {
            lines: vec![(922, 1)],
            knobs: onecount_sim::DeliveryKnobs {
                lose: true,
                ..Default::default()
            },
        })
        .unwrap();
    // The client's own calls, recorded by the sandbox.
    let client = EbayClient::new(cfg.clone());
    let targets: Vec<Target> = ["MUG-BLUE", "MUG-RED", "MUG-GONE"]
        .iter()
        .map(|s| Target {
            sku: Sku::parse(*s).unwrap(),
            refs: vec![],
        })
        .collect();
    let seen = client.read(&targets).await;
    let writes: Vec<Write> = targets[..1]
        .iter()
        .zip(seen)
        .map(|(t, s)| Write {
            target: t.clone(),
            seen: s.unwrap(),
            qty: 5,
        })
        .collect();
    client.write(&writes).await.remove(0).unwrap();
    let sent = sb.ebay.requests();
    assert_eq!(sent.len(), 2, "{sent:?}");
    for (op, body) in &sent {
        inv.check(&format!("{op}.request"), body);
    }
    // The sandbox's answers, asked directly.
    let http = reqwest::Client::new();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        cfg.client_id,
        cfg.client_secret.expose()
    ));
    let token: serde_json::Value = http
        .post(format!("{}/identity/v1/oauth2/token", sb.ebay_url))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_string();
    let call = |m: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut r = http
            .request(m, format!("{}{path}", sb.ebay_url))
            .bearer_auth(&bearer);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            r.send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    use reqwest::Method;
    let offers = call(Method::GET, "/sell/inventory/v1/offer?sku=MUG-BLUE", None).await;
    inv.check("getOffers.200", &offers);
    assert_eq!(
        offers["offers"].as_array().unwrap().len(),
        2,
        "published and unpublished"
    );
    let ended = call(Method::GET, "/sell/inventory/v1/offer?sku=MUG-RED", None).await;
    inv.check("getOffers.200", &ended);
    assert_eq!(ended["offers"][0]["listing"]["listingStatus"], "ENDED");
    let items = serde_json::json!({"requests": [{"sku": "MUG-BLUE"}, {"sku": "MUG-GONE"}]});
    let got = call(
        Method::POST,
        "/sell/inventory/v1/bulk_get_inventory_item",
        Some(items),
    )
    .await;
    inv.check("bulkGetInventoryItem.200", &got);
    let upd = serde_json::json!({"requests": [
        {"sku": "MUG-BLUE", "shipToLocationAvailability": {"quantity": 4}, "offers": [{"offerId": onecount_sim::ebay::offer_id(921), "availableQuantity": 4}]},
        {"sku": "MUG-RED", "shipToLocationAvailability": {"quantity": 2}, "offers": [{"offerId": onecount_sim::ebay::offer_id(922), "availableQuantity": 2}]}]});
    let put = call(
        Method::POST,
        "/sell/inventory/v1/bulk_update_price_quantity",
        Some(upd),
    )
    .await;
    inv.check("bulkUpdatePriceQuantity.200", &put);
    let too_many: Vec<serde_json::Value> = (0..26)
        .map(|i| serde_json::json!({"sku": format!("S{i}")}))
        .collect();
    let refused = call(
        Method::POST,
        "/sell/inventory/v1/bulk_get_inventory_item",
        Some(serde_json::json!({"requests": too_many})),
    )
    .await;
    inv.check("ErrorResponse", &refused);
    let order = call(
        Method::GET,
        &format!("/sell/fulfillment/v1/order/{}", placed.order_id),
        None,
    )
    .await;
    ful.check("getOrder.200", &order);
    let from = onecount::channels::ebay::order_filter_time(0, onecount::clock::now_ms());
    let page = call(
        Method::GET,
        &format!("/sell/fulfillment/v1/order?filter=lastmodifieddate:%5B{from}..%5D&limit=200"),
        None,
    )
    .await;
    ful.check("getOrders.200", &page);
    let missing = call(
        Method::GET,
        "/sell/fulfillment/v1/order/00-00000-00000",
        None,
    )
    .await;
    ful.check("ErrorResponse", &missing);

    // eBay's documented examples (contracts/ebay/fixtures) read as they should.
    let order = contracts::load("ebay/fixtures/getOrder.json");
    ful.check("getOrder.200", &order);
    let a = order_action(&order).unwrap();
    let keys = a.line_keys();
    assert_eq!(keys.len(), 2, "{a:?}");
    let put = contracts::load("ebay/fixtures/bulkUpdatePriceQuantity.json");
    inv.check("bulkUpdatePriceQuantity.200", &put);
    let base = contracts::replay(vec![
        (
            "/identity/v1/oauth2/token",
            serde_json::json!({"access_token": "v^1.1#i^1#r^1", "expires_in": 7200, "token_type": "User Access Token"}),
        ),
        ("/sell/inventory/v1/bulk_update_price_quantity", put),
    ])
    .await;
    let replayed = EbayClient::new(EbayConfig {
        api_base: base,
        ..cfg
    });
    let w = |sku: &str, offer: &str, qty| Write {
        target: Target {
            sku: Sku::parse(sku).unwrap(),
            refs: vec![format!("offer:{offer}").parse().unwrap()],
        },
        seen: Seen {
            qty: 9,
            state: serde_json::json!({"sku": sku, "offers": [offer]}),
        },
        qty,
    };
    let out = replayed
        .write(&[
            w("MUG-BLUE", "5005317010", 7),
            w("MUG-RED", "5005317011", 0),
        ])
        .await;
    assert!(out.iter().all(Result::is_ok), "{out:?}");
}

/// Shopify's documented webhook examples (API 2026-04, `contracts/shopify/webhooks`) fit
/// their schemas and parse into the actions their topics mean; every body the sandbox
/// delivers keeps to the fields and types of the official example of its topic.
#[tokio::test]
async fn shopify_webhooks_official_examples_parse_and_the_sandbox_keeps_their_shape() {
    use onecount::channels::shopify::parse;
    use onecount::channels::{Action, Parsed};
    let mut c = Contract::load("shopify/webhooks.schema.json");
    let example = |topic: &str| {
        contracts::load(&format!(
            "shopify/webhooks/{}.json",
            topic.replace('/', "_")
        ))
    };
    let event = |topic: &str| {
        let body = serde_json::to_vec(&example(topic)).unwrap();
        match parse(topic, &body, true) {
            Parsed::Event(a) => a,
            other => panic!("{topic}: {other:?}"),
        }
    };
    for topic in [
        "orders/create",
        "orders/cancelled",
        "orders/edited",
        "orders/updated",
        "refunds/create",
    ] {
        c.check(&topic.replace('/', "_"), &example(topic));
    }
    match event("orders/create") {
        Action::Sale {
            lines, placed_at, ..
        } => {
            assert!(!lines.is_empty() && placed_at.is_some());
            // variant_id is null in the 2026-04 example: the SKU still maps the line.
            assert!(lines.iter().all(|l| !l.candidates.is_empty()), "{lines:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(event("orders/cancelled"), Action::Cancel { .. }));
    match event("orders/edited") {
        Action::Edit {
            additions,
            removals,
            ..
        } => {
            assert_eq!((additions.len(), removals.len()), (1, 1));
        }
        other => panic!("{other:?}"),
    }
    match event("refunds/create") {
        // The example's only line is `no_restock`: nothing goes back.
        Action::Restock { lines, .. } => assert!(lines.is_empty(), "{lines:?}"),
        other => panic!("{other:?}"),
    }
    let unsigned_test = serde_json::to_vec(&example("orders/create")).unwrap();
    assert!(
        matches!(
            parse("orders/create", &unsigned_test, false),
            Parsed::Ignored(_)
        ),
        "the example is a test order: ignored unless asked for"
    );

    // What the sandbox delivers, topic by topic, against the official examples.
    let (base, got) = contracts::recorder().await;
    let sim = SimConfig::random(&base);
    let sb = Sandboxes::start(sim.clone()).await;
    for v in [804, 805] {
        sb.shopify.add_listing(onecount_sim::shopify::SimListing {
            variant_id: v,
            sku: format!("MUG-{v}"),
            qty: 10,
            inventory_item_id: 0,
        });
    }
    let once = onecount_sim::DeliveryKnobs::default();
    let placed = sb
        .shopify
        .place_order(&onecount_sim::shopify::OrderReq {
            lines: vec![(804, 2)],
            test: false,
            knobs: once.clone(),
        })
        .unwrap();
    let order: u64 = placed.order_id.parse().unwrap();
    sb.shopify.edit_add_variant(order, 805, 1, &once).unwrap();
    sb.shopify
        .refund(order, placed.line_ids[0].parse().unwrap(), 1, &once)
        .unwrap();
    sb.shopify.cancel(order, &once).unwrap();
    assert!(
        onecount_tests::eventually(10, || async { got.lock().unwrap().len() >= 4 }).await,
        "four deliveries"
    );
    let got = got.lock().unwrap().clone();
    let mut topics: Vec<&str> = got.iter().map(|(_, t, _)| t.as_str()).collect();
    topics.sort();
    assert_eq!(
        topics,
        [
            "orders/cancelled",
            "orders/create",
            "orders/edited",
            "refunds/create"
        ]
    );
    for (path, topic, body) in &got {
        assert_eq!(path, "/webhooks/shopify");
        let off = contracts::off_example(body, &example(topic));
        assert!(off.is_empty(), "{topic}: {}", off.join("\n"));
    }
}

/// Every GraphQL document the Shopify client sends, with its variables, against the
/// Admin API schema of the version we pin (`contracts/shopify/admin-2026-04.graphql`,
/// printed from Shopify's introspection); and the answers built from that schema read as
/// expected. The checker itself refuses what Shopify would.
#[tokio::test]
async fn shopify_graphql_documents_fit_the_pinned_admin_schema() {
    use onecount::channels::shopify::{ShopifyClient, ShopifyConfig};
    use onecount_tests::graphql::Schema;
    let sdl_path = contracts::dir().join("shopify/admin-2026-04.graphql");
    let schema = Schema::parse(&std::fs::read_to_string(&sdl_path).unwrap()).unwrap();
    let (sb, _, cfg) = sandbox::<ShopifyConfig>(Channel::Shopify).await;
    assert_eq!(
        cfg.api_version, "2026-04",
        "the version the schema file is for"
    );
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: 806,
        sku: "MUG-GQL".into(),
        qty: 4,
        inventory_item_id: 0,
    });
    let client = ShopifyClient::new(cfg.clone());
    let t = Target {
        sku: Sku::parse("MUG-GQL").unwrap(),
        refs: vec!["variant:806".parse().unwrap()],
    };
    let seen = client
        .read(std::slice::from_ref(&t))
        .await
        .remove(0)
        .unwrap();
    client
        .write(&[Write {
            target: t.clone(),
            seen,
            qty: 2,
        }])
        .await
        .remove(0)
        .unwrap();
    // Discovery's catalog read (OnecountCatalog) too.
    let found = client.catalog(&|_| {}).await.unwrap();
    assert_eq!(found.len(), 1);
    let sent = sb.shopify.graphql_requests();
    assert_eq!(sent.len(), 3);
    for (doc, vars) in &sent {
        let p = schema.problems(doc, vars);
        assert!(p.is_empty(), "{doc}\n{vars:#}\n{}", p.join("\n"));
    }
    // The checker refuses what 2026-04 refuses: a field that is not there, a removed
    // input field, a missing required one, an unknown directive.
    let (read_doc, read_vars) = &sent[0];
    let (set_doc, set_vars) = &sent[1];
    let wrong = [
        (read_doc.replace("tracked", "isTracked"), read_vars.clone()),
        (
            set_doc.replace("@idempotent", "@idempotentKey"),
            set_vars.clone(),
        ),
        (set_doc.clone(), {
            let mut v = set_vars.clone();
            v["input"]["quantities"][0]["compareQuantity"] = 4.into();
            v
        }),
        (set_doc.clone(), {
            let mut v = set_vars.clone();
            v["input"].as_object_mut().unwrap().remove("reason");
            v
        }),
    ];
    for (doc, vars) in &wrong {
        assert!(
            !schema.problems(doc, vars).is_empty(),
            "should be refused:\n{doc}\n{vars}"
        );
    }

    // Answers built from the schema, replayed: the read and the set come out as expected.
    let levels = contracts::load("shopify/fixtures/OnecountLevels.json");
    let set = contracts::load("shopify/fixtures/OnecountSet.json");
    let stale = contracts::load("shopify/fixtures/OnecountSet_stale.json");
    for (answers, want) in [(set, None), (stale, Some(PushError::Stale))] {
        let base =
            contracts::replay(vec![("/admin/api/2026-04/graphql.json", levels.clone())]).await;
        let reader = ShopifyClient::new(ShopifyConfig {
            api_base: base,
            location_id: Some("124656943".into()),
            ..cfg.clone()
        });
        let targets = [
            Target {
                sku: Sku::parse("MUG-BLUE").unwrap(),
                refs: vec!["variant:43729076".parse().unwrap()],
            },
            Target {
                sku: Sku::parse("MUG-RED").unwrap(),
                refs: vec!["variant:43729077".parse().unwrap()],
            },
        ];
        let read = reader.read(&targets).await;
        let qty: Vec<i64> = read.iter().map(|r| r.as_ref().unwrap().qty).collect();
        assert_eq!(qty, [7, 0]);
        let base = contracts::replay(vec![("/admin/api/2026-04/graphql.json", answers)]).await;
        let writer = ShopifyClient::new(ShopifyConfig {
            api_base: base,
            location_id: Some("124656943".into()),
            ..cfg.clone()
        });
        let w = Write {
            target: targets[0].clone(),
            seen: read[0].clone().unwrap(),
            qty: 5,
        };
        let out = writer.write(&[w]).await.remove(0);
        match want {
            None => out.unwrap(),
            Some(e) => assert_eq!(out, Err(e)),
        }
    }
}

/// Etsy receipts (orders): the sandbox's answers fit `getShopReceipt` and
/// `getShopReceipts` of the definition, and receipts built from the definition's examples
/// read as a sale of each SKU and, cancelled, as a cancel.
#[tokio::test]
async fn etsy_receipts_fit_the_definition_and_read_as_orders() {
    use onecount::channels::Action;
    use onecount::channels::etsy::receipt_action;
    use onecount::channels::push::OrderSource;
    let mut c = Contract::load("etsy/receipts.schema.json");
    let one = contracts::load("etsy/fixtures/getShopReceipt.json");
    let page = contracts::load("etsy/fixtures/getShopReceipts.json");
    c.check("getShopReceipt.200", &one);
    c.check("getShopReceipts.200", &page);
    let skus = |a: &Action| -> Vec<String> {
        let (Action::Sale { lines, .. } | Action::Cancel { lines, .. }) = a else {
            panic!("{a:?}")
        };
        lines
            .iter()
            .map(|l| format!("{}x{:?}", l.qty, l.candidates[0]))
            .collect()
    };
    let sale = receipt_action(&one).unwrap();
    assert!(matches!(
        sale,
        Action::Sale {
            placed_at: Some(_),
            ..
        }
    ));
    assert_eq!(
        skus(&sale),
        [r#"2xSku("SKU-12345")"#, r#"1xSku("SKU-22222")"#]
    );
    let base = contracts::replay(vec![("/v3/application/shops/123456/receipts", page)]).await;
    let (sb, cfg) = etsy_sandbox().await;
    let found = EtsyClient::new(EtsyConfig {
        api_base: base,
        shop_id: "123456".into(),
        ..cfg.clone()
    })
    .orders_since(0)
    .await
    .unwrap();
    let kinds: Vec<&str> = found
        .iter()
        .flat_map(|f| &f.actions)
        .map(|a| match a {
            Action::Sale { .. } => "sale",
            Action::Cancel { .. } => "cancel",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["sale", "cancel"]);

    // The sandbox's receipts, asked directly.
    sb.etsy.add_listing(mug(521, "MUG-R", 5));
    let placed = sb
        .etsy
        .place_order(&onecount_sim::etsy::OrderReq {
            lines: vec![(521, 2)],
            skus: vec![],
            knobs: onecount_sim::DeliveryKnobs {
                lose: true,
                ..Default::default()
            },
        })
        .unwrap();
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
    let shop = &cfg.shop_id;
    let r = get(format!(
        "/v3/application/shops/{shop}/receipts/{}",
        placed.receipt_id
    ))
    .await;
    c.check("getShopReceipt.200", &r);
    let all = get(format!(
        "/v3/application/shops/{shop}/receipts?min_last_modified=946684800&limit=100"
    ))
    .await;
    c.check("getShopReceipts.200", &all);
    let refused = get(format!(
        "/v3/application/shops/{shop}/receipts?min_last_modified=0"
    ))
    .await;
    c.check("ErrorSchema", &refused);
}
