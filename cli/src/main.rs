//! `onecount`: the operator CLI. Same adapter as the Lambda functions; the endpoint comes
//! from `AWS_ENDPOINT_URL`, so one binary talks to AWS or to the local emulator.

mod args;
mod flash;
mod ops;
mod output;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use onecount::aws::dynamo::DynamoStore;
use onecount::config::StoreConfig;
use onecount::domain::{NewStock, RestockKind, RestockRequest, TimelineEntry};
use onecount::{
    Channel, Listing, ListingPolicy, ListingStore, OrderLine, Sku, StockLedger, TimelineStore,
};

use args::{Cli, Command, ListingsCmd, LocalArgs, QuarantineCmd, SaleCmd, StockCmd};

fn main() -> ExitCode {
    // `onecount … | head` ends quietly, as other command-line tools do, instead of a
    // panic about a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // A usage error: clap's opening paragraph says what is wrong; one line, exit 2.
            let text = e.render().to_string();
            let what: Vec<&str> = text
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                })
                .collect();
            eprintln!("{} (see --help)", what.join(" "));
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Command::Demo(_) | Command::Bench(_)) {
        onecount::telemetry::init_cli_at("error");
    } else {
        onecount::telemetry::init_cli();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, with hints for the usual local mistakes.
fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}").replace('\n', " ");
    if text.contains("ResourceNotFoundException") {
        return format!("{text} (does the table exist? create it with `onecount init`)");
    }
    if text.contains("dispatch failure")
        || text.contains("Connection refused")
        || text.contains("timed out")
    {
        let ep =
            onecount::aws::endpoint_url().unwrap_or_else(|| "AWS (no AWS_ENDPOINT_URL set)".into());
        return format!("cannot reach DynamoDB at {ep}: {text}");
    }
    text
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

fn actor(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".to_string())
}

async fn run(cli: Cli) -> Result<u8> {
    let json = cli.json;
    match cli.command {
        Command::Local(args) => return local(args).await.map(|()| 0),
        Command::Demo(args) => {
            let out = args.out.clone();
            return flash::run(flash::demo_scenario(&args), Some(&out), json)
                .await
                .map(|()| 0);
        }
        Command::Bench(args::BenchCmd::FlashSale(a)) => {
            let sc = a.scenario()?;
            return flash::run(sc, a.out.as_deref(), json).await.map(|()| 0);
        }
        Command::Dlq(cmd) => return ops::dlq(cmd, json).await.map(|()| 0),
        _ => {}
    }
    let store = store(cli.table).await?;
    match cli.command {
        Command::Init => {
            let r = store.init().await?;
            if json {
                output::json(
                    &serde_json::json!({"table": r.table, "created": r.created, "ttl_enabled": r.ttl_enabled, "point_in_time_recovery": r.point_in_time_recovery}),
                )
            } else {
                let what = if r.created {
                    "created"
                } else {
                    "already exists; schema matches"
                };
                println!("table {} {what}", r.table);
                println!(
                    "  timeline TTL: {}",
                    if r.ttl_enabled { "on" } else { "off" }
                );
                println!(
                    "  point-in-time recovery: {}",
                    if r.point_in_time_recovery {
                        "on"
                    } else {
                        "not available on this endpoint"
                    }
                );
            }
        }
        Command::Stock(cmd) => stock(&store, cmd, json).await?,
        Command::Sale(cmd) => sale(&store, cmd, json).await?,
        Command::Listings(ListingsCmd::Import { file, dry_run }) => {
            return ops::import(&store, &file, dry_run, json).await;
        }
        Command::Listings(ListingsCmd::Verify { channel }) => {
            return ops::verify(&store, channel, json).await;
        }
        Command::Listings(cmd) => listings(&store, cmd, json).await?,
        Command::Push {
            sku,
            channel,
            force,
        } => {
            let channels: Vec<Channel> = match channel {
                Some(c) => vec![c],
                None => store
                    .listings_for_sku(&sku)
                    .await?
                    .iter()
                    .map(|l| l.channel)
                    .collect(),
            };
            if channels.is_empty() {
                bail!("SKU '{sku}' has no listings: map one with `onecount listings set`");
            }
            let cause = if force {
                "operator push (forced)"
            } else {
                "operator push"
            };
            for c in &channels {
                request_push(&sku, *c, cause, force).await?;
            }
            if json {
                output::json(
                    &serde_json::json!({"sku": sku, "requested": channels, "force": force}),
                );
            } else {
                let names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
                println!("push of {sku} requested on {}", names.join(", "));
            }
        }
        Command::Local(_) | Command::Demo(_) | Command::Bench(_) | Command::Dlq(_) => {
            unreachable!("handled above")
        }
        Command::Status {
            lag_secs,
            stuck_secs,
        } => ops::status(&store, lag_secs, stuck_secs, json).await?,
        Command::Pause { sku, channel } => ops::pause(&store, &sku, channel, true, json).await?,
        Command::Resume { sku, channel } => ops::pause(&store, &sku, channel, false, json).await?,
        Command::OversellCost(a) => ops::oversell_cost(&store, &a, json).await?,
        Command::Quarantine(QuarantineCmd::List { limit }) => {
            let items = onecount::ports::Inbox::quarantined(&store, limit).await?;
            if json {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD;
                let v: Vec<_> = items
                    .iter()
                    .map(|q| serde_json::json!({"id": q.id, "channel": q.channel, "reason": q.reason, "received_at": q.received_at, "headers": q.headers, "body_base64": b64.encode(&q.body)}))
                    .collect();
                output::json(&v)
            } else {
                output::quarantine(&items)
            }
        }
        Command::Timeline { sku, limit } => {
            if store.get_stock(&sku).await?.is_none() {
                bail!("unknown SKU '{sku}'");
            }
            let entries: Vec<TimelineEntry> = store.timeline(&sku, limit).await?;
            if json {
                output::json(&entries)
            } else {
                output::timeline(&sku, &entries)
            }
        }
    }
    Ok(0)
}

async fn stock(store: &DynamoStore, cmd: StockCmd, json: bool) -> Result<()> {
    match cmd {
        StockCmd::Create {
            sku,
            on_hand,
            threshold,
        } => {
            let item = store
                .create_stock(&NewStock {
                    sku,
                    on_hand,
                    low_stock_threshold: threshold,
                })
                .await?;
            if json {
                output::json(&item)
            } else {
                output::stock(&[item])
            }
        }
        StockCmd::Get { sku } => {
            let item = store
                .get_stock(&sku)
                .await?
                .with_context(|| format!("unknown SKU '{sku}'"))?;
            if json {
                output::json(&item)
            } else {
                output::stock(&[item])
            }
        }
        StockCmd::Set {
            sku,
            on_hand,
            reason,
            actor: a,
        } => {
            let c = store.set_on_hand(&sku, on_hand, &reason, &actor(a)).await?;
            if json {
                output::json(&c)
            } else {
                println!(
                    "{}: {} -> {} (version {})",
                    c.sku, c.before, c.after, c.version
                )
            }
        }
        StockCmd::Adjust {
            sku,
            delta,
            reason,
            actor: a,
        } => {
            let c = store.adjust(&sku, delta, &reason, &actor(a)).await?;
            if json {
                output::json(&c)
            } else {
                println!(
                    "{}: {} -> {} (version {})",
                    c.sku, c.before, c.after, c.version
                )
            }
        }
        StockCmd::Protect {
            sku,
            primary,
            last_units,
            global,
        } => {
            let level = if global {
                Some(None)
            } else {
                last_units.map(Some)
            };
            if primary.is_none() && level.is_none() {
                bail!("nothing to change: give --primary CHANNEL, --last-units N or --global");
            }
            if let Some(p) = primary
                && !p.is_connected()
            {
                bail!(
                    "the primary channel must be {}, not '{p}'",
                    Channel::connected_names()
                );
            }
            store.set_guard(&sku, primary, level, &actor(None)).await?;
            let st = store
                .get_stock(&sku)
                .await?
                .ok_or_else(|| anyhow::anyhow!("unknown SKU '{sku}'"))?;
            for l in store.listings_for_sku(&sku).await? {
                if let Err(e) = request_push(&sku, l.channel, "protection changed", false).await {
                    eprintln!(
                        "note: {e:#}; the channels pick the change up at the next sale or drift check"
                    );
                    break;
                }
            }
            if json {
                output::json(&st.guard)
            } else {
                println!(
                    "{sku}: primary {}, last-unit level {}",
                    st.guard.primary(),
                    st.guard.last_units.map_or(
                        "global (ONECOUNT_LAST_UNIT_LEVEL, off unless set)".to_string(),
                        |l| l.to_string()
                    )
                );
            }
        }
        StockCmd::List { limit } => {
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = store.list_stock(after.as_deref(), 100).await?;
                all.extend(page.items);
                if limit.is_some_and(|l| all.len() >= l) {
                    all.truncate(limit.unwrap_or(usize::MAX));
                    break;
                }
                match page.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            if json {
                output::json(&all)
            } else {
                output::stock(&all)
            }
        }
    }
    Ok(())
}

async fn sale(store: &DynamoStore, cmd: SaleCmd, json: bool) -> Result<()> {
    match cmd {
        SaleCmd::Record { at, sku, qty } => {
            let line = OrderLine {
                channel: at.channel,
                order: at.order,
                line: at.line,
                sku,
                qty,
                placed_at: None,
            };
            let out = store.record_sale(&line).await?;
            if json {
                output::json(&out)
            } else {
                let on_hand = store.get_stock(&line.sku).await?.map(|s| s.on_hand);
                println!(
                    "{}{}",
                    output::sale_outcome(&out),
                    on_hand
                        .map(|n| format!(" — {} now has {n} on hand", line.sku))
                        .unwrap_or_default()
                );
            }
        }
        SaleCmd::Cancel { at, sku } => {
            restock(
                store,
                RestockRequest {
                    channel: at.channel,
                    order: at.order,
                    line: at.line,
                    sku,
                    kind: RestockKind::Cancel,
                },
                json,
            )
            .await?
        }
        SaleCmd::Refund {
            at,
            sku,
            refund,
            qty,
        } => {
            let kind = RestockKind::Refund { id: refund, qty };
            restock(
                store,
                RestockRequest {
                    channel: at.channel,
                    order: at.order,
                    line: at.line,
                    sku,
                    kind,
                },
                json,
            )
            .await?
        }
    }
    Ok(())
}

async fn restock(store: &DynamoStore, req: RestockRequest, json: bool) -> Result<()> {
    if let Some(sku) = &req.sku
        && store.get_stock(sku).await?.is_none()
    {
        bail!("unknown SKU '{sku}'");
    }
    let out = store.restock(&req).await?;
    if json {
        output::json(&out)
    } else {
        println!("{}", output::restock_outcome(&out))
    }
    Ok(())
}

async fn listings(store: &DynamoStore, cmd: ListingsCmd, json: bool) -> Result<()> {
    match cmd {
        ListingsCmd::Import { .. } | ListingsCmd::Verify { .. } => {
            unreachable!("handled in run")
        }
        ListingsCmd::Set {
            sku,
            channel,
            refs,
            buffer,
            max,
            paused,
        } => {
            if !channel.is_connected() {
                bail!(
                    "listings are for connected channels ({}), not '{channel}'",
                    Channel::connected_names()
                );
            }
            if store.get_stock(&sku).await?.is_none() {
                bail!(
                    "unknown SKU '{sku}': create it first with `onecount stock create {sku} --on-hand N`"
                );
            }
            let l = Listing {
                sku,
                channel,
                refs,
                policy: ListingPolicy {
                    buffer,
                    max_qty: max,
                    paused,
                },
            };
            store.put_listing(&l).await?;
            // A policy change (pause, buffer, max) shows on the channel at once when the
            // push queues are known; otherwise at the next change or drift check.
            let pushed = request_push(&l.sku, l.channel, "listing changed", false).await;
            if json {
                output::json(&l)
            } else {
                output::listings(&[l]);
                if let Err(e) = pushed {
                    eprintln!(
                        "note: {e:#}; the channel picks the change up at the next sale or drift check"
                    );
                }
            }
        }
        ListingsCmd::Get { sku } => {
            let ls = store.listings_for_sku(&sku).await?;
            if json {
                output::json(&ls)
            } else {
                output::listings(&ls)
            }
        }
        ListingsCmd::Resolve { channel, reference } => {
            let sku = store.resolve(channel, &reference).await?;
            match (sku, json) {
                (Some(s), true) => output::json(&serde_json::json!({"sku": s})),
                (Some(s), false) => println!("{s}"),
                (None, _) => bail!("no SKU is mapped to {channel} {reference}"),
            }
        }
    }
    Ok(())
}

/// `onecount local`: provision, serve, poll; until Ctrl-C.
async fn local(args: LocalArgs) -> Result<()> {
    let _moto;
    let sdk = match (onecount::aws::endpoint_url(), args.start_moto) {
        (Some(_), _) => onecount::aws::load_sdk_config().await,
        (None, true) => {
            let m = onecount_local::moto::start()?;
            let sdk = onecount::aws::load_sdk_config_at(&m.endpoint).await;
            println!("moto:      {}", m.endpoint);
            _moto = m;
            sdk
        }
        (None, false) => bail!(
            "AWS_ENDPOINT_URL is not set: start moto (`eval \"$(make -s moto)\"`) or pass --start-moto"
        ),
    };
    let mut cfg = onecount_local::LocalConfig::new(&args.prefix);
    cfg.port = args.port;
    cfg.sandbox = args.sandbox;
    cfg.drift_every =
        (args.drift_every > 0).then(|| std::time::Duration::from_secs(args.drift_every));
    if !args.sandbox && std::env::var_os("ONECOUNT_CHANNELS_FILE").is_some() {
        cfg.channels = onecount::channels::ChannelsConfig::load(&sdk)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    let host = onecount_local::LocalHost::start(&sdk, cfg).await?;
    let r = &host.resources;
    let routes: Vec<String> = host
        .channels
        .channels()
        .map(|c| format!("{}/webhooks/{c}", host.url))
        .collect();
    println!("webhooks:  {}", routes.join("  "));
    println!("table:     {}", r.table);
    println!("queues:    {} (DLQ {})", r.order_queue, r.order_dlq);
    for (ch, q, d) in &r.push_queues {
        println!("           push {ch}: {q} (DLQ {d})");
    }
    println!("alerts:    {}", r.topic_arn);
    if let Some(sb) = &host.sandboxes {
        println!("sandboxes: {}", sb.urls().join("  "));
        println!(
            "           place an order: curl -XPOST {}/_sim/orders -d '{{\"lines\":[[VARIANT_ID,1]]}}' -H 'content-type: application/json'",
            sb.shopify_url
        );
    }
    // Everything the operator commands need, as exports to paste into another shell.
    let mut exports = vec![
        format!(
            "export AWS_ENDPOINT_URL={}",
            onecount::aws::endpoint_url().unwrap_or_default()
        ),
        format!("export ONECOUNT_TABLE={}", r.table),
        format!("export ONECOUNT_ORDER_QUEUE_URL={}", r.order_queue),
        format!("export ONECOUNT_ORDER_DLQ_URL={}", r.order_dlq),
    ];
    for (ch, q, d) in &r.push_queues {
        let c = ch.as_str().to_uppercase();
        exports.push(format!("export ONECOUNT_PUSH_QUEUE_URL_{c}={q}"));
        exports.push(format!("export ONECOUNT_PUSH_DLQ_URL_{c}={d}"));
    }
    if host.sandboxes.is_some() {
        let cfg = &host.channels;
        let path = std::env::temp_dir().join(format!("{}-channels.json", args.prefix));
        std::fs::write(&path, serde_json::to_string_pretty(&cfg)?)
            .with_context(|| format!("writing {}", path.display()))?;
        exports.push(format!("export ONECOUNT_CHANNELS_FILE={}", path.display()));
    }
    println!("use the CLI against it (in another shell):");
    for e in &exports {
        println!("  {e}");
    }
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

/// Put a push request for `sku` on `channel`'s queue (URL from the environment).
pub(crate) async fn request_push(
    sku: &Sku,
    channel: Channel,
    cause: &str,
    force: bool,
) -> Result<()> {
    use onecount::ports::{PushQueue, PushRequest};
    let urls = onecount::aws::sqs::QueueUrls::from_env();
    if let Err(e) = urls.require_push(channel) {
        bail!("{e} (a stack output)");
    }
    let sdk = onecount::aws::load_sdk_config().await;
    let q = onecount::aws::sqs::SqsQueues::new(&sdk, urls);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    q.request_push(&PushRequest {
        sku: sku.clone(),
        channel,
        cause: cause.to_string(),
        origin_channel: None,
        origin_order: None,
        requested_at: now,
        origin_at: None,
        force,
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))
}
