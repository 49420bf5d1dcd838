//! Unit tests of normalisation, coercion and projection; the schemas built here are shared with the
//! PATCH tests.

use super::*;
use crate::scim::error::{ScimResult, ScimType};
use crate::scim::filter::{AttrPath, parse_attr_path};
use crate::scim::members::MemberRef;
use crate::scim::schema::{
    ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, MS_ADSCIM_GROUP_SCHEMA, ResourceSchema, SchemaDef, USER_SCHEMA,
};
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) const CUSTOM: &str = "urn:example:params:scim:schemas:extension:custom:2.0:User";

fn load(s: &str) -> Arc<SchemaDef> {
    Arc::new(serde_json::from_str::<SchemaDef>(s).expect("schema json"))
}

pub(crate) fn user_schema() -> ResourceSchema {
    ResourceSchema {
        name: "User".into(),
        endpoint: "/Users".into(),
        core: load(include_str!("../../../../schemas/user.json")),
        extensions: vec![(load(include_str!("../../../../schemas/enterprise_user.json")), false)],
    }
}

pub(crate) fn group_schema() -> ResourceSchema {
    ResourceSchema {
        name: "Group".into(),
        endpoint: "/Groups".into(),
        core: load(include_str!("../../../../schemas/group.json")),
        extensions: vec![],
    }
}

/// User + enterprise + a custom extension exercising the other types and characteristics.
pub(crate) fn custom_schema() -> ResourceSchema {
    let custom = json!({
        "id": CUSTOM,
        "name": "Custom",
        "attributes": [
            {"name": "badge", "type": "integer", "multiValued": false},
            {"name": "score", "type": "decimal", "multiValued": false},
            {"name": "hired", "type": "dateTime", "multiValued": false},
            {"name": "tags", "type": "string", "multiValued": true},
            {"name": "locker", "type": "string", "multiValued": false, "mutability": "immutable"},
            {"name": "secret", "type": "string", "multiValued": false, "returned": "request"},
            {"name": "costCode", "type": "string", "multiValued": false, "required": true}
        ]
    });
    let mut s = user_schema();
    s.extensions.push((Arc::new(serde_json::from_value(custom).expect("custom")), false));
    s
}

fn norm(body: Value) -> ScimResult<Value> {
    normalize(body, &user_schema(), WriteMode::Create, None)
}

fn err_type(r: ScimResult<impl std::fmt::Debug>) -> (u16, Option<ScimType>, String) {
    let e = r.expect_err("expected an error");
    (e.status, e.scim_type, e.detail)
}

#[test]
fn entra_create_user_shape() {
    let body = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee@testuser.com",
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42", "department": "Eng"}
    });
    let doc = norm(body).expect("ok");
    assert_eq!(
        doc,
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee@testuser.com",
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "active": true,
            "emails": [{"value": "Test_User_fd0ea19b@testuser.com", "type": "work", "primary": true}],
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42", "department": "Eng"}
        })
    );
}

#[test]
fn entra_flat_extension_keys_string_booleans_and_manager_string() {
    let body = json!({
        "schemas": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"],
        "USERNAME": "a@b.c",
        "Active": "True",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "mgr-1",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName": "ignored (readOnly)",
        "NAME": {"GIVENNAME": "Ann", "familyname": null},
        "emails": {"Value": "a@b.c", "TYPE": "work", "display": "Work"}
    });
    let doc = norm(body).expect("ok");
    assert_eq!(
        doc,
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            "userName": "a@b.c",
            "name": {"givenName": "Ann"},
            "active": true,
            "emails": [{"value": "a@b.c", "display": "Work", "type": "work"}],
            ENTERPRISE_USER_SCHEMA: {"department": "Sales", "manager": {"value": "mgr-1"}}
        })
    );
    let doc = norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "active": "false"})).expect("ok");
    assert_eq!(doc["active"], json!(false));
}

#[test]
fn entra_manager_as_one_element_array_with_null_ref() {
    let body = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "userName": "x",
        ENTERPRISE_USER_SCHEMA: {"manager": [{"$ref": null, "value": "m-9"}]}
    });
    let doc = norm(body).expect("ok");
    assert_eq!(doc[ENTERPRISE_USER_SCHEMA], json!({"manager": {"value": "m-9"}}));
    // more than one manager is an error
    let body = json!({"schemas": [USER_SCHEMA], "userName": "x",
        ENTERPRISE_USER_SCHEMA: {"manager": [{"value": "a"}, {"value": "b"}]}});
    assert_eq!(err_type(norm(body)).1, Some(ScimType::InvalidValue));
}

#[test]
fn entra_group_create_drops_ms_schema_and_extracts_members() {
    let body = json!({
        "schemas": [GROUP_SCHEMA, MS_ADSCIM_GROUP_SCHEMA],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Group1DisplayName",
        "members": [{"$ref": null, "value": "u1"}, {"value": "g2", "type": "group", "display": "G2"}],
        "meta": {"resourceType": "Group"}
    });
    let n = normalize_with_members(body, &group_schema(), WriteMode::Create, None).expect("ok");
    assert_eq!(
        n.doc,
        json!({"schemas": [GROUP_SCHEMA], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
               "displayName": "Group1DisplayName"})
    );
    assert_eq!(
        n.members,
        Some(vec![
            MemberRef { value: "u1".into(), display: None, kind: None },
            MemberRef { value: "g2".into(), display: Some("G2".into()), kind: Some("Group".into()) },
        ])
    );
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "g", "members": [{"display": "no id"}]});
    assert_eq!(err_type(normalize(body, &group_schema(), WriteMode::Create, None)).1, Some(ScimType::InvalidValue));
    let n = normalize_with_members(
        json!({"schemas": [GROUP_SCHEMA], "displayName": "g"}),
        &group_schema(),
        WriteMode::Create,
        None,
    )
    .expect("ok");
    assert_eq!(n.members, None);
}

#[test]
fn schemas_member_is_validated() {
    assert_eq!(err_type(norm(json!([1, 2]))).1, Some(ScimType::InvalidSyntax));
    assert_eq!(err_type(norm(json!({"userName": "x"}))).1, Some(ScimType::InvalidSyntax));
    assert_eq!(err_type(norm(json!({"schemas": USER_SCHEMA, "userName": "x"}))).1, Some(ScimType::InvalidValue));
    assert_eq!(err_type(norm(json!({"schemas": [GROUP_SCHEMA], "userName": "x"}))).1, Some(ScimType::InvalidValue));
    let (s, t, d) = err_type(norm(json!({"schemas": [USER_SCHEMA, "urn:nope:Thing"], "userName": "x"})));
    assert_eq!((s, t), (400, Some(ScimType::InvalidValue)));
    assert!(d.contains("urn:nope:Thing"), "{d}");
}

#[test]
fn unknown_attributes_are_rejected_by_name_and_readonly_ones_ignored() {
    let (s, t, d) = err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "favouriteColour": "red"})));
    assert_eq!((s, t), (400, Some(ScimType::InvalidSyntax)));
    assert!(d.contains("favouriteColour"), "{d}");
    let (_, t, d) = err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize": "9"})));
    assert_eq!(t, Some(ScimType::InvalidSyntax));
    assert!(d.contains("shoeSize"), "{d}");
    let (_, t, d) =
        err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": [{"value": "a", "kind": "x"}]})));
    assert_eq!(t, Some(ScimType::InvalidSyntax));
    assert!(d.contains("emails.kind"), "{d}");
    let doc =
        norm(json!({"schemas": [USER_SCHEMA], "id": "client-id", "userName": "x", "meta": {"version": "W/\"1\""},
        "groups": [{"value": "g1"}]}))
        .expect("ok");
    assert_eq!(doc, json!({"schemas": [USER_SCHEMA], "userName": "x"}));
}

#[test]
fn type_coercion() {
    let s = custom_schema();
    let n = |ext: Value| {
        normalize(json!({"schemas": [USER_SCHEMA], "userName": "x", CUSTOM: ext}), &s, WriteMode::Create, None)
    };
    let doc =
        n(json!({"badge": "12", "score": 1.5, "hired": "2024-01-31T12:00:00+01:00", "tags": "solo", "costCode": "c"}))
            .expect("ok");
    assert_eq!(
        doc[CUSTOM],
        json!({"badge": 12, "score": 1.5, "hired": "2024-01-31T12:00:00+01:00", "tags": ["solo"], "costCode": "c"})
    );
    assert_eq!(doc["schemas"], json!([USER_SCHEMA, CUSTOM]));
    for bad in [
        json!({"badge": "twelve", "costCode": "c"}),
        json!({"badge": 1.5, "costCode": "c"}),
        json!({"score": "x", "costCode": "c"}),
        json!({"hired": "yesterday", "costCode": "c"}),
        json!({"hired": 5, "costCode": "c"}),
        json!({"costCode": 7}),
        json!({"costCode": ["a", "b"]}),
        json!({"costCode": {"value": "a"}}),
    ] {
        assert_eq!(err_type(n(bad.clone())).1, Some(ScimType::InvalidValue), "{bad}");
    }
    let doc = n(json!({"costCode": "c"})).expect("ok");
    assert_eq!(doc[CUSTOM], json!({"costCode": "c"}));
    assert_eq!(
        err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "active": "yes"}))).1,
        Some(ScimType::InvalidValue)
    );
    assert_eq!(err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": 5}))).1, Some(ScimType::InvalidValue));
    assert_eq!(
        err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": ["a@b"]}))).1,
        Some(ScimType::InvalidValue)
    );
}

#[test]
fn nulls_and_empty_values_are_dropped() {
    let doc = norm(json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "userName": "x", "nickName": null,
        "emails": [], "phoneNumbers": [null, {"value": null}], "name": {},
        ENTERPRISE_USER_SCHEMA: {"department": null}}))
    .expect("ok");
    assert_eq!(doc, json!({"schemas": [USER_SCHEMA], "userName": "x"}));
}

#[test]
fn at_most_one_primary() {
    let body = json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": [
        {"value": "a", "primary": true}, {"value": "b", "primary": "True"}]});
    assert_eq!(err_type(norm(body)).1, Some(ScimType::InvalidValue));
    let body = json!({"schemas": [USER_SCHEMA], "userName": "x", "emails": [
        {"value": "a", "primary": true}, {"value": "b", "primary": false}]});
    assert!(norm(body).is_ok());
}

#[test]
fn required_attributes() {
    let (s, t, d) = err_type(norm(json!({"schemas": [USER_SCHEMA], "displayName": "x"})));
    assert_eq!((s, t, d.as_str()), (400, Some(ScimType::InvalidValue), "userName is required"));
    assert!(err_type(norm(json!({"schemas": [USER_SCHEMA], "userName": null}))).2.contains("userName"));
    let (_, _, d) = err_type(normalize(json!({"schemas": [GROUP_SCHEMA]}), &group_schema(), WriteMode::Create, None));
    assert_eq!(d, "displayName is required");
    // optional extension: its required attributes are not enforced
    let s = custom_schema();
    assert!(
        normalize(
            json!({"schemas": [USER_SCHEMA], "userName": "x", CUSTOM: {"badge": 1}}),
            &s,
            WriteMode::Create,
            None
        )
        .is_ok()
    );
    // required extension: must be present with its required attributes
    let mut req = custom_schema();
    req.extensions[1].1 = true;
    let (_, t, d) =
        err_type(normalize(json!({"schemas": [USER_SCHEMA], "userName": "x"}), &req, WriteMode::Create, None));
    assert_eq!(t, Some(ScimType::InvalidValue));
    assert!(d.contains(CUSTOM), "{d}");
    let (_, _, d) = err_type(normalize(
        json!({"schemas": [USER_SCHEMA], "userName": "x", CUSTOM: {"badge": 1}}),
        &req,
        WriteMode::Create,
        None,
    ));
    assert!(d.contains("costCode"), "{d}");
}

#[test]
fn replace_mode_immutable_and_write_only() {
    let s = custom_schema();
    let existing = json!({"schemas": [USER_SCHEMA, CUSTOM], "id": "1", "userName": "x", "password": "p",
        CUSTOM: {"locker": "L1"}});
    // omitted: immutable and writeOnly values are kept
    let doc = normalize(json!({"schemas": [USER_SCHEMA], "userName": "y"}), &s, WriteMode::Replace, Some(&existing))
        .expect("ok");
    assert_eq!(
        doc,
        json!({"schemas": [USER_SCHEMA, CUSTOM], "userName": "y", "password": "p", CUSTOM: {"locker": "L1"}})
    );
    // same value: fine; different: mutability
    assert!(
        normalize(
            json!({"schemas": [USER_SCHEMA], "userName": "y", CUSTOM: {"locker": "l1"}}),
            &s,
            WriteMode::Replace,
            Some(&existing)
        )
        .is_ok()
    );
    let r = normalize(
        json!({"schemas": [USER_SCHEMA], "userName": "y", CUSTOM: {"locker": "L2"}}),
        &s,
        WriteMode::Replace,
        Some(&existing),
    );
    assert_eq!(err_type(r).1, Some(ScimType::Mutability));
    // create: immutable can be set freely; new password replaces
    let doc = normalize(
        json!({"schemas": [USER_SCHEMA], "userName": "y", "password": "q"}),
        &s,
        WriteMode::Replace,
        Some(&existing),
    )
    .expect("ok");
    assert_eq!(doc["password"], json!("q"));
}

#[test]
fn core_urn_prefixed_keys_and_nested_core() {
    let doc = norm(json!({"schemas": [USER_SCHEMA],
        "urn:ietf:params:scim:schemas:core:2.0:User:userName": "x",
        "urn:ietf:params:scim:schemas:core:2.0:User": {"displayName": "X"},
        "name.givenName": "G"}))
    .expect("ok");
    assert_eq!(doc, json!({"schemas": [USER_SCHEMA], "userName": "x", "name": {"givenName": "G"}, "displayName": "X"}));
}

#[test]
fn normalize_is_idempotent_on_its_output() {
    let doc = norm(json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "userName": "x", "active": "True",
        "emails": {"value": "a", "type": "work"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "m"}))
    .expect("ok");
    let again = normalize(doc.clone(), &user_schema(), WriteMode::Replace, Some(&doc)).expect("ok");
    assert_eq!(doc, again);
}

fn paths(list: &[&str]) -> Vec<AttrPath> {
    list.iter().map(|p| parse_attr_path(p).expect("path")).collect()
}

fn rendered() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "id": "1",
        "externalId": "e",
        "meta": {"resourceType": "User", "version": "W/\"1\""},
        "userName": "x",
        "name": {"givenName": "G", "familyName": "F"},
        "password": "secret",
        "emails": [{"value": "a", "type": "work", "primary": true}, {"value": "b", "type": "home"}],
        "groups": [{"value": "g1", "display": "G1"}],
        ENTERPRISE_USER_SCHEMA: {"department": "D", "manager": {"value": "m"}}
    })
}

#[test]
fn project_default_drops_never() {
    let s = user_schema();
    let out = project(&rendered(), &s, &[], &[]);
    let mut expected = rendered();
    expected.as_object_mut().map(|m| m.remove("password"));
    assert_eq!(out, expected);
}

#[test]
fn project_attributes() {
    let s = user_schema();
    let out = project(&rendered(), &s, &paths(&["userName"]), &[]);
    assert_eq!(out, json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "1", "userName": "x"}));
    let out = project(&rendered(), &s, &paths(&["NAME.givenName", "emails.type", "password"]), &[]);
    assert_eq!(
        out,
        json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "1", "name": {"givenName": "G"},
               "emails": [{"type": "work"}, {"type": "home"}]})
    );
    let out = project(&rendered(), &s, &paths(&[ENTERPRISE_USER_SCHEMA]), &[]);
    assert_eq!(out[ENTERPRISE_USER_SCHEMA], rendered()[ENTERPRISE_USER_SCHEMA]);
    let out = project(
        &rendered(),
        &s,
        &paths(&["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "groups"]),
        &[],
    );
    assert_eq!(
        out,
        json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "1", "groups": [{"value": "g1", "display": "G1"}],
               ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m"}}})
    );
}

#[test]
fn project_excluded_attributes() {
    let s = user_schema();
    let out = project(
        &rendered(),
        &s,
        &[],
        &paths(&[
            "id",
            "emails",
            "groups",
            "meta",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "name.familyName",
        ]),
    );
    assert_eq!(
        out,
        json!({"schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA], "id": "1", "externalId": "e", "userName": "x",
               "name": {"givenName": "G"}, ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m"}}})
    );
    let out = project(&rendered(), &s, &[], &paths(&[ENTERPRISE_USER_SCHEMA]));
    assert!(out.get(ENTERPRISE_USER_SCHEMA).is_none());
    // Group members
    let g = group_schema();
    let doc = json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G", "members": [{"value": "u1"}]});
    assert_eq!(
        project(&doc, &g, &[], &paths(&["members"])),
        json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "G"})
    );
    assert_eq!(
        project(&doc, &g, &paths(&["members.value"]), &[]),
        json!({"schemas": [GROUP_SCHEMA], "id": "g", "members": [{"value": "u1"}]})
    );
}

#[test]
fn project_returned_request() {
    let s = custom_schema();
    let doc =
        json!({"schemas": [USER_SCHEMA, CUSTOM], "id": "1", "userName": "x", CUSTOM: {"secret": "s", "badge": 1}});
    assert_eq!(project(&doc, &s, &[], &[])[CUSTOM], json!({"badge": 1}));
    let p = paths(&["urn:example:params:scim:schemas:extension:custom:2.0:User:secret"]);
    assert_eq!(project(&doc, &s, &p, &[])[CUSTOM], json!({"secret": "s"}));
}

#[test]
fn project_leaves_out_an_extension_the_tenant_no_longer_has() {
    let s = user_schema();
    let mut doc = rendered();
    let gone = "urn:contoso:params:scim:schemas:extension:hr:2.0:User";
    doc[gone] = json!({"costCenter": "CC1"});
    doc["schemas"].as_array_mut().expect("schemas").push(json!(gone));
    let out = project(&doc, &s, &[], &[]);
    assert!(out.get(gone).is_none(), "{out}");
    assert!(!out["schemas"].as_array().expect("schemas").contains(&json!(gone)), "{out}");
    assert_eq!(out[ENTERPRISE_USER_SCHEMA]["department"], "D", "a registered extension stays");
}
