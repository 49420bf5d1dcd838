//! `/Users` and `/Groups`: create, read, list/search, replace, patch, delete.

use super::AppState;
use super::auth::Tenant;
use super::body::{read_json, scim_json};
use super::error::{ApiError, ApiResult};
use crate::scim::discovery::LIST_RESPONSE;
use crate::scim::error::ScimError;
use crate::scim::filter::{self, Filter};
use crate::scim::patch::{self, MemberChange};
use crate::scim::query::{self, IndexAttr, ListQuery, SortOrder};
use crate::scim::resource::{self, WriteMode};
use crate::scim::schema::ResourceSchema;
use crate::store::{Kind, Lookup, Stored, Update, fold};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
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

fn schema_of(t: &Tenant, kind: Kind) -> &ResourceSchema {
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

fn indexed(kind: Kind) -> &'static [IndexAttr] {
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

/// Related rows rendered into a resource: a user's `groups` or a group's `members`.
type Related = HashMap<i64, Vec<Value>>;

async fn load_related(state: &AppState, t: &Tenant, kind: Kind, pks: &[i64]) -> ApiResult<Related> {
    let mut out: Related = HashMap::new();
    match kind {
        Kind::User => {
            for (pk, g) in state.store.groups_of(pks).await? {
                out.entry(pk).or_default().push(json!({
                    "value": g.value,
                    "$ref": format!("{}/Groups/{}", t.base, g.value),
                    "display": g.display,
                    "type": "direct",
                }));
            }
        }
        Kind::Group => {
            for (pk, m) in state.store.members_of(pks).await? {
                // `display` is left out on purpose: clients compare what they sent with what they read
                // back, and Entra never sends it.
                out.entry(pk).or_default().push(json!({
                    "value": m.value,
                    "$ref": format!("{}/{}/{}", t.base, endpoint(m.kind), m.value),
                    "type": m.kind.as_str(),
                }));
            }
        }
    }
    Ok(out)
}

/// The full resource as served: schemas, id, stored attributes, groups/members, meta.
fn render(t: &Tenant, kind: Kind, s: &Stored, related: Option<&Vec<Value>>) -> Value {
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
        out.insert(if kind == Kind::User { "groups" } else { "members" }.into(), Value::Array(list.clone()));
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.as_str(),
            "created": s.created,
            "lastModified": s.last_modified,
            "location": format!("{}/{}/{}", t.base, endpoint(kind), s.id),
            "version": etag(s.version),
        }),
    );
    Value::Object(out)
}

fn related_attr(kind: Kind) -> &'static str {
    if kind == Kind::User { "groups" } else { "members" }
}

/// Renders resources with their related rows (unless the client left them out) and projects them.
async fn render_all(
    state: &AppState,
    t: &Tenant,
    kind: Kind,
    items: &[Stored],
    q: &ListQuery,
) -> ApiResult<Vec<Value>> {
    let related = if q.omits(related_attr(kind)) {
        Related::new()
    } else {
        let pks: Vec<i64> = items.iter().map(|s| s.pk).collect();
        load_related(state, t, kind, &pks).await?
    };
    let schema = schema_of(t, kind);
    Ok(items
        .iter()
        .map(|s| {
            let full = render(t, kind, s, related.get(&s.pk));
            resource::project(&full, schema, &q.attributes, &q.excluded_attributes)
        })
        .collect())
}

fn single_response(status: u16, t: &Tenant, kind: Kind, s: &Stored, body: Value) -> HttpResponse {
    let mut resp = scim_json(status, &body);
    if let Ok(v) = header::HeaderValue::from_str(&etag(s.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if status == 201 {
        if let Ok(v) = header::HeaderValue::from_str(&format!("{}/{}/{}", t.base, endpoint(kind), s.id)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
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

async fn respond_one(
    state: &AppState,
    t: &Tenant,
    kind: Kind,
    req: &HttpRequest,
    s: &Stored,
    status: u16,
) -> ApiResult<HttpResponse> {
    let q = projection(req)?;
    let body = render_all(state, t, kind, std::slice::from_ref(s), &q).await?.pop().unwrap_or(Value::Null);
    Ok(single_response(status, t, kind, s, body))
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
    if kind == Kind::User {
        // A new user belongs to no group yet: no need to ask the store.
        let q = projection(&req)?;
        let body = resource::project(
            &render(&t, kind, &stored, None),
            schema_of(&t, kind),
            &q.attributes,
            &q.excluded_attributes,
        );
        return Ok(single_response(201, &t, kind, &stored, body));
    }
    respond_one(&state, &t, kind, &req, &stored, 201).await
}

pub async fn get<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let kind = R::KIND;
    let (_, id) = path.into_inner();
    let stored = state
        .store
        .get(t.pk, kind, &id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("{} {id} not found", kind.as_str())))?;
    if let Some(inm) = req.headers().get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok()) {
        if inm.split(',').any(|e| e.trim() == etag(stored.version) || e.trim() == "*") {
            let mut resp = HttpResponse::NotModified().finish();
            if let Ok(v) = header::HeaderValue::from_str(&etag(stored.version)) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            return Ok(resp);
        }
    }
    respond_one(&state, &t, kind, &req, &stored, 200).await
}

pub async fn replace<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let kind = R::KIND;
    let (_, id) = path.into_inner();
    let version = if_match(&req)?;
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let schema = schema_of(&t, kind).clone();
    let policy = t.policy;
    let stored = state
        .store
        .update(
            t.pk,
            kind,
            &id,
            version,
            Box::new(move |old: &Stored| {
                let normalized = resource::normalize_with_members(body, &schema, WriteMode::Replace, Some(&old.doc))?;
                let doc = normalized.doc;
                let mut members = Vec::new();
                if kind == Kind::Group {
                    // PUT replaces the whole resource: no `members` means no members (RFC 7644 §3.5.1).
                    members.push(MemberChange::Replace(normalized.members.unwrap_or_default()));
                }
                Ok(Update { doc, members, policy })
            }),
        )
        .await?;
    metrics::counter!("scim_writes_total", "kind" => kind.as_str(), "op" => "replace").increment(1);
    respond_one(&state, &t, kind, &req, &stored, 200).await
}

pub async fn patch<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let kind = R::KIND;
    let (_, id) = path.into_inner();
    let version = if_match(&req)?;
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let ops = patch::parse_patch(&body)?;
    let schema = schema_of(&t, kind).clone();
    let policy = t.policy;
    let stored = state
        .store
        .update(
            t.pk,
            kind,
            &id,
            version,
            Box::new(move |old: &Stored| {
                let mut doc = old.doc.clone();
                let outcome = patch::apply_patch(&mut doc, &ops, &schema)?;
                Ok(Update { doc, members: outcome.member_changes, policy })
            }),
        )
        .await?;
    metrics::counter!("scim_writes_total", "kind" => kind.as_str(), "op" => "patch").increment(1);
    respond_one(&state, &t, kind, &req, &stored, 200).await
}

pub async fn delete<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let kind = R::KIND;
    let (_, id) = path.into_inner();
    let version = if_match(&req)?;
    state.store.delete(t.pk, kind, &id, version).await?;
    metrics::counter!("scim_writes_total", "kind" => kind.as_str(), "op" => "delete").increment(1);
    Ok(HttpResponse::NoContent().finish())
}

/// Resources matching a query: either one page straight from the store, or every match (to sort/slice).
enum Matched {
    Page { total: usize, items: Vec<Stored> },
    All(Vec<Stored>),
}

const SCAN_CHUNK: i64 = 1000;

/// Finds the resources of `kind` matching `q.filter` (index lookups where possible, else a chunked scan).
async fn find(state: &AppState, t: &Tenant, kind: Kind, q: &ListQuery) -> ApiResult<Matched> {
    let schema = schema_of(t, kind);
    let Some(f) = &q.filter else {
        if q.sort_by.is_none() {
            let offset = (q.start_index - 1) as i64;
            let (total, items) = state.store.page(t.pk, kind, offset, q.count as i64).await?;
            return Ok(Matched::Page { total: total as usize, items });
        }
        return Ok(Matched::All(scan(state, t, kind, None).await?));
    };
    filter::validate(f, schema)?;
    let (member_ids, residual) =
        if kind == Kind::Group { query::split_member_terms(f, &schema.core.id) } else { (Vec::new(), Some(f.clone())) };
    let candidates = match query::index_hint(f, &schema.core.id, indexed(kind)) {
        Some(hint) => {
            let key = match hint.attr {
                IndexAttr::Id => Lookup::Id(hint.value),
                IndexAttr::UserName => Lookup::UserName(fold(&hint.value)),
                IndexAttr::ExternalId => Lookup::ExternalId(hint.value),
                IndexAttr::DisplayName => Lookup::DisplayName(fold(&hint.value)),
            };
            metrics::counter!("scim_filter_total", "plan" => "index").increment(1);
            let found = state.store.lookup(t.pk, kind, &key).await?;
            evaluate(state, t, kind, found, residual.as_ref()).await?
        }
        None => {
            metrics::counter!("scim_filter_total", "plan" => "scan").increment(1);
            scan(state, t, kind, residual.as_ref()).await?
        }
    };
    let mut out = Vec::with_capacity(candidates.len());
    for s in candidates {
        let mut all = true;
        for m in &member_ids {
            if !state.store.has_member(s.pk, m).await? {
                all = false;
                break;
            }
        }
        if all {
            out.push(s);
        }
    }
    Ok(Matched::All(out))
}

/// Keeps the candidates that satisfy `f` (evaluated on the rendered resource).
async fn evaluate(
    state: &AppState,
    t: &Tenant,
    kind: Kind,
    items: Vec<Stored>,
    f: Option<&Filter>,
) -> ApiResult<Vec<Stored>> {
    let Some(f) = f else { return Ok(items) };
    let schema = schema_of(t, kind);
    let related = if query::mentions(f, related_attr(kind)) {
        let pks: Vec<i64> = items.iter().map(|s| s.pk).collect();
        load_related(state, t, kind, &pks).await?
    } else {
        Related::new()
    };
    let mut out = Vec::new();
    for s in items {
        let full = render(t, kind, &s, related.get(&s.pk));
        if filter::matches(f, &full, schema)? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Walks every resource of the tenant in chunks, keeping the matches (memory bounded by the matches).
async fn scan(state: &AppState, t: &Tenant, kind: Kind, f: Option<&Filter>) -> ApiResult<Vec<Stored>> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    loop {
        let (total, chunk) = state.store.page(t.pk, kind, offset, SCAN_CHUNK).await?;
        let n = chunk.len() as i64;
        out.extend(evaluate(state, t, kind, chunk, f).await?);
        offset += n;
        if n == 0 || offset >= total {
            return Ok(out);
        }
    }
}

fn compare_values(a: Option<&Value>, b: Option<&Value>, case_exact: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        // Resources without the attribute sort last (RFC 7644 §3.4.2.3).
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().unwrap_or(0.0).partial_cmp(&y.as_f64().unwrap_or(0.0)).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => {
            if case_exact {
                x.cmp(y)
            } else {
                x.to_lowercase().cmp(&y.to_lowercase())
            }
        }
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

fn sort(t: &Tenant, kind: Kind, items: &mut [Stored], q: &ListQuery) {
    let Some(by) = &q.sort_by else { return };
    let schema = schema_of(t, kind);
    let case_exact = schema.resolve(&by.to_string()).map(|r| r.sub.unwrap_or(r.attr).case_exact).unwrap_or(false);
    let mut keyed: Vec<(Option<Value>, Stored)> = items
        .iter()
        .map(|s| {
            let full = render(t, kind, s, None);
            (filter::values_at(&full, by, schema).first().map(|v| (*v).clone()), s.clone())
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| {
        let o = compare_values(a.as_ref(), b.as_ref(), case_exact);
        match (q.sort_order, a.is_some() && b.is_some()) {
            (SortOrder::Descending, true) => o.reverse(),
            _ => o,
        }
    });
    for (slot, (_, s)) in items.iter_mut().zip(keyed) {
        *slot = s;
    }
}

fn list_body(total: usize, start_index: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

async fn run_list(state: &AppState, t: &Tenant, kind: Kind, q: &ListQuery) -> ApiResult<HttpResponse> {
    let (total, page) = match find(state, t, kind, q).await? {
        Matched::Page { total, items } => (total, items),
        Matched::All(mut all) => {
            sort(t, kind, &mut all, q);
            let total = all.len();
            let page: Vec<Stored> = all.into_iter().skip(q.start_index - 1).take(q.count).collect();
            (total, page)
        }
    };
    let resources = render_all(state, t, kind, &page, q).await?;
    Ok(scim_json(200, &list_body(total, q.start_index, resources)))
}

pub async fn list<R: ResourceKind>(t: Tenant, state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|_| ScimError::invalid_value("the query string is malformed"))?;
    let q = ListQuery::from_params(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    run_list(&state, &t, R::KIND, &q).await
}

pub async fn search<R: ResourceKind>(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let q = ListQuery::from_search_body(&body)?;
    run_list(&state, &t, R::KIND, &q).await
}

/// `POST /.search` at the root: users and groups together (RFC 7644 §3.4.3). A filter that names an
/// attribute only one resource type has is applied to that type alone.
pub async fn search_root(
    t: Tenant,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_json(&req, payload, state.settings.max_body_bytes).await?;
    let q = ListQuery::from_search_body(&body)?;
    let mut all: Vec<(Kind, Stored)> = Vec::new();
    let mut first_err: Option<ApiError> = None;
    let mut any_ok = false;
    for kind in [Kind::User, Kind::Group] {
        let mut kq = q.clone();
        kq.sort_by = None;
        kq.start_index = 1;
        kq.count = usize::MAX;
        let found = match &q.filter {
            Some(f) => match filter::validate(f, schema_of(&t, kind)) {
                Ok(()) => find(&state, &t, kind, &kq).await?,
                Err(e) => {
                    first_err.get_or_insert(e.into());
                    continue;
                }
            },
            None => Matched::All(scan(&state, &t, kind, None).await?),
        };
        any_ok = true;
        let items = match found {
            Matched::Page { items, .. } | Matched::All(items) => items,
        };
        all.extend(items.into_iter().map(|s| (kind, s)));
    }
    if !any_ok {
        if let Some(e) = first_err {
            return Err(e);
        }
    }
    let total = all.len();
    let page: Vec<(Kind, Stored)> = all.into_iter().skip(q.start_index - 1).take(q.count).collect();
    let mut resources = Vec::with_capacity(page.len());
    for kind in [Kind::User, Kind::Group] {
        let items: Vec<Stored> = page.iter().filter(|(k, _)| *k == kind).map(|(_, s)| s.clone()).collect();
        resources.extend(render_all(&state, &t, kind, &items, &q).await?);
    }
    Ok(scim_json(200, &list_body(total, q.start_index, resources)))
}
