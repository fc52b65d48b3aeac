//! The push path end to end: a sale → the ledger (moto) → per-channel push queues (moto
//! SQS) → channel-push → the sandboxes' write APIs, with their throttling and faults.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use onecount::aws::sns::SnsAlerts;
use onecount::aws::sqs::SqsQueues;
use onecount::channels::ebay::EbayClient;
use onecount::channels::push::{ChannelApi, PushError, Seen, Target, Write};
use onecount::domain::Event;
use onecount::ports::{
    ListingStore, PushRequest, SendError, StockLedger, TimelineStore, Visibility,
};
use onecount::{Channel, ListingPolicy, Sku};
use onecount_channel_push::{PushConfig, Pusher};
use onecount_local::LocalHost;
use onecount_sim::{DeliveryKnobs, Faults};
use onecount_tests::stack::{self, ids};
use onecount_tests::{eventually, published_alerts};

fn plain() -> ListingPolicy {
    ListingPolicy::default()
}

async fn on_hand(h: &LocalHost, sku: &Sku) -> u32 {
    h.store.get_stock(sku).await.unwrap().unwrap().on_hand
}

fn shopify_order(variant: u64, qty: i64) -> onecount_sim::shopify::OrderReq {
    onecount_sim::shopify::OrderReq {
        lines: vec![(variant, qty)],
        test: false,
        knobs: DeliveryKnobs::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopify_sale_reaches_etsy_and_ebay_with_buffer_max_and_pause() {
    let h = stack::start(|_| {}).await;
    let etsy = ListingPolicy {
        buffer: 2,
        ..plain()
    };
    let ebay = ListingPolicy {
        max_qty: Some(5),
        ..plain()
    };
    let sku = stack::add_sku(&h, 1, "MUG", 10, 1, [plain(), etsy.clone(), ebay], 10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    sb.shopify
        .place_order(&shopify_order(ids(1).variant, 1))
        .unwrap();
    // 9 on hand: Shopify sold it itself (9), Etsy 9 − 2 = 7, eBay capped at 5.
    stack::converge(&h, 1, [9, 7, 5], 20).await;
    assert_eq!(on_hand(&h, &sku).await, 9);
    assert!(
        sb.shopify.writes().is_empty(),
        "Shopify already showed 9: nothing to write"
    );
    // The channels show it; each pusher's confirmation lands a moment later.
    let confirmed = || async {
        let tl = h.store.timeline(&sku, 100).await.unwrap();
        Channel::CONNECTED.iter().all(|c| {
            tl.iter()
                .any(|e| matches!(e.event, Event::Pushed { channel, .. } if channel == *c))
        })
    };
    assert!(
        eventually(20, confirmed).await,
        "one confirmation per channel"
    );
    let tl = h.store.timeline(&sku, 100).await.unwrap();
    let latencies: Vec<Option<i64>> = tl
        .iter()
        .filter_map(|e| match e.event {
            Event::Pushed { latency_ms, .. } => Some(latency_ms),
            _ => None,
        })
        .collect();
    assert!(
        !latencies.is_empty() && latencies.iter().all(|l| l.is_some_and(|l| l >= 0)),
        "each carries the latency from the sale"
    );

    // Pausing Etsy lists 0 there: Etsy cannot show 0 on every offering, so the listing
    // is deactivated; un-pausing reactivates it with the right quantity.
    let paused = ListingPolicy {
        paused: true,
        ..etsy.clone()
    };
    let mut l = h
        .store
        .get_listing(&sku, Channel::Etsy)
        .await
        .unwrap()
        .unwrap();
    l.policy = paused;
    h.store.put_listing(&l).await.unwrap();
    stack::request_push(&h, &sku, Channel::Etsy, "listing paused").await;
    assert!(
        eventually(20, || async { !sb.etsy.is_active(ids(1).listing) }).await,
        "the paused Etsy listing was deactivated"
    );
    assert_eq!(sb.etsy.quantity(ids(1).listing), Some(0));
    assert_eq!(
        sb.etsy.stored_quantity(ids(1).listing),
        Some(7),
        "no all-zero inventory write was attempted"
    );
    l.policy = etsy;
    h.store.put_listing(&l).await.unwrap();
    stack::request_push(&h, &sku, Channel::Etsy, "listing resumed").await;
    assert!(eventually(20, || async { sb.etsy.is_active(ids(1).listing) }).await);
    stack::converge(&h, 1, [9, 7, 5], 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sell_out_takes_a_one_sku_etsy_listing_off_sale_in_one_call() {
    let h = stack::start(|_| {}).await;
    let sku = stack::add_sku(&h, 3, "PRINT", 2, 1, [plain(), plain(), plain()], 2).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let etsy_pushes = || async {
        let tl = h.store.timeline(&sku, 100).await.unwrap();
        tl.iter()
            .filter(|e| {
                matches!(
                    e.event,
                    Event::Pushed {
                        channel: Channel::Etsy,
                        ..
                    }
                )
            })
            .count()
    };
    // The first sale: Etsy is read (the listing holds this SKU alone) and set to 1.
    sb.shopify
        .place_order(&shopify_order(ids(3).variant, 1))
        .unwrap();
    stack::converge(&h, 3, [1, 1, 1], 20).await;
    assert!(eventually(20, || async { etsy_pushes().await == 1 }).await);
    let before = sb.etsy.api_calls();
    // The last unit: Etsy goes off sale with one call, no read first — a read is what
    // the next Etsy buyer would have had time for.
    sb.shopify
        .place_order(&shopify_order(ids(3).variant, 1))
        .unwrap();
    stack::converge(&h, 3, [0, 0, 0], 20).await;
    assert!(eventually(20, || async { etsy_pushes().await == 2 }).await);
    assert!(!sb.etsy.is_active(ids(3).listing));
    assert_eq!(
        sb.etsy.api_calls() - before,
        1,
        "one updateListing (state inactive), no getListingsInventory"
    );
    assert_eq!(
        sb.etsy.stored_quantity(ids(3).listing),
        Some(1),
        "no all-zero inventory write was attempted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_one_sku_coalesces_and_etsy_throttling_stays_etsys_problem() {
    let h = stack::start(|_| {}).await;
    let sku = stack::add_sku(&h, 2, "TEE", 200, 5, [plain(), plain(), plain()], 200).await;
    let sb = h.sandboxes.as_ref().unwrap();
    sb.etsy.set_limits(onecount_sim::etsy::Limits {
        per_second: 1,
        per_day: 10_000,
    });
    let start = Instant::now();
    for _ in 0..100 {
        sb.shopify
            .place_order(&shopify_order(ids(2).variant, 1))
            .unwrap();
    }
    let sales_placed = start.elapsed();
    // When did each channel first show the final 100 (and keep it)?
    let mut reached: [Option<Duration>; 3] = [None; 3];
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && reached.iter().any(Option::is_none) {
        let now = stack::shows(&h, 2);
        for (k, q) in now.iter().enumerate() {
            if *q == Some(100) && on_hand(&h, &sku).await == 100 {
                reached[k].get_or_insert(start.elapsed());
            } else {
                reached[k] = None;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if reached.iter().any(Option::is_none) {
        explain(&h, 2, &sku).await;
    }
    let [shopify, etsy, ebay] = reached.map(|r| r.expect("every channel reaches 100"));
    let etsy_writes = sb.etsy.writes().len();
    let ebay_writes = sb.ebay.writes().len();
    eprintln!(
        "100 sales placed in {sales_placed:?}; shopify at 100 after {shopify:?}, ebay {ebay:?}, etsy {etsy:?}; \
         writes: etsy {etsy_writes}, ebay {ebay_writes}, shopify {}; etsy 429s {}",
        sb.shopify.writes().len(),
        sb.etsy.rate_limited()
    );
    // At 1 request/s an Etsy push costs two seconds (read, then write), so Etsy can take
    // at most one write per two seconds of the order path draining the burst: coalescing
    // is what keeps it to a handful instead of 100.
    assert!(
        etsy_writes <= 15,
        "Etsy got {etsy_writes} writes for 100 sales: pushes were not coalesced"
    );
    assert!(
        ebay_writes <= 30,
        "eBay got {ebay_writes} writes for 100 sales"
    );
    // All three finish soon after the order path drains the burst; Etsy's two pushers
    // can land their last write a moment before the others'. Waiting behind Etsy would
    // put a channel several Etsy pushes (2 s each at 1 request/s) behind it.
    let one_etsy_push = Duration::from_secs(2);
    assert!(
        ebay <= etsy + one_etsy_push && shopify <= etsy + one_etsy_push,
        "eBay ({ebay:?}) and Shopify ({shopify:?}) must not wait behind throttled Etsy ({etsy:?})"
    );
    assert_eq!(stack::shows(&h, 2), [Some(100); 3]);
}

/// On a failure: what each channel shows, the ledger, each channel's last writes and the
/// SKU's latest timeline, so a rare race can be read from the CI log.
async fn explain(h: &LocalHost, i: u64, sku: &Sku) {
    let sb = h.sandboxes.as_ref().unwrap();
    let stock = h.store.get_stock(sku).await.unwrap();
    eprintln!("shows (shopify, etsy, ebay): {:?}", stack::shows(h, i));
    eprintln!("stock item: {stock:?}");
    let last = |w: Vec<onecount_sim::WriteRecord>| -> Vec<(i64, i64)> {
        let n = w.len().saturating_sub(8);
        w[n..].iter().map(|r| (r.at_ms, r.qty)).collect()
    };
    eprintln!("shopify writes (at, qty): {:?}", last(sb.shopify.writes()));
    eprintln!("etsy writes (at, qty): {:?}", last(sb.etsy.writes()));
    eprintln!("ebay writes (at, qty): {:?}", last(sb.ebay.writes()));
    for ch in Channel::CONNECTED {
        eprintln!("{ch} push DLQ: {:?}", h.dead_pushes(ch).await);
    }
    let tl = h.store.timeline(sku, 60).await.unwrap_or_default();
    eprintln!("{}", onecount_tests::timeline_text(&tl));
}

/// A pusher with no queue under it: retry delays are noted and ignored.
pub(crate) struct NoDelay;

#[async_trait]
impl Visibility for NoDelay {
    async fn delay(&self, _receipt: &str, _secs: u32) -> Result<(), SendError> {
        Ok(())
    }
}

/// `n` push requests for `sku` on `channel`, as one SQS batch.
pub(crate) fn event(sku: &Sku, channel: Channel, n: usize) -> SqsEvent {
    let reqs: Vec<Sku> = (0..n).map(|_| sku.clone()).collect();
    batch(&reqs, channel)
}

/// One push request per SKU of `skus` on `channel`, as one SQS batch.
pub(crate) fn batch(skus: &[Sku], channel: Channel) -> SqsEvent {
    let mut ev = SqsEvent::default();
    for (k, sku) in skus.iter().enumerate() {
        let mut m = SqsMessage::default();
        m.message_id = Some(format!("m{k}"));
        m.body = Some(
            serde_json::to_string(&PushRequest {
                sku: sku.clone(),
                channel,
                cause: "test".into(),
                origin_channel: None,
                origin_order: None,
                requested_at: k as i64,
                origin_at: None,
                force: false,
                waits: 0,
                release_before: None,
            })
            .unwrap(),
        );
        ev.records.push(m);
    }
    ev
}

/// A local host with no pushers of its own, `sku` (catalog entry `i`) listed on every
/// channel at `qty`, and what it takes to build eBay pushers on it by hand.
pub(crate) async fn ebay_stage(
    i: u64,
    sku: &str,
    qty: u32,
) -> (
    LocalHost,
    Sku,
    aws_config::SdkConfig,
    onecount::channels::ebay::EbayConfig,
) {
    let h = stack::start(|c| c.push_concurrency.clear()).await;
    let s = stack::add_sku(
        &h,
        i,
        sku,
        qty,
        1,
        [plain(), plain(), plain()],
        i64::from(qty),
    )
    .await;
    let sdk = onecount::aws::load_sdk_config().await;
    let cfg = h.channels.section(Channel::Ebay).unwrap();
    (h, s, sdk, cfg)
}

/// An eBay pusher invocation of its own on the local host's table and queues, calling eBay
/// through `api` (the real client, or one wrapped to stage a race).
pub(crate) fn ebay_pusher<C: ChannelApi>(
    h: &LocalHost,
    sdk: &aws_config::SdkConfig,
    api: C,
) -> Pusher<onecount::aws::dynamo::DynamoStore, SnsAlerts, C, NoDelay, SqsQueues> {
    Pusher {
        store: h.store.clone(),
        alerts: SnsAlerts::new(sdk, &h.resources.topic_arn),
        api,
        visibility: NoDelay,
        queue: SqsQueues::new(sdk, h.resources.queue_urls()),
        cfg: PushConfig::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_push_requests_do_nothing_and_racing_pushers_never_regress() {
    let (h, sku, sdk, cfg) = ebay_stage(3, "CAP", 40).await;
    let sb = h.sandboxes.as_ref().unwrap();
    let pusher = || ebay_pusher(&h, &sdk, EbayClient::new(cfg.clone()));
    let (a, b) = (pusher(), pusher());
    // eBay answers slowly, so two invocations overlap between their reads and writes.
    sb.ebay.faults.set(Faults {
        latency_ms: 40,
        ..Faults::default()
    });
    let mut waited = 0;
    for round in 0..12 {
        h.store.adjust(&sku, -1, "test", "race").await.unwrap();
        // One invocation starts, the stock moves again, a second one starts: they race.
        let first = a.handle_batch(event(&sku, Channel::Ebay, 3));
        let second = async {
            tokio::time::sleep(Duration::from_millis(15 * (round % 4))).await;
            if round % 2 == 0 {
                h.store.adjust(&sku, -1, "test", "race").await.unwrap();
            }
            b.handle_batch(event(&sku, Channel::Ebay, 2)).await
        };
        let (ra, rb) = tokio::join!(first, second);
        // The one that found the other on the listing waited: its messages come back
        // (as SQS delivers them again) and push whatever is newest then.
        for (p, r, n) in [(&a, ra, 3), (&b, rb, 2)] {
            let mut r = r;
            for _ in 0..20 {
                if r.batch_item_failures.is_empty() {
                    break;
                }
                waited += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                r = p.handle_batch(event(&sku, Channel::Ebay, n)).await;
            }
            assert!(
                r.batch_item_failures.is_empty(),
                "round {round}: never pushed"
            );
        }
        let want = i64::from(on_hand(&h, &sku).await);
        assert_eq!(
            sb.ebay.quantity(ids(3).item),
            Some(want),
            "round {round}: eBay was left at an older version's quantity"
        );
    }
    eprintln!("a pusher waited for the other {waited} time(s) in 12 rounds");
    // A request arriving after the newest version was pushed does nothing.
    let (calls, writes) = (sb.ebay.api_calls(), sb.ebay.writes().len());
    let r = a.handle_batch(event(&sku, Channel::Ebay, 4)).await;
    assert!(r.batch_item_failures.is_empty());
    assert_eq!(
        sb.ebay.api_calls(),
        calls,
        "no channel call for an old request"
    );
    assert_eq!(sb.ebay.writes().len(), writes);
}

/// Holds a call after it reached the channel and before its answer: the first time,
/// says `reached` and waits for `go`. Two invocations' race, staged exactly.
pub(crate) struct Gate {
    reached: std::sync::Arc<tokio::sync::Notify>,
    go: std::sync::Arc<tokio::sync::Notify>,
    used: std::sync::atomic::AtomicBool,
}

impl Gate {
    pub(crate) fn new(
        reached: &std::sync::Arc<tokio::sync::Notify>,
        go: &std::sync::Arc<tokio::sync::Notify>,
    ) -> Option<Self> {
        Some(Gate {
            reached: reached.clone(),
            go: go.clone(),
            used: Default::default(),
        })
    }

    async fn pass(gate: &Option<Self>) {
        let Some(g) = gate else { return };
        if !g.used.swap(true, std::sync::atomic::Ordering::SeqCst) {
            g.reached.notify_one();
            g.go.notified().await;
        }
    }
}

/// eBay's real client, with its first read's or first write's answer held at a gate.
pub(crate) struct Staged {
    pub(crate) inner: EbayClient,
    pub(crate) read: Option<Gate>,
    pub(crate) write: Option<Gate>,
    /// A write lease of this client's own instead of the listing's: two pushers then
    /// race as they do when a lease runs out mid-round.
    pub(crate) own_lease: Option<String>,
}

#[async_trait]
impl ChannelApi for Staged {
    fn channel(&self) -> Channel {
        self.inner.channel()
    }
    fn read_batch(&self) -> usize {
        self.inner.read_batch()
    }
    fn write_batch(&self) -> usize {
        self.inner.write_batch()
    }
    fn calls(&self) -> u64 {
        self.inner.calls()
    }
    fn write_key(&self, _target: &Target) -> Option<String> {
        self.own_lease.clone()
    }
    async fn read(&self, targets: &[Target]) -> Vec<Result<Seen, PushError>> {
        let r = self.inner.read(targets).await;
        Gate::pass(&self.read).await;
        r
    }
    async fn write(&self, writes: &[Write]) -> Vec<Result<(), PushError>> {
        let r = self.inner.write(writes).await;
        Gate::pass(&self.write).await;
        r
    }
}

/// No channel orders two writes by the versions they carry: an invocation that read the
/// ledger first can write last. Here A reads 9 to push, B reads 7 and writes it, then A's
/// 9 lands over B's 7 and A confirms; B hears back last. B must not record its 7 over
/// A's confirmation as if eBay showed it: it reads eBay again and writes 7 once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_write_overtaken_by_an_older_one_is_found_and_written_again() {
    overtaken(false).await;
}

/// The same race with A's round slow (as an eBay round behind a rate limit is): before
/// it writes, A reads the ledger again, finds 7 and writes 7, never 9.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_round_writes_the_count_as_it_stands_when_it_writes() {
    overtaken(true).await;
}

/// A reads 9, B reads and writes 7 while A waits; `slow`: A's round re-reads the ledger
/// before writing (it is older than `freshen_after_ms`).
async fn overtaken(slow: bool) {
    use std::sync::Arc;
    use tokio::sync::Notify;
    let (h, sku, sdk, cfg) = ebay_stage(6, "SCARF", 10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    // Each with a lease of its own: the race a listing's lease prevents while it lasts.
    let pusher = |read: Option<Gate>, write: Option<Gate>| {
        let inner = EbayClient::new(cfg.clone());
        let own_lease = Some(uuid::Uuid::new_v4().to_string());
        let mut p = ebay_pusher(
            &h,
            &sdk,
            Staged {
                inner,
                read,
                write,
                own_lease,
            },
        );
        // However long this machine takes, A's round is fresh unless `slow`.
        p.cfg.freshen_after_ms = if slow { 0 } else { i64::MAX };
        p
    };
    // A first push, so eBay's 10 is on record.
    let r = pusher(None, None)
        .handle_batch(event(&sku, Channel::Ebay, 1))
        .await;
    assert!(r.batch_item_failures.is_empty());
    let (a_read, b_wrote, a_done) = (
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
    );
    let a = pusher(Gate::new(&a_read, &b_wrote), None);
    let b = pusher(None, Gate::new(&b_wrote, &a_done));
    h.store.adjust(&sku, -1, "test", "race").await.unwrap();
    let first = async {
        let r = a.handle_batch(event(&sku, Channel::Ebay, 1)).await;
        a_done.notify_one();
        r
    };
    let second = async {
        a_read.notified().await;
        h.store.adjust(&sku, -2, "test", "race").await.unwrap();
        b.handle_batch(event(&sku, Channel::Ebay, 1)).await
    };
    let (ra, rb) = tokio::join!(first, second);
    assert!(ra.batch_item_failures.is_empty() && rb.batch_item_failures.is_empty());
    let written: Vec<u32> = sb.ebay.writes().iter().map(|w| w.qty as u32).collect();
    if slow {
        assert!(!written.contains(&9), "A wrote 7 too: {written:?}");
    } else {
        assert!(
            written.ends_with(&[7, 9, 7]),
            "B's 7, A's 9 over it, B's 7 again: {written:?}"
        );
    }
    assert_eq!(on_hand(&h, &sku).await, 7);
    assert_eq!(sb.ebay.quantity(ids(6).item), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etsy_down_backs_off_then_waits_alerts_once_and_catches_up_by_itself() {
    use onecount::ports::{ChannelHealth, EpisodeKind};
    let h = stack::start(|c| {
        c.max_receive_count = 4;
        c.push_backoff_base_ms = 300;
    })
    .await;
    let sku = stack::add_sku(&h, 4, "BAG", 10, 1, [plain(), plain(), plain()], 10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    sb.etsy.faults.set(Faults {
        down_for_ms: 120_000,
        ..Faults::default()
    });
    sb.shopify
        .place_order(&shopify_order(ids(4).variant, 2))
        .unwrap();
    stack::converge(&h, 4, [8, 10, 8], 20).await;
    assert!(
        eventually(60, || async {
            h.store
                .episode(Channel::Etsy)
                .await
                .unwrap()
                .is_some_and(|e| e.kind == EpisodeKind::Down && e.waiting.contains(&sku))
        })
        .await,
        "past its last receive the push waits in an episode for Etsy"
    );
    let tl = h.store.timeline(&sku, 200).await.unwrap();
    let delays: Vec<i64> = tl
        .iter()
        .filter_map(|e| match e.event {
            Event::PushRetrying { retry_in_secs, .. } => Some(i64::from(retry_in_secs)),
            _ => None,
        })
        .collect();
    assert!(delays.len() >= 3, "retries on the timeline: {delays:?}");
    assert!(
        delays.windows(2).all(|w| w[1] >= w[0]) && delays.last() > delays.first(),
        "backoff grows: {delays:?}"
    );
    // One more wait, still down: still one alert.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let alerts = published_alerts(&h.resources.topic_arn).await;
    let failing: Vec<_> = alerts
        .iter()
        .filter(|a| a.attributes.get("type").map(String::as_str) == Some("push_failing"))
        .collect();
    assert_eq!(
        failing.len(),
        1,
        "one push_failing for the channel: {alerts:#?}"
    );
    assert_eq!(failing[0].attributes["channel"], "etsy");
    assert!(
        !failing[0].attributes.contains_key("sku"),
        "about the channel, not a SKU"
    );
    assert!(failing[0].sms.chars().count() <= 140);
    assert!(failing[0].body.contains("What to do:"));
    assert_eq!(
        h.dead_pushes(Channel::Etsy).await.unwrap(),
        0,
        "nothing dead-lettered"
    );
    assert_eq!(sb.etsy.quantity(ids(4).listing), Some(10), "still stale");
    // Shopify and eBay were never held up.
    assert_eq!(stack::shows(&h, 4)[2], Some(8));

    // Etsy recovers: the waiting push comes back by itself and ends the episode.
    sb.etsy.faults.set(Faults::default());
    stack::converge(&h, 4, [8, 8, 8], 40).await;
    assert!(
        eventually(10, || async {
            h.store.episode(Channel::Etsy).await.unwrap().is_none()
        })
        .await
    );
    assert_eq!(h.dead_pushes(Channel::Etsy).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_racing_a_shopify_write_is_never_overwritten() {
    let h = stack::start(|_| {}).await;
    let sku = stack::add_sku(&h, 5, "PEN", 10, 1, [plain(), plain(), plain()], 10).await;
    let sb = h.sandboxes.as_ref().unwrap();
    // First, everything confirmed at 10 (so a push record exists everywhere).
    stack::request_push(&h, &sku, Channel::Shopify, "initial sync").await;
    assert!(
        eventually(20, || async {
            h.store.timeline(&sku, 50).await.unwrap().iter().any(|e| {
                matches!(
                    e.event,
                    Event::Pushed {
                        channel: Channel::Shopify,
                        ..
                    }
                )
            })
        })
        .await
    );
    // An Etsy sale asks Shopify to go to 9 — and as that write arrives, a Shopify buyer
    // takes 2 (the write's changeFromQuantity is now stale).
    sb.shopify.race_next_write(shopify_order(ids(5).variant, 2));
    sb.etsy
        .place_order(&onecount_sim::etsy::OrderReq {
            lines: vec![(ids(5).listing, 1)],
            skus: vec![],
            knobs: DeliveryKnobs::default(),
        })
        .unwrap();
    stack::converge(&h, 5, [7, 7, 7], 30).await;
    assert_eq!(on_hand(&h, &sku).await, 7);
    let writes = sb.shopify.writes();
    assert!(
        writes.iter().all(|w| w.qty != 9 && w.qty != 8),
        "a write computed before the Shopify sale overwrote it: {writes:?}"
    );
    assert!(
        sb.shopify.api_calls().0 >= 3,
        "the stale write was re-read and retried"
    );
}
