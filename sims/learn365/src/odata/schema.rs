//! The property schema of every entity set: the names (case-sensitive, exactly as serialized) and
//! kinds that `$filter`, `$select` and `$orderby` accept, and the navigation properties `$expand`
//! accepts. The JSON shapes in `model/views.rs` must carry exactly these properties.

/// How a property's literals are written and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Quoted string; compared case-insensitively.
    Str,
    /// GUID, quoted or bare; compared case-insensitively.
    Guid,
    /// Enum member name as a quoted string.
    Enum,
    Bool,
    Int,
    Num,
    /// Unquoted RFC 3339 date-time.
    Date,
    /// A collection (not filterable or sortable).
    List,
}

/// A navigation property; `target` is the entity set of its items (nested `$select`/`$expand`
/// are checked against it), `None` for a complex value.
#[derive(Debug)]
pub struct Nav {
    pub name: &'static str,
    pub target: Option<&'static EntitySet>,
}

#[derive(Debug)]
pub struct EntitySet {
    pub name: &'static str,
    pub props: &'static [(&'static str, Kind)],
    pub navs: &'static [Nav],
}

impl EntitySet {
    pub fn kind(&self, prop: &str) -> Option<Kind> {
        self.props.iter().find(|(name, _)| *name == prop).map(|(_, kind)| *kind)
    }

    pub fn nav(&self, name: &str) -> Option<&Nav> {
        self.navs.iter().find(|n| n.name == name)
    }
}

use Kind::*;

pub static USERS: EntitySet = EntitySet {
    name: "Users",
    props: &[
        ("Id", Guid),
        ("LoginName", Str),
        ("Title", Str),
        ("Email", Str),
        ("Department", Str),
        ("JobTitle", Str),
        ("City", Str),
        ("Country", Str),
        ("Office", Str),
        ("Company", Str),
        ("ManagerId", Guid),
        ("ManagerLoginName", Str),
        ("DirectoryObjectId", Guid),
        ("IsExternal", Bool),
        ("IsDisabled", Bool),
        ("IsDeleted", Bool),
        ("PrincipalType", Enum),
        ("CreatedAt", Date),
        ("ModifiedAt", Date),
    ],
    navs: &[],
};

pub static COURSES: EntitySet = EntitySet {
    name: "Courses",
    props: &[
        ("Id", Guid),
        ("CourseCatalogId", Guid),
        ("Title", Str),
        ("Description", Str),
        ("LongDescription", Str),
        ("CEU", Int),
        ("DecimalCEU", Num),
        ("ShowInCatalog", Bool),
        ("IsRequired", Bool),
        ("IsPublished", Bool),
        ("IsEnded", Bool),
        ("IsDeleted", Bool),
        ("CourseID", Str),
        ("Duration", Str),
        ("CourseType", Enum),
        ("ImageUrl", Str),
        ("CertificateTemplateId", Guid),
        ("EnrollmentFlow", Enum),
        ("CourseSessionEnrollmentType", Enum),
        ("Url", Str),
        ("CourseLayoutId", Guid),
        ("CreatedAt", Date),
        ("ModifiedAt", Date),
    ],
    navs: &[
        Nav { name: "DueDate", target: None },
        Nav { name: "Publishing", target: None },
        Nav { name: "CertificateExpiry", target: None },
        Nav { name: "SharepointWeb", target: None },
        Nav { name: "Categories", target: None },
        Nav { name: "Tags", target: None },
        Nav { name: "CourseSessions", target: None },
        Nav { name: "ProvisioningProgress", target: None },
        Nav { name: "Trainers", target: None },
        Nav { name: "Admins", target: None },
        Nav { name: "LearningModules", target: None },
        Nav { name: "Quizzes", target: None },
    ],
};

/// Items of `TrainingPlans?$expand=Courses`.
pub static PLAN_COURSES: EntitySet = EntitySet {
    name: "TrainingPlanCourses",
    props: &[
        ("CourseId", Guid),
        ("TrainingPlanId", Guid),
        ("Order", Int),
        ("HasPrerequisite", Bool),
        ("IsRequired", Bool),
        ("AddedAt", Date),
    ],
    navs: &[],
};

pub static TRAINING_PLANS: EntitySet = EntitySet {
    name: "TrainingPlans",
    props: &[("Id", Guid), ("Title", Str), ("CourseCatalogId", Guid), ("CreatedAt", Date), ("ModifiedAt", Date)],
    navs: &[Nav { name: "Courses", target: Some(&PLAN_COURSES) }],
};

pub static CATALOGS: EntitySet = EntitySet {
    name: "CourseCatalogs",
    props: &[("Id", Guid), ("Title", Str), ("IsDeleted", Bool), ("CreatedAt", Date)],
    navs: &[Nav { name: "Courses", target: Some(&COURSES) }],
};

pub static ENROLLMENTS: EntitySet = EntitySet {
    name: "Enrollments",
    props: &[
        ("Id", Guid),
        ("CourseId", Guid),
        ("UserId", Guid),
        ("UserLoginName", Str),
        ("Roles", List),
        ("RegistrationDate", Date),
        ("StartDate", Date),
        ("CompletionDate", Date),
        ("DueDate", Date),
        ("EndDate", Date),
        ("RegistrationStatus", Enum),
        ("RegistrationStatusChangedDate", Date),
        ("CoursePassingStatus", Enum),
        ("CertificateId", Guid),
        ("CEU", Int),
        ("DecimalCEU", Num),
        ("CourseDuration", Int),
        ("IsPartOfTrainingPlan", Bool),
        ("CanUnenroll", Bool),
        ("CancellationReason", Str),
        ("courseSessionId", Guid),
        ("CreatedAt", Date),
        ("ModifiedAt", Date),
    ],
    navs: &[],
};
