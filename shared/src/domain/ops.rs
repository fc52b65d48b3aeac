//! The operator's views, pure: where a listing stands according to the ledger (for
//! `onecount status`) and what oversells cost (for `onecount oversell-cost`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::age::{AgeLimits, ListingAge, listing_age, waiting_since};
use super::push::PushRecord;
use super::{Channel, Millis, StockItem};

/// Where one listing stands, from the ledger alone (no channel call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ListingState {
    /// The last confirmed push shows what onecount wants listed now.
    InSync,
    /// Not yet confirmed for this long; under `lag_ms` ([`ListingAge`]).
    Pending { behind_ms: i64 },
    /// Behind for longer than `lag_ms`.
    Lagging { behind_ms: i64 },
    /// Behind for longer than `stuck_ms`: retries are failing or the channel is down.
    Stuck { behind_ms: i64 },
    /// The drift check found the mapping broken; nothing is pushed until it is fixed.
    Broken { problem: String },
}

pub fn listing_state(
    stock: &StockItem,
    record: Option<&PushRecord>,
    broken: Option<&str>,
    target: u32,
    now: Millis,
    lag_ms: i64,
    stuck_ms: i64,
) -> ListingState {
    if let Some(p) = broken {
        return ListingState::Broken {
            problem: p.to_string(),
        };
    }
    if record.is_some_and(|r| r.qty == target) {
        return ListingState::InSync;
    }
    let limits = AgeLimits { lag_ms, stuck_ms };
    match listing_age(waiting_since(stock, record, now), now, limits) {
        ListingAge::Pending { age_ms } => ListingState::Pending { behind_ms: age_ms },
        ListingAge::Lagging { age_ms } => ListingState::Lagging { behind_ms: age_ms },
        ListingAge::Stuck { age_ms } => ListingState::Stuck { behind_ms: age_ms },
    }
}

/// What one oversold order costs, by part. Money in the shop's currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostModel {
    /// Average selling price of a unit.
    pub unit_price: f64,
    /// Margin on a unit (lost when the order is cancelled).
    pub unit_margin: f64,
    /// Payment fee kept on a refund: fixed part per order.
    pub refund_fee_fixed: f64,
    /// … and the percentage of the order's value.
    pub refund_fee_pct: f64,
    /// Seller-cancelled order penalty per channel (a channel absent costs 0): what a
    /// cancellation counted against the seller costs you (lost visibility, fees). The
    /// defaults are each channel's `Profile::cancel_penalty`.
    pub defect_penalty: BTreeMap<Channel, f64>,
    /// Support time per oversold order (apology, refund, follow-up).
    pub support_minutes: f64,
    pub hourly_rate: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            unit_price: 30.0,
            unit_margin: 12.0,
            refund_fee_fixed: 0.30,
            refund_fee_pct: 2.9,
            defect_penalty: Channel::CONNECTED
                .into_iter()
                .map(|c| (c, crate::channels::profile(c).cancel_penalty))
                .collect(),
            support_minutes: 15.0,
            hourly_rate: 25.0,
        }
    }
}

impl CostModel {
    /// What a seller-cancelled order costs on `channel`.
    pub fn penalty(&self, channel: Channel) -> f64 {
        self.defect_penalty.get(&channel).copied().unwrap_or(0.0)
    }
}

/// One oversold order line: where, and how many units did not exist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Oversold {
    pub channel: Channel,
    pub units: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Impact {
    pub orders: usize,
    pub units: u64,
    pub refund_fees: f64,
    pub defect_penalties: f64,
    pub lost_margin: f64,
    pub support: f64,
    pub total: f64,
}

/// What `orders` cost under `m`: each is refunded (fees kept by the processor), counts
/// against the channel, loses its margin and takes support time.
pub fn impact(orders: &[Oversold], m: &CostModel) -> Impact {
    let mut i = Impact::default();
    for o in orders {
        let value = m.unit_price * f64::from(o.units);
        i.orders += 1;
        i.units += u64::from(o.units);
        i.refund_fees += m.refund_fee_fixed + value * m.refund_fee_pct / 100.0;
        i.defect_penalties += m.penalty(o.channel);
        i.lost_margin += m.unit_margin * f64::from(o.units);
        i.support += m.support_minutes / 60.0 * m.hourly_rate;
    }
    i.total = i.refund_fees + i.defect_penalties + i.lost_margin + i.support;
    i
}

/// A what-if: a SKU selling `units_per_hour` at the moment it sells out, `other_share` of
/// them on channels other than the one that sold the last unit, with the channels `lag_secs`
/// behind: each sell-out oversells about `units_per_hour/3600 × other_share × lag` units.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhatIf {
    pub lag_secs: f64,
    pub units_per_sellout: f64,
    pub units_per_month: f64,
    pub cost_per_month: f64,
}

pub fn what_if(
    units_per_hour: f64,
    other_share: f64,
    lag_secs: f64,
    sellouts_per_month: f64,
    m: &CostModel,
) -> WhatIf {
    let units_per_sellout = units_per_hour / 3600.0 * other_share * lag_secs;
    let units_per_month = units_per_sellout * sellouts_per_month;
    // One order per unit (flash-sale orders are mostly single units); the defect penalty
    // is averaged over the channels that are not the primary.
    let per_unit = {
        let one = impact(
            &[Oversold {
                channel: Channel::Shopify,
                units: 1,
            }],
            m,
        );
        let others = &Channel::CONNECTED[1..];
        one.total + others.iter().map(|c| m.penalty(*c)).sum::<f64>() / others.len() as f64
    };
    WhatIf {
        lag_secs,
        units_per_sellout,
        units_per_month,
        cost_per_month: units_per_month * per_unit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sku;

    fn stock(updated_at: Millis) -> StockItem {
        StockItem {
            sku: Sku::parse("MUG").unwrap(),
            on_hand: 5,
            version: 3,
            low_stock_threshold: 1,
            updated_at,
            sold: Default::default(),
            guard: Default::default(),
            unheard: Default::default(),
            last_sold_at: None,
        }
    }

    fn record(qty: u32, at: Millis) -> PushRecord {
        PushRecord {
            version: 2,
            qty,
            at,
            sold: 0,
            rev_day: 0,
            revisions: 0,
        }
    }

    #[test]
    fn a_listing_is_in_sync_pending_lagging_stuck_or_broken() {
        let s = stock(1_000);
        let st = |rec: Option<&PushRecord>, broken, now| {
            listing_state(&s, rec, broken, 5, now, 30_000, 300_000)
        };
        assert_eq!(
            st(Some(&record(5, 900)), None, 99_000),
            ListingState::InSync
        );
        assert_eq!(
            st(Some(&record(6, 900)), None, 3_000),
            ListingState::Pending { behind_ms: 2_000 }
        );
        assert_eq!(
            st(None, None, 61_000),
            ListingState::Lagging { behind_ms: 60_000 }
        );
        assert_eq!(
            st(Some(&record(6, 900)), None, 401_000),
            ListingState::Stuck { behind_ms: 400_000 }
        );
        assert!(matches!(
            st(Some(&record(5, 900)), Some("deleted on eBay"), 2_000),
            ListingState::Broken { .. }
        ));
    }

    #[test]
    fn an_oversold_order_costs_fees_penalty_margin_and_time() {
        let m = CostModel::default();
        let i = impact(
            &[
                Oversold {
                    channel: Channel::Ebay,
                    units: 2,
                },
                Oversold {
                    channel: Channel::Shopify,
                    units: 1,
                },
            ],
            &m,
        );
        assert_eq!((i.orders, i.units), (2, 3));
        // fees: 0.30 + 60 × 2.9% = 2.04, and 0.30 + 30 × 2.9% = 1.17
        assert!((i.refund_fees - 3.21).abs() < 1e-9, "{}", i.refund_fees);
        assert!((i.defect_penalties - 15.0).abs() < 1e-9);
        assert!((i.lost_margin - 36.0).abs() < 1e-9);
        assert!((i.support - 12.5).abs() < 1e-9);
        assert!((i.total - (3.21 + 15.0 + 36.0 + 12.5)).abs() < 1e-9);
    }

    #[test]
    fn the_what_if_scales_with_rate_and_lag() {
        let m = CostModel::default();
        // 120 units/h, half elsewhere, 10 minutes behind: 10 units per sell-out.
        let slow = what_if(120.0, 0.5, 600.0, 4.0, &m);
        assert!((slow.units_per_sellout - 10.0).abs() < 1e-9);
        assert!((slow.units_per_month - 40.0).abs() < 1e-9);
        let fast = what_if(120.0, 0.5, 2.0, 4.0, &m);
        assert!((slow.cost_per_month / fast.cost_per_month - 300.0).abs() < 1e-6);
    }
}
