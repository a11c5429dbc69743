//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, which the MCP
//! authorization specification recommends for clients with no prior relationship to the
//! server): the client id is an https URL, and the document at it describes the client.
//!
//! Fetching a URL a stranger chose is a server-side request forgery risk (the draft's
//! security considerations say so), so the fetch is fenced: https only (plain http only on
//! loopback, and only with `oauth.allow_loopback_metadata`, for tests); the host is resolved
//! first and every address it resolves to must be public (no private, loopback, link-local,
//! shared, documentation or multicast ranges), and the connection is pinned to the address
//! that was checked, so a second DNS answer cannot swap in an internal one; no redirects;
//! five seconds; 64 KiB.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration as StdDuration;

use serde_json::Value;
use time::Duration;

use super::OAuth;
use crate::store::Store;
use crate::store::oauth::OAuthClient;

const MAX_BYTES: usize = 64 * 1024;
const TIMEOUT: StdDuration = StdDuration::from_secs(5);
/// A document read this recently is not read again.
const FRESH_FOR: Duration = Duration::minutes(10);
const MAX_REDIRECT_URIS: usize = 10;

/// Whether a client id is a URL (a metadata document) rather than a registered id.
pub fn is_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// A redirect URI Bollard will send codes to: https, or http on loopback (RFC 8252 section
/// 7.3), absolute, without a fragment (RFC 6749 section 3.1.2).
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > 2000 {
        return Err("a redirect URI is longer than 2,000 characters".into());
    }
    let u = url::Url::parse(uri).map_err(|_| format!("'{uri}' is not an absolute URL"))?;
    let loopback = u.host().as_ref().is_some_and(super::is_loopback_host);
    if !(u.scheme() == "https" || (u.scheme() == "http" && loopback)) {
        return Err(format!(
            "'{uri}' must use https (plain http only on localhost or 127.0.0.1)"
        ));
    }
    if u.fragment().is_some() {
        return Err(format!(
            "'{uri}' has a fragment, which a redirect URI may not"
        ));
    }
    Ok(())
}

/// The client's redirect URIs from a registration or a document, checked.
pub fn redirect_uris(v: &Value) -> Result<Vec<String>, String> {
    let list = v
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("redirect_uris must be a list of at least one URL")?;
    if list.len() > MAX_REDIRECT_URIS {
        return Err(format!(
            "at most {MAX_REDIRECT_URIS} redirect URIs may be registered"
        ));
    }
    list.iter()
        .map(|u| {
            let u = u.as_str().ok_or("every redirect URI must be a string")?;
            check_redirect_uri(u)?;
            Ok(u.to_owned())
        })
        .collect()
}

/// A client's display name: printable, at most 100 characters. Chosen by whoever registers
/// the client, so nothing [`crate::ops::hidden`] stays in it: a zero-width space would let
/// "Claude\u{200B}" pass for Claude on the consent page and in the audit log, and a bidi
/// override would turn the audit line that names it around.
pub fn client_name(v: Option<&Value>, fallback: &str) -> String {
    let name: String = v
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .filter(|c| !crate::ops::hidden(*c))
        .take(100)
        .collect();
    let name = name.trim();
    if name.is_empty() {
        fallback.to_owned()
    } else {
        name.to_owned()
    }
}

/// Whether an address is on the public internet (the ranges IANA reserves for private,
/// loopback, link-local, shared, documentation, benchmarking and multicast use are not).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // The deprecated IPv4-compatible form (::a.b.c.d) carries an IPv4 address too.
            if s[..6].iter().all(|x| *x == 0) && !v6.is_loopback() && !v6.is_unspecified() {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 (and 64:ff9b:1::/48), may reach IPv4 inside
                || s[0] == 0x2002 // 6to4, a relay to any IPv4 address (found in review)
                || (s[0] == 0x2001 && s[1] == 0x0000)) // Teredo, the same through a tunnel
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared 100.64.0.0/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || o[0] >= 240)
}

/// The client a metadata document describes: read from the store when fresh, else fetched
/// (fenced as the module says), checked, and stored. The error is a sentence for the page.
pub async fn resolve(
    oauth: &OAuth,
    store: &dyn Store,
    client_id: &str,
) -> Result<OAuthClient, String> {
    let now = oauth.now();
    if let Ok(Some(c)) = store.oauth().client(client_id).await
        && c.source == "metadata"
        && (c.status == "blocked" || c.updated_at + FRESH_FOR > now)
    {
        return Ok(c);
    }
    let doc = fetch(oauth, client_id).await?;
    // The draft's section 4.1: the document's client_id must be its own URL, exactly.
    if doc.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err("the client's metadata document does not name its own URL as client_id".into());
    }
    if let Some(m) = doc
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        && m != "none"
    {
        return Err(format!(
            "the client's metadata document asks for token_endpoint_auth_method '{m}'; Bollard takes public clients only (none, with PKCE)"
        ));
    }
    let uris = redirect_uris(doc.get("redirect_uris").unwrap_or(&Value::Null))
        .map_err(|e| format!("the client's metadata document is not usable: {e}"))?;
    let host = url::Url::parse(client_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let client = OAuthClient {
        client_id: client_id.to_owned(),
        name: client_name(doc.get("client_name"), &host),
        redirect_uris: uris,
        source: "metadata".into(),
        status: "new".into(),
        created_at: now,
        updated_at: now,
    };
    store
        .oauth()
        .put_client(&client)
        .await
        .map_err(|e| format!("the client could not be stored: {e}"))
}

async fn fetch(oauth: &OAuth, client_id: &str) -> Result<Value, String> {
    let loopback_ok = oauth.config().allow_loopback_metadata;
    let u = url::Url::parse(client_id).map_err(|_| "the client id is not a URL".to_owned())?;
    // The draft's section 3: https, a path, no fragment, no credentials, no dot segments
    // (the parser removes them, so a URL that changes on parsing had some).
    let is_loopback = u.host().as_ref().is_some_and(super::is_loopback_host);
    if !(u.scheme() == "https" || (u.scheme() == "http" && loopback_ok && is_loopback)) {
        return Err("a client id URL must use https".into());
    }
    if u.fragment().is_some()
        || !u.username().is_empty()
        || u.password().is_some()
        || u.path() == "/"
        || u.as_str() != client_id
    {
        return Err(
            "a client id URL must have a path, and no fragment, credentials or dot segments".into(),
        );
    }
    let host_str = u
        .host_str()
        .ok_or("the client id URL has no host")?
        .to_owned();
    let port = u.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        TIMEOUT,
        tokio::net::lookup_host((host_str.trim_matches(['[', ']']), port)),
    )
    .await
    .map_err(|_| "the client's host did not resolve in time".to_owned())?
    .map_err(|_| "the client's host does not resolve".to_owned())?
    .collect();
    let allowed = |a: &SocketAddr| is_public(a.ip()) || (loopback_ok && a.ip().is_loopback());
    let Some(pinned) = addrs.first().copied() else {
        return Err("the client's host does not resolve".into());
    };
    if !addrs.iter().all(allowed) {
        return Err(
            "the client's metadata document is at a private or internal address, which Bollard does not fetch"
                .into(),
        );
    }
    // No proxy: a proxy from the environment (HTTPS_PROXY, ALL_PROXY) would resolve the host
    // itself, past the address check and the pin (found in review).
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .resolve(&host_str, pinned)
        .build()
        .map_err(|_| "the client's metadata document could not be fetched".to_owned())?;
    let mut resp = client
        .get(u.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|_| "the client's metadata document could not be fetched".to_owned())?;
    if resp.status().is_redirection() {
        return Err("the client's metadata document answered with a redirect, which Bollard does not follow".into());
    }
    if !resp.status().is_success() {
        return Err(format!(
            "the client's metadata document answered {}",
            resp.status().as_u16()
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|_| "the client's metadata document could not be read".to_owned())?
    {
        if body.len() + chunk.len() > MAX_BYTES {
            return Err("the client's metadata document is larger than 64 KiB".into());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| "the client's metadata document is not a JSON object".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_name_keeps_no_invisible_or_direction_changing_character() {
        for (given, kept) in [
            ("Claude\u{200B}", "Claude"),
            ("\u{202E}tnegA selaS", "tnegA selaS"),
            ("Zed\u{2066}\u{2069} Assistant\u{FEFF}", "Zed Assistant"),
            ("Line\nbreak\u{1b}[2J", "Linebreak[2J"),
            ("\u{200B}\u{200D}", "An unnamed assistant"),
        ] {
            assert_eq!(
                client_name(Some(&Value::String(given.into())), "An unnamed assistant"),
                kept,
                "{given:?}"
            );
        }
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            // Found in review: ways to an IPv4 address inside an IPv6 one.
            "::10.0.0.1",
            "::169.254.169.254",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378::1",
            "64:ff9b:1::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:4700::1111", "8.8.8.8", "::8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_http() {
        assert!(check_redirect_uri("https://claude.ai/api/mcp/auth_callback").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:33418/callback").is_ok());
        assert!(check_redirect_uri("http://localhost/cb").is_ok());
        assert!(check_redirect_uri("http://evil.example/cb").is_err());
        assert!(check_redirect_uri("https://x.example/cb#frag").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
    }
}
