//! `onecount timeline SKU`: everything that happened to a SKU, newest last.

use anyhow::{Result, bail};

use onecount::aws::dynamo::DynamoStore;
use onecount::domain::TimelineEntry;
use onecount::{Sku, StockLedger, TimelineStore};

use super::Reply;
use crate::output;

pub async fn run(store: &DynamoStore, sku: &Sku, limit: u32) -> Result<Reply> {
    if store.get_stock(sku).await?.is_none() {
        bail!("unknown SKU '{sku}'");
    }
    let entries: Vec<TimelineEntry> = store.timeline(sku, limit).await?;
    Ok(Reply::new(&entries, output::timeline_text(sku, &entries)))
}
