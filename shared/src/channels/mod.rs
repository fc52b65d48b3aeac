//! The channels, one module each, holding both directions: inbound webhook verification
//! and parsing into [`OrderEvent`]s, and the outbound API clients. Each module exposes a
//! [`ChannelKit`]; functions depend on the kit and the normalised types here, never on a
//! channel's payload. [`build`] and [`profile`] are the only places that list the
//! channels (see `docs/adding-a-channel.md`).

pub mod auth;
pub mod config;
pub mod connect;
pub mod ebay;
pub mod etsy;
pub mod http;
pub mod kit;
pub mod live;
pub mod push;
pub mod shopify;

use serde::{Deserialize, Serialize};

use crate::domain::{Channel, ChannelRef, LineId, LineRecord, Millis, OrderId, RestockKind};

pub use config::{ChannelsConfig, NotConfigured};
pub use http::HttpError;
pub use kit::{Challenge, ChannelKit, FetchError, OrderFetcher, Refusal, Registry, Verified};

use crate::domain::push::ChannelRules;

/// What onecount knows of a channel without its configuration.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// What it accepts as a listed quantity, and how often.
    pub rules: ChannelRules,
    /// The reference kinds a listing needs before it can be written to (`listings import`).
    pub required_refs: &'static [&'static str],
    /// The reference kinds that name something several SKUs can share (a listing with
    /// variations); every other kind belongs to one SKU.
    pub shared_refs: &'static [&'static str],
    /// What a seller-cancelled order costs by default (`oversell-cost`): the channel's
    /// own penalty on the seller, in lost visibility and fees.
    pub cancel_penalty: f64,
}

const OFFLINE: Profile = Profile {
    rules: ChannelRules {
        max_listed: None,
        daily_revisions: None,
    },
    required_refs: &[],
    shared_refs: &[],
    cancel_penalty: 0.0,
};

/// The registry of channel modules: each channel's profile.
pub fn profile(channel: Channel) -> &'static Profile {
    match channel {
        Channel::Shopify => &shopify::PROFILE,
        Channel::Etsy => &etsy::PROFILE,
        Channel::Ebay => &ebay::PROFILE,
        Channel::Offline => &OFFLINE,
    }
}

/// The registry of channel modules: a kit for every configured channel.
pub fn build(cfg: &ChannelsConfig) -> Result<Registry, String> {
    build_with(cfg, None)
}

/// The kits of `cfg`, their tokens kept in `tokens` (a deployment's table: they survive
/// cold starts, and one function refreshes for all) or, without it, in memory.
pub fn build_with(
    cfg: &ChannelsConfig,
    tokens: Option<std::sync::Arc<dyn auth::TokenStore>>,
) -> Result<Registry, String> {
    let mut registry = Registry::default();
    for channel in cfg.channels() {
        let t = tokens.clone();
        let kit: std::sync::Arc<dyn ChannelKit> = match channel {
            Channel::Shopify => shopify::kit(cfg.section(channel)?, t),
            Channel::Etsy => etsy::kit(cfg.section(channel)?, t),
            Channel::Ebay => ebay::kit(cfg.section(channel)?, t),
            Channel::Offline => return Err("the offline channel takes no configuration".into()),
        };
        registry.insert(kit);
    }
    Ok(registry)
}

/// The registry of channel modules: how a merchant connects each channel.
pub fn connector(channel: Channel) -> Result<Box<dyn connect::Connector>, String> {
    Ok(match channel {
        Channel::Shopify => Box::new(shopify::connect::ShopifyConnect),
        Channel::Etsy => Box::new(etsy::connect::EtsyConnect),
        Channel::Ebay => Box::new(ebay::connect::EbayConnect),
        Channel::Offline => return Err("the offline channel has nothing to connect".into()),
    })
}

/// Whether every section reads as its channel's configuration (without building the
/// clients).
pub fn check(cfg: &ChannelsConfig) -> Result<(), String> {
    for channel in cfg.channels() {
        match channel {
            Channel::Shopify => cfg.section::<shopify::ShopifyConfig>(channel).map(drop)?,
            Channel::Etsy => cfg.section::<etsy::EtsyConfig>(channel).map(drop)?,
            Channel::Ebay => cfg.section::<ebay::EbayConfig>(channel).map(drop)?,
            Channel::Offline => return Err("the offline channel takes no configuration".into()),
        }
    }
    Ok(())
}

impl Channel {
    /// What this channel accepts as a listed quantity, and how often.
    pub fn rules(self) -> ChannelRules {
        profile(self).rules
    }
}

/// Why a webhook was refused before anything was read from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("signature does not match")]
    Mismatch,
    #[error("timestamp is {0} s away from now (more than the 300 s allowed)")]
    Stale(i64),
    #[error("unknown signing key {0}")]
    UnknownKey(String),
}

/// How to find the SKU of an order line: the channel's own ids first where they are
/// stable, the SKU text where it is the better key (variations whose ids change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Candidate {
    Ref(ChannelRef),
    Sku(String),
}

/// One order line as the channel described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InLine {
    pub line: LineId,
    pub qty: u32,
    pub candidates: Vec<Candidate>,
}

/// One line of a refund with restock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    pub line: LineId,
    pub refund_line_id: String,
    pub qty: u32,
}

/// What an event asks of the ledger. Pointer payloads are resolved by the
/// decrement step, not before the webhook is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Sale {
        order: OrderId,
        lines: Vec<InLine>,
        /// When the buyer placed it (ms, the channel's clock), where the channel says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        placed_at: Option<Millis>,
    },
    Cancel {
        order: OrderId,
        lines: Vec<InLine>,
    },
    Restock {
        order: OrderId,
        refund_id: String,
        lines: Vec<RefundLine>,
    },
    /// Shopify `orders/edited`: quantity added to or removed from existing lines.
    Edit {
        order: OrderId,
        edit_id: String,
        additions: Vec<(LineId, u32)>,
        removals: Vec<(LineId, u32)>,
    },
    /// A pointer payload: the channel's kit reads the order it points at (a receipt id,
    /// an order id, in the channel's own form) before anything else happens.
    Fetch {
        pointer: String,
    },
}

impl Action {
    /// The order lines this action touches (none for a pointer still to be fetched).
    pub fn line_keys(&self) -> Vec<(OrderId, LineId)> {
        let keyed = |order: &OrderId, lines: Vec<&LineId>| {
            lines
                .into_iter()
                .map(|l| (order.clone(), l.clone()))
                .collect()
        };
        match self {
            Action::Sale { order, lines, .. } | Action::Cancel { order, lines } => {
                keyed(order, lines.iter().map(|l| &l.line).collect())
            }
            Action::Restock { order, lines, .. } => {
                keyed(order, lines.iter().map(|l| &l.line).collect())
            }
            Action::Edit { .. } | Action::Fetch { .. } => Vec::new(),
        }
    }

    /// Whether the ledger already holds everything this action would do, judged from its
    /// lines' records: a sale whose every line has its order, a cancel or refund whose
    /// every line has that operation. Reconciliation skips those instead of sending each
    /// one through the order path again. Edits and pointers are never judged done here.
    pub fn recorded_in(&self, line: impl Fn(&OrderId, &LineId) -> Option<LineRecord>) -> bool {
        // Per line: the operation its record must hold ("" = the order itself).
        let (order, wanted): (&OrderId, Vec<(&LineId, String)>) = match self {
            Action::Sale { order, lines, .. } => (
                order,
                lines.iter().map(|l| (&l.line, String::new())).collect(),
            ),
            Action::Cancel { order, lines } => (
                order,
                lines
                    .iter()
                    .map(|l| (&l.line, RestockKind::Cancel.op_id()))
                    .collect(),
            ),
            Action::Restock { order, lines, .. } => (
                order,
                lines
                    .iter()
                    .map(|l| (&l.line, RestockKind::refund_op_id(&l.refund_line_id)))
                    .collect(),
            ),
            Action::Edit { .. } | Action::Fetch { .. } => {
                return false;
            }
        };
        !wanted.is_empty()
            && wanted.iter().all(|(l, op)| {
                line(order, l).is_some_and(|r| {
                    if op.is_empty() {
                        r.ordered.is_some()
                    } else {
                        r.ops.contains(op)
                    }
                })
            })
    }
}

/// The message on the order-events queue: a verified, normalised webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub channel: Channel,
    /// The channel's delivery id (X-Shopify-Event-Id, webhook-id, notificationId).
    pub delivery_id: String,
    pub topic: String,
    pub received_at: Millis,
    #[serde(flatten)]
    pub action: Action,
}

/// What a verified webhook body turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Queue it.
    Event(Action),
    /// Understood and deliberately not acted on (a test order, an account deletion…).
    Ignored(&'static str),
    /// Signed but unreadable, or a topic we do not know: keep it whole and alert.
    Quarantine(String),
}

/// Case-insensitive header lookup over whatever the transport gives.
pub trait Headers {
    fn get(&self, name: &str) -> Option<&str>;
}

impl Headers for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Headers for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        Headers::get(self.as_slice(), name)
    }
}

/// Constant-time equality for signatures.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Where a channel's order line keeps the fields onecount reads.
pub(crate) struct LineShape {
    pub id: &'static str,
    pub qty: &'static str,
    /// How to find the SKU, best first.
    pub keys: &'static [Key],
}

pub(crate) enum Key {
    /// A channel id: (kind, field), e.g. ("variant", "variant_id").
    Ref(&'static str, &'static str),
    /// The SKU text in this field.
    Sku(&'static str),
}

pub(crate) fn line_id(v: &serde_json::Value, field: &str) -> Result<LineId, String> {
    let id = v
        .get(field)
        .and_then(id_text)
        .ok_or_else(|| format!("line without {field}"))?;
    LineId::parse(id).map_err(|e| e.0)
}

pub(crate) fn whole(v: &serde_json::Value, field: &str) -> Result<u32, String> {
    v.get(field)
        .and_then(serde_json::Value::as_u64)
        .and_then(|q| u32::try_from(q).ok())
        .ok_or_else(|| format!("line without a whole {field}"))
}

/// A channel's line items as [`InLine`]s.
pub(crate) fn parse_lines(
    items: Option<&serde_json::Value>,
    what: &str,
    shape: &LineShape,
) -> Result<Vec<InLine>, String> {
    let items = items
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| format!("no {what}"))?;
    items
        .iter()
        .map(|li| {
            let candidates = shape
                .keys
                .iter()
                .filter_map(|k| match k {
                    // An id no channel id could be (too long, control characters) maps
                    // to nothing: the line is then unmapped, kept and alerted.
                    Key::Ref(kind, field) => li
                        .get(*field)
                        .and_then(id_text)
                        .and_then(|id| ChannelRef::new(kind, &id).ok())
                        .map(Candidate::Ref),
                    Key::Sku(field) => li
                        .get(*field)
                        .and_then(serde_json::Value::as_str)
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| Candidate::Sku(s.to_string())),
                })
                .collect();
            Ok(InLine {
                line: line_id(li, shape.id)?,
                qty: whole(li, shape.qty)?,
                candidates,
            })
        })
        .collect()
}

/// A JSON number or string id, as text (channels send both).
pub(crate) fn id_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn lookup(
        recs: &BTreeMap<LineId, LineRecord>,
    ) -> impl Fn(&OrderId, &LineId) -> Option<LineRecord> + '_ {
        move |_, l| recs.get(l).cloned()
    }

    fn id(s: &str) -> LineId {
        LineId::parse(s).unwrap()
    }

    fn inline(l: &str) -> InLine {
        InLine {
            line: id(l),
            qty: 1,
            candidates: vec![Candidate::Sku("MUG".into())],
        }
    }

    #[test]
    fn reconciliation_skips_only_what_every_line_already_holds() {
        let order = OrderId::parse("1001").unwrap();
        let sale = Action::Sale {
            order: order.clone(),
            lines: vec![inline("1"), inline("2")],
            placed_at: None,
        };
        let cancel = Action::Cancel {
            order: order.clone(),
            lines: vec![inline("1")],
        };
        let refund = Action::Restock {
            order: order.clone(),
            refund_id: "r9".into(),
            lines: vec![RefundLine {
                line: id("2"),
                refund_line_id: "rl7".into(),
                qty: 1,
            }],
        };
        assert_eq!(
            sale.line_keys(),
            vec![(order.clone(), id("1")), (order.clone(), id("2"))]
        );
        let mut recs: BTreeMap<LineId, LineRecord> = BTreeMap::new();
        assert!(!sale.recorded_in(lookup(&recs)), "nothing recorded");
        let mut one = LineRecord::blank(Channel::Shopify, &order, &id("1"), 0);
        one.ordered = Some(1);
        recs.insert(id("1"), one.clone());
        assert!(!sale.recorded_in(lookup(&recs)), "one line of two");
        // A refund that came before its order leaves a record without the order.
        let mut two = LineRecord::blank(Channel::Shopify, &order, &id("2"), 0);
        two.ops.insert("refund:rl7".into());
        recs.insert(id("2"), two.clone());
        assert!(!sale.recorded_in(lookup(&recs)));
        assert!(refund.recorded_in(lookup(&recs)), "that refund is in");
        two.ordered = Some(1);
        recs.insert(id("2"), two);
        assert!(sale.recorded_in(lookup(&recs)));
        assert!(!cancel.recorded_in(lookup(&recs)), "not cancelled yet");
        one.ops.insert("cancel".into());
        recs.insert(id("1"), one);
        assert!(cancel.recorded_in(lookup(&recs)));
        let edit = Action::Edit {
            order,
            edit_id: "e1".into(),
            additions: vec![],
            removals: vec![],
        };
        assert!(!edit.recorded_in(lookup(&recs)), "edits always go through");
    }
}
