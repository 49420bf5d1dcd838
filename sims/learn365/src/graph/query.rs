//! Graph query options, as far as the simulated routes take them: `$filter` (one `eq` comparison or
//! one `startswith(…)` call on a string property), `$select`, `$top` (1..=999) and `$skiptoken` (an
//! opaque cursor the simulator wrote into an `@odata.nextLink`). Option names are case-insensitive
//! (`$skipToken` works); parameters without `$` are ignored; any other `$` option is a `400`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{GraphError, MAX_PAGE_SIZE};

/// One `$filter` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Filter {
    /// `prop eq 'value'`
    Eq(String, String),
    /// `startswith(prop,'value')`
    StartsWith(String, String),
}

impl Filter {
    /// Whether a property value passes; directory strings compare ignoring case.
    pub(super) fn matches(&self, value: Option<&str>) -> bool {
        let Some(value) = value else { return false };
        match self {
            Filter::Eq(_, want) => value.to_lowercase() == want.to_lowercase(),
            Filter::StartsWith(_, prefix) => value.to_lowercase().starts_with(&prefix.to_lowercase()),
        }
    }

    pub(super) fn property(&self) -> &str {
        match self {
            Filter::Eq(p, _) | Filter::StartsWith(p, _) => p,
        }
    }
}

/// The options of one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Query {
    pub filter: Option<Filter>,
    pub select: Option<Vec<String>>,
    pub top: Option<usize>,
    pub skiptoken: Option<String>,
}

/// What a route accepts: the options allowed, the entity type (for messages) and its properties.
pub(super) struct Accepts {
    pub options: &'static [&'static str],
    pub type_name: &'static str,
    pub properties: &'static [&'static str],
    /// Properties `$filter` takes.
    pub filterable: &'static [&'static str],
}

impl Query {
    pub(super) fn parse(raw: &str, accepts: &Accepts) -> Result<Query, GraphError> {
        let mut q = Query::default();
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
            let key = key.to_ascii_lowercase();
            if !key.starts_with('$') {
                continue;
            }
            if seen.contains(&key) {
                return Err(GraphError::bad_request(format!("Query option '{key}' was specified more than once.")));
            }
            seen.push(key.clone());
            if !accepts.options.contains(&key.as_str()) {
                return Err(GraphError::unsupported_query(format!(
                    "The query option '{key}' is not supported on this request by the simulator."
                )));
            }
            match key.as_str() {
                "$filter" => q.filter = Some(parse_filter(&value, accepts)?),
                "$select" => q.select = Some(parse_select(&value, accepts)?),
                "$top" => q.top = Some(parse_top(&value)?),
                "$skiptoken" => q.skiptoken = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(q)
    }

    /// `#groups` or `#groups(id,displayName)`.
    pub(super) fn context(&self, set: &str) -> String {
        match &self.select {
            Some(props) => format!("{}#{set}({})", super::METADATA, props.join(",")),
            None => format!("{}#{set}", super::METADATA),
        }
    }
}

fn not_a_property(name: &str, accepts: &Accepts) -> GraphError {
    GraphError::bad_request(format!("Could not find a property named '{name}' on type '{}'.", accepts.type_name))
}

fn parse_select(value: &str, accepts: &Accepts) -> Result<Vec<String>, GraphError> {
    let mut props: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let prop = accepts
            .properties
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
            .ok_or_else(|| not_a_property(name, accepts))?;
        if !props.iter().any(|p| p == prop) {
            props.push((*prop).to_string());
        }
    }
    if props.is_empty() {
        return Err(GraphError::bad_request("$select requires at least one property."));
    }
    Ok(props)
}

fn parse_top(value: &str) -> Result<usize, GraphError> {
    match value.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_PAGE_SIZE as i64).contains(&n) => Ok(n as usize),
        Ok(n) => Err(GraphError::bad_request(format!(
            "Invalid page size specified: '{n}'. Must be between 1 and {MAX_PAGE_SIZE} inclusive."
        ))),
        Err(_) => Err(GraphError::bad_request(format!("Invalid value '{value}' for the query option '$top'."))),
    }
}

/// A single-quoted literal with `''` for a quote; returns it and the rest of the input.
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
                out.push('\'');
            } else {
                return Some((out, &body[i + 1..]));
            }
        } else {
            out.push(c);
        }
    }
    None
}

fn parse_filter(value: &str, accepts: &Accepts) -> Result<Filter, GraphError> {
    let unsupported = || {
        GraphError::unsupported_query(format!(
            "Unsupported query: the simulator takes one \"property eq 'text'\" or \"startswith(property,'text')\" \
             clause on {}, got '{value}'.",
            accepts.filterable.join(", ")
        ))
    };
    let text = value.trim();
    let call = text.get(..11).filter(|p| p.eq_ignore_ascii_case("startswith(")).and_then(|_| text.get(11..));
    let filter = if let Some(inner) = call {
        let (prop, rest) = inner.split_once(',').ok_or_else(unsupported)?;
        let (literal, rest) = quoted(rest.trim_start()).ok_or_else(unsupported)?;
        if rest.trim() != ")" {
            return Err(unsupported());
        }
        Filter::StartsWith(prop.trim().to_string(), literal)
    } else {
        let (prop, rest) = text.split_once(char::is_whitespace).ok_or_else(unsupported)?;
        let rest = rest.trim_start();
        let (op, rest) = rest.split_once(char::is_whitespace).ok_or_else(unsupported)?;
        if !op.eq_ignore_ascii_case("eq") {
            return Err(unsupported());
        }
        let (literal, rest) = quoted(rest.trim_start()).ok_or_else(unsupported)?;
        if !rest.trim().is_empty() {
            return Err(unsupported());
        }
        Filter::Eq(prop.to_string(), literal)
    };
    if !accepts.properties.contains(&filter.property()) {
        return Err(not_a_property(filter.property(), accepts));
    }
    if !accepts.filterable.contains(&filter.property()) {
        return Err(unsupported());
    }
    Ok(filter)
}

/// An opaque `$skiptoken` for a cursor value.
pub(super) fn skiptoken(cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("sim:{cursor}"))
}

/// The cursor inside a `$skiptoken`.
pub(super) fn cursor(token: &str) -> Result<String, GraphError> {
    URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("sim:").map(str::to_string))
        .ok_or_else(|| GraphError::bad_request("Invalid $skiptoken."))
}

/// The absolute `@odata.nextLink`: the same request with `$skiptoken` replaced.
pub(super) fn next_link(base_url: &str, path: &str, raw_query: &str, token: &str) -> String {
    let mut parts: Vec<String> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split('=').next().unwrap_or_default();
            let key: String = url::form_urlencoded::parse(key.as_bytes()).map(|(k, _)| k.into_owned()).collect();
            !key.eq_ignore_ascii_case("$skiptoken")
        })
        .map(str::to_string)
        .collect();
    parts.push(format!("$skiptoken={token}"));
    format!("{base_url}{path}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUPS: Accepts = Accepts {
        options: &["$filter", "$select", "$top", "$skiptoken"],
        type_name: "microsoft.graph.group",
        properties: &["id", "displayName", "mailNickname", "description"],
        filterable: &["id", "displayName", "mailNickname"],
    };

    fn q(raw: &str) -> Result<Query, GraphError> {
        Query::parse(raw, &GROUPS)
    }

    #[test]
    fn filters_parse() {
        let f = |raw: &str| q(&format!("$filter={raw}")).map(|q| q.filter);
        assert_eq!(
            f("displayName%20eq%20'L365%20-%20O''Neil'"),
            Ok(Some(Filter::Eq("displayName".into(), "L365 - O'Neil".into())))
        );
        assert_eq!(
            f("startswith(displayName,%20'L365')"),
            Ok(Some(Filter::StartsWith("displayName".into(), "L365".into())))
        );
        assert_eq!(f("displayName eq 'a' or displayName eq 'b'").map_err(|e| e.code), Err("Request_UnsupportedQuery"));
        assert_eq!(f("description eq 'a'").map_err(|e| e.code), Err("Request_UnsupportedQuery"));
        assert_eq!(f("nope eq 'a'").map_err(|e| e.code), Err("Request_BadRequest"));
        assert_eq!(f("displayName eq 'open").map_err(|e| e.code), Err("Request_UnsupportedQuery"));
        assert!(Filter::Eq("displayName".into(), "Sales".into()).matches(Some("SALES")));
        assert!(!Filter::StartsWith("displayName".into(), "x".into()).matches(None));
    }

    #[test]
    fn options_are_checked() {
        assert_eq!(q("$top=5&$SkipToken=abc&other=1").map(|q| (q.top, q.skiptoken)), Ok((Some(5), Some("abc".into()))));
        assert_eq!(q("$select=id,DISPLAYNAME,id").map(|q| q.select), Ok(Some(vec!["id".into(), "displayName".into()])));
        let big = q("$top=1000").expect_err("1000");
        assert_eq!(big.message, "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.");
        assert!(q("$top=0").is_err() && q("$top=x").is_err() && q("$select=mail").is_err());
        assert_eq!(q("$orderby=id").map_err(|e| e.code), Err("Request_UnsupportedQuery"));
        assert_eq!(q("$top=1&$top=2").map_err(|e| e.status), Err(400));
        assert_eq!(cursor(&skiptoken("abc-1")), Ok("abc-1".into()));
        assert!(cursor("!!").is_err());
        assert_eq!(
            next_link("http://h", "/v1.0/groups", "$top=2&%24skiptoken=old&$select=id", "new"),
            "http://h/v1.0/groups?$top=2&$select=id&$skiptoken=new"
        );
    }
}
