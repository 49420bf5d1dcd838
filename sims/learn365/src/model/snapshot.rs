//! The `GET /_sim/state` snapshot (camelCase, for tests and demos) and the index self-check.

use serde_json::{Value, json};

use super::{Course, Enrollment, Notification, Principal, PrincipalKind, RegistrationStatus, State, fmt_time};

fn opt_time(t: Option<super::Time>) -> Value {
    t.map_or(Value::Null, |t| Value::String(fmt_time(t)))
}

impl Course {
    pub fn to_sim(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "code": self.code,
            "title": self.title,
            "courseType": self.course_type.as_str(),
            "catalogId": self.catalog_id,
            "enrollmentFlow": self.enrollment_flow,
            "createdAt": fmt_time(self.created_at),
        });
        if self.is_tp() {
            v["courses"] = self.links.iter().map(|l| l.to_sim()).collect();
        }
        v
    }
}

impl Principal {
    pub fn to_sim(&self) -> Value {
        if self.is_group() {
            return json!({
                "id": self.id,
                "objectId": self.object_id,
                "loginName": self.login,
                "displayName": self.title,
                "members": self.members,
            });
        }
        json!({
            "id": self.id,
            "loginName": self.login,
            "directoryObjectId": self.object_id,
            "title": self.title,
            "email": self.email,
            "department": self.department,
            "jobTitle": self.job_title,
            "city": self.city,
            "country": self.country,
            "office": self.office,
            "company": self.company,
            "isDisabled": self.is_disabled,
            "createdAt": fmt_time(self.created_at),
            "modifiedAt": fmt_time(self.modified_at),
        })
    }
}

impl Notification {
    pub fn to_sim(&self) -> Value {
        let mut v = json!({
            "seq": self.seq,
            "kind": self.kind.as_str(),
            "userId": self.user_id,
            "loginName": self.login,
            "courseId": self.course_id,
            "at": fmt_time(self.at),
        });
        if let (Some(status), Some(progress)) = (self.status, self.progress) {
            v["status"] = json!(status.as_str());
            v["progress"] = json!(progress);
        }
        v
    }
}

impl State {
    /// One enrollment row in the `/_sim` shape.
    pub fn enrollment_sim(&self, e: &Enrollment) -> Value {
        json!({
            "id": e.id,
            "courseId": e.course_id,
            "courseType": self.courses.get(&e.course_id).map(|c| c.course_type.as_str()),
            "principalId": e.principal_id,
            "principalType": if e.principal_kind == PrincipalKind::Group { "group" } else { "user" },
            "loginName": e.login,
            "status": e.status.as_str(),
            "active": e.is_active(),
            "passingStatus": e.passing.as_str(),
            "progress": e.progress,
            "sources": e.sources.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "isPartOfTrainingPlan": e.is_part_of_tp(),
            "registrationDate": fmt_time(e.registration_date),
            "startDate": opt_time(e.start_date),
            "completionDate": opt_time(e.completion_date),
            "cancellationReason": e.cancellation_reason,
            "createdAt": fmt_time(e.created_at),
            "modifiedAt": fmt_time(e.modified_at),
        })
    }

    /// A learner's view of one training plan (from their plan enrollment row).
    pub fn plan_learner_sim(&self, row: &Enrollment) -> Value {
        let locked = self.locked_courses(&row.principal_id, &row.course_id);
        let courses: Vec<Value> = self
            .courses
            .get(&row.course_id)
            .map(|tp| {
                tp.links
                    .iter()
                    .map(|l| {
                        let e = self.enrollment_of(&row.principal_id, &l.course_id).filter(|e| e.is_active());
                        json!({
                            "courseId": l.course_id,
                            "order": l.order,
                            "required": l.required,
                            "locked": locked.contains(&l.course_id),
                            "enrollmentId": e.map(|e| e.id.clone()),
                            "status": e.map(|e| e.passing.as_str()),
                            "progress": e.map(|e| e.progress),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "trainingPlanId": row.course_id,
            "userId": row.principal_id,
            "loginName": row.login,
            "enrollmentId": row.id,
            "active": row.is_active(),
            "status": row.passing.as_str(),
            "progress": row.progress,
            "completionDate": opt_time(row.completion_date),
            "lockedCourses": locked,
            "courses": courses,
        })
    }

    /// Everything, for `GET /_sim/state`.
    pub fn snapshot(&self) -> Value {
        let plan_rows = self.enrollments.iter().filter(|e| {
            e.principal_kind == PrincipalKind::User && self.courses.get(&e.course_id).is_some_and(Course::is_tp)
        });
        json!({
            "catalogs": self.catalogs.iter().map(|c| json!({
                "id": c.id, "title": c.title, "createdAt": fmt_time(c.created_at),
            })).collect::<Vec<_>>(),
            "courses": self.courses.iter().map(Course::to_sim).collect::<Vec<_>>(),
            "trainingPlans": self.training_plans().map(|tp| json!({
                "id": tp.id,
                "title": tp.title,
                "catalogId": tp.catalog_id,
                "courses": tp.links.iter().map(|l| l.to_sim()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "users": self.users().map(Principal::to_sim).collect::<Vec<_>>(),
            "groups": self.groups().map(Principal::to_sim).collect::<Vec<_>>(),
            "enrollments": self.enrollments.iter().map(|e| self.enrollment_sim(e)).collect::<Vec<_>>(),
            "trainingPlanLearners": plan_rows.map(|e| self.plan_learner_sim(e)).collect::<Vec<_>>(),
            "notifications": self.notifications.iter().map(Notification::to_sim).collect::<Vec<_>>(),
        })
    }

    /// Checks the indexes and the source/status invariants; used by tests.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        for e in self.enrollments.iter() {
            if self.pairs.get(&(e.principal_id.clone(), e.course_id.clone())) != Some(&e.id) {
                return Err(format!("pair index misses enrollment {}", e.id));
            }
            let ended = matches!(e.status, RegistrationStatus::Cancelled | RegistrationStatus::Rejected);
            if (e.is_active() && e.sources.is_empty()) || (ended && !e.sources.is_empty()) {
                return Err(format!("enrollment {} is {} with sources {:?}", e.id, e.status.as_str(), e.sources));
            }
            if !self.principals.contains(&e.principal_id) || !self.courses.contains(&e.course_id) {
                return Err(format!("enrollment {} points to a missing principal or course", e.id));
            }
        }
        let indexed: usize = self.by_principal.values().map(|m| m.len()).sum();
        let by_course: usize = self.by_course.values().map(|m| m.len()).sum();
        if indexed != self.enrollments.len() || by_course != self.enrollments.len() {
            return Err(format!("{indexed}/{by_course} indexed rows for {} enrollments", self.enrollments.len()));
        }
        for p in self.principals.iter() {
            if self.logins.get(&p.login) != Some(&p.id) {
                return Err(format!("login index misses {}", p.login));
            }
        }
        Ok(())
    }
}
