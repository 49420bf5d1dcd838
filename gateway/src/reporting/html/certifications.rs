//! The Certifications page: certifications (active or expired as of the snapshot date) and applied
//! skills per learner.

use std::fmt::Write as _;

use super::frame::section_open;
use super::table::{Col, Table, name_cell, products_of, roles_of, table, tr_open};
use super::text::{Esc, date_part, item_title, item_url, opt_text, push_link};
use super::{Ctx, MAX_TABLE_ROWS};

pub(super) fn certifications_tab(out: &mut String, ctx: &Ctx<'_, '_>) {
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
