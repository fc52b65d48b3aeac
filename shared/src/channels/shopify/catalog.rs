//! Discovery's read of a Shopify catalog: every product variant, 100 a page
//! (`productVariants(first, after)`), with its SKU, inventory item, whether Shopify tracks
//! it, and what is available at onecount's location.

use serde_json::{Value, json};

use super::ShopifyClient;
use crate::channels::push::{Progress, PushError, patiently};
use crate::domain::discover::Found;
use crate::domain::{Channel, ChannelRef};

pub(super) const CATALOG_QUERY: &str = r#"query OnecountCatalog($first: Int!, $after: String, $loc: ID!) {
  productVariants(first: $first, after: $after) {
    nodes {
      id sku title
      product { title status }
      inventoryItem { id tracked inventoryLevel(locationId: $loc) { quantities(names: ["available"]) { name quantity } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}"#;

/// Variants a page: by Shopify's published cost rules a page costs 2 + 5 points a
/// variant (the variant, its product, inventory item, level and quantities), 502 for 100:
/// under the 1,000-point limit of one query and within a standard shop's bucket.
const PAGE: usize = 100;

impl ShopifyClient {
    pub(super) async fn read_catalog(
        &self,
        progress: &Progress<'_>,
    ) -> Result<Vec<Found>, PushError> {
        let loc = self.location()?;
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let vars = json!({"first": PAGE, "after": after, "loc": loc});
            let answer = patiently(|| {
                self.graphql_answer("shopify productVariants", CATALOG_QUERY, vars.clone())
            })
            .await?;
            let page = answer
                .pointer("/data/productVariants")
                .cloned()
                .unwrap_or(Value::Null);
            for node in page
                .get("nodes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.extend(found(node));
            }
            progress(out.len());
            let next = page
                .pointer("/pageInfo/hasNextPage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            after = page
                .pointer("/pageInfo/endCursor")
                .and_then(Value::as_str)
                .map(str::to_string);
            if !next || after.is_none() {
                return Ok(out);
            }
            // Pace to the bucket: wait until it holds the next page's cost, rather than be
            // throttled and ask again.
            tokio::time::sleep(refill_wait(&answer)).await;
        }
    }
}

/// How long until the cost bucket holds another page like the last one (what it asked),
/// from the answer's `extensions.cost`; nothing when it says nothing.
fn refill_wait(answer: &Value) -> std::time::Duration {
    let f = |p: &str| answer.pointer(p).and_then(Value::as_f64);
    match (
        f("/extensions/cost/requestedQueryCost"),
        f("/extensions/cost/throttleStatus/currentlyAvailable"),
        f("/extensions/cost/throttleStatus/restoreRate"),
    ) {
        (Some(cost), Some(left), Some(rate)) if rate > 0.0 && left < cost => {
            std::time::Duration::from_secs_f64(((cost - left) / rate).min(60.0))
        }
        _ => std::time::Duration::ZERO,
    }
}

/// The number at the end of a `gid://shopify/Kind/123`.
fn tail(gid: Option<&str>) -> Option<&str> {
    gid.and_then(|g| g.rsplit('/').next())
        .filter(|s| !s.is_empty())
}

/// One variant as discovery sees it: mapped by variant and inventory item; the quantity
/// available at onecount's location (0 when the item is not stocked there).
fn found(node: &Value) -> Option<Found> {
    let variant = tail(node.get("id").and_then(Value::as_str))?;
    let item = tail(node.pointer("/inventoryItem/id").and_then(Value::as_str));
    let mut refs: Vec<ChannelRef> = ChannelRef::new("variant", variant).into_iter().collect();
    refs.extend(item.and_then(|i| ChannelRef::new("inventory_item", i).ok()));
    let qty = node
        .pointer("/inventoryItem/inventoryLevel/quantities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|q| q.get("name").and_then(Value::as_str) == Some("available"))
        .and_then(|q| q.get("quantity").and_then(Value::as_i64))
        .unwrap_or(0);
    let text = |p: &str| node.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let title = match (text("/product/title"), text("/title")) {
        (p, "" | "Default Title") => p.to_string(),
        (p, v) => format!("{p} — {v}"),
    };
    let status = text("/product/status");
    Some(Found {
        channel: Channel::Shopify,
        refs,
        sku: node.get("sku").and_then(Value::as_str).map(str::to_string),
        qty,
        tracked: node
            .pointer("/inventoryItem/tracked")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        title: if status.is_empty() || status == "ACTIVE" {
            title
        } else {
            format!("{title} ({})", status.to_lowercase())
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_reads_with_its_ids_tracking_and_available_quantity() {
        let node = json!({
            "id": "gid://shopify/ProductVariant/43729076", "sku": "MUG-BLUE", "title": "Blue",
            "product": {"title": "Mug", "status": "DRAFT"},
            "inventoryItem": {"id": "gid://shopify/InventoryItem/45001", "tracked": true,
                "inventoryLevel": {"quantities": [{"name": "available", "quantity": 7}]}}
        });
        let f = found(&node).unwrap();
        assert_eq!(
            f.refs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["variant:43729076", "inventory_item:45001"]
        );
        assert_eq!((f.qty, f.tracked), (7, true));
        assert_eq!(f.title, "Mug — Blue (draft)");
        let unstocked = json!({"id": "gid://shopify/ProductVariant/1", "sku": null,
            "inventoryItem": {"id": "gid://shopify/InventoryItem/2", "tracked": false, "inventoryLevel": null}});
        let f = found(&unstocked).unwrap();
        assert_eq!((f.qty, f.tracked, f.sku), (0, false, None));
    }

    /// The answer built from the pinned schema (`contracts/shopify/fixtures`).
    #[test]
    fn the_schema_built_answer_reads_as_expected() {
        let v: Value = serde_json::from_str(include_str!(
            "../../../../contracts/shopify/fixtures/OnecountCatalog.json"
        ))
        .unwrap();
        let nodes = v["data"]["productVariants"]["nodes"].as_array().unwrap();
        let rows: Vec<Found> = nodes.iter().filter_map(found).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].qty, rows[0].tracked), (7, true));
        assert_eq!((rows[1].tracked, rows[1].sku.as_deref()), (false, None));
        assert!(v["data"]["productVariants"]["pageInfo"]["endCursor"].is_string());
        assert!(refill_wait(&v) < std::time::Duration::from_secs(1));
    }

    #[test]
    fn pages_wait_for_the_bucket_to_hold_the_next_one() {
        let cost = |left: f64| {
            json!({"extensions": {"cost": {"requestedQueryCost": 402, "actualQueryCost": 402,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": left, "restoreRate": 100.0}}}})
        };
        assert_eq!(refill_wait(&cost(1500.0)), std::time::Duration::ZERO);
        assert_eq!(refill_wait(&cost(202.0)).as_millis(), 2000);
        assert_eq!(refill_wait(&json!({"data": {}})), std::time::Duration::ZERO);
    }
}
