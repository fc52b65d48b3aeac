//! `onecount listings discover` between the channels and the table: every channel's
//! catalog read at once (each within its own rate limit), and the clean part of the plan
//! written the way `listings import` writes (same checks, re-runs write nothing). The
//! matching itself is pure: [`crate::domain::discover`].

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::aws::dynamo::{DynamoStore, ImportOutcome};
use crate::channels::push::ChannelApi;
use crate::domain::Channel;
use crate::domain::discover::Found;
use crate::domain::import::{self, BadRow, ImportRow};
use crate::ports::LedgerError;

/// How one channel's catalog read went.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelRead {
    pub channel: Channel,
    /// Listings (or variations) found.
    pub listings: usize,
    /// API calls the read made.
    pub calls: u64,
    pub seconds: f64,
    /// Why the read stopped, if it did (the channel's listings are then left out).
    pub error: Option<String>,
}

/// Every channel's catalog.
#[derive(Debug, Clone, Default)]
pub struct Catalogs {
    pub found: Vec<Found>,
    pub reads: Vec<ChannelRead>,
}

impl Catalogs {
    /// The channels whose read failed, with why.
    pub fn failed(&self) -> Vec<(Channel, &str)> {
        self.reads
            .iter()
            .filter_map(|r| r.error.as_deref().map(|e| (r.channel, e)))
            .collect()
    }
}

/// Read every channel's catalog at the same time; `progress` hears each channel's
/// listings found so far.
pub async fn read_catalogs(
    apis: &[Arc<dyn ChannelApi>],
    progress: &(dyn Fn(Channel, usize) + Send + Sync),
) -> Catalogs {
    let reads = futures::future::join_all(apis.iter().map(|api| async move {
        let (start, calls) = (Instant::now(), api.calls());
        let ch = api.channel();
        let got = api.catalog(&|n| progress(ch, n)).await;
        let read = |listings, error| ChannelRead {
            channel: ch,
            listings,
            calls: api.calls() - calls,
            seconds: start.elapsed().as_secs_f64(),
            error,
        };
        match got {
            Ok(found) => (read(found.len(), None), found),
            Err(e) => (read(0, Some(e.to_string())), Vec::new()),
        }
    }))
    .await;
    let mut out = Catalogs::default();
    for (read, found) in reads {
        out.reads.push(read);
        out.found.extend(found);
    }
    out
}

/// What applying the plan did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    pub dry_run: bool,
    /// Listings to write (dry) or written.
    pub listings: usize,
    /// SKUs to create (dry) or created, each with its starting count on its timeline.
    pub created_skus: usize,
    /// Listings already mapped exactly so.
    pub unchanged: usize,
    pub bad: Vec<BadRow>,
}

/// Map the plan's clean rows ([`crate::domain::discover::import_rows`]) through `listings import`'s checks: a listing
/// already mapped keeps its policy (buffer, max, pause); nothing already so is written
/// again.
pub async fn apply(
    store: &DynamoStore,
    (write, bad): (Vec<ImportRow>, Vec<BadRow>),
    dry_run: bool,
    progress: impl Fn(usize),
) -> Result<Applied, LedgerError> {
    let existing = store.import_context(&write).await?;
    let mut plan = import::plan(write, &existing);
    plan.bad.extend(bad);
    let mut out = Applied {
        dry_run,
        listings: plan.write.len(),
        created_skus: plan.create.len(),
        unchanged: plan.unchanged.len(),
        bad: Vec::new(),
    };
    if !dry_run && !plan.write.is_empty() {
        let ImportOutcome {
            created_skus,
            written,
            failed,
        } = store.import_listings(&plan, progress).await?;
        (out.listings, out.created_skus) = (written, created_skus);
        plan.bad.extend(failed);
    }
    plan.bad.sort_by_key(|b| b.line);
    out.bad = plan.bad;
    Ok(out)
}
