//! Whether a `webhook_url` an agent sends is under a prefix the admin allowed.
//!
//! Apollo POSTs enriched data (phone numbers) to that URL, so it must not escape the prefix.
//! A string comparison is not enough: `https://hooks.example/allowed/../../other` starts with
//! the prefix, yet an HTTP client or the receiving server resolves the dot segments and
//! delivers elsewhere (`%2e%2e`, `..\` and `%2f` do the same in some servers). So the URL is
//! refused outright when it carries anything a server could read as another path (dot
//! segments, encoded separators, backslashes, double encoding), userinfo or a fragment, and
//! what remains is compared part by part: scheme, host, port, and path segments on segment
//! boundaries (`/hooks/allowed` does not cover `/hooks/allowed-evil`).

use url::Url;

/// Why a `webhook_url` or a prefix is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("it is not an absolute http or https URL with a host")]
    NotHttp,
    #[error("it has a '.' or '..' path segment, which a server resolves to another path")]
    DotSegment,
    #[error(
        "it has a backslash, an encoded '/', '\\', '.' or '%', or a control character, which a server may read as another path"
    )]
    AmbiguousPath,
    #[error("it carries a user name or password")]
    UserInfo,
    #[error("it has a fragment ('#')")]
    Fragment,
}

/// A URL reduced to what delivery depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    scheme: String,
    host: String,
    port: Option<u16>,
    /// Path segments, without a trailing empty one (`/hooks/` and `/hooks` are both
    /// `["hooks"]`).
    segments: Vec<String>,
    query: Option<String>,
}

/// Parses `raw` strictly (see the module's rules) into what delivery depends on.
pub fn parse(raw: &str) -> Result<Target, WebhookError> {
    let lower = raw.to_ascii_lowercase();
    // Encoded separators and dots, and `%25` (an encoded `%`, so `%252e` decodes twice to
    // a dot), are refused wherever they appear: a name that needs them is not worth the risk.
    if raw.contains('\\')
        || ["%2e", "%2f", "%5c", "%25", "%00"]
            .iter()
            .any(|e| lower.contains(e))
        || raw.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(WebhookError::AmbiguousPath);
    }
    if raw.contains('#') {
        return Err(WebhookError::Fragment);
    }
    // The url crate resolves dot segments while parsing, so look at the raw path first.
    let after_scheme = raw.split_once("://").map_or("", |(_, rest)| rest);
    let path = after_scheme
        .split_once('/')
        .map_or("", |(_, p)| p)
        .split('?')
        .next()
        .unwrap_or_default();
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err(WebhookError::DotSegment);
    }
    let url = Url::parse(raw).map_err(|_| WebhookError::NotHttp)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WebhookError::NotHttp);
    }
    let host = url.host_str().ok_or(WebhookError::NotHttp)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookError::UserInfo);
    }
    let mut segments: Vec<String> = url
        .path_segments()
        .map(|s| s.map(str::to_owned).collect())
        .unwrap_or_default();
    if segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    Ok(Target {
        scheme: url.scheme().to_owned(),
        host: host.to_owned(),
        port: url.port_or_known_default(),
        segments,
        query: url.query().map(str::to_owned),
    })
}

impl Target {
    /// Whether `self` is under `prefix`: same scheme, host and port, the prefix's path
    /// segments first, and the prefix's query (if it has one) exactly.
    pub fn is_under(&self, prefix: &Target) -> bool {
        self.scheme == prefix.scheme
            && self.host == prefix.host
            && self.port == prefix.port
            && self.segments.starts_with(&prefix.segments)
            && (prefix.query.is_none() || self.query == prefix.query)
    }
}

/// Whether `url` is acceptable and under one of `prefixes`. A prefix that does not parse
/// covers nothing (configuration refuses such prefixes at start-up).
pub fn allowed(url: &str, prefixes: &[String]) -> bool {
    let Ok(target) = parse(url) else {
        return false;
    };
    prefixes
        .iter()
        .filter_map(|p| parse(p).ok())
        .any(|p| target.is_under(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str, prefix: &str) -> bool {
        allowed(url, &[prefix.to_owned()])
    }

    #[test]
    fn allows_urls_under_the_prefix_on_segment_boundaries() {
        let p = "https://hooks.example.com/allowed/";
        for url in [
            "https://hooks.example.com/allowed/",
            "https://hooks.example.com/allowed/x",
            "https://hooks.example.com/allowed/x/y?token=1",
            "https://HOOKS.example.com/allowed/x",
            "https://hooks.example.com:443/allowed/x",
            "https://hooks.example.com/allowed",
        ] {
            assert!(ok(url, p), "{url}");
        }
        assert!(ok(
            "https://hooks.example.com/allowed/x",
            "https://hooks.example.com/allowed"
        ));
        assert!(ok(
            "http://127.0.0.1:9/hooks/a",
            "http://127.0.0.1:9/hooks/"
        ));
    }

    #[test]
    fn refuses_every_escape_from_the_prefix() {
        let p = "https://hooks.example.com/allowed/";
        for url in [
            "https://hooks.example.com/allowed/../../escaped",
            "https://hooks.example.com/allowed/./../escaped",
            "https://hooks.example.com/allowed/..",
            "https://hooks.example.com/allowed/%2e%2e/escaped",
            "https://hooks.example.com/allowed/%2E%2E/escaped",
            "https://hooks.example.com/allowed/.%2e/escaped",
            "https://hooks.example.com/allowed/%252e%252e/escaped",
            "https://hooks.example.com/allowed/..\\escaped",
            "https://hooks.example.com/allowed\\..\\escaped",
            "https://hooks.example.com/allowed/x%2f..%2f..%2fescaped",
            "https://hooks.example.com/allowed/x%5c..%5cescaped",
            "https://hooks.example.com/allowed-evil/x",
            "https://hooks.example.com/allowedx",
            "https://hooks.example.com/",
            "https://hooks.example.com.evil.example/allowed/x",
            "https://evil.example/hooks.example.com/allowed/x",
            "https://hooks.example.com@evil.example/allowed/x",
            "https://user:pw@hooks.example.com/allowed/x",
            "https://hooks.example.com/allowed/x#frag",
            "https://hooks.example.com:8443/allowed/x",
            "http://hooks.example.com/allowed/x",
            "ftp://hooks.example.com/allowed/x",
            "https://hooks.example.com/allowed/x y",
            "https://hooks.example.com/allowed/x\n",
            "https://hooks.example.com/allowed/%00",
            "//hooks.example.com/allowed/x",
            "hooks.example.com/allowed/x",
            "",
        ] {
            assert!(!ok(url, p), "{url:?} must be refused");
        }
    }

    #[test]
    fn a_prefix_with_a_query_needs_that_query() {
        let p = "https://h.example/in?team=1";
        assert!(ok("https://h.example/in/x?team=1", p));
        assert!(!ok("https://h.example/in/x?team=2", p));
    }

    #[test]
    fn says_why_a_url_is_refused() {
        assert_eq!(
            parse("https://h.example/a/../b"),
            Err(WebhookError::DotSegment)
        );
        assert_eq!(parse("https://u@h.example/a"), Err(WebhookError::UserInfo));
        assert_eq!(parse("https://h.example/a#b"), Err(WebhookError::Fragment));
        assert_eq!(
            parse("https://h.example/a%2F"),
            Err(WebhookError::AmbiguousPath)
        );
    }
}
