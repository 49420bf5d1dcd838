//! The Assigner's HTTP calls, within a job call's request budget (16 per call; the plugin stops at
//! [`BUDGET`] and goes on in the next call through `continue-with`):
//!
//! - Learn365 reads (Basic, credential `learn365`): `GET /odata/v2/Users`, `Courses`, `Enrollments`
//!   with `$select`, following `@odata.nextLink`;
//! - Microsoft Graph v1.0 (`{graphBaseUrl}/v1.0/…`, Bearer, credential `entra-app`, an
//!   `oauth2-client-credentials` credential whose token the host fetches and refreshes): find a group by
//!   `mailNickname`, create a security group, list its members (`$select=id`, `$top=999`), add a
//!   member (`POST …/members/$ref`; 400 "already exist" counts as added), remove one
//!   (`DELETE …/members/{id}/$ref`; 404 counts as removed).
//!
//! **Failures.** Any other answer (401, 403, 429, 5xx, …) or a transport error fails the job call
//! with the status and the service's error text: the host drops the call's kv writes and tries the
//! same call again (3 tries in all), then ends the run as `failed: <reason>`. `Retry-After` is not
//! waited for within a call (a call has 30 s); the host's retry comes later.

use scimgw_plugin_sdk::PluginError;
use scimgw_plugin_sdk::http::{HttpError, Method, Request, Response};
use scimgw_plugin_sdk::outbound::{self, describe_error};
use serde_json::{Value, json};

use crate::assigner::{GRAPH_CREDENTIAL, LEARN365_CREDENTIAL};
use crate::deliver::{Wire, api_error, enc, quote};

/// Requests one job call makes at most (the host allows 16).
pub const BUDGET: usize = 16;

/// A job call's HTTP, counting requests.
pub struct Net<'a, W: Wire> {
    wire: &'a mut W,
    pub left: usize,
    pub l365: String,
    pub graph: String,
}

fn failure(what: &str, resp: &Response) -> PluginError {
    let detail = api_error(resp);
    let hint = match resp.status {
        401 | 403 if what.starts_with("Graph") => {
            format!(
                "; check the target credential `{GRAPH_CREDENTIAL}` (an oauth2-client-credentials credential of an app with Group.ReadWrite.All, GroupMember.ReadWrite.All, User.Read.All)"
            )
        }
        401 | 403 => format!("; check the target credential `{LEARN365_CREDENTIAL}` (api:<Full control key>)"),
        _ => String::new(),
    };
    let after = outbound::retry_after_secs(&resp.headers).map(|s| format!(" (Retry-After {s} s)")).unwrap_or_default();
    PluginError::Internal(format!("{what}: answered {}{detail}{after}{hint}", resp.status))
}

/// A page of a group's member ids and the link to the next page.
pub type MemberPage = (Vec<String>, Option<String>);

/// A page of an OData or Graph collection.
pub struct Page {
    pub value: Vec<Value>,
    pub next: Option<String>,
}

fn page(what: &str, resp: &Response) -> Result<Page, PluginError> {
    let v: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| PluginError::Internal(format!("{what}: the answer is not JSON: {e}")))?;
    let value = v.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
    let next = v.get("@odata.nextLink").and_then(Value::as_str).map(str::to_owned);
    Ok(Page { value, next })
}

/// Members one `members@odata.bind` request may add (Graph's limit).
pub const MAX_BIND: usize = 20;

impl<'a, W: Wire> Net<'a, W> {
    pub fn new(wire: &'a mut W, l365: &str, graph: &str) -> Self {
        Net { wire, left: BUDGET, l365: l365.to_owned(), graph: graph.to_owned() }
    }

    fn send(&mut self, what: &str, req: outbound::Request) -> Result<Response, PluginError> {
        if self.left == 0 {
            return Err(PluginError::Internal(format!("{what}: no request left in this call (a plugin bug)")));
        }
        self.left -= 1;
        let req: Request = req.header("Accept", "application/json").into_wit();
        self.wire.send(req).map_err(|e: HttpError| PluginError::Internal(format!("{what}: {}", describe_error(&e))))
    }

    /// One page of a Learn365 collection: `path` (e.g. `Users?$select=…`) or a `nextLink`.
    pub fn l365_page(&mut self, what: &str, path_or_next: &str) -> Result<Page, PluginError> {
        let url = if path_or_next.starts_with("http") {
            path_or_next.to_owned()
        } else {
            format!("{}/odata/v2/{path_or_next}", self.l365)
        };
        let resp = self.send(what, outbound::Request::new(Method::Get, url).basic(LEARN365_CREDENTIAL))?;
        if !(200..300).contains(&resp.status) {
            return Err(failure(what, &resp));
        }
        page(what, &resp)
    }

    fn graph_req(&self, method: Method, path: &str) -> outbound::Request {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}/v1.0/{path}", self.graph) };
        outbound::Request::new(method, url).bearer(GRAPH_CREDENTIAL)
    }

    /// The group with this `mailNickname`, if any: `(id, displayName)`.
    pub fn find_group(&mut self, nickname: &str) -> Result<Option<(String, String)>, PluginError> {
        let filter = enc(&format!("mailNickname eq '{}'", quote(nickname)));
        let req = self.graph_req(Method::Get, &format!("groups?$filter={filter}&$select=id,displayName"));
        let resp = self.send("Graph: finding the profile's group", req)?;
        if !(200..300).contains(&resp.status) {
            return Err(failure("Graph: finding the profile's group", &resp));
        }
        let p = page("Graph: finding the profile's group", &resp)?;
        Ok(p.value.first().and_then(|g| {
            let id = g.get("id")?.as_str()?.to_owned();
            Some((id, g.get("displayName").and_then(Value::as_str).unwrap_or_default().to_owned()))
        }))
    }

    /// Creates a security group; its id.
    pub fn create_group(&mut self, name: &str, nickname: &str, description: &str) -> Result<String, PluginError> {
        let body = json!({
            "displayName": name, "mailNickname": nickname, "mailEnabled": false, "securityEnabled": true,
            "description": description,
        });
        let req = self.graph_req(Method::Post, "groups").json_text(body.to_string());
        let resp = self.send("Graph: creating the profile's group", req)?;
        if !(200..300).contains(&resp.status) {
            return Err(failure("Graph: creating the profile's group", &resp));
        }
        let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| PluginError::Internal("Graph: creating the profile's group: the answer has no id".into()))
    }

    /// Renames a group (`PATCH groups/{id}` with its `displayName`); false when the group is gone (404).
    pub fn rename_group(&mut self, group: &str, name: &str) -> Result<bool, PluginError> {
        let body = json!({"displayName": name});
        let req = self.graph_req(Method::Patch, &format!("groups/{}", enc(group))).json_text(body.to_string());
        let resp = self.send("Graph: renaming the profile's group", req)?;
        if resp.status == 404 {
            return Ok(false);
        }
        if !(200..300).contains(&resp.status) {
            return Err(failure("Graph: renaming the profile's group", &resp));
        }
        Ok(true)
    }

    /// A page of a group's members (their ids, lower case) and the next page's link; `None`: the group
    /// is gone (404).
    pub fn members(&mut self, group: &str, next: Option<&str>) -> Result<Option<MemberPage>, PluginError> {
        let path = match next {
            Some(n) => n.to_owned(),
            None => format!("groups/{}/members?$select=id&$top=999", enc(group)),
        };
        let req = self.graph_req(Method::Get, &path);
        let resp = self.send("Graph: reading the group's members", req)?;
        if resp.status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&resp.status) {
            return Err(failure("Graph: reading the group's members", &resp));
        }
        let p = page("Graph: reading the group's members", &resp)?;
        let ids = p
            .value
            .iter()
            .filter_map(|m| m.get("id").and_then(Value::as_str))
            .map(|s| s.to_ascii_lowercase())
            .collect();
        Ok(Some((ids, p.next)))
    }

    /// Adds up to [`MAX_BIND`] members in one `PATCH groups/{id}` with `members@odata.bind`. Graph adds
    /// all or none: `Ok(false)` when one of them is a member already (then add them one at a time).
    pub fn add_members(&mut self, group: &str, members: &[&String]) -> Result<bool, PluginError> {
        let refs: Vec<String> = members.iter().map(|m| format!("{}/v1.0/directoryObjects/{m}", self.graph)).collect();
        let body = json!({"members@odata.bind": refs});
        let req = self.graph_req(Method::Patch, &format!("groups/{}", enc(group))).json_text(body.to_string());
        let resp = self.send("Graph: adding members", req)?;
        if (200..300).contains(&resp.status) {
            return Ok(true);
        }
        if resp.status == 400 && String::from_utf8_lossy(&resp.body).contains("already exist") {
            return Ok(false);
        }
        Err(failure("Graph: adding members", &resp))
    }

    pub fn add_member(&mut self, group: &str, member: &str) -> Result<(), PluginError> {
        let body = json!({"@odata.id": format!("{}/v1.0/directoryObjects/{member}", self.graph)});
        let req =
            self.graph_req(Method::Post, &format!("groups/{}/members/$ref", enc(group))).json_text(body.to_string());
        let resp = self.send("Graph: adding a member", req)?;
        let duplicate = resp.status == 400 && String::from_utf8_lossy(&resp.body).contains("already exist");
        if (200..300).contains(&resp.status) || duplicate {
            return Ok(());
        }
        Err(failure("Graph: adding a member", &resp))
    }

    pub fn remove_member(&mut self, group: &str, member: &str) -> Result<(), PluginError> {
        let path = format!("groups/{}/members/{}/$ref", enc(group), enc(member));
        let resp = self.send("Graph: removing a member", self.graph_req(Method::Delete, &path))?;
        if (200..300).contains(&resp.status) || resp.status == 404 {
            return Ok(());
        }
        Err(failure("Graph: removing a member", &resp))
    }
}
