//! Sign-in for hosted assistants (issue 13): Bollard is both the protected resource (its
//! `/mcp` and REST doors) and the OAuth 2.1 authorization server for it, as the MCP
//! authorization specification (2025-11-25 and 2026-07-28 revisions) describes.
//!
//! - Discovery: a 401 carries `WWW-Authenticate: Bearer resource_metadata="..."` (RFC 9728
//!   section 5.1), which names `/.well-known/oauth-protected-resource` (RFC 9728 section 3);
//!   that names Bollard itself as the authorization server (`/.well-known/
//!   oauth-authorization-server`, RFC 8414 section 3).
//! - Clients: Dynamic Client Registration (RFC 7591) and Client ID Metadata Documents
//!   (`cimd.rs`). Public clients only: PKCE replaces a client secret.
//! - A person approves in the console (`admin/console/connect.rs`), choosing which agent the
//!   connection acts as. A connection is then a credential of that agent: `Gate::authenticate`
//!   accepts its access tokens as it accepts the agent's key, and revoking the agent ends it.
//!
//! Access tokens are signed, not stored: `bol_at_<claims>.<mac>`, HMAC-SHA256 under a key
//! derived from the installation secret (shared by replicas through the store). They name
//! their connection, agent, audience (RFC 8707) and expiry; a token is accepted only while
//! its connection is live in the directory's snapshot. Opening or ending a connection is an
//! admin change (`config_version`, announced by PostgreSQL's NOTIFY), so a revoked connection
//! stops working on every replica at once, and within a poll if a notification is lost.
//! Codes, refresh tokens and connect links are random and stored only as SHA-256 hashes;
//! [`spawn_purger`] deletes them once they are spent. Access tokens are never stored, so
//! there is nothing of theirs to purge: they expire by their own claims.

pub mod cimd;
pub mod ops;
mod routes;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::directory::Directory;
use crate::error::TokenProblem;
use crate::store::Store;

pub use routes::{challenge_layer, router};

pub const ACCESS_TOKEN_PREFIX: &str = "bol_at_";
pub const REFRESH_TOKEN_PREFIX: &str = "bol_rt_";
pub const CODE_PREFIX: &str = "bol_code_";
pub const LINK_PREFIX: &str = "bol_link_";
pub const CLIENT_PREFIX: &str = "bcl_";

/// How long an authorization code may wait for its exchange (OAuth 2.1 section 4.1.2
/// recommends a short lifetime; ten minutes at most).
pub const CODE_LIFETIME: Duration = Duration::minutes(5);
/// How long a consent page may stay open before its request must start again.
pub const TICKET_LIFETIME: Duration = Duration::minutes(30);

/// `[oauth]` in the configuration. OAuth is on only when `public_url` is set.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// Where people reach the console (the consent page); by default the admin listener's
    /// own address.
    pub console_url: Option<String>,
    /// Allows Client ID Metadata Documents at loopback addresses over plain http. For tests.
    pub allow_loopback_metadata: bool,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            console_url: None,
            allow_loopback_metadata: false,
            access_token_lifetime: Duration::hours(1),
            refresh_token_lifetime: Duration::days(30),
        }
    }
}

/// `[oauth]` as the file holds it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOAuth {
    console_url: Option<String>,
    allow_loopback_metadata: Option<bool>,
    access_token_lifetime: Option<String>,
    refresh_token_lifetime: Option<String>,
}

/// Whether a host is this machine (http is allowed there, RFC 8252 section 8.3).
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// An origin-only https URL (or http on loopback), without a trailing slash.
fn origin_url(what: &str, v: &str, problems: &mut Vec<String>) -> Option<String> {
    let bad = |why: &str| format!("{what} is '{v}', which {why}");
    let Ok(u) = url::Url::parse(v.trim()) else {
        problems.push(bad("is not a URL like https://bollard.example.com"));
        return None;
    };
    let loopback = u.host().as_ref().is_some_and(is_loopback_host);
    if !(u.scheme() == "https" || (u.scheme() == "http" && loopback)) {
        problems.push(bad(
            "must use https (plain http only on this machine: localhost or 127.0.0.1)",
        ));
        return None;
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        problems.push(bad("must not carry a user, a query or a fragment"));
        return None;
    }
    if u.path() != "/" && what == "public_url" {
        problems.push(bad(
            "must be an origin only (no path): Bollard serves /mcp and /oauth/... at its root",
        ));
        return None;
    }
    Some(u.as_str().trim_end_matches('/').to_owned())
}

/// Validates `public_url` and `[oauth]`, adding any problem to `problems`.
pub fn configure(
    public_url: Option<String>,
    file: FileOAuth,
    problems: &mut Vec<String>,
) -> (Option<String>, OAuthConfig) {
    let mut c = OAuthConfig::default();
    let public = public_url
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| origin_url("public_url", &v, problems));
    if let Some(v) = file.console_url {
        c.console_url = origin_url("oauth.console_url", &v, problems);
    }
    if let Some(v) = file.allow_loopback_metadata {
        c.allow_loopback_metadata = v;
    }
    for (slot, v, what) in [
        (
            &mut c.access_token_lifetime,
            file.access_token_lifetime,
            "oauth.access_token_lifetime",
        ),
        (
            &mut c.refresh_token_lifetime,
            file.refresh_token_lifetime,
            "oauth.refresh_token_lifetime",
        ),
    ] {
        if let Some(v) = v {
            match crate::ops::parse_duration(&v) {
                Ok(d) => *slot = d,
                Err(e) => problems.push(format!("{what}: {e}")),
            }
        }
    }
    (public, c)
}

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    match HmacSha256::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

/// SHA-256 of a secret, hex: how codes, refresh tokens and links are stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random secret with a recognisable prefix (for secret scanners), 256 bits.
pub fn new_secret(prefix: &str) -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b))
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    /// The connection.
    c: String,
    /// The agent.
    a: String,
    aud: String,
    exp: i64,
}

/// Who an access token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub connection_id: String,
    pub agent_id: String,
    pub name: String,
}

/// Checks access tokens without a database round trip: the signature, the audience, the
/// expiry, and the connection against the directory's live ones.
#[derive(Debug)]
pub struct Verifier {
    key: [u8; 32],
    resource: String,
    directory: Directory,
}

impl Verifier {
    fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let m = mac(&self.key, format!("at.{payload}").as_bytes());
        format!(
            "{ACCESS_TOKEN_PREFIX}{payload}.{}",
            URL_SAFE_NO_PAD.encode(m)
        )
    }

    /// The claims of a token this installation signed, whatever its audience and expiry.
    fn open(&self, token: &str) -> Option<Claims> {
        let rest = token.strip_prefix(ACCESS_TOKEN_PREFIX)?;
        let (payload, sig) = rest.rsplit_once('.')?;
        let want = URL_SAFE_NO_PAD.encode(mac(&self.key, format!("at.{payload}").as_bytes()));
        if !bool::from(want.as_bytes().ct_eq(sig.as_bytes())) {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    /// Who the token speaks for, if it is valid here and now.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<TokenHolder, TokenProblem> {
        let claims = self.open(token).ok_or(TokenProblem::Unknown)?;
        // RFC 8707 section 2 and the MCP specification's "Token Audience Binding and
        // Validation": a token minted for another resource is refused, even though this
        // installation signed it (two Bollards may share one database).
        if claims.aud != self.resource {
            return Err(TokenProblem::WrongAudience {
                audience: claims.aud.chars().take(200).collect(),
            });
        }
        if claims.exp <= now.unix_timestamp() {
            return Err(TokenProblem::Expired);
        }
        match self.directory.connection(&claims.c) {
            Some(l) if l.agent_id == claims.a => Ok(TokenHolder {
                connection_id: claims.c,
                agent_id: claims.a,
                name: l.name.clone(),
            }),
            Some(_) | None => Err(TokenProblem::Revoked),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OAuth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    issuer: String,
    console_url: String,
    config: OAuthConfig,
    clock: Clock,
    directory: Directory,
    verifier: Verifier,
    /// Signs consent tickets and the connect-link form's CSRF token.
    ticket_key: [u8; 32],
}

/// An authorization request that passed every check, carried to the consent page signed
/// (so the console needs no table of pending requests, and any replica can serve it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    /// Whether the authorization request named `redirect_uri` (else it is the client's only
    /// registered one): the token request must then name it too (RFC 6749 §4.1.3).
    #[serde(default = "named")]
    pub redirect_named: bool,
    pub state: Option<String>,
    pub code_challenge: String,
    pub resource: String,
    pub exp: i64,
}

/// Tickets sealed before `redirect_named` existed named it: the stricter reading.
fn named() -> bool {
    true
}

impl OAuth {
    /// `public_url` is the issuer and the resource; `console_url` where the consent page is.
    pub fn new(
        public_url: &str,
        console_url: &str,
        config: OAuthConfig,
        directory: Directory,
        clock: Clock,
        installation_secret: &[u8],
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                issuer: public_url.to_owned(),
                console_url: console_url.trim_end_matches('/').to_owned(),
                verifier: Verifier {
                    key: mac(installation_secret, b"bollard/oauth-access-token/v1"),
                    resource: public_url.to_owned(),
                    directory: directory.clone(),
                },
                ticket_key: mac(installation_secret, b"bollard/oauth-ticket/v1"),
                config,
                directory,
                clock,
            }),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The resource identifier tokens are bound to (RFC 8707): the public URL.
    pub fn resource(&self) -> &str {
        &self.inner.issuer
    }

    pub fn console_url(&self) -> &str {
        &self.inner.console_url
    }

    pub fn config(&self) -> &OAuthConfig {
        &self.inner.config
    }

    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Where a 401 sends clients (RFC 9728 section 5.1); `/mcp` appended for a 401 from it.
    pub fn resource_metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource", self.inner.issuer)
    }

    /// Whether a `resource` parameter names this server: the public URL, or its `/mcp`
    /// endpoint (clients derive it from either; RFC 8707 section 2 lets the server decide).
    pub fn is_our_resource(&self, resource: &str) -> bool {
        let r = resource.trim_end_matches('/');
        r == self.inner.issuer || r == format!("{}/mcp", self.inner.issuer)
    }

    pub fn access_token(&self, connection_id: &str, agent_id: &str) -> (String, i64) {
        let lifetime = self.inner.config.access_token_lifetime;
        let claims = Claims {
            c: connection_id.to_owned(),
            a: agent_id.to_owned(),
            aud: self.inner.issuer.clone(),
            exp: (self.now() + lifetime).unix_timestamp(),
        };
        (self.inner.verifier.sign(&claims), lifetime.whole_seconds())
    }

    /// The connection an access token names, if this installation signed it (expired or not):
    /// for revocation (RFC 7009), which accepts any token the server issued.
    pub fn connection_of_access_token(&self, token: &str) -> Option<String> {
        self.inner.verifier.open(token).map(|c| c.c)
    }

    pub fn seal_ticket(&self, t: &Ticket) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(t).unwrap_or_default());
        let m = mac(
            &self.inner.ticket_key,
            format!("ticket.{payload}").as_bytes(),
        );
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(m))
    }

    /// The ticket, if it is ours and not expired.
    pub fn open_ticket(&self, sealed: &str) -> Option<Ticket> {
        let (payload, sig) = sealed.rsplit_once('.')?;
        let want = URL_SAFE_NO_PAD.encode(mac(
            &self.inner.ticket_key,
            format!("ticket.{payload}").as_bytes(),
        ));
        if !bool::from(want.as_bytes().ct_eq(sig.as_bytes())) {
            return None;
        }
        let t: Ticket = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (t.exp > self.now().unix_timestamp()).then_some(t)
    }

    /// The CSRF token of the consent form for someone holding a connect link.
    pub fn link_csrf(&self, link_token: &str) -> String {
        URL_SAFE_NO_PAD.encode(mac(
            &self.inner.ticket_key,
            format!("link-csrf.{}", secret_hash(link_token)).as_bytes(),
        ))
    }

    /// Applies a connection opened or ended here at once; other replicas hear of it through
    /// `config_version` (and NOTIFY), as of any admin change.
    pub async fn applied(&self) {
        if let Err(e) = self.inner.directory.refresh(false).await {
            tracing::warn!(error = %e, "applying an OAuth change at once failed; the poller will apply it");
        }
    }
}

/// How often spent codes, refresh tokens and links are purged.
pub const PURGE_EVERY: StdDuration = StdDuration::from_secs(600);
/// A used code or rotated refresh token is kept this long, so presenting it again still
/// counts as reuse and ends its connection (OAuth 2.1 section 4.1.3; RFC 9700 section
/// 4.14.2) rather than being refused as unknown.
pub const REUSE_EVIDENCE: Duration = Duration::days(1);
/// Rows a table loses per purge statement: a short write, however much has piled up.
pub const PURGE_BATCH: u32 = 500;
/// Batches per round at most; what is left waits for the next round.
const PURGE_ROUNDS: u32 = 20;

/// One round of purging: batches until a batch finds less than a full one (or the cap).
pub async fn purge(
    store: &dyn Store,
    now: OffsetDateTime,
) -> Result<crate::store::oauth::Purged, crate::store::StoreError> {
    let mut total = crate::store::oauth::Purged::default();
    for _ in 0..PURGE_ROUNDS {
        let p = store
            .oauth()
            .purge(now, now - REUSE_EVIDENCE, PURGE_BATCH)
            .await?;
        total.codes += p.codes;
        total.refresh_tokens += p.refresh_tokens;
        total.links += p.links;
        if p.codes.max(p.refresh_tokens).max(p.links) < u64::from(PURGE_BATCH) {
            break;
        }
    }
    Ok(total)
}

/// Purges at start and then every `every`, until `shutdown`.
pub fn spawn_purger(
    store: Arc<dyn Store>,
    clock: Clock,
    every: StdDuration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The first tick is at once: at start.
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match purge(&*store, clock.now()).await {
                Ok(p) if p.total() > 0 => tracing::info!(
                    codes = p.codes,
                    refresh_tokens = p.refresh_tokens,
                    links = p.links,
                    "purged spent OAuth codes, refresh tokens and connect links"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "purging spent OAuth secrets failed; trying again later")
                }
            }
        }
    })
}

/// PKCE S256 (RFC 7636 section 4.6): BASE64URL(SHA256(verifier)) against the challenge.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    // RFC 7636 section 4.1: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~].
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 appendix B.
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }

    #[test]
    fn public_url_must_be_an_https_origin_or_loopback_http() {
        let mut p = Vec::new();
        let (u, _) = configure(
            Some("https://bollard.example.com/".into()),
            FileOAuth::default(),
            &mut p,
        );
        assert_eq!(u.as_deref(), Some("https://bollard.example.com"));
        let (u, _) = configure(
            Some("http://127.0.0.1:8080".into()),
            FileOAuth::default(),
            &mut p,
        );
        assert_eq!(u.as_deref(), Some("http://127.0.0.1:8080"));
        assert!(p.is_empty(), "{p:?}");
        for bad in [
            "http://bollard.example.com",
            "https://x.example/base",
            "nope",
        ] {
            let mut p = Vec::new();
            let (u, _) = configure(Some(bad.into()), FileOAuth::default(), &mut p);
            assert!(u.is_none() && p.len() == 1, "{bad}: {p:?}");
        }
    }
}
