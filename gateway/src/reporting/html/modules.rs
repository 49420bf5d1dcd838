//! The Modules page: modules completed (badges) and modules started but not completed.

use std::fmt::Write as _;

use super::super::model::{Row, Started};
use super::frame::section_open;
use super::table::{Col, Table, name_cell, products_of, roles_of, table, tr_open};
use super::text::{Esc, item_title, item_url, nu, push_link, sorted_uids};
use super::{Ctx, MAX_TABLE_ROWS};

pub(super) fn modules_tab(out: &mut String, ctx: &Ctx<'_, '_>) {
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
