//! `onecount-drift-check`: compares every channel with the ledger and heals drift.
//!
//! The composition root: tracing, configuration and SDK clients are set up once here and
//! borrowed by every invocation. The handler arrives with issue #5; until then an
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
    tracing::error!(request_id = %event.context.request_id, "handler not implemented yet (issue #5)");
    Err("onecount-drift-check has no handler yet (issue #5)".into())
}
