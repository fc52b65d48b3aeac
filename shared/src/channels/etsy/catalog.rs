//! Discovery's read of an Etsy shop: its listings in each state a buyer or the seller can
//! bring back to sale (active, inactive, sold out), 100 a page with their inventory
//! (`getListingsByShop?includes=Inventory`), one row per product.

use serde_json::Value;

use super::EtsyClient;
use crate::channels::id_text;
use crate::channels::push::{Progress, PushError, patiently};
use crate::domain::discover::Found;
use crate::domain::{Channel, ChannelRef};

/// The states read. Drafts were never on sale, and an expired listing comes back only
/// for a new listing fee: mapping either would let a push renew it.
pub(super) const STATES: [&str; 3] = ["active", "inactive", "sold_out"];

/// Listings a page: `getListingsByShop`'s largest `limit`.
const PAGE: usize = 100;

impl EtsyClient {
    pub(super) async fn read_catalog(
        &self,
        progress: &Progress<'_>,
    ) -> Result<Vec<Found>, PushError> {
        let mut out = Vec::new();
        for state in STATES {
            let mut offset = 0;
            loop {
                let path = format!(
                    "/v3/application/shops/{}/listings?state={state}&limit={PAGE}&offset={offset}&includes=Inventory",
                    self.cfg.shop_id
                );
                let v =
                    patiently(|| async { Ok(self.get("etsy getListingsByShop", &path).await?) })
                        .await?;
                let results = v
                    .get("results")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for listing in &results {
                    out.extend(found(listing));
                }
                progress(out.len());
                offset += results.len();
                // A short page is the last (whether `count` is the total or the page's
                // size, the definition does not say).
                if results.len() < PAGE {
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// A listing's products as discovery sees them, each mapped by the listing (the product
/// found by its SKU when a push comes). Buyers can buy only from an active listing; an
/// inactive one keeps its quantities, which are what the seller would bring back.
fn found(listing: &Value) -> Vec<Found> {
    let Some(id) = listing.get("listing_id").and_then(id_text) else {
        return Vec::new();
    };
    let Ok(r) = ChannelRef::new("listing", &id) else {
        return Vec::new();
    };
    let state = listing
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or("active");
    let title = listing
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let products: Vec<&Value> = listing
        .pointer("/inventory/products")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| {
            !p.get("is_deleted")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .collect();
    products
        .iter()
        .map(|p| {
            let qty = p
                .get("offerings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|o| {
                    !o.get("is_deleted")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                })
                .map_or(0, |o| {
                    if o.get("is_enabled").and_then(Value::as_bool).unwrap_or(true) {
                        o.get("quantity").and_then(Value::as_i64).unwrap_or(0)
                    } else {
                        0
                    }
                });
            let variation = variation_name(p);
            Found {
                channel: Channel::Etsy,
                refs: vec![r.clone()],
                sku: p.get("sku").and_then(Value::as_str).map(str::to_string),
                qty: if state == "sold_out" { 0 } else { qty },
                tracked: true,
                title: match (variation.is_empty(), state) {
                    (true, "active") => title.to_string(),
                    (true, s) => format!("{title} ({})", s.replace('_', " ")),
                    (false, "active") => format!("{title} — {variation}"),
                    (false, s) => format!("{title} — {variation} ({})", s.replace('_', " ")),
                },
            }
        })
        .collect()
}

/// A product's variation values (`Blue`, `Blue / Large`), empty for a listing without.
fn variation_name(product: &Value) -> String {
    product
        .get("property_values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|pv| {
            pv.get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_product_is_a_row_mapped_by_its_listing() {
        let listing = json!({
            "listing_id": 1234567890, "title": "Mug", "state": "inactive",
            "inventory": {"products": [
                {"product_id": 1, "sku": "MUG-BLUE", "is_deleted": false,
                 "property_values": [{"property_id": 200, "property_name": "Primary color", "values": ["Blue"]}],
                 "offerings": [{"offering_id": 9, "quantity": 4, "is_enabled": true, "is_deleted": false}]},
                {"product_id": 2, "sku": "", "is_deleted": false, "property_values": [],
                 "offerings": [{"offering_id": 10, "quantity": 3, "is_enabled": false, "is_deleted": false}]},
                {"product_id": 3, "sku": "GONE", "is_deleted": true, "offerings": []}
            ]}
        });
        let rows = found(&listing);
        assert_eq!(rows.len(), 2, "the deleted product is no row");
        assert_eq!(rows[0].refs[0].to_string(), "listing:1234567890");
        assert_eq!((rows[0].sku.as_deref(), rows[0].qty), (Some("MUG-BLUE"), 4));
        assert_eq!(rows[0].title, "Mug — Blue (inactive)");
        assert_eq!((rows[1].sku.as_deref(), rows[1].qty), (Some(""), 0));
        let sold_out = json!({"listing_id": 5, "title": "Pin", "state": "sold_out",
            "inventory": {"products": [{"sku": "PIN", "offerings": [{"quantity": 2, "is_enabled": true}]}]}});
        assert_eq!(found(&sold_out)[0].qty, 0);
    }
}
