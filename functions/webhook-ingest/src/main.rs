//! `onecount-webhook-ingest`: verifies channel webhooks and queues order events.
//!
//! The composition root: tracing, configuration and SDK clients are set up once here and
//! borrowed by every invocation. The handler arrives with issue #3; until then an
//! invocation fails loudly instead of pretending to work.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use onecount::StockLedger;
use onecount::aws::dynamo::DynamoStore;
use onecount::config::StoreConfig;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let cfg = StoreConfig::from_env()?;
    let sdk = onecount::aws::load_sdk_config().await;
    let store = DynamoStore::new(&sdk, &cfg);
    let store = &store;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(store, event).await
    }))
    .await
}

async fn handle(_ledger: &impl StockLedger, event: LambdaEvent<Value>) -> Result<Value, Error> {
    tracing::error!(request_id = %event.context.request_id, "handler not implemented yet (issue #3)");
    Err("onecount-webhook-ingest has no handler yet (issue #3)".into())
}
