//! The local host: provisions the table, queues (each with a DLQ and redrive) and alert
//! topic on the AWS endpoint (moto), serves the webhook routes over HTTP, and runs the
//! handlers in-process the way Lambda would — SQS batches of up to 10, successes
//! deleted, failures left to reappear after their visibility timeout, the DLQ after the
//! receive limit. With sandboxes, the three fake channels are started and wired to it.

pub mod moto;
mod poller;
mod provision;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use onecount::Channel;
use onecount::app::{App, Settings};
use onecount::aws::dynamo::DynamoStore;
use onecount::aws::sns::SnsAlerts;
use onecount::aws::sqs::{QueueUrls, SqsQueues, SqsVisibility};
use onecount::channels::push::ChannelApi;
use onecount::channels::{ChannelsConfig, Registry};
use onecount::config::StoreConfig;
use onecount_channel_push::{PushConfig, Pusher};
use onecount_drift_check::DriftCheck;
pub use onecount_drift_check::{DriftConfig, Report as DriftReport, links};
use onecount_sim::{Sandboxes, SimConfig};
use onecount_stock_decrement::{Decrement, OrderRetry};
use onecount_webhook_ingest::{Ingest, IngestRequest};

pub use onecount::aws::sqs::{depth, redrive};
pub use provision::{Resources, provision};

/// How to run the local host.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Prefix of every resource name (table, queues, topic).
    pub prefix: String,
    /// HTTP port for the webhook routes (0: any free port).
    pub port: u16,
    /// Start the channel sandboxes and wire them to this host.
    pub sandbox: bool,
    /// Channel configuration when not using the sandboxes.
    pub channels: ChannelsConfig,
    /// SQS visibility timeout for the order queue, in seconds (failures reappear after it).
    pub visibility_timeout_secs: i32,
    /// Receives before a message goes to its DLQ.
    pub max_receive_count: u32,
    /// Concurrent pushers per channel, like each pusher deployment's concurrency cap;
    /// a channel absent (or 0) runs no pusher.
    pub push_concurrency: BTreeMap<Channel, usize>,
    /// Order-queue pollers, each handling one batch at a time (Lambda's SQS event source
    /// runs several batches at once; one batch waiting on a slow channel fetch must not
    /// hold up the next).
    pub order_concurrency: usize,
    /// First retry delay of a failed push (doubles per attempt).
    pub push_backoff_base_ms: u64,
    /// Global last-unit protection level for the pushers and the drift check (off: None).
    pub last_units: Option<u32>,
    /// Use these resources (e.g. a deployed stack's) instead of provisioning new ones.
    pub resources: Option<Resources>,
    /// Run the drift check this often (`None`: only when asked, `LocalHost::drift`).
    pub drift_every: Option<std::time::Duration>,
    pub drift: DriftConfig,
    /// With the sandboxes: their access tokens end after this long (`None`: never), and
    /// Shopify is connected as a Dev Dashboard app (client credentials grant).
    pub token_ttl: Option<std::time::Duration>,
}

impl LocalConfig {
    pub fn new(prefix: &str) -> Self {
        LocalConfig {
            prefix: prefix.to_string(),
            port: 0,
            sandbox: false,
            channels: ChannelsConfig::default(),
            visibility_timeout_secs: 2,
            max_receive_count: 5,
            // The deployed defaults (template.yaml's *PushConcurrency).
            push_concurrency: Channel::CONNECTED
                .into_iter()
                .map(|c| (c, if c == Channel::Ebay { 4 } else { 2 }))
                .collect(),
            order_concurrency: 4,
            push_backoff_base_ms: 1000,
            last_units: None,
            resources: None,
            drift_every: None,
            drift: DriftConfig::default(),
            token_ttl: None,
        }
    }
}

pub type LocalIngest = Ingest<SqsQueues, DynamoStore, SnsAlerts>;
pub type LocalDecrement = Decrement<DynamoStore, SqsQueues, SnsAlerts, Registry>;
pub type LocalPusher =
    Pusher<DynamoStore, SnsAlerts, Arc<dyn ChannelApi>, SqsVisibility, SqsQueues>;
pub type LocalDrift = DriftCheck<DynamoStore, SqsQueues, SnsAlerts, Arc<LocalDecrement>>;

/// A running local host.
pub struct LocalHost {
    /// `http://127.0.0.1:PORT`; webhooks at `/webhooks/<channel>`.
    pub url: String,
    pub resources: Resources,
    pub store: DynamoStore,
    pub sandboxes: Option<Sandboxes>,
    pub sim: Option<SimConfig>,
    pub ingest: Arc<LocalIngest>,
    pub sqs: aws_sdk_sqs::Client,
    /// The channel clients the pushers use (their call counters), in channel order.
    pub apis: Vec<Arc<dyn ChannelApi>>,
    /// The drift check, wired like the scheduled Lambda: `drift.run().await` is one run.
    pub drift: Arc<LocalDrift>,
    /// The channels configuration the host runs with (the sandboxes' when started).
    pub channels: ChannelsConfig,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for LocalHost {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The channel sandboxes (when asked for) and the channels configuration to run with.
async fn channels_for(
    cfg: &LocalConfig,
    url: &str,
) -> (Option<Sandboxes>, Option<SimConfig>, ChannelsConfig) {
    if !cfg.sandbox {
        return (None, None, cfg.channels.clone());
    }
    let sim = SimConfig::random(url);
    let sb = Sandboxes::start(sim.clone()).await;
    let mut channels = sb.channels_config(&sim, url);
    if let Some(ttl) = cfg.token_ttl {
        sb.expire_tokens_after(ttl);
        channels = sb.as_dev_app(channels, &sim);
    }
    (Some(sb), Some(sim), channels)
}

impl LocalHost {
    pub async fn start(sdk: &SdkConfig, cfg: LocalConfig) -> Result<LocalHost> {
        let resources = match cfg.resources.clone() {
            Some(r) => r,
            None => {
                provision(
                    sdk,
                    &cfg.prefix,
                    cfg.visibility_timeout_secs,
                    cfg.max_receive_count,
                )
                .await?
            }
        };
        let store = DynamoStore::new(sdk, &StoreConfig::new(&resources.table));
        store.init().await.context("creating the table")?;

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port))
            .await
            .context("binding the webhook port")?;
        let url = format!("http://{}", listener.local_addr()?);

        let (sandboxes, sim, channels) = channels_for(&cfg, &url).await;

        // The composition root, as each Lambda would build it; each function gets its
        // own channel kits (clients, rate budgets, caches), as its own Lambda would.
        let app = App::build(
            sdk.clone(),
            Settings {
                store: StoreConfig::new(&resources.table),
                topic_arn: resources.topic_arn.clone(),
                queues: resources.queue_urls(),
                channels,
            },
        )
        .map_err(anyhow::Error::msg)?;
        let (ingest, decrement, drift) = wire(&app, &store, &cfg)?;

        let router = Router::new().fallback(webhook).with_state(ingest.clone());
        let mut tasks = vec![tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        })];
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let order_queue = resources.order_queue.clone();
        for _ in 0..cfg.order_concurrency.max(1) {
            let decrement = decrement.clone();
            tasks.push(tokio::spawn(poller::run(
                sqs.clone(),
                order_queue.clone(),
                move |event| {
                    let d = decrement.clone();
                    async move { d.handle_batch(event).await }
                },
            )));
        }
        let (apis, pusher_tasks) = start_pushers(&app, &store, &cfg, &sqs)?;
        tasks.extend(pusher_tasks);
        if let Some(every) = cfg.drift_every {
            tasks.push(tokio::spawn(drift_timer(drift.clone(), every)));
        }
        Ok(LocalHost {
            url,
            resources,
            store,
            sandboxes,
            sim,
            ingest,
            sqs,
            apis,
            drift,
            channels: app.settings.channels.clone(),
            tasks,
        })
    }

    /// Order events not yet processed (visible, in flight or delayed).
    pub async fn pending_orders(&self) -> Result<i64> {
        Ok(depth(&self.sqs, &self.resources.order_queue).await?)
    }

    /// Messages in the order queue's DLQ.
    pub async fn dead_orders(&self) -> Result<i64> {
        Ok(depth(&self.sqs, &self.resources.order_dlq).await?)
    }

    /// Push requests in a channel's dead-letter queue.
    pub async fn dead_pushes(&self, channel: Channel) -> Result<i64> {
        let (_, _, dlq) = self
            .resources
            .push_queues
            .iter()
            .find(|(c, _, _)| *c == channel)
            .context("no push queue")?;
        Ok(depth(&self.sqs, dlq).await?)
    }

    /// Move everything in a channel's push DLQ back onto its queue; how many moved.
    pub async fn redrive_pushes(&self, channel: Channel) -> Result<usize> {
        let (_, queue, dlq) = self
            .resources
            .push_queues
            .iter()
            .find(|(c, _, _)| *c == channel)
            .context("no push queue")?
            .clone();
        Ok(redrive(&self.sqs, &dlq, &queue).await?)
    }

    /// Push requests waiting on a channel's queue (visible, in flight or delayed).
    pub async fn queued(&self, channel: Channel) -> Result<i64> {
        let url = self
            .resources
            .queue_urls()
            .push(channel)
            .map(str::to_string)
            .context("no push queue")?;
        Ok(depth(&self.sqs, &url).await?)
    }
}

/// The handlers, wired as their Lambdas would be: the ingest on `app`'s kits, the
/// decrement and the drift check each on kits of their own.
#[allow(clippy::type_complexity)]
fn wire(
    app: &App,
    store: &DynamoStore,
    cfg: &LocalConfig,
) -> Result<(Arc<LocalIngest>, Arc<LocalDecrement>, Arc<LocalDrift>)> {
    let kits = || app.kits().map_err(anyhow::Error::msg);
    let ingest = Arc::new(Ingest {
        channels: onecount::channels::live::LiveChannels::fixed(app.channels.clone()),
        queue: app.queues.clone(),
        inbox: store.clone(),
        alerts: app.alerts.clone(),
    });
    let decrement = Arc::new(Decrement {
        store: store.clone(),
        pushes: app.queues.clone(),
        alerts: app.alerts.clone(),
        fetcher: kits()?,
        retry: app.order_visibility().map(|v| OrderRetry {
            visibility: Arc::new(v),
            base_ms: cfg.push_backoff_base_ms,
        }),
    });
    let drift = Arc::new(DriftCheck {
        store: store.clone(),
        pushes: app.queues.clone(),
        alerts: app.alerts.clone(),
        orders: decrement.clone(),
        channels: links(&kits()?),
        cfg: DriftConfig {
            last_units: cfg.last_units,
            ..cfg.drift.clone()
        },
    });
    Ok((ingest, decrement, drift))
}

/// One pusher per configured channel, each with its own channel client (as its own
/// Lambda deployment would have), polled by as many tasks as its concurrency.
#[allow(clippy::type_complexity)]
fn start_pushers(
    app: &App,
    store: &DynamoStore,
    cfg: &LocalConfig,
    sqs: &aws_sdk_sqs::Client,
) -> Result<(Vec<Arc<dyn ChannelApi>>, Vec<tokio::task::JoinHandle<()>>)> {
    let mut tasks = Vec::new();
    let mut apis = Vec::new();
    for channel in app.channels.channels() {
        let api = app.kits().map_err(anyhow::Error::msg)?.kit(channel)?.api();
        apis.push(api.clone());
        let pusher = Arc::new(Pusher {
            store: store.clone(),
            alerts: app.alerts.clone(),
            api,
            visibility: app.push_visibility(channel).map_err(anyhow::Error::msg)?,
            queue: app.queues.clone(),
            cfg: PushConfig {
                max_receives: cfg.max_receive_count,
                backoff_base_ms: cfg.push_backoff_base_ms,
                last_units: cfg.last_units,
                ..PushConfig::default()
            },
        });
        let n = cfg.push_concurrency.get(&channel).copied().unwrap_or(0);
        let url = app
            .settings
            .queues
            .require_push(channel)
            .map_err(anyhow::Error::msg)?
            .to_string();
        for _ in 0..n {
            let p = pusher.clone();
            tasks.push(tokio::spawn(poller::run(
                sqs.clone(),
                url.clone(),
                move |event| {
                    let p = p.clone();
                    async move { p.handle_batch(event).await }
                },
            )));
        }
        tracing::debug!(channel = %channel, concurrency = n, "pusher running");
    }
    Ok((apis, tasks))
}

/// The drift check every `every`, like its schedule (each run logs its own report).
async fn drift_timer(d: Arc<LocalDrift>, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        d.run().await;
    }
}

/// Every request under the host goes to the ingest handler, raw bytes and all.
async fn webhook(
    State(ingest): State<Arc<LocalIngest>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let req = IngestRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let out = ingest.handle(&req).await;
    let status = axum::http::StatusCode::from_u16(out.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json")], out.body)
}

impl Resources {
    pub fn queue_urls(&self) -> QueueUrls {
        QueueUrls {
            orders: Some(self.order_queue.clone()),
            pushes: self
                .push_queues
                .iter()
                .map(|(c, q, _)| (*c, q.clone()))
                .collect(),
        }
    }
}
