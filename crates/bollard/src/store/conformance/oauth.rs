//! Conformance: the OAuth store (issue 13), on both backends.

use super::*;
use crate::store::oauth::{
    ConnectLink, Connection, NewCode, NewRefresh, OAuthClient, Redeemed, Rotated,
};

fn t0() -> OffsetDateTime {
    datetime!(2026-12-04 00:00:00 UTC)
}

fn client(id: &str) -> OAuthClient {
    OAuthClient {
        client_id: id.into(),
        name: "Claude".into(),
        redirect_uris: vec!["https://claude.ai/cb".into()],
        source: "registered".into(),
        status: "new".into(),
        created_at: t0(),
        updated_at: t0(),
    }
}

fn connection(id: &str, client_id: &str) -> Connection {
    Connection {
        id: id.into(),
        agent_id: "agt_a".into(),
        client_id: client_id.into(),
        name: "Claude (team)".into(),
        approved_by: "Dana".into(),
        created_at: t0(),
        refreshed_at: None,
        revoked_at: None,
        revoked_reason: None,
    }
}

/// A code made five minutes before it expires.
fn code(hash: &str, expires_at: OffsetDateTime) -> NewCode {
    NewCode {
        code_hash: hash.into(),
        client_id: "bcl_1".into(),
        agent_id: "agt_a".into(),
        redirect_uri: "https://claude.ai/cb".into(),
        code_challenge: "x".repeat(43),
        resource: "https://bollard.example.com".into(),
        name: "Claude".into(),
        approved_by: "Dana".into(),
        created_at: expires_at - time::Duration::minutes(5),
        expires_at,
    }
}

fn refresh(hash: &str) -> NewRefresh<'_> {
    NewRefresh {
        token_hash: hash,
        expires_at: t0() + time::Duration::days(30),
    }
}

pub(super) async fn oauth_clients_keep_their_status_when_their_document_is_read_again(
    s: &dyn Store,
) {
    let o = s.oauth();
    assert_eq!(
        o.put_client(&client("bcl_1")).await.unwrap(),
        client("bcl_1")
    );
    o.set_client_status("bcl_1", "blocked", t0()).await.unwrap();
    let mut again = client("bcl_1");
    again.name = "Claude 2".into();
    let stored = o.put_client(&again).await.unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.status.as_str()),
        ("Claude 2", "blocked")
    );
    assert_eq!(o.list_clients().await.unwrap().len(), 1);
    assert_eq!(
        o.registered_since(t0() - time::Duration::hours(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(o.registered_since(t0()).await.unwrap(), 0);
    assert!(matches!(
        o.set_client_status("bcl_nobody", "approved", t0()).await,
        Err(StoreError::NotFound(_))
    ));
}

pub(super) async fn oauth_codes_are_redeemed_once(s: &dyn Store) {
    let o = s.oauth();
    let code = code("c1", t0() + time::Duration::minutes(5));
    o.create_code(&code).await.unwrap();
    assert_eq!(
        o.redeem_code("c1", t0()).await.unwrap(),
        Redeemed::Fresh(code)
    );
    assert_eq!(
        o.redeem_code("c1", t0()).await.unwrap(),
        Redeemed::Reused(None)
    );
    o.open_connection("c1", &connection("con_1", "bcl_1"), refresh("r1"))
        .await
        .unwrap();
    assert_eq!(
        o.redeem_code("c1", t0()).await.unwrap(),
        Redeemed::Reused(Some("con_1".into())),
        "a reused code names what its first use made"
    );
    assert_eq!(
        o.redeem_code("nope", t0()).await.unwrap(),
        Redeemed::Unknown
    );
}

pub(super) async fn oauth_refresh_tokens_rotate_once_and_reuse_revokes(s: &dyn Store) {
    let o = s.oauth();
    o.open_connection("none", &connection("con_1", "bcl_1"), refresh("r1"))
        .await
        .unwrap();
    let later = t0() + time::Duration::hours(1);
    assert!(matches!(
        o.rotate_refresh("r1", refresh("r2"), later).await.unwrap(),
        Rotated::Rotated(c) if c.id == "con_1"
    ));
    assert_eq!(
        o.connection("con_1").await.unwrap().unwrap().refreshed_at,
        Some(later)
    );
    assert!(o.refresh_spent("r1").await.unwrap());
    assert!(!o.refresh_spent("r2").await.unwrap());
    assert!(!o.refresh_spent("r9").await.unwrap(), "one not known");
    let v = s.config_version().await.unwrap();
    assert!(matches!(
        o.rotate_refresh("r1", refresh("r3"), later).await.unwrap(),
        Rotated::Reused(c) if c.revoked_at.is_none()
    ));
    assert!(
        s.config_version().await.unwrap() > v,
        "a reuse ends the connection: an admin change replicas hear of"
    );
    let c = o.connection("con_1").await.unwrap().unwrap();
    assert_eq!(c.revoked_at, Some(later));
    assert_eq!(c.revoked_reason.as_deref(), Some("refresh token reused"));
    assert!(matches!(
        o.rotate_refresh("r2", refresh("r4"), later).await.unwrap(),
        Rotated::Revoked(_)
    ));
    assert_eq!(
        o.rotate_refresh("r9", refresh("r5"), later).await.unwrap(),
        Rotated::Unknown
    );
    // Expiry.
    o.open_connection("none", &connection("con_2", "bcl_1"), refresh("e1"))
        .await
        .unwrap();
    assert!(matches!(
        o.rotate_refresh("e1", refresh("e2"), t0() + time::Duration::days(31))
            .await
            .unwrap(),
        Rotated::Expired(_)
    ));
    assert_eq!(
        o.connection_of_refresh("e1").await.unwrap().map(|c| c.id),
        Some("con_2".into())
    );
}

/// Two rotations of one refresh token at once: one rotates, the other is a reuse that ends
/// the connection (found in review: on PostgreSQL both rotated).
pub(super) async fn oauth_a_refresh_token_rotated_twice_at_once_rotates_once(s: &dyn Store) {
    let o = s.oauth();
    let later = t0() + time::Duration::hours(1);
    for round in 0..8 {
        let (con, old) = (format!("con_p{round}"), format!("p{round}"));
        o.open_connection("none", &connection(&con, "bcl_1"), refresh(&old))
            .await
            .unwrap();
        let (a, b) = (format!("p{round}a"), format!("p{round}b"));
        let (x, y) = tokio::join!(
            o.rotate_refresh(&old, refresh(&a), later),
            o.rotate_refresh(&old, refresh(&b), later)
        );
        let outcomes = [x.unwrap(), y.unwrap()];
        let rotated = outcomes
            .iter()
            .filter(|r| matches!(r, Rotated::Rotated(_)))
            .count();
        let reused = outcomes
            .iter()
            .filter(|r| matches!(r, Rotated::Reused(_)))
            .count();
        assert_eq!((rotated, reused), (1, 1), "round {round}: {outcomes:?}");
        let c = o.connection(&con).await.unwrap().unwrap();
        assert_eq!(c.revoked_reason.as_deref(), Some("refresh token reused"));
    }
}

pub(super) async fn oauth_connections_are_listed_and_revoked_by_agent_and_client(s: &dyn Store) {
    let o = s.oauth();
    let v0 = s.config_version().await.unwrap();
    o.open_connection("none", &connection("con_1", "bcl_1"), refresh("r1"))
        .await
        .unwrap();
    o.open_connection("none", &connection("con_2", "bcl_2"), refresh("r2"))
        .await
        .unwrap();
    let v1 = s.config_version().await.unwrap();
    assert!(
        v1 > v0,
        "opening a connection is an admin change replicas hear of"
    );
    assert_eq!(o.list_connections(Some("agt_a")).await.unwrap().len(), 2);
    assert_eq!(o.live_connections().await.unwrap().len(), 2);
    assert!(o.list_connections(Some("agt_b")).await.unwrap().is_empty());
    let first = o
        .revoke_connection("con_1", t0(), "why")
        .await
        .unwrap()
        .unwrap();
    let again = o
        .revoke_connection("con_1", t0() + time::Duration::hours(1), "other")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first, again,
        "revoking twice keeps the first time and reason"
    );
    assert!(s.config_version().await.unwrap() > v1, "so is ending one");
    let live: Vec<String> = o
        .live_connections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(live, ["con_2"]);
    assert!(
        o.revoke_connection("con_x", t0(), "x")
            .await
            .unwrap()
            .is_none()
    );
    let ended = o
        .revoke_client_connections("bcl_2", t0(), "blocked")
        .await
        .unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].id, "con_2");
    assert!(o.live_connections().await.unwrap().is_empty());
}

pub(super) async fn oauth_connect_links_work_once_until_they_expire(s: &dyn Store) {
    let o = s.oauth();
    let link = ConnectLink {
        agent_id: "agt_a".into(),
        created_by: "Dana".into(),
        created_at: t0(),
        expires_at: t0() + time::Duration::hours(1),
    };
    o.create_link("l1", &link).await.unwrap();
    o.create_link("l2", &link).await.unwrap();
    assert_eq!(o.peek_link("l1", t0()).await.unwrap(), Some(link.clone()));
    assert_eq!(o.take_link("l1", t0()).await.unwrap(), Some(link.clone()));
    assert_eq!(o.take_link("l1", t0()).await.unwrap(), None, "once");
    assert_eq!(o.peek_link("l1", t0()).await.unwrap(), None);
    let late = t0() + time::Duration::hours(2);
    assert_eq!(o.take_link("l2", late).await.unwrap(), None, "expired");
}

pub(super) async fn oauth_purges_spent_secrets_in_bounded_batches(s: &dyn Store) {
    let o = s.oauth();
    let now = t0() + time::Duration::days(40);
    let evidence_since = now - time::Duration::days(1);
    // Codes: two expired long ago (one spent), one spent but still evidence, one fresh.
    for (hash, expires_at) in [
        ("c_old1", t0()),
        ("c_old2", t0() + time::Duration::minutes(1)),
        ("c_recent", now - time::Duration::hours(2)),
        ("c_fresh", now + time::Duration::minutes(5)),
    ] {
        o.create_code(&code(hash, expires_at)).await.unwrap();
    }
    o.redeem_code("c_old1", t0()).await.unwrap();
    o.redeem_code("c_recent", now - time::Duration::hours(3))
        .await
        .unwrap();
    // Refresh tokens: rotated long ago, rotated an hour ago, expired, live, and the live
    // token of a connection revoked long ago.
    let far = now + time::Duration::days(30);
    let token = |token_hash, expires_at| NewRefresh {
        token_hash,
        expires_at,
    };
    let opened = [
        ("con_1", "r_old", far),
        ("con_2", "r_expired", now - time::Duration::seconds(1)),
        ("con_3", "r_revoked", far),
    ];
    for (id, hash, until) in opened {
        o.open_connection("none", &connection(id, "bcl_1"), token(hash, until))
            .await
            .unwrap();
    }
    let rotations = [
        ("r_old", "r_mid", now - time::Duration::days(3)),
        ("r_mid", "r_live", now - time::Duration::hours(1)),
    ];
    for (old, new, at) in rotations {
        o.rotate_refresh(old, token(new, far), at).await.unwrap();
    }
    o.revoke_connection("con_3", now - time::Duration::days(2), "why")
        .await
        .unwrap();
    // Links: used, expired, live.
    let link = |expires_at| ConnectLink {
        agent_id: "agt_a".into(),
        created_by: "Dana".into(),
        created_at: t0(),
        expires_at,
    };
    o.create_link("l_used", &link(far)).await.unwrap();
    o.take_link("l_used", now).await.unwrap();
    o.create_link("l_expired", &link(now)).await.unwrap();
    o.create_link("l_live", &link(far)).await.unwrap();

    // A batch of one deletes one row a table, no more.
    let first = o.purge(now, evidence_since, 1).await.unwrap();
    assert_eq!(
        (first.codes, first.refresh_tokens, first.links),
        (1, 1, 1),
        "bounded by the batch"
    );
    let mut total = first;
    loop {
        let p = o.purge(now, evidence_since, 1).await.unwrap();
        if p.total() == 0 {
            break;
        }
        total.codes += p.codes;
        total.refresh_tokens += p.refresh_tokens;
        total.links += p.links;
    }
    assert_eq!(
        (total.codes, total.refresh_tokens, total.links),
        (2, 3, 2),
        "two old codes; the old rotated, expired and revoked tokens; used and expired links"
    );
    // What is left still works as it did.
    assert!(matches!(
        o.redeem_code("c_fresh", now).await.unwrap(),
        Redeemed::Fresh(_)
    ));
    assert_eq!(
        o.redeem_code("c_recent", now).await.unwrap(),
        Redeemed::Reused(None),
        "a code spent recently is still evidence of reuse"
    );
    assert_eq!(
        o.redeem_code("c_old1", now).await.unwrap(),
        Redeemed::Unknown
    );
    assert!(o.peek_link("l_live", now).await.unwrap().is_some());
    assert_eq!(
        o.connection_of_refresh("r_old").await.unwrap(),
        None,
        "purged"
    );
    assert!(
        matches!(
            o.rotate_refresh("r_mid", token("r_x", far), now)
                .await
                .unwrap(),
            Rotated::Reused(c) if c.id == "con_1"
        ),
        "a token rotated an hour ago is still evidence of reuse"
    );
    assert_eq!(o.connection_of_refresh("r_revoked").await.unwrap(), None);
    // Nothing more to purge.
    assert_eq!(o.purge(now, evidence_since, 100).await.unwrap().total(), 0);
}
