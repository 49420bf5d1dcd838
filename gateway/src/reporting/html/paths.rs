//! The Learning paths page: completions per path and each learner's progress through the paths they
//! have started (modules of the path with a badge).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::super::model::{Catalog, Row};
use super::frame::section_open;
use super::table::{Col, Table, name_cell, products_of, roles_of, table, tr_open};
use super::text::{Esc, duration, item_title, item_url, nu, pct, push_link, sorted_uids};
use super::{Ctx, MAX_TABLE_ROWS};

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

pub(super) fn paths_tab(out: &mut String, ctx: &Ctx<'_, '_>) {
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
