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
    let v0 = o.oauth_version().await.unwrap();
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
    assert!(o.oauth_version().await.unwrap() > v0);
    assert!(matches!(
        o.set_client_status("bcl_nobody", "approved", t0()).await,
        Err(StoreError::NotFound(_))
    ));
}

pub(super) async fn oauth_codes_are_redeemed_once(s: &dyn Store) {
    let o = s.oauth();
    let code = NewCode {
        code_hash: "c1".into(),
        client_id: "bcl_1".into(),
        agent_id: "agt_a".into(),
        redirect_uri: "https://claude.ai/cb".into(),
        code_challenge: "x".repeat(43),
        resource: "https://bollard.example.com".into(),
        name: "Claude".into(),
        approved_by: "Dana".into(),
        created_at: t0(),
        expires_at: t0() + time::Duration::minutes(5),
    };
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
    assert!(matches!(
        o.rotate_refresh("r1", refresh("r3"), later).await.unwrap(),
        Rotated::Reused(c) if c.revoked_at.is_none()
    ));
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

pub(super) async fn oauth_connections_are_listed_and_revoked_by_agent_and_client(s: &dyn Store) {
    let o = s.oauth();
    o.open_connection("none", &connection("con_1", "bcl_1"), refresh("r1"))
        .await
        .unwrap();
    o.open_connection("none", &connection("con_2", "bcl_2"), refresh("r2"))
        .await
        .unwrap();
    assert_eq!(o.list_connections(Some("agt_a")).await.unwrap().len(), 2);
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
