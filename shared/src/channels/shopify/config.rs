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
    /// A legacy (admin-created) app's static `shpat_` token. Not needed with `client_id`
    /// and `client_secret`.
    #[serde(default)]
    pub access_token: Secret,
    /// A Dev Dashboard app's client id: with `client_secret`, onecount takes its access
    /// token from the client credentials grant (24 hours) and takes a new one before the
    /// old one ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
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
