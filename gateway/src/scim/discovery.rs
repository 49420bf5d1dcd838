//! The schema set of a tenant (core User, EnterpriseUser, Group, plus its custom extension schemas) and
//! the discovery documents of RFC 7644 §4: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.

use super::error::{ScimError, ScimResult};
use super::schema::{
    AttrType, AttributeDef, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, ResourceSchema, Returned, SchemaDef, USER_SCHEMA,
};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

const USER_JSON: &str = include_str!("../../../schemas/user.json");
const ENTERPRISE_JSON: &str = include_str!("../../../schemas/enterprise_user.json");
const GROUP_JSON: &str = include_str!("../../../schemas/group.json");
const SPC_JSON: &str = include_str!("../../../schemas/service_provider_config.json");

pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

struct Builtin {
    user: Arc<SchemaDef>,
    enterprise: Arc<SchemaDef>,
    group: Arc<SchemaDef>,
    spc: Value,
}

fn builtin() -> &'static Builtin {
    static B: OnceLock<Builtin> = OnceLock::new();
    B.get_or_init(|| {
        // The documents are compiled in and covered by tests; failing here is a build defect.
        let parse = |s: &str, what: &str| -> Arc<SchemaDef> {
            Arc::new(serde_json::from_str(s).unwrap_or_else(|e| panic!("built-in schema {what} is invalid: {e}")))
        };
        Builtin {
            user: parse(USER_JSON, "user.json"),
            enterprise: parse(ENTERPRISE_JSON, "enterprise_user.json"),
            group: parse(GROUP_JSON, "group.json"),
            spc: serde_json::from_str(SPC_JSON).unwrap_or_else(|e| panic!("service_provider_config.json: {e}")),
        }
    })
}

/// A custom extension schema registered for a tenant.
#[derive(Debug, Clone)]
pub struct CustomSchema {
    pub schema: Arc<SchemaDef>,
    /// "User" or "Group".
    pub resource_type: String,
    pub required: bool,
}

/// Everything schema-related for one tenant.
#[derive(Debug, Clone)]
pub struct TenantSchemas {
    pub user: ResourceSchema,
    pub group: ResourceSchema,
    /// `"name"` (quoted) of every attribute, at any level, that is not returned by default
    /// (`returned: never` such as `password`, or `request`), per resource type.
    hidden_user: Vec<String>,
    hidden_group: Vec<String>,
}

fn hidden_names(rs: &ResourceSchema) -> Vec<String> {
    fn walk(attrs: &[AttributeDef], out: &mut Vec<String>) {
        for a in attrs {
            if matches!(a.returned, Returned::Never | Returned::Request) {
                out.push(format!("\"{}\"", a.name));
            }
            walk(a.subs(), out);
        }
    }
    let mut out = Vec::new();
    walk(&rs.core.attributes, &mut out);
    for (s, _) in &rs.extensions {
        walk(&s.attributes, &mut out);
    }
    out
}

impl TenantSchemas {
    pub fn new(custom: &[CustomSchema]) -> TenantSchemas {
        let b = builtin();
        let ext = |rt: &str| -> Vec<(Arc<SchemaDef>, bool)> {
            custom
                .iter()
                .filter(|c| c.resource_type.eq_ignore_ascii_case(rt))
                .map(|c| (c.schema.clone(), c.required))
                .collect()
        };
        let mut user_ext = vec![(b.enterprise.clone(), false)];
        user_ext.extend(ext("User"));
        let user = ResourceSchema {
            name: "User".into(),
            endpoint: "/Users".into(),
            core: b.user.clone(),
            extensions: user_ext,
        };
        let group = ResourceSchema {
            name: "Group".into(),
            endpoint: "/Groups".into(),
            core: b.group.clone(),
            extensions: ext("Group"),
        };
        TenantSchemas { hidden_user: hidden_names(&user), hidden_group: hidden_names(&group), user, group }
    }

    /// Whether a stored document (JSON text) may hold an attribute that must not be returned by default,
    /// so that it has to be parsed and projected rather than served as stored. Conservative: a value that
    /// merely contains the quoted name also answers true.
    pub fn may_hide(&self, kind: super::Kind, doc: &str) -> bool {
        let names = match kind {
            super::Kind::User => &self.hidden_user,
            super::Kind::Group => &self.hidden_group,
        };
        names.iter().any(|n| doc.contains(n.as_str()))
    }

    fn all(&self) -> impl Iterator<Item = &SchemaDef> {
        std::iter::once(self.user.core.as_ref())
            .chain(std::iter::once(self.group.core.as_ref()))
            .chain(self.user.extensions.iter().map(|(s, _)| s.as_ref()))
            .chain(self.group.extensions.iter().map(|(s, _)| s.as_ref()))
    }

    fn schema_doc(s: &SchemaDef, base: &str) -> Value {
        let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            let mut out = serde_json::Map::new();
            out.insert("schemas".into(), json!([SCHEMA_SCHEMA]));
            out.append(o);
            out.insert(
                "meta".into(),
                json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)}),
            );
            return Value::Object(out);
        }
        v
    }

    /// `GET /Schemas` body.
    pub fn schemas_list(&self, base: &str) -> Value {
        let docs: Vec<Value> = self.all().map(|s| Self::schema_doc(s, base)).collect();
        list_response(docs)
    }

    /// `GET /Schemas/{urn}` body.
    pub fn schema(&self, urn: &str, base: &str) -> Option<Value> {
        self.all().find(|s| s.id.eq_ignore_ascii_case(urn)).map(|s| Self::schema_doc(s, base))
    }

    fn resource_type_doc(rs: &ResourceSchema, base: &str) -> Value {
        let ext: Vec<Value> = rs.extensions.iter().map(|(s, req)| json!({"schema": s.id, "required": req})).collect();
        let mut doc = json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": rs.name,
            "name": rs.name,
            "endpoint": rs.endpoint,
            "description": if rs.name == "User" { "User Account" } else { "Group" },
            "schema": rs.core.id,
        });
        if !ext.is_empty() {
            doc["schemaExtensions"] = Value::Array(ext);
        }
        doc["meta"] = json!({"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rs.name)});
        doc
    }

    /// `GET /ResourceTypes` body.
    pub fn resource_types(&self, base: &str) -> Value {
        list_response(vec![Self::resource_type_doc(&self.user, base), Self::resource_type_doc(&self.group, base)])
    }

    /// `GET /ResourceTypes/{name}` body.
    pub fn resource_type(&self, name: &str, base: &str) -> Option<Value> {
        [&self.user, &self.group]
            .into_iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .map(|r| Self::resource_type_doc(r, base))
    }
}

/// `GET /ServiceProviderConfig` body.
pub fn service_provider_config(base: &str) -> Value {
    let mut v = builtin().spc.clone();
    v["meta"] = json!({"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")});
    v
}

/// A ListResponse holding all of `resources` (discovery lists are never paged).
pub fn list_response(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Validates a custom extension schema an admin registers. Rules follow what Entra can send to a
/// non-gallery app: attributes are simple or complex, names are SCIM attribute names, and the id is a URN
/// that does not shadow a built-in schema.
pub fn validate_custom_schema(doc: &str, resource_type: &str) -> ScimResult<SchemaDef> {
    let schema: SchemaDef = serde_json::from_str(doc)
        .map_err(|e| ScimError::invalid_syntax(format!("not an RFC 7643 §7 schema document: {e}")))?;
    if !schema.id.starts_with("urn:") {
        return Err(ScimError::invalid_value(format!("schema id \"{}\" must be a URN (urn:…)", schema.id)));
    }
    for builtin in [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA] {
        if schema.id.eq_ignore_ascii_case(builtin) {
            return Err(ScimError::invalid_value(format!("{builtin} is built in and cannot be replaced")));
        }
    }
    if !["User", "Group"].iter().any(|r| r.eq_ignore_ascii_case(resource_type)) {
        return Err(ScimError::invalid_value("resource type must be User or Group"));
    }
    if schema.attributes.is_empty() {
        return Err(ScimError::invalid_value("a schema needs at least one attribute"));
    }
    fn check(attrs: &[AttributeDef], depth: usize) -> ScimResult<()> {
        let mut seen = std::collections::HashSet::new();
        for a in attrs {
            let valid = a.name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
                && a.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
            if !valid {
                return Err(ScimError::invalid_value(format!("\"{}\" is not a valid attribute name", a.name)));
            }
            if !seen.insert(a.name.to_ascii_lowercase()) {
                return Err(ScimError::invalid_value(format!("attribute \"{}\" is defined twice", a.name)));
            }
            match (a.kind, &a.sub_attributes) {
                (AttrType::Complex, Some(subs)) if depth == 0 && !subs.is_empty() => check(subs, 1)?,
                (AttrType::Complex, _) => {
                    return Err(ScimError::invalid_value(format!(
                        "complex attribute \"{}\" needs simple subAttributes (one level only)",
                        a.name
                    )));
                }
                (_, Some(_)) => {
                    return Err(ScimError::invalid_value(format!(
                        "only complex attributes have subAttributes (\"{}\")",
                        a.name
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
    check(&schema.attributes, 0)?;
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_parse_and_resolve() {
        let s = TenantSchemas::new(&[]);
        assert!(s.user.resolve("userName").is_some());
        assert!(s.user.resolve("emails.value").is_some());
        assert!(s.user.resolve("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").is_some());
        assert!(s.group.resolve("members.value").is_some());
        let list = s.schemas_list("http://x/scim/v2/t");
        assert_eq!(list["totalResults"], 3);
        assert!(s.schema(ENTERPRISE_USER_SCHEMA, "b").is_some());
        assert!(s.resource_type("user", "b").is_some());
        assert_eq!(service_provider_config("b")["patch"]["supported"], true);
    }

    #[test]
    fn custom_schema_is_validated_and_served() {
        let doc = r#"{"id":"urn:ietf:params:scim:schemas:extension:contoso:2.0:User","name":"Contoso",
            "attributes":[{"name":"hireDate","type":"dateTime","multiValued":false,"required":false,
            "caseExact":false,"mutability":"readWrite","returned":"default","uniqueness":"none"}]}"#;
        let schema = validate_custom_schema(doc, "User").expect("valid");
        let s = TenantSchemas::new(&[CustomSchema {
            schema: Arc::new(schema),
            resource_type: "User".into(),
            required: false,
        }]);
        assert!(s.user.resolve("urn:ietf:params:scim:schemas:extension:contoso:2.0:User:hireDate").is_some());
        assert_eq!(s.schemas_list("b")["totalResults"], 4);
        assert!(validate_custom_schema(r#"{"id":"x","attributes":[]}"#, "User").is_err());
        assert!(validate_custom_schema(&doc.replace("hireDate", "bad name"), "User").is_err());
        assert!(validate_custom_schema(doc, "Device").is_err());
    }
}
