//! An in-memory store over the pure [`LedgerState`]: the fake that handler tests pass
//! where production passes the DynamoDB adapter.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{LedgerError, ListingStore, Page, PushStore, PushView, StockLedger, TimelineStore};
use crate::clock::now_ms as now;
use crate::domain::model::LedgerState;
use crate::domain::push::PushRecord;
use crate::domain::{
    Channel, ChannelRef, LineId, LineRecord, Listing, NewStock, OrderId, OrderLine, RestockOutcome,
    RestockRequest, SaleOutcome, Sku, StockChange, StockItem, TimelineEntry, Unheard,
};
use crate::domain::{Event, Millis};

#[derive(Default)]
pub struct MemoryStore {
    ledger: Mutex<LedgerState>,
    listings: Mutex<BTreeMap<(Sku, Channel), Listing>>,
    deliveries: Mutex<std::collections::BTreeSet<(Channel, String)>>,
    quarantine: Mutex<Vec<super::Quarantined>>,
    pushes: Mutex<BTreeMap<(Sku, Channel), PushRecord>>,
    leases: Mutex<BTreeMap<String, (String, Millis)>>,
    health: Mutex<BTreeMap<Channel, super::Episode>>,
    parked: Mutex<BTreeMap<(Channel, Millis, String), crate::channels::OrderEvent>>,
    broken: Mutex<BTreeMap<(Sku, Channel), String>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Change a stock item in place, as no port would (tests: move when it last sold into
    /// the past).
    pub fn edit_stock(&self, sku: &Sku, f: impl FnOnce(&mut crate::domain::StockItem)) {
        self.with(|s| s.stock.get_mut(sku).map(f));
    }

    fn with<T>(&self, f: impl FnOnce(&mut LedgerState) -> T) -> T {
        f(&mut self.ledger.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[async_trait]
impl StockLedger for MemoryStore {
    async fn create_stock(&self, new: &NewStock) -> Result<StockItem, LedgerError> {
        self.with(|s| s.create(new, now()))
    }
    async fn get_stock(&self, sku: &Sku) -> Result<Option<StockItem>, LedgerError> {
        Ok(self.with(|s| s.stock.get(sku).cloned()))
    }
    async fn list_stock(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<StockItem>, LedgerError> {
        self.with(|s| {
            let items: Vec<StockItem> = s
                .stock
                .values()
                .filter(|i| after.is_none_or(|a| i.sku.as_str() > a))
                .take(limit as usize + 1)
                .cloned()
                .collect();
            let more = items.len() > limit as usize;
            let items: Vec<_> = items.into_iter().take(limit as usize).collect();
            let next = more
                .then(|| items.last().map(|i| i.sku.to_string()))
                .flatten();
            Ok(Page { items, next })
        })
    }
    async fn record_sale(&self, line: &OrderLine) -> Result<SaleOutcome, LedgerError> {
        self.with(|s| s.record_sale(line, now()))
    }
    async fn restock(&self, req: &RestockRequest) -> Result<RestockOutcome, LedgerError> {
        self.with(|s| s.restock(req, now()))
    }
    async fn set_on_hand(
        &self,
        sku: &Sku,
        on_hand: u32,
        reason: &str,
        actor: &str,
    ) -> Result<StockChange, LedgerError> {
        self.with(|s| s.set(sku, on_hand, reason, actor, now()))
    }
    async fn line(
        &self,
        channel: Channel,
        order: &OrderId,
        line: &LineId,
    ) -> Result<Option<LineRecord>, LedgerError> {
        Ok(self.with(|s| {
            s.lines
                .get(&(channel, order.clone(), line.clone()))
                .cloned()
        }))
    }
    async fn adjust(
        &self,
        sku: &Sku,
        delta: i64,
        reason: &str,
        actor: &str,
    ) -> Result<StockChange, LedgerError> {
        self.with(|s| s.adjust(sku, delta, reason, actor, now()))
    }
}

#[async_trait]
impl ListingStore for MemoryStore {
    async fn put_listing(&self, listing: &Listing) -> Result<(), LedgerError> {
        let mut all = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        for other in all
            .values()
            .filter(|l| l.channel == listing.channel && l.sku != listing.sku)
        {
            let taken = other.refs.iter().find(|r| {
                listing.refs.contains(r) && !crate::domain::shared_ref(listing.channel, &r.kind)
            });
            if let Some(r) = taken {
                return Err(LedgerError::RefTaken {
                    channel: listing.channel,
                    reference: r.clone(),
                    sku: other.sku.clone(),
                });
            }
        }
        let old = all.insert((listing.sku.clone(), listing.channel), listing.clone());
        if old.is_some_and(|o| o.policy != listing.policy) {
            self.with(|s| {
                if let Some(st) = s.stock.get_mut(&listing.sku) {
                    st.version += 1;
                }
            });
        }
        Ok(())
    }
    async fn get_listing(
        &self,
        sku: &Sku,
        channel: Channel,
    ) -> Result<Option<Listing>, LedgerError> {
        Ok(self
            .listings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(sku.clone(), channel))
            .cloned())
    }
    async fn listings_for_sku(&self, sku: &Sku) -> Result<Vec<Listing>, LedgerError> {
        let all = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all.values().filter(|l| &l.sku == sku).cloned().collect())
    }
    async fn resolve(
        &self,
        channel: Channel,
        reference: &ChannelRef,
    ) -> Result<Option<Sku>, LedgerError> {
        let all = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        let owners: std::collections::BTreeSet<&Sku> = all
            .values()
            .filter(|l| l.channel == channel && l.refs.contains(reference))
            .map(|l| &l.sku)
            .collect();
        // A shared id (a listing with several SKUs) names none of them alone.
        Ok(match owners.len() {
            1 => owners.into_iter().next().cloned(),
            _ => None,
        })
    }
}

#[async_trait]
impl TimelineStore for MemoryStore {
    async fn timeline(&self, sku: &Sku, limit: u32) -> Result<Vec<TimelineEntry>, LedgerError> {
        Ok(self.with(|s| {
            let mine: Vec<_> = s
                .timeline
                .iter()
                .filter(|e| &e.sku == sku)
                .cloned()
                .collect();
            let skip = mine.len().saturating_sub(limit as usize);
            mine.into_iter().skip(skip).collect()
        }))
    }
}

#[async_trait]
impl super::Inbox for MemoryStore {
    async fn delivery_seen(
        &self,
        channel: Channel,
        delivery_id: &str,
    ) -> Result<bool, LedgerError> {
        Ok(self
            .deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(channel, delivery_id.to_string())))
    }
    async fn mark_delivery(&self, channel: Channel, delivery_id: &str) -> Result<(), LedgerError> {
        self.deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((channel, delivery_id.to_string()));
        Ok(())
    }
    async fn quarantine(&self, q: &super::Quarantined) -> Result<String, LedgerError> {
        self.quarantine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(q.clone());
        Ok(q.id.clone())
    }
    async fn quarantined(&self, limit: u32) -> Result<Vec<super::Quarantined>, LedgerError> {
        let all = self.quarantine.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all.iter().rev().take(limit as usize).cloned().collect())
    }
}

#[async_trait]
impl PushStore for MemoryStore {
    async fn mark_broken(
        &self,
        sku: &Sku,
        channel: Channel,
        problem: &str,
    ) -> Result<bool, LedgerError> {
        Ok(self
            .broken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((sku.clone(), channel), problem.to_string())
            .is_none())
    }

    async fn push_views(
        &self,
        skus: &[Sku],
        channel: Channel,
    ) -> Result<Vec<PushView>, LedgerError> {
        let listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
        let pushes = self.pushes.lock().unwrap_or_else(|p| p.into_inner());
        let broken = self.broken.lock().unwrap_or_else(|p| p.into_inner());
        Ok(self.with(|s| {
            skus.iter()
                .filter_map(|sku| {
                    let key = (sku.clone(), channel);
                    Some(PushView {
                        stock: s.stock.get(sku)?.clone(),
                        listing: listings.get(&key)?.clone(),
                        record: pushes.get(&key).cloned(),
                        broken: broken.get(&key).cloned(),
                        lag_alerted: false,
                    })
                })
                .collect()
        }))
    }

    async fn record_push(
        &self,
        sku: &Sku,
        channel: Channel,
        rec: &PushRecord,
        read: Option<&PushRecord>,
        event: Event,
    ) -> Result<super::Recorded, LedgerError> {
        let mut pushes = self.pushes.lock().unwrap_or_else(|p| p.into_inner());
        let key = (sku.clone(), channel);
        if pushes.get(&key).is_some_and(|r| r.version > rec.version) {
            return Ok(super::Recorded::Newer);
        }
        let over = pushes.insert(key, rec.clone());
        self.with(|s| s.log(sku, rec.at, event));
        Ok(super::Recorded::over(over.as_ref(), read))
    }

    async fn set_unheard(
        &self,
        sku: &Sku,
        channel: Channel,
        unheard: Option<&Unheard>,
        version: u64,
    ) -> Result<bool, LedgerError> {
        Ok(self.with(|s| match s.stock.get_mut(sku) {
            Some(st) if st.version == version => {
                match unheard {
                    Some(u) => st.unheard.insert(channel, *u),
                    None => st.unheard.remove(&channel),
                };
                st.version += 1;
                true
            }
            _ => false,
        }))
    }

    async fn note_push(
        &self,
        sku: &Sku,
        _channel: Channel,
        event: Event,
    ) -> Result<(), LedgerError> {
        self.with(|s| s.log(sku, now(), event));
        Ok(())
    }

    async fn take_lease(
        &self,
        key: &str,
        holder: &str,
        until: Millis,
    ) -> Result<bool, LedgerError> {
        let mut all = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let free = all.get(key).is_none_or(|(h, u)| *u < now() || h == holder);
        if free {
            all.insert(key.to_string(), (holder.to_string(), until));
        }
        Ok(free)
    }

    async fn drop_lease(&self, key: &str, holder: &str) -> Result<(), LedgerError> {
        let mut all = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if all.get(key).is_some_and(|(h, _)| h == holder) {
            all.remove(key);
        }
        Ok(())
    }
}

#[async_trait]
impl super::ChannelHealth for MemoryStore {
    async fn open_episode(
        &self,
        channel: Channel,
        kind: super::EpisodeKind,
        sku: Option<&Sku>,
        error: &str,
    ) -> Result<bool, LedgerError> {
        use super::EpisodeKind::Auth;
        let mut all = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let was = all.get(&channel).map(|e| e.kind);
        let e = all.entry(channel).or_insert_with(|| super::Episode {
            channel,
            kind,
            since: now(),
            error: String::new(),
            waiting: Vec::new(),
        });
        let opened = match kind {
            Auth => was != Some(Auth),
            super::EpisodeKind::Down => was.is_none(),
        };
        if kind == Auth {
            e.kind = Auth;
        }
        e.error = error.to_string();
        if let Some(sku) = sku.filter(|s| !e.waiting.contains(s)) {
            e.waiting.push(sku.clone());
        }
        Ok(opened)
    }
    async fn close_episode(&self, channel: Channel) -> Result<Option<super::Episode>, LedgerError> {
        let mut all = self.health.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all.remove(&channel))
    }
    async fn episode(&self, channel: Channel) -> Result<Option<super::Episode>, LedgerError> {
        let all = self.health.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all.get(&channel).cloned())
    }
    async fn park_order(&self, ev: &crate::channels::OrderEvent) -> Result<(), LedgerError> {
        let mut all = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(
            (ev.channel, ev.received_at, ev.delivery_id.clone()),
            ev.clone(),
        );
        Ok(())
    }
    async fn parked_orders(
        &self,
        channel: Channel,
        limit: u32,
    ) -> Result<Vec<crate::channels::OrderEvent>, LedgerError> {
        let all = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all
            .iter()
            .filter(|((c, _, _), _)| *c == channel)
            .take(limit as usize)
            .map(|(_, e)| e.clone())
            .collect())
    }
    async fn unpark_order(&self, ev: &crate::channels::OrderEvent) -> Result<(), LedgerError> {
        let mut all = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        all.remove(&(ev.channel, ev.received_at, ev.delivery_id.clone()));
        Ok(())
    }
}

#[async_trait]
impl super::GuardFlags for MemoryStore {
    async fn set_guard_flag(
        &self,
        sku: &Sku,
        flag: super::GuardFlag,
        value: bool,
        event: Event,
    ) -> Result<bool, LedgerError> {
        self.with(|s| {
            let Some(st) = s.stock.get_mut(sku) else {
                return Ok(false);
            };
            let f = match flag {
                super::GuardFlag::AutoPaused => &mut st.guard.auto_paused,
                super::GuardFlag::LowAlerted => &mut st.guard.low_alerted,
            };
            if *f == value {
                return Ok(false);
            }
            *f = value;
            if flag.changes_targets() {
                st.version += 1;
            }
            s.log(sku, now(), event);
            Ok(true)
        })
    }
}
