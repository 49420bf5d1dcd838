//! The simulated iSpring Learn account: departments, users, groups, content items,
//! enrollments and automatic-enrollment rules.
//!
//! Everything here is plain synchronous code over in-memory maps, with no HTTP and
//! no clock other than the wall-clock strings stored in `addedDate`/`accessDate`.
//! Every mutating operation validates its whole input first and only then changes
//! anything, so a refused request never half-applies.
//!
//! Join semantics (what fires automatic-enrollment rules): a user *joins* a
//! department when created into it or moved into it from another department, and
//! joins a group when it is added to the group's membership (on user creation,
//! user update, group creation or membership replacement). On a join every rule
//! currently attached to that department/group enrolls the user in the rule's
//! content item unless the user already has an enrollment for it. Because rules are
//! only evaluated on join events, users who were already inside when a rule was
//! created are never enrolled by it, and leaving never removes enrollments.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::table::Table;

mod departments;
mod enrollments;
mod entities;
mod groups;
mod inputs;
mod inspect;
mod rules;
mod users;

pub use entities::{Content, Department, Enrollment, Group, Rule, TargetType, User};
pub use inputs::{DepartmentUpdate, EnrollmentFilter, NewUser, UserFilter, UserUpdate};

/// A refusal, rendered by the HTTP layer as `{"code", "message"}` with `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Error {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    fn not_found(code: &'static str, what: &str, id: &str) -> Self {
        Self::new(404, code, format!("{what} '{id}' not found"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub const STATUS_ACTIVE: u8 = 1;
pub const STATUS_INACTIVE: u8 = 3;
pub const STATUS_TERMINATED: u8 = 5;

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() { Err(Error::bad_request("name must not be empty")) } else { Ok(()) }
}

/// Removes duplicates, keeping the first occurrence.
fn dedup(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter().filter(|id| seen.insert(id.as_str())).cloned().collect()
}

// ---------------------------------------------------------------------------
// State

#[derive(Debug)]
pub struct State {
    seq: u64,
    root_id: String,
    required_fields: Vec<String>,
    departments: Table<Department>,
    /// parent department id -> child department ids
    children: HashMap<String, HashSet<String>>,
    /// department id -> its users keyed by user sequence number
    dept_users: HashMap<String, BTreeMap<u64, String>>,
    users: Table<User>,
    /// lower-case login -> user id
    logins: HashMap<String, String>,
    groups: Table<Group>,
    contents: Table<Content>,
    enrollments: Table<Enrollment>,
    /// (learner id, content id) -> enrollment id
    enrollment_pairs: HashMap<(String, String), String>,
    /// learner id -> enrollments keyed by sequence number
    enrollments_by_learner: HashMap<String, BTreeMap<u64, String>>,
    /// content id -> enrollments keyed by sequence number
    enrollments_by_course: HashMap<String, BTreeMap<u64, String>>,
    rules: Table<Rule>,
    rules_by_target: HashMap<(TargetType, String), Vec<String>>,
}

impl State {
    /// A fresh account holding only the root department.
    pub fn new(root_name: &str, required_fields: Vec<String>) -> Self {
        let mut state = State {
            seq: 0,
            root_id: new_id(),
            required_fields,
            departments: Table::default(),
            children: HashMap::new(),
            dept_users: HashMap::new(),
            users: Table::default(),
            logins: HashMap::new(),
            groups: Table::default(),
            contents: Table::default(),
            enrollments: Table::default(),
            enrollment_pairs: HashMap::new(),
            enrollments_by_learner: HashMap::new(),
            enrollments_by_course: HashMap::new(),
            rules: Table::default(),
            rules_by_target: HashMap::new(),
        };
        let seq = state.next_seq();
        let root =
            Department { id: state.root_id.clone(), name: root_name.to_string(), parent_id: None, code: None, seq };
        state.departments.insert(root.id.clone(), root);
        state
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn root_id(&self) -> &str {
        &self.root_id
    }
}

#[cfg(test)]
mod tests;
