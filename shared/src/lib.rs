//! onecount keeps one true stock count per SKU and makes every sales channel show it.
//!
//! Read this crate top-down:
//!
//! - [`domain`] — pure types and decisions: SKUs, channels, quantities, the stock ledger's
//!   rules (what a sale takes, what a cancel gives back), listings and the typed timeline
//!   ([`domain::Event`]).
//!   No I/O, no AWS; [`domain::model`] is the whole ledger as an in-memory state machine.
//! - [`ports`] — the narrow traits the functions and the CLI depend on ([`ports::StockLedger`],
//!   [`ports::ListingStore`], [`ports::TimelineStore`]).
//! - [`aws`] — adapters that own the wire: the DynamoDB single-table store and the table
//!   schema that `onecount init` and the SAM template share.
//! - [`channels`] — one module per channel behind one [`channels::ChannelKit`] trait
//!   (webhooks in; quantities, orders and pointer fetches out); [`channels::build`] is the
//!   registry that turns the configuration into kits.
//! - [`app`] — the composition root every Lambda `main`, the local host and the CLI use.
//! - [`alerts`] — what the owner is told, and what to do about it.
//! - [`clock`] — the one clock (ms since the epoch) adapters and handlers read.
//! - [`config`] — settings read once from the environment.
//! - [`telemetry`] — tracing set-up for Lambda and the CLI.

pub mod alerts;
pub mod app;
pub mod aws;
pub mod channels;
pub mod clock;
pub mod config;
pub mod crash;
pub mod discovery;
pub mod domain;
pub mod ports;
pub mod telemetry;

pub use domain::{Channel, ChannelRef, Listing, ListingPolicy, OrderLine, Qty, Sku};
pub use ports::{LedgerError, ListingStore, StockLedger, TimelineStore};
