//! Listing and searching `/Users` and `/Groups` (RFC 7644 §3.4.2, §3.4.3): a page straight from the store
//! when nothing needs evaluating, index lookups for the filters Entra sends, else a chunked scan; sorting
//! and slicing over the matches, which are bounded ([`MAX_MATCHES`]).

use super::auth::Tenant;
use super::body::read_json;
use super::error::{ApiError, ApiResult};
use super::resources::{
    Related, ResourceKind, add_row_groups, indexed, load_related, related_attr, render, render_rows, schema_of,
};
use super::state::AppState;
use crate::scim::discovery::LIST_RESPONSE;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{self, Filter};
use crate::scim::query::{self, IndexAttr, ListQuery, SortOrder};
use crate::store::{Kind, Lookup, Row, fold};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use std::cmp::Ordering;

/// Resources matching a query: either one page straight from the store, or every match (to sort/slice).
enum Matched {
    Page { total: usize, rows: Vec<Row> },
    All(Vec<Row>),
}

const SCAN_CHUNK: i64 = 1000;

/// Finds the resources of `kind` matching `q.filter` (index lookups where possible, else a chunked scan).
async fn find(state: &AppState, t: &Tenant, kind: Kind, q: &ListQuery) -> ApiResult<Matched> {
    let schema = schema_of(t, kind);
    let Some(f) = &q.filter else {
        if q.sort_by.is_none() {
            let offset = (q.start_index - 1) as i64;
            let (total, rows) = state.store.page(t.pk, kind, offset, q.count as i64).await?;
            return Ok(Matched::Page { total: total as usize, rows });
        }
        return Ok(Matched::All(scan(state, t, kind, None).await?));
    };
    filter::validate(f, schema)?;
    let (member_ids, residual) =
        if kind == Kind::Group { query::split_member_terms(f, &schema.core.id) } else { (Vec::new(), Some(f.clone())) };
    let candidates = match query::index_hint(f, &schema.core.id, indexed(kind)) {
        Some(hint) => {
            // The lookup applies `attr eq value` with the attribute's own case rules; when that is all the
            // (residual) filter says, there is nothing left to evaluate.
            let covered = residual.as_ref().is_none_or(|r| query::is_hint_only(r, &hint));
            let key = match hint.attr {
                IndexAttr::Id => Lookup::Id(hint.value),
                IndexAttr::UserName => Lookup::UserName(fold(&hint.value)),
                IndexAttr::ExternalId => Lookup::ExternalId(hint.value),
                IndexAttr::DisplayName => Lookup::DisplayName(fold(&hint.value)),
            };
            metrics::counter!("scim_filter_total", "plan" => "index").increment(1);
            let found = state.store.lookup(t.pk, kind, &key).await?;
            if covered { found } else { evaluate(state, t, kind, found, residual.as_ref()).await? }
        }
        None => {
            metrics::counter!("scim_filter_total", "plan" => "scan").increment(1);
            scan(state, t, kind, residual.as_ref()).await?
        }
    };
    let mut out = Vec::with_capacity(candidates.len());
    for r in candidates {
        let mut all = true;
        for m in &member_ids {
            if !state.store.has_member(t.pk, r.pk, m).await? {
                all = false;
                break;
            }
        }
        if all {
            out.push(r);
        }
    }
    Ok(Matched::All(out))
}

/// Keeps the rows that satisfy `f` (evaluated on the rendered resource).
async fn evaluate(state: &AppState, t: &Tenant, kind: Kind, rows: Vec<Row>, f: Option<&Filter>) -> ApiResult<Vec<Row>> {
    let Some(f) = f else { return Ok(rows) };
    let schema = schema_of(t, kind);
    let related = if query::mentions(f, related_attr(kind)) {
        let pks: Vec<i64> = rows.iter().map(|r| r.pk).collect();
        let mut related = load_related(state, kind, if kind == Kind::Group { &pks } else { &[] }).await?;
        if kind == Kind::User {
            add_row_groups(&mut related, &rows)?;
        }
        related
    } else {
        Related::new()
    };
    let mut out = Vec::new();
    for r in rows {
        let full = render(t, kind, &r.parse()?, related.get(&r.pk));
        if filter::matches(f, &full, schema)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Most matches a filtered or sorted list holds in memory (the page is cut from them): past it, 400
/// `tooMany` (RFC 7644 §3.12) instead of a request that holds the whole tenant.
const MAX_MATCHES: usize = 50_000;

/// Walks every resource of the tenant in chunks, keeping the matches (at most [`MAX_MATCHES`]).
async fn scan(state: &AppState, t: &Tenant, kind: Kind, f: Option<&Filter>) -> ApiResult<Vec<Row>> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    loop {
        let (total, chunk) = state.store.page(t.pk, kind, offset, SCAN_CHUNK).await?;
        let n = chunk.len() as i64;
        out.extend(evaluate(state, t, kind, chunk, f).await?);
        if out.len() > MAX_MATCHES {
            return Err(ScimError::bad(
                ScimType::TooMany,
                format!("more than {MAX_MATCHES} {}s match; narrow the filter, or page without sortBy", kind.as_str()),
            )
            .into());
        }
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

fn sort(t: &Tenant, kind: Kind, rows: Vec<Row>, q: &ListQuery) -> ApiResult<Vec<Row>> {
    let Some(by) = &q.sort_by else { return Ok(rows) };
    let schema = schema_of(t, kind);
    let case_exact = schema.resolve(&by.to_string()).map(|r| r.sub.unwrap_or(r.attr).case_exact).unwrap_or(false);
    let mut keyed = Vec::with_capacity(rows.len());
    for r in rows {
        let full = render(t, kind, &r.parse()?, None);
        let key = filter::values_at(&full, by, schema).first().map(|v| (*v).clone());
        keyed.push((key, r));
    }
    keyed.sort_by(|(a, _), (b, _)| {
        let o = compare_values(a.as_ref(), b.as_ref(), case_exact);
        match (q.sort_order, a.is_some() && b.is_some()) {
            (SortOrder::Descending, true) => o.reverse(),
            _ => o,
        }
    });
    Ok(keyed.into_iter().map(|(_, r)| r).collect())
}

/// A ListResponse around already rendered resources.
fn list_body(total: usize, start_index: usize, resources: &[String]) -> String {
    let mut out = String::with_capacity(resources.iter().map(String::len).sum::<usize>() + 200);
    out.push_str("{\"schemas\":[\"");
    out.push_str(LIST_RESPONSE);
    out.push_str(&format!(
        "\"],\"totalResults\":{total},\"itemsPerPage\":{},\"startIndex\":{start_index},\"Resources\":[",
        resources.len()
    ));
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out.push_str("]}");
    out
}

fn list_response(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type(super::SCIM_JSON).body(body)
}

async fn run_list(state: &AppState, t: &Tenant, kind: Kind, q: &ListQuery) -> ApiResult<HttpResponse> {
    let (total, page) = match find(state, t, kind, q).await? {
        Matched::Page { total, rows } => (total, rows),
        Matched::All(all) => {
            let all = sort(t, kind, all, q)?;
            let total = all.len();
            let page: Vec<Row> = all.into_iter().skip(q.start_index - 1).take(q.count).collect();
            (total, page)
        }
    };
    let resources = render_rows(state, t, kind, &page, q).await?;
    Ok(list_response(list_body(total, q.start_index, &resources)))
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
    if q.filter.is_none() {
        return search_root_page(&state, &t, &q).await;
    }
    let mut all: Vec<(Kind, Row)> = Vec::new();
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
        let rows = match found {
            Matched::Page { rows, .. } | Matched::All(rows) => rows,
        };
        all.extend(rows.into_iter().map(|r| (kind, r)));
    }
    if !any_ok && let Some(e) = first_err {
        return Err(e);
    }
    let total = all.len();
    let page: Vec<(Kind, Row)> = all.into_iter().skip(q.start_index - 1).take(q.count).collect();
    let mut resources = Vec::with_capacity(page.len());
    for kind in [Kind::User, Kind::Group] {
        let rows: Vec<Row> = page.iter().filter(|(k, _)| *k == kind).map(|(_, r)| r.clone()).collect();
        resources.extend(render_rows(&state, &t, kind, &rows, &q).await?);
    }
    Ok(list_response(list_body(total, q.start_index, &resources)))
}

/// `POST /.search` without a filter: users then groups, one page read from each table as needed
/// (never the whole tenant in memory).
async fn search_root_page(state: &AppState, t: &Tenant, q: &ListQuery) -> ApiResult<HttpResponse> {
    let offset = (q.start_index - 1) as i64;
    let (users, urows) = state.store.page(t.pk, Kind::User, offset, q.count as i64).await?;
    let left = q.count.saturating_sub(urows.len()) as i64;
    let (groups, grows) = state.store.page(t.pk, Kind::Group, (offset - users).max(0), left).await?;
    let mut resources = render_rows(state, t, Kind::User, &urows, q).await?;
    resources.extend(render_rows(state, t, Kind::Group, &grows, q).await?);
    Ok(list_response(list_body((users + groups) as usize, q.start_index, &resources)))
}
