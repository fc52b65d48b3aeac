//! Settings read once from the environment, in `main` or at CLI start.

use std::env;

/// Where the ledger lives and how long its timeline is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The DynamoDB table (`ONECOUNT_TABLE`).
    pub table: String,
    /// Days a timeline entry is kept before DynamoDB's TTL removes it
    /// (`ONECOUNT_TIMELINE_TTL_DAYS`, default 90).
    pub timeline_ttl_days: u32,
}

pub const DEFAULT_TIMELINE_TTL_DAYS: u32 = 90;

impl StoreConfig {
    pub fn new(table: impl Into<String>) -> Self {
        StoreConfig {
            table: table.into(),
            timeline_ttl_days: DEFAULT_TIMELINE_TTL_DAYS,
        }
    }

    /// Reads `ONECOUNT_TABLE` and `ONECOUNT_TIMELINE_TTL_DAYS`.
    pub fn from_env() -> Result<Self, String> {
        let table = env::var("ONECOUNT_TABLE")
            .map_err(|_| "ONECOUNT_TABLE is not set: name the DynamoDB table".to_string())?;
        let mut cfg = StoreConfig::new(table);
        if let Ok(days) = env::var("ONECOUNT_TIMELINE_TTL_DAYS") {
            cfg.timeline_ttl_days = parse_ttl_days(&days)?;
        }
        Ok(cfg)
    }
}

pub fn parse_ttl_days(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(d) if d > 0 => Ok(d),
        _ => Err(format!(
            "ONECOUNT_TIMELINE_TTL_DAYS must be a positive number of days, got '{s}'"
        )),
    }
}
