//! The OData JSON shapes of the entities (PascalCase, with the documented exceptions: the Enrollment
//! property `courseSessionId` is camelCase, and a course has both `Id` and its visible code `CourseID`).
//!
//! The property lists here must match `odata::schema`; a test checks that they do.

use serde_json::{Map, Value, json};

use super::{Catalog, Course, Enrollment, Principal, TpLink, fmt_time};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn opt_time(t: Option<super::Time>) -> Value {
    t.map_or(Value::Null, |t| Value::String(fmt_time(t)))
}

impl Principal {
    /// A `Users` row. Groups are listed too (as Learn365 does), with `PrincipalType: SecurityGroup`
    /// and no personal fields.
    pub fn to_odata(&self) -> Map<String, Value> {
        let text = |s: &str| if self.is_group() { Value::Null } else { Value::String(s.to_string()) };
        object(json!({
            "Id": self.id,
            "LoginName": self.login,
            "Title": self.title,
            "Email": text(&self.email),
            "Department": text(&self.department),
            "JobTitle": text(&self.job_title),
            "City": text(&self.city),
            "Country": text(&self.country),
            "Office": text(&self.office),
            "Company": text(&self.company),
            "ManagerId": null,
            "ManagerLoginName": null,
            "DirectoryObjectId": self.object_id,
            "IsExternal": self.login.contains("#ext#"),
            "IsDisabled": self.is_disabled,
            "IsDeleted": false,
            "PrincipalType": if self.is_group() { "SecurityGroup" } else { "User" },
            "CreatedAt": fmt_time(self.created_at),
            "ModifiedAt": fmt_time(self.modified_at),
        }))
    }
}

impl Course {
    /// A `Courses` row (training plans included).
    pub fn to_odata(&self) -> Map<String, Value> {
        object(json!({
            "Id": self.id,
            "CourseCatalogId": self.catalog_id,
            "Title": self.title,
            "Description": self.description,
            "LongDescription": self.long_description,
            "CEU": self.ceu.trunc() as i64,
            "DecimalCEU": self.ceu,
            "ShowInCatalog": self.show_in_catalog,
            "IsRequired": self.is_required,
            "IsPublished": self.is_published,
            "IsEnded": false,
            "IsDeleted": false,
            "CourseID": self.code,
            "Duration": self.duration,
            "CourseType": self.course_type.as_str(),
            "ImageUrl": self.image_url,
            "CertificateTemplateId": null,
            "EnrollmentFlow": self.enrollment_flow,
            "CourseSessionEnrollmentType": self.session_enrollment_type,
            "Url": self.site_url(),
            "CourseLayoutId": null,
            "CreatedAt": fmt_time(self.created_at),
            "ModifiedAt": fmt_time(self.modified_at),
        }))
    }

    /// A `TrainingPlans` row (without its `Courses` navigation property).
    pub fn to_odata_plan(&self) -> Map<String, Value> {
        object(json!({
            "Id": self.id,
            "Title": self.title,
            "CourseCatalogId": self.catalog_id,
            "CreatedAt": fmt_time(self.created_at),
            "ModifiedAt": fmt_time(self.modified_at),
        }))
    }

    /// The course's SharePoint site (invented when the course was created without `Url`).
    pub fn site_url(&self) -> String {
        self.url.clone().unwrap_or_else(|| format!("https://tenant.sharepoint.com/sites/lms365/{}", self.id))
    }

    /// One of the course's navigation properties, for `$expand`; the simulator keeps no data for
    /// them, so they come back disabled or empty.
    pub fn nav_odata(&self, nav: &str) -> Option<Value> {
        Some(match nav {
            "DueDate" => json!({"CourseId": self.id, "IsEnabled": false, "FixedDate": null, "DaysAfterEnrollment": 0}),
            "Publishing" => json!({"Id": self.id, "IsEnabled": false, "StartDate": null, "EndDate": null}),
            "CertificateExpiry" => {
                json!({"CourseId": self.id, "IsEnabled": false, "FixedDate": null, "DaysAfterCompletion": 0})
            }
            "SharepointWeb" => json!({"SiteId": self.id, "Id": self.id, "Url": self.site_url()}),
            "ProvisioningProgress" => json!("Completed"),
            "Categories" | "Tags" | "CourseSessions" | "Trainers" | "Admins" | "LearningModules" | "Quizzes" => {
                json!([])
            }
            _ => return None,
        })
    }
}

impl TpLink {
    /// An item of `TrainingPlans?$expand=Courses`; `IsRequired` and `AddedAt` are simulator extensions.
    pub fn to_odata(&self, tp_id: &str) -> Map<String, Value> {
        object(json!({
            "CourseId": self.course_id,
            "TrainingPlanId": tp_id,
            "Order": self.order,
            "HasPrerequisite": false,
            "IsRequired": self.required,
            "AddedAt": fmt_time(self.added_at),
        }))
    }

    pub fn to_sim(&self) -> Value {
        json!({
            "courseId": self.course_id,
            "order": self.order,
            "required": self.required,
            "addedAt": fmt_time(self.added_at),
        })
    }
}

impl Catalog {
    pub fn to_odata(&self) -> Map<String, Value> {
        object(json!({
            "Id": self.id,
            "Title": self.title,
            "IsDeleted": false,
            "CreatedAt": fmt_time(self.created_at),
        }))
    }
}

impl Enrollment {
    /// An `Enrollments` row.
    pub fn to_odata(&self) -> Map<String, Value> {
        object(json!({
            "Id": self.id,
            "CourseId": self.course_id,
            "UserId": self.principal_id,
            "UserLoginName": self.login,
            "Roles": ["Learner"],
            "RegistrationDate": fmt_time(self.registration_date),
            "StartDate": opt_time(self.start_date),
            "CompletionDate": opt_time(self.completion_date),
            "DueDate": opt_time(self.due_date),
            "EndDate": opt_time(self.end_date),
            "RegistrationStatus": self.status.as_str(),
            "RegistrationStatusChangedDate": fmt_time(self.status_changed_at),
            "CoursePassingStatus": self.passing.as_str(),
            "CertificateId": null,
            "CEU": self.ceu.trunc() as i64,
            "DecimalCEU": self.ceu,
            "CourseDuration": self.course_duration,
            "IsPartOfTrainingPlan": self.is_part_of_tp(),
            "CanUnenroll": !self.is_part_of_tp(),
            "CancellationReason": self.cancellation_reason,
            "courseSessionId": self.session_id,
            "CreatedAt": fmt_time(self.created_at),
            "ModifiedAt": fmt_time(self.modified_at),
        }))
    }
}
