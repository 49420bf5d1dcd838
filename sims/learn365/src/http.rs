//! actix-web adapter: every request goes through one handler that calls [`Sim::handle`], then logs
//! one line (method, path, status, duration; never the query string, the body or the key).

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::api::{Request, Sim, is_admin_path};

/// Request bodies can be large (a group of 10,000 members).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The simulator shared by all workers.
pub struct Shared(Mutex<Sim>);

impl Shared {
    pub fn new(sim: Sim) -> Self {
        Self(Mutex::new(sim))
    }

    pub fn lock(&self) -> MutexGuard<'_, Sim> {
        // A panic while holding the lock cannot leave the maps in a state that matters more than
        // refusing every further request, so keep serving.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Registers the catch-all handler on an actix `App`.
pub fn configure(shared: web::Data<Shared>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(shared).app_data(web::PayloadConfig::new(MAX_BODY_BYTES)).default_service(web::to(serve));
    }
}

async fn serve(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let started = Instant::now();
    let path = req.path();

    let latency = shared.lock().latency_for(path);
    if !latency.is_zero() {
        actix_web::rt::time::sleep(latency).await;
    }

    let base_url = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let request = Request {
        method: req.method().as_str(),
        path,
        query: req.query_string(),
        authorization,
        body: &body,
        base_url: &base_url,
    };
    let response = shared.lock().handle(&request);

    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    if let Some(secs) = response.retry_after {
        builder.insert_header((RETRY_AFTER, secs.to_string()));
    }
    if response.challenge {
        builder.insert_header((WWW_AUTHENTICATE, "Basic realm=\"Learn365\""));
    }
    // The Entra ID token endpoint answers plain JSON; the API and Graph answer OData.
    let token_endpoint = crate::graph::token_tenant(req.method().as_str(), path).is_some();
    if !is_admin_path(path) && !token_endpoint {
        builder.insert_header(("OData-Version", "4.0"));
    }
    let http_response = match response.body {
        Some(body) => {
            let content_type = if is_admin_path(path) {
                "application/json"
            } else if token_endpoint {
                "application/json; charset=utf-8"
            } else {
                "application/json; odata.metadata=minimal"
            };
            builder.insert_header((CONTENT_TYPE, content_type)).body(body.to_string())
        }
        None => builder.finish(),
    };
    tracing::info!(
        method = %req.method(),
        path = %path,
        status = response.status,
        duration_ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
    http_response
}
