//! Tracing set-up. Log with fields, never whole requests or customer data.

use tracing_subscriber::EnvFilter;

/// For the CLI and local tools: human-readable, to stderr, `RUST_LOG` (default `warn`).
pub fn init_cli() {
    init_cli_at("warn");
}

/// [`init_cli`] with another default level (`RUST_LOG` still wins): the flash sale's
/// expected retries would otherwise scroll over its progress line.
pub fn init_cli_at(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// CloudWatch metrics as embedded-metric-format (EMF) log lines: Lambda's log pipeline
/// turns them into metrics, so the hot path makes no extra API call. The SAM template's
/// alarms and dashboard use exactly these names (a test checks they agree).
pub mod metrics {
    use std::io::Write;

    pub const NAMESPACE: &str = "onecount";
    /// Milliseconds from a sale reaching onecount to a channel confirming its new count.
    pub const SYNC_LAG_MS: &str = "SyncLagMs";
    /// Channel writes made.
    pub const PUSHES: &str = "Pushes";
    /// Pushes that failed for now (retried).
    pub const PUSH_FAILURES: &str = "PushFailures";
    /// Of those, the channel's rate limit (429, THROTTLED).
    pub const THROTTLES: &str = "Throttles";
    /// Units sold that were not in stock at order time.
    pub const OVERSOLD_UNITS: &str = "OversoldUnits";
    /// Listings the drift check found stuck / drifted / mismatched in a run.
    pub const STUCK_LISTINGS: &str = "StuckListings";
    pub const DRIFTED_LISTINGS: &str = "DriftedListings";
    pub const MISMATCHED_LISTINGS: &str = "MismatchedListings";
    /// Errors in a drift-check run (a channel call that failed, an order not readable).
    pub const DRIFT_CHECK_ERRORS: &str = "DriftCheckErrors";
    /// Every metric, for the template agreement test.
    pub const ALL: [&str; 9] = [
        SYNC_LAG_MS,
        PUSHES,
        PUSH_FAILURES,
        THROTTLES,
        OVERSOLD_UNITS,
        STUCK_LISTINGS,
        DRIFTED_LISTINGS,
        MISMATCHED_LISTINGS,
        DRIFT_CHECK_ERRORS,
    ];
    /// The one dimension metrics carry (or none).
    pub const CHANNEL_DIMENSION: &str = "Channel";

    fn unit(name: &str) -> &'static str {
        if name == SYNC_LAG_MS {
            "Milliseconds"
        } else {
            "Count"
        }
    }

    /// One EMF line: `values` under namespace `onecount`, with a `Channel` dimension when
    /// given.
    pub fn line(channel: Option<&str>, values: &[(&str, f64)], now_ms: i64) -> String {
        let defs: Vec<serde_json::Value> = values
            .iter()
            .map(|(n, _)| serde_json::json!({"Name": n, "Unit": unit(n)}))
            .collect();
        let dims: Vec<Vec<&str>> = match channel {
            Some(_) => vec![vec![CHANNEL_DIMENSION]],
            None => vec![vec![]],
        };
        let mut v = serde_json::json!({
            "_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": dims, "Metrics": defs}
            ]}
        });
        if let Some(c) = channel {
            v[CHANNEL_DIMENSION] = serde_json::json!(c);
        }
        for (n, x) in values {
            v[*n] = serde_json::json!(x);
        }
        v.to_string()
    }

    /// Write the line to stdout when running in Lambda (or with `ONECOUNT_EMF=1`).
    pub fn emit(channel: Option<&str>, values: &[(&str, f64)]) {
        let on = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
            || std::env::var("ONECOUNT_EMF").as_deref() == Ok("1");
        if !on || values.is_empty() {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", line(channel, values, now));
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn an_emf_line_declares_what_it_carries() {
            let l = line(
                Some("ebay"),
                &[(SYNC_LAG_MS, 412.0), (PUSHES, 1.0)],
                1_700_000_000_000,
            );
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
            let m = &v["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(m["Namespace"], "onecount");
            assert_eq!(m["Dimensions"], serde_json::json!([["Channel"]]));
            assert_eq!(
                m["Metrics"][0],
                serde_json::json!({"Name": "SyncLagMs", "Unit": "Milliseconds"})
            );
            assert_eq!(v["Channel"], "ebay");
            assert_eq!(v["SyncLagMs"], 412.0);
            assert_eq!(v["Pushes"], 1.0);
        }
    }
}
