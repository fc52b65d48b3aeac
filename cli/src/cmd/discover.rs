//! `onecount listings discover`: read every connected channel's catalog, match the
//! listings by SKU, say what was found, and (with `--apply`) map the clean part.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use serde_json::json;

use onecount::Channel;
use onecount::aws::dynamo::DynamoStore;
use onecount::discovery::{self, Applied, Catalogs};
use onecount::domain::discover::{self, CountsFrom, PlanRow};

use super::Reply;
use crate::output::{self, Bar, Tally};

/// Problem rows printed; the plan file holds them all.
const SHOWN: usize = 25;

/// What the command was asked.
pub struct Ask {
    pub only: Option<Channel>,
    pub out: Option<std::path::PathBuf>,
    pub apply: bool,
    pub counts_from: Option<Channel>,
    pub threshold: u32,
}

pub async fn run(store: &DynamoStore, ask: Ask) -> Result<Reply> {
    let kits = super::channel_kits(store).await?;
    let apis: Vec<_> = kits
        .kits()
        .map(|k| k.api())
        .filter(|a| ask.only.is_none_or(|c| c == a.channel()))
        .collect();
    if apis.is_empty() {
        bail!(
            "no channel to read: connect one first (onecount connect {}){}",
            Channel::CONNECTED.map(|c| c.as_str()).join("|"),
            ask.only
                .map(|c| format!(", or {c} is not configured"))
                .unwrap_or_default()
        );
    }
    if let (Some(c), true, None) = (ask.only, ask.apply, ask.counts_from) {
        bail!(
            "--channel {c} --apply would start every new SKU at {c}'s quantity, unchecked against the other channels: discover every channel, or say --counts-from {c}"
        );
    }
    let tally = Tally::new("reading catalogs");
    let catalogs = discovery::read_catalogs(&apis, &|ch, n| tally.set(ch.as_str(), n)).await;
    tally.finish();
    let from = ask
        .counts_from
        .map_or(CountsFrom::Lowest, CountsFrom::Channel);
    let rows = discover::plan(catalogs.found.clone());
    if let Some(path) = &ask.out {
        std::fs::write(path, discover::plan_csv(&rows, from, ask.threshold))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let failed = catalogs.failed();
    if ask.apply && !failed.is_empty() {
        bail!(
            "not applied: {} could not be read ({}). Its listings would be missing from the match; fix it, or discover the others with --channel",
            failed[0].0,
            failed[0].1
        );
    }
    let bar = Bar::new("mapping", rows.iter().map(|r| r.listings.len()).sum());
    let write = discover::import_rows(&rows, from, ask.threshold);
    let applied = discovery::apply(store, write, !ask.apply, |n| bar.set(n)).await?;
    let value = json!({
        "channels": catalogs.reads,
        "findings": discover::kinds(&rows),
        "applied": applied,
        "plan": ask.out.as_ref().map(|p| p.display().to_string()),
        "rows": rows,
    });
    let text = text(&catalogs, &rows, &applied, ask.out.as_deref());
    let code = u8::from(!failed.is_empty() || !applied.bad.is_empty());
    Ok(Reply::new(&value, text).code(code))
}

fn text(c: &Catalogs, rows: &[PlanRow], a: &Applied, out: Option<&std::path::Path>) -> String {
    let mut s = String::new();
    let mut t = output::table(&["channel", "listings", "API calls", "seconds", "read"]);
    for r in &c.reads {
        t.add_row(vec![
            r.channel.to_string(),
            r.listings.to_string(),
            r.calls.to_string(),
            format!("{:.1}", r.seconds),
            r.error.clone().unwrap_or_else(|| "ok".into()),
        ]);
    }
    let _ = writeln!(s, "{t}");
    let mut t = output::table(&["finding", "SKUs / listings", "applies"]);
    for (kind, n) in discover::kinds(rows) {
        let applies = rows
            .iter()
            .find(|r| r.finding.kind() == kind)
            .is_some_and(|r| r.finding.applies());
        t.add_row(vec![
            kind.to_string(),
            n.to_string(),
            if applies { "yes" } else { "no: fix first" }.to_string(),
        ]);
    }
    let _ = writeln!(s, "{t}");
    let problems: Vec<&PlanRow> = rows
        .iter()
        .filter(|r| !matches!(r.finding, discover::Finding::Matched { .. }))
        .collect();
    if !problems.is_empty() {
        let mut t = output::table(&["SKU", "listings", "what was found"]);
        for r in problems.iter().take(SHOWN) {
            let on: Vec<String> = r
                .listings
                .iter()
                .map(|l| format!("{} {}", l.channel, super::refs_text(&l.refs)))
                .collect();
            t.add_row(vec![
                r.sku.clone().unwrap_or_else(|| "(none)".into()),
                on.join("\n"),
                r.finding.says(),
            ]);
        }
        let more = problems.len().saturating_sub(SHOWN);
        let _ = writeln!(
            s,
            "{t}{}",
            if more > 0 {
                format!("\n… and {more} more: see the plan file (--out plan.csv) or --json")
            } else {
                String::new()
            }
        );
    }
    if let Some(p) = out {
        let _ = writeln!(s, "plan written to {}", p.display());
    }
    let _ = writeln!(s, "{}", applied_text(a));
    s
}

fn applied_text(a: &Applied) -> String {
    let mut s = if a.dry_run {
        format!(
            "dry run: --apply would map {} listing(s) and create {} SKU(s); {} already mapped",
            a.listings, a.created_skus, a.unchanged
        )
    } else {
        format!(
            "mapped {} listing(s), created {} SKU(s) (each count's source is on its timeline); {} already mapped",
            a.listings, a.created_skus, a.unchanged
        )
    };
    for b in &a.bad {
        let _ = write!(s, "\nplan line {}: {}", b.line, b.reason);
    }
    s
}
