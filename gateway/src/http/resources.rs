//! `/Users` and `/Groups`: create, read, replace, patch, delete, and the rendering of resources that
//! `list.rs` (list and search) shares.

use super::auth::Tenant;
use super::body::read_json;
use super::error::ApiResult;
use super::state::AppState;
use crate::scim::error::ScimError;
use crate::scim::patch::{self, MemberChange};
use crate::scim::query::{self, IndexAttr, ListQuery};
use crate::scim::resource::{self, WriteMode};
use crate::scim::schema::ResourceSchema;
use crate::store::{Evaluate, GroupView, Kind, MemberView, Row, Stored, Update};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The resource type a handler serves, chosen at compile time by the route.
pub trait ResourceKind: 'static {
    const KIND: Kind;
}
pub struct Users;
pub struct Groups;
impl ResourceKind for Users {
    const KIND: Kind = Kind::User;
}
impl ResourceKind for Groups {
    const KIND: Kind = Kind::Group;
}

pub(super) fn schema_of(t: &Tenant, kind: Kind) -> &ResourceSchema {
    match kind {
        Kind::User => &t.schemas.user,
        Kind::Group => &t.schemas.group,
    }
}

fn endpoint(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "Users",
        Kind::Group => "Groups",
    }
}

pub(super) fn indexed(kind: Kind) -> &'static [IndexAttr] {
    match kind {
        Kind::User => &[IndexAttr::Id, IndexAttr::UserName, IndexAttr::ExternalId],
        Kind::Group => &[IndexAttr::Id, IndexAttr::ExternalId, IndexAttr::DisplayName],
    }
}

fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Parses `If-Match` into a version; `*` means "any" (None).
fn if_match(req: &HttpRequest) -> ApiResult<Option<i64>> {
    let Some(h) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = h.to_str().unwrap_or("").trim();
    if s == "*" {
        return Ok(None);
    }
    let v = s.trim_start_matches("W/").trim_matches('"');
    match v.parse::<i64>() {
        Ok(v) => Ok(Some(v)),
        // An ETag we never issued cannot match.
        Err(_) => Err(ScimError::precondition_failed("If-Match does not name a version of this resource").into()),
    }
}

/// A user's group or a group's member, as served in `groups` / `members`.
pub(super) struct Ref {
    value: String,
    /// The resource type the reference points to (for `$ref`).
    target: Kind,
    display: Option<String>,
    /// The `type` sub-attribute: "direct" for groups, "User"/"Group" for members.
    kind: &'static str,
}

impl Ref {
    fn group(g: GroupView) -> Ref {
        Ref { value: g.value, target: Kind::Group, display: Some(g.display), kind: "direct" }
    }
    fn member(m: MemberView) -> Ref {
        // `display` is left out on purpose: clients compare what they sent with what they read back,
        // and Entra never sends it.
        Ref { kind: m.kind.as_str(), target: m.kind, value: m.value, display: None }
    }
    fn to_value(&self, t: &Tenant) -> Value {
        let mut v = Map::new();
        v.insert("value".into(), Value::String(self.value.clone()));
        v.insert("$ref".into(), Value::String(format!("{}/{}/{}", t.base, endpoint(self.target), self.value)));
        if let Some(d) = &self.display {
            v.insert("display".into(), Value::String(d.clone()));
        }
        v.insert("type".into(), Value::String(self.kind.into()));
        Value::Object(v)
    }
}

/// Related rows rendered into a resource: a user's `groups` or a group's `members`, by pk.
pub(super) type Related = HashMap<i64, Vec<Ref>>;

/// `groups` for users whose row did not carry them, `members` for groups (one query for all rows).
pub(super) async fn load_related(state: &AppState, kind: Kind, pks: &[i64]) -> ApiResult<Related> {
    let mut out: Related = HashMap::new();
    if pks.is_empty() {
        return Ok(out);
    }
    match kind {
        Kind::User => {
            for (pk, g) in state.store.groups_of(pks).await? {
                out.entry(pk).or_default().push(Ref::group(g));
            }
        }
        Kind::Group => {
            for (pk, m) in state.store.members_of(pks).await? {
                out.entry(pk).or_default().push(Ref::member(m));
            }
        }
    }
    Ok(out)
}

/// Adds the groups that rows read with their users carry.
pub(super) fn add_row_groups(related: &mut Related, rows: &[Row]) -> ApiResult<()> {
    for r in rows.iter().filter(|r| r.groups.is_some()) {
        related.insert(r.pk, r.group_views()?.into_iter().map(Ref::group).collect());
    }
    Ok(())
}

fn meta(t: &Tenant, kind: Kind, id: &str, created: &str, last_modified: &str, version: i64) -> Value {
    json!({
        "resourceType": kind.as_str(),
        "created": created,
        "lastModified": last_modified,
        "location": format!("{}/{}/{}", t.base, endpoint(kind), id),
        "version": etag(version),
    })
}

/// The full resource as served: schemas, id, stored attributes, groups/members, meta.
pub(super) fn render(t: &Tenant, kind: Kind, s: &Stored, related: Option<&Vec<Ref>>) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), s.doc.get("schemas").cloned().unwrap_or_else(|| json!([schema_of(t, kind).core.id])));
    out.insert("id".into(), Value::String(s.id.clone()));
    if let Some(doc) = s.doc.as_object() {
        for (k, v) in doc {
            if k != "schemas" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(list) = related.filter(|l| !l.is_empty()) {
        out.insert(related_attr(kind).into(), Value::Array(list.iter().map(|r| r.to_value(t)).collect()));
    }
    out.insert("meta".into(), meta(t, kind, &s.id, &s.created, &s.last_modified, s.version));
    Value::Object(out)
}

/// Appends `s` as a JSON string.
fn push_str_json(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&Value::String(s.to_owned()).to_string());
    }
}

/// The same resource as [`render`], written straight from the stored JSON text: no parse, no rebuild.
/// Only for requests without projection and documents without attributes that are never returned.
fn splice(t: &Tenant, kind: Kind, row: &Row, related: Option<&Vec<Ref>>) -> String {
    let text = row.text.trim();
    let body = text.get(1..text.len().saturating_sub(1)).unwrap_or("").trim();
    let mut out = String::with_capacity(text.len() + 300 + related.map_or(0, |l| l.len() * 160));
    out.push_str("{\"id\":");
    push_str_json(&mut out, &row.id);
    if !body.is_empty() {
        out.push(',');
        out.push_str(body);
    }
    if let Some(list) = related.filter(|l| !l.is_empty()) {
        out.push_str(",\"");
        out.push_str(related_attr(kind));
        out.push_str("\":[");
        for (i, r) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"value\":");
            push_str_json(&mut out, &r.value);
            out.push_str(",\"$ref\":");
            push_str_json(&mut out, &format!("{}/{}/{}", t.base, endpoint(r.target), r.value));
            if let Some(d) = &r.display {
                out.push_str(",\"display\":");
                push_str_json(&mut out, d);
            }
            out.push_str(",\"type\":");
            push_str_json(&mut out, r.kind);
            out.push('}');
        }
        out.push(']');
    }
    out.push_str(",\"meta\":{\"resourceType\":\"");
    out.push_str(kind.as_str());
    out.push_str("\",\"created\":");
    push_str_json(&mut out, &row.created);
    out.push_str(",\"lastModified\":");
    push_str_json(&mut out, &row.last_modified);
    out.push_str(",\"location\":");
    push_str_json(&mut out, &format!("{}/{}/{}", t.base, endpoint(kind), row.id));
    out.push_str(&format!(",\"version\":\"W/\\\"{}\\\"\"}}}}", row.version));
    out
}

pub(super) fn related_attr(kind: Kind) -> &'static str {
    if kind == Kind::User { "groups" } else { "members" }
}

/// Renders rows as JSON texts: with their related rows (unless the client left them out), projected.
pub(super) async fn render_rows(
    state: &AppState,
    t: &Tenant,
    kind: Kind,
    rows: &[Row],
    q: &ListQuery,
) -> ApiResult<Vec<String>> {
    let want_related = !q.omits(related_attr(kind));
    let mut related = Related::new();
    if want_related {
        let missing: Vec<i64> =
            rows.iter().filter(|r| kind == Kind::Group || r.groups.is_none()).map(|r| r.pk).collect();
        related = load_related(state, kind, &missing).await?;
        if kind == Kind::User {
            add_row_groups(&mut related, rows)?;
        }
    }
    let schema = schema_of(t, kind);
    let plain = q.attributes.is_empty() && q.excluded_attributes.is_empty();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if plain && !t.schemas.may_hide(kind, &r.text) {
            out.push(splice(t, kind, r, related.get(&r.pk)));
        } else {
            let full = render(t, kind, &r.parse()?, related.get(&r.pk));
            out.push(resource::project(&full, schema, &q.attributes, &q.excluded_attributes).to_string());
        }
    }
    Ok(out)
}

fn single_response(status: u16, t: &Tenant, kind: Kind, id: &str, version: i64, body: String) -> HttpResponse {
    let mut resp = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .content_type(super::SCIM_JSON)
        .body(body);
    if let Ok(v) = header::HeaderValue::from_str(&etag(version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if status == 201
        && let Ok(v) = header::HeaderValue::from_str(&format!("{}/{}/{}", t.base, endpoint(kind), id))
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The `attributes`/`excludedAttributes` of a single-resource request.
fn projection(req: &HttpRequest) -> ApiResult<ListQuery> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|_| ScimError::invalid_value("the query string is malformed"))?;
    let mut q = ListQuery::default();
    for (k, v) in pairs.iter() {
        if k.eq_ignore_ascii_case("attributes") {
            q.attributes = query::parse_attr_list(v)?;
        } else if k.eq_ignore_ascii_case("excludedAttributes") {
            q.excluded_attributes = query::parse_attr_list(v)?;
        }
    }
    Ok(q)
}

/// Answers a write with the resource as stored (a new user has no groups: nothing to look up).
async fn respond_written(
    state: &AppState,
    t: &Tenant,
    kind: Kind,
    req: &HttpRequest,
    s: Stored,
    status: u16,
) -> ApiResult<HttpResponse> {
    let q = projection(req)?;
    let groups = if kind == Kind::User && status == 201 { Some("[]".to_owned()) } else { s.groups };
    let row = Row {
        pk: s.pk,
        id: s.id,
        version: s.version,
        created: s.created,
        last_modified: s.last_modified,
        text: s.doc.to_string(),
        groups,
    };
    let body = render_rows(state, t, kind, std::slice::from_ref(&row), &q).await?.pop().unwrap_or_default();
    Ok(single_response(status, t, kind, &row.id, row.version, body))
}

/// The `{id}` of a resource path; one no resource can have (U+0000, which PostgreSQL text cannot even
/// hold) is a plain 404.
fn resource_id(kind: Kind, id: String) -> ApiResult<String> {
    if id.contains('\0') {
        return Err(ScimError::not_found(format!("{} not found", kind.as_str())).into());
    }
    Ok(id)
}

pub async fn create<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let kind = R::KIND;
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let normalized = resource::normalize_with_members(body, schema_of(&t, kind), WriteMode::Create, None)?;
    let doc = normalized.doc;
    let members: Vec<MemberChange> = normalized.members.map(MemberChange::Add).into_iter().collect();
    let stored = state.store.create(t.pk, kind, doc, members, t.policy).await?;
    metrics::counter!("scim_writes_total", "kind" => kind.as_str(), "op" => "create").increment(1);
    respond_written(&state, &t, kind, &req, stored, 201).await
}

pub async fn get<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let kind = R::KIND;
    let id = resource_id(kind, path.into_inner().1)?;
    let row = state
        .store
        .get(t.pk, kind, &id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("{} {id} not found", kind.as_str())))?;
    if let Some(inm) = req.headers().get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok())
        && inm.split(',').any(|e| e.trim() == etag(row.version) || e.trim() == "*")
    {
        let mut resp = HttpResponse::NotModified().finish();
        if let Ok(v) = header::HeaderValue::from_str(&etag(row.version)) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        return Ok(resp);
    }
    let q = projection(&req)?;
    let body = render_rows(&state, &t, kind, std::slice::from_ref(&row), &q).await?.pop().unwrap_or_default();
    Ok(single_response(200, &t, kind, &row.id, row.version, body))
}

/// PUT and PATCH: read-modify-write in the store (the closure computes the new state from the current
/// one), then the resource as written.
#[expect(clippy::too_many_arguments, reason = "the request's parts, passed through once")]
async fn update_and_respond(
    t: &Tenant,
    state: &AppState,
    req: &HttpRequest,
    kind: Kind,
    id: &str,
    version: Option<i64>,
    op: &'static str,
    f: crate::store::UpdateFn,
    evaluate: Evaluate,
) -> ApiResult<HttpResponse> {
    let stored = state.store.update(t.pk, kind, id, version, f, evaluate).await?;
    metrics::counter!("scim_writes_total", "kind" => kind.as_str(), "op" => op).increment(1);
    respond_written(state, t, kind, req, stored, 200).await
}

pub async fn replace<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let kind = R::KIND;
    let id = resource_id(kind, path.into_inner().1)?;
    let version = if_match(&req)?;
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let schema = schema_of(&t, kind).clone();
    let policy = t.policy;
    let f = Box::new(move |old: &Stored| {
        let normalized = resource::normalize_with_members(body.clone(), &schema, WriteMode::Replace, Some(&old.doc))?;
        let mut members = Vec::new();
        if kind == Kind::Group {
            // PUT replaces the whole resource: no `members` means no members (RFC 7644 §3.5.1).
            members.push(MemberChange::Replace(normalized.members.unwrap_or_default()));
        }
        Ok(Update { doc: normalized.doc, members, policy })
    });
    update_and_respond(&t, &state, &req, kind, &id, version, "replace", f, Evaluate::Outside).await
}

pub async fn patch<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let kind = R::KIND;
    let id = resource_id(kind, path.into_inner().1)?;
    let version = if_match(&req)?;
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let ops = patch::parse_patch(&body)?;
    // A PATCH of a group's members costs what the request holds (members are not in the document): it
    // runs in the writer's batched path. Anything else is computed outside the writer first.
    let members_only = kind == Kind::Group
        && ops.iter().all(|op| {
            op.path.as_ref().is_some_and(|p| p.attr().urn.is_none() && p.attr().name.eq_ignore_ascii_case("members"))
        });
    let evaluate = if members_only { Evaluate::Inside } else { Evaluate::Outside };
    let schema = schema_of(&t, kind).clone();
    let policy = t.policy;
    let f = Box::new(move |old: &Stored| {
        let mut doc = old.doc.clone();
        let outcome = patch::apply_patch(&mut doc, &ops, &schema)?;
        Ok(Update { doc, members: outcome.member_changes, policy })
    });
    update_and_respond(&t, &state, &req, kind, &id, version, "patch", f, evaluate).await
}

pub async fn delete<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let kind = R::KIND;
    let id = resource_id(kind, path.into_inner().1)?;
    let version = if_match(&req)?;
    state.store.delete(t.pk, kind, &id, version).await?;
    metrics::counter!("scim_writes_total", "kind" => kind.as_str(), "op" => "delete").increment(1);
    Ok(HttpResponse::NoContent().finish())
}
