//! The console over plain HTTP: sessions, sign-in with admin keys only, CSRF on every form,
//! security headers, and a grid saved from a form. The browser tests drive the same pages.

use bollard::ops;
use serde_json::json;

use super::{admin, admin_url};
use crate::helpers::TestApp;

pub(super) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(super) fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .expect("field present");
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Signs in through the form and returns the session cookie and the CSRF token.
pub(super) async fn sign_in(t: &TestApp, key: &str) -> (String, String) {
    let c = no_redirects();
    let page = c.get(admin_url(t, "/sign-in")).send().await.unwrap();
    let pre = cookie_pair(&set_cookies(&page)[0]);
    let html = page.text().await.unwrap();
    let token = hidden(&html, "csrf");
    let r = c
        .post(admin_url(t, "/sign-in"))
        .header("cookie", &pre)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &token), ("key", key), ("next", "/agents")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "signed in and sent on");
    let session = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("bollard_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Path=/"),
        "{session}"
    );
    let session = cookie_pair(&session);
    let agents = c
        .get(admin_url(t, "/agents"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(agents.status(), 200);
    let csrf = hidden(&agents.text().await.unwrap(), "csrf");
    (session, csrf)
}

#[tokio::test]
async fn the_console_needs_a_session_and_sends_security_headers() {
    let t = TestApp::spawn().await;
    let c = no_redirects();
    let r = c.get(admin_url(&t, "/agents")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/sign-in?next=%2Fagents");
    let r = c.get(admin_url(&t, "/sign-in")).send().await.unwrap();
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    for asset in [
        "/assets/console.css",
        "/assets/console.js",
        "/assets/icon.svg",
    ] {
        let r = c.get(admin_url(&t, asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
    let r = c.get(admin_url(&t, "/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    t.stop().await;
}

#[tokio::test]
async fn the_console_signs_in_with_an_admin_key_only_and_checks_csrf_on_every_form() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let agent_key = t.agent("Sales Agent", &[]).await;
    let c = no_redirects();

    // An agent key does not open the console.
    let page = c.get(admin_url(&t, "/sign-in")).send().await.unwrap();
    let pre = cookie_pair(&set_cookies(&page)[0]);
    let token = hidden(&page.text().await.unwrap(), "csrf");
    let r = c
        .post(admin_url(&t, "/sign-in"))
        .header("cookie", &pre)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &token), ("key", &agent_key)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("That is an agent key"));
    // Nor does a sign-in form without its token.
    let r = c
        .post(admin_url(&t, "/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("key", &a.key)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let (session, csrf) = sign_in(&t, &a.key).await;
    let post =
        |path: &'static str, fields: Vec<(&'static str, String)>, origin: Option<&'static str>| {
            let mut req = c
                .post(admin_url(&t, path))
                .header("cookie", &session)
                .header("content-type", "application/x-www-form-urlencoded");
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            let body = form(
                &fields
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect::<Vec<_>>(),
            );
            req.body(body).send()
        };
    // Without the token, with a wrong one, or from another origin: refused, nothing made.
    let r = post("/agents", vec![("name", "Forged".into())], None)
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(
        "/agents",
        vec![("name", "Forged".into()), ("csrf", "0".repeat(64))],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(
        "/agents",
        vec![("name", "Forged".into()), ("csrf", csrf.clone())],
        Some("http://evil.example"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    assert!(ops::find_agent(&*t.store, "Forged").await.is_err());

    // With it: created, key shown once.
    let r = post(
        "/agents",
        vec![("name", "Console Agent".into()), ("csrf", csrf.clone())],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("bol_agent_") && html.contains("data-copy"),
        "the key and its copy button"
    );
    let made = ops::find_agent(&*t.store, "Console Agent").await.unwrap();

    // The grid: People on Read, reveal on, one override.
    let grants = format!("/agents/{}/grants", made.id);
    let r = c
        .post(admin_url(&t, &grants))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf", &csrf),
            ("level.people", "read"),
            ("level.contacts", "write"),
            ("reveal", "on"),
            ("override.people.bulk_enrich", "off"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let g = ops::find_agent(&*t.store, "Console Agent")
        .await
        .unwrap()
        .grants;
    assert_eq!(
        serde_json::to_value(&g).unwrap()["levels"],
        json!({"people": "read", "contacts": "write"})
    );
    assert!(g.reveal && !g.waterfall);
    assert_eq!(g.overrides.get("people.bulk_enrich"), Some(&false));
    let page = c
        .get(admin_url(&t, &format!("/agents/{}", made.id)))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Console Agent can use 16 of the 75 actions."),
        "the plain-English summary"
    );

    // Signing out clears the cookie.
    let r = post("/sign-out", vec![("csrf", csrf.clone())], None)
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        set_cookies(&r)
            .iter()
            .any(|c| c.starts_with("bollard_session=;") && c.contains("Max-Age=0"))
    );
    t.stop().await;
}

/// #19 item 6: the Agents page sets Bollard's ledger beside Apollo's credit_usage_stats as the
/// server last compared them, or says that no comparison has run.
#[tokio::test]
async fn the_agents_page_shows_the_last_reconciliation_with_apollo_or_that_none_ran() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let (session, _) = sign_in(&t, &a.key).await;
    let agents = || async {
        no_redirects()
            .get(admin_url(&t, "/agents"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let html = agents().await;
    assert!(html.contains("Credits, as Apollo counts them"), "{html}");
    assert!(html.contains("No reconciliation has run yet."), "{html}");
    t.store
        .record_reconciliation(&crate::helpers::a_reconciliation())
        .await
        .unwrap();
    let html = agents().await;
    assert!(!html.contains("No reconciliation has run yet."), "{html}");
    for shown in [
        "24,435 credits<span class=\"sub\">cycle 2026-12-01 to 2026-12-31",
        "29,852 credits<span class=\"sub\">this month",
        "−5,417 credits",
        "2026-12-04 09:15:00 UTC",
        "Bollard compared the credit ledger with Apollo's credit_usage_stats",
        "Bollard counts 5,417 credits more",
    ] {
        assert!(html.contains(shown), "{shown} is not on the page: {html}");
    }
    t.stop().await;
}
