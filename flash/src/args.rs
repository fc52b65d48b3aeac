//! `onecount bench flash-sale`'s arguments: the scenario's knobs, which name channels.

use anyhow::{Context, Result};
use clap::Args;

use crate::{Scenario, Strategy};

/// A flash sale played against onecount, onecount with last-unit protection, interval
/// sync (every 15 min, time-scaled) and per-channel FIFO delta pushes, on the same
/// buyers: oversold units, stale time, lag and channel writes, side by side.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  onecount bench flash-sale --quick\n  \
    onecount bench flash-sale --duration 120 --rate 6 --etsy-qps 2 --json\n  \
    onecount bench flash-sale --only interval,fifo --rate 20   (no moto needed)")]
pub struct FlashArgs {
    /// The standard scenario (40 s of selling, about a minute in all); other knobs still apply.
    #[arg(long)]
    pub quick: bool,
    /// Seconds of selling (default 120; 40 with --quick).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Checkout attempts per second across all channels.
    #[arg(long)]
    pub rate: Option<f64>,
    /// SKUs in the catalog.
    #[arg(long)]
    pub skus: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Etsy's requests per second (Etsy's real default is 10).
    #[arg(long)]
    pub etsy_qps: Option<u32>,
    /// SKUs per Etsy listing: colours of one listing with variations, written together.
    #[arg(long)]
    pub etsy_variations: Option<u32>,
    /// How the eBay listings were made: `inventory` (Inventory API offers) or `trading`
    /// (Seller Hub listings, through the Trading API).
    #[arg(long, value_enum)]
    pub ebay_kind: Option<crate::EbayKind>,
    /// Added to every eBay API call (ms).
    #[arg(long)]
    pub ebay_latency_ms: Option<u64>,
    /// Share of channel API calls that fail with 500 (0–1).
    #[arg(long)]
    pub error_rate: Option<f64>,
    /// Share of webhooks delivered twice (0–1).
    #[arg(long)]
    pub duplicate_rate: Option<f64>,
    /// Share of webhooks delivered late (0–1).
    #[arg(long)]
    pub late_rate: Option<f64>,
    /// Webhooks never delivered.
    #[arg(long)]
    pub lost_webhooks: Option<u32>,
    /// Sale minutes per real minute (the interval baseline's period is divided by it).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// The interval baseline's period, in sale minutes.
    #[arg(long)]
    pub interval_minutes: Option<f64>,
    /// Last-unit protection level for the protected onecount run.
    #[arg(long)]
    pub last_units: Option<u32>,
    /// onecount's drift check period in sale minutes (deployed default 5; time-scaled).
    #[arg(long)]
    pub drift_minutes: Option<f64>,
    /// Channel access tokens end this many seconds after they are issued (0: never, the
    /// default); Shopify is then a Dev Dashboard app (client credentials grant).
    #[arg(long)]
    pub token_ttl_s: Option<u64>,
    /// Only these strategies: onecount, onecount_last_units, interval, fifo, oracle
    /// (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Also write flash-sale.svg and flash-sale.json here.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

impl FlashArgs {
    /// The scenario these arguments ask for (checked).
    pub fn scenario(&self) -> Result<Scenario> {
        let a = self;
        let mut sc = Scenario::standard();
        if !a.quick {
            sc.name = "custom".into();
            sc.duration_s = 120.0;
        }
        macro_rules! set {
            ($($arg:ident => $field:ident),*) => {$(
                if let Some(v) = a.$arg { sc.$field = v; sc.name = if a.quick { "standard+".into() } else { "custom".into() }; }
            )*};
        }
        set!(duration => duration_s, rate => rate, skus => skus, seed => seed, etsy_qps => etsy_qps, etsy_variations => etsy_variations, ebay_kind => ebay_kind,
            ebay_latency_ms => ebay_latency_ms, error_rate => error_rate,
            duplicate_rate => duplicate_rate, late_rate => late_rate, lost_webhooks => lost_webhooks,
            time_scale => time_scale, interval_minutes => interval_minutes, last_units => last_units,
            drift_minutes => drift_minutes, token_ttl_s => token_ttl_s);
        if !a.only.is_empty() {
            sc.strategies = a
                .only
                .iter()
                .map(|s| {
                    Strategy::ALL
                        .into_iter()
                        .find(|x| x.key() == s.trim())
                        .with_context(|| {
                            format!(
                                "unknown strategy '{s}' (choose from onecount, onecount_last_units, interval, fifo, oracle)"
                            )
                        })
                })
                .collect::<Result<_>>()?;
        }
        sc.check()?;
        Ok(sc)
    }
}
