//! Matching a shop's catalogs by SKU (`onecount listings discover`, issue #20): what each
//! channel lists, grouped by SKU, each group said plainly (matched on N channels, or the
//! problem that stops it), and the starting count of a SKU onecount does not track yet.
//! Pure: the channel modules read the catalogs, the CLI prints and applies the plan.

use std::collections::BTreeMap;

use serde::Serialize;

use super::import::{BadRow, ImportRow};
use super::{Channel, ChannelRef, Listing, ListingPolicy, Sku};

/// One listing (or variation) as a channel's catalog shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub channel: Channel,
    /// The ids a mapping needs (`variant:… inventory_item:…`, `listing:…`, `item:… sku:…`).
    pub refs: Vec<ChannelRef>,
    /// The SKU as the channel has it, untouched (`None` or blank: the listing has none).
    pub sku: Option<String>,
    /// What it shows now.
    pub qty: i64,
    /// Whether the channel tracks its quantity (Shopify variants can be untracked).
    pub tracked: bool,
    /// The listing's title, for people.
    pub title: String,
}

/// What discovery says of one group of listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The SKU is on these channels, once each: it can be mapped.
    Matched { channels: Vec<Channel> },
    /// The SKU is on one channel only (mapped there; nothing to keep in step yet).
    OneChannel { channel: Channel },
    /// Two or more listings of one channel carry the SKU: which one is it?
    Duplicate { channel: Channel, listings: usize },
    /// SKUs that differ only by case or spaces (`mug-1`, `MUG-1 `): the same product?
    NearMiss { skus: Vec<String> },
    /// A listing without a SKU: it cannot be matched.
    NoSku,
    /// A Shopify variant whose inventory is not tracked: onecount cannot set it (the
    /// SKU's other listings wait with it).
    Untracked,
}

impl Finding {
    /// Whether `--apply` maps this group.
    pub fn applies(&self) -> bool {
        matches!(self, Finding::Matched { .. } | Finding::OneChannel { .. })
    }

    /// Its kind, as the plan's `finding` column and `--json` name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::Matched { .. } => "matched",
            Finding::OneChannel { .. } => "one_channel",
            Finding::Duplicate { .. } => "duplicate",
            Finding::NearMiss { .. } => "near_miss",
            Finding::NoSku => "no_sku",
            Finding::Untracked => "untracked",
        }
    }

    /// What it means and what to do, for a person.
    pub fn says(&self) -> String {
        let list = |chs: &[Channel]| {
            chs.iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Finding::Matched { channels } => {
                format!(
                    "matched on {} channels ({})",
                    channels.len(),
                    list(channels)
                )
            }
            Finding::OneChannel { channel } => {
                format!("only on {channel}: mapped there; list it elsewhere and discover again")
            }
            Finding::Duplicate { channel, listings } => format!(
                "on {listings} listings of {channel}: give each its own SKU, or end the extra one"
            ),
            Finding::NearMiss { skus } => format!(
                "differs from {} only by {}: make them one SKU on the channels",
                skus.iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(" / "),
                near_how(skus)
            ),
            Finding::NoSku => "no SKU: give the listing one on the channel".into(),
            Finding::Untracked => {
                "Shopify does not track this variant's inventory: turn on \"Track quantity\"".into()
            }
        }
    }
}

/// "case", "spaces" or "case and spaces": how SKUs that fold together differ.
fn near_how(skus: &[String]) -> &'static str {
    let unspaced: Vec<String> = skus
        .iter()
        .map(|s| s.chars().filter(|c| !c.is_whitespace()).collect())
        .collect();
    let pairs = || (0..skus.len()).flat_map(|i| (i + 1..skus.len()).map(move |j| (i, j)));
    let by_space = skus.iter().zip(&unspaced).any(|(s, u)| s != u);
    let by_case = pairs().any(|(i, j)| unspaced[i] != unspaced[j]);
    match (by_case, by_space) {
        (true, true) => "case and spaces",
        (false, true) => "spaces",
        _ => "case",
    }
}

/// One row of the plan: a SKU (or a listing without one) and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanRow {
    /// The SKU as onecount would track it (`None`: the listing has none).
    pub sku: Option<String>,
    pub finding: Finding,
    pub listings: Vec<Found>,
}

/// The key two SKUs share when they differ only by case or spaces.
fn folded(sku: &str) -> String {
    sku.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The plan for everything the channels listed: listings without a SKU on their own
/// rows; the rest grouped by exact SKU, then each group judged. Rows come
/// in SKU order, problems and matches alike.
pub fn plan(found: Vec<Found>) -> Vec<PlanRow> {
    let mut rows = Vec::new();
    let mut by_sku: BTreeMap<String, Vec<Found>> = BTreeMap::new();
    for f in found {
        match f.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => rows.push(PlanRow {
                sku: None,
                finding: Finding::NoSku,
                listings: vec![f],
            }),
            Some(_) => by_sku
                .entry(f.sku.clone().unwrap_or_default())
                .or_default()
                .push(f),
        }
    }
    let mut near: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for sku in by_sku.keys() {
        near.entry(folded(sku)).or_default().push(sku.clone());
    }
    for (sku, listings) in by_sku {
        let twins = &near[&folded(&sku)];
        let finding = if twins.len() > 1 {
            Finding::NearMiss {
                skus: twins.clone(),
            }
        } else {
            judge(&listings)
        };
        rows.push(PlanRow {
            sku: Some(sku),
            finding,
            listings,
        });
    }
    rows.sort_by(|a, b| a.sku.cmp(&b.sku));
    rows
}

/// One SKU's listings (one exact SKU). A SKU with an untracked listing waits whole:
/// mapping the others would keep them in step with a count one channel ignores.
fn judge(listings: &[Found]) -> Finding {
    if listings.iter().any(|l| !l.tracked) {
        return Finding::Untracked;
    }
    let mut per: BTreeMap<Channel, usize> = BTreeMap::new();
    for l in listings {
        *per.entry(l.channel).or_default() += 1;
    }
    if let Some((ch, n)) = per.iter().find(|(_, n)| **n > 1) {
        return Finding::Duplicate {
            channel: *ch,
            listings: *n,
        };
    }
    let channels: Vec<Channel> = per.into_keys().collect();
    match channels.as_slice() {
        [one] => Finding::OneChannel { channel: *one },
        _ => Finding::Matched { channels },
    }
}

/// The plan's rows of each kind (`matched`, `duplicate`, …).
pub fn kinds(rows: &[PlanRow]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry(r.finding.kind()).or_default() += 1;
    }
    out
}

/// Where a new SKU's starting count comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountsFrom {
    /// The lowest quantity any of its listings shows: never sells what one channel already
    /// sold (the safe default).
    Lowest,
    /// The channel the merchant names as the truth (its quantity; the lowest when it does
    /// not list the SKU).
    Channel(Channel),
}

/// A new SKU's starting count, and where it came from (for the timeline).
pub fn starting_count(listings: &[Found], from: CountsFrom) -> (u32, String) {
    let lowest = || {
        listings
            .iter()
            .min_by_key(|l| l.qty)
            .map(|l| {
                (
                    clamp(l.qty),
                    format!("the lowest quantity listed, {}'s", l.channel),
                )
            })
            .unwrap_or((0, "no listing shows a quantity".into()))
    };
    match from {
        CountsFrom::Lowest => lowest(),
        CountsFrom::Channel(ch) => match listings.iter().find(|l| l.channel == ch) {
            Some(l) => (clamp(l.qty), format!("{ch}, named as the source of truth")),
            None => {
                let (q, why) = lowest();
                (
                    q,
                    format!("{why} ({ch}, the source named, does not list it)"),
                )
            }
        },
    }
}

/// The rows `--apply` writes: each clean row's listings as import rows, a new SKU's
/// count from [`starting_count`] (its source kept for the timeline), every listing with
/// the default policy (an existing listing keeps its own: see the CLI). `line` is the
/// row's line in the plan file. A SKU onecount cannot take (too long, a control
/// character) is a bad row.
pub fn import_rows(
    rows: &[PlanRow],
    from: CountsFrom,
    threshold: u32,
) -> (Vec<ImportRow>, Vec<BadRow>) {
    let (mut out, mut bad) = (Vec::new(), Vec::new());
    let mut line = 1;
    for row in rows {
        let first = line + 1;
        line += row.listings.len();
        if !row.finding.applies() {
            continue;
        }
        let sku = match Sku::parse(row.sku.as_deref().unwrap_or_default()) {
            Ok(s) => s,
            Err(e) => {
                bad.push(BadRow {
                    line: first,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let (count, source) = starting_count(&row.listings, from);
        for (i, l) in row.listings.iter().enumerate() {
            out.push(ImportRow {
                line: first + i,
                listing: Listing {
                    sku: sku.clone(),
                    channel: l.channel,
                    refs: l.refs.clone(),
                    policy: ListingPolicy::default(),
                },
                on_hand: Some(count),
                threshold: Some(threshold),
                fresh: false,
                policy_given: false,
                count_source: Some(source.clone()),
            });
        }
    }
    (out, bad)
}

/// The plan as a CSV file, one line per listing: what was found, and the columns
/// `onecount listings import` reads (a row whose problem was fixed by hand is imported
/// once its `finding` cell is cleared).
pub fn plan_csv(rows: &[PlanRow], from: CountsFrom, threshold: u32) -> String {
    let mut out =
        String::from("finding,sku,channel,refs,shows,on_hand,threshold,count_from,title\n");
    for row in rows {
        let (count, source) = starting_count(&row.listings, from);
        for l in &row.listings {
            let refs = l
                .refs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            let fields = [
                row.finding.kind().to_string(),
                l.sku.clone().unwrap_or_default(),
                l.channel.to_string(),
                refs,
                l.qty.to_string(),
                count.to_string(),
                threshold.to_string(),
                source.clone(),
                l.title.clone(),
            ];
            out.push_str(&fields.map(|f| csv_field(&f)).join(","));
            out.push('\n');
        }
    }
    out
}

/// One CSV field, quoted when it must be (RFC 4180), and never read as a formula by a
/// spreadsheet (a leading `=`, `+`, `-`, `@` gets a `'`).
fn csv_field(f: &str) -> String {
    // One line per listing: the import reads the file line by line.
    let f: String = f
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let f = if f.starts_with(['=', '+', '@']) || (f.starts_with('-') && f.parse::<f64>().is_err()) {
        format!("'{f}")
    } else {
        f.to_string()
    };
    if f.contains([',', '"', '\n', '\r']) || f != f.trim() {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}

fn clamp(q: i64) -> u32 {
    u32::try_from(q.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(ch: Channel, id: u64, sku: Option<&str>, qty: i64) -> Found {
        Found {
            channel: ch,
            refs: vec![ChannelRef::new("item", &id.to_string()).unwrap()],
            sku: sku.map(str::to_string),
            qty,
            tracked: true,
            title: format!("listing {id}"),
        }
    }

    #[test]
    fn each_kind_of_problem_is_named_and_only_clean_rows_apply() {
        use Channel::{Ebay, Shopify};
        let mut untracked = found(Shopify, 9, Some("CAP-1"), 3);
        untracked.tracked = false;
        let rows = plan(vec![
            found(Shopify, 1, Some("MUG-1"), 5),
            found(Ebay, 2, Some("MUG-1"), 4),
            found(Shopify, 3, Some("TEE-1"), 2),
            found(Shopify, 4, Some("PIN-1"), 1),
            found(Shopify, 5, Some("PIN-1"), 1),
            found(Shopify, 6, Some("hat-1"), 1),
            found(Ebay, 7, Some("HAT-1 "), 1),
            found(Ebay, 8, None, 1),
            found(Ebay, 10, Some("  "), 1),
            untracked,
        ]);
        let of = |sku: Option<&str>| {
            rows.iter()
                .filter(|r| r.sku.as_deref() == sku)
                .map(|r| r.finding.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            of(Some("MUG-1")),
            [Finding::Matched {
                channels: vec![Shopify, Ebay]
            }]
        );
        assert_eq!(
            of(Some("TEE-1")),
            [Finding::OneChannel { channel: Shopify }]
        );
        assert_eq!(
            of(Some("PIN-1")),
            [Finding::Duplicate {
                channel: Shopify,
                listings: 2
            }]
        );
        assert!(matches!(&of(Some("hat-1"))[0], Finding::NearMiss { skus } if skus.len() == 2));
        assert_eq!(of(None), [Finding::NoSku, Finding::NoSku]);
        assert_eq!(of(Some("CAP-1")), [Finding::Untracked]);
        let applied: Vec<_> = rows.iter().filter(|r| r.finding.applies()).collect();
        assert_eq!(applied.len(), 2, "MUG-1 and TEE-1 only");
    }

    #[test]
    fn a_new_count_is_the_lowest_listed_unless_a_source_is_named() {
        use Channel::{Ebay, Offline, Shopify};
        let ls = [
            found(Shopify, 1, Some("A"), 7),
            found(Ebay, 2, Some("A"), 4),
        ];
        assert_eq!(
            starting_count(&ls, CountsFrom::Lowest).0,
            4,
            "never the highest"
        );
        let (q, why) = starting_count(&ls, CountsFrom::Channel(Shopify));
        assert_eq!((q, why.contains("source of truth")), (7, true));
        let (q, why) = starting_count(&ls, CountsFrom::Channel(Offline));
        assert_eq!(q, 4);
        assert!(why.contains("does not list it"), "{why}");
        assert_eq!(
            starting_count(&[found(Ebay, 3, Some("B"), -2)], CountsFrom::Lowest).0,
            0
        );
    }

    #[test]
    fn near_misses_say_how_they_differ() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(near_how(&s(&["MUG-1", "mug-1"])), "case");
        assert_eq!(near_how(&s(&["MUG-1", "MUG-1 "])), "spaces");
        assert_eq!(near_how(&s(&["MUG-1", "mug-1 "])), "case and spaces");
        assert_eq!(
            near_how(&s(&["MUG-1", "MUG-1 ", "mug-1"])),
            "case and spaces"
        );
    }

    /// The plan file is what `listings import` reads: the clean rows import as they are,
    /// every problem row is refused until its finding is cleared; a formula-looking field
    /// is defused and a comma quoted.
    #[test]
    fn the_plan_file_reads_back_through_the_import() {
        use Channel::{Ebay, Shopify};
        let on = |ch: Channel, id: u64, sku: &str, qty: i64| {
            let mut f = found(ch, id, Some(sku), qty);
            if ch == Shopify {
                f.refs = vec![ChannelRef::new("variant", &id.to_string()).unwrap()];
            }
            f
        };
        let mut odd = on(Shopify, 5, "=CMD,1", 2);
        odd.title = "Mug,\nblue".into();
        let rows = plan(vec![
            on(Shopify, 1, "MUG-1", 5),
            on(Ebay, 2, "MUG-1", 4),
            on(Shopify, 3, "PIN-1", 1),
            on(Shopify, 4, "PIN-1", 1),
            odd,
        ]);
        let csv = plan_csv(&rows, CountsFrom::Lowest, 2);
        assert!(
            csv.contains(",\"Mug, blue\"\n"),
            "a line break is a space: {csv}"
        );
        assert!(csv.contains("\"'=CMD,1\""), "{csv}");
        let parsed = super::super::import::parse_csv(&csv).unwrap();
        let good: Vec<_> = parsed
            .rows
            .iter()
            .map(|r| (r.listing.sku.to_string(), r.on_hand, r.count_source.clone()))
            .collect();
        assert_eq!(good.len(), 3, "MUG-1 twice and the one-channel SKU: {csv}");
        assert!(
            good.iter().any(|g| g.0 == "=CMD,1"),
            "the quote is the file's, not the SKU's"
        );
        assert!(good.contains(&(
            "MUG-1".into(),
            Some(4),
            Some("the lowest quantity listed, ebay's".into())
        )));
        assert_eq!(parsed.bad.len(), 2);
        assert!(parsed.bad.iter().all(|b| b.reason.contains("(duplicate)")));

        // --apply's rows: the same clean rows, with their lines in the plan file.
        let (apply, bad) = import_rows(&rows, CountsFrom::Channel(Shopify), 2);
        assert!(bad.is_empty());
        let lines: Vec<usize> = parsed.rows.iter().map(|r| r.line).collect();
        assert_eq!(apply.iter().map(|r| r.line).collect::<Vec<_>>(), lines);
        let mug = apply.iter().find(|r| r.listing.sku.as_str() == "MUG-1");
        assert_eq!(mug.unwrap().on_hand, Some(5), "shopify, as named");
    }

    /// A mapped listing's buffer, max and pause survive a plan file read back (it has no
    /// such columns).
    #[test]
    fn a_plan_file_keeps_a_mapped_listing_s_policy() {
        use super::super::import;
        let mut f = found(Channel::Ebay, 2, Some("MUG-1"), 4);
        f.refs = vec![ChannelRef::new("item", "2").unwrap()];
        let csv = plan_csv(&plan(vec![f.clone()]), CountsFrom::Lowest, 0);
        let sku = Sku::parse("MUG-1").unwrap();
        let mut ex = import::Existing::default();
        ex.skus.insert(sku.clone());
        ex.shared
            .insert((Channel::Ebay, "item:2".into(), sku.clone()));
        let mapped = Listing {
            sku: sku.clone(),
            channel: Channel::Ebay,
            refs: f.refs.clone(),
            policy: ListingPolicy {
                buffer: 2,
                max_qty: Some(5),
                paused: true,
            },
        };
        ex.listings.insert((sku, Channel::Ebay), mapped);
        let p = import::plan(import::parse_csv(&csv).unwrap().rows, &ex);
        assert_eq!((p.write.len(), p.unchanged.len()), (0, 1), "{csv}");
    }
}
