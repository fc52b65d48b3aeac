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

    /// The channel refused the credentials (401) or their scopes (403).
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            HttpError::Permanent {
                status: 401 | 403,
                ..
            }
        )
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

/// How long a blipped call waits before its one retry.
pub const BLIP_RETRY_AFTER: Duration = Duration::from_millis(150);

impl HttpError {
    /// A failure that usually clears at once: a 5xx or a timeout, with no word from the
    /// channel on when to come back. Throttling (429, Retry-After) is not a blip.
    pub fn is_blip(&self) -> bool {
        matches!(
            self,
            HttpError::Transient {
                status: None | Some(500..=599),
                retry_after: None,
                ..
            }
        )
    }
}

/// [`send_json`], also giving the response headers (rate-limit counters). An empty
/// success body (204) reads as JSON `null`.
///
/// A blip ([`HttpError::is_blip`]) is retried once, after [`BLIP_RETRY_AFTER`], here and
/// nowhere else: the queue's backoff would cost seconds while the channels keep selling
/// at the old quantity. Safe for every call onecount makes: reads, token and key
/// look-ups, absolute quantities, and Shopify's compare-and-set, whose repeat carries the
/// same `@idempotent` key (a write that did land is answered as it was the first time).
/// A failure inside a successful answer (one item of a bulk call) is not retried here.
pub async fn send(
    what: &str,
    req: reqwest::RequestBuilder,
) -> Result<(serde_json::Value, reqwest::header::HeaderMap), HttpError> {
    let (text, headers) = send_text(what, req).await?;
    if text.trim().is_empty() {
        return Ok((serde_json::Value::Null, headers));
    }
    serde_json::from_str(&text)
        .map(|v| (v, headers))
        .map_err(|_| HttpError::Permanent {
            what: what.to_string(),
            status: 200,
            detail: "response is not JSON".into(),
        })
}

/// [`send`] for a body that is not JSON (the eBay Trading API's XML): the text of a
/// successful answer and its headers, failures classified and blips retried the same way.
pub async fn send_text(
    what: &str,
    req: reqwest::RequestBuilder,
) -> Result<(String, reqwest::header::HeaderMap), HttpError> {
    let again = req.try_clone();
    match (send_once(what, req).await, again) {
        (Err(e), Some(again)) if e.is_blip() => {
            tracing::debug!(call = what, error = %e, "blip; trying once more");
            tokio::time::sleep(BLIP_RETRY_AFTER).await;
            send_once(what, again).await
        }
        (r, _) => r,
    }
}

async fn send_once(
    what: &str,
    req: reqwest::RequestBuilder,
) -> Result<(String, reqwest::header::HeaderMap), HttpError> {
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
        return Ok((text, headers));
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
pub fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A loopback server answering each request with the next of `answers` (status,
    /// extra header line), the last one again after that; counts the requests.
    async fn server(answers: Vec<(u16, &'static str)>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let (status, header) = answers[n.min(answers.len() - 1)];
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let body = "{}";
                let resp = format!(
                    "HTTP/1.1 {status} X\r\n{header}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn a_blip_is_tried_once_more_and_throttling_is_not() {
        // A 500, then the answer: one retry makes it.
        let (url, seen) = server(vec![(500, ""), (200, "")]).await;
        assert!(send_json("t", client().get(&url)).await.is_ok());
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        // A 500, then a 404: the second answer is the one that counts, asked twice only.
        let (url, seen) = server(vec![(500, ""), (404, "")]).await;
        let e = send_json("t", client().get(&url)).await.unwrap_err();
        assert!(matches!(e, HttpError::Permanent { status: 404, .. }), "{e}");
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        // Two 503s: still transient after the one retry.
        let (url, seen) = server(vec![(503, "")]).await;
        assert!(
            send_json("t", client().get(&url))
                .await
                .unwrap_err()
                .is_transient()
        );
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        // Throttled, or a 5xx that says when to come back: left to the caller's pacing.
        let (url, seen) = server(vec![(429, "")]).await;
        assert!(send_json("t", client().get(&url)).await.is_err());
        let (url2, seen2) = server(vec![(503, "retry-after: 3\r\n")]).await;
        let e = send_json("t", client().get(&url2)).await.unwrap_err();
        assert!(
            matches!(
                e,
                HttpError::Transient {
                    retry_after: Some(3),
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            (seen.load(Ordering::SeqCst), seen2.load(Ordering::SeqCst)),
            (1, 1)
        );
    }
}
