//! `onecount local`: the local host against moto, until Ctrl-C.

use anyhow::{Context, Result, bail};

use super::Reply;
use crate::args::LocalArgs;

/// `onecount local`: provision, serve, poll; until Ctrl-C.
pub async fn run(args: LocalArgs) -> Result<Reply> {
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
    Ok(Reply::done())
}
