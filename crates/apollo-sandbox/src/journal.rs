//! A bounded record of the requests that reached the sandbox, so tests can assert what a
//! gateway forwarded (and that a denied call never arrived). Raw keys are never stored.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

/// Which key a request presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUsed {
    Master,
    Scoped,
    /// A key was presented, but it is neither of the sandbox's keys.
    Unknown,
    Missing,
}

/// One request as it reached the sandbox.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JournalEntry {
    pub method: String,
    pub path: String,
    /// The raw query string with any `api_key` pair removed.
    pub query: String,
    /// Query and body arguments merged, `api_key` removed.
    pub args: Value,
    pub key: KeyUsed,
    /// Whether the key arrived as an `api_key` argument rather than the header.
    pub api_key_argument: bool,
    /// The status answered; 0 when the connection was dropped on purpose.
    pub status: u16,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The journal: the last `capacity` entries, oldest first.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    entries: Mutex<VecDeque<JournalEntry>>,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    pub fn push(&self, entry: JournalEntry) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.lock().iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<JournalEntry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes `api_key` pairs from a raw query string, so the journal never holds a key.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !key.is_empty() && crate::args::decode(key) != "api_key"
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_oldest_entry_when_full() {
        let journal = Journal::new(2);
        for status in [200, 201, 202] {
            journal.push(JournalEntry {
                method: "GET".into(),
                path: "/".into(),
                query: String::new(),
                args: Value::Null,
                key: KeyUsed::Missing,
                api_key_argument: false,
                status,
                at: OffsetDateTime::UNIX_EPOCH,
            });
        }
        let statuses: Vec<u16> = journal.entries().iter().map(|e| e.status).collect();
        assert_eq!(statuses, vec![201, 202]);
    }

    #[test]
    fn removes_api_key_from_the_query() {
        assert_eq!(redact_query("a=1&api_key=secret&b[]=2"), "a=1&b[]=2");
        assert_eq!(redact_query("api%5Fkey=secret"), "");
    }
}
