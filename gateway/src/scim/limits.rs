//! Caps on what one resource may hold and on the work one PATCH may cause, so that no request, however
//! crafted, costs more than a bounded amount of CPU and memory (documented in docs/LIMITS.md).
//!
//! - [`MAX_VALUES`]: elements of one multi-valued attribute of a stored resource (`emails`,
//!   `phoneNumbers`, …; Group `members` are kept in their own table and are not counted).
//! - [`MAX_RESOURCE_BYTES`]: a stored resource as JSON text.
//! - [`MAX_PATCH_WORK`]: the comparisons one PATCH may need. Each operation is charged (values of the
//!   resource + 1) × (terms of its value filter, at least 1) × (elements of its value, at least 1): an
//!   upper bound of what applying it compares and copies. Entra's requests cost a few hundred.
//!
//! Every breach is a 400 `invalidValue` that names the limit; nothing is written. A string holding
//! U+0000 is refused the same way: PostgreSQL text cannot store it, and both databases must agree.

use crate::scim::error::{ScimError, ScimResult};
use crate::scim::filter::{Filter, PatchPath};
use crate::scim::patch::PatchOperation;
use serde_json::Value;

/// Most elements of one multi-valued attribute of a stored resource.
pub const MAX_VALUES: usize = 1_000;
/// Largest stored resource, as JSON text.
pub const MAX_RESOURCE_BYTES: usize = 128 * 1024;
/// Most comparisons one PATCH request may need (see the module header for how they are counted).
pub const MAX_PATCH_WORK: u64 = 2_000_000;

/// Checks a document about to be stored against [`MAX_VALUES`] and [`MAX_RESOURCE_BYTES`].
pub fn check_resource(doc: &Value) -> ScimResult<()> {
    if let Value::Object(top) = doc {
        for (key, v) in top {
            match v {
                Value::Array(a) => check_values(key, a.len())?,
                Value::Object(ext) if key.starts_with("urn:") => {
                    for (k, v) in ext {
                        if let Value::Array(a) = v {
                            check_values(&format!("{key}:{k}"), a.len())?;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if has_nul(doc) {
        return Err(ScimError::invalid_value("a string value must not contain U+0000"));
    }
    let mut size = Counter(0);
    // Writing into a counter cannot fail but for a bug in serde_json; count such a document as too large.
    if serde_json::to_writer(&mut size, doc).is_err() || size.0 > MAX_RESOURCE_BYTES {
        return Err(ScimError::invalid_value(format!(
            "the resource would be {} bytes as JSON; at most {MAX_RESOURCE_BYTES} bytes are accepted",
            size.0
        )));
    }
    Ok(())
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn check_values(attr: &str, n: usize) -> ScimResult<()> {
    if n > MAX_VALUES {
        return Err(ScimError::invalid_value(format!(
            "'{attr}' would hold {n} values; at most {MAX_VALUES} are accepted per attribute"
        )));
    }
    Ok(())
}

/// The values of a document's multi-valued attributes (core and extensions).
pub fn values_in(doc: &Value) -> u64 {
    let Value::Object(top) = doc else { return 0 };
    let mut n = 0;
    for (key, v) in top {
        match v {
            Value::Array(a) => n += a.len() as u64,
            Value::Object(ext) if key.starts_with("urn:") => {
                n += ext.values().filter_map(Value::as_array).map(|a| a.len() as u64).sum::<u64>();
            }
            _ => {}
        }
    }
    n
}

/// The charge of one operation against a document holding `values` multi-valued elements.
pub fn op_cost(op: &PatchOperation, values: u64) -> u64 {
    let terms = match &op.path {
        Some(PatchPath::ValuePath { filter, .. }) => terms_in(filter),
        _ => 1,
    };
    let elems = match &op.value {
        Some(Value::Array(a)) => a.len().max(1) as u64,
        _ => 1,
    };
    (values + 1).saturating_mul(terms).saturating_mul(elems)
}

/// The attribute expressions of a filter.
fn terms_in(f: &Filter) -> u64 {
    match f {
        Filter::Present(_) | Filter::Compare(..) => 1,
        Filter::And(a, b) | Filter::Or(a, b) => terms_in(a) + terms_in(b),
        Filter::Not(a) | Filter::ValuePath(_, a) => terms_in(a),
    }
}

/// A PATCH whose work exceeds [`MAX_PATCH_WORK`].
pub fn too_much_work(spent: u64) -> ScimError {
    ScimError::invalid_value(format!(
        "this PATCH needs about {spent} comparisons on this resource; at most {MAX_PATCH_WORK} are accepted \
         per request: send fewer operations, shorter value filters or fewer values per operation"
    ))
}

struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_and_size_are_capped() {
        let ok = json!({"emails": vec![json!({"value": "a@x"}); MAX_VALUES]});
        assert!(check_resource(&ok).is_ok());
        let many = json!({"emails": vec![json!({"value": "a@x"}); MAX_VALUES + 1]});
        let e = check_resource(&many).expect_err("too many values");
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("'emails'") && e.detail.contains("1000"), "{}", e.detail);
        let ext = json!({"urn:x:ext": {"codes": vec![json!("c"); MAX_VALUES + 1]}});
        assert!(check_resource(&ext).expect_err("extension values").detail.contains("urn:x:ext:codes"));
        assert!(check_resource(&json!({"name": {"givenName": "a\u{0}b"}})).expect_err("NUL").detail.contains("U+0000"));
        let big = json!({"displayName": "x".repeat(MAX_RESOURCE_BYTES)});
        let e = check_resource(&big).expect_err("too large");
        assert!(e.detail.contains(&MAX_RESOURCE_BYTES.to_string()), "{}", e.detail);
    }

    #[test]
    fn op_cost_multiplies_values_terms_and_elements() {
        let ops = crate::scim::patch::parse_patch(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "remove", "path": "emails[value eq \"a\" or value eq \"b\" or value eq \"c\"]"},
                {"op": "add", "path": "emails", "value": [{"value": "x"}, {"value": "y"}]},
                {"op": "replace", "path": "displayName", "value": "n"}
            ]
        }))
        .expect("valid");
        assert_eq!(op_cost(&ops[0], 9), 30);
        assert_eq!(op_cost(&ops[1], 9), 20);
        assert_eq!(op_cost(&ops[2], 9), 10);
        assert_eq!(values_in(&json!({"emails": [1, 2], "urn:x": {"a": [1], "b": "s"}, "name": {"x": [1]}})), 3);
    }
}
