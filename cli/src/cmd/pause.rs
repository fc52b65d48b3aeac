//! `onecount pause|resume SKU`: stop (or start) listing a SKU on its channels; the
//! channels hear of it at once where the push queues are known.

use anyhow::{Result, bail};
use serde_json::json;

use onecount::aws::dynamo::DynamoStore;
use onecount::{Channel, ListingStore, Sku, StockLedger};

use super::{Reply, request_push};

pub async fn run(
    store: &DynamoStore,
    sku: &Sku,
    channel: Option<Channel>,
    paused: bool,
) -> Result<Reply> {
    if store.get_stock(sku).await?.is_none() {
        bail!("unknown SKU '{sku}'");
    }
    let mut listings = store.listings_for_sku(sku).await?;
    listings.retain(|l| channel.is_none_or(|c| c == l.channel));
    if listings.is_empty() {
        bail!(
            "SKU '{sku}' has no listing{}: map one with `onecount listings set`",
            channel.map(|c| format!(" on {c}")).unwrap_or_default()
        );
    }
    let mut changed = Vec::new();
    let mut pushes = Vec::new();
    for mut l in listings {
        if l.policy.paused != paused {
            l.policy.paused = paused;
            store.put_listing(&l).await?;
            changed.push(l.channel);
        }
        let cause = if paused {
            "paused by operator"
        } else {
            "resumed by operator"
        };
        match request_push(sku, l.channel, cause, false).await {
            Ok(()) => pushes.push(l.channel),
            Err(e) => tracing::debug!(error = %e, "no push requested"),
        }
    }
    let word = if paused { "paused" } else { "resumed" };
    let value = json!({"sku": sku, "paused": paused, "changed": changed, "push_requested": pushes});
    let names = |v: &[Channel]| v.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
    let mut text = if changed.is_empty() {
        format!("{sku} was already {word} there\n")
    } else {
        format!("{sku} {word} on {}\n", names(&changed))
    };
    text.push_str(&if pushes.is_empty() {
        "No push queue configured here: the channels update with the next drift check (set ONECOUNT_PUSH_QUEUE_URL_<CHANNEL> to push now).".to_string()
    } else {
        format!("push requested on {}", names(&pushes))
    });
    Ok(Reply::new(&value, text))
}
