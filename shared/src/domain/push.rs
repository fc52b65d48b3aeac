//! The push decisions: what quantity a channel should show, whether to write it now, and
//! how long to wait after a failure. Pure; the pusher brings the facts (the stock item,
//! the listing, the last confirmed push, what the channel shows now).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Channel, ListingPolicy, Millis, SELLING_MS, StockItem, Unheard};

/// What the pusher last confirmed on one channel for one listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRecord {
    /// The stock version the quantity was computed from.
    pub version: u64,
    /// What the channel was left showing.
    pub qty: u32,
    pub at: Millis,
    /// The stock item's heard-sales counter for this channel at that version.
    pub sold: i64,
    /// UTC day number (days since the epoch) that `revisions` counts.
    pub rev_day: i64,
    /// Channel writes on that day (eBay allows 250 revisions per listing per day).
    pub revisions: u32,
}

impl PushRecord {
    /// Writes already spent today.
    pub fn revisions_on(&self, day: i64) -> u32 {
        if self.rev_day == day {
            self.revisions
        } else {
            0
        }
    }
}

/// Limits a channel puts on what can be listed and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelRules {
    /// Highest quantity the channel accepts (some cap what one offering may list).
    pub max_listed: Option<u32>,
    /// Writes per listing per day (some cap revisions).
    pub daily_revisions: Option<u32>,
}

/// Near the daily revision cap, keep this many writes for the values that matter (zero
/// and low stock); intermediate values wait and coalesce.
pub const REVISION_RESERVE: u32 = 50;

/// The quantity `channel` should show: the policy's clamp, then the channel's own cap.
pub fn target_quantity(policy: &ListingPolicy, on_hand: u32, channel: Channel) -> u32 {
    let q = policy.listed_quantity(on_hand);
    channel.rules().max_listed.map_or(q, |m| q.min(m))
}

/// What the channels listing a SKU may show at most, as far as the ledger knows: each
/// one's last confirmed push less the sales heard from it since (a channel only lowers its
/// own count as it sells; onecount is the one that raises it). `None`: a listing never
/// pushed, whose count is unknown. Last-unit protection allots the last units by it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed(BTreeMap<Channel, Option<u32>>);

impl Listed {
    /// From each channel's last confirmed push (every channel with a listing of the SKU).
    pub fn of<'a>(
        stock: &StockItem,
        records: impl IntoIterator<Item = (Channel, Option<&'a PushRecord>)>,
        now: Millis,
    ) -> Listed {
        Listed(
            records
                .into_iter()
                .map(|(c, r)| (c, r.map(|r| may_show(stock, c, r, now))))
                .collect(),
        )
    }

    /// The channels with a listing.
    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        self.0.keys().copied()
    }
}

/// What `channel` may show at most: its last confirmed push less the sales it made since,
/// heard or found unheard.
pub fn may_show(stock: &StockItem, channel: Channel, record: &PushRecord, now: Millis) -> u32 {
    let since = (sold_counted(stock, channel, now) - record.sold).max(0);
    (i64::from(record.qty) - since).clamp(0, i64::from(u32::MAX)) as u32
}

/// The last `left` units dealt out one at a time: the primary channel first (when it lists
/// the SKU), then each other channel listing it in turn. `channel`'s share.
pub fn share_of_last(channel: Channel, primary: Channel, listed: &Listed, left: u32) -> u32 {
    let mut order: Vec<Channel> = listed.channels().chain([channel]).collect();
    order.sort_by_key(|c| (*c != primary, *c));
    order.dedup();
    let n = order.len() as u32;
    let i = order.iter().position(|c| *c == channel).unwrap_or(0) as u32;
    left / n + u32::from(i < left % n)
}

/// At or below the last-unit level, the units left are dealt out so that the channels
/// together never list more than exist, whatever they sell before onecount hears of it:
/// every other channel lists its share ([`share_of_last`]), never raised (it keeps no more
/// than it may show already: raised, it could sell a unit that another channel sold
/// meanwhile); the primary channel lists the rest. Only while a channel is being lowered
/// to its share (its push on the way) can the channels show more than exist together,
/// as they do above the level.
fn allotted(stock: &StockItem, channel: Channel, listed: &Listed, left: u32) -> (u32, String) {
    let primary = stock.guard.primary();
    let listed_by = |c: Channel| {
        let share = share_of_last(c, primary, listed, left);
        let may = listed.0.get(&c).copied().flatten().unwrap_or(share);
        (share, share.min(may))
    };
    if channel == primary {
        let elsewhere = listed
            .channels()
            .filter(|c| *c != primary)
            .fold(0u32, |sum, c| sum.saturating_add(listed_by(c).1));
        let q = left.saturating_sub(elsewhere);
        let why =
            format!("the other channels list {elsewhere} of the {left} left; {channel} the rest");
        return (q, why);
    }
    if !listed.0.contains_key(&channel) {
        // Called without what the channels show: list nothing here until it is known.
        return (
            0,
            "its share is not known yet (the channels' pushes are read first)".into(),
        );
    }
    let (share, q) = listed_by(channel);
    let why = if q < share {
        format!(
            "its share is {share} of the {left} left, but it may show only {q} (never raised here)"
        )
    } else {
        format!("its share is {share} of the {left} left, the rest on the other channels")
    };
    (q, why)
}

/// Whether the SKU's last units are being allotted between its channels at `now`: at or
/// below the last-unit level (the SKU's own, else `global_last_units`) while it sells
/// ([`StockItem::selling`]), not auto-paused.
pub fn allotting(stock: &StockItem, global_last_units: Option<u32>, now: Millis) -> bool {
    !stock.guard.auto_paused
        && stock
            .last_units_level(global_last_units)
            .is_some_and(|l| stock.available(now) <= l && stock.selling(now))
}

/// The quantity `channel` should list for this SKU at `now`, all rules applied: what is
/// really left (the count less every channel's sales found but not heard yet), the
/// listing's policy and the channel's cap, then the SKU's guard — while auto-paused only
/// the primary channel lists anything; at or below the last-unit level (the SKU's own,
/// else `global_last_units`) the units left are allotted between the channels `listed`
/// (see [`allotted`]).
pub fn listed_for(
    stock: &StockItem,
    policy: &ListingPolicy,
    channel: Channel,
    global_last_units: Option<u32>,
    now: Millis,
    listed: &Listed,
) -> u32 {
    listed_why(stock, policy, channel, global_last_units, now, listed).0
}

/// [`listed_for`], with why: each rule that moved the quantity, in the order applied, in
/// words an operator reads (`onecount sku show`).
pub fn listed_why(
    stock: &StockItem,
    policy: &ListingPolicy,
    channel: Channel,
    global_last_units: Option<u32>,
    now: Millis,
    listed: &Listed,
) -> (u32, Vec<String>) {
    let mut why = Vec::new();
    let mut left = stock.available(now);
    for c in Channel::CONNECTED {
        let u = stock.unheard_on(c, now);
        if u > 0 {
            why.push(format!(
                "{u} held back: sold on {c}, order not heard yet (comes back when it arrives)"
            ));
        }
    }
    let primary = stock.guard.primary();
    if stock.guard.auto_paused {
        if channel != primary {
            why.push(format!(
                "auto-paused: a channel is stuck while stock is low, so only {primary} lists"
            ));
            return (0, why);
        }
    } else if let Some(l) = stock
        .last_units_level(global_last_units)
        .filter(|l| left <= *l)
    {
        if stock.selling(now) {
            let (q, how) = allotted(stock, channel, listed, left);
            why.push(format!("last-unit protection at {l}: {how}"));
            left = q;
        } else {
            why.push(format!(
                "last-unit protection at {l} waits: no sale in the last {} s, so every channel lists the last units (dealt out again on the next sale)",
                SELLING_MS / 1000
            ));
        }
    }
    if policy.paused {
        why.push("paused on this channel".into());
    } else {
        if policy.buffer > 0 {
            why.push(format!(
                "buffer: {} held back from this channel",
                policy.buffer
            ));
        }
        if let Some(m) = policy
            .max_qty
            .filter(|m| *m < left.saturating_sub(policy.buffer))
        {
            why.push(format!("max: lists at most {m}"));
        }
    }
    let q = target_quantity(policy, left, channel);
    if q < policy.listed_quantity(left) {
        why.push(format!("{channel} takes at most {q}"));
    }
    (q, why)
}

/// The channel's sales as its own count reflects them: those heard plus those its pusher
/// found unheard (until they arrive or expire). A push record keeps this as its baseline,
/// so a unit found before the push and heard after it counts once: finding it lowered
/// the channel's count, hearing it only moves it from one term to the other. Units found
/// since the push are in the count and not the baseline: the target already lists them
/// as gone, so they do not hold a raise back again.
pub fn sold_counted(stock: &StockItem, channel: Channel, now: Millis) -> i64 {
    stock.sold_on(channel) + i64::from(stock.unheard_on(channel, now))
}

/// What a held push should record as the channel's unheard sales: the units found now
/// (`unheard`, measured with [`sold_counted`]) on top of those still pending. `None`
/// without a confirmed push: then the gap may be a listing never pushed, not sales.
pub fn unheard_to_record(
    stock: &StockItem,
    channel: Channel,
    record: Option<&PushRecord>,
    unheard: i64,
    now: Millis,
) -> Option<Unheard> {
    record?;
    let found = u32::try_from(unheard).ok().filter(|u| *u > 0)?;
    Some(Unheard {
        units: found.saturating_add(stock.unheard_on(channel, now)),
        sold_at: stock.sold_on(channel),
        at: now,
    })
}

/// Units the channel sold that the ledger has not heard of yet: how far the channel's own
/// count fell since the last push, less the sales (net of restocks) heard since then.
pub fn unheard_sales(record: &PushRecord, shows: i64, sold_now: i64) -> i64 {
    (i64::from(record.qty) - shows) - (sold_now - record.sold)
}

/// Whether the push already happened: a newer version was recorded, or this version with
/// this very quantity (a policy change at the same version still needs a push).
pub fn already_pushed(record: Option<&PushRecord>, stock: &StockItem, target: u32) -> bool {
    record.is_some_and(|r| {
        r.version > stock.version || (r.version == stock.version && r.qty == target)
    })
}

/// What to do with one listing, once the channel's current quantity is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The channel already shows the target: record it, write nothing.
    InSync,
    /// Set the channel to `qty` (it shows `from`).
    Write { qty: u32, from: i64 },
    /// The channel fell further than the sales heard of: raising it now could re-inflate
    /// over a sale still on its way. Wait for the order path to catch up.
    Hold { unheard: i64, shows: i64 },
    /// The channel shows the target, but only because it fell further than the sales
    /// heard: a buyer there took units no order has told us of yet, and the target is
    /// too high everywhere by as many. Confirming it as in sync would fold them into the
    /// baseline and they would never be found again.
    Unexplained { unheard: i64, shows: i64 },
}

/// Decide a push. `force` is for the drift checker, after it reconciled the channel's
/// orders: what is still unexplained is then an edit on the channel, not a sale.
pub fn decide(
    target: u32,
    shows: i64,
    record: Option<&PushRecord>,
    sold_now: i64,
    force: bool,
) -> Decision {
    if shows == i64::from(target) {
        let unheard = match record {
            Some(r) if !force => unheard_sales(r, shows, sold_now),
            _ => 0,
        };
        if unheard > 0 {
            return Decision::Unexplained { unheard, shows };
        }
        return Decision::InSync;
    }
    if i64::from(target) > shows && !force {
        // With no push recorded there is no baseline to tell a sale from an edit: the
        // whole gap may be sales on their way. The drift checker raises it after
        // reconciling the channel's orders (or an operator with `onecount push --force`).
        let unheard = record.map_or(i64::from(target) - shows, |r| {
            unheard_sales(r, shows, sold_now)
        });
        if unheard > 0 {
            return Decision::Hold { unheard, shows };
        }
    }
    Decision::Write {
        qty: target,
        from: shows,
    }
}

/// For channels with a daily revision cap: `None` to write now, or seconds to wait.
/// Near the cap only zero and low quantities go at once; intermediate values wait (and
/// coalesce with whatever comes next) unless this is the message's last chance.
pub fn revision_gate(
    channel: Channel,
    used_today: u32,
    target: u32,
    low_threshold: u32,
    last_chance: bool,
    secs_to_midnight: u32,
) -> Option<u32> {
    let cap = channel.rules().daily_revisions?;
    if used_today >= cap {
        return Some(secs_to_midnight.max(1));
    }
    let near = used_today + REVISION_RESERVE >= cap;
    let urgent = target == 0 || target <= low_threshold;
    if near && !urgent && !last_chance {
        return Some(300);
    }
    None
}

/// At or below this many units a listing is near selling out: its pushes never wait.
pub const URGENT_LEVEL: u32 = 5;
/// Below this share of a channel's per-second budget, other pushes wait.
pub const TIGHT_BUDGET: f64 = 0.3;
/// How long such a push waits (and coalesces with whatever comes next), in seconds.
pub const COALESCE_SECS: u32 = 2;

/// For a channel near its rate limit: `None` to write now, or seconds to wait. The
/// budget goes to the writes that prevent oversells — listings at or below the urgent
/// level (or the SKU's low-stock threshold, if higher); a listing that will still show
/// more waits a moment and coalesces with the next change, unless this is the
/// message's last chance. Plenty of stock cannot be oversold in two seconds.
pub fn budget_gate(
    target: u32,
    low_threshold: u32,
    budget_left: Option<f64>,
    last_chance: bool,
) -> Option<u32> {
    let tight = budget_left.is_some_and(|b| b < TIGHT_BUDGET);
    let urgent = target <= URGENT_LEVEL.max(low_threshold);
    (tight && !urgent && !last_chance).then_some(COALESCE_SECS)
}

/// How long a failed push waits before its next attempt, in seconds: the channel's
/// Retry-After when it gave one, else capped exponential backoff (`base_ms` doubling per
/// receive) with up to 50% added jitter. `jitter` is any number in 0..=1000.
pub fn retry_delay_secs(
    receive_count: u32,
    retry_after: Option<u64>,
    base_ms: u64,
    jitter: u64,
) -> u32 {
    const CAP_SECS: u64 = 900;
    if let Some(s) = retry_after {
        return s.clamp(1, 43_200) as u32;
    }
    let exp = base_ms.saturating_mul(1u64 << receive_count.saturating_sub(1).min(16));
    let with_jitter = exp + exp * jitter.min(1000) / 2000;
    (with_jitter.div_ceil(1000)).clamp(1, CAP_SECS) as u32
}

/// How long a push waiting for its channel (the `waits`-th time it was sent again) stays
/// away: `base_ms` × 2^(waits + 2), from 8 s at the default base up to SQS's 900 s
/// longest delay, so an episode of hours costs a few calls per SKU per quarter hour.
pub fn wait_delay_secs(waits: u32, base_ms: u64) -> u32 {
    let ms = base_ms.saturating_mul(1u64 << (waits.saturating_add(2)).min(20));
    ms.div_ceil(1000).clamp(1, 900) as u32
}

/// The SQS delay (whole seconds) for a push that must run after `at`, asked at `now`:
/// rounded up, plus a second, so it never arrives before (another process's clock may be
/// a little ahead); at least 1, at most SQS's 900.
pub fn delay_secs_until(at: Millis, now: Millis) -> u32 {
    let ms = (at - now).max(0) as u64;
    (ms.div_ceil(1000) + 1).min(900) as u32
}

/// Seconds until the next UTC midnight, and the UTC day number, at `now`.
pub fn utc_day(now: Millis) -> (i64, u32) {
    let secs = now.div_euclid(1000);
    let day = secs.div_euclid(86_400);
    (day, (86_400 - secs.rem_euclid(86_400)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Sku, UNHEARD_TTL_MS};

    #[test]
    fn a_waiting_push_waits_longer_each_time_up_to_the_queue_limit() {
        let d: Vec<u32> = (1..=9).map(|w| wait_delay_secs(w, 1000)).collect();
        assert_eq!(d, vec![8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(wait_delay_secs(u32::MAX, u64::MAX), 900);
        assert_eq!(wait_delay_secs(1, 1), 1);
    }
    use proptest::prelude::*;

    fn rec(qty: u32, sold: i64) -> PushRecord {
        PushRecord {
            version: 3,
            qty,
            sold,
            ..Default::default()
        }
    }

    fn stock(version: u64) -> StockItem {
        StockItem {
            sku: Sku::parse("MUG").unwrap(),
            on_hand: 5,
            version,
            low_stock_threshold: 1,
            updated_at: 0,
            sold: Default::default(),
            guard: Default::default(),
            unheard: Default::default(),
            last_sold_at: Some(0),
        }
    }

    #[test]
    fn why_names_each_rule_that_moved_the_quantity() {
        let mut s = stock(3);
        s.on_hand = 9;
        s.unheard.insert(
            Channel::Shopify,
            Unheard {
                units: 2,
                sold_at: 0,
                at: 0,
            },
        );
        let p = ListingPolicy {
            buffer: 1,
            max_qty: Some(4),
            paused: false,
        };
        let (q, why) = listed_why(&s, &p, Channel::Ebay, None, 1, &Listed::default());
        assert_eq!(
            q,
            listed_for(&s, &p, Channel::Ebay, None, 1, &Listed::default())
        );
        assert_eq!(q, 4, "9 − 2 unheard − 1 buffer = 6, at most 4");
        assert!(
            why[0].contains("2 held back") && why[0].contains("shopify"),
            "{why:?}"
        );
        assert!(why.iter().any(|w| w.contains("buffer: 1")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("at most 4")), "{why:?}");
        let all = pushed(
            &s,
            &[
                (Channel::Shopify, 9),
                (Channel::Etsy, 9),
                (Channel::Ebay, 9),
            ],
        );
        let (q, why) = listed_why(
            &s,
            &ListingPolicy::default(),
            Channel::Ebay,
            Some(7),
            1,
            &all,
        );
        assert_eq!(q, 2, "7 dealt out: shopify 3, etsy 2, ebay 2");
        assert!(
            why.last()
                .unwrap()
                .contains("last-unit protection at 7: its share is 2 of the 7 left"),
            "{why:?}"
        );
        let (q, why) = listed_why(
            &s,
            &ListingPolicy::default(),
            Channel::Shopify,
            None,
            1,
            &Listed::default(),
        );
        assert_eq!(
            (q, why.len()),
            (7, 1),
            "all that is left, less the unheard: {why:?}"
        );
    }

    /// What the channels may show after a push of `qty` each, confirmed on `s` as it is.
    fn pushed(s: &StockItem, qtys: &[(Channel, u32)]) -> Listed {
        let recs: Vec<(Channel, PushRecord)> = qtys
            .iter()
            .map(|(c, q)| {
                let r = PushRecord {
                    version: s.version,
                    qty: *q,
                    sold: sold_counted(s, *c, 0),
                    ..Default::default()
                };
                (*c, r)
            })
            .collect();
        Listed::of(s, recs.iter().map(|(c, r)| (*c, Some(r))), 0)
    }

    /// Pushes of `qty` confirmed on `s` as it is (`None` qty: a listing never pushed).
    fn records(
        s: &StockItem,
        qtys: &[(Channel, Option<u32>)],
    ) -> Vec<(Channel, Option<PushRecord>)> {
        qtys.iter()
            .map(|(c, q)| {
                let r = q.map(|qty| PushRecord {
                    version: s.version,
                    qty,
                    sold: sold_counted(s, *c, 0),
                    ..Default::default()
                });
                (*c, r)
            })
            .collect()
    }

    #[test]
    fn the_last_units_are_dealt_out_so_the_channels_never_show_more_than_exist() {
        use Channel::{Ebay, Etsy, Shopify};
        let p = ListingPolicy::default();
        let mut s = stock(3);
        s.on_hand = 3;
        // What each channel should list, with what the ledger knows of them now.
        let all3 = |s: &StockItem, recs: &[(Channel, Option<PushRecord>)]| {
            let listed = Listed::of(s, recs.iter().map(|(c, r)| (*c, r.as_ref())), 0);
            [Shopify, Etsy, Ebay].map(|c| listed_for(s, &p, c, Some(3), 0, &listed))
        };
        // Every channel shows 4 from before: 3 left are dealt out one each (the others
        // are lowered to their share; Shopify, the primary, lists the rest).
        let before = records(&s, &[(Shopify, Some(4)), (Etsy, Some(4)), (Ebay, Some(4))]);
        assert_eq!(all3(&s, &before), [1, 1, 1]);
        let none = Listed::of(&s, before.iter().map(|(c, r)| (*c, r.as_ref())), 0);
        assert_eq!(
            listed_for(&s, &p, Etsy, None, 0, &none),
            3,
            "off by default"
        );
        let dealt = records(&s, &[(Shopify, Some(1)), (Etsy, Some(1)), (Ebay, Some(1))]);
        assert_eq!(all3(&s, &dealt), [1, 1, 1]);
        // Etsy sells its unit: 2 left, dealt to Shopify and Etsy. Etsy is not raised
        // again (it could sell a unit twice before onecount hears back); eBay gives its
        // unit up; Shopify lists both.
        let mut etsy_sold = s.clone();
        etsy_sold.on_hand = 2;
        etsy_sold.sold.insert(Etsy, 1);
        assert_eq!(all3(&etsy_sold, &dealt), [2, 0, 0]);
        // Shopify sells instead: eBay gives its unit up to Shopify.
        let mut shopify_sold = s.clone();
        shopify_sold.on_hand = 2;
        shopify_sold.sold.insert(Shopify, 1);
        assert_eq!(all3(&shopify_sold, &dealt), [1, 1, 0]);
        // Whatever the order of sales, together they never list more than is left.
        for sold in [Shopify, Etsy, Ebay] {
            let mut one_sold = s.clone();
            one_sold.on_hand = 2;
            one_sold.sold.insert(sold, 1);
            assert_eq!(
                all3(&one_sold, &dealt).iter().sum::<u32>(),
                2,
                "{sold} sold"
            );
        }
        // A channel without a listing gets no share; one never pushed gets its share.
        let two = records(&s, &[(Shopify, Some(0)), (Ebay, Some(0))]);
        let listed = Listed::of(&s, two.iter().map(|(c, r)| (*c, r.as_ref())), 0);
        assert_eq!(
            [Shopify, Ebay].map(|c| listed_for(&s, &p, c, Some(3), 0, &listed)),
            [3, 0]
        );
        assert_eq!(
            listed_for(&s, &p, Etsy, Some(3), 0, &listed),
            0,
            "asked without its own listing in `listed`: nothing until it is known"
        );
        let unknown = records(&s, &[(Shopify, Some(0)), (Etsy, None), (Ebay, Some(0))]);
        assert_eq!(all3(&s, &unknown), [2, 1, 0]);
    }

    #[test]
    fn a_delayed_push_arrives_after_its_moment_never_before() {
        assert_eq!(delay_secs_until(30_000, 0), 31);
        assert_eq!(delay_secs_until(30_000, 1), 31, "29.999 s rounds up");
        assert_eq!(delay_secs_until(30_000, 1_000), 30);
        assert_eq!(delay_secs_until(30_000, 45_000), 1, "already past: at once");
        assert_eq!(delay_secs_until(10_000_000, 0), 900);
    }

    #[test]
    fn the_last_units_are_dealt_out_only_while_the_sku_sells() {
        use Channel::{Ebay, Etsy, Shopify};
        let p = ListingPolicy::default();
        let mut s = stock(3);
        s.on_hand = 2;
        let shows = pushed(&s, &[(Shopify, 2), (Etsy, 2), (Ebay, 2)]);
        let all3 = |s: &StockItem, now: Millis| {
            [Shopify, Etsy, Ebay].map(|c| listed_for(s, &p, c, Some(2), now, &shows))
        };
        // Never sold: a race between two channels' buyers is unlikely, and a unit dealt
        // to a channel whose buyers do not come is a lost sale. Every channel lists both.
        s.last_sold_at = None;
        assert_eq!(all3(&s, 0), [2, 2, 2]);
        assert!(!allotting(&s, Some(2), 0));
        let (_, why) = listed_why(&s, &p, Etsy, Some(2), 0, &shows);
        assert!(
            why.iter().any(|w| w.contains("no sale in the last 30 s")),
            "{why:?}"
        );
        // A sale a second ago: dealt out, Shopify first.
        s.last_sold_at = Some(9_000);
        assert_eq!(all3(&s, 10_000), [1, 1, 0]);
        assert!(allotting(&s, Some(2), 10_000));
        // Quiet for the selling window: listed everywhere again.
        let stopped = 9_000 + SELLING_MS;
        assert_eq!(all3(&s, stopped - 1), [1, 1, 0]);
        assert_eq!(all3(&s, stopped), [2, 2, 2]);
        assert!(!allotting(&s, Some(2), stopped));
        // Units a pusher found sold unheard are a sale too, from when they were found.
        s.on_hand = 3;
        s.unheard.insert(
            Etsy,
            Unheard {
                units: 1,
                sold_at: 0,
                at: stopped,
            },
        );
        assert_eq!(s.stops_selling_at(), Some(stopped + SELLING_MS));
        assert!(allotting(&s, Some(2), stopped + 1));
    }

    #[test]
    fn the_skus_own_level_and_primary_win_and_an_auto_pause_lists_only_the_primary() {
        use Channel::{Ebay, Etsy, Shopify};
        let p = ListingPolicy::default();
        let mut s = stock(3);
        s.on_hand = 2;
        s.guard.primary = Some(Ebay);
        s.guard.last_units = Some(1);
        let all = pushed(&s, &[(Shopify, 2), (Etsy, 2), (Ebay, 2)]);
        assert_eq!(
            listed_for(&s, &p, Shopify, Some(2), 0, &all),
            2,
            "the SKU's level wins"
        );
        s.guard.last_units = Some(2);
        let dealt = pushed(&s, &[(Shopify, 1), (Etsy, 0), (Ebay, 0)]);
        assert_eq!(
            [Ebay, Shopify, Etsy].map(|c| listed_for(&s, &p, c, None, 0, &dealt)),
            [1, 1, 0],
            "eBay first, then Shopify"
        );
        s.guard.auto_paused = true;
        assert_eq!(listed_for(&s, &p, Shopify, None, 0, &all), 0);
        assert_eq!(
            listed_for(&s, &p, Ebay, None, 0, &all),
            2,
            "all of it, as before"
        );
    }

    #[test]
    fn shares_deal_every_unit_once() {
        use Channel::{Ebay, Etsy, Shopify};
        let s = stock(3);
        for n in 0..10 {
            let all = pushed(&s, &[(Shopify, 0), (Etsy, 0), (Ebay, 0)]);
            let total: u32 = [Shopify, Etsy, Ebay]
                .map(|c| share_of_last(c, Ebay, &all, n))
                .iter()
                .sum();
            assert_eq!(total, n);
        }
    }

    fn unheard(units: u32, sold_at: i64, at: Millis) -> Unheard {
        Unheard { units, sold_at, at }
    }

    #[test]
    fn units_sold_unheard_are_gone_everywhere_until_their_orders_arrive() {
        let p = ListingPolicy::default();
        let mut s = stock(3);
        s.on_hand = 10;
        s.sold.insert(Channel::Shopify, 4);
        s.unheard.insert(Channel::Shopify, unheard(2, 4, 1_000));
        s.unheard.insert(Channel::Ebay, unheard(1, 0, 1_000));
        assert_eq!(s.available(2_000), 7);
        for ch in Channel::CONNECTED {
            assert_eq!(
                listed_for(&s, &p, ch, None, 2_000, &Listed::default()),
                7,
                "{ch}"
            );
        }
        // The last-unit level looks at what is really left: 2, dealt to Shopify and Etsy.
        s.on_hand = 5;
        let lowered = pushed(&s, &[(Channel::Etsy, 1), (Channel::Ebay, 0)]);
        assert_eq!(
            Channel::CONNECTED.map(|c| listed_for(&s, &p, c, Some(2), 2_000, &lowered)),
            [1, 1, 0]
        );
        // One Shopify order arrives (sold 4 -> 5): one unit less pending.
        s.sold.insert(Channel::Shopify, 5);
        assert_eq!(s.unheard_on(Channel::Shopify, 2_000), 1);
        // Both, and a new one besides: never below zero.
        s.sold.insert(Channel::Shopify, 7);
        assert_eq!(s.unheard_on(Channel::Shopify, 2_000), 0);
        // A cancellation heard meanwhile (the counter falls) never inflates the units.
        s.sold.insert(Channel::Shopify, 1);
        assert_eq!(s.unheard_on(Channel::Shopify, 2_000), 2);
        // Unexplained for longer than the drift check needs: an edit, not sales.
        assert_eq!(s.unheard_on(Channel::Ebay, 1_000 + UNHEARD_TTL_MS), 1);
        assert_eq!(s.unheard_on(Channel::Ebay, 1_001 + UNHEARD_TTL_MS), 0);
    }

    #[test]
    fn a_new_sale_heard_before_the_late_one_releases_nothing() {
        // Shopify showed one unit fewer than heard at t=1000: one sale unheard. Then a
        // buyer takes the last unit there (placed t=1500) and that order is heard first.
        let p = ListingPolicy::default();
        let mut s = stock(3);
        s.on_hand = 2;
        s.sold.insert(Channel::Shopify, 2);
        s.unheard.insert(Channel::Shopify, unheard(1, 2, 1_000));
        assert_eq!(s.available(2_000), 1);
        s.on_hand -= 1;
        s.hear_sale(Channel::Shopify, 1, Some(1_500));
        // Still one unheard: nothing left anywhere (counting it as the late order would
        // list the unit the late buyer already has).
        assert_eq!(s.unheard_on(Channel::Shopify, 2_000), 1);
        for ch in &Channel::CONNECTED[1..] {
            assert_eq!(
                listed_for(&s, &p, *ch, None, 2_000, &Listed::default()),
                0,
                "{ch}"
            );
        }
        // The late order (placed t=900) arrives: it was the unheard unit.
        s.on_hand -= 1;
        s.hear_sale(Channel::Shopify, 1, Some(900));
        assert_eq!(
            (s.unheard_on(Channel::Shopify, 2_000), s.available(2_000)),
            (0, 0)
        );
        // A channel that does not say when its order was placed: heard as an arrival.
        let mut t = stock(3);
        t.on_hand = 5;
        t.unheard.insert(Channel::Ebay, unheard(2, 0, 1_000));
        t.hear_sale(Channel::Ebay, 1, None);
        assert_eq!(t.unheard_on(Channel::Ebay, 2_000), 1);
        // Other channels' sales never touch this channel's unheard units.
        t.hear_sale(Channel::Shopify, 1, Some(5_000));
        assert_eq!(t.unheard_on(Channel::Ebay, 2_000), 1);
    }

    #[test]
    fn found_units_count_once_whether_before_or_after_the_last_push() {
        let mut s = stock(3);
        s.on_hand = 9;
        s.sold.insert(Channel::Ebay, 1);
        // Pushed 10 at t=100 (sold 0); eBay shows 8, one sale heard: one unheard.
        let mut r = rec(10, 0);
        r.at = 100;
        let sold = sold_counted(&s, Channel::Ebay, 200);
        assert_eq!(unheard_sales(&r, 8, sold), 1);
        let u = unheard_to_record(&s, Channel::Ebay, Some(&r), 1, 200).unwrap();
        assert_eq!(u, unheard(1, 1, 200));
        s.unheard.insert(Channel::Ebay, u);
        // Found after that push: counted as sold for the push, so 8 is not held again.
        let sold = sold_counted(&s, Channel::Ebay, 300);
        assert_eq!((sold, unheard_sales(&r, 8, sold)), (2, 0));
        assert_eq!(decide(8, 8, Some(&r), sold, false), Decision::InSync);
        // A push confirmed after it (8 at t=400) keeps it in its baseline.
        let mut after = rec(8, sold);
        after.at = 400;
        assert_eq!(sold_counted(&s, Channel::Ebay, 500), 2);
        // Another sale unheard (shows 7): found 1 more, recorded 2 in all.
        let sold = sold_counted(&s, Channel::Ebay, 500);
        assert_eq!(unheard_sales(&after, 7, sold), 1);
        let u = unheard_to_record(&s, Channel::Ebay, Some(&after), 1, 500).unwrap();
        assert_eq!(u, unheard(2, 1, 500));
        // Without a confirmed push nothing is taken for sales.
        assert_eq!(unheard_to_record(&s, Channel::Ebay, None, 3, 500), None);
        assert_eq!(unheard_to_record(&s, Channel::Ebay, Some(&r), 0, 500), None);
    }

    #[test]
    fn a_unit_found_before_the_push_and_heard_after_it_does_not_explain_a_new_fall() {
        // eBay was pushed 4 with 1 sale heard; then showed 2 with no new order: 1
        // unheard found at t=200, the rest lowered to 2 and confirmed at t=300.
        let mut s = stock(3);
        s.on_hand = 3;
        s.sold.insert(Channel::Ebay, 1);
        s.unheard.insert(Channel::Ebay, unheard(1, 1, 200));
        let mut r = rec(2, sold_counted(&s, Channel::Ebay, 300));
        r.at = 300;
        // That order arrives (placed before the find): nothing new has sold.
        s.hear_sale(Channel::Ebay, 1, Some(150));
        s.on_hand = 2;
        let sold = sold_counted(&s, Channel::Ebay, 400);
        assert_eq!(unheard_sales(&r, 2, sold), 0);
        // eBay now shows 1: a new sale, still unheard. It must hold, not be raised back
        // to 2 as if the arrival explained the fall.
        assert_eq!(
            decide(2, 1, Some(&r), sold, false),
            Decision::Hold {
                unheard: 1,
                shows: 1
            }
        );
    }

    #[test]
    fn a_channel_that_fell_further_than_heard_is_not_raised() {
        // Pushed 10; the channel sold 2 (shows 8); we heard of 1 so far; target 9.
        let r = rec(10, 0);
        assert_eq!(
            decide(9, 8, Some(&r), 1, false),
            Decision::Hold {
                unheard: 1,
                shows: 8
            }
        );
        // Once the second sale is heard, the target is 8: in sync, nothing to write.
        assert_eq!(decide(8, 8, Some(&r), 2, false), Decision::InSync);
        // Showing the target with only one sale heard is a coincidence: the other sale
        // is on its way, and the target is one too high everywhere.
        assert_eq!(
            decide(8, 8, Some(&r), 1, false),
            Decision::Unexplained {
                unheard: 1,
                shows: 8
            }
        );
        assert_eq!(decide(8, 8, Some(&r), 1, true), Decision::InSync);
        // Lowering is always safe.
        assert_eq!(
            decide(7, 8, Some(&r), 1, false),
            Decision::Write { qty: 7, from: 8 }
        );
        // The channel restocked 2 itself (a cancel, heard: the counter went down) and a
        // delivery of 1 arrived: nothing unexplained, so raise it.
        assert_eq!(
            decide(13, 12, Some(&r), -2, false),
            Decision::Write { qty: 13, from: 12 }
        );
        // A restock heard but not shown by the channel is treated like an unheard sale.
        assert!(matches!(
            decide(12, 10, Some(&r), -2, false),
            Decision::Hold { unheard: 2, .. }
        ));
        // After reconciliation the drift checker may force it.
        assert_eq!(
            decide(9, 8, Some(&r), 1, true),
            Decision::Write { qty: 9, from: 8 }
        );
    }

    #[test]
    fn with_no_push_recorded_only_lowering_is_safe() {
        assert_eq!(
            decide(5, 8, None, 0, false),
            Decision::Write { qty: 5, from: 8 }
        );
        assert_eq!(
            decide(9, 8, None, 0, false),
            Decision::Hold {
                unheard: 1,
                shows: 8
            }
        );
        assert_eq!(
            decide(9, 8, None, 0, true),
            Decision::Write { qty: 9, from: 8 }
        );
    }

    #[test]
    fn skip_only_when_this_version_and_quantity_were_pushed() {
        let r = rec(4, 0);
        assert!(already_pushed(Some(&r), &stock(3), 4));
        assert!(
            !already_pushed(Some(&r), &stock(3), 0),
            "a pause at the same version"
        );
        assert!(
            already_pushed(Some(&r), &stock(2), 9),
            "a newer version was pushed"
        );
        assert!(!already_pushed(Some(&r), &stock(4), 4));
        assert!(!already_pushed(None, &stock(1), 4));
    }

    #[test]
    fn ebay_near_its_revision_cap_sends_only_what_matters() {
        let g = |used, target, last| revision_gate(Channel::Ebay, used, target, 2, last, 999);
        assert_eq!(g(10, 7, false), None);
        assert_eq!(g(220, 7, false), Some(300), "an intermediate value waits");
        assert_eq!(g(220, 7, true), None, "unless it is the last chance");
        assert_eq!(g(220, 0, false), None, "zero goes at once");
        assert_eq!(g(220, 2, false), None, "so does low stock");
        assert_eq!(g(250, 0, true), Some(999), "the cap is the cap");
        assert_eq!(
            revision_gate(Channel::Shopify, 10_000, 5, 0, false, 9),
            None
        );
    }

    #[test]
    fn retry_after_wins_and_backoff_doubles_to_a_cap() {
        assert_eq!(retry_delay_secs(3, Some(7), 1000, 0), 7);
        assert_eq!(retry_delay_secs(1, None, 1000, 0), 1);
        assert_eq!(retry_delay_secs(2, None, 1000, 0), 2);
        assert_eq!(retry_delay_secs(4, None, 1000, 0), 8);
        assert_eq!(retry_delay_secs(4, None, 1000, 1000), 12);
        assert_eq!(retry_delay_secs(30, None, 1000, 0), 900);
    }

    #[test]
    fn utc_day_counts_down_to_midnight() {
        assert_eq!(utc_day(0), (0, 86_400));
        assert_eq!(utc_day(86_399_000), (0, 1));
        assert_eq!(utc_day(86_400_000), (1, 86_400));
    }

    #[test]
    fn a_scarce_budget_goes_to_the_listings_nearest_to_selling_out() {
        // Plenty of budget, or none reported: everything goes.
        assert_eq!(budget_gate(40, 2, None, false), None);
        assert_eq!(budget_gate(40, 2, Some(0.8), false), None);
        // Tight: the last units go now, a listing with plenty left waits and coalesces.
        assert_eq!(budget_gate(URGENT_LEVEL, 2, Some(0.1), false), None);
        assert_eq!(budget_gate(0, 2, Some(0.0), false), None);
        assert_eq!(budget_gate(40, 2, Some(0.1), false), Some(COALESCE_SECS));
        // A higher low-stock threshold widens what is urgent.
        assert_eq!(budget_gate(8, 10, Some(0.1), false), None);
        // Never so often that the message reaches the DLQ.
        assert_eq!(budget_gate(40, 2, Some(0.0), true), None);
    }

    proptest! {
        /// Whatever happens on the channel, a push never raises it while sales it made
        /// are unheard; and it always moves toward the target otherwise.
        #[test]
        fn never_reinflates_over_unheard_sales(
            pushed in 0u32..50, channel_sales in 0u32..50, heard_frac in 0u32..=100,
            restocks in 0u32..5, on_hand in 0u32..60,
        ) {
            let channel_sales = channel_sales.min(pushed);
            let heard = channel_sales * heard_frac / 100;
            let r = PushRecord { qty: pushed, sold: 100, ..Default::default() };
            let shows = i64::from(pushed) - i64::from(channel_sales) + i64::from(restocks);
            let sold_now = 100 + i64::from(heard) - i64::from(restocks);
            match decide(on_hand, shows, Some(&r), sold_now, false) {
                Decision::Write { qty, .. } if i64::from(qty) > shows => {
                    prop_assert_eq!(heard, channel_sales, "raised with unheard sales");
                }
                Decision::Write { qty, .. } => prop_assert_eq!(qty, on_hand),
                Decision::InSync => {
                    prop_assert_eq!(shows, i64::from(on_hand));
                    prop_assert_eq!(heard, channel_sales);
                }
                Decision::Unexplained { unheard, shows: s } => {
                    prop_assert_eq!(s, i64::from(on_hand));
                    prop_assert_eq!(unheard, i64::from(channel_sales - heard));
                    prop_assert!(unheard > 0);
                }
                Decision::Hold { unheard, .. } => {
                    prop_assert!(heard < channel_sales);
                    prop_assert_eq!(unheard, i64::from(channel_sales - heard));
                    prop_assert!(i64::from(on_hand) > shows);
                }
            }
        }
    }
}
