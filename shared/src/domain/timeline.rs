//! The timeline: one entry per thing that happened to a SKU, so "why was it oversold?"
//! is one command.

use serde::{Deserialize, Serialize};

use super::{Millis, Sku};

/// What happened. New kinds are added as the push and drift paths arrive.
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
    /// A channel confirmed the listed quantity (written, or already showing it).
    Pushed,
    /// A push failed for now (throttled, 5xx, timeout) and will be retried.
    PushRetrying,
    /// A push held back: the channel fell further than the sales heard of so far.
    PushHeld,
    /// A push that cannot succeed as configured (listing gone, item not tracked…).
    PushFailed,
    /// The drift check found a listing lagging, stuck, drifted or mismatched.
    DriftFound,
    /// The drift check found and applied an order whose webhook never came.
    OrderReconciled,
    /// A low-stock alert went out (or the count recovered above the threshold).
    LowStock,
    /// Auto-pause engaged or released.
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
            EventKind::OrderReconciled => "order_reconciled",
            EventKind::LowStock => "low_stock",
            EventKind::AutoPause => "auto_pause",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// One entry on a SKU's timeline. `data` holds the facts that explain it (channel, order,
/// line, quantities, before/after, reason, actor) — never customer data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub sku: Sku,
    pub at: Millis,
    pub id: String,
    pub kind: EventKind,
    pub data: serde_json::Value,
}

/// A field of an entry's data as text (strings without their quotes).
fn field(d: &serde_json::Value, k: &str) -> Option<String> {
    d.get(k)
        .map(|v| v.to_string().trim_matches('"').to_string())
}

fn text(d: &serde_json::Value, k: &str) -> String {
    field(d, k).unwrap_or_default()
}

fn flag(d: &serde_json::Value, k: &str) -> bool {
    d.get(k).and_then(serde_json::Value::as_bool) == Some(true)
}

/// Where an order line came from: `shopify order 1001 line 2`.
fn source(d: &serde_json::Value) -> String {
    match (field(d, "channel"), field(d, "order"), field(d, "line")) {
        (Some(c), Some(o), Some(l)) => format!("{c} order {o} line {l}"),
        _ => String::from("?"),
    }
}

fn pushed(d: &serde_json::Value) -> String {
    let (ch, qty) = (text(d, "channel"), text(d, "qty"));
    let lag = d
        .get("latency_ms")
        .and_then(serde_json::Value::as_i64)
        .map(|l| format!(", {l} ms after the sale"))
        .unwrap_or_default();
    if flag(d, "wrote") {
        format!("{ch} set to {qty} (was {}){lag}", text(d, "from"))
    } else {
        format!("{ch} already showed {qty}{lag}")
    }
}

fn held(d: &serde_json::Value) -> String {
    let ch = text(d, "channel");
    match field(d, "held_back").as_deref() {
        Some("0") => format!(
            "{ch}'s unexplained fall is not a sale (orders reconciled): other channels list it again"
        ),
        Some(held) => format!(
            "{ch} shows {}: {held} unit(s) sold there not heard of yet, listed as gone on every channel until the order arrives",
            text(d, "shows")
        ),
        None => format!(
            "{ch} shows {}, {} sale(s) there not heard of yet: not raised to {}",
            text(d, "shows"),
            text(d, "unheard"),
            text(d, "target")
        ),
    }
}

fn low_stock(d: &serde_json::Value) -> String {
    if flag(d, "recovered") {
        format!(
            "back above the low-stock threshold ({})",
            text(d, "on_hand")
        )
    } else {
        format!(
            "LOW STOCK alert sent: {} left, threshold {}",
            text(d, "on_hand"),
            text(d, "threshold")
        )
    }
}

fn auto_pause(d: &serde_json::Value) -> String {
    if flag(d, "engaged") {
        format!(
            "AUTO-PAUSED: {} stuck and stock low; listing only on {}",
            text(d, "stuck"),
            text(d, "primary")
        )
    } else {
        "auto-pause released: every channel caught up".to_string()
    }
}

impl TimelineEntry {
    /// A one-line, human-readable summary of `data`.
    pub fn summary(&self) -> String {
        let d = &self.data;
        let t = |k: &str| text(d, k);
        match self.kind {
            EventKind::StockCreated => format!(
                "created with {} on hand, low-stock threshold {}",
                t("on_hand"),
                t("threshold")
            ),
            EventKind::SaleApplied => format!("-{} sold on {}", t("qty"), source(d)),
            EventKind::SaleOversold => format!(
                "OVERSOLD by {} on {} (ordered {}, took {})",
                t("short"),
                source(d),
                t("qty"),
                t("take")
            ),
            EventKind::OrderAfterCancel => format!(
                "order arrived after its cancellation, not applied: {}",
                source(d)
            ),
            EventKind::CancelBeforeOrder => {
                format!("cancel/refund arrived before its order: {}", source(d))
            }
            EventKind::Restocked => format!("+{} back from {} ({})", t("qty"), source(d), t("op")),
            EventKind::StockSet | EventKind::StockAdjusted => format!(
                "{} -> {} by {}: {}",
                t("before"),
                t("after"),
                t("actor"),
                t("reason")
            ),
            EventKind::ListingChanged => {
                format!("listing on {} updated ({})", t("channel"), t("refs"))
            }
            EventKind::Pushed => pushed(d),
            EventKind::PushRetrying => format!(
                "push to {} failed for now, retry in {} s: {}",
                t("channel"),
                t("retry_in_secs"),
                t("error")
            ),
            EventKind::PushHeld => held(d),
            EventKind::DriftFound => format!(
                "{} {}: shows {}, should show {}{}",
                t("channel"),
                t("finding").to_uppercase(),
                field(d, "shows").unwrap_or_else(|| "?".into()),
                field(d, "target").unwrap_or_else(|| "?".into()),
                field(d, "action")
                    .map(|a| format!(" -> {a}"))
                    .unwrap_or_default()
            ),
            EventKind::OrderReconciled => {
                format!("missed order found by reconciliation: {}", source(d))
            }
            EventKind::LowStock => low_stock(d),
            EventKind::AutoPause => auto_pause(d),
            EventKind::PushFailed => format!("push to {} failed: {}", t("channel"), t("error")),
        }
    }
}
