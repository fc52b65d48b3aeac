//! Discovery benchmark (issue #20). Prints numbers; asserts nothing about speed.
//! `make bench`.
//!
//! Sandboxes holding `BENCH_LISTINGS` listings (default 5,000) over Shopify, Etsy and eBay
//! with `BENCH_PROBLEMS` planted problems (default 50) of six kinds: the catalog read
//! (wall time, API calls and the rate each channel saw against its limit), the match,
//! every planted problem looked for in the plan, the apply, and a re-run.

use std::time::Instant;

use onecount::discovery;
use onecount::domain::discover::{self, CountsFrom};
use onecount_tests::stack;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let (listings, problems) = (env("BENCH_LISTINGS", 5_000), env("BENCH_PROBLEMS", 50));
    let h = stack::start(|c| c.push_concurrency.clear()).await;
    let sb = h.sandboxes.as_ref().expect("sandboxes");
    let stocked = onecount_sim::catalog::stock(sb, listings, problems, 7);
    println!(
        "discovery benchmark: {} listings over 3 channels, {} planted problems, {} clean SKUs",
        stocked.listings,
        stocked.planted.len(),
        stocked.clean.len()
    );
    let start = Instant::now();
    let t = Instant::now();
    let read = discovery::read_catalogs(&h.apis, &|_, _| {}).await;
    let read_s = t.elapsed().as_secs_f64();
    println!("read: {read_s:.1} s");
    println!("  channel   listings  calls  seconds  the channel's limit");
    for r in &read.reads {
        let limit = match r.channel.as_str() {
            "shopify" => "cost bucket, 100 points/s (Standard plan; 502 a page)",
            "etsy" => "10 calls a wall-clock second",
            _ => "Trading 300 calls per 15 s",
        };
        println!(
            "  {:<8} {:>9} {:>6} {:>8.1}  {limit}{}",
            r.channel.as_str(),
            r.listings,
            r.calls,
            r.seconds,
            r.error
                .as_deref()
                .map(|e| format!("  ERROR {e}"))
                .unwrap_or_default()
        );
    }
    let throttled = (sb.shopify.api_calls().1, sb.etsy.rate_limited());
    println!(
        "  refused for rate: shopify {} (THROTTLED), etsy {} (429)",
        throttled.0, throttled.1
    );
    let t = Instant::now();
    let rows = discover::plan(read.found);
    let value = serde_json::to_value(&rows).expect("rows as JSON");
    let rows_json = value.as_array().expect("an array");
    let missed: Vec<_> = stocked
        .planted
        .iter()
        .filter(|(k, about)| !onecount_tests::reported(rows_json, k, about))
        .collect();
    let kinds = discover::kinds(&rows);
    println!(
        "match: {:.2} s; rows by kind {kinds:?}; planted problems reported {}/{}{}",
        t.elapsed().as_secs_f64(),
        stocked.planted.len() - missed.len(),
        stocked.planted.len(),
        if missed.is_empty() {
            String::new()
        } else {
            format!(" MISSED {missed:?}")
        }
    );
    let t = Instant::now();
    let applied = discovery::apply(
        &h.store,
        discover::import_rows(&rows, CountsFrom::Lowest, 2),
        false,
        |_| {},
    )
    .await
    .expect("apply");
    println!(
        "apply: {:.1} s; {} listings mapped, {} SKUs created, {} bad",
        t.elapsed().as_secs_f64(),
        applied.listings,
        applied.created_skus,
        applied.bad.len()
    );
    let again = discovery::apply(
        &h.store,
        discover::import_rows(&rows, CountsFrom::Lowest, 2),
        true,
        |_| {},
    )
    .await
    .expect("re-run");
    println!(
        "re-run: {} listings to write, {} SKUs to create, {} unchanged",
        again.listings, again.created_skus, again.unchanged
    );
    println!(
        "total (read, match, apply, re-run): {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
