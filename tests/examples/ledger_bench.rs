//! Ledger benchmark: sale records per second against moto at concurrency 1 and 16, and
//! DynamoDB HTTP requests per recorded line (counted on the wire by the SDK interceptor).
//! Prints numbers; asserts nothing about speed. Run with `make bench`.

use std::time::Instant;

use futures::StreamExt;
use onecount::aws::dynamo::DynamoStore;
use onecount::domain::{LineId, NewStock, OrderId, SaleOutcome};
use onecount::{Channel, OrderLine, Qty, Sku, StockLedger};
use onecount_tests::fresh_store;

struct Run {
    name: String,
    lines: usize,
    secs: f64,
    requests: u64,
    outcomes: String,
}

async fn run(store: &DynamoStore, name: &str, lines: Vec<OrderLine>, concurrency: usize) -> Run {
    let before = store.requests();
    let t = Instant::now();
    let outs: Vec<SaleOutcome> = futures::stream::iter(lines.iter())
        .map(|l| async move { store.record_sale(l).await.expect("record") })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let secs = t.elapsed().as_secs_f64();
    let mut counts = std::collections::BTreeMap::new();
    for o in &outs {
        *counts.entry(o.name()).or_insert(0) += 1;
    }
    Run {
        name: name.to_string(),
        lines: lines.len(),
        secs,
        requests: store.requests() - before,
        outcomes: counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn lines(prefix: &str, n: usize, skus: usize) -> Vec<OrderLine> {
    (0..n)
        .map(|i| OrderLine {
            channel: Channel::CONNECTED[i % 3],
            order: OrderId::parse(format!("{prefix}-{i}")).unwrap(),
            line: LineId::parse("1").unwrap(),
            sku: Sku::parse(format!("SKU-{}", i % skus)).unwrap(),
            qty: Qty::new(1).unwrap(),
            placed_at: None,
        })
        .collect()
}

/// A fresh table with 16 well-stocked SKUs and one at zero: moto copies a whole table
/// on every transaction, so each scenario gets its own small table.
async fn stocked() -> DynamoStore {
    let store = fresh_store("bench").await;
    for i in 0..16 {
        let sku = Sku::parse(format!("SKU-{i}")).unwrap();
        store
            .create_stock(&NewStock {
                sku,
                on_hand: 1_000_000,
                low_stock_threshold: 0,
            })
            .await
            .unwrap();
    }
    let short = Sku::parse("SHORT").unwrap();
    store
        .create_stock(&NewStock {
            sku: short,
            on_hand: 0,
            low_stock_threshold: 0,
        })
        .await
        .unwrap();
    store
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut runs = Vec::new();
    let store = stocked().await;
    run(&store, "warm-up", lines("warm", 20, 16), 4).await;
    runs.push(run(&store, "concurrency 1, one SKU", lines("c1", n, 1), 1).await);
    let store = stocked().await;
    runs.push(
        run(
            &store,
            "concurrency 16, one hot SKU",
            lines("hot", n, 1),
            16,
        )
        .await,
    );
    let store = stocked().await;
    runs.push(run(&store, "concurrency 16, 16 SKUs", lines("c16", n, 16), 16).await);
    runs.push(
        run(
            &store,
            "duplicates (same lines again), conc. 16",
            lines("c16", n, 16),
            16,
        )
        .await,
    );
    let store = stocked().await;
    let short = Sku::parse("SHORT").unwrap();
    let oversell: Vec<OrderLine> = lines("short", n, 1)
        .into_iter()
        .map(|mut l| {
            l.sku = short.clone();
            l
        })
        .collect();
    runs.push(run(&store, "oversold lines (stock 0), conc. 16", oversell, 16).await);

    // moto's floor: the cheapest request there is, at the same concurrency.
    let before = store.requests();
    let t = Instant::now();
    let hot = Sku::parse("SKU-0").unwrap();
    let reads: Vec<_> = futures::stream::iter(0..n)
        .map(|_| store.get_stock(&hot))
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(reads.iter().all(Result::is_ok));
    runs.push(Run {
        name: "moto floor: GetItem, conc. 16".into(),
        lines: n,
        secs: t.elapsed().as_secs_f64(),
        requests: store.requests() - before,
        outcomes: "reads".into(),
    });

    println!(
        "\nLedger benchmark against moto (requests serialised, loopback), {} cores, {n} lines per scenario",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<42} {:>6} {:>9} {:>10} {:>14}  outcomes",
        "scenario", "lines", "seconds", "lines/s", "requests/line"
    );
    for r in &runs {
        println!(
            "{:<42} {:>6} {:>9.2} {:>10.1} {:>14.2}  {}",
            r.name,
            r.lines,
            r.secs,
            r.lines as f64 / r.secs,
            r.requests as f64 / r.lines as f64,
            r.outcomes
        );
    }
}
