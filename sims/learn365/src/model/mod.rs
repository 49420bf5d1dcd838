//! The simulated Learn365 tenant: catalogs, courses and training plans, principals (users and
//! Entra groups), enrollments and the learner notification log.
//!
//! Everything here is plain synchronous code over in-memory maps. Every mutating operation
//! validates its whole input before it changes anything, so a refused request never half-applies.
//!
//! Enrollment model (one row per principal × course, its `Id` stable for life):
//! * a row holds a **set of sources** (`direct`, `group:<objectId>`, `tp:<tpId>`); it is active
//!   (`Enrolled`) while any source remains and becomes `Cancelled` when the last one goes;
//! * a cancelled row keeps its progress (not shown to the learner) and is reactivated, same `Id`,
//!   progress intact, when the principal is enrolled again;
//! * on a training-plan row, `CoursePassingStatus`/progress are the learner's plan status and
//!   percentage; `Completed` there is sticky (only an admin reset leaves it).
//!
//! The rules themselves live in `enroll.rs` (sources, groups, T1/T2) and `progress.rs` (statuses,
//! T4–T6, scenarios #1–#5, notifications).

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::table::Table;

mod courses;
mod demo;
mod enroll;
mod entities;
mod members;
mod progress;
mod snapshot;
mod users;
mod views;

pub use courses::{NewCourse, NewLink};
pub use demo::{DEMO, Demo};
pub use enroll::EnrollOutcome;
pub use entities::{
    Catalog, Course, CourseType, Enrollment, Notification, NotificationKind, PassingStatus, Principal, PrincipalKind,
    RegistrationStatus, Source, TpLink,
};
pub use progress::{EnrollmentPatch, ProgressUpdate};
pub use users::{GroupUpdate, UserUpsert};

/// A refusal, rendered as `{"error": {"code", "message"}}` with `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Error {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    pub fn not_found(code: &'static str, what: &str, id: &str) -> Self {
        Self::new(404, code, format!("{what} '{id}' was not found"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Timestamps are UTC.
pub type Time = OffsetDateTime;

pub fn now() -> Time {
    OffsetDateTime::now_utc()
}

/// RFC 3339 in UTC, e.g. `2024-01-15T15:00:00Z`.
pub fn fmt_time(t: Time) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()
}

/// An RFC 3339 date-time, or a bare `YYYY-MM-DD` date (midnight UTC).
pub fn parse_time(s: &str) -> Option<Time> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let date = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc())
}

/// Parses an optional `at` field of a `/_sim` body.
pub fn parse_at(at: Option<&str>) -> Result<Time> {
    match at {
        None => Ok(now()),
        Some(s) => parse_time(s).ok_or_else(|| Error::bad_request(format!("'{s}' is not an RFC 3339 date-time"))),
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Claims prefix of a Microsoft 365 user.
pub const USER_CLAIM_PREFIX: &str = "i:0#.f|membership|";
/// Claims prefix of an Entra security group.
pub const GROUP_CLAIM_PREFIX: &str = "c:0t.c|tenant|";
/// Claims prefix of a Microsoft 365 group (SharePoint convention; accepted as an alias).
pub const M365_GROUP_CLAIM_PREFIX: &str = "c:0o.c|federateddirectoryclaimprovider|";

/// The whole tenant.
#[derive(Debug, Default)]
pub struct State {
    seq: u64,
    catalogs: Table<Catalog>,
    courses: Table<Course>,
    principals: Table<Principal>,
    /// lower-case login name -> principal id
    logins: HashMap<String, String>,
    /// lower-case objectId -> user id
    user_oids: HashMap<String, String>,
    /// lower-case objectId -> group principal id
    group_oids: HashMap<String, String>,
    enrollments: Table<Enrollment>,
    /// (principal id, course id) -> enrollment id
    pairs: HashMap<(String, String), String>,
    /// principal id -> its enrollments by sequence number
    by_principal: HashMap<String, BTreeMap<u64, String>>,
    /// course id -> its enrollments by sequence number
    by_course: HashMap<String, BTreeMap<u64, String>>,
    notifications: Vec<Notification>,
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    // -----------------------------------------------------------------------
    // Lookups

    pub fn catalogs(&self) -> impl Iterator<Item = &Catalog> {
        self.catalogs.iter()
    }

    pub fn catalog(&self, id: &str) -> Result<&Catalog> {
        self.catalogs.get(&id.to_ascii_lowercase()).ok_or_else(|| Error::not_found("CatalogNotFound", "catalog", id))
    }

    pub fn courses(&self) -> impl Iterator<Item = &Course> {
        self.courses.iter()
    }

    pub fn course(&self, id: &str) -> Result<&Course> {
        self.courses.get(&id.to_ascii_lowercase()).ok_or_else(|| Error::not_found("CourseNotFound", "course", id))
    }

    /// A course by `Id`, or else by its visible `CourseID` code (case-insensitive).
    pub fn course_by_id_or_code(&self, key: &str) -> Result<&Course> {
        self.course(key).or_else(|e| {
            self.courses.iter().find(|c| c.code.as_deref().is_some_and(|code| code.eq_ignore_ascii_case(key))).ok_or(e)
        })
    }

    pub fn training_plan(&self, id: &str) -> Result<&Course> {
        match self.courses.get(&id.to_ascii_lowercase()) {
            Some(c) if c.is_tp() => Ok(c),
            _ => Err(Error::not_found("TrainingPlanNotFound", "training plan", id)),
        }
    }

    pub fn training_plans(&self) -> impl Iterator<Item = &Course> {
        self.courses.iter().filter(|c| c.is_tp())
    }

    /// Training plans that contain `course_id`.
    pub fn plans_containing(&self, course_id: &str) -> Vec<String> {
        self.training_plans().filter(|tp| tp.link(course_id).is_some()).map(|tp| tp.id.clone()).collect()
    }

    pub fn principals(&self) -> impl Iterator<Item = &Principal> {
        self.principals.iter()
    }

    pub fn principal(&self, id: &str) -> Option<&Principal> {
        self.principals.get(id)
    }

    pub fn users(&self) -> impl Iterator<Item = &Principal> {
        self.principals.iter().filter(|p| !p.is_group())
    }

    pub fn groups(&self) -> impl Iterator<Item = &Principal> {
        self.principals.iter().filter(|p| p.is_group())
    }

    pub fn user_by_object_id(&self, oid: &str) -> Option<&Principal> {
        self.user_oids.get(&oid.to_ascii_lowercase()).and_then(|id| self.principals.get(id))
    }

    pub fn group_by_object_id(&self, oid: &str) -> Option<&Principal> {
        self.group_oids.get(&oid.to_ascii_lowercase()).and_then(|id| self.principals.get(id))
    }

    /// A principal by claims login name (case-insensitive). A plain UPN or e-mail address is also
    /// accepted for a user; an M365-group claim finds the group with that object id.
    pub fn principal_by_login(&self, login: &str) -> Option<&Principal> {
        let lower = login.trim().to_lowercase();
        if let Some(p) = self.logins.get(&lower).and_then(|id| self.principals.get(id)) {
            return Some(p);
        }
        if let Some(oid) = lower.strip_prefix(M365_GROUP_CLAIM_PREFIX) {
            return self.group_by_object_id(oid);
        }
        if lower.contains('|') {
            return None;
        }
        let claims = format!("{USER_CLAIM_PREFIX}{lower}");
        self.logins
            .get(&claims)
            .and_then(|id| self.principals.get(id))
            .or_else(|| self.users().find(|u| !u.email.is_empty() && u.email.eq_ignore_ascii_case(&lower)))
    }

    /// A user by login name, Entra object id or Learn365 `Id` (the `/_sim` bodies' `user` field).
    pub fn user_by_ref(&self, key: &str) -> Result<&Principal> {
        let found = self
            .principal_by_login(key)
            .or_else(|| self.user_by_object_id(key))
            .or_else(|| self.principals.get(&key.to_ascii_lowercase()));
        match found {
            Some(p) if !p.is_group() => Ok(p),
            _ => Err(Error::not_found("UserNotFound", "user", key)),
        }
    }

    pub fn enrollments(&self) -> impl Iterator<Item = &Enrollment> {
        self.enrollments.iter()
    }

    pub fn enrollment(&self, id: &str) -> Result<&Enrollment> {
        self.enrollments
            .get(&id.to_ascii_lowercase())
            .ok_or_else(|| Error::not_found("EnrollmentNotFound", "enrollment", id))
    }

    pub fn enrollment_count(&self) -> usize {
        self.enrollments.len()
    }

    /// The row of a principal in a course, active or not.
    pub fn enrollment_of(&self, principal_id: &str, course_id: &str) -> Option<&Enrollment> {
        let id = self.pairs.get(&(principal_id.to_string(), course_id.to_string()))?;
        self.enrollments.get(id)
    }

    /// Whether the principal has an active enrollment in the course.
    pub fn is_enrolled(&self, principal_id: &str, course_id: &str) -> bool {
        self.enrollment_of(principal_id, course_id).is_some_and(Enrollment::is_active)
    }

    pub fn enrollments_of_principal(&self, principal_id: &str) -> impl Iterator<Item = &Enrollment> {
        self.by_principal
            .get(principal_id)
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|id| self.enrollments.get(id))
    }

    pub fn enrollments_of_course(&self, course_id: &str) -> impl Iterator<Item = &Enrollment> {
        self.by_course.get(course_id).into_iter().flat_map(|m| m.values()).filter_map(|id| self.enrollments.get(id))
    }

    pub fn notifications(&self) -> &[Notification] {
        &self.notifications
    }

    fn notify(&mut self, kind: NotificationKind, user_id: &str, course_id: &str, at: Time) {
        self.notify_progress(kind, user_id, course_id, at, None);
    }

    fn notify_progress(
        &mut self,
        kind: NotificationKind,
        user_id: &str,
        course_id: &str,
        at: Time,
        tp: Option<(PassingStatus, u8)>,
    ) {
        let login = self.principals.get(user_id).map(|p| p.login.clone()).unwrap_or_default();
        let seq = self.next_seq();
        self.notifications.push(Notification {
            seq,
            kind,
            user_id: user_id.to_string(),
            login,
            course_id: course_id.to_string(),
            at,
            status: tp.map(|t| t.0),
            progress: tp.map(|t| t.1),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_format_in_utc() {
        let t = parse_time("2024-01-15T15:00:00.00Z").expect("rfc3339");
        assert_eq!(fmt_time(t), "2024-01-15T15:00:00Z");
        let t = parse_time("2024-01-15T17:00:00+02:00").expect("offset");
        assert_eq!(fmt_time(t), "2024-01-15T15:00:00Z");
        assert_eq!(parse_time("2024-01-15").map(fmt_time).as_deref(), Some("2024-01-15T00:00:00Z"));
        assert!(parse_time("yesterday").is_none());
        assert!(parse_at(Some("nope")).is_err());
    }

    #[test]
    fn passing_status_accepts_names_and_patch_digits() {
        assert_eq!(PassingStatus::parse("0"), Some(PassingStatus::Completed));
        assert_eq!(PassingStatus::parse("1"), Some(PassingStatus::NotStarted));
        assert_eq!(PassingStatus::parse("2"), Some(PassingStatus::InProgress));
        assert_eq!(PassingStatus::parse("In progress"), Some(PassingStatus::InProgress));
        assert_eq!(PassingStatus::parse("done"), None);
    }
}
