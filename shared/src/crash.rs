//! Crash points: the places in webhook ingest, the order handler and the pusher where a
//! Lambda can be stopped half-way (a timeout, an out-of-memory kill, a lost execution
//! environment) between two effects that are not one transaction.
//!
//! In production nothing is armed and [`at`] is one atomic load. The fault-injection tests
//! (`tests/tests/it/crash.rs`) arm one point at a time: the code stops there as if the
//! process had died (the message is not acknowledged, so SQS delivers it again; a webhook
//! is not answered 200, so the channel sends it again) and the test checks the end state.
//! `docs/reliability.md` has the matrix.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Every crash point, in the order a sale passes them.
pub const POINTS: [&str; 8] = [
    INGEST_AFTER_QUEUED,
    ORDER_AFTER_FETCH,
    ORDER_BEFORE_SALE,
    ORDER_AFTER_SALE,
    ORDER_AFTER_PUSHES_QUEUED,
    PUSH_BEFORE_WRITE,
    PUSH_AFTER_WRITE,
    PUSH_AFTER_CONFIRM,
];
/// Ingest put the event on the order queue, but did not answer the channel.
pub const INGEST_AFTER_QUEUED: &str = "ingest: after queueing, before answering 200";
/// The order handler read an Etsy/eBay order from the channel, before applying it.
pub const ORDER_AFTER_FETCH: &str = "order: after fetching the order, before the sale";
/// Before the sale's transaction.
pub const ORDER_BEFORE_SALE: &str = "order: before the sale's transaction";
/// The sale is committed; its push requests are not queued.
pub const ORDER_AFTER_SALE: &str = "order: after the transaction, before queueing pushes";
/// Push requests queued; the message not acknowledged.
pub const ORDER_AFTER_PUSHES_QUEUED: &str = "order: after queueing pushes, before the ack";
/// The pusher read the ledger and the channel and holds the write lease, before writing.
pub const PUSH_BEFORE_WRITE: &str = "push: before the channel write";
/// The channel took the new quantity; the push is not recorded in the ledger.
pub const PUSH_AFTER_WRITE: &str = "push: after the channel write, before its confirmation";
/// The push is recorded; the push messages not acknowledged.
pub const PUSH_AFTER_CONFIRM: &str = "push: after the confirmation, before the ack";

static ARMED: AtomicBool = AtomicBool::new(false);
static POINT: Mutex<Option<(&'static str, u32)>> = Mutex::new(None);
static FIRED: AtomicU32 = AtomicU32::new(0);

/// The process stopped at a crash point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("crashed at '{0}' (fault injection)")]
pub struct Crashed(pub &'static str);

/// Stop at `point` the next `times` times it is reached (tests only).
pub fn arm(point: &'static str, times: u32) {
    *POINT.lock().unwrap_or_else(|p| p.into_inner()) = Some((point, times));
    ARMED.store(times > 0, Ordering::SeqCst);
}

/// How many times an armed point stopped the code.
pub fn fired() -> u32 {
    FIRED.load(Ordering::SeqCst)
}

/// `Err` when `point` is armed: the caller stops there as a crash would.
pub fn at(point: &'static str) -> Result<(), Crashed> {
    if !ARMED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut armed = POINT.lock().unwrap_or_else(|p| p.into_inner());
    match armed.as_mut() {
        Some((p, left)) if *p == point && *left > 0 => {
            *left -= 1;
            if *left == 0 {
                ARMED.store(false, Ordering::SeqCst);
            }
            FIRED.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(
                point,
                "crash point reached: stopping here (fault injection)"
            );
            Err(Crashed(point))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_point_stops_the_code_as_many_times_as_asked() {
        assert_eq!(at(ORDER_AFTER_SALE), Ok(()), "nothing armed");
        arm(ORDER_AFTER_SALE, 2);
        assert_eq!(at(PUSH_AFTER_WRITE), Ok(()), "another point");
        assert_eq!(at(ORDER_AFTER_SALE), Err(Crashed(ORDER_AFTER_SALE)));
        assert_eq!(at(ORDER_AFTER_SALE), Err(Crashed(ORDER_AFTER_SALE)));
        assert_eq!(at(ORDER_AFTER_SALE), Ok(()));
        assert_eq!(fired(), 2);
    }
}
