//! SCIM schema definitions (RFC 7643 §7) and attribute resolution.
//!
//! The JSON documents under `schemas/` are deserialised into [`SchemaDef`]s; a [`ResourceSchema`] is a
//! resource type's core schema plus its extensions (EnterpriseUser and the tenant's custom extension
//! schemas). Everything that needs to know an attribute's type, multiplicity, mutability, `returned` or
//! `caseExact` characteristic asks a `ResourceSchema`. Attribute names and schema URNs are matched
//! case-insensitively (RFC 7643 §2.1).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    #[default]
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    #[default]
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    #[default]
    None,
    Server,
    Global,
}

/// One attribute definition, exactly the RFC 7643 §7 shape (so it serialises back for `/Schemas`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttrType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_attributes: Option<Vec<AttributeDef>>,
    pub multi_valued: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_values: Option<Vec<String>>,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default)]
    pub mutability: Mutability,
    #[serde(default)]
    pub returned: Returned,
    #[serde(default)]
    pub uniqueness: Uniqueness,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_types: Option<Vec<String>>,
}

impl AttributeDef {
    /// A singular, optional, readWrite attribute with the RFC 7643 §2.2 defaults for the rest.
    pub fn new(name: &str, kind: AttrType) -> AttributeDef {
        AttributeDef {
            name: name.to_owned(),
            kind,
            sub_attributes: None,
            multi_valued: false,
            description: None,
            required: false,
            canonical_values: None,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: None,
        }
    }

    /// Sub-attribute by name, case-insensitively.
    pub fn sub(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes.as_deref()?.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
    pub fn subs(&self) -> &[AttributeDef] {
        self.sub_attributes.as_deref().unwrap_or(&[])
    }
    pub fn is_complex(&self) -> bool {
        self.kind == AttrType::Complex
    }
}

/// A schema document (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaDef {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    pub fn attr(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Entra adds this URI to `schemas` on group POST; it carries no attributes and is accepted and dropped.
pub const MS_ADSCIM_GROUP_SCHEMA: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

/// The common attributes of RFC 7643 §3.1 that are not part of any schema's `attributes`.
pub fn common_attributes() -> &'static [AttributeDef] {
    use std::sync::OnceLock;
    static COMMON: OnceLock<Vec<AttributeDef>> = OnceLock::new();
    COMMON.get_or_init(|| {
        let s = |name: &str, case_exact: bool, mutability: Mutability, returned: Returned| AttributeDef {
            case_exact,
            mutability,
            returned,
            ..AttributeDef::new(name, AttrType::String)
        };
        let mut meta = s("meta", false, Mutability::ReadOnly, Returned::Default);
        meta.kind = AttrType::Complex;
        let mut created = s("created", false, Mutability::ReadOnly, Returned::Default);
        created.kind = AttrType::DateTime;
        let mut last_modified = s("lastModified", false, Mutability::ReadOnly, Returned::Default);
        last_modified.kind = AttrType::DateTime;
        let mut location = s("location", true, Mutability::ReadOnly, Returned::Default);
        location.kind = AttrType::Reference;
        meta.sub_attributes = Some(vec![
            s("resourceType", true, Mutability::ReadOnly, Returned::Default),
            created,
            last_modified,
            location,
            s("version", true, Mutability::ReadOnly, Returned::Default),
        ]);
        let mut id = s("id", true, Mutability::ReadOnly, Returned::Always);
        id.uniqueness = Uniqueness::Server;
        vec![id, s("externalId", true, Mutability::ReadWrite, Returned::Default), meta]
    })
}

/// A resource type's full schema: core schema plus extensions (`required` flag per extension).
#[derive(Debug, Clone)]
pub struct ResourceSchema {
    /// "User" or "Group".
    pub name: String,
    /// "/Users" or "/Groups".
    pub endpoint: String,
    pub core: Arc<SchemaDef>,
    pub extensions: Vec<(Arc<SchemaDef>, bool)>,
}

/// Where a resolved attribute lives in the stored document.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr<'a> {
    /// `Some(urn)` when the attribute belongs to an extension schema (stored under the URN key).
    pub extension: Option<&'a str>,
    /// The top-level attribute.
    pub attr: &'a AttributeDef,
    /// The sub-attribute, when the path named one.
    pub sub: Option<&'a AttributeDef>,
}

impl ResourceSchema {
    /// All schema URNs this resource type knows (core first).
    pub fn schema_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.core.id.as_str()).chain(self.extensions.iter().map(|(s, _)| s.id.as_str()))
    }

    /// Extension schema by URN (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&SchemaDef> {
        self.extensions.iter().map(|(s, _)| s.as_ref()).find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Top-level core (or common) attribute by name, case-insensitively.
    pub fn core_attr(&self, name: &str) -> Option<&AttributeDef> {
        self.core.attr(name).or_else(|| common_attributes().iter().find(|a| a.name.eq_ignore_ascii_case(name)))
    }

    /// Splits an optional schema URN prefix off `path`: `urn:…:User:manager.value` → (Some(urn), "manager.value").
    /// The core schema's URN prefix is accepted and reported as `None`. Returns `None` for an unknown URN.
    pub fn split_urn<'s, 'p>(&'s self, path: &'p str) -> Option<(Option<&'s str>, &'p str)> {
        if !path.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
            return Some((None, path));
        }
        // Longest schema id that prefixes the path followed by ':' (or equals the path).
        let mut best: Option<(&'s str, bool)> = None;
        for id in self.schema_ids() {
            let n = id.len();
            // `get`, not an index: `n` may fall inside a multibyte character of the client's key.
            if path.get(..n).is_some_and(|p| p.eq_ignore_ascii_case(id))
                && (path.len() == n || path.as_bytes()[n] == b':')
                && best.is_none_or(|(b, _)| b.len() < n)
            {
                best = Some((id, id.eq_ignore_ascii_case(&self.core.id)));
            }
        }
        let (id, is_core) = best?;
        let rest = path.get(id.len() + 1..).unwrap_or("");
        Some((if is_core { None } else { Some(id) }, rest))
    }

    /// Resolves `attr`, `attr.sub`, `urn:…:attr` or `urn:…:attr.sub`.
    pub fn resolve(&self, path: &str) -> Option<ResolvedAttr<'_>> {
        let (ext, rest) = self.split_urn(path)?;
        let (name, sub) = match rest.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        let attr = match ext {
            Some(urn) => self.extension(urn)?.attr(name)?,
            None => self.core_attr(name)?,
        };
        let sub = match sub {
            Some(s) => Some(attr.sub(s)?),
            None => None,
        };
        Some(ResolvedAttr { extension: ext, attr, sub })
    }

    /// Attributes of the schema a top-level key belongs to; `key` is an attribute name or an extension URN.
    pub fn is_extension_key(&self, key: &str) -> Option<&SchemaDef> {
        self.extension(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str, kind: AttrType) -> AttributeDef {
        AttributeDef::new(name, kind)
    }

    fn user() -> ResourceSchema {
        let mut name = attr("name", AttrType::Complex);
        name.sub_attributes = Some(vec![attr("givenName", AttrType::String)]);
        let core = SchemaDef {
            id: USER_SCHEMA.into(),
            name: Some("User".into()),
            description: None,
            attributes: vec![attr("userName", AttrType::String), name],
        };
        let ent = SchemaDef {
            id: ENTERPRISE_USER_SCHEMA.into(),
            name: None,
            description: None,
            attributes: vec![attr("employeeNumber", AttrType::String)],
        };
        ResourceSchema {
            name: "User".into(),
            endpoint: "/Users".into(),
            core: Arc::new(core),
            extensions: vec![(Arc::new(ent), false)],
        }
    }

    #[test]
    fn resolves_paths_case_insensitively() {
        let u = user();
        assert_eq!(u.resolve("USERNAME").map(|r| r.attr.name.as_str()), Some("userName"));
        let r = u.resolve("name.GIVENname").expect("sub");
        assert_eq!(r.sub.map(|s| s.name.as_str()), Some("givenName"));
        let r = u.resolve("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber").expect("ext");
        assert_eq!(r.extension, Some(ENTERPRISE_USER_SCHEMA));
        let r = u.resolve("urn:ietf:params:scim:schemas:core:2.0:User:userName").expect("core urn");
        assert!(r.extension.is_none());
        assert!(u.resolve("urn:x:unknown:attr").is_none());
        assert!(u.resolve("nope").is_none());
        assert_eq!(u.resolve("id").map(|r| r.attr.case_exact), Some(true));
    }

    #[test]
    fn a_urn_key_with_multibyte_characters_is_unknown_not_a_panic() {
        let u = user();
        // Every byte offset a schema id could end at, inside and between two-byte characters.
        for len in 0..60 {
            let key = format!("urn:x{}", "é".repeat(len));
            assert!(u.resolve(&key).is_none(), "{key}");
            assert_eq!(u.split_urn(&key), None, "{key}");
        }
        let key = format!("urn:ietf:params:scim:schemas:core:2.0:Usé{}", "é".repeat(3));
        assert!(u.resolve(&key).is_none());
    }
}
