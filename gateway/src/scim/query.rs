//! List and search requests (RFC 7644 §3.4.2, §3.4.3): parameters, their validation, and how a filter is
//! answered through an index instead of a scan.

use super::error::{ScimError, ScimResult};
use super::filter::{AttrPath, CompareOp, Filter, parse_attr_path, parse_filter};
use serde_json::Value;

/// The most resources one page returns (advertised as `filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;
/// A page without `count`.
pub const DEFAULT_COUNT: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// A parsed list/search request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub attributes: Vec<AttrPath>,
    pub excluded_attributes: Vec<AttrPath>,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filter: None,
            start_index: 1,
            count: DEFAULT_COUNT,
            attributes: Vec::new(),
            excluded_attributes: Vec::new(),
            sort_by: None,
            sort_order: SortOrder::Ascending,
        }
    }
}

/// Parses a comma-separated attribute list (`attributes=`, `excludedAttributes=`).
pub fn parse_attr_list(s: &str) -> ScimResult<Vec<AttrPath>> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(parse_attr_path).collect()
}

fn parse_uint(name: &str, s: &str) -> ScimResult<i64> {
    s.trim().parse::<i64>().map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
}

impl ListQuery {
    /// From URL query parameters (names matched case-insensitively; unknown ones such as Entra's
    /// `aadOptscim062020` are ignored).
    pub fn from_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> ScimResult<ListQuery> {
        let mut q = ListQuery::default();
        for (k, v) in params {
            match k.to_ascii_lowercase().as_str() {
                "filter" => q.filter = Some(parse_filter(v)?),
                "startindex" => q.start_index = parse_uint("startIndex", v)?.max(1) as usize,
                "count" => q.count = parse_uint("count", v)?.clamp(0, MAX_RESULTS as i64) as usize,
                "attributes" => q.attributes = parse_attr_list(v)?,
                "excludedattributes" => q.excluded_attributes = parse_attr_list(v)?,
                "sortby" => q.sort_by = Some(parse_attr_path(v)?),
                "sortorder" => q.sort_order = parse_sort_order(v)?,
                _ => {}
            }
        }
        Ok(q)
    }

    /// From a `POST /.search` body (RFC 7644 §3.4.3).
    pub fn from_search_body(body: &Value) -> ScimResult<ListQuery> {
        let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("search request must be a JSON object"))?;
        const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
        let schemas_ok = obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
            .and_then(|(_, v)| v.as_array())
            .is_some_and(|a| a.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(SEARCH))));
        if !schemas_ok {
            return Err(ScimError::invalid_syntax(format!("schemas must contain \"{SEARCH}\"")));
        }
        let mut q = ListQuery::default();
        for (k, v) in obj {
            let text = |v: &Value| -> ScimResult<String> {
                match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Array(items) => Ok(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(ScimError::invalid_value(format!("{k} has the wrong type"))),
                }
            };
            match k.to_ascii_lowercase().as_str() {
                "filter" => q.filter = Some(parse_filter(&text(v)?)?),
                "startindex" => q.start_index = parse_uint("startIndex", &text(v)?)?.max(1) as usize,
                "count" => q.count = parse_uint("count", &text(v)?)?.clamp(0, MAX_RESULTS as i64) as usize,
                "attributes" => q.attributes = parse_attr_list(&text(v)?)?,
                "excludedattributes" => q.excluded_attributes = parse_attr_list(&text(v)?)?,
                "sortby" => q.sort_by = Some(parse_attr_path(&text(v)?)?),
                "sortorder" => q.sort_order = parse_sort_order(&text(v)?)?,
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether the client asked to leave `name` (a top-level core attribute) out of the response.
    pub fn omits(&self, name: &str) -> bool {
        let named = |p: &AttrPath| p.urn.is_none() && p.name.eq_ignore_ascii_case(name);
        if self.excluded_attributes.iter().any(|p| named(p) && p.sub.is_none()) {
            return true;
        }
        !self.attributes.is_empty() && !self.attributes.iter().any(named)
    }
}

fn parse_sort_order(v: &str) -> ScimResult<SortOrder> {
    match v.to_ascii_lowercase().as_str() {
        "ascending" => Ok(SortOrder::Ascending),
        "descending" => Ok(SortOrder::Descending),
        _ => Err(ScimError::invalid_value("sortOrder must be \"ascending\" or \"descending\"")),
    }
}

/// An indexed attribute a filter can be answered through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexAttr {
    Id,
    UserName,
    ExternalId,
    DisplayName,
}

/// `attr eq "value"` on an indexed attribute, found among the top-level `and` terms of a filter.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexHint {
    pub attr: IndexAttr,
    pub value: String,
}

fn top_level_terms<'a>(f: &'a Filter, out: &mut Vec<&'a Filter>) {
    match f {
        Filter::And(a, b) => {
            top_level_terms(a, out);
            top_level_terms(b, out);
        }
        other => out.push(other),
    }
}

fn is_core_path(p: &AttrPath, core_urn: &str) -> bool {
    p.sub.is_none() && p.urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(core_urn))
}

/// The best index for `filter` (id, then userName, externalId, displayName), given which attributes the
/// resource type indexes. Only conjuncts of the top-level `and` chain qualify: the whole filter is still
/// evaluated on the candidates, so the hint only narrows.
pub fn index_hint(filter: &Filter, core_urn: &str, indexed: &[IndexAttr]) -> Option<IndexHint> {
    let mut terms = Vec::new();
    top_level_terms(filter, &mut terms);
    let mut best: Option<IndexHint> = None;
    for t in terms {
        let Filter::Compare(path, CompareOp::Eq, Value::String(v)) = t else {
            continue;
        };
        if !is_core_path(path, core_urn) {
            continue;
        }
        let attr = match path.name.to_ascii_lowercase().as_str() {
            "id" => IndexAttr::Id,
            "username" => IndexAttr::UserName,
            "externalid" => IndexAttr::ExternalId,
            "displayname" => IndexAttr::DisplayName,
            _ => continue,
        };
        if !indexed.contains(&attr) {
            continue;
        }
        let rank = |a: IndexAttr| indexed.iter().position(|x| *x == a).unwrap_or(usize::MAX);
        if best.as_ref().is_none_or(|b| rank(attr) < rank(b.attr)) {
            best = Some(IndexHint { attr, value: v.clone() });
        }
    }
    best
}

/// Whether `filter` is exactly the `attr eq "value"` term `hint` was made from (so an index lookup
/// answers it completely).
pub fn is_hint_only(filter: &Filter, hint: &IndexHint) -> bool {
    let Filter::Compare(path, CompareOp::Eq, Value::String(v)) = filter else { return false };
    let name = match hint.attr {
        IndexAttr::Id => "id",
        IndexAttr::UserName => "userName",
        IndexAttr::ExternalId => "externalId",
        IndexAttr::DisplayName => "displayName",
    };
    path.sub.is_none() && path.urn.is_none() && path.name.eq_ignore_ascii_case(name) && *v == hint.value
}

/// Member ids a filter requires (`members[value eq "u"]`, `members eq "u"`, `members.value eq "u"` among
/// the top-level `and` terms), and the filter without those terms. Lets the store answer Entra's
/// membership check with one indexed probe instead of loading every member.
pub fn split_member_terms(filter: &Filter, core_urn: &str) -> (Vec<String>, Option<Filter>) {
    let mut terms = Vec::new();
    top_level_terms(filter, &mut terms);
    let mut ids = Vec::new();
    let mut rest: Vec<Filter> = Vec::new();
    for t in terms {
        if let Some(id) = member_eq(t, core_urn) {
            ids.push(id);
        } else {
            rest.push(t.clone());
        }
    }
    let residual = rest.into_iter().reduce(|a, b| Filter::And(Box::new(a), Box::new(b)));
    (ids, residual)
}

fn member_eq(t: &Filter, core_urn: &str) -> Option<String> {
    let members = |p: &AttrPath| {
        p.name.eq_ignore_ascii_case("members") && p.urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(core_urn))
    };
    match t {
        Filter::Compare(p, CompareOp::Eq, Value::String(v))
            if members(p) && p.sub.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("value")) =>
        {
            Some(v.clone())
        }
        Filter::ValuePath(p, inner) if members(p) && p.sub.is_none() => match inner.as_ref() {
            Filter::Compare(q, CompareOp::Eq, Value::String(v))
                if q.urn.is_none() && q.sub.is_none() && q.name.eq_ignore_ascii_case("value") =>
            {
                Some(v.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether a filter mentions `name` (top-level attribute) anywhere.
pub fn mentions(filter: &Filter, name: &str) -> bool {
    match filter {
        Filter::Present(p) | Filter::Compare(p, _, _) | Filter::ValuePath(p, _) => p.name.eq_ignore_ascii_case(name),
        Filter::And(a, b) | Filter::Or(a, b) => mentions(a, name) || mentions(b, name),
        Filter::Not(a) => mentions(a, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::GROUP_SCHEMA;

    const USERS: &[IndexAttr] = &[IndexAttr::Id, IndexAttr::UserName, IndexAttr::ExternalId];

    fn hint(f: &str) -> Option<IndexHint> {
        index_hint(&parse_filter(f).expect("filter"), "urn:ietf:params:scim:schemas:core:2.0:User", USERS)
    }

    #[test]
    fn entra_filters_use_indexes() {
        assert_eq!(
            hint(r#"userName eq "a@b.c""#),
            Some(IndexHint { attr: IndexAttr::UserName, value: "a@b.c".into() })
        );
        assert_eq!(hint(r#"USERNAME Eq "A""#).map(|h| h.attr), Some(IndexAttr::UserName));
        assert_eq!(hint(r#"externalId eq "x""#).map(|h| h.attr), Some(IndexAttr::ExternalId));
        assert_eq!(hint(r#"externalId eq "x" and id eq "i""#).map(|h| h.attr), Some(IndexAttr::Id));
        assert_eq!(hint(r#"userName eq "a" or id eq "b""#), None);
        assert_eq!(hint(r#"userName co "a""#), None);
        assert_eq!(hint(r#"displayName eq "a""#), None, "users have no displayName index");
    }

    #[test]
    fn a_single_indexed_term_needs_no_evaluation() {
        let f = parse_filter(r#"userName eq "A@b.c""#).expect("filter");
        let h = hint(r#"userName eq "A@b.c""#).expect("hint");
        assert!(is_hint_only(&f, &h));
        let f2 = parse_filter(r#"userName eq "A@b.c" and active eq true"#).expect("filter");
        assert!(!is_hint_only(&f2, &h));
    }

    #[test]
    fn member_checks_are_split_off() {
        for f in [r#"id eq "g" and members[value eq "u"]"#, r#"id eq "g" and members eq "u""#] {
            let (ids, rest) = split_member_terms(&parse_filter(f).expect("filter"), GROUP_SCHEMA);
            assert_eq!(ids, vec!["u".to_owned()]);
            assert_eq!(rest.map(|r| r.to_string()), Some(r#"id eq "g""#.to_owned()));
        }
    }

    #[test]
    fn params_are_case_insensitive_and_unknown_ignored() {
        let q = ListQuery::from_params([("StartIndex", "0"), ("COUNT", "5000"), ("aadOptscim062020", "")]).expect("q");
        assert_eq!((q.start_index, q.count), (1, MAX_RESULTS));
        assert!(ListQuery::from_params([("count", "x")]).is_err());
        let q = ListQuery::from_params([("excludedAttributes", "members")]).expect("q");
        assert!(q.omits("members") && !q.omits("displayName"));
    }
}
