//! Drift-check benchmark. Prints numbers; asserts nothing about speed. `make bench`.
//!
//! One drift-check run over `BENCH_LISTINGS` listings (default 10,000: a third per
//! channel) on the local stack against the sandboxes, with a few hand edits on Etsy and a
//! few eBay listings deleted: wall time, channel API calls (batched reads), DynamoDB
//! requests.

use std::time::Instant;

use onecount::ListingPolicy;
use onecount_tests::stack::{self, ids};

#[tokio::main]
async fn main() {
    let listings: u64 = std::env::var("BENCH_LISTINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let skus = listings.div_ceil(3);
    println!(
        "drift-check benchmark: {skus} SKUs x 3 channels = {} listings",
        skus * 3
    );
    // One run over everything: the budget is raised past moto's slow index queries (a
    // deployed run stops at its budget and resumes from a cursor).
    let h = stack::start(|c| {
        c.push_concurrency.clear();
        c.drift.budget = std::time::Duration::from_secs(1800);
    })
    .await;
    let t = Instant::now();
    let p = ListingPolicy::default();
    for i in 0..skus {
        stack::add_sku(
            &h,
            i,
            &format!("SKU-{i:05}"),
            40,
            2,
            [p.clone(), p.clone(), p.clone()],
            40,
        )
        .await;
        if i % 500 == 499 {
            eprintln!(
                "  set up {} SKUs ({:.0} s)",
                i + 1,
                t.elapsed().as_secs_f64()
            );
        }
    }
    println!("setup: {:.1} s", t.elapsed().as_secs_f64());
    let sb = h.sandboxes.as_ref().unwrap();
    for i in (0..skus).step_by((skus / 50).max(1) as usize) {
        sb.etsy.set_quantity(ids(i).listing, 45);
    }
    for i in (0..skus).step_by((skus / 5).max(1) as usize).skip(1) {
        sb.ebay.remove_listing(ids(i).item);
    }
    let calls_before: Vec<u64> = h.drift.channels.iter().map(|c| c.api.calls()).collect();
    let req_before = h.store.requests();
    let t = Instant::now();
    let r = h.drift.run().await;
    let wall = t.elapsed();
    let requests = h.store.requests() - req_before;
    let calls: Vec<u64> = h
        .drift
        .channels
        .iter()
        .zip(&calls_before)
        .map(|(c, b)| c.api.calls() - b)
        .collect();
    println!(
        "\none run: {:.1} s wall, complete: {}",
        wall.as_secs_f64(),
        r.complete
    );
    println!(
        "  listings {}: in sync {}, pending {}, stuck {}, drift {}, mismatch {}",
        r.listings, r.in_sync, r.pending, r.stuck, r.drift, r.mismatch
    );
    println!(
        "  channel API calls: {} (shopify {}, etsy {}, ebay {}) = {:.3} per listing",
        r.channel_calls,
        calls[0],
        calls[1],
        calls[2],
        r.channel_calls as f64 / r.listings.max(1) as f64
    );
    println!(
        "  DynamoDB requests: {requests} = {:.3} per listing (listing pages, batched stock and listing reads, checkpoints, findings)",
        requests as f64 / r.listings.max(1) as f64
    );
    println!("  alerts sent: {}; errors: {}", r.alerts, r.errors.len());
    for e in r.errors.iter().take(5) {
        println!("    error: {e}");
    }
}
