//! The OData handlers: users (upsert, get, purge), courses and training plans, catalogs, and
//! enrollments (Enroll, list, get, PATCH and the Cancel/Complete/Retake/Approve/Reject actions).

use serde_json::{Map, Value};

use super::routes::{Action, Route};
use super::{Request, Response, Sim, bodies};
use crate::model::{
    Catalog, Course, CourseType, Enrollment, EnrollmentPatch, Error, NewCourse, PassingStatus, Principal, Result,
    State, UserUpsert, now,
};
use crate::odata::schema::{CATALOGS, COURSES, ENROLLMENTS, EntitySet, TRAINING_PLANS, USERS};
use crate::odata::{Expand, Options, Page, context, next_link, paginate, project};

const ENROLL_FIELDS: [&str; 5] =
    ["userLoginName", "courseSessionId", "courseSessionIds", "ignoreMaxAttendees", "ignoreEnrollmentFlow"];
const CREATE_ENROLLMENT_FIELDS: [&str; 7] = [
    "CourseId",
    "UserId",
    "UserLoginName",
    "courseSessionId",
    "courseSessionIds",
    "ignoreMaxAttendees",
    "ignoreEnrollmentFlow",
];
const PATCH_FIELDS: [&str; 7] =
    ["RegistrationDate", "StartDate", "CompletionDate", "DueDate", "CoursePassingStatus", "CEU", "CourseDuration"];
const CREATE_COURSE_FIELDS: [&str; 29] = [
    "CourseCatalogId",
    "CourseType",
    "Title",
    "Description",
    "Url",
    "Culture",
    "UICulture",
    "Categories",
    "Tags",
    "EnrollmentFlow",
    "SiteTemplate",
    "LearningModules",
    "Quizzes",
    "AutoResolveUrlConflict",
    "CourseLayoutId",
    "CourseSessionEnrollmentType",
    "TeacherLogins",
    "TrainerLogins",
    "CertificateTemplateId",
    "CourseID",
    "Duration",
    "LongDescription",
    "PublishingSettings",
    "ExpirySettings",
    "DueDateSettings",
    "ShowInCatalog",
    "CEU",
    "ImageUrl",
    "FailedCourseId",
];

/// A single entity with its `@odata.context` first.
fn entity_body(base_url: &str, set: &EntitySet, select: Option<&[String]>, row: Map<String, Value>) -> Value {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context(base_url, set.name, select, true)));
    body.extend(row);
    Value::Object(body)
}

/// Fills the `$expand`ed navigation properties of a row (before `$select` drops `Id`).
fn expand_row(state: &State, set: &EntitySet, row: &mut Map<String, Value>, items: &[Expand]) {
    let id = row.get("Id").and_then(Value::as_str).unwrap_or_default().to_string();
    for item in items {
        let value = match (set.name, item.nav.as_str()) {
            ("Courses", nav) => state.course(&id).ok().and_then(|c| c.nav_odata(nav)).map(|v| select_in(v, item)),
            ("TrainingPlans", "Courses") => state.training_plan(&id).ok().map(|tp| {
                Value::Array(
                    tp.links
                        .iter()
                        .map(|l| Value::Object(project(l.to_odata(&tp.id), item.select.as_deref(), &[])))
                        .collect(),
                )
            }),
            ("CourseCatalogs", "Courses") => Some(Value::Array(
                state
                    .courses()
                    .filter(|c| c.catalog_id == id)
                    .map(|c| {
                        let mut course = c.to_odata();
                        expand_row(state, &COURSES, &mut course, &item.expand);
                        Value::Object(project(course, item.select.as_deref(), &item.expand))
                    })
                    .collect(),
            )),
            _ => None,
        };
        row.insert(item.nav.clone(), value.unwrap_or(Value::Null));
    }
}

/// Applies a nested `$select` to a complex value (an object or a list of objects).
fn select_in(value: Value, item: &Expand) -> Value {
    let Some(names) = item.select.as_deref() else { return value };
    match value {
        Value::Object(map) => Value::Object(project(map, Some(names), &[])),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| select_in(v, item)).collect()),
        other => other,
    }
}

fn enroll_session(obj: &Map<String, Value>) -> Result<Option<String>> {
    if let Some(ids) = obj.get("courseSessionIds").filter(|v| !v.is_null()) {
        let ids = ids
            .as_array()
            .filter(|a| a.iter().all(Value::is_string))
            .ok_or_else(|| Error::bad_request("'courseSessionIds' must be an array of GUID strings"))?;
        if let Some(first) = ids.first().and_then(Value::as_str) {
            return Ok(Some(first.to_string()));
        }
    }
    bodies::opt_str(obj, "courseSessionId")
}

impl Sim {
    pub(super) fn dispatch(&mut self, route: Route, req: &Request<'_>) -> Result<Response> {
        let at = now();
        let base = req.base_url;
        match route {
            Route::ListUsers => {
                let opts = Options::parse(req.query, &USERS, false)?;
                let rows = self.user_rows(&opts);
                self.list(&USERS, req, &opts, rows, |p| p.to_odata())
            }
            Route::UpsertUser => {
                let obj = bodies::object(req.body, true)?;
                bodies::check_keys(&obj, &UserUpsert::FIELDS)?;
                if !bodies::present(&obj, "LoginName") {
                    return Err(Error::bad_request("LoginName is required"));
                }
                let (id, created) = self.state.upsert_user(bodies::parse(obj)?, at)?;
                let user = self.state.principal(&id).map(|p| p.to_odata()).unwrap_or_default();
                Ok(Response::json(if created { 201 } else { 200 }, entity_body(base, &USERS, None, user)))
            }
            Route::GetUser(key) => {
                let user = self
                    .state
                    .principal_by_login(&key)
                    .or_else(|| self.state.principal(&key.to_ascii_lowercase()))
                    .ok_or_else(|| Error::not_found("UserNotFound", "user", &key))?;
                let row = user.to_odata();
                self.single(&USERS, req, row)
            }
            Route::PurgeUser(key) => {
                self.state.purge(&key, at)?;
                Ok(Response::empty(202))
            }
            Route::ListCourses => {
                let opts = Options::parse(req.query, &COURSES, false)?;
                let rows: Vec<&Course> = self.state.courses().collect();
                self.list(&COURSES, req, &opts, rows, |c| c.to_odata())
            }
            Route::CreateCourse => {
                let id = self.create_course_odata(req.body, at)?;
                let row = self.state.course(&id)?.to_odata();
                Ok(Response::json(200, entity_body(base, &COURSES, None, row)))
            }
            Route::GetCourse(id) => {
                let row = self.state.course(&id)?.to_odata();
                self.single(&COURSES, req, row)
            }
            Route::Enroll(id) => self.enroll(&id, req, at),
            Route::ListTrainingPlans => {
                let opts = Options::parse(req.query, &TRAINING_PLANS, false)?;
                let rows: Vec<&Course> = self.state.training_plans().collect();
                self.list(&TRAINING_PLANS, req, &opts, rows, |c| c.to_odata_plan())
            }
            Route::GetTrainingPlan(id) => {
                let row = self.state.training_plan(&id)?.to_odata_plan();
                self.single(&TRAINING_PLANS, req, row)
            }
            Route::ListCatalogs => {
                let opts = Options::parse(req.query, &CATALOGS, false)?;
                let rows: Vec<&Catalog> = self.state.catalogs().collect();
                self.list(&CATALOGS, req, &opts, rows, |c| c.to_odata())
            }
            Route::GetCatalog(id) => {
                let row = self.state.catalog(&id)?.to_odata();
                self.single(&CATALOGS, req, row)
            }
            Route::ListEnrollments | Route::ListEnrollmentsWithDeletedUsers => {
                let opts = Options::parse(req.query, &ENROLLMENTS, false)?;
                let rows = self.enrollment_rows(&opts);
                self.list(&ENROLLMENTS, req, &opts, rows, |e| e.to_odata())
            }
            Route::CreateEnrollment => {
                let obj = bodies::object(req.body, true)?;
                bodies::check_keys(&obj, &CREATE_ENROLLMENT_FIELDS)?;
                let course =
                    bodies::opt_str(&obj, "CourseId")?.ok_or_else(|| Error::bad_request("CourseId is required"))?;
                let login = bodies::opt_str(&obj, "UserLoginName")?;
                let user = bodies::opt_str(&obj, "UserId")?;
                self.enroll_principal(base, &course, login.as_deref(), user.as_deref(), &obj, at)
            }
            Route::GetEnrollment(id) => {
                let row = self.state.enrollment(&id)?.to_odata();
                self.single(&ENROLLMENTS, req, row)
            }
            Route::PatchEnrollment(id) => {
                let patch = parse_patch(req.body)?;
                self.state.patch_enrollment(&id, patch)?;
                Ok(Response::empty(204))
            }
            Route::EnrollmentAction(id, action) => {
                let obj = bodies::object(req.body, false)?;
                match action {
                    Action::Cancel => {
                        bodies::check_keys(&obj, &["message"])?;
                        self.state.cancel(&id, bodies::opt_str(&obj, "message")?, at)?;
                    }
                    Action::Reject => {
                        bodies::check_keys(&obj, &["message"])?;
                        self.state.reject(&id, bodies::opt_str(&obj, "message")?, at)?;
                    }
                    Action::Retake => {
                        bodies::check_keys(&obj, &["courseSessionId"])?;
                        self.state.retake(&id, false, at)?;
                    }
                    Action::Complete => {
                        bodies::check_keys(&obj, &[])?;
                        self.state.complete(&id, at)?;
                    }
                    Action::Approve => {
                        bodies::check_keys(&obj, &[])?;
                        self.state.approve(&id, at)?;
                    }
                }
                Ok(Response::empty(204))
            }
        }
    }

    /// `POST Courses(<id>)/Enroll`: 201 with a new or reactivated enrollment, 200 with the
    /// principal's already active (or pending) one.
    fn enroll(&mut self, course: &str, req: &Request<'_>, at: crate::model::Time) -> Result<Response> {
        let obj = bodies::object(req.body, true)?;
        bodies::check_keys(&obj, &ENROLL_FIELDS)?;
        let login = bodies::opt_str(&obj, "userLoginName")?
            .filter(|l| !l.trim().is_empty())
            .ok_or_else(|| Error::bad_request("userLoginName is required"))?;
        self.enroll_principal(req.base_url, course, Some(&login), None, &obj, at)
    }

    fn enroll_principal(
        &mut self,
        base: &str,
        course: &str,
        login: Option<&str>,
        user_id: Option<&str>,
        obj: &Map<String, Value>,
        at: crate::model::Time,
    ) -> Result<Response> {
        let ignore_flow = bodies::opt_bool(obj, "ignoreEnrollmentFlow")?.unwrap_or(false);
        bodies::opt_bool(obj, "ignoreMaxAttendees")?;
        let session = enroll_session(obj)?;
        let has_session_fields = bodies::present(obj, "courseSessionId") || bodies::present(obj, "courseSessionIds");
        let course = self.state.course(course)?;
        if course.is_tp() && has_session_fields {
            return Err(Error::bad_request(
                "session fields (courseSessionId, courseSessionIds) must be left out when enrolling in a training plan",
            ));
        }
        let course = course.id.clone();
        let principal = self.state.resolve_principal(login, user_id)?;
        let outcome = self.state.enroll(&course, &principal, ignore_flow, session, at)?;
        let row = self.state.enrollment(&outcome.enrollment_id)?.to_odata();
        let status = if outcome.created { 201 } else { 200 };
        Ok(Response::json(status, entity_body(base, &ENROLLMENTS, None, row)))
    }

    fn create_course_odata(&mut self, body: &[u8], at: crate::model::Time) -> Result<String> {
        let obj = bodies::object(body, true)?;
        bodies::check_keys(&obj, &CREATE_COURSE_FIELDS)?;
        let title = bodies::opt_str(&obj, "Title")?.ok_or_else(|| Error::bad_request("Title is required"))?;
        let kind = bodies::opt_str(&obj, "CourseType")?.ok_or_else(|| Error::bad_request("CourseType is required"))?;
        let course_type = CourseType::parse(&kind).ok_or_else(|| {
            Error::bad_request(format!("CourseType '{kind}' is not ELearning, ClassRoom, Webinar or TrainingPlan"))
        })?;
        let catalog = bodies::opt_str(&obj, "CourseCatalogId")?
            .ok_or_else(|| Error::bad_request("CourseCatalogId is required"))?;
        let mut new = NewCourse::new(title, course_type);
        new.catalog_id = Some(catalog);
        new.code = bodies::opt_str(&obj, "CourseID")?;
        new.description = bodies::opt_str(&obj, "Description")?;
        new.long_description = bodies::opt_str(&obj, "LongDescription")?;
        new.enrollment_flow = bodies::opt_str(&obj, "EnrollmentFlow")?;
        new.session_enrollment_type = bodies::opt_str(&obj, "CourseSessionEnrollmentType")?;
        new.ceu = bodies::opt_number(&obj, "CEU")?;
        new.duration = bodies::opt_str(&obj, "Duration")?;
        new.url = bodies::opt_str(&obj, "Url")?;
        new.image_url = bodies::opt_str(&obj, "ImageUrl")?;
        new.show_in_catalog = bodies::opt_bool(&obj, "ShowInCatalog")?;
        self.state.create_course(new, at)
    }

    /// Candidate `Users` rows, narrowed by an index when the filter pins a key.
    fn user_rows(&self, opts: &Options) -> Vec<&Principal> {
        let s = &self.state;
        let filter = opts.filter.as_ref();
        if let Some(oid) = filter.and_then(|f| f.eq_text("DirectoryObjectId")) {
            return [s.user_by_object_id(oid), s.group_by_object_id(oid)].into_iter().flatten().collect();
        }
        if let Some(login) = filter.and_then(|f| f.eq_text("LoginName")) {
            return s.principal_by_login(login).into_iter().collect();
        }
        if let Some(id) = filter.and_then(|f| f.eq_text("Id")) {
            return s.principal(id).into_iter().collect();
        }
        s.principals().collect()
    }

    /// Candidate `Enrollments` rows, narrowed by an index when the filter pins a key.
    fn enrollment_rows(&self, opts: &Options) -> Vec<&Enrollment> {
        let s = &self.state;
        let filter = opts.filter.as_ref();
        if let Some(id) = filter.and_then(|f| f.eq_text("Id")) {
            return s.enrollment(id).into_iter().collect();
        }
        let principal = filter.and_then(|f| f.eq_text("UserId").map(str::to_string)).or_else(|| {
            filter
                .and_then(|f| f.eq_text("UserLoginName"))
                .map(|l| s.principal_by_login(l).map(|p| p.id.clone()).unwrap_or_default())
        });
        if let Some(principal) = principal {
            return s.enrollments_of_principal(&principal).collect();
        }
        if let Some(course) = filter.and_then(|f| f.eq_text("CourseId")) {
            return s.enrollments_of_course(course).collect();
        }
        s.enrollments().collect()
    }

    /// A collection response: filter, sort, count, one page, expand, select, next link. Without
    /// `$filter` and `$orderby` only the rows of the page are serialized.
    fn list<T>(
        &self,
        set: &EntitySet,
        req: &Request<'_>,
        opts: &Options,
        rows: Vec<T>,
        to_json: impl Fn(&T) -> Map<String, Value>,
    ) -> Result<Response> {
        let page = if opts.filter.is_none() && opts.orderby.is_empty() {
            let page = paginate(rows, opts, self.config.page_size);
            Page { items: page.items.iter().map(&to_json).collect(), total: page.total, next: page.next }
        } else {
            let rows = opts.filter_and_sort(rows.iter().map(&to_json), set);
            paginate(rows, opts, self.config.page_size)
        };
        let value: Vec<Value> = page
            .items
            .into_iter()
            .map(|mut row| {
                expand_row(&self.state, set, &mut row, &opts.expand);
                Value::Object(project(row, opts.select.as_deref(), &opts.expand))
            })
            .collect();
        let mut body = Map::new();
        let ctx = context(req.base_url, set.name, opts.select.as_deref(), false);
        body.insert("@odata.context".into(), Value::String(ctx));
        if opts.count {
            body.insert("@odata.count".into(), Value::from(page.total));
        }
        body.insert("value".into(), Value::Array(value));
        if let Some((skip, top)) = page.next {
            let link = next_link(req.base_url, req.path, req.query, skip, top);
            body.insert("@odata.nextLink".into(), Value::String(link));
        }
        Ok(Response::json(200, Value::Object(body)))
    }

    /// A single-entity GET honouring `$select` and `$expand`.
    fn single(&self, set: &'static EntitySet, req: &Request<'_>, mut row: Map<String, Value>) -> Result<Response> {
        let opts = Options::parse(req.query, set, true)?;
        expand_row(&self.state, set, &mut row, &opts.expand);
        let row = project(row, opts.select.as_deref(), &opts.expand);
        Ok(Response::json(200, entity_body(req.base_url, set, opts.select.as_deref(), row)))
    }
}

/// `PATCH Enrollments(<id>)` body: dates (ISO 8601), `CoursePassingStatus` (0 = Completed,
/// 1 = NotStarted, 2 = InProgress, or the name), `CEU` (number or numeric string), `CourseDuration`.
fn parse_patch(body: &[u8]) -> Result<EnrollmentPatch> {
    let obj = bodies::object(body, true)?;
    bodies::check_keys(&obj, &PATCH_FIELDS)?;
    let registration_date = match bodies::opt_time(&obj, "RegistrationDate")? {
        Some(None) => return Err(Error::bad_request("RegistrationDate cannot be null")),
        other => other.flatten(),
    };
    let passing = match obj.get("CoursePassingStatus") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::Number(_) | Value::String(_))) => {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            Some(PassingStatus::parse(&text).ok_or_else(|| {
                Error::bad_request(format!(
                    "CoursePassingStatus '{text}' is not 0 (Completed), 1 (NotStarted), 2 (InProgress) or a status name"
                ))
            })?)
        }
        Some(_) => return Err(Error::bad_request("CoursePassingStatus must be a number or a string")),
    };
    let course_duration = match bodies::opt_number(&obj, "CourseDuration")? {
        None => None,
        Some(m) if m.fract() == 0.0 && m >= 0.0 => Some(m as i64),
        Some(_) => return Err(Error::bad_request("CourseDuration must be a whole number of minutes")),
    };
    Ok(EnrollmentPatch {
        registration_date,
        start_date: bodies::opt_time(&obj, "StartDate")?,
        completion_date: bodies::opt_time(&obj, "CompletionDate")?,
        due_date: bodies::opt_time(&obj, "DueDate")?,
        passing,
        ceu: bodies::opt_number(&obj, "CEU")?,
        course_duration,
    })
}
