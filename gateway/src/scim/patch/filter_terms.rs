//! Filter adapters: the only PATCH code that looks inside a [`Filter`], reading the conjunction of `eq`
//! terms a new element is built from and the `value eq` ids of a members filter.

use crate::scim::filter::{self, Filter};
use serde_json::Value;

/// `a eq x and b eq y` → [(a, x), (b, y)] (simple relative paths only).
pub(super) fn eq_terms(f: &Filter) -> Option<Vec<(String, Value)>> {
    match f {
        Filter::And(a, b) => {
            let mut t = eq_terms(a)?;
            t.extend(eq_terms(b)?);
            Some(t)
        }
        Filter::Compare(path, filter::CompareOp::Eq, value) if path.urn.is_none() && path.sub.is_none() => {
            Some(vec![(path.name.clone(), value.clone())])
        }
        _ => None,
    }
}

/// `value eq "a" or value eq "b"` → ["a", "b"].
pub(super) fn value_eq_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Or(a, b) => {
            let mut t = value_eq_ids(a)?;
            t.extend(value_eq_ids(b)?);
            Some(t)
        }
        Filter::Compare(path, filter::CompareOp::Eq, Value::String(s))
            if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        _ => None,
    }
}
