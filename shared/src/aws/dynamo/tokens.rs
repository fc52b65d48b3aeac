//! [`TokenStore`] on DynamoDB: one item per channel (`TOKEN#<channel>` / `TOKEN`) holding
//! its tokens and a version; a save must name the version it replaces, so two refreshers
//! never overwrite each other, and the refresh lease is a `LEASE#token:<channel>` item
//! like the listings' write leases. DynamoDB encrypts items at rest; nothing here logs a
//! token.

use async_trait::async_trait;

use super::codec::*;
use super::store::DynamoStore;
use crate::channels::auth::{TokenStore, Tokens};
use crate::domain::{Channel, Millis};
use crate::ports::PushStore;

impl DynamoStore {
    /// This table as the channels' token store.
    pub fn tokens(&self) -> std::sync::Arc<dyn TokenStore> {
        std::sync::Arc::new(self.clone())
    }
}

fn token_key(channel: Channel) -> Item {
    std::collections::HashMap::from([
        (super::schema::PK.into(), s(format!("TOKEN#{channel}"))),
        (super::schema::SK.into(), s("TOKEN")),
    ])
}

fn lease_name(channel: Channel) -> String {
    format!("token:{channel}")
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn load_tokens(&self, channel: Channel) -> Result<Option<(Tokens, u64)>, String> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(token_key(channel)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::store::store_err(e).to_string())?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let r = Reader::new(&item, "tokens");
        let version: u64 = r.num("version").map_err(|e| e.to_string())?;
        let tokens = r.opt_str("tokens").ok_or("the token item has no tokens")?;
        let t: Tokens = serde_json::from_str(tokens)
            .map_err(|e| format!("the stored {channel} tokens are unreadable: {e}"))?;
        Ok(Some((t, version)))
    }

    async fn save_tokens(
        &self,
        channel: Channel,
        t: &Tokens,
        expected: u64,
    ) -> Result<bool, String> {
        let mut item = token_key(channel);
        let json = serde_json::to_string(t).map_err(|e| e.to_string())?;
        item.insert("tokens".into(), s(json));
        item.insert("version".into(), n(expected + 1));
        item.insert("saved_at".into(), n(crate::clock::now_ms()));
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let req = if expected == 0 {
            req.condition_expression("attribute_not_exists(pk)")
        } else {
            req.condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected))
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(super::store::store_err(e).to_string()),
        }
    }

    async fn lease_refresh(
        &self,
        channel: Channel,
        holder: &str,
        until: Millis,
    ) -> Result<bool, String> {
        self.take_lease(&lease_name(channel), holder, until)
            .await
            .map_err(|e| e.to_string())
    }

    async fn release_refresh(&self, channel: Channel, holder: &str) {
        if let Err(e) = self.drop_lease(&lease_name(channel), holder).await {
            tracing::warn!(channel = %channel, error = %e, "token refresh lease not given back; it runs out by itself");
        }
    }
}
