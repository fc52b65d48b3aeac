//! `onecount demo` and `onecount bench flash-sale`: the flash-sale engine
//! (`onecount-flash`) with a progress line, the report, the chart and `--json`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use onecount_flash::{Outcome, Progress, Scenario, report};

use super::Reply;
use crate::args::DemoArgs;

fn demo_scenario(a: &DemoArgs) -> Scenario {
    let mut sc = Scenario::demo();
    if let Some(d) = a.duration {
        sc.duration_s = d;
    }
    if let Some(s) = a.seed {
        sc.seed = s;
    }
    if let Some(k) = a.ebay_kind {
        sc.ebay_kind = k;
    }
    sc
}

/// A one-line progress bar on a terminal; a line every 10 s otherwise (CI logs).
fn progress_printer() -> impl Fn(&Progress) {
    let tty = std::io::stderr().is_terminal();
    let last = std::sync::Mutex::new(-10.0f64);
    move |p: &Progress| {
        let width = 28usize;
        let done = ((p.elapsed_s / p.total_s.max(0.001)).clamp(0.0, 1.0) * width as f64) as usize;
        let worlds: Vec<String> = p
            .worlds
            .iter()
            .map(|(s, orders, over)| format!("{} {orders}/{over}", s.key()))
            .collect();
        let line = format!(
            "[{}{}] {:>4.0}/{:.0} s {:<12} orders/oversold: {}",
            "#".repeat(done),
            "-".repeat(width - done),
            p.elapsed_s,
            p.total_s,
            p.phase,
            worlds.join("  ")
        );
        if tty {
            eprint!("\r{line:<120}");
            if p.phase == "reporting" {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        } else {
            let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
            if p.elapsed_s - *l >= 10.0 || p.phase == "reporting" {
                *l = p.elapsed_s;
                eprintln!("{line}");
            }
        }
    }
}

fn write_out(dir: &Path, o: &Outcome) -> Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let chart = dir.join("flash-sale.svg");
    std::fs::write(&chart, report::svg(o))
        .with_context(|| format!("writing {}", chart.display()))?;
    let json = dir.join("flash-sale.json");
    std::fs::write(&json, serde_json::to_string_pretty(o)?)
        .with_context(|| format!("writing {}", json.display()))?;
    // Why each oversell happened, from the world's own ledger (its moto is gone by now).
    for r in &o.results {
        let Some(d) = &r.onecount else { continue };
        for (sku, entries) in d.oversold_timelines.iter().chain(&d.kept_timelines) {
            let f = dir.join(format!("timeline-{}-{sku}.txt", r.strategy.key()));
            std::fs::write(&f, crate::output::timeline_text(sku, entries) + "\n")
                .with_context(|| format!("writing {}", f.display()))?;
        }
    }
    Ok(chart.display().to_string())
}

/// The `--json` shape: scenario, one object per strategy key, verdict, moto's load.
fn json_view(o: &Outcome) -> serde_json::Value {
    let mut per = serde_json::Map::new();
    for r in &o.results {
        per.insert(
            r.strategy.key().into(),
            serde_json::to_value(r).unwrap_or_default(),
        );
    }
    serde_json::json!({
        "scenario": o.scenario,
        "attempts": o.attempts,
        "strategies": per,
        "hottest_sku": o.hottest.sku,
        "verdict": report::verdict(o),
        "moto": o.moto,
        "wall_s": o.wall_s,
    })
}

/// `onecount demo`.
pub async fn demo(args: DemoArgs, json: bool) -> Result<Reply> {
    let out = args.out.clone();
    run(demo_scenario(&args), Some(&out), json).await
}

/// `onecount bench flash-sale`.
pub async fn bench(args: onecount_flash::args::FlashArgs, json: bool) -> Result<Reply> {
    run(args.scenario()?, args.out.as_deref(), json).await
}

async fn run(sc: Scenario, out: Option<&Path>, json: bool) -> Result<Reply> {
    let o = onecount_flash::run(&sc, progress_printer()).await?;
    let chart = match out {
        Some(dir) => Some(write_out(dir, &o)?),
        None => None,
    };
    // The report is only made when it is printed (the JSON is its own view).
    let text = if json {
        String::new()
    } else {
        report::text(&o, chart.as_deref())
    };
    Ok(Reply::new(&json_view(&o), text))
}
