//! Versions of what an admin changes as a whole (an agent's grants, its limits), so a change
//! made from an old reading is refused instead of quietly undoing a newer one: the console's
//! forms carry the version they were drawn from, and the admin API gives it as an `ETag` and
//! honours `If-Match` (RFC 9110 §8.8.3 and §13.1.1).

use axum::http::{HeaderMap, HeaderValue, header};

use super::AdminError;

/// The version of `v`: a SHA-256 digest of its JSON, in hex.
pub(crate) fn digest(v: &impl serde::Serialize) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        serde_json::to_vec(v).unwrap_or_default(),
    ))
}

/// `v`'s version as a strong entity tag.
pub(super) fn etag(v: &impl serde::Serialize) -> HeaderValue {
    // Hex in quotes is always a valid header value.
    HeaderValue::from_str(&format!("\"{}\"", digest(v))).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Refuses a request whose `If-Match` names none of `current`'s version (412). No header is
/// no condition; `*` matches, as the agent exists by now. RFC 9110 §13.1.1: If-Match compares
/// strongly, so a weak tag (`W/"..."`) never matches.
pub(super) fn if_match(
    headers: &HeaderMap,
    current: &impl serde::Serialize,
    agent: &str,
    what: &str,
) -> Result<(), AdminError> {
    let mut given = headers.get_all(header::IF_MATCH).iter().peekable();
    if given.peek().is_none() {
        return Ok(());
    }
    let ours = format!("\"{}\"", digest(current));
    let mut tags = Vec::new();
    for v in given {
        let Ok(v) = v.to_str() else {
            return Err(AdminError::BadRequest(
                "If-Match holds bytes that are not text; send the ETag as it was given.".into(),
            ));
        };
        tags.extend(v.split(',').map(str::trim).filter(|t| !t.is_empty()));
    }
    if tags.iter().any(|t| *t == "*" || *t == ours) {
        return Ok(());
    }
    Err(changed(agent, what))
}

/// Whether a request names a version (`If-Match` with a tag; `*` names none, so the change
/// is made as without the header).
pub(super) fn names_a_version(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::IF_MATCH)
        .iter()
        .any(|v| v.to_str().map_or(true, |v| v.trim() != "*"))
}

/// The answer to a change made from another version than the one there: 412, also when
/// another change landed between the check and the write (the store's compare-and-set).
fn changed(agent: &str, what: &str) -> AdminError {
    AdminError::PreconditionFailed(format!(
        "{agent}'s {what} changed after the version named in If-Match (on the command line, in the console or through this API), so this change was not made. Read them again (the answer's ETag is the version now) and make your change again."
    ))
}

/// `result` of a change made after `if_match`: for a request that named a version, the
/// store's "another change came first" is the 412 it was promised; otherwise as it is.
pub(super) fn or_changed<T>(
    headers: &HeaderMap,
    result: Result<T, crate::ops::OpsError>,
    agent: &str,
    what: &str,
) -> Result<T, AdminError> {
    match result {
        Err(crate::ops::OpsError::Conflict(_)) if names_a_version(headers) => {
            Err(changed(agent, what))
        }
        other => other.map_err(AdminError::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn if_match_takes_the_version_star_or_a_list_and_refuses_others() {
        let v = serde_json::json!({"people": "read"});
        let tag = etag(&v);
        let tag = tag.to_str().unwrap();
        assert!(if_match(&HeaderMap::new(), &v, "A", "access").is_ok());
        assert!(if_match(&with(&[tag]), &v, "A", "access").is_ok());
        assert!(if_match(&with(&["*"]), &v, "A", "access").is_ok());
        assert!(if_match(&with(&[&format!("\"old\", {tag}")]), &v, "A", "access").is_ok());
        assert!(if_match(&with(&["\"old\"", tag]), &v, "A", "access").is_ok());
        // Weak tags never match (strong comparison), nor the digest without its quotes.
        for refused in [
            format!("W/{tag}"),
            tag.trim_matches('"').to_owned(),
            "\"old\"".into(),
        ] {
            let e = if_match(&with(&[&refused]), &v, "Sales Agent", "access").unwrap_err();
            assert!(matches!(e, AdminError::PreconditionFailed(_)), "{refused}");
            assert!(
                e.to_string().starts_with("Sales Agent's access changed"),
                "{e}"
            );
        }
        let other = serde_json::json!({"people": "off"});
        assert_ne!(etag(&other), etag(&v));
    }
}
