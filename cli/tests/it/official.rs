//! `onecount listings verify` against answers it did not write: each channel's read,
//! replayed from fixtures built from the channel's official definition and examples
//! (`contracts/<channel>/fixtures`, each checked against its schema first).

use onecount_tests::contracts::{self, Contract};

use super::operator::{json_of, onecount, shared_moto, unique};

/// (SKU, channel, refs, on hand): what the fixtures show, mapped as a merchant would.
const LISTED: &[(&str, &str, &str, u32)] = &[
    // Etsy: one listing with two products, and a sold-out listing.
    ("SKU-12345", "etsy", "listing:123456789", 7),
    ("SKU-12346", "etsy", "listing:123456789", 3),
    ("SKU-22222", "etsy", "listing:123456790", 0),
    // Shopify: two variants at the configured location.
    ("MUG-BLUE", "shopify", "variant:43729076", 7),
    ("MUG-RED", "shopify", "variant:43729077", 0),
    // eBay: an offer named in the mapping, and one found through getOffers (an Inventory
    // API SKU named without its item: an `item:` alone is a Seller Hub listing).
    ("MUG-BLUE", "ebay", "item:110553781234 offer:5005317010", 7),
    ("MUG-RED", "ebay", "sku:MUG-RED", 0),
];

/// getOffers as eBay answers it for MUG-RED: the fixture's (MUG-BLUE's) offer, moved to
/// MUG-RED's offer and listing, sold out (out-of-stock control keeps it alive).
fn red_offers(blue: &serde_json::Value) -> serde_json::Value {
    let mut v = blue.clone();
    let o = &mut v["offers"][0];
    o["offerId"] = "5005317011".into();
    o["sku"] = "MUG-RED".into();
    o["availableQuantity"] = 0.into();
    o["listing"]["listingId"] = "110553781235".into();
    o["listing"]["listingStatus"] = "OUT_OF_STOCK".into();
    v["href"] = "/sell/inventory/v1/offer?sku=MUG-RED&offset=0&limit=100".into();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reads_every_channel_in_sync_from_official_answers() {
    let etsy = contracts::load("etsy/fixtures/getListingsInventoryByListingIds.json");
    Contract::load("etsy/listings.schema.json")
        .check("getListingsInventoryByListingIds.200", &etsy);
    let shopify = contracts::load("shopify/fixtures/OnecountLevels.json");
    let ebay_items = contracts::load("ebay/fixtures/bulkGetInventoryItem.json");
    let ebay_offers = contracts::load("ebay/fixtures/getOffers.json");
    let mut inv = Contract::load("ebay/inventory.schema.json");
    inv.check("bulkGetInventoryItem.200", &ebay_items);
    inv.check("getOffers.200", &ebay_offers);
    let red = red_offers(&ebay_offers);
    inv.check("getOffers.200", &red);
    let base = contracts::replay(vec![
        ("/v3/application/listings/batch/inventory", etsy),
        ("/admin/api/2026-04/graphql.json", shopify),
        (
            "/identity/v1/oauth2/token",
            serde_json::json!({"access_token": "v^1.1#i^1#p^3#r^1#I^3#t^H4sI", "expires_in": 7200, "token_type": "User Access Token"}),
        ),
        ("/sell/inventory/v1/bulk_get_inventory_item", ebay_items),
        ("/sell/inventory/v1/offer?sku=MUG-RED", red),
    ])
    .await;
    let channels = serde_json::json!({
        "shopify": {"shop_domain": "mugs.myshopify.com", "webhook_secret": "s", "api_base": base,
            "access_token": "shpat_x", "api_version": "2026-04",
            "location_id": "gid://shopify/Location/124656943"},
        "etsy": {"shop_id": "123456", "webhook_secret": "whsec_c2VjcmV0", "api_base": base,
            "keystring": "k", "shared_secret": "s", "access_token": "456789.t"},
        "ebay": {"api_base": base, "client_id": "c", "client_secret": "s", "refresh_token": "r",
            "verification_token": "v-0123456789-0123456789-0123456789-01",
            "endpoint_url": "https://example.com/webhooks/ebay"},
    });
    let table = unique("official");
    let file = std::env::temp_dir().join(format!("{table}-channels.json"));
    std::fs::write(&file, channels.to_string()).unwrap();
    let ep = shared_moto();
    let env: Vec<(String, String)> = vec![
        ("AWS_ENDPOINT_URL".into(), ep),
        ("ONECOUNT_TABLE".into(), table),
        ("ONECOUNT_CHANNELS_FILE".into(), file.display().to_string()),
    ];
    let run = |args: Vec<String>| {
        let e = env.clone();
        tokio::task::spawn_blocking(move || {
            let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            onecount(&e, &a)
        })
    };
    let ok = |args: Vec<String>| {
        let r = run(args.clone());
        async move {
            let o = r.await.unwrap();
            assert!(
                o.status.success(),
                "onecount {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    ok(s(&["init"])).await;
    let mut created = std::collections::BTreeSet::new();
    for (sku, ch, refs, on_hand) in LISTED {
        if created.insert(*sku) {
            ok(s(&[
                "stock",
                "create",
                sku,
                "--on-hand",
                &on_hand.to_string(),
            ]))
            .await;
        }
        let mut args = s(&["listings", "set", "--sku", sku, "--channel", ch]);
        for r in refs.split(' ') {
            args.extend(s(&["--ref", r]));
        }
        ok(args).await;
    }
    let v = run(s(&["listings", "verify", "--json"])).await.unwrap();
    let j = json_of(&v);
    let rows = j["listings"].as_array().unwrap();
    let not_ok: Vec<&serde_json::Value> = rows.iter().filter(|r| r["status"] != "ok").collect();
    assert!(not_ok.is_empty(), "every listing in sync: {not_ok:#?}");
    assert_eq!(rows.len(), LISTED.len());
    assert_eq!(v.status.code(), Some(0));
}
