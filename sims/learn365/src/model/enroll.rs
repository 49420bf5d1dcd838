//! Enrollment sources and the rules that add and remove them (`docs/spec/learn365.md` §3.1, §3.2).
//!
//! * `add_source` creates or reactivates a row (same `Id`, progress kept) or just adds the source to
//!   an active one. Activating a user's row logs the enrollment notification; activating a
//!   training-plan row runs **T1** (every course of the plan gets the `tp:<tpId>` source, existing
//!   enrollments keep their status) and **T4** (the plan status is computed from the courses,
//!   completions carried over). Activating a group's row enrolls every known member with the
//!   `group:<objectId>` source.
//! * `remove_source` ends a row when its last source goes. Ending a training-plan row runs **T2**
//!   (only the `tp:<tpId>` sources go, so direct, group and other-plan enrollments remain); ending a
//!   group's row removes the group source from its members' rows.
//! * Nothing here enrolls in another plan (**T3**): a course enrollment never reaches a plan, and a
//!   plan reaches only its own courses.

use std::collections::BTreeSet;

use super::{
    Enrollment, Error, NotificationKind, PassingStatus, PrincipalKind, RegistrationStatus, Result, Source, State, Time,
    new_id,
};

/// What `Enroll` did: `created` is true when the principal had no active enrollment before (201).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollOutcome {
    pub enrollment_id: String,
    pub created: bool,
}

/// How the plan status is being recomputed; decides whether a `TrainingPlanProgress` is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// The learner's own course activity: any change of the plan status or percentage is notified.
    Activity,
    /// Enrollment, admin reset or a change of the plan's course list: only a completion is notified.
    Quiet,
}

impl State {
    /// The principal named by a claims login name or a Learn365 user id.
    pub fn resolve_principal(&self, login: Option<&str>, user_id: Option<&str>) -> Result<String> {
        let found = match (login.filter(|l| !l.trim().is_empty()), user_id.filter(|u| !u.trim().is_empty())) {
            (Some(login), _) => self.principal_by_login(login).ok_or(login),
            (None, Some(id)) => self.principals.get(&id.to_ascii_lowercase()).ok_or(id),
            (None, None) => return Err(Error::bad_request("userLoginName is required")),
        };
        found.map(|p| p.id.clone()).map_err(|key| Error::not_found("UserNotFound", "user or group", key))
    }

    /// `POST Courses(<id>)/Enroll` for a known principal: adds the `direct` source to a new or
    /// reactivated row (`created`); an already active row is returned unchanged. Without
    /// `ignore_flow` a course whose enrollment flow is not `AutomaticApproval` gives a
    /// `PendingApproval` row.
    pub fn enroll(
        &mut self,
        course_id: &str,
        principal_id: &str,
        ignore_flow: bool,
        session_id: Option<String>,
        at: Time,
    ) -> Result<EnrollOutcome> {
        let course = self.course(course_id)?.id.clone();
        if !self.principals.contains(principal_id) {
            return Err(Error::not_found("UserNotFound", "user or group", principal_id));
        }
        // Idempotent: an active (or, with the flow honoured, pending) enrollment is answered as it
        // is, without adding the `direct` source, so it stays whoever's it was.
        if let Some(row) = self.enrollment_of(principal_id, &course)
            && (row.is_active() || (row.status == RegistrationStatus::PendingApproval && !ignore_flow))
        {
            return Ok(EnrollOutcome { enrollment_id: row.id.clone(), created: false });
        }
        let (id, created) = self.add_source(principal_id, &course, Source::Direct, !ignore_flow, at);
        if created
            && session_id.is_some()
            && let Some(row) = self.enrollments.get_mut(&id)
        {
            row.session_id = session_id;
        }
        Ok(EnrollOutcome { enrollment_id: id, created })
    }

    /// Adds `source` to the principal's row in the course, creating or reactivating the row when it
    /// is not active. Returns the row id and whether it was created or reactivated.
    pub(super) fn add_source(
        &mut self,
        principal_id: &str,
        course_id: &str,
        source: Source,
        honour_flow: bool,
        at: Time,
    ) -> (String, bool) {
        let needs_approval = honour_flow && self.courses.get(course_id).is_some_and(|c| c.needs_approval());
        let key = (principal_id.to_string(), course_id.to_string());
        let id = match self.pairs.get(&key).cloned() {
            Some(id) => id,
            None => self.insert_row(principal_id, course_id, at),
        };
        let Some(row) = self.enrollments.get_mut(&id) else { return (id, false) };
        match row.status {
            RegistrationStatus::Enrolled => {
                if row.sources.insert(source) {
                    row.modified_at = at;
                }
                return (id, false);
            }
            RegistrationStatus::PendingApproval if needs_approval => {
                row.sources.insert(source);
                return (id, false);
            }
            _ => {}
        }
        row.sources.insert(source);
        if needs_approval {
            row.status = RegistrationStatus::PendingApproval;
            row.status_changed_at = at;
            row.modified_at = at;
        } else {
            self.activate(&id, at);
        }
        (id, true)
    }

    /// A new, not yet active row (status `Cancelled`, no source) for the caller to fill.
    fn insert_row(&mut self, principal_id: &str, course_id: &str, at: Time) -> String {
        let (kind, login) = match self.principals.get(principal_id) {
            Some(p) => (p.kind, p.login.clone()),
            None => (PrincipalKind::User, String::new()),
        };
        let id = new_id();
        let seq = self.next_seq();
        let row = Enrollment {
            id: id.clone(),
            course_id: course_id.to_string(),
            principal_id: principal_id.to_string(),
            principal_kind: kind,
            login,
            sources: BTreeSet::new(),
            status: RegistrationStatus::Cancelled,
            passing: PassingStatus::NotStarted,
            progress: 0,
            registration_date: at,
            start_date: None,
            completion_date: None,
            due_date: None,
            end_date: None,
            status_changed_at: at,
            cancellation_reason: None,
            session_id: None,
            ceu: self.courses.get(course_id).map_or(0.0, |c| c.ceu),
            course_duration: None,
            created_at: at,
            modified_at: at,
            seq,
        };
        self.enrollments.insert(id.clone(), row);
        self.pairs.insert((principal_id.to_string(), course_id.to_string()), id.clone());
        self.by_principal.entry(principal_id.to_string()).or_default().insert(seq, id.clone());
        self.by_course.entry(course_id.to_string()).or_default().insert(seq, id.clone());
        id
    }

    /// Drops a row and its index entries (purge only).
    pub(super) fn remove_row(&mut self, id: &str) {
        let Some(row) = self.enrollments.remove(id) else { return };
        self.pairs.remove(&(row.principal_id.clone(), row.course_id.clone()));
        if let Some(m) = self.by_principal.get_mut(&row.principal_id) {
            m.remove(&row.seq);
        }
        if let Some(m) = self.by_course.get_mut(&row.course_id) {
            m.remove(&row.seq);
        }
    }

    /// Makes a row `Enrolled` and runs what an enrollment triggers.
    pub(super) fn activate(&mut self, id: &str, at: Time) {
        let Some(row) = self.enrollments.get_mut(id) else { return };
        row.registration_date = at;
        row.status = RegistrationStatus::Enrolled;
        row.cancellation_reason = None;
        row.status_changed_at = at;
        row.modified_at = at;
        let (principal, course, kind) = (row.principal_id.clone(), row.course_id.clone(), row.principal_kind);
        let Some(c) = self.courses.get(&course) else { return };
        let (course_type, links) = (c.course_type, c.links.iter().map(|l| l.course_id.clone()).collect::<Vec<_>>());

        if kind == PrincipalKind::Group {
            let Some(group) = self.principals.get(&principal) else { return };
            let source = Source::Group(group.object_id.clone());
            let members: Vec<String> =
                group.members.iter().filter_map(|oid| self.user_by_object_id(oid)).map(|u| u.id.clone()).collect();
            for member in members {
                self.add_source(&member, &course, source.clone(), false, at);
            }
            return;
        }
        if course_type.is_ilt() {
            self.notify(NotificationKind::IltEnrollmentConfirmation, &principal, &course, at);
            self.notify(NotificationKind::IltCalendarInvite, &principal, &course, at);
        } else {
            self.notify(NotificationKind::CourseEnrollmentConfirmation, &principal, &course, at);
        }
        if !links.is_empty() {
            let source = Source::Tp(course.clone());
            for link in links {
                self.add_source(&principal, &link, source.clone(), false, at);
            }
        }
        if course_type == super::CourseType::TrainingPlan {
            self.recompute_plan(&principal, &course, Cause::Quiet, at);
        }
    }

    /// Removes one source; the row ends when no source is left.
    pub(super) fn remove_source(
        &mut self,
        principal_id: &str,
        course_id: &str,
        source: &Source,
        reason: Option<&str>,
        at: Time,
    ) {
        let Some(id) = self.pairs.get(&(principal_id.to_string(), course_id.to_string())).cloned() else { return };
        let Some(row) = self.enrollments.get_mut(&id) else { return };
        if !row.sources.remove(source) {
            return;
        }
        row.modified_at = at;
        if row.sources.is_empty() && row.status != RegistrationStatus::Cancelled {
            self.deactivate(&id, reason, at);
        }
    }

    /// Ends a row (`Cancelled`, no sources, progress kept) and runs T2 or the group cascade.
    pub(super) fn deactivate(&mut self, id: &str, reason: Option<&str>, at: Time) {
        let Some(row) = self.enrollments.get_mut(id) else { return };
        let was_active = row.is_active();
        row.status = RegistrationStatus::Cancelled;
        row.sources.clear();
        row.cancellation_reason = reason.map(str::to_string);
        row.status_changed_at = at;
        row.modified_at = at;
        if !was_active {
            return;
        }
        let (principal, course, kind) = (row.principal_id.clone(), row.course_id.clone(), row.principal_kind);
        let cascade = if kind == PrincipalKind::Group {
            let Some(group) = self.principals.get(&principal) else { return };
            let source = Source::Group(group.object_id.clone());
            let holders: Vec<(String, String)> = self
                .enrollments_of_course(&course)
                .filter(|e| e.sources.contains(&source))
                .map(|e| (e.principal_id.clone(), e.course_id.clone()))
                .collect();
            (source, holders)
        } else if self.courses.get(&course).is_some_and(|c| c.is_tp()) {
            let source = Source::Tp(course.clone());
            let holders: Vec<(String, String)> = self
                .enrollments_of_principal(&principal)
                .filter(|e| e.sources.contains(&source))
                .map(|e| (e.principal_id.clone(), e.course_id.clone()))
                .collect();
            (source, holders)
        } else {
            return;
        };
        let (source, holders) = cascade;
        for (p, c) in holders {
            self.remove_source(&p, &c, &source, reason, at);
        }
    }

    /// `POST Enrollments(<id>)/Cancel`. Idempotent. An admin unenrollment removes the `direct`
    /// source; when the row is also held by a group or a training plan it stays active. A row held
    /// only by a group or a plan is ended outright (the course then shows as locked in the plan).
    pub fn cancel(&mut self, id: &str, message: Option<String>, at: Time) -> Result<()> {
        let row = self.enrollment(id)?;
        let (id, status) = (row.id.clone(), row.status);
        let shared = row.sources.contains(&Source::Direct) && row.sources.len() > 1;
        match status {
            RegistrationStatus::Cancelled | RegistrationStatus::Rejected => return Ok(()),
            RegistrationStatus::PendingApproval | RegistrationStatus::WaitingList => {
                self.deactivate(&id, message.as_deref(), at);
                return Ok(());
            }
            RegistrationStatus::Enrolled => {}
        }
        if shared {
            if let Some(row) = self.enrollments.get_mut(&id) {
                row.sources.remove(&Source::Direct);
                row.modified_at = at;
            }
            return Ok(());
        }
        self.deactivate(&id, message.as_deref().or(Some("Cancelled by an administrator")), at);
        Ok(())
    }

    /// `POST Enrollments(<id>)/Approve`: a pending request becomes an enrollment.
    pub fn approve(&mut self, id: &str, at: Time) -> Result<()> {
        let row = self.enrollment(id)?;
        let (id, status) = (row.id.clone(), row.status);
        match status {
            RegistrationStatus::PendingApproval | RegistrationStatus::WaitingList => {
                self.activate(&id, at);
                Ok(())
            }
            RegistrationStatus::Enrolled => Ok(()),
            other => Err(invalid_state(&id, other, "approved")),
        }
    }

    /// `POST Enrollments(<id>)/Reject`: a pending request is refused.
    pub fn reject(&mut self, id: &str, message: Option<String>, at: Time) -> Result<()> {
        let row = self.enrollment(id)?;
        let (id, status) = (row.id.clone(), row.status);
        match status {
            RegistrationStatus::PendingApproval | RegistrationStatus::WaitingList => {
                if let Some(row) = self.enrollments.get_mut(&id) {
                    row.status = RegistrationStatus::Rejected;
                    row.sources.clear();
                    row.cancellation_reason = message;
                    row.status_changed_at = at;
                    row.modified_at = at;
                }
                Ok(())
            }
            RegistrationStatus::Rejected => Ok(()),
            other => Err(invalid_state(&id, other, "rejected")),
        }
    }
}

pub(super) fn invalid_state(id: &str, status: RegistrationStatus, action: &str) -> Error {
    Error::conflict(
        "InvalidEnrollmentState",
        format!("enrollment '{id}' is {} and cannot be {action}", status.as_str()),
    )
}
