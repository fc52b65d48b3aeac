//! The run's report as text (for people), and the hottest SKU's chart as SVG.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::measure::{Lag, Point};
use crate::{Hottest, OnecountDetail, Outcome, Strategy, StrategyResult};

fn secs(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.2} s", ms as f64 / 1000.0)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

fn lag(l: &Lag) -> String {
    let mark = if l.unresolved > 0 { "≥" } else { "" };
    format!("{mark}{}", secs(l.p95_ms))
}

/// Which of onecount's oversells were races that no sync could have prevented, and
/// which came from lag ("" when it oversold nothing).
fn races(o: &Outcome) -> String {
    let ones = [Strategy::Onecount, Strategy::OnecountLastUnits];
    let raced: Vec<String> = ones
        .iter()
        .filter_map(|s| o.result(*s))
        .filter(|r| r.summary.oversold_units > 0)
        .map(|r| {
            let s = &r.summary;
            format!(
                "{} {} of {} in races, {} from lag",
                r.label, s.oversold_in_races, s.oversold_units, s.oversold_from_lag
            )
        })
        .collect();
    if raced.is_empty() {
        return String::new();
    }
    format!(
        " Races (an order placed within {} of the sale that left too few for it: no sync wins those; only dealing the last units out does): {}.",
        secs(crate::measure::RACE_MS),
        raced.join("; ")
    )
}

/// An oversold order line of a onecount world, with how soon after the sale that left too
/// few for it the buyer's side placed it (matched by order id).
fn oversold_line(r: &StrategyResult, x: &crate::LedgerOversell) -> String {
    let why = r
        .oversold
        .iter()
        .find(|o| o.order_id == x.order && o.channel.as_str() == x.channel)
        .and_then(|o| Some((o.after_ms?, o.raced())))
        .map_or(String::new(), |(ms, raced)| {
            let kind = if raced { "race" } else { "lag" };
            format!(
                ", placed {} after the sale that left too few ({kind})",
                secs(ms)
            )
        });
    format!(
        "    {:<20} {:<8} order {:<16} {} unit(s) short{why}",
        x.sku, x.channel, x.order, x.short
    )
}

/// The verdict line: onecount's oversold units against the better baseline's.
pub fn verdict(o: &Outcome) -> Option<String> {
    let one = o.result(Strategy::Onecount)?;
    let best = [Strategy::Interval, Strategy::Fifo]
        .iter()
        .filter_map(|s| o.result(*s))
        .min_by_key(|r| r.summary.oversold_units)?;
    let (a, b) = (one.summary.oversold_units, best.summary.oversold_units);
    let ratio = if a == 0 {
        if b == 0 {
            "neither oversold".to_string()
        } else {
            format!("{b} → 0")
        }
    } else {
        format!("{:.1}× fewer", b as f64 / a as f64)
    };
    let mut line = format!(
        "onecount oversold {a} unit(s); the better baseline ({}) {b}: {ratio}.",
        best.label
    );
    if let Some(lu) = o.result(Strategy::OnecountLastUnits) {
        let _ = write!(
            line,
            " With last-unit protection: {} oversold.",
            lu.summary.oversold_units
        );
    }
    line.push_str(&races(o));
    // Both sides: what oversells cost, and what the sales turned away cost.
    let cheapest = o
        .results
        .iter()
        .filter(|r| r.strategy != Strategy::Oracle)
        .min_by(|a, b| a.cost.total.total_cmp(&b.cost.total))?;
    let costs: Vec<String> = o
        .results
        .iter()
        .filter(|r| r.strategy != Strategy::Oracle)
        .map(|r| {
            let share = r.share_of_oracle.map_or(String::new(), |s| {
                format!(", {:.1}% of the oracle's units", s * 100.0)
            });
            format!(
                "{} {:.0} ({:.0} oversells + {:.0} lost sales{share})",
                short_label(r),
                r.cost.total,
                r.cost.oversells,
                r.cost.lost_sales
            )
        })
        .collect();
    let _ = write!(
        line,
        "\nCost of the sale (oversell-cost's model; a lost sale costs its margin): {}. Cheapest: {}.",
        costs.join("; "),
        short_label(cheapest)
    );
    Some(line)
}

/// The side-by-side table of the strategies.
pub fn comparison(o: &Outcome) -> String {
    let rs = &o.results;
    let mut out = String::new();
    let w = 18;
    let _ = write!(out, "  {:<28}", "");
    for r in rs {
        let _ = write!(out, "{:>w$}", short_label(r));
    }
    out.push('\n');
    let row = |out: &mut String, name: &str, f: &dyn Fn(&StrategyResult) -> String| {
        let _ = write!(out, "  {name:<28}");
        for r in rs {
            let _ = write!(out, "{:>w$}", f(r));
        }
        out.push('\n');
    };
    row(&mut out, "orders taken", &|r| r.summary.orders.to_string());
    row(&mut out, "oversold units", &|r| {
        r.summary.oversold_units.to_string()
    });
    row(&mut out, "… in races (< 1 s)", &|r| {
        r.summary.oversold_in_races.to_string()
    });
    row(&mut out, "orders to cancel", &|r| {
        r.summary.oversold_orders.to_string()
    });
    row(&mut out, "stale time (listing-s)", &|r| {
        format!("{:.1}", r.summary.stale_listing_secs)
    });
    row(&mut out, "p95 sale → all channels", &|r| {
        lag(&r.summary.lag_all_channels)
    });
    row(&mut out, "max sale → all channels", &|r| {
        let l = &r.summary.lag_all_channels;
        format!(
            "{}{}",
            if l.unresolved > 0 { "≥" } else { "" },
            secs(l.max_ms)
        )
    });
    row(&mut out, "never caught up (sales)", &|r| {
        r.summary.lag_all_channels.unresolved.to_string()
    });
    row(&mut out, "channel writes per sale", &|r| {
        format!("{:.2}", r.writes_per_sale)
    });
    row(&mut out, "units sold that existed", &|r| {
        (r.summary.units_sold - r.summary.oversold_units).to_string()
    });
    row(&mut out, "… share of the oracle's", &|r| {
        r.share_of_oracle
            .map_or("-".into(), |s| format!("{:.1}%", s * 100.0))
    });
    row(&mut out, "turned away, stock existed", &|r| {
        r.summary.turned_away.to_string()
    });
    row(&mut out, "under-listed (listing-s)", &|r| {
        format!("{:.1}", r.summary.under_listed_secs)
    });
    row(&mut out, "stranded units at the end", &|r| {
        r.summary.stranded_units.to_string()
    });
    row(&mut out, "cost: oversells", &|r| {
        format!("{:.0}", r.cost.oversells)
    });
    row(&mut out, "cost: lost sales (margin)", &|r| {
        format!("{:.0}", r.cost.lost_sales)
    });
    row(&mut out, "cost of the sale", &|r| {
        format!("{:.0}", r.cost.total)
    });
    out
}

fn short_label(r: &StrategyResult) -> String {
    match r.strategy {
        Strategy::Onecount => "onecount".into(),
        Strategy::OnecountLastUnits => "onecount+LU".into(),
        Strategy::Interval => "interval".into(),
        Strategy::Fifo => "FIFO".into(),
        Strategy::Oracle => "oracle".into(),
    }
}

/// How onecount's worlds were mapped: `listings discover --apply` on the sandboxes, and
/// what it named besides the sale's SKUs.
fn discovery_text(kinds: &BTreeMap<&'static str, usize>) -> String {
    let matched = kinds.get("matched").copied().unwrap_or(0);
    let others: Vec<String> = kinds
        .iter()
        .filter(|(k, _)| **k != "matched")
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    format!(
        "onecount's listings were mapped by `onecount listings discover --apply`: {matched} SKUs \
         matched by SKU across the channels, each count the lowest listed; it also named the \
         problems planted beside them ({}), mapping only the one-channel SKU.\n",
        others.join(", ")
    )
}

/// The whole report, as `make demo` prints it.
pub fn text(o: &Outcome, chart: Option<&str>) -> String {
    let mut out = String::new();
    out.push_str(&scenario_text(o));
    if let Some(d) = o.results.iter().find_map(|r| r.onecount.as_ref()) {
        out.push_str(&discovery_text(&d.discovered));
    }
    out.push_str(&comparison(o));
    if let Some(v) = verdict(o) {
        let _ = writeln!(out, "\n{v}");
    }
    for r in &o.results {
        if let Some(d) = &r.onecount {
            out.push_str(&onecount_text(r, d));
        }
    }
    for r in &o.results {
        if let Some(b) = &r.baseline {
            match r.strategy {
                Strategy::Interval => {
                    let _ = writeln!(out, "\ninterval: {} syncs ran.", b.interval_syncs);
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "FIFO: {} deltas still queued at the end, {} dropped after 5 tries.",
                        b.fifo_backlog_at_end, b.fifo_dropped
                    );
                }
            }
        }
    }
    if let Some(m) = &o.moto {
        let _ = writeln!(out, "\n{}.", m.note);
    }
    if let Some(path) = chart {
        let _ = writeln!(
            out,
            "\nChart of the hottest SKU ({}, {} units): {path}",
            o.hottest.sku, o.hottest.on_hand
        );
        let oversold = o
            .results
            .iter()
            .filter_map(|r| r.onecount.as_ref())
            .any(|d| !d.oversold_timelines.is_empty() || !d.kept_timelines.is_empty());
        if oversold {
            let _ = writeln!(
                out,
                "Why each oversold SKU sold short, or each stranded or long under-listed SKU's units were held back: timeline-<strategy>-<SKU>.txt in the same folder."
            );
        }
    }
    let _ = writeln!(out, "Run took {:.0} s.", o.wall_s);
    out
}

/// The scenario, in three sentences.
fn scenario_text(o: &Outcome) -> String {
    let sc = &o.scenario;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nFlash sale \"{}\": {} checkout attempts over {:.0} s on {} SKUs (seed {}).",
        sc.name, o.attempts, sc.duration_s, sc.skus, sc.seed
    );
    let _ = writeln!(
        out,
        "Etsy limited to {} requests/s ({} SKU(s) per listing), eBay {} listings +{} ms per call, \
         {:.0}% of API calls fail, {:.0}% duplicate and {:.0}% late ({} s) webhooks, {} lost.",
        sc.etsy_qps,
        sc.etsy_variations,
        match sc.ebay_kind {
            crate::EbayKind::Inventory => "Inventory API",
            crate::EbayKind::Trading => "Seller Hub (Trading API)",
        },
        sc.ebay_latency_ms,
        sc.error_rate * 100.0,
        sc.duplicate_rate * 100.0,
        sc.late_rate * 100.0,
        sc.late_ms / 1000,
        sc.lost_webhooks
    );
    if sc.token_ttl_s > 0 {
        let _ = writeln!(
            out,
            "Every channel's access tokens end {} s after they are issued (Shopify as a Dev Dashboard app).",
            sc.token_ttl_s
        );
    }
    let _ = writeln!(
        out,
        "Time scale {}×: the interval baseline syncs every {:.0} s (= {} min of sale), \
         onecount's drift check runs every {:.0} s (= {} min). Everything else runs in real time.\n",
        sc.time_scale,
        sc.interval_real().as_secs_f64(),
        sc.interval_minutes,
        sc.drift_real().as_secs_f64(),
        sc.drift_minutes
    );
    out
}

/// One onecount world in detail: lag per channel, stale time, oversold orders, DLQs, alerts.
fn onecount_text(r: &StrategyResult, d: &OnecountDetail) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{} in detail (table {})", r.label, d.table);
    let _ = writeln!(
        out,
        "  {:<10} {:>9} {:>9} {:>9}   (sales made on the other channels)",
        "sale → listed", "p50", "p95", "max"
    );
    for (k, c) in onecount::Channel::CONNECTED.iter().enumerate() {
        let l = &r.summary.lag_by_channel[k];
        let _ = writeln!(
            out,
            "  {:<13} {:>9} {:>9} {:>9}{}",
            c.as_str(),
            secs(l.p50_ms),
            secs(l.p95_ms),
            secs(l.max_ms),
            if l.unresolved > 0 {
                format!("  ({} not caught up)", l.unresolved)
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(
        out,
        "  stale time {:.1} listing-s (shopify {:.1}, etsy {:.1}, ebay {:.1}); {} channel writes for {} orders",
        r.summary.stale_listing_secs,
        r.summary.stale_secs_by_channel[0],
        r.summary.stale_secs_by_channel[1],
        r.summary.stale_secs_by_channel[2],
        r.channel_writes.iter().sum::<usize>(),
        r.summary.orders
    );
    if r.tokens_issued.iter().any(|n| *n > 0) {
        let _ = writeln!(
            out,
            "  access tokens issued (shopify, etsy, ebay) {:?}; calls refused for a dead token {:?}",
            r.tokens_issued, r.tokens_refused
        );
    }
    if d.ledger_oversells.is_empty() {
        let _ = writeln!(out, "  oversold orders: none");
    } else {
        let _ = writeln!(
            out,
            "  oversold orders — cancel or back-order these (`onecount timeline SKU` says why):"
        );
        for x in &d.ledger_oversells {
            let _ = writeln!(out, "{}", oversold_line(r, x));
        }
    }
    let dlq: Vec<String> = d.dlq.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(out, "  dead-letter queues: {}", dlq.join(", "));
    let alerts: Vec<String> = d.alerts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        out,
        "  alerts sent: {}",
        if alerts.is_empty() {
            "none".to_string()
        } else {
            alerts.join(", ")
        }
    );
    out
}

const COLOURS: [&str; 3] = ["#5e8e3e", "#f1641e", "#0064d2"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Where the chart's panels are drawn.
struct Frame {
    left: f64,
    plot_w: f64,
    end: f64,
    hi: f64,
    lo: f64,
    panel: f64,
}

/// One strategy's panel, from `y0` down.
fn panel_svg(s: &mut String, f: &Frame, y0: f64, r: &StrategyResult, h: &Hottest) {
    let Frame {
        left,
        plot_w,
        end,
        hi,
        lo,
        panel,
    } = *f;
    let ph = panel - 40.0;
    let x = |ms: u64| left + ms as f64 / end * plot_w;
    let y = |q: i64| y0 + 10.0 + (hi - q as f64) / (hi - lo) * ph;
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{}" font-weight="bold">{} — {} oversold, stale {:.1} listing-s, under-listed {:.1} listing-s</text>"#,
        y0 + 4.0,
        esc(&r.label),
        r.summary.oversold_units,
        r.summary.stale_listing_secs,
        r.summary.under_listed_secs
    );
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#bbb\" stroke-dasharray=\"3,3\"/>",
        y(0),
        left + plot_w
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#777\">0</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#777\">{hi}</text>",
        left - 6.0,
        y(0) + 4.0,
        left - 6.0,
        y(hi as i64) + 4.0
    );
    let pts: &[Point] = h
        .series
        .get(r.strategy.key())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let path = |val: &dyn Fn(&Point) -> i64| -> String {
        let mut d = String::new();
        for (i, p) in pts.iter().enumerate() {
            if i == 0 {
                let _ = write!(d, "M{:.1},{:.1}", x(p.at_ms), y(val(p)));
            } else {
                let _ = write!(d, " H{:.1} V{:.1}", x(p.at_ms), y(val(p)));
            }
        }
        let _ = write!(d, " H{:.1}", left + plot_w);
        d
    };
    under_listed_svg(s, pts, &x, (y0 + 10.0, ph, left + plot_w));
    for (k, colour) in COLOURS.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="1.6" opacity="0.9"/>"#,
            path(&|p| p.shows[k])
        );
    }
    let _ = writeln!(
        s,
        r##"<path d="{}" fill="none" stroke="#111" stroke-width="2.4"/>"##,
        path(&|p| p.truth)
    );
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#999\"/>",
        y0 + 10.0 + ph,
        left + plot_w
    );
}

/// Shades the spans in which units exist that no channel displays (buyers are turned
/// away): `band` is the panel's top, height and right edge.
fn under_listed_svg(s: &mut String, pts: &[Point], x: &dyn Fn(u64) -> f64, band: (f64, f64, f64)) {
    let (top, height, right) = band;
    for (i, p) in pts.iter().enumerate() {
        let shown = p.shows.iter().copied().max().unwrap_or(0);
        if shown >= p.truth.max(0) {
            continue;
        }
        let until = pts.get(i + 1).map_or(right, |n| x(n.at_ms));
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{height:.1}" fill="#d33" opacity="0.12"/>"##,
            x(p.at_ms),
            (until - x(p.at_ms)).max(0.5)
        );
    }
}

/// Each strategy's panel: the true count (black) and what each channel displayed, over
/// time, for the hottest SKU. Below the zero line the truth shows units oversold.
pub fn svg(o: &Outcome) -> String {
    let h = &o.hottest;
    let (width, panel, left, top) = (960.0f64, 190.0f64, 60.0f64, 50.0f64);
    let plot_w = width - left - 150.0;
    let end = h
        .series
        .values()
        .flat_map(|v| v.iter().map(|p| p.at_ms))
        .max()
        .unwrap_or(1)
        .max((o.scenario.duration_s * 1000.0) as u64) as f64;
    let all = || h.series.values().flat_map(|v| v.iter());
    let hi = all()
        .map(|p| p.truth.max(*p.shows.iter().max().unwrap_or(&0)))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let lo = all().map(|p| p.truth).min().unwrap_or(0).min(0) as f64;
    let height = top + panel * o.results.len() as f64 + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="22" font-size="15" font-weight="bold">{} ({} units): true count and what each channel displayed — flash sale "{}"</text>"#,
        esc(&h.sku),
        h.on_hand,
        esc(&o.scenario.name)
    );
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="38" fill="#555">Where a channel's line is above the black line, buyers can buy units that do not exist. Below zero: units oversold. Shaded red: units exist that no channel displays.</text>"##
    );
    let frame = Frame {
        left,
        plot_w,
        end,
        hi,
        lo,
        panel,
    };
    for (n, r) in o.results.iter().enumerate() {
        panel_svg(&mut s, &frame, top + panel * n as f64, r, h);
    }
    let legend_x = left + plot_w + 20.0;
    for (k, (name, colour)) in [
        ("true count", "#111"),
        ("Shopify", COLOURS[0]),
        ("Etsy", COLOURS[1]),
        ("eBay", COLOURS[2]),
    ]
    .iter()
    .enumerate()
    {
        let ly = top + 20.0 + 20.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{legend_x}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2.4"/><text x="{}" y="{}">{name}</text>"#,
            legend_x + 24.0,
            legend_x + 30.0,
            ly + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="{}" fill="#555">seconds since the sale opened: 0 … {:.0}</text>"##,
        height - 10.0,
        end / 1000.0
    );
    s.push_str("</svg>\n");
    s
}
