//! Catalogs, courses of every `CourseType`, and the course list of a training plan (`docs/spec/learn365.md` §3).
//!
//! Adding a course to a plan (**T5**) never enrolls anyone and logs nothing: each active learner
//! who already has an active enrollment in the course keeps it as it is (status and progress) and
//! the plan becomes one more source of it; a learner without one sees the course locked. Learners
//! whose plan is `Completed` stay `Completed` (sticky); the others get their percentage
//! recalculated. Changing the *required* flag (**T6**) recalculates the same way, which completes
//! the plan when every remaining required course is completed.

use super::{Catalog, Course, CourseType, Error, Result, Source, State, Time, TpLink, new_id};

/// The enrollment flows Learn365 knows.
pub const ENROLLMENT_FLOWS: [&str; 5] = [
    "AutomaticApproval",
    "LineManagerApproval",
    "LMSAdministratorsApproval",
    "CustomApproval",
    "ExternalWebhookApproval",
];

/// A course or training plan to create.
#[derive(Debug, Clone)]
pub struct NewCourse {
    /// A fixed id (demo seed); a new GUID otherwise.
    pub id: Option<String>,
    pub title: String,
    pub course_type: CourseType,
    /// The first catalog (created on demand) when absent.
    pub catalog_id: Option<String>,
    /// Visible code (`CourseID`).
    pub code: Option<String>,
    pub description: Option<String>,
    pub long_description: Option<String>,
    pub enrollment_flow: Option<String>,
    pub session_enrollment_type: Option<String>,
    pub ceu: Option<f64>,
    pub duration: Option<String>,
    pub url: Option<String>,
    pub image_url: Option<String>,
    pub show_in_catalog: Option<bool>,
    pub is_required: Option<bool>,
}

impl NewCourse {
    pub fn new(title: impl Into<String>, course_type: CourseType) -> Self {
        Self {
            id: None,
            title: title.into(),
            course_type,
            catalog_id: None,
            code: None,
            description: None,
            long_description: None,
            enrollment_flow: None,
            session_enrollment_type: None,
            ceu: None,
            duration: None,
            url: None,
            image_url: None,
            show_in_catalog: None,
            is_required: None,
        }
    }
}

/// A course to add to a training plan.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub course_id: String,
    pub required: bool,
    pub at: Time,
}

impl State {
    pub fn create_catalog(&mut self, title: &str, id: Option<&str>, at: Time) -> Result<String> {
        let title = title.trim();
        if title.is_empty() {
            return Err(Error::bad_request("title must not be empty"));
        }
        let id = id.map_or_else(new_id, str::to_ascii_lowercase);
        if self.catalogs.contains(&id) {
            return Err(Error::conflict("Conflict", format!("catalog '{id}' already exists")));
        }
        let seq = self.next_seq();
        self.catalogs.insert(id.clone(), Catalog { id: id.clone(), title: title.to_string(), created_at: at, seq });
        Ok(id)
    }

    /// The first catalog, created ("Default catalog") when there is none.
    fn default_catalog(&mut self, at: Time) -> Result<String> {
        let first = self.catalogs.iter().next().map(|c| c.id.clone());
        match first {
            Some(id) => Ok(id),
            None => self.create_catalog("Default catalog", None, at),
        }
    }

    pub fn create_course(&mut self, new: NewCourse, at: Time) -> Result<String> {
        let title = new.title.trim().to_string();
        if title.is_empty() {
            return Err(Error::bad_request("Title must not be empty"));
        }
        let flow = match new.enrollment_flow.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            None => ENROLLMENT_FLOWS[0].to_string(),
            Some(f) => ENROLLMENT_FLOWS
                .iter()
                .find(|known| known.eq_ignore_ascii_case(f))
                .map(|known| known.to_string())
                .ok_or_else(|| {
                    Error::bad_request(format!("EnrollmentFlow '{f}' is not one of {}", ENROLLMENT_FLOWS.join(", ")))
                })?,
        };
        if new.ceu.is_some_and(|c| !c.is_finite() || c < 0.0) {
            return Err(Error::bad_request("CEU must be a non-negative number"));
        }
        let id = new.id.as_deref().map_or_else(new_id, str::to_ascii_lowercase);
        if self.courses.contains(&id) {
            return Err(Error::conflict("Conflict", format!("course '{id}' already exists")));
        }
        let catalog_id = match new.catalog_id {
            Some(c) => self.catalog(&c)?.id.clone(),
            None => self.default_catalog(at)?,
        };
        let seq = self.next_seq();
        let course = Course {
            id: id.clone(),
            catalog_id,
            title,
            description: new.description.unwrap_or_default(),
            long_description: new.long_description,
            code: new.code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
            course_type: new.course_type,
            enrollment_flow: flow,
            session_enrollment_type: new
                .session_enrollment_type
                .or_else(|| new.course_type.is_ilt().then(|| "EnrollToSingle".to_string())),
            ceu: new.ceu.unwrap_or(0.0),
            duration: new.duration,
            url: new.url,
            image_url: new.image_url,
            show_in_catalog: new.show_in_catalog.unwrap_or(true),
            is_required: new.is_required.unwrap_or(false),
            is_published: true,
            created_at: at,
            modified_at: at,
            links: Vec::new(),
            seq,
        };
        self.courses.insert(id.clone(), course);
        Ok(id)
    }

    /// The admin adds a course to a training plan (T5).
    pub fn add_plan_course(&mut self, plan: &str, link: NewLink) -> Result<TpLink> {
        let plan = self.training_plan(plan)?.id.clone();
        let course = self.course(&link.course_id)?;
        if course.is_tp() {
            return Err(Error::bad_request("a training plan cannot contain another training plan"));
        }
        let course = course.id.clone();
        let Some(tp) = self.courses.get_mut(&plan) else { return Err(Error::bad_request("no such plan")) };
        if tp.link(&course).is_some() {
            return Err(Error::conflict(
                "CourseAlreadyInTrainingPlan",
                format!("course '{course}' is already in training plan '{plan}'"),
            ));
        }
        let added = TpLink {
            course_id: course.clone(),
            order: tp.links.len() as u32 + 1,
            required: link.required,
            added_at: link.at,
        };
        tp.links.push(added.clone());
        tp.modified_at = link.at;

        let source = Source::Tp(plan.clone());
        let holders: Vec<String> = self
            .enrollments_of_course(&plan)
            .filter(|e| e.is_active())
            .filter_map(|e| self.enrollment_of(&e.principal_id, &course))
            .filter(|e| e.is_active())
            .map(|e| e.id.clone())
            .collect();
        for id in holders {
            if let Some(row) = self.enrollments.get_mut(&id) {
                row.sources.insert(source.clone());
            }
        }
        self.recompute_learners(&plan, link.at);
        Ok(added)
    }

    /// The admin changes a plan course's *required for completion* flag (T6).
    pub fn set_plan_course_required(&mut self, plan: &str, course: &str, required: bool, at: Time) -> Result<TpLink> {
        let plan = self.training_plan(plan)?.id.clone();
        let course = course.to_ascii_lowercase();
        let Some(tp) = self.courses.get_mut(&plan) else { return Err(Error::bad_request("no such plan")) };
        let Some(link) = tp.links.iter_mut().find(|l| l.course_id == course) else {
            return Err(Error::not_found("CourseNotInTrainingPlan", "course in this training plan", &course));
        };
        link.required = required;
        let updated = link.clone();
        tp.modified_at = at;
        self.recompute_learners(&plan, at);
        Ok(updated)
    }

    /// The admin deletes a course or training plan: it leaves every plan that holds it (their learners
    /// recomputed) and its enrollments go with it, as in the product, where a deleted course's
    /// enrollments are no longer listed.
    pub fn delete_course(&mut self, id: &str, at: Time) -> Result<()> {
        let id = self.course(id)?.id.clone();
        let rows: Vec<String> = self.enrollments_of_course(&id).map(|e| e.id.clone()).collect();
        for row in &rows {
            self.remove_row(row);
        }
        self.by_course.remove(&id);
        self.courses.remove(&id);
        let plans: Vec<String> =
            self.courses.iter().filter(|c| c.links.iter().any(|l| l.course_id == id)).map(|c| c.id.clone()).collect();
        for plan in plans {
            if let Some(tp) = self.courses.get_mut(&plan) {
                tp.links.retain(|l| l.course_id != id);
                for (i, l) in tp.links.iter_mut().enumerate() {
                    l.order = i as u32 + 1;
                }
                tp.modified_at = at;
            }
            self.recompute_learners(&plan, at);
        }
        Ok(())
    }
}
