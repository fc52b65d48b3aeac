//! Helpers shared by the end-to-end tests (in `tests/`) and benchmarks (in `examples/`).
//! They run against the AWS endpoint in `AWS_ENDPOINT_URL` — moto, started by
//! `scripts/moto.sh run` (which `make test` uses).

use onecount::aws::dynamo::DynamoStore;
use onecount::config::StoreConfig;

/// A store on a new, uniquely named table, so tests never share state and moto is never
/// reset while others run.
pub async fn fresh_store(prefix: &str) -> DynamoStore {
    assert!(
        onecount::aws::endpoint_url().is_some(),
        "AWS_ENDPOINT_URL is not set: run the tests with `make test` (or scripts/moto.sh run cargo test)"
    );
    let table = format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let sdk = onecount::aws::load_sdk_config().await;
    let store = DynamoStore::new(&sdk, &StoreConfig::new(table));
    store.init().await.expect("create the test table");
    store
}
