//! Channel configuration and secrets: one JSON document with a section per channel
//! (`{"shopify": {...}, ...}`, each section's fields in its channel module), read from AWS Secrets Manager
//! (`ONECOUNT_CHANNELS_SECRET_ARN`) in Lambda or from a file (`ONECOUNT_CHANNELS_FILE`)
//! locally. Secrets never print: their `Debug` is `***`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
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

/// The channels configuration: one section per channel, each read by its channel's kit
/// ([`super::build`] checks every section). Its `Debug` names the channels only: the
/// sections hold secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ChannelsConfig {
    sections: BTreeMap<Channel, serde_json::Value>,
}

impl fmt::Debug for ChannelsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.sections.keys()).finish()
    }
}

/// The document as [`ChannelsConfig::parse`] reads it (secrets and all: for writing the
/// local channels file, never for logs).
impl Serialize for ChannelsConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.sections.iter().map(|(c, v)| (c.as_str(), v)))
    }
}

/// A channel used without configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not configured: add a \"{0}\" section to the channels configuration")]
pub struct NotConfigured(pub Channel);

impl ChannelsConfig {
    /// The JSON document: a section per channel, named by the channel (`null`: not
    /// configured). Unknown or repeated channels and unreadable sections are refused with a
    /// message that names them.
    pub fn parse(json: &str) -> Result<Self, String> {
        let err = |e: String| format!("channels configuration is not valid: {e}");
        let doc: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
        let mut cfg = ChannelsConfig::default();
        for (name, section) in doc.into_iter().filter(|(_, v)| !v.is_null()) {
            let channel = name
                .parse::<Channel>()
                .ok()
                .filter(|c| c.is_connected())
                .ok_or_else(|| err(format!("unknown channel '{name}'")))?;
            if cfg.sections.insert(channel, section).is_some() {
                return Err(err(format!("the \"{channel}\" section is given twice")));
            }
        }
        super::check(&cfg).map_err(err)?;
        Ok(cfg)
    }

    /// This configuration with `channel`'s section set.
    pub fn with(mut self, channel: Channel, section: &impl Serialize) -> Self {
        self.set(channel, section);
        self
    }

    pub fn set(&mut self, channel: Channel, section: &impl Serialize) {
        let v = serde_json::to_value(section).unwrap_or(serde_json::Value::Null);
        self.sections.insert(channel, v);
    }

    pub fn remove(&mut self, channel: Channel) {
        self.sections.remove(&channel);
    }

    /// The configured channels, in channel order.
    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        self.sections.keys().copied()
    }

    /// `channel`'s section, read as its kit reads it.
    pub fn section<T: DeserializeOwned>(&self, channel: Channel) -> Result<T, String> {
        let v = self
            .sections
            .get(&channel)
            .ok_or_else(|| NotConfigured(channel).to_string())?;
        serde_json::from_value(v.clone()).map_err(|e| format!("the \"{channel}\" section: {e}"))
    }

    /// The whole document, sections unchecked (for `onecount connect`, which rewrites one).
    pub fn sections(&self) -> &BTreeMap<Channel, serde_json::Value> {
        &self.sections
    }

    /// Like [`load`](Self::load), but a channels file that does not exist yet is an empty
    /// configuration; sections are not checked (one may be half-written by hand).
    pub async fn load_for_update(sdk: &aws_config::SdkConfig) -> Result<Self, String> {
        if let Ok(path) = std::env::var("ONECOUNT_CHANNELS_FILE")
            && !std::path::Path::new(&path).exists()
        {
            return Ok(ChannelsConfig::default());
        }
        let text = Self::read(sdk).await?;
        let doc: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| format!("channels configuration is not valid: {e}"))?;
        let mut cfg = ChannelsConfig::default();
        for (name, section) in doc.into_iter().filter(|(_, v)| !v.is_null()) {
            if let Ok(c) = name.parse::<Channel>() {
                cfg.sections.insert(c, section);
            }
        }
        Ok(cfg)
    }

    /// Write the document back where [`load`](Self::load) reads it: the channels file
    /// (readable by its owner only), or a new version of the Secrets Manager secret.
    /// Returns where it went.
    pub async fn save(&self, sdk: &aws_config::SdkConfig) -> Result<String, String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        if let Ok(path) = std::env::var("ONECOUNT_CHANNELS_FILE") {
            write_private(&path, &text)
                .map_err(|e| format!("cannot write ONECOUNT_CHANNELS_FILE {path}: {e}"))?;
            return Ok(path);
        }
        let arn = std::env::var("ONECOUNT_CHANNELS_SECRET_ARN").map_err(|_| {
            "set ONECOUNT_CHANNELS_SECRET_ARN (a stack output) or ONECOUNT_CHANNELS_FILE"
                .to_string()
        })?;
        aws_sdk_secretsmanager::Client::new(sdk)
            .put_secret_value()
            .secret_id(&arn)
            .secret_string(text)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot update the channels secret: {}",
                    crate::aws::describe_sdk_error(&e)
                )
            })?;
        Ok(arn)
    }

    async fn read(sdk: &aws_config::SdkConfig) -> Result<String, String> {
        if let Ok(path) = std::env::var("ONECOUNT_CHANNELS_FILE") {
            return std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read ONECOUNT_CHANNELS_FILE {path}: {e}"));
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
        out.secret_string()
            .map(str::to_string)
            .ok_or_else(|| "the channels secret has no SecretString".to_string())
    }

    /// From `ONECOUNT_CHANNELS_FILE`, else Secrets Manager `ONECOUNT_CHANNELS_SECRET_ARN`.
    pub async fn load(sdk: &aws_config::SdkConfig) -> Result<Self, String> {
        Self::parse(&Self::read(sdk).await?)
    }
}

/// Write a file only its owner can read (it holds secrets).
fn write_private(path: &str, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("shpss_supersecret");
        assert_eq!(format!("{s:?}"), "***");
        let cfg = ChannelsConfig::parse(r#"{"shopify":{"shop_domain":"s.myshopify.com","webhook_secret":"whsec_abc","api_base":"http://x","access_token":"shpat_1t"}}"#).unwrap();
        let dbg = format!("{cfg:?}");
        assert!(
            !dbg.contains("whsec_abc") && !dbg.contains("shpat_1t"),
            "{dbg}"
        );
        assert_eq!(
            cfg.section::<serde_json::Value>(Channel::Ebay).unwrap_err(),
            "ebay is not configured: add a \"ebay\" section to the channels configuration"
        );
        assert!(ChannelsConfig::parse(r#"{"amazon":{}}"#).is_err());
        assert!(
            ChannelsConfig::parse(r#"{"shopify":{"shop_domain":"s"}}"#)
                .unwrap_err()
                .contains("shopify"),
            "a section its kit cannot read is refused"
        );
        let none = ChannelsConfig::parse(r#"{"ebay": null}"#).unwrap();
        assert_eq!(none.channels().count(), 0, "null: not configured");
        assert!(
            ChannelsConfig::parse(r#"{"ebay": {}, "EBAY": {}}"#)
                .unwrap_err()
                .contains("twice")
        );
    }
}
