//! Asynchronous result delivery: phone reveals and waterfall enrichment POST their
//! results to the caller's `webhook_url` a little later, as Apollo does. Only loopback
//! URLs are accepted, so a sandbox can never be used to send data off the machine.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::ApiError;

/// Checks that `raw` is an http(s) URL on this machine (127.0.0.0/8, ::1, localhost).
pub fn loopback_url(raw: &str) -> Result<Url, ApiError> {
    let refuse = |why: &str| {
        ApiError::unprocessable(format!(
            "webhook_url {why}: the sandbox only delivers webhooks to this machine (localhost, 127.0.0.0/8 or [::1])."
        ))
    };
    let url = Url::parse(raw.trim()).map_err(|_| refuse("is not a valid URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("must use http or https"));
    }
    let host = url.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let domain = host.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
    };
    if loopback {
        Ok(url)
    } else {
        Err(refuse("points outside this machine"))
    }
}

/// Delivers webhooks in the background; counts what was delivered.
#[derive(Debug)]
pub struct Webhooks {
    client: reqwest::Client,
    delay: Duration,
    tracker: TaskTracker,
    cancel: CancellationToken,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl Webhooks {
    pub fn new(delay: Duration) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            client,
            delay,
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            counts: Arc::default(),
        }
    }

    /// POSTs `payload` to `url` after the configured delay. Fire and forget: a failed
    /// delivery is logged and counted, never retried (Apollo's behaviour is unknown).
    pub fn send(&self, url: Url, payload: Value) {
        let client = self.client.clone();
        let delay = self.delay;
        let cancel = self.cancel.clone();
        let counts = self.counts.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            match client.post(url.clone()).json(&payload).send().await {
                Ok(response) if response.status().is_success() => {
                    counts.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Ok(response) => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(status = response.status().as_u16(), host = ?url.host_str(), "webhook refused");
                }
                Err(err) => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %err, host = ?url.host_str(), "webhook delivery failed");
                }
            }
        });
    }

    /// (delivered, failed) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.counts.delivered.load(Ordering::Relaxed),
            self.counts.failed.load(Ordering::Relaxed),
        )
    }

    /// Cancels pending deliveries and waits for those in flight.
    pub async fn close(&self) {
        self.cancel.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.tracker.wait()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_loopback_urls() {
        for ok in [
            "http://127.0.0.1:9/x",
            "http://127.9.9.9/",
            "http://[::1]:80/h",
            "https://localhost/h",
            "http://api.localhost/",
        ] {
            assert!(loopback_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/h",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
            "not a url",
            "http://127.0.0.1.evil.com/",
        ] {
            assert!(loopback_url(bad).is_err(), "{bad}");
        }
    }
}
