//! The Shopify section of the channels configuration.

use serde::{Deserialize, Serialize};

use crate::channels::config::Secret;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopifyConfig {
    /// `example.myshopify.com`
    pub shop_domain: String,
    /// The app's client secret, which signs webhooks.
    pub webhook_secret: Secret,
    /// The secret before a rotation; accepted for the hour Shopify may still use it.
    #[serde(default)]
    pub previous_webhook_secret: Option<Secret>,
    /// `https://example.myshopify.com` (a sandbox URL locally).
    pub api_base: String,
    #[serde(default)]
    pub access_token: Secret,
    #[serde(default = "default_shopify_version")]
    pub api_version: String,
    #[serde(default)]
    pub location_id: Option<String>,
    /// Count orders marked `test: true` (default: ignore them).
    #[serde(default)]
    pub process_test_orders: bool,
}

fn default_shopify_version() -> String {
    "2026-04".to_string()
}
