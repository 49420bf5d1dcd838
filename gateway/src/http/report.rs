//! The reporting join over the admin API: `GET /admin/v1/tenants/{t}/report` (the HTML report; a
//! browser may authenticate with Basic, the admin token as password), `GET …/report/{table}.csv|json`
//! (learners, modules, certifications), and `POST …/report` (a load: `{"path": FOLDER}` on the
//! gateway's machine, `{"files": {"Users.csv": "<csv text>", …}}` uploaded, or `{"database":
//! "postgres://…", "schema": "dbo"}`).

use super::admin::authorize;
use super::{ApiResult, AppState};
use crate::admin::AdminError;
use crate::reporting::export::{self, Table};
use crate::reporting::{html, join};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A 401 that makes a browser ask for the token (Basic), any other error as is.
fn challenge<T>(r: ApiResult<T>) -> Result<T, Box<HttpResponse>> {
    r.map_err(|e| {
        let mut resp = actix_web::ResponseError::error_response(&e);
        if resp.status() == actix_web::http::StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"scimgw admin\", charset=\"UTF-8\""),
            );
        }
        Box::new(resp)
    })
}

async fn joined<T>(
    a: &crate::admin::Admin,
    tenant: &str,
    f: impl FnOnce(&crate::reporting::model::Report<'_>) -> T,
) -> ApiResult<T> {
    let (snap, ids) = a.reports.parts(tenant).await.map_err(AdminError::from)?;
    let report = join::join(tenant, &snap, &ids);
    Ok(f(&report))
}

pub async fn page(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let a = match challenge(authorize(&state, &req)) {
        Ok(a) => a,
        Err(resp) => return *resp,
    };
    match joined(a, &path, html::render).await {
        Ok(page) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(page),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

pub async fn table(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    let (tenant, file) = path.into_inner();
    let (name, ext) = file.rsplit_once('.').unwrap_or((file.as_str(), "json"));
    let t = Table::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| AdminError::NotFound(format!("no report table {name} (learners, modules, certifications)")))?;
    match ext {
        "csv" => {
            let body = joined(a, &tenant, |r| {
                let mut out = Vec::new();
                export::write_csv(r, t, &mut out).map(|()| out)
            })
            .await?
            .map_err(|e| AdminError::Internal(e.to_string()))?;
            Ok(HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
                .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")))
                .body(body))
        }
        "json" => Ok(HttpResponse::Ok().json(joined(a, &tenant, |r| export::json_table(r, t)).await?)),
        other => Err(AdminError::Invalid(format!("unknown format .{other} (csv, json)")).into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBody {
    /// A folder on the gateway's machine.
    #[serde(default)]
    path: Option<String>,
    /// File name → CSV text.
    #[serde(default)]
    files: Option<BTreeMap<String, String>>,
    /// A postgres:// URL of a database holding the datasets as tables.
    #[serde(default)]
    database: Option<String>,
    /// The tables' schema (default dbo, else public).
    #[serde(default)]
    schema: Option<String>,
}

pub async fn load(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<LoadBody>,
) -> ApiResult<HttpResponse> {
    let a = authorize(&state, &req)?;
    let tenant = path.into_inner();
    let body = body.into_inner();
    let loaded = match (body.path, body.files, body.database) {
        (None, None, Some(url)) => {
            a.reports.load_postgres(&tenant, &url, body.schema.as_deref()).await.map_err(AdminError::from)?
        }
        (Some(dir), None, None) => a.reports.load_dir(&tenant, dir.into()).await.map_err(AdminError::from)?,
        (None, Some(files), None) => {
            let dir = std::env::temp_dir().join(format!("scimgw-report-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).map_err(|e| AdminError::Internal(e.to_string()))?;
            let result = async {
                for (name, text) in &files {
                    // Plain file names only: nothing outside the staging folder.
                    let ok = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                        && !name.starts_with('.');
                    if !ok {
                        return Err(AdminError::Invalid(format!("file name {name:?} is not a plain file name")));
                    }
                    std::fs::write(dir.join(name), text).map_err(|e| AdminError::Internal(e.to_string()))?;
                }
                a.reports.load_dir(&tenant, dir.clone()).await.map_err(AdminError::from)
            }
            .await;
            let _ = std::fs::remove_dir_all(&dir);
            result?
        }
        _ => {
            return Err(
                AdminError::Invalid("give either \"path\" (a folder) or \"files\" (name → CSV text)".into()).into()
            );
        }
    };
    Ok(HttpResponse::Ok().json(loaded))
}
