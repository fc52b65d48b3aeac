//! `onecount oversell-cost`: what the recorded oversells cost, and a what-if by sync lag.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use serde_json::json;

use onecount::aws::dynamo::DynamoStore;
use onecount::domain::ops::{self, CostModel, Impact, Oversold, WhatIf};

use super::{Reply, now_ms};
use crate::args::CostArgs;
use crate::output;

pub async fn run(store: &DynamoStore, a: &CostArgs) -> Result<Reply> {
    let m = model(a)?;
    let since = now_ms() - i64::from(a.days) * 86_400_000;
    let recorded = store.oversells(since, 10_000).await?;
    let orders: Vec<Oversold> = recorded
        .iter()
        .filter_map(|e| {
            let (line, units) = e.event.oversold()?;
            Some(Oversold {
                channel: line.channel,
                units,
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
    let value = json!({"days": a.days, "model": m, "recorded": impact, "what_if": whatifs});
    Ok(Reply::new(&value, cost_text(a, &impact, &whatifs)))
}

/// The cost model the arguments describe, each checked.
fn model(a: &CostArgs) -> Result<CostModel> {
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
    Ok(CostModel {
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
    })
}

fn cost_text(a: &CostArgs, impact: &Impact, whatifs: &[WhatIf]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Oversells recorded in the last {} days: {} order(s), {} unit(s).",
        a.days, impact.orders, impact.units
    );
    let mut t = output::table(&["cost", "amount"]);
    for (k, v) in [
        ("refund and payment fees kept", impact.refund_fees),
        ("marketplace penalties", impact.defect_penalties),
        ("lost margin", impact.lost_margin),
        ("support time", impact.support),
        ("total", impact.total),
    ] {
        t.add_row(vec![k.to_string(), format!("{v:.2}")]);
    }
    let _ = writeln!(out, "{t}");
    let _ = writeln!(
        out,
        "What if a SKU selling {:.0} units/h ({:.0}% on the other channels) sells out {:.0} times a month:",
        a.units_per_hour,
        a.other_share * 100.0,
        a.sellouts_per_month
    );
    let mut t = output::table(&[
        "channels behind by",
        "oversold per sell-out",
        "per month",
        "cost per month",
    ]);
    for w in whatifs {
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
    let _ = writeln!(out, "{t}");
    let _ = writeln!(
        out,
        "Costs are yours to set: see `onecount oversell-cost --help`."
    );
    out
}
