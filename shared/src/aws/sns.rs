//! The alert topic: one message per alert, with attributes for subscription filters and
//! per-protocol texts (email gets subject and body, SMS the short text).

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::alerts::Alert;
use crate::aws::describe_sdk_error;
use crate::ports::{AlertSink, SendError};

#[derive(Debug, Clone)]
pub struct SnsAlerts {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlerts {
    pub fn new(sdk: &SdkConfig, topic_arn: impl Into<String>) -> Self {
        SnsAlerts {
            client: aws_sdk_sns::Client::new(sdk),
            topic_arn: topic_arn.into(),
        }
    }
}

fn attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .expect("type and value set")
}

#[async_trait]
impl AlertSink for SnsAlerts {
    async fn publish(&self, alert: &Alert) -> Result<(), SendError> {
        let message = serde_json::json!({
            "default": alert.body,
            "email": alert.body,
            "sms": alert.sms,
        });
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.subject)
            .message_structure("json")
            .message(message.to_string())
            .message_attributes("type", attr(alert.kind.as_str()))
            .message_attributes("severity", attr(alert.severity.as_str()));
        if let Some(c) = alert.channel {
            req = req.message_attributes("channel", attr(c.as_str()));
        }
        if let Some(s) = &alert.sku {
            req = req.message_attributes("sku", attr(s.as_str()));
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| SendError(format!("SNS publish failed: {}", describe_sdk_error(&e))))
    }
}
