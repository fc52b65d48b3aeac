//! The Etsy section of the channels configuration.

use serde::{Deserialize, Serialize};

use crate::channels::config::Secret;

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
    /// `<user id>.<token>`. Empty once `onecount connect etsy` keeps the tokens in the
    /// token store.
    #[serde(default)]
    pub access_token: Secret,
    #[serde(default)]
    pub refresh_token: Secret,
    /// Bring a listing Etsy marked sold out back on sale when stock returns. Etsy renews it
    /// to do so, which costs a listing fee; `false` leaves it sold out and says so.
    #[serde(default = "yes")]
    pub renew_sold_out: bool,
}

fn yes() -> bool {
    true
}
