//! Parser for filters, PATCH paths and bare attribute paths: text (already URL-decoded) to the [`ast`](super::ast)
//! types, or a 400 `invalidFilter` / `invalidPath` whose detail names the character position, what was
//! expected and what was found. It never panics.
//!
//! Hand-written on purpose. It is a recursive descent that enforces this gateway's own limits on hostile
//! input: at most [`MAX_FILTER_LEN`] (8192) bytes of text, checked before parsing starts; at most
//! [`MAX_FILTER_DEPTH`] (32) levels of `(…)`, `not (…)` and `[…]` nesting, checked before each descent;
//! at most [`MAX_FILTER_TERMS`] (200) attribute expressions, value paths included. Its error texts are
//! this project's own (`invalid filter: expected …, found '…' (at character N)`) and the tests pin them.
//! Property tests (`tests.rs`) check that arbitrary text never panics and that `parse(display(ast)) == ast`.
//! A crate (`scim_v2`) was considered; adopting it would replace these limits and error texts with its own.
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
//! Known limitation: an attribute literally named `not` cannot be used in a filter (the keyword wins).

use serde_json::{Number, Value};

use super::ast::{AttrPath, CompareOp, Filter, PatchPath};
use crate::scim::error::{ScimError, ScimResult};

/// Longest accepted filter (bytes).
pub const MAX_FILTER_LEN: usize = 8192;
/// Deepest accepted nesting of `(…)`, `not (…)` and `[…]`.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most attribute expressions (including value paths) in one filter.
pub const MAX_FILTER_TERMS: usize = 200;

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
