//! Matching a shop's catalogs by SKU (`onecount listings discover`, issue #20): what each
//! channel lists, grouped by SKU, each group said plainly (matched on N channels, or the
//! problem that stops it), and the starting count of a SKU onecount does not track yet.
//! Pure: the channel modules read the catalogs, the CLI prints and applies the plan.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Channel, ChannelRef};

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
    /// A Shopify variant whose inventory is not tracked: onecount cannot set it.
    Untracked,
}

impl Finding {
    /// Whether `--apply` maps this group.
    pub fn applies(&self) -> bool {
        matches!(self, Finding::Matched { .. } | Finding::OneChannel { .. })
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

/// The plan for everything the channels listed: listings without a SKU and untracked ones
/// on their own rows; the rest grouped by exact SKU, then each group judged. Rows come
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
            Some(_) if !f.tracked => rows.push(PlanRow {
                sku: f.sku.clone(),
                finding: Finding::Untracked,
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

/// One SKU's listings (one exact SKU, all tracked).
fn judge(listings: &[Found]) -> Finding {
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
}
