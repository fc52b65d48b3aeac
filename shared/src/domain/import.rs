//! `onecount listings import FILE.csv`: the pure part — parse and check every row before
//! anything is written, so the report names every bad row (with its line number) and a
//! good row is never written half (each is one transaction in the adapter).
//!
//! Columns (header row required, any order, case-insensitive):
//! `sku,channel,refs` and optionally `buffer,max,paused,on_hand,threshold`.
//! `refs` holds the channel's ids as `kind:id`, several separated by spaces, `|` or `;`.
//! `on_hand`/`threshold` create the SKU when it does not exist yet (never change a count).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Channel, ChannelRef, Listing, ListingPolicy, Sku};

/// One good row.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// 1-based line in the file (the header is line 1).
    pub line: usize,
    pub listing: Listing,
    pub on_hand: Option<u32>,
    pub threshold: Option<u32>,
    /// The listing does not exist yet (set by [`plan`]).
    pub fresh: bool,
    /// Where `on_hand` came from, for the timeline (discovery's starting count).
    pub count_source: Option<String>,
    /// The row sets the listing's policy (a `buffer`, `max` or `paused` column); without
    /// one, a listing already mapped keeps its own.
    pub policy_given: bool,
}

/// One bad row and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadRow {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub rows: Vec<ImportRow>,
    pub bad: Vec<BadRow>,
}

/// The channel ids each channel needs to be written to.
fn required_refs(channel: Channel) -> &'static [&'static str] {
    crate::channels::profile(channel).required_refs
}

/// Split one CSV line into fields (RFC 4180 quoting: `"a, b"`, `""` for a quote).
pub fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ',' if !quoted => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            _ => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    out.push(cur);
    Ok(out)
}

fn number(field: &str, what: &str) -> Result<Option<u32>, String> {
    let f = field.trim();
    if f.is_empty() {
        return Ok(None);
    }
    f.parse::<u32>()
        .map(Some)
        .map_err(|_| format!("{what} '{f}' is not a whole number of 0 or more"))
}

fn flag(field: &str) -> Result<bool, String> {
    match field.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" | "n" => Ok(false),
        "true" | "yes" | "1" | "y" => Ok(true),
        other => Err(format!("paused '{other}' is not yes/no/true/false/1/0")),
    }
}

/// Where each column is in the file.
struct Columns {
    count: usize,
    sku: usize,
    channel: usize,
    refs: usize,
    buffer: Option<usize>,
    max: Option<usize>,
    paused: Option<usize>,
    on_hand: Option<usize>,
    threshold: Option<usize>,
    finding: Option<usize>,
    count_from: Option<usize>,
}

const COLUMNS: [&str; 8] = [
    "sku",
    "channel",
    "refs",
    "buffer",
    "max",
    "paused",
    "on_hand",
    "threshold",
];

/// Columns of a discovery plan (`listings discover --out`) that the import reads past:
/// `finding` must be `matched`, `one_channel` or empty (a problem the merchant fixed).
const PLAN_COLUMNS: [&str; 4] = ["finding", "shows", "title", "count_from"];

/// The findings of a plan row that may be imported as they are.
const CLEAN_FINDINGS: [&str; 3] = ["", "matched", "one_channel"];

impl Columns {
    fn from_header(header: &str) -> Result<Columns, String> {
        let names: Vec<String> = csv_fields(header.trim_start_matches('\u{feff}'))?
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        if let Some(u) = names
            .iter()
            .find(|n| !COLUMNS.contains(&n.as_str()) && !PLAN_COLUMNS.contains(&n.as_str()))
        {
            return Err(format!(
                "unknown column '{u}' in the header (columns: {})",
                COLUMNS.join(", ")
            ));
        }
        let col = |n: &str| names.iter().position(|h| h == n);
        let (Some(sku), Some(channel), Some(refs)) = (col("sku"), col("channel"), col("refs"))
        else {
            return Err("the header must name the columns sku, channel and refs".into());
        };
        Ok(Columns {
            count: names.len(),
            sku,
            channel,
            refs,
            buffer: col("buffer"),
            max: col("max"),
            paused: col("paused"),
            on_hand: col("on_hand"),
            threshold: col("threshold"),
            finding: col("finding"),
            count_from: col("count_from"),
        })
    }

    /// One data row, checked on its own.
    fn row(&self, raw: &str, line: usize) -> Result<ImportRow, String> {
        let f = csv_fields(raw)?;
        if f.len() != self.count {
            return Err(format!(
                "{} field(s), the header has {}",
                f.len(),
                self.count
            ));
        }
        // A leading `'` before `=`, `+`, `-` or `@` keeps a spreadsheet from reading the
        // field as a formula (the plan file writes it so); it is not part of the value.
        let get = |c: Option<usize>| {
            let v = c.map_or("", |c| f[c].trim());
            match v.strip_prefix('\'') {
                Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
                _ => v,
            }
        };
        let finding = get(self.finding);
        if !CLEAN_FINDINGS.contains(&finding) {
            return Err(format!(
                "discovery found a problem here ({finding}): fix it, then clear the finding cell"
            ));
        }
        let sku = Sku::parse(get(Some(self.sku))).map_err(|e| e.to_string())?;
        let channel: Channel = get(Some(self.channel))
            .parse()
            .map_err(|e: super::ParseError| e.to_string())?;
        if !Channel::CONNECTED.contains(&channel) {
            return Err(format!(
                "channel '{channel}' has no listings (use {})",
                Channel::connected_names()
            ));
        }
        let refs = refs_for(channel, get(Some(self.refs)))?;
        let policy = ListingPolicy {
            buffer: number(get(self.buffer), "buffer")?.unwrap_or(0),
            max_qty: number(get(self.max), "max")?,
            paused: flag(get(self.paused))?,
        };
        Ok(ImportRow {
            line,
            listing: Listing {
                sku,
                channel,
                refs,
                policy,
            },
            on_hand: number(get(self.on_hand), "on_hand")?,
            threshold: number(get(self.threshold), "threshold")?,
            fresh: false,
            policy_given: self.buffer.is_some() || self.max.is_some() || self.paused.is_some(),
            count_source: Some(get(self.count_from))
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
    }
}

/// A row's `refs`, holding at least one of the kinds `channel` needs.
fn refs_for(channel: Channel, field: &str) -> Result<Vec<ChannelRef>, String> {
    let refs: Vec<ChannelRef> = field
        .split(|c: char| c.is_whitespace() || c == '|' || c == ';')
        .filter(|r| !r.is_empty())
        .map(|r| r.parse::<ChannelRef>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let need = required_refs(channel);
    if !refs.iter().any(|r| need.contains(&r.kind.as_str())) {
        return Err(format!(
            "refs must include {} for {channel}",
            need.iter()
                .map(|k| format!("{k}:…"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    Ok(refs)
}

/// What earlier rows of the file took: each (SKU, channel) once, each channel id for
/// one SKU.
#[derive(Default)]
struct Taken {
    listings: HashMap<(Sku, Channel), usize>,
    refs: HashMap<(Channel, String), (Sku, usize)>,
}

impl Taken {
    /// Why `row` clashes with an earlier row, or take what it names.
    fn take(&mut self, row: &ImportRow) -> Result<(), String> {
        let l = &row.listing;
        let key = (l.sku.clone(), l.channel);
        if let Some(first) = self.listings.get(&key) {
            return Err(format!(
                "{} on {} is already on line {first}",
                l.sku, l.channel
            ));
        }
        // An id several SKUs share (one listing's products or variations) is no clash.
        let clash = l
            .refs
            .iter()
            .filter(|r| !super::shared_ref(l.channel, &r.kind))
            .find_map(|r| {
                self.refs
                    .get(&(l.channel, r.to_string()))
                    .filter(|(sku, _)| *sku != l.sku)
                    .map(|(sku, line)| format!("{r} is given to {sku} on line {line}"))
            });
        if let Some(reason) = clash {
            return Err(reason);
        }
        self.listings.insert(key, row.line);
        for r in &l.refs {
            self.refs
                .insert((l.channel, r.to_string()), (l.sku.clone(), row.line));
        }
        Ok(())
    }
}

/// Parse the whole file. `Err` only when the file itself is unusable (no header, a
/// required column missing); row problems go in [`Parsed::bad`].
pub fn parse_csv(text: &str) -> Result<Parsed, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err("the file is empty: it needs a header row `sku,channel,refs`".into());
    };
    let cols = Columns::from_header(header)?;
    let mut out = Parsed::default();
    let mut taken = Taken::default();
    for (i, raw) in lines {
        let line = i + 1;
        match cols
            .row(raw, line)
            .and_then(|row| taken.take(&row).map(|()| row))
        {
            Ok(row) => out.rows.push(row),
            Err(reason) => out.bad.push(BadRow { line, reason }),
        }
    }
    Ok(out)
}

/// What the table says about the rows' SKUs and channel ids.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    pub skus: HashSet<Sku>,
    /// (channel, "kind:id") → the SKU it is mapped to now.
    pub ref_owners: HashMap<(Channel, String), Sku>,
    /// (channel, "kind:id", SKU) for ids several SKUs share (see
    /// [`shared_ref`](super::shared_ref)): each SKU's own entry under the id.
    pub shared: HashSet<(Channel, String, Sku)>,
    /// The listings as they are now.
    pub listings: HashMap<(Sku, Channel), Listing>,
}

/// The rows' plan against the table: what to write, what is already so, what is bad.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub write: Vec<ImportRow>,
    pub unchanged: Vec<usize>,
    pub bad: Vec<BadRow>,
    /// SKUs to create first (from `on_hand`), with their threshold.
    pub create: BTreeMap<Sku, (u32, u32)>,
    /// Where a created SKU's count came from, when a row said (for its timeline).
    pub sources: BTreeMap<Sku, String>,
}

/// Check `rows` against the table: unknown SKUs (without `on_hand`), channel ids mapped to
/// another SKU; rows already exactly so are left alone (a re-run writes nothing).
pub fn plan(rows: Vec<ImportRow>, existing: &Existing) -> Plan {
    let mut p = Plan::default();
    for row in rows {
        let l = &row.listing;
        if !existing.skus.contains(&l.sku) && !p.create.contains_key(&l.sku) {
            match row.on_hand {
                Some(n) => {
                    p.create
                        .insert(l.sku.clone(), (n, row.threshold.unwrap_or(0)));
                    if let Some(src) = &row.count_source {
                        p.sources.insert(l.sku.clone(), src.clone());
                    }
                }
                None => {
                    p.bad.push(BadRow {
                        line: row.line,
                        reason: format!(
                            "unknown SKU {} (add an on_hand column to create it, or `onecount stock create`)",
                            l.sku
                        ),
                    });
                    continue;
                }
            }
        }
        let taken = l
            .refs
            .iter()
            .filter(|r| !super::shared_ref(l.channel, &r.kind))
            .find_map(|r| {
                existing
                    .ref_owners
                    .get(&(l.channel, r.to_string()))
                    .filter(|owner| **owner != l.sku)
                    .map(|owner| format!("{r} on {} is already mapped to {owner}", l.channel))
            });
        if let Some(reason) = taken {
            p.bad.push(BadRow {
                line: row.line,
                reason,
            });
            continue;
        }
        let now = existing.listings.get(&(l.sku.clone(), l.channel));
        let mut row = row;
        if let (false, Some(now)) = (row.policy_given, now) {
            row.listing.policy = now.policy.clone();
        }
        let l = &row.listing;
        // Unchanged only when every channel id is in place too: a re-run after a crash
        // completes whatever was left half-done.
        let ids_in_place = l.refs.iter().all(|r| {
            if super::shared_ref(l.channel, &r.kind) {
                existing
                    .shared
                    .contains(&(l.channel, r.to_string(), l.sku.clone()))
            } else {
                existing.ref_owners.get(&(l.channel, r.to_string())) == Some(&l.sku)
            }
        });
        if now == Some(l) && ids_in_place {
            p.unchanged.push(row.line);
            continue;
        }
        row.fresh = now.is_none();
        p.write.push(row);
    }
    // A SKU created for rows that all turned out bad would be created for nothing.
    let wanted: HashSet<&Sku> = p.write.iter().map(|r| &r.listing.sku).collect();
    p.create.retain(|s, _| wanted.contains(s));
    p.sources.retain(|s, _| p.create.contains_key(s));
    p.bad.sort_by_key(|b| b.line);
    p
}
