//! The one definition of the table: key names, the index, the TTL attribute and the
//! key layout of every item type. `onecount init` creates exactly this, and a test
//! checks the SAM template declares the same.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

use crate::domain::{Channel, LineId, OrderId, Sku};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Sparse index over stock items and listings, so they can be listed without scanning
/// the timeline. Keys only: count changes never write to it.
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// Epoch seconds after which DynamoDB removes a timeline entry.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// Plain description of the table, compared against the SAM template in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    pub hash_key: &'static str,
    pub range_key: &'static str,
    /// (name, hash key, range key, projection)
    pub indexes: Vec<(&'static str, &'static str, &'static str, &'static str)>,
    pub ttl_attribute: &'static str,
    pub billing_mode: &'static str,
}

pub fn shape() -> TableShape {
    TableShape {
        hash_key: PK,
        range_key: SK,
        indexes: vec![(GSI1, GSI1_PK, GSI1_SK, "KEYS_ONLY")],
        ttl_attribute: TTL_ATTRIBUTE,
        billing_mode: "PAY_PER_REQUEST",
    }
}

pub(crate) fn attribute_definitions() -> Vec<AttributeDefinition> {
    [PK, SK, GSI1_PK, GSI1_SK]
        .into_iter()
        .map(|n| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set")
        })
        .collect()
}

pub(crate) fn key(hash: &str, range: &str) -> Vec<KeySchemaElement> {
    vec![
        KeySchemaElement::builder()
            .attribute_name(hash)
            .key_type(KeyType::Hash)
            .build()
            .expect("set"),
        KeySchemaElement::builder()
            .attribute_name(range)
            .key_type(KeyType::Range)
            .build()
            .expect("set"),
    ]
}

pub(crate) fn gsi1() -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .set_key_schema(Some(key(GSI1_PK, GSI1_SK)))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .expect("name, keys and projection are set")
}

pub(crate) const BILLING: BillingMode = BillingMode::PayPerRequest;

// Key layout of each item type.
pub const STOCK_SK: &str = "STOCK";
pub const STOCK_GSI_PK: &str = "STOCK";
/// Index partition of the timeline entries that record an oversell.
pub const OVERSOLD_GSI_PK: &str = "OVERSOLD";
pub const EVENT_PREFIX: &str = "EVT#";
pub const LISTING_PREFIX: &str = "LISTING#";
pub const REF_SK: &str = "REF";

pub fn sku_pk(sku: &Sku) -> String {
    format!("SKU#{sku}")
}
pub fn listing_sk(channel: Channel) -> String {
    format!("{LISTING_PREFIX}{channel}")
}
pub fn listing_gsi_pk(channel: Channel) -> String {
    format!("{LISTING_PREFIX}{channel}")
}
pub fn line_pk(channel: Channel, order: &OrderId) -> String {
    format!("ORDER#{channel}#{order}")
}
pub fn line_sk(line: &LineId) -> String {
    format!("LINE#{line}")
}
pub fn ref_pk(channel: Channel, kind: &str, id: &str) -> String {
    format!("REF#{channel}#{kind}:{id}")
}
/// Time-ordered and unique: zero-padded milliseconds, then a random id.
pub fn event_sk(at_millis: i64, id: &str) -> String {
    format!("{EVENT_PREFIX}{at_millis:013}#{id}")
}

/// Time-ordered key of an oversell in the index.
pub fn oversold_gsi_sk(at_millis: i64, id: &str) -> String {
    format!("{at_millis:013}#{id}")
}
