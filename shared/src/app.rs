//! The composition root: what every onecount process builds once — the AWS clients, the
//! store, the queues, the alert topic and the channel kits — from the environment (a
//! Lambda `main`, the CLI) or from the resources the local host provisioned. Handlers
//! borrow what is built here; nothing else constructs a channel client.

use aws_config::SdkConfig;

use crate::aws::dynamo::DynamoStore;
use crate::aws::sns::SnsAlerts;
use crate::aws::sqs::{QueueUrls, SqsQueues, SqsVisibility};
use crate::channels::{ChannelsConfig, Registry};
use crate::config::{StoreConfig, vars};
use crate::domain::Channel;

/// Where everything is: read from the environment, or given by the local host.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: StoreConfig,
    pub topic_arn: String,
    pub queues: QueueUrls,
    pub channels: ChannelsConfig,
}

impl Settings {
    /// A Lambda's settings: `ONECOUNT_TABLE`, `ONECOUNT_ALERT_TOPIC_ARN`, the queue URLs
    /// and the channels configuration (Secrets Manager, or a file locally).
    pub async fn from_env(sdk: &SdkConfig) -> Result<Settings, String> {
        Ok(Settings {
            store: StoreConfig::from_env()?,
            topic_arn: std::env::var(vars::ALERT_TOPIC_ARN)
                .map_err(|_| format!("{} is not set", vars::ALERT_TOPIC_ARN))?,
            queues: QueueUrls::from_env(),
            channels: ChannelsConfig::load(sdk).await?,
        })
    }
}

/// Everything a handler needs, built once.
#[derive(Clone)]
pub struct App {
    pub sdk: SdkConfig,
    pub store: DynamoStore,
    pub queues: SqsQueues,
    pub alerts: SnsAlerts,
    /// One kit per configured channel: its clients (and their rate budgets and caches)
    /// are shared by everything this process does with that channel.
    pub channels: Registry,
    pub settings: Settings,
}

impl App {
    /// A Lambda's root: the SDK from the standard environment, then [`Settings::from_env`].
    pub async fn from_env() -> Result<App, String> {
        let sdk = crate::aws::load_sdk_config().await;
        let settings = Settings::from_env(&sdk).await?;
        App::build(sdk, settings)
    }

    pub fn build(sdk: SdkConfig, settings: Settings) -> Result<App, String> {
        let store = DynamoStore::new(&sdk, &settings.store);
        Ok(App {
            queues: SqsQueues::new(&sdk, settings.queues.clone()),
            alerts: SnsAlerts::new(&sdk, &settings.topic_arn),
            channels: crate::channels::build_with(&settings.channels, Some(store.tokens()))?,
            store,
            sdk,
            settings,
        })
    }

    /// Kits of their own (a separate client per function, as separate Lambdas have),
    /// sharing this deployment's token store.
    pub fn kits(&self) -> Result<Registry, String> {
        crate::channels::build_with(&self.settings.channels, Some(self.store.tokens()))
    }

    /// The channels' kits (this app's own, not built again), their configuration read
    /// again every [`crate::channels::live::RELOAD_EVERY`] (from the secret, or the local
    /// channels file), rebuilt when it changed.
    pub fn live_channels(&self) -> crate::channels::live::LiveChannels {
        let sdk = self.sdk.clone();
        let load: crate::channels::live::Loader = std::sync::Arc::new(move || {
            let sdk = sdk.clone();
            Box::pin(async move { crate::channels::config::ChannelsConfig::load(&sdk).await })
        });
        crate::channels::live::LiveChannels::reloading(
            (self.settings.channels.clone(), self.channels.clone()),
            Some(self.store.tokens()),
            load,
            crate::channels::live::RELOAD_EVERY,
        )
    }

    /// Message visibility on the order queue (the order path's backoff), when its URL
    /// is configured.
    pub fn order_visibility(&self) -> Option<SqsVisibility> {
        let url = self.settings.queues.orders.as_ref()?;
        Some(SqsVisibility::new(&self.sdk, url))
    }

    /// Message visibility on `channel`'s push queue (a pusher's backoff).
    pub fn push_visibility(&self, channel: Channel) -> Result<SqsVisibility, String> {
        let url = self.settings.queues.require_push(channel)?;
        Ok(SqsVisibility::new(&self.sdk, url))
    }
}
