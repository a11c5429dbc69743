//! Ask first (#15), through the front doors: a call that needs a person's approval is
//! refused with BOLLARD_APPROVAL_PENDING and a request is made (and announced to a local
//! webhook receiver); once approved through the admin API or the real binary, the identical
//! call is forwarded exactly once (the sandbox's journal says so). Each refusal: changed
//! arguments, a replay, expiry, a denial, a revoked agent, the approval used by another
//! instance on the same database, and the budget checked when the approved call runs.

use std::net::SocketAddr;
use std::time::Duration;

use bollard::approval::{ApprovalsConfig, NotifyFormat};
use bollard::ops;
use bollard::store::AuditFilter;
use serde_json::{Value, json};

use crate::helpers::{Answer, Options, Receiver, TestApp};

const ADD: &str = "/api/v1/emailer_campaigns/seq_1/add_contact_ids";

fn add_body(ids: &[&str]) -> Value {
    json!({"emailer_campaign_id": "seq_1", "contact_ids": ids, "send_email_from_email_account_id": "ea_1"})
}

fn config(notify: Option<&Receiver>, format: NotifyFormat) -> ApprovalsConfig {
    ApprovalsConfig {
        notify_url: notify.map(Receiver::url),
        notify_format: format,
        expires_after: time::Duration::hours(1),
        console_url: Some("https://bollard.example.com".into()),
    }
}

async fn app(notify: Option<&Receiver>) -> TestApp {
    TestApp::spawn_with(Options {
        approvals: Some(config(notify, NotifyFormat::Json)),
        ..Options::default()
    })
    .await
}

fn forwarded(t: &TestApp) -> usize {
    t.journal()
        .iter()
        .filter(|e| e.path.ends_with("/add_contact_ids"))
        .count()
}

fn approval_id(a: &Answer) -> String {
    a.body["bollard"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no approval id: {}", a.text))
        .to_owned()
}

fn assert_pending(a: &Answer) -> String {
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.code(), "BOLLARD_APPROVAL_PENDING", "{}", a.text);
    assert_eq!(a.body["bollard"]["decision"], "pending");
    let id = approval_id(a);
    assert!(id.starts_with("apr_"), "{id}");
    assert!(a.error().contains(&id), "{}", a.error());
    assert!(
        a.error().contains("Send the same call again"),
        "{}",
        a.error()
    );
    id
}

/// An app where Sales Agent's first call (adding c_1) asked and was approved: the app, the
/// agent's key and the approval's id.
async fn approved_first_call() -> (TestApp, String, String) {
    let t = app(None).await;
    let key = t
        .agent("Sales Agent", &["sequences.add_contacts=ask"])
        .await;
    let id = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    let admin = AdminApi::new(&t).await;
    assert_eq!(admin.approve(&id, None).await.0, 200);
    (t, key, id)
}

/// The admin API with a fresh admin key named "Dana".
struct AdminApi<'a> {
    t: &'a TestApp,
    key: String,
}

impl AdminApi<'_> {
    async fn new(t: &TestApp) -> AdminApi<'_> {
        let (_, key) = ops::create_admin_key(&*t.store, &crate::helpers::tester(), "Dana")
            .await
            .unwrap();
        AdminApi {
            t,
            key: key.expose().to_owned(),
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("http://{}{}", self.t.app.admin_addr, path);
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.t.client.request(m, url).bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn approve(&self, id: &str, note: Option<&str>) -> (u16, Value) {
        let body = note.map(|n| json!({"note": n}));
        self.send(
            "POST",
            &format!("/admin/api/v1/approvals/{id}/approve"),
            body,
        )
        .await
    }

    async fn reveal(&self, id: &str) -> (u16, Value) {
        self.send(
            "POST",
            &format!("/admin/api/v1/approvals/{id}/reveal"),
            None,
        )
        .await
    }

    async fn deny(&self, id: &str, note: &str) -> (u16, Value) {
        self.send(
            "POST",
            &format!("/admin/api/v1/approvals/{id}/deny"),
            Some(json!({"note": note})),
        )
        .await
    }
}

/// The binary, on the test app's own database (as an approver at the gateway's host would).
async fn bin(t: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bollard"))
        .env(
            "BOLLARD_DATABASE_URL",
            format!("sqlite://{}", t.db_path.display()),
        )
        .env_remove("APOLLO_API_KEY")
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A second gateway on the test app's database file and clock, as a replica would be; the
/// token stops it.
async fn replica(t: &TestApp) -> (bollard::app::App, tokio_util::sync::CancellationToken) {
    let mut config = bollard::config::Config {
        database_url: format!("sqlite://{}", t.db_path.display()),
        ..bollard::config::Config::default()
    };
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.apollo.base_url = t.sandbox.base_url();
    config.apollo.api_key = Some(bollard::keys::Secret::new(t.sandbox.master_key()));
    let token = tokio_util::sync::CancellationToken::new();
    let other = bollard::app::start(config, None, t.clock.clone(), token.clone())
        .await
        .unwrap();
    (other, token)
}

async fn admin_sentences(t: &TestApp) -> Vec<(String, String)> {
    t.flush_audit().await;
    let (lines, _) = ops::audit_lines(
        &*t.store,
        &AuditFilter {
            admin: Some(true),
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    lines
        .into_iter()
        .filter_map(|l| {
            let what = l.record.change.as_ref()?.what.clone();
            Some((what, l.record.sentence.clone()))
        })
        .collect()
}

#[tokio::test]
async fn the_whole_loop_over_rest_asks_notifies_and_forwards_the_approved_call_once() {
    let hook = Receiver::start(1).await;
    let t = app(Some(&hook)).await;
    let key = t
        .agent("Sales Agent", &["contacts=read", "sequences=full:ask"])
        .await;

    let asked = t.post(ADD, &key, add_body(&["c_1", "c_2"])).await;
    let id = assert_pending(&asked);
    assert!(
        asked.error().contains(
            "A person must approve this call before it runs: Sales Agent asked to add 2 contacts"
        ),
        "{}",
        asked.error()
    );
    assert!(
        asked
            .error()
            .contains("'Sequences' is Full use with a person's approval for this agent"),
        "{}",
        asked.error()
    );
    assert_eq!(forwarded(&t), 0, "nothing reaches Apollo before approval");
    // Asking again while it waits reuses the request; the approver is told once.
    let again = t.post(ADD, &key, add_body(&["c_1", "c_2"])).await;
    assert_eq!(assert_pending(&again), id);

    // The webhook failed once and was retried.
    let got = hook.wait_for(1).await;
    assert_eq!(got[0]["id"], id.as_str());
    assert_eq!(got[0]["type"], "bollard.approval.requested");
    assert_eq!(
        got[0]["url"],
        format!("https://bollard.example.com/approvals#{id}")
    );
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Sales Agent asks to add 2 contacts"),
        "{}",
        got[0]
    );
    let admin = AdminApi::new(&t).await;
    let (_, listed) = admin.send("GET", "/admin/api/v1/approvals", None).await;
    let listed = listed["approvals"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["agent_name"], "Sales Agent");
    assert_eq!(listed[0]["arguments"]["contact_ids"], json!(["c_1", "c_2"]));
    assert_eq!(listed[0]["notify_state"], "sent");
    assert_eq!(listed[0]["notify_attempts"], 2);

    let (status, approved) = admin.approve(&id, Some("go ahead")).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["decided_by"], "Dana");

    // The same call, its keys in another order: the same call, forwarded once.
    let ran = t
        .post(
            ADD,
            &key,
            json!({"send_email_from_email_account_id": "ea_1", "contact_ids": ["c_1", "c_2"], "emailer_campaign_id": "seq_1"}),
        )
        .await;
    assert_ne!(ran.code(), "BOLLARD_APPROVAL_PENDING", "{}", ran.text);
    assert_eq!(forwarded(&t), 1);
    let j = t.journal();
    let sent = j
        .iter()
        .find(|e| e.path.ends_with("/add_contact_ids"))
        .unwrap();
    assert_eq!(sent.args["contact_ids"], json!(["c_1", "c_2"]));

    // A replay is refused, says why, and asks again.
    let replay = t.post(ADD, &key, add_body(&["c_1", "c_2"])).await;
    let second = assert_pending(&replay);
    assert_ne!(second, id);
    assert!(
        replay
            .error()
            .starts_with(&format!("The approval {id} was for one call, and the call")),
        "{}",
        replay.error()
    );
    assert_eq!(forwarded(&t), 1, "forwarded exactly once");

    // On the record: the pending calls, the approval, the call that used it.
    let lines = t.audit_lines().await;
    let pending: Vec<_> = lines
        .iter()
        .filter(|l| l.record.decision == "pending")
        .collect();
    assert_eq!(pending.len(), 3);
    assert!(
        pending
            .iter()
            .any(|l| l.record.approval.as_ref().unwrap()["id"] == id.as_str()),
        "the pending record names its request"
    );
    assert!(
        pending[0].record.sentence.contains(
            "asked to add 2 contacts to the sequence seq_1: waiting for a person's approval"
        ),
        "{}",
        pending[0].record.sentence
    );
    let used = lines
        .iter()
        .find(|l| l.record.decision == "allowed")
        .unwrap();
    assert_eq!(used.record.approval.as_ref().unwrap()["id"], id.as_str());
    assert!(
        used.record.sentence.contains(&format!(
            ": allowed (approved by Dana, {id}), but Apollo refused it"
        )),
        "{}",
        used.record.sentence
    );
    let admin_entries = admin_sentences(&t).await;
    let approve = admin_entries
        .iter()
        .find(|(w, _)| w == "approval.approve")
        .unwrap();
    assert_eq!(
        approve.1,
        format!(
            "Dana approved Sales Agent's request {id} to add 2 contacts to the sequence seq_1, noting \"go ahead\"."
        )
    );
    // The approved request cannot be decided again.
    let (status, body) = admin.deny(&id, "too late").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("used by the call"),
        "{body}"
    );
    let (status, _) = admin.approve("apr_nothing", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn over_mcp_the_tool_error_says_the_same_and_the_binary_approves() {
    let t = app(None).await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let c = crate::mcp::connect(&t, &key).await;
    let args = json!({"sequence_id": "seq_1", "contact_ids": ["c_9"], "send_email_from_email_account_id": "ea_1"});
    let r = crate::mcp::call(&c, "apollo_emailer_campaigns_add_contact_ids", args.clone()).await;
    assert_eq!(r.is_error, Some(true));
    let text = crate::mcp::text(&r);
    assert!(text.contains("A person must approve this call"), "{text}");
    let s = r.structured_content.clone().unwrap();
    assert_eq!(s["error_code"], "BOLLARD_APPROVAL_PENDING");
    let id = s["bollard"]["approval_id"].as_str().unwrap().to_owned();
    assert!(text.contains(&id), "{text}");
    assert_eq!(forwarded(&t), 0);

    let (ok, listed, err) = bin(&t, &["approvals", "list"]).await;
    assert!(ok, "{err}");
    assert!(listed.contains(&id), "{listed}");
    assert!(
        listed.contains("Sales Agent asks to add 1 contact to the sequence seq_1."),
        "{listed}"
    );
    let (ok, out, err) = bin(&t, &["approvals", "approve", &id, "--note", "ok"]).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("Approved {id}: Sales Agent's next identical call")),
        "{out}"
    );

    let r = crate::mcp::call(&c, "apollo_emailer_campaigns_add_contact_ids", args.clone()).await;
    assert_ne!(
        r.structured_content
            .as_ref()
            .map(|s| s["error_code"].clone()),
        Some(json!("BOLLARD_APPROVAL_PENDING")),
        "{}",
        crate::mcp::text(&r)
    );
    assert_eq!(forwarded(&t), 1);
    let (ok, all, _) = bin(&t, &["approvals", "list", "--state", "all", "--json"]).await;
    assert!(ok);
    let all: Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all[0]["state"], "used");
    assert_eq!(all[0]["note"], "ok");
    assert!(
        all[0]["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("the command line on ")
    );
    let (ok, _, err) = bin(&t, &["approvals", "approve", &id]).await;
    assert!(!ok && err.contains("used by the call"), "{err}");
    let (ok, _, err) = bin(&t, &["approvals", "list", "--state", "maybe"]).await;
    assert!(!ok && err.contains("'maybe' is not a state"), "{err}");
}

#[tokio::test]
async fn a_changed_argument_needs_its_own_approval() {
    let (t, key, id) = approved_first_call().await;
    let changed = t.post(ADD, &key, add_body(&["c_1", "c_666"])).await;
    let other = assert_pending(&changed);
    assert_ne!(other, id);
    assert!(
        changed.error().starts_with(&format!(
            "The approval {id} is for a different call: its arguments are not this call's."
        )),
        "{}",
        changed.error()
    );
    assert!(
        changed
            .error()
            .contains("the action is switched on with a person's approval"),
        "{}",
        changed.error()
    );
    assert_eq!(forwarded(&t), 0);
    // Another agent's identical call is not covered either.
    let other_key = t.agent("Other Agent", &["sequences=full:ask"]).await;
    assert_pending(&t.post(ADD, &other_key, add_body(&["c_1"])).await);
    assert_eq!(forwarded(&t), 0);
    // The approved call itself still runs.
    t.post(ADD, &key, add_body(&["c_1"])).await;
    assert_eq!(forwarded(&t), 1);
}

#[tokio::test]
async fn an_expired_request_is_refused_with_a_sentence_and_asks_again() {
    let t = app(None).await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let id = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    let admin = AdminApi::new(&t).await;
    assert_eq!(admin.approve(&id, None).await.0, 200);
    t.clock.advance(time::Duration::seconds(3601));
    let late = t.post(ADD, &key, add_body(&["c_1"])).await;
    let again = assert_pending(&late);
    assert_ne!(again, id);
    assert!(
        late.error().starts_with(&format!(
            "The approval request {id} for this call expired at "
        )),
        "{}",
        late.error()
    );
    assert_eq!(forwarded(&t), 0);
    // A request can no longer be approved once its time is up.
    t.clock.advance(time::Duration::seconds(3601));
    let (status, body) = admin.approve(&again, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let expiries: Vec<_> = admin_sentences(&t)
        .await
        .into_iter()
        .filter(|(w, _)| w == "approval.expire")
        .collect();
    assert_eq!(expiries.len(), 2, "{expiries:?}");
    assert!(
        expiries.iter().any(|(_, s)| s.starts_with(&format!(
            "Bollard expired Sales Agent's approval {id} to add 1 contact to the sequence seq_1: it was approved but not used by"
        ))),
        "{expiries:?}"
    );
}

#[tokio::test]
async fn a_denied_call_is_refused_with_the_note_until_it_expires() {
    let t = app(None).await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let id = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    let (ok, out, err) = bin(&t, &["approvals", "deny", &id, "--note", "not this week"]).await;
    assert!(ok, "{err}");
    assert!(out.starts_with(&format!("Denied {id}")), "{out}");
    let denied = t.post(ADD, &key, add_body(&["c_1"])).await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert_eq!(denied.code(), "BOLLARD_DENIED");
    assert_eq!(approval_id(&denied), id);
    assert!(
        denied.error().contains("denied this exact call")
            && denied.error().contains("not this week"),
        "{}",
        denied.error()
    );
    assert_eq!(forwarded(&t), 0);
    // Once the denial has run its time, the call asks again.
    t.clock.advance(time::Duration::seconds(3601));
    let again = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    assert_ne!(again, id);
}

#[tokio::test]
async fn a_revoked_agent_cannot_use_its_approval() {
    let t = app(None).await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let id = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    let admin = AdminApi::new(&t).await;
    assert_eq!(admin.approve(&id, None).await.0, 200);
    ops::revoke_agent(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Agent",
        t.clock.now(),
    )
    .await
    .unwrap();
    t.sync().await;
    let r = t.post(ADD, &key, add_body(&["c_1"])).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(forwarded(&t), 0);
    let a = t
        .store
        .approvals()
        .get_approval(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.state, bollard::store::approvals::ApprovalState::Approved);
}

#[tokio::test]
async fn an_approval_is_used_once_across_two_instances_sharing_the_database() {
    let t = app(None).await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let (other, token) = replica(&t).await;
    let other_url = format!("http://{}{ADD}", other.agent_addr);
    let send_other = || {
        t.client
            .post(&other_url)
            .header("x-api-key", &key)
            .json(&add_body(&["c_1"]))
            .send()
    };

    let id = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    // The other replica sees the same pending request.
    let r = send_other().await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["bollard"]["approval_id"], id.as_str());
    let admin = AdminApi::new(&t).await;
    assert_eq!(admin.approve(&id, None).await.0, 200);
    // Both replicas race the identical call; exactly one forwards it.
    let (a, b) = tokio::join!(t.post(ADD, &key, add_body(&["c_1"])), send_other());
    let b: Value = b.unwrap().json().await.unwrap();
    let pending = [a.body["error_code"].clone(), b["error_code"].clone()]
        .iter()
        .filter(|c| *c == "BOLLARD_APPROVAL_PENDING")
        .count();
    assert_eq!(pending, 1, "{} / {b}", a.text);
    assert_eq!(forwarded(&t), 1);
    token.cancel();
    let _ = other.done.await;
}

#[tokio::test]
async fn budgets_are_checked_when_the_approved_call_runs() {
    let t = app(None).await;
    let key = t
        .agent("Sales Agent", &["people=full", "reveal=full:ask"])
        .await;
    let enrich = json!({"email": "ada@example.com", "reveal_personal_emails": true});
    // Without reveal the call needs no approval (and no budget question arises here).
    let asked = t.post("/api/v1/people/match", &key, enrich.clone()).await;
    let id = assert_pending(&asked);
    assert!(
        asked.error().contains(
            "it reveals emails, and 'Reveal emails and phone numbers' needs a person's approval"
        ),
        "{}",
        asked.error()
    );
    let admin = AdminApi::new(&t).await;
    let (_, listed) = admin.send("GET", "/admin/api/v1/approvals", None).await;
    assert!(
        listed["approvals"][0]["max_credits"].as_u64().unwrap() >= 1,
        "{listed}"
    );
    assert_eq!(admin.approve(&id, None).await.0, 200);
    // Approved, but the agent has no credit budget: the limits phase refuses it now.
    let ran = t.post("/api/v1/people/match", &key, enrich.clone()).await;
    assert_eq!(ran.code(), "BOLLARD_BUDGET_EXHAUSTED", "{}", ran.text);
    let matched = |t: &TestApp| {
        t.journal()
            .iter()
            .filter(|e| e.path.ends_with("/people/match"))
            .count()
    };
    assert_eq!(matched(&t), 0, "nothing was sent");
    // ...and the approval was not used up by a call that was not sent: the refusal says so.
    assert!(
        ran.error().contains(&format!(
            "The approval {id} was not used up, because nothing was sent: it stays usable until"
        )),
        "{}",
        ran.error()
    );
    assert_eq!(ran.body["bollard"]["approval_id"], id.as_str());
    assert_eq!(ran.body["bollard"]["approval_kept"], true);
    let a = t
        .store
        .approvals()
        .get_approval(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.state, bollard::store::approvals::ApprovalState::Approved);
    assert_eq!(a.used_by, None);
    let refused = t
        .audit_lines()
        .await
        .into_iter()
        .find(|l| l.record.request_id == ran.body["bollard"]["request_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(refused.record.approval.as_ref().unwrap()["state"], "kept");
    assert!(
        refused.record.sentence.contains(&format!(
            "the approval {id} was not used up and stays usable"
        )),
        "{}",
        refused.record.sentence
    );
    // Once the budget allows, the same approval runs the call, once.
    t.daily_budget("Sales Agent", 100).await;
    let ran = t.post("/api/v1/people/match", &key, enrich.clone()).await;
    assert_eq!(ran.status, 200, "{}", ran.text);
    assert_eq!(matched(&t), 1);
    let replay = t.post("/api/v1/people/match", &key, enrich.clone()).await;
    assert_pending(&replay);
    assert_eq!(matched(&t), 1, "used up by the call that was sent");
}

#[tokio::test]
async fn an_approver_can_reveal_the_personal_data_and_the_reveal_is_recorded() {
    let t = app(None).await;
    let key = t
        .agent("Sales Agent", &["people=full", "reveal=full:ask"])
        .await;
    let enrich =
        json!({"email": "ada@example.com", "first_name": "Ada", "reveal_personal_emails": true});
    let id = assert_pending(&t.post("/api/v1/people/match", &key, enrich.clone()).await);
    let admin = AdminApi::new(&t).await;
    let (_, listed) = admin.send("GET", "/admin/api/v1/approvals", None).await;
    let listed = &listed["approvals"][0];
    assert_eq!(listed["revealable"], true);
    let masked = listed["arguments"].to_string();
    assert!(
        !masked.contains("ada@example.com") && masked.contains("hmac:"),
        "{masked}"
    );
    assert!(listed.get("sealed_arguments").is_none(), "{listed}");
    // The stored request holds the email only sealed. (The file itself is not read here: a
    // second handle on a SQLite file, closed, drops this process's locks on it.)
    let stored = t
        .store
        .approvals()
        .get_approval(&id)
        .await
        .unwrap()
        .unwrap();
    let sealed = stored.sealed_arguments.clone().unwrap();
    assert!(
        sealed.starts_with("v1.") && !sealed.contains("ada"),
        "{sealed}"
    );
    assert!(!serde_json::to_string(&stored).unwrap().contains("ada@"));

    let (status, shown) = admin.reveal(&id).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["arguments_revealed"]["email"], "ada@example.com");
    assert_eq!(shown["arguments_revealed"]["first_name"], "Ada");
    let (ok, out, err) = bin(&t, &["approvals", "show", &id]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("personal data hashed") && !out.contains("ada@example.com"),
        "{out}"
    );
    assert!(
        out.contains(&format!("bollard approvals show {id} --reveal")),
        "{out}"
    );
    let (ok, out, err) = bin(&t, &["approvals", "show", &id, "--reveal"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("\"email\": \"ada@example.com\""), "{out}");
    // The command ran in another process: its entry is read back once this process's
    // readers see it (a pooled SQLite reader can be a moment behind another process's commit).
    let mut reveals = Vec::new();
    for _ in 0..40 {
        reveals = admin_sentences(&t)
            .await
            .into_iter()
            .filter(|(w, _)| w == "approval.reveal")
            .map(|(_, s)| s)
            .collect();
        if reveals.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reveals.len(), 2, "{reveals:?}");
    assert!(
        reveals.iter().any(|s| s.starts_with(&format!(
            "Dana revealed the personal data in Sales Agent's request {id} to reveal personal emails"
        ))),
        "{reveals:?}"
    );
    assert!(
        reveals
            .iter()
            .any(|s| s.starts_with("The command line on ") && s.contains(&id)),
        "{reveals:?}"
    );

    // Once decided, the clear arguments are gone.
    assert_eq!(admin.approve(&id, None).await.0, 200);
    let (status, body) = admin.reveal(&id).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("its personal data is no longer kept"),
        "{body}"
    );
    let (status, _) = admin.reveal("apr_none").await;
    assert_eq!(status, 404);
    // A request whose arguments hold no personal data has nothing to reveal.
    let searcher = t.agent("Search Agent", &["companies=read:ask"]).await;
    let plain = assert_pending(
        &t.post(
            "/api/v1/mixed_companies/search",
            &searcher,
            json!({"q_organization_name": "Acme"}),
        )
        .await,
    );
    let (status, body) = admin.reveal(&plain).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Nothing in the arguments"),
        "{body}"
    );
}

#[tokio::test]
async fn the_background_sweep_records_each_expiry_once_across_two_instances() {
    let t = app(None).await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let (other, token) = replica(&t).await;
    let waiting = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    let approved = assert_pending(&t.post(ADD, &key, add_body(&["c_2"])).await);
    let admin = AdminApi::new(&t).await;
    assert_eq!(admin.approve(&approved, None).await.0, 200);
    // Time passes and nobody calls, opens the console or runs a command: both instances'
    // sweeps find the two expiries; each is recorded once.
    t.clock.advance(time::Duration::seconds(3601));
    let expiries = || async {
        admin_sentences(&t)
            .await
            .into_iter()
            .filter(|(w, _)| w == "approval.expire")
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
    };
    for _ in 0..60 {
        if expiries().await.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Both sweeps run at least once more after the first found them.
    tokio::time::sleep(bollard::recovery::HEARTBEAT + Duration::from_secs(1)).await;
    let expiries = expiries().await;
    assert_eq!(expiries.len(), 2, "{expiries:?}");
    assert!(
        expiries.iter().any(|s| s.starts_with(&format!(
            "Bollard expired Sales Agent's request {waiting} to add 1 contact to the sequence seq_1: nobody approved it by "
        ))),
        "{expiries:?}"
    );
    assert!(
        expiries.iter().any(|s| s.starts_with(&format!(
            "Bollard expired Sales Agent's approval {approved} to add 1 contact to the sequence seq_1: it was approved but not used by "
        ))),
        "{expiries:?}"
    );
    token.cancel();
    let _ = other.done.await;
}

#[tokio::test]
async fn a_rule_marked_ask_asks_only_when_it_matches_and_is_named() {
    let t = app(None).await;
    let key = t.agent("Sales Agent", &["sequences=full"]).await;
    ops::add_rule(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Agent",
        "big-adds",
        r#"@ask("more than 2 contacts") permit(principal, action == Action::"sequences.add_contacts", resource) when { context.record_count > 2 };"#,
    )
    .await
    .unwrap();
    t.sync().await;
    t.post(ADD, &key, add_body(&["c_1"])).await;
    assert_eq!(forwarded(&t), 1, "a small call needs no approval");
    let big = t.post(ADD, &key, add_body(&["c_1", "c_2", "c_3"])).await;
    assert_pending(&big);
    assert!(
        big.error()
            .contains("the rule 'big-adds' asks for a person's approval"),
        "{}",
        big.error()
    );
    assert_eq!(
        big.body["bollard"]["rule_ids"],
        json!(["grant:sequences", "rule:big-adds"])
    );
    assert_eq!(forwarded(&t), 1);
}

#[tokio::test]
async fn a_slack_notification_that_keeps_failing_is_noted_for_the_console() {
    let t = TestApp::spawn_with(Options {
        approvals: Some(ApprovalsConfig {
            notify_url: Some("http://127.0.0.1:9/hook".into()),
            notify_format: NotifyFormat::Slack,
            ..ApprovalsConfig::default()
        }),
        ..Options::default()
    })
    .await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let started = std::time::Instant::now();
    let id = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the call is not held up by the webhook"
    );
    let mut state = String::new();
    for _ in 0..400 {
        let a = t
            .store
            .approvals()
            .get_approval(&id)
            .await
            .unwrap()
            .unwrap();
        state = a.notify_state.clone();
        if state == "failed" {
            assert_eq!(a.notify_attempts, 4);
            assert_eq!(
                a.notify_error.as_deref(),
                Some("the webhook could not be reached")
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(state, "failed");
    let a = t
        .store
        .approvals()
        .get_approval(&id)
        .await
        .unwrap()
        .unwrap();
    let body = bollard::approval::notify::body(NotifyFormat::Slack, Some("https://b.example"), &a);
    let text = body["text"].as_str().unwrap();
    assert!(
        text.ends_with(&format!(
            "<https://b.example/approvals#{id}|Review it in the Bollard console>."
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_change_to_ask_first_alone_is_saved_and_recorded() {
    let t = app(None).await;
    t.agent("Sales Agent", &["sequences=full"]).await;
    t.agent_grants("Sales Agent", &["sequences=full:ask"]).await;
    let g = ops::find_agent(&*t.store, "Sales Agent")
        .await
        .unwrap()
        .grants;
    assert!(g.asks_for_group(bollard_policy::Group::Sequences));
    let entries = admin_sentences(&t).await;
    assert!(
        entries.iter().any(|(w, s)| w == "grants"
            && s.contains("made 'Sequences' ask a person to approve each call for Sales Agent")),
        "{entries:?}"
    );
    // The dry run says the call would wait for approval.
    let live = ops::query::live_agent(&*t.store, "Sales Agent")
        .await
        .unwrap();
    let report = t
        .app
        .gate
        .check(&live, "POST", ADD, Some(&add_body(&["c_1"]).to_string()))
        .await;
    assert_eq!(report.decision, "approval");
    assert_eq!(report.status, 403);
    assert!(
        report
            .sentence
            .starts_with("If Sales Agent asked to add 1 contact to the sequence seq_1, it would wait for a person's approval"),
        "{}",
        report.sentence
    );
}

#[tokio::test]
async fn an_approved_call_the_audit_log_cannot_record_keeps_its_approval() {
    let t = app(None).await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let id = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    let admin = AdminApi::new(&t).await;
    assert_eq!(admin.approve(&id, None).await.0, 200);
    t.raw_sql("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END").await;
    let refused = t.post(ADD, &key, add_body(&["c_1"])).await;
    assert_eq!(
        refused.code(),
        "BOLLARD_AUDIT_UNAVAILABLE",
        "{}",
        refused.text
    );
    assert!(
        refused
            .error()
            .contains(&format!("The approval {id} was not used up")),
        "{}",
        refused.error()
    );
    assert_eq!(forwarded(&t), 0);
    t.raw_sql("DROP TRIGGER no_audit").await;
    t.post(ADD, &key, add_body(&["c_1"])).await;
    assert_eq!(forwarded(&t), 1, "the kept approval runs the call once");
}

/// Found in review: the admin API stores a grid as given, and an action in `ask` without an
/// override of its own went through unasked. It now asks; and an approver's note that holds
/// an invisible or direction-changing character (which turns the audit sentence around) is
/// refused, as names are.
#[tokio::test]
async fn an_action_asked_for_through_the_api_without_its_own_switch_is_held_for_approval() {
    let t = app(None).await;
    let key = t.agent("Sales Agent", &["contacts=read"]).await;
    let admin = AdminApi::new(&t).await;
    let (status, grants) = admin
        .send(
            "PUT",
            "/admin/api/v1/agents/Sales%20Agent/grants",
            Some(json!({
                "levels": {"contacts": "read", "sequences": "full"},
                "ask": ["sequences.add_contacts"],
            })),
        )
        .await;
    assert_eq!(status, 200, "{grants}");
    assert_eq!(grants["overrides"], json!({}), "{grants}");
    t.sync().await;
    let asked = t.post(ADD, &key, add_body(&["c_1"])).await;
    let id = assert_pending(&asked);
    assert_eq!(forwarded(&t), 0, "nothing reaches Apollo before approval");
    for note in ["ok \u{202E}yfirev", "fine\u{200B}", "two\u{2028}lines"] {
        let (status, body) = admin.approve(&id, Some(note)).await;
        assert_eq!(status, 422, "{note:?}: {body}");
        assert!(
            body.to_string().contains("direction-changing"),
            "{note:?}: {body}"
        );
    }
    let (status, body) = admin.approve(&id, Some("Zoë says yes")).await;
    assert_eq!(status, 200, "{body}");
    // Approved, the call reaches Apollo (whose answer about the sequence is its own).
    let sent = t.post(ADD, &key, add_body(&["c_1"])).await;
    assert_ne!(sent.code(), "BOLLARD_APPROVAL_PENDING", "{}", sent.text);
    assert_eq!(forwarded(&t), 1, "{}", sent.text);
}

/// Found in review: an approved call that Apollo never received (no connection) used its
/// approval up, though the README promises an approval is used only by a call that is sent.
/// It is given back, the agent and the record say so, and the same call may try again; a
/// second try finds it still usable rather than asking again.
#[tokio::test]
async fn an_approved_call_that_never_reached_apollo_keeps_its_approval() {
    let t = TestApp::spawn_with(Options {
        approvals: Some(config(None, NotifyFormat::Json)),
        // Nothing listens there: the connection is refused before anything is sent.
        apollo_base_url: Some("http://127.0.0.1:1".into()),
        ..Options::default()
    })
    .await;
    let key = t.agent("Sales Agent", &["sequences=full:ask"]).await;
    let id = assert_pending(&t.post(ADD, &key, add_body(&["c_1"])).await);
    let admin = AdminApi::new(&t).await;
    assert_eq!(admin.approve(&id, None).await.0, 200);
    for attempt in 1..=2 {
        let failed = t.post(ADD, &key, add_body(&["c_1"])).await;
        assert_eq!(failed.status, 502, "attempt {attempt}: {}", failed.text);
        assert!(
            failed
                .error()
                .contains(&format!("The approval {id} was not used up")),
            "attempt {attempt}: {}",
            failed.error()
        );
        assert_eq!(
            failed.body["bollard"]["approval_kept"], true,
            "{}",
            failed.text
        );
        let outcome = t
            .audit_lines()
            .await
            .into_iter()
            .find(|l| l.record.request_id == failed.request_id() && l.record.kind == "outcome")
            .expect("an outcome record")
            .record;
        assert!(
            outcome
                .sentence
                .contains(&format!("The approval {id} was not used up")),
            "{}",
            outcome.sentence
        );
        assert_eq!(
            outcome.approval.as_ref().map(|a| a["state"].clone()),
            Some(json!("kept"))
        );
    }
}

/// An approval made before call hashes were keyed (a bare SHA-256, as rows from then hold)
/// matches no call now; the same call asks again, and is not told its approval is "for a
/// different call", which would be false (found in review).
#[tokio::test]
async fn an_approval_from_before_keyed_hashes_is_not_called_another_calls() {
    let (t, key, id) = approved_first_call().await;
    t.raw_sql("UPDATE approvals SET call_hash = substr(call_hash, 4)")
        .await;
    let again = t.post(ADD, &key, add_body(&["c_1"])).await;
    let new = assert_pending(&again);
    assert_ne!(new, id);
    assert!(
        !again.error().contains("is for a different call"),
        "{}",
        again.error()
    );
    assert_eq!(forwarded(&t), 0);
}
