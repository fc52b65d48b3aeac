//! The eBay sandbox's Trading API (`POST /ws/api.dll`, XML): `GetItem`,
//! `ReviseInventoryStatus`, `GetUserPreferences` and `SetUserPreferences`, for listings made
//! in Seller Hub. Built from the Trading schema's definitions (docs/ebay-trading-api.md),
//! not from onecount's client: its own request and response types, the call name and
//! version headers required, the OAuth token in `X-EBAY-API-IAF-TOKEN`, business errors
//! as HTTP 200 with `Ack=Failure`, `Quantity` as available plus sold.

use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use super::{Ebay, St};
use crate::{WriteRecord, now_ms};

const NS: &str = "urn:ebay:apis:eBLBaseComponents";
const VERSION: &str = "1451";

#[derive(Serialize, Clone, Debug)]
struct XmlError {
    #[serde(rename = "ShortMessage")]
    short: String,
    #[serde(rename = "LongMessage")]
    long: String,
    #[serde(rename = "ErrorCode")]
    code: String,
    #[serde(rename = "SeverityCode")]
    severity: &'static str,
    #[serde(rename = "ErrorParameters", skip_serializing_if = "Vec::is_empty")]
    params: Vec<Param>,
    #[serde(rename = "ErrorClassification")]
    class: &'static str,
}

#[derive(Serialize, Clone, Debug)]
struct Param {
    #[serde(rename = "@ParamID")]
    id: String,
    #[serde(rename = "Value")]
    value: String,
}

/// An error as the schema's `ErrorType` has it; `code` from the table in
/// docs/ebay-trading-api.md § 6.
fn error(code: u64, short: &str, long: &str, params: &[(&str, &str)]) -> XmlError {
    XmlError {
        short: short.into(),
        long: long.into(),
        code: code.to_string(),
        severity: "Error",
        params: params
            .iter()
            .map(|(k, v)| Param {
                id: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
        class: if code == 10007 {
            "SystemError"
        } else {
            "RequestError"
        },
    }
}

/// The fields every response starts with.
#[derive(Serialize)]
struct Head {
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "Ack")]
    ack: &'static str,
    #[serde(rename = "Errors", skip_serializing_if = "Vec::is_empty")]
    errors: Vec<XmlError>,
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Build")]
    build: &'static str,
}

fn head(ack: &'static str, errors: Vec<XmlError>) -> Head {
    Head {
        timestamp: onecount::channels::push::rfc3339(now_ms()),
        ack,
        errors,
        version: VERSION,
        build: "E1451_CORE_APISELLING_SANDBOX",
    }
}

fn xml<T: Serialize>(root: &str, body: &T) -> axum::response::Response {
    let text = quick_xml::se::to_string_with_root(root, body).expect("serializable");
    (
        [("content-type", "text/xml;charset=utf-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{text}"),
    )
        .into_response()
}

#[derive(Serialize)]
struct Failure {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(flatten)]
    head: Head,
}

fn failure(call: &str, e: XmlError) -> axum::response::Response {
    xml(
        &format!("{call}Response"),
        &Failure {
            xmlns: NS,
            head: head("Failure", vec![e]),
        },
    )
}

// ----- requests -----------------------------------------------------------------

#[derive(Deserialize, Default)]
struct GetItemReq {
    #[serde(rename = "ItemID", default)]
    item_id: String,
}

#[derive(Deserialize, Default)]
struct ReviseReq {
    #[serde(rename = "InventoryStatus", default)]
    entries: Vec<ReqEntry>,
}

#[derive(Deserialize, Default, Clone)]
struct ReqEntry {
    #[serde(rename = "ItemID", default)]
    item_id: Option<String>,
    #[serde(rename = "SKU", default)]
    sku: Option<String>,
    #[serde(rename = "Quantity", default)]
    quantity: Option<i64>,
}

#[derive(Deserialize, Default)]
struct MyeBaySellingReq {
    #[serde(rename = "ActiveList", default)]
    active: Option<ActiveListReq>,
}

#[derive(Deserialize, Default)]
struct ActiveListReq {
    #[serde(rename = "Include", default)]
    include: Option<bool>,
    #[serde(rename = "Pagination", default)]
    pagination: Option<PaginationReq>,
}

#[derive(Deserialize, Default)]
struct PaginationReq {
    #[serde(rename = "EntriesPerPage", default)]
    per_page: Option<usize>,
    #[serde(rename = "PageNumber", default)]
    page: Option<usize>,
}

#[derive(Deserialize, Default)]
struct SetPrefsReq {
    #[serde(rename = "OutOfStockControlPreference", default)]
    on: Option<bool>,
}

#[derive(Deserialize, Default)]
struct GetPrefsReq {
    #[serde(rename = "ShowOutOfStockControlPreference", default)]
    show: Option<bool>,
}

// ----- responses ----------------------------------------------------------------

#[derive(Serialize)]
struct Amount {
    #[serde(rename = "@currencyID")]
    currency: &'static str,
    #[serde(rename = "$text")]
    value: &'static str,
}

fn price() -> Amount {
    Amount {
        currency: "USD",
        value: "19.99",
    }
}

#[derive(Serialize)]
struct SellingStatus {
    #[serde(rename = "QuantitySold")]
    sold: i64,
    #[serde(rename = "ListingStatus", skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

#[derive(Serialize)]
struct NameValue {
    #[serde(rename = "Name")]
    name: &'static str,
    #[serde(rename = "Value")]
    value: String,
}

#[derive(Serialize)]
struct Specifics {
    #[serde(rename = "NameValueList")]
    list: NameValue,
}

#[derive(Serialize)]
struct VariationOut {
    #[serde(rename = "SKU")]
    sku: String,
    #[serde(rename = "StartPrice")]
    price: Amount,
    #[serde(rename = "Quantity")]
    quantity: i64,
    #[serde(rename = "VariationSpecifics")]
    specifics: Specifics,
    #[serde(rename = "SellingStatus")]
    selling: SellingStatus,
}

#[derive(Serialize)]
struct VariationsOut {
    #[serde(rename = "Variation")]
    list: Vec<VariationOut>,
}

#[derive(Serialize)]
struct ItemOut {
    #[serde(rename = "ItemID")]
    item_id: String,
    #[serde(rename = "ListingDuration")]
    duration: &'static str,
    #[serde(rename = "ListingType")]
    listing_type: &'static str,
    #[serde(rename = "Quantity")]
    quantity: i64,
    #[serde(rename = "SellingStatus")]
    selling: SellingStatus,
    #[serde(rename = "SKU", skip_serializing_if = "Option::is_none")]
    sku: Option<String>,
    #[serde(rename = "Variations", skip_serializing_if = "Option::is_none")]
    variations: Option<VariationsOut>,
    #[serde(rename = "HideFromSearch")]
    hidden: bool,
    #[serde(
        rename = "ReasonHideFromSearch",
        skip_serializing_if = "Option::is_none"
    )]
    reason: Option<&'static str>,
}

#[derive(Serialize)]
struct GetItemOut {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(flatten)]
    head: Head,
    #[serde(rename = "Item")]
    item: ItemOut,
}

#[derive(Serialize)]
struct CurrentPrice {
    #[serde(rename = "CurrentPrice")]
    price: Amount,
}

/// An item as GetMyeBaySelling's ActiveList shows it (a real answer's elements).
#[derive(Serialize)]
struct ListedOut {
    #[serde(rename = "ItemID")]
    item_id: String,
    #[serde(rename = "ListingType")]
    listing_type: &'static str,
    /// Available plus sold.
    #[serde(rename = "Quantity")]
    quantity: i64,
    #[serde(rename = "SellingStatus")]
    selling: CurrentPrice,
    #[serde(rename = "Title")]
    title: String,
    #[serde(rename = "QuantityAvailable")]
    available: i64,
    #[serde(rename = "SKU", skip_serializing_if = "Option::is_none")]
    sku: Option<String>,
    #[serde(rename = "Variations", skip_serializing_if = "Option::is_none")]
    variations: Option<VariationsOut>,
}

#[derive(Serialize)]
struct ItemArrayOut {
    #[serde(rename = "Item")]
    items: Vec<ListedOut>,
}

#[derive(Serialize)]
struct PaginationOut {
    #[serde(rename = "TotalNumberOfPages")]
    pages: usize,
    #[serde(rename = "TotalNumberOfEntries")]
    entries: usize,
}

#[derive(Serialize)]
struct ActiveListOut {
    #[serde(rename = "ItemArray", skip_serializing_if = "Option::is_none")]
    array: Option<ItemArrayOut>,
    #[serde(rename = "PaginationResult")]
    pagination: PaginationOut,
}

#[derive(Serialize)]
struct MyeBaySellingOut {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(flatten)]
    head: Head,
    #[serde(rename = "ActiveList", skip_serializing_if = "Option::is_none")]
    active: Option<ActiveListOut>,
}

#[derive(Serialize)]
struct Echo {
    #[serde(rename = "SKU")]
    sku: String,
    #[serde(rename = "ItemID")]
    item_id: String,
    /// eBay's echo carries the price without its currency (a real answer's shape).
    #[serde(rename = "StartPrice")]
    price: &'static str,
    /// Available plus sold.
    #[serde(rename = "Quantity")]
    quantity: i64,
}

#[derive(Serialize)]
struct Fee {
    #[serde(rename = "Name")]
    name: &'static str,
    #[serde(rename = "Fee")]
    fee: Amount,
}

#[derive(Serialize)]
struct Fees {
    #[serde(rename = "ItemID")]
    item_id: String,
    #[serde(rename = "Fee")]
    fees: Vec<Fee>,
}

#[derive(Serialize)]
struct ReviseOut {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(flatten)]
    head: Head,
    #[serde(rename = "InventoryStatus", skip_serializing_if = "Vec::is_empty")]
    echoes: Vec<Echo>,
    #[serde(rename = "Fees", skip_serializing_if = "Vec::is_empty")]
    fees: Vec<Fees>,
}

#[derive(Serialize)]
struct PrefsOut {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(flatten)]
    head: Head,
    #[serde(
        rename = "OutOfStockControlPreference",
        skip_serializing_if = "Option::is_none"
    )]
    on: Option<bool>,
}

// ----- the calls ----------------------------------------------------------------

/// The request's root element and its default namespace.
fn root(body: &str) -> Option<(String, String)> {
    let mut r = quick_xml::Reader::from_str(body);
    loop {
        match r.read_event().ok()? {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                let name = e.name().as_ref().to_string();
                let ns = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == "xmlns")
                    .map(|a| a.value.to_string())
                    .unwrap_or_default();
                return Some((name, ns));
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

impl Ebay {
    /// `POST /ws/api.dll`: the call named in `X-EBAY-API-CALL-NAME`.
    pub(super) async fn trading(
        &self,
        headers: &HeaderMap,
        body: &str,
    ) -> axum::response::Response {
        let h = |k: &str| {
            headers
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let call = h("x-ebay-api-call-name");
        if call.is_empty()
            || h("x-ebay-api-siteid").parse::<u32>().is_err()
            || h("x-ebay-api-compatibility-level").is_empty()
        {
            // The sandbox's choice: eBay's exact answer to missing headers is not in the
            // sources (docs/channels.md, sandbox differences).
            return crate::err(
                400,
                "X-EBAY-API-CALL-NAME, X-EBAY-API-SITEID and X-EBAY-API-COMPATIBILITY-LEVEL are required",
            );
        }
        if !self.tokens.check(&h("x-ebay-api-iaf-token")) {
            return failure(
                &call,
                error(
                    21916984,
                    "Invalid IAF token.",
                    "IAF token supplied is invalid.",
                    &[],
                ),
            );
        }
        self.st()
            .trading_requests
            .push((call.clone(), body.to_string()));
        self.st().calls += 1;
        if let Some(r) = self.faults.check().await {
            return r;
        }
        match root(body) {
            Some((name, ns)) if name == format!("{call}Request") && ns == NS => {}
            _ => {
                return failure(
                    &call,
                    error(
                        5,
                        "XML Parse error.",
                        &format!("the request root must be {call}Request in {NS}"),
                        &[],
                    ),
                );
            }
        }
        match call.as_str() {
            "GetItem" => match quick_xml::de::from_str::<GetItemReq>(body) {
                Ok(r) => self.get_item(&r.item_id),
                Err(_) => failure(&call, error(5, "XML Parse error.", "GetItem", &[])),
            },
            "ReviseInventoryStatus" => match quick_xml::de::from_str::<ReviseReq>(body) {
                Ok(r) => self.revise(r.entries),
                Err(_) => failure(
                    &call,
                    error(5, "XML Parse error.", "ReviseInventoryStatus", &[]),
                ),
            },
            "GetMyeBaySelling" => match quick_xml::de::from_str::<MyeBaySellingReq>(body) {
                Ok(r) => self.my_ebay_selling(r),
                Err(_) => failure(&call, error(5, "XML Parse error.", "GetMyeBaySelling", &[])),
            },
            "GetUserPreferences" => {
                let show = quick_xml::de::from_str::<GetPrefsReq>(body)
                    .ok()
                    .and_then(|r| r.show)
                    == Some(true);
                let on = !self.st().no_oos_control;
                xml(
                    "GetUserPreferencesResponse",
                    &PrefsOut {
                        xmlns: NS,
                        head: head("Success", vec![]),
                        on: show.then_some(on),
                    },
                )
            }
            "SetUserPreferences" => {
                if let Some(on) = quick_xml::de::from_str::<SetPrefsReq>(body)
                    .ok()
                    .and_then(|r| r.on)
                {
                    self.st().no_oos_control = !on;
                }
                xml(
                    "SetUserPreferencesResponse",
                    &PrefsOut {
                        xmlns: NS,
                        head: head("Success", vec![]),
                        on: None,
                    },
                )
            }
            other => failure(
                other,
                error(
                    2,
                    "Unsupported API call.",
                    &format!(
                        "The API call \"{other}\" is invalid or not supported in this release."
                    ),
                    &[],
                ),
            ),
        }
    }

    /// `GetMyeBaySelling`'s ActiveList: every live listing (Seller Hub and Inventory API
    /// ones alike, as on eBay), in item id order, `EntriesPerPage` (1–200, default 25) a
    /// page. No ActiveList element when the seller has none.
    fn my_ebay_selling(&self, r: MyeBaySellingReq) -> axum::response::Response {
        let Some(active) = r.active.filter(|a| a.include != Some(false)) else {
            return xml(
                "GetMyeBaySellingResponse",
                &MyeBaySellingOut {
                    xmlns: NS,
                    head: head("Success", vec![]),
                    active: None,
                },
            );
        };
        let p = active.pagination.unwrap_or_default();
        let (per_page, page) = (p.per_page.unwrap_or(25), p.page.unwrap_or(1));
        if !(1..=200).contains(&per_page) || page == 0 {
            return failure(
                "GetMyeBaySelling",
                error(
                    37,
                    "Input data is invalid.",
                    "Input data for tag <Pagination> is invalid or missing.",
                    &[],
                ),
            );
        }
        let st = self.st();
        let mut ids: Vec<u64> = st
            .listings
            .keys()
            .map(|k| st.variation_of.get(k).copied().unwrap_or(*k))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| {
            item_view(&st, &id.to_string())
                .is_some_and(|v| !v.keys.iter().all(|k| st.ended.contains(k)))
        });
        let items: Vec<ListedOut> = ids
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .filter_map(|id| listed(&st, *id))
            .collect();
        let out = MyeBaySellingOut {
            xmlns: NS,
            head: head("Success", vec![]),
            active: (!ids.is_empty()).then(|| ActiveListOut {
                array: (!items.is_empty()).then_some(ItemArrayOut { items }),
                pagination: PaginationOut {
                    pages: ids.len().div_ceil(per_page),
                    entries: ids.len(),
                },
            }),
        };
        xml("GetMyeBaySellingResponse", &out)
    }

    fn get_item(&self, id: &str) -> axum::response::Response {
        let st = self.st();
        let Some(item) = item_view(&st, id) else {
            return failure("GetItem", not_found(id));
        };
        let oos_on = !st.no_oos_control;
        let sold = |k: u64| st.sold.get(&k).copied().unwrap_or(0);
        let listing = |k: u64| st.listings.get(&k).expect("a key of the item");
        let ended = item.keys.iter().all(|k| st.ended.contains(k));
        let available: i64 = item.keys.iter().map(|&k| listing(k).qty.max(0)).sum();
        let total_sold: i64 = item.keys.iter().map(|&k| sold(k)).sum();
        let hidden = oos_on && available == 0 && !ended;
        let variations = item.variations.then(|| VariationsOut {
            list: item
                .keys
                .iter()
                .map(|&k| VariationOut {
                    sku: listing(k).sku.clone(),
                    price: price(),
                    quantity: listing(k).qty.max(0) + sold(k),
                    specifics: Specifics {
                        list: NameValue {
                            name: "Size",
                            value: listing(k).sku.clone(),
                        },
                    },
                    selling: SellingStatus {
                        sold: sold(k),
                        status: None,
                    },
                })
                .collect(),
        });
        let out = GetItemOut {
            xmlns: NS,
            head: head("Success", vec![]),
            item: ItemOut {
                item_id: id.to_string(),
                duration: "GTC",
                listing_type: "FixedPriceItem",
                quantity: available + total_sold,
                selling: SellingStatus {
                    sold: total_sold,
                    status: Some(if ended { "Completed" } else { "Active" }),
                },
                sku: (!item.variations).then(|| listing(item.keys[0]).sku.clone()),
                variations,
                hidden,
                reason: hidden.then_some("OutOfStock"),
            },
        };
        xml("GetItemResponse", &out)
    }

    fn revise(&self, entries: Vec<ReqEntry>) -> axum::response::Response {
        if entries.is_empty() || entries.len() > 4 {
            // The sandbox's code: the schema allows 1 to 4 InventoryStatus; eBay's code
            // for more is not in the sources.
            return failure(
                "ReviseInventoryStatus",
                error(
                    37,
                    "Input data is invalid.",
                    "ReviseInventoryStatus takes from 1 to 4 InventoryStatus containers.",
                    &[],
                ),
            );
        }
        let mut st = self.st();
        let at = now_ms();
        let mut errors = Vec::new();
        let mut echoes = Vec::new();
        let mut fees: Vec<Fees> = Vec::new();
        for e in &entries {
            match revise_one(&mut st, e) {
                Ok((item, key)) => {
                    let (sku, qty) = st
                        .listings
                        .get(&key)
                        .map(|l| (l.sku.clone(), l.qty))
                        .expect("revised");
                    let sold = st.sold.get(&key).copied().unwrap_or(0);
                    echoes.push(Echo {
                        sku,
                        item_id: item.clone(),
                        price: "19.99",
                        quantity: qty + sold,
                    });
                    st.writes.push(WriteRecord {
                        at_ms: at,
                        listing: key.to_string(),
                        qty,
                    });
                    if !fees.iter().any(|f| f.item_id == item) {
                        fees.push(Fees {
                            item_id: item,
                            fees: vec![Fee {
                                name: "ListingFee",
                                fee: Amount {
                                    currency: "USD",
                                    value: "0.0",
                                },
                            }],
                        });
                    }
                }
                Err(x) => errors.push(*x),
            }
        }
        let ack = match (echoes.is_empty(), errors.is_empty()) {
            (_, true) => "Success",
            (true, false) => "Failure",
            // Not documented; the sandbox's choice (docs/ebay-trading-api.md § 4).
            (false, false) => "Warning",
        };
        xml(
            "ReviseInventoryStatusResponse",
            &ReviseOut {
                xmlns: NS,
                head: head(ack, errors),
                echoes,
                fees,
            },
        )
    }
}

/// An item as `GetItem` sees it: its keys in the sandbox (one, or one per variation).
struct ItemView {
    keys: Vec<u64>,
    variations: bool,
}

/// One ActiveList item: a variation listing's quantities are its variations'.
fn listed(st: &St, id: u64) -> Option<ListedOut> {
    let item = item_view(st, &id.to_string())?;
    let sold = |k: u64| st.sold.get(&k).copied().unwrap_or(0);
    let listing = |k: u64| st.listings.get(&k);
    let available: i64 = item
        .keys
        .iter()
        .filter_map(|&k| listing(k))
        .map(|l| l.qty.max(0))
        .sum();
    let total_sold: i64 = item.keys.iter().map(|&k| sold(k)).sum();
    let first = listing(item.keys[0])?;
    let variations = item.variations.then(|| VariationsOut {
        list: item
            .keys
            .iter()
            .filter_map(|&k| listing(k).map(|l| (k, l)))
            .map(|(k, l)| VariationOut {
                sku: l.sku.clone(),
                price: price(),
                quantity: l.qty.max(0) + sold(k),
                specifics: Specifics {
                    list: NameValue {
                        name: "Size",
                        value: l.sku.clone(),
                    },
                },
                selling: SellingStatus {
                    sold: sold(k),
                    status: None,
                },
            })
            .collect(),
    });
    Some(ListedOut {
        item_id: id.to_string(),
        listing_type: "FixedPriceItem",
        quantity: available + total_sold,
        selling: CurrentPrice { price: price() },
        title: st
            .titles
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("Sandbox item {id}")),
        available,
        sku: (!item.variations && !first.sku.is_empty()).then(|| first.sku.clone()),
        variations,
    })
}

fn item_view(st: &St, id: &str) -> Option<ItemView> {
    let id: u64 = id.trim().parse().ok()?;
    let children: Vec<u64> = st
        .variation_of
        .iter()
        .filter(|(_, p)| **p == id)
        .map(|(k, _)| *k)
        .collect();
    if !children.is_empty() {
        return Some(ItemView {
            keys: children,
            variations: true,
        });
    }
    (st.listings.contains_key(&id) && !st.variation_of.contains_key(&id)).then(|| ItemView {
        keys: vec![id],
        variations: false,
    })
}

fn not_found(id: &str) -> XmlError {
    error(
        17,
        "Item cannot be accessed.",
        "This item cannot be accessed because the listing has been deleted, is a Half.com listing, or you are not the seller.",
        &[("ItemID", id)],
    )
}

/// One `InventoryStatus`: the item id and the revised key, or the error naming it.
fn revise_one(st: &mut St, e: &ReqEntry) -> Result<(String, u64), Box<XmlError>> {
    let id = e.item_id.clone().unwrap_or_default();
    let sku = e.sku.clone();
    let params: Vec<(&str, &str)> = match &sku {
        Some(s) => vec![("ItemID", id.as_str()), ("SKU", s.as_str())],
        None => vec![("ItemID", id.as_str())],
    };
    let view = item_view(st, &id).ok_or_else(|| Box::new(not_found(&id)))?;
    let key = match (&sku, view.variations) {
        (None, true) => {
            return Err(Box::new(error(
                21916735,
                "Cannot revise a Multi-SKU item when item level SKU is supplied.",
                "Variation level SKU or Variation level SKU and ItemID should be supplied to revise a Multi-SKU item.",
                &params,
            )));
        }
        (Some(s), true) => *view
            .keys
            .iter()
            .find(|k| st.listings.get(k).is_some_and(|l| &l.sku == s))
            .ok_or_else(|| {
                Box::new(error(
                    21916635,
                    "Invalid Multi-SKU item id.",
                    "Invalid Multi-SKU item id supplied with variations.",
                    &params,
                ))
            })?,
        (_, false) => view.keys[0],
    };
    if !st.seller_hub.contains(&key) {
        return Err(Box::new(error(
            21919474,
            "This operation is not allowed for inventory items.",
            "Inventory-based listing management is not currently supported by this tool. Please refer to the tool used to create this listing.",
            &params,
        )));
    }
    if st.ended.contains(&key) {
        return Err(Box::new(error(
            21916750,
            "FixedPrice item ended.",
            "You are not allowed to revise an ended item.",
            &params,
        )));
    }
    if let Some(code) = st.trading_failures.get(&key) {
        return Err(Box::new(error(
            *code,
            "Internal error to the application.",
            "Internal error to the application.",
            &params,
        )));
    }
    let q = e.quantity.filter(|q| *q >= 0).ok_or_else(|| {
        Box::new(error(
            515,
            "Quantity is not valid.",
            "The quantity must be a valid number greater than 0.",
            &params,
        ))
    })?;
    // Without out-of-stock control a live listing cannot be set to 0 (515); a variation
    // can, while another variation of the item still has some.
    let others_left = view
        .keys
        .iter()
        .filter(|k| **k != key)
        .any(|k| st.listings.get(k).is_some_and(|l| l.qty > 0));
    if q == 0 && st.no_oos_control && !(view.variations && others_left) {
        return Err(Box::new(error(
            515,
            "Quantity is not valid.",
            "The quantity must be a valid number greater than 0.",
            &params,
        )));
    }
    if let Some(l) = st.listings.get_mut(&key) {
        l.qty = q;
    }
    Ok((id, key))
}
