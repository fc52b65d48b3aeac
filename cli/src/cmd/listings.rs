//! `onecount listings set|get|resolve`: one SKU's listings (import and verify have files
//! of their own).

use anyhow::{Result, bail};
use serde_json::json;

use onecount::aws::dynamo::DynamoStore;
use onecount::{Channel, Listing, ListingPolicy, ListingStore, StockLedger};

use super::{Reply, request_push};
use crate::args::ListingsCmd;
use crate::output;

pub async fn run(store: &DynamoStore, cmd: ListingsCmd) -> Result<Reply> {
    match cmd {
        ListingsCmd::Set {
            sku,
            channel,
            refs,
            buffer,
            max,
            paused,
        } => {
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
            set(store, l).await
        }
        ListingsCmd::Get { sku } => {
            let ls = store.listings_for_sku(&sku).await?;
            Ok(Reply::new(&ls, output::listings(&ls)))
        }
        ListingsCmd::Resolve { channel, reference } => {
            match store.resolve(channel, &reference).await? {
                Some(s) => Ok(Reply::new(&json!({"sku": s}), s.to_string())),
                None => bail!("no SKU is mapped to {channel} {reference}"),
            }
        }
        ListingsCmd::Import { .. } | ListingsCmd::Verify { .. } | ListingsCmd::Discover { .. } => {
            bail!("listings import, verify and discover are commands of their own")
        }
    }
}

/// Map (or change) one listing. A policy change (pause, buffer, max) shows on the
/// channel at once when the push queues are known; otherwise at the next change or drift
/// check.
async fn set(store: &DynamoStore, l: Listing) -> Result<Reply> {
    if !l.channel.is_connected() {
        bail!(
            "listings are for connected channels ({}), not '{}'",
            Channel::connected_names(),
            l.channel
        );
    }
    if store.get_stock(&l.sku).await?.is_none() {
        bail!(
            "unknown SKU '{0}': create it first with `onecount stock create {0} --on-hand N`",
            l.sku
        );
    }
    store.put_listing(&l).await?;
    if let Err(e) = request_push(&l.sku, l.channel, "listing changed", false).await {
        eprintln!("note: {e:#}; the channel picks the change up at the next sale or drift check");
    }
    Ok(Reply::new(&l, output::listings(std::slice::from_ref(&l))))
}
