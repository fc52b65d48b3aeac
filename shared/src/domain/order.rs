//! Order lines and their reversal: a sale changes the count once, a cancel or
//! restock gives back exactly what the line took, once.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Channel, LineId, Millis, OrderId, Qty, Sku};

/// One line of one order on one channel: the unit of exactly-once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub channel: Channel,
    pub order: OrderId,
    pub line: LineId,
    pub sku: Sku,
    pub qty: Qty,
    /// When the buyer placed the order, by the channel's clock (`None`: not said). Tells
    /// a new sale from one of the channel's unheard units arriving late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_at: Option<Millis>,
}

/// What recording an order line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SaleOutcome {
    /// The whole quantity was taken from stock.
    Applied,
    /// The line was seen before: nothing changed.
    Duplicate,
    /// There was too little stock: what was there was taken (never below zero) and the
    /// line is recorded as oversold by `short` units.
    Oversold { short: u32 },
    /// The line's cancellation had already arrived: the order is not applied.
    CancelledBeforeOrder,
}

impl SaleOutcome {
    pub fn name(self) -> &'static str {
        match self {
            SaleOutcome::Applied => "applied",
            SaleOutcome::Duplicate => "duplicate",
            SaleOutcome::Oversold { .. } => "oversold",
            SaleOutcome::CancelledBeforeOrder => "cancelled_before_order",
        }
    }
}

/// How a line's units come back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RestockKind {
    /// The whole line is cancelled: everything it took comes back.
    Cancel,
    /// A refund with restock of `qty` units, identified by the channel's refund (line) id.
    Refund { id: String, qty: Qty },
}

impl RestockKind {
    /// The idempotency key of this operation within its line.
    pub fn op_id(&self) -> String {
        match self {
            RestockKind::Cancel => "cancel".to_string(),
            RestockKind::Refund { id, .. } => Self::refund_op_id(id),
        }
    }

    /// The idempotency key of the refund (line) `id`.
    pub fn refund_op_id(id: &str) -> String {
        format!("refund:{id}")
    }
}

/// A request to give back (part of) an order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestockRequest {
    pub channel: Channel,
    pub order: OrderId,
    pub line: LineId,
    /// Known from the cancellation payload; lets an early cancel leave a timeline entry.
    pub sku: Option<Sku>,
    pub kind: RestockKind,
}

/// What a cancel or restock did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RestockOutcome {
    /// `qty` units went back on the count (0 when the line had nothing left to give back).
    Restocked { qty: u32 },
    /// This cancel or refund was seen before: nothing changed.
    Duplicate,
    /// The order line has not arrived yet: a tombstone records the cancel or refund so
    /// that the late order is netted (a cancel means it is not applied at all).
    BeforeOrder,
}

/// The stored state of an order line, including lines known only from an early cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRecord {
    pub channel: Channel,
    pub order: OrderId,
    pub line: LineId,
    pub sku: Option<Sku>,
    /// The ordered quantity, once the order itself has arrived.
    pub ordered: Option<u32>,
    /// Units taken from stock by the order.
    pub taken: u32,
    /// Units sold without stock (oversold at order time).
    pub short: u32,
    /// Units given back to stock by cancels and refunds.
    pub returned: u32,
    /// Units refunded before the order arrived; netted off the order when it does.
    pub pre_returned: u32,
    pub cancelled: bool,
    /// Cancel and refund operations already applied (idempotency within the line).
    pub ops: BTreeSet<String>,
    /// Optimistic-concurrency revision of this record; 1 when first stored.
    pub rev: u64,
    pub updated_at: Millis,
    /// Unique per `record_sale` call that wrote the order: when the SDK retries a
    /// transaction whose first attempt did commit, the retry finds its own token and
    /// reports the true outcome (an oversell stays an oversell) instead of "duplicate".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl LineRecord {
    /// A line nothing has happened to yet (revision 0: not stored).
    pub fn blank(channel: Channel, order: &OrderId, line: &LineId, now: Millis) -> LineRecord {
        LineRecord {
            channel,
            order: order.clone(),
            line: line.clone(),
            sku: None,
            ordered: None,
            taken: 0,
            short: 0,
            returned: 0,
            pre_returned: 0,
            cancelled: false,
            ops: BTreeSet::new(),
            rev: 0,
            updated_at: now,
            token: None,
        }
    }

    /// A line known only from a cancel or refund that beat its order.
    pub fn tombstone(req: &RestockRequest, now: Millis) -> LineRecord {
        let mut rec = LineRecord {
            sku: req.sku.clone(),
            rev: 1,
            ..LineRecord::blank(req.channel, &req.order, &req.line, now)
        };
        match &req.kind {
            RestockKind::Cancel => rec.cancelled = true,
            RestockKind::Refund { qty, .. } => rec.pre_returned = qty.get(),
        }
        rec.ops.insert(req.kind.op_id());
        rec
    }

    /// The outcome the order that wrote this record had (for a retried call).
    pub fn own_outcome(&self) -> SaleOutcome {
        if self.short > 0 {
            SaleOutcome::Oversold { short: self.short }
        } else if self.cancelled && self.taken == 0 {
            SaleOutcome::CancelledBeforeOrder
        } else {
            SaleOutcome::Applied
        }
    }

    /// Units still out that a cancel or refund could give back.
    pub fn outstanding(&self) -> u32 {
        self.taken - self.returned
    }

    /// Quantity the (late) order should still take: nothing if cancelled, else the
    /// ordered quantity less units already refunded before it arrived.
    pub fn effective_order_qty(&self, qty: u32) -> u32 {
        if self.cancelled {
            0
        } else {
            qty.saturating_sub(self.pre_returned)
        }
    }
}

/// What to do with a cancel or refund for a line that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestockDecision {
    Duplicate,
    /// Give `qty` back to stock (may be 0), and mark the line cancelled if `cancel`.
    Return {
        qty: u32,
        cancel: bool,
    },
    /// The order has not arrived: update the tombstone (cancel, or add to pre-returned).
    AmendTombstone {
        cancel: bool,
        pre_returned: u32,
    },
}

/// Decide a cancel or refund against the stored line.
pub fn decide_restock(line: &LineRecord, kind: &RestockKind) -> RestockDecision {
    if line.ops.contains(&kind.op_id()) {
        return RestockDecision::Duplicate;
    }
    if line.ordered.is_none() {
        return match kind {
            RestockKind::Cancel => RestockDecision::AmendTombstone {
                cancel: true,
                pre_returned: line.pre_returned,
            },
            RestockKind::Refund { qty, .. } => RestockDecision::AmendTombstone {
                cancel: line.cancelled,
                pre_returned: line.pre_returned.saturating_add(qty.get()),
            },
        };
    }
    match kind {
        RestockKind::Cancel => RestockDecision::Return {
            qty: line.outstanding(),
            cancel: true,
        },
        RestockKind::Refund { qty, .. } => RestockDecision::Return {
            qty: qty.get().min(line.outstanding()),
            cancel: line.cancelled,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(taken: u32, returned: u32) -> LineRecord {
        LineRecord {
            channel: Channel::Shopify,
            order: OrderId::parse("1").unwrap(),
            line: LineId::parse("1").unwrap(),
            sku: None,
            ordered: Some(taken),
            taken,
            short: 0,
            returned,
            pre_returned: 0,
            cancelled: false,
            ops: BTreeSet::new(),
            rev: 1,
            updated_at: 0,
            token: None,
        }
    }

    fn refund(id: &str, q: i64) -> RestockKind {
        RestockKind::Refund {
            id: id.into(),
            qty: Qty::new(q).unwrap(),
        }
    }

    #[test]
    fn cancel_gives_back_what_is_outstanding() {
        assert_eq!(
            decide_restock(&line(3, 1), &RestockKind::Cancel),
            RestockDecision::Return {
                qty: 2,
                cancel: true
            }
        );
    }

    #[test]
    fn refund_gives_back_at_most_what_is_outstanding() {
        assert_eq!(
            decide_restock(&line(3, 0), &refund("r1", 1)),
            RestockDecision::Return {
                qty: 1,
                cancel: false
            }
        );
        assert_eq!(
            decide_restock(&line(3, 2), &refund("r2", 5)),
            RestockDecision::Return {
                qty: 1,
                cancel: false
            }
        );
    }

    #[test]
    fn a_seen_operation_is_a_duplicate() {
        let mut l = line(3, 0);
        l.ops.insert("refund:r1".into());
        assert_eq!(
            decide_restock(&l, &refund("r1", 1)),
            RestockDecision::Duplicate
        );
    }

    #[test]
    fn a_tombstone_nets_the_late_order() {
        let req = RestockRequest {
            channel: Channel::Ebay,
            order: OrderId::parse("9").unwrap(),
            line: LineId::parse("1").unwrap(),
            sku: None,
            kind: refund("r1", 1),
        };
        let t = LineRecord::tombstone(&req, 0);
        assert_eq!(t.effective_order_qty(3), 2);
        let c = LineRecord::tombstone(
            &RestockRequest {
                kind: RestockKind::Cancel,
                ..req
            },
            0,
        );
        assert_eq!(c.effective_order_qty(3), 0);
    }
}
