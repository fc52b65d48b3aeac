//! The command line, as clap types. Values are parsed into domain newtypes here, so a
//! typo is a one-line usage error, never a panic.

use clap::{Args, Parser, Subcommand};

use onecount::domain::{LineId, OrderId};
use onecount::{Channel, ChannelRef, Qty, Sku};

#[derive(Debug, Parser)]
#[command(
    name = "onecount",
    version,
    about = "One true stock count per SKU, shown on every sales channel.",
    long_about = "One true stock count per SKU, shown on every sales channel.\n\n\
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
    /// Give onecount access to a shop, once per channel: checks the access, names the
    /// shop, and saves what it got (tokens in the table's token store, the rest in the
    /// channels file or the stack's secret). Run it again when access was revoked.
    #[command(long_about = crate::cmd::connect::HELP.0.as_str(), after_help = crate::cmd::connect::HELP.1.as_str())]
    Connect(ConnectArgs),
    /// Run onecount on this machine: the webhook routes and the handlers, against moto.
    Local(LocalArgs),
    /// Webhooks and order lines kept because onecount could not use them.
    #[command(subcommand)]
    Quarantine(QuarantineCmd),
    /// Ask the channel pushers to bring a SKU's listings up to date now (needs the push
    /// queue URLs, ONECOUNT_PUSH_QUEUE_URL_<CHANNEL>, from the stack outputs).
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
    /// One screen for the operator: low stock, listings behind or broken, dead-letter
    /// queues, recent oversells.
    Status {
        /// A listing unconfirmed this long is lagging (seconds).
        #[arg(long, default_value_t = 60)]
        lag_secs: u64,
        /// … and this long, stuck (seconds).
        #[arg(long, default_value_t = 600)]
        stuck_secs: u64,
    },
    /// Messages the order and push queues gave up on: look at them, send them back.
    /// Queue URLs come from the stack outputs: ONECOUNT_ORDER_QUEUE_URL,
    /// ONECOUNT_ORDER_DLQ_URL, ONECOUNT_PUSH_QUEUE_URL_<CHANNEL>, ONECOUNT_PUSH_DLQ_URL_<CHANNEL>.
    #[command(subcommand)]
    Dlq(DlqCmd),
    /// List a SKU at 0 on every channel (or one) until `resume`; the count is untouched.
    Pause {
        sku: Sku,
        #[arg(long)]
        channel: Option<Channel>,
    },
    /// Undo `pause`: list the SKU again on every channel (or one).
    Resume {
        sku: Sku,
        #[arg(long)]
        channel: Option<Channel>,
    },
    /// What the recorded oversells cost, and what they would cost at another sync lag.
    OversellCost(CostArgs),
    /// One SKU on one screen: its count, what each channel shows right now (read live),
    /// what it should show and why (buffer, max, pause, protection, units held back), the
    /// last push per channel with its latency, and what is open about it.
    #[command(subcommand)]
    Sku(SkuCmd),
    /// Everything that happened to a SKU, oldest first.
    Timeline {
        sku: Sku,
        /// Show at most this many of the most recent entries.
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The channel to connect.
    pub channel: Channel,
    /// The store's domain, where the channel's API lives on it (`*.myshopify.com`).
    #[arg(long)]
    pub shop: Option<String>,
    /// The app's id (client id, keystring, App ID: each channel's name for it is above).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Where the consent page sends the browser back: the loopback callback URL
    /// registered with the app, or the registered redirect's name (see above).
    #[arg(long)]
    pub redirect_uri: Option<String>,
    /// The id of the location onecount sets quantities at (asked for when the shop has
    /// several).
    #[arg(long)]
    pub location: Option<String>,
    /// The public URL of onecount's webhook route, for a channel that checks its
    /// notification endpoint before it sends to it.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Turn the seller's out-of-stock control on or off, for a channel that has one:
    /// on, a listing at 0 stays alive, hidden from search, and comes back on restock;
    /// off, the channel takes no 0 and onecount keeps 1 listed. Only with the seller's
    /// consent: it applies to all their listings.
    #[arg(long, value_parser = ["on", "off"])]
    pub out_of_stock_control: Option<String>,
    /// The marketplace site of the listings, for a channel whose calls name it
    /// (0 US, 3 UK, 77 DE, 15 AU, 2 CA…).
    #[arg(long)]
    pub site_id: Option<u32>,
    /// Read the URL the browser landed on from standard input instead of listening.
    #[arg(long)]
    pub paste: bool,
    /// How long to wait for the browser to come back (seconds).
    #[arg(long, default_value_t = 600)]
    pub wait_secs: u64,
    /// The channel's API (default: the channel's own; a sandbox locally).
    #[arg(long, hide = true)]
    pub api_base: Option<String>,
    /// Where the consent page is (default: the channel's own).
    #[arg(long, hide = true)]
    pub auth_base: Option<String>,
}

/// The most a free text given on the command line may take (it goes onto the timeline:
/// DynamoDB limits an item to 400 KB, and a person reads it in one line).
pub const NOTE_MAX_CHARS: usize = 200;

/// A reason, a name or an id given as free text: one line, at most [`NOTE_MAX_CHARS`]
/// characters.
fn note(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().any(char::is_control) {
        return Err("must be one line, with no control characters".into());
    }
    let n = s.chars().count();
    if n > NOTE_MAX_CHARS {
        return Err(format!("is {n} characters long; at most {NOTE_MAX_CHARS}"));
    }
    Ok(s.to_string())
}

#[derive(Debug, Subcommand)]
pub enum SkuCmd {
    /// One screen for one SKU (`--json` for scripts).
    Show { sku: Sku },
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
        #[arg(long, value_parser = note)]
        reason: String,
        /// Who, for the timeline (default: $USER).
        #[arg(long, value_parser = note)]
        actor: Option<String>,
    },
    /// Change the count by +N (received) or -N (shrinkage, damage).
    Adjust {
        sku: Sku,
        #[arg(allow_negative_numbers = true)]
        delta: i64,
        #[arg(long, value_parser = note)]
        reason: String,
        #[arg(long, value_parser = note)]
        actor: Option<String>,
    },
    /// A SKU's primary channel, and the level at or below which its units are dealt out
    /// between the channels while it sells, a sale in the last 30 s (last-unit protection;
    /// auto-pause also keeps the primary channel selling).
    Protect {
        sku: Sku,
        /// The SKU's primary channel (default: shopify).
        #[arg(long)]
        primary: Option<Channel>,
        /// At or below this count, deal the units out between the channels, the primary
        /// first, so that together they never list more than exist (1: the last unit on
        /// the primary only).
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
    /// A connected channel, or offline (a market stall, a phone order).
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
        #[arg(long, value_parser = note)]
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
    /// Map many listings from a CSV file: columns sku,channel,refs and optionally
    /// buffer,max,paused,on_hand,threshold. Every row is checked before anything is
    /// written; bad rows are reported with their line numbers and left out; each good row
    /// is written whole (one transaction) and a re-run writes only what changed.
    #[command(
        after_help = "Example file:\n  sku,channel,refs,buffer,max,paused,on_hand\n  \
        MUG-BLUE-12OZ,shopify,variant:44120000000001,0,,no,20\n  \
        MUG-BLUE-12OZ,shopify,variant:44120000000002,1,5,no,\n  \
        MUG-BLUE-12OZ,ebay,item:316000000001 offer:8123000001,0,,no,\n\n\
        Exit status: 0 all rows good, 3 some rows were bad (the rest are in)."
    )]
    Import {
        file: std::path::PathBuf,
        /// Check every row against the file and the table; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Read every mapped listing from its channel and report the ones that are gone,
    /// belong to another SKU or cannot be read (the SKU-mismatch report). Needs the
    /// channel credentials (ONECOUNT_CHANNELS_FILE or ONECOUNT_CHANNELS_SECRET_ARN).
    Verify {
        /// Only this channel.
        #[arg(long)]
        channel: Option<Channel>,
    },
    /// Read every connected channel's whole catalog (every listing and variation, of
    /// every kind the channel has), match the listings by SKU and say
    /// what was found: matched on N channels, on one channel only, one SKU on two
    /// listings of a channel, SKUs that differ only by case or spaces, listings without a
    /// SKU, inventory the channel does not track. A dry run unless --apply, which maps the clean
    /// rows with `listings import`'s checks (a re-run writes nothing).
    #[command(after_help = "Examples:\n  \
        onecount listings discover --out plan.csv            # look first\n  \
        onecount listings discover --apply                   # map the clean rows\n  \
        onecount listings discover --apply --counts-from shopify\n  \
        onecount listings import plan.csv                    # after fixing rows by hand\n\n\
        A new SKU starts at the lowest quantity its listings show (never the highest), or at\n\
        what the channel named by --counts-from shows; the choice is on its timeline.\n\
        Exit status: 0 all read and applied, 1 a channel could not be read or a row was refused.")]
    Discover {
        /// Only this channel's catalog.
        #[arg(long)]
        channel: Option<Channel>,
        /// Write the plan here as CSV (one line per listing; `listings import` reads it).
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// Map the clean rows (without it, nothing is written).
        #[arg(long)]
        apply: bool,
        /// Say what would be mapped and write nothing (the default).
        #[arg(long, conflicts_with = "apply")]
        dry_run: bool,
        /// A new SKU's count is what this channel shows (default: the lowest listed).
        #[arg(long, value_name = "CHANNEL")]
        counts_from: Option<Channel>,
        /// Low-stock threshold of each new SKU.
        #[arg(long, default_value_t = 0)]
        threshold: u32,
    },
    /// Which SKU a channel id belongs to.
    Resolve {
        #[arg(long)]
        channel: Channel,
        reference: ChannelRef,
    },
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Also start every channel's sandbox, wired to this host.
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
    /// How the eBay listings were made: `inventory` (Inventory API offers, the default)
    /// or `trading` (Seller Hub listings, through the Trading API).
    #[arg(long, value_enum)]
    pub ebay_kind: Option<onecount_flash::EbayKind>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// A flash sale played against onecount, onecount with last-unit protection, interval
    /// sync (every 15 min, time-scaled) and per-channel FIFO delta pushes, on the same
    /// buyers: oversold units, stale time, lag and channel writes, side by side.
    FlashSale(onecount_flash::args::FlashArgs),
}

/// A queue with a dead-letter queue: `orders`, or a channel's push queue by the
/// channel's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    Orders,
    Push(Channel),
}

impl QueueName {
    /// Every queue with a dead-letter queue.
    pub fn all() -> Vec<QueueName> {
        std::iter::once(QueueName::Orders)
            .chain(Channel::CONNECTED.into_iter().map(QueueName::Push))
            .collect()
    }
    /// `orders`, `push-<channel>`.
    pub fn label(self) -> String {
        match self {
            QueueName::Orders => "orders".into(),
            QueueName::Push(c) => format!("push-{c}"),
        }
    }
    /// The variables naming the queue and its dead-letter queue (stack outputs).
    pub fn env(self) -> (String, String) {
        match self {
            QueueName::Orders => (
                "ONECOUNT_ORDER_QUEUE_URL".into(),
                "ONECOUNT_ORDER_DLQ_URL".into(),
            ),
            QueueName::Push(c) => {
                let c = c.as_str().to_uppercase();
                (
                    format!("ONECOUNT_PUSH_QUEUE_URL_{c}"),
                    format!("ONECOUNT_PUSH_DLQ_URL_{c}"),
                )
            }
        }
    }
}

impl std::str::FromStr for QueueName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let name = s.strip_prefix("push-").unwrap_or(s);
        if name.eq_ignore_ascii_case("orders") {
            return Ok(QueueName::Orders);
        }
        name.parse::<Channel>()
            .ok()
            .filter(|c| c.is_connected())
            .map(QueueName::Push)
            .ok_or_else(|| {
                format!(
                    "no queue '{s}' (orders, or a channel: {})",
                    Channel::connected_names()
                )
            })
    }
}

#[derive(Debug, Subcommand)]
pub enum DlqCmd {
    /// Depth of each dead-letter queue and its first messages (they stay in the queue).
    List {
        /// Only this queue's DLQ: orders, or a channel's name.
        #[arg(long)]
        queue: Option<QueueName>,
        /// Messages shown per queue (at most 10 per read).
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Send every message in the DLQ back to its queue (after fixing the cause; the
    /// handlers are idempotent, so a message applied before is harmless).
    Redrive {
        /// Only this queue: orders, or a channel's name.
        #[arg(long)]
        queue: Option<QueueName>,
    },
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Oversells recorded in the last this many days.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Average selling price of a unit.
    #[arg(long, default_value_t = 30.0)]
    pub unit_price: f64,
    /// Margin on a unit, lost when the order is cancelled.
    #[arg(long, default_value_t = 12.0)]
    pub unit_margin: f64,
    /// Payment fee kept on a refund, fixed part per order.
    #[arg(long, default_value_t = 0.30)]
    pub refund_fee: f64,
    /// Payment fee kept on a refund, percent of the order value.
    #[arg(long, default_value_t = 2.9)]
    pub refund_fee_pct: f64,
    /// Cost of a seller-cancelled order on a channel, as CHANNEL=AMOUNT (repeatable):
    /// what the channel's penalty (seller level, search placement, fees) costs you.
    /// Channels not named keep their defaults (your own store 0, marketplaces 5–15).
    #[arg(long = "penalty", value_name = "CHANNEL=AMOUNT", value_parser = parse_penalty)]
    pub penalties: Vec<(Channel, f64)>,
    /// Support time per oversold order, minutes.
    #[arg(long, default_value_t = 15.0)]
    pub support_minutes: f64,
    /// Cost of an hour of support.
    #[arg(long, default_value_t = 25.0)]
    pub hourly_rate: f64,
    /// What-if: units per hour a SKU sells at when it sells out.
    #[arg(long, default_value_t = 120.0)]
    pub units_per_hour: f64,
    /// What-if: share of those sold on the other channels.
    #[arg(long, default_value_t = 0.5)]
    pub other_share: f64,
    /// What-if: sell-outs per month.
    #[arg(long, default_value_t = 20.0)]
    pub sellouts_per_month: f64,
    /// What-if: sync lags to compare, seconds (repeatable; default 900 300 60 2).
    #[arg(long = "lag", value_name = "SECS")]
    pub lags: Vec<f64>,
}

/// `ebay=15`: a channel and what a seller-cancelled order costs there.
fn parse_penalty(s: &str) -> Result<(Channel, f64), String> {
    let (c, v) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not CHANNEL=AMOUNT (e.g. ebay=15)"))?;
    let channel: Channel = c
        .trim()
        .parse()
        .map_err(|e: onecount::domain::ParseError| e.0)?;
    let amount: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("'{v}' is not an amount (e.g. ebay=15)"))?;
    Ok((channel, amount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use onecount::alerts::{Alert, examples};

    /// `onecount …` commands in backticks in `text`, and the lines of its shell blocks
    /// that run onecount (continuation lines joined, leading `VAR=value`s dropped).
    fn commands(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (i, span) in text.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("onecount ") && !span.contains('\n') {
                out.push(span.to_string());
            }
        }
        let mut in_block = false;
        let mut joined = String::new();
        for line in text.lines() {
            if line.starts_with("```") {
                in_block = !in_block && (line == "```sh" || line == "```bash");
                continue;
            }
            if !in_block {
                continue;
            }
            let line = line.split(" # ").next().unwrap_or_default().trim();
            joined.push_str(line.trim_end_matches('\\'));
            joined.push(' ');
            if line.ends_with('\\') {
                continue;
            }
            let cmd: Vec<&str> = joined
                .split_whitespace()
                .skip_while(|w| w.contains('=') && !w.starts_with('-'))
                .collect();
            if cmd.first() == Some(&"onecount") {
                out.push(cmd.join(" "));
            }
            joined.clear();
        }
        out
    }

    /// `onecount <subcommand> …` in an SMS text (no backticks there): from a subcommand
    /// name up to the end of the clause. "onecount" followed by anything else is the
    /// sender's name, not a command.
    fn sms_commands(text: &str) -> Vec<String> {
        use clap::CommandFactory;
        let cli = Cli::command();
        let names: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        text.match_indices("onecount ")
            .filter_map(|(i, _)| {
                let rest = &text[i..];
                let clause = rest.split([',', ';', ':', '(', ')']).next()?;
                let clause = clause.trim_end_matches('.').trim();
                let sub = clause.split_whitespace().nth(1)?;
                names.contains(&sub).then(|| clause.to_string())
            })
            .collect()
    }

    /// Placeholders as values: `SKU`, `CHANNEL`, `N`, `KIND:ID`, `<x>`, `[optional parts]`.
    fn filled(cmd: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut depth = 0;
        for w in cmd.split_whitespace() {
            depth += w.matches('[').count();
            if depth == 0 {
                words.push(w.to_string());
            }
            depth -= w.matches(']').count().min(depth);
        }
        words
            .into_iter()
            // `…` stands for more arguments: the ones written are still checked.
            .filter(|w| w != "…" && w != "...")
            .map(|w| match w.as_str() {
                "CHANNEL" | "C" | "<channel>" => "shopify".to_string(),
                "N" | "QTY" => "2".to_string(),
                "+N" | "±N" => "+2".to_string(),
                "-N" => "-2".to_string(),
                "KIND:ID" | "kind:id" => "variant:1".to_string(),
                _ if w.starts_with('<') || w.ends_with('…') => "x1".to_string(),
                _ => w.trim_matches('"').to_string(),
            })
            .collect()
    }

    /// Parses as a whole command; or, for a command named without all its required
    /// arguments (a mention like `onecount connect`, a synopsis with `…`), its name and
    /// every flag written exist (the CLI shows that command's help).
    fn parses(words: Vec<String>) -> Result<(), clap::error::ErrorKind> {
        use clap::error::ErrorKind as K;
        let ok = |k: K| matches!(k, K::DisplayHelp | K::DisplayVersion);
        match Cli::try_parse_from(&words) {
            Ok(_) => Ok(()),
            Err(e) if ok(e.kind()) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    K::MissingRequiredArgument
                        | K::MissingSubcommand
                        | K::DisplayHelpOnMissingArgumentOrSubcommand
                ) =>
            {
                let mut with_help = words;
                with_help.push("--help".into());
                match Cli::try_parse_from(with_help) {
                    Err(e) if ok(e.kind()) => Ok(()),
                    Err(e) => Err(e.kind()),
                    Ok(_) => Ok(()),
                }
            }
            Err(e) => Err(e.kind()),
        }
    }

    fn unparsed(source: &str, cmds: Vec<String>) -> Vec<String> {
        cmds.into_iter()
            .filter_map(|c| {
                parses(filled(&c))
                    .err()
                    .map(|k| format!("{source}: `{c}`: {k}"))
            })
            .collect()
    }

    #[test]
    fn free_texts_are_one_short_line() {
        let long = "x".repeat(NOTE_MAX_CHARS + 1);
        for bad in [long.as_str(), "two\nlines", " "] {
            let e =
                Cli::try_parse_from(["onecount", "stock", "adjust", "MUG", "+1", "--reason", bad])
                    .unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad:?}");
        }
        assert!(
            Cli::try_parse_from([
                "onecount",
                "stock",
                "adjust",
                "MUG",
                "+1",
                "--reason",
                "received PO-17"
            ])
            .is_ok()
        );
    }

    /// Every command an alert or the README tells someone to run is one the CLI takes: a
    /// runbook step that fails with a usage error is found here, not during an incident.
    #[test]
    fn every_command_in_alerts_and_the_readme_parses() {
        let mut bad = Vec::new();
        let mut seen = 0;
        for a in examples() {
            let Alert {
                kind, body, sms, ..
            } = a;
            let mut cmds = commands(&body);
            cmds.extend(sms_commands(&sms));
            seen += cmds.len();
            bad.extend(unparsed(kind.as_str(), cmds));
        }
        let readme = include_str!("../../README.md");
        let cmds = commands(readme);
        assert!(
            cmds.len() > 40,
            "only {} commands found in the README",
            cmds.len()
        );
        seen += cmds.len();
        bad.extend(unparsed("README", cmds));
        assert!(
            bad.is_empty(),
            "{} of {seen} commands do not parse:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }
}
