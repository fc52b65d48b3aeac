//! The decrement handler's SQS contract with in-memory ports: each message on its own,
//! a bad one fails alone, transient trouble is a batch item failure (never a silent
//! success), and duplicates still request their pushes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use onecount::alerts::Alert;
use onecount::channels::{Action, Candidate, InLine, OrderEvent};
use onecount::domain::{LineId, NewStock, OrderId};
use onecount::ports::memory::MemoryStore;
use onecount::ports::{AlertSink, ListingStore, PushQueue, PushRequest, SendError, StockLedger};
use onecount::{Channel, ChannelRef, Listing, ListingPolicy, Sku};
use onecount_stock_decrement::{Decrement, FetchError, OrderFetcher};

#[derive(Default)]
struct Pushes(Mutex<Vec<PushRequest>>, AtomicBool);
#[async_trait]
impl PushQueue for Pushes {
    async fn request_push(&self, r: &PushRequest) -> Result<(), SendError> {
        if self.1.load(Ordering::SeqCst) {
            return Err(SendError("SQS throttled".into()));
        }
        self.0.lock().unwrap().push(r.clone());
        Ok(())
    }
}

#[derive(Default)]
struct Alerts(Mutex<Vec<Alert>>);
#[async_trait]
impl AlertSink for Alerts {
    async fn publish(&self, a: &Alert) -> Result<(), SendError> {
        self.0.lock().unwrap().push(a.clone());
        Ok(())
    }
}

/// Etsy receipt "2" is throttled; receipt "gone" is not found (404), asked once: blips
/// are retried in the HTTP layer (`onecount::channels::http`), never here.
/// Receipts `r-…` sell one unit of listing 2, unless Etsy refuses the token (`.1`).
#[derive(Default)]
struct Fetch(AtomicU32, AtomicBool);
#[async_trait]
impl OrderFetcher for Fetch {
    async fn fetch(&self, channel: Channel, pointer: &str) -> Result<Action, FetchError> {
        if channel == Channel::Ebay {
            return Err(FetchError::Permanent("ebay is not configured".into()));
        }
        let receipt = pointer.rsplit('/').next().unwrap_or("");
        if receipt.starts_with("r-") {
            if self.1.load(Ordering::SeqCst) {
                return Err(FetchError::Unauthorized(
                    "etsy receipt: HTTP 401: invalid_token".into(),
                ));
            }
            return Ok(Action::Sale {
                order: OrderId::parse(receipt).unwrap(),
                lines: vec![InLine {
                    line: LineId::parse("1").unwrap(),
                    qty: 1,
                    candidates: vec![Candidate::Ref("listing:2".parse().unwrap())],
                }],
                placed_at: None,
            });
        }
        if receipt != "gone" {
            return Err(FetchError::Transient("etsy 429, retry after 1 s".into()));
        }
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(FetchError::Permanent(
            "etsy HTTP 404: receipt not found".into(),
        ))
    }
}

async fn decrement() -> Decrement<MemoryStore, Pushes, Alerts, Fetch> {
    let store = MemoryStore::new();
    let sku = Sku::parse("MUG").unwrap();
    store
        .create_stock(&NewStock {
            sku: sku.clone(),
            on_hand: 5,
            low_stock_threshold: 1,
        })
        .await
        .unwrap();
    for (c, r) in [
        (Channel::Shopify, "variant:1"),
        (Channel::Etsy, "listing:2"),
    ] {
        store
            .put_listing(&Listing {
                sku: sku.clone(),
                channel: c,
                refs: vec![r.parse::<ChannelRef>().unwrap()],
                policy: ListingPolicy::default(),
            })
            .await
            .unwrap();
    }
    Decrement {
        store,
        pushes: Pushes::default(),
        alerts: Alerts::default(),
        fetcher: Fetch::default(),
        retry: None,
    }
}

fn msg(id: &str, body: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.body = Some(body.into());
    m
}

fn sale(order: &str, qty: u32) -> String {
    let ev = OrderEvent {
        channel: Channel::Shopify,
        delivery_id: format!("d-{order}"),
        topic: "orders/create".into(),
        received_at: 0,
        action: Action::Sale {
            order: OrderId::parse(order).unwrap(),
            lines: vec![InLine {
                line: LineId::parse("1").unwrap(),
                qty,
                candidates: vec![Candidate::Ref("variant:1".parse().unwrap())],
            }],
            placed_at: None,
        },
    };
    serde_json::to_string(&ev).unwrap()
}

fn event(msgs: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = msgs;
    e
}

fn failed(r: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn a_bad_message_fails_alone() {
    let d = decrement().await;
    let etsy = serde_json::to_string(&OrderEvent {
        channel: Channel::Etsy,
        delivery_id: "e".into(),
        topic: "order.paid".into(),
        received_at: 0,
        action: Action::Fetch {
            pointer: "shops/1/receipts/2".into(),
        },
    })
    .unwrap();
    let r = d
        .handle_batch(event(vec![
            msg("a", &sale("o1", 2)),
            msg("b", "{not json"),
            msg("c", &etsy),
            msg("d", &sale("o2", 1)),
        ]))
        .await;
    assert_eq!(
        failed(&r),
        ["b", "c"],
        "garbage and a transient fetch failure fail; the rest succeed"
    );
    assert_eq!(
        d.store
            .get_stock(&Sku::parse("MUG").unwrap())
            .await
            .unwrap()
            .unwrap()
            .on_hand,
        2
    );
    assert_eq!(
        d.pushes.0.lock().unwrap().len(),
        4,
        "two sales x two listings"
    );
}

#[tokio::test]
async fn a_failed_push_request_is_a_batch_item_failure_and_the_retry_is_exactly_once() {
    let d = decrement().await;
    d.pushes.1.store(true, Ordering::SeqCst);
    let r = d.handle_batch(event(vec![msg("a", &sale("o1", 2))])).await;
    assert_eq!(failed(&r), ["a"], "never a silent success");
    d.pushes.1.store(false, Ordering::SeqCst);
    // SQS redelivers it: the count does not move again, the pushes go out this time.
    let r = d.handle_batch(event(vec![msg("a", &sale("o1", 2))])).await;
    assert!(failed(&r).is_empty());
    assert_eq!(
        d.store
            .get_stock(&Sku::parse("MUG").unwrap())
            .await
            .unwrap()
            .unwrap()
            .on_hand,
        3
    );
    assert_eq!(
        d.pushes.0.lock().unwrap().len(),
        2,
        "the duplicate path still requests the pushes"
    );
}

#[tokio::test]
async fn an_order_that_cannot_be_fetched_is_kept_and_alerted() {
    let d = decrement().await;
    let ebay = serde_json::to_string(&OrderEvent {
        channel: Channel::Ebay,
        delivery_id: "n".into(),
        topic: "ORDER_CONFIRMATION".into(),
        received_at: 0,
        action: Action::Fetch {
            pointer: "14-11234-56789".into(),
        },
    })
    .unwrap();
    let r = d.handle_batch(event(vec![msg("a", &ebay)])).await;
    assert!(
        failed(&r).is_empty(),
        "a permanent failure completes the message"
    );
    let kept = onecount::ports::Inbox::quarantined(&d.store, 5)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        d.alerts.0.lock().unwrap()[0].kind.as_str(),
        "quarantined_webhook"
    );
}

#[tokio::test]
async fn a_throttled_fetch_is_left_to_the_queue_and_a_missing_order_is_kept_once() {
    let d = decrement().await;
    let ev = |receipt: &str| {
        serde_json::to_string(&OrderEvent {
            channel: Channel::Etsy,
            delivery_id: format!("e-{receipt}"),
            topic: "order.paid".into(),
            received_at: 0,
            action: Action::Fetch {
                pointer: format!("shops/1/receipts/{receipt}"),
            },
        })
        .unwrap()
    };
    let r = d
        .handle_batch(event(vec![msg("t", &ev("2")), msg("b", &ev("gone"))]))
        .await;
    // Throttled: left to the message's retry. Not found: final (kept and alerted, not
    // retried), asked once.
    assert_eq!(failed(&r), vec!["t".to_string()]);
    assert_eq!(d.fetcher.0.load(Ordering::SeqCst), 1);
    assert_eq!(d.alerts.0.lock().unwrap().len(), 1);
}

fn etsy_receipt(receipt: &str) -> String {
    serde_json::to_string(&OrderEvent {
        channel: Channel::Etsy,
        delivery_id: format!("d-{receipt}"),
        topic: "order.paid".into(),
        received_at: 0,
        action: Action::Fetch {
            pointer: format!("shops/1/receipts/{receipt}"),
        },
    })
    .unwrap()
}

#[tokio::test]
async fn orders_that_need_a_refused_channel_wait_parked_and_apply_when_it_is_back() {
    use onecount::ports::{ChannelHealth, Inbox};
    let d = decrement().await;
    let sku = Sku::parse("MUG").unwrap();
    d.fetcher.1.store(true, Ordering::SeqCst);
    let r = d
        .handle_batch(event(vec![
            msg("a", &etsy_receipt("r-1")),
            msg("b", &etsy_receipt("r-2")),
        ]))
        .await;
    assert!(failed(&r).is_empty(), "parked, not retried into the DLQ");
    assert!(
        d.store.quarantined(10).await.unwrap().is_empty(),
        "not quarantined"
    );
    let alerts = d.alerts.0.lock().unwrap().clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].kind,
        onecount::alerts::AlertKind::ChannelAuthFailed
    );
    assert_eq!(
        d.store
            .parked_orders(Channel::Etsy, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(d.store.get_stock(&sku).await.unwrap().unwrap().on_hand, 5);
    // Connected again: the next receipt read ends the episode and applies the two waiting.
    d.fetcher.1.store(false, Ordering::SeqCst);
    let r = d
        .handle_batch(event(vec![msg("c", &etsy_receipt("r-3"))]))
        .await;
    assert!(failed(&r).is_empty());
    assert_eq!(d.store.get_stock(&sku).await.unwrap().unwrap().on_hand, 2);
    assert!(
        d.store
            .parked_orders(Channel::Etsy, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(d.store.episode(Channel::Etsy).await.unwrap().is_none());
    // Applying a parked order twice changes nothing (exactly once per line).
    d.handle_batch(event(vec![msg("d", &etsy_receipt("r-1"))]))
        .await;
    assert_eq!(d.store.get_stock(&sku).await.unwrap().unwrap().on_hand, 2);
}

fn kinds(d: &Decrement<MemoryStore, Pushes, Alerts, Fetch>) -> Vec<&'static str> {
    d.alerts
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.kind.as_str())
        .collect()
}

/// A line with a quantity no sale has (0, or past 10⁹) changes nothing, and is kept and
/// told rather than skipped in silence.
#[tokio::test]
async fn a_line_with_an_impossible_quantity_is_kept_and_told() {
    use onecount::ports::Inbox;
    let d = decrement().await;
    let r = d
        .handle_batch(event(vec![
            msg("a", &sale("zero", 0)),
            msg("b", &sale("huge", 2_000_000_000)),
        ]))
        .await;
    assert!(failed(&r).is_empty(), "retrying would not help");
    let mug = d
        .store
        .get_stock(&Sku::parse("MUG").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mug.on_hand, 5);
    let kept = d.store.quarantined(10).await.unwrap();
    assert_eq!(kept.len(), 2);
    assert!(
        kept.iter()
            .all(|q| q.reason.starts_with("order line refused: quantity")),
        "{kept:?}"
    );
    assert_eq!(kinds(&d), ["quarantined_webhook", "quarantined_webhook"]);
    // Delivered again (or found again by reconciliation): kept and told once.
    d.handle_batch(event(vec![
        msg("a", &sale("zero", 0)),
        msg("b", &sale("huge", 2_000_000_000)),
    ]))
    .await;
    assert_eq!(d.store.quarantined(10).await.unwrap().len(), 2);
    assert_eq!(kinds(&d).len(), 2);
}

/// The sale that takes a SKU to its threshold says so at once, once per crossing.
#[tokio::test]
async fn low_stock_is_told_by_the_sale_that_crosses_the_threshold_once() {
    let d = decrement().await;
    d.handle_batch(event(vec![msg("a", &sale("o1", 3))])).await;
    assert!(kinds(&d).is_empty(), "5 -> 2, above the threshold of 1");
    d.handle_batch(event(vec![msg("b", &sale("o2", 1))])).await;
    assert_eq!(kinds(&d), ["low_stock"], "2 -> 1: crossed");
    let a = d.alerts.0.lock().unwrap()[0].clone();
    assert!(a.body.contains("shopify order o2"), "{}", a.body);
    d.handle_batch(event(vec![msg("c", &sale("o3", 1))])).await;
    assert_eq!(kinds(&d), ["low_stock"], "1 -> 0: the same crossing");
    let mug = d
        .store
        .get_stock(&Sku::parse("MUG").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(mug.guard.low_alerted);
}

#[derive(Default)]
struct Delays(Mutex<Vec<(String, u32)>>);
#[async_trait]
impl onecount::ports::Visibility for Delays {
    async fn delay(&self, receipt: &str, secs: u32) -> Result<(), SendError> {
        self.0.lock().unwrap().push((receipt.to_string(), secs));
        Ok(())
    }
}

/// An order read that failed for now (the channel throttled) comes back after a delay
/// that grows with each receive, like a push's, instead of the queue's whole visibility
/// timeout; a message that succeeded or can never succeed is not delayed.
#[tokio::test]
async fn a_transient_failure_backs_off_growing_with_each_receive() {
    let delays = std::sync::Arc::new(Delays::default());
    let mut d = decrement().await;
    d.retry = Some(onecount_stock_decrement::OrderRetry {
        visibility: delays.clone(),
        base_ms: 30_000,
    });
    let throttled = serde_json::to_string(&OrderEvent {
        channel: Channel::Etsy,
        delivery_id: "e".into(),
        topic: "order.paid".into(),
        received_at: 0,
        action: Action::Fetch {
            pointer: "shops/1/receipts/2".into(),
        },
    })
    .unwrap();
    for receives in 1..=4u32 {
        let mut m = msg("t", &throttled);
        m.receipt_handle = Some(format!("rh-{receives}"));
        m.attributes
            .insert("ApproximateReceiveCount".into(), receives.to_string());
        let mut ok = msg("s", &sale(&format!("o{receives}"), 1));
        ok.receipt_handle = Some("rh-ok".into());
        let r = d.handle_batch(event(vec![m, ok])).await;
        assert_eq!(failed(&r), ["t"]);
    }
    let got = delays.0.lock().unwrap().clone();
    let secs: Vec<u32> = got.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        got.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        ["rh-1", "rh-2", "rh-3", "rh-4"],
        "only the failed message, each time"
    );
    for (i, s) in secs.iter().enumerate() {
        let base = 30 << i;
        assert!(
            (base..=base * 3 / 2).contains(s),
            "receive {}: {s} s",
            i + 1
        );
    }
}
