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

/// Found in review: the console's access and limits forms send the whole grid (every limit),
/// so saving a page opened before another change quietly undid that change. The forms now
/// carry what they were drawn from; a save from a page drawn before a change is refused with
/// a sentence and the page as it is now, and one from the page drawn again goes through.
#[tokio::test]
async fn a_console_page_left_open_does_not_undo_a_later_change() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let made = bollard::ops::find_agent(&*t.store, "Sales Agent")
        .await
        .unwrap();
    let (session, csrf) = sign_in(&t, &a.key).await;
    let c = no_redirects();
    let page = format!("/agents/{}", made.id);
    let drawn = || {
        let c = c.clone();
        let (url, session) = (admin_url(&t, &page), session.clone());
        async move {
            let html = c
                .get(url)
                .header("cookie", &session)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let values: Vec<String> = html
                .match_indices("name=\"drawn\" value=\"")
                .map(|(at, m)| {
                    let rest = &html[at + m.len()..];
                    rest[..rest.find('"').unwrap()].to_owned()
                })
                .collect();
            assert_eq!(values.len(), 3, "the details, access and limits forms");
            (values[0].clone(), values[1].clone(), values[2].clone())
        }
    };
    let post = |path: String, fields: Vec<(&'static str, String)>| {
        let (t, session, csrf) = (&t, session.clone(), csrf.clone());
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(t, &session, &csrf, &path, &fields).await
        }
    };
    let (old_details, old_grid, old_limits) = drawn().await;

    // Meanwhile, on the command line's path: reveal stays off, contacts read, a daily cap.
    bollard::ops::grant(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Agent",
        &["contacts=read".into()],
    )
    .await
    .unwrap();
    t.limits(
        "Sales Agent",
        bollard::store::Limits {
            per_day: Some(500),
            ..Default::default()
        },
    )
    .await;

    let grid = |drawn: String| {
        vec![
            ("drawn", drawn),
            ("level.people", "full".to_owned()),
            ("reveal", "on".to_owned()),
        ]
    };
    let (status, html) = post(format!("/agents/{}/grants", made.id), grid(old_grid)).await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("Sales Agent&#39;s access changed after this page was opened")
            || html.contains("Sales Agent's access changed after this page was opened"),
        "{html}"
    );
    let limits = |drawn: String| vec![("drawn", drawn), ("per_minute", "60".to_owned())];
    let (status, html) = post(format!("/agents/{}/limits", made.id), limits(old_limits)).await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("limits changed after this page was opened"),
        "{html}"
    );
    let now = bollard::ops::find_agent(&*t.store, "Sales Agent")
        .await
        .unwrap();
    assert!(!now.grants.reveal, "the stale page turned reveal on");
    assert_eq!(
        serde_json::to_value(&now.grants).unwrap()["levels"],
        json!({"people": "read", "contacts": "read"})
    );
    assert_eq!(now.limits.per_day, Some(500));
    assert_eq!(now.limits.per_minute, None);
    // The details form too: a rename made since is not undone.
    bollard::ops::update_agent(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Agent",
        bollard::store::AgentPatch {
            description: Some("Finds people.".into()),
            ..Default::default()
        },
        t.clock.now(),
    )
    .await
    .unwrap();
    let details = vec![
        ("drawn", old_details),
        ("name", "Sales Agent".to_owned()),
        ("description", String::new()),
    ];
    let (status, html) = post(format!("/agents/{}/details", made.id), details).await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("details changed after this page was opened"),
        "{html}"
    );

    // Drawn again, the same saves go through.
    let (_, new_grid, new_limits) = drawn().await;
    let (status, _) = post(format!("/agents/{}/grants", made.id), grid(new_grid)).await;
    assert_eq!(status, 303);
    let (status, _) = post(format!("/agents/{}/limits", made.id), limits(new_limits)).await;
    assert_eq!(status, 303);
    let now = bollard::ops::find_agent(&*t.store, "Sales Agent")
        .await
        .unwrap();
    assert!(now.grants.reveal);
    assert_eq!(now.limits.per_minute, Some(60));
}

/// Found in review: the console had no way back for an expired agent (its details form sent
/// no expiry), and a revoked agent's access, which its page says can no longer be changed,
/// changed when a form was posted.
#[tokio::test]
async fn the_console_moves_an_expiry_and_leaves_a_revoked_agent_alone() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let now = t.clock.now();
    bollard::ops::create_agent(
        &*t.store,
        &crate::helpers::tester(),
        "Old Agent",
        "",
        Some(time::Duration::hours(1)),
        now - time::Duration::days(1),
    )
    .await
    .unwrap();
    let old = bollard::ops::find_agent(&*t.store, "Old Agent")
        .await
        .unwrap();
    assert!(old.expires_at.unwrap() < now, "expired");
    let (session, csrf) = sign_in(&t, &a.key).await;
    let post = |path: String, fields: Vec<(&'static str, &'static str)>| {
        let (t, session, csrf) = (&t, session.clone(), csrf.clone());
        async move { post_form(t, &session, &csrf, &path, &fields).await }
    };
    let details = format!("/agents/{}/details", old.id);
    let (status, html) = post(
        details.clone(),
        vec![("name", "Old Agent"), ("expires", "30d")],
    )
    .await;
    assert_eq!(status, 303, "{html}");
    let moved = bollard::ops::find_agent(&*t.store, "Old Agent")
        .await
        .unwrap();
    assert!(
        moved.expires_at.unwrap() > now + time::Duration::days(29),
        "{moved:?}"
    );
    let (status, _) = post(
        details.clone(),
        vec![("name", "Old Agent"), ("expires", "")],
    )
    .await;
    assert_eq!(status, 303);
    let kept = bollard::ops::find_agent(&*t.store, "Old Agent")
        .await
        .unwrap();
    assert_eq!(kept.expires_at, moved.expires_at, "left as it is");
    let (status, _) = post(
        details.clone(),
        vec![("name", "Old Agent"), ("expires", "never")],
    )
    .await;
    assert_eq!(status, 303);
    let never = bollard::ops::find_agent(&*t.store, "Old Agent")
        .await
        .unwrap();
    assert_eq!(never.expires_at, None);
    let (status, html) = post(details, vec![("name", "Old Agent"), ("expires", "soon")]).await;
    assert_eq!(status, 422, "{html}");

    bollard::ops::revoke_agent(&*t.store, &crate::helpers::tester(), "Old Agent", now)
        .await
        .unwrap();
    let (status, html) = post(
        format!("/agents/{}/grants", old.id),
        vec![("level.people", "full")],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("can no longer be changed"), "{html}");
    let (status, _) = post(
        format!("/agents/{}/limits", old.id),
        vec![("per_minute", "5")],
    )
    .await;
    assert_eq!(status, 422);
    let gone = bollard::ops::find_agent(&*t.store, "Old Agent")
        .await
        .unwrap();
    assert_eq!(gone.grants, old.grants);
    assert_eq!(gone.limits, old.limits);
}

/// Posts a console form with the session's CSRF token; the status and the page.
async fn post_form(
    t: &TestApp,
    session: &str,
    csrf: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    let r = no_redirects()
        .post(admin_url(t, path))
        .header("cookie", session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&all))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The admin API's whole-grid PUTs honour `If-Match` with the `ETag` a GET gave (RFC 9110
/// §13.1.1): a client that read the grants before someone else changed them is refused with
/// 412 instead of undoing that change, and nothing is changed or recorded; without the header
/// the PUT replaces as before.
#[tokio::test]
async fn a_put_with_an_old_etag_is_refused_and_changes_nothing() {
    let t = TestApp::spawn().await;
    let a = admin(&t).await;
    let (id, _) = a.create("Sales Agent").await;
    let put_if = |path: String, body: serde_json::Value, tag: String| {
        let req = t
            .client
            .put(admin_url(&t, &format!("/admin/api/v1{path}")))
            .bearer_auth(&a.key)
            .header("if-match", tag)
            .json(&body);
        async move {
            let r = req.send().await.expect("answers");
            let status = r.status().as_u16();
            let etag = r
                .headers()
                .get("etag")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = r.json().await.expect("json");
            (status, etag, body)
        }
    };
    let etag_of = |r: &super::Res| r.headers["etag"].to_str().unwrap().to_owned();
    let admin_entries = || async {
        a.get("/audit?kind=admin").await.body["calls"]
            .as_array()
            .unwrap()
            .len()
    };

    for (what, path, change, other) in [
        (
            "access",
            format!("/agents/{id}/grants"),
            json!({"set": ["people=read"]}),
            json!({"levels": {"contacts": "full"}, "reveal": false, "waterfall": false, "overrides": {}}),
        ),
        (
            "limits",
            format!("/agents/{id}/limits"),
            json!({"per_minute": 60}),
            json!({"per_minute": 5}),
        ),
    ] {
        let first = a.get(&path).await;
        let old = etag_of(&first);
        assert!(
            old.starts_with('"') && old.len() == 66,
            "a strong tag: {old}"
        );

        // The tag read is the version there: the change is made, and the answer's tag is new.
        let (status, new, body) = put_if(path.clone(), change.clone(), old.clone()).await;
        assert_eq!(status, 200, "{what}: {body}");
        let new = new.expect("an ETag on the answer");
        assert_ne!(new, old);
        let now = a.get(&path).await;
        assert_eq!(etag_of(&now), new);
        assert_eq!(now.body, body);

        // A client still holding the first tag is refused, whatever it sends.
        let recorded = admin_entries().await;
        for stale in [
            old.clone(),
            format!("W/{new}"),
            new.trim_matches('"').to_owned(),
        ] {
            let (status, _, refused) = put_if(path.clone(), other.clone(), stale.clone()).await;
            assert_eq!(status, 412, "{what} with {stale}: {refused}");
            assert_eq!(refused["error_code"], "BOLLARD_CHANGED");
            let sentence = refused["error"].as_str().unwrap();
            assert!(
                sentence.starts_with(&format!(
                    "Sales Agent's {what} changed after the version named in If-Match"
                )),
                "{sentence}"
            );
        }
        assert_eq!(a.get(&path).await.body, body, "{what}: nothing changed");
        assert_eq!(admin_entries().await, recorded, "{what}: nothing recorded");

        // Among several tags, or `*`, the version there is found; without the header the PUT
        // replaces as it always did.
        let (status, _, _) = put_if(path.clone(), other.clone(), format!("{old}, {new}")).await;
        assert_eq!(status, 200, "{what}");
        let (status, _, _) = put_if(path.clone(), change.clone(), "*".into()).await;
        assert_eq!(status, 200, "{what}");
        let r = a.put(&path, other.clone()).await;
        assert_eq!(r.status, 200, "{what}: {}", r.text);
        assert_eq!(etag_of(&r), etag_of(&a.get(&path).await));
    }
    let doc = a.get("/openapi.json").await;
    assert!(
        doc.body["paths"]["/admin/api/v1/agents/{agent}/grants"]["put"]["responses"]["412"]
            .is_object(),
        "{}",
        doc.text
    );
    t.stop().await;
}
