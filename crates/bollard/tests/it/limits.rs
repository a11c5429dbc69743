//! Credit budgets and rate limits per agent: no budget no spend, reserve then settle, exact
//! under concurrency, windows on a controllable clock, a share of Apollo's team window, and
//! Apollo's own 429 passed through.

use bollard::ops;
use bollard::store::{Limits, RateLimits};
use serde_json::{Value, json};
use time::Duration;

use crate::helpers::{TestApp, WEBHOOK_PREFIX};

fn budget(day: u64) -> Limits {
    Limits {
        credits_per_day: Some(day),
        ..Limits::default()
    }
}

async fn spent_today(t: &TestApp, name: &str) -> (f64, f64) {
    let a = ops::find_agent(&*t.store, name).await.unwrap();
    let u = ops::agent_usage(&*t.store, &a, t.clock.now())
        .await
        .unwrap();
    let day = u.credits.iter().find(|c| c.period == "day").unwrap();
    (day.spent, day.reserved)
}

async fn a_person_id(t: &TestApp, key: &str) -> String {
    let s = t
        .post(
            "/api/v1/mixed_people/api_search",
            key,
            json!({"per_page": 1}),
        )
        .await;
    s.body["people"][0]["id"]
        .as_str()
        .expect("a person")
        .to_owned()
}

#[tokio::test]
async fn an_agent_without_a_budget_may_not_spend_credits() {
    let t = TestApp::spawn().await;
    let key = t
        .agent("Sales Agent", &["people=read", "organizations=read"])
        .await;
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"email": "a@example.com"}),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (403, "BOLLARD_BUDGET_EXHAUSTED"),
        "{}",
        a.text
    );
    let title = bollard_policy::by_id("people.enrich")
        .unwrap()
        .title
        .to_lowercase();
    assert_eq!(
        a.error(),
        format!(
            "Sales Agent may not {title}: it spends Apollo credits (up to 1 for this call) and Sales Agent has no credit budget. An admin can set one with: bollard limit \"Sales Agent\" --credits-per-day N"
        )
    );
    assert!(t.journal().is_empty());
    // Free actions need no budget.
    assert_eq!(
        t.post("/api/v1/mixed_people/api_search", &key, json!({}))
            .await
            .status,
        200
    );
    t.stop().await;
}

#[tokio::test]
async fn a_denial_says_what_the_call_could_cost_what_is_left_and_when_it_resets() {
    let t = TestApp::spawn().await;
    let key = t.agent("Researcher", &["people=read", "reveal=full"]).await;
    t.limits("Researcher", budget(5)).await;
    let details: Vec<Value> = (0..10)
        .map(|i| json!({"email": format!("p{i}@example.com")}))
        .collect();
    let a = t
        .post(
            "/api/v1/people/bulk_match",
            &key,
            json!({"details": details, "reveal_phone_number": true, "webhook_url": format!("{WEBHOOK_PREFIX}x")}),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (403, "BOLLARD_BUDGET_EXHAUSTED"),
        "{}",
        a.text
    );
    let e = a.error();
    assert!(e.contains("could cost up to 90 credits"), "{e}");
    assert!(e.contains("only 5 of its 5 daily credits are left"), "{e}");
    assert!(e.contains("resets at midnight UTC, in"), "{e}");
    assert!(t.journal().is_empty());
    let lines = t.audit_lines().await;
    let limits = lines[0]
        .record
        .limits
        .as_ref()
        .expect("the numbers are recorded")
        .to_string();
    assert!(
        limits.contains("0 credits of 5 this day committed (short)"),
        "{limits}"
    );
    t.stop().await;
}

#[tokio::test]
async fn credits_settle_to_what_apollo_really_charged() {
    let t = TestApp::spawn().await;
    let key = t
        .agent("Researcher", &["people=read", "organizations=read"])
        .await;
    t.limits("Researcher", budget(100)).await;
    let id = a_person_id(&t, &key).await;
    // A match costs 1.
    let a = t
        .post("/api/v1/people/match", &key, json!({"id": id}))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(spent_today(&t, "Researcher").await, (1.0, 0.0));
    // No match costs nothing.
    let a = t
        .post(
            "/api/v1/people/match",
            &key,
            json!({"email": "nobody-at-all@nowhere.invalid"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(spent_today(&t, "Researcher").await, (1.0, 0.0));
    // Bulk: what Apollo reports in credits_consumed.
    let a = t
        .post(
            "/api/v1/people/bulk_match",
            &key,
            json!({"details": [{"id": id}, {"email": "nobody@nowhere.invalid"}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let consumed = a.body["credits_consumed"].as_f64().unwrap();
    assert_eq!(spent_today(&t, "Researcher").await, (1.0 + consumed, 0.0));
    // A company search costs 1 per page returned; a company enrichment 1.
    let before = spent_today(&t, "Researcher").await.0;
    let s = t
        .post(
            "/api/v1/mixed_companies/search",
            &key,
            json!({"per_page": 5}),
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    let domain = s.body["organizations"][0]["primary_domain"]
        .as_str()
        .expect("a domain")
        .to_owned();
    assert_eq!(
        t.post(
            "/api/v1/organizations/enrich",
            &key,
            json!({"domain": domain})
        )
        .await
        .status,
        200
    );
    assert_eq!(spent_today(&t, "Researcher").await.0, before + 2.0);
    // A call that fails upstream costs nothing and releases its reservation.
    t.sandbox.faults().fail_next(1, 500);
    let a = t
        .post("/api/v1/people/match", &key, json!({"id": id}))
        .await;
    assert_eq!(a.status, 500);
    assert_eq!(spent_today(&t, "Researcher").await, (before + 2.0, 0.0));
    // Bollard's ledger and the sandbox's agree.
    assert_eq!(t.sandbox.credits().total(), before + 2.0);
    t.stop().await;
}

/// #19 item 5: a reveal of personal emails that finds none is not charged for them, by
/// Apollo or by Bollard's ledger, which therefore still matches Apollo's after many.
#[tokio::test]
async fn a_personal_email_reveal_that_finds_none_is_not_counted() {
    let t = TestApp::spawn().await;
    let key = t.agent("Revealer", &["people=full", "reveal=full"]).await;
    t.limits("Revealer", budget(1000)).await;
    let s = t
        .post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"per_page": 40}),
        )
        .await;
    let ids: Vec<String> = s.body["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let (mut found, mut none) = (0, 0);
    for id in &ids {
        let a = t
            .post(
                "/api/v1/people/match",
                &key,
                json!({"id": id, "reveal_personal_emails": true}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        match a.body["person"]["personal_emails"].as_array() {
            Some(e) if !e.is_empty() => found += 1,
            _ => none += 1,
        }
    }
    assert!(
        found > 0 && none > 0,
        "the sample has both: {found} and {none}"
    );
    let expected = ids.len() as f64 + f64::from(found);
    assert_eq!(spent_today(&t, "Revealer").await, (expected, 0.0));
    assert_eq!(t.sandbox.credits().total(), expected);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_calls_never_spend_more_than_the_budget() {
    let t = TestApp::spawn().await;
    let key = t.agent("Researcher", &["people=read"]).await;
    t.limits("Researcher", budget(20)).await;
    let id = a_person_id(&t, &key).await;
    let before = t.journal().len();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (client, url, key, id) = (
            t.client.clone(),
            t.agent_url("/api/v1/people/match"),
            key.clone(),
            id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("x-api-key", key)
                .json(&json!({"id": id}))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            200 => ok += 1,
            403 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, refused), (20, 80));
    assert_eq!(
        t.journal().len() - before,
        20,
        "only the calls the budget covered reached Apollo"
    );
    assert_eq!(spent_today(&t, "Researcher").await, (20.0, 0.0));
    t.stop().await;
}

#[tokio::test]
async fn request_windows_follow_the_clock() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    let mut actions = std::collections::BTreeMap::new();
    actions.insert(
        "people.search".to_owned(),
        RateLimits {
            per_hour: Some(4),
            ..RateLimits::default()
        },
    );
    t.limits(
        "Sales Agent",
        Limits {
            per_minute: Some(3),
            actions,
            ..Limits::default()
        },
    )
    .await;
    // Start at the top of an hour so neither window can roll over mid-test (from the top of a
    // minute, the run failed in the last two minutes of every hour).
    let now = t.clock.now();
    t.clock.advance(Duration::seconds(
        3600 - i64::from(now.minute()) * 60 - i64::from(now.second()),
    ));
    for _ in 0..3 {
        assert_eq!(
            t.post("/api/v1/mixed_people/api_search", &key, json!({}))
                .await
                .status,
            200
        );
    }
    let a = t
        .post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    assert_eq!(
        (a.status, a.code()),
        (429, "BOLLARD_RATE_LIMITED"),
        "{}",
        a.text
    );
    assert_eq!(a.headers["retry-after"], "60");
    assert_eq!(
        a.error(),
        "Sales Agent has used all 3 of its requests this minute; try again in 60 seconds."
    );
    t.clock.advance(Duration::seconds(30));
    assert_eq!(
        t.post("/api/v1/mixed_people/api_search", &key, json!({}))
            .await
            .headers["retry-after"],
        "30"
    );
    t.clock.advance(Duration::seconds(30));
    assert_eq!(
        t.post("/api/v1/mixed_people/api_search", &key, json!({}))
            .await
            .status,
        200
    );
    // The per-action hourly limit of 4 is now used up, though the minute is fresh.
    let a = t
        .post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    assert_eq!(a.status, 429, "{}", a.text);
    assert!(
        a.error()
            .contains("'Search the people database' requests this hour"),
        "{}",
        a.error()
    );
    // Refused calls are not counted: exactly 4 reached Apollo.
    assert_eq!(t.journal().len(), 4);
    let a = ops::find_agent(&*t.store, "Sales Agent").await.unwrap();
    let u = ops::agent_usage(&*t.store, &a, t.clock.now())
        .await
        .unwrap();
    let lines = u.lines(t.clock.now()).join("\n");
    assert!(
        lines.contains("4 of 4 people.search requests this hour"),
        "{lines}"
    );
    t.stop().await;
}

#[tokio::test]
async fn an_agent_with_a_share_of_the_team_window_is_stopped_before_the_team_is() {
    let t = TestApp::spawn().await;
    let key = t.agent("Runaway", &["people=read"]).await;
    t.limits(
        "Runaway",
        Limits {
            team_share_percent: Some(1),
            ..Limits::default()
        },
    )
    .await;
    // The sandbox's plan allows 200 a minute per endpoint, so 1% is 2 a minute. The first
    // answer teaches Bollard Apollo's limits.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let a = t
            .post("/api/v1/mixed_people/api_search", &key, json!({}))
            .await;
        if a.status == 429 {
            assert!(
                a.error().contains("1% share of the team's Apollo calls"),
                "{}",
                a.error()
            );
        }
        statuses.push(a.status);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    t.stop().await;
}

#[tokio::test]
async fn apollos_own_429_is_passed_through_and_recorded() {
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=read"]).await;
    t.sandbox.faults().rate_limit_next(1);
    let a = t
        .post("/api/v1/mixed_people/api_search", &key, json!({}))
        .await;
    assert_eq!(a.status, 429, "{}", a.text);
    assert!(a.headers.contains_key("retry-after"));
    assert!(
        a.body.get("message").is_some(),
        "Apollo's own body: {}",
        a.text
    );
    let s = t.last_sentence().await;
    assert!(s.contains("Apollo refused it with 429 (Apollo's team rate limit for this endpoint was reached; retry after"), "{s}");
    t.stop().await;
}

#[tokio::test]
async fn daily_and_monthly_budgets_and_the_daily_window_reset_on_the_clock() {
    let t = TestApp::spawn().await;
    let key = t.agent("Researcher", &["people=read"]).await;
    t.limits(
        "Researcher",
        Limits {
            per_day: Some(3),
            credits_per_day: Some(1),
            credits_per_month: Some(2),
            ..Limits::default()
        },
    )
    .await;
    let id = a_person_id(&t, &key).await; // one request of the day's three
    let enrich = || t.post("/api/v1/people/match", &key, json!({"id": id}));
    assert_eq!(enrich().await.status, 200);
    let a = enrich().await;
    assert_eq!(a.code(), "BOLLARD_BUDGET_EXHAUSTED", "{}", a.text);
    assert!(a.error().contains("daily credits"), "{}", a.error());
    // The third request of the day fits the window; the fourth does not.
    let a = enrich().await;
    assert_eq!(a.code(), "BOLLARD_RATE_LIMITED", "{}", a.text);
    assert!(a.error().contains("this day"), "{}", a.error());

    // Tomorrow (at the latest) the day's window and budget are fresh; the month's is not.
    let now = t.clock.now();
    let next_day = (now.date() + Duration::days(1)).midnight().assume_utc();
    t.clock.advance(next_day - now);
    let same_month = next_day.month() == now.month();
    assert_eq!(enrich().await.status, 200);
    if same_month {
        t.clock.advance(Duration::days(1));
        let a = enrich().await;
        assert!(a.error().contains("monthly credits"), "{}", a.text);
    }
    t.stop().await;
}

/// With the day's and the month's budgets both spent, the refusal names the month's: the
/// call is refused until then, not until midnight (found in review).
#[tokio::test]
async fn a_call_short_of_both_budgets_is_told_the_later_reset() {
    let t = TestApp::spawn().await;
    let key = t.agent("Researcher", &["people=read"]).await;
    t.limits(
        "Researcher",
        Limits {
            credits_per_day: Some(1),
            credits_per_month: Some(1),
            ..Limits::default()
        },
    )
    .await;
    let id = a_person_id(&t, &key).await;
    let enrich = || t.post("/api/v1/people/match", &key, json!({"id": id}));
    assert_eq!(enrich().await.status, 200);
    let a = enrich().await;
    assert_eq!(a.code(), "BOLLARD_BUDGET_EXHAUSTED", "{}", a.text);
    assert!(a.error().contains("monthly credits"), "{}", a.error());
    assert!(!a.error().contains("midnight"), "{}", a.error());
    t.stop().await;
}

/// #11 item 5: a plan whose prices are above the price table. The excess Apollo billed is
/// counted and said (it cannot be unspent), spending stops once over, and later reservations
/// use the price Apollo charged, until an admin forgets it.
#[tokio::test]
async fn a_plan_dearer_than_the_price_table_is_counted_stopped_and_learned() {
    use crate::helpers::Options;
    let t = TestApp::spawn_with(Options {
        sandbox_prices: Some(apollo_sandbox::Prices {
            person_match: 3.0,
            ..apollo_sandbox::Prices::default()
        }),
        ..Options::default()
    })
    .await;
    let key = t.agent("Researcher", &["people=read"]).await;
    t.limits("Researcher", budget(5)).await;
    let found = t
        .post(
            "/api/v1/mixed_people/api_search",
            &key,
            json!({"per_page": 2}),
        )
        .await;
    let ids: Vec<String> = found.body["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let two = json!({"details": [{"id": ids[0]}, {"id": ids[1]}]});
    // The table says 2; the plan bills 6, past the budget of 5.
    let a = t.post("/api/v1/people/bulk_match", &key, two.clone()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["credits_consumed"].as_f64(), Some(6.0));
    assert_eq!(spent_today(&t, "Researcher").await, (6.0, 0.0));
    let said = t.last_sentence().await;
    assert!(
        said.contains(
            "Apollo billed 6 credits for it, 4 credits more than the 2 credits Bollard reserved"
        ),
        "{said}"
    );
    let a = ops::find_agent(&*t.store, "Researcher").await.unwrap();
    let lines = ops::agent_usage(&*t.store, &a, t.clock.now())
        .await
        .unwrap()
        .lines(t.clock.now());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("6 of 5 credits today: 1 over the budget")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("up to 3x the price table")),
        "{lines:?}"
    );
    // Once over, nothing more is spent: refused, and not sent.
    let forwarded = t.journal().len();
    let a = t
        .post(
            "/api/v1/people/bulk_match",
            &key,
            json!({"details": [{"id": ids[0]}]}),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(a.code(), "BOLLARD_BUDGET_EXHAUSTED");
    assert_eq!(t.journal().len(), forwarded);
    // Learned: with 5 left (a budget of 11), two people now reserve 6 and are refused, where
    // the table's 2 would have been let through; one person reserves 3 and is allowed.
    t.limits("Researcher", budget(11)).await;
    let a = t.post("/api/v1/people/bulk_match", &key, two.clone()).await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(a.error().contains("up to 6 credits"), "{}", a.error());
    let a = t
        .post(
            "/api/v1/people/bulk_match",
            &key,
            json!({"details": [{"id": ids[0]}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(spent_today(&t, "Researcher").await, (9.0, 0.0));
    // Another replica on the same database reserves at the learned price too.
    let learned = ops::learned_prices(&*t.store).await.unwrap();
    assert_eq!(learned.len(), 1);
    assert_eq!(learned[0].action, "people.bulk_enrich");
    assert_eq!(learned[0].factor, 3.0);
    // Forgotten (on the record), the table's price is back: 2 fit in the 2 left.
    t.limits("Researcher", budget(11)).await;
    assert_eq!(
        ops::forget_learned_prices(&*t.store, &crate::helpers::tester())
            .await
            .unwrap(),
        1
    );
    let entries = ops::audit_lines(
        &*t.store,
        &bollard::store::AuditFilter {
            admin: Some(true),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .0;
    assert!(
        entries.iter().any(|e| e.record.sentence.contains(
            "forgot the price Apollo was seen to bill for 'Enrich people in bulk', so its calls reserve at the price table's price again"
        )),
        "the forgetting is on the record: {:?}",
        entries.iter().map(|e| &e.record.sentence).collect::<Vec<_>>()
    );
    let a = t
        .post(
            "/api/v1/people/bulk_match",
            &key,
            json!({"details": [{"id": ids[0]}], "reveal_personal_emails": false}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    t.stop().await;
}

/// #19 item 6: the server compares its ledger with Apollo's credit_usage_stats on its own,
/// puts the drift on record and on /metrics, and once per interval across replicas.
#[tokio::test]
async fn the_server_reconciles_its_ledger_with_apollos_credit_usage() {
    let t = TestApp::spawn_with(crate::helpers::Options {
        reconcile_every: Some(std::time::Duration::from_secs(1)),
        ..Default::default()
    })
    .await;
    let key = t.agent("Researcher", &["people=read"]).await;
    t.limits("Researcher", budget(100)).await;
    let id = a_person_id(&t, &key).await;
    let a = t
        .post("/api/v1/people/match", &key, json!({"id": id}))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // Someone spends 2 credits with the team's key straight at Apollo, outside Bollard.
    for _ in 0..2 {
        let r = t
            .client
            .post(format!("{}/api/v1/people/match", t.sandbox.base_url()))
            .header("x-api-key", t.sandbox.master_key())
            .json(&json!({"id": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let mut last = None;
    for _ in 0..200 {
        last = t.store.last_reconciliation().await.unwrap();
        if last.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = last.expect("the server reconciled within 10 s");
    assert_eq!((r.apollo_milli, r.bollard_milli), (3000, 1000));
    let reconciled = || async {
        ops::audit_lines(
            &*t.store,
            &bollard::store::AuditFilter {
                admin: Some(true),
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|e| e.record.sentence)
        .filter(|s| s.starts_with("Bollard's reconciliation compared"))
        .collect::<Vec<String>>()
    };
    let mut said = Vec::new();
    for _ in 0..100 {
        said = reconciled().await;
        if !said.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        said.len() == 1
            && said[0].contains(
                "Apollo counts 3 credits consumed, Bollard 1 credit this month; Apollo counts 2 credits more, spent outside Bollard"
            ),
        "{said:?}"
    );
    let metrics = t
        .client
        .get(format!("http://{}/metrics", t.app.admin_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("bollard_credits_drift 2.0"), "{metrics}");
    // The drift did not change: later intervals keep their figures without new entries.
    t.clock.advance(time::Duration::seconds(5));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let again = reconciled().await.len();
    assert_eq!(again, 1);
    assert!(t.store.last_reconciliation().await.unwrap().unwrap().bucket > r.bucket);
    t.stop().await;
}

/// #19 item 3: Apollo may do (and bill) the work and the answer still be lost. An outcome
/// Bollard did not see is not zero: the reservation stays counted as spent, and the record
/// says so, so a lossy edge cannot let an agent spend past its budget.
#[tokio::test]
async fn an_answer_lost_after_it_was_sent_stays_counted_as_spent() {
    let t = TestApp::spawn().await;
    let key = t.agent("Researcher", &["people=read"]).await;
    t.limits(
        "Researcher",
        Limits {
            credits_per_day: Some(2),
            ..Limits::default()
        },
    )
    .await;
    let id = a_person_id(&t, &key).await;
    let enrich = || t.post("/api/v1/people/match", &key, json!({"id": id}));
    t.sandbox.faults().drop_next(1);
    let lost = enrich().await;
    assert_eq!(lost.status, 502, "{}", lost.text);
    assert_eq!(enrich().await.status, 200);
    // Two of two credits counted: the lost call's and the answered one's.
    let a = enrich().await;
    assert_eq!(a.code(), "BOLLARD_BUDGET_EXHAUSTED", "{}", a.text);
    let lines = t.audit_lines().await;
    let outcome = lines
        .iter()
        .find(|l| l.record.kind == "outcome" && l.record.request_id == lost.request_id())
        .expect("the lost call's outcome is on record");
    assert_eq!(outcome.record.credits_used, Some(1.0));
    assert!(
        outcome
            .record
            .sentence
            .ends_with("Apollo may have done the work before the answer was lost, so its reservation of 1 credit stays counted as spent."),
        "{}",
        outcome.record.sentence
    );
    t.stop().await;
}

/// Found in review: a caller that went away between the credit reservation and the record (a
/// dropped connection, a timed-out request) dropped the gate's work half way, and the
/// reservation stayed held until the process restarted. Once in the gate, a call now runs to
/// its end on a task of its own: decided, recorded, forwarded, settled, recorded again.
#[tokio::test]
async fn a_caller_that_goes_away_leaves_its_call_on_record_and_no_credit_held() {
    use bollard::audit::sentence::Door;
    use bollard::gate::{Call, Target};
    let t = TestApp::spawn().await;
    let key = t.agent("Sales Agent", &["people=full"]).await;
    t.daily_budget("Sales Agent", 50).await;
    t.sync().await;
    let agent = ops::find_agent(&*t.store, "Sales Agent").await.unwrap();
    let day = bollard::limits::budget_periods(&agent.limits, time::OffsetDateTime::now_utc());
    let reserved = || async {
        t.store
            .budget_usage(&agent.id, &day)
            .await
            .unwrap()
            .iter()
            .map(|u| u.reserved_milli)
            .sum::<i64>()
    };
    for i in 0..5 {
        let request_id = format!("req_gone_{i}");
        let call = Call {
            door: Door::Mcp,
            request_id: request_id.clone(),
            source: None,
            key: Some(key.clone()),
            target: Target::Tool {
                name: "apollo_people_match".into(),
                arguments: json!({"email": format!("p{i}@acme.com")})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
        };
        // Polled once, then dropped: the caller is gone at once.
        let gone = tokio::time::timeout(std::time::Duration::ZERO, t.app.gate.call(call)).await;
        assert!(gone.is_err(), "the caller did not wait");
        let mut outcome = None;
        for _ in 0..250 {
            t.flush_audit().await;
            let lines = t.audit_lines().await;
            outcome = lines
                .into_iter()
                .find(|l| l.record.request_id == request_id && !l.outcome_missing);
            if outcome.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let line = outcome.unwrap_or_else(|| panic!("{request_id}: no outcome recorded"));
        assert_eq!(line.record.decision, "allowed", "{:?}", line.record);
    }
    assert_eq!(
        t.journal()
            .iter()
            .filter(|e| e.path.ends_with("/people/match"))
            .count(),
        5,
        "each call reached Apollo once"
    );
    assert_eq!(reserved().await, 0, "no credit is left held");
}
