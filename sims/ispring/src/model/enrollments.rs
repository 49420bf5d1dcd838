//! Content items and enrollments: at most one enrollment per learner x content item, indexed by
//! learner and by content item for the `GET /enrollments` filters.

use std::collections::{BTreeMap, HashSet};

use super::{Content, Enrollment, EnrollmentFilter, Error, Result, State, new_id, now_rfc3339};
use crate::table::{Page, PageReq, paginate};

const DUE_DATE_TYPES: [&str; 4] = ["unlimited", "default", "due_date", "due_period"];

impl State {
    pub fn create_content(&mut self, title: String, kind: Option<String>) -> Result<String> {
        if title.trim().is_empty() {
            return Err(Error::bad_request("title must not be empty"));
        }
        let seq = self.next_seq();
        let id = new_id();
        let kind = kind.unwrap_or_else(|| "Course".to_string());
        self.contents.insert(id.clone(), Content { id: id.clone(), title, kind, seq });
        Ok(id)
    }

    pub fn content(&self, id: &str) -> Result<&Content> {
        self.contents.get(id).ok_or_else(|| Error::not_found("content_not_found", "content item", id))
    }

    pub fn contents_page(&self, page: PageReq) -> Page<&Content> {
        paginate(self.contents.iter_from(page.from), page.size)
    }

    /// Admin enrollment of every learner in every course (course-major order). An
    /// existing enrollment for a learner×course pair is returned instead of a new one.
    pub fn enroll(
        &mut self,
        course_ids: &[String],
        learner_ids: &[String],
        due_date_type: &str,
    ) -> Result<Vec<String>> {
        if !DUE_DATE_TYPES.contains(&due_date_type) {
            return Err(Error::bad_request(format!(
                "invalid dueDateType '{due_date_type}'; expected one of {}",
                DUE_DATE_TYPES.join(", ")
            )));
        }
        for course_id in course_ids {
            self.content(course_id)?;
        }
        for learner_id in learner_ids {
            self.user(learner_id)?;
        }
        let mut ids = Vec::with_capacity(course_ids.len() * learner_ids.len());
        for course_id in course_ids {
            for learner_id in learner_ids {
                ids.push(self.enroll_one(learner_id, course_id, "admin"));
            }
        }
        Ok(ids)
    }

    pub fn enrollments_page(&self, filter: &EnrollmentFilter, page: PageReq) -> Page<&Enrollment> {
        let learners: HashSet<&str> = filter.learner_ids.iter().map(String::as_str).collect();
        let courses: HashSet<&str> = filter.course_ids.iter().map(String::as_str).collect();
        let (index, selected) = if !learners.is_empty() {
            (&self.enrollments_by_learner, &learners)
        } else if !courses.is_empty() {
            (&self.enrollments_by_course, &courses)
        } else {
            return paginate(self.enrollments.iter_from(page.from), page.size);
        };
        let candidates: BTreeMap<u64, &str> = selected
            .iter()
            .filter_map(|key| index.get(*key))
            .flat_map(|m| m.range(page.from..))
            .map(|(seq, id)| (*seq, id.as_str()))
            .collect();
        paginate(
            candidates
                .into_iter()
                .filter_map(|(seq, id)| self.enrollments.get(id).map(|e| (seq, e)))
                .filter(|(_, e)| learners.is_empty() || learners.contains(e.learner_id.as_str()))
                .filter(|(_, e)| courses.is_empty() || courses.contains(e.course_id.as_str())),
            page.size,
        )
    }

    pub fn delete_enrollments(&mut self, ids: &[String]) -> Result<()> {
        for id in ids {
            if !self.enrollments.contains(id) {
                return Err(Error::not_found("enrollment_not_found", "enrollment", id));
            }
        }
        for id in ids {
            self.remove_enrollment(id);
        }
        Ok(())
    }

    /// Returns the existing enrollment of the pair, or creates one.
    pub(super) fn enroll_one(&mut self, learner_id: &str, course_id: &str, source: &str) -> String {
        let key = (learner_id.to_string(), course_id.to_string());
        if let Some(existing) = self.enrollment_pairs.get(&key) {
            return existing.clone();
        }
        let seq = self.next_seq();
        let id = new_id();
        let enrollment = Enrollment {
            id: id.clone(),
            course_id: course_id.to_string(),
            learner_id: learner_id.to_string(),
            access_date: now_rfc3339(),
            source: source.to_string(),
            seq,
        };
        self.enrollments.insert(id.clone(), enrollment);
        self.enrollment_pairs.insert(key, id.clone());
        self.enrollments_by_learner.entry(learner_id.to_string()).or_default().insert(seq, id.clone());
        self.enrollments_by_course.entry(course_id.to_string()).or_default().insert(seq, id.clone());
        id
    }

    pub(super) fn remove_enrollment(&mut self, id: &str) {
        let Some(e) = self.enrollments.remove(id) else { return };
        self.enrollment_pairs.remove(&(e.learner_id.clone(), e.course_id.clone()));
        if let Some(m) = self.enrollments_by_learner.get_mut(&e.learner_id) {
            m.remove(&e.seq);
        }
        if let Some(m) = self.enrollments_by_course.get_mut(&e.course_id) {
            m.remove(&e.seq);
        }
    }
}
