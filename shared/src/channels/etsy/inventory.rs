//! Etsy listing inventory, pure: what one listing of a `getListingsInventoryByListingIds`
//! answer lets buyers buy, and the `updateListingInventory` body that sets the quantities
//! of one or several of its SKUs in one write (a listing with variations carries several).
//!
//! Shapes from Etsy's Open API v3 definition (`contracts/etsy/`, where each piece names its
//! source): each element of `results` is a `ShopListingWithAssociations` — the listing's
//! own fields (`listing_id`, `state`, `listing_type`, …) with its `inventory`
//! (`ListingInventory`: `products[].offerings[]` and the `*_on_property` arrays) beside
//! them. Nothing in a response schema is required, so every field is read defensively.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// A listing's `state`. Only an active listing can be bought from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingState {
    Active,
    /// Taken off sale (by us on a sell-out, or by the seller); `updateListing` brings it back.
    /// A listing deactivated through the API can show as `edit`: the same.
    Inactive,
    /// Etsy sold the last unit. Making it active again renews it (a listing fee) and sets
    /// its quantity to 1.
    SoldOut,
    /// `expired`, `draft`, `removed` or anything newer: not for us to bring back.
    Closed(String),
}

impl ListingState {
    /// The state of a listing (absent: active, as the batch read may leave it out).
    pub fn of(listing: &Value) -> ListingState {
        match listing.get("state").and_then(Value::as_str) {
            None | Some("active") => ListingState::Active,
            Some("inactive" | "edit") => ListingState::Inactive,
            Some("sold_out") => ListingState::SoldOut,
            Some(other) => ListingState::Closed(other.to_string()),
        }
    }
}

/// The listing's `inventory` (null when Etsy has none for it).
pub fn inventory(listing: &Value) -> &Value {
    listing.get("inventory").unwrap_or(&Value::Null)
}

/// The listing's products, deleted ones left out.
fn products(listing: &Value) -> impl Iterator<Item = &Value> {
    inventory(listing)
        .get("products")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("is_deleted").and_then(Value::as_bool) != Some(true))
}

fn offerings(product: &Value) -> impl Iterator<Item = &Value> {
    product
        .get("offerings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|o| o.get("is_deleted").and_then(Value::as_bool) != Some(true))
}

fn sku(product: &Value) -> &str {
    product.get("sku").and_then(Value::as_str).unwrap_or("")
}

/// The SKUs a listing's inventory holds.
pub fn skus_of(listing: &Value) -> std::collections::BTreeSet<&str> {
    products(listing).map(sku).collect()
}

/// What an offering lets buyers buy.
fn enabled_qty(o: &Value) -> i64 {
    if o.get("is_enabled").and_then(Value::as_bool) == Some(false) {
        0
    } else {
        o.get("quantity").and_then(Value::as_i64).unwrap_or(0)
    }
}

/// What buyers can buy of `sku` on this listing now: its offerings' enabled quantities
/// while the listing is active, else 0. `Err`: the SKU is not on the listing.
pub fn shown(listing: &Value, sku_: &str) -> Result<i64, String> {
    let mut mine = products(listing).filter(|p| sku(p) == sku_).peekable();
    if mine.peek().is_none() {
        return Err(format!("SKU {sku_} is not on the listing"));
    }
    let qty = mine.flat_map(offerings).map(enabled_qty).sum();
    Ok(match ListingState::of(listing) {
        ListingState::Active => qty,
        _ => 0,
    })
}

/// New quantities for some SKUs of one listing (0: off sale), written together.
pub type Quantities<'a> = std::collections::BTreeMap<&'a str, u32>;

/// Whether any offering has units for sale once `set` is written (Etsy refuses an
/// inventory with every offering at 0: the listing goes off sale instead).
pub fn on_sale_after(listing: &Value, set: &Quantities) -> bool {
    products(listing).any(|p| match set.get(sku(p)) {
        Some(q) => *q > 0 && offerings(p).next().is_some(),
        None => offerings(p).any(|o| enabled_qty(o) > 0),
    })
}

/// A product's identity across writes (Etsy renews product and offering ids on each
/// one): its SKU and the property values that make it.
fn product_key(p: &Value) -> String {
    let values: Vec<String> = p
        .get("property_values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|v| {
            v.get("value_ids")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .map(ToString::to_string)
        .collect();
    format!("{}|{}", sku(p), values.join(","))
}

/// Each product's offerings' processing profiles (`readiness_state_id`), by product.
pub type Readiness = HashMap<String, Vec<Value>>;

/// The processing profiles a listing's inventory names (products with a null one left out).
pub fn readiness_of(listing: &Value) -> Readiness {
    products(listing)
        .filter_map(|p| {
            let ids: Vec<Value> = offerings(p)
                .map(|o| o.get("readiness_state_id").cloned().unwrap_or(Value::Null))
                .collect();
            (!ids.iter().any(Value::is_null)).then(|| (product_key(p), ids))
        })
        .collect()
}

/// Whether a write to this listing needs processing profiles the read did not give: a
/// physical listing whose offerings' `readiness_state_id` is null (the batch read leaves
/// it null; only single-listing and shop-scoped reads fill it in).
pub fn lacks_readiness(listing: &Value, known: &Readiness) -> bool {
    let physical = listing.get("listing_type").and_then(Value::as_str) != Some("download");
    physical
        && products(listing).any(|p| {
            let has = |o: &Value| o.get("readiness_state_id").is_some_and(|r| !r.is_null());
            !offerings(p).all(has) && !known.contains_key(&product_key(p))
        })
}

/// A `getListingInventory?includes=Listing` answer (inventory fields at the top, the
/// listing under `listing`) in the batch read's shape (listing fields at the top, the
/// inventory under `inventory`).
pub fn as_listing(single: &Value) -> Value {
    let mut out = single
        .get("listing")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut inv = single.as_object().cloned().unwrap_or_default();
    inv.remove("listing");
    out.insert("inventory".into(), Value::Object(inv));
    Value::Object(out)
}

/// Read-only fields of a read that `updateListingInventory` refuses.
const READ_ONLY: [&str; 4] = ["product_id", "offering_id", "is_deleted", "scale_name"];

fn strip(obj: &mut Map<String, Value>) {
    for f in READ_ONLY {
        obj.remove(f);
    }
}

/// An offering as `updateListingInventory` takes it: read-only fields stripped, the Money
/// price as a float (amount / divisor), `readiness_state_id` always present (the request
/// requires it; from `known` when the read left it null).
fn offering_body(o: &mut Map<String, Value>, known: Option<&Value>) {
    strip(o);
    if let Some(price) = o.get("price").cloned()
        && price.is_object()
    {
        let amount = price.get("amount").and_then(Value::as_f64).unwrap_or(0.0);
        let divisor = price
            .get("divisor")
            .and_then(Value::as_f64)
            .unwrap_or(1.0)
            .max(1.0);
        o.insert("price".into(), serde_json::json!(amount / divisor));
    }
    let missing = o.get("readiness_state_id").is_none_or(Value::is_null);
    if missing {
        o.insert(
            "readiness_state_id".into(),
            known.cloned().unwrap_or(Value::Null),
        );
    }
}

/// An offering set to `qty` units (0: disabled, its quantity kept as Etsy wants one ≥ 0).
fn set_quantity(o: &mut Map<String, Value>, qty: u32) {
    if qty == 0 {
        o.insert("is_enabled".into(), Value::Bool(false));
    } else {
        o.insert("quantity".into(), serde_json::json!(qty));
        o.insert("is_enabled".into(), Value::Bool(true));
    }
}

fn product_body(p: &Value, set: &Quantities, known: &Readiness) -> Value {
    let key = product_key(p);
    let mine = set.get(sku(p)).copied();
    let mut obj = p.as_object().cloned().unwrap_or_default();
    strip(&mut obj);
    for v in obj
        .get_mut("property_values")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(v) = v.as_object_mut() {
            v.remove("scale_name");
        }
    }
    let offerings: Vec<Value> = offerings(p)
        .enumerate()
        .map(|(i, o)| {
            let mut o = o.as_object().cloned().unwrap_or_default();
            offering_body(&mut o, known.get(&key).and_then(|ids| ids.get(i)));
            if let Some(q) = mine {
                set_quantity(&mut o, q);
            }
            Value::Object(o)
        })
        .collect();
    obj.insert("offerings".into(), Value::Array(offerings));
    Value::Object(obj)
}

/// The PUT body for `updateListingInventory`: the listing's whole inventory as read (a
/// partial body would delete the products left out), each SKU of `set` at its quantity.
/// Several SKUs of one listing go in one body: two bodies written one after the other
/// would each put back the other's quantity as read.
pub fn inventory_body(listing: &Value, set: &Quantities, known: &Readiness) -> Value {
    let products: Vec<Value> = products(listing)
        .map(|p| product_body(p, set, known))
        .collect();
    let mut body = serde_json::json!({ "products": products });
    let inv = inventory(listing);
    for k in [
        "price_on_property",
        "quantity_on_property",
        "sku_on_property",
        "readiness_state_on_property",
    ] {
        body[k] = inv.get(k).cloned().unwrap_or_else(|| serde_json::json!([]));
    }
    body
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// One element of a `getListingsInventoryByListingIds` answer, as Etsy's definition
    /// shapes it: the listing's fields, its inventory under `inventory`, processing
    /// profiles null (the batch read does not fill them in).
    pub(crate) fn listing(state: &str) -> Value {
        json!({
            "listing_id": 1234567890u64, "state": state, "listing_type": "physical", "quantity": 10,
            "inventory": {
                "products": [
                    {"product_id": 11, "sku": "MUG-BLUE-12OZ", "is_deleted": false,
                     "property_values": [{"property_id": 200, "property_name": "Primary color", "scale_id": null, "scale_name": null, "value_ids": [1213], "values": ["Blue"]}],
                     "offerings": [{"offering_id": 21, "quantity": 7, "is_enabled": true, "is_deleted": false,
                                    "price": {"amount": 2400, "divisor": 100, "currency_code": "USD"}, "readiness_state_id": null}]},
                    {"product_id": 12, "sku": "MUG-RED-12OZ", "is_deleted": false,
                     "property_values": [{"property_id": 200, "property_name": "Primary color", "scale_id": null, "value_ids": [1220], "values": ["Red"]}],
                     "offerings": [{"offering_id": 22, "quantity": 3, "is_enabled": true, "is_deleted": false,
                                    "price": {"amount": 2400, "divisor": 100, "currency_code": "USD"}, "readiness_state_id": null}]}
                ],
                "price_on_property": [], "quantity_on_property": [200], "sku_on_property": [200], "readiness_state_on_property": []
            }
        })
    }

    #[test]
    fn buyers_can_buy_only_from_an_active_listing() {
        assert_eq!(shown(&listing("active"), "MUG-BLUE-12OZ"), Ok(7));
        assert_eq!(shown(&listing("active"), "MUG-RED-12OZ"), Ok(3));
        for state in [
            "inactive", "sold_out", "expired", "draft", "removed", "edit",
        ] {
            assert_eq!(shown(&listing(state), "MUG-BLUE-12OZ"), Ok(0), "{state}");
        }
        assert!(shown(&listing("active"), "MUG-GREEN").is_err());
        let mut off = listing("active");
        off["inventory"]["products"][0]["offerings"][0]["is_enabled"] = false.into();
        assert_eq!(shown(&off, "MUG-BLUE-12OZ"), Ok(0));
        assert_eq!(
            ListingState::of(&listing("expired")),
            ListingState::Closed("expired".into())
        );
        assert_eq!(ListingState::of(&json!({})), ListingState::Active);
    }

    /// The shape the client used to read (products and `listing.state` at the top of
    /// each result) is not what Etsy answers: read as Etsy answers, every SKU is found.
    #[test]
    fn products_are_read_under_inventory_not_at_the_top() {
        let old_shape = json!({"listing_id": 1, "products": listing("active")["inventory"]["products"], "listing": {"state": "active"}});
        assert!(shown(&old_shape, "MUG-BLUE-12OZ").is_err());
        assert_eq!(skus_of(&listing("active")).len(), 2);
    }

    #[test]
    fn the_put_body_keeps_every_product_and_changes_only_ours() {
        let known = Readiness::new();
        let body = inventory_body(
            &listing("active"),
            &Quantities::from([("MUG-BLUE-12OZ", 4)]),
            &known,
        );
        let products = body["products"].as_array().unwrap();
        assert_eq!(products.len(), 2, "a partial body would drop the red mug");
        assert_eq!(products[0]["offerings"][0]["quantity"], 4);
        assert_eq!(products[1]["offerings"][0]["quantity"], 3);
        let text = body.to_string();
        for f in ["product_id", "offering_id", "is_deleted", "scale_name"] {
            assert!(!text.contains(f), "{f} is read-only: {text}");
        }
        assert_eq!(
            products[0]["offerings"][0]["price"], 24.0,
            "Money becomes a float"
        );
        assert_eq!(body["quantity_on_property"], json!([200]));
        for p in products {
            assert!(
                p["offerings"][0]
                    .as_object()
                    .unwrap()
                    .contains_key("readiness_state_id"),
                "the request requires it on every offering"
            );
        }
    }

    /// Both colours of one listing change in one write; neither puts back the other's
    /// old quantity. Only when every SKU is at 0 is nothing left on sale.
    #[test]
    fn several_skus_of_one_listing_are_set_in_one_body() {
        let l = listing("active");
        let both = Quantities::from([("MUG-BLUE-12OZ", 5), ("MUG-RED-12OZ", 0)]);
        let body = inventory_body(&l, &both, &Readiness::new());
        let products = body["products"].as_array().unwrap();
        assert_eq!(products[0]["offerings"][0]["quantity"], 5);
        assert_eq!(products[0]["offerings"][0]["is_enabled"], true);
        assert_eq!(products[1]["offerings"][0]["is_enabled"], false);
        assert!(on_sale_after(&l, &both));
        assert!(on_sale_after(&l, &Quantities::from([("MUG-BLUE-12OZ", 0)])));
        assert!(!on_sale_after(
            &l,
            &Quantities::from([("MUG-BLUE-12OZ", 0), ("MUG-RED-12OZ", 0)])
        ));
    }

    #[test]
    fn processing_profiles_come_from_a_single_listing_read_when_the_batch_leaves_them_null() {
        let batch = listing("active");
        let none = Readiness::new();
        assert!(lacks_readiness(&batch, &none));
        // A single-listing read fills them in; its shape is turned into the batch's.
        let mut single = batch["inventory"].clone();
        for p in single["products"].as_array_mut().unwrap() {
            p["offerings"][0]["readiness_state_id"] = json!(1402336022581u64);
        }
        single["listing"] =
            json!({"listing_id": 1234567890u64, "state": "active", "listing_type": "physical"});
        let known = readiness_of(&as_listing(&single));
        assert_eq!(known.len(), 2);
        assert!(!lacks_readiness(&batch, &known), "remembered across writes");
        let body = inventory_body(&batch, &Quantities::new(), &known);
        assert_eq!(
            body["products"][1]["offerings"][0]["readiness_state_id"],
            1402336022581u64
        );
        // A digital listing has none to give.
        let mut digital = batch.clone();
        digital["listing_type"] = "download".into();
        assert!(!lacks_readiness(&digital, &none));
    }
}
