//! The pusher's decisions for one listing, as data: what to do before reading the
//! channel ([`before_read`]), what to do once the channel's quantity is known ([`plan`]),
//! and how a held push waits ([`hold_wait`]). Pure; the pusher only executes the steps
//! (reads, writes, records) and table tests pin every branch.

use super::push::{
    Decision, Listed, PushRecord, allotting, already_pushed, decide, listed_for, sold_counted,
    unheard_sales, unheard_to_record,
};
use super::{Channel, ListingPolicy, Millis, StockItem, Unheard};

/// What to do with a listing before its channel is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prep {
    /// The drift check found the mapping broken: pushing again would only fail again.
    Broken,
    /// Already pushed at this version with this target: nothing to do.
    UpToDate,
    /// A sell-out with nothing left anywhere: write zero without a read, where the channel
    /// takes one (a zero can never re-inflate, and no read could find units to hold back).
    BlindZero,
    /// Read what the channel shows, then [`plan`].
    Read,
}

/// Whether a push of `target` is a sell-out that needs no read: zero, nothing left on any
/// channel, not forced, and the channel not already confirmed at zero.
pub fn blind_zero(
    stock: &StockItem,
    record: Option<&PushRecord>,
    target: u32,
    force: bool,
    now: Millis,
) -> bool {
    target == 0 && stock.available(now) == 0 && !force && record.is_none_or(|r| r.qty > 0)
}

/// What to do before reading. `rechecked`: this invocation already looked at the listing
/// once and is looking again (after a race); such a look always reads.
pub fn before_read(
    stock: &StockItem,
    record: Option<&PushRecord>,
    broken: bool,
    target: u32,
    force: bool,
    rechecked: bool,
    now: Millis,
) -> Prep {
    if broken {
        Prep::Broken
    } else if !force && !rechecked && already_pushed(record, stock, target) {
        Prep::UpToDate
    } else if !rechecked && blind_zero(stock, record, target, force, now) {
        Prep::BlindZero
    } else {
        Prep::Read
    }
}

/// Everything [`plan`] weighs for one listing.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub channel: Channel,
    pub stock: &'a StockItem,
    pub policy: &'a ListingPolicy,
    /// The last confirmed push.
    pub record: Option<&'a PushRecord>,
    /// What the listing should show ([`listed_for`] at the round's start).
    pub target: u32,
    /// What the channel showed when read.
    pub shows: i64,
    /// The drift check reconciled the channel's orders first: a fall is an edit.
    pub force: bool,
    /// The channel shows what this pusher wrote on an older version: that fall is ours.
    pub ours: bool,
    /// Already looked at again once in this invocation.
    pub rechecked: bool,
    /// When the channel's answer to the read arrived: units found unheard are dated from
    /// then (an order placed later is a new sale).
    pub read_at: Millis,
    pub now: Millis,
    /// Global last-unit protection.
    pub last_units: Option<u32>,
    /// What the channels listing the SKU may show (last-unit allotment).
    pub listed: &'a Listed,
}

/// What to do with one listing once its channel's quantity is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The channel shows the target: record the push as confirmed, write nothing.
    Confirm,
    /// Write `qty` (it shows `from`). `lowered_over`: the channel fell further than the
    /// sales heard while we lower it — units sold unheard, checked again after the write.
    Write {
        qty: u32,
        from: i64,
        lowered_over: Option<i64>,
    },
    /// The channel shows the target only because it fell further than the sales heard,
    /// and this is the first look: another pusher may have just written this very number.
    /// Look again next round before taking the fall for sales.
    Recheck,
    /// Looked again and still unexplained: hold the units back everywhere, then decide
    /// again on the new version.
    RecordUnheard { unheard: Unheard, shows: i64 },
    /// The channel fell further than the sales heard: hold the units back everywhere and,
    /// on what is then known, lower this listing at once to `lower` (`None`: the known
    /// state lists no less than it shows; decide again next round).
    Hold {
        unheard: Unheard,
        /// The units found by this read (`unheard` adds those already pending).
        found: i64,
        shows: i64,
        lower: Option<u32>,
    },
    /// The channel fell further than the sales heard, but without a confirmed push there
    /// is no baseline to record units against: wait for the order path.
    Wait { unheard: i64, shows: i64 },
    /// Looked again and still unexplained, and nothing can be recorded: try again later.
    Unrecordable,
}

/// The stock as known once `unheard` is recorded on `channel` (one version on).
pub fn known_after_hold(stock: &StockItem, channel: Channel, unheard: Unheard) -> StockItem {
    let mut known = stock.clone();
    known.unheard.insert(channel, unheard);
    known.version += 1;
    known
}

/// Decide one listing's step.
pub fn plan(f: &Facts<'_>) -> Step {
    let sold = sold_counted(f.stock, f.channel, f.now);
    match decide(f.target, f.shows, f.record, sold, f.force || f.ours) {
        Decision::InSync => Step::Confirm,
        Decision::Unexplained { .. } if !f.rechecked => Step::Recheck,
        Decision::Unexplained { unheard, shows } => {
            match unheard_to_record(f.stock, f.channel, f.record, unheard, f.read_at) {
                Some(u) => Step::RecordUnheard { unheard: u, shows },
                None => Step::Unrecordable,
            }
        }
        Decision::Hold { unheard, shows } => {
            match unheard_to_record(f.stock, f.channel, f.record, unheard, f.read_at) {
                Some(u) => {
                    let known = known_after_hold(f.stock, f.channel, u);
                    // The hold can take the SKU into last-unit protection, where what it
                    // lists depends on the other channels: without them, decide next
                    // round on the new version.
                    let unknown = allotting(&known, f.last_units, f.read_at)
                        && !f.listed.channels().any(|c| c == f.channel);
                    let lower = listed_for(
                        &known,
                        f.policy,
                        f.channel,
                        f.last_units,
                        f.read_at,
                        f.listed,
                    );
                    Step::Hold {
                        unheard: u,
                        found: unheard,
                        shows,
                        lower: (!unknown && i64::from(lower) < shows).then_some(lower),
                    }
                }
                None => Step::Wait { unheard, shows },
            }
        }
        Decision::Write { qty, from } => {
            let lowered_over = f
                .record
                .filter(|_| !f.force && !f.ours)
                .map(|r| unheard_sales(r, from, sold))
                .filter(|u| *u > 0 && i64::from(qty) < from);
            Step::Write {
                qty,
                from,
                lowered_over,
            }
        }
    }
}

/// How a held push waits for the order path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldWait {
    /// Say so on the timeline (the first time, and when it gives up waiting).
    pub note: bool,
    /// Waited long enough: the drift check takes it from here (the message completes).
    pub left_to_drift_check: bool,
    /// Wait another receive.
    pub retry: bool,
}

/// A held push on its `receives`-th receive waits up to `hold_receives` receives, never so
/// often that it reaches the dead-letter queue (`max_receives`).
pub fn hold_wait(receives: u32, hold_receives: u32, max_receives: u32) -> HoldWait {
    let waits = hold_receives.min(max_receives.saturating_sub(1));
    HoldWait {
        note: receives <= 1 || receives >= waits,
        left_to_drift_check: receives >= waits,
        retry: receives < waits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sku;

    fn stock(on_hand: u32) -> StockItem {
        StockItem {
            sku: Sku::parse("MUG").unwrap(),
            on_hand,
            version: 7,
            low_stock_threshold: 1,
            updated_at: 0,
            sold: Default::default(),
            guard: Default::default(),
            unheard: Default::default(),
            last_sold_at: Some(0),
        }
    }

    /// A push confirmed at `qty` with `sold` sales heard on the channel then.
    fn rec(qty: u32, sold: i64) -> PushRecord {
        PushRecord {
            version: 6,
            qty,
            sold,
            ..Default::default()
        }
    }

    struct Row {
        on_hand: u32,
        sold_heard: i64,
        record: Option<PushRecord>,
        shows: i64,
        force: bool,
        ours: bool,
        rechecked: bool,
    }

    fn run(r: &Row) -> Step {
        let mut s = stock(r.on_hand);
        s.sold.insert(Channel::Ebay, r.sold_heard);
        let policy = ListingPolicy::default();
        let target = listed_for(&s, &policy, Channel::Ebay, None, 1_000, &Listed::default());
        plan(&Facts {
            channel: Channel::Ebay,
            stock: &s,
            policy: &policy,
            record: r.record.as_ref(),
            target,
            shows: r.shows,
            force: r.force,
            ours: r.ours,
            rechecked: r.rechecked,
            read_at: 1_000,
            now: 1_000,
            last_units: None,
            listed: &Listed::default(),
        })
    }

    const ROW: Row = Row {
        on_hand: 5,
        sold_heard: 0,
        record: None,
        shows: 5,
        force: false,
        ours: false,
        rechecked: false,
    };

    #[test]
    fn every_step_from_its_facts() {
        let u = |units, sold_at| Unheard {
            units,
            sold_at,
            at: 1_000,
        };
        let table: Vec<(&str, Row, Step)> = vec![
            ("shows the target", Row { ..ROW }, Step::Confirm),
            (
                "a sale heard: lower it",
                Row {
                    on_hand: 4,
                    sold_heard: 1,
                    record: Some(rec(5, 0)),
                    ..ROW
                },
                Step::Write {
                    qty: 4,
                    from: 5,
                    lowered_over: None,
                },
            ),
            (
                "a restock: raise it",
                Row {
                    on_hand: 8,
                    record: Some(rec(5, 0)),
                    ..ROW
                },
                Step::Write {
                    qty: 8,
                    from: 5,
                    lowered_over: None,
                },
            ),
            (
                "another pusher already lowered it for the sale heard",
                Row {
                    on_hand: 4,
                    sold_heard: 1,
                    record: Some(rec(5, 0)),
                    shows: 4,
                    ..ROW
                },
                Step::Confirm,
            ),
            (
                "fell further than heard while lowering",
                Row {
                    on_hand: 2,
                    sold_heard: 1,
                    record: Some(rec(5, 0)),
                    shows: 3,
                    ..ROW
                },
                Step::Write {
                    qty: 2,
                    from: 3,
                    lowered_over: Some(1),
                },
            ),
            (
                "…unless the fall is our own older write",
                Row {
                    on_hand: 2,
                    sold_heard: 1,
                    record: Some(rec(5, 0)),
                    shows: 3,
                    ours: true,
                    ..ROW
                },
                Step::Write {
                    qty: 2,
                    from: 3,
                    lowered_over: None,
                },
            ),
            (
                "shows the target only through an unheard sale: look again first",
                Row {
                    on_hand: 4,
                    record: Some(rec(5, 0)),
                    shows: 4,
                    ..ROW
                },
                Step::Recheck,
            ),
            (
                "…and after looking again, hold the unit back",
                Row {
                    on_hand: 4,
                    record: Some(rec(5, 0)),
                    shows: 4,
                    rechecked: true,
                    ..ROW
                },
                Step::RecordUnheard {
                    unheard: u(1, 0),
                    shows: 4,
                },
            ),
            (
                "fell further than heard: hold back and lower at once",
                Row {
                    on_hand: 5,
                    record: Some(rec(5, 0)),
                    shows: 3,
                    ..ROW
                },
                Step::Hold {
                    unheard: u(2, 0),
                    found: 2,
                    shows: 3,
                    lower: None,
                },
            ),
            (
                "a restock while the channel fell further: hold back, raise no higher than known",
                Row {
                    on_hand: 9,
                    record: Some(rec(5, 0)),
                    shows: 3,
                    ..ROW
                },
                Step::Hold {
                    unheard: u(2, 0),
                    found: 2,
                    shows: 3,
                    lower: None,
                },
            ),
            (
                "no confirmed push: no baseline, wait for the order path",
                Row {
                    on_hand: 5,
                    shows: 3,
                    ..ROW
                },
                Step::Wait {
                    unheard: 2,
                    shows: 3,
                },
            ),
            (
                "forced (orders reconciled): the fall is an edit, raise it",
                Row {
                    on_hand: 5,
                    record: Some(rec(5, 0)),
                    shows: 3,
                    force: true,
                    ..ROW
                },
                Step::Write {
                    qty: 5,
                    from: 3,
                    lowered_over: None,
                },
            ),
            (
                "shows the target with no push recorded: nothing to explain",
                Row {
                    on_hand: 4,
                    shows: 4,
                    rechecked: true,
                    record: None,
                    ..ROW
                },
                Step::Confirm,
            ),
        ];
        for (what, row, want) in table {
            assert_eq!(run(&row), want, "{what}");
        }
    }

    #[test]
    fn a_hold_lowers_at_once_when_the_known_state_lists_less_than_shown() {
        // 6 on hand, confirmed at 6; the channel shows 4 after selling 2 unheard: known
        // left 4, it shows 4, nothing to lower.
        let mut s = stock(6);
        s.sold.insert(Channel::Ebay, 0);
        let policy = ListingPolicy::default();
        let r = rec(6, 0);
        let step = plan(&Facts {
            channel: Channel::Ebay,
            stock: &s,
            policy: &policy,
            record: Some(&r),
            target: 6,
            shows: 4,
            force: false,
            ours: false,
            rechecked: false,
            read_at: 1_000,
            now: 1_000,
            last_units: None,
            listed: &Listed::default(),
        });
        assert_eq!(
            step,
            Step::Hold {
                unheard: Unheard {
                    units: 2,
                    sold_at: 0,
                    at: 1_000
                },
                found: 2,
                shows: 4,
                lower: None
            }
        );
        let all = Listed::of(&s, Channel::CONNECTED.map(|c| (c, Some(&r))), 1_000);
        let facts = Facts {
            channel: Channel::Ebay,
            stock: &s,
            policy: &policy,
            record: Some(&r),
            target: 6,
            shows: 5,
            force: false,
            ours: false,
            rechecked: false,
            read_at: 1_000,
            now: 1_000,
            // One sold unheard leaves 5; with last-unit protection at 5 they are dealt out
            // (Shopify 2, Etsy 2, eBay 1): lower eBay to its 1 at once.
            last_units: Some(5),
            listed: &all,
        };
        let step = plan(&facts);
        assert_eq!(
            step,
            Step::Hold {
                unheard: Unheard {
                    units: 1,
                    sold_at: 0,
                    at: 1_000
                },
                found: 1,
                shows: 5,
                lower: Some(1)
            }
        );
        // Without what the other channels show, the share is not known: no lower now,
        // decide again next round (when the pusher reads them for the new version).
        let step = plan(&Facts {
            listed: &Listed::default(),
            ..facts
        });
        assert!(matches!(step, Step::Hold { lower: None, .. }), "{step:?}");
    }

    #[test]
    fn what_happens_before_the_read() {
        let s = stock(0);
        let confirmed = rec(2, 0);
        let zero = rec(0, 0);
        let cases = [
            (
                "broken mapping",
                true,
                Some(&confirmed),
                0,
                false,
                false,
                Prep::Broken,
            ),
            (
                "sell-out",
                false,
                Some(&confirmed),
                0,
                false,
                false,
                Prep::BlindZero,
            ),
            (
                "sell-out never pushed",
                false,
                None,
                0,
                false,
                false,
                Prep::BlindZero,
            ),
            (
                "already at zero",
                false,
                Some(&zero),
                0,
                false,
                false,
                Prep::Read,
            ),
            (
                "forced",
                false,
                Some(&confirmed),
                0,
                true,
                false,
                Prep::Read,
            ),
            (
                "looking again",
                false,
                Some(&confirmed),
                0,
                false,
                true,
                Prep::Read,
            ),
        ];
        for (what, broken, record, target, force, rechecked, want) in cases {
            assert_eq!(
                before_read(&s, record, broken, target, force, rechecked, 0),
                want,
                "{what}"
            );
        }
        let mut pushed = rec(0, 0);
        pushed.version = 7;
        assert_eq!(
            before_read(&s, Some(&pushed), false, 0, false, false, 0),
            Prep::UpToDate
        );
        let mut left = stock(3);
        left.version = 7;
        assert_eq!(
            before_read(&left, Some(&confirmed), false, 0, false, false, 0),
            Prep::Read,
            "a zero while units are left elsewhere (protection) reads first"
        );
    }

    #[test]
    fn a_held_push_waits_a_few_receives_never_into_the_dead_letter_queue() {
        let w = |r| hold_wait(r, 3, 5);
        assert_eq!(
            w(1),
            HoldWait {
                note: true,
                left_to_drift_check: false,
                retry: true
            }
        );
        assert_eq!(
            w(2),
            HoldWait {
                note: false,
                left_to_drift_check: false,
                retry: true
            }
        );
        assert_eq!(
            w(3),
            HoldWait {
                note: true,
                left_to_drift_check: true,
                retry: false
            }
        );
        // A queue that dead-letters on the 3rd receive: wait twice at most.
        assert!(!hold_wait(2, 3, 3).retry);
    }
}
