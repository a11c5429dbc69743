//! Connections once made: listed and ended (admin API, console, the client itself, a connect
//! link), ended on every replica at once, and spent secrets purged.

use super::*;

#[tokio::test]
async fn connections_are_listed_and_ended_through_the_admin_api() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;
    let (_, access, _) = t.connect(&dana).await;
    let list: Value = client()
        .get(t.admin("/admin/api/v1/agents/Sales%20Agent/connections"))
        .bearer_auth(&dana)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c = &list["connections"][0];
    assert_eq!(c["name"], "Claude (team workspace)");
    assert_eq!(c["approved_by"], "Dana");
    let id = c["id"].as_str().unwrap();
    let r = client()
        .delete(t.admin(&format!(
            "/admin/api/v1/agents/Sales%20Agent/connections/{id}"
        )))
        .bearer_auth(&dana)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(t.mcp(&access, 1, "tools/list", json!({})).await.0, 401);
    let sentences = t.admin_sentences().await;
    assert!(
        sentences.iter().any(|s| s
            == "Dana disconnected 'Claude (team workspace)' from Sales Agent; its tokens stopped working."),
        "{sentences:#?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_client_revokes_its_own_tokens() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;
    let (client_id, access, refresh) = t.connect(&dana).await;
    // RFC 7009: an unknown token is answered 200 too.
    let r = client()
        .post(t.url("/oauth/revoke"))
        .form_(&[("token", "bol_rt_nothing")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(t.url("/oauth/revoke"))
        .form_(&[("token", refresh.as_str()), ("client_id", &client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.mcp(&access, 1, "tools/list", json!({})).await.0, 401);
    t.stop().await;
}

#[tokio::test]
async fn a_connect_link_lets_someone_without_an_admin_key_approve_once() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    t.agent("Other Agent", &["people=read"]).await;
    let (_, token, _) = bollard::oauth::ops::create_link(
        &*t.store,
        &tester(),
        "Sales Agent",
        time::Duration::hours(1),
        t.clock.now(),
    )
    .await
    .unwrap();
    let landing = client()
        .get(t.admin(&format!("/connect/link/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(landing.status(), 200);
    let cookie = landing.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("SameSite=Lax") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let cookie = cookie_pair(&cookie);
    assert!(
        landing
            .text()
            .await
            .unwrap()
            .contains(&format!("{}/mcp", t.public))
    );

    let client_id = t.register(REDIRECT).await;
    let consent = t.authorize(&client_id, REDIRECT).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let back = t.consent(&consent, &cookie, "approve").await;
    let (status, tokens) = t.exchange(&client_id, &query(&back)["code"]).await;
    assert_eq!(status, 200);
    let list = t.store.oauth().list_connections(None).await.unwrap();
    let sales = ops::find_agent(&*t.store, "Sales Agent").await.unwrap();
    assert_eq!(list[0].agent_id, sales.id, "the link chose the agent");
    assert!(tokens["access_token"].is_string());

    // Once only.
    let consent = t.authorize(&client_id, REDIRECT).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let r = client()
        .get(&consent)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "back to sign-in: the link is spent");
    t.stop().await;
}

#[tokio::test]
async fn the_agent_page_lists_connections_and_ends_one() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;
    let (_, access, _) = t.connect(&dana).await;
    let session = t.sign_in(&dana).await;
    let agent = ops::find_agent(&*t.store, "Sales Agent").await.unwrap();
    let page = client()
        .get(t.admin(&format!("/agents/{}", agent.id)))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Connected assistants"), "{page}");
    assert!(page.contains("Claude (team workspace)"), "{page}");
    let id = t.store.oauth().list_connections(None).await.unwrap()[0]
        .id
        .clone();
    let r = client()
        .post(t.admin(&format!("/agents/{}/connections/{id}/disconnect", agent.id)))
        .header("cookie", &session)
        .form_(&[("csrf", hidden(&page, "csrf").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(t.mcp(&access, 1, "tools/list", json!({})).await.0, 401);
    t.stop().await;
}

/// Ending a connection reaches every replica the way every admin change does: `config_version`
/// and PostgreSQL's NOTIFY. The second replica polls once an hour, so only the notification
/// can tell it that a connection began (its token works there) and that it ended, whether an
/// admin disconnected it or the assistant revoked its own token (RFC 7009).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ending_a_connection_reaches_another_replica_by_notification_at_once() {
    let db = crate::replicas::PgDb::create().await;
    let a = replica(&db.url, None, Duration::from_millis(500)).await;
    let b = replica(&db.url, Some(&a.public), Duration::from_secs(3600)).await;
    a.agent("Sales Agent", &["people=read"]).await;
    let dana = a.admin_key("Dana").await;
    let list = async |t: &OApp, token: &str| t.mcp(token, 1, "tools/list", json!({})).await.0;
    // Within five seconds, or never.
    async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if f().await {
                eprintln!(
                    "{what} reached the other replica in {:?}",
                    started.elapsed()
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{what} never happened on the other replica");
    }
    let (_, access, _) = a.connect(&dana).await;
    until("the new connection", async || {
        list(&b, &access).await == 200
    })
    .await;
    let status = a
        .http
        .delete(
            a.admin("/admin/api/v1/agents/Sales%20Agent/connections/Claude%20(team%20workspace)"),
        )
        .header("authorization", format!("Bearer {dana}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    until("the disconnection", async || list(&b, &access).await == 401).await;

    let (client_id, access, refresh) = a.connect(&dana).await;
    until("the second connection", async || {
        list(&b, &access).await == 200
    })
    .await;
    let r = a
        .http
        .post(a.url("/oauth/revoke"))
        .form_(&[
            ("token", refresh.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    until("the revocation", async || list(&b, &access).await == 401).await;
    b.stop().await;
    a.stop().await;
    db.drop_db().await;
}

/// Spent secrets are purged when Bollard starts, not only ten minutes later: a connect link
/// that expired and a code that ran out two days ago are gone once the app is up.
#[tokio::test]
async fn spent_secrets_are_purged_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bollard.db");
    let url = format!("sqlite://{}", path.display());
    let s = store::open(&url).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let link = bollard::store::oauth::ConnectLink {
        agent_id: "agt_a".into(),
        created_by: "Dana".into(),
        created_at: now - time::Duration::days(3),
        expires_at: now - time::Duration::hours(1),
    };
    s.oauth().create_link("expired", &link).await.unwrap();
    s.oauth()
        .create_link(
            "live",
            &bollard::store::oauth::ConnectLink {
                expires_at: now + time::Duration::hours(1),
                ..link
            },
        )
        .await
        .unwrap();
    let count = async || -> i64 {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM oauth_links")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 2);
    let t = spawn(Some((s, Clock::manual(now))), false).await;
    let mut left = 2;
    for _ in 0..100 {
        left = count().await;
        if left == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        left, 1,
        "the expired link is purged at start, the live one kept"
    );
    t.stop().await;
}
