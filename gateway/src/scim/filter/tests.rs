//! Unit and property tests of the filter parser, validation and evaluation.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::schema::{
    AttrType, AttributeDef, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, ResourceSchema, SchemaDef, USER_SCHEMA,
};
use proptest::prelude::*;
use serde_json::{Number, Value, json};
use std::sync::Arc;

const ENT: &str = ENTERPRISE_USER_SCHEMA;

fn attr(name: &str, kind: AttrType) -> AttributeDef {
    AttributeDef::new(name, kind)
}

fn exact(mut a: AttributeDef) -> AttributeDef {
    a.case_exact = true;
    a
}

fn complex(name: &str, multi: bool, subs: Vec<AttributeDef>) -> AttributeDef {
    let mut a = attr(name, AttrType::Complex);
    a.multi_valued = multi;
    a.sub_attributes = Some(subs);
    a
}

fn multi_contact(name: &str) -> AttributeDef {
    complex(
        name,
        true,
        vec![
            attr("value", AttrType::String),
            attr("display", AttrType::String),
            attr("type", AttrType::String),
            attr("primary", AttrType::Boolean),
        ],
    )
}

fn user() -> ResourceSchema {
    let core = SchemaDef {
        id: USER_SCHEMA.into(),
        name: Some("User".into()),
        description: None,
        attributes: vec![
            attr("userName", AttrType::String),
            complex(
                "name",
                false,
                vec![
                    attr("formatted", AttrType::String),
                    attr("familyName", AttrType::String),
                    attr("givenName", AttrType::String),
                ],
            ),
            attr("displayName", AttrType::String),
            attr("title", AttrType::String),
            attr("userType", AttrType::String),
            attr("active", AttrType::Boolean),
            attr("loginCount", AttrType::Integer),
            attr("score", AttrType::Decimal),
            attr("certificate", AttrType::Binary),
            exact(attr("profileUrl", AttrType::Reference)),
            multi_contact("emails"),
            multi_contact("ims"),
            complex("addresses", true, vec![attr("type", AttrType::String), attr("formatted", AttrType::String)]),
        ],
    };
    let ent = SchemaDef {
        id: ENT.into(),
        name: None,
        description: None,
        attributes: vec![
            attr("employeeNumber", AttrType::String),
            attr("department", AttrType::String),
            complex(
                "manager",
                false,
                vec![
                    exact(attr("value", AttrType::String)),
                    exact(attr("$ref", AttrType::Reference)),
                    attr("displayName", AttrType::String),
                ],
            ),
        ],
    };
    ResourceSchema {
        name: "User".into(),
        endpoint: "/Users".into(),
        core: Arc::new(core),
        extensions: vec![(Arc::new(ent), false)],
    }
}

fn group() -> ResourceSchema {
    let core = SchemaDef {
        id: GROUP_SCHEMA.into(),
        name: Some("Group".into()),
        description: None,
        attributes: vec![
            attr("displayName", AttrType::String),
            complex(
                "members",
                true,
                vec![
                    exact(attr("value", AttrType::String)),
                    attr("display", AttrType::String),
                    attr("type", AttrType::String),
                    exact(attr("$ref", AttrType::Reference)),
                ],
            ),
        ],
    };
    ResourceSchema { name: "Group".into(), endpoint: "/Groups".into(), core: Arc::new(core), extensions: vec![] }
}

fn alice() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Alice-Ext",
        "userName": "Alice@Contoso.com",
        "name": {"familyName": "O'Malley", "givenName": "Alice"},
        "displayName": "Alice O'Malley",
        "title": "Engineer",
        "userType": "Employee",
        "active": true,
        "loginCount": 42,
        "score": 3.5,
        "emails": [
            {"value": "alice@example.com", "type": "work", "primary": true},
            {"value": "alice@home.example.org", "type": "home"}
        ],
        "ims": [{"value": "alice@foo.com", "type": "xmpp"}],
        "addresses": [{"type": "work", "formatted": "1 Main St"}],
        "meta": {
            "resourceType": "User",
            "created": "2011-05-13T04:42:34Z",
            "lastModified": "2011-05-14T10:00:00+02:00"
        },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "Bob"}
        }
    })
}

fn bob() -> Value {
    json!({
        "id": "bob-id",
        "userName": "bob",
        "userType": "Contractor",
        "title": "",
        "active": false,
        "emails": [{"value": "bob@example.org", "type": "work"}],
    })
}

fn sales() -> Value {
    json!({
        "id": "g1",
        "displayName": "Sales",
        "members": [
            {"value": "u1", "display": "Alice", "type": "User", "$ref": "https://x/Users/u1"},
            {"value": "u2", "display": "Bob"}
        ]
    })
}

fn parse(s: &str) -> Filter {
    parse_filter(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn m(filter: &str, resource: &Value, schema: &ResourceSchema) -> bool {
    let f = parse(filter);
    validate(&f, schema).unwrap_or_else(|e| panic!("{filter:?} should validate: {e}"));
    matches(&f, resource, schema).unwrap_or_else(|e| panic!("{filter:?} should evaluate: {e}"))
}

fn p(name: &str) -> AttrPath {
    AttrPath::simple(name)
}

fn ps(name: &str, sub: &str) -> AttrPath {
    AttrPath { urn: None, name: name.into(), sub: Some(sub.into()) }
}

fn cmp(path: AttrPath, op: CompareOp, v: Value) -> Filter {
    Filter::Compare(path, op, v)
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

fn vp(path: AttrPath, inner: Filter) -> Filter {
    Filter::ValuePath(path, Box::new(inner))
}

fn filter_err(s: &str) -> ScimError {
    match parse_filter(s) {
        Ok(f) => panic!("{s:?} should be rejected, parsed as {f:?}"),
        Err(e) => {
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{e}");
            e
        }
    }
}

const RFC_EXAMPLES: &[&str] = &[
    "userName Eq \"john\"",
    "title pr",
    "title pr and userType eq \"Employee\"",
    "title pr or userType eq \"Intern\"",
    "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
    "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
    "userType eq \"Employee\" and (emails.type eq \"work\")",
    "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]",
    "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]",
    "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
    "meta.lastModified ge \"2011-05-13T04:42:34Z\"",
    "meta.lastModified lt \"2011-05-13T04:42:34Z\"",
    "meta.lastModified le \"2011-05-13T04:42:34Z\"",
    "name.familyName co \"O'Malley\"",
    "userName sw \"J\"",
    "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co \"O'Malley\"",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"",
];

#[test]
fn parses_rfc_examples_and_round_trips() {
    for s in RFC_EXAMPLES {
        let f = parse(s);
        validate(&f, &user()).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(parse_filter(&f.to_string()), Ok(f.clone()), "{s} → {f}");
    }
}

#[test]
fn parse_shapes() {
    assert_eq!(parse("title pr"), Filter::Present(p("title")));
    assert_eq!(parse("userName Eq \"john\""), cmp(p("userName"), CompareOp::Eq, json!("john")));
    assert_eq!(
        parse("title pr and userType eq \"Employee\""),
        and(Filter::Present(p("title")), cmp(p("userType"), CompareOp::Eq, json!("Employee")))
    );
    assert_eq!(
        parse("userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")"),
        and(
            cmp(p("userType"), CompareOp::Ne, json!("Employee")),
            not(or(
                cmp(p("emails"), CompareOp::Co, json!("example.com")),
                cmp(ps("emails", "value"), CompareOp::Co, json!("example.org"))
            ))
        )
    );
    assert_eq!(
        parse("emails[type eq \"work\" and value co \"@example.com\"]"),
        vp(
            p("emails"),
            and(cmp(p("type"), CompareOp::Eq, json!("work")), cmp(p("value"), CompareOp::Co, json!("@example.com")))
        )
    );
    assert_eq!(
        parse("name.familyName co \"O'Malley\""),
        cmp(ps("name", "familyName"), CompareOp::Co, json!("O'Malley"))
    );
}

#[test]
fn precedence_and_associativity() {
    let (a, b, c) = (Filter::Present(p("a")), Filter::Present(p("b")), Filter::Present(p("c")));
    assert_eq!(parse("a pr or b pr and c pr"), or(a.clone(), and(b.clone(), c.clone())));
    assert_eq!(parse("a pr and b pr or c pr"), or(and(a.clone(), b.clone()), c.clone()));
    assert_eq!(parse("a pr and b pr and c pr"), and(and(a.clone(), b.clone()), c.clone()));
    assert_eq!(parse("a pr and (b pr and c pr)"), and(a.clone(), and(b.clone(), c.clone())));
    assert_eq!(parse("(a pr or b pr) and c pr"), and(or(a.clone(), b.clone()), c.clone()));
    assert_eq!(parse("not (a pr) and b pr"), and(not(a.clone()), b.clone()));
    assert_eq!(parse("not(a pr)"), not(a.clone()));
    assert_eq!(parse("NOT (a pr) OR b PR AND c Pr"), or(not(a.clone()), and(b.clone(), c.clone())));
    assert_eq!(parse("  ( ( a pr ) )  "), a.clone());
    // Display keeps the tree.
    for f in [
        and(a.clone(), and(b.clone(), c.clone())),
        or(a.clone(), or(b.clone(), c.clone())),
        and(or(a.clone(), b.clone()), c.clone()),
        and(a.clone(), or(b.clone(), c.clone())),
        not(and(a.clone(), b.clone())),
    ] {
        assert_eq!(parse(&f.to_string()), f, "{f}");
    }
    assert_eq!(and(a.clone(), and(b.clone(), c.clone())).to_string(), "a pr and (b pr and c pr)");
    assert_eq!(or(and(a.clone(), b.clone()), c).to_string(), "a pr and b pr or c pr");
}

#[test]
fn case_insensitive_operators_and_literals() {
    for op in ["eq", "EQ", "Eq", "eQ"] {
        assert_eq!(parse(&format!("userName {op} \"a\"")), cmp(p("userName"), CompareOp::Eq, json!("a")));
    }
    for (s, op) in [
        ("ne", CompareOp::Ne),
        ("CO", CompareOp::Co),
        ("Sw", CompareOp::Sw),
        ("eW", CompareOp::Ew),
        ("GT", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("LT", CompareOp::Lt),
        ("Le", CompareOp::Le),
    ] {
        assert_eq!(parse(&format!("x {s} 1")), cmp(p("x"), op, json!(1)));
    }
    assert_eq!(parse("active eq True"), cmp(p("active"), CompareOp::Eq, json!(true)));
    assert_eq!(parse("active eq FALSE"), cmp(p("active"), CompareOp::Eq, json!(false)));
    assert_eq!(parse("title eq NULL"), cmp(p("title"), CompareOp::Eq, Value::Null));
    assert_eq!(parse("a pr AND b pr"), and(Filter::Present(p("a")), Filter::Present(p("b"))));
    assert_eq!(parse("USERNAME eq \"a\""), cmp(p("USERNAME"), CompareOp::Eq, json!("a")));
}

#[test]
fn value_literals() {
    assert_eq!(parse(r#"x eq "a\"b\\c\u00e9""#), cmp(p("x"), CompareOp::Eq, json!("a\"b\\cé")));
    assert_eq!(parse(r#"x eq "tab\there""#), cmp(p("x"), CompareOp::Eq, json!("tab\there")));
    assert_eq!(parse(r#"x eq "ü😀""#), cmp(p("x"), CompareOp::Eq, json!("ü😀")));
    assert_eq!(parse(r#"x eq "a ) ] and or""#), cmp(p("x"), CompareOp::Eq, json!("a ) ] and or")));
    assert_eq!(parse("x eq 42"), cmp(p("x"), CompareOp::Eq, json!(42)));
    assert_eq!(parse("x eq -7"), cmp(p("x"), CompareOp::Eq, json!(-7)));
    assert_eq!(parse("x gt 1.5"), cmp(p("x"), CompareOp::Gt, json!(1.5)));
    assert_eq!(parse("x lt -0.25"), cmp(p("x"), CompareOp::Lt, json!(-0.25)));
    assert_eq!(parse("x lt 1e3"), cmp(p("x"), CompareOp::Lt, json!(1000.0)));
    assert_eq!(parse("x eq 18446744073709551615"), cmp(p("x"), CompareOp::Eq, json!(u64::MAX)));
    assert_eq!(parse("x eq\"nospace\""), cmp(p("x"), CompareOp::Eq, json!("nospace")));
    assert_eq!(parse("x   eq    \"spaces\"  "), cmp(p("x"), CompareOp::Eq, json!("spaces")));
    // Canonical output.
    assert_eq!(parse(r#"x EQ "a\u00e9\"""#).to_string(), r#"x eq "aé\"""#);
    assert_eq!(parse("x eq TRUE").to_string(), "x eq true");
}

#[test]
fn urn_paths_and_ref() {
    assert_eq!(
        parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\""),
        cmp(
            AttrPath { urn: Some(ENT.into()), name: "employeeNumber".into(), sub: None },
            CompareOp::Eq,
            json!("701984")
        )
    );
    let f = parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"x\"");
    assert_eq!(
        f,
        cmp(
            AttrPath { urn: Some(ENT.into()), name: "manager".into(), sub: Some("value".into()) },
            CompareOp::Eq,
            json!("x")
        )
    );
    assert_eq!(f.to_string(), format!("{ENT}:manager.value eq \"x\""));
    assert_eq!(
        parse("members[$ref eq \"https://x/Users/u1\"]"),
        vp(p("members"), cmp(p("$ref"), CompareOp::Eq, json!("https://x/Users/u1")))
    );
    assert_eq!(parse("manager.$ref pr"), Filter::Present(ps("manager", "$ref")));
    assert_eq!(parse("x-y_z2 pr"), Filter::Present(p("x-y_z2")));
}

#[test]
fn entra_forms() {
    assert_eq!(
        parse("userName eq \"alice@contoso.com\""),
        cmp(p("userName"), CompareOp::Eq, json!("alice@contoso.com"))
    );
    assert_eq!(
        parse("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\""),
        cmp(p("externalId"), CompareOp::Eq, json!("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"))
    );
    assert_eq!(parse("displayName eq \"Sales\""), cmp(p("displayName"), CompareOp::Eq, json!("Sales")));
    assert_eq!(
        parse("id eq \"g1\" and members[value eq \"u1\"]"),
        and(cmp(p("id"), CompareOp::Eq, json!("g1")), vp(p("members"), cmp(p("value"), CompareOp::Eq, json!("u1"))))
    );
    assert_eq!(
        parse("id eq \"g1\" and members eq \"u1\""),
        and(cmp(p("id"), CompareOp::Eq, json!("g1")), cmp(p("members"), CompareOp::Eq, json!("u1")))
    );
    let f = parse("emails[type eq \"work\"].value eq \"a@b.com\"");
    assert_eq!(
        f,
        vp(
            p("emails"),
            and(cmp(p("type"), CompareOp::Eq, json!("work")), cmp(p("value"), CompareOp::Eq, json!("a@b.com")))
        )
    );
    assert_eq!(f.to_string(), "emails[type eq \"work\" and value eq \"a@b.com\"]");
    let f = parse("emails[type eq \"work\" or type eq \"home\"].value pr");
    assert_eq!(f.to_string(), "emails[(type eq \"work\" or type eq \"home\") and value pr]");
    assert_eq!(parse(&f.to_string()), f);
}

#[test]
fn rejects_with_helpful_errors() {
    let e = filter_err("userName eq");
    assert!(e.detail.contains("expected a value"), "{}", e.detail);
    assert!(e.detail.contains("end of input"), "{}", e.detail);
    let e = filter_err("userName xx \"a\"");
    assert!(
        e.detail.contains("operator") && e.detail.contains("'xx'") && e.detail.contains("character 10"),
        "{}",
        e.detail
    );
    let e = filter_err("(userName eq \"a\"");
    assert!(e.detail.contains("')'") && e.detail.contains("character 1"), "{}", e.detail);
    let e = filter_err("userName eq \"a\" or");
    assert!(e.detail.contains("attribute name"), "{}", e.detail);
    filter_err("userName eq \"a\" or ");
    filter_err("userName eq \"a\" and");
    let e = filter_err("userName eq \"abc");
    assert!(e.detail.contains("unterminated"), "{}", e.detail);
    let e = filter_err("userName eq alice");
    assert!(e.detail.contains("quoted"), "{}", e.detail);
    let e = filter_err("userName eq \"a\")");
    assert!(e.detail.contains("unbalanced"), "{}", e.detail);
    for bad in [
        "",
        "   ",
        "userName",
        "userName eq \"a\" userName eq \"b\"",
        "not userName eq \"a\"",
        "userName pr x",
        "userName prx",
        "emails[type eq \"work\"",
        "emails[type eq \"work\"]]",
        "emails[type[value eq \"x\"]]",
        "emails[type eq \"a\"].value",
        "emails[type eq \"a\"].",
        "emails.value[type eq \"a\"]",
        "emails[urn:x:y:type eq \"a\"]",
        "emails[name.sub eq \"a\"]",
        "name.givenName.x eq \"a\"",
        "1abc eq \"a\"",
        "foo:bar eq \"a\"",
        "urn: eq \"a\"",
        ":x eq \"a\"",
        "x eq 01",
        "x eq 1.",
        "x eq -",
        "x eq 1e",
        "x eq 1abc",
        "x eq \"a\"b",
        "x eq \"bad \\q escape\"",
        "x eq \"ctrl \u{1} char\"",
        "x eq [1]",
        "x eq {}",
        "x eq 'single'",
        "x eq",
        "x  ",
        "()",
        "(",
        ")",
        "and",
        "a pr and and b pr",
        "a pr or or",
        "x eq \"a\" + y eq \"b\"",
        "\u{e9}t\u{e9} pr",
    ] {
        filter_err(bad);
    }
}

#[test]
fn limits() {
    // Deep nesting just under the length limit: an error, not a stack overflow.
    let deep = format!("{}a pr{}", "(".repeat(4000), ")".repeat(4000));
    let e = filter_err(&deep);
    assert!(e.detail.contains("nesting"), "{}", e.detail);
    let e = filter_err(&"(".repeat(10_000));
    assert!(e.detail.contains("exceeds"), "{}", e.detail);
    let e = filter_err(&"(".repeat(100_000));
    assert!(e.detail.contains("exceeds"), "{}", e.detail);
    filter_err(&"not (".repeat(1000));
    // Exactly at the depth limit is fine; one more is not.
    let ok = format!("{}a pr{}", "(".repeat(MAX_FILTER_DEPTH), ")".repeat(MAX_FILTER_DEPTH));
    parse(&ok);
    let too_deep = format!("{}a pr{}", "(".repeat(MAX_FILTER_DEPTH + 1), ")".repeat(MAX_FILTER_DEPTH + 1));
    filter_err(&too_deep);
    // Length.
    let long = format!("userName eq \"{}\"", "a".repeat(MAX_FILTER_LEN));
    let e = filter_err(&long);
    assert!(e.detail.contains("8192"), "{}", e.detail);
    // Terms.
    let many = vec!["a pr"; MAX_FILTER_TERMS].join(" or ");
    parse(&many);
    let too_many = vec!["a pr"; MAX_FILTER_TERMS + 1].join(" or ");
    let e = filter_err(&too_many);
    assert!(e.detail.contains("200"), "{}", e.detail);
    // Patch paths are limited too.
    assert!(parse_patch_path(&format!("emails[{}a pr{}]", "(".repeat(5000), ")".repeat(5000))).is_err());
    assert!(parse_patch_path(&format!("emails[{}a pr{}]", "(".repeat(500), ")".repeat(500))).is_err());
}

#[test]
fn patch_paths() {
    let attr = |s: &str| match parse_patch_path(s) {
        Ok(PatchPath::Attr(a)) => a,
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(attr("userName"), p("userName"));
    assert_eq!(attr("name.familyName"), ps("name", "familyName"));
    assert_eq!(attr("NAME.FamilyName"), ps("NAME", "FamilyName"));
    assert_eq!(attr(&format!("{ENT}:manager")), AttrPath { urn: Some(ENT.into()), name: "manager".into(), sub: None });
    assert_eq!(
        attr(&format!("{ENT}:manager.value")),
        AttrPath { urn: Some(ENT.into()), name: "manager".into(), sub: Some("value".into()) }
    );
    assert_eq!(
        parse_patch_path("emails[type eq \"work\"].value"),
        Ok(PatchPath::ValuePath {
            attr: p("emails"),
            filter: cmp(p("type"), CompareOp::Eq, json!("work")),
            sub: Some("value".into())
        })
    );
    assert_eq!(
        parse_patch_path("members[value eq \"2819c223\"]"),
        Ok(PatchPath::ValuePath {
            attr: p("members"),
            filter: cmp(p("value"), CompareOp::Eq, json!("2819c223")),
            sub: None
        })
    );
    let pp = parse_patch_path("addresses[type eq \"work\"].formatted").unwrap();
    assert_eq!(pp.to_string(), "addresses[type eq \"work\"].formatted");
    assert_eq!(pp.attr(), &p("addresses"));
    validate(&pp.value_filter().unwrap(), &user()).unwrap();
    for s in [
        "emails[type eq \"work\"].value",
        "members[value eq \"2819c223\"]",
        "name.familyName",
        "emails[type eq \"work\" and primary eq true].display",
    ] {
        assert_eq!(parse_patch_path(s).unwrap().to_string(), s);
    }
    for bad in [
        "",
        "emails[",
        "emails[type eq \"work\"",
        "emails[type eq \"work\"].",
        "emails[type eq \"work\"].value.x",
        "emails[type eq \"work\"] x",
        "emails.value[type eq \"work\"]",
        "emails[type eq \"work\"][value pr]",
        "emails[x[y pr]]",
        "a.b.c",
        "a b",
        "userName eq \"a\"",
        "foo:bar",
    ] {
        let e = parse_patch_path(bad).expect_err(bad);
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}: {e}");
        assert_eq!(e.status, 400);
    }
}

#[test]
fn attr_paths() {
    assert_eq!(parse_attr_path("userName"), Ok(p("userName")));
    assert_eq!(parse_attr_path(" name.givenName "), Ok(ps("name", "givenName")));
    assert_eq!(
        parse_attr_path(&format!("{ENT}:employeeNumber")),
        Ok(AttrPath { urn: Some(ENT.into()), name: "employeeNumber".into(), sub: None })
    );
    assert_eq!(parse_attr_path("meta.lastModified").unwrap().to_string(), "meta.lastModified");
    for bad in ["", "emails[type eq \"work\"]", "a,b", "a.b.c", "1a", "a."] {
        let e = parse_attr_path(bad).expect_err(bad);
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    }
}

#[test]
fn evaluates_rfc_examples() {
    let u = user();
    let (a, b) = (alice(), bob());
    assert!(m("title pr", &a, &u));
    assert!(!m("title pr", &b, &u)); // empty string is not present
    assert!(m("title pr and userType eq \"Employee\"", &a, &u));
    assert!(!m("title pr and userType eq \"Employee\"", &b, &u));
    assert!(m("title pr or userType eq \"Intern\"", &a, &u));
    let f = "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")";
    assert!(m(f, &a, &u));
    assert!(!m(f, &b, &u));
    let f = "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")";
    assert!(!m(f, &a, &u));
    assert!(!m(f, &b, &u)); // bob has an example.org email
    assert!(m("userType ne \"Employee\" and not (emails co \"example.com\")", &b, &u));
    assert!(m("userType eq \"Employee\" and (emails.type eq \"work\")", &a, &u));
    assert!(m("userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]", &a, &u));
    // The work email and the example.org email are different elements.
    assert!(!m("emails[type eq \"work\" and value co \"example.org\"]", &a, &u));
    assert!(m("emails.type eq \"work\" and emails.value co \"example.org\"", &a, &u));
    let f = "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]";
    assert!(m(f, &a, &u));
    assert!(!m(f, &b, &u));
    assert!(m("ims[type eq \"xmpp\" and value co \"@foo.com\"]", &a, &u));
    assert!(m("name.familyName co \"O'Malley\"", &a, &u));
    assert!(m("name.familyName co \"o'malley\"", &a, &u)); // caseExact false
    assert!(m("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co \"O'Malley\"", &a, &u));
    assert!(m("userName sw \"alice\"", &a, &u));
    assert!(m("userName sw \"A\"", &a, &u));
    assert!(!m("userName sw \"J\"", &a, &u));
    assert!(m("userName ew \"CONTOSO.COM\"", &a, &u));
}

#[test]
fn evaluates_dates_chronologically() {
    let u = user();
    let a = alice();
    // lastModified is 2011-05-14T08:00:00Z written with a +02:00 offset.
    assert!(m("meta.lastModified gt \"2011-05-13T04:42:34Z\"", &a, &u));
    assert!(m("meta.lastModified gt \"2011-05-14T07:59:59Z\"", &a, &u));
    assert!(!m("meta.lastModified gt \"2011-05-14T08:00:00Z\"", &a, &u));
    assert!(m("meta.lastModified ge \"2011-05-14T08:00:00Z\"", &a, &u));
    assert!(m("meta.lastModified eq \"2011-05-14T08:00:00.000Z\"", &a, &u));
    // String comparison would say "2011-05-14T10" > "2011-05-14T09"; chronologically it is earlier.
    assert!(m("meta.lastModified lt \"2011-05-14T09:00:00Z\"", &a, &u));
    assert!(m("meta.created le \"2011-05-13T04:42:34Z\"", &a, &u));
    assert!(!m("meta.created lt \"2011-05-13T04:42:34Z\"", &a, &u));
    assert!(!m("meta.created gt \"2012-01-01T00:00:00Z\"", &a, &u));
}

#[test]
fn evaluates_entra_forms() {
    let u = user();
    let g = group();
    let (a, s) = (alice(), sales());
    assert!(m("userName eq \"alice@contoso.com\"", &a, &u)); // case-insensitive
    assert!(m("externalId eq \"Alice-Ext\"", &a, &u));
    assert!(!m("externalId eq \"alice-ext\"", &a, &u)); // caseExact
    assert!(m("id eq \"2819c223-7f76-453a-919d-413861904646\"", &a, &u));
    assert!(!m("id eq \"2819C223-7F76-453A-919D-413861904646\"", &a, &u));
    assert!(m("displayName eq \"Sales\"", &s, &g));
    assert!(m("displayName eq \"sales\"", &s, &g));
    assert!(m("id eq \"g1\" and members[value eq \"u1\"]", &s, &g));
    assert!(!m("id eq \"g1\" and members[value eq \"U1\"]", &s, &g)); // members.value caseExact
    assert!(!m("id eq \"g1\" and members[value eq \"u3\"]", &s, &g));
    assert!(m("id eq \"g1\" and members eq \"u2\"", &s, &g));
    assert!(!m("id eq \"g2\" and members eq \"u2\"", &s, &g));
    assert!(!m("members eq \"u3\"", &s, &g));
    assert!(m("members[$ref eq \"https://x/Users/u1\"]", &s, &g));
    assert!(m("members[display eq \"bob\" and value eq \"u2\"]", &s, &g));
    assert!(m("members.display co \"li\"", &s, &g));
    assert!(m("emails[type eq \"work\"].value eq \"alice@example.com\"", &a, &u));
    assert!(m("emails[type eq \"work\"].value eq \"ALICE@example.com\"", &a, &u));
    assert!(!m("emails[type eq \"home\"].value eq \"alice@example.com\"", &a, &u));
    assert!(m("emails co \"@home.example\"", &a, &u));
    assert!(m("emails[primary eq true].value ew \"example.com\"", &a, &u));
    assert!(m("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\"", &a, &u));
    assert!(m("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq \"701984\"", &a, &u));
    assert!(m(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\"",
        &a,
        &u
    ));
    assert!(m("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[displayName eq \"bob\"]", &a, &u));
    assert!(m(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq \"26118915-6090-4610-87e4-49d8ca9f808d\"",
        &a,
        &u
    ));
    assert!(!m("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\"", &bob(), &u));
}

#[test]
fn evaluation_semantics() {
    let u = user();
    let (a, b) = (alice(), bob());
    // Keys are looked up case-insensitively.
    let odd = json!({"USERNAME": "x", "Emails": [{"VALUE": "q@r.s", "Type": "work"}], "NAME": {"GIVENNAME": "Q"}});
    assert!(m("userName eq \"x\"", &odd, &u));
    assert!(m("emails[type eq \"work\" and value eq \"q@r.s\"]", &odd, &u));
    assert!(m("name.givenName eq \"q\"", &odd, &u));
    // Missing attribute: ne true, everything else false.
    assert!(m("displayName ne \"x\"", &b, &u));
    for op in ["eq", "co", "sw", "ew", "gt", "ge", "lt", "le"] {
        assert!(!m(&format!("displayName {op} \"x\""), &b, &u), "{op}");
    }
    assert!(!m("displayName pr", &b, &u));
    assert!(m("not (displayName pr)", &b, &u));
    // null literal.
    assert!(m("displayName eq null", &b, &u));
    assert!(!m("displayName eq null", &a, &u));
    assert!(m("displayName ne null", &a, &u));
    assert!(m("displayName eq null", &json!({"displayName": null}), &u));
    // Booleans.
    assert!(m("active eq true", &a, &u));
    assert!(m("active eq false", &b, &u));
    assert!(m("active ne true", &b, &u));
    assert!(!m("active eq true", &b, &u));
    // Numbers.
    assert!(m("loginCount eq 42", &a, &u));
    assert!(m("loginCount gt 41", &a, &u));
    assert!(m("loginCount le 42", &a, &u));
    assert!(!m("loginCount lt 42", &a, &u));
    assert!(m("score gt 3.25", &a, &u));
    assert!(m("score lt 4", &a, &u));
    assert!(m("score eq 3.5", &a, &u));
    assert!(m("loginCount ge -1", &a, &u));
    // String ordering (case-insensitive for caseExact false).
    assert!(m("userName gt \"alice\"", &a, &u));
    assert!(m("userName lt \"B\"", &a, &u));
    // pr on complex/multi-valued.
    assert!(m("emails pr", &a, &u));
    assert!(m("name pr", &a, &u));
    assert!(!m("name pr", &b, &u));
    assert!(!m("emails pr", &json!({"emails": []}), &u));
    assert!(!m("name pr", &json!({"name": {}}), &u));
    assert!(!m("name pr", &json!({"name": {"givenName": null}}), &u));
    assert!(m("emails.value pr", &a, &u));
    assert!(!m("emails.display pr", &a, &u));
    // Value path on a missing attribute, and not over value paths.
    assert!(!m("ims[type eq \"xmpp\"]", &b, &u));
    assert!(m("not (ims[type eq \"xmpp\"])", &b, &u));
    assert!(m("emails[not (type eq \"work\")]", &a, &u));
    assert!(!m("emails[not (type eq \"work\")]", &b, &u));
    // Multi-valued: any element.
    assert!(m("emails.type eq \"home\"", &a, &u));
    assert!(m("emails.type ne \"home\"", &a, &u));
    assert!(!m("emails.type ne \"work\"", &b, &u));
    // Element matching for PATCH.
    let inner = parse("type eq \"work\"");
    let emails = a["emails"].as_array().unwrap();
    let hits: Vec<bool> = emails.iter().map(|e| matches_element(&inner, e, &p("emails"), &u).unwrap()).collect();
    assert_eq!(hits, vec![true, false]);
}

#[test]
fn unknown_attributes_are_errors() {
    let u = user();
    let a = alice();
    for (f, name) in [
        ("nope eq \"x\"", "nope"),
        ("name.nope eq \"x\"", "name.nope"),
        ("emails[nope eq \"x\"]", "emails.nope"),
        ("urn:x:y:z eq \"x\"", "urn:x:y:z"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope pr", "nope"),
    ] {
        let parsed = parse(f);
        let e = validate(&parsed, &u).expect_err(f);
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(e.detail.contains(name), "{f}: {}", e.detail);
        let e = matches(&parsed, &a, &u).expect_err(f);
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    }
}

#[test]
fn validation_of_operators_and_values() {
    let u = user();
    let ok = |f: &str| validate(&parse(f), &u).unwrap_or_else(|e| panic!("{f}: {e}"));
    let bad = |f: &str, needle: &str| {
        let e = validate(&parse(f), &u).expect_err(f);
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert_eq!(e.status, 400);
        assert!(e.detail.contains(needle), "{f}: {}", e.detail);
    };
    ok("active eq true");
    ok("active ne false");
    ok("active eq null");
    ok("loginCount gt 5");
    ok("score ge 1");
    ok("score ge 1.5");
    ok("certificate eq \"TUlJ\"");
    ok("profileUrl sw \"https://\"");
    ok("emails co \"@x\"");
    ok("emails[type eq \"work\"]");
    ok("meta.lastModified gt \"2011-05-13T04:42:34Z\"");
    ok("id eq \"x\"");
    bad("active gt true", "boolean");
    bad("active lt false", "boolean");
    bad("certificate ge \"a\"", "binary");
    bad("certificate co \"a\"", "binary");
    bad("active co \"t\"", "co");
    bad("loginCount sw \"1\"", "integer");
    bad("meta.lastModified co \"2011\"", "dateTime");
    bad("active eq \"true\"", "true or false");
    bad("loginCount eq \"5\"", "integer");
    bad("loginCount eq 1.5", "integer");
    bad("score eq \"1\"", "number");
    bad("userName eq 5", "string");
    bad("userName eq true", "string");
    bad("meta.lastModified gt 5", "date-time");
    bad("userName gt null", "null");
    bad("name eq \"x\"", "sub-attribute");
    bad("userName[value eq \"x\"]", "complex");
    bad("emails[type gt true]", "emails.type");
    // Hand-built trees that the parser would reject are still caught.
    let nested = vp(p("emails"), vp(p("emails"), Filter::Present(p("type"))));
    assert!(validate(&nested, &u).is_err());
    assert!(matches(&nested, &alice(), &u).is_err());
    let with_sub = vp(ps("emails", "value"), Filter::Present(p("type")));
    assert!(validate(&with_sub, &u).is_err());
}

#[test]
fn values_at_for_sorting() {
    let u = user();
    let a = alice();
    let vals = |s: &str| values_at(&a, &parse_attr_path(s).unwrap(), &u);
    assert_eq!(vals("userName"), vec![&json!("Alice@Contoso.com")]);
    assert_eq!(vals("USERNAME"), vec![&json!("Alice@Contoso.com")]);
    assert_eq!(vals("name.familyName"), vec![&json!("O'Malley")]);
    assert_eq!(vals("emails.value"), vec![&json!("alice@example.com"), &json!("alice@home.example.org")]);
    assert_eq!(vals("emails"), vec![&json!("alice@example.com"), &json!("alice@home.example.org")]);
    assert_eq!(vals(&format!("{ENT}:employeeNumber")), vec![&json!("701984")]);
    assert_eq!(vals(&format!("{ENT}:manager.displayName")), vec![&json!("Bob")]);
    assert_eq!(vals("meta.created"), vec![&json!("2011-05-13T04:42:34Z")]);
    assert!(vals("displayNameX").is_empty());
    assert!(vals("nickName").is_empty());
    // The primary element comes first.
    let r = json!({"emails": [{"value": "b"}, {"value": "a", "primary": true}]});
    assert_eq!(values_at(&r, &p("emails"), &u), vec![&json!("a"), &json!("b")]);
    assert_eq!(values_at(&r, &ps("emails", "value"), &u), vec![&json!("a"), &json!("b")]);
}

// ---- property tests -------------------------------------------------------------------------

const CORE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn name_strategy() -> BoxedStrategy<String> {
    prop::sample::select(vec![
        "userName", "title", "emails", "name", "active", "x-y_z9", "$ref", "AND", "or", "pr", "eq", "Members",
    ])
    .prop_map(str::to_owned)
    .boxed()
}

fn root_path() -> BoxedStrategy<AttrPath> {
    (
        prop::option::of(prop::sample::select(vec![ENT, CORE_URN, "urn:a:b.c"])),
        name_strategy(),
        prop::option::of(prop::sample::select(vec!["value", "familyName", "$ref", "type"])),
    )
        .prop_map(|(urn, name, sub)| AttrPath { urn: urn.map(str::to_owned), name, sub: sub.map(str::to_owned) })
        .boxed()
}

fn value_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        "[a-z\"\\\\/ é😀\\t\\n\\u{0}\\u{1f}()\\[\\]]{0,10}".prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (any::<bool>(), 0u32..100_000, 0u32..1000).prop_map(|(neg, i, f)| {
            let text = format!("{}{i}.{f}", if neg { "-" } else { "" });
            Value::Number(text.parse::<Number>().expect("decimal"))
        }),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn op_strategy() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn leaf(path: BoxedStrategy<AttrPath>) -> BoxedStrategy<Filter> {
    prop_oneof![
        path.clone().prop_map(Filter::Present),
        (path, op_strategy(), value_strategy()).prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
    ]
    .boxed()
}

fn logic(inner: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
    inner
        .prop_recursive(depth, 24, 2, |f| {
            prop_oneof![
                (f.clone(), f.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                (f.clone(), f.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                f.prop_map(|a| Filter::Not(Box::new(a))),
            ]
        })
        .boxed()
}

fn filter_strategy() -> impl Strategy<Value = Filter> {
    let rel = name_strategy().prop_map(AttrPath::simple).boxed();
    let value_path = (name_strategy().prop_map(AttrPath::simple), logic(leaf(rel), 3))
        .prop_map(|(p, inner)| Filter::ValuePath(p, Box::new(inner)))
        .boxed();
    let root_leaf = prop_oneof![3 => leaf(root_path()), 1 => value_path].boxed();
    logic(root_leaf, 4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = parse_filter(&s);
        let _ = parse_patch_path(&s);
        let _ = parse_attr_path(&s);
    }

    #[test]
    fn filterish_strings_never_panic(s in "[a-zA-Z0-9 \"()\\[\\].:$\\\\_-]{0,80}") {
        let _ = parse_filter(&s);
        let _ = parse_patch_path(&s);
        let _ = parse_attr_path(&s);
        if let Ok(f) = parse_filter(&s) {
            prop_assert_eq!(parse_filter(&f.to_string()), Ok(f.clone()));
            let _ = validate(&f, &user());
            let _ = matches(&f, &alice(), &user());
        }
    }

    #[test]
    fn display_round_trips(f in filter_strategy()) {
        let text = f.to_string();
        prop_assert_eq!(parse_filter(&text), Ok(f), "text: {}", text);
    }

    #[test]
    fn evaluation_never_panics(f in filter_strategy()) {
        let u = user();
        let _ = validate(&f, &u);
        let _ = matches(&f, &alice(), &u);
        let _ = matches(&f, &bob(), &u);
        let _ = matches(&f, &json!(null), &u);
    }

    #[test]
    fn patch_path_round_trips(name in name_strategy(), inner in logic(leaf(name_strategy().prop_map(AttrPath::simple).boxed()), 3),
                              sub in prop::option::of(name_strategy())) {
        let pp = PatchPath::ValuePath { attr: AttrPath::simple(name), filter: inner, sub };
        prop_assert_eq!(parse_patch_path(&pp.to_string()), Ok(pp));
    }
}
