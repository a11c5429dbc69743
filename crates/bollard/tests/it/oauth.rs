//! Sign-in for hosted assistants (issue 13), by raw HTTP through the real app: discovery from
//! a 401, registration, authorization, the console's consent form posted as a browser would
//! (session cookie and CSRF token), the token exchange with PKCE, MCP calls with the token,
//! refresh, and every refusal the issue names.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use apollo_sandbox::{Sandbox, SandboxConfig};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bollard::app::{self, App};
use bollard::audit::Record;
use bollard::clock::Clock;
use bollard::config::Config;
use bollard::keys::Secret;
use bollard::ops;
use bollard::store::{self, AuditFilter, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::helpers::tester;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "a-pkce-code-verifier-of-forty-three-or-more-characters-0123";

struct OApp {
    sandbox: Sandbox,
    app: App,
    store: Arc<dyn Store>,
    clock: Clock,
    token: CancellationToken,
    public: String,
    /// One client for the helpers: building a client costs tens of milliseconds.
    http: reqwest::Client,
    /// The database, for the binary to read.
    db_url: String,
    _dir: Option<tempfile::TempDir>,
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The gateway with `public_url` set to its own agent address; `store` shares another app's
/// database (and so its installation secret).
async fn spawn(store: Option<(Arc<dyn Store>, Clock)>, allow_loopback_metadata: bool) -> OApp {
    spawn_with(store, allow_loopback_metadata, None).await
}

/// A replica on a PostgreSQL database other replicas share: assistants reach all of them at
/// `public` (the first replica's address), and this one polls for changes every `poll`.
async fn replica(db_url: &str, public: Option<&str>, poll: Duration) -> OApp {
    let s = store::open(db_url).await.unwrap();
    let on = Shared {
        store: s,
        url: db_url.to_owned(),
        public: public.map(str::to_owned),
        poll,
    };
    spawn_with(None, false, Some(on)).await
}

/// A database shared with other replicas.
struct Shared {
    store: Arc<dyn Store>,
    url: String,
    public: Option<String>,
    poll: Duration,
}

async fn spawn_with(
    store: Option<(Arc<dyn Store>, Clock)>,
    allow_loopback_metadata: bool,
    on: Option<Shared>,
) -> OApp {
    let (public, poll) = on
        .as_ref()
        .map_or((None, None), |o| (o.public.clone(), Some(o.poll)));
    let sandbox = Sandbox::spawn(SandboxConfig::new(7), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let (store, clock, dir, url) = match (store, on) {
        (_, Some(o)) => (o.store, Clock::system(), None, o.url),
        (Some((s, c)), None) => (s, c, None, "sqlite::memory:".to_owned()),
        (None, None) => {
            let dir = tempfile::tempdir().unwrap();
            // `normal`: these tests do not pull the plug, and the registration cap writes 500 rows.
            let url = format!(
                "sqlite://{}?synchronous=normal",
                dir.path().join("bollard.db").display()
            );
            let s = store::open(&url).await.unwrap();
            (s, Clock::manual(OffsetDateTime::now_utc()), Some(dir), url)
        }
    };
    // The public URL must name the port before the app binds it: a free port is picked, and
    // picked again should another test take it first.
    let mut attempt = 0;
    let (app, public, token) = loop {
        let listen = free_port();
        let mut config = Config {
            database_url: url.clone(),
            ..Config::default()
        };
        config.listen = listen;
        config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.apollo.base_url = sandbox.base_url();
        config.apollo.api_key = Some(Secret::new(sandbox.master_key()));
        let public = public.clone().unwrap_or_else(|| format!("http://{listen}"));
        config.public_url = Some(public.clone());
        config.oauth.allow_loopback_metadata = allow_loopback_metadata;
        if let Some(p) = poll {
            config.directory_poll = p;
        }
        let token = CancellationToken::new();
        match app::start(config, Some(store.clone()), clock.clone(), token.clone()).await {
            Ok(app) => break (app, public, token),
            Err(e) if attempt < 5 => {
                attempt += 1;
                eprintln!("retrying on another port: {e:#}");
            }
            Err(e) => panic!("the app starts: {e:#}"),
        }
    };
    OApp {
        sandbox,
        app,
        store,
        clock,
        token,
        public,
        http: client(),
        db_url: url,
        _dir: dir,
    }
}

impl OApp {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public)
    }

    fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.app.admin_addr)
    }

    async fn agent(&self, name: &str, grants: &[&str]) {
        ops::create_agent(&*self.store, &tester(), name, "", None, self.clock.now())
            .await
            .unwrap();
        let g: Vec<String> = grants.iter().map(|s| (*s).to_owned()).collect();
        ops::grant(&*self.store, &tester(), name, &g).await.unwrap();
        self.app.gate.directory().refresh(true).await.unwrap();
    }

    async fn admin_key(&self, name: &str) -> String {
        let (_, key) = ops::create_admin_key(&*self.store, &tester(), name)
            .await
            .unwrap();
        key.expose().to_owned()
    }

    async fn register(&self, redirect: &str) -> String {
        let r = self
            .http
            .post(self.url("/oauth/register"))
            .json(&json!({
                "redirect_uris": [redirect],
                "client_name": "Claude",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_endpoint_auth_method"], "none");
        body["client_id"].as_str().unwrap().to_owned()
    }

    /// `/oauth/authorize`: the answer, not followed.
    async fn authorize(&self, client_id: &str, redirect: &str) -> reqwest::Response {
        self.http
            .get(self.url("/oauth/authorize"))
            .query_(&[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect),
                ("code_challenge", &challenge(VERIFIER)),
                ("code_challenge_method", "S256"),
                ("state", "xyz-state"),
                ("resource", &format!("{}/mcp", self.public)),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Signs in to the console as a browser would; returns the session cookie.
    async fn sign_in(&self, key: &str) -> String {
        let c = self.http.clone();
        let page = c.get(self.admin("/sign-in")).send().await.unwrap();
        let pre = cookie_pair(page.headers().get("set-cookie").unwrap().to_str().unwrap());
        let token = hidden(&page.text().await.unwrap(), "csrf");
        let r = c
            .post(self.admin("/sign-in"))
            .header("cookie", &pre)
            .form_(&[("csrf", token.as_str()), ("key", key), ("next", "/agents")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| cookie_pair(v.to_str().unwrap()))
            .find(|c| c.starts_with("bollard_session="))
            .unwrap()
    }

    /// The consent step: the page, then its form posted with `decision`; returns where the
    /// browser is sent.
    async fn consent(&self, consent_url: &str, cookie: &str, decision: &str) -> String {
        let c = self.http.clone();
        let page = c
            .get(consent_url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:9"),
            "{csp}"
        );
        let html = page.text().await.unwrap();
        let r = c
            .post(self.admin("/connect"))
            .header("cookie", cookie)
            .form_(&[
                ("csrf", hidden(&html, "csrf").as_str()),
                ("ticket", &hidden(&html, "ticket")),
                ("agent", &hidden(&html, "agent")),
                ("name", "Claude (team workspace)"),
                ("decision", decision),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        r.headers()["location"].to_str().unwrap().to_owned()
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/oauth/token"))
            .form_(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(r.headers()["cache-control"], "no-store");
        (status, r.json().await.unwrap())
    }

    async fn exchange(&self, client_id: &str, code: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
            ("resource", &format!("{}/mcp", self.public)),
        ])
        .await
    }

    async fn refresh(&self, client_id: &str, refresh: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", client_id),
        ])
        .await
    }

    /// Everything up to a code: register, authorize, sign in, approve.
    async fn code(&self, admin_key: &str) -> (String, String) {
        let client_id = self.register(REDIRECT).await;
        let r = self.authorize(&client_id, REDIRECT).await;
        assert_eq!(r.status(), 303);
        let consent = r.headers()["location"].to_str().unwrap().to_owned();
        let session = self.sign_in(admin_key).await;
        let back = self.consent(&consent, &session, "approve").await;
        let u = url::Url::parse(&back).unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        (client_id, q["code"].clone())
    }

    /// A connected assistant: (client id, access token, refresh token).
    async fn connect(&self, admin_key: &str) -> (String, String, String) {
        let (client_id, code) = self.code(admin_key).await;
        let (status, t) = self.exchange(&client_id, &code).await;
        assert_eq!(status, 200, "{t}");
        (
            client_id,
            t["access_token"].as_str().unwrap().to_owned(),
            t["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    /// A JSON-RPC request of the 2026-07-28 revision to `/mcp` with a bearer token.
    async fn mcp(
        &self,
        token: &str,
        id: u64,
        method: &str,
        params: Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut params = match params {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        params.insert(
            "_meta".into(),
            json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "oauth-test", "version": "0"},
            }),
        );
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut req = self
            .http
            // This replica's own address, which is the public one but for a second replica.
            .post(format!("http://{}/mcp", self.app.agent_addr))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(n) = body.pointer("/params/name").and_then(Value::as_str) {
            req = req.header("mcp-name", n);
        }
        let r = req.json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    async fn admin_sentences(&self) -> Vec<String> {
        self.app.gate.audit().flush().await.unwrap();
        ops::audit_lines(
            &*self.store,
            &AuditFilter {
                admin: Some(true),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|l| l.record.sentence)
        .collect()
    }

    async fn calls(&self) -> Vec<Record> {
        self.app.gate.audit().flush().await.unwrap();
        ops::audit_lines(
            &*self.store,
            &AuditFilter {
                admin: Some(false),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|l| l.record)
        .collect()
    }

    async fn stop(self) {
        self.token.cancel();
        let _ = self.app.done.await;
        self.sandbox.shutdown().await;
    }
}

/// reqwest is built here without its form and query helpers.
trait FormExt {
    fn form_(self, pairs: &[(&str, &str)]) -> Self;
    fn query_(self, pairs: &[(&str, &str)]) -> Self;
}

impl FormExt for reqwest::RequestBuilder {
    fn form_(self, pairs: &[(&str, &str)]) -> Self {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    fn query_(self, pairs: &[(&str, &str)]) -> Self {
        let (client, req) = self.build_split();
        let mut req = req.unwrap();
        req.url_mut().query_pairs_mut().extend_pairs(pairs);
        reqwest::RequestBuilder::from_parts(client, req)
    }
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

fn hidden(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no field {name} in {html}"));
    let rest = &html[at + needle.len()..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

fn query(location: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn a_hosted_assistant_connects_by_oauth_and_calls_tools_as_its_agent() {
    let t = spawn(None, false).await;
    t.agent("Sales Agent", &["people=read"]).await;
    let dana = t.admin_key("Dana").await;

    // Discovery starts from a 401, on MCP and on REST alike.
    let (status, headers, _) = t.mcp("", 1, "tools/list", json!({})).await;
    assert_eq!(status, 401);
    let challenge_header = headers["www-authenticate"].to_str().unwrap();
    let metadata = format!("{}/.well-known/oauth-protected-resource", t.public);
    assert_eq!(
        challenge_header,
        format!("Bearer resource_metadata=\"{metadata}\"")
    );
    let rest = client()
        .get(t.url("/api/v1/auth/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 401);
    assert!(
        rest.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("resource_metadata="),
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

/// Serves one metadata document on loopback.
async fn serve_document(doc: impl Fn(String) -> Value + Send + Sync + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("{base}/client.json");
    let body = doc(url.clone());
    let router = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn metadata_documents_are_fetched_only_from_public_addresses() {
    // Without the test switch: never plain http, never a private address.
    let t = spawn(None, false).await;
    let doc = serve_document(
        |url| json!({"client_id": url, "client_name": "Doc", "redirect_uris": [REDIRECT]}),
    )
    .await;
    let r = t.authorize(&doc, REDIRECT).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("must use https"));
    for private in [
        "https://10.0.0.1/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://127.0.0.1:9/client.json",
        "https://localhost/client.json",
    ] {
        let r = t.authorize(private, REDIRECT).await;
        assert_eq!(r.status(), 400, "{private}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains("private or internal address"),
            "{private}: {text}"
        );
    }
    t.stop().await;

    // With it (tests only), a document on loopback is read and its client signs in.
    let t = spawn(None, true).await;
    let r = t.authorize(&doc, REDIRECT).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let stored = t.store.oauth().client(&doc).await.unwrap().unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.source.as_str()),
        ("Doc", "metadata")
    );
    // A document that names another client id is refused.
    let liar = serve_document(
        |_| json!({"client_id": "https://claude.ai/x.json", "redirect_uris": [REDIRECT]}),
    )
    .await;
    let r = t.authorize(&liar, REDIRECT).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("does not name its own URL")
    );
    t.stop().await;
}

#[tokio::test]
async fn registration_refuses_bad_redirect_uris() {
    let t = spawn(None, false).await;
    for (body, code) in [
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://x.example/cb#f"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://x.example/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
    ] {
        let r = client()
            .post(t.url("/oauth/register"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], code, "{body}");
    }
    let big = "x".repeat(20_000);
    let r = client()
        .post(t.url("/oauth/register"))
        .json(&json!({"redirect_uris": ["https://x.example/cb"], "client_name": big}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "a registration over 16 KiB is refused");

    // Anyone may register, but not without end: 500 an hour, then 429 until the hour moves.
    for _ in 0..500 {
        t.register(REDIRECT).await;
    }
    let flood = || {
        t.http
            .post(t.url("/oauth/register"))
            .json(&json!({"redirect_uris": [REDIRECT]}))
            .send()
    };
    let r = flood().await.unwrap();
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "temporarily_unavailable");
    t.clock.advance(time::Duration::minutes(61));
    assert_eq!(flood().await.unwrap().status(), 201);
    t.stop().await;
}

#[tokio::test]
async fn connections_and_connect_links_through_the_binary() {
    use bollard::store::oauth::{Connection, NewRefresh};
    let bin = crate::cli::Bin::new();
    bin.ok(&["agent", "create", "Sales Agent"]).await;
    let out = bin.run(&["connect-link", "Sales Agent"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("set public_url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        bin.dir.path().join("bollard.toml"),
        "public_url = \"https://bollard.example.com\"\n[oauth]\nconsole_url = \"https://console.example.com\"\n",
    )
    .unwrap();
    let link = bin
        .ok(&["connect-link", "Sales Agent", "--expires-in", "2h"])
        .await;
    assert!(
        link.contains("https://console.example.com/connect/link/bol_link_")
            && link.contains("add https://bollard.example.com/mcp to their assistant"),
        "{link}"
    );
    let j = bin.json(&["connect-link", "Sales Agent", "--json"]).await;
    assert!(
        j["url"]
            .as_str()
            .unwrap()
            .starts_with("https://console.example.com/connect/link/")
    );
    let out = bin
        .run(&["connect-link", "Sales Agent", "--expires-in", "60d"])
        .await;
    assert_eq!(out.status.code(), Some(1), "longer than 30 days is refused");

    let none = bin.ok(&["agent", "connections", "Sales Agent"]).await;
    assert!(none.contains("Sales Agent has no connections"), "{none}");

    // A connection as the token exchange makes one.
    let store = store::open(&bin.url).await.unwrap();
    let agent = ops::find_agent(&*store, "Sales Agent").await.unwrap();
    let now = OffsetDateTime::now_utc();
    store
        .oauth()
        .open_connection(
            "no-code",
            &Connection {
                id: "con_test1".into(),
                agent_id: agent.id.clone(),
                client_id: "bcl_x".into(),
                name: "Claude".into(),
                approved_by: "Dana".into(),
                created_at: now,
                refreshed_at: None,
                revoked_at: None,
                revoked_reason: None,
            },
            NewRefresh {
                token_hash: "h",
                expires_at: now + time::Duration::days(1),
            },
        )
        .await
        .unwrap();
    let listed = bin.ok(&["agent", "connections", "Sales Agent"]).await;
    assert!(
        listed.contains("con_test1  'Claude'  active; approved by Dana"),
        "{listed}"
    );
    let shown = bin.ok(&["agent", "show", "Sales Agent"]).await;
    assert!(shown.contains("connected assistants (OAuth):"), "{shown}");
    let gone = bin
        .ok(&["agent", "disconnect", "Sales Agent", "Claude"])
        .await;
    assert!(gone.contains("'Claude' is disconnected"), "{gone}");
    let j = bin
        .json(&["agent", "connections", "Sales Agent", "--json"])
        .await;
    assert!(j["connections"][0]["revoked_at"].is_string(), "{j}");
    let out = bin
        .run(&["agent", "disconnect", "Sales Agent", "con_nothing"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no connection 'con_nothing'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
