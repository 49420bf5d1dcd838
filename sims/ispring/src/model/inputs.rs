//! Request inputs of the model: creation and update payloads (deserialized from the API's JSON
//! bodies) and the list filters.

use serde::Deserialize;
use serde_json::{Map, Value};

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
