//! Sign-in for hosted assistants (issue 13), by raw HTTP through the real app: discovery from
//! a 401, registration, authorization, the console's consent form posted as a browser would
//! (session cookie and CSRF token), the token exchange with PKCE, MCP calls with the token,
//! refresh, and every refusal the issue names. This file holds the harness (`OApp`) and the
//! CLI's test; `flow`, `clients` and `connections` hold the rest. The consent step in
//! Chromium is `tests/browser/connect.test.mjs`.

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

mod clients;
mod connections;
mod flow;

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
        self.authorize_via(client_id, Some(redirect)).await
    }

    /// `/oauth/authorize` with this `redirect_uri`, or none.
    async fn authorize_via(&self, client_id: &str, redirect: Option<&str>) -> reqwest::Response {
        let (challenge, resource) = (challenge(VERIFIER), format!("{}/mcp", self.public));
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "xyz-state"),
            ("resource", &resource),
        ];
        if let Some(r) = redirect {
            q.push(("redirect_uri", r));
        }
        self.http
            .get(self.url("/oauth/authorize"))
            .query_(&q)
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
        self.exchange_via(client_id, code, Some(REDIRECT)).await
    }

    /// The code grant with this `redirect_uri`, or none.
    async fn exchange_via(
        &self,
        client_id: &str,
        code: &str,
        redirect: Option<&str>,
    ) -> (u16, Value) {
        let resource = format!("{}/mcp", self.public);
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
            ("resource", &resource),
        ];
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        self.token(&form).await
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
