//! Sign-in end to end and every refusal the issue names: the whole flow by raw HTTP, a
//! reused refresh token, expiry, audience, a revoked agent, PKCE and redirect mismatches, a
//! blocked client, and the official Python SDK's OAuth client.

use super::*;

#[tokio::test]
async fn a_hosted_assistant_connects_by_oauth_and_calls_tools_as_its_agent() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;

    // Discovery starts from a 401, on MCP and on REST alike.
    let (status, headers, _) = t.mcp("", 1, "tools/list", json!({})).await;
    assert_eq!(status, 401);
    let challenge_header = headers["www-authenticate"].to_str().unwrap();
    // It names the metadata of /mcp itself, whose `resource` is the URL the client called
    // (RFC 9728 §3.3: a client that followed the challenge uses it only then).
    let metadata = format!("{}/.well-known/oauth-protected-resource", t.public);
    assert_eq!(
        challenge_header,
        format!("Bearer resource_metadata=\"{metadata}/mcp\"")
    );
    let rest = client()
        .get(t.url("/api/v1/auth/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 401);
    assert_eq!(
        rest.headers()["www-authenticate"].to_str().unwrap(),
        format!("Bearer resource_metadata=\"{metadata}\""),
        "REST names the server's own metadata"
    );
    let prm: Value = client()
        .get(&metadata)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], t.public);
    assert_eq!(prm["authorization_servers"], json!([t.public]));
    // Asked with /mcp's path appended (RFC 9728 §3.1), it names /mcp (§3.3).
    let prm_mcp: Value = client()
        .get(format!("{metadata}/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm_mcp["resource"], format!("{}/mcp", t.public));
    assert_eq!(prm_mcp["authorization_servers"], json!([t.public]));
    let asm: Value = client()
        .get(t.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asm["issuer"], t.public);
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(asm["token_endpoint"], t.url("/oauth/token"));
    assert_eq!(asm["client_id_metadata_document_supported"], true);
    // A browser-based client may read and call these from its own origin.
    let pre = client()
        .request(reqwest::Method::OPTIONS, t.url("/oauth/token"))
        .header("origin", "https://inspector.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");

    // Registration, then authorization: the browser goes to the console's consent page,
    // which asks a person who has not signed in to sign in first.
    let client_id = t.register(REDIRECT).await;
    let r = t.authorize(&client_id, REDIRECT).await;
    assert_eq!(r.status(), 303);
    let consent = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        consent.starts_with(&t.admin("/connect?ticket=")),
        "{consent}"
    );
    let r = client().get(&consent).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/sign-in?next=%2Fconnect")
    );

    // The page says what the agent can do, as the agent's page does.
    let session = t.sign_in(&dana).await;
    let page = client()
        .get(&consent)
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Connect Claude"), "{page}");
    assert!(page.contains("What Sales Agent can do"), "{page}");
    assert!(page.contains("No credit budget"), "{page}");

    // A form posted without its token is refused.
    let forged = client()
        .post(t.admin("/connect"))
        .header("cookie", &session)
        .form_(&[
            ("ticket", hidden(&page, "ticket").as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let back = t.consent(&consent, &session, "approve").await;
    assert!(back.starts_with(REDIRECT), "{back}");
    let q = query(&back);
    assert_eq!(q["state"], "xyz-state");
    // RFC 9207: the issuer rides along with the code.
    assert_eq!(q["iss"], t.public);

    let (status, tokens) = t.exchange(&client_id, &q["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(access.starts_with("bol_at_") && refresh.starts_with("bol_rt_"));

    // The token is the agent's credential on /mcp: its tools, and calls on its record.
    let (status, _, list) = t.mcp(access, 2, "tools/list", json!({})).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"apollo_mixed_people_api_search"),
        "{names:?}"
    );
    assert!(!names.contains(&"apollo_contacts_create"), "{names:?}");
    let (status, _, called) = t
        .mcp(
            access,
            3,
            "tools/call",
            json!({"name": "apollo_mixed_people_api_search", "arguments": {"person_titles": ["cto"]}}),
        )
        .await;
    assert_eq!(status, 200, "{called}");
    assert_ne!(called["result"]["isError"], true, "{called}");
    let calls = t.calls().await;
    let call = calls
        .iter()
        .find(|r| r.action.as_deref() == Some("people.search"))
        .expect("the call is on record");
    assert_eq!(call.agent_name.as_deref(), Some("Sales Agent"));
    assert_eq!(call.connection.as_deref(), Some("Claude (team workspace)"));
    assert_eq!(call.decision, "allowed");
    assert!(
        call.sentence.starts_with(
            "Sales Agent (through the connection 'Claude (team workspace)'), over MCP, "
        ),
        "the sentence names the connection: {}",
        call.sentence
    );
    // `bollard audit`, the real binary on the same database, says so too.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bollard"))
        .args(["audit", "--kind", "calls", "--database-url", &t.db_url])
        .env_remove("APOLLO_API_KEY")
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.lines().any(|l| l.contains(
            "  Sales Agent (through the connection 'Claude (team workspace)'), over MCP, searched"
        )),
        "{printed}"
    );

    // Agent keys keep working beside connections.
    let sentences = t.admin_sentences().await;
    assert!(
        sentences
            .iter()
            .any(|s| s == "Dana connected 'Claude (team workspace)' to Sales Agent."),
        "{sentences:#?}"
    );

    // Refresh rotates: the new tokens work, the old refresh token is spent.
    let (status, again) = t.refresh(&client_id, refresh).await;
    assert_eq!(status, 200, "{again}");
    let access2 = again["access_token"].as_str().unwrap();
    assert_ne!(again["refresh_token"], tokens["refresh_token"]);
    assert_eq!(t.mcp(access2, 4, "tools/list", json!({})).await.0, 200);
    let sentences = t.admin_sentences().await;
    assert!(
        sentences
            .iter()
            .any(|s| s
                == "The assistant 'Claude (team workspace)' renewed its access as Sales Agent."),
        "{sentences:#?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_connection() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;
    let (client_id, _, refresh) = t.connect(&dana).await;
    let (status, fresh) = t.refresh(&client_id, &refresh).await;
    assert_eq!(status, 200);
    let access = fresh["access_token"].as_str().unwrap();
    assert_eq!(t.mcp(access, 1, "tools/list", json!({})).await.0, 200);

    // The old refresh token again: someone holds a copy. The whole connection ends.
    let (status, err) = t.refresh(&client_id, &refresh).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, headers, body) = t.mcp(access, 2, "tools/list", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\", resource_metadata="),
    );
    let (status, _) = t
        .refresh(&client_id, fresh["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        status, 400,
        "the newest refresh token ended with its connection"
    );
    let sentences = t.admin_sentences().await;
    assert!(
        sentences.iter().any(|s| s.starts_with(
            "Bollard ended the connection 'Claude (team workspace)' of Sales Agent, because one of its refresh tokens was used a second time"
        )),
        "{sentences:#?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn refuses_expired_tokens_other_audiences_and_revoked_agents() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;
    let (client_id, access, refresh) = t.connect(&dana).await;
    assert_eq!(t.mcp(&access, 1, "tools/list", json!({})).await.0, 200);

    // A second Bollard on the same database (same signing key), at another address: the
    // token names the first as its audience, so the second refuses it (RFC 8707).
    let other = spawn(Some((t.store.clone(), t.clock.clone())), false).await;
    other.app.gate.directory().refresh(true).await.unwrap();
    let (status, _, body) = other.mcp(&access, 2, "tools/list", json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.to_string().contains("was issued for"), "{body}");
    other.stop().await;

    // An hour later the access token has expired; the refresh token still works.
    t.clock.advance(time::Duration::minutes(61));
    let (status, _, body) = t.mcp(&access, 3, "tools/list", json!({})).await;
    assert_eq!(status, 401);
    assert!(body.to_string().contains("expired"), "{body}");
    let (status, fresh) = t.refresh(&client_id, &refresh).await;
    assert_eq!(status, 200, "{fresh}");
    let access = fresh["access_token"].as_str().unwrap().to_owned();
    assert_eq!(t.mcp(&access, 4, "tools/list", json!({})).await.0, 200);

    // Revoking the agent ends its connections: calls and refreshes alike.
    ops::revoke_agent(&*t.store, &tester(), "Sales Agent", t.clock.now())
        .await
        .unwrap();
    t.app.gate.directory().refresh(true).await.unwrap();
    assert_eq!(t.mcp(&access, 5, "tools/list", json!({})).await.0, 401);
    let (status, err) = t
        .refresh(&client_id, fresh["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // ...and says so, on the record and in the agent's list of connections.
    let (_, list) = bollard::oauth::ops::connections(&*t.store, "Sales Agent")
        .await
        .unwrap();
    assert_eq!(list[0].revoked_reason.as_deref(), Some("agent revoked"));
    let sentences = t.admin_sentences().await;
    assert!(
        sentences.iter().any(|s| s
            == "The command line on test-host revoked the agent Sales Agent; its key and its connected assistant stopped working."),
        "{sentences:#?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn refuses_pkce_and_redirect_mismatches_and_a_reused_code() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;

    // A redirect URI the client did not register: Bollard's own page, never a redirect.
    let client_id = t.register(REDIRECT).await;
    let r = t
        .authorize(&client_id, "http://127.0.0.1:9/elsewhere")
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not one the client registered")
    );

    // Without PKCE S256: back to the client with invalid_request.
    let r = client()
        .get(t.url("/oauth/authorize"))
        .query_(&[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_challenge", "abc"),
            ("code_challenge_method", "plain"),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let q = query(r.headers()["location"].to_str().unwrap());
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("invalid_request", "s1")
    );

    // A wrong verifier: refused, and the code is spent.
    let (client_id, code) = t.code(&dana).await;
    let (status, err) = t
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            (
                "code_verifier",
                "another-verifier-that-is-long-enough-to-be-well-formed-000",
            ),
        ])
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(err["error_description"].as_str().unwrap().contains("PKCE"));
    assert_eq!(t.exchange(&client_id, &code).await.0, 400);

    // A redirect URI other than the authorization request's.
    let (client_id, code) = t.code(&dana).await;
    let (status, err) = t
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        err["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri")
    );

    // A code used twice: the second use fails and ends what the first one made.
    let (client_id, code) = t.code(&dana).await;
    let (status, tokens) = t.exchange(&client_id, &code).await;
    assert_eq!(status, 200);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(t.mcp(access, 1, "tools/list", json!({})).await.0, 200);
    assert_eq!(t.exchange(&client_id, &code).await.0, 400);
    assert_eq!(t.mcp(access, 2, "tools/list", json!({})).await.0, 401);

    // A token for another resource is never issued.
    let (client_id, code) = t.code(&dana).await;
    let (status, err) = t
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
            ("resource", "https://apollo.example.com/mcp"),
        ])
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_target"))
    );
    t.stop().await;
}

#[tokio::test]
async fn a_blocked_client_cannot_sign_in_and_its_connections_end() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;
    let (client_id, access, refresh) = t.connect(&dana).await;

    // The admin API lists the client and blocks it.
    let api = |path: &str| t.admin(&format!("/admin/api/v1{path}"));
    let clients: Value = client()
        .get(api("/oauth/clients"))
        .bearer_auth(&dana)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clients["clients"][0]["client_id"], client_id);
    assert_eq!(clients["clients"][0]["status"], "new");
    let r = client()
        .post(api(&format!("/oauth/clients/{client_id}/block")))
        .bearer_auth(&dana)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    t.app.gate.directory().refresh(true).await.unwrap();

    assert_eq!(t.mcp(&access, 1, "tools/list", json!({})).await.0, 401);
    assert_eq!(t.refresh(&client_id, &refresh).await.0, 400);
    let r = t.authorize(&client_id, REDIRECT).await;
    assert_eq!(r.status(), 303);
    let q = query(r.headers()["location"].to_str().unwrap());
    assert_eq!(q["error"], "access_denied");
    let sentences = t.admin_sentences().await;
    assert!(
        sentences
            .iter()
            .any(|s| s == "Dana blocked the client 'Claude'; its connections ended."),
        "{sentences:#?}"
    );
    t.stop().await;
}

/// The official Python MCP SDK's OAuth client, headless: discovery from the 401,
/// registration, authorization (the consent form posted as a person would), token,
/// `tools/list`, `tools/call`, refresh. Without python3 it says so and passes.
#[tokio::test]
async fn the_python_sdks_oauth_client_connects_end_to_end() {
    let Some(py) = crate::mcp_sdk::python().await else {
        return;
    };
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/mcp_oauth_client.py");
    let run = tokio::process::Command::new(py)
        .arg(script)
        .args([t.url("/mcp").as_str(), &dana])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the Python client finishes within a minute")
        .expect("the Python client runs");
    assert!(
        out.status.success(),
        "the Python OAuth client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("the client prints JSON");
    let tools: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&"apollo_mixed_people_api_search"), "{v}");
    assert!(!tools.contains(&"apollo_contacts_create"), "{v}");
    assert_eq!(
        v["called"],
        json!({"is_error": false, "has_people": true}),
        "{v}"
    );
    assert_eq!(v["refreshed"], true, "{v}");
    assert_eq!(v["consent_named_the_agent"], true, "{v}");
    let client_id = v["client_id"].as_str().unwrap();
    assert!(client_id.starts_with("bcl_"), "registered by RFC 7591: {v}");
    let calls = t.calls().await;
    assert!(
        calls
            .iter()
            .any(|r| r.connection.as_deref() == Some("Python SDK") && r.decision == "allowed"),
        "the SDK's calls are on record with its connection"
    );
    t.stop().await;
}

/// Found in review: a connection of an agent past its expiry went on refreshing (each new
/// access token refused at /mcp, so a client could loop). Now the refresh is refused with
/// invalid_grant before the token is spent, so once an admin moves the expiry the same
/// refresh token works.
#[tokio::test]
async fn an_expired_agents_connection_gets_no_new_tokens_until_its_expiry_is_moved() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;
    let (client_id, _, refresh) = t.connect(&dana).await;
    let now = t.clock.now();
    let admin = crate::helpers::tester();
    let expire = |at: Option<time::OffsetDateTime>| {
        bollard::ops::update_agent(
            &*t.store,
            &admin,
            "Sales Agent",
            bollard::store::AgentPatch {
                expires_at: Some(at),
                ..Default::default()
            },
            now,
        )
    };
    expire(Some(now + time::Duration::hours(1))).await.unwrap();
    t.clock.advance(time::Duration::hours(2));
    let (status, err) = t.refresh(&client_id, &refresh).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"], "invalid_grant", "{err}");
    let said = err["error_description"].as_str().unwrap();
    assert!(said.contains("has expired"), "{said}");
    assert!(said.is_ascii(), "RFC 6749 §5.2: {said}");
    expire(None).await.unwrap();
    let (status, tokens) = t.refresh(&client_id, &refresh).await;
    assert_eq!(status, 200, "the refresh token was not spent: {tokens}");
    // Spent now: presented again while the agent is expired, it is still seen for the reuse
    // it is, and the connection ends (the expiry refusal must not hide it).
    expire(Some(t.clock.now() - time::Duration::minutes(1)))
        .await
        .unwrap();
    let (status, err) = t.refresh(&client_id, &refresh).await;
    assert_eq!(status, 400, "{err}");
    assert!(
        err["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{err}"
    );
    let ended = t
        .store
        .oauth()
        .list_connections(None)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.client_id == client_id)
        .unwrap();
    assert_eq!(
        ended.revoked_reason.as_deref(),
        Some("refresh token reused")
    );
    t.stop().await;
}

/// Found in review: a loopback redirect URI was matched with its port, though a native client
/// learns its port only when it starts (RFC 8252 §7.3: any port MUST be allowed), and a token
/// request without redirect_uri was refused though the authorization request had left it out
/// too (RFC 6749 §4.1.3: required only if the authorization request included it).
#[tokio::test]
async fn a_native_client_may_use_any_loopback_port_and_leave_out_its_only_redirect_uri() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;
    let client_id = t.register(REDIRECT).await;
    let url = url::Url::parse(REDIRECT).unwrap();
    let mut other = url.clone();
    other.set_port(Some(9999)).unwrap();
    let other = other.to_string();
    assert_ne!(other, REDIRECT);
    let r = t.authorize(&client_id, &other).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let consent = r.headers()["location"].to_str().unwrap().to_owned();
    let session = t.sign_in(&dana).await;
    let back = t.consent(&consent, &session, "approve").await;
    assert!(back.starts_with(&other), "{back}");
    let code = query(&back)["code"].clone();
    let (status, tokens) = t.exchange_via(&client_id, &code, Some(&other)).await;
    assert_eq!(status, 200, "{tokens}");
    // Another path on the loopback address is not the registered one.
    let mut wrong = url.clone();
    wrong.set_path("/elsewhere");
    let r = t.authorize(&client_id, wrong.as_str()).await;
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());

    // RFC 6749 §5.2: no grant_type is invalid_request; one Bollard does not grant is
    // unsupported_grant_type.
    let (status, err) = t.token(&[("client_id", &client_id)]).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, err) = t.token(&[("grant_type", "password")]).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    // Left out of the authorization request (a client with one registered address), it may
    // be left out of the token request too, or named.
    for named_at_token in [None, Some(REDIRECT)] {
        let client_id = t.register(REDIRECT).await;
        let r = t.authorize_via(&client_id, None).await;
        assert_eq!(r.status(), 303);
        let consent = r.headers()["location"].to_str().unwrap().to_owned();
        let back = t.consent(&consent, &session, "approve").await;
        assert!(back.starts_with(REDIRECT), "{back}");
        let code = query(&back)["code"].clone();
        let (status, tokens) = t.exchange_via(&client_id, &code, named_at_token).await;
        assert_eq!(status, 200, "{named_at_token:?}: {tokens}");
    }
    // Named in the authorization request, it is required in the token request.
    let (client_id, code) = t.code(&dana).await;
    let (status, err) = t.exchange_via(&client_id, &code, None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    t.stop().await;
}
