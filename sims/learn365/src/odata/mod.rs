//! OData query options and collection paging.
//!
//! Supported: `$filter` (see [`filter`]), `$select`, `$expand` (with nested `($select=…;$expand=…)`),
//! `$orderby`, `$top` (at most 10,000), `$skip`, `$count=true`, `$format=json`. Any other `$` option,
//! or an option that does not apply (`$filter` on a single entity), is a 400 with the OData error
//! body. Server paging: at most `page size` rows per response, then an absolute `@odata.nextLink`
//! that repeats the request with `$skip` (and the remaining `$top`) advanced.

pub mod filter;
pub mod schema;

use serde_json::{Map, Value};

use crate::model::{Error, Result};
use filter::{Filter, order_values};
use schema::{EntitySet, Kind};

/// The real service's maximum page size, and the largest `$top` accepted.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// A 400 about the query options.
pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(400, "InvalidQuery", message)
}

/// One `$expand` item with its nested options.
#[derive(Debug, Clone, PartialEq)]
pub struct Expand {
    pub nav: String,
    pub select: Option<Vec<String>>,
    pub expand: Vec<Expand>,
}

/// Parsed query options of one request.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub filter: Option<Filter>,
    pub select: Option<Vec<String>>,
    pub expand: Vec<Expand>,
    /// (property, descending)
    pub orderby: Vec<(String, bool)>,
    pub top: Option<usize>,
    pub skip: usize,
    pub count: bool,
}

impl Options {
    /// Parses the raw query string for an entity set; `single` for a request on one entity.
    pub fn parse(query: &str, set: &'static EntitySet, single: bool) -> Result<Self> {
        let mut opts = Options::default();
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !key.starts_with('$') {
                continue;
            }
            if seen.contains(&key.to_string()) {
                return Err(invalid(format!("query option '{key}' is given more than once")));
            }
            seen.push(key.to_string());
            let collection_only = matches!(key.as_ref(), "$filter" | "$top" | "$skip" | "$count" | "$orderby");
            if single && collection_only {
                return Err(invalid(format!("query option '{key}' applies to collections, not to a single entity")));
            }
            match key.as_ref() {
                "$filter" => opts.filter = Some(Filter::parse(&value, set)?),
                "$select" => opts.select = parse_select(&value, Some(set))?,
                "$expand" => opts.expand = parse_expand(&value, set)?,
                "$orderby" => opts.orderby = parse_orderby(&value, set)?,
                "$top" => {
                    let top = parse_count(&key, &value)?;
                    if top > MAX_PAGE_SIZE {
                        return Err(invalid(format!("$top must not exceed {MAX_PAGE_SIZE}")));
                    }
                    opts.top = Some(top);
                }
                "$skip" => opts.skip = parse_count(&key, &value)?,
                "$count" => {
                    opts.count = match value.as_ref() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(invalid("$count must be true or false")),
                    }
                }
                "$format" if value.eq_ignore_ascii_case("json") => {}
                _ => return Err(invalid(format!("query option '{key}' is not supported by the simulator"))),
            }
        }
        Ok(opts)
    }

    /// Keeps the rows the filter accepts and sorts them by `$orderby` (stable).
    pub fn filter_and_sort(
        &self,
        rows: impl Iterator<Item = Map<String, Value>>,
        set: &EntitySet,
    ) -> Vec<Map<String, Value>> {
        let mut rows: Vec<_> = rows.filter(|r| self.filter.as_ref().is_none_or(|f| f.matches(r))).collect();
        if !self.orderby.is_empty() {
            rows.sort_by(|a, b| {
                self.orderby
                    .iter()
                    .map(|(prop, desc)| {
                        let kind = set.kind(prop).unwrap_or(Kind::Str);
                        let ord = order_values(
                            kind,
                            a.get(prop).unwrap_or(&Value::Null),
                            b.get(prop).unwrap_or(&Value::Null),
                        );
                        if *desc { ord.reverse() } else { ord }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        rows
    }
}

fn parse_count(key: &str, value: &str) -> Result<usize> {
    value.trim().parse::<usize>().map_err(|_| invalid(format!("{key} must be a non-negative integer, got '{value}'")))
}

/// `$select`: property names of the set (`*` = all). For a complex navigation value (`set` is
/// `None`) any names are accepted.
fn parse_select(value: &str, set: Option<&EntitySet>) -> Result<Option<Vec<String>>> {
    let names: Vec<String> = value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if names.is_empty() {
        return Err(invalid("$select is empty"));
    }
    if names.iter().any(|n| n == "*") {
        return Ok(None);
    }
    if let Some(set) = set
        && let Some(bad) = names.iter().find(|n| set.kind(n).is_none())
    {
        let hint = if set.nav(bad).is_some() { " (it is a navigation property: use $expand)" } else { "" };
        return Err(invalid(format!(
            "$select: could not find a property named '{bad}' on the entity set '{}'{hint}",
            set.name
        )));
    }
    Ok(Some(names))
}

fn parse_orderby(value: &str, set: &EntitySet) -> Result<Vec<(String, bool)>> {
    let mut keys = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut words = item.split_whitespace();
        let prop = words.next().unwrap_or_default();
        let desc = match words.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(invalid(format!("$orderby: '{other}' is not asc or desc"))),
        };
        if words.next().is_some() {
            return Err(invalid(format!("$orderby: cannot parse '{item}'")));
        }
        match set.kind(prop) {
            Some(Kind::List) | None => {
                return Err(invalid(format!("$orderby: '{prop}' is not a sortable property of '{}'", set.name)));
            }
            Some(_) => keys.push((prop.to_string(), desc)),
        }
    }
    if keys.is_empty() {
        return Err(invalid("$orderby is empty"));
    }
    Ok(keys)
}

/// Splits at `sep` outside parentheses.
fn split_top(s: &str, sep: char) -> Result<Vec<&str>> {
    let (mut depth, mut start, mut parts) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(invalid(format!("unbalanced parentheses in '{s}'")));
                }
            }
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(invalid(format!("unbalanced parentheses in '{s}'")));
    }
    parts.push(&s[start..]);
    Ok(parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect())
}

/// `$expand=Nav1,Nav2($select=A,B;$expand=Nav3)`.
pub fn parse_expand(value: &str, set: &EntitySet) -> Result<Vec<Expand>> {
    let mut items = Vec::new();
    for item in split_top(value, ',')? {
        let (name, nested) = match item.split_once('(') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix(')').ok_or_else(|| invalid(format!("$expand: cannot parse '{item}'")))?;
                (name.trim(), Some(inner))
            }
            None => (item, None),
        };
        let nav = set.nav(name).ok_or_else(|| {
            if set.navs.is_empty() {
                invalid(format!("$expand is not supported on '{}'", set.name))
            } else {
                let known: Vec<&str> = set.navs.iter().map(|n| n.name).collect();
                invalid(format!(
                    "$expand: '{name}' is not a navigation property of '{}' ({})",
                    set.name,
                    known.join(", ")
                ))
            }
        })?;
        let mut expand = Expand { nav: nav.name.to_string(), select: None, expand: Vec::new() };
        for option in nested.map(|n| split_top(n, ';')).transpose()?.unwrap_or_default() {
            let (key, val) =
                option.split_once('=').ok_or_else(|| invalid(format!("$expand: cannot parse '{option}'")))?;
            match (key.trim(), nav.target) {
                ("$select", target) => expand.select = parse_select(val, target)?,
                ("$expand", Some(target)) => expand.expand = parse_expand(val, target)?,
                (other, _) => {
                    return Err(invalid(format!("$expand: nested option '{other}' is not supported on '{name}'")));
                }
            }
        }
        items.push(expand);
    }
    if items.is_empty() {
        return Err(invalid("$expand is empty"));
    }
    Ok(items)
}

/// Keeps the `$select`ed properties (all when `None`) plus the expanded navigation properties.
pub fn project(row: Map<String, Value>, select: Option<&[String]>, expand: &[Expand]) -> Map<String, Value> {
    match select {
        None => row,
        Some(names) => row
            .into_iter()
            .filter(|(k, _)| names.iter().any(|n| n == k) || expand.iter().any(|e| e.nav == *k))
            .collect(),
    }
}

/// One page cut from the filtered, sorted rows.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
    /// `$skip` and remaining `$top` of the next page.
    pub next: Option<(usize, Option<usize>)>,
}

pub fn paginate<T>(rows: Vec<T>, opts: &Options, page_size: usize) -> Page<T> {
    let total = rows.len();
    let start = opts.skip.min(total);
    let window_end = opts.top.map_or(total, |t| total.min(start.saturating_add(t)));
    let end = window_end.min(start.saturating_add(page_size.max(1)));
    let items: Vec<_> = rows.into_iter().skip(start).take(end - start).collect();
    let next = (end < window_end).then(|| (end, opts.top.map(|t| t - (end - start))));
    Page { items, total, next }
}

/// The absolute URL of the next page: the same request with `$skip`/`$top` replaced.
pub fn next_link(base_url: &str, path: &str, raw_query: &str, skip: usize, top: Option<usize>) -> String {
    let mut parts: Vec<String> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split('=').next().unwrap_or_default();
            let key: String = url::form_urlencoded::parse(key.as_bytes()).map(|(k, _)| k.into_owned()).collect();
            key != "$skip" && key != "$top"
        })
        .map(str::to_string)
        .collect();
    if let Some(top) = top {
        parts.push(format!("$top={top}"));
    }
    parts.push(format!("$skip={skip}"));
    format!("{base_url}{path}?{}", parts.join("&"))
}

/// `@odata.context` of a collection or entity, e.g. `…/odata/v2/$metadata#Users(Id,LoginName)/$entity`.
pub fn context(base_url: &str, set: &str, select: Option<&[String]>, entity: bool) -> String {
    let select = select.map(|s| format!("({})", s.join(","))).unwrap_or_default();
    let entity = if entity { "/$entity" } else { "" };
    format!("{base_url}/odata/v2/$metadata#{set}{select}{entity}")
}

#[cfg(test)]
mod tests {
    use super::schema::{CATALOGS, COURSES, ENROLLMENTS, TRAINING_PLANS, USERS};
    use super::*;

    #[test]
    fn options_parse_and_refuse_the_unsupported() {
        let o =
            Options::parse("$filter=Email%20eq%20'a'&$top=5&$skip=2&$count=true&$select=Id,Email&x=1", &USERS, false)
                .expect("parse");
        assert_eq!((o.top, o.skip, o.count), (Some(5), 2, true));
        assert_eq!(o.select, Some(vec!["Id".to_string(), "Email".to_string()]));
        for (q, single) in [
            ("$top=10001", false),
            ("$top=-1", false),
            ("$search=x", false),
            ("$count=yes", false),
            ("$select=Nope", false),
            ("$expand=Courses", false),
            ("$filter=Email eq 'a'", true),
            ("$top=1&$top=2", false),
            ("$orderby=Email sideways", false),
        ] {
            let err = Options::parse(q, &USERS, single).expect_err(q);
            assert_eq!((err.status, err.code), (400, "InvalidQuery"), "{q}");
        }
        assert!(Options::parse("$top=10000&$orderby=Title desc,Id", &USERS, false).is_ok());
    }

    #[test]
    fn nested_expand_is_checked_against_the_target_set() {
        let e =
            parse_expand("Courses($select=Id,Title;$expand=SharepointWeb($select=Url))", &CATALOGS).expect("expand");
        assert_eq!(e[0].nav, "Courses");
        assert_eq!(e[0].select, Some(vec!["Id".to_string(), "Title".to_string()]));
        assert_eq!(e[0].expand[0].nav, "SharepointWeb");
        assert!(parse_expand("Courses($select=Nope)", &CATALOGS).is_err());
        assert!(parse_expand("Courses($select=CourseId,IsRequired,AddedAt)", &TRAINING_PLANS).is_ok());
        assert!(parse_expand("Courses($top=1)", &TRAINING_PLANS).is_err());
        assert!(parse_expand("Users", &COURSES).is_err());
        assert!(parse_expand("Courses", &ENROLLMENTS).is_err());
        assert!(parse_expand("Courses(", &CATALOGS).is_err());
    }

    #[test]
    fn pages_and_next_links() {
        let rows: Vec<Map<String, Value>> =
            (0..7).map(|i| [("N".to_string(), Value::from(i))].into_iter().collect()).collect();
        let opts = Options { top: Some(6), skip: 1, ..Options::default() };
        let page = paginate(rows.clone(), &opts, 2);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next, Some((3, Some(4))));
        let last = paginate(rows, &Options { skip: 5, ..Options::default() }, 2);
        assert_eq!((last.items.len(), last.next), (2, None));
        let link = next_link("http://h:1", "/odata/v2/Users", "$filter=A%20eq%201&%24skip=1&$top=6", 3, Some(4));
        assert_eq!(link, "http://h:1/odata/v2/Users?$filter=A%20eq%201&$top=4&$skip=3");
        assert_eq!(
            context("http://h", "Users", Some(&["Id".into()]), true),
            "http://h/odata/v2/$metadata#Users(Id)/$entity"
        );
    }
}
