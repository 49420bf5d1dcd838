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

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::table::{Page, PageReq, Row, Table, paginate};

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

const ROLES: [&str; 5] = ["learner", "administrator", "department_administrator", "publisher", "custom"];
const DUE_DATE_TYPES: [&str; 4] = ["unlimited", "default", "due_date", "due_period"];

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
// Entities

#[derive(Debug, Clone)]
pub struct Department {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub code: Option<String>,
    seq: u64,
}

impl Row for Department {
    fn seq(&self) -> u64 {
        self.seq
    }
}

impl Department {
    pub fn to_json(&self) -> Value {
        json!({
            "departmentId": self.id,
            "name": self.name,
            "parentDepartmentId": self.parent_id,
            "code": self.code,
        })
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub department_id: String,
    pub status: u8,
    pub role: String,
    pub fields: Map<String, Value>,
    /// Group ids in the order the user joined them.
    pub groups: Vec<String>,
    pub added_date: String,
    seq: u64,
}

impl Row for User {
    fn seq(&self) -> u64 {
        self.seq
    }
}

impl User {
    pub fn login(&self) -> &str {
        self.fields.get("login").and_then(Value::as_str).unwrap_or_default()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "userId": self.id,
            "departmentId": self.department_id,
            "status": self.status,
            "role": self.role,
            "fields": self.fields,
            "groups": self.groups,
            "addedDate": self.added_date,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: String,
    /// Members keyed by the user's sequence number (creation order).
    members: BTreeMap<u64, String>,
    seq: u64,
}

impl Row for Group {
    fn seq(&self) -> u64 {
        self.seq
    }
}

impl Group {
    pub fn member_ids(&self) -> impl Iterator<Item = &str> {
        self.members.values().map(String::as_str)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "groupId": self.id,
            "name": self.name,
            "isSmart": false,
            "userIds": self.members.values().collect::<Vec<_>>(),
            "usersCount": self.members.len(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Content {
    pub id: String,
    pub title: String,
    pub kind: String,
    seq: u64,
}

impl Row for Content {
    fn seq(&self) -> u64 {
        self.seq
    }
}

impl Content {
    pub fn to_json(&self) -> Value {
        json!({ "contentItemId": self.id, "title": self.title, "type": self.kind })
    }
}

#[derive(Debug, Clone)]
pub struct Enrollment {
    pub id: String,
    pub course_id: String,
    pub learner_id: String,
    pub access_date: String,
    /// `admin` or `rule:<ruleId>`.
    pub source: String,
    seq: u64,
}

impl Row for Enrollment {
    fn seq(&self) -> u64 {
        self.seq
    }
}

impl Enrollment {
    pub fn to_json(&self) -> Value {
        json!({
            "enrollmentId": self.id,
            "courseId": self.course_id,
            "learnerId": self.learner_id,
            "accessDate": self.access_date,
            "enrollmentTypeGroup": 0,
            "source": self.source,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    Department,
    Group,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Department => "department",
            TargetType::Group => "group",
        }
    }
}

/// An automatic-enrollment rule: new members of the target are enrolled in the content item.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub target_type: TargetType,
    pub target_id: String,
    pub content_id: String,
    /// Sequence number at creation; every later join has a larger sequence number.
    pub created_at: u64,
    pub created_time: String,
}

impl Row for Rule {
    fn seq(&self) -> u64 {
        self.created_at
    }
}

impl Rule {
    pub fn to_json(&self) -> Value {
        json!({
            "ruleId": self.id,
            "targetType": self.target_type.as_str(),
            "targetId": self.target_id,
            "contentItemId": self.content_id,
            "createdAt": self.created_at,
            "createdTime": self.created_time,
        })
    }
}

// ---------------------------------------------------------------------------
// Inputs

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub department_id: String,
    pub fields: Map<String, Value>,
    #[serde(default)]
    pub group_ids: Vec<String>,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUpdate {
    #[serde(default)]
    pub department_id: Option<String>,
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
    #[serde(default)]
    pub group_ids: Option<Vec<String>>,
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "parentDepartmentId")]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

/// Filters of `GET /users`: ANDed between kinds, ORed within one kind.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub logins: Vec<String>,
    pub departments: Vec<String>,
    pub groups: Vec<String>,
}

/// Filters of `GET /enrollments`.
#[derive(Debug, Clone, Default)]
pub struct EnrollmentFilter {
    pub learner_ids: Vec<String>,
    pub course_ids: Vec<String>,
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

    // --- departments -------------------------------------------------------

    pub fn department(&self, id: &str) -> Result<&Department> {
        self.departments.get(id).ok_or_else(|| Error::not_found("department_not_found", "department", id))
    }

    pub fn departments_page(&self, page: PageReq) -> Page<&Department> {
        paginate(self.departments.iter_from(page.from), page.size)
    }

    pub fn create_department(&mut self, name: String, parent_id: &str, code: Option<String>) -> Result<String> {
        check_name(&name)?;
        self.department(parent_id)?;
        let seq = self.next_seq();
        let id = new_id();
        let dept = Department { id: id.clone(), name, parent_id: Some(parent_id.to_string()), code, seq };
        self.departments.insert(id.clone(), dept);
        self.children.entry(parent_id.to_string()).or_default().insert(id.clone());
        Ok(id)
    }

    /// Renames and/or moves a department under another parent.
    pub fn update_department(&mut self, id: &str, update: DepartmentUpdate) -> Result<()> {
        let current_parent = self.department(id)?.parent_id.clone();
        if let Some(name) = &update.name {
            check_name(name)?;
        }
        let new_parent = match update.parent_id {
            Some(parent) if current_parent.as_deref() != Some(parent.as_str()) => {
                if id == self.root_id {
                    return Err(Error::new(400, "cannot_move_root", "the root department cannot be moved"));
                }
                self.department(&parent)?;
                // The new parent must not be the department itself or one of its descendants.
                let mut cursor = Some(parent.as_str());
                while let Some(current) = cursor {
                    if current == id {
                        return Err(Error::new(
                            400,
                            "invalid_parent",
                            "a department cannot be moved under itself or its descendants",
                        ));
                    }
                    cursor = self.departments.get(current).and_then(|d| d.parent_id.as_deref());
                }
                Some(parent)
            }
            _ => None,
        };

        if let Some(parent) = &new_parent {
            if let Some(old) = &current_parent
                && let Some(siblings) = self.children.get_mut(old)
            {
                siblings.remove(id);
            }
            self.children.entry(parent.clone()).or_default().insert(id.to_string());
        }
        let dept =
            self.departments.get_mut(id).ok_or_else(|| Error::not_found("department_not_found", "department", id))?;
        if let Some(name) = update.name {
            dept.name = name;
        }
        if let Some(code) = update.code {
            dept.code = Some(code);
        }
        if let Some(parent) = new_parent {
            dept.parent_id = Some(parent);
        }
        Ok(())
    }

    /// Deletes an empty, non-root department together with the rules attached to it.
    pub fn delete_department(&mut self, id: &str) -> Result<()> {
        let parent = self.department(id)?.parent_id.clone();
        if id == self.root_id {
            return Err(Error::new(400, "cannot_delete_root", "the root department cannot be deleted"));
        }
        let has_users = self.dept_users.get(id).is_some_and(|u| !u.is_empty());
        let has_children = self.children.get(id).is_some_and(|c| !c.is_empty());
        if has_users || has_children {
            return Err(Error::new(
                409,
                "department_not_empty",
                format!("department '{id}' still contains users or departments"),
            ));
        }
        self.departments.remove(id);
        self.dept_users.remove(id);
        self.children.remove(id);
        if let Some(parent) = parent
            && let Some(siblings) = self.children.get_mut(&parent)
        {
            siblings.remove(id);
        }
        self.delete_rules_on(TargetType::Department, id);
        Ok(())
    }

    /// Moves users into a department; each user whose department changes joins it.
    pub fn move_users(&mut self, dept_id: &str, user_ids: &[String]) -> Result<()> {
        self.department(dept_id)?;
        for user_id in user_ids {
            self.user(user_id)?;
        }
        for user_id in user_ids {
            self.place_user(user_id, dept_id);
        }
        Ok(())
    }

    // --- users -------------------------------------------------------------

    pub fn user(&self, id: &str) -> Result<&User> {
        self.users.get(id).ok_or_else(|| Error::not_found("user_not_found", "user", id))
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Validates a login value and checks that no *other* user holds it.
    fn check_login(&self, login: Option<&Value>, user_id: Option<&str>) -> Result<String> {
        let login = match login.and_then(Value::as_str) {
            Some(login) if !login.trim().is_empty() => login,
            _ => return Err(Error::bad_request("fields.login is required and must be a non-empty string")),
        };
        let key = login.to_lowercase();
        match self.logins.get(&key) {
            Some(owner) if Some(owner.as_str()) != user_id => {
                Err(Error::new(409, "login_already_exists", format!("a user with login '{login}' already exists")))
            }
            _ => Ok(key),
        }
    }

    fn check_groups(&self, group_ids: &[String]) -> Result<()> {
        for group_id in group_ids {
            self.group(group_id)?;
        }
        Ok(())
    }

    fn check_role(role: Option<&str>) -> Result<()> {
        match role {
            Some(role) if !ROLES.contains(&role) => Err(Error::bad_request(format!("unknown role '{role}'"))),
            _ => Ok(()),
        }
    }

    /// Creates a user; the user joins its department and every group in `group_ids`.
    pub fn create_user(&mut self, new: NewUser) -> Result<String> {
        if new.fields.get("login").and_then(Value::as_str).is_none_or(|l| l.trim().is_empty()) {
            return Err(Error::bad_request("fields.login is required and must be a non-empty string"));
        }
        for field in &self.required_fields {
            let present = match new.fields.get(field) {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => !s.trim().is_empty(),
                Some(_) => true,
            };
            if !present {
                return Err(Error::new(
                    400,
                    "required_field_missing",
                    format!("The profile field '{field}' is required"),
                ));
            }
        }
        self.department(&new.department_id)?;
        self.check_groups(&new.group_ids)?;
        Self::check_role(new.role.as_deref())?;
        let login_key = self.check_login(new.fields.get("login"), None)?;

        let seq = self.next_seq();
        let id = new_id();
        let user = User {
            id: id.clone(),
            department_id: new.department_id.clone(),
            status: STATUS_ACTIVE,
            role: new.role.unwrap_or_else(|| "learner".to_string()),
            fields: new.fields,
            groups: Vec::new(),
            added_date: now_rfc3339(),
            seq,
        };
        self.users.insert(id.clone(), user);
        self.logins.insert(login_key, id.clone());
        self.dept_users.entry(new.department_id.clone()).or_default().insert(seq, id.clone());
        self.fire_rules(TargetType::Department, &new.department_id, &id);
        for group_id in dedup(&new.group_ids) {
            self.add_to_group(&id, &group_id);
        }
        Ok(id)
    }

    /// Updates a user: merges `fields`, moves it (a join) and replaces its groups.
    pub fn update_user(&mut self, id: &str, update: UserUpdate) -> Result<()> {
        self.user(id)?;
        if let Some(dept) = &update.department_id {
            self.department(dept)?;
        }
        let new_login = match &update.fields {
            Some(fields) if fields.contains_key("login") => Some(self.check_login(fields.get("login"), Some(id))?),
            _ => None,
        };
        if let Some(groups) = &update.group_ids {
            self.check_groups(groups)?;
        }
        Self::check_role(update.role.as_deref())?;

        if let Some(fields) = update.fields {
            let user = self.users.get_mut(id).ok_or_else(|| Error::not_found("user_not_found", "user", id))?;
            let old_login = user.login().to_lowercase();
            user.fields.extend(fields);
            if let Some(new_login) = new_login
                && new_login != old_login
            {
                self.logins.remove(&old_login);
                self.logins.insert(new_login, id.to_string());
            }
        }
        if let Some(role) = update.role
            && let Some(user) = self.users.get_mut(id)
        {
            user.role = role;
        }
        if let Some(dept) = update.department_id {
            self.place_user(id, &dept);
        }
        if let Some(groups) = update.group_ids {
            let wanted = dedup(&groups);
            let current = self.users.get(id).map(|u| u.groups.clone()).unwrap_or_default();
            for group_id in current.iter().filter(|g| !wanted.contains(g)) {
                self.remove_from_group(id, group_id);
            }
            for group_id in &wanted {
                self.add_to_group(id, group_id);
            }
        }
        Ok(())
    }

    /// Deletes a user, its group memberships and its enrollments.
    pub fn delete_user(&mut self, id: &str) -> Result<()> {
        let user = self.users.remove(id).ok_or_else(|| Error::not_found("user_not_found", "user", id))?;
        self.logins.remove(&user.login().to_lowercase());
        if let Some(members) = self.dept_users.get_mut(&user.department_id) {
            members.remove(&user.seq);
        }
        for group_id in &user.groups {
            if let Some(group) = self.groups.get_mut(group_id) {
                group.members.remove(&user.seq);
            }
        }
        let enrollment_ids: Vec<String> =
            self.enrollments_by_learner.get(id).map(|m| m.values().cloned().collect()).unwrap_or_default();
        for enrollment_id in enrollment_ids {
            self.remove_enrollment(&enrollment_id);
        }
        self.enrollments_by_learner.remove(id);
        Ok(())
    }

    pub fn set_user_status(&mut self, id: &str, status: i64) -> Result<()> {
        self.user(id)?;
        let status = match status {
            1 => STATUS_ACTIVE,
            3 => STATUS_INACTIVE,
            5 => STATUS_TERMINATED,
            other => return Err(Error::bad_request(format!("invalid status {other}; expected 1, 3 or 5"))),
        };
        if let Some(user) = self.users.get_mut(id) {
            user.status = status;
        }
        Ok(())
    }

    pub fn users_page(&self, filter: &UserFilter, page: PageReq) -> Page<&User> {
        let logins: HashSet<String> = filter.logins.iter().map(|l| l.to_lowercase()).collect();
        let departments: HashSet<&str> = filter.departments.iter().map(String::as_str).collect();
        let groups: HashSet<&str> = filter.groups.iter().map(String::as_str).collect();
        let matches = |user: &User| {
            (logins.is_empty() || logins.contains(&user.login().to_lowercase()))
                && (departments.is_empty() || departments.contains(user.department_id.as_str()))
                && (groups.is_empty() || user.groups.iter().any(|g| groups.contains(g.as_str())))
        };

        // Start from the most selective index available, then apply the other filters.
        let candidates: Option<BTreeMap<u64, &str>> = if !logins.is_empty() {
            Some(
                logins
                    .iter()
                    .filter_map(|l| self.logins.get(l))
                    .filter_map(|id| self.users.get(id))
                    .map(|u| (u.seq, u.id.as_str()))
                    .collect(),
            )
        } else if !departments.is_empty() {
            Some(
                departments
                    .iter()
                    .filter_map(|d| self.dept_users.get(*d))
                    .flat_map(|m| m.range(page.from..))
                    .map(|(seq, id)| (*seq, id.as_str()))
                    .collect(),
            )
        } else if !groups.is_empty() {
            Some(
                groups
                    .iter()
                    .filter_map(|g| self.groups.get(g))
                    .flat_map(|g| g.members.range(page.from..))
                    .map(|(seq, id)| (*seq, id.as_str()))
                    .collect(),
            )
        } else {
            None
        };

        match candidates {
            Some(candidates) => paginate(
                candidates
                    .range(page.from..)
                    .filter_map(|(seq, id)| self.users.get(id).map(|u| (*seq, u)))
                    .filter(|(_, u)| matches(u)),
                page.size,
            ),
            None => paginate(self.users.iter_from(page.from), page.size),
        }
    }

    // --- groups ------------------------------------------------------------

    pub fn group(&self, id: &str) -> Result<&Group> {
        self.groups.get(id).ok_or_else(|| Error::not_found("group_not_found", "group", id))
    }

    pub fn groups_page(&self, page: PageReq) -> Page<&Group> {
        paginate(self.groups.iter_from(page.from), page.size)
    }

    pub fn create_group(&mut self, name: String, user_ids: &[String]) -> Result<String> {
        check_name(&name)?;
        for user_id in user_ids {
            self.user(user_id)?;
        }
        let seq = self.next_seq();
        let id = new_id();
        self.groups.insert(id.clone(), Group { id: id.clone(), name, members: BTreeMap::new(), seq });
        for user_id in dedup(user_ids) {
            self.add_to_group(&user_id, &id);
        }
        Ok(id)
    }

    pub fn rename_group(&mut self, id: &str, name: String) -> Result<()> {
        self.group(id)?;
        check_name(&name)?;
        if let Some(group) = self.groups.get_mut(id) {
            group.name = name;
        }
        Ok(())
    }

    /// Deletes a group and the rules attached to it; enrollments stay.
    pub fn delete_group(&mut self, id: &str) -> Result<()> {
        let group = self.groups.remove(id).ok_or_else(|| Error::not_found("group_not_found", "group", id))?;
        for user_id in group.members.values() {
            if let Some(user) = self.users.get_mut(user_id) {
                user.groups.retain(|g| g != id);
            }
        }
        self.delete_rules_on(TargetType::Group, id);
        Ok(())
    }

    /// Replaces the whole membership; users newly in the group join it.
    pub fn replace_group_members(&mut self, id: &str, user_ids: &[String]) -> Result<()> {
        let old: Vec<String> = self.group(id)?.members.values().cloned().collect();
        for user_id in user_ids {
            self.user(user_id)?;
        }
        let wanted = dedup(user_ids);
        let wanted_set: HashSet<&str> = wanted.iter().map(String::as_str).collect();
        for user_id in old.iter().filter(|u| !wanted_set.contains(u.as_str())) {
            self.remove_from_group(user_id, id);
        }
        for user_id in &wanted {
            self.add_to_group(user_id, id);
        }
        Ok(())
    }

    // --- content and enrollments -------------------------------------------

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

    // --- automatic-enrollment rules ----------------------------------------

    pub fn create_rule(&mut self, target_type: TargetType, target_id: &str, content_id: &str) -> Result<String> {
        match target_type {
            TargetType::Department => self.department(target_id).map(|_| ())?,
            TargetType::Group => self.group(target_id).map(|_| ())?,
        }
        self.content(content_id)?;
        let seq = self.next_seq();
        let id = new_id();
        let rule = Rule {
            id: id.clone(),
            target_type,
            target_id: target_id.to_string(),
            content_id: content_id.to_string(),
            created_at: seq,
            created_time: now_rfc3339(),
        };
        self.rules.insert(id.clone(), rule);
        self.rules_by_target.entry((target_type, target_id.to_string())).or_default().push(id.clone());
        Ok(id)
    }

    pub fn delete_rule(&mut self, id: &str) -> Result<()> {
        let rule = self.rules.remove(id).ok_or_else(|| Error::not_found("rule_not_found", "rule", id))?;
        if let Some(ids) = self.rules_by_target.get_mut(&(rule.target_type, rule.target_id)) {
            ids.retain(|r| r != id);
        }
        Ok(())
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    // --- snapshot ----------------------------------------------------------

    /// Everything, for `GET /_sim/state`.
    pub fn snapshot(&self) -> Value {
        json!({
            "rootDepartmentId": self.root_id,
            "departments": self.departments.iter().map(Department::to_json).collect::<Vec<_>>(),
            "users": self.users.iter().map(User::to_json).collect::<Vec<_>>(),
            "groups": self.groups.iter().map(Group::to_json).collect::<Vec<_>>(),
            "enrollments": self.enrollments.iter().map(Enrollment::to_json).collect::<Vec<_>>(),
            "rules": self.rules.iter().map(Rule::to_json).collect::<Vec<_>>(),
            "contents": self.contents.iter().map(Content::to_json).collect::<Vec<_>>(),
        })
    }

    /// Checks the internal indexes against the rows; used by tests.
    pub fn check_invariants(&self) -> std::result::Result<(), String> {
        let mut placed = 0;
        for user in self.users.iter() {
            if !self.departments.contains(&user.department_id) {
                return Err(format!("user {} is in unknown department {}", user.id, user.department_id));
            }
            let holders: Vec<&str> = self
                .dept_users
                .iter()
                .filter(|(_, m)| m.get(&user.seq) == Some(&user.id))
                .map(|(d, _)| d.as_str())
                .collect();
            if holders != [user.department_id.as_str()] {
                return Err(format!("user {} is indexed in departments {holders:?}", user.id));
            }
            placed += 1;
            if self.logins.get(&user.login().to_lowercase()) != Some(&user.id) {
                return Err(format!("login index misses user {}", user.id));
            }
            for group_id in &user.groups {
                match self.groups.get(group_id) {
                    Some(g) if g.members.get(&user.seq) == Some(&user.id) => {}
                    _ => return Err(format!("user {} lists group {group_id} that does not list it", user.id)),
                }
            }
        }
        let indexed: usize = self.dept_users.values().map(BTreeMap::len).sum();
        if indexed != placed || self.logins.len() != placed {
            return Err(format!("{indexed} indexed placements / {} logins for {placed} users", self.logins.len()));
        }
        for group in self.groups.iter() {
            for user_id in group.members.values() {
                if !self.users.get(user_id).is_some_and(|u| u.groups.contains(&group.id)) {
                    return Err(format!("group {} lists user {user_id} that does not list it", group.id));
                }
            }
        }
        Ok(())
    }

    // --- internals ---------------------------------------------------------

    /// Puts an existing user into an existing department. A change of department is a join.
    fn place_user(&mut self, user_id: &str, dept_id: &str) {
        let Some(user) = self.users.get_mut(user_id) else { return };
        if user.department_id == dept_id {
            return;
        }
        let old = std::mem::replace(&mut user.department_id, dept_id.to_string());
        let seq = user.seq;
        if let Some(members) = self.dept_users.get_mut(&old) {
            members.remove(&seq);
        }
        self.dept_users.entry(dept_id.to_string()).or_default().insert(seq, user_id.to_string());
        self.fire_rules(TargetType::Department, dept_id, user_id);
    }

    /// Adds an existing user to an existing group. Becoming a member is a join.
    fn add_to_group(&mut self, user_id: &str, group_id: &str) {
        let Some(user) = self.users.get_mut(user_id) else { return };
        if user.groups.iter().any(|g| g == group_id) {
            return;
        }
        let Some(group) = self.groups.get_mut(group_id) else { return };
        group.members.insert(user.seq, user_id.to_string());
        user.groups.push(group_id.to_string());
        self.fire_rules(TargetType::Group, group_id, user_id);
    }

    fn remove_from_group(&mut self, user_id: &str, group_id: &str) {
        if let Some(user) = self.users.get_mut(user_id) {
            user.groups.retain(|g| g != group_id);
            if let Some(group) = self.groups.get_mut(group_id) {
                group.members.remove(&user.seq);
            }
        }
    }

    /// Applies every rule on the target to a user that has just joined it.
    fn fire_rules(&mut self, target_type: TargetType, target_id: &str, user_id: &str) {
        let Some(rule_ids) = self.rules_by_target.get(&(target_type, target_id.to_string())) else { return };
        let to_apply: Vec<(String, String)> = rule_ids
            .iter()
            .filter_map(|rule_id| self.rules.get(rule_id))
            .map(|rule| (rule.id.clone(), rule.content_id.clone()))
            .collect();
        for (rule_id, content_id) in to_apply {
            self.enroll_one(user_id, &content_id, &format!("rule:{rule_id}"));
        }
    }

    /// Returns the existing enrollment of the pair, or creates one.
    fn enroll_one(&mut self, learner_id: &str, course_id: &str, source: &str) -> String {
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

    fn remove_enrollment(&mut self, id: &str) {
        let Some(e) = self.enrollments.remove(id) else { return };
        self.enrollment_pairs.remove(&(e.learner_id.clone(), e.course_id.clone()));
        if let Some(m) = self.enrollments_by_learner.get_mut(&e.learner_id) {
            m.remove(&e.seq);
        }
        if let Some(m) = self.enrollments_by_course.get_mut(&e.course_id) {
            m.remove(&e.seq);
        }
    }

    fn delete_rules_on(&mut self, target_type: TargetType, target_id: &str) {
        if let Some(rule_ids) = self.rules_by_target.remove(&(target_type, target_id.to_string())) {
            for rule_id in rule_ids {
                self.rules.remove(&rule_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State::new("Root", Vec::new())
    }

    fn fields(login: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("login".into(), json!(login));
        m.insert("first_name".into(), json!("First"));
        m.insert("last_name".into(), json!("Last"));
        m.insert("email".into(), json!(format!("{login}@example.com")));
        m
    }

    fn new_user(s: &mut State, login: &str, dept: &str) -> String {
        s.create_user(NewUser { department_id: dept.into(), fields: fields(login), group_ids: vec![], role: None })
            .expect("create user")
    }

    fn dept(s: &mut State, name: &str) -> String {
        let root = s.root_id().to_string();
        s.create_department(name.into(), &root, None).expect("create department")
    }

    fn course(s: &mut State, title: &str) -> String {
        s.create_content(title.into(), None).expect("create content")
    }

    /// (course, source) pairs of a learner's enrollments.
    fn enrollments_of(s: &State, user: &str) -> Vec<(String, String)> {
        let filter = EnrollmentFilter { learner_ids: vec![user.into()], course_ids: vec![] };
        s.enrollments_page(&filter, PageReq::default())
            .items
            .iter()
            .map(|e| (e.course_id.clone(), e.source.clone()))
            .collect()
    }

    #[test]
    fn root_department_exists_from_the_start() {
        let s = State::new("Company", Vec::new());
        let root = s.department(s.root_id()).expect("root");
        assert_eq!(root.name, "Company");
        assert_eq!(root.parent_id, None);
        assert_eq!(root.to_json()["parentDepartmentId"], Value::Null);
        let page = s.departments_page(PageReq::default());
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.next, None);
    }

    #[test]
    fn every_user_has_exactly_one_department() {
        let mut s = state();
        let root = s.root_id().to_string();
        let a = dept(&mut s, "A");
        let b = dept(&mut s, "B");
        let u1 = new_user(&mut s, "u1", &root);
        let u2 = new_user(&mut s, "u2", &a);
        s.check_invariants().expect("after create");
        s.move_users(&b, &[u1.clone(), u2.clone()]).expect("move");
        s.check_invariants().expect("after move");
        s.move_users(&a, &[u1.clone(), u1.clone()]).expect("move twice in one call");
        s.update_user(&u2, UserUpdate { department_id: Some(root.clone()), ..Default::default() }).expect("update");
        s.check_invariants().expect("after update");
        assert_eq!(s.user(&u1).map(|u| u.department_id.clone()), Ok(a.clone()));
        assert_eq!(s.user(&u2).map(|u| u.department_id.clone()), Ok(root));
        // A department holding users cannot be deleted, which would orphan them.
        assert_eq!(s.delete_department(&a).map_err(|e| e.code), Err("department_not_empty"));
        s.delete_user(&u1).expect("delete");
        s.delete_department(&a).expect("now empty");
        s.check_invariants().expect("after deletes");
    }

    #[test]
    fn move_validates_everything_before_moving_anyone() {
        let mut s = state();
        let root = s.root_id().to_string();
        let a = dept(&mut s, "A");
        let u = new_user(&mut s, "u", &root);
        let err = s.move_users(&a, &[u.clone(), "nope".into()]).expect_err("unknown user");
        assert_eq!((err.status, err.code), (404, "user_not_found"));
        assert!(err.message.contains("nope"));
        assert_eq!(s.user(&u).map(|u| u.department_id.clone()), Ok(root));
        let err = s.move_users("missing", &[u]).expect_err("unknown department");
        assert_eq!((err.status, err.code), (404, "department_not_found"));
    }

    #[test]
    fn move_fires_department_rules_created_before_the_join_only_once() {
        let mut s = state();
        let root = s.root_id().to_string();
        let a = dept(&mut s, "A");
        let b = dept(&mut s, "B");
        let c1 = course(&mut s, "Course A");
        let c2 = course(&mut s, "Course B");
        let early = new_user(&mut s, "early", &a);
        let rule_a = s.create_rule(TargetType::Department, &a, &c1).expect("rule");
        let rule_b = s.create_rule(TargetType::Department, &b, &c2).expect("rule");
        // Already inside when the rule was created: not enrolled.
        assert!(enrollments_of(&s, &early).is_empty());

        // Created into A: joins A.
        let created = new_user(&mut s, "created", &a);
        assert_eq!(enrollments_of(&s, &created), vec![(c1.clone(), format!("rule:{rule_a}"))]);

        // Moved through A then B and staying in B: gets the items of both.
        let mover = new_user(&mut s, "mover", &root);
        s.move_users(&a, std::slice::from_ref(&mover)).expect("move a");
        s.move_users(&b, std::slice::from_ref(&mover)).expect("move b");
        let got = enrollments_of(&s, &mover);
        assert_eq!(got, vec![(c1.clone(), format!("rule:{rule_a}")), (c2.clone(), format!("rule:{rule_b}"))]);

        // Leaving never removes; coming back and moving again never duplicates.
        s.move_users(&a, std::slice::from_ref(&mover)).expect("back to a");
        s.move_users(&a, std::slice::from_ref(&mover)).expect("no-op move");
        s.move_users(&root, std::slice::from_ref(&mover)).expect("to root");
        assert_eq!(enrollments_of(&s, &mover).len(), 2);

        // A user moved into a department it is already in does not join it again.
        s.delete_enrollments(&[s.enrollments_page(&EnrollmentFilter::default(), PageReq::default()).items[0]
            .id
            .clone()])
            .expect("delete created's enrollment");
        s.move_users(&a, std::slice::from_ref(&created)).expect("same department");
        assert!(enrollments_of(&s, &created).is_empty());

        // Deleting the department's rule stops it; existing enrollments stay.
        s.delete_rule(&rule_a).expect("delete rule");
        let late = new_user(&mut s, "late", &a);
        assert!(enrollments_of(&s, &late).is_empty());
        assert_eq!(enrollments_of(&s, &mover).len(), 2);
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn admin_enrollment_is_idempotent_and_rules_do_not_duplicate_it() {
        let mut s = state();
        let a = dept(&mut s, "A");
        let c = course(&mut s, "C");
        let root = s.root_id().to_string();
        let u = new_user(&mut s, "u", &root);
        let first = s.enroll(std::slice::from_ref(&c), std::slice::from_ref(&u), "unlimited").expect("enroll");
        let again = s.enroll(std::slice::from_ref(&c), std::slice::from_ref(&u), "default").expect("enroll again");
        assert_eq!(first, again);
        s.create_rule(TargetType::Department, &a, &c).expect("rule");
        s.move_users(&a, std::slice::from_ref(&u)).expect("move");
        assert_eq!(enrollments_of(&s, &u), vec![(c.clone(), "admin".to_string())]);
        let err = s.enroll(&[c], &[u], "whenever").expect_err("bad due date type");
        assert_eq!(err.status, 400);
    }

    #[test]
    fn group_replace_fires_group_rules_for_new_members_only() {
        let mut s = state();
        let root = s.root_id().to_string();
        let c = course(&mut s, "Group course");
        let u1 = new_user(&mut s, "u1", &root);
        let u2 = new_user(&mut s, "u2", &root);
        let u3 = new_user(&mut s, "u3", &root);
        let g = s.create_group("G".into(), std::slice::from_ref(&u1)).expect("group");
        let rule = s.create_rule(TargetType::Group, &g, &c).expect("rule");

        s.replace_group_members(&g, &[u1.clone(), u2.clone()]).expect("replace");
        assert!(enrollments_of(&s, &u1).is_empty(), "u1 was already a member");
        assert_eq!(enrollments_of(&s, &u2), vec![(c.clone(), format!("rule:{rule}"))]);

        // Unknown user: nothing changes.
        let err = s.replace_group_members(&g, &[u3.clone(), "ghost".into()]).expect_err("unknown");
        assert_eq!(err.code, "user_not_found");
        assert_eq!(s.group(&g).map(|g| g.member_ids().count()), Ok(2));

        // Replacing removes absent members without touching their enrollments.
        s.replace_group_members(&g, std::slice::from_ref(&u3)).expect("replace");
        assert_eq!(s.group(&g).map(|g| g.member_ids().collect::<Vec<_>>()), Ok(vec![u3.as_str()]));
        assert_eq!(s.user(&u2).map(|u| u.groups.len()), Ok(0));
        assert_eq!(enrollments_of(&s, &u2).len(), 1);
        assert_eq!(enrollments_of(&s, &u3).len(), 1);

        // Rejoining after leaving does not duplicate.
        s.replace_group_members(&g, &[u2.clone(), u3.clone()]).expect("replace");
        assert_eq!(enrollments_of(&s, &u2).len(), 1);

        // Empty list empties the group.
        s.replace_group_members(&g, &[]).expect("empty");
        assert_eq!(s.group(&g).map(|g| g.member_ids().count()), Ok(0));

        // groupIds on user update are group joins too.
        let u4 = new_user(&mut s, "u4", &root);
        s.update_user(&u4, UserUpdate { group_ids: Some(vec![g.clone()]), ..Default::default() }).expect("upd");
        assert_eq!(enrollments_of(&s, &u4).len(), 1);

        // Deleting the group deletes its rules, never the enrollments.
        s.delete_group(&g).expect("delete group");
        assert_eq!(s.rules().count(), 0);
        assert_eq!(enrollments_of(&s, &u4).len(), 1);
        assert!(s.user(&u4).is_ok_and(|u| u.groups.is_empty()));
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn required_field_refusal_creates_nothing() {
        let mut s = State::new("Root", vec!["phone".into()]);
        let root = s.root_id().to_string();
        let err = s
            .create_user(NewUser { department_id: root.clone(), fields: fields("a"), group_ids: vec![], role: None })
            .expect_err("phone missing");
        assert_eq!(err.status, 400);
        assert_eq!(err.code, "required_field_missing");
        assert_eq!(err.message, "The profile field 'phone' is required");
        assert_eq!(s.user_count(), 0);
        let mut with_empty = fields("a");
        with_empty.insert("phone".into(), json!(""));
        let new = NewUser { department_id: root.clone(), fields: with_empty, group_ids: vec![], role: None };
        assert!(s.create_user(new).is_err());
        let mut with_phone = fields("a");
        with_phone.insert("phone".into(), json!("+1 555"));
        let new = NewUser { department_id: root, fields: with_phone, group_ids: vec![], role: None };
        assert!(s.create_user(new).is_ok());
    }

    #[test]
    fn logins_are_unique_case_insensitively() {
        let mut s = state();
        let root = s.root_id().to_string();
        let u = new_user(&mut s, "Alice@Example.com", &root);
        let err = s
            .create_user(NewUser {
                department_id: root.clone(),
                fields: fields("alice@example.COM"),
                group_ids: vec![],
                role: None,
            })
            .expect_err("duplicate");
        assert_eq!((err.status, err.code), (409, "login_already_exists"));
        let other = new_user(&mut s, "bob", &root);
        // Renaming onto someone else's login is refused, changing one's own case is fine.
        let upd = |login: &str| UserUpdate { fields: Some(fields(login)), ..Default::default() };
        assert_eq!(s.update_user(&other, upd("ALICE@example.com")).map_err(|e| e.code), Err("login_already_exists"));
        s.update_user(&u, upd("alice@example.com")).expect("own login, other case");
        s.update_user(&other, upd("robert")).expect("free login");
        new_user(&mut s, "BOB", &root);
        let filter = UserFilter { logins: vec!["Robert".into(), "ALICE@EXAMPLE.COM".into()], ..Default::default() };
        let found: Vec<&str> = s.users_page(&filter, PageReq::default()).items.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(found, vec![u.as_str(), other.as_str()]);
        // Missing or empty login.
        let mut no_login = fields("x");
        no_login.remove("login");
        let err = s.create_user(NewUser { department_id: root, fields: no_login, group_ids: vec![], role: None });
        assert_eq!(err.map_err(|e| e.code), Err("bad_request"));
        s.check_invariants().expect("invariants");
    }

    #[test]
    fn fields_are_merged_on_update() {
        let mut s = state();
        let root = s.root_id().to_string();
        let u = new_user(&mut s, "u", &root);
        let mut patch = Map::new();
        patch.insert("last_name".into(), json!("Changed"));
        s.update_user(&u, UserUpdate { fields: Some(patch), ..Default::default() }).expect("update");
        let user = s.user(&u).expect("user");
        assert_eq!(user.fields["last_name"], "Changed");
        assert_eq!(user.fields["first_name"], "First");
        assert_eq!(user.login(), "u");
    }

    #[test]
    fn listing_pages_with_next_page_token() {
        let mut s = state();
        let root = s.root_id().to_string();
        let a = dept(&mut s, "A");
        let ids: Vec<String> =
            (0..25).map(|i| new_user(&mut s, &format!("user{i}"), if i % 2 == 0 { &a } else { &root })).collect();
        let mut seen = Vec::new();
        let mut from = 0;
        loop {
            let page = s.users_page(&UserFilter::default(), PageReq { size: 10, from });
            seen.extend(page.items.iter().map(|u| u.id.clone()));
            match page.next {
                Some(next) => from = next,
                None => break,
            }
        }
        assert_eq!(seen, ids);

        let filter = UserFilter { departments: vec![a.clone()], ..Default::default() };
        let first = s.users_page(&filter, PageReq { size: 5, from: 0 });
        assert_eq!(first.items.len(), 5);
        let second = s.users_page(&filter, PageReq { size: 10, from: first.next.expect("more") });
        assert_eq!(second.items.len(), 8);
        assert_eq!(second.next, None);
        assert!(second.items.iter().all(|u| u.department_id == a));
    }

    #[test]
    fn department_tree_rules() {
        let mut s = state();
        let root = s.root_id().to_string();
        let a = dept(&mut s, "A");
        let b = s.create_department("B".into(), &a, Some("B-1".into())).expect("child");
        assert_eq!(s.create_department("X".into(), "missing", None).map_err(|e| e.status), Err(404));
        assert_eq!(s.delete_department(&root).map_err(|e| e.status), Err(400));
        assert_eq!(s.delete_department(&a).map_err(|e| e.code), Err("department_not_empty"));
        let cyc = DepartmentUpdate { parent_id: Some(b.clone()), ..Default::default() };
        assert_eq!(s.update_department(&a, cyc).map_err(|e| e.code), Err("invalid_parent"));
        let mv = DepartmentUpdate { name: Some("B2".into()), parent_id: Some(root.clone()), code: None };
        s.update_department(&b, mv).expect("move");
        assert_eq!(s.department(&b).map(|d| (d.name.clone(), d.parent_id.clone())), Ok(("B2".into(), Some(root))));
        let c = course(&mut s, "C");
        s.create_rule(TargetType::Department, &a, &c).expect("rule");
        s.delete_department(&a).expect("empty now");
        assert_eq!(s.rules().count(), 0);
    }
}
