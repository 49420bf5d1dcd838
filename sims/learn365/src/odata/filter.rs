//! `$filter`: comparisons `Property op literal` joined by `and`.
//!
//! Operators `eq ne gt ge lt le`. Literals: strings in single quotes (`''` escapes a quote), GUIDs
//! quoted or bare, `true`/`false`, numbers, unquoted RFC 3339 date-times, `null`. Strings, GUIDs and
//! enum names compare case-insensitively (claims, e-mails and GUIDs are case-insensitive anyway).
//! Anything else (`or`, `not`, parentheses, functions, arithmetic, navigation paths) is refused
//! with a 400 that says what is not supported.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::invalid;
use super::schema::{EntitySet, Kind};
use crate::model::{Result, Time, parse_time};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            _ => return None,
        })
    }

    fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
        }
    }
}

/// A literal, already typed for the property it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    /// Lower-cased text (strings, GUIDs, enum names).
    Text(String),
    Bool(bool),
    Num(f64),
    Date(Time),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub prop: String,
    pub kind: Kind,
    pub op: Op,
    pub lit: Lit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
}

fn tokenize(s: &str) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        text.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => text.push(ch),
                    None => return Err(invalid("$filter has an unterminated string literal")),
                }
            }
            tokens.push(Token::Quoted(text));
        } else if c == '(' || c == ')' {
            return Err(invalid(
                "$filter: parentheses and functions (contains, startswith, ...) are not supported; \
                 use comparisons joined by 'and'",
            ));
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '\'' || ch == '(' || ch == ')' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
            if chars.peek() == Some(&'(') {
                return Err(invalid(format!("$filter: function '{word}' is not supported")));
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

impl Filter {
    pub fn parse(s: &str, set: &EntitySet) -> Result<Self> {
        let tokens = tokenize(s)?;
        let mut terms = Vec::new();
        let mut i = 0;
        loop {
            let (Some(prop), Some(op), Some(lit)) = (tokens.get(i), tokens.get(i + 1), tokens.get(i + 2)) else {
                return Err(invalid(format!(
                    "$filter '{s}' is not a list of 'Property op literal' comparisons joined by 'and'"
                )));
            };
            terms.push(term(prop, op, lit, set)?);
            i += 3;
            match tokens.get(i) {
                None => break,
                Some(Token::Word(w)) if w == "and" => i += 1,
                Some(Token::Word(w)) if w == "or" || w == "not" => {
                    return Err(invalid(format!("$filter: '{w}' is not supported; only 'and' is")));
                }
                Some(other) => return Err(invalid(format!("$filter: expected 'and', found {}", describe(other)))),
            }
        }
        Ok(Filter { terms })
    }

    pub fn matches(&self, row: &Map<String, Value>) -> bool {
        self.terms.iter().all(|t| t.matches(row.get(&t.prop).unwrap_or(&Value::Null)))
    }

    /// The text of an `eq` comparison on `prop` (lower-cased), to look rows up by index.
    pub fn eq_text(&self, prop: &str) -> Option<&str> {
        self.terms.iter().find_map(|t| match (&t.lit, t.op) {
            (Lit::Text(text), Op::Eq) if t.prop == prop => Some(text.as_str()),
            _ => None,
        })
    }
}

fn describe(t: &Token) -> String {
    match t {
        Token::Word(w) => format!("'{w}'"),
        Token::Quoted(q) => format!("the string '{q}'"),
    }
}

fn term(prop: &Token, op: &Token, lit: &Token, set: &EntitySet) -> Result<Term> {
    let Token::Word(prop) = prop else {
        return Err(invalid(format!("$filter: expected a property name, found {}", describe(prop))));
    };
    if prop.contains('/') {
        return Err(invalid(format!("$filter: navigation paths like '{prop}' are not supported")));
    }
    let kind = set.kind(prop).ok_or_else(|| {
        invalid(format!("$filter: could not find a property named '{prop}' on the entity set '{}'", set.name))
    })?;
    let op = match op {
        Token::Word(w) => Op::parse(w)
            .ok_or_else(|| invalid(format!("$filter: operator '{w}' is not supported (eq, ne, gt, ge, lt, le are)")))?,
        other => return Err(invalid(format!("$filter: expected an operator, found {}", describe(other)))),
    };
    let lit = literal(prop, kind, lit)?;
    if kind == Kind::List {
        return Err(invalid(format!("$filter: the collection property '{prop}' cannot be compared")));
    }
    if (lit == Lit::Null || kind == Kind::Bool) && !matches!(op, Op::Eq | Op::Ne) {
        return Err(invalid(format!("$filter: '{prop}' can only be compared with eq or ne here")));
    }
    Ok(Term { prop: prop.clone(), kind, op, lit })
}

fn literal(prop: &str, kind: Kind, token: &Token) -> Result<Lit> {
    let wrong = |what: &str| invalid(format!("$filter: '{prop}' needs {what}"));
    match token {
        Token::Word(w) if w == "null" => Ok(Lit::Null),
        Token::Quoted(q) => match kind {
            Kind::Str | Kind::Enum | Kind::Guid => Ok(Lit::Text(q.to_lowercase())),
            Kind::Date => Err(wrong("an unquoted date-time literal, e.g. 2024-01-01T00:00:00Z")),
            Kind::Bool => Err(wrong("true or false (unquoted)")),
            Kind::Int | Kind::Num => Err(wrong("an unquoted number")),
            Kind::List => Err(wrong("no literal")),
        },
        Token::Word(w) => match kind {
            Kind::Guid if uuid::Uuid::parse_str(w).is_ok() => Ok(Lit::Text(w.to_lowercase())),
            Kind::Guid => Err(wrong("a GUID (quoted or bare)")),
            Kind::Str | Kind::Enum => Err(wrong(&format!("a quoted string literal, e.g. '{w}'"))),
            Kind::Bool => match w.as_str() {
                "true" => Ok(Lit::Bool(true)),
                "false" => Ok(Lit::Bool(false)),
                _ => Err(wrong("true or false")),
            },
            Kind::Int | Kind::Num => w.parse::<f64>().map(Lit::Num).map_err(|_| wrong("a number")),
            Kind::Date => parse_time(w).map(Lit::Date).ok_or_else(|| {
                wrong("an RFC 3339 date-time such as 2024-01-01T00:00:00Z (a '+' offset must be sent as %2B)")
            }),
            Kind::List => Err(wrong("no literal")),
        },
    }
}

impl Term {
    fn matches(&self, value: &Value) -> bool {
        if self.lit == Lit::Null {
            return (self.op == Op::Eq) == value.is_null();
        }
        match compare(self.kind, value, &self.lit) {
            Some(ord) => self.op.holds(ord),
            None => self.op == Op::Ne,
        }
    }
}

/// Orders a property value against a literal; `None` when the value is null or not comparable.
fn compare(kind: Kind, value: &Value, lit: &Lit) -> Option<Ordering> {
    match (lit, value) {
        (Lit::Text(t), Value::String(s)) => Some(s.to_lowercase().as_str().cmp(t.as_str())),
        (Lit::Bool(b), Value::Bool(v)) => Some(v.cmp(b)),
        (Lit::Num(n), Value::Number(v)) => v.as_f64().and_then(|v| v.partial_cmp(n)),
        (Lit::Date(d), Value::String(s)) if kind == Kind::Date => parse_time(s).map(|v| v.cmp(d)),
        _ => None,
    }
}

/// Orders two property values for `$orderby` (nulls first, text case-insensitive).
pub fn order_values(kind: Kind, a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::String(x), Value::String(y)) if kind == Kind::Date => match (parse_time(x), parse_time(y)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x.cmp(y),
        },
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => {
            x.as_f64().unwrap_or_default().partial_cmp(&y.as_f64().unwrap_or_default()).unwrap_or(Ordering::Equal)
        }
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::odata::schema::{ENROLLMENTS, USERS};

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn comparisons_joined_by_and() {
        let f = Filter::parse(
            "CourseId eq 9A1F0000-0000-4000-8000-000000000001 and UserLoginName eq 'i:0#.f|membership|o''neil@x.test'",
            &ENROLLMENTS,
        )
        .expect("parse");
        assert_eq!(f.terms.len(), 2);
        assert_eq!(f.eq_text("UserLoginName"), Some("i:0#.f|membership|o'neil@x.test"));
        let yes = row(json!({
            "CourseId": "9a1f0000-0000-4000-8000-000000000001",
            "UserLoginName": "i:0#.f|membership|O'Neil@x.test",
        }));
        assert!(f.matches(&yes));
        let no = row(json!({"CourseId": "9a1f0000-0000-4000-8000-000000000001", "UserLoginName": "x"}));
        assert!(!f.matches(&no));
    }

    #[test]
    fn dates_numbers_booleans_and_null() {
        let f = Filter::parse("CreatedAt ge 2024-01-01T00:00:00Z and IsPartOfTrainingPlan eq false", &ENROLLMENTS)
            .expect("parse");
        assert!(f.matches(&row(json!({"CreatedAt": "2024-02-01T00:00:00Z", "IsPartOfTrainingPlan": false}))));
        assert!(!f.matches(&row(json!({"CreatedAt": "2023-12-31T23:59:59Z", "IsPartOfTrainingPlan": false}))));
        let f = Filter::parse("CEU gt 1 and CancellationReason eq null", &ENROLLMENTS).expect("parse");
        assert!(f.matches(&row(json!({"CEU": 2, "CancellationReason": null}))));
        let f = Filter::parse("Email ne 'a@x.test'", &USERS).expect("parse");
        assert!(f.matches(&row(json!({"Email": null}))), "null ne 'x' holds");
        assert!(!f.matches(&row(json!({"Email": "A@x.test"}))));
    }

    #[test]
    fn unsupported_syntax_is_a_clear_400() {
        for (q, needle) in [
            ("Email eq 'a' or Email eq 'b'", "'or' is not supported"),
            ("contains(Email,'a')", "function 'contains'"),
            ("(Email eq 'a')", "parentheses"),
            ("Nope eq 'a'", "could not find a property named 'Nope'"),
            ("Email eq a", "quoted string"),
            ("CreatedAt ge '2024-01-01'", "unquoted date-time"),
            ("Email has 'a'", "operator 'has'"),
            ("Email eq 'a", "unterminated"),
            ("IsDisabled gt true", "eq or ne"),
            ("Email eq", "not a list"),
        ] {
            let err = Filter::parse(q, &USERS).expect_err(q);
            assert_eq!((err.status, err.code), (400, "InvalidQuery"), "{q}");
            assert!(err.message.contains(needle), "{q}: {}", err.message);
        }
    }
}
