//! `onecount stock …`: read and change the true count of a SKU.

use anyhow::{Context, Result, bail};

use onecount::aws::dynamo::DynamoStore;
use onecount::domain::{Guard, NewStock, StockChange};
use onecount::{Channel, ListingStore, Sku, StockLedger};

use super::{Reply, actor, request_push};
use crate::args::StockCmd;
use crate::output;

pub async fn run(store: &DynamoStore, cmd: StockCmd) -> Result<Reply> {
    Ok(match cmd {
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
            Reply::new(&item, output::stock(std::slice::from_ref(&item)))
        }
        StockCmd::Get { sku } => {
            let item = store
                .get_stock(&sku)
                .await?
                .with_context(|| format!("unknown SKU '{sku}'"))?;
            Reply::new(&item, output::stock(std::slice::from_ref(&item)))
        }
        StockCmd::Set {
            sku,
            on_hand,
            reason,
            actor: a,
        } => changed(store.set_on_hand(&sku, on_hand, &reason, &actor(a)).await?),
        StockCmd::Adjust {
            sku,
            delta,
            reason,
            actor: a,
        } => changed(store.adjust(&sku, delta, &reason, &actor(a)).await?),
        StockCmd::Protect {
            sku,
            primary,
            last_units,
            global,
        } => protect(store, &sku, primary, last_units, global).await?,
        StockCmd::List { limit } => {
            let all = list(store, limit).await?;
            Reply::new(&all, output::stock(&all))
        }
    })
}

fn changed(c: StockChange) -> Reply {
    let text = format!(
        "{}: {} -> {} (version {})",
        c.sku, c.before, c.after, c.version
    );
    Reply::new(&c, text)
}

/// Every SKU (up to `limit`), page by page.
async fn list(
    store: &DynamoStore,
    limit: Option<usize>,
) -> Result<Vec<onecount::domain::StockItem>> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_stock(after.as_deref(), 100).await?;
        all.extend(page.items);
        if limit.is_some_and(|l| all.len() >= l) {
            all.truncate(limit.unwrap_or(usize::MAX));
            return Ok(all);
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(all),
        }
    }
}

/// `stock protect`: the primary channel and the last-unit level; the channels hear of it
/// at once where the push queues are known.
async fn protect(
    store: &DynamoStore,
    sku: &Sku,
    primary: Option<Channel>,
    last_units: Option<u32>,
    global: bool,
) -> Result<Reply> {
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
    store.set_guard(sku, primary, level, &actor(None)).await?;
    let st = store
        .get_stock(sku)
        .await?
        .ok_or_else(|| anyhow::anyhow!("unknown SKU '{sku}'"))?;
    for l in store.listings_for_sku(sku).await? {
        if let Err(e) = request_push(sku, l.channel, "protection changed", false).await {
            eprintln!(
                "note: {e:#}; the channels pick the change up at the next sale or drift check"
            );
            break;
        }
    }
    Ok(Reply::new(&st.guard, guard_text(sku, &st.guard)))
}

fn guard_text(sku: &Sku, g: &Guard) -> String {
    format!(
        "{sku}: primary {}, last-unit level {}",
        g.primary(),
        g.last_units.map_or(
            "global (ONECOUNT_LAST_UNIT_LEVEL, off unless set)".to_string(),
            |l| l.to_string()
        )
    )
}
