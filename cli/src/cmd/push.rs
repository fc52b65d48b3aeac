//! `onecount push SKU`: ask the channel pushers to bring a SKU's listings up to date now.

use anyhow::{Result, bail};
use serde_json::json;

use onecount::aws::dynamo::DynamoStore;
use onecount::ports::{PushQueue, PushRequest};
use onecount::{Channel, ListingStore, Sku};

use super::Reply;

pub async fn run(
    store: &DynamoStore,
    sku: Sku,
    channel: Option<Channel>,
    force: bool,
) -> Result<Reply> {
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
    let names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
    Ok(Reply::new(
        &json!({"sku": sku, "requested": channels, "force": force}),
        format!("push of {sku} requested on {}", names.join(", ")),
    ))
}

/// Put a push request for `sku` on `channel`'s queue (URL from the environment).
pub(crate) async fn request_push(
    sku: &Sku,
    channel: Channel,
    cause: &str,
    force: bool,
) -> Result<()> {
    let urls = onecount::aws::sqs::QueueUrls::from_env();
    if let Err(e) = urls.require_push(channel) {
        bail!("{e} (a stack output)");
    }
    let sdk = onecount::aws::load_sdk_config().await;
    let q = onecount::aws::sqs::SqsQueues::new(&sdk, urls);
    q.request_push(&PushRequest::unprompted(sku.clone(), channel, cause, force))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}
