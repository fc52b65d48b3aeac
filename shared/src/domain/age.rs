//! How long a listing has waited for its push to be confirmed — one notion, used by
//! `onecount status` and by the drift check, so "pending", "lagging" and "stuck" mean the
//! same thing on every screen and in every alert.

use serde::Serialize;

use super::push::PushRecord;
use super::{Millis, StockItem};

/// A listing's wait for its push, by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ListingAge {
    /// Younger than the lag limit: a push is on its way (seconds, normally).
    Pending { age_ms: i64 },
    /// Past the lag limit: slower than it should be.
    Lagging { age_ms: i64 },
    /// Past the stuck limit: retries are failing or the channel is down.
    Stuck { age_ms: i64 },
}

/// Where the lines fall (the drift check uses one limit for both: anything not pending
/// is stuck).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgeLimits {
    pub lag_ms: i64,
    pub stuck_ms: i64,
}

/// When the wait began at `now`: the last change to the stock, or the last confirmed
/// push when that came later (a policy change moved the target at the same version). A
/// listing pushed at the stock's very version waits on time alone: the SKU stopped
/// selling and last-unit protection lifted, so from that moment when it came later still.
pub fn waiting_since(stock: &StockItem, record: Option<&PushRecord>, now: Millis) -> Millis {
    let changed = record.map_or(stock.updated_at, |r| r.at.max(stock.updated_at));
    let stopped = stock.stops_selling_at();
    match (record, stopped) {
        (Some(r), Some(s)) if r.version >= stock.version && s <= now => changed.max(s),
        _ => changed,
    }
}

/// The age of a wait that began at `since`.
pub fn listing_age(since: Millis, now: Millis, limits: AgeLimits) -> ListingAge {
    let age_ms = (now - since).max(0);
    if age_ms >= limits.stuck_ms {
        ListingAge::Stuck { age_ms }
    } else if age_ms >= limits.lag_ms {
        ListingAge::Lagging { age_ms }
    } else {
        ListingAge::Pending { age_ms }
    }
}

impl ListingAge {
    pub fn age_ms(self) -> i64 {
        match self {
            ListingAge::Pending { age_ms }
            | ListingAge::Lagging { age_ms }
            | ListingAge::Stuck { age_ms } => age_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SELLING_MS;

    #[test]
    fn a_wait_begins_at_the_change_or_when_the_sku_stopped_selling() {
        let mut s = StockItem {
            sku: crate::domain::Sku::parse("MUG").unwrap(),
            on_hand: 1,
            version: 4,
            low_stock_threshold: 1,
            updated_at: 10_000,
            sold: Default::default(),
            guard: Default::default(),
            unheard: Default::default(),
            last_sold_at: Some(10_000),
        };
        let older = PushRecord {
            version: 3,
            at: 9_000,
            ..Default::default()
        };
        let stopped = 10_000 + SELLING_MS;
        // A sale's push not landed: the wait began at the sale, however long ago.
        assert_eq!(waiting_since(&s, Some(&older), stopped + 5_000), 10_000);
        // Pushed at this version: only the end of the selling window moved the target.
        let current = PushRecord {
            version: 4,
            at: 10_500,
            ..Default::default()
        };
        assert_eq!(waiting_since(&s, Some(&current), stopped + 5_000), stopped);
        assert_eq!(waiting_since(&s, Some(&current), stopped - 1), 10_500);
        s.last_sold_at = None;
        assert_eq!(waiting_since(&s, Some(&current), stopped + 5_000), 10_500);
    }

    #[test]
    fn a_wait_is_pending_then_lagging_then_stuck() {
        let l = AgeLimits {
            lag_ms: 30_000,
            stuck_ms: 300_000,
        };
        assert_eq!(
            listing_age(1_000, 3_000, l),
            ListingAge::Pending { age_ms: 2_000 }
        );
        assert_eq!(
            listing_age(1_000, 31_000, l),
            ListingAge::Lagging { age_ms: 30_000 }
        );
        assert_eq!(
            listing_age(1_000, 301_000, l),
            ListingAge::Stuck { age_ms: 300_000 }
        );
        assert_eq!(
            listing_age(5_000, 1_000, l),
            ListingAge::Pending { age_ms: 0 }
        );
    }
}
