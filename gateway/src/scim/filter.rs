//! RFC 7644 §3.4.2.2 filters, RFC 7644 §3.5.2 PATCH paths, and an in-memory evaluator.
//!
//! The parser is a hand-written recursive descent over the (already URL-decoded) filter text. It
//! enforces [`MAX_FILTER_LEN`], [`MAX_FILTER_DEPTH`] (parentheses, `not (…)` and `[…]` nesting, checked
//! before recursing) and [`MAX_FILTER_TERMS`], and never panics.
//!
//! Grammar accepted (precedence `not` > `and` > `or`, keywords and operators case-insensitive):
//!
//! ```text
//! filter     = orExp
//! orExp      = andExp *( WS "or" WS andExp )
//! andExp     = unary *( WS "and" WS unary )
//! unary      = "not" [WS] "(" orExp ")" / "(" orExp ")" / attrExp / valuePath
//! attrExp    = attrPath WS "pr" / attrPath WS compareOp [WS] compValue
//! valuePath  = attrPath "[" orExp "]" [ "." subAttr WS ( "pr" / compareOp [WS] compValue ) ]
//! attrPath   = [ "urn:" … ":" ] ATTRNAME [ "." ATTRNAME ]
//! compValue  = JSON string / JSON number / true / false / null
//! ```
//!
//! The Microsoft Entra form `emails[type eq "work"].value eq "x"` is parsed as
//! `ValuePath(emails, And(type eq "work", value eq "x"))`, which evaluates identically and round-trips as
//! `emails[type eq "work" and value eq "x"]`.
//!
//! Known limitation: an attribute literally named `not` cannot be used in a filter (the keyword wins).

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

use super::error::{ScimError, ScimResult};
use super::schema::{AttrType, AttributeDef, ResourceSchema};

/// Longest accepted filter (bytes).
pub const MAX_FILTER_LEN: usize = 8192;
/// Deepest accepted nesting of `(…)`, `not (…)` and `[…]`.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most attribute expressions (including value paths) in one filter.
pub const MAX_FILTER_TERMS: usize = 200;

// ---------------------------------------------------------------------------------------------------
// AST
// ---------------------------------------------------------------------------------------------------

/// A comparison operator of RFC 7644 §3.4.2.2 (`pr` is [`Filter::Present`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// Canonical (lower-case) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Parses an operator case-insensitively.
    pub fn from_name(s: &str) -> Option<CompareOp> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
    }

    fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An attribute path as written: optional schema URN, attribute name, optional sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// A plain `name` path.
    pub fn simple(name: impl Into<String>) -> Self {
        Self { urn: None, name: name.into(), sub: None }
    }

    /// `name` or `name.sub` without the URN prefix.
    pub fn without_urn(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}.{}", self.name, s),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(AttrPath),
    /// value: JSON string, number, true/false, or null
    Compare(AttrPath, CompareOp, Value),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work" and value co "@x"]`: attr has no sub; inner paths are relative to the complex
    /// attribute's elements.
    ValuePath(AttrPath, Box<Filter>),
}

impl Filter {
    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }
}

fn write_child(f: &mut fmt::Formatter<'_>, child: &Filter, paren: bool) -> fmt::Result {
    if paren { write!(f, "({child})") } else { write!(f, "{child}") }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::Compare(p, op, v) => write!(f, "{p} {op} {v}"),
            // Both operators are parsed left-associatively, so a right operand of equal precedence needs
            // parentheses to round-trip to the same tree.
            Filter::And(a, b) => {
                write_child(f, a, a.precedence() < 2)?;
                f.write_str(" and ")?;
                write_child(f, b, b.precedence() <= 2)
            }
            Filter::Or(a, b) => {
                write_child(f, a, a.precedence() < 1)?;
                f.write_str(" or ")?;
                write_child(f, b, b.precedence() <= 1)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
        }
    }
}

/// A PATCH operation's `path` (RFC 7644 §3.5.2): `attrPath` or `valuePath [ "." subAttr ]`.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchPath {
    Attr(AttrPath),
    /// `emails[type eq "work"].value`: `filter` is relative to the elements of `attr` (which has no sub).
    ValuePath {
        attr: AttrPath,
        filter: Filter,
        sub: Option<String>,
    },
}

impl PatchPath {
    /// The attribute the path targets (for a value path, the multi-valued attribute itself).
    pub fn attr(&self) -> &AttrPath {
        match self {
            PatchPath::Attr(a) => a,
            PatchPath::ValuePath { attr, .. } => attr,
        }
    }

    /// The value filter as a stand-alone [`Filter::ValuePath`] (e.g. for [`validate`]).
    pub fn value_filter(&self) -> Option<Filter> {
        match self {
            PatchPath::Attr(_) => None,
            PatchPath::ValuePath { attr, filter, .. } => {
                Some(Filter::ValuePath(attr.clone(), Box::new(filter.clone())))
            }
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatchPath::Attr(a) => write!(f, "{a}"),
            PatchPath::ValuePath { attr, filter, sub } => {
                write!(f, "{attr}[{filter}]")?;
                if let Some(s) = sub {
                    write!(f, ".{s}")?;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------------

/// A parse failure: byte offset and message (turned into a `ScimError` by the public entry points).
struct ParseError {
    pos: usize,
    msg: String,
}

type PResult<T> = Result<T, ParseError>;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Characters of `nameChar` (RFC 7643 §2.1) plus `$` (for `$ref`).
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'$')
}

/// Characters that may appear in an attribute path including its URN prefix.
fn is_path_byte(b: u8) -> bool {
    is_name_byte(b) || matches!(b, b':' | b'.')
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus `$`-prefixed names such as `$ref`.
fn check_name(name: &str) -> Result<(), String> {
    let body = name.strip_prefix('$').unwrap_or(name);
    let mut bytes = body.bytes();
    match bytes.next() {
        None => return Err(format!("empty attribute name in '{name}'")),
        Some(b) if !b.is_ascii_alphabetic() => {
            return Err(format!("attribute name '{name}' must start with a letter"));
        }
        Some(_) => {}
    }
    if let Some(b) = bytes.find(|&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
        return Err(format!("invalid character '{}' in attribute name '{name}'", char::from(b)));
    }
    Ok(())
}

/// Splits `[urn:…:]name[.sub]` (the URN may contain `:` and `.`; the name follows the last `:`).
fn split_attr_path(raw: &str) -> Result<AttrPath, String> {
    let (urn, rest) = match raw.rfind(':') {
        Some(i) => (raw.get(..i), raw.get(i + 1..).unwrap_or("")),
        None => (None, raw),
    };
    if let Some(u) = urn {
        let is_urn = u.len() > 4 && u.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        if !is_urn {
            return Err(format!("attribute path '{raw}' has a prefix '{u}' that is not a schema URN (urn:…)"));
        }
    }
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    if let Some(s) = sub {
        if s.contains('.') {
            return Err(format!(
                "attribute path '{raw}' has more than one '.'; only attribute.subAttribute is allowed"
            ));
        }
        check_name(s)?;
    }
    check_name(name)?;
    Ok(AttrPath { urn: urn.map(str::to_owned), name: name.to_owned(), sub: sub.map(str::to_owned) })
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    terms: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Self { src, pos: 0, depth: 0, terms: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, i: usize) -> Option<u8> {
        self.src.as_bytes().get(i).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    /// Skips whitespace; true when any was skipped.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// What the input holds at `pos`, for error messages.
    fn found_at(&self, pos: usize) -> String {
        let rest = self.src.get(pos..).unwrap_or("");
        if rest.is_empty() {
            return "end of input".to_owned();
        }
        let token: String = if rest.starts_with('"') {
            rest.chars().take(20).collect()
        } else {
            let first = rest.chars().next().map(|c| c.is_ascii_alphanumeric() || c == '$').unwrap_or(false);
            if first {
                rest.chars().take_while(|c| c.is_ascii() && is_path_byte(*c as u8)).take(40).collect()
            } else {
                rest.chars().take(1).collect()
            }
        };
        format!("'{token}'")
    }

    fn error_at(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError { pos, msg: msg.into() }
    }

    fn expected(&self, what: &str) -> ParseError {
        self.error_at(self.pos, format!("expected {what}, found {}", self.found_at(self.pos)))
    }

    fn enter(&mut self) -> PResult<()> {
        if self.depth >= MAX_FILTER_DEPTH {
            return Err(self.error_at(self.pos, format!("nesting deeper than {MAX_FILTER_DEPTH} levels")));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn count_term(&mut self, pos: usize) -> PResult<()> {
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return Err(self.error_at(pos, format!("more than {MAX_FILTER_TERMS} attribute expressions")));
        }
        Ok(())
    }

    /// Consumes `kw` (case-insensitive) when it is a whole word at `pos`.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        let matches = self.src.get(self.pos..end).is_some_and(|s| s.eq_ignore_ascii_case(kw))
            && !self.peek_at(end).is_some_and(is_path_byte);
        if matches {
            self.pos = end;
        }
        matches
    }

    /// `orExp`.
    fn parse_or(&mut self, in_brackets: bool) -> PResult<Filter> {
        let mut left = self.parse_and(in_brackets)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.eat_keyword("or") {
                let right = self.parse_and(in_brackets)?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    /// `andExp`.
    fn parse_and(&mut self, in_brackets: bool) -> PResult<Filter> {
        let mut left = self.parse_unary(in_brackets)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.eat_keyword("and") {
                let right = self.parse_unary(in_brackets)?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    /// A parenthesised group whose `(` is at `pos`.
    fn parse_group(&mut self, in_brackets: bool) -> PResult<Filter> {
        let open = self.pos;
        self.enter()?;
        self.pos += 1;
        let inner = self.parse_or(in_brackets)?;
        self.skip_ws();
        if self.peek() != Some(b')') {
            return Err(
                self.expected(&format!("'and', 'or' or ')' to close the '(' at character {}", self.char_pos(open)))
            );
        }
        self.pos += 1;
        self.leave();
        Ok(inner)
    }

    fn parse_unary(&mut self, in_brackets: bool) -> PResult<Filter> {
        self.skip_ws();
        let start = self.pos;
        if self.eat_keyword("not") {
            self.skip_ws();
            if self.peek() != Some(b'(') {
                return Err(self.expected("'(' after 'not' (the operand of not must be parenthesised)"));
            }
            let inner = self.parse_group(in_brackets)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.pos = start;
        if self.peek() == Some(b'(') {
            return self.parse_group(in_brackets);
        }
        self.parse_attr_exp(in_brackets)
    }

    /// Scans an attribute path (`[urn:…:]name[.sub]`) at `pos`.
    fn parse_attr_path(&mut self, what: &str) -> PResult<AttrPath> {
        let start = self.pos;
        while self.peek().is_some_and(is_path_byte) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.expected(what));
        }
        let raw = self.src.get(start..self.pos).unwrap_or("");
        split_attr_path(raw).map_err(|m| self.error_at(start, m))
    }

    /// A bare sub-attribute name at `pos` (after `].`).
    fn parse_sub_name(&mut self) -> PResult<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_name_byte) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.expected("a sub-attribute name after '.'"));
        }
        let raw = self.src.get(start..self.pos).unwrap_or("");
        check_name(raw).map_err(|m| self.error_at(start, m))?;
        Ok(raw.to_owned())
    }

    fn parse_attr_exp(&mut self, in_brackets: bool) -> PResult<Filter> {
        let start = self.pos;
        let path = self.parse_attr_path("an attribute name, '(' or 'not'")?;
        self.count_term(start)?;
        if self.peek() == Some(b'[') {
            if in_brackets {
                return Err(self.error_at(self.pos, "nested value filters ('[' inside '[…]') are not allowed"));
            }
            if path.sub.is_some() {
                return Err(self.error_at(
                    self.pos,
                    format!("a value filter '[…]' must follow a complex attribute without sub-attribute, not '{path}'"),
                ));
            }
            let open = self.pos;
            self.enter()?;
            self.pos += 1;
            let mut inner = self.parse_or(true)?;
            self.skip_ws();
            if self.peek() != Some(b']') {
                return Err(
                    self.expected(&format!("'and', 'or' or ']' to close the '[' at character {}", self.char_pos(open)))
                );
            }
            self.pos += 1;
            self.leave();
            if self.peek() == Some(b'.') {
                // Entra: `emails[type eq "work"].value eq "x"`.
                self.pos += 1;
                let sub_start = self.pos;
                let sub = self.parse_sub_name()?;
                self.count_term(sub_start)?;
                if !self.skip_ws() {
                    return Err(self.expected(&format!("a space and an operator after '{path}[…].{sub}'")));
                }
                let leaf = self.parse_op_value(AttrPath::simple(sub))?;
                inner = Filter::And(Box::new(inner), Box::new(leaf));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        if in_brackets && (path.urn.is_some() || path.sub.is_some()) {
            return Err(self
                .error_at(start, format!("inside a value filter '[…]' use a plain sub-attribute name, not '{path}'")));
        }
        if !self.skip_ws() {
            return Err(self.expected(&format!("a space and an operator after attribute '{path}'")));
        }
        self.parse_op_value(path)
    }

    /// `"pr"` or `compareOp [WS] compValue`, after the attribute path and its whitespace.
    fn parse_op_value(&mut self, path: AttrPath) -> PResult<Filter> {
        let op_start = self.pos;
        while self.peek().is_some_and(is_path_byte) {
            self.pos += 1;
        }
        let word = self.src.get(op_start..self.pos).unwrap_or("");
        if word.eq_ignore_ascii_case("pr") {
            self.check_value_end()?;
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_name(word) else {
            return Err(self.error_at(
                op_start,
                format!(
                    "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after '{path}', found {}",
                    self.found_at(op_start)
                ),
            ));
        };
        self.skip_ws();
        let value = self.parse_value(&path, op)?;
        Ok(Filter::Compare(path, op, value))
    }

    /// After a value or `pr`: whitespace, `)`, `]` or the end must follow.
    fn check_value_end(&self) -> PResult<()> {
        match self.peek() {
            None | Some(b')' | b']') => Ok(()),
            Some(b) if is_ws(b) => Ok(()),
            Some(_) => Err(self.expected("a space, ')', ']' or the end of the filter")),
        }
    }

    fn parse_value(&mut self, path: &AttrPath, op: CompareOp) -> PResult<Value> {
        let start = self.pos;
        let value = match self.peek() {
            Some(b'"') => Value::String(self.parse_string()?),
            Some(b'-' | b'0'..=b'9') => Value::Number(self.parse_number()?),
            Some(b) if b.is_ascii_alphabetic() => {
                while self.peek().is_some_and(is_path_byte) {
                    self.pos += 1;
                }
                let word = self.src.get(start..self.pos).unwrap_or("");
                if word.eq_ignore_ascii_case("true") {
                    Value::Bool(true)
                } else if word.eq_ignore_ascii_case("false") {
                    Value::Bool(false)
                } else if word.eq_ignore_ascii_case("null") {
                    Value::Null
                } else {
                    return Err(self.error_at(
                        start,
                        format!(
                            "expected a value after '{path} {op}' (a string in double quotes, a number, true, false or null), \
                             found '{word}'; string values must be quoted"
                        ),
                    ));
                }
            }
            _ => {
                return Err(self.expected(&format!(
                    "a value after '{path} {op}' (a string in double quotes, a number, true, false or null)"
                )));
            }
        };
        self.check_value_end()?;
        Ok(value)
    }

    /// A JSON string literal at `pos`.
    fn parse_string(&mut self) -> PResult<String> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None => {
                    return Err(self.error_at(start, "unterminated string literal (missing closing '\"')"));
                }
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let Some(lit) = self.src.get(start..=i) else {
            return Err(self.error_at(start, "malformed string literal"));
        };
        let s = serde_json::from_str::<String>(lit)
            .map_err(|e| self.error_at(start, format!("invalid string literal {lit}: {e}")))?;
        self.pos = i + 1;
        Ok(s)
    }

    /// A JSON number at `pos`: `-? int [frac] [exp]`.
    fn parse_number(&mut self) -> PResult<Number> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let s = p.pos;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos > s
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if !digits(self) {
            return Err(self.expected("digits in number"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.expected("digits after the decimal point"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.expected("digits in the exponent"));
            }
        }
        let lit = self.src.get(start..self.pos).unwrap_or("");
        let unsigned = lit.strip_prefix('-').unwrap_or(lit);
        if unsigned.len() > 1 && unsigned.starts_with('0') && unsigned.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
        {
            return Err(self.error_at(start, format!("invalid number '{lit}': leading zeros are not allowed")));
        }
        lit.parse::<Number>().map_err(|_| self.error_at(start, format!("invalid number '{lit}'")))
    }

    fn char_pos(&self, pos: usize) -> usize {
        self.src.get(..pos).map(|s| s.chars().count()).unwrap_or(pos) + 1
    }

    fn to_scim(&self, e: ParseError, what: &str, make: fn(String) -> ScimError) -> ScimError {
        make(format!("invalid {what}: {} (at character {})", e.msg, self.char_pos(e.pos)))
    }
}

fn check_len(input: &str, what: &str, make: fn(String) -> ScimError) -> ScimResult<()> {
    if input.len() > MAX_FILTER_LEN {
        return Err(make(format!("invalid {what}: {} bytes exceeds the maximum of {MAX_FILTER_LEN}", input.len())));
    }
    Ok(())
}

fn filter_error(s: String) -> ScimError {
    ScimError::invalid_filter(s)
}

fn path_error(s: String) -> ScimError {
    ScimError::invalid_path(s)
}

/// Parses a `filter` query parameter / request member (already URL-decoded).
/// Errors are 400 `invalidFilter` with a detail naming the position and what was expected.
pub fn parse_filter(input: &str) -> ScimResult<Filter> {
    check_len(input, "filter", filter_error)?;
    let mut p = Parser::new(input);
    let run = |p: &mut Parser<'_>| -> PResult<Filter> {
        let f = p.parse_or(false)?;
        p.skip_ws();
        if !p.at_end() {
            let what = if p.peek() == Some(b')') {
                "'and', 'or' or the end of the filter (unbalanced ')')"
            } else {
                "'and', 'or' or the end of the filter"
            };
            return Err(p.expected(what));
        }
        Ok(f)
    };
    run(&mut p).map_err(|e| p.to_scim(e, "filter", filter_error))
}

/// Parses a PATCH operation `path` (RFC 7644 §3.5.2). Errors are 400 `invalidPath`.
pub fn parse_patch_path(input: &str) -> ScimResult<PatchPath> {
    check_len(input, "path", path_error)?;
    let mut p = Parser::new(input);
    let run = |p: &mut Parser<'_>| -> PResult<PatchPath> {
        p.skip_ws();
        let path = p.parse_attr_path("an attribute path")?;
        let result = if p.peek() == Some(b'[') {
            if path.sub.is_some() {
                return Err(p.error_at(
                    p.pos,
                    format!("a value filter '[…]' must follow a complex attribute without sub-attribute, not '{path}'"),
                ));
            }
            let open = p.pos;
            p.enter()?;
            p.pos += 1;
            let filter = p.parse_or(true)?;
            p.skip_ws();
            if p.peek() != Some(b']') {
                return Err(
                    p.expected(&format!("'and', 'or' or ']' to close the '[' at character {}", p.char_pos(open)))
                );
            }
            p.pos += 1;
            p.leave();
            let sub = if p.peek() == Some(b'.') {
                p.pos += 1;
                Some(p.parse_sub_name()?)
            } else {
                None
            };
            PatchPath::ValuePath { attr: path, filter, sub }
        } else {
            PatchPath::Attr(path)
        };
        p.skip_ws();
        if !p.at_end() {
            return Err(p.expected("the end of the path"));
        }
        Ok(result)
    };
    run(&mut p).map_err(|e| p.to_scim(e, "path", path_error))
}

/// Parses a bare attribute path (`?attributes=`, `?sortBy=`): `[urn:…:]name[.sub]`. Errors are 400
/// `invalidPath`.
pub fn parse_attr_path(input: &str) -> ScimResult<AttrPath> {
    check_len(input, "attribute path", path_error)?;
    let mut p = Parser::new(input);
    let run = |p: &mut Parser<'_>| -> PResult<AttrPath> {
        p.skip_ws();
        let path = p.parse_attr_path("an attribute path")?;
        p.skip_ws();
        if !p.at_end() {
            return Err(p.expected("the end of the attribute path"));
        }
        Ok(path)
    };
    run(&mut p).map_err(|e| p.to_scim(e, "attribute path", path_error))
}

// ---------------------------------------------------------------------------------------------------
// Resolution against the schema
// ---------------------------------------------------------------------------------------------------

/// Where filter leaves are evaluated: the resource itself, or an element of a complex attribute inside a
/// value path.
#[derive(Clone, Copy)]
enum Scope<'s> {
    Root,
    Elem { parent: &'s AttrPath, def: &'s AttributeDef },
}

/// A filter leaf resolved against the schema.
struct Leaf<'s> {
    /// Extension URN whose object holds the attribute (root scope only).
    extension: Option<&'s str>,
    /// The attribute named by the path (in element scope: the sub-attribute of the parent).
    attr: &'s AttributeDef,
    /// The sub-attribute, when the path named one.
    sub: Option<&'s AttributeDef>,
}

impl<'s> Leaf<'s> {
    /// The definition a comparison uses: the sub-attribute, or for a complex attribute compared without
    /// sub-attribute its `value` sub-attribute.
    fn compare_def(&self) -> Option<&'s AttributeDef> {
        match self.sub {
            Some(s) => Some(s),
            None if self.attr.is_complex() => self.attr.sub("value"),
            None => Some(self.attr),
        }
    }
}

fn resolve_leaf<'s>(path: &AttrPath, schema: &'s ResourceSchema, scope: Scope<'s>) -> ScimResult<Leaf<'s>> {
    match scope {
        Scope::Root => {
            let r = schema.resolve(&path.to_string()).ok_or_else(|| {
                ScimError::invalid_filter(format!("unknown attribute '{path}' in filter for {}", schema.name))
            })?;
            Ok(Leaf { extension: r.extension, attr: r.attr, sub: r.sub })
        }
        Scope::Elem { parent, def } => {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "inside the value filter of '{parent}' use a plain sub-attribute name, not '{path}'"
                )));
            }
            let sub = def.sub(&path.name).ok_or_else(|| {
                ScimError::invalid_filter(format!("unknown attribute '{parent}.{}' in filter", path.name))
            })?;
            Ok(Leaf { extension: None, attr: sub, sub: None })
        }
    }
}

fn type_name(kind: AttrType) -> &'static str {
    match kind {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Binary => "binary",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
    }
}

fn display_leaf(path: &AttrPath, scope: Scope<'_>) -> String {
    match scope {
        Scope::Root => path.to_string(),
        Scope::Elem { parent, .. } => format!("{parent}.{}", path.name),
    }
}

fn validate_compare(
    path: &AttrPath,
    op: CompareOp,
    value: &Value,
    leaf: &Leaf<'_>,
    scope: Scope<'_>,
) -> ScimResult<()> {
    let shown = display_leaf(path, scope);
    let Some(def) = leaf.compare_def() else {
        return Err(ScimError::invalid_filter(format!(
            "complex attribute '{shown}' can only be compared through a sub-attribute (e.g. '{shown}.value') \
             or a value filter '{shown}[…]'"
        )));
    };
    let kind = def.kind;
    if value.is_null() {
        if matches!(op, CompareOp::Eq | CompareOp::Ne) {
            return Ok(());
        }
        return Err(ScimError::invalid_filter(format!("'{shown} {op} null': null can only be used with eq or ne")));
    }
    if op.is_ordering() && matches!(kind, AttrType::Boolean | AttrType::Binary) {
        return Err(ScimError::invalid_filter(format!(
            "operator '{op}' is not supported for {} attribute '{shown}'",
            type_name(kind)
        )));
    }
    if op.is_substring() && !matches!(kind, AttrType::String | AttrType::Reference) {
        return Err(ScimError::invalid_filter(format!(
            "operator '{op}' requires a string attribute, but '{shown}' is {}",
            type_name(kind)
        )));
    }
    let ok = match kind {
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::DateTime => value.is_string(),
        AttrType::Boolean => value.is_boolean(),
        AttrType::Integer => value.is_i64() || value.is_u64(),
        AttrType::Decimal => value.is_number(),
        AttrType::Complex => false,
    };
    if !ok {
        let expected = match kind {
            AttrType::String | AttrType::Reference | AttrType::Binary => "a string in double quotes",
            AttrType::DateTime => "a date-time string such as \"2011-05-13T04:42:34Z\"",
            AttrType::Boolean => "true or false",
            AttrType::Integer => "an integer",
            AttrType::Decimal => "a number",
            AttrType::Complex => "a sub-attribute comparison",
        };
        return Err(ScimError::invalid_filter(format!(
            "'{shown}' is a {} attribute; the value in '{shown} {op} {value}' must be {expected}",
            type_name(kind)
        )));
    }
    Ok(())
}

fn validate_in<'s>(filter: &'s Filter, schema: &'s ResourceSchema, scope: Scope<'s>) -> ScimResult<()> {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            validate_in(a, schema, scope)?;
            validate_in(b, schema, scope)
        }
        Filter::Not(a) => validate_in(a, schema, scope),
        Filter::Present(p) => resolve_leaf(p, schema, scope).map(|_| ()),
        Filter::Compare(p, op, v) => {
            let leaf = resolve_leaf(p, schema, scope)?;
            validate_compare(p, *op, v, &leaf, scope)
        }
        Filter::ValuePath(p, inner) => {
            let (attr, _) = resolve_value_path(p, schema, scope)?;
            validate_in(inner, schema, Scope::Elem { parent: p, def: attr })
        }
    }
}

/// Resolves the attribute of a value path: must be at root scope, without sub, and complex.
fn resolve_value_path<'s>(
    p: &AttrPath,
    schema: &'s ResourceSchema,
    scope: Scope<'s>,
) -> ScimResult<(&'s AttributeDef, Option<&'s str>)> {
    if let Scope::Elem { parent, .. } = scope {
        return Err(ScimError::invalid_filter(format!(
            "nested value filter '{p}[…]' inside '{parent}[…]' is not allowed"
        )));
    }
    if p.sub.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "a value filter must follow a complex attribute without sub-attribute, not '{p}'"
        )));
    }
    let leaf = resolve_leaf(p, schema, scope)?;
    if !leaf.attr.is_complex() {
        return Err(ScimError::invalid_filter(format!(
            "'{p}' is a {} attribute; value filters '[…]' apply only to complex attributes",
            type_name(leaf.attr.kind)
        )));
    }
    Ok((leaf.attr, leaf.extension))
}

/// Checks a filter against a resource type's schema: every attribute exists (unknown → 400
/// `invalidFilter` naming it), operators are legal for the attribute's type (`gt`/`ge`/`lt`/`le` not on
/// boolean or binary; `co`/`sw`/`ew` only on string/reference, or complex with a string `value`), and
/// the comparison value's JSON type fits the attribute's type.
pub fn validate(filter: &Filter, schema: &ResourceSchema) -> ScimResult<()> {
    validate_in(filter, schema, Scope::Root)
}

// ---------------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------------

/// Object member by key, case-insensitively (exact match first).
fn get_ci<'v>(node: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = node.as_object()?;
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// A value as a list: arrays flattened, null/absent dropped.
fn flatten(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter(|i| !i.is_null()).collect(),
        Some(other) => vec![other],
    }
}

fn is_primary(v: &Value) -> bool {
    get_ci(v, "primary").and_then(Value::as_bool).unwrap_or(false)
}

/// `pr`: not null, not an empty string, not an empty array/object.
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// The stored values a leaf refers to (multi-valued flattened); for a root leaf with a sub-attribute,
/// the sub-attribute of every element.
fn leaf_values<'v>(node: &'v Value, path: &AttrPath, leaf: &Leaf<'_>, scope: Scope<'_>) -> Vec<&'v Value> {
    match scope {
        Scope::Elem { .. } => flatten(get_ci(node, &path.name)),
        Scope::Root => {
            let container = match leaf.extension {
                Some(urn) => get_ci(node, urn),
                None => Some(node),
            };
            let attr = flatten(container.and_then(|c| get_ci(c, &path.name)));
            match &path.sub {
                Some(sub) => attr.into_iter().flat_map(|e| flatten(get_ci(e, sub))).collect(),
                None => attr,
            }
        }
    }
}

fn parse_datetime(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn fold(s: &str, case_exact: bool) -> std::borrow::Cow<'_, str> {
    if case_exact { std::borrow::Cow::Borrowed(s) } else { std::borrow::Cow::Owned(s.to_lowercase()) }
}

/// Orders a stored value against a filter literal, honouring the attribute's type and `caseExact`.
fn cmp_values(stored: &Value, lit: &Value, kind: AttrType, case_exact: bool) -> Option<Ordering> {
    match (stored, lit) {
        (Value::String(a), Value::String(b)) => {
            if kind == AttrType::DateTime
                && let (Some(x), Some(y)) = (parse_datetime(a), parse_datetime(b))
            {
                return Some(x.cmp(&y));
            }
            Some(fold(a, case_exact).cmp(&fold(b, case_exact)))
        }
        (Value::Number(a), Value::Number(b)) => cmp_numbers(a, b),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn compare_one(stored: &Value, op: CompareOp, lit: &Value, kind: AttrType, case_exact: bool) -> bool {
    match op {
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => match (stored, lit) {
            (Value::String(a), Value::String(b)) => {
                let (a, b) = (fold(a, case_exact), fold(b, case_exact));
                match op {
                    CompareOp::Co => a.contains(b.as_ref()),
                    CompareOp::Sw => a.starts_with(b.as_ref()),
                    _ => a.ends_with(b.as_ref()),
                }
            }
            _ => false,
        },
        CompareOp::Eq => cmp_values(stored, lit, kind, case_exact) == Some(Ordering::Equal),
        CompareOp::Ne => cmp_values(stored, lit, kind, case_exact) != Some(Ordering::Equal),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            if matches!(kind, AttrType::Boolean | AttrType::Binary) || stored.is_boolean() {
                return false;
            }
            match cmp_values(stored, lit, kind, case_exact) {
                Some(o) => match op {
                    CompareOp::Gt => o == Ordering::Greater,
                    CompareOp::Ge => o != Ordering::Less,
                    CompareOp::Lt => o == Ordering::Less,
                    _ => o != Ordering::Greater,
                },
                None => false,
            }
        }
    }
}

fn eval<'s>(filter: &'s Filter, node: &Value, schema: &'s ResourceSchema, scope: Scope<'s>) -> ScimResult<bool> {
    match filter {
        Filter::And(a, b) => Ok(eval(a, node, schema, scope)? && eval(b, node, schema, scope)?),
        Filter::Or(a, b) => Ok(eval(a, node, schema, scope)? || eval(b, node, schema, scope)?),
        Filter::Not(a) => Ok(!eval(a, node, schema, scope)?),
        Filter::Present(p) => {
            let leaf = resolve_leaf(p, schema, scope)?;
            Ok(leaf_values(node, p, &leaf, scope).into_iter().any(is_present))
        }
        Filter::Compare(p, op, lit) => {
            let leaf = resolve_leaf(p, schema, scope)?;
            let mut values = leaf_values(node, p, &leaf, scope);
            let def = match leaf.compare_def() {
                Some(d) => {
                    if leaf.sub.is_none() && leaf.attr.is_complex() {
                        // `members eq "u1"`: compare against the elements' `value`.
                        values =
                            values.into_iter().filter_map(|e| get_ci(e, "value")).filter(|v| !v.is_null()).collect();
                    }
                    d
                }
                None => leaf.attr,
            };
            if lit.is_null() {
                let present = !values.is_empty();
                return Ok(match op {
                    CompareOp::Eq => !present,
                    CompareOp::Ne => present,
                    _ => false,
                });
            }
            if values.is_empty() {
                return Ok(*op == CompareOp::Ne);
            }
            Ok(values.into_iter().any(|v| compare_one(v, *op, lit, def.kind, def.case_exact)))
        }
        Filter::ValuePath(p, inner) => {
            let (attr, extension) = resolve_value_path(p, schema, scope)?;
            let container = match extension {
                Some(urn) => get_ci(node, urn),
                None => Some(node),
            };
            let elem_scope = Scope::Elem { parent: p, def: attr };
            for elem in flatten(container.and_then(|c| get_ci(c, &p.name))) {
                if elem.is_object() && eval(inner, elem, schema, elem_scope)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

/// Evaluates `filter` against a stored resource (core attributes at top level, extension attributes
/// under their URN key; keys matched case-insensitively). Multi-valued attributes match when any element
/// does; a complex attribute compared without sub-attribute is compared through its elements' `value`.
/// `ne` on a missing attribute is true, every other comparison on a missing attribute false; `eq null` is
/// true iff the attribute is absent or null. Unknown attributes are 400 `invalidFilter` (call
/// [`validate`] first to report them regardless of short-circuiting).
pub fn matches(filter: &Filter, resource: &Value, schema: &ResourceSchema) -> ScimResult<bool> {
    eval(filter, resource, schema, Scope::Root)
}

/// Evaluates the inner filter of a value path (`attr[filter]`, e.g. from a [`PatchPath::ValuePath`])
/// against one element of the complex attribute `attr`. Used by PATCH to select the targeted elements.
pub fn matches_element(filter: &Filter, element: &Value, attr: &AttrPath, schema: &ResourceSchema) -> ScimResult<bool> {
    let (def, _) = resolve_value_path(attr, schema, Scope::Root)?;
    eval(filter, element, schema, Scope::Elem { parent: attr, def })
}

/// All values at `path` in `resource` (multi-valued flattened, the `primary` element first; a complex
/// attribute without sub-attribute yields its elements' `value`), for sortBy.
pub fn values_at<'a>(resource: &'a Value, path: &AttrPath, schema: &ResourceSchema) -> Vec<&'a Value> {
    let resolved = schema.resolve(&path.to_string());
    let container = match (resolved.and_then(|r| r.extension), &path.urn, resolved.is_some()) {
        (Some(ext), _, _) => get_ci(resource, ext),
        (None, Some(urn), false) => get_ci(resource, urn),
        _ => Some(resource),
    };
    let mut elems = flatten(container.and_then(|c| get_ci(c, &path.name)));
    elems.sort_by_key(|e| !is_primary(e));
    match &path.sub {
        Some(sub) => elems.into_iter().flat_map(|e| flatten(get_ci(e, sub))).collect(),
        None => elems
            .into_iter()
            .filter_map(|e| if e.is_object() { get_ci(e, "value").filter(|v| !v.is_null()) } else { Some(e) })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, SchemaDef, USER_SCHEMA};
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::Arc;

    const ENT: &str = ENTERPRISE_USER_SCHEMA;

    fn attr(name: &str, kind: AttrType) -> AttributeDef {
        AttributeDef::new(name, kind)
    }

    fn exact(mut a: AttributeDef) -> AttributeDef {
        a.case_exact = true;
        a
    }

    fn complex(name: &str, multi: bool, subs: Vec<AttributeDef>) -> AttributeDef {
        let mut a = attr(name, AttrType::Complex);
        a.multi_valued = multi;
        a.sub_attributes = Some(subs);
        a
    }

    fn multi_contact(name: &str) -> AttributeDef {
        complex(
            name,
            true,
            vec![
                attr("value", AttrType::String),
                attr("display", AttrType::String),
                attr("type", AttrType::String),
                attr("primary", AttrType::Boolean),
            ],
        )
    }

    fn user() -> ResourceSchema {
        let core = SchemaDef {
            id: USER_SCHEMA.into(),
            name: Some("User".into()),
            description: None,
            attributes: vec![
                attr("userName", AttrType::String),
                complex(
                    "name",
                    false,
                    vec![
                        attr("formatted", AttrType::String),
                        attr("familyName", AttrType::String),
                        attr("givenName", AttrType::String),
                    ],
                ),
                attr("displayName", AttrType::String),
                attr("title", AttrType::String),
                attr("userType", AttrType::String),
                attr("active", AttrType::Boolean),
                attr("loginCount", AttrType::Integer),
                attr("score", AttrType::Decimal),
                attr("certificate", AttrType::Binary),
                exact(attr("profileUrl", AttrType::Reference)),
                multi_contact("emails"),
                multi_contact("ims"),
                complex("addresses", true, vec![attr("type", AttrType::String), attr("formatted", AttrType::String)]),
            ],
        };
        let ent = SchemaDef {
            id: ENT.into(),
            name: None,
            description: None,
            attributes: vec![
                attr("employeeNumber", AttrType::String),
                attr("department", AttrType::String),
                complex(
                    "manager",
                    false,
                    vec![
                        exact(attr("value", AttrType::String)),
                        exact(attr("$ref", AttrType::Reference)),
                        attr("displayName", AttrType::String),
                    ],
                ),
            ],
        };
        ResourceSchema {
            name: "User".into(),
            endpoint: "/Users".into(),
            core: Arc::new(core),
            extensions: vec![(Arc::new(ent), false)],
        }
    }

    fn group() -> ResourceSchema {
        let core = SchemaDef {
            id: GROUP_SCHEMA.into(),
            name: Some("Group".into()),
            description: None,
            attributes: vec![
                attr("displayName", AttrType::String),
                complex(
                    "members",
                    true,
                    vec![
                        exact(attr("value", AttrType::String)),
                        attr("display", AttrType::String),
                        attr("type", AttrType::String),
                        exact(attr("$ref", AttrType::Reference)),
                    ],
                ),
            ],
        };
        ResourceSchema { name: "Group".into(), endpoint: "/Groups".into(), core: Arc::new(core), extensions: vec![] }
    }

    fn alice() -> Value {
        json!({
            "schemas": [USER_SCHEMA, ENT],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "Alice-Ext",
            "userName": "Alice@Contoso.com",
            "name": {"familyName": "O'Malley", "givenName": "Alice"},
            "displayName": "Alice O'Malley",
            "title": "Engineer",
            "userType": "Employee",
            "active": true,
            "loginCount": 42,
            "score": 3.5,
            "emails": [
                {"value": "alice@example.com", "type": "work", "primary": true},
                {"value": "alice@home.example.org", "type": "home"}
            ],
            "ims": [{"value": "alice@foo.com", "type": "xmpp"}],
            "addresses": [{"type": "work", "formatted": "1 Main St"}],
            "meta": {
                "resourceType": "User",
                "created": "2011-05-13T04:42:34Z",
                "lastModified": "2011-05-14T10:00:00+02:00"
            },
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "Bob"}
            }
        })
    }

    fn bob() -> Value {
        json!({
            "id": "bob-id",
            "userName": "bob",
            "userType": "Contractor",
            "title": "",
            "active": false,
            "emails": [{"value": "bob@example.org", "type": "work"}],
        })
    }

    fn sales() -> Value {
        json!({
            "id": "g1",
            "displayName": "Sales",
            "members": [
                {"value": "u1", "display": "Alice", "type": "User", "$ref": "https://x/Users/u1"},
                {"value": "u2", "display": "Bob"}
            ]
        })
    }

    fn parse(s: &str) -> Filter {
        parse_filter(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn m(filter: &str, resource: &Value, schema: &ResourceSchema) -> bool {
        let f = parse(filter);
        validate(&f, schema).unwrap_or_else(|e| panic!("{filter:?} should validate: {e}"));
        matches(&f, resource, schema).unwrap_or_else(|e| panic!("{filter:?} should evaluate: {e}"))
    }

    fn p(name: &str) -> AttrPath {
        AttrPath::simple(name)
    }

    fn ps(name: &str, sub: &str) -> AttrPath {
        AttrPath { urn: None, name: name.into(), sub: Some(sub.into()) }
    }

    fn cmp(path: AttrPath, op: CompareOp, v: Value) -> Filter {
        Filter::Compare(path, op, v)
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    fn vp(path: AttrPath, inner: Filter) -> Filter {
        Filter::ValuePath(path, Box::new(inner))
    }

    fn filter_err(s: &str) -> ScimError {
        match parse_filter(s) {
            Ok(f) => panic!("{s:?} should be rejected, parsed as {f:?}"),
            Err(e) => {
                assert_eq!(e.status, 400);
                assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{e}");
                e
            }
        }
    }

    const RFC_EXAMPLES: &[&str] = &[
        "userName Eq \"john\"",
        "title pr",
        "title pr and userType eq \"Employee\"",
        "title pr or userType eq \"Intern\"",
        "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
        "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
        "userType eq \"Employee\" and (emails.type eq \"work\")",
        "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]",
        "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]",
        "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
        "meta.lastModified ge \"2011-05-13T04:42:34Z\"",
        "meta.lastModified lt \"2011-05-13T04:42:34Z\"",
        "meta.lastModified le \"2011-05-13T04:42:34Z\"",
        "name.familyName co \"O'Malley\"",
        "userName sw \"J\"",
        "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co \"O'Malley\"",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"",
    ];

    #[test]
    fn parses_rfc_examples_and_round_trips() {
        for s in RFC_EXAMPLES {
            let f = parse(s);
            validate(&f, &user()).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(parse_filter(&f.to_string()), Ok(f.clone()), "{s} → {f}");
        }
    }

    #[test]
    fn parse_shapes() {
        assert_eq!(parse("title pr"), Filter::Present(p("title")));
        assert_eq!(parse("userName Eq \"john\""), cmp(p("userName"), CompareOp::Eq, json!("john")));
        assert_eq!(
            parse("title pr and userType eq \"Employee\""),
            and(Filter::Present(p("title")), cmp(p("userType"), CompareOp::Eq, json!("Employee")))
        );
        assert_eq!(
            parse("userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")"),
            and(
                cmp(p("userType"), CompareOp::Ne, json!("Employee")),
                not(or(
                    cmp(p("emails"), CompareOp::Co, json!("example.com")),
                    cmp(ps("emails", "value"), CompareOp::Co, json!("example.org"))
                ))
            )
        );
        assert_eq!(
            parse("emails[type eq \"work\" and value co \"@example.com\"]"),
            vp(
                p("emails"),
                and(
                    cmp(p("type"), CompareOp::Eq, json!("work")),
                    cmp(p("value"), CompareOp::Co, json!("@example.com"))
                )
            )
        );
        assert_eq!(
            parse("name.familyName co \"O'Malley\""),
            cmp(ps("name", "familyName"), CompareOp::Co, json!("O'Malley"))
        );
    }

    #[test]
    fn precedence_and_associativity() {
        let (a, b, c) = (Filter::Present(p("a")), Filter::Present(p("b")), Filter::Present(p("c")));
        assert_eq!(parse("a pr or b pr and c pr"), or(a.clone(), and(b.clone(), c.clone())));
        assert_eq!(parse("a pr and b pr or c pr"), or(and(a.clone(), b.clone()), c.clone()));
        assert_eq!(parse("a pr and b pr and c pr"), and(and(a.clone(), b.clone()), c.clone()));
        assert_eq!(parse("a pr and (b pr and c pr)"), and(a.clone(), and(b.clone(), c.clone())));
        assert_eq!(parse("(a pr or b pr) and c pr"), and(or(a.clone(), b.clone()), c.clone()));
        assert_eq!(parse("not (a pr) and b pr"), and(not(a.clone()), b.clone()));
        assert_eq!(parse("not(a pr)"), not(a.clone()));
        assert_eq!(parse("NOT (a pr) OR b PR AND c Pr"), or(not(a.clone()), and(b.clone(), c.clone())));
        assert_eq!(parse("  ( ( a pr ) )  "), a.clone());
        // Display keeps the tree.
        for f in [
            and(a.clone(), and(b.clone(), c.clone())),
            or(a.clone(), or(b.clone(), c.clone())),
            and(or(a.clone(), b.clone()), c.clone()),
            and(a.clone(), or(b.clone(), c.clone())),
            not(and(a.clone(), b.clone())),
        ] {
            assert_eq!(parse(&f.to_string()), f, "{f}");
        }
        assert_eq!(and(a.clone(), and(b.clone(), c.clone())).to_string(), "a pr and (b pr and c pr)");
        assert_eq!(or(and(a.clone(), b.clone()), c).to_string(), "a pr and b pr or c pr");
    }

    #[test]
    fn case_insensitive_operators_and_literals() {
        for op in ["eq", "EQ", "Eq", "eQ"] {
            assert_eq!(parse(&format!("userName {op} \"a\"")), cmp(p("userName"), CompareOp::Eq, json!("a")));
        }
        for (s, op) in [
            ("ne", CompareOp::Ne),
            ("CO", CompareOp::Co),
            ("Sw", CompareOp::Sw),
            ("eW", CompareOp::Ew),
            ("GT", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("LT", CompareOp::Lt),
            ("Le", CompareOp::Le),
        ] {
            assert_eq!(parse(&format!("x {s} 1")), cmp(p("x"), op, json!(1)));
        }
        assert_eq!(parse("active eq True"), cmp(p("active"), CompareOp::Eq, json!(true)));
        assert_eq!(parse("active eq FALSE"), cmp(p("active"), CompareOp::Eq, json!(false)));
        assert_eq!(parse("title eq NULL"), cmp(p("title"), CompareOp::Eq, Value::Null));
        assert_eq!(parse("a pr AND b pr"), and(Filter::Present(p("a")), Filter::Present(p("b"))));
        assert_eq!(parse("USERNAME eq \"a\""), cmp(p("USERNAME"), CompareOp::Eq, json!("a")));
    }

    #[test]
    fn value_literals() {
        assert_eq!(parse(r#"x eq "a\"b\\c\u00e9""#), cmp(p("x"), CompareOp::Eq, json!("a\"b\\cé")));
        assert_eq!(parse(r#"x eq "tab\there""#), cmp(p("x"), CompareOp::Eq, json!("tab\there")));
        assert_eq!(parse(r#"x eq "ü😀""#), cmp(p("x"), CompareOp::Eq, json!("ü😀")));
        assert_eq!(parse(r#"x eq "a ) ] and or""#), cmp(p("x"), CompareOp::Eq, json!("a ) ] and or")));
        assert_eq!(parse("x eq 42"), cmp(p("x"), CompareOp::Eq, json!(42)));
        assert_eq!(parse("x eq -7"), cmp(p("x"), CompareOp::Eq, json!(-7)));
        assert_eq!(parse("x gt 1.5"), cmp(p("x"), CompareOp::Gt, json!(1.5)));
        assert_eq!(parse("x lt -0.25"), cmp(p("x"), CompareOp::Lt, json!(-0.25)));
        assert_eq!(parse("x lt 1e3"), cmp(p("x"), CompareOp::Lt, json!(1000.0)));
        assert_eq!(parse("x eq 18446744073709551615"), cmp(p("x"), CompareOp::Eq, json!(u64::MAX)));
        assert_eq!(parse("x eq\"nospace\""), cmp(p("x"), CompareOp::Eq, json!("nospace")));
        assert_eq!(parse("x   eq    \"spaces\"  "), cmp(p("x"), CompareOp::Eq, json!("spaces")));
        // Canonical output.
        assert_eq!(parse(r#"x EQ "a\u00e9\"""#).to_string(), r#"x eq "aé\"""#);
        assert_eq!(parse("x eq TRUE").to_string(), "x eq true");
    }

    #[test]
    fn urn_paths_and_ref() {
        assert_eq!(
            parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\""),
            cmp(
                AttrPath { urn: Some(ENT.into()), name: "employeeNumber".into(), sub: None },
                CompareOp::Eq,
                json!("701984")
            )
        );
        let f = parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"x\"");
        assert_eq!(
            f,
            cmp(
                AttrPath { urn: Some(ENT.into()), name: "manager".into(), sub: Some("value".into()) },
                CompareOp::Eq,
                json!("x")
            )
        );
        assert_eq!(f.to_string(), format!("{ENT}:manager.value eq \"x\""));
        assert_eq!(
            parse("members[$ref eq \"https://x/Users/u1\"]"),
            vp(p("members"), cmp(p("$ref"), CompareOp::Eq, json!("https://x/Users/u1")))
        );
        assert_eq!(parse("manager.$ref pr"), Filter::Present(ps("manager", "$ref")));
        assert_eq!(parse("x-y_z2 pr"), Filter::Present(p("x-y_z2")));
    }

    #[test]
    fn entra_forms() {
        assert_eq!(
            parse("userName eq \"alice@contoso.com\""),
            cmp(p("userName"), CompareOp::Eq, json!("alice@contoso.com"))
        );
        assert_eq!(
            parse("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\""),
            cmp(p("externalId"), CompareOp::Eq, json!("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"))
        );
        assert_eq!(parse("displayName eq \"Sales\""), cmp(p("displayName"), CompareOp::Eq, json!("Sales")));
        assert_eq!(
            parse("id eq \"g1\" and members[value eq \"u1\"]"),
            and(
                cmp(p("id"), CompareOp::Eq, json!("g1")),
                vp(p("members"), cmp(p("value"), CompareOp::Eq, json!("u1")))
            )
        );
        assert_eq!(
            parse("id eq \"g1\" and members eq \"u1\""),
            and(cmp(p("id"), CompareOp::Eq, json!("g1")), cmp(p("members"), CompareOp::Eq, json!("u1")))
        );
        let f = parse("emails[type eq \"work\"].value eq \"a@b.com\"");
        assert_eq!(
            f,
            vp(
                p("emails"),
                and(cmp(p("type"), CompareOp::Eq, json!("work")), cmp(p("value"), CompareOp::Eq, json!("a@b.com")))
            )
        );
        assert_eq!(f.to_string(), "emails[type eq \"work\" and value eq \"a@b.com\"]");
        let f = parse("emails[type eq \"work\" or type eq \"home\"].value pr");
        assert_eq!(f.to_string(), "emails[(type eq \"work\" or type eq \"home\") and value pr]");
        assert_eq!(parse(&f.to_string()), f);
    }

    #[test]
    fn rejects_with_helpful_errors() {
        let e = filter_err("userName eq");
        assert!(e.detail.contains("expected a value"), "{}", e.detail);
        assert!(e.detail.contains("end of input"), "{}", e.detail);
        let e = filter_err("userName xx \"a\"");
        assert!(
            e.detail.contains("operator") && e.detail.contains("'xx'") && e.detail.contains("character 10"),
            "{}",
            e.detail
        );
        let e = filter_err("(userName eq \"a\"");
        assert!(e.detail.contains("')'") && e.detail.contains("character 1"), "{}", e.detail);
        let e = filter_err("userName eq \"a\" or");
        assert!(e.detail.contains("attribute name"), "{}", e.detail);
        filter_err("userName eq \"a\" or ");
        filter_err("userName eq \"a\" and");
        let e = filter_err("userName eq \"abc");
        assert!(e.detail.contains("unterminated"), "{}", e.detail);
        let e = filter_err("userName eq alice");
        assert!(e.detail.contains("quoted"), "{}", e.detail);
        let e = filter_err("userName eq \"a\")");
        assert!(e.detail.contains("unbalanced"), "{}", e.detail);
        for bad in [
            "",
            "   ",
            "userName",
            "userName eq \"a\" userName eq \"b\"",
            "not userName eq \"a\"",
            "userName pr x",
            "userName prx",
            "emails[type eq \"work\"",
            "emails[type eq \"work\"]]",
            "emails[type[value eq \"x\"]]",
            "emails[type eq \"a\"].value",
            "emails[type eq \"a\"].",
            "emails.value[type eq \"a\"]",
            "emails[urn:x:y:type eq \"a\"]",
            "emails[name.sub eq \"a\"]",
            "name.givenName.x eq \"a\"",
            "1abc eq \"a\"",
            "foo:bar eq \"a\"",
            "urn: eq \"a\"",
            ":x eq \"a\"",
            "x eq 01",
            "x eq 1.",
            "x eq -",
            "x eq 1e",
            "x eq 1abc",
            "x eq \"a\"b",
            "x eq \"bad \\q escape\"",
            "x eq \"ctrl \u{1} char\"",
            "x eq [1]",
            "x eq {}",
            "x eq 'single'",
            "x eq",
            "x  ",
            "()",
            "(",
            ")",
            "and",
            "a pr and and b pr",
            "a pr or or",
            "x eq \"a\" + y eq \"b\"",
            "\u{e9}t\u{e9} pr",
        ] {
            filter_err(bad);
        }
    }

    #[test]
    fn limits() {
        // Deep nesting just under the length limit: an error, not a stack overflow.
        let deep = format!("{}a pr{}", "(".repeat(4000), ")".repeat(4000));
        let e = filter_err(&deep);
        assert!(e.detail.contains("nesting"), "{}", e.detail);
        let e = filter_err(&"(".repeat(10_000));
        assert!(e.detail.contains("exceeds"), "{}", e.detail);
        let e = filter_err(&"(".repeat(100_000));
        assert!(e.detail.contains("exceeds"), "{}", e.detail);
        filter_err(&"not (".repeat(1000));
        // Exactly at the depth limit is fine; one more is not.
        let ok = format!("{}a pr{}", "(".repeat(MAX_FILTER_DEPTH), ")".repeat(MAX_FILTER_DEPTH));
        parse(&ok);
        let too_deep = format!("{}a pr{}", "(".repeat(MAX_FILTER_DEPTH + 1), ")".repeat(MAX_FILTER_DEPTH + 1));
        filter_err(&too_deep);
        // Length.
        let long = format!("userName eq \"{}\"", "a".repeat(MAX_FILTER_LEN));
        let e = filter_err(&long);
        assert!(e.detail.contains("8192"), "{}", e.detail);
        // Terms.
        let many = vec!["a pr"; MAX_FILTER_TERMS].join(" or ");
        parse(&many);
        let too_many = vec!["a pr"; MAX_FILTER_TERMS + 1].join(" or ");
        let e = filter_err(&too_many);
        assert!(e.detail.contains("200"), "{}", e.detail);
        // Patch paths are limited too.
        assert!(parse_patch_path(&format!("emails[{}a pr{}]", "(".repeat(5000), ")".repeat(5000))).is_err());
        assert!(parse_patch_path(&format!("emails[{}a pr{}]", "(".repeat(500), ")".repeat(500))).is_err());
    }

    #[test]
    fn patch_paths() {
        let attr = |s: &str| match parse_patch_path(s) {
            Ok(PatchPath::Attr(a)) => a,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(attr("userName"), p("userName"));
        assert_eq!(attr("name.familyName"), ps("name", "familyName"));
        assert_eq!(attr("NAME.FamilyName"), ps("NAME", "FamilyName"));
        assert_eq!(
            attr(&format!("{ENT}:manager")),
            AttrPath { urn: Some(ENT.into()), name: "manager".into(), sub: None }
        );
        assert_eq!(
            attr(&format!("{ENT}:manager.value")),
            AttrPath { urn: Some(ENT.into()), name: "manager".into(), sub: Some("value".into()) }
        );
        assert_eq!(
            parse_patch_path("emails[type eq \"work\"].value"),
            Ok(PatchPath::ValuePath {
                attr: p("emails"),
                filter: cmp(p("type"), CompareOp::Eq, json!("work")),
                sub: Some("value".into())
            })
        );
        assert_eq!(
            parse_patch_path("members[value eq \"2819c223\"]"),
            Ok(PatchPath::ValuePath {
                attr: p("members"),
                filter: cmp(p("value"), CompareOp::Eq, json!("2819c223")),
                sub: None
            })
        );
        let pp = parse_patch_path("addresses[type eq \"work\"].formatted").unwrap();
        assert_eq!(pp.to_string(), "addresses[type eq \"work\"].formatted");
        assert_eq!(pp.attr(), &p("addresses"));
        validate(&pp.value_filter().unwrap(), &user()).unwrap();
        for s in [
            "emails[type eq \"work\"].value",
            "members[value eq \"2819c223\"]",
            "name.familyName",
            "emails[type eq \"work\" and primary eq true].display",
        ] {
            assert_eq!(parse_patch_path(s).unwrap().to_string(), s);
        }
        for bad in [
            "",
            "emails[",
            "emails[type eq \"work\"",
            "emails[type eq \"work\"].",
            "emails[type eq \"work\"].value.x",
            "emails[type eq \"work\"] x",
            "emails.value[type eq \"work\"]",
            "emails[type eq \"work\"][value pr]",
            "emails[x[y pr]]",
            "a.b.c",
            "a b",
            "userName eq \"a\"",
            "foo:bar",
        ] {
            let e = parse_patch_path(bad).expect_err(bad);
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{bad}: {e}");
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn attr_paths() {
        assert_eq!(parse_attr_path("userName"), Ok(p("userName")));
        assert_eq!(parse_attr_path(" name.givenName "), Ok(ps("name", "givenName")));
        assert_eq!(
            parse_attr_path(&format!("{ENT}:employeeNumber")),
            Ok(AttrPath { urn: Some(ENT.into()), name: "employeeNumber".into(), sub: None })
        );
        assert_eq!(parse_attr_path("meta.lastModified").unwrap().to_string(), "meta.lastModified");
        for bad in ["", "emails[type eq \"work\"]", "a,b", "a.b.c", "1a", "a."] {
            let e = parse_attr_path(bad).expect_err(bad);
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
        }
    }

    #[test]
    fn evaluates_rfc_examples() {
        let u = user();
        let (a, b) = (alice(), bob());
        assert!(m("title pr", &a, &u));
        assert!(!m("title pr", &b, &u)); // empty string is not present
        assert!(m("title pr and userType eq \"Employee\"", &a, &u));
        assert!(!m("title pr and userType eq \"Employee\"", &b, &u));
        assert!(m("title pr or userType eq \"Intern\"", &a, &u));
        let f = "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")";
        assert!(m(f, &a, &u));
        assert!(!m(f, &b, &u));
        let f = "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")";
        assert!(!m(f, &a, &u));
        assert!(!m(f, &b, &u)); // bob has an example.org email
        assert!(m("userType ne \"Employee\" and not (emails co \"example.com\")", &b, &u));
        assert!(m("userType eq \"Employee\" and (emails.type eq \"work\")", &a, &u));
        assert!(m("userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]", &a, &u));
        // The work email and the example.org email are different elements.
        assert!(!m("emails[type eq \"work\" and value co \"example.org\"]", &a, &u));
        assert!(m("emails.type eq \"work\" and emails.value co \"example.org\"", &a, &u));
        let f =
            "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]";
        assert!(m(f, &a, &u));
        assert!(!m(f, &b, &u));
        assert!(m("ims[type eq \"xmpp\" and value co \"@foo.com\"]", &a, &u));
        assert!(m("name.familyName co \"O'Malley\"", &a, &u));
        assert!(m("name.familyName co \"o'malley\"", &a, &u)); // caseExact false
        assert!(m("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co \"O'Malley\"", &a, &u));
        assert!(m("userName sw \"alice\"", &a, &u));
        assert!(m("userName sw \"A\"", &a, &u));
        assert!(!m("userName sw \"J\"", &a, &u));
        assert!(m("userName ew \"CONTOSO.COM\"", &a, &u));
    }

    #[test]
    fn evaluates_dates_chronologically() {
        let u = user();
        let a = alice();
        // lastModified is 2011-05-14T08:00:00Z written with a +02:00 offset.
        assert!(m("meta.lastModified gt \"2011-05-13T04:42:34Z\"", &a, &u));
        assert!(m("meta.lastModified gt \"2011-05-14T07:59:59Z\"", &a, &u));
        assert!(!m("meta.lastModified gt \"2011-05-14T08:00:00Z\"", &a, &u));
        assert!(m("meta.lastModified ge \"2011-05-14T08:00:00Z\"", &a, &u));
        assert!(m("meta.lastModified eq \"2011-05-14T08:00:00.000Z\"", &a, &u));
        // String comparison would say "2011-05-14T10" > "2011-05-14T09"; chronologically it is earlier.
        assert!(m("meta.lastModified lt \"2011-05-14T09:00:00Z\"", &a, &u));
        assert!(m("meta.created le \"2011-05-13T04:42:34Z\"", &a, &u));
        assert!(!m("meta.created lt \"2011-05-13T04:42:34Z\"", &a, &u));
        assert!(!m("meta.created gt \"2012-01-01T00:00:00Z\"", &a, &u));
    }

    #[test]
    fn evaluates_entra_forms() {
        let u = user();
        let g = group();
        let (a, s) = (alice(), sales());
        assert!(m("userName eq \"alice@contoso.com\"", &a, &u)); // case-insensitive
        assert!(m("externalId eq \"Alice-Ext\"", &a, &u));
        assert!(!m("externalId eq \"alice-ext\"", &a, &u)); // caseExact
        assert!(m("id eq \"2819c223-7f76-453a-919d-413861904646\"", &a, &u));
        assert!(!m("id eq \"2819C223-7F76-453A-919D-413861904646\"", &a, &u));
        assert!(m("displayName eq \"Sales\"", &s, &g));
        assert!(m("displayName eq \"sales\"", &s, &g));
        assert!(m("id eq \"g1\" and members[value eq \"u1\"]", &s, &g));
        assert!(!m("id eq \"g1\" and members[value eq \"U1\"]", &s, &g)); // members.value caseExact
        assert!(!m("id eq \"g1\" and members[value eq \"u3\"]", &s, &g));
        assert!(m("id eq \"g1\" and members eq \"u2\"", &s, &g));
        assert!(!m("id eq \"g2\" and members eq \"u2\"", &s, &g));
        assert!(!m("members eq \"u3\"", &s, &g));
        assert!(m("members[$ref eq \"https://x/Users/u1\"]", &s, &g));
        assert!(m("members[display eq \"bob\" and value eq \"u2\"]", &s, &g));
        assert!(m("members.display co \"li\"", &s, &g));
        assert!(m("emails[type eq \"work\"].value eq \"alice@example.com\"", &a, &u));
        assert!(m("emails[type eq \"work\"].value eq \"ALICE@example.com\"", &a, &u));
        assert!(!m("emails[type eq \"home\"].value eq \"alice@example.com\"", &a, &u));
        assert!(m("emails co \"@home.example\"", &a, &u));
        assert!(m("emails[primary eq true].value ew \"example.com\"", &a, &u));
        assert!(m("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\"", &a, &u));
        assert!(m("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq \"701984\"", &a, &u));
        assert!(m(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\"",
            &a,
            &u
        ));
        assert!(m(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[displayName eq \"bob\"]",
            &a,
            &u
        ));
        assert!(m(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq \"26118915-6090-4610-87e4-49d8ca9f808d\"",
            &a,
            &u
        ));
        assert!(!m(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\"",
            &bob(),
            &u
        ));
    }

    #[test]
    fn evaluation_semantics() {
        let u = user();
        let (a, b) = (alice(), bob());
        // Keys are looked up case-insensitively.
        let odd = json!({"USERNAME": "x", "Emails": [{"VALUE": "q@r.s", "Type": "work"}], "NAME": {"GIVENNAME": "Q"}});
        assert!(m("userName eq \"x\"", &odd, &u));
        assert!(m("emails[type eq \"work\" and value eq \"q@r.s\"]", &odd, &u));
        assert!(m("name.givenName eq \"q\"", &odd, &u));
        // Missing attribute: ne true, everything else false.
        assert!(m("displayName ne \"x\"", &b, &u));
        for op in ["eq", "co", "sw", "ew", "gt", "ge", "lt", "le"] {
            assert!(!m(&format!("displayName {op} \"x\""), &b, &u), "{op}");
        }
        assert!(!m("displayName pr", &b, &u));
        assert!(m("not (displayName pr)", &b, &u));
        // null literal.
        assert!(m("displayName eq null", &b, &u));
        assert!(!m("displayName eq null", &a, &u));
        assert!(m("displayName ne null", &a, &u));
        assert!(m("displayName eq null", &json!({"displayName": null}), &u));
        // Booleans.
        assert!(m("active eq true", &a, &u));
        assert!(m("active eq false", &b, &u));
        assert!(m("active ne true", &b, &u));
        assert!(!m("active eq true", &b, &u));
        // Numbers.
        assert!(m("loginCount eq 42", &a, &u));
        assert!(m("loginCount gt 41", &a, &u));
        assert!(m("loginCount le 42", &a, &u));
        assert!(!m("loginCount lt 42", &a, &u));
        assert!(m("score gt 3.25", &a, &u));
        assert!(m("score lt 4", &a, &u));
        assert!(m("score eq 3.5", &a, &u));
        assert!(m("loginCount ge -1", &a, &u));
        // String ordering (case-insensitive for caseExact false).
        assert!(m("userName gt \"alice\"", &a, &u));
        assert!(m("userName lt \"B\"", &a, &u));
        // pr on complex/multi-valued.
        assert!(m("emails pr", &a, &u));
        assert!(m("name pr", &a, &u));
        assert!(!m("name pr", &b, &u));
        assert!(!m("emails pr", &json!({"emails": []}), &u));
        assert!(!m("name pr", &json!({"name": {}}), &u));
        assert!(!m("name pr", &json!({"name": {"givenName": null}}), &u));
        assert!(m("emails.value pr", &a, &u));
        assert!(!m("emails.display pr", &a, &u));
        // Value path on a missing attribute, and not over value paths.
        assert!(!m("ims[type eq \"xmpp\"]", &b, &u));
        assert!(m("not (ims[type eq \"xmpp\"])", &b, &u));
        assert!(m("emails[not (type eq \"work\")]", &a, &u));
        assert!(!m("emails[not (type eq \"work\")]", &b, &u));
        // Multi-valued: any element.
        assert!(m("emails.type eq \"home\"", &a, &u));
        assert!(m("emails.type ne \"home\"", &a, &u));
        assert!(!m("emails.type ne \"work\"", &b, &u));
        // Element matching for PATCH.
        let inner = parse("type eq \"work\"");
        let emails = a["emails"].as_array().unwrap();
        let hits: Vec<bool> = emails.iter().map(|e| matches_element(&inner, e, &p("emails"), &u).unwrap()).collect();
        assert_eq!(hits, vec![true, false]);
    }

    #[test]
    fn unknown_attributes_are_errors() {
        let u = user();
        let a = alice();
        for (f, name) in [
            ("nope eq \"x\"", "nope"),
            ("name.nope eq \"x\"", "name.nope"),
            ("emails[nope eq \"x\"]", "emails.nope"),
            ("urn:x:y:z eq \"x\"", "urn:x:y:z"),
            ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope pr", "nope"),
        ] {
            let parsed = parse(f);
            let e = validate(&parsed, &u).expect_err(f);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
            assert!(e.detail.contains(name), "{f}: {}", e.detail);
            let e = matches(&parsed, &a, &u).expect_err(f);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        }
    }

    #[test]
    fn validation_of_operators_and_values() {
        let u = user();
        let ok = |f: &str| validate(&parse(f), &u).unwrap_or_else(|e| panic!("{f}: {e}"));
        let bad = |f: &str, needle: &str| {
            let e = validate(&parse(f), &u).expect_err(f);
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
            assert_eq!(e.status, 400);
            assert!(e.detail.contains(needle), "{f}: {}", e.detail);
        };
        ok("active eq true");
        ok("active ne false");
        ok("active eq null");
        ok("loginCount gt 5");
        ok("score ge 1");
        ok("score ge 1.5");
        ok("certificate eq \"TUlJ\"");
        ok("profileUrl sw \"https://\"");
        ok("emails co \"@x\"");
        ok("emails[type eq \"work\"]");
        ok("meta.lastModified gt \"2011-05-13T04:42:34Z\"");
        ok("id eq \"x\"");
        bad("active gt true", "boolean");
        bad("active lt false", "boolean");
        bad("certificate ge \"a\"", "binary");
        bad("certificate co \"a\"", "binary");
        bad("active co \"t\"", "co");
        bad("loginCount sw \"1\"", "integer");
        bad("meta.lastModified co \"2011\"", "dateTime");
        bad("active eq \"true\"", "true or false");
        bad("loginCount eq \"5\"", "integer");
        bad("loginCount eq 1.5", "integer");
        bad("score eq \"1\"", "number");
        bad("userName eq 5", "string");
        bad("userName eq true", "string");
        bad("meta.lastModified gt 5", "date-time");
        bad("userName gt null", "null");
        bad("name eq \"x\"", "sub-attribute");
        bad("userName[value eq \"x\"]", "complex");
        bad("emails[type gt true]", "emails.type");
        // Hand-built trees that the parser would reject are still caught.
        let nested = vp(p("emails"), vp(p("emails"), Filter::Present(p("type"))));
        assert!(validate(&nested, &u).is_err());
        assert!(matches(&nested, &alice(), &u).is_err());
        let with_sub = vp(ps("emails", "value"), Filter::Present(p("type")));
        assert!(validate(&with_sub, &u).is_err());
    }

    #[test]
    fn values_at_for_sorting() {
        let u = user();
        let a = alice();
        let vals = |s: &str| values_at(&a, &parse_attr_path(s).unwrap(), &u);
        assert_eq!(vals("userName"), vec![&json!("Alice@Contoso.com")]);
        assert_eq!(vals("USERNAME"), vec![&json!("Alice@Contoso.com")]);
        assert_eq!(vals("name.familyName"), vec![&json!("O'Malley")]);
        assert_eq!(vals("emails.value"), vec![&json!("alice@example.com"), &json!("alice@home.example.org")]);
        assert_eq!(vals("emails"), vec![&json!("alice@example.com"), &json!("alice@home.example.org")]);
        assert_eq!(vals(&format!("{ENT}:employeeNumber")), vec![&json!("701984")]);
        assert_eq!(vals(&format!("{ENT}:manager.displayName")), vec![&json!("Bob")]);
        assert_eq!(vals("meta.created"), vec![&json!("2011-05-13T04:42:34Z")]);
        assert!(vals("displayNameX").is_empty());
        assert!(vals("nickName").is_empty());
        // The primary element comes first.
        let r = json!({"emails": [{"value": "b"}, {"value": "a", "primary": true}]});
        assert_eq!(values_at(&r, &p("emails"), &u), vec![&json!("a"), &json!("b")]);
        assert_eq!(values_at(&r, &ps("emails", "value"), &u), vec![&json!("a"), &json!("b")]);
    }

    // ---- property tests -------------------------------------------------------------------------

    const CORE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn name_strategy() -> BoxedStrategy<String> {
        prop::sample::select(vec![
            "userName", "title", "emails", "name", "active", "x-y_z9", "$ref", "AND", "or", "pr", "eq", "Members",
        ])
        .prop_map(str::to_owned)
        .boxed()
    }

    fn root_path() -> BoxedStrategy<AttrPath> {
        (
            prop::option::of(prop::sample::select(vec![ENT, CORE_URN, "urn:a:b.c"])),
            name_strategy(),
            prop::option::of(prop::sample::select(vec!["value", "familyName", "$ref", "type"])),
        )
            .prop_map(|(urn, name, sub)| AttrPath { urn: urn.map(str::to_owned), name, sub: sub.map(str::to_owned) })
            .boxed()
    }

    fn value_strategy() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<String>().prop_map(Value::String),
            "[a-z\"\\\\/ é😀\\t\\n\\u{0}\\u{1f}()\\[\\]]{0,10}".prop_map(Value::String),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (any::<bool>(), 0u32..100_000, 0u32..1000).prop_map(|(neg, i, f)| {
                let text = format!("{}{i}.{f}", if neg { "-" } else { "" });
                Value::Number(text.parse::<Number>().expect("decimal"))
            }),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ]
    }

    fn op_strategy() -> impl Strategy<Value = CompareOp> {
        prop::sample::select(vec![
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ])
    }

    fn leaf(path: BoxedStrategy<AttrPath>) -> BoxedStrategy<Filter> {
        prop_oneof![
            path.clone().prop_map(Filter::Present),
            (path, op_strategy(), value_strategy()).prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
        ]
        .boxed()
    }

    fn logic(inner: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
        inner
            .prop_recursive(depth, 24, 2, |f| {
                prop_oneof![
                    (f.clone(), f.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                    (f.clone(), f.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                    f.prop_map(|a| Filter::Not(Box::new(a))),
                ]
            })
            .boxed()
    }

    fn filter_strategy() -> impl Strategy<Value = Filter> {
        let rel = name_strategy().prop_map(AttrPath::simple).boxed();
        let value_path = (name_strategy().prop_map(AttrPath::simple), logic(leaf(rel), 3))
            .prop_map(|(p, inner)| Filter::ValuePath(p, Box::new(inner)))
            .boxed();
        let root_leaf = prop_oneof![3 => leaf(root_path()), 1 => value_path].boxed();
        logic(root_leaf, 4)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = parse_filter(&s);
            let _ = parse_patch_path(&s);
            let _ = parse_attr_path(&s);
        }

        #[test]
        fn filterish_strings_never_panic(s in "[a-zA-Z0-9 \"()\\[\\].:$\\\\_-]{0,80}") {
            let _ = parse_filter(&s);
            let _ = parse_patch_path(&s);
            let _ = parse_attr_path(&s);
            if let Ok(f) = parse_filter(&s) {
                prop_assert_eq!(parse_filter(&f.to_string()), Ok(f.clone()));
                let _ = validate(&f, &user());
                let _ = matches(&f, &alice(), &user());
            }
        }

        #[test]
        fn display_round_trips(f in filter_strategy()) {
            let text = f.to_string();
            prop_assert_eq!(parse_filter(&text), Ok(f), "text: {}", text);
        }

        #[test]
        fn evaluation_never_panics(f in filter_strategy()) {
            let u = user();
            let _ = validate(&f, &u);
            let _ = matches(&f, &alice(), &u);
            let _ = matches(&f, &bob(), &u);
            let _ = matches(&f, &json!(null), &u);
        }

        #[test]
        fn patch_path_round_trips(name in name_strategy(), inner in logic(leaf(name_strategy().prop_map(AttrPath::simple).boxed()), 3),
                                  sub in prop::option::of(name_strategy())) {
            let pp = PatchPath::ValuePath { attr: AttrPath::simple(name), filter: inner, sub };
            prop_assert_eq!(parse_patch_path(&pp.to_string()), Ok(pp));
        }
    }
}
