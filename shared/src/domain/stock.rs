//! The stock item and the rules that change its count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Channel, Millis, ParseError, Qty, Sku};

/// One SKU's true count. `version` rises by exactly one on every change of `on_hand` (and
/// of `unheard`, which changes what the channels should list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockItem {
    pub sku: Sku,
    pub on_hand: u32,
    pub version: u64,
    pub low_stock_threshold: u32,
    pub updated_at: Millis,
    /// Net units each channel sold, as the ledger has heard (sales minus restocks). The
    /// pusher compares how far a channel's own count fell since its last push with how
    /// much of that the ledger has heard of: the rest are sales still on their way, and
    /// the channel must not be raised over them (never re-inflate).
    #[serde(default)]
    pub sold: BTreeMap<Channel, i64>,
    /// Which channels may sell the last units, and the alert state.
    #[serde(default)]
    pub guard: Guard,
    /// Per channel: units it sold that the ledger has not heard of yet, as its pusher found
    /// them (the channel fell further than the heard sales). Every channel lists them as
    /// gone until the orders arrive, so a lost or late webhook cannot sell them twice.
    #[serde(default)]
    pub unheard: BTreeMap<Channel, Unheard>,
    /// When the ledger last heard a sale of this SKU take units (`None`: none yet). While
    /// it sells, its last units are dealt out between the channels (last-unit
    /// protection); once it stops, every channel lists them again ([`SELLING_MS`]).
    #[serde(default)]
    pub last_sold_at: Option<Millis>,
}

/// Units one channel sold unheard, found by its pusher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unheard {
    pub units: u32,
    /// The channel's heard-sales counter (`sold`) when they were found: sales heard since
    /// then are these arriving, and take them off one for one.
    pub sold_at: i64,
    pub at: Millis,
}

/// How long units found unheard are held back elsewhere without their order arriving. The
/// drift check reconciles a channel's orders every few minutes; after this long what is
/// still unexplained was an edit on the channel, not a sale.
pub const UNHEARD_TTL_MS: Millis = 15 * 60 * 1000;

/// How long after its last sale a SKU counts as selling. Last-unit protection deals the
/// last units out only then: two buyers on two channels within a push's lag are likely
/// only for a SKU that sells, and a unit dealt to a channel whose buyers do not come is a
/// lost sale. A SKU quiet for this long lists its last units on every channel again.
pub const SELLING_MS: Millis = 30_000;

/// Whether something that last sold at `last` is still selling at `now` ([`SELLING_MS`]).
pub fn selling_at(last: Option<Millis>, now: Millis) -> bool {
    last.is_some_and(|t| now - t < SELLING_MS)
}

/// Per-SKU protection settings and alert state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guard {
    /// The channel that keeps selling when the others are paused (default: Shopify).
    pub primary: Option<Channel>,
    /// Last-unit protection for this SKU: at or below this count, while the SKU sells
    /// ([`SELLING_MS`]), the units are dealt out between the channels, the primary first
    /// (overrides the global level).
    pub last_units: Option<u32>,
    /// Set by the drift check while a channel is stuck and stock is low: every channel
    /// but the primary lists 0.
    pub auto_paused: bool,
    /// A low-stock alert went out and the count has not recovered above the threshold.
    pub low_alerted: bool,
}

impl Guard {
    pub fn primary(&self) -> Channel {
        self.primary.unwrap_or(Channel::Shopify)
    }
}

impl StockItem {
    /// Net units `channel` sold, as heard so far.
    pub fn sold_on(&self, channel: Channel) -> i64 {
        self.sold.get(&channel).copied().unwrap_or(0)
    }

    /// Units `channel` sold that are still unheard at `now`: those its pusher found, less
    /// the sales heard from it since, until they expire.
    pub fn unheard_on(&self, channel: Channel, now: Millis) -> u32 {
        let Some(u) = self.unheard.get(&channel) else {
            return 0;
        };
        if now.saturating_sub(u.at) > UNHEARD_TTL_MS {
            return 0;
        }
        let arrived = (self.sold_on(channel) - u.sold_at).max(0);
        (i64::from(u.units) - arrived).max(0) as u32
    }

    /// Whether a sale on `channel` placed at `placed_at` came after that channel's unheard
    /// units were found: a new sale, not one of them arriving, so it must not release any
    /// (the channel's reading then already had them gone). Unknown placement counts as
    /// arriving, as before the channels said when their orders were placed.
    pub fn sale_after_unheard(&self, channel: Channel, placed_at: Option<Millis>) -> bool {
        match (self.unheard.get(&channel), placed_at) {
            (Some(u), Some(placed)) => placed > u.at,
            _ => false,
        }
    }

    /// Hear a sale of `qty` on `channel` against its unheard units: one placed after they
    /// were found moves their baseline along, so it is not taken for one of them.
    pub fn hear_sale(&mut self, channel: Channel, qty: u32, placed_at: Option<Millis>) {
        let new = self.sale_after_unheard(channel, placed_at);
        *self.sold.entry(channel).or_insert(0) += i64::from(qty);
        if new && let Some(u) = self.unheard.get_mut(&channel) {
            u.sold_at += i64::from(qty);
        }
    }

    /// When the SKU last sold: a sale the ledger heard take units, or units a pusher
    /// found sold unheard on a channel (a sale whose order is on its way).
    pub fn sold_lately_at(&self) -> Option<Millis> {
        let found = self.unheard.values().map(|u| u.at);
        self.last_sold_at.into_iter().chain(found).max()
    }

    /// When the SKU stops selling unless it sells again: [`SELLING_MS`] after it last sold.
    pub fn stops_selling_at(&self) -> Option<Millis> {
        self.sold_lately_at().map(|t| t + SELLING_MS)
    }

    /// The last-unit level for this SKU: its own, else `global`; `None` without protection.
    pub fn last_units_level(&self, global: Option<u32>) -> Option<u32> {
        self.guard.last_units.or(global)
    }

    /// Whether the SKU sold within [`SELLING_MS`] before `now`.
    pub fn selling(&self, now: Millis) -> bool {
        selling_at(self.sold_lately_at(), now)
    }

    /// What is really left to sell at `now`: the count less every channel's unheard sales.
    pub fn available(&self, now: Millis) -> u32 {
        let unheard: u32 = self.unheard.keys().map(|c| self.unheard_on(*c, now)).sum();
        self.on_hand.saturating_sub(unheard)
    }
}

/// What `create_stock` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStock {
    pub sku: Sku,
    pub on_hand: u32,
    pub low_stock_threshold: u32,
}

/// What a sale line takes from the count: never more than there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleDecision {
    /// Units taken from `on_hand`.
    pub take: u32,
    /// Units sold that were not there: the oversell at order time.
    pub short: u32,
}

/// Take `qty` from `on_hand`, never below zero; what is missing is the shortfall.
pub fn decide_sale(on_hand: u32, qty: u32) -> SaleDecision {
    let take = on_hand.min(qty);
    SaleDecision {
        take,
        short: qty - take,
    }
}

/// `on_hand` after a manual adjustment by `delta`; refused if it would go below zero
/// or past the largest count onecount stores.
pub fn adjusted_on_hand(on_hand: u32, delta: i64) -> Result<u32, ParseError> {
    let after = i64::from(on_hand) + delta;
    if after < 0 {
        return Err(ParseError(format!(
            "adjusting by {delta} would take the count below zero (on hand: {on_hand}); \
             use `stock set` to record the counted quantity instead"
        )));
    }
    if after > i64::from(Qty::MAX) {
        return Err(ParseError(format!(
            "adjusting by {delta} would exceed {}",
            Qty::MAX
        )));
    }
    Ok(after as u32)
}

/// The result of a manual set or adjust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockChange {
    pub sku: Sku,
    pub before: u32,
    pub after: u32,
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sale_never_takes_more_than_there_is() {
        assert_eq!(decide_sale(5, 2), SaleDecision { take: 2, short: 0 });
        assert_eq!(decide_sale(1, 3), SaleDecision { take: 1, short: 2 });
        assert_eq!(decide_sale(0, 1), SaleDecision { take: 0, short: 1 });
    }

    #[test]
    fn adjust_refuses_to_go_negative() {
        assert_eq!(adjusted_on_hand(5, -5).unwrap(), 0);
        assert_eq!(adjusted_on_hand(5, 7).unwrap(), 12);
        let err = adjusted_on_hand(2, -3).unwrap_err();
        assert!(err.0.contains("below zero"), "{err}");
    }
}
