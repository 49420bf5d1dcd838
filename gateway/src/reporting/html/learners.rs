//! The Learners page: one row per report row (R3/R4), matched or not, with the learner's totals.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::frame::section_open;
use super::table::{Col, Table, name_cell, table, tr_open};
use super::text::{Num, department, nu, opt_text, upn};
use super::{Ctx, MAX_TABLE_ROWS};

pub(super) fn learners_tab(out: &mut String, ctx: &Ctx<'_, '_>) {
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
