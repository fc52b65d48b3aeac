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

/// A whole-number setting from the environment: `None` when unset or empty, a one-line
/// error naming the variable when it is not a number.
pub fn env_number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} must be a whole number, got '{v}'")),
        _ => Ok(None),
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

/// Every environment variable the Lambda functions read, per function: what the SAM
/// template must set (`required`) and may set (`optional`). A test in this crate scans
/// the sources for `ONECOUNT_…` names so a new one cannot be read without being listed
/// here, and a test against the template checks it sets exactly what is listed.
pub mod vars {
    pub const TABLE: &str = "ONECOUNT_TABLE";
    pub const TIMELINE_TTL_DAYS: &str = "ONECOUNT_TIMELINE_TTL_DAYS";
    pub const CHANNELS_SECRET_ARN: &str = "ONECOUNT_CHANNELS_SECRET_ARN";
    pub const ALERT_TOPIC_ARN: &str = "ONECOUNT_ALERT_TOPIC_ARN";
    pub const ORDER_QUEUE_URL: &str = "ONECOUNT_ORDER_QUEUE_URL";
    /// One per connected channel: [`per_channel`] appends the channel's name.
    pub const PUSH_QUEUE_URL_: &str = "ONECOUNT_PUSH_QUEUE_URL_";
    pub const CHANNEL: &str = "ONECOUNT_CHANNEL";
    pub const PUSH_MAX_RECEIVES: &str = "ONECOUNT_PUSH_MAX_RECEIVES";
    pub const PUSH_BACKOFF_BASE_MS: &str = "ONECOUNT_PUSH_BACKOFF_BASE_MS";
    pub const LAST_UNIT_LEVEL: &str = "ONECOUNT_LAST_UNIT_LEVEL";
    pub const DRIFT_LAG_THRESHOLD_SECS: &str = "ONECOUNT_DRIFT_LAG_THRESHOLD_SECS";
    pub const DRIFT_ALERT_UNITS: &str = "ONECOUNT_DRIFT_ALERT_UNITS";
    pub const DRIFT_BUDGET_SECS: &str = "ONECOUNT_DRIFT_BUDGET_SECS";
    pub const DRIFT_ORDERS_LISTED_WITHIN_SECS: &str = "ONECOUNT_DRIFT_ORDERS_LISTED_WITHIN_SECS";
    pub const AUTO_PAUSE: &str = "ONECOUNT_AUTO_PAUSE";
    /// One per connected channel, like [`PUSH_QUEUE_URL_`].
    pub const RECONCILE_EVERY_SECS_: &str = "ONECOUNT_RECONCILE_EVERY_SECS_";
    /// Read only off Lambda: local channel configuration, EMF on stdout for local runs.
    pub const LOCAL_ONLY: [&str; 2] = ["ONECOUNT_CHANNELS_FILE", "ONECOUNT_EMF"];

    /// A per-channel variable's name: the prefix (ending in `_`) and the channel, upper case.
    pub fn per_channel(prefix: &str, channel: crate::domain::Channel) -> String {
        format!("{prefix}{}", channel.as_str().to_uppercase())
    }

    /// Names as listed, with each per-channel prefix (ending in `_`) made one name per
    /// connected channel.
    pub fn expand(names: &[&str]) -> Vec<String> {
        names
            .iter()
            .flat_map(|n| {
                if n.ends_with('_') {
                    crate::domain::Channel::CONNECTED
                        .iter()
                        .map(|c| per_channel(n, *c))
                        .collect()
                } else {
                    vec![n.to_string()]
                }
            })
            .collect()
    }

    /// One function's variables (per-channel ones as their prefix; see [`expand`]).
    pub struct FunctionEnv {
        /// The binary (and Cargo package) name.
        pub binary: &'static str,
        pub required: &'static [&'static str],
        pub optional: &'static [&'static str],
    }

    const COMMON: [&str; 3] = [TABLE, CHANNELS_SECRET_ARN, ALERT_TOPIC_ARN];

    pub const FUNCTIONS: [FunctionEnv; 5] = [
        FunctionEnv {
            binary: "onecount-webhook-ingest",
            required: &[TABLE, CHANNELS_SECRET_ARN, ALERT_TOPIC_ARN, ORDER_QUEUE_URL],
            optional: &[TIMELINE_TTL_DAYS],
        },
        FunctionEnv {
            binary: "onecount-stock-decrement",
            required: &[TABLE, CHANNELS_SECRET_ARN, ALERT_TOPIC_ARN, PUSH_QUEUE_URL_],
            // Its own queue, for the retry delays of messages that failed for now.
            optional: &[TIMELINE_TTL_DAYS, ORDER_QUEUE_URL],
        },
        FunctionEnv {
            binary: "onecount-channel-push",
            required: &[TABLE, CHANNELS_SECRET_ARN, ALERT_TOPIC_ARN, CHANNEL],
            // The deployment's own queue (for retry delays) is the one for its channel.
            optional: &[
                TIMELINE_TTL_DAYS,
                PUSH_QUEUE_URL_,
                PUSH_MAX_RECEIVES,
                PUSH_BACKOFF_BASE_MS,
                LAST_UNIT_LEVEL,
            ],
        },
        FunctionEnv {
            binary: "onecount-drift-check",
            required: &[TABLE, CHANNELS_SECRET_ARN, ALERT_TOPIC_ARN, PUSH_QUEUE_URL_],
            optional: &[
                TIMELINE_TTL_DAYS,
                ORDER_QUEUE_URL,
                LAST_UNIT_LEVEL,
                DRIFT_LAG_THRESHOLD_SECS,
                DRIFT_ALERT_UNITS,
                DRIFT_BUDGET_SECS,
                DRIFT_ORDERS_LISTED_WITHIN_SECS,
                AUTO_PAUSE,
                RECONCILE_EVERY_SECS_,
            ],
        },
        // Reads CloudWatch's alarm notifications and publishes them as alerts.
        FunctionEnv {
            binary: "onecount-alarm-notify",
            required: &[ALERT_TOPIC_ARN],
            optional: &[],
        },
    ];

    /// Variables every function reads.
    pub fn common() -> &'static [&'static str] {
        &COMMON
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::collections::BTreeSet;

        /// Every `ONECOUNT_…` name in the function and shared sources is listed above.
        #[test]
        fn every_variable_read_is_in_the_contract() {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let mut names = BTreeSet::new();
            let mut stack = vec![root.join("shared/src"), root.join("functions")];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).unwrap().flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        if !p.ends_with("tests") {
                            stack.push(p);
                        }
                    } else if p.extension().is_some_and(|x| x == "rs") {
                        let text = std::fs::read_to_string(&p).unwrap();
                        for part in text.split('"').skip(1).step_by(2) {
                            if part.starts_with("ONECOUNT_")
                                && part.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                            {
                                names.insert(part.to_string());
                            }
                        }
                    }
                }
            }
            let listed: BTreeSet<String> = FUNCTIONS
                .iter()
                .flat_map(|f| f.required.iter().chain(f.optional))
                .chain(LOCAL_ONLY.iter())
                .map(|s| s.to_string())
                .collect();
            let unlisted: Vec<_> = names.difference(&listed).collect();
            assert!(
                unlisted.is_empty(),
                "read but not in the contract: {unlisted:?}"
            );
            assert!(names.contains(TABLE) && names.contains(CHANNEL));
        }
    }
}
