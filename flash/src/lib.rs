//! The flash-sale engine behind `make demo` and `onecount bench flash-sale`.
//!
//! One seeded stream of buyers is played, at the same instants, against several worlds.
//! Each world has its own three channel sandboxes (same catalog, same Etsy rate limit,
//! same slow eBay, same 5xx rate) and one way of keeping them in step:
//!
//! - `onecount` — the real local stack: signed webhooks → ingest → SQS → decrement on
//!   DynamoDB → per-channel push queues → channel-push → the sandboxes' write APIs, with
//!   the drift check on a timer (all AWS calls on moto);
//! - `onecount_last_units` — the same with last-unit protection on;
//! - `interval` — a sync every 15 minutes, time-scaled ([`baseline::Interval`]);
//! - `fifo` — per-event delta pushes, one FIFO per channel, retries in line
//!   ([`baseline::Fifo`]).
//!
//! A buyer can only buy what the channel displays (the sandboxes refuse the rest, as the
//! channels do), so every oversell is one a strategy's lag allowed. [`measure`] turns what
//! the channels displayed into oversold units, stale time and lag.

pub mod args;
pub mod baseline;
pub mod measure;
pub mod report;
pub mod stream;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use onecount::aws::dynamo::DynamoStore;
use onecount::channels::push::{ChannelApi, Target};
use onecount::domain::NewStock;
use onecount::ports::{ListingStore, StockLedger, TimelineStore};
use onecount::{Channel, ChannelRef, Listing, ListingPolicy, Sku};
use onecount_local::{LocalConfig, LocalHost};
use onecount_sim::{DeliveryKnobs, Faults, Sandboxes, SimConfig};
use serde::Serialize;

use measure::{Point, Summary, Tracker};
use stream::{Attempt, Buyers, Item};

/// A way of keeping the channels in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Onecount,
    OnecountLastUnits,
    Interval,
    Fifo,
    /// The same buyers against channels that always display the true count at once: the
    /// most that can be sold with no oversell (the yardstick for lost sales).
    Oracle,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::Onecount,
        Strategy::OnecountLastUnits,
        Strategy::Interval,
        Strategy::Fifo,
        Strategy::Oracle,
    ];
    /// The key in `--json` output.
    pub fn key(self) -> &'static str {
        match self {
            Strategy::Onecount => "onecount",
            Strategy::OnecountLastUnits => "onecount_last_units",
            Strategy::Interval => "interval",
            Strategy::Fifo => "fifo",
            Strategy::Oracle => "oracle",
        }
    }
    pub fn label(self, sc: &Scenario) -> String {
        match self {
            Strategy::Onecount => "onecount".into(),
            Strategy::OnecountLastUnits => format!("onecount + last-unit ({})", sc.last_units),
            Strategy::Interval => format!("interval {} min", sc.interval_minutes),
            Strategy::Fifo => "FIFO deltas".into(),
            Strategy::Oracle => "oracle (true count, at once)".into(),
        }
    }
    fn is_onecount(self) -> bool {
        matches!(self, Strategy::Onecount | Strategy::OnecountLastUnits)
    }
}

/// Every knob of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub skus: usize,
    pub seed: u64,
    /// Length of the sale, real seconds.
    pub duration_s: f64,
    /// Checkout attempts per second, all channels.
    pub rate: f64,
    /// Share of buyers on Shopify, Etsy, eBay.
    pub channel_mix: [f64; 3],
    /// Etsy's per-second request limit (the real default is 10).
    pub etsy_qps: u32,
    /// SKUs per Etsy listing (colours of one listing with variations); 1: one each.
    pub etsy_variations: u32,
    /// How the eBay listings were made: through the Inventory API, or in Seller Hub
    /// (served through the Trading API).
    pub ebay_kind: EbayKind,
    /// Added to every eBay API call.
    pub ebay_latency_ms: u64,
    /// Share of channel API calls answered 500.
    pub error_rate: f64,
    pub duplicate_rate: f64,
    pub late_rate: f64,
    pub late_ms: u64,
    /// Order webhooks never delivered (Shopify, after the first quarter of the sale).
    pub lost_webhooks: u32,
    /// Sale minutes per real minute: the interval baseline syncs every
    /// `interval_minutes * 60 / time_scale` real seconds.
    pub time_scale: f64,
    pub interval_minutes: f64,
    /// Last-unit protection level for `onecount_last_units`.
    pub last_units: u32,
    /// After the last buyer, how long the channels get to catch up (every sale shown
    /// everywhere, no units held back that no channel lists).
    pub settle_s: f64,
    /// onecount's drift check period in sale minutes (deployed default: 5), time-scaled
    /// like the interval baseline's.
    pub drift_minutes: f64,
    /// Channel access tokens end this many real seconds after they are issued (0: never);
    /// Shopify is then connected as a Dev Dashboard app (client credentials grant).
    pub token_ttl_s: u64,
    pub strategies: Vec<Strategy>,
}

impl Scenario {
    /// How long channel tokens live, when they expire at all.
    pub fn token_ttl(&self) -> Option<Duration> {
        (self.token_ttl_s > 0).then(|| Duration::from_secs(self.token_ttl_s))
    }

    /// The standard scenario (`--quick`, in `make test`): about a minute.
    pub fn standard() -> Scenario {
        Scenario {
            name: "standard".into(),
            skus: 50,
            seed: 7,
            duration_s: 40.0,
            rate: 4.0,
            channel_mix: [0.5, 0.25, 0.25],
            etsy_qps: 10,
            etsy_variations: 1,
            ebay_kind: EbayKind::Inventory,
            ebay_latency_ms: 400,
            error_rate: 0.02,
            duplicate_rate: 0.05,
            late_rate: 0.05,
            late_ms: 3_000,
            lost_webhooks: 1,
            time_scale: 60.0,
            interval_minutes: 15.0,
            last_units: 1,
            settle_s: 20.0,
            drift_minutes: 5.0,
            token_ttl_s: 0,
            strategies: Strategy::ALL.to_vec(),
        }
    }

    /// `make demo`: the standard sale, a little longer.
    pub fn demo() -> Scenario {
        Scenario {
            name: "demo".into(),
            duration_s: 60.0,
            ..Scenario::standard()
        }
    }

    pub fn interval_real(&self) -> Duration {
        Duration::from_secs_f64((self.interval_minutes * 60.0 / self.time_scale).max(0.5))
    }

    pub fn drift_real(&self) -> Duration {
        Duration::from_secs_f64((self.drift_minutes * 60.0 / self.time_scale).max(1.0))
    }

    pub fn buyers(&self) -> Buyers {
        Buyers {
            duration_ms: (self.duration_s * 1000.0) as u64,
            rate: self.rate,
            channel_mix: self.channel_mix,
            duplicate_rate: self.duplicate_rate,
            late_rate: self.late_rate,
            late_ms: self.late_ms,
        }
    }

    /// A one-line complaint about an impossible knob, if any.
    pub fn check(&self) -> Result<()> {
        if self.skus == 0 || self.skus > 2_000 {
            bail!("--skus must be between 1 and 2000");
        }
        if !(self.rate > 0.0 && self.rate <= 50.0) {
            bail!(
                "--rate must be above 0 and at most 50 checkouts/s (moto's ceiling is far lower)"
            );
        }
        if !(self.duration_s >= 1.0 && self.duration_s <= 3_600.0) {
            bail!("--duration must be between 1 and 3600 seconds");
        }
        if !(0.0..=1.0).contains(&self.error_rate)
            || !(0.0..=1.0).contains(&self.duplicate_rate)
            || !(0.0..=1.0).contains(&self.late_rate)
        {
            bail!("rates (--error-rate, --duplicate-rate, --late-rate) are shares between 0 and 1");
        }
        if !(1..=10).contains(&self.etsy_variations) {
            bail!("--etsy-variations must be between 1 and 10 SKUs per Etsy listing");
        }
        if self.etsy_qps == 0 {
            bail!("--etsy-qps must be at least 1");
        }
        if self.time_scale <= 0.0 || self.interval_minutes <= 0.0 || self.drift_minutes <= 0.0 {
            bail!("--time-scale, --interval-minutes and --drift-minutes must be above 0");
        }
        if self.strategies.is_empty() {
            bail!("no strategy to run");
        }
        Ok(())
    }
}

/// The channel ids of catalog entry `i` on the sandboxes.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    pub variant: u64,
    pub listing: u64,
    /// The entry's place among the products of its Etsy listing.
    pub product: usize,
    pub item: u64,
}

/// How a sale's eBay listings were made (`--ebay-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EbayKind {
    /// Inventory API listings: an offer per SKU (`item:` and `offer:` refs).
    Inventory,
    /// Seller Hub listings: the Trading API's `GetItem` and `ReviseInventoryStatus`
    /// (an `item:` ref alone).
    Trading,
}

/// The eBay kind of this process's sale: true for Seller Hub (Trading API) listings.
static EBAY_TRADING: AtomicBool = AtomicBool::new(false);

/// SKUs per Etsy listing in this process's sale (`--etsy-variations`): entries `k·n` to
/// `k·n + k − 1` are the products (colours) of one listing.
static ETSY_VARIATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub fn ids(i: u64) -> Ids {
    let k = ETSY_VARIATIONS.load(Ordering::Relaxed).max(1);
    Ids {
        variant: 44_000_000_000_000 + i,
        listing: 1_200_000_000 + i / k,
        product: (i % k) as usize,
        item: 316_000_000_000 + i,
    }
}

/// onecount's mapping of entry `i` on (shopify, etsy, ebay).
pub fn refs(i: u64) -> [Vec<ChannelRef>; 3] {
    let id = ids(i);
    let p = |v: &[String]| v.iter().map(|r| r.parse().expect("valid ref")).collect();
    [
        p(&[format!("variant:{}", id.variant)]),
        p(&[format!("listing:{}", id.listing)]),
        if EBAY_TRADING.load(Ordering::Relaxed) {
            p(&[format!("item:{}", id.item)])
        } else {
            p(&[
                format!("item:{}", id.item),
                format!("offer:{}", onecount_sim::ebay::offer_id(id.item)),
            ])
        },
    ]
}

/// Put entry `i` on the three sandboxes, displaying `shows`.
pub fn list_on_sandboxes(sb: &Sandboxes, i: u64, sku: &str, shows: i64) {
    let id = ids(i);
    sb.shopify.add_listing(onecount_sim::shopify::SimListing {
        variant_id: id.variant,
        sku: sku.into(),
        qty: shows,
        inventory_item_id: 0,
    });
    sb.etsy.add_listing(onecount_sim::etsy::SimListing {
        listing_id: id.listing,
        sku: sku.into(),
        qty: shows,
    });
    let on_ebay = onecount_sim::ebay::SimListing {
        item_id: id.item,
        sku: sku.into(),
        qty: shows,
    };
    if EBAY_TRADING.load(Ordering::Relaxed) {
        sb.ebay.add_seller_hub_listing(on_ebay);
    } else {
        sb.ebay.add_listing(on_ebay);
    }
}

/// Create `sku` in onecount and map it on all three channels with `policies`.
pub async fn add_to_onecount(
    store: &DynamoStore,
    i: u64,
    sku: &Sku,
    on_hand: u32,
    threshold: u32,
    policies: [ListingPolicy; 3],
) -> Result<()> {
    store
        .create_stock(&NewStock {
            sku: sku.clone(),
            on_hand,
            low_stock_threshold: threshold,
        })
        .await
        .with_context(|| format!("creating {sku}"))?;
    for ((channel, refs), policy) in Channel::CONNECTED.into_iter().zip(refs(i)).zip(policies) {
        store
            .put_listing(&Listing {
                sku: sku.clone(),
                channel,
                refs,
                policy,
            })
            .await
            .with_context(|| format!("mapping {sku} on {channel}"))?;
    }
    Ok(())
}

/// An Etsy order for `qty` of the entry's product (its listing may carry several).
fn etsy_order(
    sb: &Sandboxes,
    id: Ids,
    qty: i64,
    knobs: DeliveryKnobs,
) -> onecount_sim::etsy::OrderReq {
    let sku = sb.etsy.product(id.listing, id.product).map(|(sku, _)| sku);
    onecount_sim::etsy::OrderReq {
        lines: vec![(id.listing, qty)],
        skus: sku.into_iter().collect(),
        knobs,
    }
}

/// What each sandbox displays for entry `i` (shopify, etsy, ebay); 0 when unlisted.
pub fn displayed(sb: &Sandboxes, i: u64) -> [i64; 3] {
    let id = ids(i);
    [
        sb.shopify.quantity(id.variant).unwrap_or(0),
        sb.etsy
            .product(id.listing, id.product)
            .map_or(0, |(_, shows)| shows),
        sb.ebay.quantity(id.item).unwrap_or(0),
    ]
}

struct World {
    strategy: Strategy,
    host: Option<LocalHost>,
    /// The AWS endpoint this world's onecount runs on (its own moto, when one could be
    /// started, so two onecount worlds do not queue behind each other).
    endpoint: Option<String>,
    _moto: Option<onecount_local::moto::Moto>,
    own: Option<Sandboxes>,
    tracker: Mutex<Tracker>,
    lost_left: AtomicU32,
    interval: Option<Arc<baseline::Interval>>,
    fifo: Option<Arc<baseline::Fifo>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// What `listings discover` found when it mapped this world (rows by kind).
    discovered: BTreeMap<&'static str, usize>,
}

impl Drop for World {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl World {
    /// The world's channels; none for the oracle, whose channels are the true count.
    fn sandboxes(&self) -> Option<&Sandboxes> {
        self.host
            .as_ref()
            .and_then(|h| h.sandboxes.as_ref())
            .or(self.own.as_ref())
    }

    /// Put one buyer through checkout on this world's channel; the order id if it sold.
    fn place(&self, a: &Attempt, t_ms: u64, lose_from_ms: u64) -> Option<String> {
        let mut tracker = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
        let Some(sb) = self.sandboxes() else {
            return oracle_sale(&mut tracker, a, t_ms);
        };
        let id = ids(a.item as u64);
        let lose = a.channel == Channel::Shopify
            && t_ms >= lose_from_ms
            && self.lost_left.load(Ordering::Relaxed) > 0;
        // Baseline worlds hear webhooks from the engine (below); onecount hears them
        // from the sandboxes, signed, over HTTP.
        let knobs = if self.host.is_some() {
            DeliveryKnobs {
                deliveries: if a.delivery.duplicate { 2 } else { 1 },
                delay_ms: a.delivery.late_ms,
                lose,
            }
        } else {
            DeliveryKnobs {
                deliveries: 1,
                delay_ms: 0,
                lose: true,
            }
        };
        let placed = match a.channel {
            Channel::Shopify => sb
                .shopify
                .place_order(&onecount_sim::shopify::OrderReq {
                    lines: vec![(id.variant, a.qty)],
                    test: false,
                    knobs,
                })
                .map(|p| p.order_id),
            Channel::Etsy => sb
                .etsy
                .place_order(&etsy_order(sb, id, a.qty, knobs))
                .map(|p| p.receipt_id),
            _ => sb
                .ebay
                .place_order(&onecount_sim::ebay::OrderReq {
                    lines: vec![(id.item, a.qty)],
                    knobs,
                })
                .map(|p| p.order_id),
        };
        let Ok(order) = placed else {
            let k = Channel::CONNECTED
                .iter()
                .position(|c| *c == a.channel)
                .unwrap_or(0);
            tracker.refused(a.item, a.qty, displayed(sb, a.item as u64)[k]);
            return None;
        };
        if lose {
            self.lost_left.fetch_sub(1, Ordering::Relaxed);
        }
        tracker.sale(t_ms, a.item, a.channel, a.qty, &order);
        drop(tracker);
        if let Some(f) = &self.fifo
            && !lose
        {
            tell_fifo(f, a, &order);
        }
        Some(order)
    }

    fn sample(&self, t_ms: u64, items: usize) {
        let mut tracker = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
        for i in 0..items {
            let shows = match self.sandboxes() {
                Some(sb) => displayed(sb, i as u64),
                None => [tracker.remaining(i).max(0); 3],
            };
            tracker.observe(t_ms, i, shows);
        }
    }

    fn writes(&self) -> [usize; 3] {
        self.sandboxes().map_or([0; 3], |sb| {
            [
                sb.shopify.writes().len(),
                sb.etsy.writes().len(),
                sb.ebay.writes().len(),
            ]
        })
    }
}

/// The oracle's checkout: every channel displays the true count at once, so a buyer is
/// sold what exists and turned away only when it does not.
fn oracle_sale(tracker: &mut Tracker, a: &Attempt, t_ms: u64) -> Option<String> {
    let left = tracker.remaining(a.item);
    if left < a.qty {
        tracker.refused(a.item, a.qty, left.max(0));
        return None;
    }
    let order = format!("oracle-{}-{t_ms}", a.item);
    tracker.sale(t_ms, a.item, a.channel, a.qty, &order);
    Some(order)
}

/// The FIFO baseline hears the order's webhook (late, or twice, as the buyer's delivery
/// says).
fn tell_fifo(f: &Arc<baseline::Fifo>, a: &Attempt, order: &str) {
    let deliveries = if a.delivery.duplicate { 2 } else { 1 };
    if a.delivery.late_ms == 0 {
        for _ in 0..deliveries {
            f.heard(a.channel, order, a.item, a.qty);
        }
        return;
    }
    let (ch, item, qty, order) = (a.channel, a.item, a.qty, order.to_string());
    let late = Duration::from_millis(a.delivery.late_ms);
    let f = f.clone();
    tokio::spawn(async move {
        tokio::time::sleep(late).await;
        for _ in 0..deliveries {
            f.heard(ch, &order, item, qty);
        }
    });
}

/// What the engine reports while it runs (about once a second).
#[derive(Debug, Clone)]
pub struct Progress {
    pub phase: &'static str,
    pub elapsed_s: f64,
    pub total_s: f64,
    /// (strategy, orders, oversold units) so far.
    pub worlds: Vec<(Strategy, usize, i64)>,
}

/// An order line onecount's ledger recorded as oversold (the orders to cancel).
#[derive(Debug, Clone, Serialize)]
pub struct LedgerOversell {
    pub sku: String,
    pub channel: String,
    pub order: String,
    pub short: u32,
    pub at: i64,
}

/// What only the onecount worlds have: their own record of the run.
#[derive(Debug, Clone, Serialize)]
pub struct OnecountDetail {
    pub table: String,
    /// Messages left in each dead-letter queue at the end.
    pub dlq: BTreeMap<String, i64>,
    /// Alerts published to the topic, by type.
    pub alerts: BTreeMap<String, usize>,
    pub ledger_oversells: Vec<LedgerOversell>,
    /// The whole timeline of every SKU the ledger recorded an oversell of, read before
    /// the world's moto goes away: what `onecount timeline SKU` would have said.
    pub oversold_timelines: BTreeMap<String, Vec<onecount::domain::TimelineEntry>>,
    /// The same for every SKU with units stranded at the end (existing, displayed on no
    /// channel), and for the SKUs under-listed longest: why they were held back.
    pub kept_timelines: BTreeMap<String, Vec<onecount::domain::TimelineEntry>>,
    pub dynamodb_requests: u64,
    /// What `listings discover` found when it mapped the world: plan rows by kind.
    pub discovered: BTreeMap<&'static str, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BaselineDetail {
    pub interval_syncs: u64,
    pub fifo_dropped: u64,
    pub fifo_backlog_at_end: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StrategyResult {
    pub strategy: Strategy,
    pub label: String,
    #[serde(flatten)]
    pub summary: Summary,
    /// Writes the channels accepted (shopify, etsy, ebay).
    pub channel_writes: [usize; 3],
    /// Access tokens the channels issued (grants and refreshes), and calls they refused
    /// for a dead token (each then made again once with a new one).
    pub tokens_issued: [u64; 3],
    pub tokens_refused: [u64; 3],
    pub writes_per_sale: f64,
    /// The orders that sold units which did not exist.
    pub oversold: Vec<measure::Sold>,
    /// Units sold that existed, as a share of the oracle's (when it ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_of_oracle: Option<f64>,
    /// What the sale cost, by `oversell-cost`'s model.
    pub cost: SaleCost,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onecount: Option<OnecountDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineDetail>,
}

/// What a strategy's sale cost, in the shop's currency, by `onecount oversell-cost`'s
/// default model: each oversold order is refunded, counts against the channel, loses its
/// margin and takes support time; each unit the oracle sold and this strategy did not
/// (a buyer turned away while stock existed) loses its margin.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SaleCost {
    pub oversells: f64,
    pub lost_sales: f64,
    pub total: f64,
}

/// Units sold that existed.
fn good_units(s: &Summary) -> i64 {
    s.units_sold - s.oversold_units
}

/// Each strategy's share of the oracle's units and the cost of the sales it lost (the
/// oracle's good units it did not sell, else the units it turned away while stock
/// existed).
fn weigh(results: &mut [StrategyResult], m: &onecount::domain::ops::CostModel) {
    let oracle = results
        .iter()
        .find(|r| r.strategy == Strategy::Oracle)
        .map(|r| good_units(&r.summary));
    for r in results.iter_mut() {
        let good = good_units(&r.summary);
        let lost_units = match oracle {
            Some(o) => (o - good).max(0),
            None => r.summary.turned_away_units,
        };
        r.share_of_oracle = oracle.filter(|o| *o > 0).map(|o| good as f64 / o as f64);
        r.cost.lost_sales = m.unit_margin * lost_units as f64;
        r.cost.total = r.cost.oversells + r.cost.lost_sales;
    }
}

/// How loaded moto was: a DynamoDB read timed twice a second through the run.
#[derive(Debug, Clone, Serialize)]
pub struct MotoLoad {
    pub probe_p50_ms: f64,
    pub probe_p95_ms: f64,
    pub bottleneck: bool,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hottest {
    pub sku: String,
    pub on_hand: u32,
    /// Per strategy key: the truth and each channel's display over time.
    pub series: BTreeMap<String, Vec<Point>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: Scenario,
    pub attempts: usize,
    pub results: Vec<StrategyResult>,
    pub hottest: Hottest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moto: Option<MotoLoad>,
    pub wall_s: f64,
}

impl Outcome {
    pub fn result(&self, s: Strategy) -> Option<&StrategyResult> {
        self.results.iter().find(|r| r.strategy == s)
    }
}

fn apply_faults(sb: &Sandboxes, sc: &Scenario) {
    sb.etsy.set_limits(onecount_sim::etsy::Limits {
        per_second: sc.etsy_qps,
        per_day: 1_000_000,
    });
    let errors = Faults {
        error_rate: sc.error_rate,
        ..Faults::default()
    };
    sb.shopify.faults.set(errors.clone());
    sb.etsy.faults.set(errors.clone());
    sb.ebay.faults.set(Faults {
        latency_ms: sc.ebay_latency_ms,
        ..errors
    });
}

fn sku_of(item: &Item) -> Sku {
    Sku::parse(&item.sku).expect("catalog SKUs are valid")
}

async fn start_world(strategy: Strategy, sc: &Scenario, catalog: &[Item]) -> Result<World> {
    let initial: Vec<i64> = catalog.iter().map(|i| i64::from(i.on_hand)).collect();
    let world = World {
        strategy,
        host: None,
        endpoint: None,
        _moto: None,
        own: None,
        tracker: Mutex::new(
            Tracker::new(&initial)
                .protected_at((strategy == Strategy::OnecountLastUnits).then_some(sc.last_units)),
        ),
        lost_left: AtomicU32::new(sc.lost_webhooks),
        interval: None,
        fifo: None,
        tasks: Vec::new(),
        discovered: BTreeMap::new(),
    };
    if strategy.is_onecount() {
        start_onecount(world, sc, catalog).await
    } else if strategy == Strategy::Oracle {
        Ok(world)
    } else {
        Ok(start_baseline(world, sc, catalog, &initial).await)
    }
}

/// A onecount world: the local host with its sandboxes, on its own moto.
async fn start_onecount(mut world: World, sc: &Scenario, catalog: &[Item]) -> Result<World> {
    let strategy = world.strategy;
    // Its own moto (moto applies one request at a time on one core); else the shared one.
    let own = if std::env::var_os("ONECOUNT_FLASH_SHARED_MOTO").is_some() {
        Err(anyhow::anyhow!("ONECOUNT_FLASH_SHARED_MOTO is set"))
    } else {
        onecount_local::moto::start()
    };
    let (sdk, endpoint) = match own {
        Ok(m) => {
            let sdk = onecount::aws::load_sdk_config_at(&m.endpoint).await;
            let ep = m.endpoint.clone();
            world._moto = Some(m);
            (sdk, ep)
        }
        Err(e) => match onecount::aws::endpoint_url() {
            Some(ep) => (onecount::aws::load_sdk_config_at(&ep).await, ep),
            None => return Err(e.context("onecount's side of the sale needs moto")),
        },
    };
    world.endpoint = Some(endpoint);
    let sdk = &sdk;
    let prefix = format!(
        "flash-{}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8],
        if strategy == Strategy::Onecount {
            "oc"
        } else {
            "lu"
        }
    );
    let mut cfg = LocalConfig::new(&prefix);
    cfg.sandbox = true;
    cfg.drift_every = Some(sc.drift_real());
    // The drift check's re-read window is time-scaled with its schedule (10 min → 10 s
    // at 60×): each run re-applies that window's orders (idempotently) through the
    // ledger, and at full width that would be the whole sale, every run.
    cfg.drift.overlap_ms = (cfg.drift.overlap_ms as f64 / sc.time_scale).max(2_000.0) as i64;
    // So is how soon a channel lists a new order (the sandboxes list it at once).
    let listed = cfg.drift.orders_listed_within_ms as f64 / sc.time_scale;
    cfg.drift.orders_listed_within_ms = listed.max(1_000.0) as i64;
    if strategy == Strategy::OnecountLastUnits {
        cfg.last_units = Some(sc.last_units);
    }
    cfg.token_ttl = sc.token_ttl();
    let host = LocalHost::start(sdk, cfg).await?;
    let sb = host.sandboxes.as_ref().expect("sandbox host");
    for (i, item) in catalog.iter().enumerate() {
        list_on_sandboxes(sb, i as u64, &item.sku, i64::from(item.on_hand));
    }
    // A shop is never clean: one problem of each kind beside the sale's catalog.
    onecount_sim::catalog::plant_problems(sb, onecount_sim::catalog::KINDS.len(), 1);
    world.discovered = discover_catalog(&host, catalog).await?;
    // Last-unit protection deals a SKU's last units out only while it sells: before the
    // sale opens, every channel lists every unit in both onecount worlds.
    warm_up(&host, catalog.len() as u64).await?;
    apply_faults(sb, sc);
    world.host = Some(host);
    Ok(world)
}

/// Map the sale's catalog as a merchant would (`onecount listings discover --apply`):
/// read every sandbox's catalog, match by SKU, start each count at the lowest listed
/// quantity. Every SKU of the sale must come out matched on all three channels; the
/// planted problems are named and (but for a SKU on one channel) left alone. Returns the
/// plan's rows by kind.
async fn discover_catalog(
    host: &LocalHost,
    catalog: &[Item],
) -> Result<BTreeMap<&'static str, usize>> {
    use onecount::domain::discover::{self, CountsFrom, Finding};
    let read = onecount::discovery::read_catalogs(&host.apis, &|_, _| {}).await;
    if let Some((ch, e)) = read.failed().first() {
        bail!("discovery could not read {ch}: {e}");
    }
    let plan = discover::plan(read.found);
    let thresholds: BTreeMap<&str, u32> = catalog
        .iter()
        .map(|i| (i.sku.as_str(), i.threshold))
        .collect();
    let kinds = discover::kinds(&plan);
    for r in &plan {
        let ours = r.sku.as_deref().is_some_and(|s| thresholds.contains_key(s));
        if ours && !matches!(&r.finding, Finding::Matched { channels } if channels.len() == 3) {
            bail!("discovery: {:?} {}", r.sku, r.finding.says());
        }
    }
    let (mut rows, bad) = discover::import_rows(&plan, CountsFrom::Lowest, 0);
    for r in &mut rows {
        r.threshold = thresholds.get(r.listing.sku.as_str()).copied();
    }
    let applied = onecount::discovery::apply(&host.store, (rows, bad), false, |_| {}).await?;
    let expected = catalog.len() + kinds.get("one_channel").copied().unwrap_or(0);
    if applied.created_skus != expected || !applied.bad.is_empty() {
        bail!("discovery mapped {applied:?}, not the {expected} SKUs listed");
    }
    Ok(kinds)
}

/// A baseline world: the sandboxes and onecount's own channel clients, so only the
/// strategy differs.
async fn start_baseline(
    mut world: World,
    sc: &Scenario,
    catalog: &[Item],
    initial: &[i64],
) -> World {
    let strategy = world.strategy;
    let nowhere = "http://127.0.0.1:9";
    let sim = SimConfig::random(nowhere);
    let sb = Sandboxes::start(sim.clone()).await;
    for (i, item) in catalog.iter().enumerate() {
        list_on_sandboxes(&sb, i as u64, &item.sku, i64::from(item.on_hand));
    }
    apply_faults(&sb, sc);
    // Shopify, Etsy, eBay: onecount's own clients, so only the strategy differs.
    let mut channels = sb.channels_config(&sim, nowhere);
    if let Some(ttl) = sc.token_ttl() {
        sb.expire_tokens_after(ttl);
        channels = sb.as_dev_app(channels, &sim);
    }
    let kits = onecount::channels::build(&channels).expect("the sandboxes' configuration");
    let apis: Vec<Arc<dyn ChannelApi>> = kits.kits().map(|k| k.api()).collect();
    let targets: Vec<[Target; 3]> = catalog
        .iter()
        .enumerate()
        .map(|(i, item)| {
            refs(i as u64).map(|refs| Target {
                sku: sku_of(item),
                refs,
            })
        })
        .collect();
    match strategy {
        Strategy::Interval => {
            let iv = Arc::new(baseline::Interval::new(apis, targets, initial));
            world
                .tasks
                .push(tokio::spawn(iv.clone().run(sc.interval_real())));
            world.interval = Some(iv);
        }
        _ => world.fifo = Some(Arc::new(baseline::Fifo::start(apis, Arc::new(targets)))),
    }
    world.own = Some(sb);
    world
}

/// One order on each channel for a SKU outside the catalog, until every channel shows
/// them: connections, channel tokens and caches are warm when the sale opens, as they
/// are minutes into a real one.
async fn warm_up(host: &LocalHost, i: u64) -> Result<()> {
    let sb = host.sandboxes.as_ref().expect("sandbox host");
    let sku = Sku::parse("WARM-UP").expect("valid");
    let p = ListingPolicy::default();
    add_to_onecount(&host.store, i, &sku, 100, 0, [p.clone(), p.clone(), p]).await?;
    list_on_sandboxes(sb, i, sku.as_str(), 100);
    let id = ids(i);
    let k = DeliveryKnobs::default;
    let _ = sb.shopify.place_order(&onecount_sim::shopify::OrderReq {
        lines: vec![(id.variant, 1)],
        test: false,
        knobs: k(),
    });
    let _ = sb.etsy.place_order(&etsy_order(sb, id, 1, k()));
    let _ = sb.ebay.place_order(&onecount_sim::ebay::OrderReq {
        lines: vec![(id.item, 1)],
        knobs: k(),
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    while displayed(sb, i) != [97; 3] {
        if Instant::now() > deadline {
            bail!(
                "onecount did not bring the warm-up SKU to 97 on every channel within 90 s (shows {:?})",
                displayed(sb, i)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Play the sale `sc` against every strategy it names; `progress` hears about once a second.
pub async fn run(sc: &Scenario, progress: impl Fn(&Progress)) -> Result<Outcome> {
    ETSY_VARIATIONS.store(u64::from(sc.etsy_variations), Ordering::Relaxed);
    EBAY_TRADING.store(sc.ebay_kind == EbayKind::Trading, Ordering::Relaxed);
    sc.check()?;
    let wall = Instant::now();
    // Units the buyers will want: attempts × 1.1 units each.
    let catalog = stream::catalog(sc.skus, sc.seed, sc.rate * sc.duration_s * 1.1);
    let attempts = stream::attempts(&catalog, &sc.buyers(), sc.seed);
    let needs_aws = sc.strategies.iter().any(|s| s.is_onecount());
    let total_s = sc.duration_s + sc.settle_s;
    let worlds = Arc::new(start_worlds(sc, &catalog, &progress).await?);
    let items = catalog.len();
    for w in worlds.iter() {
        w.sample(0, items);
    }
    let t0 = Instant::now();
    let ms = move || t0.elapsed().as_millis() as u64;

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = spawn_sampler(worlds.clone(), stop.clone(), t0, items);
    let probes: Arc<Mutex<Vec<f64>>> = Arc::default();
    let probers = spawn_probers(&worlds, &probes, &stop);
    let report = |phase: &'static str| {
        progress(&Progress {
            phase,
            elapsed_s: t0.elapsed().as_secs_f64(),
            total_s,
            worlds: worlds
                .iter()
                .map(|w| {
                    let t = w.tracker.lock().unwrap_or_else(|p| p.into_inner());
                    let s = t.summary(0);
                    (w.strategy, s.orders, s.oversold_units)
                })
                .collect(),
        })
    };
    play(&worlds, &attempts, sc, t0, &report).await;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    for p in probers {
        let _ = p.await;
    }
    let end = ms();
    for w in worlds.iter() {
        w.sample(end, items);
    }
    report("reporting");

    let mut results = Vec::new();
    for w in worlds.iter() {
        results.push(world_result(w, sc, &catalog, end).await?);
    }
    weigh(&mut results, &onecount::domain::ops::CostModel::default());
    let hottest = hottest(&worlds, &catalog);
    let moto = needs_aws.then(|| moto_load(&probes));
    Ok(Outcome {
        scenario: sc.clone(),
        attempts: attempts.len(),
        results,
        hottest,
        moto,
        wall_s: wall.elapsed().as_secs_f64(),
    })
}

/// Start a world per strategy, saying so as each comes up.
async fn start_worlds(
    sc: &Scenario,
    catalog: &[Item],
    progress: &impl Fn(&Progress),
) -> Result<Vec<World>> {
    let mut worlds = Vec::new();
    for (n, s) in sc.strategies.iter().enumerate() {
        progress(&Progress {
            phase: "setting up",
            elapsed_s: n as f64,
            total_s: sc.strategies.len() as f64,
            worlds: Vec::new(),
        });
        worlds.push(start_world(*s, sc, catalog).await?);
    }
    Ok(worlds)
}

/// Place every attempt on every world at its instant, then wait (up to the settle time)
/// for every channel to catch up; `report` once a second.
async fn play(
    worlds: &[World],
    attempts: &[stream::Attempt],
    sc: &Scenario,
    t0: Instant,
    report: &impl Fn(&'static str),
) {
    let lose_from = (sc.duration_s * 250.0) as u64;
    let mut next_report = Duration::from_secs(1);
    for a in attempts {
        let due = t0 + Duration::from_millis(a.at_ms);
        while Instant::now() + Duration::from_millis(5) < due {
            if t0.elapsed() >= next_report {
                report("selling");
                next_report += Duration::from_secs(1);
            }
            tokio::time::sleep_until(due.min(t0 + next_report).into()).await;
        }
        let t = t0.elapsed().as_millis() as u64;
        for w in worlds.iter() {
            w.place(a, t, lose_from);
        }
    }
    let sale_end = t0 + Duration::from_secs_f64(sc.duration_s);
    tokio::time::sleep_until(sale_end.into()).await;
    let deadline = sale_end + Duration::from_secs_f64(sc.settle_s);
    loop {
        let settled = worlds.iter().all(|w| {
            let t = w.tracker.lock().unwrap_or_else(|p| p.into_inner());
            t.summary(0).lag_all_channels.unresolved == 0 && t.stranded().is_empty()
        });
        if settled || Instant::now() >= deadline {
            break;
        }
        if t0.elapsed() >= next_report {
            report("catching up");
            next_report += Duration::from_secs(1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every world's channels, sampled every 20 ms until `stop`.
fn spawn_sampler(
    worlds: Arc<Vec<World>>,
    stop: Arc<AtomicBool>,
    t0: Instant,
    items: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let t = t0.elapsed().as_millis() as u64;
            for w in worlds.iter() {
                w.sample(t, items);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// How long one DynamoDB read takes on each onecount world's moto, twice a second.
fn spawn_probers(
    worlds: &[World],
    probes: &Arc<Mutex<Vec<f64>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    worlds
        .iter()
        .filter_map(|w| w.host.as_ref())
        .map(|h| {
            let (store, probes, stop) = (h.store.clone(), probes.clone(), stop.clone());
            tokio::spawn(async move {
                let probe = Sku::parse("MOTO-PROBE").expect("valid");
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if store.get_stock(&probe).await.is_ok() {
                        let took = t.elapsed().as_secs_f64() * 1000.0;
                        probes.lock().unwrap_or_else(|p| p.into_inner()).push(took);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        })
        .collect()
}

/// How many of the SKUs under-listed longest keep their timeline, and the least
/// under-listing (listing-ms) that does.
const KEPT_UNDER_LISTED: usize = 2;
const KEPT_UNDER_LISTED_MS: u64 = 5_000;

/// The SKUs whose timelines are kept besides the oversold ones: units stranded at the
/// end, and the SKUs under-listed longest (buyers turned away while their units existed).
fn kept_skus<'a>(tracker: &measure::Tracker, catalog: &'a [Item]) -> Vec<&'a str> {
    let mut kept: Vec<&str> = tracker
        .stranded()
        .into_iter()
        .map(|(i, _)| i)
        .chain(
            tracker
                .most_under_listed(KEPT_UNDER_LISTED, KEPT_UNDER_LISTED_MS)
                .into_iter()
                .map(|(i, _)| i),
        )
        .map(|i| catalog[i].sku.as_str())
        .collect();
    kept.sort_unstable();
    kept.dedup();
    kept
}

/// What one world did.
async fn world_result(
    w: &World,
    sc: &Scenario,
    catalog: &[Item],
    end: u64,
) -> Result<StrategyResult> {
    let tracker = w.tracker.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let summary = tracker.summary(end);
    let channel_writes = w.writes();
    let total: usize = channel_writes.iter().sum();
    let kept = kept_skus(&tracker, catalog);
    let onecount = match &w.host {
        Some(h) => Some(OnecountDetail {
            discovered: w.discovered.clone(),
            ..onecount_detail(h, w.endpoint.as_deref(), &kept).await?
        }),
        None => None,
    };
    let baseline =
        matches!(w.strategy, Strategy::Interval | Strategy::Fifo).then(|| BaselineDetail {
            interval_syncs: w
                .interval
                .as_ref()
                .map_or(0, |i| i.syncs.load(Ordering::Relaxed)),
            fifo_dropped: w
                .fifo
                .as_ref()
                .map_or(0, |f| f.dropped.load(Ordering::Relaxed)),
            fifo_backlog_at_end: w.fifo.as_ref().map_or(0, |f| f.backlog()),
        });
    Ok(StrategyResult {
        strategy: w.strategy,
        label: w.strategy.label(sc),
        writes_per_sale: if summary.orders == 0 {
            0.0
        } else {
            total as f64 / summary.orders as f64
        },
        cost: SaleCost {
            oversells: onecount::domain::ops::impact(
                &tracker
                    .orders
                    .iter()
                    .filter(|o| o.short > 0)
                    .map(|o| onecount::domain::ops::Oversold {
                        channel: o.channel,
                        units: o.short as u32,
                    })
                    .collect::<Vec<_>>(),
                &onecount::domain::ops::CostModel::default(),
            )
            .total,
            ..SaleCost::default()
        },
        share_of_oracle: None,
        oversold: tracker
            .orders
            .iter()
            .filter(|o| o.short > 0)
            .cloned()
            .collect(),
        summary,
        channel_writes,
        tokens_issued: w.sandboxes().map_or([0; 3], |sb| sb.tokens_issued()),
        tokens_refused: w.sandboxes().map_or([0; 3], |sb| sb.tokens_refused()),
        onecount,
        baseline,
    })
}

/// The hottest SKU (by the onecount world's sales) and every world's series for it.
fn hottest(worlds: &[World], catalog: &[Item]) -> Hottest {
    let chart_from = worlds
        .iter()
        .find(|w| w.strategy == Strategy::Onecount)
        .unwrap_or(&worlds[0]);
    let hot = chart_from
        .tracker
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .hottest();
    Hottest {
        sku: catalog[hot].sku.clone(),
        on_hand: catalog[hot].on_hand,
        series: worlds
            .iter()
            .map(|w| {
                let t = w.tracker.lock().unwrap_or_else(|p| p.into_inner());
                (w.strategy.key().to_string(), t.series[hot].clone())
            })
            .collect(),
    }
}

/// How loaded moto was, from the probes.
fn moto_load(probes: &Mutex<Vec<f64>>) -> MotoLoad {
    let mut v = probes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (p50, p95) = (pct(&mut v, 0.5), pct(&mut v, 0.95));
    let bottleneck = p95 > 50.0;
    let note = if bottleneck {
        format!(
            "moto, not onecount, was the bottleneck: one DynamoDB read took p95 {p95:.0} ms \
             (moto applies one request at a time; DynamoDB answers in single-digit ms), so \
             onecount's lag here is mostly waiting for moto"
        )
    } else {
        format!(
            "moto kept up (a DynamoDB read took p95 {p95:.0} ms): onecount's lag is its own — \
             channel API latency, Etsy's rate limit, retries"
        )
    };
    MotoLoad {
        probe_p50_ms: p50,
        probe_p95_ms: p95,
        bottleneck,
        note,
    }
}

async fn onecount_detail(
    h: &LocalHost,
    endpoint: Option<&str>,
    kept: &[&str],
) -> Result<OnecountDetail> {
    let mut dlq = BTreeMap::new();
    dlq.insert("orders".to_string(), h.dead_orders().await?);
    for c in Channel::CONNECTED {
        dlq.insert(format!("push-{c}"), h.dead_pushes(c).await?);
    }
    let mut alerts = BTreeMap::new();
    for a in published_alerts(endpoint, &h.resources.topic_arn).await {
        let kind = a
            .attributes
            .get("type")
            .cloned()
            .unwrap_or_else(|| a.subject.clone());
        *alerts.entry(kind).or_insert(0) += 1;
    }
    let ledger_oversells = h
        .store
        .oversells(0, 1_000)
        .await?
        .into_iter()
        .filter_map(|e| {
            let (line, short) = e.event.oversold()?;
            Some(LedgerOversell {
                sku: e.sku.to_string(),
                channel: line.channel.to_string(),
                order: line.order.to_string(),
                short,
                at: e.at,
            })
        })
        .collect::<Vec<LedgerOversell>>();
    let oversold: Vec<&str> = ledger_oversells.iter().map(|o| o.sku.as_str()).collect();
    let oversold_timelines = timelines(h, &oversold).await?;
    let kept_timelines = timelines(h, kept).await?;
    Ok(OnecountDetail {
        table: h.resources.table.clone(),
        dlq,
        alerts,
        ledger_oversells,
        oversold_timelines,
        kept_timelines,
        dynamodb_requests: h.store.requests(),
        discovered: BTreeMap::new(),
    })
}

/// An alert as moto recorded its publication.
#[derive(Debug, Clone)]
pub struct PublishedAlert {
    pub subject: String,
    /// The `default` text (email body).
    pub body: String,
    pub sms: String,
    pub attributes: BTreeMap<String, String>,
}

/// Every message published to `topic_arn`, read back from moto's `/moto-api/data.json`
/// at `endpoint` (default: `AWS_ENDPOINT_URL`); empty when that is not moto.
pub async fn published_alerts(endpoint: Option<&str>, topic_arn: &str) -> Vec<PublishedAlert> {
    let Some(endpoint) = endpoint
        .map(str::to_string)
        .or_else(onecount::aws::endpoint_url)
    else {
        return Vec::new();
    };
    let Ok(resp) = reqwest::get(format!("{endpoint}/moto-api/data.json")).await else {
        return Vec::new();
    };
    let data: serde_json::Value = resp.json().await.unwrap_or_default();
    let topics = data
        .pointer("/sns/Topic")
        .and_then(|t| t.as_array())
        .cloned()
        .unwrap_or_default();
    let Some(topic) = topics.iter().find(|t| t["arn"] == topic_arn) else {
        return Vec::new();
    };
    topic["sent_notifications"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .map(|n| {
                    let msg: serde_json::Value =
                        serde_json::from_str(n[1].as_str().unwrap_or("{}")).unwrap_or_default();
                    PublishedAlert {
                        subject: n[2].as_str().unwrap_or_default().to_string(),
                        body: msg["default"].as_str().unwrap_or_default().to_string(),
                        sms: msg["sms"].as_str().unwrap_or_default().to_string(),
                        attributes: n[3]
                            .as_object()
                            .map(|a| {
                                a.iter()
                                    .map(|(k, v)| {
                                        (
                                            k.clone(),
                                            v["Value"].as_str().unwrap_or_default().to_string(),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The whole timeline of each of `skus`, oldest first, read from the world's ledger.
async fn timelines(
    h: &LocalHost,
    skus: &[&str],
) -> Result<BTreeMap<String, Vec<onecount::domain::TimelineEntry>>> {
    let mut out = BTreeMap::new();
    for sku in skus {
        if out.contains_key(*sku) {
            continue;
        }
        let mut entries = h.store.timeline(&Sku::parse(*sku)?, 1_000).await?;
        entries.sort_by_key(|e| e.at);
        out.insert(sku.to_string(), entries);
    }
    Ok(out)
}
