//! The reporting join over the admin API: `GET /admin/v1/tenants/{t}/report` (the HTML report; a
//! browser may authenticate with Basic, the admin token as password), `GET …/report/{table}.csv|json`
//! (learners, modules, certifications), and `POST …/report` (a load: `{"path": FOLDER}` on the
//! gateway's machine, `{"files": {"Users.csv": "<csv text>", …}}` uploaded, or `{"database":
//! "postgres://…", "schema": "dbo"}`).

use super::auth::Admin;
use crate::http::error::internal;
use crate::http::error::{ApiError, ApiResult};
use crate::reporting::export::{self, Table};
use crate::reporting::{html, join};
use crate::scim::error::ScimError;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
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

async fn joined<T>(a: &Admin, tenant: &str, f: impl FnOnce(&crate::reporting::model::Report<'_>) -> T) -> ApiResult<T> {
    let (snap, ids) = a.reports.parts(tenant).await?;
    let report = join::join(tenant, &snap, &ids);
    Ok(f(&report))
}

async fn page(a: ApiResult<Admin>, path: web::Path<String>) -> HttpResponse {
    let a = match challenge(a) {
        Ok(a) => a,
        Err(resp) => return *resp,
    };
    match joined(&a, &path, html::render).await {
        Ok(page) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .insert_header((header::CONTENT_SECURITY_POLICY, html::content_security_policy()))
            .body(page),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

async fn table(a: Admin, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (tenant, file) = path.into_inner();
    let (name, ext) = file.rsplit_once('.').unwrap_or((file.as_str(), "json"));
    let t = Table::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
        ScimError::new(404, None, format!("no report table {name} (learners, modules, certifications)"))
    })?;
    match ext {
        "csv" => {
            let body = joined(&a, &tenant, |r| {
                let mut out = Vec::new();
                export::write_csv(r, t, &mut out).map(|()| out)
            })
            .await?
            .map_err(internal)?;
            Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
                .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")))
                .body(body))
        }
        "json" => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(joined(&a, &tenant, |r| export::json_table(r, t)).await?)),
        other => Err(ScimError::new(400, None, format!("unknown format .{other} (csv, json)")).into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadBody {
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

async fn load(a: Admin, path: web::Path<String>, body: web::Json<LoadBody>) -> ApiResult<HttpResponse> {
    let tenant = path.into_inner();
    let body = body.into_inner();
    if body.path.is_some() || body.database.is_some() {
        // A folder on the gateway's machine or a database it connects to: the operator's call.
        a.operator_only("loading from a folder or a database")?;
    }
    let loaded = match (body.path, body.files, body.database) {
        (None, None, Some(url)) => a.reports.load_postgres(&tenant, &url, body.schema.as_deref()).await?,
        (Some(dir), None, None) => a.reports.load_dir(&tenant, dir.into()).await?,
        (None, Some(files), None) => {
            let dir = std::env::temp_dir().join(format!("scimgw-report-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).map_err(internal)?;
            let result = async {
                for (name, text) in &files {
                    // Plain file names only: nothing outside the staging folder.
                    let ok = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                        && !name.starts_with('.');
                    if !ok {
                        return Err(ApiError(ScimError::new(
                            400,
                            None,
                            format!("file name {name:?} is not a plain file name"),
                        )));
                    }
                    std::fs::write(dir.join(name), text).map_err(internal)?;
                }
                a.reports.load_dir(&tenant, dir.clone()).await.map_err(ApiError::from)
            }
            .await;
            let _ = std::fs::remove_dir_all(&dir);
            result?
        }
        _ => {
            return Err(
                ScimError::new(400, None, "give either \"path\" (a folder) or \"files\" (name → CSV text)").into()
            );
        }
    };
    Ok(HttpResponse::Ok().json(loaded))
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tenants/{tenant}/report")
            .app_data(web::JsonConfig::default().limit(1 << 30))
            .route(web::get().to(page))
            .route(web::post().to(load)),
    )
    .route("/tenants/{tenant}/report/{table}", web::get().to(table));
}
