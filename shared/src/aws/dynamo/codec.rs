//! Mapping between domain types and DynamoDB items.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::schema::*;
use crate::domain::{
    Channel, ChannelRef, Event, EventKind, Guard, LineId, LineRecord, Listing, ListingPolicy,
    OrderId, Sku, StockItem, TimelineEntry, Unheard,
};
use crate::ports::LedgerError;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn corrupt(what: &str, field: &str) -> LedgerError {
    LedgerError::Store(format!(
        "stored {what} has a missing or malformed '{field}'"
    ))
}

/// Typed reads of one item's attributes, with errors that name the field.
pub struct Reader<'a> {
    item: &'a Item,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item, what: &'static str) -> Self {
        Reader { item, what }
    }
    pub fn str(&self, field: &str) -> Result<&'a str, LedgerError> {
        match self.item.get(field) {
            Some(AttributeValue::S(v)) => Ok(v),
            _ => Err(corrupt(self.what, field)),
        }
    }
    pub fn opt_str(&self, field: &str) -> Option<&'a str> {
        match self.item.get(field) {
            Some(AttributeValue::S(v)) => Some(v),
            _ => None,
        }
    }
    pub fn num<T: std::str::FromStr>(&self, field: &str) -> Result<T, LedgerError> {
        self.opt_num(field)?
            .ok_or_else(|| corrupt(self.what, field))
    }
    pub fn opt_num<T: std::str::FromStr>(&self, field: &str) -> Result<Option<T>, LedgerError> {
        match self.item.get(field) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => {
                v.parse().map(Some).map_err(|_| corrupt(self.what, field))
            }
            _ => Err(corrupt(self.what, field)),
        }
    }
    pub fn bool(&self, field: &str) -> bool {
        matches!(self.item.get(field), Some(AttributeValue::Bool(true)))
    }
    pub fn string_set(&self, field: &str) -> BTreeSet<String> {
        match self.item.get(field) {
            Some(AttributeValue::Ss(v)) => v.iter().cloned().collect(),
            _ => BTreeSet::new(),
        }
    }
    pub fn sku(&self, field: &str) -> Result<Sku, LedgerError> {
        Sku::parse(self.str(field)?).map_err(|_| corrupt(self.what, field))
    }
    pub fn channel(&self, field: &str) -> Result<Channel, LedgerError> {
        self.str(field)?
            .parse()
            .map_err(|_| corrupt(self.what, field))
    }
}

pub fn stock_key(sku: &Sku) -> Item {
    HashMap::from([(PK.into(), s(sku_pk(sku))), (SK.into(), s(STOCK_SK))])
}

pub fn stock_to_item(st: &StockItem) -> Item {
    let mut item = stock_key(&st.sku);
    item.insert(GSI1_PK.into(), s(STOCK_GSI_PK));
    item.insert(GSI1_SK.into(), s(st.sku.as_str()));
    item.insert("sku".into(), s(st.sku.as_str()));
    item.insert("on_hand".into(), n(st.on_hand));
    item.insert("version".into(), n(st.version));
    item.insert("threshold".into(), n(st.low_stock_threshold));
    item.insert("updated_at".into(), n(st.updated_at));
    for (c, v) in &st.sold {
        item.insert(sold_attr(*c), n(*v));
    }
    for (c, u) in &st.unheard {
        let [units, sold_at, at] = unheard_attrs(*c);
        item.insert(units, n(u.units));
        item.insert(sold_at, n(u.sold_at));
        item.insert(at, n(u.at));
    }
    if let Some(p) = st.guard.primary {
        item.insert("primary".into(), s(p.as_str()));
    }
    if let Some(l) = st.guard.last_units {
        item.insert("last_units".into(), n(l));
    }
    if let Some(t) = st.last_sold_at {
        item.insert("last_sold_at".into(), n(t));
    }
    item.insert(
        "auto_paused".into(),
        AttributeValue::Bool(st.guard.auto_paused),
    );
    item.insert(
        "low_alerted".into(),
        AttributeValue::Bool(st.guard.low_alerted),
    );
    item
}

/// The stock item's per-channel "net units sold" counter, e.g. `sold_shopify`.
pub fn sold_attr(channel: Channel) -> String {
    format!("sold_{}", channel.as_str())
}

/// The stock item's record of a channel's unheard sales: `unheard_<channel>` (units),
/// `unheard_sold_<channel>` (its heard-sales counter then), `unheard_at_<channel>`.
pub fn unheard_attrs(channel: Channel) -> [String; 3] {
    let c = channel.as_str();
    [
        format!("unheard_{c}"),
        format!("unheard_sold_{c}"),
        format!("unheard_at_{c}"),
    ]
}

pub fn stock_from_item(item: &Item) -> Result<StockItem, LedgerError> {
    let r = Reader::new(item, "stock item");
    let mut unheard = std::collections::BTreeMap::new();
    for c in &Channel::ALL {
        let [units, sold_at, at] = unheard_attrs(*c);
        if let Some(units) = r.opt_num::<u32>(&units)? {
            unheard.insert(
                *c,
                Unheard {
                    units,
                    sold_at: r.opt_num(&sold_at)?.unwrap_or(0),
                    at: r.opt_num(&at)?.unwrap_or(0),
                },
            );
        }
    }
    Ok(StockItem {
        sku: r.sku("sku")?,
        on_hand: r.num("on_hand")?,
        version: r.num("version")?,
        low_stock_threshold: r.num("threshold")?,
        updated_at: r.num("updated_at")?,
        sold: Channel::ALL
            .iter()
            .filter_map(|c| match r.opt_num::<i64>(&sold_attr(*c)) {
                Ok(Some(v)) => Some(Ok((*c, v))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()?,
        guard: Guard {
            primary: match item.get("primary") {
                Some(_) => Some(r.channel("primary")?),
                None => None,
            },
            last_units: r.opt_num("last_units")?,
            auto_paused: r.bool("auto_paused"),
            low_alerted: r.bool("low_alerted"),
        },
        unheard,
        last_sold_at: r.opt_num("last_sold_at")?,
    })
}

pub fn line_key(channel: Channel, order: &OrderId, line: &LineId) -> Item {
    HashMap::from([
        (PK.into(), s(line_pk(channel, order))),
        (SK.into(), s(line_sk(line))),
    ])
}

pub fn line_to_item(rec: &LineRecord) -> Item {
    let mut item = line_key(rec.channel, &rec.order, &rec.line);
    item.insert("channel".into(), s(rec.channel.as_str()));
    item.insert("order_id".into(), s(rec.order.as_str()));
    item.insert("line_id".into(), s(rec.line.as_str()));
    if let Some(sku) = &rec.sku {
        item.insert("sku".into(), s(sku.as_str()));
    }
    if let Some(q) = rec.ordered {
        item.insert("ordered".into(), n(q));
    }
    item.insert("taken".into(), n(rec.taken));
    item.insert("short".into(), n(rec.short));
    item.insert("returned".into(), n(rec.returned));
    item.insert("pre_returned".into(), n(rec.pre_returned));
    item.insert("cancelled".into(), AttributeValue::Bool(rec.cancelled));
    if !rec.ops.is_empty() {
        item.insert(
            "ops".into(),
            AttributeValue::Ss(rec.ops.iter().cloned().collect()),
        );
    }
    item.insert("rev".into(), n(rec.rev));
    item.insert("updated_at".into(), n(rec.updated_at));
    if let Some(t) = &rec.token {
        item.insert("token".into(), s(t));
    }
    item
}

pub fn line_from_item(item: &Item) -> Result<LineRecord, LedgerError> {
    let r = Reader::new(item, "order line");
    Ok(LineRecord {
        channel: r.channel("channel")?,
        order: OrderId::parse(r.str("order_id")?).map_err(|_| corrupt("order line", "order_id"))?,
        line: LineId::parse(r.str("line_id")?).map_err(|_| corrupt("order line", "line_id"))?,
        sku: r.opt_str("sku").and_then(|v| Sku::parse(v).ok()),
        ordered: r.opt_num("ordered")?,
        taken: r.num("taken")?,
        short: r.num("short")?,
        returned: r.num("returned")?,
        pre_returned: r.opt_num("pre_returned")?.unwrap_or(0),
        cancelled: r.bool("cancelled"),
        ops: r.string_set("ops"),
        rev: r.num("rev")?,
        updated_at: r.num("updated_at")?,
        token: r.opt_str("token").map(str::to_string),
    })
}

pub fn event_to_item(e: &TimelineEntry, expires_at: i64) -> Item {
    let mut item = HashMap::from([
        (PK.into(), s(sku_pk(&e.sku))),
        (SK.into(), s(event_sk(e.at, &e.id))),
        ("sku".into(), s(e.sku.as_str())),
        ("at".into(), n(e.at)),
        ("event_id".into(), s(&e.id)),
        ("kind".into(), s(e.kind().as_str())),
        ("data".into(), s(e.event.data_json())),
        (TTL_ATTRIBUTE.into(), n(expires_at)),
    ]);
    // Oversells are also indexed, newest last, so `status` and `oversell-cost` find them
    // without reading every timeline (rare: the index stays small).
    if e.kind() == EventKind::SaleOversold {
        item.insert(GSI1_PK.into(), s(OVERSOLD_GSI_PK));
        item.insert(GSI1_SK.into(), s(oversold_gsi_sk(e.at, &e.id)));
    }
    item
}

pub fn event_from_item(item: &Item) -> Result<TimelineEntry, LedgerError> {
    let r = Reader::new(item, "timeline entry");
    Ok(TimelineEntry {
        sku: r.sku("sku")?,
        at: r.num("at")?,
        id: r.str("event_id")?.to_string(),
        event: Event::from_stored(r.str("kind")?, r.str("data")?)
            .map_err(|_| corrupt("timeline entry", "data"))?,
    })
}

pub fn listing_key(sku: &Sku, channel: Channel) -> Item {
    HashMap::from([
        (PK.into(), s(sku_pk(sku))),
        (SK.into(), s(listing_sk(channel))),
    ])
}

pub fn listing_to_item(l: &Listing) -> Item {
    let mut item = listing_key(&l.sku, l.channel);
    item.insert(GSI1_PK.into(), s(listing_gsi_pk(l.channel)));
    item.insert(GSI1_SK.into(), s(l.sku.as_str()));
    item.insert("sku".into(), s(l.sku.as_str()));
    item.insert("channel".into(), s(l.channel.as_str()));
    item.insert(
        "refs".into(),
        AttributeValue::L(l.refs.iter().map(|r| s(r.to_string())).collect()),
    );
    item.insert("buffer".into(), n(l.policy.buffer));
    if let Some(m) = l.policy.max_qty {
        item.insert("max_qty".into(), n(m));
    }
    item.insert("paused".into(), AttributeValue::Bool(l.policy.paused));
    item
}

pub fn listing_from_item(item: &Item) -> Result<Listing, LedgerError> {
    let r = Reader::new(item, "listing");
    let refs = match item.get("refs") {
        Some(AttributeValue::L(v)) => v
            .iter()
            .map(|a| match a {
                AttributeValue::S(t) => t
                    .parse::<ChannelRef>()
                    .map_err(|_| corrupt("listing", "refs")),
                _ => Err(corrupt("listing", "refs")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => Vec::new(),
    };
    Ok(Listing {
        sku: r.sku("sku")?,
        channel: r.channel("channel")?,
        refs,
        policy: ListingPolicy {
            buffer: r.num("buffer")?,
            max_qty: r.opt_num("max_qty")?,
            paused: r.bool("paused"),
        },
    })
}

/// The index item that resolves `reference` to `sku`: the id's own item, or, for an id
/// several SKUs can share ([`shared_ref`](crate::domain::shared_ref)), one item per SKU
/// under the id (sort key `REF#{sku}`).
pub fn ref_item_key(channel: Channel, reference: &ChannelRef, sku: &Sku) -> Item {
    let mut key = ref_key(channel, reference);
    if crate::domain::shared_ref(channel, &reference.kind) {
        key.insert(SK.into(), s(format!("{REF_SK}#{sku}")));
    }
    key
}

pub fn ref_key(channel: Channel, reference: &ChannelRef) -> Item {
    HashMap::from([
        (
            PK.into(),
            s(ref_pk(channel, &reference.kind, &reference.id)),
        ),
        (SK.into(), s(REF_SK)),
    ])
}
