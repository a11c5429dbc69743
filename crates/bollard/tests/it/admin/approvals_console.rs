//! Ask first in the console: the approvals page lists what waits (sentence, why, masked
//! arguments, credits, who asked), and its form approves with the session's CSRF token; a
//! form without the token changes nothing. The grid's ask-first controls save as `ask`.

use bollard::ops;
use serde_json::json;

use super::admin_url;
use super::console::{form, no_redirects, sign_in};
use crate::helpers::TestApp;

/// Signs in as a fresh admin named Dana and opens the approvals page: the session, the CSRF
/// token and the page.
async fn dana_opens_the_approvals_page(t: &TestApp) -> (String, String, String) {
    let (_, admin_key) = ops::create_admin_key(&*t.store, &crate::helpers::tester(), "Dana")
        .await
        .unwrap();
    let (session, csrf) = sign_in(t, admin_key.expose()).await;
    let html = no_redirects()
        .get(admin_url(t, "/approvals"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (session, csrf, html)
}

#[tokio::test]
async fn the_approvals_page_lists_a_request_and_approves_it_with_csrf() {
    let t = TestApp::spawn().await;
    let key = t
        .agent("Sales Agent", &["people=full", "reveal=full:ask"])
        .await;
    let asked = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"email": "ada@example.com", "reveal_personal_emails": true}),
        )
        .await;
    assert_eq!(asked.code(), "BOLLARD_APPROVAL_PENDING", "{}", asked.text);
    let id = asked.body["bollard"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (session, csrf, html) = dana_opens_the_approvals_page(&t).await;
    let c = no_redirects();
    assert!(html.contains(&id), "the request is listed");
    assert!(html.contains("Sales Agent asks to"), "the sentence");
    assert!(html.contains("It can spend up to"), "the credits");
    assert!(
        !html.contains("ada@example.com"),
        "personal data is masked in the arguments"
    );

    let post = |fields: Vec<(&'static str, String)>| {
        let body = form(
            &fields
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        );
        c.post(admin_url(&t, &format!("/approvals/{id}")))
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = post(vec![("decision", "approve".into())]).await.unwrap();
    assert_eq!(r.status(), 403, "no CSRF token, no change");
    let a = t
        .store
        .approvals()
        .get_approval(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.decided_by, None);
    let r = post(vec![
        ("csrf", csrf.clone()),
        ("decision", "approve".into()),
        ("note", "for the Q4 list".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/approvals?done=approved");
    let a = t
        .store
        .approvals()
        .get_approval(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.decided_by.as_deref(), Some("Dana"));
    assert_eq!(a.note.as_deref(), Some("for the Q4 list"));
    // Twice: the page says why not.
    let r = post(vec![("csrf", csrf), ("decision", "deny".into())])
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("already approved"));
}

#[tokio::test]
async fn the_grid_saves_ask_first_for_a_capability_an_action_and_reveal() {
    let t = TestApp::spawn().await;
    t.agent("Grid Agent", &[]).await;
    let made = ops::find_agent(&*t.store, "Grid Agent").await.unwrap();
    let (_, admin_key) = ops::create_admin_key(&*t.store, &crate::helpers::tester(), "Dana")
        .await
        .unwrap();
    let (session, csrf) = sign_in(&t, admin_key.expose()).await;
    let r = no_redirects()
        .post(admin_url(&t, &format!("/agents/{}/grants", made.id)))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("csrf", &csrf),
            ("level.sequences", "full"),
            ("ask.sequences", "on"),
            ("override.contacts.create", "ask"),
            ("reveal", "on"),
            ("ask.reveal", "on"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let g = ops::find_agent(&*t.store, "Grid Agent")
        .await
        .unwrap()
        .grants;
    let ask: Vec<&str> = g.ask.iter().map(String::as_str).collect();
    assert_eq!(ask, ["contacts.create", "reveal", "sequences"]);
}

#[tokio::test]
async fn the_approvals_page_reveals_personal_data_on_request_and_shows_a_failed_notification() {
    use crate::helpers::Options;
    use bollard::approval::{ApprovalsConfig, NotifyFormat};
    // A webhook nobody listens on: every attempt fails.
    let t = TestApp::spawn_with(Options {
        approvals: Some(ApprovalsConfig {
            notify_url: Some("http://127.0.0.1:9/hook".into()),
            notify_format: NotifyFormat::Json,
            ..ApprovalsConfig::default()
        }),
        ..Options::default()
    })
    .await;
    let key = t
        .agent("Sales Agent", &["people=full", "reveal=full:ask"])
        .await;
    let asked = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"email": "ada@example.com", "reveal_personal_emails": true}),
        )
        .await;
    let id = asked.body["bollard"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..400 {
        let a = t
            .store
            .approvals()
            .get_approval(&id)
            .await
            .unwrap()
            .unwrap();
        if a.notify_state == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let (session, csrf, html) = dana_opens_the_approvals_page(&t).await;
    let c = no_redirects();
    assert!(
        html.contains(
            "The notification failed after 4 attempts: the webhook could not be reached."
        ),
        "the failed notification is visible"
    );
    assert!(html.contains("Reveal personal data"), "the reveal button");
    assert!(!html.contains("ada@example.com"));

    let reveal = |fields: Vec<(&'static str, String)>| {
        let body = form(
            &fields
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        );
        c.post(admin_url(&t, &format!("/approvals/{id}/reveal")))
            .header("cookie", &session)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = reveal(vec![]).await.unwrap();
    assert_eq!(r.status(), 403, "no CSRF token, nothing revealed");
    assert!(!r.text().await.unwrap().contains("ada@example.com"));
    let r = reveal(vec![("csrf", csrf)]).await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("ada@example.com"), "revealed");
    assert!(html.contains("your reveal is on the record"));
    t.flush_audit().await;
    let (lines, _) = ops::audit_lines(
        &*t.store,
        &bollard::store::AuditFilter {
            admin: Some(true),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        lines.iter().any(|l| l.record.sentence.starts_with(&format!(
            "Dana revealed the personal data in Sales Agent's request {id}"
        ))),
        "the reveal is recorded"
    );
}
