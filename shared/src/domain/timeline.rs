//! The timeline: one entry per thing that happened to a SKU, so "why was it oversold?"
//! is one command.
//!
//! Each entry is an [`Event`]: a kind with typed facts. Stored items keep the shape
//! `{"kind": "...", "data": {...}}` (serde's adjacent tagging), so entries written by any
//! earlier version read back; each kind's one-line summary is its `Display`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Channel, LineId, Millis, OrderId, Sku};

/// What happened, without the facts: for filters, indexes and the stored `kind` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    StockCreated,
    SaleApplied,
    SaleOversold,
    OrderAfterCancel,
    CancelBeforeOrder,
    Restocked,
    StockSet,
    StockAdjusted,
    ListingChanged,
    Pushed,
    PushRetrying,
    PushHeld,
    PushFailed,
    DriftFound,
    LowStock,
    AutoPause,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::StockCreated => "stock_created",
            EventKind::SaleApplied => "sale_applied",
            EventKind::SaleOversold => "sale_oversold",
            EventKind::OrderAfterCancel => "order_after_cancel",
            EventKind::CancelBeforeOrder => "cancel_before_order",
            EventKind::Restocked => "restocked",
            EventKind::StockSet => "stock_set",
            EventKind::StockAdjusted => "stock_adjusted",
            EventKind::ListingChanged => "listing_changed",
            EventKind::Pushed => "pushed",
            EventKind::PushRetrying => "push_retrying",
            EventKind::PushHeld => "push_held",
            EventKind::PushFailed => "push_failed",
            EventKind::DriftFound => "drift_found",
            EventKind::LowStock => "low_stock",
            EventKind::AutoPause => "auto_pause",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// The order line a sale or restock entry is about: `shopify order 1001 line 2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRef {
    pub channel: Channel,
    pub order: OrderId,
    pub line: LineId,
}

impl LineRef {
    pub fn new(channel: Channel, order: &OrderId, line: &LineId) -> LineRef {
        LineRef {
            channel,
            order: order.clone(),
            line: line.clone(),
        }
    }
}

impl fmt::Display for LineRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} order {} line {}",
            self.channel, self.order, self.line
        )
    }
}

/// Why a push held back (both are stored under `push_held`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Held {
    /// The channel's unexplained fall was recorded as `held_back` units sold there and
    /// not heard of yet (0: forgotten again, the orders explained it).
    Recorded { held_back: u32 },
    /// The fall could not be recorded: the channel is not raised to `target` until the
    /// orders arrive or, after `left_to_drift_check`, the drift check decides.
    Waiting {
        unheard: i64,
        target: u32,
        #[serde(default)]
        left_to_drift_check: bool,
    },
}

/// One thing that happened to a SKU, with the facts that explain it (channel, order,
/// line, quantities, before/after, reason, actor), never customer data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Event {
    StockCreated {
        on_hand: u32,
        threshold: u32,
        /// Where the count came from, when onecount chose it (discovery's starting count).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    SaleApplied {
        #[serde(flatten)]
        line: LineRef,
        qty: u32,
    },
    SaleOversold {
        #[serde(flatten)]
        line: LineRef,
        /// Ordered.
        qty: u32,
        /// Taken off the count (what was there).
        take: u32,
        /// Sold but not there.
        short: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_hand_before: Option<u32>,
    },
    OrderAfterCancel {
        #[serde(flatten)]
        line: LineRef,
        qty: u32,
    },
    CancelBeforeOrder {
        #[serde(flatten)]
        line: LineRef,
        op: String,
    },
    Restocked {
        #[serde(flatten)]
        line: LineRef,
        qty: u32,
        op: String,
    },
    StockSet {
        before: u32,
        after: u32,
        reason: String,
        actor: String,
    },
    StockAdjusted {
        before: u32,
        after: u32,
        delta: i64,
        reason: String,
        actor: String,
    },
    /// A listing's mapping or policy changed; `channel: None` is every channel (protection).
    ListingChanged {
        #[serde(with = "every_channel")]
        channel: Option<Channel>,
        refs: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        buffer: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_qty: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paused: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    /// A channel confirmed the listed quantity (written, or already showing it).
    Pushed {
        channel: Channel,
        qty: u32,
        /// What the channel showed before.
        from: i64,
        wrote: bool,
        version: u64,
        /// From the sale reaching onecount to the channel confirming.
        #[serde(default)]
        latency_ms: Option<i64>,
        #[serde(default)]
        cause: String,
        #[serde(default)]
        origin_channel: Option<Channel>,
        #[serde(default)]
        origin_order: Option<OrderId>,
    },
    /// A push failed for now (throttled, 5xx, timeout) and will be retried.
    PushRetrying {
        channel: Channel,
        error: String,
        retry_in_secs: u32,
        attempt: u32,
    },
    /// A push held back: the channel fell further than the sales heard of so far.
    PushHeld {
        channel: Channel,
        /// What the channel showed (unknown when a forgotten fall needed no read).
        #[serde(default)]
        shows: Option<i64>,
        #[serde(flatten)]
        held: Held,
    },
    /// A push that cannot succeed as configured (listing gone, item not tracked…).
    PushFailed {
        channel: Channel,
        error: String,
        /// The mapping is broken (pushes to it stop until it works again).
        #[serde(default)]
        mismatch: bool,
    },
    /// The drift check found a listing pending, stuck, drifted or mismatched (or working
    /// again), and what it did.
    DriftFound {
        channel: Channel,
        finding: String,
        shows: Option<i64>,
        target: u32,
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        age_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repeats: Option<u32>,
    },
    /// A low-stock alert went out, or (`recovered`) the count is back above the threshold.
    LowStock {
        on_hand: u32,
        threshold: u32,
        #[serde(default)]
        recovered: bool,
        /// What each channel showed when the alert went out.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        listed: Vec<(Channel, Option<i64>)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sold_last_hour: Option<u32>,
    },
    /// Auto-pause engaged or released.
    AutoPause {
        engaged: bool,
        /// The stuck channels, comma-separated.
        stuck: String,
        primary: Channel,
        on_hand: u32,
    },
}

/// `None` is stored as "every channel" (what the summary prints).
mod every_channel {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::Channel;

    const EVERY: &str = "every channel";

    pub fn serialize<S: Serializer>(c: &Option<Channel>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.map_or(EVERY, Channel::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Channel>, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().ok())
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::StockCreated { .. } => EventKind::StockCreated,
            Event::SaleApplied { .. } => EventKind::SaleApplied,
            Event::SaleOversold { .. } => EventKind::SaleOversold,
            Event::OrderAfterCancel { .. } => EventKind::OrderAfterCancel,
            Event::CancelBeforeOrder { .. } => EventKind::CancelBeforeOrder,
            Event::Restocked { .. } => EventKind::Restocked,
            Event::StockSet { .. } => EventKind::StockSet,
            Event::StockAdjusted { .. } => EventKind::StockAdjusted,
            Event::ListingChanged { .. } => EventKind::ListingChanged,
            Event::Pushed { .. } => EventKind::Pushed,
            Event::PushRetrying { .. } => EventKind::PushRetrying,
            Event::PushHeld { .. } => EventKind::PushHeld,
            Event::PushFailed { .. } => EventKind::PushFailed,
            Event::DriftFound { .. } => EventKind::DriftFound,
            Event::LowStock { .. } => EventKind::LowStock,
            Event::AutoPause { .. } => EventKind::AutoPause,
        }
    }

    /// The facts alone, as stored in an item's `data` field.
    pub fn data_json(&self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut o)) => {
                o.remove("data").unwrap_or_default().to_string()
            }
            _ => String::from("{}"),
        }
    }

    /// An entry read back from its stored `kind` and `data`.
    pub fn from_stored(kind: &str, data: &str) -> Result<Event, serde_json::Error> {
        let data: serde_json::Value = serde_json::from_str(data)?;
        serde_json::from_value(serde_json::json!({ "kind": kind, "data": data }))
    }

    /// The sale's order line, for sale and restock entries.
    pub fn line(&self) -> Option<&LineRef> {
        match self {
            Event::SaleApplied { line, .. }
            | Event::SaleOversold { line, .. }
            | Event::OrderAfterCancel { line, .. }
            | Event::CancelBeforeOrder { line, .. }
            | Event::Restocked { line, .. } => Some(line),
            _ => None,
        }
    }

    /// The oversold line and the units short, for oversell entries.
    pub fn oversold(&self) -> Option<(&LineRef, u32)> {
        match self {
            Event::SaleOversold { line, short, .. } => Some((line, *short)),
            _ => None,
        }
    }

    /// Units this entry took off the count as a sale (applied or oversold).
    pub fn units_sold(&self) -> Option<u32> {
        match self {
            Event::SaleApplied { qty, .. } | Event::SaleOversold { qty, .. } => Some(*qty),
            _ => None,
        }
    }

    /// What a push note leaves on its listing as the last error.
    pub fn error(&self) -> Option<&str> {
        match self {
            Event::PushRetrying { error, .. } | Event::PushFailed { error, .. } => Some(error),
            _ => None,
        }
    }
}

fn pushed(
    f: &mut fmt::Formatter<'_>,
    ch: &Channel,
    qty: u32,
    from: i64,
    wrote: bool,
    lag: Option<i64>,
) -> fmt::Result {
    if wrote {
        write!(f, "{ch} set to {qty} (was {from})")?;
    } else {
        write!(f, "{ch} already showed {qty}")?;
    }
    match lag {
        Some(l) => write!(f, ", {l} ms after the sale"),
        None => Ok(()),
    }
}

fn held(f: &mut fmt::Formatter<'_>, ch: &Channel, shows: Option<i64>, held: &Held) -> fmt::Result {
    let shows = opt(&shows);
    match held {
        Held::Recorded { held_back: 0 } => write!(
            f,
            "{ch}'s unexplained fall is not a sale (orders reconciled): other channels list it again"
        ),
        Held::Recorded { held_back } => write!(
            f,
            "{ch} shows {shows}: {held_back} unit(s) sold there not heard of yet, listed as gone on every channel until the order arrives"
        ),
        Held::Waiting {
            unheard, target, ..
        } => write!(
            f,
            "{ch} shows {shows}, {unheard} sale(s) there not heard of yet: not raised to {target}"
        ),
    }
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "?".to_string(), T::to_string)
}

impl fmt::Display for Event {
    /// The entry's one-line, human-readable summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::StockCreated {
                on_hand,
                threshold,
                source,
            } => write!(
                f,
                "created with {on_hand} on hand{}, low-stock threshold {threshold}",
                source
                    .as_deref()
                    .map(|s| format!(" (from {s})"))
                    .unwrap_or_default()
            ),
            Event::SaleApplied { line, qty } => write!(f, "-{qty} sold on {line}"),
            Event::SaleOversold {
                line,
                qty,
                take,
                short,
                ..
            } => write!(
                f,
                "OVERSOLD by {short} on {line} (ordered {qty}, took {take})"
            ),
            Event::OrderAfterCancel { line, .. } => write!(
                f,
                "order arrived after its cancellation, not applied: {line}"
            ),
            Event::CancelBeforeOrder { line, .. } => {
                write!(f, "cancel/refund arrived before its order: {line}")
            }
            Event::Restocked { line, qty, op } => write!(f, "+{qty} back from {line} ({op})"),
            Event::StockSet {
                before,
                after,
                reason,
                actor,
            }
            | Event::StockAdjusted {
                before,
                after,
                reason,
                actor,
                ..
            } => write!(f, "{before} -> {after} by {actor}: {reason}"),
            Event::ListingChanged { channel, refs, .. } => match channel {
                Some(ch) => write!(f, "listing on {ch} updated ({refs})"),
                None => write!(f, "listing on every channel updated ({refs})"),
            },
            sync => sync_summary(sync, f),
        }
    }
}

/// The summaries of push, drift-check and alert entries.
fn sync_summary(e: &Event, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match e {
        Event::Pushed {
            channel,
            qty,
            from,
            wrote,
            latency_ms,
            ..
        } => pushed(f, channel, *qty, *from, *wrote, *latency_ms),
        Event::PushRetrying {
            channel,
            error,
            retry_in_secs,
            ..
        } => write!(
            f,
            "push to {channel} failed for now, retry in {retry_in_secs} s: {error}"
        ),
        Event::PushHeld {
            channel,
            shows,
            held: h,
        } => held(f, channel, *shows, h),
        Event::PushFailed { channel, error, .. } => {
            write!(f, "push to {channel} failed: {error}")
        }
        Event::DriftFound {
            channel,
            finding,
            shows,
            target,
            action,
            ..
        } => write!(
            f,
            "{channel} {}: shows {}, should show {target} -> {action}",
            finding.to_uppercase(),
            opt(shows)
        ),
        Event::LowStock {
            on_hand,
            recovered: true,
            ..
        } => write!(f, "back above the low-stock threshold ({on_hand})"),
        Event::LowStock {
            on_hand, threshold, ..
        } => write!(
            f,
            "LOW STOCK alert sent: {on_hand} left, threshold {threshold}"
        ),
        Event::AutoPause {
            engaged: true,
            stuck,
            primary,
            ..
        } => write!(
            f,
            "AUTO-PAUSED: {stuck} stuck and stock low; listing only on {primary}"
        ),
        Event::AutoPause { .. } => write!(f, "auto-pause released: every channel caught up"),
        ledger => write!(f, "{}", ledger.kind().as_str()),
    }
}

/// One entry on a SKU's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub sku: Sku,
    pub at: Millis,
    pub id: String,
    #[serde(flatten)]
    pub event: Event,
}

impl TimelineEntry {
    pub fn kind(&self) -> EventKind {
        self.event.kind()
    }

    /// A one-line, human-readable summary of what happened.
    pub fn summary(&self) -> String {
        self.event.to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn line() -> LineRef {
        LineRef::new(
            Channel::Shopify,
            &OrderId::parse("1001").unwrap(),
            &LineId::parse("2").unwrap(),
        )
    }

    /// One of each kind, with the optional facts filled in.
    fn every_kind() -> Vec<Event> {
        vec![
            Event::StockCreated {
                on_hand: 5,
                threshold: 2,
                source: Some("shopify, named as the source of truth".into()),
            },
            Event::SaleApplied {
                line: line(),
                qty: 2,
            },
            Event::SaleOversold {
                line: line(),
                qty: 3,
                take: 1,
                short: 2,
                on_hand_before: Some(1),
            },
            Event::OrderAfterCancel {
                line: line(),
                qty: 1,
            },
            Event::CancelBeforeOrder {
                line: line(),
                op: "cancel".into(),
            },
            Event::Restocked {
                line: line(),
                qty: 1,
                op: "refund:9".into(),
            },
            Event::StockSet {
                before: 12,
                after: 7,
                reason: "stock take".into(),
                actor: "ben".into(),
            },
            Event::StockAdjusted {
                before: 7,
                after: 9,
                delta: 2,
                reason: "found".into(),
                actor: "ben".into(),
            },
            Event::ListingChanged {
                channel: Some(Channel::Ebay),
                refs: "listing:1".into(),
                buffer: Some(1),
                max_qty: None,
                paused: Some(false),
                actor: None,
            },
            Event::ListingChanged {
                channel: None,
                refs: "protection".into(),
                buffer: None,
                max_qty: None,
                paused: None,
                actor: Some("ops".into()),
            },
            Event::Pushed {
                channel: Channel::Ebay,
                qty: 4,
                from: 5,
                wrote: true,
                version: 9,
                latency_ms: Some(850),
                cause: "sale".into(),
                origin_channel: Some(Channel::Shopify),
                origin_order: Some(OrderId::parse("1001").unwrap()),
            },
            Event::PushRetrying {
                channel: Channel::Ebay,
                error: "429".into(),
                retry_in_secs: 4,
                attempt: 2,
            },
            Event::PushHeld {
                channel: Channel::Shopify,
                shows: Some(3),
                held: Held::Recorded { held_back: 2 },
            },
            Event::PushHeld {
                channel: Channel::Shopify,
                shows: Some(3),
                held: Held::Waiting {
                    unheard: 2,
                    target: 5,
                    left_to_drift_check: true,
                },
            },
            Event::PushFailed {
                channel: Channel::Ebay,
                error: "gone".into(),
                mismatch: true,
            },
            Event::DriftFound {
                channel: Channel::Ebay,
                finding: "stuck".into(),
                shows: None,
                target: 3,
                action: "re-queued the push".into(),
                age_ms: Some(900_000),
                repeats: None,
            },
            Event::LowStock {
                on_hand: 1,
                threshold: 2,
                recovered: false,
                listed: vec![(Channel::Shopify, Some(1)), (Channel::Ebay, None)],
                sold_last_hour: Some(4),
            },
            Event::AutoPause {
                engaged: true,
                stuck: "ebay".into(),
                primary: Channel::Shopify,
                on_hand: 1,
            },
        ]
    }

    #[test]
    fn every_kind_reads_back_from_its_stored_kind_and_data() {
        for e in every_kind() {
            let back = Event::from_stored(e.kind().as_str(), &e.data_json()).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn an_entry_as_json_keeps_kind_and_data_beside_sku_at_and_id() {
        let entry = TimelineEntry {
            sku: Sku::parse("MUG").unwrap(),
            at: 7,
            id: "a".into(),
            event: Event::SaleApplied {
                line: line(),
                qty: 2,
            },
        };
        let v = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            v,
            json!({"sku": "MUG", "at": 7, "id": "a", "kind": "sale_applied",
                   "data": {"channel": "shopify", "order": "1001", "line": "2", "qty": 2}})
        );
        assert_eq!(serde_json::from_value::<TimelineEntry>(v).unwrap(), entry);
    }

    /// Items written before the timeline was typed, as their producers wrote them
    /// (`json!` objects, nulls included): they read back as the same facts.
    #[test]
    fn items_stored_by_earlier_versions_stay_readable() {
        let old = |kind: &str, data: serde_json::Value| {
            Event::from_stored(kind, &data.to_string()).unwrap_or_else(|e| panic!("{kind}: {e}"))
        };
        let e = old(
            "stock_set",
            json!({"before": 12, "after": 7, "delta": -5, "reason": "stock take", "actor": "ben"}),
        );
        assert_eq!(e.to_string(), "12 -> 7 by ben: stock take");
        let e = old(
            "listing_changed",
            json!({"channel": "every channel", "refs": "protection: primary shopify, last-unit level 1", "actor": "ops"}),
        );
        assert!(
            matches!(e, Event::ListingChanged { channel: None, .. }),
            "{e:?}"
        );
        let e = old(
            "listing_changed",
            json!({"channel": "ebay", "refs": "listing:1", "buffer": 0, "max_qty": null, "paused": false}),
        );
        assert!(matches!(
            e,
            Event::ListingChanged {
                channel: Some(Channel::Ebay),
                max_qty: None,
                ..
            }
        ));
        let e = old(
            "pushed",
            json!({"channel": "ebay", "qty": 3, "from": 4, "wrote": true, "version": 8, "latency_ms": null, "cause": "drift check: stuck", "origin_channel": null, "origin_order": null}),
        );
        assert_eq!(e.to_string(), "ebay set to 3 (was 4)");
        let e = old(
            "push_held",
            json!({"channel": "shopify", "shows": null, "held_back": 0}),
        );
        assert!(matches!(
            e,
            Event::PushHeld {
                shows: None,
                held: Held::Recorded { held_back: 0 },
                ..
            }
        ));
        let e = old(
            "push_held",
            json!({"channel": "ebay", "shows": 2, "unheard": 1, "target": 3, "left_to_drift_check": false}),
        );
        assert_eq!(
            e.to_string(),
            "ebay shows 2, 1 sale(s) there not heard of yet: not raised to 3"
        );
        let e = old(
            "push_failed",
            json!({"channel": "ebay", "error": "no offer"}),
        );
        assert!(matches!(
            e,
            Event::PushFailed {
                mismatch: false,
                ..
            }
        ));
        let e = old(
            "drift_found",
            json!({"channel": "ebay", "finding": "drift", "shows": 5, "target": 3, "action": "corrected through the push path", "repeats": 2}),
        );
        assert_eq!(
            e.to_string(),
            "ebay DRIFT: shows 5, should show 3 -> corrected through the push path"
        );
        let e = old(
            "low_stock",
            json!({"on_hand": 1, "threshold": 2, "listed": [["shopify", 1], ["ebay", null]], "sold_last_hour": 4}),
        );
        assert!(matches!(&e, Event::LowStock { listed, .. } if listed.len() == 2));
        let e = old(
            "low_stock",
            json!({"on_hand": 5, "threshold": 2, "recovered": true}),
        );
        assert_eq!(e.to_string(), "back above the low-stock threshold (5)");
        let e = old(
            "auto_pause",
            json!({"engaged": false, "stuck": "", "primary": "shopify", "on_hand": 4}),
        );
        assert_eq!(
            e.to_string(),
            "auto-pause released: every channel caught up"
        );
    }

    #[test]
    fn summaries_say_what_happened() {
        let text: Vec<String> = every_kind().iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "created with 5 on hand (from shopify, named as the source of truth), low-stock threshold 2",
                "-2 sold on shopify order 1001 line 2",
                "OVERSOLD by 2 on shopify order 1001 line 2 (ordered 3, took 1)",
                "order arrived after its cancellation, not applied: shopify order 1001 line 2",
                "cancel/refund arrived before its order: shopify order 1001 line 2",
                "+1 back from shopify order 1001 line 2 (refund:9)",
                "12 -> 7 by ben: stock take",
                "7 -> 9 by ben: found",
                "listing on ebay updated (listing:1)",
                "listing on every channel updated (protection)",
                "ebay set to 4 (was 5), 850 ms after the sale",
                "push to ebay failed for now, retry in 4 s: 429",
                "shopify shows 3: 2 unit(s) sold there not heard of yet, listed as gone on every channel until the order arrives",
                "shopify shows 3, 2 sale(s) there not heard of yet: not raised to 5",
                "push to ebay failed: gone",
                "ebay STUCK: shows ?, should show 3 -> re-queued the push",
                "LOW STOCK alert sent: 1 left, threshold 2",
                "AUTO-PAUSED: ebay stuck and stock low; listing only on shopify",
            ]
        );
    }

    #[test]
    fn unreadable_data_is_an_error_not_a_guess() {
        assert!(Event::from_stored("sale_applied", "{\"qty\": 1}").is_err());
        assert!(Event::from_stored("no_such_kind", "{}").is_err());
        assert!(Event::from_stored("stock_created", "not json").is_err());
    }
}
