//! eBay listings made in Seller Hub (or by tools on the Trading API): the Trading API's
//! XML calls. `GetItem` reads one listing with its variations (available = `Quantity` −
//! `SellingStatus.QuantitySold`), `ReviseInventoryStatus` sets up to four items or
//! variations per call, and `GetUserPreferences`/`SetUserPreferences` read and set the
//! seller's out-of-stock control. The shapes follow the Trading API schema
//! (`ebaySvc.wsdl`); docs/ebay-trading-api.md gives the source of each fact.
//!
//! Which listings go this way: a mapping with an `item:` ref and no `offer:` ref (see
//! [`is_trading`]). Inventory API listings (an `offer:`, or none of either) keep the REST
//! path: eBay refuses Trading revisions of those (21919474), and Seller Hub listings have
//! no inventory item (`bulkGetInventoryItem` answers 404).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::EbayClient;
use crate::channels::http::{HttpError, send_text};
use crate::channels::push::{PushError, Seen, Target, Write};

/// The schema's namespace, on every request and response root.
pub const NS: &str = "urn:ebay:apis:eBLBaseComponents";
/// The schema version onecount's requests are written against.
pub const COMPATIBILITY_LEVEL: &str = "1451";
/// Items or variations per `ReviseInventoryStatus` ("the limit ... is four").
pub const REVISE_BATCH: usize = 4;
/// `GetItem` calls in flight at once for one batch read (one item each).
const READ_CONCURRENCY: usize = 5;
/// `ReviseInventoryStatus` calls in flight at once for one batch write.
const WRITE_CONCURRENCY: usize = 3;
/// How long a read of the seller's out-of-stock preference is trusted.
const PREFERENCE_TTL: Duration = Duration::from_secs(600);
/// Error 518 (the day's call quota) clears at midnight Pacific; look again in 15 minutes.
const QUOTA_RETRY_S: u64 = 900;

/// Whether `t` is a Seller Hub (Trading API) listing: it names an item and no offer.
pub fn is_trading(t: &Target) -> bool {
    t.reference("item").is_some() && t.reference("offer").is_none()
}

// ----- the wire -----------------------------------------------------------------

/// `ErrorType`: one per problem, naming the entry in `ErrorParameters`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiError {
    #[serde(default)]
    pub short_message: String,
    #[serde(default)]
    pub long_message: String,
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub severity_code: String,
    #[serde(default)]
    pub error_parameters: Vec<ErrorParameter>,
    #[serde(default)]
    pub error_classification: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorParameter {
    #[serde(rename = "@ParamID", default)]
    pub param_id: String,
    #[serde(rename = "Value", default)]
    pub value: String,
}

impl ApiError {
    pub(super) fn is_error(&self) -> bool {
        self.severity_code != "Warning"
    }
    fn code(&self) -> u64 {
        self.error_code.trim().parse().unwrap_or(0)
    }
    /// Whether the error names `value` (an item id or a SKU) among its parameters.
    fn names(&self, value: &str) -> bool {
        self.error_parameters.iter().any(|p| p.value == value)
    }
    fn text(&self) -> String {
        format!(
            "{} {}",
            self.error_code,
            if self.long_message.is_empty() {
                &self.short_message
            } else {
                &self.long_message
            }
        )
    }
}

/// The fields every response has.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(default)]
    ack: String,
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Serialize)]
#[serde(rename = "GetItemRequest")]
struct GetItemRequest<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "ItemID")]
    item_id: &'a str,
    #[serde(rename = "DetailLevel")]
    detail_level: &'static str,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetItemResponse {
    pub item: Option<Item>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Item {
    #[serde(rename = "ItemID", default)]
    pub item_id: String,
    #[serde(rename = "SKU", default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub listing_type: Option<String>,
    /// Available plus sold.
    #[serde(default)]
    pub quantity: i64,
    #[serde(default)]
    pub selling_status: SellingStatus,
    #[serde(default)]
    pub variations: Option<Variations>,
    #[serde(default)]
    pub hide_from_search: Option<bool>,
    #[serde(default)]
    pub reason_hide_from_search: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SellingStatus {
    #[serde(default)]
    pub quantity_sold: i64,
    #[serde(default)]
    pub listing_status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Variations {
    #[serde(rename = "Variation", default)]
    pub variation: Vec<Variation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Variation {
    #[serde(rename = "SKU", default)]
    pub sku: Option<String>,
    /// Available plus sold.
    #[serde(default)]
    pub quantity: i64,
    #[serde(default)]
    pub selling_status: SellingStatus,
}

#[derive(Serialize)]
#[serde(rename = "ReviseInventoryStatusRequest")]
struct ReviseRequest<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "InventoryStatus")]
    entries: Vec<InventoryStatus<'a>>,
}

#[derive(Serialize)]
struct InventoryStatus<'a> {
    #[serde(rename = "ItemID")]
    item_id: &'a str,
    #[serde(rename = "SKU", skip_serializing_if = "Option::is_none")]
    sku: Option<&'a str>,
    /// The quantity available for sale (eBay adds what was sold).
    #[serde(rename = "Quantity")]
    quantity: i64,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReviseResponse {
    #[serde(rename = "InventoryStatus", default)]
    pub revised: Vec<Revised>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Revised {
    #[serde(rename = "ItemID", default)]
    pub item_id: String,
    #[serde(rename = "SKU", default)]
    pub sku: Option<String>,
}

#[derive(Serialize)]
#[serde(rename = "GetUserPreferencesRequest")]
struct GetPreferences {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "ShowOutOfStockControlPreference")]
    show: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct Preferences {
    #[serde(rename = "OutOfStockControlPreference", default)]
    pub out_of_stock_control: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename = "SetUserPreferencesRequest")]
struct SetPreferences {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "OutOfStockControlPreference")]
    on: bool,
}

/// A request body: the XML declaration and the serialized request.
fn body<T: Serialize>(what: &str, req: &T) -> Result<String, HttpError> {
    quick_xml::se::to_string(req)
        .map(|x| format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{x}"))
        .map_err(|e| HttpError::Permanent {
            what: what.into(),
            status: 0,
            detail: format!("cannot write the request: {e}"),
        })
}

/// A response body as `T`, with the envelope's ack and errors.
pub fn parse<T: DeserializeOwned + Default>(
    what: &str,
    xml: &str,
) -> Result<(T, String, Vec<ApiError>), HttpError> {
    let bad = |e: quick_xml::DeError| HttpError::Permanent {
        what: what.into(),
        status: 200,
        detail: format!("unexpected answer: {e}"),
    };
    let env: Envelope = quick_xml::de::from_str(xml).map_err(bad)?;
    let t: T = quick_xml::de::from_str(xml).map_err(bad)?;
    Ok((t, env.ack, env.errors))
}

// ----- errors -------------------------------------------------------------------

/// Codes that mean the token was refused (invalid, expired, hard expired, missing).
const AUTH_CODES: &[u64] = &[930, 931, 932, 17470, 21916017, 21916018, 21916984, 21917053];

/// What an error about one listing means for the push.
pub fn classify(e: &ApiError, item: &str) -> PushError {
    let text = e.text();
    match e.code() {
        // Ended: "Auction ended." / "FixedPrice item ended.", and gone or not ours.
        291 | 21916750 | 17 | 231 => PushError::Mismatch(ended_item(item, &text)),
        // An Inventory API listing (made or migrated there): the REST path serves it.
        21919474 => PushError::Mismatch(format!(
            "ebay: item {item} is managed through the Inventory API ({text}); map its offer (offer:ID, from \
             getOffers) beside the item, or the eBay SKU alone (sku:EBAY-SKU)"
        )),
        // A multi-variation item written without a variation SKU, or with a wrong one.
        21916635 | 21916735 | 21916286 => PushError::Mismatch(format!(
            "ebay: item {item} cannot be revised as mapped ({text}); a multi-variation item \
             needs the variation's SKU (sku:VARIATION-SKU)"
        )),
        515 => PushError::Mismatch(out_of_stock_control_off(item, "this SKU")),
        518 => PushError::Transient {
            detail: format!("ebay trading call limit: {text}"),
            retry_after: Some(QUOTA_RETRY_S),
        },
        c if AUTH_CODES.contains(&c) => PushError::Unauthorized(format!("ebay trading: {text}")),
        10007 => transient(&text),
        _ if e.error_classification == "SystemError" => transient(&text),
        _ => PushError::Permanent(format!("ebay trading: {text}")),
    }
}

/// An error answer to a call about the account (not one listing), as an HTTP error: a
/// system error is worth retrying, anything else is not.
pub(super) fn call_error(what: &str, e: &ApiError) -> HttpError {
    if e.error_classification == "SystemError" || e.code() == 10007 {
        HttpError::Transient {
            what: what.into(),
            status: None,
            detail: e.text(),
            retry_after: None,
        }
    } else {
        HttpError::Permanent {
            what: what.into(),
            status: 200,
            detail: e.text(),
        }
    }
}

fn transient(text: &str) -> PushError {
    PushError::Transient {
        detail: format!("ebay trading: {text}"),
        retry_after: None,
    }
}

fn ended_item(item: &str, text: &str) -> String {
    format!(
        "ebay: item {item} has ended or is not the seller's ({text}). Relist it in Seller Hub \
         (with out-of-stock control on, a listing at 0 stays alive instead of ending)"
    )
}

/// Why a Seller Hub listing that should show 0 shows 1, and the seller's choices.
pub fn out_of_stock_control_off(item: &str, sku: &str) -> String {
    format!(
        "ebay: item {item} ({sku}) should show 0, but the seller's out-of-stock control is \
         off: eBay takes no 0 on a live fixed-price listing (error 515) and onecount never \
         ends a listing on its own, so it shows 1 and its last unit can be sold twice. \
         Until you choose, onecount does not push to this listing, a restock included. \
         Choose: turn out-of-stock control on (`onecount connect ebay --out-of-stock-control \
         on`: listings at 0 are hidden, not ended, and come back on restock; pushes resume \
         then), or end the listing in Seller Hub while the SKU is out (onecount pushes to it \
         again after `onecount listings set`)"
    )
}

// ----- calls --------------------------------------------------------------------

/// Why eBay refused an entry, where the client acts on it rather than reporting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    No,
    /// 515: a zero without out-of-stock control (it went off since it was read).
    Zero,
    /// 21919474: an Inventory API listing.
    InventoryListing,
}

/// How a listing is addressed in `ReviseInventoryStatus`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub item: String,
    /// The variation's SKU, for a multi-variation item.
    pub sku: Option<String>,
}

fn entry(state: &serde_json::Value) -> Option<Entry> {
    Some(Entry {
        item: state.get("item")?.as_str()?.to_string(),
        sku: state
            .get("variation")
            .and_then(|v| v.as_str())
            .map(str::to_string),
    })
}

impl EbayClient {
    fn trading_url(&self) -> String {
        self.url("/ws/api.dll")
    }

    /// One Trading call: the user token in `X-EBAY-API-IAF-TOKEN`, one refresh and retry
    /// when eBay refuses it (HTTP 200, `Ack=Failure`, an auth code), the day's quota
    /// (518) as throttling. Other errors come back with the answer, for each entry.
    pub(super) async fn trading<Req: Serialize, Resp: DeserializeOwned + Default>(
        &self,
        call: &'static str,
        req: &Req,
    ) -> Result<(Resp, String, Vec<ApiError>), HttpError> {
        let what = format!("ebay {call}");
        let xml = body(&what, req)?;
        self.as_seller(|token| {
            let request = self
                .http
                .post(self.trading_url())
                .header("X-EBAY-API-CALL-NAME", call)
                .header("X-EBAY-API-SITEID", self.cfg.site_id.to_string())
                .header("X-EBAY-API-COMPATIBILITY-LEVEL", COMPATIBILITY_LEVEL)
                .header("X-EBAY-API-IAF-TOKEN", token.expose())
                .header("Content-Type", "text/xml")
                .body(xml.clone());
            let what = what.clone();
            async move {
                let (text, _) = send_text(&what, request).await?;
                let (resp, ack, errors) = parse::<Resp>(&what, &text)?;
                // Trading answers a refused token with HTTP 200: as 401 here, so it gets
                // the same one refresh and retry as a REST call.
                if let Some(e) = errors
                    .iter()
                    .find(|e| e.is_error() && AUTH_CODES.contains(&e.code()))
                {
                    return Err(HttpError::Permanent {
                        what,
                        status: 401,
                        detail: e.text(),
                    });
                }
                if let Some(e) = errors.iter().find(|e| e.code() == 518) {
                    return Err(HttpError::Transient {
                        what,
                        status: None,
                        detail: e.text(),
                        retry_after: Some(QUOTA_RETRY_S),
                    });
                }
                Ok((resp, ack, errors))
            }
        })
        .await
    }

    /// `GetItem` for each distinct item of `targets` (one item per call: the schema has
    /// no list of ids), then each target's listing or variation.
    pub(super) async fn trading_read(&self, targets: &[Target]) -> Vec<Result<Seen, PushError>> {
        let mut ids: Vec<&str> = targets
            .iter()
            .map(|t| t.reference("item").unwrap_or_default())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        // A few at a time (each is one item), stopping at a failure of the account, not
        // the item (the token refused, the day's quota): the others would meet it too.
        let mut items: BTreeMap<&str, Result<Item, PushError>> = BTreeMap::new();
        for wave in ids.chunks(READ_CONCURRENCY) {
            let got = futures::future::join_all(wave.iter().map(|id| self.get_item(id))).await;
            let stop = got.iter().find_map(|r| match r {
                Err(
                    e @ (PushError::Unauthorized(_)
                    | PushError::Transient {
                        retry_after: Some(_),
                        ..
                    }),
                ) => Some(e.clone()),
                _ => None,
            });
            items.extend(wave.iter().copied().zip(got));
            if let Some(e) = stop {
                for id in &ids {
                    items.entry(id).or_insert_with(|| Err(e.clone()));
                }
                break;
            }
        }
        let out: Vec<Result<Seen, PushError>> = targets
            .iter()
            .map(|t| {
                let id = t.reference("item").unwrap_or_default();
                match &items[id] {
                    Ok(item) => seen(item, t),
                    Err(e) => Err(e.clone()),
                }
            })
            .collect();
        let mut states = self
            .trading_states
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (t, r) in targets.iter().zip(&out) {
            if let Ok(s) = r {
                states.insert(state_key(t), s.state.clone());
            }
        }
        out
    }

    async fn get_item(&self, id: &str) -> Result<Item, PushError> {
        let (resp, _, errors) = self
            .trading::<_, GetItemResponse>(
                "GetItem",
                &GetItemRequest {
                    xmlns: NS,
                    item_id: id,
                    detail_level: "ReturnAll",
                },
            )
            .await?;
        if let Some(e) = errors.iter().find(|e| e.is_error()) {
            return Err(classify(e, id));
        }
        resp.item
            .ok_or_else(|| transient("GetItem answered no Item"))
    }

    /// `ReviseInventoryStatus`, four entries a call; each entry's outcome is its echo
    /// (`InventoryStatus`) or the error naming it, never the call's `Ack` alone. A zero is
    /// written only while the seller's out-of-stock control is on; off (or refused with
    /// 515 because it just went off), the listing is set to 1 and the write answers the
    /// seller's choice as a mismatch.
    pub(super) async fn trading_write(&self, writes: &[Write]) -> Vec<Result<(), PushError>> {
        let mut out: Vec<Option<Result<(), PushError>>> = vec![None; writes.len()];
        let mut ready: Vec<(usize, Entry, i64)> = Vec::new();
        let mut kept_at_one: Vec<usize> = Vec::new();
        // Read at most once for the batch, and only when a zero is in it.
        let oos = if writes.iter().any(|w| w.qty == 0) {
            Some(self.out_of_stock_control().await)
        } else {
            None
        };
        for (i, w) in writes.iter().enumerate() {
            let Some(e) = entry(&w.seen.state) else {
                out[i] = Some(Err(PushError::Permanent(
                    "ebay: a Seller Hub write without its item".into(),
                )));
                continue;
            };
            // eBay warns against one listing twice in a call: two SKUs mapped to one
            // listing (or variation) is a mapping to fix, not a write to guess.
            if let Some((j, _, _)) = ready.iter().find(|(_, x, _)| *x == e) {
                out[i] = Some(Err(mapped_twice(&e, &writes[*j].target, &w.target)));
                continue;
            }
            let mut qty = i64::from(w.qty);
            match (&oos, qty) {
                (_, 1..) | (Some(Ok(true)), _) => {}
                (Some(Err(err)), _) => {
                    out[i] = Some(Err(err.clone().into()));
                    continue;
                }
                // eBay takes no 0 on a live listing: show the least it takes, and
                // tell the seller instead of ending anything.
                _ => {
                    qty = 1;
                    kept_at_one.push(i);
                }
            }
            ready.push((i, e, qty));
        }
        let mut refused_zero = Vec::new();
        let mut moved = Vec::new();
        for (i, r, refused) in self.revise(&ready).await {
            match refused {
                Refused::Zero => refused_zero.push(i),
                Refused::InventoryListing => moved.push(i),
                Refused::No => {}
            }
            out[i] = Some(r);
        }
        if !moved.is_empty() {
            self.inventory_fallback(writes, &moved, &mut out).await;
        }
        if !refused_zero.is_empty() {
            // The preference went off since it was read: eBay said so. Keep 1 listed.
            *self.oos.lock().unwrap_or_else(|p| p.into_inner()) = None;
            let again: Vec<(usize, Entry, i64)> = ready
                .iter()
                .filter(|(i, _, _)| refused_zero.contains(i))
                .map(|(i, e, _)| (*i, e.clone(), 1))
                .collect();
            for (i, r, _) in self.revise(&again).await {
                out[i] = Some(r);
            }
            kept_at_one.extend(refused_zero);
        }
        for i in kept_at_one {
            if let (Some(Ok(())), Some(e)) = (&out[i], entry(&writes[i].seen.state)) {
                out[i] = Some(Err(PushError::Mismatch(out_of_stock_control_off(
                    &e.item,
                    writes[i].target.sku.as_str(),
                ))));
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(transient("no answer"))))
            .collect()
    }

    /// Writes eBay refused because their item is an Inventory API listing (21919474: an
    /// item mapped without its offer, as onecount once mapped them): remember the item
    /// and write them the Inventory API's way, by the SKU's offers.
    async fn inventory_fallback(
        &self,
        writes: &[Write],
        moved: &[usize],
        out: &mut [Option<Result<(), PushError>>],
    ) {
        let targets: Vec<Target> = moved.iter().map(|&i| writes[i].target.clone()).collect();
        self.inventory_items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(
                targets
                    .iter()
                    .filter_map(|t| t.reference("item"))
                    .map(str::to_string),
            );
        let mut again: Vec<(usize, Write)> = Vec::new();
        for (&i, seen) in moved.iter().zip(self.inventory_read(&targets).await) {
            match seen {
                Ok(seen) => again.push((
                    i,
                    Write {
                        target: writes[i].target.clone(),
                        seen,
                        qty: writes[i].qty,
                    },
                )),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        let ws: Vec<Write> = again.iter().map(|(_, w)| w.clone()).collect();
        for ((i, _), r) in again.iter().zip(self.inventory_write(&ws).await) {
            out[*i] = Some(r);
        }
    }

    /// `ReviseInventoryStatus` for `entries` (index, entry, quantity), four a call: each
    /// index's outcome, and what eBay refused that the client acts on.
    async fn revise(
        &self,
        entries: &[(usize, Entry, i64)],
    ) -> Vec<(usize, Result<(), PushError>, Refused)> {
        let calls: Vec<&[(usize, Entry, i64)]> = entries.chunks(REVISE_BATCH).collect();
        let mut out = Vec::with_capacity(entries.len());
        for wave in calls.chunks(WRITE_CONCURRENCY) {
            let mut pending = Vec::with_capacity(wave.len());
            for chunk in wave {
                pending.push(self.revise_call(chunk));
            }
            out.extend(
                futures::future::join_all(pending)
                    .await
                    .into_iter()
                    .flatten(),
            );
        }
        out
    }

    /// One `ReviseInventoryStatus` of up to four entries.
    async fn revise_call(
        &self,
        chunk: &[(usize, Entry, i64)],
    ) -> Vec<(usize, Result<(), PushError>, Refused)> {
        let req = ReviseRequest {
            xmlns: NS,
            entries: chunk
                .iter()
                .map(|(_, e, q)| InventoryStatus {
                    item_id: &e.item,
                    sku: e.sku.as_deref(),
                    quantity: *q,
                })
                .collect(),
        };
        match self
            .trading::<_, ReviseResponse>("ReviseInventoryStatus", &req)
            .await
        {
            Ok((resp, _, errors)) => chunk
                .iter()
                .map(|(i, e, q)| {
                    let r = revised(e, &resp, &errors, chunk.len());
                    let code = |c| errors_of(e, &errors).any(|x| x.code() == c);
                    let refused = if *q == 0 && code(515) {
                        Refused::Zero
                    } else if code(21919474) {
                        Refused::InventoryListing
                    } else {
                        Refused::No
                    };
                    (*i, r, refused)
                })
                .collect(),
            Err(err) => {
                let err: PushError = err.into();
                chunk
                    .iter()
                    .map(|(i, _, _)| (*i, Err(err.clone()), Refused::No))
                    .collect()
            }
        }
    }

    /// The seller's out-of-stock control (`GetUserPreferences`). On is kept for ten
    /// minutes; off is read again each time (the seller may just have turned it on, and
    /// only a sell-out asks).
    pub async fn out_of_stock_control(&self) -> Result<bool, HttpError> {
        if let Some((true, at)) = *self.oos.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < PREFERENCE_TTL
        {
            return Ok(true);
        }
        let (p, _, errors) = self
            .trading::<_, Preferences>(
                "GetUserPreferences",
                &GetPreferences {
                    xmlns: NS,
                    show: true,
                },
            )
            .await?;
        if let Some(e) = errors.iter().find(|e| e.is_error()) {
            return Err(call_error("ebay GetUserPreferences", e));
        }
        let on = p.out_of_stock_control.unwrap_or(false);
        *self.oos.lock().unwrap_or_else(|p| p.into_inner()) = Some((on, Instant::now()));
        Ok(on)
    }

    /// Turn the seller's out-of-stock control on or off (`SetUserPreferences`): a seller
    /// preference for all their listings, set only when they ask for it.
    pub async fn set_out_of_stock_control(&self, on: bool) -> Result<(), HttpError> {
        let (_, _, errors) = self
            .trading::<_, Preferences>("SetUserPreferences", &SetPreferences { xmlns: NS, on })
            .await?;
        if let Some(e) = errors.iter().find(|e| e.is_error()) {
            return Err(call_error("ebay SetUserPreferences", e));
        }
        // Read it back from eBay next time, not from what was asked.
        *self.oos.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }
}

/// What one target shows on a `GetItem` answer: its variation (by the mapping's `sku:`,
/// else by our SKU) or the whole single-SKU item.
pub fn seen(item: &Item, t: &Target) -> Result<Seen, PushError> {
    let id = item.item_id.as_str();
    let status = item.selling_status.listing_status.as_deref();
    if status.is_some_and(|s| s != "Active") {
        return Err(PushError::Mismatch(ended_item(
            id,
            &format!("ListingStatus {}", status.unwrap_or_default()),
        )));
    }
    let hidden = item.hide_from_search == Some(true);
    let variations = item
        .variations
        .as_ref()
        .map(|v| v.variation.as_slice())
        .unwrap_or_default();
    if variations.is_empty() {
        let available = (item.quantity - item.selling_status.quantity_sold).max(0);
        return Ok(Seen {
            qty: available,
            state: serde_json::json!({"kind": "trading", "item": id, "hidden": hidden}),
        });
    }
    let want = t.reference("sku").unwrap_or(t.sku.as_str());
    let v = variations
        .iter()
        .find(|v| v.sku.as_deref() == Some(want))
        .ok_or_else(|| {
            PushError::Mismatch(format!(
                "ebay: item {id} has variations, none with SKU {want}; map the variation's \
                 SKU as sku:VARIATION-SKU"
            ))
        })?;
    Ok(Seen {
        qty: (v.quantity - v.selling_status.quantity_sold).max(0),
        state: serde_json::json!({"kind": "trading", "item": id, "variation": want, "hidden": hidden}),
    })
}

/// Two targets of one write naming one listing (or variation): eBay warns against one
/// listing twice in a call, and two SKUs on one listing is a mapping to fix, not a write
/// to guess.
fn mapped_twice(e: &Entry, first: &Target, second: &Target) -> PushError {
    PushError::Mismatch(format!(
        "ebay: item {}{} is mapped to both {} and {}; map each SKU to its own listing or \
         variation (sku:VARIATION-SKU)",
        e.item,
        e.sku
            .as_deref()
            .map(|s| format!(" SKU {s}"))
            .unwrap_or_default(),
        first.sku,
        second.sku
    ))
}

/// The errors and warnings about `e`: for a variation those naming its SKU (a sibling's
/// error names the same item), else those naming its item.
fn errors_of<'a>(e: &'a Entry, errors: &'a [ApiError]) -> impl Iterator<Item = &'a ApiError> + 'a {
    errors.iter().filter(move |x| match &e.sku {
        Some(s) => {
            x.names(s)
                || (x.names(&e.item) && !x.error_parameters.iter().any(|p| p.param_id == "SKU"))
        }
        None => x.names(&e.item),
    })
}

/// One entry's outcome in a `ReviseInventoryStatus` answer of `entries` entries.
pub fn revised(
    e: &Entry,
    resp: &ReviseResponse,
    errors: &[ApiError],
    entries: usize,
) -> Result<(), PushError> {
    let echoed = resp.revised.iter().any(|r| {
        r.item_id == e.item
            && match &e.sku {
                Some(s) => r.sku.as_deref().map(str::trim) == Some(s.as_str()),
                None => true,
            }
    });
    if echoed {
        return Ok(());
    }
    if let Some(x) = errors_of(e, errors).find(|x| x.is_error()) {
        return Err(classify(x, &e.item));
    }
    // "Requested StartPrice and Quantity revision is redundant": it already showed that.
    if errors_of(e, errors).any(|x| x.code() == 21917091)
        || (entries == 1 && errors.iter().any(|x| x.code() == 21917091))
    {
        return Ok(());
    }
    // An error naming no entry: it is this one's if it is the only entry, or names none.
    match errors.iter().find(|x| x.is_error()) {
        Some(x) if entries == 1 || x.error_parameters.is_empty() => Err(classify(x, &e.item)),
        _ => Err(transient(&format!(
            "no InventoryStatus for item {}{}",
            e.item,
            e.sku
                .as_deref()
                .map(|s| format!(" SKU {s}"))
                .unwrap_or_default()
        ))),
    }
}

/// The key of a target's write state in the client's memory (item and our SKU).
pub fn state_key(t: &Target) -> String {
    format!("{}|{}", t.reference("item").unwrap_or_default(), t.sku)
}

/// A Seller Hub target that needs no read before a zero: a variation named in the
/// mapping (`item:` and `sku:`). An `item:` alone may be a single-SKU item or a variation
/// found by our SKU: only a read tells which.
pub fn zero_state(t: &Target) -> Option<Seen> {
    let item = t.reference("item")?;
    let variation = t.reference("sku")?;
    Some(Seen {
        qty: -1,
        state: serde_json::json!({"kind": "trading", "item": item, "variation": variation}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_the_schema_s_elements_in_its_namespace() {
        let x = body(
            "t",
            &ReviseRequest {
                xmlns: NS,
                entries: vec![
                    InventoryStatus {
                        item_id: "110142400319",
                        sku: Some("A&B"),
                        quantity: 12,
                    },
                    InventoryStatus {
                        item_id: "110999999999",
                        sku: None,
                        quantity: 0,
                    },
                ],
            },
        )
        .unwrap();
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ReviseInventoryStatusRequest xmlns=\"urn:ebay:apis:eBLBaseComponents\">\
             <InventoryStatus><ItemID>110142400319</ItemID><SKU>A&amp;B</SKU><Quantity>12</Quantity></InventoryStatus>\
             <InventoryStatus><ItemID>110999999999</ItemID><Quantity>0</Quantity></InventoryStatus>\
             </ReviseInventoryStatusRequest>"
        );
    }

    #[test]
    fn errors_map_to_push_classes() {
        let e = |code: &str, class: &str| ApiError {
            error_code: code.into(),
            error_classification: class.into(),
            severity_code: "Error".into(),
            ..Default::default()
        };
        assert!(matches!(
            classify(&e("291", "RequestError"), "1"),
            PushError::Mismatch(_)
        ));
        assert!(
            matches!(classify(&e("21919474", "RequestError"), "1"), PushError::Mismatch(m) if m.contains("offer:"))
        );
        assert!(
            matches!(classify(&e("515", "RequestError"), "1"), PushError::Mismatch(m) if m.contains("out-of-stock control"))
        );
        assert!(matches!(
            classify(&e("518", "RequestError"), "1"),
            PushError::Transient {
                retry_after: Some(900),
                ..
            }
        ));
        assert!(matches!(
            classify(&e("932", "RequestError"), "1"),
            PushError::Unauthorized(_)
        ));
        assert!(matches!(
            classify(&e("10007", "SystemError"), "1"),
            PushError::Transient { .. }
        ));
        assert!(matches!(
            classify(&e("12345", "SystemError"), "1"),
            PushError::Transient { .. }
        ));
        assert!(matches!(
            classify(&e("12345", "RequestError"), "1"),
            PushError::Permanent(_)
        ));
    }
}
