//! The detail tables every page shares: a capped, filterable, sortable `<table>` and its rows, whose
//! `data-*` attributes are what the client-side filters compare (lower case, `|`-separated lists).

use std::fmt::Write as _;

use super::super::model::{CatalogItem, Row};
use super::MAX_TABLE_ROWS;
use super::text::{Esc, department, label, nu, tag_key, upn};

/// `<tr …>` with the attributes the filters read: `data-dept`, `data-products`, `data-roles` (lower case,
/// `|`-separated with a leading and trailing `|`) and `data-q` (name and UPN, lower case).
pub(super) fn tr_open<'x>(
    out: &mut String,
    row: &Row<'_>,
    class: &str,
    products: impl IntoIterator<Item = &'x str>,
    roles: impl IntoIterator<Item = &'x str>,
) {
    out.push_str("<tr");
    let mut classes = String::new();
    if !class.is_empty() {
        classes.push_str(class);
    }
    if !row.matched {
        classes.push_str(" unmatched");
    } else if row.identity.as_ref().is_some_and(|i| !i.account_enabled) {
        classes.push_str(" disabled");
    }
    if !classes.is_empty() {
        w!(out, " class=\"{}\"", classes.trim());
    }
    w!(out, " data-dept=\"{}\"", Esc(&department(row).map(tag_key).unwrap_or_default()));
    for (name, values) in
        [("products", products.into_iter().collect::<Vec<_>>()), ("roles", roles.into_iter().collect())]
    {
        w!(out, " data-{name}=\"|");
        for v in values.into_iter().filter(|v| !v.trim().is_empty()) {
            w!(out, "{}|", Esc(&tag_key(v)));
        }
        out.push('"');
    }
    let mut q = label(row).to_lowercase();
    if let Some(u) = upn(row) {
        q.push(' ');
        q.push_str(&u.to_lowercase());
    }
    w!(out, " data-q=\"{}\">", Esc(&q));
}

/// The learner's name (`<th scope=row>`); unmatched rows show the pseudonym and "not in Entra".
pub(super) fn name_cell(out: &mut String, row: &Row<'_>) {
    w!(out, "<th scope=\"row\" title=\"Learn userId {}\">{}", Esc(&row.learner.user_id), Esc(label(row)));
    if !row.matched {
        out.push_str(" <span class=\"tag warn\">not in Entra</span>");
    }
    out.push_str("</th>");
}

/// A column: header text and whether it is numeric (right-aligned, sorted as numbers).
pub(super) struct Col(pub(super) &'static str, pub(super) bool);

pub(super) struct Table {
    pub(super) id: &'static str,
    pub(super) title: &'static str,
    pub(super) unit: &'static str,
    pub(super) empty: &'static str,
    pub(super) cols: &'static [Col],
}

/// A capped, filterable, sortable table; `body` writes at most [`MAX_TABLE_ROWS`] rows.
pub(super) fn table(out: &mut String, t: &Table, total: usize, body: impl FnOnce(&mut String)) {
    let shown = total.min(MAX_TABLE_ROWS);
    w!(out, "<div class=\"block\"><div class=\"block-head\"><h3 id=\"{}-h\">{}</h3>", t.id, t.title);
    if total == 0 {
        w!(out, "</div><p class=\"empty\">{}</p></div>", t.empty);
        return;
    }
    w!(out, "<p class=\"count\" id=\"{}-count\" data-unit=\"{}\">{} {}</p></div>", t.id, t.unit, nu(shown), t.unit);
    if total > shown {
        w!(
            out,
            "<p class=\"cap\">Showing the first {} of {} {} — export the full tables with \
             <code>gateway report export</code>. Filters apply to the rows shown.</p>",
            nu(shown),
            nu(total),
            t.unit
        );
    }
    w!(
        out,
        "<div class=\"scroll\"><table id=\"{}\" class=\"filterable sortable\" aria-labelledby=\"{}-h\"><thead><tr>",
        t.id,
        t.id
    );
    for c in t.cols {
        w!(
            out,
            "<th scope=\"col\"{}><button type=\"button\">{}</button></th>",
            if c.1 { " class=\"num\"" } else { "" },
            c.0
        );
    }
    out.push_str("</tr></thead><tbody>");
    body(out);
    out.push_str("</tbody></table></div></div>");
}

pub(super) fn products_of(item: Option<&CatalogItem>) -> impl Iterator<Item = &str> {
    item.into_iter().flat_map(|i| i.products.iter().map(String::as_str))
}

pub(super) fn roles_of(item: Option<&CatalogItem>) -> impl Iterator<Item = &str> {
    item.into_iter().flat_map(|i| i.roles.iter().map(String::as_str))
}
