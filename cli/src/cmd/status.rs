//! `onecount status`: the whole shop on one screen — low stock, listings behind or
//! broken, dead letters, recent oversells — each with what to do.

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::json;

use onecount::Channel;
use onecount::aws::dynamo::DynamoStore;
use onecount::aws::sqs::depth;
use onecount::domain::ops::{self, ListingState};
use onecount::domain::push::listed_for;
use onecount::domain::{StockItem, TimelineEntry};
use onecount::ports::{ChannelHealth, Episode, EpisodeKind, StockLedger, listed_where_allotted};

use super::dlq::{queue_label, queues};
use super::{Reply, all_views, global_last_units, now_ms};
use crate::output;

pub async fn run(store: &DynamoStore, lag_secs: u64, stuck_secs: u64) -> Result<Reply> {
    let now = now_ms();
    let stocks = all_stock(store).await?;
    let low: Vec<&StockItem> = stocks
        .iter()
        .filter(|s| s.on_hand <= s.low_stock_threshold)
        .collect();
    let (listings, behind) = behind(store, now, (lag_secs, stuck_secs)).await?;
    let dlqs = dlq_depths().await?;
    let week = now - 7 * 86_400_000;
    let oversold_lines = store.oversell_count(week).await?;
    let oversells = store.oversells(week, LATEST_OVERSELLS).await?;
    let episodes = episodes(store).await?;
    let value = json!({
        "skus": stocks.len(), "listings": listings,
        "channels": Channel::CONNECTED.iter().map(|ch| {
            let ep = episodes.iter().find(|e| e.channel == *ch);
            json!({"channel": ch, "state": ep.map_or("connected", |e| state_of(e.kind)),
                   "since": ep.map(|e| e.since), "error": ep.map(|e| e.error.clone()),
                   "waiting_skus": ep.map_or(0, |e| e.waiting.len())})
        }).collect::<Vec<_>>(),
        "low_stock": low.iter().map(|s| json!({"sku": s.sku, "on_hand": s.on_hand, "threshold": s.low_stock_threshold})).collect::<Vec<_>>(),
        "listings_behind": behind.iter().map(|(sku, ch, t, st)| json!({"sku": sku, "channel": ch, "expected": t, "state": st})).collect::<Vec<_>>(),
        "dlq": dlqs.iter().map(|(q, d)| json!({"queue": q, "depth": d})).collect::<Vec<_>>(),
        "oversells_7d": oversold_lines,
        "recent_oversells": oversells.iter().filter_map(|e| {
            let (line, short) = e.event.oversold()?;
            Some(json!({"sku": e.sku, "at": e.at, "channel": line.channel, "order": line.order, "short": short}))
        }).collect::<Vec<_>>(),
    });
    let mut out = format!(
        "{} SKUs, {listings} listings — {} low on stock, {} listing(s) behind or broken, {oversold_lines} oversold order line(s) in the last 7 days\n",
        stocks.len(),
        low.len(),
        behind.len(),
    );
    out.push_str(&episodes_text(&episodes, now));
    out.push_str(&low_text(&low));
    out.push_str(&behind_text(&behind));
    out.push_str(&dlq_text(&dlqs));
    out.push_str(&oversells_text(&oversells, oversold_lines));
    Ok(Reply::new(&value, out))
}

/// The channels in an episode (refused credentials, or down).
async fn episodes(store: &DynamoStore) -> Result<Vec<Episode>> {
    let mut out = Vec::new();
    for ch in Channel::CONNECTED {
        if let Some(e) = store.episode(ch).await? {
            out.push(e);
        }
    }
    Ok(out)
}

fn state_of(kind: EpisodeKind) -> &'static str {
    match kind {
        EpisodeKind::Auth => "disconnected",
        EpisodeKind::Down => "down",
    }
}

fn episodes_text(episodes: &[Episode], now: i64) -> String {
    let mut out = String::new();
    if !episodes.is_empty() {
        let mut t = output::table(&["channel", "state", "for", "SKUs waiting", "last error"]);
        for e in episodes {
            t.add_row(vec![
                e.channel.to_string(),
                state_of(e.kind).to_string(),
                format!("{} min", (now - e.since).max(0) / 60_000),
                e.waiting.len().to_string(),
                e.error.chars().take(80).collect(),
            ]);
        }
        let _ = writeln!(out, "\n{t}");
        for e in episodes {
            let _ = match e.kind {
                EpisodeKind::Auth => writeln!(
                    out,
                    "{0} refuses onecount's credentials: run `onecount connect {0}`. Its pushes and orders wait meanwhile.",
                    e.channel
                ),
                EpisodeKind::Down => writeln!(
                    out,
                    "{0}'s API keeps failing: check its status page; pushes wait and catch up when it answers.",
                    e.channel
                ),
            };
        }
    }
    out
}

async fn all_stock(store: &DynamoStore) -> Result<Vec<StockItem>> {
    let mut stocks = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_stock(after.as_deref(), 100).await?;
        stocks.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(stocks),
        }
    }
}

type Behind = (String, Channel, u32, ListingState);

/// How many listings there are, and those behind or broken.
async fn behind(
    store: &DynamoStore,
    now: i64,
    (lag_secs, stuck_secs): (u64, u64),
) -> Result<(usize, Vec<Behind>)> {
    let last_units = global_last_units();
    let mut behind = Vec::new();
    let mut listings = 0;
    for ch in Channel::CONNECTED {
        let views = all_views(store, ch).await?;
        let stocks = views.iter().map(|v| &v.stock);
        let listed = listed_where_allotted(store, stocks, last_units, now).await?;
        for v in views {
            listings += 1;
            let elsewhere = listed.get(&v.stock.sku).cloned().unwrap_or_default();
            let policy = &v.listing.policy;
            let target = listed_for(&v.stock, policy, ch, last_units, now, &elsewhere);
            let st = ops::listing_state(
                &v.stock,
                v.record.as_ref(),
                v.broken.as_deref(),
                target,
                now,
                lag_secs as i64 * 1000,
                stuck_secs as i64 * 1000,
            );
            if !matches!(st, ListingState::InSync | ListingState::Pending { .. }) {
                behind.push((v.stock.sku.to_string(), ch, target, st));
            }
        }
    }
    Ok((listings, behind))
}

/// Each dead-letter queue's depth (`None`: not configured here).
async fn dlq_depths() -> Result<Vec<(String, Option<i64>)>> {
    let sdk = onecount::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut dlqs = Vec::new();
    for q in queues(None) {
        let depth = match &q.dlq {
            Some(u) => Some(depth(&sqs, u).await?),
            None => None,
        };
        dlqs.push((queue_label(q.name), depth));
    }
    Ok(dlqs)
}

fn low_text(low: &[&StockItem]) -> String {
    let mut out = String::new();
    if !low.is_empty() {
        let mut t = output::table(&["low stock", "on hand", "threshold"]);
        for s in low.iter().take(15) {
            t.add_row(vec![
                s.sku.to_string(),
                s.on_hand.to_string(),
                s.low_stock_threshold.to_string(),
            ]);
        }
        let _ = writeln!(out, "{t}");
        if low.len() > 15 {
            let _ = writeln!(out, "… and {} more (`onecount stock list`)", low.len() - 15);
        }
    }
    out
}

fn behind_text(behind: &[Behind]) -> String {
    let mut out = String::new();
    if !behind.is_empty() {
        let mut t = output::table(&["listing behind", "channel", "should list", "state"]);
        for (sku, ch, target, st) in behind.iter().take(15) {
            let state = match st {
                ListingState::Lagging { behind_ms } => format!("lagging {}", ago(*behind_ms)),
                ListingState::Stuck { behind_ms } => format!("STUCK {}", ago(*behind_ms)),
                ListingState::Broken { problem } => format!("BROKEN: {problem}"),
                _ => String::new(),
            };
            t.add_row(vec![sku.clone(), ch.to_string(), target.to_string(), state]);
        }
        let _ = writeln!(out, "{t}");
        let _ = writeln!(
            out,
            "Stuck: check `onecount dlq list` and the channel's status. Broken: `onecount listings verify`."
        );
    }
    out
}

fn dlq_text(dlqs: &[(String, Option<i64>)]) -> String {
    let mut out = String::new();
    let mut t = output::table(&["dead-letter queue", "messages"]);
    for (q, d) in dlqs {
        t.add_row(vec![
            q.to_string(),
            d.map_or("not configured".into(), |d| d.to_string()),
        ]);
    }
    let _ = writeln!(out, "{t}");
    out
}

/// Oversells shown one by one (the count above is of all of them).
const LATEST_OVERSELLS: usize = 10;

fn oversells_text(oversells: &[TimelineEntry], total: usize) -> String {
    let mut out = String::new();
    if !oversells.is_empty() {
        let mut t = output::table(&["recent oversell", "when", "channel", "order", "short"]);
        for e in oversells {
            let Some((line, short)) = e.event.oversold() else {
                continue;
            };
            t.add_row(vec![
                e.sku.to_string(),
                output::time(e.at),
                line.channel.to_string(),
                line.order.to_string(),
                short.to_string(),
            ]);
        }
        let _ = writeln!(out, "{t}");
        if total > oversells.len() {
            let _ = writeln!(
                out,
                "(the latest {} of {total}; each SKU's `onecount timeline SKU` has them all)",
                oversells.len()
            );
        }
        let _ = writeln!(
            out,
            "Cancel or back-order those orders; `onecount oversell-cost` says what they cost."
        );
    }
    out
}

fn ago(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ => format!("{:.1} h", s as f64 / 3600.0),
    }
}
