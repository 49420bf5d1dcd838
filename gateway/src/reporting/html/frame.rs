//! The page frame around the tabs: `<head>` with the inline style sheet, the header with the tenant
//! and snapshot counts, the tab bar, the filter bar, and the footer describing the snapshot.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::model::Report;
use super::text::{Esc, department, nu, opt_text, pct, tag_key};
use super::{CSS, Ctx, MAX_TABLE_ROWS};

pub(super) fn head(out: &mut String, r: &Report<'_>) {
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><meta name=\"color-scheme\" content=\"light dark\">",
    );
    w!(out, "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">", super::page_policy());
    w!(out, "<title>Microsoft Learn report — {}</title><style>", Esc(&r.tenant));
    out.push_str(CSS);
    out.push_str("</style></head>");
}

pub(super) fn header(out: &mut String, r: &Report<'_>) {
    let s = &r.summary;
    let snap = r.snapshot;
    let unmatched = s.learn_users.saturating_sub(s.matched);
    w!(
        out,
        "<header class=\"top\"><div><h1>Microsoft Learn activity <span class=\"tenant\">{}</span></h1>\
         <p class=\"meta\">Snapshot loaded <time datetime=\"{}\">{}</time> from <code>{}</code></p></div>",
        Esc(&r.tenant),
        Esc(snap.loaded_at.trim()),
        Esc(&snap.loaded_at.trim().replacen('T', " ", 1)),
        Esc(&snap.source)
    );
    w!(
        out,
        "<dl class=\"counts\"><div><dt>Learn users</dt><dd>{}</dd></div>\
         <div><dt>Matched to Entra</dt><dd>{} <small>{:.0}%</small></dd></div>\
         <div><dt>Not in Entra</dt><dd>{}</dd></div></dl></header>",
        nu(s.learn_users),
        nu(s.matched),
        pct(s.matched, s.learn_users),
        nu(unmatched)
    );
}

const TABS: [(&str, &str); 5] = [
    ("high-level", "High level"),
    ("paths", "Learning paths"),
    ("modules", "Modules"),
    ("certifications", "Certifications"),
    ("learners", "Learners"),
];

pub(super) fn nav(out: &mut String) {
    out.push_str("<nav class=\"tabs\" aria-label=\"Report pages\">");
    for (id, title) in TABS {
        w!(out, "<a href=\"#{id}\">{title}</a>");
    }
    out.push_str("</nav>");
}

pub(super) fn section_open(out: &mut String, id: &str) {
    let title = TABS.iter().find(|t| t.0 == id).map_or(id, |t| t.1);
    w!(out, "<section id=\"{id}\" class=\"tab\" aria-labelledby=\"{id}-title\"><h2 id=\"{id}-title\">{title}</h2>");
}

pub(super) fn filters(out: &mut String, ctx: &Ctx<'_, '_>) {
    let mut depts: BTreeMap<String, &str> = BTreeMap::new();
    for row in &ctx.report.rows {
        if let Some(d) = department(row) {
            depts.entry(tag_key(d)).or_insert(d.trim());
        }
    }
    let mut products: BTreeMap<String, &str> = BTreeMap::new();
    let mut roles: BTreeMap<String, &str> = BTreeMap::new();
    let c = ctx.cat;
    for item in
        c.modules.values().chain(c.paths.values()).chain(c.certifications.values()).chain(c.applied_skills.values())
    {
        for p in item.products.iter().filter(|p| !p.trim().is_empty()) {
            products.entry(tag_key(p)).or_insert(p.trim());
        }
        for p in item.roles.iter().filter(|p| !p.trim().is_empty()) {
            roles.entry(tag_key(p)).or_insert(p.trim());
        }
    }
    out.push_str("<div class=\"filters\" role=\"search\" aria-label=\"Filter the tables\">");
    for (id, name, opts, extra) in [
        ("f-dept", "Department", &depts, "<option value=\"~none\">(none / not in Entra)</option>"),
        ("f-product", "Product", &products, ""),
        ("f-role", "Role", &roles, ""),
    ] {
        w!(out, "<label>{name}<select id=\"{id}\"><option value=\"\">All</option>{extra}");
        for (key, text) in opts {
            w!(out, "<option value=\"{}\">{}</option>", Esc(key), Esc(text));
        }
        out.push_str("</select></label>");
    }
    let shown = ctx.report.rows.len().min(MAX_TABLE_ROWS);
    w!(
        out,
        "<label class=\"grow\">Search<input id=\"f-q\" type=\"search\" placeholder=\"Name or UPN\" autocomplete=\"off\">\
         </label><button type=\"button\" id=\"f-reset\">Reset</button>\
         <output id=\"f-count\" aria-live=\"polite\">{} learners</output>\
         <p class=\"note\">Filters apply to the table rows shown; charts show the whole tenant.</p></div>",
        nu(shown)
    );
}

pub(super) fn footer(out: &mut String, ctx: &Ctx<'_, '_>) {
    let snap = ctx.report.snapshot;
    let c = ctx.cat;
    out.push_str("<footer><h2>About this snapshot</h2><dl class=\"about\">");
    w!(out, "<div><dt>Tenant</dt><dd>{}</dd></div>", Esc(&ctx.report.tenant));
    w!(out, "<div><dt>Loaded</dt><dd>{}", Esc(&snap.loaded_at));
    if snap.stats.millis > 0 {
        w!(out, " (took {} ms)", nu(snap.stats.millis as usize));
    }
    out.push_str("</dd></div>");
    w!(out, "<div><dt>Source</dt><dd><code>{}</code></dd></div>", Esc(&snap.source));
    w!(
        out,
        "<div><dt>Catalog</dt><dd>{} modules, {} learning paths, {} certifications, {} applied skills, {} units</dd></div>",
        nu(c.modules.len()),
        nu(c.paths.len()),
        nu(c.certifications.len()),
        nu(c.applied_skills.len()),
        nu(c.units)
    );
    if snap.stats.orphan_rows > 0 {
        w!(
            out,
            "<div><dt>Orphan rows</dt><dd>{} rows whose userId is not in Users (not in the report)</dd></div>",
            nu(snap.stats.orphan_rows as usize)
        );
    }
    out.push_str("</dl>");
    if !snap.stats.rows.is_empty() {
        out.push_str(
            "<div class=\"scroll short\"><table><caption>Datasets read</caption><thead><tr><th scope=\"col\">Dataset</th>\
             <th scope=\"col\" class=\"num\">Rows</th><th scope=\"col\">File</th></tr></thead><tbody>",
        );
        for (name, rows) in &snap.stats.rows {
            w!(out, "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td>", Esc(name), nu(*rows as usize));
            opt_text(out, snap.stats.files.get(name).map(String::as_str));
            out.push_str("</td></tr>");
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str(
        "<p class=\"note\">Badges and trophies count from 2017-10-01 on, as in the Power BI template. Detail tables \
         show at most 2,000 rows each; <code>gateway report export</code> writes them all.</p></footer>",
    );
}
