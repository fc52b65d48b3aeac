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

impl TimelineEntry {
    /// A one-line, human-readable summary of `data`.
    pub fn summary(&self) -> String {
        let d = &self.data;
        let s = |k: &str| {
            d.get(k)
                .map(|v| v.to_string().trim_matches('"').to_string())
        };
        let src = || match (s("channel"), s("order"), s("line")) {
            (Some(c), Some(o), Some(l)) => format!("{c} order {o} line {l}"),
            _ => String::from("?"),
        };
        match self.kind {
            EventKind::StockCreated => format!(
                "created with {} on hand, low-stock threshold {}",
                s("on_hand").unwrap_or_default(),
                s("threshold").unwrap_or_default()
            ),
            EventKind::SaleApplied => {
                format!("-{} sold on {}", s("qty").unwrap_or_default(), src())
            }
            EventKind::SaleOversold => format!(
                "OVERSOLD by {} on {} (ordered {}, took {})",
                s("short").unwrap_or_default(),
                src(),
                s("qty").unwrap_or_default(),
                s("take").unwrap_or_default()
            ),
            EventKind::OrderAfterCancel => {
                format!(
                    "order arrived after its cancellation, not applied: {}",
                    src()
                )
            }
            EventKind::CancelBeforeOrder => {
                format!("cancel/refund arrived before its order: {}", src())
            }
            EventKind::Restocked => format!(
                "+{} back from {} ({})",
                s("qty").unwrap_or_default(),
                src(),
                s("op").unwrap_or_default()
            ),
            EventKind::StockSet | EventKind::StockAdjusted => format!(
                "{} -> {} by {}: {}",
                s("before").unwrap_or_default(),
                s("after").unwrap_or_default(),
                s("actor").unwrap_or_default(),
                s("reason").unwrap_or_default()
            ),
            EventKind::ListingChanged => format!(
                "listing on {} updated ({})",
                s("channel").unwrap_or_default(),
                s("refs").unwrap_or_default()
            ),
            EventKind::Pushed => {
                let ch = s("channel").unwrap_or_default();
                let qty = s("qty").unwrap_or_default();
                let lag = s("latency_ms")
                    .map(|l| format!(", {l} ms after the sale"))
                    .unwrap_or_default();
                if d.get("wrote").and_then(serde_json::Value::as_bool) == Some(true) {
                    format!(
                        "{ch} set to {qty} (was {}){lag}",
                        s("from").unwrap_or_default()
                    )
                } else {
                    format!("{ch} already showed {qty}{lag}")
                }
            }
            EventKind::PushRetrying => format!(
                "push to {} failed for now, retry in {} s: {}",
                s("channel").unwrap_or_default(),
                s("retry_in_secs").unwrap_or_default(),
                s("error").unwrap_or_default()
            ),
            EventKind::PushHeld if d.get("held_back").is_some() => {
                let held = s("held_back").unwrap_or_default();
                if held == "0" {
                    format!(
                        "{}'s unexplained fall is not a sale (orders reconciled): other channels list it again",
                        s("channel").unwrap_or_default()
                    )
                } else {
                    format!(
                        "{} shows {}: {held} unit(s) sold there not heard of yet, listed as gone on every channel until the order arrives",
                        s("channel").unwrap_or_default(),
                        s("shows").unwrap_or_default()
                    )
                }
            }
            EventKind::PushHeld => format!(
                "{} shows {}, {} sale(s) there not heard of yet: not raised to {}",
                s("channel").unwrap_or_default(),
                s("shows").unwrap_or_default(),
                s("unheard").unwrap_or_default(),
                s("target").unwrap_or_default()
            ),
            EventKind::DriftFound => format!(
                "{} {}: shows {}, should show {}{}",
                s("channel").unwrap_or_default(),
                s("finding").unwrap_or_default().to_uppercase(),
                s("shows").unwrap_or_else(|| "?".into()),
                s("target").unwrap_or_else(|| "?".into()),
                s("action").map(|a| format!(" -> {a}")).unwrap_or_default()
            ),
            EventKind::OrderReconciled => {
                format!("missed order found by reconciliation: {}", src())
            }
            EventKind::LowStock => {
                if d.get("recovered").and_then(serde_json::Value::as_bool) == Some(true) {
                    format!(
                        "back above the low-stock threshold ({})",
                        s("on_hand").unwrap_or_default()
                    )
                } else {
                    format!(
                        "LOW STOCK alert sent: {} left, threshold {}",
                        s("on_hand").unwrap_or_default(),
                        s("threshold").unwrap_or_default()
                    )
                }
            }
            EventKind::AutoPause => {
                if d.get("engaged").and_then(serde_json::Value::as_bool) == Some(true) {
                    format!(
                        "AUTO-PAUSED: {} stuck and stock low; listing only on {}",
                        s("stuck").unwrap_or_default(),
                        s("primary").unwrap_or_default()
                    )
                } else {
                    "auto-pause released: every channel caught up".to_string()
                }
            }
            EventKind::PushFailed => format!(
                "push to {} failed: {}",
                s("channel").unwrap_or_default(),
                s("error").unwrap_or_default()
            ),
        }
    }
}
