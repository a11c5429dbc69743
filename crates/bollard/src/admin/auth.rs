//! Who may use the admin listener: admin keys (`Authorization: Bearer bol_admin_...`) for the
//! API, and console sessions made from one.
//!
//! A session is a signed value, not a row: `key_id.expiry.nonce.mac`, where the MAC is
//! HMAC-SHA256 under a key derived from the installation secret. Every replica shares that
//! secret through the store, so any replica accepts a session another one issued, and there
//! is no session table to keep. The price: a session cannot be ended early on the server; it
//! expires after [`SESSION_HOURS`]. Signing out clears the cookie.
//!
//! CSRF: every console form carries a token derived from the session's nonce (the sign-in
//! form, from a short-lived cookie of its own), checked on every POST. The cookies are also
//! `SameSite=Strict`, and POSTs from another origin are refused.

use axum::http::HeaderMap;
use axum::http::header;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::error::{AdminError, AdminResult};
use crate::keys::{ADMIN_KEY_PREFIX, AGENT_KEY_PREFIX, hash_key};
use crate::store::{AdminKey, Store};

type HmacSha256 = Hmac<Sha256>;

pub const SESSION_COOKIE: &str = "bollard_session";
/// The sign-in form's own CSRF cookie, set before there is a session.
pub const SIGNIN_COOKIE: &str = "bollard_signin";
pub const SESSION_HOURS: i64 = 12;

/// The admin key presented as `Authorization: Bearer <key>`.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The admin key a secret belongs to. Keys are looked up by their SHA-256 digest, so the
/// database comparison runs on a value an attacker cannot steer byte by byte; the digest the
/// store matched is equal to ours by construction.
pub async fn admin_for_key(store: &dyn Store, key: Option<&str>) -> AdminResult<AdminKey> {
    let key = key.map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| {
        AdminError::Unauthenticated(
            "The admin API needs an admin key: send Authorization: Bearer <admin key>. `bollard admin-key create` makes one.".into(),
        )
    })?;
    if key.starts_with(AGENT_KEY_PREFIX) {
        return Err(AdminError::Unauthenticated(
            "That is an agent key; the admin API and console take an admin key (bol_admin_...). `bollard admin-key create` makes one.".into(),
        ));
    }
    let unknown = || {
        AdminError::Unauthenticated(
            "That admin key is not known to this Bollard. Check that you copied all of it, or make a new one with `bollard admin-key create`.".into(),
        )
    };
    if !key.starts_with(ADMIN_KEY_PREFIX) {
        return Err(unknown());
    }
    store
        .admin_key_by_hash(&hash_key(key))
        .await?
        .ok_or_else(unknown)
}

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub key_id: String,
    pub expires: i64,
    pub nonce: String,
}

/// The key sessions and CSRF tokens are signed with.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(***)")
    }
}

fn nonce() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl SessionKey {
    /// Derived rather than used directly, so the installation secret (which also keys the
    /// audit log's personal-data hashes) never signs two kinds of thing.
    pub fn derive(installation_secret: &[u8]) -> Self {
        Self(hmac(installation_secret, b"bollard/console-session/v1"))
    }

    fn mac(&self, parts: &[&str]) -> String {
        hex::encode(hmac(&self.0, parts.join("\n").as_bytes()))
    }

    /// A new session for this admin key, and its cookie value.
    pub fn issue(&self, key_id: &str, now: OffsetDateTime) -> (Session, String) {
        let s = Session {
            key_id: key_id.to_owned(),
            expires: (now + time::Duration::hours(SESSION_HOURS)).unix_timestamp(),
            nonce: nonce(),
        };
        let exp = s.expires.to_string();
        let mac = self.mac(&["session", &s.key_id, &exp, &s.nonce]);
        let value = format!("{}.{exp}.{}.{mac}", s.key_id, s.nonce);
        (s, value)
    }

    /// The session a cookie value holds, if it is ours and not expired.
    pub fn open(&self, value: &str, now: OffsetDateTime) -> Option<Session> {
        let mut it = value.rsplitn(4, '.');
        let (mac, nonce, exp, key_id) = (it.next()?, it.next()?, it.next()?, it.next()?);
        let want = self.mac(&["session", key_id, exp, nonce]);
        if !bool::from(want.as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        let expires: i64 = exp.parse().ok()?;
        (expires > now.unix_timestamp()).then(|| Session {
            key_id: key_id.to_owned(),
            expires,
            nonce: nonce.to_owned(),
        })
    }

    /// The CSRF token of a session's forms.
    pub fn csrf(&self, s: &Session) -> String {
        self.mac(&["csrf", &s.nonce])
    }

    /// A fresh nonce for the sign-in cookie, and the token its form carries.
    pub fn signin_pair(&self) -> (String, String) {
        let n = nonce();
        let t = self.mac(&["signin", &n]);
        (n, t)
    }

    pub fn signin_token(&self, cookie_nonce: &str) -> String {
        self.mac(&["signin", cookie_nonce])
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail; the fallback keeps the
    // code free of panics all the same.
    match HmacSha256::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

/// Constant-time equality of two tokens.
pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// One cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value. Not `Secure`: the admin listener speaks plain HTTP on loopback by
/// default, where a `Secure` cookie would never come back. Put TLS in front of it (and the
/// browser will keep it to HTTPS) when it leaves loopback.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}")
}

/// Whether a POST comes from the page's own origin. Modern browsers say so in
/// `Sec-Fetch-Site`. `Origin` is the fallback, but the console's `Referrer-Policy:
/// no-referrer` makes browsers send `Origin: null` on its own forms, so `null` proves
/// nothing either way. When neither says (an old browser, or not a browser) the CSRF token
/// alone decides.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site.eq_ignore_ascii_case("same-origin");
    }
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
    else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_opens_only_with_its_own_signature_and_before_it_expires() {
        let k = SessionKey::derive(b"secret");
        let now = OffsetDateTime::now_utc();
        let (s, v) = k.issue("adm_1", now);
        assert_eq!(k.open(&v, now).unwrap(), s);
        assert!(
            k.open(&v, now + time::Duration::hours(SESSION_HOURS + 1))
                .is_none()
        );
        assert!(SessionKey::derive(b"other").open(&v, now).is_none());
        let forged = v.replacen("adm_1", "adm_2", 1);
        assert!(k.open(&forged, now).is_none());
        assert!(k.open("garbage", now).is_none());
        assert_ne!(
            k.csrf(&s),
            k.csrf(&k.issue("adm_1", now).0),
            "each session has its own token"
        );
    }

    #[test]
    fn reads_cookies_and_origins() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; bollard_session=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        h.insert(header::HOST, "127.0.0.1:8081".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8081".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(
            same_origin(&h),
            "no-referrer pages send Origin: null; the token decides"
        );
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&h));
    }
}
