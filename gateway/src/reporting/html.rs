//! The report as one self-contained HTML5 page (`gateway report html`): inline CSS, inline SVG charts and a
//! small inline script, no external resource of any kind, so it works offline and from a file. The pages
//! follow the Power BI template (`shared/spec/targets.md` §3.4): High level, Learning paths, Modules,
//! Certifications, plus a Learners table (one row per report row, R3/R4).
//!
//! Every string from Entra or the datasets is HTML-escaped (text and attributes); only
//! `https://learn.microsoft.com/...` URLs (or site-relative ones, R7) become links. Detail tables are capped at
//! [`MAX_TABLE_ROWS`] rows each (the export has them all), so a tenant of 100,000 learners renders in well
//! under a second. Filters (department, product, role, name/UPN search) run client side on the rows shown;
//! the charts always show the whole tenant.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{self, Display, Write as _};

use super::model::{Catalog, CatalogItem, LEARN_SITE, Ranked, Report, Row, Started};

/// Rows shown per detail table (and in the Learners table).
pub const MAX_TABLE_ROWS: usize = 2_000;
/// Entries of the "most …" charts.
const TOP_N: usize = 10;
/// Products in the "completion by product" chart.
const MAX_PRODUCTS: usize = 15;

/// `write!` into a `String` cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// Renders the report as one HTML page.
pub fn render(report: &Report<'_>) -> String {
    let shown = report.rows.len().min(MAX_TABLE_ROWS);
    let mut out = String::with_capacity(64 * 1024 + shown * 2_400);
    let ctx = Ctx { report, cat: &report.snapshot.catalog, today: date_part(&report.snapshot.loaded_at) };
    head(&mut out, report);
    out.push_str("<body><a class=\"skip\" href=\"#main\">Skip to content</a>");
    header(&mut out, report);
    nav(&mut out);
    filters(&mut out, &ctx);
    out.push_str("<main id=\"main\">");
    high_level(&mut out, &ctx);
    paths_tab(&mut out, &ctx);
    modules_tab(&mut out, &ctx);
    certifications_tab(&mut out, &ctx);
    learners_tab(&mut out, &ctx);
    out.push_str("</main>");
    footer(&mut out, &ctx);
    out.push_str("<script>");
    out.push_str(SCRIPT);
    out.push_str("</script></body></html>\n");
    out
}

struct Ctx<'r, 'a> {
    report: &'r Report<'a>,
    cat: &'a Catalog,
    /// The snapshot's date: certifications that ended before it are expired (deterministic, no clock).
    today: Option<&'a str>,
}

// ---------------------------------------------------------------------------------------------------------
// Small formatting helpers

/// HTML-escapes text and attribute values (`& < > " '`).
struct Esc<'s>(&'s str);

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
struct Num(i64);

fn nu(v: usize) -> Num {
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
fn pct(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

/// The first `max` characters of `s`, and whether it was cut.
fn clip(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((i, _)) => (&s[..i], true),
        None => (s, false),
    }
}

/// `YYYY-MM-DD` at the start of `s` (a date or an RFC 3339 timestamp).
fn date_part(s: &str) -> Option<&str> {
    let d = s.trim().get(..10)?;
    let ok = d.bytes().enumerate().all(|(i, c)| if i == 4 || i == 7 { c == b'-' } else { c.is_ascii_digit() });
    ok.then_some(d)
}

/// The link target for a catalog URL: absolute `https://learn.microsoft.com/…` URLs as they are,
/// site-relative ones (`/training/…`, R7) on [`LEARN_SITE`]; anything else is not linked.
fn learn_href(url: &str) -> Option<Cow<'_, str>> {
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
fn push_link(out: &mut String, title: &str, url: Option<&str>) {
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
fn tag_key(s: &str) -> String {
    s.trim().to_lowercase().replace('|', "/")
}

fn item_title<'c>(item: Option<&'c CatalogItem>, uid: &'c str) -> &'c str {
    match item {
        Some(i) if !i.title.trim().is_empty() => &i.title,
        _ => uid,
    }
}

fn item_url(item: Option<&CatalogItem>) -> Option<&str> {
    item.and_then(|i| i.url.as_deref())
}

fn duration(minutes: Option<i64>) -> String {
    match minutes {
        Some(m) if m > 0 => match (m / 60, m % 60) {
            (0, m) => format!("{m} min"),
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        _ => "—".to_owned(),
    }
}

fn opt_text(out: &mut String, v: Option<&str>) {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => w!(out, "{}", Esc(s)),
        None => out.push('—'),
    }
}

/// Distinct, sorted uids.
fn sorted_uids<'l>(it: impl Iterator<Item = &'l str>) -> Vec<&'l str> {
    let mut v: Vec<&str> = it.collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn label<'x>(row: &'x Row<'_>) -> &'x str {
    if row.label.trim().is_empty() { &row.learner.user_id } else { &row.label }
}

fn upn<'x>(row: &'x Row<'_>) -> Option<&'x str> {
    row.identity.as_ref().and_then(|i| i.user_principal_name.as_deref())
}

fn department<'x>(row: &'x Row<'_>) -> Option<&'x str> {
    row.identity.as_ref().and_then(|i| i.department.as_deref()).filter(|d| !d.trim().is_empty())
}

// ---------------------------------------------------------------------------------------------------------
// Table rows: the filter attributes and the name cell

/// `<tr …>` with the attributes the filters read: `data-dept`, `data-products`, `data-roles` (lower case,
/// `|`-separated with a leading and trailing `|`) and `data-q` (name and UPN, lower case).
fn tr_open<'x>(
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
fn name_cell(out: &mut String, row: &Row<'_>) {
    w!(out, "<th scope=\"row\" title=\"Learn userId {}\">{}", Esc(&row.learner.user_id), Esc(label(row)));
    if !row.matched {
        out.push_str(" <span class=\"tag warn\">not in Entra</span>");
    }
    out.push_str("</th>");
}

/// A column: header text and whether it is numeric (right-aligned, sorted as numbers).
struct Col(&'static str, bool);

struct Table {
    id: &'static str,
    title: &'static str,
    unit: &'static str,
    empty: &'static str,
    cols: &'static [Col],
}

/// A capped, filterable, sortable table; `body` writes at most [`MAX_TABLE_ROWS`] rows.
fn table(out: &mut String, t: &Table, total: usize, body: impl FnOnce(&mut String)) {
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

// ---------------------------------------------------------------------------------------------------------
// Page frame

fn head(out: &mut String, r: &Report<'_>) {
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
         script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\
         <meta name=\"referrer\" content=\"no-referrer\"><meta name=\"color-scheme\" content=\"light dark\">",
    );
    w!(out, "<title>Microsoft Learn report — {}</title><style>", Esc(&r.tenant));
    out.push_str(CSS);
    out.push_str("</style></head>");
}

fn header(out: &mut String, r: &Report<'_>) {
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

fn nav(out: &mut String) {
    out.push_str("<nav class=\"tabs\" aria-label=\"Report pages\">");
    for (id, title) in TABS {
        w!(out, "<a href=\"#{id}\">{title}</a>");
    }
    out.push_str("</nav>");
}

fn section_open(out: &mut String, id: &str) {
    let title = TABS.iter().find(|t| t.0 == id).map_or(id, |t| t.1);
    w!(out, "<section id=\"{id}\" class=\"tab\" aria-labelledby=\"{id}-title\"><h2 id=\"{id}-title\">{title}</h2>");
}

fn filters(out: &mut String, ctx: &Ctx<'_, '_>) {
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

fn footer(out: &mut String, ctx: &Ctx<'_, '_>) {
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

// ---------------------------------------------------------------------------------------------------------
// High level: KPI tiles and SVG charts

fn kpi(out: &mut String, class: &str, value: impl Display, label: &str, sub: &str) {
    w!(out, "<div class=\"kpi {class}\"><span class=\"v\">{value}</span><span class=\"l\">{label}</span>");
    if !sub.is_empty() {
        w!(out, "<span class=\"s\">{sub}</span>");
    }
    out.push_str("</div>");
}

fn high_level(out: &mut String, ctx: &Ctx<'_, '_>) {
    let r = ctx.report;
    let s = &r.summary;
    section_open(out, "high-level");
    out.push_str("<div class=\"kpis\">");
    kpi(out, "user", nu(s.active_learners), "users active on Learn", &format!("of {} Learn users", nu(s.learn_users)));
    let rate = if s.module_completion_rate.is_finite() { s.module_completion_rate * 100.0 } else { 0.0 };
    kpi(out, "mod", format_args!("{rate:.1}%"), "module completion rate", "badges ÷ modules started");
    kpi(out, "mod", nu(s.badges), "badges", "modules completed");
    kpi(out, "path", nu(s.trophies), "trophies", "learning paths completed");
    kpi(out, "cert", nu(s.certifications), "certifications", "");
    kpi(out, "cert", nu(s.applied_skills), "applied skills", "");
    out.push_str("</div><p class=\"note\">Charts show the whole tenant; the filters apply to the tables.</p>");

    out.push_str("<div class=\"grid\">");
    funnel(
        out,
        &[
            ("Modules started", s.modules_started, "start"),
            ("Badges", s.badges, "mod"),
            ("Trophies", s.trophies, "path"),
        ],
    );
    out.push_str("<figure class=\"card\"><figcaption>Who has completed something</figcaption><div class=\"donuts\">");
    donut(out, "mod", "a module", s.users_with_module, s.learn_users);
    donut(out, "path", "a learning path", s.users_with_path, s.learn_users);
    out.push_str("</div></figure>");

    hbars(out, "c-u-mod", "Users with most module completions", "mod", &top(&r.top_users_modules, false));
    hbars(out, "c-u-path", "Users with most learning path completions", "path", &top(&r.top_users_paths, false));
    hbars(out, "c-u-cred", "Users with most credentials", "cert", &top(&r.top_users_credentials, false));
    hbars(out, "c-mod", "Most completed modules", "mod", &top(&r.top_modules, true));
    hbars(out, "c-path", "Most completed learning paths", "path", &top(&r.top_paths, true));
    hbars(out, "c-cert", "Most earned certifications", "cert", &top(&r.top_certifications, true));
    product_bars(out, &r.by_product);
    out.push_str("</div></section>");
}

/// The first [`TOP_N`] of a ranked list as bars (users have no URL; catalog items may).
fn top(ranked: &[Ranked], with_urls: bool) -> Vec<Bar<'_>> {
    ranked
        .iter()
        .take(TOP_N)
        .map(|x| Bar { label: &x.title, url: x.url.as_deref().filter(|_| with_urls), value: x.count })
        .collect()
}

struct Bar<'x> {
    label: &'x str,
    url: Option<&'x str>,
    value: usize,
}

/// Modules started → badges → trophies as a centred horizontal funnel.
fn funnel(out: &mut String, stages: &[(&str, usize, &str)]) {
    const ROW: f64 = 58.0;
    const BH: f64 = 36.0;
    const CX: f64 = 420.0;
    const MAXW: f64 = 420.0;
    let max = stages.iter().map(|s| s.1).max().unwrap_or(0).max(1) as f64;
    let h = ROW * stages.len() as f64;
    out.push_str("<figure class=\"card\"><figcaption id=\"c-funnel\">Learning funnel</figcaption>");
    w!(
        out,
        "<svg class=\"chart funnel\" viewBox=\"0 0 640 {h}\" role=\"img\" aria-labelledby=\"c-funnel c-funnel-d\">"
    );
    out.push_str("<desc id=\"c-funnel-d\">");
    for (i, (name, v, _)) in stages.iter().enumerate() {
        w!(out, "{}{name}: {}", if i > 0 { ", " } else { "" }, nu(*v));
    }
    out.push_str("</desc>");
    let mut prev: Option<(f64, f64, f64)> = None; // x, width, bottom
    for (i, (name, v, class)) in stages.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let bw = (*v as f64 / max * MAXW).max(2.0);
        let x = CX - bw / 2.0;
        w!(out, "<g class=\"{class}\">");
        if let Some((px, pw, pb)) = prev {
            w!(
                out,
                "<polygon class=\"conn\" points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\"/>",
                px,
                pb,
                px + pw,
                pb,
                x + bw,
                y,
                x,
                y
            );
        }
        w!(out, "<rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{BH}\" rx=\"4\"/>");
        w!(out, "<text x=\"0\" y=\"{:.1}\" class=\"strong\">{name}</text>", y + 15.0);
        w!(out, "<text x=\"0\" y=\"{:.1}\" class=\"sub\">{}", y + 32.0, nu(*v));
        if i > 0 {
            let base = stages[i - 1].1;
            w!(out, " · {:.0}% of {}", pct(*v, base), stages[i - 1].0.to_lowercase());
        }
        out.push_str("</text></g>");
        prev = Some((x, bw, y + BH));
    }
    out.push_str("</svg></figure>");
}

/// A donut: users who have completed (`class` colour) vs who haven't.
fn donut(out: &mut String, class: &str, what: &str, yes: usize, total: usize) {
    const R: f64 = 46.0;
    let circ = 2.0 * std::f64::consts::PI * R;
    let share = pct(yes, total);
    let arc = circ * share / 100.0;
    let no = total.saturating_sub(yes);
    w!(
        out,
        "<div class=\"donut {class}\"><svg class=\"chart\" viewBox=\"0 0 120 120\" role=\"img\" \
         aria-label=\"{} of {} users have completed {what} ({share:.0}%)\">\
         <circle class=\"track\" cx=\"60\" cy=\"60\" r=\"{R}\" fill=\"none\" stroke-width=\"16\"/>",
        nu(yes),
        nu(total)
    );
    if yes > 0 {
        w!(
            out,
            "<circle class=\"arc\" cx=\"60\" cy=\"60\" r=\"{R}\" fill=\"none\" stroke-width=\"16\" \
             stroke-dasharray=\"{arc:.2} {circ:.2}\" transform=\"rotate(-90 60 60)\"/>"
        );
    }
    w!(
        out,
        "<text x=\"60\" y=\"66\" text-anchor=\"middle\" class=\"big\">{share:.0}%</text></svg>\
         <ul class=\"legend\"><li><span class=\"sw\"></span>Completed {what}: {}</li>\
         <li class=\"none\"><span class=\"sw\"></span>Not yet: {}</li></ul></div>",
        nu(yes),
        nu(no)
    );
}

/// Horizontal bars with labels (linked when the item has a Learn URL) and values.
fn hbars(out: &mut String, id: &str, caption: &str, class: &str, bars: &[Bar<'_>]) {
    const ROW: f64 = 26.0;
    const X0: f64 = 236.0;
    const BW: f64 = 340.0;
    w!(out, "<figure class=\"card {class}\"><figcaption id=\"{id}\">{caption}</figcaption>");
    if bars.is_empty() {
        out.push_str("<p class=\"empty\">Nothing yet.</p></figure>");
        return;
    }
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let h = ROW * bars.len() as f64 + 4.0;
    w!(out, "<svg class=\"chart\" viewBox=\"0 0 640 {h}\" aria-labelledby=\"{id}\">");
    for (i, b) in bars.iter().enumerate() {
        let y = 2.0 + ROW * i as f64;
        let bw = (b.value as f64 / max * BW).max(2.0);
        let (short, cut) = clip(b.label, 34);
        w!(out, "<g><title>{}: {}</title>", Esc(b.label), nu(b.value));
        let href = b.url.and_then(learn_href);
        if let Some(h) = &href {
            w!(out, "<a href=\"{}\" target=\"_blank\" rel=\"noopener\">", Esc(h));
        }
        w!(
            out,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}{}</text>",
            X0 - 8.0,
            y + 15.0,
            Esc(short),
            if cut { "…" } else { "" }
        );
        if href.is_some() {
            out.push_str("</a>");
        }
        w!(out, "<rect class=\"bar\" x=\"{X0}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"18\" rx=\"3\"/>", y + 1.0);
        w!(out, "<text class=\"val\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>", X0 + bw + 6.0, y + 15.0, nu(b.value));
    }
    out.push_str("</svg></figure>");
}

/// Module and path completions per product (grouped bars), the products with most completions first.
fn product_bars(out: &mut String, by_product: &[(String, usize, usize)]) {
    const GROUP: f64 = 38.0;
    const X0: f64 = 196.0;
    const BW: f64 = 600.0;
    out.push_str(
        "<figure class=\"card wide\"><figcaption id=\"c-prod\">Completion by product</figcaption>\
         <ul class=\"legend inline\"><li class=\"mod\"><span class=\"sw\"></span>Modules completed</li>\
         <li class=\"path\"><span class=\"sw\"></span>Learning paths completed</li></ul>",
    );
    let mut items: Vec<&(String, usize, usize)> = by_product.iter().collect();
    items.sort_by_key(|p| std::cmp::Reverse(p.1 + p.2));
    items.truncate(MAX_PRODUCTS);
    if items.is_empty() {
        out.push_str("<p class=\"empty\">Nothing yet.</p></figure>");
        return;
    }
    let max = items.iter().map(|p| p.1.max(p.2)).max().unwrap_or(0).max(1) as f64;
    let h = GROUP * items.len() as f64 + 4.0;
    w!(out, "<svg class=\"chart\" viewBox=\"0 0 880 {h}\" aria-labelledby=\"c-prod\">");
    for (i, (product, modules, paths)) in items.iter().enumerate() {
        let y = 2.0 + GROUP * i as f64;
        let (short, cut) = clip(product, 28);
        w!(
            out,
            "<g><title>{}: {} modules, {} learning paths</title><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}{}</text>",
            Esc(product),
            nu(*modules),
            nu(*paths),
            X0 - 8.0,
            y + 19.0,
            Esc(short),
            if cut { "…" } else { "" }
        );
        for (j, (v, class)) in [(*modules, "mod"), (*paths, "path")].into_iter().enumerate() {
            let by = y + 1.0 + 16.0 * j as f64;
            let bw = (v as f64 / max * BW).max(if v > 0 { 2.0 } else { 0.5 });
            w!(
                out,
                "<rect class=\"bar {class}\" x=\"{X0}\" y=\"{by:.1}\" width=\"{bw:.1}\" height=\"14\" rx=\"2\"/>\
                 <text class=\"sub\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                X0 + bw + 5.0,
                by + 11.5,
                nu(v)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    if by_product.len() > items.len() {
        w!(
            out,
            "<p class=\"note\">The {} products with most completions of {}.</p>",
            items.len(),
            nu(by_product.len())
        );
    }
    out.push_str("</figure>");
}

// ---------------------------------------------------------------------------------------------------------
// Learning paths

/// Learning path → its distinct modules, and module → the paths it is in.
struct PathIndex<'c> {
    modules: HashMap<&'c str, Vec<&'c str>>,
    paths_of: HashMap<&'c str, Vec<&'c str>>,
}

impl<'c> PathIndex<'c> {
    fn new(cat: &'c Catalog) -> Self {
        let mut modules = HashMap::with_capacity(cat.path_modules.len());
        let mut paths_of: HashMap<&str, Vec<&str>> = HashMap::new();
        for (path, mods) in &cat.path_modules {
            let m = sorted_uids(mods.iter().map(String::as_str));
            for x in &m {
                paths_of.entry(x).or_default().push(path.as_str());
            }
            modules.insert(path.as_str(), m);
        }
        PathIndex { modules, paths_of }
    }
}

fn paths_tab(out: &mut String, ctx: &Ctx<'_, '_>) {
    let rows = &ctx.report.rows;
    let cat = ctx.cat;
    section_open(out, "paths");

    let total = rows.iter().map(|r| r.learner.paths_completed.len()).sum();
    let t = Table {
        id: "t-paths",
        title: "Learning path completions by user",
        unit: "completions",
        empty: "No learning path completed yet.",
        cols: &[Col("Name", false), Col("Learning path", false), Col("Duration", false), Col("Awarded on", false)],
    };
    table(out, &t, total, |out| {
        let entries = rows.iter().flat_map(|r| r.learner.paths_completed.iter().map(move |a| (r, a)));
        for (row, award) in entries.take(MAX_TABLE_ROWS) {
            let item = cat.paths.get(&*award.uid);
            tr_open(out, row, "", products_of(item), roles_of(item));
            name_cell(out, row);
            out.push_str("<td>");
            push_link(out, item_title(item, &award.uid), item_url(item));
            w!(
                out,
                "</td><td>{}</td><td>{}</td></tr>",
                duration(item.and_then(|i| i.duration_minutes)),
                Esc(&award.on)
            );
        }
    });

    // Incomplete paths: some badges of the path's modules, no trophy.
    let index = PathIndex::new(cat);
    let mut entries: Vec<(&Row<'_>, &str, usize)> = Vec::new();
    let mut total = 0;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        let l = row.learner;
        if l.modules_completed.is_empty() {
            continue;
        }
        counts.clear();
        for badge in sorted_uids(l.modules_completed.iter().map(|a| &*a.uid)) {
            for path in index.paths_of.get(badge).into_iter().flatten() {
                *counts.entry(path).or_default() += 1;
            }
        }
        for (path, badges) in &counts {
            if l.paths_completed.iter().any(|a| *a.uid == **path) {
                continue;
            }
            total += 1;
            if entries.len() < MAX_TABLE_ROWS {
                entries.push((row, path, *badges));
            }
        }
    }
    let t = Table {
        id: "t-path-progress",
        title: "Learning paths in progress",
        unit: "paths in progress",
        empty: "No learning path in progress.",
        cols: &[
            Col("Name", false),
            Col("Learning path", false),
            Col("Modules in path", true),
            Col("Started", true),
            Col("Badges", true),
            Col("Progress", true),
        ],
    };
    table(out, &t, total, |out| {
        for (row, path, badges) in entries {
            let item = cat.paths.get(path);
            let modules = index.modules.get(path).map_or(&[][..], Vec::as_slice);
            let l = row.learner;
            let touched = sorted_uids(
                l.modules_started.iter().map(|s| &*s.module).chain(l.modules_completed.iter().map(|a| &*a.uid)),
            );
            let started = modules.iter().filter(|m| touched.binary_search(m).is_ok()).count();
            let progress = pct(badges, modules.len()).min(100.0);
            tr_open(out, row, "", products_of(item), roles_of(item));
            name_cell(out, row);
            out.push_str("<td>");
            push_link(out, item_title(item, path), item_url(item));
            w!(
                out,
                "</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\" data-v=\"{progress:.1}\"><span class=\"progress\"><progress max=\"100\" value=\"{progress:.0}\">\
                 </progress>{progress:.0}%</span></td></tr>",
                nu(modules.len()),
                nu(started),
                nu(badges)
            );
        }
    });
    out.push_str("</section>");
}

fn products_of(item: Option<&CatalogItem>) -> impl Iterator<Item = &str> {
    item.into_iter().flat_map(|i| i.products.iter().map(String::as_str))
}

fn roles_of(item: Option<&CatalogItem>) -> impl Iterator<Item = &str> {
    item.into_iter().flat_map(|i| i.roles.iter().map(String::as_str))
}

// ---------------------------------------------------------------------------------------------------------
// Modules

fn modules_tab(out: &mut String, ctx: &Ctx<'_, '_>) {
    let rows = &ctx.report.rows;
    let cat = ctx.cat;
    section_open(out, "modules");

    let total = rows.iter().map(|r| r.learner.modules_completed.len()).sum();
    let t = Table {
        id: "t-modules",
        title: "Module completions by user",
        unit: "completions",
        empty: "No module completed yet.",
        cols: &[Col("Name", false), Col("Module", false), Col("Awarded on", false)],
    };
    table(out, &t, total, |out| {
        let entries = rows.iter().flat_map(|r| r.learner.modules_completed.iter().map(move |a| (r, a)));
        for (row, award) in entries.take(MAX_TABLE_ROWS) {
            let item = cat.modules.get(&*award.uid);
            tr_open(out, row, "", products_of(item), roles_of(item));
            name_cell(out, row);
            out.push_str("<td>");
            push_link(out, item_title(item, &award.uid), item_url(item));
            w!(out, "</td><td>{}</td></tr>", Esc(&award.on));
        }
    });

    let mut entries: Vec<(&Row<'_>, &Started)> = Vec::new();
    let mut total = 0;
    for row in rows {
        let l = row.learner;
        if l.modules_started.is_empty() {
            continue;
        }
        let badges = sorted_uids(l.modules_completed.iter().map(|a| &*a.uid));
        for s in &l.modules_started {
            if badges.binary_search(&&*s.module).is_err() {
                total += 1;
                if entries.len() < MAX_TABLE_ROWS {
                    entries.push((row, s));
                }
            }
        }
    }
    let t = Table {
        id: "t-modules-started",
        title: "Modules started, not completed",
        unit: "modules in progress",
        empty: "No module in progress.",
        cols: &[Col("Name", false), Col("Module", false), Col("Completed units", true)],
    };
    table(out, &t, total, |out| {
        for (row, s) in entries {
            let item = cat.modules.get(&*s.module);
            tr_open(out, row, "", products_of(item), roles_of(item));
            name_cell(out, row);
            out.push_str("<td>");
            push_link(out, item_title(item, &s.module), item_url(item));
            w!(out, "</td><td class=\"num\">{}</td></tr>", nu(s.units as usize));
        }
    });
    out.push_str("</section>");
}

// ---------------------------------------------------------------------------------------------------------
// Certifications

fn certifications_tab(out: &mut String, ctx: &Ctx<'_, '_>) {
    let rows = &ctx.report.rows;
    let cat = ctx.cat;
    section_open(out, "certifications");
    if let Some(today) = ctx.today {
        w!(out, "<p class=\"note\">Expired: ended before the snapshot date, {}.</p>", Esc(today));
    }

    let total = rows.iter().map(|r| r.learner.certifications.len()).sum();
    let t = Table {
        id: "t-certs",
        title: "Certifications by user",
        unit: "certifications",
        empty: "No certification earned yet.",
        cols: &[
            Col("Name", false),
            Col("Certification", false),
            Col("Awarded on", false),
            Col("Start", false),
            Col("End", false),
            Col("Stay current from", false),
            Col("Status", false),
        ],
    };
    table(out, &t, total, |out| {
        let entries = rows.iter().flat_map(|r| r.learner.certifications.iter().map(move |c| (r, c)));
        for (row, cert) in entries.take(MAX_TABLE_ROWS) {
            let item = cat.certifications.get(&cert.uid);
            let end = cert.end.as_deref().and_then(date_part);
            let expired = matches!((end, ctx.today), (Some(e), Some(t)) if e < t);
            tr_open(out, row, if expired { "expired" } else { "" }, products_of(item), roles_of(item));
            name_cell(out, row);
            out.push_str("<td>");
            let name = if cert.transcript_name.trim().is_empty() {
                item_title(item, &cert.uid)
            } else {
                &cert.transcript_name
            };
            push_link(out, name, item_url(item));
            for d in [&cert.awarded_on, &cert.start, &cert.end, &cert.stay_current_from] {
                out.push_str("</td><td>");
                opt_text(out, d.as_deref());
            }
            out.push_str("</td><td>");
            out.push_str(match (expired, end) {
                (true, _) => "<span class=\"tag bad\">Expired</span>",
                (false, Some(_)) => "<span class=\"tag ok\">Active</span>",
                (false, None) => "—",
            });
            out.push_str("</td></tr>");
        }
    });

    let total = rows.iter().map(|r| r.learner.applied_skills.len()).sum();
    let t = Table {
        id: "t-skills",
        title: "Applied skills by user",
        unit: "applied skills",
        empty: "No applied skill earned yet.",
        cols: &[Col("Name", false), Col("Applied skill", false), Col("Scored on", false)],
    };
    table(out, &t, total, |out| {
        let entries = rows.iter().flat_map(|r| r.learner.applied_skills.iter().map(move |s| (r, s)));
        for (row, skill) in entries.take(MAX_TABLE_ROWS) {
            let item = cat.applied_skills.get(&skill.uid);
            tr_open(out, row, "", products_of(item), roles_of(item));
            name_cell(out, row);
            out.push_str("<td>");
            let name = if skill.lab_profile_name.trim().is_empty() {
                item_title(item, &skill.uid)
            } else {
                &skill.lab_profile_name
            };
            push_link(out, name, item_url(item));
            out.push_str("</td><td>");
            opt_text(out, skill.scored_on.as_deref());
            out.push_str("</td></tr>");
        }
    });
    out.push_str("</section>");
}

// ---------------------------------------------------------------------------------------------------------
// Learners

fn learners_tab(out: &mut String, ctx: &Ctx<'_, '_>) {
    let rows = &ctx.report.rows;
    let cat = ctx.cat;
    section_open(out, "learners");
    out.push_str(
        "<p class=\"note\">One row per Learn profile. Rows marked <span class=\"tag warn\">not in Entra</span> have no \
         matching user in the gateway (shown with the template's pseudonym); disabled accounts are greyed.</p>",
    );
    let t = Table {
        id: "t-learners",
        title: "Learn profiles",
        unit: "learners",
        empty: "No Learn user in this snapshot.",
        cols: &[
            Col("Name", false),
            Col("UPN", false),
            Col("Department", false),
            Col("Account", false),
            Col("Total XP", true),
            Col("Modules", true),
            Col("Paths", true),
            Col("Certifications", true),
            Col("Applied skills", true),
        ],
    };
    table(out, &t, rows.len(), |out| {
        let mut products: BTreeSet<&str> = BTreeSet::new();
        let mut roles: BTreeSet<&str> = BTreeSet::new();
        for row in rows.iter().take(MAX_TABLE_ROWS) {
            let l = row.learner;
            products.clear();
            roles.clear();
            let items = l
                .modules_completed
                .iter()
                .map(|a| cat.modules.get(&*a.uid))
                .chain(l.paths_completed.iter().map(|a| cat.paths.get(&*a.uid)))
                .chain(l.certifications.iter().map(|c| cat.certifications.get(&c.uid)))
                .chain(l.applied_skills.iter().map(|s| cat.applied_skills.get(&*s.uid)));
            for item in items.flatten() {
                products.extend(item.products.iter().map(String::as_str));
                roles.extend(item.roles.iter().map(String::as_str));
            }
            tr_open(out, row, "", products.iter().copied(), roles.iter().copied());
            name_cell(out, row);
            out.push_str("<td>");
            opt_text(out, upn(row));
            out.push_str("</td><td>");
            opt_text(out, department(row));
            out.push_str("</td><td>");
            out.push_str(match &row.identity {
                Some(i) if i.account_enabled => "Enabled",
                Some(_) => "<span class=\"tag muted\">Disabled</span>",
                None => "—",
            });
            w!(
                out,
                "</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td></tr>",
                Num(l.total_xp),
                nu(l.modules_completed.len()),
                nu(l.paths_completed.len()),
                nu(l.certifications.len()),
                nu(l.applied_skills.len())
            );
        }
    });
    out.push_str("</section>");
}

// ---------------------------------------------------------------------------------------------------------
// Static CSS and script

const CSS: &str = r##"
:root{--bg:#f5f6f8;--card:#fff;--fg:#18202b;--muted:#596170;--line:#dde1e7;--accent:#0b5cad;--hover:#f0f4fa;
--mod:#2563eb;--path:#7c3aed;--cert:#0f766e;--start:#64748b;--user:#c2410c;--track:#e3e6eb;
--warn-bg:#fff1dc;--warn-fg:#7a4100;--bad-bg:#fde8e8;--bad-fg:#9b1c1c;--ok-bg:#e3f4ef;--ok-fg:#0b5e4f}
@media (prefers-color-scheme:dark){:root{--bg:#0f141b;--card:#171e28;--fg:#e6e9ee;--muted:#a6b0be;--line:#2b3544;
--accent:#8cc2ff;--hover:#1e2734;--mod:#60a5fa;--path:#a78bfa;--cert:#2dd4bf;--start:#94a3b8;--user:#fb923c;
--track:#2b3544;--warn-bg:#3d2c0f;--warn-fg:#ffd391;--bad-bg:#3f1717;--bad-fg:#ffb4b4;--ok-bg:#10352d;--ok-fg:#8ee6cf}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--accent)}
code{font-family:ui-monospace,SFMono-Regular,Consolas,monospace;font-size:.9em}
.skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;z-index:9;background:var(--card);padding:6px 10px}
header.top{display:grid;grid-template-columns:1fr auto;gap:16px;align-items:end;padding:20px 24px 14px;background:var(--card)}
h1{font-size:1.4rem;margin:0;line-height:1.25}.tenant{color:var(--muted);font-weight:500;margin-left:.3em}
h2{font-size:1.2rem;margin:8px 0 12px}h3{font-size:1rem;margin:0}
.meta{margin:4px 0 0;color:var(--muted);font-size:.9rem}
dl.counts{display:flex;gap:28px;margin:0}dl.counts div{text-align:right}
dt{color:var(--muted);font-size:.8rem}dd{margin:0;font-size:1.35rem;font-weight:600;font-variant-numeric:tabular-nums}
dd small{font-size:.8rem;color:var(--muted);font-weight:500}
nav.tabs{display:flex;gap:2px;padding:0 20px;background:var(--card);border-bottom:1px solid var(--line);overflow-x:auto}
nav.tabs a{padding:10px 14px;text-decoration:none;color:var(--muted);border-bottom:3px solid transparent;white-space:nowrap}
nav.tabs a:hover{color:var(--fg)}nav.tabs a[aria-current=page]{color:var(--fg);border-bottom-color:var(--accent);font-weight:600}
.filters{display:none;position:sticky;top:0;z-index:3;flex-wrap:wrap;gap:8px 14px;align-items:end;padding:10px 24px;
background:var(--bg);border-bottom:1px solid var(--line)}
.js .filters{display:flex}
.filters label{display:flex;flex-direction:column;font-size:.78rem;color:var(--muted);gap:2px}
.filters select{max-width:14rem}.filters .grow{flex:1;min-width:12rem}
.filters output{font-weight:600;padding-bottom:6px;font-variant-numeric:tabular-nums}
.filters .note{flex-basis:100%;margin:0}
select,input,button{font:inherit;font-size:.9rem;color:var(--fg);background:var(--card);border:1px solid var(--line);border-radius:6px;padding:5px 8px}
button{cursor:pointer}:focus-visible{outline:2px solid var(--accent);outline-offset:1px}
main{padding:16px 24px 8px;max-width:1440px;margin:0 auto}
section.tab{scroll-margin-top:8rem}.js section.tab{display:none}.js section.tab.active{display:block}
.note{color:var(--muted);font-size:.85rem;margin:4px 0 12px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:0 0 8px}
.kpi{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--c);border-radius:8px;padding:12px 14px}
.kpi .v{display:block;font-size:1.7rem;font-weight:650;font-variant-numeric:tabular-nums;line-height:1.2}
.kpi .l{display:block;font-weight:600;font-size:.9rem}.kpi .s{display:block;color:var(--muted);font-size:.8rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(460px,100%),1fr));gap:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin:0}
.card.wide{grid-column:1/-1}.card.wide svg.chart{max-width:880px}
figcaption{font-weight:600;margin:0 0 8px}
svg.chart{width:100%;height:auto;display:block;overflow:visible}
svg text{fill:var(--fg);font-size:13px}svg .sub,svg .val{fill:var(--muted);font-size:12px}svg .strong{font-weight:600}
svg .big{font-size:22px;font-weight:650}svg a text{fill:var(--accent)}svg a:hover text,svg a:focus text{text-decoration:underline}
rect.bar{fill:var(--c)}polygon.conn{fill:var(--c);opacity:.16}
circle.track{stroke:var(--track)}circle.arc{stroke:var(--c)}
.mod{--c:var(--mod)}.path{--c:var(--path)}.cert{--c:var(--cert)}.start{--c:var(--start)}.user{--c:var(--user)}.none{--c:var(--track)}
.donuts{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:16px}.donut svg{max-width:180px;margin:0 auto}
.legend{list-style:none;padding:0;margin:6px 0 0;font-size:.85rem}.legend.inline{display:flex;gap:16px;margin:0 0 6px}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;background:var(--c);margin-right:6px}
.legend .none .sw{border:1px solid var(--muted)}
.block{margin:0 0 24px}.block-head{display:flex;gap:12px;align-items:baseline;justify-content:space-between;margin:0 0 6px}
.count{margin:0;color:var(--muted);font-size:.85rem;font-variant-numeric:tabular-nums}
.cap{margin:0 0 6px;font-size:.85rem;background:var(--warn-bg);color:var(--warn-fg);padding:4px 10px;border-radius:6px}
.empty{color:var(--muted);font-style:italic}
.scroll{overflow:auto;max-height:70vh;border:1px solid var(--line);border-radius:8px;background:var(--card)}
.scroll.short{max-height:none;margin:8px 0}
table{border-collapse:collapse;width:100%;font-size:.88rem}
caption{text-align:left;font-weight:600;padding:8px 10px}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid var(--line);vertical-align:top}
thead th{position:sticky;top:0;background:var(--card);z-index:1;white-space:nowrap;font-size:.8rem;color:var(--muted)}
tbody th{font-weight:500}tbody tr:hover{background:var(--hover)}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}
th button{all:unset;cursor:pointer}th button:focus-visible{outline:2px solid var(--accent)}
th[aria-sort=ascending] button::after{content:" \25B2"}th[aria-sort=descending] button::after{content:" \25BC"}
.tag{display:inline-block;padding:0 7px;border-radius:10px;font-size:.72rem;font-weight:600;line-height:1.6;white-space:nowrap}
.tag.warn{background:var(--warn-bg);color:var(--warn-fg)}.tag.bad{background:var(--bad-bg);color:var(--bad-fg)}
.tag.ok{background:var(--ok-bg);color:var(--ok-fg)}.tag.muted{background:var(--track);color:var(--muted)}
tr.disabled th,tr.disabled td{color:var(--muted)}tr.expired td:nth-child(5){color:var(--bad-fg)}
.progress{display:inline-flex;align-items:center;gap:8px}progress{width:90px;height:8px;accent-color:var(--path)}
footer{padding:8px 24px 32px;max-width:1440px;margin:0 auto;color:var(--muted);font-size:.88rem}
footer h2{font-size:1rem;color:var(--fg)}dl.about{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:8px 20px;margin:0}
dl.about dd{font-size:.9rem;font-weight:500;color:var(--fg)}
@media (max-width:720px){header.top{grid-template-columns:1fr}dl.counts div{text-align:left}main,.filters{padding-left:12px;padding-right:12px}}
@media print{body{background:#fff;color:#000;font-size:11px}nav.tabs,.filters,.skip{display:none!important}
section.tab,.js section.tab{display:block!important;break-before:page}section.tab:first-of-type{break-before:auto}
.scroll{max-height:none;overflow:visible;border:0}thead th{position:static}.card,.kpi,tr{break-inside:avoid}
.grid{grid-template-columns:1fr 1fr}a{color:inherit;text-decoration:none}.card,.kpi{border-color:#bbb}}
"##;

const SCRIPT: &str = r##"
(function(){"use strict";
var d=document;d.documentElement.classList.add("js");
var tabs=[].slice.call(d.querySelectorAll("section.tab")),links=[].slice.call(d.querySelectorAll("nav.tabs a"));
function isTab(id){return tabs.some(function(t){return t.id===id})}
function show(id){if(!isTab(id))id=tabs.length?tabs[0].id:"";
tabs.forEach(function(t){t.classList.toggle("active",t.id===id)});
links.forEach(function(a){if(a.getAttribute("href")==="#"+id)a.setAttribute("aria-current","page");else a.removeAttribute("aria-current")})}
links.forEach(function(a){a.addEventListener("click",function(e){e.preventDefault();var h=a.getAttribute("href");
try{history.replaceState(null,"",h)}catch(_){}show(h.slice(1))})});
addEventListener("hashchange",function(){var h=location.hash.slice(1);if(isTab(h))show(h)});
var h0=location.hash.slice(1);show(h0);
if(isTab(h0)){scrollTo(0,0);addEventListener("load",function(){setTimeout(function(){scrollTo(0,0)},0)})}
function fmt(n){return n.toLocaleString("en-US")}
var fd=d.getElementById("f-dept"),fp=d.getElementById("f-product"),fr=d.getElementById("f-role"),fq=d.getElementById("f-q"),fc=d.getElementById("f-count");
var tables=[].slice.call(d.querySelectorAll("table.filterable"));
function apply(){var dv=fd.value,pv=fp.value?"|"+fp.value+"|":"",rv=fr.value?"|"+fr.value+"|":"",q=fq.value.trim().toLowerCase();
tables.forEach(function(t){var rows=t.tBodies[0].rows,n=0;
for(var i=0;i<rows.length;i++){var r=rows[i],s=r.dataset;
var ok=(!dv||(dv==="~none"?!s.dept:s.dept===dv))&&(!pv||(s.products||"").indexOf(pv)>=0)&&(!rv||(s.roles||"").indexOf(rv)>=0)&&(!q||(s.q||"").indexOf(q)>=0);
r.hidden=!ok;if(ok)n++}
var c=d.getElementById(t.id+"-count");if(c)c.textContent=fmt(n)+" of "+fmt(rows.length)+" "+c.getAttribute("data-unit");
if(t.id==="t-learners"&&fc)fc.textContent=fmt(n)+" of "+fmt(rows.length)+" learners"})}
if(fd&&fp&&fr&&fq){[fd,fp,fr].forEach(function(e){e.addEventListener("change",apply)});
var timer;fq.addEventListener("input",function(){clearTimeout(timer);timer=setTimeout(apply,120)});
d.getElementById("f-reset").addEventListener("click",function(){fd.value="";fp.value="";fr.value="";fq.value="";apply()})}
function key(c,num){var v=c.getAttribute("data-v");if(v===null)v=c.textContent;
if(num){var x=parseFloat(v.replace(/[^0-9.\-]/g,""));return isNaN(x)?-Infinity:x}return v.toLowerCase()}
[].forEach.call(d.querySelectorAll("table.sortable thead th"),function(th){var b=th.querySelector("button");if(!b)return;
b.addEventListener("click",function(){var tr=th.parentNode,idx=[].indexOf.call(tr.children,th),tb=th.closest("table").tBodies[0],
num=th.classList.contains("num"),asc=th.getAttribute("aria-sort")!=="ascending";
[].forEach.call(tr.children,function(h){h.removeAttribute("aria-sort")});th.setAttribute("aria-sort",asc?"ascending":"descending");
var rows=[].map.call(tb.rows,function(r){return[key(r.cells[idx],num),r]});
rows.sort(function(a,b){var o=a[0]<b[0]?-1:a[0]>b[0]?1:0;return asc?o:-o});
var f=d.createDocumentFragment();rows.forEach(function(p){f.appendChild(p[1])});tb.appendChild(f)})})})();
"##;

#[cfg(test)]
mod tests {
    use super::super::model::{
        AppliedSkill, Award, Catalog, CatalogItem, Certification, Identity, Learner, Ranked, Report, Row, Snapshot,
        Started, Summary,
    };
    use super::*;
    use std::time::Instant;

    fn item(uid: &str, title: &str, url: Option<&str>) -> CatalogItem {
        CatalogItem {
            uid: uid.into(),
            title: title.into(),
            url: url.map(Into::into),
            products: vec!["Azure".into()],
            roles: vec!["Developer".into()],
            levels: vec!["Beginner".into()],
            duration_minutes: Some(75),
        }
    }

    fn snapshot() -> Snapshot {
        let mut catalog = Catalog::default();
        catalog.modules.insert(
            "m1".into(),
            item("m1", "Introduction to Azure", Some("https://learn.microsoft.com/training/modules/intro-to-azure/")),
        );
        catalog.modules.insert("m2".into(), item("m2", "Azure storage basics", Some("https://evil.example/phish")));
        catalog.modules.insert("m3".into(), item("m3", "Relative module", Some("/training/modules/relative/")));
        catalog.paths.insert(
            "p1".into(),
            item("p1", "Azure Fundamentals path", Some("https://learn.microsoft.com/training/paths/az-900/")),
        );
        catalog.path_modules.insert("p1".into(), vec!["m1".into(), "m2".into(), "m3".into(), "m4".into()]);
        catalog.certifications.insert(
            "c1".into(),
            item(
                "c1",
                "Azure Fundamentals",
                Some("https://learn.microsoft.com/credentials/certifications/azure-fundamentals/"),
            ),
        );
        let ann = Learner {
            user_id: "u-1".into(),
            aad_object_id: "0f3c".into(),
            total_xp: 12_400,
            modules_completed: vec![
                Award { uid: "m1".into(), on: "2024-03-01".into() },
                Award { uid: "m3".into(), on: "2024-03-02".into() },
            ],
            modules_started: vec![Started { module: "m1".into(), units: 7 }, Started { module: "m2".into(), units: 2 }],
            certifications: vec![Certification {
                uid: "c1".into(),
                transcript_name: String::new(),
                awarded_on: Some("2022-01-10".into()),
                start: Some("2022-01-10".into()),
                end: Some("2023-01-10".into()),
                stay_current_from: Some("2022-07-10".into()),
            }],
            applied_skills: vec![AppliedSkill {
                uid: "s1".into(),
                lab_profile_name: "Secure storage".into(),
                scored_on: Some("2024-02-02".into()),
            }],
            ..Learner::default()
        };
        let bob = Learner {
            user_id: "u-2".into(),
            aad_object_id: "9999".into(),
            total_xp: 800,
            paths_completed: vec![Award { uid: "p1".into(), on: "2024-04-01".into() }],
            ..Learner::default()
        };
        Snapshot {
            loaded_at: "2024-05-01T08:30:00Z".into(),
            source: "/data/learn <export>".into(),
            catalog,
            learners: vec![ann, bob],
            ..Snapshot::default()
        }
    }

    fn report(snap: &Snapshot) -> Report<'_> {
        let rows = vec![
            Row {
                learner: &snap.learners[0],
                matched: true,
                // Test data that lives as long as the test.
                identity: Some(Box::leak(Box::new(Identity {
                    display_name: Some("<script>alert(1)</script> Ann".into()),
                    user_principal_name: Some("ann@contoso.com".into()),
                    department: Some("R&D".into()),
                    account_enabled: false,
                    ..Identity::default()
                }))),
                label: "<script>alert(1)</script> Ann".into(),
            },
            Row { learner: &snap.learners[1], matched: false, identity: None, label: "User_2".into() },
        ];
        let ranked = |key: &str, title: &str, url: Option<&str>, count| Ranked {
            key: key.into(),
            title: title.into(),
            url: url.map(Into::into),
            count,
        };
        Report {
            tenant: "Contoso \"prod\"".into(),
            snapshot: snap,
            rows,
            summary: Summary {
                learn_users: 2,
                matched: 1,
                active_learners: 2,
                modules_started: 2,
                badges: 2,
                trophies: 1,
                certifications: 1,
                applied_skills: 1,
                module_completion_rate: 1.0,
                users_with_module: 1,
                users_with_path: 1,
            },
            top_users_modules: vec![ranked("u-1", "<script>alert(1)</script> Ann", None, 2)],
            top_users_paths: vec![ranked("u-2", "User_2", None, 1)],
            top_users_credentials: vec![ranked("u-1", "<script>alert(1)</script> Ann", None, 2)],
            top_modules: vec![
                ranked("m1", "Introduction to Azure", snap.catalog.modules["m1"].url.as_deref(), 1),
                ranked("m2", "Azure storage basics", snap.catalog.modules["m2"].url.as_deref(), 1),
            ],
            top_paths: vec![ranked("p1", "Azure Fundamentals path", snap.catalog.paths["p1"].url.as_deref(), 1)],
            top_certifications: vec![ranked("c1", "Azure Fundamentals", None, 1)],
            by_product: vec![("Azure".into(), 2, 1)],
        }
    }

    #[test]
    fn titles_and_learn_links() {
        let snap = snapshot();
        let html = render(&report(&snap));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("Introduction to Azure"));
        assert!(html.contains("Azure Fundamentals path"));
        assert!(html.contains(
            "<a href=\"https://learn.microsoft.com/training/modules/intro-to-azure/\" target=\"_blank\" rel=\"noopener\">"
        ));
        // Site-relative URLs are on learn.microsoft.com (R7); other sites are not linked.
        assert!(html.contains("href=\"https://learn.microsoft.com/training/modules/relative/\""));
        assert!(!html.contains("href=\"https://evil.example"));
        assert!(html.contains("Azure storage basics"));
        // The certification falls back to the catalog title and is expired (ended before the snapshot date).
        assert!(html.contains("Azure Fundamentals</a>"));
        assert!(html.contains("<tr class=\"expired disabled\""));
        assert!(html.contains("Expired</span>"));
        // Header.
        assert!(html.contains("Contoso &quot;prod&quot;"));
        assert!(html.contains("/data/learn &lt;export&gt;"));
        assert!(html.contains("2024-05-01 08:30:00Z"));
    }

    #[test]
    fn untrusted_text_is_escaped() {
        let snap = snapshot();
        let html = render(&report(&snap));
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Ann"));
        assert_eq!(html.matches("<script").count(), 1, "only the page's own script");
        assert!(html.contains("data-dept=\"r&amp;d\""));
        assert!(html.contains("<option value=\"r&amp;d\">R&amp;D</option>"));
    }

    #[test]
    fn unmatched_rows_show_the_pseudonym() {
        let snap = snapshot();
        let html = render(&report(&snap));
        assert!(html.contains("User_2 <span class=\"tag warn\">not in Entra</span>"));
        assert!(html.contains("<tr class=\"unmatched\""));
        assert!(html.contains("<tr class=\"disabled\""));
        assert!(html.contains("Disabled</span>"));
    }

    #[test]
    fn charts_tables_and_filters_are_present() {
        let snap = snapshot();
        let html = render(&report(&snap));
        assert!(html.matches("<svg").count() >= 8, "funnel, donuts, bar charts");
        assert!(html.contains("class=\"chart funnel\""));
        assert!(html.contains("class=\"arc\""));
        for id in ["t-paths", "t-path-progress", "t-modules", "t-modules-started", "t-certs", "t-skills", "t-learners"]
        {
            assert!(html.contains(&format!("<table id=\"{id}\"")), "{id}");
        }
        for id in ["f-dept", "f-product", "f-role", "f-q", "f-count"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(html.contains("data-products=\"|azure|\" data-roles=\"|developer|\""));
        // Ann has badges m1 and m3 of p1's four modules, no trophy: 50%, 3 modules touched (m1, m2, m3).
        assert!(html.contains("<td class=\"num\">4</td><td class=\"num\">3</td><td class=\"num\">2</td>"));
        assert!(html.contains("value=\"50\""));
        // m2 started, not completed, 2 units; m1 started and completed is not listed.
        assert!(html.contains("Azure storage basics</span></td><td class=\"num\">2</td>"));
        assert!(!html.contains("Introduction to Azure</a></td><td class=\"num\">7</td>"));
        assert!(html.contains("1 h 15 min"));
    }

    #[test]
    fn no_external_resources() {
        let snap = snapshot();
        let html = render(&report(&snap));
        assert!(!html.contains(" src="));
        assert!(!html.contains("<link"));
        assert!(!html.contains("url("));
        assert!(!html.contains("@import"));
        for (i, _) in html.match_indices("href=\"") {
            let rest = &html[i + 6..];
            assert!(rest.starts_with('#') || rest.starts_with("https://learn.microsoft.com/"), "{}", &rest[..40]);
        }
    }

    #[test]
    fn empty_report() {
        let snap = Snapshot::default();
        let r = Report {
            tenant: String::new(),
            snapshot: &snap,
            rows: Vec::new(),
            summary: Summary::default(),
            top_users_modules: Vec::new(),
            top_users_paths: Vec::new(),
            top_users_credentials: Vec::new(),
            top_modules: Vec::new(),
            top_paths: Vec::new(),
            top_certifications: Vec::new(),
            by_product: Vec::new(),
        };
        let html = render(&r);
        assert!(html.contains("No Learn user in this snapshot."));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn helpers() {
        assert_eq!(Num(0).to_string(), "0");
        assert_eq!(Num(999).to_string(), "999");
        assert_eq!(Num(1_000).to_string(), "1,000");
        assert_eq!(Num(-1_234_567).to_string(), "-1,234,567");
        assert_eq!(Esc("a&<>\"'b").to_string(), "a&amp;&lt;&gt;&quot;&#39;b");
        assert_eq!(clip("héllo", 2), ("hé", true));
        assert_eq!(clip("hé", 2), ("hé", false));
        assert_eq!(date_part("2024-05-01T08:30:00Z"), Some("2024-05-01"));
        assert_eq!(date_part("soon"), None);
        assert!(learn_href("https://learn.microsoft.com.evil.example/x").is_none());
        assert!(learn_href("//evil.example/x").is_none());
        assert!(learn_href("javascript:alert(1)").is_none());
        assert_eq!(duration(Some(45)), "45 min");
        assert_eq!(duration(Some(120)), "2 h");
    }

    /// 100,000 learners. Debug builds get a generous bound; for the real figure run
    /// `cargo test -p gateway --release --lib reporting::html -- --nocapture large`.
    #[test]
    fn large_report_renders_fast() {
        let mut snap = snapshot();
        let template = snap.learners[0].clone();
        snap.learners =
            (0..100_000).map(|i| Learner { user_id: format!("u-{i}"), total_xp: i, ..template.clone() }).collect();
        let ids: Vec<Identity> = (0..snap.learners.len())
            .map(|i| Identity {
                display_name: Some(format!("Learner {i}")),
                user_principal_name: Some(format!("learner{i}@contoso.com")),
                department: Some(format!("Dept {}", i % 40)),
                account_enabled: i % 17 != 0,
                ..Identity::default()
            })
            .collect();
        let rows: Vec<Row<'_>> = snap
            .learners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let matched = i % 3 != 0;
                Row {
                    learner: l,
                    matched,
                    identity: matched.then(|| &ids[i]),
                    label: if matched { format!("Learner {i}") } else { format!("User_{}", i + 1) },
                }
            })
            .collect();
        let mut r = report(&snap);
        r.rows = rows;
        r.summary.learn_users = 100_000;
        let start = Instant::now();
        let html = render(&r);
        let took = start.elapsed();
        println!("rendered 100,000 learners in {took:?}: {} bytes", html.len());
        assert!(html.contains("Showing the first 2,000 of 100,000 learners"));
        assert!(html.contains("Showing the first 2,000 of 200,000 completions"));
        let bound = if cfg!(debug_assertions) { 2.0 } else { 1.0 };
        assert!(took.as_secs_f64() < bound, "took {took:?}");
    }
}
