//! The order stream: a seeded catalog and the buyers' checkout attempts. Pure and
//! deterministic — the same seed gives every strategy the same buyers at the same times.

use onecount::Channel;
use serde::Serialize;

/// SplitMix64: tiny, seedable, good enough for arrival times and choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Index drawn with probability proportional to `weights`.
    pub fn pick(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// One SKU of the sale's catalog.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub sku: String,
    pub on_hand: u32,
    pub threshold: u32,
    /// Share of buyers who want it (relative).
    pub popularity: f64,
}

const PRODUCTS: [&str; 10] = [
    "TEE", "MUG", "TOTE", "PRINT", "CAP", "SOCKS", "PIN", "HOODIE", "POSTER", "CANDLE",
];
const COLOURS: [&str; 5] = ["BLACK", "WHITE", "RED", "SAGE", "NAVY"];

/// `n` SKUs of a limited drop, stocked the way a flash sale is: popularity falls off as
/// 1/rank, and each SKU holds between 30% and 100% of the units its buyers will want
/// (`expected_units` across the catalog), so most sell out, at staggered moments through
/// the sale. Never fewer than 2 units (the long tail's nearly-gone SKUs).
pub fn catalog(n: usize, seed: u64, expected_units: f64) -> Vec<Item> {
    let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
    let popularity: Vec<f64> = (0..n).map(|i| 1.0 / (i as f64 + 1.0)).collect();
    let total: f64 = popularity.iter().sum();
    (0..n)
        .map(|i| {
            let demand = expected_units * popularity[i] / total;
            let share = 0.3 + 0.7 * rng.unit();
            let on_hand = ((demand * share).round() as u32).max(2);
            Item {
                sku: format!(
                    "{}-{}-{:03}",
                    PRODUCTS[i % PRODUCTS.len()],
                    COLOURS[(i / PRODUCTS.len()) % COLOURS.len()],
                    i
                ),
                on_hand,
                // Low-stock alert at a fifth of the stock (at least 1): once per SKU as
                // it sells down, not a flood at the start.
                threshold: (on_hand / 5).max(1),
                popularity: popularity[i],
            }
        })
        .collect()
}

/// What the channels' webhooks do for one order.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Delivery {
    /// Sent twice.
    pub duplicate: bool,
    /// Sent this late (ms); 0: at once.
    pub late_ms: u64,
}

/// One buyer reaching checkout.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attempt {
    /// Milliseconds from the start of the sale.
    pub at_ms: u64,
    pub channel: Channel,
    /// Index into the catalog.
    pub item: usize,
    pub qty: i64,
    pub delivery: Delivery,
}

/// The knobs of the buyers and webhooks.
#[derive(Debug, Clone, Serialize)]
pub struct Buyers {
    pub duration_ms: u64,
    /// Checkout attempts per second, all channels together.
    pub rate: f64,
    /// Share of buyers on (Shopify, Etsy, eBay).
    pub channel_mix: [f64; 3],
    pub duplicate_rate: f64,
    pub late_rate: f64,
    pub late_ms: u64,
}

/// Poisson arrivals at `rate`, each buyer on a channel by `channel_mix` wanting an item
/// by popularity, one unit (one in ten wants two).
pub fn attempts(items: &[Item], b: &Buyers, seed: u64) -> Vec<Attempt> {
    let mut rng = Rng::new(seed);
    let weights: Vec<f64> = items.iter().map(|i| i.popularity).collect();
    let mut out = Vec::new();
    let mut t = 0.0f64;
    if b.rate <= 0.0 || items.is_empty() {
        return out;
    }
    loop {
        t += -(1.0 - rng.unit()).ln() / b.rate * 1000.0;
        if t >= b.duration_ms as f64 {
            return out;
        }
        let channel = Channel::CONNECTED[rng.pick(&b.channel_mix)];
        let item = rng.pick(&weights);
        let qty = if rng.unit() < 0.1 { 2 } else { 1 };
        let delivery = Delivery {
            duplicate: rng.unit() < b.duplicate_rate,
            late_ms: if rng.unit() < b.late_rate {
                b.late_ms
            } else {
                0
            },
        };
        out.push(Attempt {
            at_ms: t as u64,
            channel,
            item,
            qty,
            delivery,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyers() -> Buyers {
        Buyers {
            duration_ms: 60_000,
            rate: 5.0,
            channel_mix: [0.5, 0.25, 0.25],
            duplicate_rate: 0.05,
            late_rate: 0.05,
            late_ms: 2_000,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_buyers() {
        let items = catalog(50, 7, 300.0);
        assert_eq!(
            attempts(&items, &buyers(), 7),
            attempts(&items, &buyers(), 7)
        );
        assert_ne!(
            attempts(&items, &buyers(), 7),
            attempts(&items, &buyers(), 8)
        );
    }

    #[test]
    fn arrivals_follow_the_rate_and_mix() {
        let items = catalog(50, 1, 300.0);
        let b = Buyers {
            duration_ms: 600_000,
            ..buyers()
        };
        let a = attempts(&items, &b, 3);
        // 3,000 expected; Poisson sd ≈ 55.
        assert!((2_800..3_200).contains(&a.len()), "{}", a.len());
        assert!(a.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        let shopify = a.iter().filter(|x| x.channel == Channel::Shopify).count() as f64;
        assert!((shopify / a.len() as f64 - 0.5).abs() < 0.04);
        let dup = a.iter().filter(|x| x.delivery.duplicate).count() as f64;
        assert!((dup / a.len() as f64 - 0.05).abs() < 0.02);
        // The hottest item draws more buyers than the coldest.
        let hot = a.iter().filter(|x| x.item == 0).count();
        let cold = a.iter().filter(|x| x.item == 49).count();
        assert!(hot > 5 * cold, "hot {hot} cold {cold}");
    }

    #[test]
    fn the_catalog_has_a_few_nearly_gone_skus() {
        let c = catalog(50, 7, 300.0);
        assert_eq!(c.len(), 50);
        // The hottest holds the most; the tail is nearly gone; each holds less than its
        // buyers want (300 units wanted, 1/rank: the hottest's buyers want ~67).
        assert!(c[0].on_hand >= 20 && c[0].on_hand <= 67, "{}", c[0].on_hand);
        assert!(c.iter().filter(|i| i.on_hand <= 3).count() >= 15);
        assert!(c.iter().all(|i| i.on_hand >= 2));
        let held: u32 = c.iter().map(|i| i.on_hand).sum();
        assert!(held < 300, "{held}");
        let names: std::collections::BTreeSet<_> = c.iter().map(|i| &i.sku).collect();
        assert_eq!(names.len(), 50);
        assert!(c.iter().all(|i| onecount::Sku::parse(&i.sku).is_ok()));
    }
}
