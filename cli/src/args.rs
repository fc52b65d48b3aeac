//! The command line, as clap types. Values are parsed into domain newtypes here, so a
//! typo is a one-line usage error, never a panic.

use clap::{Args, Parser, Subcommand};

use onecount::domain::{LineId, OrderId};
use onecount::{Channel, ChannelRef, Qty, Sku};

#[derive(Debug, Parser)]
#[command(
    name = "onecount",
    version,
    about = "One true stock count per SKU, shown on Shopify, Etsy and eBay.",
    long_about = "One true stock count per SKU, shown on Shopify, Etsy and eBay.\n\n\
        Talks to DynamoDB at AWS_ENDPOINT_URL (unset: real AWS with your usual credentials).\n\
        The table comes from --table or ONECOUNT_TABLE.",
    after_help = "Examples:\n  onecount init\n  onecount stock create MUG-BLUE-12OZ --on-hand 20 --threshold 3\n  \
        onecount sale record --channel offline --order stall-17 --line 1 --sku MUG-BLUE-12OZ --qty 2\n  \
        onecount timeline MUG-BLUE-12OZ"
)]
pub struct Cli {
    /// DynamoDB table holding the ledger.
    #[arg(long, global = true, env = "ONECOUNT_TABLE", hide_env_values = true)]
    pub table: Option<String>,
    /// Print JSON instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the table (the same schema the SAM template declares); safe to run twice.
    Init,
    /// Read and change the true count of a SKU.
    #[command(subcommand)]
    Stock(StockCmd),
    /// Record sales made outside the connected channels, and their cancellations.
    #[command(subcommand)]
    Sale(SaleCmd),
    /// Map a SKU to its listing on a channel (ids, buffer, max, pause).
    #[command(subcommand)]
    Listings(ListingsCmd),
    /// Run onecount on this machine: the webhook routes and the handlers, against moto.
    Local(LocalArgs),
    /// Webhooks and order lines kept because onecount could not use them.
    #[command(subcommand)]
    Quarantine(QuarantineCmd),
    /// Ask the channel pushers to bring a SKU's listings up to date now (needs the push
    /// queue URLs: ONECOUNT_PUSH_QUEUE_URL_SHOPIFY, _ETSY, _EBAY from the stack outputs).
    Push {
        sku: Sku,
        /// Only this channel (default: every channel the SKU is listed on).
        #[arg(long)]
        channel: Option<Channel>,
        /// Raise a channel even where it shows less than expected. Only after checking
        /// that channel has no orders onecount missed: otherwise this re-inflates it.
        #[arg(long)]
        force: bool,
    },
    /// The local flash sale (`make demo`): onecount on this machine against today's sync
    /// tools, on one stream of buyers; prints a report and writes a chart.
    Demo(DemoArgs),
    /// Benchmarks that print numbers.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Everything that happened to a SKU, oldest first.
    Timeline {
        sku: Sku,
        /// Show at most this many of the most recent entries.
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum StockCmd {
    /// Start tracking a SKU.
    Create {
        sku: Sku,
        /// Units on hand now.
        #[arg(long)]
        on_hand: u32,
        /// Alert when the count falls to or below this.
        #[arg(long, default_value_t = 0)]
        threshold: u32,
    },
    /// Show a SKU's count, version and threshold.
    Get { sku: Sku },
    /// Set the absolute count (after a stock take, or to contain an oversell).
    Set {
        sku: Sku,
        on_hand: u32,
        /// Why, for the timeline (e.g. "stock take").
        #[arg(long)]
        reason: String,
        /// Who, for the timeline (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Change the count by +N (received) or -N (shrinkage, damage).
    Adjust {
        sku: Sku,
        #[arg(allow_negative_numbers = true)]
        delta: i64,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        actor: Option<String>,
    },
    /// Which channel keeps selling a SKU's last units, and at what level the others stop
    /// (last-unit protection; auto-pause also keeps the primary channel selling).
    Protect {
        sku: Sku,
        /// The SKU's primary channel (default: shopify).
        #[arg(long)]
        primary: Option<Channel>,
        /// At or below this count, list only on the primary channel.
        #[arg(long, conflicts_with = "global")]
        last_units: Option<u32>,
        /// Drop the SKU's own level: the global one (ONECOUNT_LAST_UNIT_LEVEL) applies.
        #[arg(long)]
        global: bool,
    },
    /// All SKUs with their counts.
    List {
        /// Stop after this many SKUs.
        #[arg(long)]
        limit: Option<usize>,
    },
}

/// Which order line.
#[derive(Debug, Args)]
pub struct LineRef {
    /// shopify, etsy, ebay or offline (a market stall, a phone order).
    #[arg(long)]
    pub channel: Channel,
    #[arg(long)]
    pub order: OrderId,
    #[arg(long)]
    pub line: LineId,
}

#[derive(Debug, Subcommand)]
pub enum SaleCmd {
    /// Take an order line off the count, exactly once (repeating it changes nothing).
    Record {
        #[command(flatten)]
        at: LineRef,
        #[arg(long)]
        sku: Sku,
        #[arg(long)]
        qty: Qty,
    },
    /// Cancel an order line: what it took goes back, once.
    Cancel {
        #[command(flatten)]
        at: LineRef,
        /// The line's SKU, if known (puts an early cancel on the SKU's timeline).
        #[arg(long)]
        sku: Option<Sku>,
    },
    /// Refund with restock: QTY units of the line go back, once per refund id.
    Refund {
        #[command(flatten)]
        at: LineRef,
        #[arg(long)]
        sku: Option<Sku>,
        /// The refund's id (makes the restock idempotent).
        #[arg(long)]
        refund: String,
        #[arg(long)]
        qty: Qty,
    },
}

#[derive(Debug, Subcommand)]
pub enum ListingsCmd {
    /// Create or replace the listing of SKU on CHANNEL.
    Set {
        #[arg(long)]
        sku: Sku,
        #[arg(long)]
        channel: Channel,
        /// The channel's id for it, kind:id (repeatable): variant:4412…, inventory_item:4800…,
        /// listing:1234…, offer:8123…, item:3161…
        #[arg(long = "ref", required = true)]
        refs: Vec<ChannelRef>,
        /// Units held back from this channel.
        #[arg(long, default_value_t = 0)]
        buffer: u32,
        /// List at most this many.
        #[arg(long)]
        max: Option<u32>,
        /// List 0 on this channel.
        #[arg(long)]
        paused: bool,
    },
    /// A SKU's listings.
    Get { sku: Sku },
    /// Which SKU a channel id belongs to.
    Resolve {
        #[arg(long)]
        channel: Channel,
        reference: ChannelRef,
    },
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Also start the Shopify, Etsy and eBay sandboxes, wired to this host.
    #[arg(long)]
    pub sandbox: bool,
    /// Start moto from the project's venv (when AWS_ENDPOINT_URL is not set).
    #[arg(long)]
    pub start_moto: bool,
    /// Port for the webhook routes (default: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Prefix of the table, queue and topic names.
    #[arg(long, default_value = "onecount-local")]
    pub prefix: String,
    /// Run the drift check every this many seconds (0: never).
    #[arg(long, default_value_t = 300)]
    pub drift_every: u64,
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCmd {
    /// The most recent quarantined items, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the chart (flash-sale.svg) and the full results (flash-sale.json) go.
    #[arg(long, default_value = "flash-sale-report")]
    pub out: std::path::PathBuf,
    /// Seconds of selling (the demo's default is 60).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seed of the buyers and the catalog (same seed, same sale).
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// A flash sale played against onecount, onecount with last-unit protection, interval
    /// sync (every 15 min, time-scaled) and per-channel FIFO delta pushes, on the same
    /// buyers: oversold units, stale time, lag and channel writes, side by side.
    #[command(after_help = "Examples:\n  onecount bench flash-sale --quick\n  \
        onecount bench flash-sale --duration 120 --rate 6 --etsy-qps 2 --json\n  \
        onecount bench flash-sale --only interval,fifo --rate 20   (no moto needed)")]
    FlashSale(FlashArgs),
}

#[derive(Debug, Args)]
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
    /// Only these strategies: onecount, onecount_last_units, interval, fifo (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Also write flash-sale.svg and flash-sale.json here.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}
