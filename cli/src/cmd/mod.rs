//! One file per command (mini-redis style): each takes its parsed arguments, does its
//! work and returns a [`Reply`] — the value scripts get with `--json` and the text people
//! get — which `main` prints once. Commands that run until stopped (`local`, `demo`,
//! `bench`) print as they go.

pub mod connect;
mod cost;
mod discover;
mod dlq;
mod flash;
mod import;
mod init;
mod listings;
mod local;
mod pause;
mod push;
mod quarantine;
mod sale;
mod sku;
mod status;
mod stock;
mod timeline;
mod verify;

use anyhow::Result;
pub(crate) use onecount::clock::now_ms;
use serde::Serialize;

use onecount::aws::dynamo::DynamoStore;
use onecount::config::StoreConfig;

use crate::args::{Cli, Command, ListingsCmd};

pub(crate) use push::request_push;

/// What a command answered: the JSON for scripts, the text for people, the exit status.
#[derive(Debug)]
pub struct Reply {
    /// Rendered when the reply is made, so fields keep their declared order.
    pub json: Option<String>,
    pub text: String,
    pub code: u8,
}

impl Reply {
    pub fn new(value: &impl Serialize, text: impl Into<String>) -> Reply {
        let json = serde_json::to_string_pretty(value)
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot render JSON: {e}\"}}"));
        Reply {
            json: Some(json),
            text: text.into(),
            code: 0,
        }
    }

    /// Nothing more to print (the command printed as it went).
    pub fn done() -> Reply {
        Reply {
            json: None,
            text: String::new(),
            code: 0,
        }
    }

    pub fn code(mut self, code: u8) -> Reply {
        self.code = code;
        self
    }

    /// Print it once: JSON or text.
    pub fn print(&self, json: bool) {
        if json {
            if let Some(j) = &self.json {
                println!("{j}");
            }
        } else if !self.text.is_empty() {
            println!("{}", self.text.trim_end_matches('\n'));
        }
    }
}

async fn store(table: Option<String>) -> Result<DynamoStore> {
    let mut cfg = StoreConfig::from_env()
        .or_else(|e| table.clone().map(StoreConfig::new).ok_or(e))
        .map_err(anyhow::Error::msg)?;
    if let Some(t) = table {
        cfg.table = t;
    }
    let sdk = onecount::aws::load_sdk_config().await;
    Ok(DynamoStore::new(&sdk, &cfg))
}

/// Who made a manual change: `--actor`, else `$USER`.
pub(crate) fn actor(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".to_string())
}

/// Run one command line; its reply is printed here.
pub async fn run(cli: Cli) -> Result<u8> {
    let json = cli.json;
    let reply = match cli.command {
        Command::Local(args) => local::run(args).await?,
        Command::Demo(args) => flash::demo(args, json).await?,
        Command::Bench(crate::args::BenchCmd::FlashSale(a)) => flash::bench(a, json).await?,
        Command::Dlq(cmd) => dlq::run(cmd).await?,
        command => on_the_ledger(&store(cli.table).await?, command).await?,
    };
    reply.print(json);
    Ok(reply.code)
}

/// The commands that read or change the ledger.
async fn on_the_ledger(store: &DynamoStore, command: Command) -> Result<Reply> {
    Ok(match command {
        Command::Init => init::run(store).await?,
        Command::Stock(cmd) => stock::run(store, cmd).await?,
        Command::Sku(crate::args::SkuCmd::Show { sku }) => sku::show(store, &sku).await?,
        Command::Sale(cmd) => sale::run(store, cmd).await?,
        Command::Listings(ListingsCmd::Import { file, dry_run }) => {
            import::run(store, &file, dry_run).await?
        }
        Command::Listings(ListingsCmd::Verify { channel }) => verify::run(store, channel).await?,
        Command::Listings(ListingsCmd::Discover {
            channel,
            out,
            apply,
            dry_run: _,
            counts_from,
            threshold,
        }) => {
            let ask = discover::Ask {
                only: channel,
                out,
                apply,
                counts_from,
                threshold,
            };
            discover::run(store, ask).await?
        }
        Command::Listings(cmd) => listings::run(store, cmd).await?,
        Command::Push {
            sku,
            channel,
            force,
        } => push::run(store, sku, channel, force).await?,
        Command::Status {
            lag_secs,
            stuck_secs,
        } => status::run(store, lag_secs, stuck_secs).await?,
        Command::Pause { sku, channel } => pause::run(store, &sku, channel, true).await?,
        Command::Resume { sku, channel } => pause::run(store, &sku, channel, false).await?,
        Command::OversellCost(a) => cost::run(store, &a).await?,
        Command::Quarantine(cmd) => quarantine::run(store, cmd).await?,
        Command::Timeline { sku, limit } => timeline::run(store, &sku, limit).await?,
        Command::Connect(args) => connect::run(store, args).await?,
        Command::Local(_) | Command::Demo(_) | Command::Bench(_) | Command::Dlq(_) => {
            anyhow::bail!("not a ledger command")
        }
    })
}

/// The global last-unit level the deployment runs with (for expected quantities).
pub(crate) fn global_last_units() -> Option<u32> {
    std::env::var("ONECOUNT_LAST_UNIT_LEVEL")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// A listing's channel ids as one line (`item:316… sku:TM-2`).
pub(crate) fn refs_text(refs: &[onecount::ChannelRef]) -> String {
    refs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The deployment's channel clients, with the deployment's tokens: a client of its own
/// would refresh from the configured token, which a channel that rotates refresh tokens
/// has long replaced.
pub(crate) async fn channel_kits(store: &DynamoStore) -> Result<onecount::channels::Registry> {
    let sdk = onecount::aws::load_sdk_config().await;
    let cfg = onecount::channels::ChannelsConfig::load(&sdk)
        .await
        .map_err(anyhow::Error::msg)?;
    onecount::channels::build_with(&cfg, Some(store.tokens())).map_err(anyhow::Error::msg)
}

/// Every listing on `channel`, with its stock and last push, page by page.
pub(crate) async fn all_views(
    store: &DynamoStore,
    channel: onecount::Channel,
) -> Result<Vec<onecount::ports::PushView>> {
    use onecount::ports::DriftStore;
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.listing_views(channel, after.as_deref(), 100).await?;
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}
