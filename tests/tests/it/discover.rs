//! Reading whole catalogs for discovery (issue #20): each channel's pages, checked against
//! the channel's definition.

use onecount::Channel;
use onecount::channels::ebay::{EbayClient, EbayConfig};
use onecount_sim::ebay::SimListing;
use onecount_tests::contracts::Contract;

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
