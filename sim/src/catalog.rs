//! A shop's catalog over the three sandboxes, as messy as real ones (issue #20): most
//! SKUs on every channel, some as variations (an Etsy listing with several products, a
//! Seller Hub listing with variations), eBay listings of both kinds, channels that show
//! slightly different quantities; and planted problems of six kinds, each recorded so a
//! test can check discovery names every one.

use std::collections::BTreeMap;

use crate::Sandboxes;

/// The six kinds of problem discovery must name.
pub const KINDS: [&str; 6] = [
    "one_channel",
    "duplicate",
    "case",
    "spaces",
    "no_sku",
    "untracked",
];

/// What was put on the sandboxes.
#[derive(Debug, Clone, Default)]
pub struct Stocked {
    /// Listings (and variations) in all, over the three channels.
    pub listings: usize,
    /// Clean SKUs (on all three channels once each) → the lowest quantity they show.
    pub clean: BTreeMap<String, i64>,
    /// Planted problems: (kind, the SKU it is about; for `no_sku`, the listing's title).
    pub planted: Vec<(&'static str, String)>,
}

/// Where ids start (clear of the flash sale's).
const VARIANT: u64 = 45_000_000_000_000;
const LISTING: u64 = 1_500_000_000;
const ITEM: u64 = 317_000_000_000;

struct Ids {
    next: u64,
}

impl Ids {
    fn take(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

/// Stock the sandboxes with about `listings` listings, `problems` of them planted
/// problems spread evenly over [`KINDS`]. Quantities come from `seed`.
pub fn stock(sb: &Sandboxes, listings: usize, problems: usize, seed: u64) -> Stocked {
    let mut ids = Ids { next: 0 };
    let mut qty = quantities(seed);
    let mut out = plant_with(sb, &mut ids, problems, &mut qty);
    let mut i = 0;
    while out.listings < listings {
        // Every fifth group of four SKUs: variations of one listing on Etsy and eBay.
        let n = if i % 20 == 0 && listings - out.listings >= 12 {
            4
        } else {
            1
        };
        let skus: Vec<(String, i64)> = (0..n)
            .map(|k| (format!("SKU-{:05}", i + k), qty()))
            .collect();
        out.listings += clean(sb, &mut ids, &skus, i);
        for (sku, q) in &skus {
            // eBay shows one fewer on every seventh: the lowest starts the count.
            let low = if (i % 7) == 3 { (q - 1).max(0) } else { *q };
            out.clean.insert(sku.clone(), low);
        }
        i += n;
    }
    out
}

/// Quantities from 0 to 39, the same for the same seed.
fn quantities(seed: u64) -> impl FnMut() -> i64 {
    let mut rng = seed.wrapping_mul(6_364_136_223_846_793_005) | 1;
    move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % 40) as i64
    }
}

/// Only the planted problems: `problems` of them, spread over [`KINDS`] (for a demo
/// whose clean catalog is listed by other means).
pub fn plant_problems(sb: &Sandboxes, problems: usize, seed: u64) -> Stocked {
    plant_with(sb, &mut Ids { next: 0 }, problems, &mut quantities(seed))
}

fn plant_with(
    sb: &Sandboxes,
    ids: &mut Ids,
    problems: usize,
    qty: &mut impl FnMut() -> i64,
) -> Stocked {
    let mut out = Stocked::default();
    for p in 0..problems {
        let kind = KINDS[p % KINDS.len()];
        let sku = format!("{}-{p:03}", kind.to_uppercase().replace('_', ""));
        out.listings += plant(sb, ids, kind, &sku, qty(), p);
        // A listing without a SKU is known by its title.
        let about = if kind == "no_sku" {
            title(kind, p)
        } else {
            sku
        };
        out.planted.push((kind, about));
    }
    out
}

/// SKUs on all three channels; several SKUs are one listing's variations on Etsy and
/// eBay (Seller Hub). Returns the listings made.
fn clean(sb: &Sandboxes, ids: &mut Ids, skus: &[(String, i64)], i: usize) -> usize {
    let (listing, item) = (LISTING + ids.take(), ITEM + ids.take());
    let title = format!("Product {i}");
    sb.etsy.set_title(listing, &title);
    sb.ebay.set_title(item, &title);
    for (sku, q) in skus {
        shopify(sb, ids, sku, *q, &title);
        sb.etsy.add_listing(crate::etsy::SimListing {
            listing_id: listing,
            sku: sku.clone(),
            qty: *q,
        });
        let ebay_q = if (i % 7) == 3 { (q - 1).max(0) } else { *q };
        let l = crate::ebay::SimListing {
            item_id: if skus.len() > 1 {
                ITEM + ids.take()
            } else {
                item
            },
            sku: sku.clone(),
            qty: ebay_q,
        };
        match (skus.len() > 1, i % 2) {
            (true, _) => sb.ebay.add_seller_hub_variation(item, l),
            (false, 0) => sb.ebay.add_listing(l),
            (false, _) => sb.ebay.add_seller_hub_listing(l),
        }
    }
    skus.len() * 3
}

fn shopify(sb: &Sandboxes, ids: &mut Ids, sku: &str, qty: i64, title: &str) -> u64 {
    let variant = VARIANT + ids.take();
    sb.shopify.add_listing(crate::shopify::SimListing {
        variant_id: variant,
        sku: sku.to_string(),
        qty,
        inventory_item_id: 0,
    });
    sb.shopify.set_product(variant, title, "ACTIVE");
    variant
}

fn etsy(sb: &Sandboxes, ids: &mut Ids, sku: &str, qty: i64, title: &str) {
    let listing = LISTING + ids.take();
    sb.etsy.set_title(listing, title);
    sb.etsy.add_listing(crate::etsy::SimListing {
        listing_id: listing,
        sku: sku.to_string(),
        qty,
    });
}

fn ebay(sb: &Sandboxes, ids: &mut Ids, sku: &str, qty: i64, title: &str) {
    let item = ITEM + ids.take();
    sb.ebay.set_title(item, title);
    sb.ebay.add_seller_hub_listing(crate::ebay::SimListing {
        item_id: item,
        sku: sku.to_string(),
        qty,
    });
}

fn title(kind: &str, p: usize) -> String {
    format!("Planted {kind} {p}")
}

/// One planted problem of `kind` about `sku` (the `p`th, which picks the channel it
/// happens on). Returns the listings made.
fn plant(sb: &Sandboxes, ids: &mut Ids, kind: &str, sku: &str, q: i64, p: usize) -> usize {
    let title = title(kind, p);
    let on = p / KINDS.len() % 3;
    let all = |ids: &mut Ids, skus: [&str; 3]| {
        let variant = shopify(sb, ids, skus[0], q, &title);
        etsy(sb, ids, skus[1], q, &title);
        ebay(sb, ids, skus[2], q, &title);
        variant
    };
    match kind {
        "one_channel" => {
            match on {
                0 => drop(shopify(sb, ids, sku, q, &title)),
                1 => etsy(sb, ids, sku, q, &title),
                _ => ebay(sb, ids, sku, q, &title),
            }
            1
        }
        "duplicate" => {
            let _ = all(ids, [sku; 3]);
            match on {
                0 => drop(shopify(sb, ids, sku, q, &title)),
                1 => etsy(sb, ids, sku, q, &title),
                _ => ebay(sb, ids, sku, q, &title),
            }
            4
        }
        "case" => {
            let lower = sku.to_lowercase();
            let mut skus = [sku; 3];
            skus[on] = &lower;
            let _ = all(ids, skus);
            3
        }
        "spaces" => {
            let spaced = format!("{sku} ");
            let mut skus = [sku; 3];
            skus[on] = &spaced;
            let _ = all(ids, skus);
            3
        }
        "no_sku" => {
            match on {
                0 => drop(shopify(sb, ids, "", q, &title)),
                1 => etsy(sb, ids, "", q, &title),
                _ => ebay(sb, ids, "", q, &title),
            }
            1
        }
        _ => {
            let variant = all(ids, [sku; 3]);
            sb.shopify.set_tracked(variant, false);
            3
        }
    }
}
