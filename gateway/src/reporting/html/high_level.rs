//! The High level page: KPI tiles and inline SVG charts (funnel, donuts, bars) over the whole tenant.
//! Chart labels are escaped like any other text; only Learn URLs become links.

use std::fmt::{Display, Write as _};

use super::super::model::Ranked;
use super::frame::section_open;
use super::text::{Esc, clip, learn_href, nu, pct};
use super::{Ctx, MAX_PRODUCTS, TOP_N};

fn kpi(out: &mut String, class: &str, value: impl Display, label: &str, sub: &str) {
    w!(out, "<div class=\"kpi {class}\"><span class=\"v\">{value}</span><span class=\"l\">{label}</span>");
    if !sub.is_empty() {
        w!(out, "<span class=\"s\">{sub}</span>");
    }
    out.push_str("</div>");
}

pub(super) fn high_level(out: &mut String, ctx: &Ctx<'_, '_>) {
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
