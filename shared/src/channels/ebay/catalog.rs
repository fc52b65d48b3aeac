//! Discovery's read of an eBay seller: the Inventory API's inventory items
//! (`getInventoryItems`) and the Seller Hub listings the Trading API lists
//! (`GetMyeBaySelling`'s ActiveList), one row per listing or variation.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EbayClient;
use super::trading::{NS, call_error};
use crate::channels::push::{Progress, PushError, patiently};
use crate::domain::discover::Found;
use crate::domain::{Channel, ChannelRef};

/// Items a `GetMyeBaySelling` page: the Trading API's largest page.
const ENTRIES_PER_PAGE: u32 = 200;

#[derive(Serialize)]
#[serde(rename = "GetMyeBaySellingRequest")]
pub(super) struct GetMyeBaySelling {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "ActiveList")]
    active: ActiveListRequest,
    /// Variations come unless hidden; said plainly.
    #[serde(rename = "HideVariations")]
    hide_variations: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ActiveListRequest {
    include: bool,
    /// Ascending item ids: pages that hold still while they are read.
    sort: &'static str,
    pagination: Pagination,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Pagination {
    entries_per_page: u32,
    page_number: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MyeBaySelling {
    /// Absent when the seller has no active listing.
    #[serde(default)]
    pub active_list: Option<ActiveList>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActiveList {
    #[serde(default)]
    pub item_array: Option<ItemArray>,
    #[serde(default)]
    pub pagination_result: Option<PaginationResult>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ItemArray {
    #[serde(rename = "Item", default)]
    pub items: Vec<ListedItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PaginationResult {
    #[serde(default)]
    pub total_number_of_pages: u32,
}

/// An item as the ActiveList shows it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedItem {
    #[serde(rename = "ItemID", default)]
    pub item_id: String,
    #[serde(rename = "SKU", default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub listing_type: Option<String>,
    /// Still for sale (the item's `Quantity` counts what sold too).
    #[serde(default)]
    pub quantity_available: Option<i64>,
    #[serde(default)]
    pub quantity: i64,
    #[serde(default)]
    pub variations: Option<super::trading::Variations>,
}

impl EbayClient {
    /// Every inventory item of the seller (`getInventoryItems`, 100 a page, page after
    /// page while eBay names a `next`), as discovery sees them: mapped by the eBay SKU
    /// (`sku:`), the quantity available to ship. Seller Hub listings have no inventory
    /// item; the Trading API lists those.
    pub async fn inventory_catalog(&self) -> Result<Vec<Found>, PushError> {
        let mut out = Vec::new();
        for page in 0.. {
            let path = format!("/sell/inventory/v1/inventory_item?limit=100&offset={page}");
            let v = patiently(|| async {
                Ok(self
                    .inventory_call("ebay getInventoryItems", reqwest::Method::GET, &path, None)
                    .await?)
            })
            .await?;
            let items = v
                .get("inventoryItems")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            out.extend(items.iter().filter_map(inventory_found));
            if items.is_empty() || v.get("next").and_then(Value::as_str).is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Every active Seller Hub listing (`GetMyeBaySelling`, ActiveList, 200 a page in
    /// item id order), each variation a row of its own.
    pub async fn trading_catalog(&self, progress: &Progress<'_>) -> Result<Vec<Found>, PushError> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let req = GetMyeBaySelling {
                xmlns: NS,
                active: ActiveListRequest {
                    include: true,
                    sort: "ItemID",
                    pagination: Pagination {
                        entries_per_page: ENTRIES_PER_PAGE,
                        page_number: page,
                    },
                },
                hide_variations: false,
            };
            // An error answer for the call (a system error is worth another try).
            let resp = patiently(|| async {
                let (resp, _, errors) = self
                    .trading::<_, MyeBaySelling>("GetMyeBaySelling", &req)
                    .await?;
                match errors.iter().find(|e| e.is_error()) {
                    Some(e) => Err(call_error("ebay GetMyeBaySelling", e).into()),
                    None => Ok(resp),
                }
            })
            .await?;
            let list = resp.active_list.unwrap_or_default();
            let items = list.item_array.map(|a| a.items).unwrap_or_default();
            out.extend(items.iter().flat_map(listed_found));
            progress(out.len());
            let pages = list
                .pagination_result
                .map_or(0, |p| p.total_number_of_pages);
            if items.is_empty() || page >= pages {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// Both kinds of listing. An Inventory API listing is a Trading listing too (eBay
    /// lists it in the ActiveList), so a listed SKU that is an inventory item is the
    /// inventory item's row, not a second listing of it.
    pub(super) async fn read_catalog(
        &self,
        progress: &Progress<'_>,
    ) -> Result<Vec<Found>, PushError> {
        let mut out = self.inventory_catalog().await?;
        progress(out.len());
        let items: HashSet<String> = out.iter().filter_map(|f| f.sku.clone()).collect();
        let before = out.len();
        let listed = self.trading_catalog(&|n| progress(before + n)).await?;
        out.extend(
            listed
                .into_iter()
                .filter(|f| f.sku.as_ref().is_none_or(|s| !items.contains(s))),
        );
        Ok(out)
    }
}

/// An inventory item, mapped by its SKU.
fn inventory_found(it: &Value) -> Option<Found> {
    let sku = it.get("sku").and_then(Value::as_str)?;
    Some(Found {
        channel: Channel::Ebay,
        refs: ChannelRef::new("sku", sku).into_iter().collect(),
        sku: Some(sku.to_string()),
        qty: it
            .pointer("/availability/shipToLocationAvailability/quantity")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        tracked: true,
        title: it
            .pointer("/product/title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// A Seller Hub listing's rows: the item, or each variation (`Quantity − QuantitySold`,
/// as eBay's VariationType says), mapped by the item (a variation is found by its SKU).
/// Auctions sell one unit once: no count to keep.
fn listed_found(item: &ListedItem) -> Vec<Found> {
    let Ok(r) = ChannelRef::new("item", &item.item_id) else {
        return Vec::new();
    };
    if item
        .listing_type
        .as_deref()
        .is_some_and(|t| !matches!(t, "FixedPriceItem" | "StoresFixedPrice"))
    {
        return Vec::new();
    }
    let row = |sku: Option<&String>, qty: i64, title: String| Found {
        channel: Channel::Ebay,
        refs: vec![r.clone()],
        sku: sku.cloned(),
        qty,
        tracked: true,
        title,
    };
    match item.variations.as_ref().filter(|v| !v.variation.is_empty()) {
        Some(vs) => vs
            .variation
            .iter()
            .map(|v| {
                row(
                    v.sku.as_ref(),
                    v.quantity - v.selling_status.quantity_sold,
                    format!(
                        "{} — {}",
                        item.title,
                        v.sku.as_deref().unwrap_or("variation")
                    ),
                )
            })
            .collect(),
        None => vec![row(
            item.sku.as_ref(),
            item.quantity_available.unwrap_or(item.quantity),
            item.title.clone(),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_active_list_reads_as_one_row() {
        let xml =
            include_str!("../../../../contracts/ebay/trading/GetMyeBaySelling.activelist.xml");
        let (resp, ack, _) = super::super::trading::parse::<MyeBaySelling>("test", xml).unwrap();
        assert_eq!(ack, "Success");
        let list = resp.active_list.unwrap();
        assert_eq!(list.pagination_result.unwrap().total_number_of_pages, 1);
        let rows: Vec<Found> = list
            .item_array
            .unwrap()
            .items
            .iter()
            .flat_map(listed_found)
            .collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].refs[0].to_string(), "item:261993711957");
        assert_eq!(
            (rows[0].sku.as_deref(), rows[0].qty),
            (Some("invproduction_12345678"), 111)
        );
        assert_eq!(rows[0].title, "Felt Brougham");
    }

    #[test]
    fn variations_are_rows_with_what_is_left_and_auctions_are_none() {
        let xml = r#"<GetMyeBaySellingResponse xmlns="urn:ebay:apis:eBLBaseComponents"><Ack>Success</Ack>
          <ActiveList><ItemArray>
            <Item><ItemID>1</ItemID><Title>Tee</Title><ListingType>FixedPriceItem</ListingType><Quantity>9</Quantity>
              <Variations>
                <Variation><SKU>TEE-S</SKU><Quantity>5</Quantity><SellingStatus><QuantitySold>2</QuantitySold></SellingStatus></Variation>
                <Variation><SKU>TEE-M</SKU><Quantity>4</Quantity><SellingStatus><QuantitySold>0</QuantitySold></SellingStatus></Variation>
              </Variations></Item>
            <Item><ItemID>2</ItemID><Title>Lot</Title><ListingType>Chinese</ListingType><Quantity>1</Quantity></Item>
            <Item><ItemID>3</ItemID><Title>No SKU</Title><ListingType>FixedPriceItem</ListingType><Quantity>4</Quantity><QuantityAvailable>3</QuantityAvailable></Item>
          </ItemArray><PaginationResult><TotalNumberOfPages>1</TotalNumberOfPages></PaginationResult></ActiveList>
        </GetMyeBaySellingResponse>"#;
        let (resp, _, _) = super::super::trading::parse::<MyeBaySelling>("test", xml).unwrap();
        let rows: Vec<Found> = resp
            .active_list
            .unwrap()
            .item_array
            .unwrap()
            .items
            .iter()
            .flat_map(listed_found)
            .collect();
        let got: Vec<(Option<&str>, i64)> =
            rows.iter().map(|f| (f.sku.as_deref(), f.qty)).collect();
        assert_eq!(got, [(Some("TEE-S"), 3), (Some("TEE-M"), 4), (None, 3)]);
    }
}
