//! Observing requests: every request gets a span with the route *pattern* (never the raw path or
//! query: filters carry e-mail addresses), the tenant and the status, and two metrics; Prometheus text
//! is served at `/metrics`. Tokens and bodies are never recorded. (Installing the subscriber and the
//! recorder is `crate::telemetry`.) A handler that panics (a bug) answers 500 with an RFC 7644 body
//! instead of dropping the connection, and is counted in `http_handler_panics_total`.

use super::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::Instant;
use tracing::Instrument;

/// Middleware: one span and two metrics per request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!("request", http.method = %method, http.route = %route, tenant = tracing::field::Empty, http.status = tracing::field::Empty, duration_ms = tracing::field::Empty);
    let res = match AssertUnwindSafe(next.call(req).instrument(span.clone())).catch_unwind().await {
        Ok(res) => res,
        Err(_) => {
            // The request went down with the handler; actix renders the error as the response.
            metrics::counter!("http_handler_panics_total").increment(1);
            span.in_scope(|| tracing::error!("a request handler panicked (a bug); answered 500"));
            Err(super::error::ApiError(crate::scim::error::ScimError::internal("internal error")).into())
        }
    };
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let elapsed = started.elapsed();
    span.record("http.status", status);
    span.record("duration_ms", elapsed.as_secs_f64() * 1000.0);
    let status_label = status.to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status_label.clone()).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route, "status" => status_label)
        .record(elapsed.as_secs_f64());
    if status >= 500 {
        span.in_scope(|| tracing::warn!(status, "request failed"));
    } else {
        span.in_scope(|| tracing::info!(status, "request"));
    }
    res
}

/// `GET /metrics`: Prometheus text exposition (it names tenants: with `metrics_token` set, only for
/// `Authorization: Bearer <metrics_token>`).
pub async fn metrics(state: web::Data<AppState>, req: actix_web::HttpRequest) -> HttpResponse {
    if let Some(want) = &state.settings.metrics_token_digest {
        use subtle::ConstantTimeEq as _;
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| super::auth_token::digest(t.trim()));
        if !given.is_some_and(|g| bool::from(g.ct_eq(want))) {
            let e =
                crate::scim::error::ScimError::unauthorized("GET /metrics needs Authorization: Bearer <metrics_token>");
            return super::error::scim_error_response(&e);
        }
    }
    match &state.metrics {
        Some(h) => HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(h.render()),
        None => HttpResponse::NotFound().finish(),
    }
}
