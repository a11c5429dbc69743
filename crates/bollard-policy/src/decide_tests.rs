//! Unit tests of `decide`: each names the behaviour it pins down.

use super::*;
use crate::args::read_args;
use crate::catalog::by_id;

fn grants(words: &[&str]) -> Grants {
    let mut g = Grants::default();
    for w in words {
        g.apply(w).unwrap();
    }
    g
}

fn policy(words: &[&str], rules: &[(&str, &str)]) -> AgentPolicy {
    let rules: Vec<Rule> = rules
        .iter()
        .map(|(name, cedar)| Rule {
            name: (*name).to_owned(),
            cedar: (*cedar).to_owned(),
        })
        .collect();
    AgentPolicy::compile("agt_1", "Sales Agent", &grants(words), &rules).unwrap()
}

fn body(json: &str) -> Args {
    read_args(None, Some("application/json"), json.as_bytes()).unwrap()
}

fn call(p: &AgentPolicy, id: &str, json: &str, path_id: Option<&str>) -> Decision {
    decide(p, by_id(id).unwrap(), &body(json), path_id)
}

fn path_for(a: &Action) -> Option<&'static str> {
    a.path_param.map(|_| "rec_1")
}

#[test]
fn every_action_at_every_level() {
    let mut lines = Vec::new();
    for level in Level::ALL {
        // Set directly: `apply` refuses `write` for groups without writes, but a stored
        // grid might still hold it, and it must then grant nothing.
        let mut g = Grants::default();
        for group in Group::ALL {
            g.levels.insert(group, level);
        }
        let p = AgentPolicy::compile("agt_1", "Sales Agent", &g, &[]).unwrap();
        for a in catalog() {
            let d = decide(&p, a, &Args::default(), path_for(a));
            assert_eq!(d.allowed, level.allows(a.kind), "{level} {}", a.id);
            if d.allowed {
                assert_eq!(d.rule_ids, vec![format!("grant:{}", a.group)]);
            } else {
                assert!(d.rule_ids.is_empty());
            }
            lines.push(format!(
                "{level:<5} {:<22} {} {:?}\n      {}",
                a.id,
                if d.allowed { "allow" } else { "deny " },
                d.rule_ids,
                d.reason()
            ));
        }
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn each_group_level_only_touches_its_group() {
    for group in Group::ALL {
        for level in Level::ALL {
            let mut g = Grants::default();
            g.levels.insert(group, level);
            let p = AgentPolicy::compile("a", "A", &g, &[]).unwrap();
            for a in catalog() {
                let d = decide(&p, a, &Args::default(), path_for(a));
                let expected = a.group == group && level.allows(a.kind);
                assert_eq!(d.allowed, expected, "{group}={level} {}", a.id);
            }
        }
    }
}

#[test]
fn the_documented_reasons_read_as_documented() {
    let p = policy(&["people=full", "contacts=read", "sequences=full"], &[]);
    let d = call(
        &p,
        "people.enrich",
        r#"{"email":"a@b.c","reveal_phone_number":true}"#,
        None,
    );
    assert_eq!(
        d.reason(),
        "Sales Agent may not reveal phone numbers: 'Reveal emails and phone numbers' is Off for this agent."
    );
    assert_eq!(d.rule_ids, vec!["grant:reveal"]);
    assert!(!d.allowed);

    let d = call(&p, "contacts.create", "{}", None);
    assert_eq!(
        d.reason(),
        "Sales Agent may not create contacts: 'Contacts' is Read only for this agent."
    );
    assert!(d.rule_ids.is_empty());

    let d = call(&p, "deals.create", "{}", None);
    assert_eq!(
        d.reason(),
        "Sales Agent may not create deals: 'Deals' is Off for this agent."
    );

    let d = call(&p, "people.search", "{}", None);
    assert!(d.allowed);
    assert_eq!(
        d.reason(),
        "Sales Agent may search the people database: 'People' is Full use for this agent."
    );
    assert_eq!(d.rule_ids, vec!["grant:people"]);

    let p = policy(&["people=read", "people.bulk_enrich=off"], &[]);
    let d = call(
        &p,
        "people.bulk_enrich",
        r#"{"details":[{"email":"a"}]}"#,
        None,
    );
    assert_eq!(
        d.reason(),
        "Sales Agent may not enrich people in bulk: the action is switched off for this agent."
    );
    assert_eq!(d.rule_ids, vec!["override:people.bulk_enrich"]);
    let d = call(&p, "people.search", "{}", None);
    assert_eq!(
        d.reason(),
        "Sales Agent may search the people database: 'People' is Read for this agent."
    );

    let p = policy(
        &["sequences=full"],
        &[(
            "only-q4",
            r#"forbid(principal, action == Action::"sequences.add_contacts", resource) unless { context.sequence_id == "q4" };"#,
        )],
    );
    let d = call(
        &p,
        "sequences.add_contacts",
        r#"{"contact_ids":["c1"]}"#,
        Some("q3"),
    );
    assert_eq!(
        d.reason(),
        "Sales Agent may not add contacts to a sequence: the rule 'only-q4' forbids it."
    );
    assert_eq!(d.rule_ids, vec!["rule:only-q4"]);
    let d = call(
        &p,
        "sequences.add_contacts",
        r#"{"contact_ids":["c1"]}"#,
        Some("q4"),
    );
    assert!(d.allowed, "{}", d.reason());
    // Without a path (MCP), the body's sequence id is what the rule sees.
    let d = call(
        &p,
        "sequences.add_contacts",
        r#"{"emailer_campaign_id":"q3","contact_ids":["c1"]}"#,
        None,
    );
    assert!(!d.allowed);
}

#[test]
fn reveal_reasons_name_what_was_asked() {
    let p = policy(&["people=read"], &[]);
    let cases = [
        (r#"{"reveal_personal_emails":true}"#, "emails"),
        (r#"{"reveal_phone_number":"1"}"#, "phone numbers"),
        (
            r#"{"reveal_personal_emails":"true","reveal_phone_number":true}"#,
            "emails and phone numbers",
        ),
    ];
    for (json, what) in cases {
        for id in ["people.enrich", "people.bulk_enrich"] {
            let d = call(&p, id, json, None);
            assert!(!d.allowed);
            assert_eq!(
                d.reason(),
                format!(
                    "Sales Agent may not reveal {what}: 'Reveal emails and phone numbers' is Off for this agent."
                )
            );
            assert_eq!(d.rule_ids, vec!["grant:reveal"]);
        }
    }
    let p = policy(&["people=read", "reveal=full"], &[]);
    let d = call(
        &p,
        "people.enrich",
        r#"{"reveal_personal_emails":true}"#,
        None,
    );
    assert!(d.allowed);
}

#[test]
fn waterfall_needs_reveal_as_well_in_every_spelling_and_action() {
    let p = policy(&["people=read", "waterfall=full"], &[]);
    for (action, json, what) in [
        (
            "people.enrich",
            r#"{"run_waterfall_phone":true}"#,
            "phone numbers",
        ),
        ("people.enrich", r#"{"run_waterfall_email":"1"}"#, "emails"),
        (
            "people.enrich",
            r#"{"run_waterfall_email":"yes","run_waterfall_phone":"on"}"#,
            "emails and phone numbers",
        ),
        (
            "people.bulk_enrich",
            r#"{"details":[{"email":"a","run_waterfall_phone":true}]}"#,
            "phone numbers",
        ),
    ] {
        let d = call(&p, action, json, None);
        assert!(!d.allowed, "{action} {json}");
        assert_eq!(d.rule_ids, vec!["grant:reveal"], "{json}");
        assert_eq!(
            d.reason(),
            format!(
                "Sales Agent may not run waterfall enrichment for {what}: it delivers {what}, and 'Reveal emails and phone numbers' is Off for this agent."
            )
        );
    }
    // With reveal as well, the same calls pass; with reveal alone, waterfall's own switch
    // still says no.
    let both = policy(&["people=read", "waterfall=full", "reveal=full"], &[]);
    let only_reveal = policy(&["people=read", "reveal=full"], &[]);
    let json = r#"{"run_waterfall_phone":true}"#;
    assert!(call(&both, "people.enrich", json, None).allowed);
    let d = call(&only_reveal, "people.enrich", json, None);
    assert_eq!(d.rule_ids, vec!["grant:waterfall"]);
    // Neither: the reveal switch is named first, as the stricter one.
    let neither = policy(&["people=read"], &[]);
    let d = call(&neither, "people.enrich", json, None);
    assert_eq!(d.rule_ids, vec!["grant:reveal", "grant:waterfall"]);
}

#[test]
fn waterfall_is_its_own_switch() {
    let p = policy(&["people=read", "reveal=full"], &[]);
    let d = call(&p, "people.enrich", r#"{"run_waterfall_phone":true}"#, None);
    assert!(!d.allowed);
    assert_eq!(
        d.reason(),
        "Sales Agent may not run waterfall enrichment for phone numbers: 'Waterfall enrichment' is Off for this agent."
    );
    assert_eq!(d.rule_ids, vec!["grant:waterfall"]);
    let p = policy(&["people=read", "waterfall=full", "reveal=full"], &[]);
    assert!(
        call(
            &p,
            "people.enrich",
            r#"{"run_waterfall_email":"true"}"#,
            None
        )
        .allowed
    );
    let p = policy(&["people=read", "waterfall=full"], &[]);
    // Waterfall granted does not grant reveal.
    assert!(
        !call(
            &p,
            "people.enrich",
            r#"{"reveal_phone_number":"true"}"#,
            None
        )
        .allowed
    );
}

/// Each smuggling variant, through the real reader, is denied without the reveal grant.
#[test]
fn smuggled_reveal_flags_are_denied() {
    let p = policy(&["people=full", "organizations=full"], &[]);
    let variants: &[(Option<&str>, Option<&str>, &str)] = &[
        (Some("reveal_phone_number=true"), None, ""),
        (Some("reveal_phone_number=TRUE"), None, ""),
        (Some("reveal_phone_number=1"), None, ""),
        (Some("Reveal_Phone_Number=true"), None, ""),
        (Some("reveal_phone_number[]=true"), None, ""),
        (Some("reveal_phone_number%5B%5D=1"), None, ""),
        (
            Some("reveal_phone_number=false&reveal_phone_number=true"),
            None,
            "",
        ),
        (
            Some("reveal_phone_number=false"),
            Some("application/json"),
            r#"{"reveal_phone_number":true}"#,
        ),
        (
            Some("reveal_phone_number=true"),
            Some("application/json"),
            r#"{"reveal_phone_number":false}"#,
        ),
        (
            None,
            Some("application/json"),
            r#"{"reveal_phone_number":"true"}"#,
        ),
        (
            None,
            Some("application/json"),
            r#"{"reveal_phone_number":["true"]}"#,
        ),
        (
            None,
            Some("application/json"),
            r#"{"REVEAL_PHONE_NUMBER":1}"#,
        ),
        (
            None,
            Some("application/json"),
            r#"{"reveal_phone_numb\u0065r":true}"#,
        ),
        (
            None,
            Some("application/json"),
            r#"{"details":[{"email":"a","reveal_phone_number":true}]}"#,
        ),
        (
            None,
            Some("application/x-www-form-urlencoded"),
            "reveal_phone_number=on",
        ),
        (None, None, "reveal_phone_number=yes"),
        (None, None, r#"{"reveal_personal_emails":"t"}"#),
        (Some("a=1;reveal_personal_emails=1"), None, ""),
    ];
    for (query, ct, raw) in variants {
        let args = read_args(*query, *ct, raw.as_bytes()).unwrap();
        for id in [
            "people.enrich",
            "people.bulk_enrich",
            "people.search",
            "organizations.enrich",
        ] {
            let d = decide(&p, by_id(id).unwrap(), &args, None);
            assert!(!d.allowed, "{id} {query:?} {raw}");
            assert_eq!(d.rule_ids, vec!["grant:reveal"], "{id} {query:?} {raw}");
        }
    }
    // The same through MCP arguments.
    let args = Args::from_value(
        serde_json::from_str(r#"{"email":"a","Reveal_Phone_Number":"yes"}"#).unwrap(),
    );
    assert!(!decide(&p, by_id("people.enrich").unwrap(), &args, None).allowed);
}

#[test]
fn overrides_switch_single_actions() {
    let p = policy(&["deals.list=on"], &[]);
    let d = call(&p, "deals.list", "{}", None);
    assert!(d.allowed);
    assert_eq!(
        d.reason(),
        "Sales Agent may list deals: the action is switched on for this agent."
    );
    assert_eq!(d.rule_ids, vec!["override:deals.list"]);
    assert!(!call(&p, "deals.create", "{}", None).allowed);

    // Off beats the group's level, even at full.
    let p = policy(&["contacts=full", "contacts.update=off"], &[]);
    assert!(!call(&p, "contacts.update", "{}", Some("c1")).allowed);
    assert!(call(&p, "contacts.create", "{}", None).allowed);
}

#[test]
fn deny_beats_allow() {
    let p = policy(
        &["people=full", "people.search=on"],
        &[
            ("everything", "permit(principal, action, resource);"),
            (
                "no-people",
                r#"forbid(principal, action in Action::"people", resource);"#,
            ),
        ],
    );
    let d = call(&p, "people.search", "{}", None);
    assert!(!d.allowed);
    assert_eq!(d.rule_ids, vec!["rule:no-people"]);
    // The permit rule grants what the grid does not.
    let d = call(&p, "deals.create", "{}", None);
    assert!(d.allowed);
    assert_eq!(
        d.reason(),
        "Sales Agent may create deals: the rule 'everything' permits it."
    );
}

#[test]
fn several_forbidding_rules_are_all_named() {
    let p = policy(
        &["people=read"],
        &[
            ("a-rule", "forbid(principal, action, resource);"),
            (
                "b-rule",
                "forbid(principal, action, resource) when { context.per_page > 10 };",
            ),
        ],
    );
    let d = call(&p, "people.search", "{}", None);
    assert_eq!(d.rule_ids, vec!["rule:a-rule", "rule:b-rule"]);
    assert_eq!(
        d.reason(),
        "Sales Agent may not search the people database: the rules 'a-rule' and 'b-rule' forbid it."
    );
}

#[test]
fn an_erroring_forbid_denies_naming_the_rule() {
    let p = policy(
        &["people=full"],
        &[(
            "typo",
            "forbid(principal, action, resource) when { context.args.not_there == 1 };",
        )],
    );
    let d = call(&p, "people.search", "{}", None);
    assert!(!d.allowed);
    assert_eq!(d.rule_ids, vec!["rule:typo"]);
    assert!(
        d.reason().starts_with(
            "Sales Agent may not search the people database: the rule 'typo' could not be evaluated ("
        ),
        "{}",
        d.reason()
    );
    assert!(
        d.reason()
            .ends_with("and a rule that fails never lets a call through.")
    );
    // When the attribute is there, the rule evaluates and does not fire.
    assert!(call(&p, "people.search", r#"{"not_there": 2}"#, None).allowed);

    // A type error fails closed too.
    let p = policy(
        &["people=full"],
        &[(
            "types",
            "forbid(principal, action, resource) when { context.q_keywords > 1 };",
        )],
    );
    assert!(!call(&p, "people.search", "{}", None).allowed);
}

#[test]
fn an_erroring_permit_never_grants() {
    let p = policy(
        &[],
        &[(
            "broken",
            "permit(principal, action, resource) when { context.args.nope == 1 };",
        )],
    );
    let d = call(&p, "people.search", "{}", None);
    assert!(!d.allowed);
    assert_eq!(d.rule_ids, vec!["rule:broken"]);
    assert_eq!(
        d.reason(),
        "Sales Agent may not search the people database: 'People' is Off for this agent, and the rule 'broken' that might allow it could not be evaluated."
    );
    // It does not take away what the grid grants either.
    let p = policy(
        &["people=read"],
        &[(
            "broken",
            "permit(principal, action, resource) when { context.args.nope == 1 };",
        )],
    );
    assert!(call(&p, "people.search", "{}", None).allowed);
}

#[test]
fn rules_see_the_context() {
    let per_page = "forbid(principal, action, resource) when { context.per_page > 25 };";
    let p = policy(&["people=read", "contacts=full"], &[("per-page", per_page)]);
    assert!(call(&p, "people.search", "{}", None).allowed);
    assert!(call(&p, "people.search", r#"{"per_page":"25"}"#, None).allowed);
    assert!(!call(&p, "people.search", r#"{"per_page":26}"#, None).allowed);
    // Unreadable counts as the largest.
    assert!(!call(&p, "people.search", r#"{"per_page":"lots"}"#, None).allowed);
    let q = read_args(Some("per_page=100"), None, b"").unwrap();
    assert!(!decide(&p, by_id("people.search").unwrap(), &q, None).allowed);

    let webhook = r#"forbid(principal, action, resource) when { context.webhook_url != "" && !(context.webhook_url like "https://hooks.example.com/*") };"#;
    let p = policy(&["people=read", "reveal=full"], &[("hooks", webhook)]);
    let ok = r#"{"reveal_phone_number":true,"webhook_url":"https://hooks.example.com/x"}"#;
    let bad = r#"{"reveal_phone_number":true,"webhook_url":"https://evil.example/x"}"#;
    assert!(call(&p, "people.enrich", ok, None).allowed);
    assert!(!call(&p, "people.enrich", bad, None).allowed);

    let titles = r#"forbid(principal, action, resource) unless { context.person_titles.containsAll(["CEO"]) && context.q_organization_domains_list.isEmpty() };"#;
    let p = policy(&["people=read"], &[("titles", titles)]);
    assert!(
        call(
            &p,
            "people.search",
            r#"{"person_titles":["CEO","CTO"]}"#,
            None
        )
        .allowed
    );
    assert!(!call(&p, "people.search", r#"{"person_titles":["CTO"]}"#, None).allowed);
    assert!(
        !call(
            &p,
            "people.search",
            r#"{"person_titles":["CEO"],"q_organization_domains_list":["a.com"]}"#,
            None
        )
        .allowed
    );

    let count = "forbid(principal, action, resource) when { context.record_count > 2 };";
    let p = policy(&["people=read", "sequences=full"], &[("count", count)]);
    assert!(call(&p, "people.bulk_enrich", r#"{"details":[{},{}]}"#, None).allowed);
    assert!(!call(&p, "people.bulk_enrich", r#"{"details":[{},{},{}]}"#, None).allowed);
    assert!(
        !call(
            &p,
            "sequences.add_contacts",
            r#"{"contact_ids":["a","b","c"]}"#,
            Some("s")
        )
        .allowed
    );
    assert!(call(&p, "people.search", "{}", None).allowed);

    let args_rule = r#"forbid(principal, action, resource) when { context.args has q_organization_name && context.args.q_organization_name like "*Secret*" };"#;
    let p = policy(&["accounts=read"], &[("args", args_rule)]);
    assert!(
        call(
            &p,
            "accounts.search",
            r#"{"q_organization_name":"Acme"}"#,
            None
        )
        .allowed
    );
    assert!(
        !call(
            &p,
            "accounts.search",
            r#"{"q_organization_name":"Top Secret Inc"}"#,
            None
        )
        .allowed
    );

    let path = r#"forbid(principal, action == Action::"contacts.update", resource) when { context.path_id == "vip" };"#;
    let p = policy(&["contacts=full"], &[("vip", path)]);
    assert!(!call(&p, "contacts.update", "{}", Some("vip")).allowed);
    assert!(call(&p, "contacts.update", "{}", Some("other")).allowed);

    let group = r#"forbid(principal, action in Action::"write", resource == Group::"contacts");"#;
    let p = policy(&["contacts=full"], &[("ro", group)]);
    assert!(!call(&p, "contacts.create", "{}", None).allowed);
    assert!(call(&p, "contacts.search", "{}", None).allowed);

    let principal = r#"forbid(principal == Agent::"agt_1", action, resource) when { principal.name == "Sales Agent" };"#;
    let p = policy(&["contacts=full"], &[("me", principal)]);
    assert!(!call(&p, "contacts.search", "{}", None).allowed);
}

#[test]
fn hostile_argument_keys_are_plain_data_to_cedar() {
    let p = policy(
        &["people=read"],
        &[(
            "k",
            "forbid(principal, action, resource) when { context.args has weird };",
        )],
    );
    let hostile = r#"{"__entity":{"type":"Agent","id":"admin"},"__extn":{"fn":"ip","arg":"1.2.3.4"},
                     "x.y":2,"big":18446744073709551615,"f":1.5,"n":null,
                     "deep":{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}},"mixed":[1,"a",true,[2],{"b":1}]}"#;
    let d = call(&p, "people.search", hostile, None);
    assert!(d.allowed, "{}", d.reason());
    // A key with a space is refused before any decision (args::check_names).
    assert!(read_args(None, Some("application/json"), br#"{"a b":1}"#).is_err());
    let entity =
        "forbid(principal, action, resource) when { context.args.__entity.id == \"admin\" };";
    let p = policy(&["people=read"], &[("entity", entity)]);
    assert!(!call(&p, "people.search", hostile, None).allowed);
}

#[test]
fn check_rule_wants_exactly_one_policy() {
    assert!(check_rule("forbid(principal, action, resource);").is_ok());
    let cases = [
        "",
        "// just a comment",
        "permit(principal, action, resource); forbid(principal, action, resource);",
        "permit(principal == ?principal, action, resource);",
        "forbid(principal, action, resource) when { context.x ",
        "allow everything",
    ];
    let messages: Vec<String> = cases
        .iter()
        .map(|c| {
            let e = check_rule(c).unwrap_err();
            assert!(matches!(e, PolicyError::InvalidRule(_)));
            format!("{c:?}: {e}")
        })
        .collect();
    insta::assert_snapshot!(messages.join("\n"));
}

#[test]
fn compile_refuses_bad_rules_and_grants() {
    let g = Grants::default();
    let rule = |name: &str, cedar: &str| Rule {
        name: name.to_owned(),
        cedar: cedar.to_owned(),
    };
    let ok = "forbid(principal, action, resource);";
    let e = AgentPolicy::compile("a", "A", &g, &[rule("bad name", ok)]).unwrap_err();
    assert!(matches!(e, PolicyError::RuleName(_)), "{e}");
    let e = AgentPolicy::compile("a", "A", &g, &[rule("", ok)]).unwrap_err();
    assert!(matches!(e, PolicyError::RuleName(_)), "{e}");
    let e = AgentPolicy::compile("a", "A", &g, &[rule("x", ok), rule("x", ok)]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Two rules are named 'x'; give each rule its own name."
    );
    let e = AgentPolicy::compile("a", "A", &g, &[rule("x", "forbid(")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Rule 'x': The rule is not valid Cedar"),
        "{e}"
    );
    let mut g = Grants::default();
    g.overrides.insert("people.teleport".into(), true);
    let e = AgentPolicy::compile("a", "A", &g, &[]).unwrap_err();
    assert!(matches!(e, PolicyError::Grants(_)), "{e}");
    // Odd agent ids and names are data, not Cedar source.
    let p =
        AgentPolicy::compile("a\"b\\c", "Name \"quoted\"", &grants(&["people=read"]), &[]).unwrap();
    assert!(call(&p, "people.search", "{}", None).allowed);
}

#[test]
fn compiled_policy_set_reads_as_cedar() {
    let p = policy(
        &[
            "people=read",
            "contacts=write",
            "deals.list=on",
            "people.bulk_enrich=off",
        ],
        &[(
            "cap",
            "forbid(principal, action, resource) when { context.per_page > 50 };",
        )],
    );
    let text = p.cedar_text();
    for needle in [
        "grant:people",
        "grant:contacts",
        "override:deals.list",
        "override:people.bulk_enrich",
        "grant:reveal",
        "grant:waterfall",
        "rule:cap",
    ] {
        // Cedar prints ids only as annotations when asked; check the set instead.
        assert!(
            p.set.policy(&PolicyId::new(needle)).is_some(),
            "{needle} missing from\n{text}"
        );
    }
    assert!(text.contains("Action::\"contacts.create\""));
    assert!(!text.contains("Action::\"contacts.search\""));
    assert_eq!(p.agent_name(), "Sales Agent");
    assert_eq!(p.agent_id(), "agt_1");
}

#[test]
fn decision_serializes_plainly() {
    let p = policy(&["people=read"], &[]);
    let d = call(&p, "people.search", "{}", None);
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        serde_json::json!({"allowed": true,
            "reason": "Sales Agent may search the people database: 'People' is Read for this agent.",
            "rule_ids": ["grant:people"]})
    );
}

#[test]
fn write_level_denies_reads_with_its_own_words() {
    let p = policy(&["contacts=write"], &[]);
    let d = call(&p, "contacts.search", "{}", None);
    assert_eq!(
        d.reason(),
        "Sales Agent may not search contacts: 'Contacts' is Write only for this agent."
    );
    assert!(call(&p, "contacts.create", "{}", None).allowed);
}

#[test]
fn policies_and_arguments_can_be_shared_across_threads() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<AgentPolicy>();
    shared::<Args>();
    shared::<Decision>();
    shared::<Grants>();
    shared::<crate::catalog::Route>();
}

#[test]
fn several_permitting_rules_are_all_named() {
    let p = policy(
        &[],
        &[
            ("one", "permit(principal, action, resource);"),
            (
                "two",
                r#"permit(principal, action in Action::"read", resource);"#,
            ),
        ],
    );
    let d = call(&p, "people.search", "{}", None);
    assert!(d.allowed);
    assert_eq!(d.rule_ids, vec!["rule:one", "rule:two"]);
    assert_eq!(
        d.reason(),
        "Sales Agent may search the people database: the rules 'one' and 'two' permit it."
    );
}

/// Not a benchmark, a guard: deciding must stay far below the gateway's 1 ms budget.
#[test]
fn the_same_call_always_gets_the_same_decision() {
    let p = policy(
        &["people=full", "contacts=full", "sequences=full"],
        &[
            (
                "cap",
                "forbid(principal, action, resource) when { context.per_page > 50 };",
            ),
            (
                "hooks",
                r#"forbid(principal, action, resource) when { context.webhook_url != "" && !(context.webhook_url like "https://h/*") };"#,
            ),
        ],
    );
    let args = body(
        r#"{"person_titles":["VP Sales","CEO"],"q_keywords":"saas","per_page":25,"page":1,"organization_locations":["Austin"]}"#,
    );
    let action = by_id("people.search").unwrap();
    // Speed is measured by `bollard bench`, never asserted here: the same compiled policy
    // gives the same decision every time.
    let first = decide(&p, action, &args, None);
    for _ in 0..100 {
        assert_eq!(decide(&p, action, &args, None).reason(), first.reason());
    }
    assert!(first.allowed);
}

#[test]
fn reasons_for_switches_overrides_and_rules() {
    let p = policy(
        &[
            "people=read",
            "contacts=full",
            "people.bulk_enrich=off",
            "deals.list=on",
        ],
        &[
            (
                "only-q4",
                r#"forbid(principal, action == Action::"sequences.add_contacts", resource) unless { context.sequence_id == "q4" };"#,
            ),
            (
                "cap-25",
                "forbid(principal, action, resource) when { context.per_page > 25 };",
            ),
            (
                "typo",
                r#"forbid(principal, action == Action::"contacts.update", resource) when { context.args.stage == "x" };"#,
            ),
            (
                "sequences-q4",
                r#"permit(principal, action == Action::"sequences.add_contacts", resource) when { context.sequence_id == "q4" };"#,
            ),
        ],
    );
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "people.enrich",
            r#"{"email":"a","reveal_personal_emails":true}"#,
            None,
        ),
        (
            "people.enrich",
            r#"{"email":"a","reveal_phone_number":"true"}"#,
            None,
        ),
        (
            "people.bulk_enrich",
            r#"{"details":[{"email":"a"}],"reveal_phone_number":1,"reveal_personal_emails":1}"#,
            None,
        ),
        (
            "people.enrich",
            r#"{"email":"a","run_waterfall_email":true,"run_waterfall_phone":true}"#,
            None,
        ),
        ("people.bulk_enrich", r#"{"details":[{"email":"a"}]}"#, None),
        ("deals.list", "{}", None),
        ("deals.create", "{}", None),
        (
            "sequences.add_contacts",
            r#"{"contact_ids":["c"]}"#,
            Some("q3"),
        ),
        (
            "sequences.add_contacts",
            r#"{"contact_ids":["c"]}"#,
            Some("q4"),
        ),
        ("people.search", r#"{"per_page":100}"#, None),
        ("contacts.update", "{}", Some("c1")),
        ("contacts.update", r#"{"stage":"y"}"#, Some("c1")),
    ];
    let lines: Vec<String> = cases
        .iter()
        .map(|(id, json, path)| {
            let d = call(&p, id, json, *path);
            format!(
                "{id} {json} {path:?}\n  {} {:?}\n  {}",
                if d.allowed { "allow" } else { "deny" },
                d.rule_ids,
                d.reason()
            )
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn ask_first_holds_an_allowed_call_for_approval_and_says_why() {
    let p = policy(&["sequences=full:ask", "contacts=read"], &[]);
    let d = call(
        &p,
        "sequences.add_contacts",
        r#"{"contact_ids": ["c1", "c2"]}"#,
        Some("seq_1"),
    );
    assert!(
        !d.allowed,
        "a caller that only reads `allowed` fails closed"
    );
    assert_eq!(
        d.ask,
        Some(Ask::Capability {
            group: Group::Sequences,
            level: Level::Full
        })
    );
    assert_eq!(
        d.reason(),
        "Sales Agent may add contacts to a sequence only once a person approves the call: 'Sequences' is Full use with a person's approval for this agent."
    );
    // Reads of a group that does not ask go ahead.
    let d = call(&p, "contacts.search", "{}", None);
    assert!(d.allowed && d.ask.is_none());
}

#[test]
fn an_action_switch_refines_its_groups_ask() {
    let p = policy(&["contacts=full:ask", "contacts.search=on"], &[]);
    assert!(call(&p, "contacts.search", "{}", None).allowed);
    assert!(call(&p, "contacts.create", "{}", None).ask.is_some());
    let p = policy(&["contacts=read", "contacts.create=ask"], &[]);
    let d = call(&p, "contacts.create", "{}", None);
    assert_eq!(d.ask, Some(Ask::Action));
    assert!(call(&p, "contacts.search", "{}", None).allowed);
}

/// Found in review: the admin API stores a grid as given, and an action in `ask` with no
/// override of its own (`grant` always sets both) went through without approval.
#[test]
fn an_action_asked_for_without_its_own_switch_still_asks() {
    let add = |level: &str| {
        let mut g = grants(&[level]);
        g.ask.insert("sequences.add_contacts".into());
        let p = AgentPolicy::compile("agt_1", "Sales Agent", &g, &[]).unwrap();
        let d = call(
            &p,
            "sequences.add_contacts",
            r#"{"contact_ids": ["c1"]}"#,
            Some("seq_1"),
        );
        (p, d)
    };
    let (p, d) = add("sequences=full");
    assert!(!d.allowed);
    assert_eq!(d.ask, Some(Ask::Action));
    assert!(call(&p, "sequences.search", "{}", None).allowed);
    // With the group off, the action is refused, not asked.
    let (_, d) = add("sequences=off");
    assert!(!d.allowed && d.ask.is_none());
}

#[test]
fn reveal_ask_applies_only_to_calls_that_reveal() {
    let p = policy(&["people=full", "reveal=full:ask"], &[]);
    assert!(call(&p, "people.enrich", r#"{"email": "a@b.co"}"#, None).allowed);
    let d = call(
        &p,
        "people.enrich",
        r#"{"email": "a@b.co", "reveal_phone_number": true}"#,
        None,
    );
    assert_eq!(
        d.ask,
        Some(Ask::Reveal {
            what: "phone numbers"
        })
    );
}

#[test]
fn an_ask_annotated_rule_asks_only_when_it_matches() {
    let p = policy(
        &["sequences=full"],
        &[(
            "big-adds",
            r#"@ask("more than 25 contacts") permit(principal, action == Action::"sequences.add_contacts", resource) when { context.record_count > 25 };"#,
        )],
    );
    let few = r#"{"contact_ids": ["c1"]}"#;
    assert!(call(&p, "sequences.add_contacts", few, Some("seq_1")).allowed);
    let ids: Vec<String> = (0..30).map(|i| format!("\"c{i}\"")).collect();
    let many = format!(r#"{{"contact_ids": [{}]}}"#, ids.join(","));
    let d = call(&p, "sequences.add_contacts", &many, Some("seq_1"));
    assert_eq!(
        d.ask,
        Some(Ask::Rules {
            rules: vec!["'big-adds'".into()]
        })
    );
    assert!(d.rule_ids.contains(&"rule:big-adds".to_owned()));
    assert!(
        d.reason()
            .contains("the rule 'big-adds' asks for a person's approval")
    );
}

#[test]
fn a_forbid_beats_an_ask() {
    let p = policy(
        &["sequences=full:ask"],
        &[(
            "no-seq",
            r#"forbid(principal, action == Action::"sequences.add_contacts", resource);"#,
        )],
    );
    let d = call(
        &p,
        "sequences.add_contacts",
        r#"{"contact_ids": ["c1"]}"#,
        Some("s"),
    );
    assert!(!d.allowed && d.ask.is_none());
}

mod grants_alone {
    use super::*;
    use proptest::prelude::*;

    /// A flag as an agent might send it: true, false, and the spellings Apollo reads as
    /// either, or absent.
    fn flag_value() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(Value::Bool(true))),
            Just(Some(Value::Bool(false))),
            Just(Some(Value::from("true"))),
            Just(Some(Value::from("false"))),
            Just(Some(Value::from(1))),
            Just(Some(Value::from(0))),
            Just(Some(Value::Null)),
        ]
    }

    fn args() -> impl Strategy<Value = Args> {
        proptest::collection::vec(flag_value(), 4).prop_map(|values| {
            let mut body = serde_json::Map::new();
            for (flag, v) in crate::args::SENSITIVE_FLAGS.iter().zip(values) {
                if let Some(v) = v {
                    body.insert((*flag).to_owned(), v);
                }
            }
            read_args(
                None,
                Some("application/json"),
                Value::Object(body).to_string().as_bytes(),
            )
            .unwrap()
        })
    }

    fn level() -> impl Strategy<Value = Level> {
        prop::sample::select(Level::ALL.to_vec())
    }

    /// Any grid: every group at any level (`write` too where the group has no writes, as a
    /// stored grid might hold it), overrides on any actions, both switches, and asks.
    fn grants() -> impl Strategy<Value = Grants> {
        let groups = Group::ALL.len();
        let actions = catalog().len();
        (
            proptest::collection::vec(level(), groups),
            proptest::collection::btree_map(0..actions, any::<bool>(), 0..6),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::btree_set(0..groups + actions + 1, 0..4),
        )
            .prop_map(|(levels, overrides, reveal, waterfall, ask)| {
                let ids: Vec<&'static str> = catalog().iter().map(|a| a.id.as_str()).collect();
                let mut words: Vec<String> = Group::ALL.iter().map(|g| g.to_string()).collect();
                words.extend(ids.iter().map(|s| (*s).to_owned()));
                words.push(crate::grant::ASK_REVEAL.to_owned());
                Grants {
                    levels: Group::ALL.into_iter().zip(levels).collect(),
                    reveal,
                    waterfall,
                    overrides: overrides
                        .into_iter()
                        .filter_map(|(i, on)| ids.get(i).map(|id| ((*id).to_owned(), on)))
                        .collect(),
                    ask: ask
                        .into_iter()
                        .filter_map(|i| words.get(i).cloned())
                        .collect(),
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// The fast path for agents without rules gives Cedar's decision, reason, rule ids
        /// and approval for every action.
        #[test]
        fn grants_alone_decide_as_cedar_does(g in grants(), bodies in proptest::collection::vec(args(), 3)) {
            let p = AgentPolicy::compile("agt_1", "Sales Agent", &g, &[]).unwrap();
            for a in catalog() {
                for args in &bodies {
                    let cedar = decide_with(Engine::Cedar, &p, a, args, path_for(a));
                    let grants = decide_with(Engine::Grants, &p, a, args, path_for(a));
                    // Equal decisions (reason data, rule ids, ask) render the same sentences.
                    prop_assert_eq!(&grants, &cedar, "{} {:?}", a.id, args.value());
                }
            }
        }
    }

    #[test]
    fn an_agent_with_rules_is_decided_by_cedar_and_one_without_by_its_grants() {
        let plain = policy(&["people=read"], &[]);
        let ruled = policy(
            &["people=read"],
            &[("no-search", "forbid(principal, action, resource);")],
        );
        assert!(!plain.has_rules);
        assert!(ruled.has_rules);
        let d = call(&ruled, "people.search", "{}", None);
        assert!(!d.allowed);
        assert_eq!(d.rule_ids, vec!["rule:no-search".to_owned()]);
        assert!(call(&plain, "people.search", "{}", None).allowed);
    }
}
