//! AWS adapters. They own the wire: nothing outside this module imports `aws_sdk_*`
//! types, except `main` functions that build clients once.

pub mod dynamo;
pub mod sns;
pub mod sqs;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

/// The SDK configuration every onecount process uses: region, credentials and endpoint
/// from the standard environment (`AWS_REGION`, `AWS_ENDPOINT_URL`…), so one binary talks
/// to AWS or to the local emulator, with timeouts on every call (the SDK sets none).
///
/// When the endpoint is on this machine (moto, the local host) and no credentials or
/// region are set, test credentials and `us-east-1` are used, so local work needs no
/// AWS set-up.
pub async fn load_sdk_config() -> SdkConfig {
    load(
        endpoint_url(),
        aws_config::defaults(BehaviorVersion::latest()),
    )
    .await
}

/// Like [`load_sdk_config`], but talking to `endpoint` (a moto this process started).
pub async fn load_sdk_config_at(endpoint: &str) -> SdkConfig {
    load(
        Some(endpoint.to_string()),
        aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint),
    )
    .await
}

async fn load(endpoint: Option<String>, mut loader: aws_config::ConfigLoader) -> SdkConfig {
    if endpoint.as_deref().is_some_and(is_local) {
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            && std::env::var_os("AWS_PROFILE").is_none()
        {
            loader = loader.credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "onecount-local",
            ));
        }
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(Region::new("us-east-1"));
        }
    }
    loader
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await
}

/// An SDK error with its whole chain of causes (`Display` alone says only "service error").
pub fn describe_sdk_error<E: std::error::Error + ?Sized>(e: &E) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `AWS_ENDPOINT_URL`, if set.
pub fn endpoint_url() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether an endpoint URL points at this machine.
pub fn is_local(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url);
    host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]")
}
