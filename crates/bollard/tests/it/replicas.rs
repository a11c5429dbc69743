//! Two gateway replicas on one PostgreSQL database: a change made through one takes effect
//! on the other within a second, a budget is never overspent across them, and their audit
//! records form one chain that verifies.

use std::net::SocketAddr;
use std::time::Duration;

use apollo_sandbox::{PlanLimits, Sandbox, SandboxConfig};
use bollard::app::{self, App};
use bollard::audit::verify::verify;
use bollard::clock::Clock;
use bollard::config::Config;
use bollard::keys::Secret;
use bollard::ops;
use bollard::store::{self, Limits};
use serde_json::json;
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

/// A fresh database on the test PostgreSQL server, dropped when the guard goes.
pub(crate) struct PgDb {
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

impl PgDb {
    pub(crate) async fn create() -> PgDb {
        let admin_url = std::env::var("BOLLARD_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("bollard_it_{}", uuid::Uuid::new_v4().simple());
        let mut c = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL is running");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        PgDb {
            admin_url,
            name,
            url,
        }
    }

    pub(crate) async fn drop_db(self) {
        if let Ok(mut c) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c)
            .await;
        }
    }
}

async fn replica(db: &str, sandbox: &Sandbox, token: &CancellationToken) -> App {
    let mut config = Config {
        database_url: db.to_owned(),
        ..Config::default()
    };
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.apollo.base_url = sandbox.base_url();
    config.apollo.api_key = Some(Secret::new(sandbox.master_key()));
    app::start(config, None, Clock::system(), token.clone())
        .await
        .expect("replica starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_postgres_share_agents_budgets_and_one_audit_chain() {
    let db = PgDb::create().await;
    let mut sc = SandboxConfig::new(11);
    sc.limits = PlanLimits::unlimited();
    let sandbox = Sandbox::spawn(sc, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let admin = store::open(&db.url).await.unwrap();
    let created = ops::create_agent(
        &*admin,
        &crate::helpers::tester(),
        "Researcher",
        "",
        None,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let key = created.key.expose().to_owned();
    let token = CancellationToken::new();
    let a = replica(&db.url, &sandbox, &token).await;
    let b = replica(&db.url, &sandbox, &token).await;
    let client = reqwest::Client::new();
    let search = |app: &App| format!("http://{}/api/v1/mixed_people/api_search", app.agent_addr);

    // No grant yet: denied on both. Grant through the store (as the CLI does): both see it
    // within a second, without a restart.
    let r = client
        .post(search(&b))
        .header("x-api-key", &key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    ops::grant(
        &*admin,
        &crate::helpers::tester(),
        "Researcher",
        &["people=read".into()],
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for app in [&a, &b] {
        let r = client
            .post(search(app))
            .header("x-api-key", &key)
            .json(&json!({"per_page": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }

    // A budget of 20 credits, 60 concurrent matching enrichments spread over both replicas.
    let agent = ops::find_agent(&*admin, "Researcher").await.unwrap();
    ops::put_limits(
        &*admin,
        &crate::helpers::tester(),
        &agent,
        Limits {
            credits_per_day: Some(20),
            ..Limits::default()
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r: serde_json::Value = client
        .post(search(&a))
        .header("x-api-key", &key)
        .json(&json!({"per_page": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["people"][0]["id"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let url = format!(
            "http://{}/api/v1/people/match",
            if i % 2 == 0 {
                a.agent_addr
            } else {
                b.agent_addr
            }
        );
        let (client, key, id) = (client.clone(), key.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .header("x-api-key", key)
                .json(&json!({"id": id}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 20, "exactly the budget, across replicas");

    token.cancel();
    let _ = a.done.await;
    let _ = b.done.await;
    let report = verify(&*admin).await.unwrap();
    assert!(report.ok, "{}", report.sentence());
    assert!(
        report.checked > 60,
        "both replicas wrote to the one chain ({} entries)",
        report.checked
    );
    sandbox.shutdown().await;
    db.drop_db().await;
}

/// #19 item 9: a revocation made anywhere (here the CLI's way, straight in the store) reaches
/// a replica through PostgreSQL's NOTIFY, not the poll: this replica's poll is set to an hour,
/// so only the notification can make it refuse the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_reaches_another_replica_by_notification_at_once() {
    let db = PgDb::create().await;
    let sandbox = Sandbox::spawn(
        SandboxConfig::new(12),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let admin = store::open(&db.url).await.unwrap();
    let created = ops::create_agent(
        &*admin,
        &crate::helpers::tester(),
        "Researcher",
        "",
        None,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    ops::grant(
        &*admin,
        &crate::helpers::tester(),
        "Researcher",
        &["people=read".into()],
    )
    .await
    .unwrap();
    let key = created.key.expose().to_owned();
    let token = CancellationToken::new();
    let mut config = Config {
        database_url: db.url.clone(),
        directory_poll: Duration::from_secs(3600),
        ..Config::default()
    };
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.apollo.base_url = sandbox.base_url();
    config.apollo.api_key = Some(Secret::new(sandbox.master_key()));
    let b = app::start(config, None, Clock::system(), token.clone())
        .await
        .expect("replica starts");
    let client = reqwest::Client::new();
    let search = format!("http://{}/api/v1/mixed_people/api_search", b.agent_addr);
    let status = || async {
        client
            .post(&search)
            .header("x-api-key", &key)
            .json(&json!({"per_page": 1}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status().await, 200);
    ops::revoke_agent(
        &*admin,
        &crate::helpers::tester(),
        "Researcher",
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let mut refused = false;
    for _ in 0..100 {
        if status().await == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "the revocation never reached the replica");
    token.cancel();
    let _ = b.done.await;
    sandbox.shutdown().await;
    db.drop_db().await;
}
