//! Channel configuration and secrets: one JSON document
//! `{"shopify": {...}, "etsy": {...}, "ebay": {...}}`, read from AWS Secrets Manager
//! (`ONECOUNT_CHANNELS_SECRET_ARN`) in Lambda or from a file (`ONECOUNT_CHANNELS_FILE`)
//! locally. Secrets never print: their `Debug` is `***`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Channel;

/// A secret string. Reading it takes an explicit `expose()`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtsyConfig {
    pub shop_id: String,
    /// `whsec_…` from the Etsy webhook portal.
    pub webhook_secret: Secret,
    /// `https://api.etsy.com`
    pub api_base: String,
    pub keystring: String,
    pub shared_secret: Secret,
    /// `<user id>.<token>`
    pub access_token: Secret,
    #[serde(default)]
    pub refresh_token: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbayConfig {
    /// `https://api.ebay.com`
    pub api_base: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The seller's refresh token (user token for the Fulfillment and Inventory APIs).
    pub refresh_token: Secret,
    /// The verification token given when the notification destination was created.
    pub verification_token: Secret,
    /// The exact public URL of `/webhooks/ebay`, as registered with eBay.
    pub endpoint_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    #[serde(default)]
    pub shopify: Option<ShopifyConfig>,
    #[serde(default)]
    pub etsy: Option<EtsyConfig>,
    #[serde(default)]
    pub ebay: Option<EbayConfig>,
}

/// A channel used without configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not configured: add a \"{0}\" section to the channels configuration")]
pub struct NotConfigured(pub Channel);

impl ChannelsConfig {
    pub fn parse(json: &str) -> Result<Self, String> {
        serde_json::from_str(json).map_err(|e| format!("channels configuration is not valid: {e}"))
    }

    pub fn shopify(&self) -> Result<&ShopifyConfig, NotConfigured> {
        self.shopify.as_ref().ok_or(NotConfigured(Channel::Shopify))
    }
    pub fn etsy(&self) -> Result<&EtsyConfig, NotConfigured> {
        self.etsy.as_ref().ok_or(NotConfigured(Channel::Etsy))
    }
    pub fn ebay(&self) -> Result<&EbayConfig, NotConfigured> {
        self.ebay.as_ref().ok_or(NotConfigured(Channel::Ebay))
    }

    /// From `ONECOUNT_CHANNELS_FILE`, else Secrets Manager `ONECOUNT_CHANNELS_SECRET_ARN`.
    pub async fn load(sdk: &aws_config::SdkConfig) -> Result<Self, String> {
        if let Ok(path) = std::env::var("ONECOUNT_CHANNELS_FILE") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read ONECOUNT_CHANNELS_FILE {path}: {e}"))?;
            return Self::parse(&text);
        }
        let arn = std::env::var("ONECOUNT_CHANNELS_SECRET_ARN").map_err(|_| {
            "set ONECOUNT_CHANNELS_SECRET_ARN (or ONECOUNT_CHANNELS_FILE locally)".to_string()
        })?;
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        let out = client
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read the channels secret: {}",
                    crate::aws::describe_sdk_error(&e)
                )
            })?;
        Self::parse(
            out.secret_string()
                .ok_or("the channels secret has no SecretString")?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("shpss_supersecret");
        assert_eq!(format!("{s:?}"), "***");
        let cfg = ChannelsConfig::parse(r#"{"etsy":{"shop_id":"1","webhook_secret":"whsec_abc","api_base":"http://x","keystring":"k","shared_secret":"ss","access_token":"1.t"}}"#).unwrap();
        let dbg = format!("{cfg:?}");
        assert!(
            !dbg.contains("whsec_abc") && !dbg.contains("\"ss\"") && !dbg.contains("1.t"),
            "{dbg}"
        );
        assert_eq!(
            cfg.shopify().unwrap_err().to_string(),
            "shopify is not configured: add a \"shopify\" section to the channels configuration"
        );
        assert!(ChannelsConfig::parse(r#"{"amazon":{}}"#).is_err());
    }
}
