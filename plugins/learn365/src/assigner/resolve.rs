//! A maintenance's decisions, as pure functions: inconsistency resolution (A8, [`resolve`]) and then
//! the membership plan of every profile ([`plan`]: A3 members, A5 throttling). The caller (the
//! maintenance job) saves the cleaned profiles, logs the errors, sends the notifications, writes the
//! member lists and applies the changes to the Entra groups.
//!
//! Resolution, per profile, against the latest snapshot:
//! - overrides (include / exclude) naming a user the snapshot no longer has are dropped, silently;
//! - course assignments to a course the snapshot no longer has are dropped, silently;
//! - a profile whose rules use a user field (or, \[proposed\], a course) the snapshot does not have is
//!   **skipped**: not auto-populated, membership unchanged; the admin is notified at once, i.e. at the
//!   first maintenance that finds it gone (the field was in the `previous` cycle's fields, or there is
//!   no previous cycle); later cycles skip it with the same reason but without a new notification;
//! - an auto-populated profile left with no rules and no overrides **fails** its update (membership
//!   unchanged, an error for the log).
//!
//! Deleted profiles and those not auto-populated are cleaned the same way and kept as they are.

use super::eval::{Bits, Engine};
use super::members::{Decision, Desired, Diff, decide, desired, diff};
use super::model::{Profile, ProfileState, Section, Settings};
use super::snapshot::Snapshot;
use super::validate::{TenantFields, custom_name, find_field, guid};

/// What the maintenance does with a profile's membership.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Status {
    /// Compute the members and apply them (unless throttled).
    Update,
    /// Not auto-populated, or deleted: the group is left as it is.
    Keep,
    /// No rules and no overrides left: membership unchanged, the reason logged as an error.
    Failed(String),
    /// Rules use a field or course that is gone: not auto-populated until the admin edits it.
    Skipped(String),
}

/// One profile after resolution.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Resolved {
    /// The profile without the stale overrides and course assignments (to be saved if they differ).
    pub profile: Profile,
    /// User ids dropped from include or exclude.
    pub dropped_users: Vec<String>,
    /// Courses dropped from the assignments.
    pub dropped_courses: Vec<String>,
    pub status: Status,
}

impl Resolved {
    /// Whether resolution changed the profile (it must then be saved).
    pub fn changed(&self) -> bool {
        !self.dropped_users.is_empty() || !self.dropped_courses.is_empty()
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Resolution {
    pub profiles: Vec<Resolved>,
    /// Texts for the admin, to be sent at once (deleted fields).
    pub notifications: Vec<String>,
    /// Lines for the log at error level (failed updates, skipped profiles).
    pub errors: Vec<String>,
}

/// What a rule needs that the snapshot lacks: (what, name, whether it is newly gone).
fn missing(profile: &Profile, snap: &Snapshot, previous: Option<&TenantFields>) -> Vec<(&'static str, String, bool)> {
    let mut out: Vec<(&'static str, String, bool)> = Vec::new();
    for (section, root) in profile.rule_sections() {
        for (_, rule) in root.rules() {
            let source = rule.source.trim();
            let gone = match section {
                Section::Properties => snap.column_of(source).is_none(),
                Section::Dates => snap.date_of(source).is_none(),
                Section::Activities => guid(source).and_then(|g| snap.course_index(&g)).is_none(),
            };
            if !gone {
                continue;
            }
            let item = if section == Section::Activities {
                let g = guid(source).unwrap_or_else(|| source.to_owned());
                let fresh = previous.is_none_or(|p| p.courses.as_ref().is_none_or(|c| c.contains(&g)));
                ("course", g, fresh)
            } else {
                let name = custom_name(source).unwrap_or(source).to_owned();
                let fresh = previous.is_none_or(|p| find_field(&p.fields, &name).is_some());
                ("user field", name, fresh)
            };
            if !out.iter().any(|(w, n, _)| *w == item.0 && *n == item.1) {
                out.push(item);
            }
        }
    }
    out
}

/// A8 over all profiles (module doc). `previous`: the fields and courses of the snapshot the previous
/// maintenance used (`None` at the first one).
pub fn resolve(profiles: &[Profile], snap: &Snapshot, previous: Option<&TenantFields>) -> Resolution {
    let mut res = Resolution::default();
    for p in profiles {
        let mut profile = p.clone();
        let mut dropped_users = Vec::new();
        for list in [&mut profile.include, &mut profile.exclude] {
            list.retain(|id| {
                let keep = snap.contains(id);
                if !keep {
                    dropped_users.push(id.clone());
                }
                keep
            });
        }
        let mut dropped_courses = Vec::new();
        profile.courses.retain(|c| {
            let keep = guid(c).is_some_and(|g| snap.course_index(&g).is_some());
            if !keep {
                dropped_courses.push(c.clone());
            }
            keep
        });
        let label = format!("Assigner profile \"{}\" ({})", profile.title.trim(), profile.id);
        let gone = if profile.state == ProfileState::Active { missing(&profile, snap, previous) } else { Vec::new() };
        let status = if !gone.is_empty() {
            let list: Vec<String> = gone.iter().map(|(what, name, _)| format!("the {what} \"{name}\"")).collect();
            let reason = format!(
                "its rules use {}, which the latest Learn365 data no longer has; it is not auto-populated until its rules are edited",
                list.join(" and ")
            );
            if gone.iter().any(|(_, _, fresh)| *fresh) {
                res.notifications.push(format!("{label}: {reason}. Please review the profile."));
            }
            if profile.auto_populate {
                res.errors.push(format!("{label} skipped: {reason}"));
                Status::Skipped(reason)
            } else {
                Status::Keep
            }
        } else if !profile.auto_populate || profile.state == ProfileState::Deleted {
            Status::Keep
        } else if !profile.has_rules() && profile.include.is_empty() && profile.exclude.is_empty() {
            let reason = if dropped_users.is_empty() {
                "it has no rules and no overrides".to_owned()
            } else {
                format!(
                    "no rules and no overrides are left (overrides for {} removed user(s) were dropped)",
                    dropped_users.len()
                )
            };
            res.errors.push(format!("{label}: membership update failed: {reason}"));
            Status::Failed(reason)
        } else {
            Status::Update
        };
        res.profiles.push(Resolved { profile, dropped_users, dropped_courses, status });
    }
    res
}

/// A profile's membership outcome at this maintenance.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Not auto-populated or deleted: nothing to do.
    Keep,
    /// See [`Status::Failed`] / [`Status::Skipped`]; the group is left as it is.
    Failed(String),
    Skipped(String),
    /// Apply `diff` (possibly empty); `members` for the member-list file.
    Apply {
        members: Bits,
        diff: Diff,
    },
    /// The group is left as it is and `email` goes to the settings' contact; the member-list file is
    /// still written from `members`.
    Throttled {
        members: Bits,
        reason: String,
        email: String,
    },
}

/// One profile's plan.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Planned {
    pub id: String,
    /// The Entra group's displayName.
    pub group: String,
    pub outcome: Outcome,
}

/// The membership plan of every resolved profile, given each group's current members (`current`,
/// called with a profile id, returns its group's member ids; empty for a group not created yet).
pub fn plan(
    resolution: &Resolution,
    engine: &mut Engine<'_>,
    settings: &Settings,
    current: &mut dyn FnMut(&str) -> Vec<String>,
) -> Vec<Planned> {
    let mut out = Vec::with_capacity(resolution.profiles.len());
    for r in &resolution.profiles {
        let p = &r.profile;
        let group = settings.group_name(p);
        let outcome = match &r.status {
            Status::Keep => Outcome::Keep,
            Status::Failed(why) => Outcome::Failed(why.clone()),
            Status::Skipped(why) => Outcome::Skipped(why.clone()),
            Status::Update => match desired(engine, p, settings) {
                Ok(Desired::Keep) => Outcome::Keep,
                Err(e) => Outcome::Failed(e),
                Ok(Desired::Set(members)) => {
                    let now = current(&p.id);
                    let d = diff(engine.snapshot(), &members, &now);
                    let count = {
                        let mut ids: Vec<&String> = now.iter().collect();
                        ids.sort_unstable();
                        ids.dedup();
                        ids.len()
                    };
                    match decide(p.throttle.as_ref(), count, d) {
                        Decision::Apply(diff) => Outcome::Apply { members, diff },
                        Decision::Throttled { reason, added, removed } => {
                            let email = format!(
                                "The membership of the Entra group \"{group}\" (Assigner profile {}) was not updated: {reason} \
                                 ({added} to add, {removed} to remove, {count} members now). The computed member list \
                                 ({} members) can be downloaded; change the profile's throttling or its rules to let the \
                                 next maintenance apply it.",
                                p.id,
                                members.count()
                            );
                            Outcome::Throttled { members, reason, email }
                        }
                    }
                }
            },
        };
        out.push(Planned { id: p.id.clone(), group, outcome });
    }
    out
}
