//! Reading whole catalogs for discovery (issue #20): each channel's pages, checked against
//! the channel's definition.

use onecount::Channel;
use onecount::channels::ebay::{EbayClient, EbayConfig};
use onecount_sim::ebay::SimListing;
use onecount_tests::contracts::{self, Contract};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ebay_inventory_item_is_read_page_by_page_and_fits_the_definition() {
    let (sb, _, cfg): (_, _, EbayConfig) = crate::contracts::sandbox(Channel::Ebay).await;
    for i in 0..230u64 {
        sb.ebay.add_listing(SimListing {
            item_id: 400_000_000_000 + i,
            sku: format!("INV-{i:04}"),
            qty: (i % 7) as i64,
        });
    }
    // Seller Hub listings have no inventory item.
    sb.ebay.add_seller_hub_listing(SimListing {
        item_id: 400_000_009_999,
        sku: "HUB-1".into(),
        qty: 3,
    });
    let c = EbayClient::new(cfg);
    let found = c.inventory_catalog().await.unwrap();
    assert_eq!(found.len(), 230, "three pages of 100, every item once");
    let skus: std::collections::BTreeSet<_> = found.iter().filter_map(|f| f.sku.clone()).collect();
    assert_eq!(skus.len(), 230);
    assert!(!skus.contains("HUB-1"));
    let f = found
        .iter()
        .find(|f| f.sku.as_deref() == Some("INV-0012"))
        .unwrap();
    assert_eq!(
        (f.qty, f.refs[0].to_string()),
        (5, "sku:INV-0012".to_string())
    );

    // Each page the sandbox served fits getInventoryItems.200.
    let token = sb.ebay.tokens.issue().access;
    let mut inv = Contract::load("ebay/inventory.schema.json");
    for page in 0..3 {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{}/sell/inventory/v1/inventory_item?limit=100&offset={page}",
                sb.ebay_url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        inv.check("getInventoryItems.200", &v);
        assert_eq!(v["next"].is_string(), page < 2, "next while more: {v:#}");
    }
}

/// Etsy's catalog: every state onecount reads, page by page; the sandbox's pages fit
/// `getListingsByShop.200` and the client's queries `getListingsByShop.query` (from
/// Etsy's definition).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_etsy_listing_is_read_state_by_state_and_fits_the_definition() {
    use onecount::channels::etsy::{EtsyClient, EtsyConfig};
    use onecount::channels::push::ChannelApi;
    use onecount_sim::etsy::SimListing;
    let (sb, _, cfg): (_, _, EtsyConfig) = crate::contracts::sandbox(Channel::Etsy).await;
    for i in 0..230u64 {
        let id = 1_600_000_000 + i;
        sb.etsy.add_listing(SimListing {
            listing_id: id,
            sku: format!("ETSY-{i:04}"),
            qty: (i % 5) as i64,
        });
        match i % 10 {
            7 => sb.etsy.set_listing_state(id, "inactive"),
            8 => sb.etsy.set_listing_state(id, "sold_out"),
            9 => sb.etsy.set_listing_state(id, "expired"),
            _ => {}
        }
    }
    // Two products of one listing.
    sb.etsy.add_listing(SimListing {
        listing_id: 1_600_000_000,
        sku: "ETSY-0000-RED".into(),
        qty: 2,
    });
    let key = format!("{}:{}", cfg.keystring, cfg.shared_secret.expose());
    let c = EtsyClient::new(cfg);
    let found = c.catalog(&|_| {}).await.unwrap();
    assert_eq!(
        found.len(),
        230 - 23 + 1,
        "every product but the expired listings'"
    );
    let f = |sku: &str| {
        found
            .iter()
            .find(|f| f.sku.as_deref() == Some(sku))
            .unwrap()
    };
    assert_eq!(
        (f("ETSY-0012").qty, f("ETSY-0012").refs[0].to_string()),
        (2, "listing:1600000012".into())
    );
    assert_eq!(
        f("ETSY-0017").qty,
        2,
        "an inactive listing keeps its quantity"
    );
    assert_eq!(f("ETSY-0018").qty, 0, "a sold-out listing has none");
    assert_eq!(f("ETSY-0000-RED").refs, f("ETSY-0000").refs);

    let mut etsy = Contract::load("etsy/listings.schema.json");
    let asked: Vec<serde_json::Value> = sb
        .etsy
        .requests()
        .into_iter()
        .filter(|(op, _)| op == "getListingsByShop")
        .map(|(_, q)| q)
        .collect();
    // active: 2 pages (161 listings, the second short), inactive and sold out: 1 each.
    assert_eq!(asked.len(), 4, "{asked:#?}");
    let token = sb.etsy.tokens.issue().access;
    for q in &asked {
        etsy.check("getListingsByShop.query", q);
        let path = format!(
            "{}/v3/application/shops/{}/listings?state={}&limit={}&offset={}&includes=Inventory",
            sb.etsy_url,
            onecount_sim::etsy::SHOP_ID,
            q["state"].as_str().unwrap(),
            q["limit"],
            q["offset"]
        );
        let v: serde_json::Value = reqwest::Client::new()
            .get(path)
            .header("x-api-key", &key)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        etsy.check("getListingsByShop.200", &v);
    }
}

/// eBay's Seller Hub listings: GetMyeBaySelling page by page, variations as rows, an
/// Inventory API listing (also in the ActiveList) counted once as its inventory item; the
/// sandbox's answer holds to eBay's real one (variations to GetItem's real ones) and the
/// client's request to the call reference's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seller_hub_listing_is_read_and_fits_ebays_own() {
    use crate::seller_hub::{fits, raw_call, sample};
    use onecount::channels::push::ChannelApi;
    let (sb, _, cfg): (_, _, EbayConfig) = crate::contracts::sandbox(Channel::Ebay).await;
    for i in 0..450u64 {
        sb.ebay.add_seller_hub_listing(SimListing {
            item_id: 410_000_000_000 + i,
            sku: format!("HUB-{i:04}"),
            qty: (i % 6) as i64,
        });
    }
    for (k, size) in ["S", "M"].iter().enumerate() {
        sb.ebay.add_seller_hub_variation(
            410_000_009_000,
            SimListing {
                item_id: 410_000_009_100 + k as u64,
                sku: format!("TEE-{size}"),
                qty: 3,
            },
        );
    }
    sb.ebay.add_listing(SimListing {
        item_id: 410_000_009_500,
        sku: "INV-1".into(),
        qty: 4,
    });
    let c = EbayClient::new(cfg);
    let found = c.catalog(&|_| {}).await.unwrap();
    assert_eq!(found.len(), 450 + 2 + 1);
    let of = |sku: &str| {
        found
            .iter()
            .filter(|f| f.sku.as_deref() == Some(sku))
            .collect::<Vec<_>>()
    };
    assert_eq!(of("INV-1").len(), 1);
    assert_eq!(of("INV-1")[0].refs[0].to_string(), "sku:INV-1");
    assert_eq!(
        (of("TEE-M")[0].qty, of("TEE-M")[0].refs[0].to_string()),
        (3, "item:410000009000".into())
    );
    assert_eq!(of("HUB-0011")[0].qty, 5);
    let calls: Vec<String> = sb
        .ebay
        .trading_requests()
        .into_iter()
        .filter(|(call, _)| call == "GetMyeBaySelling")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(calls.len(), 3, "453 items, 200 a page");
    for body in &calls {
        fits(
            "GetMyeBaySelling request",
            body,
            &sample("GetMyeBaySelling.request.xml"),
        );
    }
    // The official shape: the real ActiveList answer, its item given the Variations of
    // GetItem's real answer (no real ActiveList capture with variations is public).
    let mut official = contracts::xml_json(&sample("GetMyeBaySelling.activelist.xml"));
    let got_item = contracts::xml_json(&sample("GetItem.variations.xml"));
    official["GetMyeBaySellingResponse"][0]["ActiveList"][0]["ItemArray"][0]["Item"][0]["Variations"] =
        got_item["GetItemResponse"][0]["Item"][0]["Variations"].clone();
    let page3 = raw_call(&sb, "GetMyeBaySelling", &calls[2]).await;
    assert!(page3.contains("<Variations>"), "{page3}");
    let off = contracts::off_example(&contracts::xml_json(&page3), &official);
    assert!(off.is_empty(), "{off:#?}\n{page3}");
}
