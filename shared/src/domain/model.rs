//! The whole ledger as a pure in-memory state machine.
//!
//! It applies the same decisions as the DynamoDB adapter ([`decide_sale`],
//! [`decide_restock`], tombstones), so the property tests here speak for the rules, and
//! the adapter tests check that DynamoDB reaches the same states. It also backs the
//! in-memory store that handler tests use as a fake.

use std::collections::BTreeMap;

use super::{
    Channel, Event, LineId, LineRecord, LineRef, Millis, NewStock, OrderId, OrderLine,
    RestockDecision, RestockOutcome, RestockRequest, SaleOutcome, Sku, StockChange, StockItem,
    TimelineEntry, adjusted_on_hand, decide_restock, decide_sale,
};
use crate::ports::LedgerError;

pub type LineKey = (Channel, OrderId, LineId);

/// Every stock item, order line and timeline entry.
#[derive(Debug, Default, Clone)]
pub struct LedgerState {
    pub stock: BTreeMap<Sku, StockItem>,
    pub lines: BTreeMap<LineKey, LineRecord>,
    pub timeline: Vec<TimelineEntry>,
    next_id: u64,
}

impl LedgerState {
    /// Append a timeline entry.
    pub fn log(&mut self, sku: &Sku, at: Millis, event: Event) {
        self.next_id += 1;
        self.timeline.push(TimelineEntry {
            sku: sku.clone(),
            at,
            id: format!("{:012}", self.next_id),
            event,
        });
    }

    fn stock_mut(&mut self, sku: &Sku) -> Result<&mut StockItem, LedgerError> {
        self.stock
            .get_mut(sku)
            .ok_or_else(|| LedgerError::UnknownSku(sku.clone()))
    }

    pub fn create(&mut self, new: &NewStock, now: Millis) -> Result<StockItem, LedgerError> {
        if self.stock.contains_key(&new.sku) {
            return Err(LedgerError::AlreadyExists(new.sku.clone()));
        }
        let item = StockItem {
            sku: new.sku.clone(),
            on_hand: new.on_hand,
            version: 1,
            low_stock_threshold: new.low_stock_threshold,
            updated_at: now,
            sold: BTreeMap::new(),
            guard: Default::default(),
            unheard: Default::default(),
            last_sold_at: None,
        };
        self.stock.insert(new.sku.clone(), item.clone());
        self.log(
            &new.sku,
            now,
            Event::StockCreated {
                on_hand: new.on_hand,
                threshold: new.low_stock_threshold,
                source: None,
            },
        );
        Ok(item)
    }

    pub fn record_sale(&mut self, l: &OrderLine, now: Millis) -> Result<SaleOutcome, LedgerError> {
        let key = (l.channel, l.order.clone(), l.line.clone());
        let qty = l.qty.get();
        let existing = self.lines.get(&key).cloned();
        let effective = match &existing {
            Some(rec) if rec.ordered.is_some() => return Ok(SaleOutcome::Duplicate),
            Some(rec) => rec.effective_order_qty(qty),
            None => qty,
        };
        let on_hand = self.stock_mut(&l.sku)?.on_hand;
        let line = LineRef::new(l.channel, &l.order, &l.line);
        if existing.as_ref().is_some_and(|r| r.cancelled) {
            let rec = self.lines.get_mut(&key).expect("checked above");
            rec.ordered = Some(qty);
            rec.sku = Some(l.sku.clone());
            rec.rev += 1;
            self.log(&l.sku, now, Event::OrderAfterCancel { line, qty });
            return Ok(SaleOutcome::CancelledBeforeOrder);
        }
        let d = decide_sale(on_hand, effective);
        let mut rec =
            existing.unwrap_or_else(|| LineRecord::blank(l.channel, &l.order, &l.line, now));
        rec.sku = Some(l.sku.clone());
        rec.ordered = Some(qty);
        rec.taken = d.take;
        rec.short = d.short;
        rec.rev += 1;
        rec.updated_at = now;
        self.lines.insert(key, rec);
        let s = self.stock_mut(&l.sku)?;
        s.hear_sale(l.channel, effective, l.placed_at);
        if d.take > 0 {
            s.on_hand -= d.take;
            s.version += 1;
            s.updated_at = now;
            s.last_sold_at = Some(now);
        }
        if d.short > 0 {
            self.log(
                &l.sku,
                now,
                Event::SaleOversold {
                    line,
                    qty,
                    take: d.take,
                    short: d.short,
                    on_hand_before: Some(on_hand),
                },
            );
            Ok(SaleOutcome::Oversold { short: d.short })
        } else {
            self.log(&l.sku, now, Event::SaleApplied { line, qty: d.take });
            Ok(SaleOutcome::Applied)
        }
    }

    pub fn restock(
        &mut self,
        r: &RestockRequest,
        now: Millis,
    ) -> Result<RestockOutcome, LedgerError> {
        let key = (r.channel, r.order.clone(), r.line.clone());
        let line = LineRef::new(r.channel, &r.order, &r.line);
        let Some(rec) = self.lines.get(&key).cloned() else {
            let t = LineRecord::tombstone(r, now);
            self.lines.insert(key, t);
            if let Some(sku) = &r.sku {
                self.log(
                    sku,
                    now,
                    Event::CancelBeforeOrder {
                        line,
                        op: r.kind.op_id(),
                    },
                );
            }
            return Ok(RestockOutcome::BeforeOrder);
        };
        match decide_restock(&rec, &r.kind) {
            RestockDecision::Duplicate => Ok(RestockOutcome::Duplicate),
            RestockDecision::AmendTombstone {
                cancel,
                pre_returned,
            } => {
                let rec = self.lines.get_mut(&key).expect("exists");
                rec.cancelled = cancel;
                rec.pre_returned = pre_returned;
                rec.ops.insert(r.kind.op_id());
                rec.rev += 1;
                Ok(RestockOutcome::BeforeOrder)
            }
            RestockDecision::Return { qty, cancel } => {
                let sku = rec
                    .sku
                    .clone()
                    .ok_or_else(|| LedgerError::Store("order line without a SKU".to_string()))?;
                if qty > 0 {
                    let s = self.stock_mut(&sku)?;
                    *s.sold.entry(r.channel).or_insert(0) -= i64::from(qty);
                    s.on_hand += qty;
                    s.version += 1;
                    s.updated_at = now;
                }
                let rec = self.lines.get_mut(&key).expect("exists");
                rec.returned += qty;
                rec.cancelled = cancel;
                rec.ops.insert(r.kind.op_id());
                rec.rev += 1;
                self.log(
                    &sku,
                    now,
                    Event::Restocked {
                        line,
                        qty,
                        op: r.kind.op_id(),
                    },
                );
                Ok(RestockOutcome::Restocked { qty })
            }
        }
    }

    pub fn set(
        &mut self,
        sku: &Sku,
        on_hand: u32,
        reason: &str,
        actor: &str,
        now: Millis,
    ) -> Result<StockChange, LedgerError> {
        let s = self.stock_mut(sku)?;
        let before = s.on_hand;
        s.on_hand = on_hand;
        s.version += 1;
        s.updated_at = now;
        let version = s.version;
        self.log(
            sku,
            now,
            Event::StockSet {
                before,
                after: on_hand,
                reason: reason.to_string(),
                actor: actor.to_string(),
            },
        );
        Ok(StockChange {
            sku: sku.clone(),
            before,
            after: on_hand,
            version,
        })
    }

    pub fn adjust(
        &mut self,
        sku: &Sku,
        delta: i64,
        reason: &str,
        actor: &str,
        now: Millis,
    ) -> Result<StockChange, LedgerError> {
        let before = self.stock_mut(sku)?.on_hand;
        let after = adjusted_on_hand(before, delta).map_err(|e| LedgerError::Invalid(e.0))?;
        let s = self.stock_mut(sku)?;
        s.on_hand = after;
        s.version += 1;
        s.updated_at = now;
        let version = s.version;
        let event = Event::StockAdjusted {
            before,
            after,
            delta,
            reason: reason.to_string(),
            actor: actor.to_string(),
        };
        self.log(sku, now, event);
        Ok(StockChange {
            sku: sku.clone(),
            before,
            after,
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    //! Property: any interleaving of record / cancel / refund / duplicate / set / adjust
    //! keeps on_hand ≥ 0 and equal to the last set (or the start) plus the sum of the
    //! effects applied exactly once; each line takes at most its quantity, once.
    use super::*;
    use crate::domain::{Qty, RestockKind};
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Sale { line: u8, qty: u8 },
        Cancel { line: u8 },
        Refund { line: u8, refund: u8, qty: u8 },
        Set { n: u8 },
        Adjust { delta: i8 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..12, 1u8..4).prop_map(|(line, qty)| Op::Sale { line, qty }),
            1 => (0u8..12).prop_map(|line| Op::Cancel { line }),
            1 => (0u8..12, 0u8..3, 1u8..3).prop_map(|(line, refund, qty)| Op::Refund { line, refund, qty }),
            1 => (0u8..30).prop_map(|n| Op::Set { n }),
            1 => (-5i8..6).prop_map(|delta| Op::Adjust { delta }),
        ]
    }

    fn sku() -> Sku {
        Sku::parse("MUG-BLUE-12OZ").unwrap()
    }

    fn order_line(line: u8, qty: u8) -> OrderLine {
        OrderLine {
            // Lines spread over two channels so the (channel, order, line) key is exercised.
            channel: if line.is_multiple_of(2) {
                Channel::Shopify
            } else {
                Channel::Ebay
            },
            order: OrderId::parse(format!("o{}", line / 3)).unwrap(),
            line: LineId::parse(format!("l{line}")).unwrap(),
            sku: sku(),
            qty: Qty::new(i64::from(qty)).unwrap(),
            placed_at: None,
        }
    }

    fn restock(line: u8, kind: RestockKind) -> RestockRequest {
        let l = order_line(line, 1);
        RestockRequest {
            channel: l.channel,
            order: l.order,
            line: l.line,
            sku: Some(sku()),
            kind,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn every_change_counts_exactly_once(start in 0u8..20, ops in prop::collection::vec(op(), 1..60), dup_every in 1usize..4) {
            let mut st = LedgerState::default();
            st.create(&NewStock { sku: sku(), on_hand: u32::from(start), low_stock_threshold: 2 }, 0).unwrap();
            // The oracle: the last absolute value plus every effect reported since.
            let mut expected: i64 = i64::from(start);
            let mut version: u64 = 1;
            // What each line was given: first qty seen, units taken, units returned.
            let mut first_qty: BTreeMap<u8, u8> = BTreeMap::new();
            let mut cancelled_first: BTreeMap<u8, bool> = BTreeMap::new();
            for (i, op) in ops.iter().enumerate() {
                // Every op is delivered once, and every dup_every-th op twice: the
                // second delivery must change nothing.
                let deliveries = if i % dup_every == 0 { 2 } else { 1 };
                for d in 0..deliveries {
                    let before = st.stock[&sku()].clone();
                    match *op {
                        Op::Sale { line, qty } => {
                            let out = st.record_sale(&order_line(line, qty), i as i64).unwrap();
                            let after = &st.stock[&sku()];
                            let taken = i64::from(before.on_hand) - i64::from(after.on_hand);
                            match out {
                                SaleOutcome::Duplicate => prop_assert_eq!(taken, 0),
                                SaleOutcome::CancelledBeforeOrder => {
                                    prop_assert_eq!(taken, 0);
                                    prop_assert!(cancelled_first.get(&line).copied().unwrap_or(false));
                                }
                                SaleOutcome::Applied | SaleOutcome::Oversold { .. } => {
                                    prop_assert_eq!(d, 0, "a redelivery was applied");
                                    prop_assert!(!first_qty.contains_key(&line), "a line was applied twice");
                                    first_qty.insert(line, qty);
                                    prop_assert!(taken <= i64::from(qty));
                                    if let SaleOutcome::Oversold { short } = out {
                                        prop_assert!(short > 0);
                                        prop_assert_eq!(after.on_hand, 0);
                                    }
                                }
                            }
                            expected -= taken;
                        }
                        Op::Cancel { line } | Op::Refund { line, .. } => {
                            let kind = match *op {
                                Op::Refund { refund, qty, .. } => RestockKind::Refund { id: format!("r{refund}"), qty: Qty::new(i64::from(qty)).unwrap() },
                                _ => RestockKind::Cancel,
                            };
                            if matches!(kind, RestockKind::Cancel) && !first_qty.contains_key(&line) {
                                cancelled_first.entry(line).or_insert(true);
                            }
                            let out = st.restock(&restock(line, kind), i as i64).unwrap();
                            let after = &st.stock[&sku()];
                            let back = i64::from(after.on_hand) - i64::from(before.on_hand);
                            match out {
                                RestockOutcome::Restocked { qty } => prop_assert_eq!(back, i64::from(qty)),
                                RestockOutcome::Duplicate | RestockOutcome::BeforeOrder => prop_assert_eq!(back, 0),
                            }
                            if d == 1 {
                                prop_assert_eq!(back, 0, "a redelivered cancel/refund changed the count");
                            }
                            expected += back;
                        }
                        Op::Set { n } => {
                            st.set(&sku(), u32::from(n), "count", "test", i as i64).unwrap();
                            expected = i64::from(n);
                        }
                        Op::Adjust { delta } => {
                            if st.adjust(&sku(), i64::from(delta), "adj", "test", i as i64).is_ok() {
                                expected += i64::from(delta);
                            } else {
                                prop_assert!(i64::from(before.on_hand) + i64::from(delta) < 0);
                            }
                        }
                    }
                    let after = &st.stock[&sku()];
                    // Version rises by one exactly when the count changed... or a set/adjust ran.
                    if after.on_hand != before.on_hand { version += 1; }
                    else if after.version != before.version {
                        prop_assert!(matches!(op, Op::Set { .. } | Op::Adjust { .. }), "version moved without a count change");
                        version += 1;
                    }
                    prop_assert_eq!(after.version, version);
                    prop_assert_eq!(i64::from(after.on_hand), expected);
                }
            }
            // Per line: never more given back than taken; a cancelled line nets to zero.
            for rec in st.lines.values() {
                prop_assert!(rec.returned <= rec.taken);
                if let Some(q) = rec.ordered {
                    prop_assert!(rec.taken + rec.short <= q);
                    if rec.cancelled { prop_assert_eq!(rec.taken, rec.returned); }
                }
            }
        }
    }
}
