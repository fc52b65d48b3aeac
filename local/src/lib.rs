//! The local host: provisions the table, queues (each with a DLQ and redrive) and alert
//! topic on the AWS endpoint (moto), serves the webhook routes over HTTP, and runs the
//! handlers in-process the way Lambda would — SQS batches of up to 10, successes
//! deleted, failures left to reappear after their visibility timeout, the DLQ after the
//! receive limit. With sandboxes, the three fake channels are started and wired to it.

pub mod moto;
mod poller;
mod provision;

use std::sync::Arc;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use onecount::Channel;
use onecount::aws::dynamo::DynamoStore;
use onecount::aws::sns::SnsAlerts;
use onecount::aws::sqs::{QueueUrls, SqsQueues, SqsVisibility};
use onecount::channels::config::{ChannelsConfig, EbayConfig, EtsyConfig, Secret, ShopifyConfig};
use onecount::channels::ebay::EbayClient;
use onecount::channels::etsy::EtsyClient;
use onecount::channels::push::ChannelApi;
use onecount::channels::shopify::ShopifyClient;
use onecount::config::StoreConfig;
use onecount_channel_push::{PushConfig, Pusher};
use onecount_drift_check::DriftCheck;
pub use onecount_drift_check::{DriftConfig, Report as DriftReport, links};
use onecount_sim::{Sandboxes, SimConfig};
use onecount_stock_decrement::{ChannelFetcher, Decrement};
use onecount_webhook_ingest::{EbayKeys, Ingest, IngestRequest};

pub use provision::{Resources, depth, provision, redrive};

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
    /// Concurrent pushers per channel (shopify, etsy, ebay), like each pusher
    /// deployment's concurrency cap; 0 runs no pusher for that channel.
    pub push_concurrency: [usize; 3],
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
            push_concurrency: [2, 2, 2],
            order_concurrency: 4,
            push_backoff_base_ms: 1000,
            last_units: None,
            resources: None,
            drift_every: None,
            drift: DriftConfig::default(),
        }
    }
}

pub type LocalIngest = Ingest<SqsQueues, DynamoStore, SnsAlerts>;
pub type LocalDecrement = Decrement<DynamoStore, SqsQueues, SnsAlerts, ChannelFetcher>;
pub type LocalPusher =
    Pusher<DynamoStore, SnsAlerts, Arc<dyn ChannelApi>, SqsVisibility, SqsQueues>;
pub type LocalDrift = DriftCheck<DynamoStore, SqsQueues, SnsAlerts, Arc<LocalDecrement>>;

/// A running local host.
pub struct LocalHost {
    /// `http://127.0.0.1:PORT`; webhooks at `/webhooks/{shopify,etsy,ebay}`.
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
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for LocalHost {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The channel configuration that points at the sandboxes.
pub fn sandbox_channels(sim: &SimConfig, sb: &Sandboxes, webhook_base: &str) -> ChannelsConfig {
    ChannelsConfig {
        shopify: Some(ShopifyConfig {
            shop_domain: "onecount-sandbox.myshopify.com".into(),
            webhook_secret: Secret::new(&sim.shopify_secret),
            previous_webhook_secret: None,
            api_base: sb.shopify_url.clone(),
            access_token: Secret::new(&sim.shopify_token),
            api_version: "2026-04".into(),
            location_id: Some("71234567".into()),
            process_test_orders: false,
        }),
        etsy: Some(EtsyConfig {
            shop_id: onecount_sim::etsy::SHOP_ID.into(),
            webhook_secret: Secret::new(&sim.etsy_secret),
            api_base: sb.etsy_url.clone(),
            keystring: sim.etsy_keystring.clone(),
            shared_secret: Secret::new(&sim.etsy_shared_secret),
            access_token: Secret::new(&sim.etsy_token),
            refresh_token: Secret::new("5550001.refresh"),
        }),
        ebay: Some(EbayConfig {
            api_base: sb.ebay_url.clone(),
            client_id: sim.ebay_client_id.clone(),
            client_secret: Secret::new(&sim.ebay_client_secret),
            refresh_token: Secret::new("v^1.1#refresh"),
            verification_token: Secret::new("onecount-local-verification-token-0123456789"),
            endpoint_url: format!("{webhook_base}/webhooks/ebay"),
        }),
    }
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

        let (sandboxes, sim, channels) = if cfg.sandbox {
            let sim = SimConfig::random(&url);
            let sb = Sandboxes::start(sim.clone()).await;
            let channels = sandbox_channels(&sim, &sb, &url);
            (Some(sb), Some(sim), channels)
        } else {
            (None, None, cfg.channels.clone())
        };

        let urls = resources.queue_urls();
        let ingest = Arc::new(Ingest {
            channels: channels.clone(),
            queue: SqsQueues::new(sdk, urls.clone()),
            inbox: store.clone(),
            alerts: SnsAlerts::new(sdk, &resources.topic_arn),
            ebay: channels
                .ebay
                .clone()
                .map(|c| Box::new(EbayClient::new(c)) as Box<dyn EbayKeys>),
        });
        let decrement = Arc::new(Decrement {
            store: store.clone(),
            pushes: SqsQueues::new(sdk, urls.clone()),
            alerts: SnsAlerts::new(sdk, &resources.topic_arn),
            fetcher: ChannelFetcher {
                etsy: channels.etsy.clone().map(EtsyClient::new),
                ebay: channels.ebay.clone().map(EbayClient::new),
            },
        });

        // The drift check gets its own channel clients, as its own Lambda would.
        let links = onecount_drift_check::links(&channels);
        let drift = Arc::new(DriftCheck {
            store: store.clone(),
            pushes: SqsQueues::new(sdk, urls.clone()),
            alerts: SnsAlerts::new(sdk, &resources.topic_arn),
            orders: decrement.clone(),
            channels: links,
            cfg: DriftConfig {
                last_units: cfg.last_units,
                ..cfg.drift.clone()
            },
        });

        let app = Router::new().fallback(webhook).with_state(ingest.clone());
        let mut tasks = vec![tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })];
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let order_queue = urls.orders.clone().expect("provisioned");
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
        let pushers = [
            channels
                .shopify
                .clone()
                .map(|c| Arc::new(ShopifyClient::new(c)) as Arc<dyn ChannelApi>),
            channels
                .etsy
                .clone()
                .map(|c| Arc::new(EtsyClient::new(c)) as Arc<dyn ChannelApi>),
            channels
                .ebay
                .clone()
                .map(|c| Arc::new(EbayClient::new(c)) as Arc<dyn ChannelApi>),
        ];
        let mut apis = Vec::new();
        for (i, api) in pushers.into_iter().enumerate() {
            let Some(api) = api else { continue };
            let (channel, url, _) = resources.push_queues[i].clone();
            apis.push(api.clone());
            let pusher = Arc::new(Pusher {
                store: store.clone(),
                alerts: SnsAlerts::new(sdk, &resources.topic_arn),
                api,
                visibility: SqsVisibility::new(sdk, url.clone()),
                queue: SqsQueues::new(sdk, urls.clone()),
                cfg: PushConfig {
                    max_receives: cfg.max_receive_count,
                    backoff_base_ms: cfg.push_backoff_base_ms,
                    last_units: cfg.last_units,
                    ..PushConfig::default()
                },
            });
            for _ in 0..cfg.push_concurrency[i] {
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
            tracing::debug!(channel = %channel, concurrency = cfg.push_concurrency[i], "pusher running");
        }
        if let Some(every) = cfg.drift_every {
            let d = drift.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let r = d.run().await;
                    tracing::info!(
                        listings = r.listings,
                        drift = r.drift,
                        stuck = r.stuck,
                        orders_reconciled = r.orders_reconciled,
                        orders_already_recorded = r.orders_already_recorded,
                        millis = r.millis,
                        "drift check"
                    );
                }
            }));
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
            tasks,
        })
    }

    /// Order events not yet processed (visible or in flight).
    pub async fn pending_orders(&self) -> Result<i64> {
        provision::depth(&self.sqs, &self.resources.order_queue).await
    }

    /// Messages in the order queue's DLQ.
    pub async fn dead_orders(&self) -> Result<i64> {
        provision::depth(&self.sqs, &self.resources.order_dlq).await
    }

    /// Push requests in a channel's dead-letter queue.
    pub async fn dead_pushes(&self, channel: Channel) -> Result<i64> {
        let (_, _, dlq) = self
            .resources
            .push_queues
            .iter()
            .find(|(c, _, _)| *c == channel)
            .context("no push queue")?;
        provision::depth(&self.sqs, dlq).await
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
        provision::redrive(&self.sqs, &dlq, &queue).await
    }

    /// Push requests waiting on a channel's queue (visible or in flight).
    pub async fn queued(&self, channel: Channel) -> Result<i64> {
        let url = self
            .resources
            .queue_urls()
            .push(channel)
            .map(str::to_string)
            .context("no push queue")?;
        provision::depth(&self.sqs, &url).await
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
            shopify: Some(self.push_queues[0].1.clone()),
            etsy: Some(self.push_queues[1].1.clone()),
            ebay: Some(self.push_queues[2].1.clone()),
        }
    }
}
