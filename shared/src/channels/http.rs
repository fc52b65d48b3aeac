//! The outbound HTTP client every channel uses: explicit timeouts, and one place that
//! classifies failures as transient (retry later) or permanent.

use std::time::Duration;

/// A failed channel API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// 429, 5xx, timeouts, connection failures: try again, after `retry_after` if given.
    #[error("{what}: transient failure ({detail})")]
    Transient {
        what: String,
        /// The HTTP status (429, 5xx); `None` for a timeout or a failed connection.
        status: Option<u16>,
        detail: String,
        retry_after: Option<u64>,
    },
    /// Anything else: retrying the same call will not help.
    #[error("{what}: {detail}")]
    Permanent {
        what: String,
        status: u16,
        detail: String,
    },
}

impl HttpError {
    pub fn is_transient(&self) -> bool {
        matches!(self, HttpError::Transient { .. })
    }
}

/// A client with a 2 s connect and 10 s overall timeout.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("onecount/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

/// Send, and classify the outcome; on success, the body as JSON.
pub async fn send_json(
    what: &str,
    req: reqwest::RequestBuilder,
) -> Result<serde_json::Value, HttpError> {
    send(what, req).await.map(|(v, _)| v)
}

/// [`send_json`], also giving the response headers (rate-limit counters). An empty
/// success body (204) reads as JSON `null`.
pub async fn send(
    what: &str,
    req: reqwest::RequestBuilder,
) -> Result<(serde_json::Value, reqwest::header::HeaderMap), HttpError> {
    let resp = req.send().await.map_err(|e| HttpError::Transient {
        what: what.to_string(),
        status: None,
        detail: if e.is_timeout() {
            "timed out".into()
        } else {
            "connection failed".into()
        },
        retry_after: None,
    })?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| s.ceil() as u64);
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    if status.is_success() {
        if text.trim().is_empty() {
            return Ok((serde_json::Value::Null, headers));
        }
        return serde_json::from_str(&text)
            .map(|v| (v, headers))
            .map_err(|_| HttpError::Permanent {
                what: what.to_string(),
                status: status.as_u16(),
                detail: "response is not JSON".into(),
            });
    }
    // Error bodies are the channel's words about our request; keep them short in errors.
    let detail = format!(
        "HTTP {}: {}",
        status.as_u16(),
        text.chars().take(200).collect::<String>()
    );
    if status.as_u16() == 429 || status.is_server_error() {
        Err(HttpError::Transient {
            what: what.to_string(),
            status: Some(status.as_u16()),
            detail,
            retry_after,
        })
    } else {
        Err(HttpError::Permanent {
            what: what.to_string(),
            status: status.as_u16(),
            detail,
        })
    }
}

/// application/x-www-form-urlencoded, for the few token calls.
pub(crate) fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}
