//! The webhook relay (#11), end to end: Apollo's (the sandbox's) later delivery of phone
//! numbers comes to Bollard's single-use address, is recorded and checked against the agent's
//! grants at that moment, then forwarded to the agent's own address, retried when that fails.

use std::time::Duration;

use bollard::ops;
use bollard::relay::RelayConfig;
use serde_json::{Value, json};

use crate::helpers::{Options, Receiver, RelayOptions, TestApp};

async fn relayed_app(receiver: &Receiver, webhook_delay: Duration) -> TestApp {
    TestApp::spawn_with(Options {
        relay: Some(RelayOptions {
            webhook_prefixes: vec![receiver.prefix.clone()],
            config: RelayConfig {
                first_retry: Duration::from_millis(100),
                keep_undelivered: Duration::from_secs(5),
                ..RelayConfig::default()
            },
            sandbox_webhook_delay: webhook_delay,
        }),
        ..Options::default()
    })
    .await
}

/// An agent that may reveal, and the id of a person with a mobile number.
async fn revealer(t: &TestApp) -> (String, String) {
    let key = t
        .agent("Sales Agent", &["people=full", "reveal=full"])
        .await;
    t.daily_budget("Sales Agent", 1000).await;
    let id = person(t, &key, true).await;
    (key, id)
}

/// The id of a person with (or without) a mobile number.
async fn person(t: &TestApp, key: &str, with_mobile: bool) -> String {
    let s = t
        .post(
            "/api/v1/mixed_people/api_search",
            key,
            json!({"per_page": 100}),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    s.body["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| (p["has_direct_phone"] == "Yes") == with_mobile)
        .and_then(|p| p["id"].as_str())
        .expect("a person with or without a mobile, as asked")
        .to_owned()
}

fn request_id(a: &crate::helpers::Answer) -> String {
    a.headers[bollard::rest::REQUEST_ID_HEADER]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The address the sandbox was given for the call's delivery.
fn forwarded_webhook(t: &TestApp) -> String {
    t.journal()
        .iter()
        .rev()
        .find(|e| e.path.ends_with("/people/match"))
        .and_then(|e| e.args["webhook_url"].as_str().map(str::to_owned))
        .expect("the call reached the sandbox with a webhook_url")
}

/// Every entry's sentence, decisions and outcomes alike, oldest first.
async fn sentences(t: &TestApp) -> Vec<String> {
    t.flush_audit().await;
    let entries = t.store.audit_range(0, 0).await.unwrap();
    entries
        .iter()
        .filter(|e| e.kind != "admin")
        .map(|e| {
            let v: Value = serde_json::from_str(&e.content).unwrap();
            v["sentence"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

async fn sentences_with(t: &TestApp, needle: &str) -> Vec<String> {
    sentences(t)
        .await
        .into_iter()
        .filter(|s| s.contains(needle))
        .collect()
}

async fn wait_for_sentence(t: &TestApp, needle: &str) -> String {
    for _ in 0..400 {
        if let Some(s) = sentences_with(t, needle).await.pop() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let all = sentences(t).await;
    panic!("no audit sentence contains {needle:?}: {all:#?}");
}

#[tokio::test]
async fn apollos_delivery_comes_through_the_relay_recorded_retried_and_forwarded_once() {
    let receiver = Receiver::start(1).await;
    let t = relayed_app(&receiver, Duration::from_millis(50)).await;
    let (key, id) = revealer(&t).await;
    let agents_hook = format!("{}sales-agent?secret=s3cr3t", receiver.prefix);
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"id": id, "reveal_phone_number": true, "webhook_url": agents_hook}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    // Apollo was given Bollard's single-use address, never the agent's.
    let relay = forwarded_webhook(&t);
    let public = format!("http://{}/hooks/relay/", t.app.agent_addr);
    assert!(relay.starts_with(&public), "{relay}");
    assert!(!relay.contains("s3cr3t"), "{relay}");

    // The agent's address refused once; the relay tried again and it arrived, once, with
    // the numbers (this agent may reveal) and nothing of the relay's address.
    let got = receiver.wait_for(1).await;
    let delivery = &got[0];
    let numbers = delivery["people"][0]["phone_numbers"].as_array().unwrap();
    assert_eq!(numbers.len(), 1, "{delivery}");
    let raw = numbers[0]["raw_number"].as_str().unwrap().to_owned();
    assert!(
        !delivery.to_string().contains("/hooks/relay/"),
        "{delivery}"
    );
    assert_eq!(*receiver.tries.lock().unwrap(), 2);

    let decided = wait_for_sentence(&t, "relayed to its webhook").await;
    assert!(
        decided.starts_with("Apollo delivered 1 phone number for a person at ")
            && decided.contains(&format!("for Sales Agent's call {}", request_id(&a)))
            && decided.ends_with("(people.enrich): relayed to its webhook at 127.0.0.1."),
        "{decided}"
    );
    let outcome = wait_for_sentence(&t, "delivered to its webhook").await;
    assert!(outcome.ends_with("after 2 attempts."), "{outcome}");
    // The call's own record says where the delivery goes.
    let call = wait_for_sentence(&t, "relay address as its webhook_url").await;
    assert!(
        call.starts_with("Sales Agent, over REST, asked to reveal phone numbers for the person ")
            && call.ends_with(
                ": allowed. Sending it to Apollo, with Bollard's relay address as its webhook_url."
            ),
        "{call}"
    );

    // The address takes one delivery: Apollo (or anyone) sending again gets 410, recorded,
    // and the agent receives nothing more.
    let again = t
        .client
        .post(&relay)
        .json(&json!({"people": [{"phone_numbers": [{"raw_number": "+1 999"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 410);
    let unknown = t
        .client
        .post(format!("{public}{}", "0".repeat(64)))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let refused = wait_for_sentence(&t, "takes one delivery and had one").await;
    assert!(refused.contains("Sales Agent's call"), "{refused}");
    assert_eq!(
        sentences_with(&t, "A delivery to an unknown relay address was refused")
            .await
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got().len(), 1);

    // Nothing of the delivery, the agent's secret or the relay's token is on disk in clear.
    t.flush_audit().await;
    let token = relay.rsplit('/').next().unwrap().to_owned();
    let mut disk = std::fs::read(&t.db_path).unwrap();
    if let Ok(wal) = std::fs::read(t.db_path.with_extension("db-wal")) {
        disk.extend(wal);
    }
    let disk = String::from_utf8_lossy(&disk);
    for secret in [raw.as_str(), token.as_str()] {
        assert!(!disk.contains(secret), "{secret} is on disk in clear");
    }
}

#[tokio::test]
async fn a_delivery_follows_the_agents_grants_at_the_time_it_arrives() {
    let receiver = Receiver::start(0).await;
    // Apollo delivers 600 ms later: time for an admin to change their mind.
    let t = relayed_app(&receiver, Duration::from_millis(600)).await;
    let (key, id) = revealer(&t).await;
    let call = |hook: &str| json!({"id": id, "reveal_phone_number": true, "webhook_url": format!("{}{hook}", receiver.prefix)});

    // Reveal turned off in between: forwarded without the numbers, and the record says so.
    let a = t.post("/api/v1/people/match", &key, call("one")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    t.agent_grants("Sales Agent", &["reveal=off"]).await;
    let got = receiver.wait_for(1).await;
    let person = &got[0]["people"][0];
    assert!(person.get("phone_numbers").is_none(), "{person}");
    assert!(
        person.get("id").is_some(),
        "the rest of the delivery is kept: {person}"
    );
    let redacted = wait_for_sentence(&t, "without the phone numbers and emails").await;
    assert!(
        redacted.ends_with("because Sales Agent may no longer reveal personal data."),
        "{redacted}"
    );

    // Revoked in between: nothing is forwarded, and the record says why.
    t.agent_grants("Sales Agent", &["reveal=full"]).await;
    let b = t.post("/api/v1/people/match", &key, call("two")).await;
    assert_eq!(b.status, 200, "{}", b.text);
    ops::revoke_agent(
        &*t.store,
        &crate::helpers::tester(),
        "Sales Agent",
        t.clock.now(),
    )
    .await
    .unwrap();
    t.sync().await;
    let dropped = wait_for_sentence(&t, "not forwarded, because Sales Agent was revoked").await;
    assert!(
        dropped.contains(&format!("for Sales Agent's call {}", request_id(&b))),
        "{dropped}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.got().len(),
        1,
        "the revoked agent received nothing"
    );
}

#[tokio::test]
async fn an_address_that_never_answers_is_given_up_on_and_recorded() {
    let receiver = Receiver::start(usize::MAX).await;
    let t = TestApp::spawn_with(Options {
        relay: Some(RelayOptions {
            webhook_prefixes: vec![receiver.prefix.clone()],
            config: RelayConfig {
                first_retry: Duration::from_millis(100),
                keep_undelivered: Duration::from_secs(1),
                ..RelayConfig::default()
            },
            sandbox_webhook_delay: Duration::from_millis(20),
        }),
        ..Options::default()
    })
    .await;
    let (key, id) = revealer(&t).await;
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"id": id, "reveal_phone_number": true, "webhook_url": format!("{}x", receiver.prefix)}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let gave_up = wait_for_sentence(&t, "not delivered to its webhook").await;
    assert!(
        gave_up.contains(": it answered 503 to ")
            && gave_up.ends_with(
                " attempts; the delivery was dropped after 1 second (it is kept in memory only, never on disk)."
            ),
        "{gave_up}"
    );
    assert!(*receiver.tries.lock().unwrap() >= 2);
    assert!(receiver.got().is_empty());
}

#[tokio::test]
async fn without_public_url_the_agents_own_webhook_reaches_apollo_as_before() {
    let t = TestApp::spawn().await;
    let key = t
        .agent("Sales Agent", &["people=full", "reveal=full"])
        .await;
    t.daily_budget("Sales Agent", 1000).await;
    let hook = format!("{}agent", crate::helpers::WEBHOOK_PREFIX);
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"domain": "acme.com", "first_name": "Ada", "last_name": "L", "reveal_phone_number": true, "webhook_url": hook}),
        )
        .await;
    assert!(a.status == 200 || a.status == 422, "{}", a.text);
    assert_eq!(forwarded_webhook(&t), hook);
    let relay = t
        .client
        .post(t.agent_url(&format!("/hooks/relay/{}", "0".repeat(64))))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    // Not a route without `public_url`: an unknown path, refused before any key is read.
    assert_eq!(relay.status().as_u16(), 401);
}

/// #19 item 5: a phone reveal for a person Apollo has no mobile number for. Apollo charges
/// the match and not the phone, and says so only in its later delivery; the relay gives the
/// phone's credits back to the budget, and the delivery's record says so.
#[tokio::test]
async fn a_phone_reveal_that_delivers_no_number_releases_its_phone_credits() {
    let receiver = Receiver::start(0).await;
    let t = relayed_app(&receiver, Duration::from_millis(50)).await;
    let (key, _) = revealer(&t).await;
    let id = person(&t, &key, false).await;
    let charged_before = t.sandbox.credits().total();
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"id": id, "reveal_phone_number": true, "webhook_url": receiver.url()}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let spent = || async {
        let agent = ops::find_agent(&*t.store, "Sales Agent").await.unwrap();
        let u = ops::agent_usage(&*t.store, &agent, t.clock.now())
            .await
            .unwrap();
        u.credits.iter().find(|c| c.period == "day").unwrap().spent
    };
    assert_eq!(
        spent().await,
        9.0,
        "the match and the phone, counted at the call"
    );

    let got = receiver.wait_for(1).await;
    assert!(
        got[0]["people"][0]["phone_numbers"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{}",
        got[0]
    );
    let said = wait_for_sentence(&t, "It carried no phone number").await;
    assert!(
        said.starts_with("Apollo delivered no phone number or email for a person")
            && said.ends_with(
                "It carried no phone number, and Apollo charges for one only when it finds it, so the 8 credits counted for the phone went back to the budget."
            ),
        "{said}"
    );
    assert_eq!(spent().await, 1.0, "only the match stays counted");
    assert_eq!(
        t.sandbox.credits().total() - charged_before,
        1.0,
        "what Apollo charged"
    );
    t.stop().await;
}
