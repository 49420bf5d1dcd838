//! Delivery over iSpring Learn's REST API v3. The host adds `Authorization: Bearer <access token>`
//! from the target's OAuth2 client-credentials credential (it fetches the token, reuses it until it
//! expires and fetches a new one on 401), so no secret and no token ever reaches this code.
//!
//! Creates are safe to repeat: a user whose creation answer was lost is found by login (409), a
//! department or group is looked up by name before one is created.

use scimgw_plugin_sdk::http::{Method, Response};
use scimgw_plugin_sdk::outbound::{body_snippet, outcome_for_error, outcome_for_response};
use scimgw_plugin_sdk::{
    CustomOp, DepartmentOp, GroupOp, MembershipOp, Operation, Outcome, PluginError, RemoteId, Retry, UserOp, directory,
    log,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::translate::{MOVE_USERS, MembersPayload, MovePayload, SET_MEMBERS, SET_STATUS, StatusPayload, UserExtra};

/// Remote-id kinds and the local id of the root department.
pub const USER: &str = "user";
pub const DEPARTMENT: &str = "department";
pub const GROUP: &str = "group";
pub const ROOT: &str = "(root)";
const PAGE_SIZE: u32 = 1000;
/// How long an operation waits for a department another operation is still creating.
const DEPENDENCY_RETRY_SECS: u32 = 1;

/// An early end of a delivery: the outcome to report.
type Step<T> = Result<T, Outcome>;

pub fn deliver(config: &Config, op: &Operation) -> Result<Outcome, PluginError> {
    let mut api = Api { config, learned: Vec::new() };
    let result = match op {
        Operation::UpsertUser(u) => api.upsert_user(u),
        Operation::DeleteUser(id) => api.delete_user(id),
        Operation::UpsertDepartment(d) => api.upsert_department(d),
        Operation::AssignDepartment(m) => api.assign_department(m),
        Operation::UpsertGroup(g) => api.upsert_group(g),
        Operation::Custom(c) => api.custom(c),
        other => {
            return Err(PluginError::Unsupported(format!("the iSpring plugin does not deliver `{}`", other.name())));
        }
    };
    Ok(match result {
        Ok(()) => Outcome::Done(api.learned),
        Err(outcome) => outcome,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Department {
    department_id: String,
    name: String,
    #[serde(default)]
    parent_department_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdName {
    #[serde(alias = "groupId", alias = "userId")]
    id: String,
    #[serde(default)]
    name: Option<String>,
}

struct Api<'a> {
    config: &'a Config,
    learned: Vec<RemoteId>,
}

fn failed(reason: impl Into<String>) -> Outcome {
    Outcome::Failed(reason.into())
}

fn retry_soon(reason: impl Into<String>) -> Outcome {
    Outcome::Retry(Retry { after_secs: Some(DEPENDENCY_RETRY_SECS), reason: reason.into() })
}

/// iSpring's error body `{code, message}` as one line, else the start of the body.
fn api_error(resp: &Response) -> String {
    #[derive(Deserialize)]
    struct E {
        code: Option<Value>,
        message: Option<String>,
    }
    match serde_json::from_slice::<E>(&resp.body) {
        Ok(E { code, message }) if code.is_some() || message.is_some() => format!(
            "HTTP {}: {} (code {})",
            resp.status,
            message.unwrap_or_default(),
            code.map(|c| c.as_str().map(str::to_owned).unwrap_or_else(|| c.to_string())).unwrap_or_default()
        ),
        _ => format!("HTTP {}: {}", resp.status, body_snippet(&resp.body, 200)),
    }
}

fn error_code(resp: &Response) -> Option<String> {
    let v: Value = serde_json::from_slice(&resp.body).ok()?;
    v.get("code").and_then(Value::as_str).map(str::to_owned)
}

/// The id a create answers with: a JSON string, an object with an id field, or plain text.
fn created_id(resp: &Response) -> Step<String> {
    let text = String::from_utf8_lossy(&resp.body).trim().to_owned();
    let id = match serde_json::from_str::<Value>(&text) {
        Ok(Value::String(s)) => Some(s),
        Ok(Value::Object(o)) => ["id", "userId", "departmentId", "groupId"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_owned)),
        Ok(_) => None,
        Err(_) if !text.is_empty() && !text.contains(char::is_whitespace) => Some(text.clone()),
        Err(_) => None,
    };
    id.filter(|s| !s.is_empty()).ok_or_else(|| {
        failed(format!("iSpring answered {} without an id: {}", resp.status, body_snippet(&resp.body, 200)))
    })
}

impl Api<'_> {
    fn send(&self, method: Method, path: &str, body: Option<Value>) -> Step<Response> {
        let mut req = scimgw_plugin_sdk::outbound::Request::new(method, format!("{}{path}", self.config.base_url))
            .bearer(&self.config.credential)
            .header("Accept", "application/json");
        if let Some(body) = body {
            req = req.json_text(body.to_string());
        }
        req.send().map_err(|e| outcome_for_error(&e))
    }

    /// Sends and requires a 2xx answer; anything else ends the delivery with the matching outcome
    /// (retry for 429/5xx with Retry-After, failed with iSpring's `{code, message}` otherwise).
    fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Step<Response> {
        let resp = self.send(method, path, body)?;
        if (200..300).contains(&resp.status) { Ok(resp) } else { Err(self.outcome(&resp)) }
    }

    fn outcome(&self, resp: &Response) -> Outcome {
        match outcome_for_response(resp) {
            Outcome::Failed(_) => failed(api_error(resp)),
            Outcome::Conflict(_) => Outcome::Conflict(api_error(resp)),
            other => other,
        }
    }

    /// Every item of a paged list (`pageSize`/`pageToken` → `nextPageToken`).
    fn list<T: for<'de> Deserialize<'de>>(&self, path: &str, field: &str) -> Step<Vec<T>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let mut url = format!("{path}{sep}pageSize={PAGE_SIZE}");
            if let Some(t) = &token {
                url.push_str("&pageToken=");
                url.push_str(&encode(t));
            }
            let resp = self.ok(Method::Get, &url, None)?;
            let mut page: Map<String, Value> = serde_json::from_slice(&resp.body)
                .map_err(|e| failed(format!("iSpring's {path} answer is not the expected JSON: {e}")))?;
            let items = page.remove(field).unwrap_or(Value::Array(Vec::new()));
            let items: Vec<T> = serde_json::from_value(items)
                .map_err(|e| failed(format!("iSpring's {path} answer is not the expected JSON: {e}")))?;
            out.extend(items);
            token = page.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    fn learn(&mut self, kind: &str, local: &str, remote: &str) {
        self.learned.push(RemoteId { kind: kind.to_owned(), local_id: local.to_owned(), remote_id: remote.to_owned() });
    }

    fn known(&self, kind: &str, local: &str) -> Option<String> {
        self.learned
            .iter()
            .find(|r| r.kind == kind && r.local_id == local)
            .map(|r| r.remote_id.clone())
            .or_else(|| directory::remote_id(kind, local))
    }

    /// The root department: configured, learned earlier, or the account's department without a parent.
    fn root(&mut self) -> Step<String> {
        if let Some(id) = &self.config.root_department_id {
            return Ok(id.clone());
        }
        if let Some(id) = self.known(DEPARTMENT, ROOT) {
            return Ok(id);
        }
        let departments: Vec<Department> = self.list("/departments", "departments")?;
        let root = departments
            .into_iter()
            .find(|d| d.parent_department_id.as_deref().is_none_or(str::is_empty))
            .ok_or_else(|| failed("iSpring lists no root department (one without a parent)"))?;
        self.learn(DEPARTMENT, ROOT, &root.department_id);
        Ok(root.department_id)
    }

    /// The iSpring department of an Entra group (`""` = root). Missing: its `upsert-department` is
    /// still on its way (delivered in parallel), so try again shortly.
    fn department_of(&mut self, group: &str) -> Step<String> {
        if group.is_empty() {
            return self.root();
        }
        self.known(DEPARTMENT, group)
            .ok_or_else(|| retry_soon(format!("the department of group {group} is not created yet")))
    }

    fn upsert_user(&mut self, u: &UserOp) -> Step<()> {
        let extra: UserExtra = serde_json::from_str(&u.fields_json).unwrap_or_default();
        let mut fields = Map::new();
        fields.insert("login".into(), json!(u.login));
        for (k, v) in [("first_name", &u.first_name), ("last_name", &u.last_name), ("email", &u.email)] {
            if let Some(v) = v {
                fields.insert(k.into(), json!(v));
            }
        }
        let status = if u.active { 1 } else { 3 };
        if let Some(id) = self.known(USER, &u.user_id) {
            let mut body = json!({ "fields": fields });
            if extra.repair {
                body["departmentId"] = json!(self.department_of(&extra.department)?);
            }
            let resp = self.send(Method::Post, &format!("/user/{id}"), Some(body))?;
            if resp.status != 404 {
                if !(200..300).contains(&resp.status) {
                    return Err(self.outcome(&resp));
                }
                if extra.repair {
                    self.ok(Method::Post, &format!("/user/{id}/status"), Some(json!({ "status": status })))?;
                }
                return Ok(());
            }
            // Deleted in iSpring since: create it again.
        }
        let department = self.department_of(&extra.department)?;
        let resp = self.send(Method::Post, "/user", Some(json!({ "departmentId": department, "fields": fields })))?;
        let id = match resp.status {
            200..=299 => created_id(&resp)?,
            409 => {
                // The login exists (created by an earlier attempt whose answer was lost, or by hand):
                // adopt that user and bring it in line.
                let url = format!("/users?logins[]={}", encode(&u.login));
                let found: Vec<IdName> = self.list(&url, "users")?;
                let Some(user) = found.into_iter().next() else { return Err(self.outcome(&resp)) };
                let body = json!({ "departmentId": department, "fields": fields });
                self.ok(Method::Post, &format!("/user/{}", user.id), Some(body))?;
                user.id
            }
            400 if error_code(&resp).as_deref() == Some("required_field_missing") => {
                // I11: the account requires a profile field Entra does not send. Not worth retrying.
                return Err(failed(format!(
                    "iSpring refused to create user {}: {}. Make that profile field optional in iSpring Learn \
                     (Entra sends login, first and last name and e-mail only)",
                    u.user_id,
                    api_error(&resp)
                )));
            }
            _ => return Err(self.outcome(&resp)),
        };
        self.learn(USER, &u.user_id, &id);
        if !u.active {
            self.ok(Method::Post, &format!("/user/{id}/status"), Some(json!({ "status": 3 })))?;
        }
        Ok(())
    }

    fn delete_user(&mut self, user: &str) -> Step<()> {
        let Some(id) = self.known(USER, user) else { return Ok(()) };
        let resp = self.send(Method::Delete, &format!("/user/{id}"), None)?;
        if (200..300).contains(&resp.status) || resp.status == 404 { Ok(()) } else { Err(self.outcome(&resp)) }
    }

    fn custom(&mut self, c: &CustomOp) -> Step<()> {
        let bad = |e: serde_json::Error| failed(format!("malformed {} operation: {e}", c.kind));
        match c.kind.as_str() {
            SET_STATUS => {
                let p: StatusPayload = serde_json::from_str(&c.payload_json).map_err(bad)?;
                self.set_status(&p)
            }
            MOVE_USERS => {
                let p: MovePayload = serde_json::from_str(&c.payload_json).map_err(bad)?;
                self.move_users(&p)
            }
            SET_MEMBERS => {
                let p: MembersPayload = serde_json::from_str(&c.payload_json).map_err(bad)?;
                self.set_members(&p)
            }
            other => Err(failed(format!("unknown operation kind `{other}`"))),
        }
    }

    fn set_status(&mut self, p: &StatusPayload) -> Step<()> {
        let Some(id) = self.known(USER, &p.user) else {
            log::warn(format!("user {} was never created in iSpring; status not set", p.user));
            return Ok(());
        };
        let resp = self.send(Method::Post, &format!("/user/{id}/status"), Some(json!({ "status": p.status })))?;
        if (200..300).contains(&resp.status) || resp.status == 404 { Ok(()) } else { Err(self.outcome(&resp)) }
    }

    fn find_department(&mut self, name: &str) -> Step<Option<String>> {
        let root = self.root()?;
        let all: Vec<Department> = self.list("/departments", "departments")?;
        let mut same: Vec<&Department> = all.iter().filter(|d| d.name == name).collect();
        // Prefer one directly under the root, where the sync creates them.
        same.sort_by_key(|d| d.parent_department_id.as_deref() != Some(root.as_str()));
        Ok(same.first().map(|d| d.department_id.clone()))
    }

    /// I2: bound by stored id (a rename follows); first by name (an existing department is reused);
    /// created under the root when there is none.
    fn upsert_department(&mut self, d: &DepartmentOp) -> Step<()> {
        if let Some(id) = self.known(DEPARTMENT, &d.key) {
            let resp = self.send(Method::Post, &format!("/department/{id}"), Some(json!({ "name": d.name })))?;
            if resp.status != 404 {
                return if (200..300).contains(&resp.status) { Ok(()) } else { Err(self.outcome(&resp)) };
            }
            // Deleted in iSpring: bind by name again, or create.
        }
        let id = match self.find_department(&d.name)? {
            Some(id) => id,
            None => {
                let root = self.root()?;
                let body = json!({ "name": d.name, "parentDepartmentId": root });
                created_id(&self.ok(Method::Post, "/department", Some(body))?)?
            }
        };
        self.learn(DEPARTMENT, &d.key, &id);
        Ok(())
    }

    fn move_to(&mut self, department: &str, users: &[String]) -> Step<()> {
        let department = self.department_of(department)?;
        let mut ids = Vec::with_capacity(users.len());
        let mut missing = 0;
        for u in users {
            match self.known(USER, u) {
                Some(id) => ids.push(id),
                None => missing += 1,
            }
        }
        if missing > 0 {
            log::warn(format!("{missing} user(s) were never created in iSpring and are not moved"));
        }
        if ids.is_empty() {
            return Ok(());
        }
        self.ok(Method::Post, &format!("/department/{department}/user/move"), Some(json!({ "userIds": ids })))?;
        Ok(())
    }

    fn assign_department(&mut self, m: &MembershipOp) -> Step<()> {
        self.move_to(&m.container, std::slice::from_ref(&m.user_id))
    }

    fn move_users(&mut self, p: &MovePayload) -> Step<()> {
        for m in &p.moves {
            self.move_to(&m.department, &m.users)?;
        }
        Ok(())
    }

    fn find_group(&mut self, name: &str) -> Step<Option<String>> {
        let all: Vec<IdName> = self.list("/groups", "groups")?;
        Ok(all.into_iter().find(|g| g.name.as_deref() == Some(name)).map(|g| g.id))
    }

    /// I6: the mirrored group, bound by id, else by name, else created.
    fn upsert_group(&mut self, g: &GroupOp) -> Step<()> {
        if let Some(id) = self.known(GROUP, &g.key) {
            let resp = self.send(Method::Post, &format!("/group/{id}"), Some(json!({ "name": g.name })))?;
            if resp.status != 404 {
                return if (200..300).contains(&resp.status) { Ok(()) } else { Err(self.outcome(&resp)) };
            }
        }
        let id = match self.find_group(&g.name)? {
            Some(id) => id,
            None => created_id(&self.ok(Method::Post, "/group", Some(json!({ "name": g.name })))?)?,
        };
        self.learn(GROUP, &g.key, &id);
        Ok(())
    }

    /// The whole membership in one request (iSpring replaces it).
    fn set_members(&mut self, p: &MembersPayload) -> Step<()> {
        let Some(group) = self.known(GROUP, &p.group) else {
            return Err(failed(format!(
                "the iSpring group of Entra group {} was never created (see the dead upsert-group operation)",
                p.group
            )));
        };
        let ids: Vec<String> = p.users.iter().filter_map(|u| self.known(USER, u)).collect();
        if ids.len() < p.users.len() {
            log::warn(format!(
                "{} member(s) were never created in iSpring and are left out",
                p.users.len() - ids.len()
            ));
        }
        self.ok(Method::Post, &format!("/group/{group}/members"), Some(json!({ "userIds": ids })))?;
        Ok(())
    }
}

/// Percent-encoding for a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response { status, headers: Vec::new(), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn ids_in_create_answers() {
        assert_eq!(created_id(&resp(201, r#""abc-1""#)).unwrap(), "abc-1");
        assert_eq!(created_id(&resp(201, r#"{"userId":"u-9"}"#)).unwrap(), "u-9");
        assert_eq!(created_id(&resp(201, "plain-id\n")).unwrap(), "plain-id");
        assert!(matches!(created_id(&resp(201, "")), Err(Outcome::Failed(_))));
    }

    #[test]
    fn errors_read_code_and_message() {
        let r = resp(400, r#"{"code":"required_field_missing","message":"The profile field 'phone' is required"}"#);
        assert_eq!(error_code(&r).as_deref(), Some("required_field_missing"));
        assert_eq!(api_error(&r), "HTTP 400: The profile field 'phone' is required (code required_field_missing)");
        assert_eq!(api_error(&resp(502, "bad gateway")), "HTTP 502: bad gateway");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("a.b+c@contoso.com"), "a.b%2Bc%40contoso.com");
    }
}
