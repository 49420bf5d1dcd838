//! A profile's members (A3), the change against its Entra group, and throttling (A5, Q16).
//!
//! - members = ((matching ∪ include) − exclude) ∩ snapshot users, the disabled ones left out when
//!   `excludeDisabledUsers`; exclude wins over include (Q17); an override naming a user the snapshot
//!   does not have adds nobody (Q21);
//! - `autoPopulate = false` (and a deleted profile, A7): the membership is never changed
//!   ([`Desired::Keep`]; a new group stays empty);
//! - changes = |added| + |removed| against the group's current members; `maxChanges(N)` throttles iff
//!   changes > N; `maxChangesPercent(P)` iff `changes × 100 > P × current` (integers, no rounding), not
//!   when the group is empty; both set: either one throttles.

use super::eval::{Bits, Engine};
use super::model::{Profile, ProfileState, Settings, Throttle};
use super::snapshot::Snapshot;

/// Applies the overrides and the snapshot filter to the users matching the rules.
pub fn members(snap: &Snapshot, profile: &Profile, matching: &Bits, exclude_disabled: bool) -> Bits {
    let mut m = matching.clone();
    for id in &profile.include {
        if let Some(u) = snap.index_of(id) {
            m.set(u, true);
        }
    }
    for id in &profile.exclude {
        if let Some(u) = snap.index_of(id) {
            m.set(u, false);
        }
    }
    if exclude_disabled {
        for u in 0..snap.len() {
            if !snap.active(u) {
                m.set(u, false);
            }
        }
    }
    m
}

/// What a profile's group should hold.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Desired {
    /// Not auto-populated (or deleted): leave the group as it is.
    Keep,
    /// Exactly these snapshot users.
    Set(Bits),
}

/// The desired membership of a profile (compiling its rules; errors as [`Engine::compile`]).
pub fn desired(engine: &mut Engine<'_>, profile: &Profile, settings: &Settings) -> Result<Desired, String> {
    if !profile.auto_populate || profile.state == ProfileState::Deleted {
        return Ok(Desired::Keep);
    }
    let compiled = engine.compile(profile)?;
    let matching = engine.matching(&compiled);
    Ok(Desired::Set(members(engine.snapshot(), profile, &matching, settings.exclude_disabled_users)))
}

/// The change that brings a group to the desired members (ids sorted).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Diff {
    /// |added| + |removed|.
    pub fn changes(&self) -> usize {
        self.added.len() + self.removed.len()
    }
    pub fn is_empty(&self) -> bool {
        self.changes() == 0
    }
}

/// Desired members against the group's current ones (any order; duplicates ignored). A current member
/// the snapshot does not have is removed.
pub fn diff(snap: &Snapshot, desired: &Bits, current: &[String]) -> Diff {
    let mut current: Vec<&str> = current.iter().map(String::as_str).collect();
    current.sort_unstable();
    current.dedup();
    let mut kept = Bits::zeros(snap.len());
    let mut removed = Vec::new();
    for id in current {
        match snap.index_of(id) {
            Some(u) if desired.get(u) => kept.set(u, true),
            _ => removed.push(id.to_owned()),
        }
    }
    let added = desired.ones_iter().filter(|u| !kept.get(*u)).map(|u| snap.id(u).to_owned()).collect();
    Diff { added, removed }
}

/// Why a change of `changes` members to a group of `current` is throttled, or `None`.
pub fn throttle_reason(throttle: Option<&Throttle>, current: usize, changes: usize) -> Option<String> {
    let t = throttle?;
    let (c, n) = (changes as u64, current as u64);
    if let Some(max) = t.max_changes
        && c > u64::from(max)
    {
        return Some(format!("{changes} member changes exceed the limit of {max}"));
    }
    if let Some(p) = t.max_changes_percent
        && n > 0
        && c * 100 > u64::from(p) * n
    {
        return Some(format!("{changes} member changes exceed {p} % of the {current} current members"));
    }
    None
}

/// Whether a change is applied.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Decision {
    /// Add and remove these members.
    Apply(Diff),
    /// Nothing changes in the group; the contact is e-mailed (`reason`).
    Throttled { reason: String, added: usize, removed: usize },
}

/// Throttles or applies `diff` to a group of `current` members.
pub fn decide(throttle: Option<&Throttle>, current: usize, diff: Diff) -> Decision {
    match throttle_reason(throttle, current, diff.changes()) {
        Some(reason) => Decision::Throttled { reason, added: diff.added.len(), removed: diff.removed.len() },
        None => Decision::Apply(diff),
    }
}
