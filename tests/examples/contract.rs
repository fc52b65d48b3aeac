//! Prints, as JSON, what the code expects of its deployment: the table's keys, index and
//! TTL attribute, every function's environment variables, the metric names the alarms
//! and dashboard may use, and the alarm names the alarm-notify function knows. `scripts/infra_check.py` compares the SAM template with it.

use onecount::aws::dynamo::schema;
use onecount::config::vars;
use onecount::telemetry::metrics;

fn main() {
    let s = schema::shape();
    let functions: Vec<serde_json::Value> = vars::FUNCTIONS
        .iter()
        .map(|f| serde_json::json!({"binary": f.binary, "required": vars::expand(f.required), "optional": vars::expand(f.optional)}))
        .collect();
    let out = serde_json::json!({
        "table": {
            "hash_key": s.hash_key, "range_key": s.range_key,
            "indexes": s.indexes.iter().map(|(n, h, r, p)| serde_json::json!({"name": n, "hash_key": h, "range_key": r, "projection": p})).collect::<Vec<_>>(),
            "ttl_attribute": s.ttl_attribute, "billing_mode": s.billing_mode,
        },
        "functions": functions,
        "channels": onecount::Channel::CONNECTED,
        "alarms": onecount::alerts::alarm::ALARMS.iter().map(|(key, _, _, per_channel)| serde_json::json!({"key": key, "per_channel": per_channel})).collect::<Vec<_>>(),
        "metrics": {"namespace": metrics::NAMESPACE, "names": metrics::ALL, "dimension": metrics::CHANNEL_DIMENSION},
    });
    println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
}
