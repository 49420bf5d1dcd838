//! The stored entities and their JSON shapes as the iSpring API returns them. Every entity carries the
//! sequence number it got at creation, which orders lists and pages.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::table::Row;

#[derive(Debug, Clone)]
pub struct Department {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub code: Option<String>,
    pub(super) seq: u64,
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
    pub(super) seq: u64,
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
    pub(super) members: BTreeMap<u64, String>,
    pub(super) seq: u64,
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
    pub(super) seq: u64,
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
    pub(super) seq: u64,
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
