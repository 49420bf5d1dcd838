//! The stored entities: catalogs, courses (training plans included, with their course links),
//! principals (users and Entra groups), enrollments with their source sets, and notifications.
//! Every row carries the sequence number it got at creation, which orders lists and pages.

use std::collections::BTreeSet;
use std::fmt;

use crate::table::Row;

use super::Time;

/// `CourseType` of a training. A training plan is a course of type `TrainingPlan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CourseType {
    ELearning,
    ClassRoom,
    Webinar,
    TrainingPlan,
}

impl CourseType {
    pub const ALL: [CourseType; 4] =
        [CourseType::ELearning, CourseType::ClassRoom, CourseType::Webinar, CourseType::TrainingPlan];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CourseType::ELearning => "ELearning",
            CourseType::ClassRoom => "ClassRoom",
            CourseType::Webinar => "Webinar",
            CourseType::TrainingPlan => "TrainingPlan",
        }
    }

    /// Instructor-led trainings get the ILT confirmation and a calendar invite.
    pub fn is_ilt(self) -> bool {
        matches!(self, CourseType::ClassRoom | CourseType::Webinar)
    }
}

/// `RegistrationStatus` of an enrollment (the value set is the simulator's proposal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationStatus {
    Enrolled,
    Cancelled,
    PendingApproval,
    Rejected,
    WaitingList,
}

impl RegistrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationStatus::Enrolled => "Enrolled",
            RegistrationStatus::Cancelled => "Cancelled",
            RegistrationStatus::PendingApproval => "PendingApproval",
            RegistrationStatus::Rejected => "Rejected",
            RegistrationStatus::WaitingList => "WaitingList",
        }
    }
}

/// `CoursePassingStatus` of a course enrollment; on a training-plan enrollment it is the learner's
/// training-plan status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassingStatus {
    NotStarted,
    InProgress,
    Completed,
}

impl PassingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PassingStatus::NotStarted => "NotStarted",
            PassingStatus::InProgress => "InProgress",
            PassingStatus::Completed => "Completed",
        }
    }

    /// A status name (any case, spaces ignored) or a PATCH digit: 0 = Completed, 1 = NotStarted,
    /// 2 = InProgress.
    pub fn parse(s: &str) -> Option<Self> {
        let squeezed: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        match squeezed.to_ascii_lowercase().as_str() {
            "notstarted" | "1" => Some(PassingStatus::NotStarted),
            "inprogress" | "2" => Some(PassingStatus::InProgress),
            "completed" | "0" => Some(PassingStatus::Completed),
            _ => None,
        }
    }
}

/// Why a principal is enrolled in a course; an enrollment stays active while any source remains.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// An admin, the learner or an API client enrolled this principal.
    Direct,
    /// Membership of the Entra group with this object id, which is enrolled itself.
    Group(String),
    /// Enrollment in the training plan with this id (T1).
    Tp(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Direct => f.write_str("direct"),
            Source::Group(oid) => write!(f, "group:{oid}"),
            Source::Tp(id) => write!(f, "tp:{id}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub id: String,
    pub title: String,
    pub created_at: Time,
    pub(super) seq: u64,
}

/// A course of a training plan.
#[derive(Debug, Clone)]
pub struct TpLink {
    pub course_id: String,
    /// 1-based position in the plan.
    pub order: u32,
    /// "Required for completion" (true by default, also for courses added later).
    pub required: bool,
    pub added_at: Time,
}

#[derive(Debug, Clone)]
pub struct Course {
    pub id: String,
    pub catalog_id: String,
    pub title: String,
    pub description: String,
    pub long_description: Option<String>,
    /// `CourseID`: the optional visible code, distinct from `Id`.
    pub code: Option<String>,
    pub course_type: CourseType,
    pub enrollment_flow: String,
    pub session_enrollment_type: Option<String>,
    pub ceu: f64,
    pub duration: Option<String>,
    pub url: Option<String>,
    pub image_url: Option<String>,
    pub show_in_catalog: bool,
    pub is_required: bool,
    pub is_published: bool,
    pub created_at: Time,
    pub modified_at: Time,
    /// Training plans only: the courses in order.
    pub links: Vec<TpLink>,
    pub(super) seq: u64,
}

impl Course {
    pub fn is_tp(&self) -> bool {
        self.course_type == CourseType::TrainingPlan
    }

    pub fn link(&self, course_id: &str) -> Option<&TpLink> {
        self.links.iter().find(|l| l.course_id == course_id)
    }

    /// Enrollment needs an approval unless the flow is automatic.
    pub fn needs_approval(&self) -> bool {
        !self.enrollment_flow.eq_ignore_ascii_case("AutomaticApproval")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    Group,
}

/// A Microsoft 365 account or an Entra group, as Learn365 knows it. Text fields absent from the
/// upsert body are stored as empty strings.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: String,
    pub kind: PrincipalKind,
    /// Claims login name, lower-cased (`i:0#.f|membership|upn` or `c:0t.c|tenant|objectId`).
    pub login: String,
    /// Entra object id, lower-cased; may be empty for a user.
    pub object_id: String,
    pub title: String,
    pub email: String,
    pub department: String,
    pub job_title: String,
    pub city: String,
    pub country: String,
    pub office: String,
    pub company: String,
    pub is_disabled: bool,
    pub created_at: Time,
    pub modified_at: Time,
    /// Groups only: member object ids (lower-cased), as last pushed through `/_sim/groups`.
    pub members: BTreeSet<String>,
    pub(super) seq: u64,
}

impl Principal {
    pub fn is_group(&self) -> bool {
        self.kind == PrincipalKind::Group
    }
}

#[derive(Debug, Clone)]
pub struct Enrollment {
    pub id: String,
    pub course_id: String,
    pub principal_id: String,
    pub principal_kind: PrincipalKind,
    /// The principal's login name (kept in step when a user's UPN changes).
    pub login: String,
    pub sources: BTreeSet<Source>,
    pub status: RegistrationStatus,
    pub passing: PassingStatus,
    /// 0..=100; for a training plan, the learner's plan progress.
    pub progress: u8,
    pub registration_date: Time,
    pub start_date: Option<Time>,
    pub completion_date: Option<Time>,
    pub due_date: Option<Time>,
    pub end_date: Option<Time>,
    pub status_changed_at: Time,
    pub cancellation_reason: Option<String>,
    pub session_id: Option<String>,
    pub ceu: f64,
    pub course_duration: Option<i64>,
    pub created_at: Time,
    pub modified_at: Time,
    pub(super) seq: u64,
}

impl Enrollment {
    pub fn is_active(&self) -> bool {
        self.status == RegistrationStatus::Enrolled
    }

    pub fn is_part_of_tp(&self) -> bool {
        self.sources.iter().any(|s| matches!(s, Source::Tp(_)))
    }
}

/// The five kinds of learner notification the simulator logs (Learn365 sends them as e-mails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    CourseEnrollmentConfirmation,
    IltEnrollmentConfirmation,
    IltCalendarInvite,
    CourseCompletionConfirmation,
    TrainingPlanProgress,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::CourseEnrollmentConfirmation => "CourseEnrollmentConfirmation",
            NotificationKind::IltEnrollmentConfirmation => "IltEnrollmentConfirmation",
            NotificationKind::IltCalendarInvite => "IltCalendarInvite",
            NotificationKind::CourseCompletionConfirmation => "CourseCompletionConfirmation",
            NotificationKind::TrainingPlanProgress => "TrainingPlanProgress",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Notification {
    pub seq: u64,
    pub kind: NotificationKind,
    pub user_id: String,
    pub login: String,
    /// The course, or the training plan for `TrainingPlanProgress`.
    pub course_id: String,
    pub at: Time,
    /// `TrainingPlanProgress` only: the plan status and percentage it reports.
    pub status: Option<PassingStatus>,
    pub progress: Option<u8>,
}

macro_rules! impl_row {
    ($($t:ty),*) => {
        $(impl Row for $t {
            fn seq(&self) -> u64 {
                self.seq
            }
        })*
    };
}

impl_row!(Catalog, Course, Principal, Enrollment);
