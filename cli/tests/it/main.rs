//! The `onecount` binary end to end, one module per feature, in one test binary.

mod cli;
mod connect;
mod discover;
mod flash_sale;
mod official;
mod operator;
