//! `onecount listings verify`: read every listing from its channel and say which ones
//! onecount cannot push to, before a sale finds out.

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::json;

use onecount::Channel;
use onecount::aws::dynamo::DynamoStore;
use onecount::channels::push::{ChannelApi, PushError, Seen, Target};
use onecount::domain::push::listed_for;
use onecount::ports::{PushView, listed_where_allotted};

use super::{Reply, all_views, global_last_units, now_ms};
use crate::output::{self, Bar};

#[derive(serde::Serialize)]
struct Checked {
    sku: String,
    channel: Channel,
    refs: String,
    status: &'static str,
    shows: Option<i64>,
    expected: u32,
    detail: String,
}

pub async fn run(store: &DynamoStore, only: Option<Channel>) -> Result<Reply> {
    let kits = super::channel_kits(store).await?;
    let mut rows: Vec<Checked> = Vec::new();
    let mut cautions: Vec<(Channel, String)> = Vec::new();
    let last_units = global_last_units();
    for api in kits.kits().map(|k| k.api()) {
        if only.is_none_or(|c| c == api.channel()) {
            let (checked, said) = check(store, api.as_ref(), last_units).await?;
            rows.extend(checked);
            cautions.extend(said.into_iter().map(|c| (api.channel(), c)));
        }
    }
    let problems: Vec<&Checked> = rows
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                "mismatch" | "broken" | "unreadable" | "disconnected"
            )
        })
        .collect();
    let value = json!({"checked": rows.len(), "problems": problems.len(), "listings": rows,
        "cautions": cautions.iter().map(|(ch, c)| json!({"channel": ch, "caution": c})).collect::<Vec<_>>()});
    let code = u8::from(!problems.is_empty());
    let mut text = verify_text(&rows, &problems);
    for (ch, c) in &cautions {
        let _ = writeln!(text, "{ch}: {c}");
    }
    Ok(Reply::new(&value, text).code(code))
}

/// Read every listing of one channel and compare it with what onecount lists; and what
/// the channel says about the seller's account (its cautions).
async fn check(
    store: &DynamoStore,
    api: &dyn ChannelApi,
    last_units: Option<u32>,
) -> Result<(Vec<Checked>, Vec<String>)> {
    let ch = api.channel();
    let mut rows = Vec::new();
    let views = all_views(store, ch).await?;
    let stocks = views.iter().map(|v| &v.stock);
    let listed = listed_where_allotted(store, stocks, last_units, now_ms()).await?;
    let all: Vec<Target> = views.iter().map(PushView::target).collect();
    let cautions = api.cautions(&all).await;
    let bar = Bar::new(&format!("checking {ch}"), views.len());
    let mut done = 0;
    for chunk in views.chunks(api.read_batch().max(1)) {
        let targets: Vec<Target> = chunk.iter().map(PushView::target).collect();
        for (v, r) in chunk.iter().zip(api.read(&targets).await) {
            let elsewhere = listed.get(&v.stock.sku).cloned().unwrap_or_default();
            let policy = &v.listing.policy;
            let expected = listed_for(&v.stock, policy, ch, last_units, now_ms(), &elsewhere);
            rows.push(checked(v, ch, r, expected));
        }
        done += chunk.len();
        bar.set(done);
    }
    Ok((rows, cautions))
}

fn checked(v: &PushView, ch: Channel, r: Result<Seen, PushError>, expected: u32) -> Checked {
    let (status, shows, detail) = match r {
        Ok(s) if s.qty == i64::from(expected) => ("ok", Some(s.qty), String::new()),
        Ok(s) => (
            "drift",
            Some(s.qty),
            format!("shows {}, onecount lists {expected}", s.qty),
        ),
        Err(PushError::Mismatch(d)) => ("mismatch", None, d),
        Err(PushError::Permanent(d)) => ("broken", None, d),
        Err(PushError::Unauthorized(d)) => (
            "disconnected",
            None,
            format!("{d}; run `onecount connect {ch}`"),
        ),
        Err(e) => ("unreadable", None, e.to_string()),
    };
    Checked {
        sku: v.stock.sku.to_string(),
        channel: ch,
        refs: super::refs_text(&v.listing.refs),
        status,
        shows,
        expected,
        detail,
    }
}

fn verify_text(rows: &[Checked], problems: &[&Checked]) -> String {
    let mut out = String::new();
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    let _ = writeln!(
        out,
        "{} listing(s) checked: {} ok, {} showing another quantity (the drift check corrects these), {} mismatched, {} broken, {} unreadable, {} on a disconnected channel",
        rows.len(),
        count("ok"),
        count("drift"),
        count("mismatch"),
        count("broken"),
        count("unreadable"),
        count("disconnected")
    );
    if !problems.is_empty() {
        let mut t = output::table(&["SKU", "channel", "refs", "problem", "detail"]);
        for r in problems {
            t.add_row(vec![
                r.sku.clone(),
                r.channel.to_string(),
                r.refs.clone(),
                r.status.to_string(),
                r.detail.clone(),
            ]);
        }
        let _ = writeln!(
            out,
            "{t}\nFix each mapping with `onecount listings set --sku SKU --channel C --ref kind:id` (or relist it on the channel); until then onecount does not push to it."
        );
    }
    out
}
