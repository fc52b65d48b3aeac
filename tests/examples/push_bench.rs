//! Push-path benchmark. Prints numbers; asserts nothing about speed. `make bench`.
//!
//! On the local stack (sandboxes → ingest → SQS → decrement → DynamoDB → push queues →
//! channel-push → sandbox write APIs, all AWS calls on moto):
//!
//! 1. steady sales across SKUs and channels: sale-to-all-channels latency (from the
//!    buyer's checkout on one channel until every channel shows the new count), p50/p95,
//!    per channel and overall; channel writes and DynamoDB requests per sale;
//! 2. the same at 10 sales/s, where moto (which applies one DynamoDB request at a time)
//!    saturates: the numbers show moto's ceiling, not onecount's;
//! 3. a burst of 100 sales of one SKU within a second: writes per sale per channel;
//! 4. (1) with Etsy throttled to 1 request/s; sales on Shopify and eBay only, since an
//!    Etsy sale's receipt fetch would share that one request per second.
//!
//! `BENCH_SALES=N` (default 120) and `BENCH_RATE=R` sales/s (default 4) tune (1) and (4).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use onecount::{Channel, ListingPolicy};
use onecount_local::LocalHost;
use onecount_sim::DeliveryKnobs;
use onecount_tests::stack::{self, ids};

const SKUS: u64 = 20;
const START_QTY: u32 = 500;

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn env(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Place one sale of 1 unit of catalog entry `i` on `ch`.
fn sell(h: &LocalHost, ch: Channel, i: u64) -> bool {
    let sb = h.sandboxes.as_ref().unwrap();
    let id = ids(i);
    let k = DeliveryKnobs::default();
    match ch {
        Channel::Shopify => sb
            .shopify
            .place_order(&onecount_sim::shopify::OrderReq {
                lines: vec![(id.variant, 1)],
                test: false,
                knobs: k,
            })
            .is_ok(),
        Channel::Etsy => sb
            .etsy
            .place_order(&onecount_sim::etsy::OrderReq {
                lines: vec![(id.listing, 1)],
                skus: vec![],
                knobs: k,
            })
            .is_ok(),
        _ => sb
            .ebay
            .place_order(&onecount_sim::ebay::OrderReq {
                lines: vec![(id.item, 1)],
                knobs: k,
            })
            .is_ok(),
    }
}

fn writes(h: &LocalHost) -> [usize; 3] {
    let sb = h.sandboxes.as_ref().unwrap();
    [
        sb.shopify.writes().len(),
        sb.etsy.writes().len(),
        sb.ebay.writes().len(),
    ]
}

/// One pending sale: which SKU, what every channel must show at most, when it was placed.
struct Pending {
    sku: u64,
    expect: i64,
    at: Instant,
    done: [Option<f64>; 3],
}

async fn steady(label: &str, rate: u64, etsy_qps: Option<u32>) {
    let sales = env("BENCH_SALES", 120);
    let channels: &[Channel] = if etsy_qps.is_some() {
        &[Channel::Shopify, Channel::Ebay]
    } else {
        &Channel::CONNECTED
    };
    let h = stack::start(|_| {}).await;
    for i in 0..SKUS {
        let p = ListingPolicy::default();
        stack::add_sku(
            &h,
            i,
            &format!("SKU-{i:03}"),
            START_QTY,
            5,
            [p.clone(), p.clone(), p],
            i64::from(START_QTY),
        )
        .await;
    }
    if let Some(q) = etsy_qps {
        h.sandboxes
            .as_ref()
            .unwrap()
            .etsy
            .set_limits(onecount_sim::etsy::Limits {
                per_second: q,
                per_day: 100_000,
            });
    }
    let h = Arc::new(h);
    let pending: Arc<Mutex<Vec<Pending>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Watch the sandboxes every 5 ms.
    let watcher = {
        let (h, pending, stop) = (h.clone(), pending.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut shows: BTreeMap<u64, [Option<i64>; 3]> = BTreeMap::new();
                {
                    let mut p = pending.lock().unwrap();
                    for s in p.iter_mut() {
                        let now = *shows
                            .entry(s.sku)
                            .or_insert_with(|| stack::shows(&h, s.sku));
                        for (done, q) in s.done.iter_mut().zip(now) {
                            if done.is_none() && q.is_some_and(|q| q <= s.expect) {
                                *done = Some(s.at.elapsed().as_secs_f64() * 1000.0);
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let before = writes(&h);
    let requests_before = h.store.requests();
    let mut sold: BTreeMap<u64, i64> = BTreeMap::new();
    let gap = Duration::from_micros(1_000_000 / rate);
    let t0 = Instant::now();
    for n in 0..sales {
        let sku = (n * 7) % SKUS;
        let ch = channels[(n % channels.len() as u64) as usize];
        let at = Instant::now();
        if sell(&h, ch, sku) {
            let c = sold.entry(sku).or_insert(0);
            *c += 1;
            pending.lock().unwrap().push(Pending {
                sku,
                expect: i64::from(START_QTY) - *c,
                at,
                done: [None; 3],
            });
        }
        tokio::time::sleep_until((t0 + gap * (n as u32 + 1)).into()).await;
    }
    // Until every sale is on every channel (or 120 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline
        && pending
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.done.iter().any(Option::is_none))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watcher.await;
    let after = writes(&h);
    let requests = h.store.requests() - requests_before;
    let p = pending.lock().unwrap();
    let total = p.len() as f64;
    let missing = p
        .iter()
        .filter(|s| s.done.iter().any(Option::is_none))
        .count();
    let mut all: Vec<f64> = p
        .iter()
        .filter_map(|s| {
            s.done
                .iter()
                .copied()
                .collect::<Option<Vec<f64>>>()
                .map(|v| v.into_iter().fold(0.0, f64::max))
        })
        .collect();
    let on: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
    println!(
        "\n{label}: {} sales at {rate}/s over {SKUS} SKUs, sold on {}",
        p.len(),
        on.join(", ")
    );
    println!(
        "  {:<22} {:>9} {:>9} {:>9} {:>14}",
        "channel", "p50 ms", "p95 ms", "max ms", "writes/sale"
    );
    for (k, ch) in Channel::CONNECTED.iter().enumerate() {
        let mut v: Vec<f64> = p.iter().filter_map(|s| s.done[k]).collect();
        let w = (after[k] - before[k]) as f64 / total;
        println!(
            "  {:<22} {:>9.0} {:>9.0} {:>9.0} {:>14.2}",
            ch.as_str(),
            pct(&mut v, 0.5),
            pct(&mut v, 0.95),
            pct(&mut v, 1.0),
            w
        );
    }
    let w: usize = (0..3).map(|k| after[k] - before[k]).sum();
    println!(
        "  {:<22} {:>9.0} {:>9.0} {:>9.0} {:>14.2}",
        "all channels",
        pct(&mut all, 0.5),
        pct(&mut all, 0.95),
        pct(&mut all, 1.0),
        w as f64 / total
    );
    println!(
        "  DynamoDB requests per sale (ingest, ledger, pushes): {:.1}",
        requests as f64 / total
    );
    if missing > 0 {
        println!("  {missing} sale(s) never reached every channel within 120 s");
    }
    if let Some(q) = etsy_qps {
        println!(
            "  Etsy limited to {q} request/s: {} calls refused with 429",
            h.sandboxes.as_ref().unwrap().etsy.rate_limited()
        );
    }
}

async fn burst() {
    let h = stack::start(|_| {}).await;
    let p = ListingPolicy::default();
    stack::add_sku(&h, 0, "HOT", 300, 5, [p.clone(), p.clone(), p], 300).await;
    let before = writes(&h);
    let t = Instant::now();
    for n in 0..100u64 {
        sell(&h, Channel::CONNECTED[(n % 3) as usize], 0);
        tokio::time::sleep_until((t + Duration::from_millis(10 * (n + 1))).into()).await;
    }
    let ok =
        onecount_tests::eventually(120, || async { stack::shows(&h, 0) == [Some(200); 3] }).await;
    let took = t.elapsed();
    let after = writes(&h);
    println!("\nburst: 100 sales of one SKU within 1 s, spread over the three channels");
    println!(
        "  all channels at 200: {} after {:.1} s",
        if ok { "yes" } else { "NO" },
        took.as_secs_f64()
    );
    for (k, ch) in Channel::CONNECTED.iter().enumerate() {
        let w = after[k] - before[k];
        println!(
            "  {:<8} {:>4} writes  ({:.2} per sale)",
            ch.as_str(),
            w,
            w as f64 / 100.0
        );
    }
    let w: usize = (0..3).map(|k| after[k] - before[k]).sum();
    println!(
        "  total    {w:>4} writes  ({:.2} per sale)",
        w as f64 / 100.0
    );
}

#[tokio::main]
async fn main() {
    println!("push-path benchmark (local stack on moto, sandboxes on loopback)");
    let rate = env("BENCH_RATE", 4).max(1);
    steady("healthy sandboxes", rate, None).await;
    steady("moto's ceiling", 10, None).await;
    burst().await;
    steady("Etsy throttled to 1 request/s", rate, Some(1)).await;
}
