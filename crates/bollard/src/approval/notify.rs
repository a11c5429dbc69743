//! The approvals webhook: each new request is posted to `approvals.notify_url`, as Bollard's
//! JSON or as a Slack-compatible message, with a link to the console. Delivery runs in a task
//! of its own and never holds up a call; it is retried with backoff, and the outcome (sent, or
//! failed with the last error) is stored with the request, where the console shows it.
//! The body carries the sentence (personal data masked, as in the record) and never the
//! arguments.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::{ApprovalsConfig, NotifyFormat, utc_time};
use crate::store::Store;
use crate::store::approvals::Approval;

/// Attempts per request, and the wait before the second (doubling after).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Notifier {
    url: String,
    format: NotifyFormat,
    console_url: Option<String>,
    client: reqwest::Client,
    /// Requests whose notification finally failed, for the logs and the metrics.
    failures: Arc<AtomicU64>,
}

impl Notifier {
    /// None when no `notify_url` is configured (or no HTTP client can be built, which is
    /// logged).
    pub fn from_config(c: &ApprovalsConfig) -> Option<Self> {
        let url = c.notify_url.clone()?;
        let client = match reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "the approvals notifier could not be built; requests are not notified");
                return None;
            }
        };
        Some(Self {
            url,
            format: c.notify_format,
            console_url: c.console_url.clone(),
            client,
            failures: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Notifications that failed after every attempt, since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The link to the request in the console.
    pub fn link(console_url: Option<&str>, id: &str) -> Option<String> {
        console_url.map(|u| format!("{u}/approvals#{id}"))
    }

    /// The body posted for `a`.
    pub fn body(&self, a: &Approval) -> Value {
        body(self.format, self.console_url.as_deref(), a)
    }

    /// Posts the notification in a task of its own: the call that asked is answered at once.
    pub fn spawn(&self, store: Arc<dyn Store>, a: Approval) {
        let me = self.clone();
        tokio::spawn(async move { me.deliver(&*store, &a).await });
    }

    async fn deliver(&self, store: &dyn Store, a: &Approval) {
        let body = self.body(a);
        let mut wait = FIRST_BACKOFF;
        let mut last_error = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.client.post(&self.url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    if let Err(e) = store
                        .approvals()
                        .note_notification(&a.id, true, attempt, None)
                        .await
                    {
                        tracing::warn!(approval = %a.id, error = %e, "could not note a delivered approval notification");
                    }
                    return;
                }
                Ok(r) => last_error = format!("the webhook answered {}", r.status().as_u16()),
                // The error names the URL's host only as reqwest prints it; the URL's path
                // may hold a token (Slack's do), so it is left out.
                Err(e) => last_error = describe(&e),
            }
            tracing::warn!(approval = %a.id, attempt, error = %last_error, "an approval notification failed");
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(approval = %a.id, error = %last_error, "an approval notification failed after every attempt");
        if let Err(e) = store
            .approvals()
            .note_notification(&a.id, false, ATTEMPTS, Some(&last_error))
            .await
        {
            tracing::warn!(approval = %a.id, error = %e, "could not note a failed approval notification");
        }
    }
}

/// What went wrong, without the URL (its path may be a secret).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the webhook did not answer in time".to_owned()
    } else if e.is_connect() {
        "the webhook could not be reached".to_owned()
    } else {
        "the webhook call failed".to_owned()
    }
}

/// The notification body for `a` in `format`.
pub fn body(format: NotifyFormat, console_url: Option<&str>, a: &Approval) -> Value {
    let link = Notifier::link(console_url, &a.id);
    let expires = utc_time(a.expires_at, a.created_at);
    let credits = if a.max_credits > 0 {
        format!(" It can spend up to {} Apollo credits.", a.max_credits)
    } else {
        String::new()
    };
    let text = format!(
        "{} asks to {}. It needs a person's approval because {}.{credits} Request {} expires at {expires}.",
        a.agent_name, a.sentence, a.why, a.id
    );
    match format {
        NotifyFormat::Json => json!({
            "type": "bollard.approval.requested",
            "id": a.id,
            "agent": a.agent_name,
            "agent_id": a.agent_id,
            "action": a.action,
            "text": text,
            "why": a.why,
            "max_credits": a.max_credits,
            "expires_at": a.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "url": link,
            "approve": format!("bollard approvals approve {}", a.id),
            "deny": format!("bollard approvals deny {}", a.id),
        }),
        NotifyFormat::Slack => {
            let action = match &link {
                Some(l) => format!("<{l}|Review it in the Bollard console>"),
                None => format!("Run `bollard approvals approve {}` or `deny`", a.id),
            };
            json!({ "text": format!("{text} {action}.") })
        }
    }
}
