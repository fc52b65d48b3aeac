//! Tables for people, JSON for scripts.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use time::OffsetDateTime;
use time::macros::format_description;

use onecount::Listing;
use onecount::domain::{RestockOutcome, SaleOutcome, StockItem, TimelineEntry};

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

pub fn time(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

pub fn stock(items: &[StockItem]) -> String {
    if items.is_empty() {
        return "no SKUs yet: add one with `onecount stock create SKU --on-hand N`".into();
    }
    let mut t = table(&["SKU", "On hand", "Low-stock at", "Version", "Updated"]);
    for i in items {
        let low = if i.on_hand <= i.low_stock_threshold {
            format!("{} (LOW)", i.low_stock_threshold)
        } else {
            i.low_stock_threshold.to_string()
        };
        t.add_row(vec![
            i.sku.to_string(),
            i.on_hand.to_string(),
            low,
            i.version.to_string(),
            time(i.updated_at),
        ]);
    }
    t.to_string()
}

pub fn listings(ls: &[Listing]) -> String {
    if ls.is_empty() {
        return "no listings".into();
    }
    let mut t = table(&["SKU", "Channel", "Channel ids", "Buffer", "Max", "Paused"]);
    for l in ls {
        let refs: Vec<String> = l.refs.iter().map(ToString::to_string).collect();
        t.add_row(vec![
            l.sku.to_string(),
            l.channel.to_string(),
            refs.join(" "),
            l.policy.buffer.to_string(),
            l.policy.max_qty.map_or("-".into(), |m| m.to_string()),
            if l.policy.paused {
                "yes".into()
            } else {
                "no".into()
            },
        ]);
    }
    t.to_string()
}

/// The timeline table as `onecount timeline SKU` prints it.
pub fn timeline_text(sku: &impl std::fmt::Display, entries: &[TimelineEntry]) -> String {
    if entries.is_empty() {
        return format!("{sku}: nothing on the timeline yet");
    }
    let mut t = table(&["Time (UTC)", "Event", "What happened"]);
    for e in entries {
        t.add_row(vec![time(e.at), e.kind().as_str().to_string(), e.summary()]);
    }
    format!("{sku}\n{t}")
}

pub fn sale_outcome(o: &SaleOutcome) -> String {
    match o {
        SaleOutcome::Applied => "applied".into(),
        SaleOutcome::Duplicate => {
            "duplicate: this line was already recorded; nothing changed".into()
        }
        SaleOutcome::Oversold { short } => format!(
            "OVERSOLD by {short}: not enough stock; cancel or backorder this line before fulfilment"
        ),
        SaleOutcome::CancelledBeforeOrder => "not applied: this line was already cancelled".into(),
    }
}

pub fn restock_outcome(o: &RestockOutcome) -> String {
    match o {
        RestockOutcome::Restocked { qty } => format!("restocked {qty}"),
        RestockOutcome::Duplicate => "duplicate: already applied; nothing changed".into(),
        RestockOutcome::BeforeOrder => {
            "recorded before its order arrived: the order will be netted when it does".into()
        }
    }
}

pub fn quarantine(items: &[onecount::ports::Quarantined]) -> String {
    if items.is_empty() {
        return "nothing quarantined".into();
    }
    let mut t = table(&[
        "Received (UTC)",
        "Id",
        "Channel",
        "Reason",
        "Bytes",
        "Ids kept",
    ]);
    for q in items {
        let s: serde_json::Value = serde_json::from_slice(&q.body).unwrap_or_default();
        let kept: Vec<String> = s["kept"]
            .as_object()
            .map(|m| m.iter().take(6).map(|(k, v)| format!("{k}={v}")).collect())
            .unwrap_or_default();
        t.add_row(vec![
            time(q.received_at),
            q.id.clone(),
            q.channel.to_string(),
            q.reason.clone(),
            s["bytes"].to_string(),
            kept.join(" "),
        ]);
    }
    format!(
        "{t}\nKept 14 days, redacted: ids, SKUs, quantities, sizes and a SHA-256 of the body (no customer data, no signatures). All of it: onecount quarantine list --json"
    )
}

/// A progress bar on stderr for long work (only on a terminal; scripts see nothing).
pub struct Bar {
    label: String,
    total: usize,
    tty: bool,
    last: std::cell::Cell<usize>,
}

impl Bar {
    pub fn new(label: &str, total: usize) -> Bar {
        use std::io::IsTerminal;
        Bar {
            label: label.to_string(),
            total,
            tty: std::io::stderr().is_terminal(),
            last: std::cell::Cell::new(usize::MAX),
        }
    }

    pub fn set(&self, done: usize) {
        if !self.tty || self.total == 0 {
            return;
        }
        let pct = done * 100 / self.total;
        if pct == self.last.get() && done != self.total {
            return;
        }
        self.last.set(pct);
        let width = 30;
        let fill = done * width / self.total;
        eprint!(
            "\r{} [{}{}] {done}/{} ({pct}%)",
            self.label,
            "#".repeat(fill),
            "-".repeat(width - fill),
            self.total
        );
        if done >= self.total {
            eprintln!();
        }
    }
}

/// A running tally on stderr for reads of unknown length (each channel's count so far;
/// only on a terminal). Shared by concurrent reads.
pub struct Tally {
    label: String,
    tty: bool,
    counts: std::sync::Mutex<std::collections::BTreeMap<String, usize>>,
}

impl Tally {
    pub fn new(label: &str) -> Tally {
        use std::io::IsTerminal;
        Tally {
            label: label.to_string(),
            tty: std::io::stderr().is_terminal(),
            counts: Default::default(),
        }
    }

    pub fn set(&self, what: &str, n: usize) {
        if !self.tty {
            return;
        }
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.insert(what.to_string(), n);
        let parts: Vec<String> = c.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprint!("\r{}: {} ", self.label, parts.join(", "));
    }

    /// End the line (when anything was shown).
    pub fn finish(&self) {
        if self.tty
            && !self
                .counts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
        {
            eprintln!();
        }
    }
}
