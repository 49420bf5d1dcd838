//! Small text helpers of the page: the HTML escaper every untrusted string goes through, numbers with
//! thousands separators, clipping, dates, the only links the page makes (Learn URLs, R7), and the row
//! fields (label, UPN, department) the tables and filters read.

use std::borrow::Cow;
use std::fmt::{self, Display, Write as _};

use super::super::model::{CatalogItem, LEARN_SITE, Row};

/// HTML-escapes text and attribute values (`& < > " '`).
pub(super) struct Esc<'s>(pub(super) &'s str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut last = 0;
        for (i, b) in s.bytes().enumerate() {
            let rep = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&s[last..i])?;
            f.write_str(rep)?;
            last = i + 1;
        }
        f.write_str(&s[last..])
    }
}

/// An integer with thousands separators.
pub(super) struct Num(pub(super) i64);

pub(super) fn nu(v: usize) -> Num {
    Num(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            f.write_char('-')?;
        }
        let digits = self.0.unsigned_abs().to_string();
        let len = digits.len();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (len - i).is_multiple_of(3) {
                f.write_char(',')?;
            }
            f.write_char(c)?;
        }
        Ok(())
    }
}

/// `part / whole` in percent (0 when `whole` is 0).
pub(super) fn pct(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

/// The first `max` characters of `s`, and whether it was cut.
pub(super) fn clip(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((i, _)) => (&s[..i], true),
        None => (s, false),
    }
}

/// `YYYY-MM-DD` at the start of `s` (a date or an RFC 3339 timestamp).
pub(super) fn date_part(s: &str) -> Option<&str> {
    let d = s.trim().get(..10)?;
    let ok = d.bytes().enumerate().all(|(i, c)| if i == 4 || i == 7 { c == b'-' } else { c.is_ascii_digit() });
    ok.then_some(d)
}

/// The link target for a catalog URL: absolute `https://learn.microsoft.com/…` URLs as they are,
/// site-relative ones (`/training/…`, R7) on [`LEARN_SITE`]; anything else is not linked.
pub(super) fn learn_href(url: &str) -> Option<Cow<'_, str>> {
    let u = url.trim();
    if u.starts_with("https://learn.microsoft.com/") {
        Some(Cow::Borrowed(u))
    } else if u.starts_with('/') && !u.starts_with("//") && !u.starts_with("/\\") {
        Some(Cow::Owned(format!("{LEARN_SITE}{u}")))
    } else {
        None
    }
}

/// A title, linked when its URL is a Learn one (new tab); a URL that isn't stays a tooltip.
pub(super) fn push_link(out: &mut String, title: &str, url: Option<&str>) {
    match url.and_then(learn_href) {
        Some(href) => {
            w!(out, "<a href=\"{}\" target=\"_blank\" rel=\"noopener\">{}</a>", Esc(&href), Esc(title))
        }
        None => match url {
            Some(u) if !u.trim().is_empty() => w!(out, "<span title=\"{}\">{}</span>", Esc(u), Esc(title)),
            _ => w!(out, "{}", Esc(title)),
        },
    }
}

/// The key a filter value is compared on: trimmed, lower case, no `|` (the list separator).
pub(super) fn tag_key(s: &str) -> String {
    s.trim().to_lowercase().replace('|', "/")
}

pub(super) fn item_title<'c>(item: Option<&'c CatalogItem>, uid: &'c str) -> &'c str {
    match item {
        Some(i) if !i.title.trim().is_empty() => &i.title,
        _ => uid,
    }
}

pub(super) fn item_url(item: Option<&CatalogItem>) -> Option<&str> {
    item.and_then(|i| i.url.as_deref())
}

pub(super) fn duration(minutes: Option<i64>) -> String {
    match minutes {
        Some(m) if m > 0 => match (m / 60, m % 60) {
            (0, m) => format!("{m} min"),
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        _ => "—".to_owned(),
    }
}

pub(super) fn opt_text(out: &mut String, v: Option<&str>) {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => w!(out, "{}", Esc(s)),
        None => out.push('—'),
    }
}

/// Distinct, sorted uids.
pub(super) fn sorted_uids<'l>(it: impl Iterator<Item = &'l str>) -> Vec<&'l str> {
    let mut v: Vec<&str> = it.collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub(super) fn label<'x>(row: &'x Row<'_>) -> &'x str {
    if row.label.trim().is_empty() { &row.learner.user_id } else { &row.label }
}

pub(super) fn upn<'x>(row: &'x Row<'_>) -> Option<&'x str> {
    row.identity.as_ref().and_then(|i| i.user_principal_name.as_deref())
}

pub(super) fn department<'x>(row: &'x Row<'_>) -> Option<&'x str> {
    row.identity.as_ref().and_then(|i| i.department.as_deref()).filter(|d| !d.trim().is_empty())
}
