//! Learner progress and Learn365's training-plan logic (`docs/spec/learn365.md` §3: T4–T6, scenarios #1–#5).
//!
//! * A learner's plan status is `Completed` once every *required* course is completed, and then it
//!   is **sticky**: it does not change when courses are added or made required, nor when a course
//!   is reset; only an admin reset of the plan itself (Retake, or a PATCH of its status) leaves it.
//! * Otherwise the status is `InProgress` when any course of the plan is started or completed, else
//!   `NotStarted`; the percentage is `floor(100 × completed required / required)` over the active
//!   course enrollments (a locked course counts as not completed).
//! * Completing a course logs one `CourseCompletionConfirmation`; it also enrolls the learner in
//!   every **locked** course (no active enrollment) of each plan they are a learner of that contains
//!   the completed course (scenario #1), which logs the enrollment confirmation of that course.
//! * `TrainingPlanProgress` is logged when the learner's own activity changes a non-completed plan's
//!   status or percentage, and whenever a plan becomes `Completed`; admin changes to a plan's
//!   course list never log anything else (scenarios #1–#5).

use super::enroll::Cause;
use super::{Error, NotificationKind, PassingStatus, Result, State, Time};

/// A progress change for one course enrollment (`/_sim/progress`).
#[derive(Debug, Clone, Copy)]
pub struct ProgressUpdate {
    pub status: PassingStatus,
    /// 0..=100; only used with `InProgress` (`Completed` is 100, `NotStarted` 0).
    pub progress: Option<u8>,
    pub at: Time,
}

/// `PATCH Enrollments(<id>)`: every field optional; `Some(None)` clears a nullable date.
#[derive(Debug, Clone, Default)]
pub struct EnrollmentPatch {
    pub registration_date: Option<Time>,
    pub start_date: Option<Option<Time>>,
    pub completion_date: Option<Option<Time>>,
    pub due_date: Option<Option<Time>>,
    pub passing: Option<PassingStatus>,
    pub ceu: Option<f64>,
    pub course_duration: Option<i64>,
}

impl State {
    /// Checks that a row is an active enrollment of a user and returns (id, is a training plan).
    fn learner_row(&self, id: &str) -> Result<(String, bool)> {
        let row = self.enrollment(id)?;
        if row.principal_kind == super::PrincipalKind::Group {
            return Err(Error::bad_request("a group's enrollment has no progress; use its members' enrollments"));
        }
        if !row.is_active() {
            return Err(Error::conflict(
                "NotEnrolled",
                format!("enrollment '{}' is {}, not active", row.id, row.status.as_str()),
            ));
        }
        let is_tp = self.courses.get(&row.course_id).is_some_and(|c| c.is_tp());
        Ok((row.id.clone(), is_tp))
    }

    /// The learner's active row in a course (for `/_sim/progress` and `/_sim/retake`).
    pub fn learner_enrollment(&self, user: &str, course: &str) -> Result<String> {
        let user = self.user_by_ref(user)?;
        let course = self.course_by_id_or_code(course)?;
        match self.enrollment_of(&user.id, &course.id) {
            Some(row) if row.is_active() => Ok(row.id.clone()),
            _ => Err(Error::conflict(
                "NotEnrolled",
                format!("user '{}' has no active enrollment in '{}'", user.login, course.id),
            )),
        }
    }

    /// Sets a learner's status in a course (not a training plan: its status is computed).
    pub fn set_progress(&mut self, enrollment_id: &str, update: ProgressUpdate) -> Result<()> {
        let (id, is_tp) = self.learner_row(enrollment_id)?;
        if is_tp {
            return Err(Error::bad_request(
                "a training plan's status is computed from its courses; set the courses' progress, \
                 or use Complete / Retake on the plan enrollment",
            ));
        }
        if update.progress.is_some_and(|p| p > 100) {
            return Err(Error::bad_request("progress must be within 0..=100"));
        }
        self.apply_course_status(&id, update.status, update.progress, update.at, Cause::Activity);
        Ok(())
    }

    /// `POST Enrollments(<id>)/Complete`: completes a course, or (admin) a whole training plan.
    pub fn complete(&mut self, enrollment_id: &str, at: Time) -> Result<()> {
        let (id, is_tp) = self.learner_row(enrollment_id)?;
        if is_tp {
            self.complete_plan(&id, at);
        } else {
            self.apply_course_status(&id, PassingStatus::Completed, None, at, Cause::Activity);
        }
        Ok(())
    }

    /// `POST Enrollments(<id>)/Retake` and `/_sim/retake`: an admin reset. A course goes back to
    /// `NotStarted`; a training plan leaves `Completed` and, unless `keep_course_progress`, its
    /// courses are reset too; the plan status is then recomputed.
    pub fn retake(&mut self, enrollment_id: &str, keep_course_progress: bool, at: Time) -> Result<()> {
        let (id, is_tp) = self.learner_row(enrollment_id)?;
        if !is_tp {
            self.apply_course_status(&id, PassingStatus::NotStarted, None, at, Cause::Quiet);
            return Ok(());
        }
        let (principal, plan) = self.reset_plan_row(&id, at);
        if !keep_course_progress {
            let courses: Vec<String> = self
                .courses
                .get(&plan)
                .map(|tp| tp.links.iter().map(|l| l.course_id.clone()).collect())
                .unwrap_or_default();
            for course in courses {
                if let Some(row) = self.enrollment_of(&principal, &course).filter(|e| e.is_active()) {
                    let row = row.id.clone();
                    self.apply_course_status(&row, PassingStatus::NotStarted, None, at, Cause::Quiet);
                }
            }
        }
        self.recompute_plan(&principal, &plan, Cause::Quiet, at);
        Ok(())
    }

    /// `PATCH Enrollments(<id>)`. A status change goes through the same rules as progress; on a
    /// training plan `Completed` completes it and any other status is an admin reset that keeps the
    /// course progress.
    pub fn patch_enrollment(&mut self, enrollment_id: &str, patch: EnrollmentPatch) -> Result<()> {
        let id = self.enrollment(enrollment_id)?.id.clone();
        let now = super::now();
        if let Some(status) = patch.passing {
            let (id, is_tp) = self.learner_row(&id)?;
            let at = patch.completion_date.flatten().unwrap_or(now);
            match (is_tp, status) {
                (true, PassingStatus::Completed) => self.complete_plan(&id, at),
                (true, _) => {
                    let (principal, plan) = self.reset_plan_row(&id, at);
                    self.recompute_plan(&principal, &plan, Cause::Quiet, at);
                }
                (false, status) => self.apply_course_status(&id, status, None, at, Cause::Activity),
            }
        }
        let Some(row) = self.enrollments.get_mut(&id) else { return Ok(()) };
        if let Some(t) = patch.registration_date {
            row.registration_date = t;
        }
        if let Some(t) = patch.start_date {
            row.start_date = t;
        }
        if let Some(t) = patch.completion_date {
            row.completion_date = t;
        }
        if let Some(t) = patch.due_date {
            row.due_date = t;
        }
        if let Some(ceu) = patch.ceu {
            row.ceu = ceu;
        }
        if let Some(minutes) = patch.course_duration {
            row.course_duration = Some(minutes);
        }
        row.modified_at = now;
        Ok(())
    }

    /// Sets a plan row back to `NotStarted` (leaving a sticky `Completed`); returns (learner, plan).
    fn reset_plan_row(&mut self, id: &str, at: Time) -> (String, String) {
        let Some(row) = self.enrollments.get_mut(id) else { return Default::default() };
        row.passing = PassingStatus::NotStarted;
        row.progress = 0;
        row.start_date = None;
        row.completion_date = None;
        row.modified_at = at;
        (row.principal_id.clone(), row.course_id.clone())
    }

    fn complete_plan(&mut self, id: &str, at: Time) {
        let Some(row) = self.enrollments.get_mut(id) else { return };
        if row.passing == PassingStatus::Completed {
            return;
        }
        row.passing = PassingStatus::Completed;
        row.progress = 100;
        row.start_date.get_or_insert(at);
        row.completion_date = Some(at);
        row.modified_at = at;
        let (principal, plan) = (row.principal_id.clone(), row.course_id.clone());
        self.notify_progress(
            NotificationKind::TrainingPlanProgress,
            &principal,
            &plan,
            at,
            Some((PassingStatus::Completed, 100)),
        );
    }

    /// Sets a course row's status and runs the plan rules for every plan the learner is in that
    /// contains the course.
    fn apply_course_status(&mut self, id: &str, status: PassingStatus, progress: Option<u8>, at: Time, cause: Cause) {
        let Some(row) = self.enrollments.get_mut(id) else { return };
        let previous = row.passing;
        match status {
            PassingStatus::Completed => {
                row.progress = 100;
                row.completion_date = Some(at);
                row.start_date.get_or_insert(at);
            }
            PassingStatus::InProgress => {
                let kept = if previous == PassingStatus::InProgress { row.progress } else { 0 };
                row.progress = progress.unwrap_or(kept).min(100);
                row.completion_date = None;
                row.start_date.get_or_insert(at);
            }
            PassingStatus::NotStarted => {
                row.progress = 0;
                row.completion_date = None;
                row.start_date = None;
            }
        }
        row.passing = status;
        row.modified_at = at;
        let (principal, course) = (row.principal_id.clone(), row.course_id.clone());
        let completed_now = status == PassingStatus::Completed && previous != PassingStatus::Completed;
        if completed_now {
            self.notify(NotificationKind::CourseCompletionConfirmation, &principal, &course, at);
        }
        for plan in self.plans_containing(&course) {
            if !self.is_enrolled(&principal, &plan) {
                continue;
            }
            if completed_now {
                self.enroll_locked(&principal, &plan, at);
            }
            self.recompute_plan(&principal, &plan, cause, at);
        }
    }

    /// Scenario #1: enrolls the learner (source `tp:<plan>`) in every course of the plan they have
    /// no active enrollment in.
    fn enroll_locked(&mut self, principal: &str, plan: &str, at: Time) {
        let locked: Vec<String> = self.locked_courses(principal, plan);
        let source = super::Source::Tp(plan.to_string());
        for course in locked {
            self.add_source(principal, &course, source.clone(), false, at);
        }
    }

    /// Courses of the plan the learner has no active enrollment in ("locked until you enroll").
    /// Empty when the learner is not an active learner of the plan.
    pub fn locked_courses(&self, principal: &str, plan: &str) -> Vec<String> {
        if !self.is_enrolled(principal, plan) {
            return Vec::new();
        }
        let Some(tp) = self.courses.get(plan) else { return Vec::new() };
        tp.links.iter().filter(|l| !self.is_enrolled(principal, &l.course_id)).map(|l| l.course_id.clone()).collect()
    }

    /// The learner's plan status and percentage computed from the courses, ignoring stickiness.
    pub fn plan_status_from_courses(&self, principal: &str, plan: &str) -> (PassingStatus, u8) {
        let Some(tp) = self.courses.get(plan) else { return (PassingStatus::NotStarted, 0) };
        let (mut required, mut done, mut started) = (0u32, 0u32, false);
        for link in &tp.links {
            let status = self.enrollment_of(principal, &link.course_id).filter(|e| e.is_active()).map(|e| e.passing);
            if link.required {
                required += 1;
                if status == Some(PassingStatus::Completed) {
                    done += 1;
                }
            }
            started |= matches!(status, Some(PassingStatus::InProgress | PassingStatus::Completed));
        }
        let percent = (100 * done).checked_div(required).unwrap_or(0) as u8;
        let status = if required > 0 && done == required {
            PassingStatus::Completed
        } else if started {
            PassingStatus::InProgress
        } else {
            PassingStatus::NotStarted
        };
        (status, percent)
    }

    /// Recomputes a learner's plan row unless it is `Completed` (sticky) or not active.
    pub(super) fn recompute_plan(&mut self, principal: &str, plan: &str, cause: Cause, at: Time) {
        let Some(id) = self.enrollment_of(principal, plan).filter(|e| e.is_active()).map(|e| e.id.clone()) else {
            return;
        };
        let (status, percent) = self.plan_status_from_courses(principal, plan);
        let Some(row) = self.enrollments.get_mut(&id) else { return };
        if row.passing == PassingStatus::Completed || (row.passing, row.progress) == (status, percent) {
            return;
        }
        row.passing = status;
        row.progress = percent;
        row.modified_at = at;
        if status != PassingStatus::NotStarted {
            row.start_date.get_or_insert(at);
        }
        if status == PassingStatus::Completed {
            row.completion_date = Some(at);
        }
        if status == PassingStatus::Completed || cause == Cause::Activity {
            self.notify_progress(NotificationKind::TrainingPlanProgress, principal, plan, at, Some((status, percent)));
        }
    }

    /// Re-evaluates every active learner of a plan after its course list changed (no notification
    /// but a completion; sticky `Completed` rows are left alone).
    pub(super) fn recompute_learners(&mut self, plan: &str, at: Time) {
        let learners: Vec<String> = self
            .enrollments_of_course(plan)
            .filter(|e| e.is_active() && e.principal_kind == super::PrincipalKind::User)
            .map(|e| e.principal_id.clone())
            .collect();
        for learner in learners {
            self.recompute_plan(&learner, plan, Cause::Quiet, at);
        }
    }
}
