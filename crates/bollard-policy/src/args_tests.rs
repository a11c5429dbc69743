//! Unit tests of `args`: each names the behaviour it pins down.
#![expect(clippy::indexing_slicing, reason = "tests")]

use super::*;
use serde_json::json;

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

fn q(query: &str) -> Args {
    read_args(Some(query), None, b"").unwrap()
}

fn j(body: &str) -> Args {
    read_args(None, JSON, body.as_bytes()).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[test]
fn reads_rails_style_query_strings() {
    let a = q(
        "person_titles[]=VP+Sales&person_titles[]=CEO&revenue_range[min]=1&revenue_range[max]=10&q_keywords=a%20b&page=2",
    );
    assert_eq!(
        Value::Object(a.value().clone()),
        json!({"person_titles": ["VP Sales", "CEO"], "revenue_range": {"min": "1", "max": "10"},
               "q_keywords": "a b", "page": "2"})
    );
    assert_eq!(a.list("person_titles"), vec!["VP Sales", "CEO"]);
    assert_eq!(a.u64("page").unwrap(), Some(2));
    assert_eq!(a.str("q_keywords"), Some("a b"));
}

#[test]
fn reads_indexed_lists_and_lists_of_objects() {
    let a = q("details[1][email]=b%40x.com&details[0][email]=a%40x.com");
    assert_eq!(
        a.value()["details"],
        json!([{"email": "a@x.com"}, {"email": "b@x.com"}])
    );
    let a = q("details[][email]=a&details[][email]=b&details[][first_name]=B");
    assert_eq!(
        a.value()["details"],
        json!([{"email": "a"}, {"email": "b", "first_name": "B"}])
    );
    let a = q("a[0]=x");
    assert_eq!(a.list("a"), vec!["x"]);
}

#[test]
fn percent_encoded_brackets_are_brackets() {
    let a = q("person_titles%5B%5D=CEO");
    assert_eq!(a.list("person_titles"), vec!["CEO"]);
}

#[test]
fn bare_key_is_null_and_empty_value_is_empty() {
    let a = q("a&b=");
    assert_eq!(a.value()["a"], Value::Null);
    assert!(!a.has("a"));
    assert_eq!(a.str("b"), Some(""));
}

#[test]
fn reads_json_bodies_and_merges_with_query() {
    let a = read_args(
        Some("page=2"),
        JSON,
        br#"{"per_page": 10, "person_titles": ["CEO"]}"#,
    )
    .unwrap();
    assert_eq!(a.u64("page").unwrap(), Some(2));
    assert_eq!(a.u64("per_page").unwrap(), Some(10));
    assert_eq!(a.list("person_titles"), vec!["CEO"]);
}

#[test]
fn json_without_content_type_is_read_as_json() {
    let a = read_args(None, None, b"  {\"page\": 3}").unwrap();
    assert_eq!(a.u64("page").unwrap(), Some(3));
}

#[test]
fn form_bodies_are_read_like_queries() {
    let a = read_args(None, FORM, b"person_titles[]=CEO&page=4").unwrap();
    assert_eq!(a.list("person_titles"), vec!["CEO"]);
    assert_eq!(a.u64("page").unwrap(), Some(4));
    // Rack reads a POST body without a content type as a form.
    let a = read_args(None, None, b"reveal_phone_number=true").unwrap();
    assert!(a.flag("reveal_phone_number"));
}

#[test]
fn content_type_parameters_and_case_are_ignored() {
    let a = read_args(
        None,
        Some("Application/JSON; charset=utf-8"),
        b"{\"page\":1}",
    )
    .unwrap();
    assert_eq!(a.u64("page").unwrap(), Some(1));
}

#[test]
fn empty_bodies_are_fine_whatever_the_type() {
    for ct in [
        None,
        JSON,
        FORM,
        Some("text/plain"),
        Some("multipart/form-data"),
    ] {
        assert!(read_args(None, ct, b"").unwrap().value().is_empty());
        assert!(read_args(None, ct, b" \n").unwrap().value().is_empty());
    }
}

#[test]
fn other_content_types_are_refused() {
    for ct in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let e = read_args(None, Some(ct), b"{\"a\":1}").unwrap_err();
        assert!(matches!(e, ArgsError::ContentType(_)), "{ct}: {e}");
    }
}

#[test]
fn hostile_json_is_refused() {
    let dup = read_args(
        None,
        JSON,
        br#"{"reveal_phone_number": true, "reveal_phone_number": false}"#,
    );
    assert_eq!(
        dup.unwrap_err(),
        ArgsError::DuplicateKey {
            key: "reveal_phone_number".into()
        }
    );
    let nested_dup = read_args(None, JSON, br#"{"a": {"b": 1, "b": 1}}"#);
    assert!(matches!(nested_dup, Err(ArgsError::DuplicateKey { .. })));
    let escaped_dup = read_args(None, JSON, br#"{"page": 1, "pag\u0065": 2}"#);
    assert!(matches!(escaped_dup, Err(ArgsError::DuplicateKey { .. })));

    let deep = format!("{}1{}", "{\"a\":".repeat(17), "}".repeat(17));
    assert_eq!(
        read_args(None, JSON, deep.as_bytes()).unwrap_err(),
        ArgsError::TooDeep
    );
    let ok = format!("{}1{}", "{\"a\":".repeat(15), "}".repeat(15));
    assert!(read_args(None, JSON, ok.as_bytes()).is_ok());
    let deep_list = format!("{{\"a\":{}1{}}}", "[".repeat(20), "]".repeat(20));
    assert_eq!(
        read_args(None, JSON, deep_list.as_bytes()).unwrap_err(),
        ArgsError::TooDeep
    );

    let many = format!("{{\"a\":[{}]}}", vec!["1"; 10_001].join(","));
    assert_eq!(
        read_args(None, JSON, many.as_bytes()).unwrap_err(),
        ArgsError::TooMany
    );

    assert_eq!(
        read_args(None, JSON, b"[1]").unwrap_err(),
        ArgsError::NotAnObject
    );
    assert_eq!(
        read_args(None, JSON, b"\"x\"").unwrap_err(),
        ArgsError::NotAnObject
    );
    assert!(matches!(
        read_args(None, JSON, b"{\"a\":1} {}"),
        Err(ArgsError::Json(_))
    ));
    assert!(matches!(
        read_args(None, JSON, b"{\"a\":"),
        Err(ArgsError::Json(_))
    ));
    assert!(matches!(
        read_args(None, JSON, b"{\"a\":\"\xff\"}"),
        Err(ArgsError::Utf8 { .. })
    ));
}

#[test]
fn hostile_queries_are_refused() {
    assert!(matches!(
        read_args(Some("a=%ff"), None, b""),
        Err(ArgsError::Utf8 { .. })
    ));
    assert!(matches!(
        read_args(Some("a=%zz"), None, b""),
        Err(ArgsError::Percent { .. })
    ));
    assert!(matches!(
        read_args(Some("a=%4"), None, b""),
        Err(ArgsError::Percent { .. })
    ));
    assert!(matches!(
        read_args(Some("a=%+1"), None, b""),
        Err(ArgsError::Percent { .. })
    ));
    for bad in ["a[b=1", "[a]=1", "a]=1", "a[b]c=1", "a[b[c]]=1", "a[][]=1"] {
        assert!(
            matches!(
                read_args(Some(bad), None, b""),
                Err(ArgsError::MalformedKey { .. })
            ),
            "{bad}"
        );
    }
    let deep = format!("a{}=1", "[b]".repeat(16));
    assert_eq!(
        read_args(Some(&deep), None, b"").unwrap_err(),
        ArgsError::TooDeep
    );
    let many = vec!["a[]=1"; 10_001].join("&");
    assert_eq!(
        read_args(Some(&many), None, b"").unwrap_err(),
        ArgsError::TooMany
    );
    // The limit counts the query and the body together.
    let half = vec!["a[]=1"; 6_000].join("&");
    let body = format!("{{\"b\":[{}]}}", vec!["1"; 6_000].join(","));
    assert_eq!(
        read_args(Some(&half), JSON, body.as_bytes()).unwrap_err(),
        ArgsError::TooMany
    );
}

#[test]
fn repeated_scalars_with_different_values_conflict() {
    let e = read_args(Some("per_page=10&per_page=500"), None, b"").unwrap_err();
    assert_eq!(
        e.to_string(),
        "'per_page' is given twice with different values (10 and 500); send it once."
    );
    assert!(matches!(e, ArgsError::Conflict { ref key, .. } if key == "per_page"));
    assert!(read_args(Some("per_page=10&per_page=10"), None, b"").is_ok());
    let e = read_args(Some("r[min]=1&r[min]=2"), None, b"").unwrap_err();
    assert!(
        matches!(e, ArgsError::Conflict { ref key, .. } if key == "r[min]"),
        "{e}"
    );
}

#[test]
fn query_and_body_disagreeing_conflict() {
    let e = read_args(Some("per_page=10"), JSON, br#"{"per_page": 500}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "'per_page' is given twice with different values (10 and 500); send it once."
    );
    // The same value spelled differently is the same value.
    assert!(read_args(Some("per_page=10"), JSON, br#"{"per_page": 10}"#).is_ok());
    assert!(read_args(Some("a[]=x"), JSON, br#"{"a": ["x"]}"#).is_ok());
    assert!(read_args(Some("a[]=x"), JSON, br#"{"a": ["y"]}"#).is_err());
    assert!(read_args(Some("r[min]=1"), JSON, br#"{"r": {"max": 1}}"#).is_err());
}

#[test]
fn mixing_shapes_conflicts() {
    for query in [
        "a=1&a[]=2",
        "a[]=1&a=2",
        "a[b]=1&a=2",
        "a=1&a[b]=2",
        "a[]=1&a[b]=2",
    ] {
        let e = read_args(Some(query), None, b"").unwrap_err();
        assert!(matches!(e, ArgsError::Conflict { .. }), "{query}: {e}");
    }
    let e = read_args(Some("a=1&a[]=2"), None, b"").unwrap_err();
    assert_eq!(
        e.to_string(),
        "'a' is given both as a single value and as a list; send it one way."
    );
}

#[test]
fn api_keys_never_conflict_and_are_never_quoted() {
    let a = read_args(Some("api_key=secret1"), JSON, br#"{"api_key": "secret2"}"#).unwrap();
    assert_eq!(a.str("api_key"), Some("secret2"));
    let a = read_args(Some("api_key=s1&api_key=s2"), None, b"").unwrap();
    assert!(a.has("api_key"));
}

#[test]
fn without_secrets_drops_api_keys_everywhere() {
    let a = read_args(
        Some("API_KEY=x&page=1"),
        JSON,
        br#"{"api_key": "y", "details": [{"Api_Key": "z", "email": "a"}], "n": {"API_KEY": "w"}}"#,
    )
    .unwrap();
    let clean = a.without_secrets();
    assert_eq!(
        Value::Object(clean.value().clone()),
        json!({"page": "1", "details": [{"email": "a"}], "n": {}})
    );
    let body = String::from_utf8(clean.to_json_body()).unwrap();
    assert!(!body.contains("api_key") && !body.contains('y'));
    assert!(!clean.to_query_string().to_lowercase().contains("api_key"));
}

/// Every way we know of to ask for a phone reveal. Each must read as asking.
#[test]
fn every_smuggled_reveal_flag_reads_true() {
    let queries = [
        "reveal_phone_number=true",
        "reveal_phone_number=TRUE",
        "reveal_phone_number=True",
        "reveal_phone_number=1",
        "reveal_phone_number=yes",
        "reveal_phone_number=t",
        "reveal_phone_number=on",
        "reveal_phone_number=%74rue",
        "reveal_phone_number=+true",
        "reveal_phone_number=false+",
        "reveal_phone_number=no",
        "reveal%5Fphone%5Fnumber=true",
        "Reveal_Phone_Number=true",
        "REVEAL_PHONE_NUMBER=1",
        "reveal_phone_number[]=true",
        "reveal_phone_number[]=false",
        "reveal_phone_number[x]=true",
        "reveal_phone_number%5B%5D=true",
        "reveal_phone_number=false&reveal_phone_number=true",
        "reveal_phone_number=true&reveal_phone_number=false",
        "reveal_phone_number=0&reveal_phone_number=1&reveal_phone_number=0",
        "a=1;reveal_phone_number=true",
        "details[][reveal_phone_number]=true",
        "details[0][reveal_phone_number]=true",
        "x[y][reveal_phone_number]=1",
        "reveal_phone_number[]=",
        "+reveal_phone_number=true",
    ];
    // Asking, or refused outright (a name Rack could read as another): never read as not
    // asking.
    let asks = |r: Result<Args, ArgsError>, what: &str| match r {
        Ok(a) => assert!(a.flag("reveal_phone_number"), "{what}"),
        Err(e) => assert!(matches!(e, ArgsError::AmbiguousName { .. }), "{what}: {e}"),
    };
    for query in queries {
        asks(read_args(Some(query), None, b""), query);
        asks(read_args(None, FORM, query.as_bytes()), query);
        asks(read_args(None, None, query.as_bytes()), query);
    }
    let bodies = [
        r#"{"reveal_phone_number": true}"#,
        r#"{"reveal_phone_number": "true"}"#,
        r#"{"reveal_phone_number": "TRUE"}"#,
        r#"{"reveal_phone_number": "1"}"#,
        r#"{"reveal_phone_number": 1}"#,
        r#"{"reveal_phone_number": 2}"#,
        r#"{"reveal_phone_number": -1}"#,
        r#"{"reveal_phone_number": 0.0}"#,
        r#"{"reveal_phone_number": 0.5}"#,
        r#"{"reveal_phone_number": "yes"}"#,
        r#"{"reveal_phone_number": " false"}"#,
        r#"{"reveal_phone_number": "False"}"#,
        r#"{"reveal_phone_number": ["true"]}"#,
        r#"{"reveal_phone_number": ["false"]}"#,
        r#"{"reveal_phone_number": []}"#,
        r#"{"reveal_phone_number": {"a": 1}}"#,
        r#"{"reveal_phone_number": {}}"#,
        r#"{"Reveal_Phone_Number": true}"#,
        r#"{"reveal_phone_number[]": "true"}"#,
        r#"{"reveal_phone_number[x]": "true"}"#,
        r#"{" reveal_phone_number ": true}"#,
        r#"{"reveal_phone_numb\u0065r": true}"#,
        r#"{"reveal_phone_number": false, "Reveal_phone_number": true}"#,
        r#"{"details": [{"email": "a", "reveal_phone_number": true}]}"#,
        r#"{"nested": {"deeper": {"reveal_phone_number": "on"}}}"#,
    ];
    for body in bodies {
        asks(read_args(None, JSON, body.as_bytes()), body);
        asks(read_args(None, None, body.as_bytes()), body);
        let a = Args::from_value(obj(serde_json::from_str(body).unwrap()));
        assert!(a.flag("reveal_phone_number"), "mcp {body}");
        asks(
            Args::try_from_value(obj(serde_json::from_str(body).unwrap())),
            body,
        );
    }
    // Query says false, body says true (and the other way round): true.
    for (query, body) in [
        (
            "reveal_phone_number=false",
            r#"{"reveal_phone_number": true}"#,
        ),
        (
            "reveal_phone_number=true",
            r#"{"reveal_phone_number": false}"#,
        ),
        ("reveal_phone_number=1", r#"{"reveal_phone_number": "0"}"#),
        (
            "Reveal_Phone_Number=true",
            r#"{"reveal_phone_number": false}"#,
        ),
    ] {
        let a = read_args(Some(query), JSON, body.as_bytes()).unwrap();
        assert!(a.flag("reveal_phone_number"), "{query} + {body}");
        assert_eq!(a.value().get("reveal_phone_number"), Some(&json!(true)));
    }
    // The flag name itself is compared the same way.
    let a = j(r#"{"reveal_phone_number": true}"#);
    assert!(a.flag("Reveal_Phone_Number") && a.flag("reveal_phone_number[]"));
}

#[test]
fn rails_false_values_read_false() {
    for v in ["false", "FALSE", "0", "f", "F", "off", "OFF", ""] {
        let a = q(&format!("reveal_personal_emails={v}"));
        assert!(!a.flag("reveal_personal_emails"), "{v}");
        let a = j(&format!("{{\"reveal_personal_emails\": \"{v}\"}}"));
        assert!(!a.flag("reveal_personal_emails"), "{v}");
    }
    for body in [
        r#"{"reveal_personal_emails": false}"#,
        r#"{"reveal_personal_emails": 0}"#,
        r#"{"reveal_personal_emails": null}"#,
        r#"{}"#,
    ] {
        assert!(!j(body).flag("reveal_personal_emails"), "{body}");
    }
    assert!(!q("reveal_personal_emails").flag("reveal_personal_emails"));
    assert!(
        !q("reveal_personal_emails=false&reveal_personal_emails=0").flag("reveal_personal_emails")
    );
}

#[test]
fn flags_are_canonical_booleans_in_what_is_forwarded() {
    let a = q("reveal_phone_number[x]=1&reveal_personal_emails=0&page=1");
    assert_eq!(a.value()["reveal_phone_number"], json!(true));
    assert_eq!(a.value()["reveal_personal_emails"], json!(false));
    let body: Value = serde_json::from_slice(&a.to_json_body()).unwrap();
    assert_eq!(body["reveal_phone_number"], json!(true));
    assert_eq!(
        a.to_query_string(),
        "page=1&reveal_personal_emails=false&reveal_phone_number=true"
    );
    let m = Args::from_value(obj(json!({"run_waterfall_email": "yes"})));
    assert_eq!(m.value()["run_waterfall_email"], json!(true));
}

#[test]
fn numbers_read_from_numbers_and_digit_strings() {
    assert_eq!(j(r#"{"page": 7}"#).u64("page").unwrap(), Some(7));
    assert_eq!(j(r#"{"page": "7"}"#).u64("page").unwrap(), Some(7));
    assert_eq!(j(r#"{"page": null}"#).u64("page").unwrap(), None);
    assert_eq!(j(r#"{"page": ""}"#).u64("page").unwrap(), None);
    assert_eq!(j("{}").u64("page").unwrap(), None);
    for bad in [
        r#""-1""#,
        "-1",
        "1.5",
        r#""1e3""#,
        r#""ten""#,
        "[1]",
        r#""99999999999999999999999""#,
        "true",
    ] {
        let e = j(&format!("{{\"page\": {bad}}}")).u64("page").unwrap_err();
        assert!(matches!(e, ArgsError::NotANumber { .. }), "{bad}");
        assert!(
            e.to_string().starts_with("'page' must be a whole number"),
            "{e}"
        );
    }
}

#[test]
fn lists_accept_single_values() {
    let a = j(r#"{"a": "x", "b": ["x", 2, null, {"c": 1}], "c": 5}"#);
    assert_eq!(a.list("a"), vec!["x"]);
    assert_eq!(a.list("b"), vec!["x", "2"]);
    assert_eq!(a.list("c"), vec!["5"]);
    assert!(a.list("missing").is_empty());
}

/// An object read as a list (Rails reads `a[0]=x` as a hash, Apollo takes its values) keeps
/// its order through the query string a GET forwards: sorting its keys had sent
/// `t[0]=100&t[x]=1`, which Apollo reads as 100, 1 where the gate read 1, 100 (found by
/// the parsing property test in CI).
#[test]
fn an_objects_order_survives_the_query_string() {
    let a = read_args(Some("person_titles[x]=1&person_titles[0]=100"), None, b"").unwrap();
    assert_eq!(a.list("person_titles"), ["1", "100"]);
    let qs = a.to_query_string();
    assert_eq!(qs, "person_titles[x]=1&person_titles[0]=100");
    let back = read_args(Some(&qs), None, b"").unwrap();
    assert_eq!(back.list("person_titles"), ["1", "100"]);
}

#[test]
fn query_strings_round_trip() {
    let a = j(
        r#"{"person_titles": ["VP Sales", "C&O"], "revenue_range": {"min": 1, "max": 10},
                 "q_keywords": "a=b", "details": [{"email": "a@x"}, {"email": "b@x"}], "n": null,
                 "e": [], "key.with-dots": "ü"}"#,
    );
    let qs = a.to_query_string();
    assert_eq!(
        qs,
        "details[][email]=a%40x&details[][email]=b%40x&key.with-dots=%C3%BC&n&person_titles[]=VP%20Sales&person_titles[]=C%26O&q_keywords=a%3Db&revenue_range[min]=1&revenue_range[max]=10"
    );
    let back = read_args(Some(&qs), None, b"").unwrap();
    assert_eq!(back.list("person_titles"), vec!["VP Sales", "C&O"]);
    assert_eq!(back.str("q_keywords"), Some("a=b"));
    assert_eq!(
        back.value()["details"],
        json!([{"email": "a@x"}, {"email": "b@x"}])
    );
    assert_eq!(
        back.value()["revenue_range"],
        json!({"min": "1", "max": "10"})
    );
    assert_eq!(back.str("key.with-dots"), Some("ü"));
}

#[test]
fn json_body_is_the_canonical_reading() {
    let a = read_args(Some("page=2"), JSON, br#"{"per_page": 5}"#).unwrap();
    let v: Value = serde_json::from_slice(&a.to_json_body()).unwrap();
    assert_eq!(v, json!({"page": "2", "per_page": 5}));
}

#[test]
fn try_from_value_holds_the_limits() {
    let mut deep = json!(1);
    for _ in 0..20 {
        deep = json!({ "a": deep });
    }
    assert_eq!(
        Args::try_from_value(obj(deep)).unwrap_err(),
        ArgsError::TooDeep
    );
    let many = json!({"a": vec![1; 10_001]});
    assert_eq!(
        Args::try_from_value(obj(many)).unwrap_err(),
        ArgsError::TooMany
    );
    assert!(Args::try_from_value(obj(json!({"a": [1, 2]}))).is_ok());
}

#[test]
fn without_removes_one_key_and_keeps_flags() {
    let a = Args::from_value(obj(
        json!({"contact_id": "c1", "reveal_phone_number": true}),
    ));
    let b = a.without("contact_id");
    assert!(!b.has("contact_id"));
    assert!(b.flag("reveal_phone_number"));
}

#[test]
fn error_messages_read_as_sentences() {
    let errors = [
        read_args(None, JSON, b"{").unwrap_err(),
        read_args(None, JSON, b"[]").unwrap_err(),
        read_args(None, JSON, br#"{"a":1,"a":2}"#).unwrap_err(),
        read_args(Some("a=%zz"), None, b"").unwrap_err(),
        read_args(Some("a[b=1"), None, b"").unwrap_err(),
        read_args(None, Some("text/plain"), b"x").unwrap_err(),
        read_args(Some("a=%ff"), None, b"").unwrap_err(),
        read_args(Some("a=1&a[]=1"), None, b"").unwrap_err(),
        ArgsError::TooDeep,
        ArgsError::TooMany,
    ];
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(text.join("\n"));
}

#[test]
fn method_overrides_are_refused() {
    for (query, body) in [
        (Some("_method=PATCH"), ""),
        (None, "_method=patch"),
        (None, r#"{"_method": "DELETE"}"#),
        (Some("_Method[]=x"), ""),
    ] {
        let e = read_args(query, None, body.as_bytes()).unwrap_err();
        assert_eq!(e, ArgsError::MethodOverride, "{query:?} {body}");
    }
    assert!(q("method=x").has("method"));
}

#[test]
fn conflicts_never_quote_personal_data() {
    for (query, expected) in [
        (
            "email=a%40x.com&email=b%40x.com",
            "'email' is given twice with different values; send it once.",
        ),
        (
            "first_name=Ada&first_name=Grace",
            "'first_name' is given twice with different values; send it once.",
        ),
        (
            "q_keywords=a+b&q_keywords=c",
            "'q_keywords' is given twice with different values; send it once.",
        ),
        (
            "sort_by_field=amount&sort_by_field=is_won",
            "'sort_by_field' is given twice with different values (amount and is_won); send it once.",
        ),
    ] {
        assert_eq!(
            read_args(Some(query), None, b"").unwrap_err().to_string(),
            expected
        );
    }
    let e = read_args(Some("a[]=x"), JSON, br#"{"a": ["y"]}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "'a' is given twice with different values; send it once."
    );
}

#[test]
fn refuses_names_any_rack_could_read_as_another_name_in_every_position() {
    let bad_names = [
        "per_page]",
        "[per_page",
        "]per_page",
        "per_page]]",
        "per_page%5D",
        "per_page ",
        " per_page",
        "per page",
        "per_page\u{0}",
        "pér_page",
        "per+page",
        "per_page=1",
        "a&per_page",
        "a;per_page",
        "",
    ];
    for name in bad_names {
        let key = serde_json::to_string(name).unwrap();
        for body in [
            format!("{{{key}: 100}}"),
            format!(r#"{{"details": [{{{key}: 1}}]}}"#),
            format!(r#"{{"revenue_range": {{{key}: 1}}}}"#),
        ] {
            let e = read_args(None, JSON, body.as_bytes());
            assert!(
                matches!(e, Err(ArgsError::AmbiguousName { .. })),
                "{body}: {e:?}"
            );
        }
        let mut m = Map::new();
        m.insert("x".into(), json!({ name: 1 }));
        assert!(
            matches!(
                Args::try_from_value(m),
                Err(ArgsError::AmbiguousName { .. })
            ),
            "{name:?} as an MCP argument"
        );
    }
    // In the query, a name that survives bracket parsing is checked the same way.
    for query in ["per%20page=1", "r[min%5D]=1", "r[m%20in]=1", "a[b%26c]=1"] {
        let e = read_args(Some(query), None, b"");
        assert!(e.is_err(), "{query}: {e:?}");
    }
    // Apollo's own names, custom field ids and index keys pass.
    let ok = j(
        r#"{"per_page": 1, "typed_custom_fields": {"60c3-a1.b_2": "x"}, "details": [{"first_name": "a"}]}"#,
    );
    assert_eq!(ok.u64("per_page"), Ok(Some(1)));
    assert_eq!(q("a[0]=x&a[1]=y").list("a"), vec!["x", "y"]);
}

#[test]
fn names_refusal_reads_as_a_sentence_without_control_bytes() {
    let e = read_args(None, JSON, b"{\"per_page]\\u0000\": 1}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "The request body has an argument named 'per_page]?', which is not a name Apollo uses: argument names are letters, digits, '_', '-' and '.', so that no version of Apollo's parser can read one as another name."
    );
}

#[test]
fn a_get_call_takes_only_what_a_query_string_carries_exactly() {
    for body in [
        r#"{"details": [{"b": 1}, {"a": 2}]}"#,
        r#"{"x": [[1]]}"#,
        r#"{"r": {"s": [{"a": 1}]}}"#,
    ] {
        let e = j(body).check_query_shaped();
        assert!(
            matches!(e, Err(ArgsError::NotQueryShaped { .. })),
            "{body}: {e:?}"
        );
    }
    for body in [
        r#"{"person_titles": ["a", "b"], "revenue_range": {"min": 1}, "q": null, "p": 2}"#,
        "{}",
    ] {
        let a = j(body);
        assert_eq!(a.check_query_shaped(), Ok(()), "{body}");
        // What is forwarded reads back as what was decided.
        let back = q(&a.to_query_string());
        assert_eq!(back.list("person_titles"), a.list("person_titles"));
        assert_eq!(back.u64("p").ok(), a.u64("p").ok());
    }
}

#[test]
fn a_list_given_as_an_object_is_read_as_its_values() {
    assert_eq!(
        j(r#"{"person_titles": {"0": "ceo", "x": "cto"}}"#).list("person_titles"),
        vec!["ceo", "cto"]
    );
}
