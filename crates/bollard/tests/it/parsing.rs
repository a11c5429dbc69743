//! The gateway's argument reader against independent readings, over generated query strings
//! and bodies: the sandbox's own Rails-style parser (how Apollo reads what it receives) and a
//! model of old Rack's key normalisation (`per_page]` is `per_page`). Wherever the gateway
//! accepts a request, no reading may see a flag it missed, and what it forwards must read
//! back, upstream, as the arguments it decided on.

use apollo_sandbox::args::Args as Upstream;
use bollard_policy::args::SENSITIVE_FLAGS;
use bollard_policy::{Args, read_args};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const NAMES: &[&str] = &[
    "per_page",
    "page",
    "q_keywords",
    "webhook_url",
    "person_titles",
    "contact_ids",
    "details",
    "reveal_phone_number",
    "reveal_personal_emails",
    "run_waterfall_email",
    "run_waterfall_phone",
    "x",
];

/// Ways an agent might dress a name to have one parser read it and another not.
const DRESSING: &[(&str, &str)] = &[
    ("", ""),
    ("", ""),
    ("", ""),
    ("", "]"),
    ("[", ""),
    ("]", ""),
    ("", "[]"),
    ("", "[x]"),
    ("", "[0]"),
    ("", "%5D"),
    ("", "%5B%5D"),
    ("", " "),
    ("+", ""),
    ("", "."),
    ("", "]]"),
    ("", "\u{0}"),
];

const QUERY_VALUES: &[&str] = &[
    "1",
    "100",
    "25",
    "true",
    "false",
    "0",
    "",
    "on",
    "a+b",
    "x%40y.com",
    "%ZZ",
    "http://h/x",
];

fn name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(NAMES),
        prop::sample::select(DRESSING),
        any::<bool>(),
    )
        .prop_map(|(n, (pre, post), upper)| {
            let n = if upper {
                n.to_ascii_uppercase()
            } else {
                n.to_owned()
            };
            format!("{pre}{n}{post}")
        })
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec((name(), prop::sample::select(QUERY_VALUES)), 0..5).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..200).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        prop::sample::select(QUERY_VALUES).prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        1 => prop::collection::vec((name(), scalar()), 0..3)
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        1 => prop::collection::vec(
                prop::collection::vec((name(), scalar()), 1..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
                0..3,
            )
            .prop_map(Value::Array),
    ]
}

fn body() -> impl Strategy<Value = String> {
    prop::collection::vec((name(), value()), 0..5).prop_map(|kv| {
        let map: Map<String, Value> = kv.into_iter().collect();
        Value::Object(map).to_string()
    })
}

/// Old Rack's `normalize_params`: leading brackets dropped, the name ends at the first
/// bracket, trailing `]` dropped.
fn old_rack_name(key: &str) -> &str {
    let t = key.trim_start_matches(['[', ']']);
    let end = t.find(['[', ']']).unwrap_or(t.len());
    t.get(..end).unwrap_or_default()
}

fn names_read_the_same(map: &Map<String, Value>) -> Result<(), TestCaseError> {
    for (k, v) in map {
        prop_assert_eq!(
            old_rack_name(k),
            k.as_str(),
            "a name old Rack reads otherwise"
        );
        match v {
            Value::Object(m) => names_read_the_same(m)?,
            Value::Array(items) => {
                for i in items {
                    if let Value::Object(m) = i {
                        names_read_the_same(m)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// No flag the upstream reading sees as asked is missed by the gateway.
fn no_missed_flag(up: &Upstream, g: &Args, what: &str) -> Result<(), TestCaseError> {
    for f in SENSITIVE_FLAGS {
        if up.flag(f) == Ok(true) {
            prop_assert!(
                g.flag(f),
                "{} read upstream but not by the gateway ({})",
                f,
                what
            );
        }
    }
    Ok(())
}

/// The rule-relevant arguments read the same upstream as in the gateway's decision.
fn same_rule_arguments(up: &Upstream, g: &Args, what: &str) -> Result<(), TestCaseError> {
    for k in ["page", "per_page"] {
        if let Ok(n) = g.u64(k) {
            let up_n = up.int(k).ok().flatten();
            prop_assert_eq!(
                n.and_then(|n| i64::try_from(n).ok()),
                up_n,
                "{} ({})",
                k,
                what
            );
        }
    }
    for k in ["q_keywords", "webhook_url"] {
        let mine = Some(g.text(k)).filter(|s| !s.trim().is_empty());
        if let Ok(theirs) = up.str(k) {
            prop_assert_eq!(mine, theirs, "{} ({})", k, what);
        }
    }
    for k in ["person_titles", "contact_ids"] {
        let mine: Vec<String> = g
            .list(k)
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect();
        if let Ok(theirs) = up.strings(k) {
            prop_assert_eq!(mine, theirs, "{} ({})", k, what);
        }
    }
    if let Some(Value::Array(items)) = up.get("details") {
        let mine = match g.value().get("details") {
            Some(Value::Array(d)) => d.len(),
            Some(Value::Object(d)) => d.len(),
            _ => 0,
        };
        prop_assert_eq!(mine, items.len(), "details ({})", what);
    }
    Ok(())
}

fn check(query: &str, body: &str) -> Result<(), TestCaseError> {
    let Ok(g) = read_args(Some(query), Some("application/json"), body.as_bytes()) else {
        // Refused: nothing is forwarded, so no reading can differ.
        return Ok(());
    };
    names_read_the_same(g.value())?;
    // The agent's own bytes as Apollo would read them, had they been forwarded raw.
    if let Ok(raw) = Upstream::from_request(query, Some("application/json"), body.as_bytes()) {
        no_missed_flag(&raw, &g, "raw")?;
        same_rule_arguments(&raw, &g, "raw")?;
    }
    // What a POST forwards.
    let post = Upstream::from_request("", Some("application/json"), &g.to_json_body());
    prop_assert!(post.is_ok(), "the forwarded body does not parse");
    if let Ok(post) = post {
        no_missed_flag(&post, &g, "forwarded body")?;
        same_rule_arguments(&post, &g, "forwarded body")?;
    }
    // What a GET forwards, when the gateway lets it through as a GET.
    if g.check_query_shaped().is_ok() {
        let qs = g.to_query_string();
        let get = Upstream::from_request(&qs, None, b"");
        prop_assert!(get.is_ok(), "the forwarded query does not parse");
        if let Ok(get) = get {
            no_missed_flag(&get, &g, &format!("forwarded query {qs}"))?;
            same_rule_arguments(&get, &g, &format!("forwarded query {qs}"))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_gateway_and_apollo_read_every_request_alike(q in query(), b in body()) {
        check(&q, &b)?;
    }
}

/// The finding of the review, and its neighbours, pinned beside the generated cases.
#[test]
fn a_dressed_name_in_a_get_body_is_refused_not_re_encoded() {
    for key in [
        "per_page]",
        "[per_page",
        "per_page%5D",
        "per_page ",
        "Per_Page]",
    ] {
        let body = json!({ key: 100 }).to_string();
        let r = read_args(None, Some("application/json"), body.as_bytes());
        assert!(r.is_err(), "{key}: {r:?}");
    }
    let fine = read_args(None, Some("application/json"), br#"{"per_page": 10}"#);
    assert_eq!(
        fine.map(|a| a.to_query_string()).ok(),
        Some("per_page=10".into())
    );
}

#[tokio::test]
async fn dressed_names_never_reach_apollo_in_any_position_or_door() {
    let t = crate::helpers::TestApp::spawn().await;
    let key = t.agent("Reader", &["deals=read", "people=read"]).await;
    let rule = "forbid(principal, action, resource) when { context.per_page > 25 };";
    bollard::ops::add_rule(
        &*t.store,
        &crate::helpers::tester(),
        "Reader",
        "small-pages",
        rule,
    )
    .await
    .expect("rule");
    t.sync().await;
    for (method, path, body) in [
        (
            "GET",
            "/api/v1/opportunities/search",
            json!({"per_page]": 100}),
        ),
        (
            "GET",
            "/api/v1/opportunities/search",
            json!({"[per_page": 100}),
        ),
        (
            "GET",
            "/api/v1/opportunities/search",
            json!({"per_page%5D": 100}),
        ),
        (
            "GET",
            "/api/v1/opportunities/search",
            json!({"r": {"per_page]": 1}}),
        ),
        (
            "GET",
            "/api/v1/opportunities/search",
            json!({"details": [{"b": 1}, {"a": 2}]}),
        ),
        (
            "POST",
            "/api/v1/mixed_people/api_search",
            json!({"per_page ": 100}),
        ),
        (
            "POST",
            "/api/v1/mixed_people/api_search",
            json!({"details": [{"reveal_phone_number]": true}]}),
        ),
    ] {
        let a = t.send(method, path, Some(&key), Some(body.clone())).await;
        assert_eq!(a.status, 422, "{body}: {}", a.text);
        assert_eq!(a.code(), "BOLLARD_INVALID", "{}", a.text);
    }
    let (status, text) = t
        .raw_request("GET", "/api/v1/opportunities/search?per_page%5D=100", &key)
        .await;
    assert_eq!(status, 422, "{text}");
    assert!(t.journal().is_empty(), "{:?}", t.journal());
    // The rule still sees a plain per_page, and a plain one within it passes.
    let a = t
        .send(
            "GET",
            "/api/v1/opportunities/search",
            Some(&key),
            Some(json!({"per_page": 100})),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.text);
    let a = t
        .send(
            "GET",
            "/api/v1/opportunities/search",
            Some(&key),
            Some(json!({"per_page": 10})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(t.journal().len(), 1);
    // The same names as MCP tool arguments.
    let c = crate::mcp::connect(&t, &key).await;
    let r = crate::mcp::call(&c, "apollo_opportunities_search", json!({"per_page]": 100})).await;
    assert_eq!(r.is_error, Some(true), "{}", crate::mcp::text(&r));
    assert!(crate::mcp::text(&r).contains("not a name Apollo uses"));
    assert_eq!(t.journal().len(), 1);
    let _ = c.cancel().await;
    t.stop().await;
}
