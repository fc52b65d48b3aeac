//! `onecount sale …`: sales made outside the connected channels, their cancellations and
//! refunds, through the same ledger path as webhooks.

use anyhow::{Result, bail};

use onecount::aws::dynamo::DynamoStore;
use onecount::domain::{RestockKind, RestockRequest};
use onecount::{OrderLine, StockLedger};

use super::Reply;
use crate::args::SaleCmd;
use crate::output;

pub async fn run(store: &DynamoStore, cmd: SaleCmd) -> Result<Reply> {
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
            // For the text only: the sale is recorded whether or not this read works.
            let on_hand = store
                .get_stock(&line.sku)
                .await
                .ok()
                .flatten()
                .map(|s| s.on_hand);
            let text = format!(
                "{}{}",
                output::sale_outcome(&out),
                on_hand
                    .map(|n| format!(" — {} now has {n} on hand", line.sku))
                    .unwrap_or_default()
            );
            Ok(Reply::new(&out, text))
        }
        SaleCmd::Cancel { at, sku } => {
            let req = RestockRequest {
                channel: at.channel,
                order: at.order,
                line: at.line,
                sku,
                kind: RestockKind::Cancel,
            };
            restock(store, req).await
        }
        SaleCmd::Refund {
            at,
            sku,
            refund,
            qty,
        } => {
            let req = RestockRequest {
                channel: at.channel,
                order: at.order,
                line: at.line,
                sku,
                kind: RestockKind::Refund { id: refund, qty },
            };
            restock(store, req).await
        }
    }
}

async fn restock(store: &DynamoStore, req: RestockRequest) -> Result<Reply> {
    if let Some(sku) = &req.sku
        && store.get_stock(sku).await?.is_none()
    {
        bail!("unknown SKU '{sku}'");
    }
    let out = store.restock(&req).await?;
    Ok(Reply::new(&out, output::restock_outcome(&out)))
}
