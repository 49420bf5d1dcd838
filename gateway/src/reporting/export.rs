//! The report as tables: per learner, per module (completed and started), per certification; written as
//! CSV or JSON.

use super::model::{LEARN_SITE, Report};
use serde_json::{Value, json};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    Learners,
    Modules,
    Certifications,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Learners, Table::Modules, Table::Certifications];

    pub fn name(self) -> &'static str {
        match self {
            Table::Learners => "learners",
            Table::Modules => "modules",
            Table::Certifications => "certifications",
        }
    }

    fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Learners => &[
                "userId",
                "AADObjectId",
                "matched",
                "name",
                "displayName",
                "userPrincipalName",
                "mail",
                "department",
                "accountEnabled",
                "totalXP",
                "modulesCompleted",
                "pathsCompleted",
                "modulesStarted",
                "certifications",
                "appliedSkills",
            ],
            Table::Modules => {
                &["userId", "name", "kind", "uid", "title", "url", "status", "awardedOn", "completedUnits"]
            }
            Table::Certifications => &[
                "userId",
                "name",
                "certificationUid",
                "title",
                "transcriptName",
                "awardedOn",
                "startDate",
                "endDate",
                "stayCurrentEligibilityStartDate",
            ],
        }
    }
}

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// The rows of one table, as JSON values in the table's column order.
pub fn rows(report: &Report<'_>, table: Table) -> Vec<Vec<Value>> {
    let cat = &report.snapshot.catalog;
    let mut out = Vec::new();
    for r in &report.rows {
        let l = r.learner;
        let id = r.identity.as_ref();
        match table {
            Table::Learners => out.push(vec![
                json!(l.user_id),
                json!(l.aad_object_id),
                json!(r.matched),
                json!(r.label),
                id.map_or(Value::Null, |i| opt(&i.display_name)),
                id.map_or(Value::Null, |i| opt(&i.user_principal_name)),
                id.map_or(Value::Null, |i| opt(&i.mail)),
                id.map_or(Value::Null, |i| opt(&i.department)),
                id.map_or(Value::Null, |i| json!(i.account_enabled)),
                json!(l.total_xp),
                json!(l.modules_completed.len()),
                json!(l.paths_completed.len()),
                json!(l.modules_started.len()),
                json!(l.certifications.len()),
                json!(l.applied_skills.len()),
            ]),
            Table::Modules => {
                let completed: std::collections::HashSet<&str> =
                    l.modules_completed.iter().map(|a| a.uid.as_str()).collect();
                let item = |m: &std::collections::BTreeMap<String, super::model::CatalogItem>, uid: &str| {
                    m.get(uid).map_or((Value::Null, Value::Null), |c| (json!(c.title), opt(&c.url)))
                };
                for a in &l.modules_completed {
                    let (title, url) = item(&cat.modules, &a.uid);
                    out.push(vec![
                        json!(l.user_id),
                        json!(r.label),
                        json!("module"),
                        json!(a.uid),
                        title,
                        url,
                        json!("completed"),
                        json!(a.on),
                        Value::Null,
                    ]);
                }
                for s in l.modules_started.iter().filter(|s| !completed.contains(s.module.as_str())) {
                    let (title, url) = item(&cat.modules, &s.module);
                    out.push(vec![
                        json!(l.user_id),
                        json!(r.label),
                        json!("module"),
                        json!(s.module),
                        title,
                        url,
                        json!("started"),
                        Value::Null,
                        json!(s.units),
                    ]);
                }
                for a in &l.paths_completed {
                    let (title, url) = item(&cat.paths, &a.uid);
                    out.push(vec![
                        json!(l.user_id),
                        json!(r.label),
                        json!("learningPath"),
                        json!(a.uid),
                        title,
                        url,
                        json!("completed"),
                        json!(a.on),
                        Value::Null,
                    ]);
                }
            }
            Table::Certifications => {
                for c in &l.certifications {
                    let title = cat.certifications.get(&c.uid).map_or(Value::Null, |i| json!(i.title));
                    out.push(vec![
                        json!(l.user_id),
                        json!(r.label),
                        json!(c.uid),
                        title,
                        json!(c.transcript_name),
                        opt(&c.awarded_on),
                        opt(&c.start),
                        opt(&c.end),
                        opt(&c.stay_current_from),
                    ]);
                }
            }
        }
    }
    out
}

/// Writes one table as CSV (header row; null as an empty field).
pub fn write_csv(report: &Report<'_>, table: Table, w: impl Write) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(table.columns())?;
    let mut fields: Vec<String> = Vec::new();
    for row in rows(report, table) {
        fields.clear();
        fields.extend(row.into_iter().map(|v| match v {
            Value::Null => String::new(),
            Value::String(s) => s,
            other => other.to_string(),
        }));
        out.write_record(&fields)?;
    }
    out.flush()
}

/// One table as a JSON array of objects.
pub fn json_table(report: &Report<'_>, table: Table) -> Value {
    let cols = table.columns();
    Value::Array(
        rows(report, table)
            .into_iter()
            .map(|row| Value::Object(cols.iter().map(|c| (*c).to_owned()).zip(row).collect()))
            .collect(),
    )
}

/// A link is only made for Learn's own site.
pub fn is_learn_url(url: &str) -> bool {
    url.starts_with(LEARN_SITE) && url[LEARN_SITE.len()..].starts_with('/')
}
