//! The filter and PATCH-path syntax tree (RFC 7644 §3.4.2.2, §3.5.2) and its canonical text form.
//!
//! `Display` prints a tree so that parsing the text gives the same tree back (operators lower-case,
//! parentheses only where precedence needs them); the parser's property tests rely on that.
//! The Microsoft Entra form `emails[type eq "work"].value eq "x"` is held as
//! `ValuePath(emails, And(type eq "work", value eq "x"))` and prints as `emails[type eq "work" and value eq "x"]`.

use std::fmt;

use serde_json::Value;

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

    pub(super) fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le)
    }

    pub(super) fn is_substring(self) -> bool {
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

    /// The value filter as a stand-alone [`Filter::ValuePath`] (e.g. for [`validate`](super::validate)).
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
