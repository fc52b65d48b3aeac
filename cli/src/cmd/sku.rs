//! `onecount sku show SKU`: one screen for one SKU. The count, what each channel shows
//! right now (read live), what it should show and why, the last push per channel with
//! its latency, and what is open about it (alerts whose state is kept: a broken mapping,
//! a lagging listing, low stock, auto-pause, a channel disconnected or down).

use std::fmt::Write as _;

use anyhow::{Context, Result};
use serde::Serialize;

use onecount::aws::dynamo::DynamoStore;
use onecount::channels::push::ChannelApi;
use onecount::domain::Event;
use onecount::domain::push::{Listed, listed_why};
use onecount::ports::{
    ChannelHealth, EpisodeKind, PushStore, TimelineStore, listed_where_allotted,
};
use onecount::{Channel, Sku, StockLedger};

use super::{Reply, global_last_units, now_ms};
use crate::output;

#[derive(Serialize)]
struct ChannelRow {
    channel: Channel,
    refs: String,
    /// What the channel shows now (`None`: it could not be read; see `read_error`).
    shows: Option<i64>,
    read_error: Option<String>,
    should_show: u32,
    why: Vec<String>,
    in_sync: Option<bool>,
    last_push: Option<LastPush>,
}

#[derive(Serialize)]
struct LastPush {
    at: i64,
    qty: u32,
    wrote: bool,
    /// From the sale reaching onecount to the channel confirming.
    latency_ms: Option<i64>,
    cause: String,
}

#[derive(Serialize)]
struct Shown {
    sku: String,
    on_hand: u32,
    available: u32,
    version: u64,
    low_stock_threshold: u32,
    channels: Vec<ChannelRow>,
    open: Vec<String>,
}

pub async fn show(store: &DynamoStore, sku: &Sku) -> Result<Reply> {
    let stock = store
        .get_stock(sku)
        .await?
        .with_context(|| format!("unknown SKU '{sku}'"))?;
    let kits = super::channel_kits(store).await?;
    let now = now_ms();
    let timeline = store.timeline(sku, 500).await?;
    let mut rows = Vec::new();
    let mut open = Vec::new();
    let listed = listed_where_allotted(store, [&stock], global_last_units(), now).await?;
    let listed = listed.get(sku).cloned().unwrap_or_default();
    for ch in Channel::CONNECTED {
        let Some(v) = store
            .push_views(std::slice::from_ref(sku), ch)
            .await?
            .into_iter()
            .next()
        else {
            continue;
        };
        open.extend(open_on(store, &v, ch).await?);
        let api = kits.kit(ch).map(|k| k.api());
        rows.push(row(api, &v, (ch, &listed), &timeline, now).await);
    }
    if stock.guard.low_alerted {
        open.push(format!(
            "low stock: {} left, threshold {} (alerted)",
            stock.on_hand, stock.low_stock_threshold
        ));
    }
    if stock.guard.auto_paused {
        open.push("auto-paused: only the primary channel lists".into());
    }
    let shown = Shown {
        sku: sku.to_string(),
        on_hand: stock.on_hand,
        available: stock.available(now),
        version: stock.version,
        low_stock_threshold: stock.low_stock_threshold,
        channels: rows,
        open,
    };
    let text = text(&shown);
    Ok(Reply::new(&shown, text))
}

/// One channel's line: read live, what it should show and why, its last push.
async fn row(
    api: Result<std::sync::Arc<dyn ChannelApi>, onecount::channels::NotConfigured>,
    v: &onecount::ports::PushView,
    (ch, listed): (Channel, &Listed),
    timeline: &[onecount::domain::TimelineEntry],
    now: i64,
) -> ChannelRow {
    let policy = &v.listing.policy;
    let (should_show, why) = listed_why(&v.stock, policy, ch, global_last_units(), now, listed);
    let (shows, read_error) = match api {
        Ok(api) => match api.read(&[v.target()]).await.remove(0) {
            Ok(seen) => (Some(seen.qty), None),
            Err(e) => (None, Some(e.to_string())),
        },
        Err(e) => (None, Some(e.to_string())),
    };
    ChannelRow {
        channel: ch,
        refs: super::refs_text(&v.listing.refs),
        in_sync: shows.map(|s| s == i64::from(should_show)),
        shows,
        read_error,
        should_show,
        why,
        last_push: last_push(timeline, ch),
    }
}

/// What is open about the listing on `ch`: a broken mapping, a lagging alert, the
/// channel's episode.
async fn open_on(
    store: &DynamoStore,
    v: &onecount::ports::PushView,
    ch: Channel,
) -> Result<Vec<String>> {
    let mut open = Vec::new();
    if let Some(problem) = &v.broken {
        open.push(format!("{ch}: mapping broken, pushes stopped: {problem}"));
    }
    if v.lag_alerted {
        open.push(format!("{ch}: sync lagging (alerted)"));
    }
    if let Some(ep) = store.episode(ch).await? {
        open.push(format!(
            "{ch}: {} since {}: {}",
            match ep.kind {
                EpisodeKind::Auth => "disconnected",
                EpisodeKind::Down => "down",
            },
            output::time(ep.since),
            ep.error
        ));
    }
    Ok(open)
}

/// The channel's most recent confirmed push on the timeline.
fn last_push(timeline: &[onecount::domain::TimelineEntry], ch: Channel) -> Option<LastPush> {
    timeline.iter().rev().find_map(|e| match &e.event {
        Event::Pushed {
            channel,
            qty,
            wrote,
            latency_ms,
            cause,
            ..
        } if *channel == ch => Some(LastPush {
            at: e.at,
            qty: *qty,
            wrote: *wrote,
            latency_ms: *latency_ms,
            cause: cause.clone(),
        }),
        _ => None,
    })
}

fn text(s: &Shown) -> String {
    let mut out = format!(
        "{}: {} on hand, {} available to list (version {}, low-stock threshold {})\n",
        s.sku, s.on_hand, s.available, s.version, s.low_stock_threshold
    );
    let mut t = output::table(&["channel", "shows now", "should show", "why", "last push"]);
    for r in &s.channels {
        let shows = match (&r.shows, &r.read_error) {
            (Some(q), _) => format!(
                "{q}{}",
                if r.in_sync == Some(true) {
                    ""
                } else {
                    " (differs)"
                }
            ),
            (None, Some(e)) => format!("unreadable: {e}"),
            (None, None) => "?".into(),
        };
        let why = if r.why.is_empty() {
            "all of it".to_string()
        } else {
            r.why.join("; ")
        };
        let last = r.last_push.as_ref().map_or("never".to_string(), |p| {
            format!(
                "{} at {}{}",
                if p.wrote {
                    format!("set to {}", p.qty)
                } else {
                    format!("already {}", p.qty)
                },
                output::time(p.at),
                p.latency_ms
                    .map(|l| format!(", {l} ms after the sale"))
                    .unwrap_or_default()
            )
        });
        t.add_row(vec![
            format!("{} ({})", r.channel, r.refs),
            shows,
            r.should_show.to_string(),
            why,
            last,
        ]);
    }
    let _ = writeln!(out, "{t}");
    if s.open.is_empty() {
        out.push_str("Nothing open.\n");
    } else {
        out.push_str("Open:\n");
        for o in &s.open {
            let _ = writeln!(out, "  {o}");
        }
    }
    let _ = writeln!(
        out,
        "Everything that happened to it: onecount timeline {}",
        s.sku
    );
    out
}
