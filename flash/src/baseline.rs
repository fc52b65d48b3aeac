//! The two ways merchants keep channels in step today, played against the same sandbox
//! APIs (same rate limits, latency and faults) through onecount's own channel clients,
//! so only the strategy differs.
//!
//! - [`Interval`]: every N minutes read every listing, take what each channel sold since
//!   the last sync (what it showed then minus what it shows now) off one master count,
//!   and set every channel to it — how the 5–15-minute sync tools document themselves.
//! - [`Fifo`]: on each order webhook, queue "minus q" for every other channel; one queue
//!   per channel, worked in order, each delta a read and a write, a failure retried in
//!   line (1 s, 2 s, 4 s, 8 s, then dropped) — so one slow call holds up every update
//!   behind it. Duplicate deliveries are ignored (by order id); a lost one is never heard.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onecount::Channel;
use onecount::channels::push::{ChannelApi, Target, Write, write_calls};
use tokio::sync::mpsc;

/// Interval sync's state.
pub struct Interval {
    apis: Vec<Arc<dyn ChannelApi>>,
    targets: Vec<[Target; 3]>,
    master: Mutex<Vec<i64>>,
    last_set: Mutex<Vec<[i64; 3]>>,
    pub syncs: AtomicU64,
}

impl Interval {
    pub fn new(apis: Vec<Arc<dyn ChannelApi>>, targets: Vec<[Target; 3]>, initial: &[i64]) -> Self {
        Interval {
            apis,
            targets,
            master: Mutex::new(initial.to_vec()),
            last_set: Mutex::new(initial.iter().map(|q| [*q; 3]).collect()),
            syncs: AtomicU64::new(0),
        }
    }

    /// Sync every `every` until the task is dropped.
    pub async fn run(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            self.sync().await;
        }
    }

    /// One sync: read all, count sales, set all.
    pub async fn sync(&self) {
        let n = self.targets.len();
        let mut seen = vec![[None; 3]; n];
        let mut states = vec![[None, None, None]; n];
        for (k, api) in self.apis.iter().enumerate() {
            let idx: Vec<usize> = (0..n).collect();
            for chunk in idx.chunks(api.read_batch().max(1)) {
                let t: Vec<Target> = chunk.iter().map(|i| self.targets[*i][k].clone()).collect();
                for (i, r) in chunk.iter().zip(api.read(&t).await) {
                    if let Ok(s) = r {
                        seen[*i][k] = Some(s.qty);
                        states[*i][k] = Some(s);
                    }
                }
            }
        }
        let writes: Vec<Vec<(usize, Write)>> = {
            let mut master = self.master.lock().unwrap_or_else(|p| p.into_inner());
            let last = self.last_set.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = vec![Vec::new(), Vec::new(), Vec::new()];
            for i in 0..n {
                let sold: i64 = (0..3)
                    .filter_map(|k| seen[i][k].map(|q| (last[i][k] - q).max(0)))
                    .sum();
                master[i] -= sold;
                let want = master[i].max(0);
                for k in 0..3 {
                    if let Some(s) = states[i][k].take()
                        && s.qty != want
                    {
                        out[k].push((
                            i,
                            Write {
                                target: self.targets[i][k].clone(),
                                seen: s,
                                qty: want as u32,
                            },
                        ));
                    }
                }
            }
            out
        };
        // What each channel shows after this sync is the base for the next one.
        let result = self.write(writes).await;
        let mut last = self.last_set.lock().unwrap_or_else(|p| p.into_inner());
        for i in 0..n {
            for k in 0..3 {
                if let Some(q) = seen[i][k] {
                    last[i][k] = q;
                }
            }
        }
        for (i, k, q) in result {
            last[i][k] = q;
        }
        self.syncs.fetch_add(1, Ordering::Relaxed);
    }
}

impl Interval {
    /// Each channel's writes (entry, write); what each entry's listing shows after:
    /// (entry, channel index, quantity).
    async fn write(&self, writes: Vec<Vec<(usize, Write)>>) -> Vec<(usize, usize, i64)> {
        let mut result = Vec::new();
        for (k, list) in writes.into_iter().enumerate() {
            let api = &self.apis[k];
            // Like onecount's pusher: the SKUs of one listing in one write.
            let calls = write_calls(
                list,
                api.write_batch(),
                |(_, w)| api.write_key(&w.target),
                |_| 0,
            );
            for chunk in calls {
                let w: Vec<Write> = chunk.iter().map(|(_, w)| w.clone()).collect();
                for ((i, w), r) in chunk.iter().zip(api.write(&w).await) {
                    let shows = if r.is_ok() {
                        i64::from(w.qty)
                    } else {
                        w.seen.qty
                    };
                    result.push((*i, k, shows));
                }
            }
        }
        result
    }
}

/// One delta waiting in a channel's queue.
#[derive(Debug, Clone)]
struct Delta {
    item: usize,
    qty: i64,
}

/// FIFO delta pushes' state.
pub struct Fifo {
    queues: Vec<mpsc::UnboundedSender<Delta>>,
    heard: Mutex<HashSet<(Channel, String)>>,
    pub depth: Arc<[AtomicU64; 3]>,
    pub dropped: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Fifo {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Fifo {
    pub fn start(apis: Vec<Arc<dyn ChannelApi>>, targets: Arc<Vec<[Target; 3]>>) -> Fifo {
        let depth: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let dropped = Arc::new(AtomicU64::new(0));
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for (k, api) in apis.into_iter().enumerate() {
            let (tx, mut rx) = mpsc::unbounded_channel::<Delta>();
            queues.push(tx);
            let (targets, depth, dropped) = (targets.clone(), depth.clone(), dropped.clone());
            tasks.push(tokio::spawn(async move {
                while let Some(d) = rx.recv().await {
                    let target = targets[d.item][k].clone();
                    let mut done = false;
                    for attempt in 0..5u32 {
                        if apply(api.as_ref(), &target, d.qty).await {
                            done = true;
                            break;
                        }
                        if attempt < 4 {
                            tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                        }
                    }
                    if !done {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    depth[k].fetch_sub(1, Ordering::Relaxed);
                }
            }));
        }
        Fifo {
            queues,
            heard: Mutex::new(HashSet::new()),
            depth,
            dropped,
            tasks,
        }
    }

    /// An order webhook arrived: queue the delta for every other channel (once per order).
    pub fn heard(&self, channel: Channel, order_id: &str, item: usize, qty: i64) {
        let fresh = self
            .heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((channel, order_id.to_string()));
        if !fresh {
            return;
        }
        for (k, c) in Channel::CONNECTED.iter().enumerate() {
            if *c != channel {
                self.depth[k].fetch_add(1, Ordering::Relaxed);
                let _ = self.queues[k].send(Delta { item, qty });
            }
        }
    }

    pub fn backlog(&self) -> u64 {
        self.depth.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }
}

/// Read the listing, write it `qty` lower; whether it took.
async fn apply(api: &dyn ChannelApi, target: &Target, qty: i64) -> bool {
    let Some(Ok(seen)) = api
        .read(std::slice::from_ref(target))
        .await
        .into_iter()
        .next()
    else {
        return false;
    };
    let want = (seen.qty - qty).max(0) as u32;
    let w = Write {
        target: target.clone(),
        seen,
        qty: want,
    };
    matches!(api.write(&[w]).await.into_iter().next(), Some(Ok(())))
}
