//! Admin changes on the record: every change through the API or the console appends an
//! `admin` entry to the audit chain, naming the admin key, with a sentence and the before and
//! after, and never a key.

use serde_json::json;

use super::console::{form, no_redirects, sign_in};
use super::{admin, admin_url};
use crate::helpers::TestApp;

#[tokio::test]
async fn a_grant_change_through_the_api_is_recorded_with_the_admin_key_and_before_and_after() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let (id, _) = a.create("Sales Agent").await;
    let path = format!("/agents/{id}/grants");
    let r = a.put(&path, json!({"set": ["contacts=read"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = a.put(&path, json!({"set": ["contacts=full"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let log = a.get("/audit?kind=admin").await;
    assert_eq!(log.status, 200, "{}", log.text);
    let lines = log.body["calls"].as_array().unwrap();
    let newest = &lines[0];
    assert_eq!(newest["kind"], "admin");
    assert_eq!(
        newest["sentence"],
        "tests changed Sales Agent's Contacts from Read to Full use."
    );
    assert_eq!(newest["agent_id"], id.as_str());
    assert_eq!(newest["channel"], "api");
    assert_eq!(newest["change"]["by"], "tests");
    assert_eq!(newest["change"]["what"], "grants");
    assert_eq!(
        newest["change"]["before"]["levels"],
        json!({"contacts": "read"})
    );
    assert_eq!(
        newest["change"]["after"]["levels"],
        json!({"contacts": "full"})
    );
    assert!(
        lines
            .iter()
            .any(|l| l["sentence"] == "tests created the agent Sales Agent."),
        "{}",
        log.text
    );

    // The kinds apart, and both together by default.
    let calls = a.get("/audit?kind=calls").await;
    assert_eq!(calls.body["calls"], json!([]), "{}", calls.text);
    let all = a.get("/audit").await;
    assert_eq!(all.body["calls"].as_array().unwrap().len(), lines.len());
    let bad = a.get("/audit?kind=everything").await;
    assert_eq!(bad.status, 422, "{}", bad.text);

    let v = a.get("/audit/verify").await;
    assert_eq!(
        v.body["ok"], true,
        "admin entries are in the chain: {}",
        v.text
    );
}

#[tokio::test]
async fn no_admin_entry_holds_a_key_or_its_hash() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let (id, first) = a.create("Sales Agent").await;
    let rotated = a.post(&format!("/agents/{id}/keys"), json!({})).await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let second = rotated.body["key"].as_str().unwrap().to_owned();
    let (_, admin_secret) =
        bollard::ops::create_admin_key(&*t.store, &crate::helpers::tester(), "Dana")
            .await
            .unwrap();
    let admin_secret = admin_secret.expose().to_owned();

    let entries = t.store.audit_range(0, 0).await.unwrap();
    let admin_entries: Vec<_> = entries.iter().filter(|e| e.kind == "admin").collect();
    assert_eq!(
        admin_entries.len(),
        4,
        "tests' key, the agent, its new key, Dana's key"
    );
    let hex = |s: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(s.as_bytes()))
    };
    for secret in [&first, &second, &admin_secret, &a.key] {
        // Neither the key, nor its shown prefix's random part, nor its hash.
        let random = &secret[secret.len() - 12..];
        for e in &admin_entries {
            assert!(
                !e.content.contains(random) && !e.content.contains(&hex(secret)),
                "key material in {}",
                e.content
            );
        }
    }
    let rotate = admin_entries
        .iter()
        .find(|e| e.content.contains("agent.rotate_key"))
        .unwrap();
    assert!(
        rotate
            .content
            .contains("tests gave Sales Agent a new key; the old one stopped working."),
        "{}",
        rotate.content
    );
}

#[tokio::test]
async fn the_console_records_its_changes_and_filters_the_log_by_kind() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    t.agent("Console Agent", &[]).await;
    let made = bollard::ops::find_agent(&*t.store, "Console Agent")
        .await
        .unwrap();
    let (session, csrf) = sign_in(&t, &a.key).await;
    let c = no_redirects();
    let r = c
        .post(admin_url(&t, &format!("/agents/{}/grants", made.id)))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf), ("level.people", "read")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = |q: &'static str| {
        let c = c.clone();
        let session = session.clone();
        let url = admin_url(&t, &format!("/audit{q}"));
        async move {
            let r = c.get(url).header("cookie", &session).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let sentence = "tests changed Console Agent&#39;s People from Off to Read.";
    let sentence_alt = "tests changed Console Agent's People from Off to Read.";
    let has = |html: &str| html.contains(sentence) || html.contains(sentence_alt);
    let admin_only = page("?kind=admin").await;
    assert!(has(&admin_only), "{admin_only}");
    assert!(
        admin_only.contains("name=\"kind\""),
        "the kind filter is on the page"
    );
    let calls_only = page("?kind=calls").await;
    assert!(!has(&calls_only), "{calls_only}");
    assert!(has(&page("").await));
}
