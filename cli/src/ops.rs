//! The operator's commands: listings import/verify, status, dlq, pause/resume,
//! oversell-cost. Thin: the checks and the arithmetic live in `onecount::domain`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::json;

use onecount::aws::dynamo::DynamoStore;
use onecount::channels::push::{PushError, Target};
use onecount::domain::import::{self, BadRow};
use onecount::domain::ops::{self, CostModel, ListingState, Oversold};
use onecount::domain::push::listed_for;
use onecount::ports::{DriftStore, ListingStore, PushView, StockLedger};
use onecount::{Channel, Sku};

use crate::args::{CostArgs, DlqCmd, QueueName};
use crate::output::{self, Bar};

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn ago(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ => format!("{:.1} h", s as f64 / 3600.0),
    }
}

/// The global last-unit level the deployment runs with (for expected quantities).
fn global_last_units() -> Option<u32> {
    std::env::var("ONECOUNT_LAST_UNIT_LEVEL")
        .ok()
        .and_then(|v| v.parse().ok())
}

// ----- listings import -------------------------------------------------------------

/// Exit status when some rows were bad (the good ones are in).
pub const SOME_ROWS_BAD: u8 = 3;

pub async fn import(
    store: &DynamoStore,
    file: &std::path::Path,
    dry_run: bool,
    json: bool,
) -> Result<u8> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed =
        import::parse_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let rows = parsed.rows.len() + parsed.bad.len();
    let existing = store.import_context(&parsed.rows).await?;
    let mut plan = import::plan(parsed.rows, &existing);
    plan.bad.extend(parsed.bad);
    plan.bad.sort_by_key(|b| b.line);
    let mut failed: Vec<BadRow> = Vec::new();
    let (mut written, mut created) = (0, 0);
    if !dry_run && !plan.write.is_empty() {
        let bar = Bar::new("importing", plan.write.len());
        let out = store.import_listings(&plan, |n| bar.set(n)).await?;
        written = out.written;
        created = out.created_skus;
        failed = out.failed;
    }
    let bad: Vec<&BadRow> = plan.bad.iter().chain(&failed).collect();
    if json {
        output::json(&json!({
            "file": file.display().to_string(), "rows": rows, "dry_run": dry_run,
            "to_write": plan.write.len(), "written": written, "created_skus": created,
            "unchanged": plan.unchanged.len(), "bad": bad,
        }));
    } else {
        let verb = if dry_run { "would write" } else { "wrote" };
        let n = if dry_run { plan.write.len() } else { written };
        println!(
            "{}: {rows} rows — {verb} {n} listing(s){}, {} unchanged, {} bad",
            file.display(),
            if created > 0 || (dry_run && !plan.create.is_empty()) {
                format!(
                    " and created {} SKU(s)",
                    if dry_run { plan.create.len() } else { created }
                )
            } else {
                String::new()
            },
            plan.unchanged.len(),
            bad.len()
        );
        if !bad.is_empty() {
            let mut t = table(&["line", "why it was left out"]);
            for b in &bad {
                t.add_row(vec![b.line.to_string(), b.reason.clone()]);
            }
            println!("{t}");
            println!(
                "Fix those lines and run the import again: rows already in are left as they are."
            );
        }
        if !dry_run && written > 0 {
            println!(
                "New quantities reach the channels with the next sale or drift check (or `onecount push SKU`)."
            );
        }
    }
    Ok(if bad.is_empty() { 0 } else { SOME_ROWS_BAD })
}

// ----- listings verify -------------------------------------------------------------

async fn all_views(store: &DynamoStore, channel: Channel) -> Result<Vec<PushView>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.listing_views(channel, after.as_deref(), 100).await?;
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

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

pub async fn verify(store: &DynamoStore, only: Option<Channel>, json: bool) -> Result<u8> {
    let sdk = onecount::aws::load_sdk_config().await;
    let cfg = onecount::channels::ChannelsConfig::load(&sdk)
        .await
        .map_err(anyhow::Error::msg)?;
    let kits = onecount::channels::build(&cfg).map_err(anyhow::Error::msg)?;
    let mut rows: Vec<Checked> = Vec::new();
    let last_units = global_last_units();
    for api in kits.kits().map(|k| k.api()) {
        let ch = api.channel();
        if only.is_some_and(|c| c != ch) {
            continue;
        }
        let views = all_views(store, ch).await?;
        let bar = Bar::new(&format!("checking {ch}"), views.len());
        let mut done = 0;
        for chunk in views.chunks(api.read_batch().max(1)) {
            let targets: Vec<Target> = chunk
                .iter()
                .map(|v| Target {
                    sku: v.stock.sku.clone(),
                    refs: v.listing.refs.clone(),
                })
                .collect();
            for (v, r) in chunk.iter().zip(api.read(&targets).await) {
                let expected = listed_for(&v.stock, &v.listing.policy, ch, last_units, now_ms());
                let (status, shows, detail) = match r {
                    Ok(s) if s.qty == i64::from(expected) => ("ok", Some(s.qty), String::new()),
                    Ok(s) => (
                        "drift",
                        Some(s.qty),
                        format!("shows {}, onecount lists {expected}", s.qty),
                    ),
                    Err(PushError::Mismatch(d)) => ("mismatch", None, d),
                    Err(PushError::Permanent(d)) => ("broken", None, d),
                    Err(e) => ("unreadable", None, e.to_string()),
                };
                rows.push(Checked {
                    sku: v.stock.sku.to_string(),
                    channel: ch,
                    refs: v
                        .listing
                        .refs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                    status,
                    shows,
                    expected,
                    detail,
                });
            }
            done += chunk.len();
            bar.set(done);
        }
    }
    let problems: Vec<&Checked> = rows
        .iter()
        .filter(|r| matches!(r.status, "mismatch" | "broken" | "unreadable"))
        .collect();
    if json {
        output::json(&json!({"checked": rows.len(), "problems": problems.len(), "listings": rows}));
    } else {
        let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
        println!(
            "{} listing(s) checked: {} ok, {} showing another quantity (the drift check corrects these), {} mismatched, {} broken, {} unreadable",
            rows.len(),
            count("ok"),
            count("drift"),
            count("mismatch"),
            count("broken"),
            count("unreadable")
        );
        if !problems.is_empty() {
            let mut t = table(&["SKU", "channel", "refs", "problem", "detail"]);
            for r in &problems {
                t.add_row(vec![
                    r.sku.clone(),
                    r.channel.to_string(),
                    r.refs.clone(),
                    r.status.to_string(),
                    r.detail.clone(),
                ]);
            }
            println!("{t}");
            println!(
                "Fix each mapping with `onecount listings set --sku SKU --channel C --ref kind:id` (or relist it on the channel); until then onecount does not push to it."
            );
        }
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}

// ----- queues ----------------------------------------------------------------------

struct QueuePair {
    name: QueueName,
    queue: Option<String>,
    dlq: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn queues(only: Option<QueueName>) -> Vec<QueuePair> {
    QueueName::all()
        .into_iter()
        .filter(|n| only.is_none_or(|o| o == *n))
        .map(|name| {
            let (q, d) = name.env();
            QueuePair {
                name,
                queue: env(&q),
                dlq: env(&d),
            }
        })
        .collect()
}

fn queue_label(n: QueueName) -> String {
    n.label()
}

fn dlq_env(n: QueueName) -> String {
    n.env().1
}

/// One line about a dead message: what it was for (never the raw payload).
fn describe(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if let (Some(sku), Some(ch)) = (v["sku"].as_str(), v["channel"].as_str()) {
        return format!(
            "push {sku} to {ch} ({})",
            v["cause"].as_str().unwrap_or("no cause")
        );
    }
    if let (Some(ch), Some(topic)) = (v["channel"].as_str(), v["topic"].as_str()) {
        let action = v["action"]
            .as_object()
            .and_then(|a| a.keys().next().cloned())
            .or_else(|| v["action"].as_str().map(str::to_string))
            .unwrap_or_default();
        return format!(
            "{ch} {topic} {action} (delivery {})",
            v["delivery_id"].as_str().unwrap_or("?")
        );
    }
    format!("unrecognised message ({} bytes)", body.len())
}

pub async fn dlq(cmd: DlqCmd, json: bool) -> Result<()> {
    let sdk = onecount::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    match cmd {
        DlqCmd::List { queue, limit } => {
            let mut out = Vec::new();
            for q in queues(queue) {
                let Some(dlq) = &q.dlq else {
                    out.push(json!({"queue": queue_label(q.name), "configured": false, "hint": format!("set {}", dlq_env(q.name))}));
                    continue;
                };
                let depth = onecount_local::depth(&sqs, dlq).await?;
                // Peek: received with no visibility timeout, so they stay where they are.
                let mut msgs = BTreeMap::new();
                for _ in 0..3 {
                    if msgs.len() >= limit || depth == 0 {
                        break;
                    }
                    let r = sqs
                        .receive_message()
                        .queue_url(dlq)
                        .max_number_of_messages(limit.clamp(1, 10) as i32)
                        .visibility_timeout(0)
                        .send()
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "reading {}: {}",
                                queue_label(q.name),
                                onecount::aws::describe_sdk_error(&e)
                            )
                        })?;
                    for m in r.messages.unwrap_or_default() {
                        if msgs.len() < limit {
                            msgs.insert(
                                m.message_id.clone().unwrap_or_default(),
                                describe(m.body.as_deref().unwrap_or_default()),
                            );
                        }
                    }
                }
                out.push(json!({"queue": queue_label(q.name), "configured": true, "depth": depth,
                    "messages": msgs.into_iter().map(|(id, what)| json!({"id": id, "what": what})).collect::<Vec<_>>()}));
            }
            if json {
                output::json(&out);
            } else {
                let mut t = table(&["dead-letter queue", "messages", "first ones"]);
                for q in &out {
                    let first = q["messages"]
                        .as_array()
                        .map(|m| {
                            m.iter()
                                .map(|x| x["what"].as_str().unwrap_or_default().to_string())
                                .collect::<Vec<_>>()
                                .join("\n")
                        })
                        .unwrap_or_else(|| q["hint"].as_str().unwrap_or_default().to_string());
                    t.add_row(vec![
                        q["queue"].as_str().unwrap_or_default().to_string(),
                        q["depth"].as_i64().map_or("-".into(), |d| d.to_string()),
                        first,
                    ]);
                }
                println!("{t}");
                println!(
                    "After fixing the cause (see `onecount timeline SKU`), send them back with `onecount dlq redrive`."
                );
            }
        }
        DlqCmd::Redrive { queue } => {
            let mut moved = BTreeMap::new();
            for q in queues(queue) {
                let (Some(from), Some(to)) = (&q.dlq, &q.queue) else {
                    if queue.is_some() {
                        bail!(
                            "{} is not configured: set {} and its queue URL (stack outputs)",
                            queue_label(q.name),
                            dlq_env(q.name)
                        );
                    }
                    continue;
                };
                let n = onecount_local::redrive(&sqs, from, to).await?;
                moved.insert(queue_label(q.name), n);
            }
            if moved.is_empty() {
                bail!(
                    "no queue configured: set ONECOUNT_ORDER_DLQ_URL, ONECOUNT_PUSH_DLQ_URL_<CHANNEL> and their queue URLs (stack outputs)"
                );
            }
            if json {
                output::json(&moved);
            } else {
                for (q, n) in &moved {
                    println!("{q}: {n} message(s) sent back to the queue");
                }
            }
        }
    }
    Ok(())
}

// ----- status ----------------------------------------------------------------------

pub async fn status(store: &DynamoStore, lag_secs: u64, stuck_secs: u64, json: bool) -> Result<()> {
    let now = now_ms();
    let mut stocks = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_stock(after.as_deref(), 100).await?;
        stocks.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let low: Vec<_> = stocks
        .iter()
        .filter(|s| s.on_hand <= s.low_stock_threshold)
        .collect();
    let last_units = global_last_units();
    let mut behind = Vec::new();
    let mut listings = 0;
    for ch in Channel::CONNECTED {
        for v in all_views(store, ch).await? {
            listings += 1;
            let target = listed_for(&v.stock, &v.listing.policy, ch, last_units, now);
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
    let sdk = onecount::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut dlqs = Vec::new();
    for q in queues(None) {
        let depth = match &q.dlq {
            Some(u) => Some(onecount_local::depth(&sqs, u).await?),
            None => None,
        };
        dlqs.push((queue_label(q.name), depth));
    }
    let oversells = store.oversells(now - 7 * 86_400_000, 10).await?;
    if json {
        output::json(&json!({
            "skus": stocks.len(), "listings": listings,
            "low_stock": low.iter().map(|s| json!({"sku": s.sku, "on_hand": s.on_hand, "threshold": s.low_stock_threshold})).collect::<Vec<_>>(),
            "listings_behind": behind.iter().map(|(sku, ch, t, st)| json!({"sku": sku, "channel": ch, "expected": t, "state": st})).collect::<Vec<_>>(),
            "dlq": dlqs.iter().map(|(q, d)| json!({"queue": q, "depth": d})).collect::<Vec<_>>(),
            "recent_oversells": oversells.iter().map(|e| json!({"sku": e.sku, "at": e.at, "channel": e.data["channel"], "order": e.data["order"], "short": e.data["short"]})).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    println!(
        "{} SKUs, {} listings — {} low on stock, {} listing(s) behind or broken, {} oversell(s) in the last 7 days",
        stocks.len(),
        listings,
        low.len(),
        behind.len(),
        oversells.len()
    );
    if !low.is_empty() {
        let mut t = table(&["low stock", "on hand", "threshold"]);
        for s in low.iter().take(15) {
            t.add_row(vec![
                s.sku.to_string(),
                s.on_hand.to_string(),
                s.low_stock_threshold.to_string(),
            ]);
        }
        println!("{t}");
        if low.len() > 15 {
            println!("… and {} more (`onecount stock list`)", low.len() - 15);
        }
    }
    if !behind.is_empty() {
        let mut t = table(&["listing behind", "channel", "should list", "state"]);
        for (sku, ch, target, st) in behind.iter().take(15) {
            let state = match st {
                ListingState::Lagging { behind_ms } => format!("lagging {}", ago(*behind_ms)),
                ListingState::Stuck { behind_ms } => format!("STUCK {}", ago(*behind_ms)),
                ListingState::Broken { problem } => format!("BROKEN: {problem}"),
                _ => String::new(),
            };
            t.add_row(vec![sku.clone(), ch.to_string(), target.to_string(), state]);
        }
        println!("{t}");
        println!(
            "Stuck: check `onecount dlq list` and the channel's status. Broken: `onecount listings verify`."
        );
    }
    let mut t = table(&["dead-letter queue", "messages"]);
    for (q, d) in &dlqs {
        t.add_row(vec![
            q.to_string(),
            d.map_or("not configured".into(), |d| d.to_string()),
        ]);
    }
    println!("{t}");
    if !oversells.is_empty() {
        let mut t = table(&["recent oversell", "when", "channel", "order", "short"]);
        for e in &oversells {
            t.add_row(vec![
                e.sku.to_string(),
                output::time(e.at),
                e.data["channel"].as_str().unwrap_or_default().to_string(),
                e.data["order"].as_str().unwrap_or_default().to_string(),
                e.data["short"].to_string(),
            ]);
        }
        println!("{t}");
        println!(
            "Cancel or back-order those orders; `onecount oversell-cost` says what they cost."
        );
    }
    Ok(())
}

// ----- pause / resume --------------------------------------------------------------

pub async fn pause(
    store: &DynamoStore,
    sku: &Sku,
    channel: Option<Channel>,
    paused: bool,
    json: bool,
) -> Result<()> {
    if store.get_stock(sku).await?.is_none() {
        bail!("unknown SKU '{sku}'");
    }
    let mut listings = store.listings_for_sku(sku).await?;
    listings.retain(|l| channel.is_none_or(|c| c == l.channel));
    if listings.is_empty() {
        bail!(
            "SKU '{sku}' has no listing{}: map one with `onecount listings set`",
            channel.map(|c| format!(" on {c}")).unwrap_or_default()
        );
    }
    let mut changed = Vec::new();
    let mut pushes = Vec::new();
    for mut l in listings {
        if l.policy.paused != paused {
            l.policy.paused = paused;
            store.put_listing(&l).await?;
            changed.push(l.channel);
        }
        let cause = if paused {
            "paused by operator"
        } else {
            "resumed by operator"
        };
        match crate::request_push(sku, l.channel, cause, false).await {
            Ok(()) => pushes.push(l.channel),
            Err(e) => tracing::debug!(error = %e, "no push requested"),
        }
    }
    let word = if paused { "paused" } else { "resumed" };
    if json {
        output::json(
            &json!({"sku": sku, "paused": paused, "changed": changed, "push_requested": pushes}),
        );
    } else {
        let names = |v: &[Channel]| v.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        if changed.is_empty() {
            println!("{sku} was already {word} there");
        } else {
            println!("{sku} {word} on {}", names(&changed));
        }
        if pushes.is_empty() {
            println!(
                "No push queue configured here: the channels update with the next drift check (set ONECOUNT_PUSH_QUEUE_URL_<CHANNEL> to push now)."
            );
        } else {
            println!("push requested on {}", names(&pushes));
        }
    }
    Ok(())
}

// ----- oversell-cost ---------------------------------------------------------------

pub async fn oversell_cost(store: &DynamoStore, a: &CostArgs, json: bool) -> Result<()> {
    for (v, what) in [
        (a.unit_price, "--unit-price"),
        (a.unit_margin, "--unit-margin"),
        (a.refund_fee, "--refund-fee"),
        (a.refund_fee_pct, "--refund-fee-pct"),
        (a.support_minutes, "--support-minutes"),
        (a.hourly_rate, "--hourly-rate"),
        (a.units_per_hour, "--units-per-hour"),
        (a.sellouts_per_month, "--sellouts-per-month"),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            bail!("{what} must be a number of 0 or more");
        }
    }
    if !(0.0..=1.0).contains(&a.other_share) {
        bail!("--other-share is a share between 0 and 1");
    }
    let m = CostModel {
        unit_price: a.unit_price,
        unit_margin: a.unit_margin,
        refund_fee_fixed: a.refund_fee,
        refund_fee_pct: a.refund_fee_pct,
        defect_penalty: {
            let mut p = CostModel::default().defect_penalty;
            p.extend(a.penalties.iter().copied());
            p
        },
        support_minutes: a.support_minutes,
        hourly_rate: a.hourly_rate,
    };
    let since = now_ms() - i64::from(a.days) * 86_400_000;
    let recorded = store.oversells(since, 10_000).await?;
    let orders: Vec<Oversold> = recorded
        .iter()
        .filter_map(|e| {
            Some(Oversold {
                channel: e.data["channel"].as_str()?.parse().ok()?,
                units: e.data["short"].as_u64()? as u32,
            })
        })
        .collect();
    let impact = ops::impact(&orders, &m);
    let lags = if a.lags.is_empty() {
        vec![900.0, 300.0, 60.0, 2.0]
    } else {
        a.lags.clone()
    };
    let whatifs: Vec<_> = lags
        .iter()
        .map(|l| {
            ops::what_if(
                a.units_per_hour,
                a.other_share,
                *l,
                a.sellouts_per_month,
                &m,
            )
        })
        .collect();
    if json {
        output::json(&json!({"days": a.days, "model": m, "recorded": impact, "what_if": whatifs}));
        return Ok(());
    }
    println!(
        "Oversells recorded in the last {} days: {} order(s), {} unit(s).",
        a.days, impact.orders, impact.units
    );
    let mut t = table(&["cost", "amount"]);
    for (k, v) in [
        ("refund and payment fees kept", impact.refund_fees),
        ("marketplace penalties", impact.defect_penalties),
        ("lost margin", impact.lost_margin),
        ("support time", impact.support),
        ("total", impact.total),
    ] {
        t.add_row(vec![k.to_string(), format!("{v:.2}")]);
    }
    println!("{t}");
    println!(
        "What if a SKU selling {:.0} units/h ({:.0}% on the other channels) sells out {:.0} times a month:",
        a.units_per_hour,
        a.other_share * 100.0,
        a.sellouts_per_month
    );
    let mut t = table(&[
        "channels behind by",
        "oversold per sell-out",
        "per month",
        "cost per month",
    ]);
    for w in &whatifs {
        t.add_row(vec![
            if w.lag_secs >= 60.0 {
                format!("{:.0} min", w.lag_secs / 60.0)
            } else {
                format!("{:.0} s", w.lag_secs)
            },
            format!("{:.2}", w.units_per_sellout),
            format!("{:.1}", w.units_per_month),
            format!("{:.2}", w.cost_per_month),
        ]);
    }
    println!("{t}");
    println!("Costs are yours to set: see `onecount oversell-cost --help`.");
    Ok(())
}
