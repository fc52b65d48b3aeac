//! The pure domain: no I/O, no AWS, no clocks (time is passed in).

pub mod age;
pub mod discover;
pub mod drift;
mod ids;
pub mod import;
mod listing;
pub mod model;
pub mod ops;
mod order;
pub mod plan;
pub mod push;
pub mod redact;
mod stock;
mod timeline;

pub use ids::{Channel, ChannelRef, LineId, OrderId, ParseError, Qty, Sku};
pub use listing::{Listing, ListingPolicy, shared_ref};
pub use order::{
    LineRecord, OrderLine, RestockDecision, RestockKind, RestockOutcome, RestockRequest,
    SaleOutcome, decide_restock,
};
pub use stock::{
    Guard, NewStock, SELLING_MS, SaleDecision, StockChange, StockItem, UNHEARD_TTL_MS, Unheard,
    adjusted_on_hand, decide_sale, selling_at,
};
pub use timeline::{Event, EventKind, Held, LineRef, TimelineEntry};

/// Milliseconds since the Unix epoch: every stored timestamp.
pub type Millis = i64;
