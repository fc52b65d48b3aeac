//! The end-to-end tests against moto and the sandboxes, one module per feature, in one
//! test binary (one link step instead of five on a 2-core machine).

mod contracts;
mod crash;
mod deployed_template;
mod discover;
mod drift;
mod ledger_moto;
mod order_path;
mod push_path;
mod seller_hub;
mod tokens;
mod variations;
