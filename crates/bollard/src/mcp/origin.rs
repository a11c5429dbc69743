//! DNS-rebinding protection for `/mcp`.
//!
//! The Streamable HTTP transport's security warning (MCP 2025-06-18 and later, basic/transports
//! §"Security Warning"): "Servers MUST validate the `Origin` header on all incoming
//! connections to prevent DNS rebinding attacks", and since 2025-11-25 "If the `Origin` header
//! is present and invalid, servers MUST respond with HTTP 403 Forbidden."
//!
//! What is accepted: no `Origin` at all (MCP clients that are not browsers do not send one, and
//! they still need an agent key), a loopback origin (a page served from this machine, which a
//! rebinding page cannot claim: its origin stays its own domain), and the origins an admin
//! allows (`[mcp] allowed_origins`, for a browser-based assistant). Everything else, `null`
//! (sandboxed frames, `file:` pages) and a repeated header included, is refused before the
//! key is even looked at, and recorded.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};

/// The origins a browser page may call `/mcp` from, normalised to `scheme://host:port`.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    allowed: Vec<String>,
}

impl Origins {
    /// From the configuration's list; each entry must be an origin (`scheme://host[:port]`).
    pub fn new(list: &[String]) -> Result<Self, String> {
        let allowed = list
            .iter()
            .map(|o| {
                normalise(o).ok_or_else(|| {
                    format!(
                        "'{o}' is not an origin: write it as a browser sends it, like https://assistant.example.com"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { allowed })
    }

    /// `Err` with the origin as sent (clipped) when a page at it may not call `/mcp`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let mut sent = headers.get_all(header::ORIGIN).iter();
        let Some(first) = sent.next() else {
            return Ok(());
        };
        let shown: String = String::from_utf8_lossy(first.as_bytes())
            .chars()
            .take(100)
            .collect();
        if sent.next().is_some() {
            return Err(format!("{shown} (and another)"));
        }
        let Some(origin) = first.to_str().ok().and_then(normalise) else {
            return Err(shown);
        };
        if is_loopback(&origin) || self.allowed.contains(&origin) {
            Ok(())
        } else {
            Err(shown)
        }
    }
}

/// `scheme://host:port` (lower case, the port always written) for an http(s) origin with
/// nothing after its host; `None` for anything else, `null` included.
fn normalise(s: &str) -> Option<String> {
    let s = s.trim();
    let u = url::Url::parse(s).ok()?;
    let plain = matches!(u.scheme(), "http" | "https")
        && u.username().is_empty()
        && u.password().is_none()
        && u.query().is_none()
        && u.fragment().is_none()
        && u.path() == "/"
        // `Url` adds the "/" itself; an origin never has one.
        && !s.ends_with('/');
    if !plain {
        return None;
    }
    let host = u.host_str()?.to_ascii_lowercase();
    Some(format!(
        "{}://{host}:{}",
        u.scheme(),
        u.port_or_known_default()?
    ))
}

fn is_loopback(origin: &str) -> bool {
    let Some(host) = origin
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once(':'))
        .map(|(host, _)| host.trim_start_matches('[').trim_end_matches(']'))
    else {
        return false;
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(origins: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for o in origins {
            h.append(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn accepts_no_origin_loopback_and_the_allowed_ones_only() {
        let o = Origins::new(&[
            "https://Assistant.example.com".into(),
            "http://tool.test:8443".into(),
        ])
        .unwrap();
        for ok in [
            &[][..],
            &["http://localhost:3000"],
            &["http://127.0.0.1"],
            &["http://[::1]:8080"],
            &["https://assistant.example.com"],
            &["https://assistant.example.com:443"],
            &["http://tool.test:8443"],
        ] {
            assert_eq!(o.check(&with(ok)), Ok(()), "{ok:?}");
        }
        for bad in [
            &["https://evil.example"][..],
            &["null"],
            &["http://assistant.example.com"],
            &["https://assistant.example.com:444"],
            &["https://assistant.example.com.evil.example"],
            &["http://tool.test"],
            &["http://localhost.evil.example"],
            &["http://127.0.0.1.nip.io"],
            &["https://assistant.example.com/"],
            &["https://user@assistant.example.com"],
            &["file://"],
            &["http://localhost", "https://evil.example"],
            &["https://evil.example", "http://localhost"],
        ] {
            assert!(o.check(&with(bad)).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_allowed_origin_must_be_an_origin() {
        for bad in [
            "assistant.example.com",
            "https://a.example/path",
            "null",
            "ftp://a.example",
        ] {
            assert!(Origins::new(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
