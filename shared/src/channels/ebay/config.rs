//! The eBay section of the channels configuration.

use serde::{Deserialize, Serialize};

use crate::channels::config::Secret;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbayConfig {
    /// `https://api.ebay.com`
    pub api_base: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The seller's refresh token (user token for the Fulfillment and Inventory APIs).
    /// Empty once `onecount connect ebay` keeps it in the token store.
    #[serde(default)]
    pub refresh_token: Secret,
    /// The verification token given when the notification destination was created.
    pub verification_token: Secret,
    /// The exact public URL of `/webhooks/ebay`, as registered with eBay.
    pub endpoint_url: String,
    /// The Trading API site of the seller's listings (`X-EBAY-API-SITEID`): 0 US, 3 UK,
    /// 77 DE, 15 AU…
    #[serde(default)]
    pub site_id: u32,
}
