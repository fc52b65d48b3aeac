//! Bulk work for the operator CLI: what a listings import needs to know about the table,
//! and the import itself (each row one transaction, several in flight).

use std::collections::HashSet;

use futures::StreamExt;

use super::codec::*;
use super::schema::*;
use super::store::DynamoStore;
use crate::domain::import::{BadRow, Existing, ImportRow, Plan};
use crate::domain::{NewStock, Sku};
use crate::ports::{LedgerError, ListingStore};

/// Requests in flight at once.
const IN_FLIGHT: usize = 4;
/// Items per transaction (DynamoDB allows 100; smaller ones keep each request short).
const MAX_TX_ITEMS: usize = 32;

/// What an import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportOutcome {
    pub created_skus: usize,
    pub written: usize,
    /// Rows refused while writing (a channel id taken since the check, a SKU deleted).
    pub failed: Vec<BadRow>,
}

impl DynamoStore {
    /// The rows' SKUs, channel ids and current listings, in batched reads.
    pub async fn import_context(&self, rows: &[ImportRow]) -> Result<Existing, LedgerError> {
        let skus: HashSet<&Sku> = rows.iter().map(|r| &r.listing.sku).collect();
        let mut keys: Vec<Item> = skus.iter().map(|s| stock_key(s)).collect();
        let mut seen_refs = HashSet::new();
        for r in rows {
            keys.push(listing_key(&r.listing.sku, r.listing.channel));
            for x in &r.listing.refs {
                let key = ref_item_key(r.listing.channel, x, &r.listing.sku);
                if seen_refs.insert(format!("{key:?}")) {
                    keys.push(key);
                }
            }
        }
        let mut ex = Existing::default();
        for item in self.batch_get_with(keys, true).await? {
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned();
            match sk.as_deref() {
                Some(STOCK_SK) => {
                    ex.skus.insert(stock_from_item(&item)?.sku);
                }
                Some(sk) if sk == REF_SK || sk.starts_with(REF_SK) => {
                    let r = Reader::new(&item, "channel id");
                    let pk = r.str(PK)?;
                    // REF#{channel}#{kind}:{id}
                    let mut parts = pk.splitn(3, '#');
                    let (_, ch, reference) = (parts.next(), parts.next(), parts.next());
                    if let (Some(ch), Some(reference)) = (ch, reference)
                        && let Ok(ch) = ch.parse()
                    {
                        let key = (ch, reference.to_string());
                        if sk == REF_SK {
                            ex.ref_owners.insert(key, r.sku("sku")?);
                        } else {
                            ex.shared.insert((key.0, key.1, r.sku("sku")?));
                        }
                    }
                }
                Some(s) if s.starts_with(LISTING_PREFIX) => {
                    let l = listing_from_item(&item)?;
                    ex.listings.insert((l.sku.clone(), l.channel), l);
                }
                _ => {}
            }
        }
        Ok(ex)
    }

    /// Carry out `plan`: create its SKUs, then write its rows. Each SKU and each row is
    /// all-or-nothing (rows go in transactions of up to 100 items, each row's items
    /// together, with the same conditions `put_listing` uses; a transaction that fails is
    /// retried row by row). `progress` hears the number of rows done.
    /// Create the plan's new SKUs, in shared transactions where nobody races us.
    async fn create_planned(&self, plan: &Plan) -> Result<usize, LedgerError> {
        let news: Vec<NewStock> = plan
            .create
            .iter()
            .map(|(sku, (on_hand, t))| NewStock {
                sku: sku.clone(),
                on_hand: *on_hand,
                low_stock_threshold: *t,
            })
            .collect();
        let created =
            futures::stream::iter(news.chunks(MAX_TX_ITEMS / 2).map(|chunk| async move {
                let mut tx = Vec::new();
                let source = |n: &NewStock| plan.sources.get(&n.sku).map(String::as_str);
                for n in chunk {
                    tx.extend(self.create_stock_items(n, source(n))?.1);
                }
                if self.transact(tx).await.is_ok() {
                    return Ok::<usize, LedgerError>(chunk.len());
                }
                // Someone created one of them meanwhile: one by one, never overwriting a count.
                let mut made = 0;
                for n in chunk {
                    match self.create_stock_from(n, source(n)).await {
                        Ok(_) => made += 1,
                        Err(LedgerError::AlreadyExists(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(made)
            }))
            .buffer_unordered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await;
        created.into_iter().sum()
    }

    pub async fn import_listings(
        &self,
        plan: &Plan,
        progress: impl Fn(usize),
    ) -> Result<ImportOutcome, LedgerError> {
        let mut out = ImportOutcome {
            created_skus: self.create_planned(plan).await?,
            ..ImportOutcome::default()
        };
        // New listings in shared transactions; changed ones one by one (their old channel
        // ids may need removing, which put_listing does).
        let groups = listing_groups(plan);
        let mut done = 0;
        let mut stream = futures::stream::iter(groups.into_iter().map(|g| async move {
            let mut results = Vec::new();
            if g.len() > 1 {
                let mut tx = Vec::new();
                for r in &g {
                    tx.extend(self.listing_items(&r.listing)?);
                }
                if self.transact(tx).await.is_ok() {
                    return Ok::<_, LedgerError>(g.iter().map(|r| (r.line, Ok(()))).collect());
                }
            }
            for r in &g {
                results.push((r.line, self.put_listing(&r.listing).await));
            }
            Ok(results)
        }))
        .buffer_unordered(IN_FLIGHT);
        while let Some(group) = stream.next().await {
            for (line, r) in group? {
                done += 1;
                match r {
                    Ok(()) => out.written += 1,
                    Err(
                        e @ (LedgerError::RefTaken { .. }
                        | LedgerError::UnknownSku(_)
                        | LedgerError::Invalid(_)),
                    ) => out.failed.push(BadRow {
                        line,
                        reason: e.to_string(),
                    }),
                    Err(e) => return Err(e),
                }
            }
            progress(done);
        }
        out.failed.sort_by_key(|b| b.line);
        Ok(out)
    }
}

/// New listings in shared transactions (as many as fit); changed ones one by one (their
/// old channel ids may need removing, which `put_listing` does).
fn listing_groups(plan: &Plan) -> Vec<Vec<&ImportRow>> {
    let (fresh, changed): (Vec<&ImportRow>, Vec<&ImportRow>) =
        plan.write.iter().partition(|r| r.fresh);
    let mut groups: Vec<Vec<&ImportRow>> = Vec::new();
    let mut items = 0;
    for r in fresh {
        let n = r.listing.refs.len() + 2;
        if groups.is_empty() || items + n > MAX_TX_ITEMS {
            groups.push(Vec::new());
            items = 0;
        }
        items += n;
        groups.last_mut().expect("pushed").push(r);
    }
    groups.extend(changed.into_iter().map(|r| vec![r]));
    groups
}
