//! The demo tenant of `--seed demo`: one catalog, five e-learning courses, one classroom course and
//! the training plan "Getting started with LMS365" with three courses. The ids are fixed so that
//! scripts can use them directly.

use super::{CourseType, NewCourse, NewLink, Result, State, Time};

/// Fixed ids of the demo tenant.
pub struct Demo {
    pub catalog: &'static str,
    /// (id, visible code, title, type)
    pub courses: [(&'static str, &'static str, &'static str, CourseType); 6],
    pub training_plan: &'static str,
    pub training_plan_title: &'static str,
    /// Codes of the plan's courses, in order.
    pub training_plan_courses: [&'static str; 3],
}

pub const DEMO: Demo = Demo {
    catalog: "0d3e6a51-0000-4000-8000-000000000001",
    courses: [
        ("0d3e6a51-0000-4000-8000-000000000101", "LMS-101", "Welcome to LMS365", CourseType::ELearning),
        ("0d3e6a51-0000-4000-8000-000000000102", "LMS-102", "Finding training in the catalog", CourseType::ELearning),
        ("0d3e6a51-0000-4000-8000-000000000103", "LMS-103", "Completing your first course", CourseType::ELearning),
        ("0d3e6a51-0000-4000-8000-000000000104", "M365-201", "Microsoft Teams basics", CourseType::ELearning),
        ("0d3e6a51-0000-4000-8000-000000000105", "M365-202", "Outlook essentials", CourseType::ELearning),
        ("0d3e6a51-0000-4000-8000-000000000201", "ILT-301", "Onboarding workshop", CourseType::ClassRoom),
    ],
    training_plan: "0d3e6a51-0000-4000-8000-000000000301",
    training_plan_title: "Getting started with LMS365",
    training_plan_courses: ["LMS-101", "LMS-102", "LMS-103"],
};

impl State {
    /// Fills an empty tenant with the demo catalog.
    pub fn seed_demo(&mut self, at: Time) -> Result<()> {
        let catalog = self.create_catalog("Demo catalog", Some(DEMO.catalog), at)?;
        for (id, code, title, course_type) in DEMO.courses {
            let mut course = NewCourse::new(title, course_type);
            course.id = Some(id.to_string());
            course.code = Some(code.to_string());
            course.catalog_id = Some(catalog.clone());
            course.description = Some(format!("Demo course {code}"));
            self.create_course(course, at)?;
        }
        let mut plan = NewCourse::new(DEMO.training_plan_title, CourseType::TrainingPlan);
        plan.id = Some(DEMO.training_plan.to_string());
        plan.catalog_id = Some(catalog);
        plan.description = Some("Three short courses to get going".to_string());
        let plan = self.create_course(plan, at)?;
        for code in DEMO.training_plan_courses {
            let course = self.course_by_id_or_code(code)?.id.clone();
            self.add_plan_course(&plan, NewLink { course_id: course, required: true, at })?;
        }
        Ok(())
    }
}
