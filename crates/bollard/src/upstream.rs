//! The Apollo client: one pooled rustls client, bounded timeouts, no retries (a write that
//! timed out may have happened; sending it twice could enrol a person twice), the team's key
//! in `x-api-key`, and only Apollo's rate-limit headers passed back.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};

use crate::config::ApolloConfig;
use crate::keys::Secret;

/// The headers of Apollo's answer that reach the agent: the nine rate-limit counters and
/// `retry-after`. Everything else (cookies, server names) stays here. As header names and
/// values they reach the agent's answer without being copied or parsed again (issue 16).
pub const PASSED_HEADERS: [HeaderName; 10] = [
    HeaderName::from_static("x-rate-limit-minute"),
    HeaderName::from_static("x-minute-usage"),
    HeaderName::from_static("x-minute-requests-left"),
    HeaderName::from_static("x-rate-limit-hourly"),
    HeaderName::from_static("x-hourly-usage"),
    HeaderName::from_static("x-hourly-requests-left"),
    HeaderName::from_static("x-rate-limit-24-hour"),
    HeaderName::from_static("x-24-hour-usage"),
    HeaderName::from_static("x-24-hour-requests-left"),
    HeaderName::from_static("retry-after"),
];

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(
        "Bollard has no Apollo key configured (set APOLLO_API_KEY), so nothing can be forwarded."
    )]
    NoKey,
    #[error("Apollo did not answer within {0} seconds; the call was not retried.")]
    Timeout(u64),
    #[error("Apollo could not be reached; the call was not retried.")]
    Connect(#[source] reqwest::Error),
    /// The request could not be made at all (reqwest's builder refused it), so nothing left
    /// Bollard: not a broken connection, whose call may have happened.
    #[error("Bollard could not make the request to Apollo, so nothing was sent.")]
    Unsendable(#[source] reqwest::Error),
    #[error(
        "The connection to Apollo broke before it answered; the call may or may not have taken effect, so it was not retried."
    )]
    Broken(#[source] reqwest::Error),
    /// Apollo refused the team's key. Passing Apollo's 401 on would tell the agent its own
    /// key is wrong, which it is not.
    #[error(
        "Apollo refused the team's Apollo key that Bollard holds, so the call did nothing. Your agent key is fine; an admin must update APOLLO_API_KEY."
    )]
    TeamKeyRefused,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Those of [`PASSED_HEADERS`] Apollo sent, each value visible ASCII.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub latency: Duration,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    base_url: String,
    key: Option<Secret>,
    timeout: Duration,
}

/// What to send: the method, the agent's path (already classified, so known-safe), and the
/// canonical arguments Bollard decided on, as a query string or a JSON body.
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<String>,
    pub json_body: Option<Vec<u8>>,
}

impl Upstream {
    pub fn new(config: &ApolloConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bollard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            base_url: config.base_url.clone(),
            key: config.api_key.clone(),
            timeout: config.timeout,
        })
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    pub async fn send(&self, out: Outgoing<'_>) -> Result<Answer, UpstreamError> {
        let key = self.key.as_ref().ok_or(UpstreamError::NoKey)?;
        let method =
            reqwest::Method::from_bytes(out.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let mut url = format!("{}{}", self.base_url, out.path);
        if let Some(q) = out.query.as_deref().filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        let mut req = self
            .client
            .request(method, url)
            .header("x-api-key", key.expose())
            .header("accept", "application/json")
            .header("cache-control", "no-cache");
        if let Some(body) = out.json_body {
            req = req.header("content-type", "application/json").body(body);
        }
        let started = Instant::now();
        let resp = req.send().await.map_err(|e| self.classify(e))?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(UpstreamError::TeamKeyRefused);
        }
        let headers = PASSED_HEADERS
            .into_iter()
            .filter_map(|name| {
                resp.headers()
                    .get(&name)
                    .filter(|v| v.to_str().is_ok())
                    .map(|v| (name, v.clone()))
            })
            .collect();
        let body = resp.bytes().await.map_err(|e| self.classify(e))?;
        Ok(Answer {
            status,
            headers,
            body,
            latency: started.elapsed(),
        })
    }

    fn classify(&self, e: reqwest::Error) -> UpstreamError {
        // The URL carries the forwarded query string (a GET call's arguments, emails
        // included); the error ends up in logs, so it never keeps it.
        let e = e.without_url();
        if e.is_builder() {
            UpstreamError::Unsendable(e)
        } else if e.is_timeout() {
            UpstreamError::Timeout(self.timeout.as_secs())
        } else if e.is_connect() {
            UpstreamError::Connect(e)
        } else {
            UpstreamError::Broken(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ApolloKeyKind;

    /// A request reqwest refuses to make (here a header value with a line break) never left
    /// Bollard: it is not a broken connection, whose call may have happened and been billed.
    #[tokio::test]
    async fn a_request_that_cannot_be_made_is_unsendable_not_broken() {
        let upstream = Upstream::new(&ApolloConfig {
            api_key: Some(Secret::new("sk-live\n123")),
            base_url: "http://127.0.0.1:9".into(),
            key_kind: ApolloKeyKind::Master,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
        })
        .expect("client");
        let sent = upstream
            .send(Outgoing {
                method: "POST",
                path: "/api/v1/mixed_people/api_search",
                query: None,
                json_body: Some(b"{}".to_vec()),
            })
            .await;
        assert!(
            matches!(sent, Err(UpstreamError::Unsendable(_))),
            "{sent:?}"
        );
    }
}
