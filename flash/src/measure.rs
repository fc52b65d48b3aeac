//! What a strategy did to the buyers, measured from what each channel *displayed* —
//! pure bookkeeping, fed by the engine's dispatcher (sales) and sampler (displays).
//!
//! - **Oversold units**: per SKU, units the channels sold beyond what existed.
//! - **Stale time**: listing-seconds during which a channel displayed more than the true
//!   remaining count (the window in which a buyer can buy what is gone).
//! - **Sale-to-listed lag**: from a sale until another channel displays no more than
//!   what remained after it; "all channels" is the slowest of them.
//! - **Lost sales**, the other side: buyers turned away while stock existed (their
//!   channel displayed less than they wanted while the true count was enough), and
//!   under-listed time (listing-seconds in which a channel displayed less than the true
//!   count; at or below the last-unit protection level, in which the channels together
//!   displayed less, counted on the primary); units stranded at the end (existing, but
//!   displayed nowhere).
//! - **Races**: an oversold order placed within [`RACE_MS`] of the sale that left too few
//!   for it. No sync can win those (a webhook alone takes longer to arrive); only dealing
//!   the last units out prevents them. The rest are oversells caused by lag.

use onecount::Channel;
use serde::Serialize;

/// One order a channel accepted.
#[derive(Debug, Clone, Serialize)]
pub struct Sold {
    pub at_ms: u64,
    pub item: usize,
    pub channel: Channel,
    pub qty: i64,
    pub order_id: String,
    /// Units of this order that did not exist (it must be cancelled or back-ordered).
    pub short: i64,
    /// For an oversold order: how long after the sale that left fewer units than it
    /// wanted it was placed (`None`: there were never enough).
    pub after_ms: Option<u64>,
}

/// An oversold order placed this soon after the sale that left too few for it is a race,
/// not lag: a sale's webhook alone takes longer to reach onecount.
pub const RACE_MS: u64 = 1_000;

impl Sold {
    /// Oversold in a race (see [`RACE_MS`]).
    pub fn raced(&self) -> bool {
        self.short > 0 && self.after_ms.is_some_and(|ms| ms < RACE_MS)
    }
}

#[derive(Debug, Clone)]
struct Pending {
    at_ms: u64,
    item: usize,
    origin: usize,
    want: i64,
    lag: [Option<u64>; 3],
}

/// One point of the chart: at `at_ms`, the truth and what each channel displayed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Point {
    pub at_ms: u64,
    pub truth: i64,
    pub shows: [i64; 3],
}

#[derive(Debug, Clone)]
pub struct Tracker {
    initial: Vec<i64>,
    sold: Vec<i64>,
    shows: Vec<[i64; 3]>,
    seen_at: Vec<u64>,
    stale_ms: [u64; 3],
    under_ms: [u64; 3],
    /// Under-listed listing-ms per item.
    under_item_ms: Vec<u64>,
    /// Last-unit protection: at or below this count the channels share the item's units
    /// (together they should display what is left; the primary, index 0, the rest).
    protect: Option<i64>,
    /// When each item last sold units: protection deals them out only while it sells.
    last_sold_ms: Vec<Option<u64>>,
    turned_away: usize,
    turned_away_units: i64,
    pending: Vec<Pending>,
    lags: Vec<(usize, [Option<u64>; 3])>,
    pub orders: Vec<Sold>,
    pub series: Vec<Vec<Point>>,
}

/// The lag figures of one set of sales (milliseconds).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Lag {
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
    /// Sales this channel (or some channel) had not caught up with by the end; counted
    /// above at the time the run ended, so the percentiles are lower bounds for them.
    pub unresolved: usize,
}

fn pct(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

impl Lag {
    fn of(values: impl Iterator<Item = (Option<u64>, u64)>) -> Lag {
        let mut unresolved = 0;
        let mut v: Vec<u64> = values
            .map(|(lag, censored)| {
                lag.unwrap_or_else(|| {
                    unresolved += 1;
                    censored
                })
            })
            .collect();
        Lag {
            p50_ms: pct(&mut v, 0.5),
            p95_ms: pct(&mut v, 0.95),
            max_ms: pct(&mut v, 1.0),
            unresolved,
        }
    }
}

impl Tracker {
    /// Every channel starts out displaying the true count.
    pub fn new(initial: &[i64]) -> Tracker {
        Tracker {
            initial: initial.to_vec(),
            sold: vec![0; initial.len()],
            last_sold_ms: vec![None; initial.len()],
            shows: initial.iter().map(|q| [*q; 3]).collect(),
            seen_at: vec![0; initial.len()],
            stale_ms: [0; 3],
            under_ms: [0; 3],
            under_item_ms: vec![0; initial.len()],
            protect: None,
            turned_away: 0,
            turned_away_units: 0,
            pending: Vec::new(),
            lags: Vec::new(),
            orders: Vec::new(),
            series: initial
                .iter()
                .map(|q| {
                    vec![Point {
                        at_ms: 0,
                        truth: *q,
                        shows: [*q; 3],
                    }]
                })
                .collect(),
        }
    }

    /// Measure under-listing against last-unit protection at `level` (at or below it the
    /// channels share an item's units instead of each listing all of them).
    pub fn protected_at(mut self, level: Option<u32>) -> Tracker {
        self.protect = level.map(i64::from);
        self
    }

    /// Whether `item`'s last units are allotted between the channels as of its last
    /// event (at or below the protection level, sold within onecount's
    /// [`SELLING_MS`](onecount::domain::SELLING_MS)): then they should together display
    /// what is left.
    fn allotted(&self, item: usize) -> bool {
        let last = self.last_sold_ms[item].map(|t| t as i64);
        onecount::domain::selling_at(last, self.seen_at[item] as i64)
            && self
                .protect
                .is_some_and(|level| self.remaining(item).max(0) <= level)
    }

    /// Units of `item` that exist but no channel displays: under allotment what the
    /// channels show together falls short of what is left; otherwise the channel showing
    /// the most does.
    fn unlisted(&self, item: usize) -> i64 {
        let left = self.remaining(item).max(0);
        let shows = self.shows[item].map(|q| q.max(0));
        let listed = if self.allotted(item) {
            shows.iter().sum()
        } else {
            shows.iter().copied().max().unwrap_or(0)
        };
        (left - listed).max(0)
    }

    /// A buyer wanting `qty` of `item` on `channel` was turned away: the channel
    /// displayed `shown`. Counted as a lost sale when the stock to sell it existed.
    pub fn refused(&mut self, item: usize, qty: i64, shown: i64) {
        if shown < qty && self.remaining(item) >= qty {
            self.turned_away += 1;
            self.turned_away_units += qty;
        }
    }

    /// Items with units no channel displays (id, units).
    pub fn stranded(&self) -> Vec<(usize, i64)> {
        (0..self.initial.len())
            .map(|i| (i, self.unlisted(i)))
            .filter(|(_, u)| *u > 0)
            .collect()
    }

    /// The `n` items under-listed longest, at least `min_ms` listing-ms each, longest
    /// first: (id, listing-ms).
    pub fn most_under_listed(&self, n: usize, min_ms: u64) -> Vec<(usize, u64)> {
        let mut v: Vec<(usize, u64)> = self
            .under_item_ms
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, ms)| *ms >= min_ms)
            .collect();
        v.sort_by_key(|(i, ms)| (std::cmp::Reverse(*ms), *i));
        v.truncate(n);
        v
    }

    /// Units short in the orders `which` picks.
    fn short_where(&self, which: impl Fn(&Sold) -> bool) -> i64 {
        self.orders
            .iter()
            .filter(|o| which(o))
            .map(|o| o.short)
            .sum()
    }

    /// What is left of `item` (negative once oversold).
    pub fn remaining(&self, item: usize) -> i64 {
        self.initial[item] - self.sold[item]
    }

    /// A channel accepted an order. The selling channel already displays the units gone.
    pub fn sale(&mut self, at_ms: u64, item: usize, channel: Channel, qty: i64, order_id: &str) {
        self.advance(at_ms, item);
        let before = self.remaining(item);
        self.sold[item] += qty;
        if before > 0 {
            self.last_sold_ms[item] = Some(at_ms);
        }
        let after = self.remaining(item);
        let short = (-after).max(0) - (-before).max(0);
        let origin = Channel::CONNECTED
            .iter()
            .position(|c| *c == channel)
            .unwrap_or(0);
        self.shows[item][origin] = (self.shows[item][origin] - qty).max(0);
        let mut lag = [None; 3];
        lag[origin] = Some(0);
        self.pending.push(Pending {
            at_ms,
            item,
            origin,
            want: after.max(0),
            lag,
        });
        let after_ms = (short > 0)
            .then(|| self.left_too_few_at(item, qty))
            .flatten()
            .map(|t| at_ms.saturating_sub(t));
        self.orders.push(Sold {
            at_ms,
            item,
            channel,
            qty,
            order_id: order_id.to_string(),
            short,
            after_ms,
        });
        self.point(at_ms, item);
    }

    /// When the last sale of `item` so far took what was left from `qty` or more to less
    /// than `qty`; `None` when there were never `qty`.
    fn left_too_few_at(&self, item: usize, qty: i64) -> Option<u64> {
        let mut left = self.initial[item];
        let mut at = None;
        for o in self.orders.iter().filter(|o| o.item == item) {
            if left >= qty && left - o.qty < qty {
                at = Some(o.at_ms);
            }
            left -= o.qty;
        }
        at
    }

    /// What the channels display for `item` at `at_ms`.
    pub fn observe(&mut self, at_ms: u64, item: usize, shows: [i64; 3]) {
        self.advance(at_ms, item);
        let changed = self.shows[item] != shows;
        self.shows[item] = shows;
        if changed {
            self.point(at_ms, item);
        }
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if p.item == item {
                for (lag, shown) in p.lag.iter_mut().zip(shows) {
                    if lag.is_none() && shown <= p.want {
                        *lag = Some(at_ms.saturating_sub(p.at_ms));
                    }
                }
                if p.lag.iter().all(Option::is_some) {
                    let done = self.pending.swap_remove(i);
                    self.lags.push((done.origin, done.lag));
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Stale time up to `at_ms`, with what was displayed and true since the last event.
    fn advance(&mut self, at_ms: u64, item: usize) {
        let dt = at_ms.saturating_sub(self.seen_at[item]);
        let truth = self.remaining(item).max(0);
        let allotted = self.allotted(item);
        for k in 0..3 {
            let shown = self.shows[item][k];
            if shown > truth {
                self.stale_ms[k] += dt;
            }
            if !allotted && shown < truth {
                self.under_ms[k] += dt;
                self.under_item_ms[item] += dt;
            }
        }
        // Allotted units no channel shows are under-listed on the primary channel, which
        // lists whatever the others do not.
        if allotted && self.unlisted(item) > 0 {
            self.under_ms[0] += dt;
            self.under_item_ms[item] += dt;
        }
        self.seen_at[item] = self.seen_at[item].max(at_ms);
    }

    fn point(&mut self, at_ms: u64, item: usize) {
        let p = Point {
            at_ms,
            truth: self.remaining(item),
            shows: self.shows[item],
        };
        self.series[item].push(p);
    }

    /// The figures, with sales still pending counted up to `end_ms`.
    pub fn summary(&self, end_ms: u64) -> Summary {
        let all: Vec<(usize, [Option<u64>; 3], u64)> = self
            .lags
            .iter()
            .map(|(o, l)| (*o, *l, 0))
            .chain(
                self.pending
                    .iter()
                    .map(|p| (p.origin, p.lag, end_ms.saturating_sub(p.at_ms))),
            )
            .collect();
        let per_channel: Vec<Lag> = (0..3)
            .map(|k| {
                Lag::of(
                    all.iter()
                        .filter(|(o, _, _)| *o != k)
                        .map(|(_, l, c)| (l[k], *c)),
                )
            })
            .collect();
        let all_channels = Lag::of(all.iter().map(|(_, l, c)| {
            let worst = l.iter().copied().collect::<Option<Vec<u64>>>();
            (worst.map(|v| v.into_iter().max().unwrap_or(0)), *c)
        }));
        let oversold_units: i64 = self
            .initial
            .iter()
            .zip(&self.sold)
            .map(|(i, s)| (s - i).max(0))
            .sum();
        Summary {
            orders: self.orders.len(),
            units_sold: self.sold.iter().sum(),
            oversold_units,
            oversold_in_races: self.short_where(Sold::raced),
            oversold_from_lag: self.short_where(|o| o.after_ms.is_some() && !o.raced()),
            oversold_orders: self.orders.iter().filter(|o| o.short > 0).count(),
            stale_listing_secs: self.stale_ms.iter().sum::<u64>() as f64 / 1000.0,
            stale_secs_by_channel: self.stale_ms.map(|ms| ms as f64 / 1000.0),
            lag_by_channel: [per_channel[0], per_channel[1], per_channel[2]],
            lag_all_channels: all_channels,
            turned_away: self.turned_away,
            turned_away_units: self.turned_away_units,
            under_listed_secs: self.under_ms.iter().sum::<u64>() as f64 / 1000.0,
            under_secs_by_channel: self.under_ms.map(|ms| ms as f64 / 1000.0),
            stranded_units: self.stranded().iter().map(|(_, u)| u).sum(),
        }
    }

    /// The item with the most units sold (the chart's SKU).
    pub fn hottest(&self) -> usize {
        (0..self.sold.len())
            .max_by_key(|i| (self.sold[*i], std::cmp::Reverse(*i)))
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub orders: usize,
    pub units_sold: i64,
    pub oversold_units: i64,
    /// Of those, units of orders placed within [`RACE_MS`] of the sale that left too few.
    pub oversold_in_races: i64,
    /// And units of orders placed later than that: lag. (An order for more than ever
    /// existed is neither.)
    pub oversold_from_lag: i64,
    pub oversold_orders: usize,
    /// Listing-seconds with a channel displaying more than exists, all channels.
    pub stale_listing_secs: f64,
    pub stale_secs_by_channel: [f64; 3],
    /// Sale-to-listed lag on each channel, for sales made on the other two.
    pub lag_by_channel: [Lag; 3],
    /// Until every channel displayed the sale.
    pub lag_all_channels: Lag,
    /// Buyers (and their units) turned away while the stock to sell them existed.
    pub turned_away: usize,
    pub turned_away_units: i64,
    /// Listing-seconds with a channel displaying less than it should, all channels.
    pub under_listed_secs: f64,
    pub under_secs_by_channel: [f64; 3],
    /// Units that exist at the end but no channel displays.
    pub stranded_units: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use Channel::{Ebay, Etsy, Shopify};

    #[test]
    fn a_sale_seen_everywhere_has_its_lag_and_no_oversell() {
        let mut t = Tracker::new(&[5]);
        t.sale(1_000, 0, Shopify, 1, "1001");
        t.observe(1_100, 0, [4, 5, 5]); // Etsy and eBay not yet
        t.observe(1_300, 0, [4, 4, 5]);
        t.observe(1_700, 0, [4, 4, 4]);
        let s = t.summary(2_000);
        assert_eq!(s.orders, 1);
        assert_eq!(s.oversold_units, 0);
        assert_eq!(s.lag_by_channel[1].p50_ms, 300);
        assert_eq!(s.lag_by_channel[2].max_ms, 700);
        assert_eq!(s.lag_all_channels.max_ms, 700);
        // Etsy displayed 5 of 4 from 1.0 s to 1.3 s, eBay to 1.7 s.
        assert!(
            (s.stale_listing_secs - (0.3 + 0.7)).abs() < 1e-9,
            "{}",
            s.stale_listing_secs
        );
        assert_eq!(s.stale_secs_by_channel, [0.0, 0.3, 0.7]);
    }

    #[test]
    fn an_oversell_long_after_the_sale_that_left_too_few_is_lag_not_a_race() {
        let mut t = Tracker::new(&[3]);
        t.sale(1_000, 0, Shopify, 1, "A"); // 2 left
        t.sale(1_200, 0, Etsy, 1, "B"); // 1 left: too few for a buyer of 2 from here
        t.sale(4_700, 0, Ebay, 2, "C"); // eBay still displayed 2, 3.5 s later
        t.sale(4_900, 0, Shopify, 1, "D"); // 0.2 s after C emptied it
        let after: Vec<Option<u64>> = t.orders.iter().map(|o| o.after_ms).collect();
        assert_eq!(after, [None, None, Some(3_500), Some(200)]);
        assert!(!t.orders[2].raced() && t.orders[3].raced());
        // Nothing displayed less than existed.
        assert!(t.most_under_listed(3, 0).iter().all(|(_, ms)| *ms == 0));
        let s = t.summary(5_000);
        assert_eq!(
            (s.oversold_units, s.oversold_in_races, s.oversold_from_lag),
            (2, 1, 1)
        );
    }

    #[test]
    fn selling_what_is_gone_counts_units_and_the_orders_to_cancel() {
        let mut t = Tracker::new(&[1]);
        t.sale(10, 0, Shopify, 1, "A");
        t.sale(20, 0, Etsy, 1, "B"); // Etsy still displayed 1
        t.sale(30, 0, Ebay, 2, "C");
        let s = t.summary(100);
        assert_eq!(s.oversold_units, 3);
        assert_eq!(s.oversold_orders, 2);
        let short: Vec<(&str, i64)> = t
            .orders
            .iter()
            .map(|o| (o.order_id.as_str(), o.short))
            .collect();
        assert_eq!(short, [("A", 0), ("B", 1), ("C", 2)]);
        // B came 10 ms after A took the last unit: a race. C wanted 2 of a SKU that
        // never had 2: not a race, whatever the timing.
        let after: Vec<Option<u64>> = t.orders.iter().map(|o| o.after_ms).collect();
        assert_eq!(after, [None, Some(10), None]);
        assert_eq!((s.oversold_in_races, s.oversold_from_lag), (1, 0));
        // Never displayed below zero, so all three sales are "listed" once channels show 0.
        t.observe(200, 0, [0, 0, 0]);
        assert_eq!(t.summary(300).lag_all_channels.unresolved, 0);
    }

    #[test]
    fn lost_sales_under_listing_and_stranded_units_are_counted() {
        let mut t = Tracker::new(&[5]);
        t.sale(1_000, 0, Shopify, 2, "1"); // 3 left; Shopify shows 3 at once
        t.observe(1_000, 0, [3, 5, 5]);
        // Every channel drops to 0 although 3 exist: under-listed, and buyers turned away.
        t.observe(2_000, 0, [0, 0, 0]);
        t.refused(0, 1, 0);
        t.refused(0, 4, 0); // wanted more than exist: not a lost sale
        t.observe(4_000, 0, [0, 0, 0]);
        let s = t.summary(4_000);
        assert_eq!((s.turned_away, s.turned_away_units), (1, 1));
        assert_eq!(s.under_secs_by_channel, [2.0, 2.0, 2.0]);
        assert_eq!(t.most_under_listed(3, 1_000), [(0, 6_000)]);
        assert!(t.most_under_listed(3, 6_001).is_empty());
        assert_eq!(s.stranded_units, 3);
        assert_eq!(t.stranded(), [(0, 3)]);
        // Over-listed time is the other side, not under-listing.
        assert_eq!(s.stale_secs_by_channel, [0.0, 1.0, 1.0]);
    }

    #[test]
    fn under_last_unit_protection_the_channels_together_should_list_the_last_units() {
        let mut t = Tracker::new(&[4]).protected_at(Some(3));
        t.sale(0, 0, Shopify, 1, "1"); // 3 left, and the item sells
        t.observe(0, 0, [1, 1, 1]);
        t.observe(5_000, 0, [1, 1, 1]);
        let s = t.summary(5_000);
        assert_eq!(s.under_listed_secs, 0.0, "one each is all three");
        assert_eq!(s.stranded_units, 0);
        // Etsy gave its unit up and Shopify has not listed it yet: 1 unit shown nowhere.
        t.observe(6_000, 0, [1, 0, 1]);
        t.observe(7_000, 0, [1, 0, 1]);
        assert_eq!(t.summary(7_000).under_secs_by_channel, [1.0, 0.0, 0.0]);
        assert_eq!(t.stranded(), [(0, 1)]);
        // No sale for onecount's selling window: every channel should list all 3 again.
        let quiet = onecount::domain::SELLING_MS as u64;
        t.observe(quiet, 0, [3, 1, 1]);
        t.observe(quiet + 1_000, 0, [3, 1, 1]);
        let s = t.summary(quiet + 1_000);
        assert_eq!(s.under_secs_by_channel, [24.0, 1.0, 1.0]);
        assert!(t.stranded().is_empty(), "Shopify lists every unit");
        // Above the level every channel should show everything.
        let mut t = Tracker::new(&[5]).protected_at(Some(3));
        t.observe(0, 0, [5, 5, 2]);
        t.observe(1_000, 0, [5, 5, 2]);
        assert_eq!(t.summary(1_000).under_secs_by_channel, [0.0, 0.0, 1.0]);
        assert!(t.stranded().is_empty());
    }

    #[test]
    fn a_sale_never_seen_is_counted_as_unresolved_up_to_the_end() {
        let mut t = Tracker::new(&[9, 3]);
        t.sale(0, 1, Etsy, 1, "X");
        t.observe(50, 1, [3, 2, 2]); // Shopify never lowered
        let s = t.summary(10_000);
        assert_eq!(s.lag_by_channel[0].unresolved, 1);
        assert_eq!(s.lag_by_channel[0].max_ms, 10_000);
        assert_eq!(s.lag_all_channels.unresolved, 1);
        assert_eq!(t.hottest(), 1);
    }
}
