//! Conformance: agents, rules, admin keys, settings and the config version.

use super::*;

// --- agents -------------------------------------------------------------------------------

pub(super) async fn reports_a_current_schema_and_takes_a_write(s: &dyn Store) {
    assert_eq!(s.readiness().await.unwrap(), SchemaState::Current);
}

pub(super) async fn creates_an_agent_with_an_agt_id_no_grants_and_no_limits(s: &dyn Store) {
    let before = OffsetDateTime::now_utc();
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    assert!(a.id.starts_with("agt_") && a.id.len() == 36, "{}", a.id);
    assert_eq!(a.name, "Sales Agent");
    assert_eq!(a.description, "Sales Agent does things");
    assert_eq!(a.key_prefix, "bol_agent_3f9a");
    assert!(a.created_at >= before && a.created_at <= OffsetDateTime::now_utc());
    assert_eq!((a.expires_at, a.revoked_at), (None, None));
    assert_eq!(a.grants, Grants::default());
    assert_eq!(a.limits, Limits::default());
    assert_eq!(
        s.find_agent(&a.id).await.unwrap(),
        Some(a),
        "reads back equal, to the nanosecond"
    );
}

pub(super) async fn finds_an_agent_by_id_or_by_name_in_any_case(s: &dyn Store) {
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    let b = s.create_agent(new_agent("Ünïcode Bot")).await.unwrap();
    for q in [a.id.as_str(), "Sales Agent", "sales agent", "SALES AGENT"] {
        assert_eq!(
            s.find_agent(q).await.unwrap().map(|x| x.id),
            Some(a.id.clone()),
            "{q}"
        );
    }
    assert_eq!(
        s.find_agent("ÜNÏCODE BOT").await.unwrap().map(|x| x.id),
        Some(b.id)
    );
    assert_eq!(s.find_agent("Sales").await.unwrap(), None);
    assert_eq!(
        s.find_agent(&a.id.to_uppercase()).await.unwrap(),
        None,
        "ids are exact"
    );
    assert_eq!(s.find_agent("agt_0000").await.unwrap(), None);
}

pub(super) async fn refuses_a_second_agent_with_the_same_name_in_any_case(s: &dyn Store) {
    s.create_agent(new_agent("Sales Agent")).await.unwrap();
    let version = s.config_version().await.unwrap();
    let mut again = new_agent("sales AGENT");
    again.key_hash = key("another key");
    let msg = conflict(s.create_agent(again).await);
    assert_eq!(
        msg,
        "An agent named 'sales AGENT' already exists; choose another name."
    );
    assert_eq!(s.list_agents().await.unwrap().len(), 1);
    assert_eq!(
        s.config_version().await.unwrap(),
        version,
        "a refused change changes nothing"
    );
}

pub(super) async fn reports_unknown_agents_as_not_found(s: &dyn Store) {
    let id = "agt_missing";
    let msg = not_found(s.update_agent(id, AgentPatch::default()).await);
    assert_eq!(msg, "No agent has the id 'agt_missing'.");
    not_found(s.revoke_agent(id, T0).await);
    not_found(s.rotate_agent_key(id, key("k"), "bol_agent_0000").await);
    not_found(
        s.set_grants(id, &Grants::default(), &Grants::default())
            .await,
    );
    not_found(
        s.set_limits(id, &Limits::default(), &Limits::default())
            .await,
    );
    not_found(
        s.add_rule(id, "r", "forbid(principal, action, resource);")
            .await,
    );
    not_found(s.list_rules(id).await);
    not_found(s.remove_rule(id, "r").await);
    assert_eq!(s.config_version().await.unwrap(), 0, "nothing was changed");
}

pub(super) async fn lists_agents_and_their_key_hashes_in_creation_order(s: &dyn Store) {
    let mut ids = Vec::new();
    for name in ["c", "a", "b"] {
        ids.push(s.create_agent(new_agent(name)).await.unwrap().id);
    }
    let listed: Vec<String> = s
        .list_agents()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(listed, ids);
    let keys = s.agent_keys().await.unwrap();
    let pairs: Vec<([u8; 32], String)> = keys.into_iter().map(|(k, a)| (k, a.name)).collect();
    assert_eq!(
        pairs,
        vec![
            (key("key of c"), "c".into()),
            (key("key of a"), "a".into()),
            (key("key of b"), "b".into())
        ]
    );
}

pub(super) async fn updates_name_description_and_expiry(s: &dyn Store) {
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    let expiry = datetime!(2030-01-02 03:04:05.000000007 UTC);
    let patch = AgentPatch {
        name: None,
        description: None,
        expires_at: Some(Some(expiry)),
    };
    let b = s.update_agent(&a.id, patch).await.unwrap();
    assert_eq!(b.expires_at, Some(expiry));
    assert_eq!(
        (b.name.as_str(), b.description.as_str()),
        ("Sales Agent", "Sales Agent does things")
    );

    let patch = AgentPatch {
        name: Some("Lead Logger".into()),
        description: Some("logs leads".into()),
        expires_at: None,
    };
    let c = s.update_agent(&a.id, patch).await.unwrap();
    assert_eq!(
        (c.name.as_str(), c.description.as_str(), c.expires_at),
        ("Lead Logger", "logs leads", Some(expiry))
    );
    assert_eq!(s.find_agent("lead logger").await.unwrap(), Some(c.clone()));
    assert_eq!(
        s.find_agent("Sales Agent").await.unwrap(),
        None,
        "the old name is free"
    );

    let d = s
        .update_agent(
            &a.id,
            AgentPatch {
                expires_at: Some(None),
                ..AgentPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(d.expires_at, None, "Some(None) removes the expiry");
    assert_eq!((d.created_at, d.key_prefix), (a.created_at, a.key_prefix));
}

pub(super) async fn refuses_renaming_an_agent_onto_another_agents_name(s: &dyn Store) {
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    let b = s.create_agent(new_agent("Other")).await.unwrap();
    let msg = conflict(
        s.update_agent(
            &b.id,
            AgentPatch {
                name: Some("SALES agent".into()),
                ..AgentPatch::default()
            },
        )
        .await,
    );
    assert_eq!(
        msg,
        "An agent named 'SALES agent' already exists; choose another name."
    );
    assert_eq!(s.find_agent(&b.id).await.unwrap().unwrap().name, "Other");
    let renamed = s
        .update_agent(
            &a.id,
            AgentPatch {
                name: Some("SALES AGENT".into()),
                ..AgentPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        renamed.name, "SALES AGENT",
        "an agent may change the case of its own name"
    );
}

pub(super) async fn revokes_an_agent_once_keeping_the_first_time(s: &dyn Store) {
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    let revoked = s.revoke_agent(&a.id, T0).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(T0));
    let again = s
        .revoke_agent(&a.id, datetime!(2026-01-01 0:00 UTC))
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(T0));
    assert_eq!(
        s.find_agent("sales agent")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(T0)
    );
    let (_, listed) = s.agent_keys().await.unwrap().remove(0);
    assert_eq!(
        listed.revoked_at,
        Some(T0),
        "the key table sees revoked agents, to refuse them"
    );
}

pub(super) async fn rotates_an_agent_key_replacing_hash_and_prefix(s: &dyn Store) {
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    let rotated = s
        .rotate_agent_key(&a.id, key("new key"), "bol_agent_77aa")
        .await
        .unwrap();
    assert_eq!(rotated.key_prefix, "bol_agent_77aa");
    assert_eq!(
        (rotated.id.as_str(), rotated.created_at),
        (a.id.as_str(), a.created_at)
    );
    let keys = s.agent_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].0, key("new key"), "the old key hash is gone");
}

pub(super) async fn stores_grants_and_limits_as_given(s: &dyn Store) {
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    let limits = Limits {
        per_minute: Some(60),
        per_hour: Some(1_000),
        per_day: None,
        credits_per_day: Some(50),
        credits_per_month: Some(u64::from(u32::MAX)),
        actions: [(
            "people.bulk_enrich".to_owned(),
            RateLimits {
                per_minute: Some(1),
                per_hour: None,
                per_day: Some(10),
            },
        )]
        .into(),
        team_share_percent: Some(25),
    };
    let b = s.set_limits(&a.id, &a.limits, &limits).await.unwrap();
    assert_eq!(b.limits, limits);
    let mut grants = Grants::default();
    for word in [
        "people=read",
        "contacts=full",
        "reveal=full",
        "people.bulk_enrich=off",
    ] {
        grants.apply(word).unwrap();
    }
    let c = s.set_grants(&a.id, &b.grants, &grants).await.unwrap();
    assert_eq!((c.grants, c.limits), (grants, limits.clone()));
    assert_eq!(s.find_agent(&a.id).await.unwrap().unwrap().limits, limits);
}

/// A change made from a reading the agent no longer holds is refused, not written over what
/// another change made meanwhile (found in review: parallel `grant`s lost all but one).
pub(super) async fn refuses_a_change_made_from_an_old_reading(s: &dyn Store) {
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    let mut first = a.grants.clone();
    first.apply("reveal=full").unwrap();
    let mut second = a.grants.clone();
    second.apply("deals=read").unwrap();
    // Both read the agent as created; the first writes, the second must not undo it.
    s.set_grants(&a.id, &a.grants, &first).await.unwrap();
    let e = s.set_grants(&a.id, &a.grants, &second).await.unwrap_err();
    assert!(
        matches!(&e, crate::store::StoreError::Conflict(m) if m.contains("Sales Agent")),
        "{e:?}"
    );
    assert_eq!(s.find_agent(&a.id).await.unwrap().unwrap().grants, first);
    let limits = Limits {
        per_minute: Some(5),
        ..Limits::default()
    };
    s.set_limits(&a.id, &a.limits, &limits).await.unwrap();
    let stale = s
        .set_limits(&a.id, &a.limits, &Limits::default())
        .await
        .unwrap_err();
    assert!(matches!(stale, crate::store::StoreError::Conflict(_)));
    assert_eq!(s.find_agent(&a.id).await.unwrap().unwrap().limits, limits);
}

// --- rules --------------------------------------------------------------------------------

pub(super) async fn adds_lists_and_removes_rules(s: &dyn Store) {
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    let b = s.create_agent(new_agent("Other")).await.unwrap();
    let small = "forbid(principal, action, resource) when { context.per_page > 25 };";
    let r1 = s.add_rule(&a.id, "small-pages", small).await.unwrap();
    assert_eq!(
        (r1.name.as_str(), r1.cedar.as_str()),
        ("small-pages", small)
    );
    let r2 = s
        .add_rule(&a.id, "austin-only", "forbid(principal, action, resource);")
        .await
        .unwrap();
    s.add_rule(&b.id, "small-pages", small).await.unwrap();
    assert_eq!(
        s.list_rules(&a.id).await.unwrap(),
        vec![r1.clone(), r2.clone()]
    );
    s.remove_rule(&a.id, "small-pages").await.unwrap();
    assert_eq!(s.list_rules(&a.id).await.unwrap(), vec![r2]);
    assert_eq!(
        s.list_rules(&b.id).await.unwrap().len(),
        1,
        "another agent's rule of the same name stays"
    );
    let msg = not_found(s.remove_rule(&a.id, "small-pages").await);
    assert_eq!(
        msg,
        format!(
            "Agent {id} has no rule named 'small-pages'. `bollard rule list {id}` shows its rules.",
            id = a.id
        )
    );
}

pub(super) async fn refuses_a_second_rule_with_the_same_name_for_one_agent(s: &dyn Store) {
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    s.add_rule(&a.id, "r", "forbid(principal, action, resource);")
        .await
        .unwrap();
    let msg = conflict(
        s.add_rule(&a.id, "r", "permit(principal, action, resource);")
            .await,
    );
    assert_eq!(
        msg,
        format!(
            "Agent {} already has a rule named 'r'; remove it first, or choose another name.",
            a.id
        )
    );
    assert_eq!(
        s.list_rules(&a.id).await.unwrap()[0].cedar,
        "forbid(principal, action, resource);"
    );
}

// --- config version, admin keys, settings -------------------------------------------------

pub(super) async fn config_version_grows_with_every_admin_change(s: &dyn Store) {
    let mut last = s.config_version().await.unwrap();
    async fn grew(s: &dyn Store, last: &mut i64, what: &str) {
        let now = s.config_version().await.unwrap();
        assert!(
            now > *last,
            "{what} bumps config_version ({now} after {last})"
        );
        *last = now;
    }
    let a = s.create_agent(new_agent("Sales Agent")).await.unwrap();
    grew(s, &mut last, "create_agent").await;
    s.update_agent(
        &a.id,
        AgentPatch {
            description: Some("d".into()),
            ..AgentPatch::default()
        },
    )
    .await
    .unwrap();
    grew(s, &mut last, "update_agent").await;
    s.rotate_agent_key(&a.id, key("k2"), "bol_agent_k2")
        .await
        .unwrap();
    grew(s, &mut last, "rotate_agent_key").await;
    s.set_grants(&a.id, &a.grants, &Grants::default())
        .await
        .unwrap();
    grew(s, &mut last, "set_grants").await;
    s.set_limits(
        &a.id,
        &a.limits,
        &Limits {
            per_minute: Some(1),
            ..Limits::default()
        },
    )
    .await
    .unwrap();
    grew(s, &mut last, "set_limits").await;
    s.add_rule(&a.id, "r", "forbid(principal, action, resource);")
        .await
        .unwrap();
    grew(s, &mut last, "add_rule").await;
    s.remove_rule(&a.id, "r").await.unwrap();
    grew(s, &mut last, "remove_rule").await;
    s.create_admin_key("ops", key("admin"), "bol_admin_1234")
        .await
        .unwrap();
    grew(s, &mut last, "create_admin_key").await;
    s.revoke_agent(&a.id, T0).await.unwrap();
    grew(s, &mut last, "revoke_agent").await;

    // Traffic is not configuration.
    s.append_audit(&[simple_entry("r1")]).await.unwrap();
    s.take_rate(&a.id, "agent", &[minute(0, 10)]).await.unwrap();
    s.reserve_credits(&a.id, 1000, &[day(0, 5000)], None)
        .await
        .unwrap();
    assert_eq!(s.config_version().await.unwrap(), last);
}

pub(super) async fn finds_admin_keys_by_hash(s: &dyn Store) {
    let k = s
        .create_admin_key("ops", key("admin"), "bol_admin_1234")
        .await
        .unwrap();
    assert!(k.id.starts_with("adm_"), "{}", k.id);
    assert_eq!(
        (k.name.as_str(), k.key_prefix.as_str()),
        ("ops", "bol_admin_1234")
    );
    assert_eq!(s.admin_key_by_hash(&key("admin")).await.unwrap(), Some(k));
    assert_eq!(s.admin_key_by_hash(&key("not admin")).await.unwrap(), None);
}

pub(super) async fn keeps_one_installation_secret(s: &dyn Store) {
    let secrets = join_all((0..8).map(|_| s.installation_secret())).await;
    let first = secrets[0].as_ref().unwrap().clone();
    assert_eq!(first.len(), 32);
    assert_ne!(first, vec![0u8; 32]);
    for secret in secrets {
        assert_eq!(secret.unwrap(), first, "concurrent first calls agree");
    }
    assert_eq!(
        s.installation_secret().await.unwrap(),
        first,
        "and it stays"
    );
}

pub(super) async fn revoked_admin_keys_stop_working_and_stay_listed(s: &dyn Store) {
    let a = s
        .create_admin_key("ops", key("admin a"), "bol_admin_aaaa")
        .await
        .unwrap();
    let b = s
        .create_admin_key("oncall", key("admin b"), "bol_admin_bbbb")
        .await
        .unwrap();
    assert_eq!(s.admin_key_by_id(&a.id).await.unwrap(), Some(a.clone()));
    let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let revoked = s.revoke_admin_key(&a.id, at).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    // Revoking twice keeps the first time.
    let again = s
        .revoke_admin_key(&a.id, at + time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(at));
    assert_eq!(s.admin_key_by_hash(&key("admin a")).await.unwrap(), None);
    assert_eq!(s.admin_key_by_id(&a.id).await.unwrap(), None);
    assert_eq!(
        s.admin_key_by_hash(&key("admin b")).await.unwrap(),
        Some(b.clone())
    );
    let all = s.list_admin_keys().await.unwrap();
    assert_eq!(
        all.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        vec![a.id.as_str(), b.id.as_str()]
    );
    let err = s.revoke_admin_key("adm_missing", at).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

// --- MCP sessions -------------------------------------------------------------------------

pub(super) async fn keeps_an_mcp_sessions_owner_and_state_until_deleted_or_pruned(s: &dyn Store) {
    let at = datetime!(2026-12-03 10:00 UTC);
    assert_eq!(s.mcp_session("aa").await.unwrap(), None);
    // rmcp stores the state and the gateway the owner, in either order.
    s.set_mcp_session_state("aa", "{\"v\":1}", at)
        .await
        .unwrap();
    s.set_mcp_session_owner("aa", "agt_1", at).await.unwrap();
    s.set_mcp_session_owner("bb", "agt_2", at + time::Duration::hours(2))
        .await
        .unwrap();
    s.set_mcp_session_state("bb", "{\"v\":2}", at + time::Duration::hours(2))
        .await
        .unwrap();
    let aa = s.mcp_session("aa").await.unwrap().unwrap();
    assert_eq!(
        (aa.agent_id.as_deref(), aa.state.as_deref()),
        (Some("agt_1"), Some("{\"v\":1}"))
    );
    assert_eq!(
        s.mcp_session("bb")
            .await
            .unwrap()
            .unwrap()
            .agent_id
            .as_deref(),
        Some("agt_2")
    );
    s.delete_mcp_session("bb").await.unwrap();
    assert_eq!(s.mcp_session("bb").await.unwrap(), None);
    s.set_mcp_session_owner("cc", "agt_3", at + time::Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(
        s.prune_mcp_sessions(at + time::Duration::hours(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.mcp_session("aa").await.unwrap(), None);
    assert!(s.mcp_session("cc").await.unwrap().is_some());
}
