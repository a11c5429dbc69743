//! Unit tests of `catalog`: each names the behaviour it pins down.
#![expect(clippy::indexing_slicing, reason = "tests")]

use super::*;

fn id_of(method: &str, path: &str) -> Option<(&'static str, Option<String>)> {
    classify(method, path).map(|r| (r.action.id.as_str(), r.path_id))
}

#[test]
fn catalog_has_seventy_five_actions_forty_three_reads_thirty_two_writes() {
    assert_eq!(catalog().len(), 75);
    assert_eq!(catalog().iter().filter(|a| a.read_only()).count(), 43);
    assert_eq!(
        catalog().iter().filter(|a| a.kind == Kind::Write).count(),
        32
    );
}

#[test]
fn one_path_holds_several_actions_told_apart_by_method() {
    assert_eq!(
        id_of("GET", "/api/v1/fields"),
        Some(("contacts.fields", None))
    );
    assert_eq!(
        id_of("POST", "/api/v1/fields"),
        Some(("contacts.create_field", None))
    );
    assert_eq!(
        id_of("PATCH", "/api/v1/fields"),
        Some(("contacts.update_fields", None))
    );
    assert_eq!(id_of("DELETE", "/api/v1/fields"), None);
    assert_eq!(
        id_of("GET", "/api/v1/labels"),
        Some(("contacts.labels", None))
    );
    assert_eq!(
        id_of("POST", "/api/v1/labels"),
        Some(("contacts.create_list", None))
    );
    assert_eq!(
        id_of("PATCH", "/api/v1/labels/l1"),
        Some(("contacts.update_list", Some("l1".into())))
    );
    assert_eq!(
        id_of("PUT", "/api/v1/tasks/t1"),
        Some(("tasks.update", Some("t1".into())))
    );
    assert_eq!(
        id_of("GET", "/api/v1/tasks/t1"),
        Some(("tasks.view", Some("t1".into())))
    );
    // A fixed route still wins over an id: `tasks/search` is never a task's id.
    assert_eq!(
        id_of("GET", "/api/v1/tasks/search"),
        Some(("tasks.search", None))
    );
    assert_eq!(
        id_of("POST", "/api/v1/emailer_messages/search"),
        Some(("sequences.emails", None))
    );
    assert_eq!(
        id_of("GET", "/api/v1/webhook_result/1039995589705121900"),
        Some(("people.webhook_result", Some("1039995589705121900".into())))
    );
    assert_eq!(id_of("POST", "/api/v1/calendar_events/search"), None);
}

#[test]
fn the_twenty_of_the_design_keep_their_ids_groups_and_tools() {
    let first: Vec<String> = catalog()
        .iter()
        .take(20)
        .map(|a| format!("{} {} {}", a.id, a.group, a.mcp_tool))
        .collect();
    insta::assert_snapshot!(first.join("\n"));
}

#[test]
fn tool_names_follow_apollos_rule() {
    // Apollo's own MCP server names tools `apollo_` + controller + action
    // (`apollo_email_accounts_index`, `apollo_contacts_bulk_create`,
    // `apollo_users_api_profile`); the catalog keeps those where Apollo has one.
    for (id, tool) in [
        ("sequences.email_accounts", "apollo_email_accounts_index"),
        ("contacts.bulk_create", "apollo_contacts_bulk_create"),
        ("users.profile", "apollo_users_api_profile"),
        ("people.webhook_result", "apollo_webhook_result_show"),
    ] {
        assert_eq!(by_id(id).unwrap().mcp_tool, tool);
    }
    for a in catalog() {
        assert!(
            a.mcp_tool
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{}",
            a.mcp_tool
        );
    }
}

#[test]
fn a_view_and_an_update_share_a_path_and_differ_by_method() {
    assert_eq!(
        id_of("GET", "/api/v1/contacts/c1"),
        Some(("contacts.view", Some("c1".into())))
    );
    assert_eq!(
        id_of("PATCH", "/api/v1/contacts/c1"),
        Some(("contacts.update", Some("c1".into())))
    );
    assert_eq!(
        id_of("GET", "/api/v1/contacts/bulk_create"),
        None,
        "a fixed route never falls through to a view"
    );
    assert_eq!(
        id_of("GET", "/api/v1/phone_calls/search"),
        Some(("calls.search", None))
    );
    assert_eq!(id_of("PUT", "/api/v1/phone_calls/search"), None);
    assert_eq!(
        id_of("GET", "/v1/organizations/o1/job_postings"),
        Some(("organizations.job_postings", Some("o1".into())))
    );
}

#[test]
fn ids_tools_and_paths_are_unique_and_consistent() {
    let mut ids: Vec<_> = catalog().iter().map(|a| a.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), catalog().len());
    for a in catalog() {
        assert!(a.id.as_str().starts_with(a.group.as_str()), "{}", a.id);
        assert!(a.mcp_tool.starts_with("apollo_"));
        assert_eq!(by_id(a.id.as_str()), Some(a));
        assert_eq!(by_tool(a.mcp_tool), Some(a));
        assert_eq!(a.path.contains('{'), a.path_param.is_some(), "{}", a.id);
        if let Some(p) = a.path_param {
            assert!(a.path.contains(&format!("{{{p}}}")));
        }
    }
    assert_eq!(by_id("people.SEARCH"), None);
    assert_eq!(by_tool("apollo_nope"), None);
}

#[test]
fn every_documented_path_classifies_to_its_action() {
    for a in catalog() {
        let path = a.path.replace(
            &format!("{{{}}}", a.path_param.unwrap_or("none")),
            "abc_123-XYZ",
        );
        for prefix in ["/api/v1", "/v1"] {
            for m in std::iter::once(a.method).chain(a.also.iter().copied()) {
                let r = classify(m.as_str(), &format!("{prefix}{path}")).unwrap();
                assert_eq!(r.action.id, a.id);
                assert_eq!(r.path_id.is_some(), a.path_param.is_some());
                let r = classify(&m.as_str().to_lowercase(), &format!("{prefix}{path}/"));
                assert_eq!(r.unwrap().action.id, a.id);
            }
        }
    }
}

#[test]
fn fixed_routes_win_over_routes_with_an_id() {
    assert_eq!(
        id_of("POST", "/api/v1/contacts/search"),
        Some(("contacts.search", None))
    );
    assert_eq!(
        id_of("GET", "/api/v1/contacts/search"),
        Some(("contacts.search", None))
    );
    assert_eq!(id_of("PATCH", "/api/v1/contacts/search"), None);
    assert_eq!(id_of("PUT", "/v1/opportunities/search"), None);
    assert_eq!(
        id_of("GET", "/v1/opportunities/search"),
        Some(("deals.list", None))
    );
    assert_eq!(id_of("PATCH", "/api/v1/accounts/search"), None);
    assert_eq!(
        id_of("PATCH", "/api/v1/contacts/5f2a"),
        Some(("contacts.update", Some("5f2a".into())))
    );
    assert_eq!(
        id_of("POST", "/api/v1/emailer_campaigns/seq-1/add_contact_ids"),
        Some(("sequences.add_contacts", Some("seq-1".into())))
    );
}

#[test]
fn odd_paths_and_methods_are_refused() {
    for (m, p) in [
        ("DELETE", "/api/v1/contacts/abc"),
        ("POST", "/api/v1/contacts/abc"),
        ("GET", "/api/v1/people/match"),
        ("PATCH", "/api/v1/contacts"),
        ("HEAD", "/api/v1/contacts/search"),
        ("BREW", "/api/v1/contacts/search"),
        ("POST", "/api/v2/contacts/search"),
        ("POST", "/contacts/search"),
        ("POST", "api/v1/contacts/search"),
        ("POST", "/api/v1/contacts//search"),
        ("POST", "/api/v1//contacts/search"),
        ("POST", "/api/v1/contacts/search//"),
        ("POST", "/api/v1/contacts/./search"),
        ("POST", "/api/v1/people/../contacts/search"),
        ("PATCH", "/api/v1/contacts/.."),
        ("PATCH", "/api/v1/contacts/%61bc"),
        ("POST", "/api/v1/contacts/%73earch"),
        ("POST", "/api/v1/contacts/search.json"),
        ("POST", "/api/v1/Contacts/Search"),
        ("POST", "/api/v1/contacts/search?x=1"),
        ("POST", "/api/v1/contacts/search;x"),
        ("POST", "/api/v1/mixed_people/search"),
        ("POST", "/api/v1/emailer_campaigns//add_contact_ids"),
        ("POST", "/api/v1/emailer_campaigns/a/b/add_contact_ids"),
        ("PATCH", "/api/v1/contacts/a b"),
        ("PATCH", "/api/v1/contacts/é"),
        ("POST", "/api/v1/"),
        ("POST", "//api/v1/contacts/search"),
        ("POST", "/api//v1/contacts/search"),
        ("POST", "/API/V1/contacts/search"),
        ("POST", "/api/v1/contacts/search\0"),
        ("POST", "/api/v1/contacts/search\n"),
        ("POST", "/api/v1"),
        ("POST", ""),
    ] {
        assert_eq!(classify(m, p), None, "{m} {p}");
    }
    let long = "a".repeat(65);
    assert_eq!(classify("PATCH", &format!("/api/v1/contacts/{long}")), None);
    let ok = "a".repeat(64);
    assert!(classify("PATCH", &format!("/api/v1/contacts/{ok}")).is_some());
}

#[test]
fn upstream_paths_round_trip_through_classify() {
    for a in catalog() {
        let path = a.upstream_path(Some("rec_1")).unwrap();
        let r = classify(a.method.as_str(), &path).unwrap();
        assert_eq!(r.action, a);
        assert_eq!(r.path_id.is_some(), a.path_param.is_some());
        if a.path_param.is_some() {
            assert_eq!(a.upstream_path(None), None);
            assert_eq!(a.upstream_path(Some("../x")), None);
        }
    }
    assert_eq!(
        by_id("contacts.update")
            .unwrap()
            .upstream_path(Some("c1"))
            .unwrap(),
        "/api/v1/contacts/c1"
    );
}

#[test]
fn input_schemas_are_objects_with_path_ids_required() {
    for a in catalog() {
        let schema = a.input_schema();
        assert_eq!(schema["type"], "object");
        assert!(schema["properties"].is_object());
        if let Some(p) = a.path_param {
            assert!(schema["properties"][p].is_object());
            assert!(schema["required"].as_array().unwrap().contains(&json!(p)));
        }
    }
    let seq = by_id("sequences.add_contacts").unwrap().input_schema();
    assert_eq!(seq["required"][0], "sequence_id");
}

#[test]
fn group_and_method_words_parse() {
    for g in Group::ALL {
        assert_eq!(g.as_str().parse::<Group>().unwrap(), g);
    }
    assert!("nobody".parse::<Group>().is_err());
    assert_eq!("patch".parse::<Method>().unwrap(), Method::Patch);
    assert_eq!("Get".parse::<Method>().unwrap(), Method::Get);
    assert!("OPTIONS".parse::<Method>().is_err());
    let writes: Vec<_> = Group::ALL.iter().filter(|g| g.has_writes()).collect();
    assert_eq!(writes.len(), 6);
    assert!(!Group::People.has_writes());
    assert_eq!(
        lower_first("Search the people database"),
        "search the people database"
    );
    assert_eq!(lower_first("API usage"), "API usage");
}

#[test]
fn catalog_snapshot() {
    let rows: Vec<String> = catalog()
        .iter()
        .map(|a| {
            let mut methods = vec![a.method.as_str()];
            methods.extend(a.also.iter().map(|m| m.as_str()));
            format!(
                "{} | {} | {} | {} {} | credits: {} | key: {:?} | {} | {} | {}",
                a.id,
                a.group,
                a.kind.as_str(),
                methods.join("/"),
                a.path,
                a.spends_credits(),
                a.key,
                a.mcp_tool,
                a.title,
                a.verb
            )
        })
        .collect();
    insta::assert_snapshot!(rows.join("\n"));
}

#[test]
fn every_action_id_has_its_own_entry_in_catalog_order() {
    assert_eq!(ActionId::ALL.len(), catalog().len());
    for (i, id) in ActionId::ALL.into_iter().enumerate() {
        assert_eq!(id as usize, i, "{id} is out of order in ActionId::ALL");
        assert_eq!(id.action().id, id, "{id} maps to another entry");
        assert_eq!(catalog()[i].id, id, "catalog entry {i} is not {id}");
        assert_eq!(id.as_str().parse::<ActionId>(), Ok(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }
    assert!("people.Search".parse::<ActionId>().is_err());
    assert!(serde_json::from_str::<ActionId>("\"people.nothing\"").is_err());
}

#[test]
fn spending_and_paging_follow_the_price_and_shape() {
    for a in catalog() {
        assert_eq!(a.spends_credits(), a.price != Price::Free, "{}", a.id);
        assert_eq!(
            a.paginated(),
            matches!(a.shape, Shape::List { .. }),
            "{}",
            a.id
        );
    }
}

#[test]
fn an_id_that_spells_another_route_has_no_upstream_path() {
    let update = ActionId::ContactsUpdate.action();
    assert_eq!(update.upstream_path(Some("search")), None);
    assert_eq!(
        update.upstream_path(Some("c1")).as_deref(),
        Some("/api/v1/contacts/c1")
    );
}
