//! Unit and property tests of PATCH parsing and application, Entra's request shapes included.

use super::*;
use crate::scim::error::{ScimResult, ScimType};
use crate::scim::filter::PatchPath;
use crate::scim::resource::tests::{CUSTOM, custom_schema, group_schema, user_schema};
use crate::scim::resource::{WriteMode, normalize};
use crate::scim::schema::{ENTERPRISE_USER_SCHEMA as ENT, GROUP_SCHEMA, ResourceSchema, USER_SCHEMA};
use serde_json::{Map, Value, json};

fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
}

fn patch(doc: &Value, ops: Value, schema: &ResourceSchema) -> ScimResult<(Value, PatchOutcome)> {
    let ops = parse_patch(&body(ops))?;
    let mut d = doc.clone();
    let out = apply_patch(&mut d, &ops, schema)?;
    Ok((d, out))
}

fn user_patch(doc: &Value, ops: Value) -> ScimResult<Value> {
    let (d, out) = patch(doc, ops, &user_schema())?;
    assert!(out.member_changes.is_empty());
    Ok(d)
}

fn group_patch(ops: Value) -> ScimResult<Vec<MemberChange>> {
    let doc = group_doc();
    let (d, out) = patch(&doc, ops, &group_schema())?;
    assert!(d.get("members").is_none());
    Ok(out.member_changes)
}

fn err(r: ScimResult<impl std::fmt::Debug>) -> (u16, Option<ScimType>, String) {
    let e = r.expect_err("expected an error");
    (e.status, e.scim_type, e.detail)
}

fn user_doc() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENT],
        "id": "u1",
        "externalId": "ext-1",
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "lastModified": "2024-01-01T00:00:00Z", "version": "W/\"1\""},
        "userName": "ann@example.com",
        "name": {"familyName": "Smith", "givenName": "Ann"},
        "displayName": "Ann Smith",
        "active": true,
        "emails": [{"value": "ann@example.com", "type": "work", "primary": true}],
        "addresses": [{"streetAddress": "1 Main St", "type": "work"}],
        ENT: {"department": "Eng", "manager": {"value": "m1"}}
    })
}

fn group_doc() -> Value {
    json!({"schemas": [GROUP_SCHEMA], "id": "g1", "displayName": "Group One", "meta": {"resourceType": "Group"}})
}

fn ref_(id: &str) -> MemberRef {
    MemberRef { value: id.into(), display: None, kind: None }
}

// ---- parse_patch -------------------------------------------------------------------------------

#[test]
fn parse_accepts_entra_casing() {
    let b = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "operations": [
        {"OP": "Add", "Path": "nickName", "Value": "x"},
        {"op": "Replace", "value": {"active": false}},
        {"op": "Remove", "path": "emails[type eq \"work\"]"}]});
    let ops = parse_patch(&b).expect("ok");
    assert_eq!(
        ops.iter().map(|o| o.op).collect::<Vec<_>>(),
        vec![PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove]
    );
    assert!(ops[1].path.is_none());
    assert!(matches!(ops[2].path, Some(PatchPath::ValuePath { .. })));
}

#[test]
fn parse_errors() {
    assert_eq!(err(parse_patch(&json!([]))).1, Some(ScimType::InvalidSyntax));
    assert_eq!(err(parse_patch(&json!({"Operations": [{"op": "add", "value": {}}]}))).1, Some(ScimType::InvalidSyntax));
    assert_eq!(
        err(parse_patch(&json!({"schemas": [USER_SCHEMA], "Operations": [{"op": "add", "value": {}}]}))).1,
        Some(ScimType::InvalidSyntax)
    );
    assert_eq!(err(parse_patch(&body(json!([])))).1, Some(ScimType::InvalidSyntax));
    assert_eq!(err(parse_patch(&body(json!({"op": "add"})))).1, Some(ScimType::InvalidSyntax));
    let (_, t, d) = err(parse_patch(&body(json!([{"op": "merge", "path": "x", "value": 1}]))));
    assert_eq!(t, Some(ScimType::InvalidSyntax));
    assert!(d.contains("merge"), "{d}");
    assert_eq!(err(parse_patch(&body(json!([{"op": "add", "path": "nickName"}])))).1, Some(ScimType::InvalidSyntax));
    assert_eq!(err(parse_patch(&body(json!([{"op": "remove"}])))).1, Some(ScimType::NoTarget));
    assert_eq!(
        err(parse_patch(&body(json!([{"op": "remove", "path": "emails[type eq"}])))).1,
        Some(ScimType::InvalidPath)
    );
    assert_eq!(err(parse_patch(&body(json!([{"op": "remove", "path": 5}])))).1, Some(ScimType::InvalidPath));
    let many: Vec<Value> = (0..=MAX_OPERATIONS).map(|_| json!({"op": "remove", "path": "nickName"})).collect();
    assert_eq!(err(parse_patch(&body(Value::Array(many)))).1, Some(ScimType::InvalidValue));
}

// ---- Entra user shapes -------------------------------------------------------------------------

#[test]
fn entra_disable_user_bool_and_string() {
    for v in [json!(false), json!("False"), json!("false")] {
        let d = user_patch(&user_doc(), json!([{"op": "Replace", "path": "active", "value": v}])).expect("ok");
        assert_eq!(d["active"], json!(false));
    }
    let d = user_patch(&user_doc(), json!([{"op": "Replace", "value": {"active": "False"}}])).expect("ok");
    assert_eq!(d["active"], json!(false));
    // Add on a singular attribute works like replace
    let d = user_patch(&user_doc(), json!([{"op": "Add", "path": "active", "value": "False"}])).expect("ok");
    assert_eq!(d["active"], json!(false));
    assert_eq!(
        err(user_patch(&user_doc(), json!([{"op": "Replace", "path": "active", "value": "nope"}]))).1,
        Some(ScimType::InvalidValue)
    );
}

#[test]
fn entra_single_valued_and_sub_attribute_updates() {
    let d = user_patch(
        &user_doc(),
        json!([
            {"op": "Replace", "path": "userName", "value": "5b50642d@testuser.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Ryan"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Add", "path": "nickName", "value": "Babs"}
        ]),
    )
    .expect("ok");
    assert_eq!(d["userName"], json!("5b50642d@testuser.com"));
    assert_eq!(d["name"], json!({"familyName": "updatedFamilyName", "givenName": "Ryan"}));
    assert_eq!(d["nickName"], json!("Babs"));
    // untouched parts and metadata survive; key order is canonical
    assert_eq!(d["id"], json!("u1"));
    assert_eq!(d["meta"], user_doc()["meta"]);
    let keys: Vec<&str> = d.as_object().expect("obj").keys().map(String::as_str).collect();
    assert_eq!(&keys[..4], &["schemas", "id", "externalId", "meta"]);
}

#[test]
fn entra_work_email_value_path() {
    // existing work email: its value is replaced (Entra sends replace; some tenants add)
    for op in ["Replace", "Add"] {
        let d = user_patch(
            &user_doc(),
            json!([{"op": op, "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]),
        )
        .expect("ok");
        assert_eq!(d["emails"], json!([{"value": "new@example.com", "type": "work", "primary": true}]));
    }
    // no such element: a new one is built from the filter
    let mut doc = user_doc();
    doc.as_object_mut().map(|m| m.remove("emails"));
    for op in ["Add", "Replace"] {
        let d =
            user_patch(&doc, json!([{"op": op, "path": "emails[type eq \"work\"].value", "value": "w@example.com"}]))
                .expect("ok");
        assert_eq!(d["emails"], json!([{"value": "w@example.com", "type": "work"}]));
    }
    let d = user_patch(
        &user_doc(),
        json!([
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
            {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 556"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St, Town"},
            {"op": "Replace", "path": "addresses[type eq \"home\"].locality", "value": "Home Town"},
            {"op": "Add", "path": "emails[type eq \"work\"].primary", "value": "True"}
        ]),
    )
    .expect("ok");
    assert_eq!(d["phoneNumbers"], json!([{"value": "+1 555", "type": "mobile"}, {"value": "+1 556", "type": "work"}]));
    assert_eq!(
        d["addresses"],
        json!([{"formatted": "1 Main St, Town", "streetAddress": "1 Main St", "type": "work"},
               {"locality": "Home Town", "type": "home"}])
    );
    assert_eq!(d["emails"][0]["primary"], json!(true));
    // a filter that cannot build an element, with no match → noTarget
    let (_, t, _) = err(user_patch(
        &user_doc(),
        json!([{"op": "Replace", "path": "emails[value co \"zzz\"].type", "value": "home"}]),
    ));
    assert_eq!(t, Some(ScimType::NoTarget));
    // unknown sub-attribute in the filter → invalidFilter
    assert_eq!(
        err(user_patch(&user_doc(), json!([{"op": "Replace", "path": "emails[kind eq \"x\"].value", "value": "v"}]))).1,
        Some(ScimType::InvalidFilter)
    );
}

#[test]
fn entra_enterprise_extension_paths() {
    let mut doc = user_doc();
    doc.as_object_mut().map(|m| m.remove(ENT));
    doc["schemas"] = json!([USER_SCHEMA]);
    let d = user_patch(&doc, json!([
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"},
        {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-2"}
    ]))
    .expect("ok");
    assert_eq!(d[ENT], json!({"department": "Sales", "manager": {"value": "m-2"}}));
    assert_eq!(d["schemas"], json!([USER_SCHEMA, ENT]), "schemas gains the extension");
    // manager as one-element array with $ref null; stale $ref must not survive a new value
    let mut d2 = d.clone();
    d2[ENT]["manager"] = json!({"value": "m-2", "$ref": "../Users/m-2"});
    let d3 = user_patch(
        &d2,
        json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value": [{"$ref": null, "value": "m-3"}]}]),
    )
    .expect("ok");
    assert_eq!(d3[ENT]["manager"], json!({"value": "m-3"}));
    let d4 = user_patch(
        &d2,
        json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "value": "m-4"}]),
    )
    .expect("ok");
    assert_eq!(d4[ENT]["manager"]["value"], json!("m-4"));
    let d5 = user_patch(
        &d2,
        json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value": {"value": "m-5"}}]),
    )
    .expect("ok");
    assert_eq!(d5[ENT]["manager"], json!({"value": "m-5"}));
    // removing everything from the extension drops it from the doc and from schemas
    let d6 = user_patch(
        &d,
        json!([
            {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
             "value": [{"value": "m-2"}]},
            {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}
        ]),
    )
    .expect("ok");
    assert!(d6.get(ENT).is_none());
    assert_eq!(d6["schemas"], json!([USER_SCHEMA]));
    // whole extension by URN
    let d7 = user_patch(&user_doc(), json!([{"op": "remove", "path": ENT}])).expect("ok");
    assert!(d7.get(ENT).is_none());
    // unknown extension attribute
    let (_, t, d) = err(user_patch(
        &user_doc(),
        json!([{"op": "Add",
        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize", "value": "9"}]),
    ));
    assert_eq!(t, Some(ScimType::InvalidPath));
    assert!(d.contains("shoeSize"), "{d}");
}

#[test]
fn entra_pathless_values_with_dotted_and_urn_keys() {
    // Entra (SCIM-compliant mode): path-less replace whose keys are value paths
    let d = user_patch(
        &user_doc(),
        json!([{"op": "replace", "value": {
            "displayName": "Pvlo",
            "emails[type eq \"work\"].value": "TestBcwqnm@test.microsoft.com",
            "name.givenName": "Pvlo",
            "name.familyName": "Tyv",
            "phoneNumbers[type eq \"work\"].value": "8334374",
            "addresses[type eq \"work\"].streetAddress": "2 Side St",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Y1"
        }}]),
    )
    .expect("ok");
    assert_eq!(d["displayName"], json!("Pvlo"));
    assert_eq!(d["emails"], json!([{"value": "TestBcwqnm@test.microsoft.com", "type": "work", "primary": true}]));
    assert_eq!(d["name"], json!({"familyName": "Tyv", "givenName": "Pvlo"}));
    assert_eq!(d["phoneNumbers"], json!([{"value": "8334374", "type": "work"}]));
    assert_eq!(d["addresses"], json!([{"streetAddress": "2 Side St", "type": "work"}]));
    assert_eq!(d[ENT]["employeeNumber"], json!("Y1"));
    // a malformed key is an invalidPath naming it
    let (_, t, detail) = err(user_patch(&user_doc(), json!([{"op": "replace", "value": {"emails[type eq": "x"}}])));
    assert_eq!(t, Some(ScimType::InvalidPath));
    assert!(detail.contains("emails[type eq"), "{detail}");
    let d = user_patch(
        &user_doc(),
        json!([{"op": "Replace", "value": {
            "name.givenName": "Gina",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701",
            "displayName": "Gina Smith",
            "ACTIVE": "True",
            "id": "u1"
        }}]),
    )
    .expect("ok");
    assert_eq!(d["name"], json!({"familyName": "Smith", "givenName": "Gina"}));
    assert_eq!(d[ENT]["employeeNumber"], json!("701"));
    assert_eq!(d[ENT]["department"], json!("Eng"));
    assert_eq!(d["displayName"], json!("Gina Smith"));
    let d = user_patch(&user_doc(), json!([{"op": "add", "value": {ENT: {"costCenter": "CC1"}, "title": "Boss"}}]))
        .expect("ok");
    assert_eq!(d[ENT], json!({"costCenter": "CC1", "department": "Eng", "manager": {"value": "m1"}}));
    assert_eq!(d["title"], json!("Boss"));
    // changing a readOnly attribute path-less is a mutability error
    assert_eq!(
        err(user_patch(&user_doc(), json!([{"op": "replace", "value": {"id": "other"}}]))).1,
        Some(ScimType::Mutability)
    );
    // unknown key
    let (_, t, d) = err(user_patch(&user_doc(), json!([{"op": "replace", "value": {"favouriteColour": "red"}}])));
    assert_eq!(t, Some(ScimType::InvalidPath));
    assert!(d.contains("favouriteColour"));
    assert_eq!(err(user_patch(&user_doc(), json!([{"op": "replace", "value": "x"}]))).1, Some(ScimType::InvalidSyntax));
}

#[test]
fn entra_roles_with_string_primary() {
    let d = user_patch(
        &user_doc(),
        json!([{"op": "Add", "path": "roles", "value": [
        {"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]}]),
    )
    .expect("ok");
    assert_eq!(d["roles"], json!([{"value": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": true}]));
}

// ---- Entra group shapes ------------------------------------------------------------------------

#[test]
fn entra_group_member_operations() {
    assert_eq!(
        group_patch(
            json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}])
        )
        .expect("ok"),
        vec![MemberChange::Add(vec![ref_("f648f8d5ea4e4cd38e9c")])]
    );
    assert_eq!(
        group_patch(
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "a2c7e3a5"}, {"value": "b"}]}])
        )
        .expect("ok"),
        vec![MemberChange::Remove(vec!["a2c7e3a5".into(), "b".into()])]
    );
    assert_eq!(group_patch(json!([{"op": "Remove", "path": "members"}])).expect("ok"), vec![MemberChange::RemoveAll]);
    assert_eq!(
        group_patch(json!([{"op": "remove", "path": "members[value eq \"89bb1940\"]"}])).expect("ok"),
        vec![MemberChange::Remove(vec!["89bb1940".into()])]
    );
    assert_eq!(
        group_patch(json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}])).expect("ok"),
        vec![MemberChange::Remove(vec!["a".into(), "b".into()])]
    );
    assert_eq!(
        group_patch(json!([{"op": "remove", "path": "members[display eq \"x\"]"}])).map_err(|e| e.scim_type),
        Err(Some(ScimType::InvalidFilter))
    );
    assert_eq!(
        group_patch(json!([{"op": "remove", "path": "members[value eq \"a\" and type eq \"User\"]"}]))
            .map_err(|e| e.scim_type),
        Err(Some(ScimType::InvalidFilter))
    );
    // path-less add/replace with members, and a displayName change, in op order
    let (d, out) = patch(
        &group_doc(),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Renamed"},
            {"op": "add", "value": {"members": [{"value": "u2", "display": "U2", "type": "User"}]}},
            {"op": "replace", "value": {"members": [{"value": "u3"}], "displayName": "Again"}},
            {"op": "replace", "path": "members", "value": []}
        ]),
        &group_schema(),
    )
    .expect("ok");
    assert_eq!(d["displayName"], json!("Again"));
    assert!(d.get("members").is_none());
    assert_eq!(
        out.member_changes,
        vec![
            MemberChange::Add(vec![MemberRef {
                value: "u2".into(),
                display: Some("U2".into()),
                kind: Some("User".into())
            }]),
            MemberChange::Replace(vec![ref_("u3")]),
            MemberChange::Replace(vec![]),
        ]
    );
    assert_eq!(
        group_patch(json!([{"op": "add", "path": "members", "value": [{"display": "no id"}]}]))
            .map_err(|e| e.scim_type),
        Err(Some(ScimType::InvalidValue))
    );
    assert_eq!(
        group_patch(json!([{"op": "add", "path": "members", "value": [{"value": 5}]}])).map_err(|e| e.scim_type),
        Err(Some(ScimType::InvalidValue))
    );
    // displayName is required
    assert_eq!(
        group_patch(json!([{"op": "remove", "path": "displayName"}])).map_err(|e| e.scim_type),
        Err(Some(ScimType::Mutability))
    );
}

// ---- RFC 7644 §3.5.2 examples ------------------------------------------------------------------

#[test]
fn rfc_add_members_with_display_and_ref() {
    let out = group_patch(json!([{"op": "add", "path": "members", "value": [{
        "display": "Babs Jensen",
        "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
        "value": "2819c223-7f76-453a-919d-413861904646"}]}]))
    .expect("ok");
    assert_eq!(
        out,
        vec![MemberChange::Add(vec![MemberRef {
            value: "2819c223-7f76-453a-919d-413861904646".into(),
            display: Some("Babs Jensen".into()),
            kind: None
        }])]
    );
}

#[test]
fn rfc_replace_single_member_by_remove_then_add() {
    let out = group_patch(json!([
        {"op": "remove", "path": "members[value eq \"2819c223-7f76-...413861904646\"]"},
        {"op": "add", "path": "members", "value": [{"display": "James Smith", "$ref": "https://example.com/v2/Users/08e1d05d", "value": "08e1d05d"}]}
    ]))
    .expect("ok");
    assert_eq!(
        out,
        vec![
            MemberChange::Remove(vec!["2819c223-7f76-...413861904646".into()]),
            MemberChange::Add(vec![MemberRef {
                value: "08e1d05d".into(),
                display: Some("James Smith".into()),
                kind: None
            }]),
        ]
    );
}

#[test]
fn rfc_pathless_add() {
    let d = user_patch(
        &user_doc(),
        json!([{"op": "add", "value": {
        "emails": [{"value": "babs@jensen.org", "type": "home"}],
        "nickname": "Babs"}}]),
    )
    .expect("ok");
    assert_eq!(d["nickName"], json!("Babs"));
    assert_eq!(
        d["emails"],
        json!([{"value": "ann@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}])
    );
}

#[test]
fn rfc_remove_with_complex_filter() {
    let mut doc = user_doc();
    doc["emails"] = json!([{"value": "a@example.com", "type": "work"}, {"value": "b@example.org", "type": "work"}, {"value": "c@example.com", "type": "home"}]);
    let d =
        user_patch(&doc, json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]))
            .expect("ok");
    assert_eq!(
        d["emails"],
        json!([{"value": "b@example.org", "type": "work"}, {"value": "c@example.com", "type": "home"}])
    );
    // removing a sub-attribute of matched values, and the whole attribute
    let d = user_patch(&doc, json!([{"op": "remove", "path": "emails[type eq \"work\"].type"}])).expect("ok");
    assert_eq!(
        d["emails"],
        json!([{"value": "a@example.com"}, {"value": "b@example.org"}, {"value": "c@example.com", "type": "home"}])
    );
    let d = user_patch(&doc, json!([{"op": "remove", "path": "emails"}])).expect("ok");
    assert!(d.get("emails").is_none());
    // removing what does not exist is a no-op
    let d = user_patch(
        &doc,
        json!([{"op": "remove", "path": "emails[type eq \"other\"]"}, {"op": "remove", "path": "nickName"}]),
    )
    .expect("ok");
    assert_eq!(d["emails"], doc["emails"]);
}

#[test]
fn rfc_replace_multi_valued_and_filtered_element() {
    let d = user_patch(
        &user_doc(),
        json!([{"op": "replace", "path": "emails", "value": [{"value": "x@y", "type": "home"}]}]),
    )
    .expect("ok");
    assert_eq!(d["emails"], json!([{"value": "x@y", "type": "home"}]));
    let d = user_patch(&user_doc(), json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {
        "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA",
        "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true}}]))
    .expect("ok");
    assert_eq!(
        d["addresses"],
        json!([{"formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "streetAddress": "911 Universal City Plaza",
                "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "US", "type": "work", "primary": true}])
    );
    let d = user_patch(
        &user_doc(),
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
    )
    .expect("ok");
    assert_eq!(d["addresses"], json!([{"streetAddress": "1010 Broadway Ave", "type": "work"}]));
    // the element filter's eq terms are kept when the replacement omits them
    let d = user_patch(
        &user_doc(),
        json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": {"locality": "X"}}]),
    )
    .expect("ok");
    assert_eq!(d["addresses"], json!([{"locality": "X", "type": "work"}]));
}

#[test]
fn rfc_pathless_replace() {
    let d = user_patch(&user_doc(), json!([{"op": "replace", "value": {
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
        "nickname": "Babs"}}]))
    .expect("ok");
    assert_eq!(d["emails"].as_array().map(Vec::len), Some(2));
    assert_eq!(d["nickName"], json!("Babs"));
}

// ---- mutability, required, primary, atomicity, idempotence --------------------------------------

#[test]
fn read_only_required_and_immutable() {
    for (op, path) in [
        ("replace", "id"),
        ("remove", "meta"),
        ("add", "groups"),
        ("replace", "meta.version"),
        ("replace", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName"),
    ] {
        let r = user_patch(&user_doc(), json!([{"op": op, "path": path, "value": "x"}]));
        assert_eq!(err(r).1, Some(ScimType::Mutability), "{op} {path}");
    }
    assert_eq!(
        err(user_patch(&user_doc(), json!([{"op": "remove", "path": "userName"}]))).1,
        Some(ScimType::Mutability)
    );
    // replace with null leaves it missing → required check
    let (_, t, d) = err(user_patch(&user_doc(), json!([{"op": "replace", "path": "userName", "value": null}])));
    assert_eq!((t, d.as_str()), (Some(ScimType::InvalidValue), "userName is required"));
    let s = custom_schema();
    let doc = json!({"schemas": [USER_SCHEMA], "id": "1", "userName": "x"});
    let (d, _) = patch(&doc, json!([{"op": "add", "path": format!("{CUSTOM}:locker"), "value": "L1"}]), &s)
        .expect("first set ok");
    assert_eq!(d[CUSTOM]["locker"], json!("L1"));
    for (op, v) in [("replace", json!("L2")), ("add", json!("L2")), ("remove", Value::Null)] {
        let r = patch(&d, json!([{"op": op, "path": format!("{CUSTOM}:locker"), "value": v}]), &s);
        assert_eq!(err(r).1, Some(ScimType::Mutability), "{op}");
    }
    assert!(patch(&d, json!([{"op": "replace", "path": format!("{CUSTOM}:locker"), "value": "L1"}]), &s).is_ok());
}

#[test]
fn primary_moves_to_the_new_value() {
    let d = user_patch(
        &user_doc(),
        json!([{"op": "add", "path": "emails", "value": [{"value": "b@x", "type": "home", "primary": true}]}]),
    )
    .expect("ok");
    assert_eq!(
        d["emails"],
        json!([{"value": "ann@example.com", "type": "work", "primary": false}, {"value": "b@x", "type": "home", "primary": true}])
    );
    let d = user_patch(&d, json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": true}]))
        .expect("ok");
    assert_eq!(d["emails"][0]["primary"], json!(true));
    assert_eq!(d["emails"][1]["primary"], json!(false));
    let r = user_patch(
        &user_doc(),
        json!([{"op": "add", "path": "emails", "value": [
        {"value": "b@x", "primary": true}, {"value": "c@x", "primary": true}]}]),
    );
    assert_eq!(err(r).1, Some(ScimType::InvalidValue));
}

#[test]
fn atomic_on_failure() {
    let doc = user_doc();
    let ops = parse_patch(&body(json!([
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "replace", "path": "id", "value": "nope"}
    ])))
    .expect("parse");
    let mut d = doc.clone();
    let e = apply_patch(&mut d, &ops, &user_schema()).expect_err("second op fails");
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    assert!(e.detail.starts_with("Operations[1]"), "{}", e.detail);
    assert_eq!(d, doc);
    // member changes of a failed request are not returned either
    let mut g = group_doc();
    let ops = parse_patch(&body(json!([
        {"op": "add", "path": "members", "value": [{"value": "u1"}]},
        {"op": "remove", "path": "displayName"}
    ])))
    .expect("parse");
    assert!(apply_patch(&mut g, &ops, &group_schema()).is_err());
    assert_eq!(g, group_doc());
}

#[test]
fn add_to_multi_valued_is_idempotent() {
    let op = json!([{"op": "add", "path": "emails", "value": [{"value": "b@x", "type": "home"}]}]);
    let once = user_patch(&user_doc(), op.clone()).expect("ok");
    let twice = user_patch(&once, op).expect("ok");
    assert_eq!(once, twice);
    // same value and type (different case, extra sub-attribute) merges instead of duplicating
    let d = user_patch(
        &once,
        json!([{"op": "add", "path": "emails", "value": {"value": "B@X", "type": "HOME", "primary": true}}]),
    )
    .expect("ok");
    assert_eq!(d["emails"].as_array().map(Vec::len), Some(2));
    assert_eq!(d["emails"][1]["primary"], json!(true));
    assert_eq!(d["emails"][0]["primary"], json!(false));
    // same value but another type is a different value
    let d = user_patch(&once, json!([{"op": "add", "path": "emails", "value": {"value": "b@x", "type": "work"}}]))
        .expect("ok");
    assert_eq!(d["emails"].as_array().map(Vec::len), Some(3));
}

#[test]
fn legacy_remove_value_list_on_other_multi_valued_attributes() {
    let mut doc = user_doc();
    doc["emails"] = json!([{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}]);
    let d = user_patch(&doc, json!([{"op": "Remove", "path": "emails", "value": [{"value": "b@x"}]}])).expect("ok");
    assert_eq!(d["emails"], json!([{"value": "a@x", "type": "work"}]));
}

#[test]
fn unknown_paths_are_invalid_path() {
    for p in [
        "favouriteColour",
        "name.nickname",
        "urn:example:unknown:2.0:User:x",
        "emails[type eq \"work\"].colour",
        "userName[value eq \"x\"]",
    ] {
        let r = user_patch(&user_doc(), json!([{"op": "replace", "path": p, "value": "x"}]));
        assert_eq!(err(r).1, Some(ScimType::InvalidPath), "{p}");
    }
}

// ---- property test ------------------------------------------------------------------------------

mod prop {
    use super::*;
    use proptest::prelude::*;

    const PATHS: &[&str] = &[
        "userName",
        "displayName",
        "nickName",
        "active",
        "name",
        "name.givenName",
        "name.familyName",
        "emails",
        "emails.value",
        "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value",
        "emails[type eq \"home\"].primary",
        "emails[value co \"x\"].type",
        "phoneNumbers[type eq \"mobile\"].value",
        "roles",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "id",
        "groups",
    ];

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            Just(json!("x@y")),
            Just(json!("True")),
            Just(json!(false)),
            Just(json!(3)),
            Just(json!("work")),
            Just(json!({"value": "v1"})),
            Just(json!({"givenName": "G"})),
            Just(json!([{"value": "a@x", "type": "work", "primary": true}])),
            Just(json!([{"value": "b@x", "type": "home", "primary": "true"}, {"value": "c@x"}])),
            Just(json!([{"$ref": null, "value": "m"}])),
            Just(json!({"department": "D", "manager": "m2"})),
            Just(json!({"userName": "u2", "name.givenName": "H", "emails": {"value": "d@x", "type": "work"}})),
            Just(json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "E"})),
            Just(json!([])),
        ]
    }

    /// (path, values that fit it) — a path of `None` is a path-less operation.
    fn typed() -> Vec<(Option<&'static str>, Vec<Value>)> {
        vec![
            (Some("displayName"), vec![json!("D"), json!("E"), Value::Null]),
            (Some("nickName"), vec![json!("N")]),
            (Some("active"), vec![json!("True"), json!(false), json!("false")]),
            (Some("name"), vec![json!({"givenName": "G"}), json!({"familyName": "F", "formatted": "x"})]),
            (Some("name.givenName"), vec![json!("G2"), Value::Null]),
            (
                Some("emails"),
                vec![
                    json!([{"value": "a@x", "type": "work", "primary": true}]),
                    json!([{"value": "b@x", "type": "home", "primary": "true"}, {"value": "c@x"}]),
                    json!({"value": "d@x", "type": "other"}),
                ],
            ),
            (Some("emails[type eq \"work\"].value"), vec![json!("w@x"), json!("w2@x")]),
            (Some("emails[type eq \"home\"].primary"), vec![json!(true), json!("True")]),
            (Some("emails[type eq \"work\"]"), vec![json!({"value": "w3@x", "primary": true})]),
            (Some("phoneNumbers[type eq \"mobile\"].value"), vec![json!("+1")]),
            (Some("roles"), vec![json!([{"value": "Admin", "type": "t", "primary": "True"}])]),
            (Some(ENT), vec![json!({"department": "D", "manager": "m2"}), json!({"costCenter": "C"})]),
            (
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
                vec![json!("Sales"), Value::Null],
            ),
            (
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
                vec![json!("m3"), json!([{"$ref": null, "value": "m4"}]), json!({"value": "m5"})],
            ),
            (Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"), vec![json!("m6")]),
            (
                None,
                vec![
                    json!({"userName": "u2", "name.givenName": "H", "emails": {"value": "d@x", "type": "work"}}),
                    json!({"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "E", "active": "False"}),
                    json!({ENT: {"employeeNumber": "7"}, "id": "u1"}),
                    json!({"emails[type eq \"work\"].value": "k@x", "name.familyName": "F2"}),
                ],
            ),
        ]
    }

    fn typed_op() -> impl Strategy<Value = Value> {
        let table = typed();
        let n = table.len();
        (
            prop_oneof![3 => Just("Add"), 3 => Just("replace"), 2 => Just("Remove")],
            0..n,
            any::<proptest::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(move |(op, i, vi, with_value)| {
                let (path, values) = &table[i];
                let mut m = Map::new();
                m.insert("op".into(), json!(op));
                if let Some(p) = path {
                    m.insert("path".into(), json!(p));
                } else if op == "Remove" {
                    m.insert("path".into(), json!("nickName"));
                }
                if op != "Remove" || (with_value && path.is_some()) {
                    m.insert("value".into(), vi.get(values).clone());
                }
                Value::Object(m)
            })
    }

    fn random_op() -> impl Strategy<Value = Value> {
        (
            prop_oneof![Just("Add"), Just("replace"), Just("Remove")],
            proptest::option::of(0..PATHS.len()),
            proptest::option::of(value()),
        )
            .prop_map(|(op, path, value)| {
                let mut m = Map::new();
                m.insert("op".into(), json!(op));
                if let Some(p) = path {
                    m.insert("path".into(), json!(PATHS[p]));
                }
                if let Some(v) = value {
                    m.insert("value".into(), v);
                }
                Value::Object(m)
            })
    }

    fn op() -> impl Strategy<Value = Value> {
        prop_oneof![5 => typed_op(), 1 => random_op()]
    }

    /// The generator must exercise the success path, not just errors.
    #[test]
    fn generator_reaches_successful_patches() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let schema = user_schema();
        let mut runner = TestRunner::deterministic();
        let strategy = proptest::collection::vec(op(), 1..4);
        let (mut ok, mut total) = (0, 0);
        for _ in 0..400 {
            let ops = strategy.new_tree(&mut runner).expect("tree").current();
            total += 1;
            let Ok(parsed) = parse_patch(&body(Value::Array(ops))) else {
                continue;
            };
            let mut doc = user_doc();
            if apply_patch(&mut doc, &parsed, &schema).is_ok() {
                ok += 1;
            }
        }
        eprintln!("successful random patches: {ok}/{total}");
        assert!(ok * 5 > total, "only {ok}/{total} random patches succeeded");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]
        #[test]
        fn random_patches_keep_documents_valid(ops in proptest::collection::vec(op(), 1..8)) {
            let schema = user_schema();
            let start = user_doc();
            let parsed = match parse_patch(&body(Value::Array(ops))) {
                Ok(p) => p,
                Err(e) => { prop_assert_eq!(e.status, 400); return Ok(()); }
            };
            let mut doc = start.clone();
            match apply_patch(&mut doc, &parsed, &schema) {
                Err(e) => {
                    prop_assert_eq!(e.status, 400, "{:?}", e);
                    prop_assert_eq!(&doc, &start);
                }
                Ok(out) => {
                    prop_assert!(out.member_changes.is_empty());
                    // the result is a valid document: normalising it as a PUT body changes nothing
                    // except the readOnly attributes the caller owns (id, meta)
                    let again = normalize(doc.clone(), &schema, WriteMode::Replace, Some(&doc));
                    prop_assert!(again.is_ok(), "{:?} for {}", again, doc);
                    let mut expected = doc.clone();
                    if let Some(m) = expected.as_object_mut() { m.remove("id"); m.remove("meta"); }
                    prop_assert_eq!(again.ok(), Some(expected));
                    let emails = doc.get("emails").and_then(Value::as_array).cloned().unwrap_or_default();
                    prop_assert!(emails.iter().filter(|e| e["primary"] == json!(true)).count() <= 1);
                }
            }
        }
    }
}
