//! The Graph handlers: groups (list, create, get, update, delete) and their members (list, add and
//! remove by reference). Each validates its whole request before changing anything; membership changes
//! go through the tenant model, so Learn365's view of the group follows at once.

use std::ops::Bound;

use serde_json::{Map, Value};

use super::model::{
    GROUP_PROPERTIES, GroupMeta, MEMBER_PROPERTIES, group_json, member_json, parse_create, parse_member_ref,
    parse_patch, select,
};
use super::query::{Accepts, Query, cursor, next_link, skiptoken};
use super::{Graph, GraphError, GraphRoute, METADATA, is_guid};
use crate::api::{Request, Response};
use crate::model::{GroupUpdate, Principal, State, new_id, now};

const GROUP_LIST: Accepts = Accepts {
    options: &["$filter", "$select", "$top", "$skiptoken"],
    type_name: "microsoft.graph.group",
    properties: GROUP_PROPERTIES,
    filterable: &["id", "displayName", "mailNickname"],
};

const GROUP_ONE: Accepts = Accepts { options: &["$select"], ..GROUP_LIST };

const MEMBERS: Accepts = Accepts {
    options: &["$select", "$top", "$skiptoken"],
    type_name: "microsoft.graph.directoryObject",
    properties: MEMBER_PROPERTIES,
    filterable: &[],
};

/// Graph's answer to adding a member twice.
const ALREADY_MEMBER: &str =
    "One or more added object references already exist for the following modified properties: 'members'.";

/// A group by id: `404` for an unknown GUID, `400` for an id that is not one.
fn find<'a>(state: &'a State, id: &str) -> Result<&'a Principal, GraphError> {
    state
        .group_by_object_id(id)
        .ok_or_else(|| if is_guid(id) { GraphError::not_found(id) } else { GraphError::invalid_id(id) })
}

fn body(map: Map<String, Value>) -> Value {
    Value::Object(map)
}

/// A collection page: `@odata.context`, `@odata.nextLink` when more rows follow, `value`.
fn collection(context: String, next: Option<String>, value: Vec<Value>) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context));
    if let Some(link) = next {
        out.insert("@odata.nextLink".into(), Value::String(link));
    }
    out.insert("value".into(), Value::Array(value));
    Value::Object(out)
}

/// An entity with its `@odata.context` first, as Graph writes it.
fn entity(context: String, map: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context));
    out.extend(map);
    Value::Object(out)
}

impl Graph {
    /// Serves an authenticated Graph call.
    pub fn serve(&mut self, state: &mut State, route: GraphRoute, req: &Request<'_>) -> Response {
        let result = match route {
            GraphRoute::ListGroups => self.list_groups(state, req),
            GraphRoute::CreateGroup => self.create_group(state, req),
            GraphRoute::GetGroup(id) => self.get_group(state, &id, req),
            GraphRoute::UpdateGroup(id) => self.update_group(state, &id, req),
            GraphRoute::DeleteGroup(id) => self.delete_group(state, &id),
            GraphRoute::ListMembers(id) => self.list_members(state, &id, req),
            GraphRoute::AddMember(id) => add_member(state, &id, req),
            GraphRoute::RemoveMember(id, member) => remove_member(state, &id, &member),
        };
        result.unwrap_or_else(GraphError::into_response)
    }

    fn group_value(&self, group: &Principal, props: Option<&[String]>) -> Map<String, Value> {
        select(group_json(group, self.meta(group)), props)
    }

    /// `GET /v1.0/groups[?$filter&$select&$top&$skiptoken]`, in creation order.
    fn list_groups(&self, state: &State, req: &Request<'_>) -> Result<Response, GraphError> {
        let q = Query::parse(req.query, &GROUP_LIST)?;
        let top = q.top.unwrap_or(self.config.page_size);
        let start = match &q.skiptoken {
            Some(t) => cursor(t)?.parse::<usize>().map_err(|_| GraphError::bad_request("Invalid $skiptoken."))?,
            None => 0,
        };
        let matching: Vec<&Principal> = state
            .groups()
            .filter(|g| {
                q.filter.as_ref().is_none_or(|f| {
                    let value = match f.property() {
                        "id" => Some(g.object_id.as_str()),
                        "displayName" => Some(g.title.as_str()),
                        _ => self.meta(g).and_then(|m| m.mail_nickname.as_deref()),
                    };
                    f.matches(value)
                })
            })
            .collect();
        let value: Vec<Value> =
            matching.iter().skip(start).take(top).map(|g| body(self.group_value(g, q.select.as_deref()))).collect();
        let next = (start + top < matching.len())
            .then(|| next_link(req.base_url, req.path, req.query, &skiptoken(&(start + top).to_string())));
        Ok(Response::json(200, collection(q.context("groups"), next, value)))
    }

    /// `GET /v1.0/groups/{id}[?$select]`.
    fn get_group(&self, state: &State, id: &str, req: &Request<'_>) -> Result<Response, GraphError> {
        let q = Query::parse(req.query, &GROUP_ONE)?;
        let group = self.group_value(find(state, id)?, q.select.as_deref());
        Ok(Response::json(200, entity(format!("{}/$entity", q.context("groups")), group)))
    }

    /// `POST /v1.0/groups`: a new security group (GUID id), known to Learn365 at once.
    fn create_group(&mut self, state: &mut State, req: &Request<'_>) -> Result<Response, GraphError> {
        let new = parse_create(req.body)?;
        let oid = new_id();
        let at = now();
        let update = GroupUpdate { object_id: oid.clone(), display_name: Some(new.display_name), members: new.members };
        let (principal_id, _) = state.set_group(update, at)?;
        let meta = GroupMeta {
            principal_id,
            mail_nickname: Some(new.mail_nickname),
            description: new.description,
            created: at,
        };
        self.groups.insert(oid.clone(), meta);
        let group = self.group_value(find(state, &oid)?, None);
        Ok(Response::json(201, entity(format!("{METADATA}#groups/$entity"), group)))
    }

    /// `PATCH /v1.0/groups/{id}`: `displayName`, `mailNickname`, `description`, and up to 20
    /// `members@odata.bind`. Answers `204`.
    fn update_group(&mut self, state: &mut State, id: &str, req: &Request<'_>) -> Result<Response, GraphError> {
        let patch = parse_patch(req.body)?;
        let group = find(state, id)?;
        if patch.members.iter().any(|m| group.members.contains(m)) {
            return Err(GraphError::bad_request(ALREADY_MEMBER));
        }
        let oid = group.object_id.clone();
        let at = now();
        let mut meta = self.meta(group).cloned().unwrap_or_else(|| GroupMeta {
            principal_id: group.id.clone(),
            mail_nickname: None,
            description: None,
            created: group.created_at,
        });
        if let Some(name) = &patch.display_name {
            state.rename_group(&oid, name, at)?;
        }
        if let Some(nickname) = patch.mail_nickname {
            meta.mail_nickname = Some(nickname);
        }
        if let Some(description) = patch.description {
            meta.description = description;
        }
        self.groups.insert(oid.clone(), meta);
        for member in &patch.members {
            state.add_group_member(&oid, member, at)?;
        }
        Ok(Response::empty(204))
    }

    /// `DELETE /v1.0/groups/{id}`: the group is gone, for Learn365 too (as `DELETE /_sim/groups/{id}`).
    fn delete_group(&mut self, state: &mut State, id: &str) -> Result<Response, GraphError> {
        let oid = find(state, id)?.object_id.clone();
        state.delete_group(&oid, now())?;
        self.groups.remove(&oid);
        Ok(Response::empty(204))
    }

    /// `GET /v1.0/groups/{id}/members[?$select&$top&$skiptoken]`, ordered by id, paged with a cursor so
    /// that changes between pages neither skip nor repeat the other members.
    fn list_members(&self, state: &State, id: &str, req: &Request<'_>) -> Result<Response, GraphError> {
        let q = Query::parse(req.query, &MEMBERS)?;
        let group = find(state, id)?;
        let top = q.top.unwrap_or(self.config.page_size);
        let after = q.skiptoken.as_deref().map(cursor).transpose()?;
        let lower = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let ids: Vec<&String> = group.members.range::<str, _>((lower, Bound::Unbounded)).take(top + 1).collect();
        let value: Vec<Value> =
            ids.iter().take(top).map(|m| body(select(member_json(state, m), q.select.as_deref()))).collect();
        let next = (ids.len() > top).then(|| next_link(req.base_url, req.path, req.query, &skiptoken(ids[top - 1])));
        Ok(Response::json(200, collection(q.context("directoryObjects"), next, value)))
    }
}

/// `POST /v1.0/groups/{id}/members/$ref` with `{"@odata.id": "…/directoryObjects/{memberId}"}`: `204`;
/// a member already there is a `400` with Graph's text.
fn add_member(state: &mut State, id: &str, req: &Request<'_>) -> Result<Response, GraphError> {
    let member = parse_member_ref(req.body)?;
    let oid = find(state, id)?.object_id.clone();
    if state.add_group_member(&oid, &member, now())? {
        Ok(Response::empty(204))
    } else {
        Err(GraphError::bad_request(ALREADY_MEMBER))
    }
}

/// `DELETE /v1.0/groups/{id}/members/{memberId}/$ref`: `204`; not a member is a `404`.
fn remove_member(state: &mut State, id: &str, member: &str) -> Result<Response, GraphError> {
    let group = find(state, id)?;
    let oid = group.object_id.clone();
    let known = group.members.contains(&member.to_ascii_lowercase());
    if !known && !is_guid(member) {
        return Err(GraphError::invalid_id(member));
    }
    if known && state.remove_group_member(&oid, member, now())? {
        Ok(Response::empty(204))
    } else {
        Err(GraphError::not_found(id))
    }
}
