//! Writing an admin change's entry, before the change: the order and the fail-closed rule are
//! explained in `ops`. The sentences themselves are `audit::change`'s.

use time::OffsetDateTime;

use super::OpsResult;
use crate::audit::Record;
use crate::audit::change::{Actor, Draft, agent_state};
use crate::store::{Agent, Store, StoreError};

/// Commits the entry for a change that is about to be made; `None` when nothing would change
/// (no entry, and the caller makes no change).
pub(super) async fn record(store: &dyn Store, draft: Draft<'_>) -> OpsResult<Option<Record>> {
    if draft.clauses.is_empty() {
        return Ok(None);
    }
    record_change(store, draft).await.map(Some)
}

/// Commits the entry for a change that is about to be made.
pub(super) async fn record_change(store: &dyn Store, draft: Draft<'_>) -> OpsResult<Record> {
    let record = draft.into_record();
    store.append_audit(&[record.to_entry()]).await?;
    Ok(record)
}

/// Makes a change whose entry is already on the record; if the change fails, records that it
/// did not take effect (as well as it can: the store may be what failed) and passes the error
/// on.
pub(super) async fn then<T>(
    store: &dyn Store,
    written: &Record,
    change: impl std::future::Future<Output = OpsResult<T>>,
) -> OpsResult<T> {
    let result = change.await;
    if let Err(e) = &result {
        let mut failed = written.clone();
        failed.at = OffsetDateTime::now_utc();
        failed.decision = "failed".into();
        // The same sentence, undone: "Dana changed ...: this did not take effect, because ...".
        failed.sentence = format!(
            "{}: this did not take effect, because {}.",
            written.sentence.trim_end_matches('.'),
            continued(e.to_string().trim_end_matches('.'))
        );
        if let Some(c) = &mut failed.change {
            c.after = c.before.clone();
        }
        if let Err(again) = store.append_audit(&[failed.to_entry()]).await {
            tracing::error!(error = %again, request_id = %written.request_id, "recording a failed admin change failed");
        }
    }
    result
}

/// An error's sentence continued after "because": its first word lowered when it is one that
/// only starts a sentence ("because an agent named…", not "because An agent named…"); a name
/// that starts one ("Sales Agent is revoked") keeps its capital.
fn continued(reason: &str) -> String {
    const STARTERS: [&str; 12] = [
        "A", "An", "The", "There", "This", "That", "No", "Another", "It", "Its", "Each", "Every",
    ];
    let first = reason.split([' ', '\'']).next().unwrap_or("");
    if STARTERS.contains(&first) {
        let mut chars = reason.chars();
        chars
            .next()
            .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
    } else {
        reason.to_owned()
    }
}

pub(super) fn draft<'a>(
    by: &'a Actor,
    agent: &'a Agent,
    what: &'static str,
    clauses: Vec<String>,
) -> Draft<'a> {
    Draft {
        by,
        at: OffsetDateTime::now_utc(),
        agent: Some((&agent.id, &agent.name)),
        what,
        clauses,
        before: agent_state(agent),
        after: agent_state(agent),
    }
}

/// Records a change to an agent and then makes it. When the draft says nothing changes there
/// is neither an entry nor a change, and the agent is returned as it is.
pub(super) async fn change_agent(
    store: &dyn Store,
    agent: &Agent,
    draft: Draft<'_>,
    change: impl std::future::Future<Output = Result<Agent, StoreError>>,
) -> OpsResult<Agent> {
    let Some(written) = record(store, draft).await? else {
        return Ok(agent.clone());
    };
    then(store, &written, async { Ok(change.await?) }).await
}

pub(super) fn admin_key_draft<'a>(
    by: &'a Actor,
    what: &'static str,
    clause: String,
    before: serde_json::Value,
    after: serde_json::Value,
) -> Draft<'a> {
    Draft {
        by,
        at: OffsetDateTime::now_utc(),
        agent: None,
        what,
        clauses: vec![clause],
        before,
        after,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_reason_continues_the_sentence_without_a_capital_unless_it_starts_with_a_name() {
        use super::continued;
        assert_eq!(
            continued("An agent named 'x' already exists; choose another name"),
            "an agent named 'x' already exists; choose another name"
        );
        assert_eq!(
            continued("Another change to X was made"),
            "another change to X was made"
        );
        assert_eq!(
            continued("Anna's agent is revoked"),
            "Anna's agent is revoked"
        );
        assert_eq!(
            continued("Sales Agent is revoked"),
            "Sales Agent is revoked"
        );
        assert_eq!(continued("Ann is here"), "Ann is here");
        assert_eq!(continued(""), "");
    }
}
