//! `onecount-drift-check`: the scheduled Lambda (EventBridge Scheduler, every 5 minutes
//! by default). Clients and configuration are built once here; each invocation is one run.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use onecount::aws::dynamo::DynamoStore;
use onecount::aws::sns::SnsAlerts;
use onecount::aws::sqs::{QueueUrls, SqsQueues};
use onecount::channels::config::ChannelsConfig;
use onecount::channels::ebay::EbayClient;
use onecount::channels::etsy::EtsyClient;
use onecount::config::StoreConfig;
use onecount_drift_check::{DriftCheck, DriftConfig, Report};
use onecount_stock_decrement::{ChannelFetcher, Decrement};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = onecount::aws::load_sdk_config().await;
    let channels = ChannelsConfig::load(&sdk).await?;
    let topic = std::env::var("ONECOUNT_ALERT_TOPIC_ARN")
        .map_err(|_| "ONECOUNT_ALERT_TOPIC_ARN is not set")?;
    let store = DynamoStore::new(&sdk, &StoreConfig::from_env()?);
    let queues = SqsQueues::new(&sdk, QueueUrls::from_env());
    let links = onecount_drift_check::links(&channels);
    let check = DriftCheck {
        store: store.clone(),
        pushes: queues.clone(),
        alerts: SnsAlerts::new(&sdk, &topic),
        orders: Decrement {
            store,
            pushes: queues,
            alerts: SnsAlerts::new(&sdk, &topic),
            fetcher: ChannelFetcher {
                etsy: channels.etsy.clone().map(EtsyClient::new),
                ebay: channels.ebay.clone().map(EbayClient::new),
            },
        },
        channels: links,
        cfg: DriftConfig::from_env()?,
    };
    let check = &check;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Stay inside the invocation's own deadline, whatever the configured budget.
        let left = event
            .context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(Duration::from_secs(15));
        let report: Report = check
            .run_within(check.cfg.budget.min(left.max(Duration::from_secs(5))))
            .await;
        Ok::<Value, Error>(serde_json::to_value(report)?)
    }))
    .await
}
