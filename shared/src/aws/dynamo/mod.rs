//! The DynamoDB single-table store: the ledger, listings and the timeline.
//!
//! The hot path — recording an order line — is one `TransactWriteItems` with no read
//! before it: the order-line record (must not exist), the conditional decrement
//! (`on_hand >= qty`) and the timeline entry. Only when a condition fails does it read,
//! to tell a duplicate from an oversell, and then writes with the version it read.

mod bulk;
mod codec;
mod health;
mod inbox;
mod push;
mod requests;
pub mod schema;
mod store;
mod tokens;

pub use bulk::ImportOutcome;
pub use requests::RequestCounter;
pub use store::{DynamoStore, InitReport};
