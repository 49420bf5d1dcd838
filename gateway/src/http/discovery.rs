//! Discovery endpoints (RFC 7644 §4).

use super::auth::Tenant;
use super::body::scim_json;
use super::error::ApiResult;
use crate::scim::discovery::service_provider_config as spc;
use crate::scim::error::ScimError;
use actix_web::{HttpResponse, web};

pub async fn service_provider_config(t: Tenant) -> HttpResponse {
    scim_json(200, &spc(&t.base))
}

pub async fn resource_types(t: Tenant) -> HttpResponse {
    scim_json(200, &t.schemas.resource_types(&t.base))
}

pub async fn resource_type(t: Tenant, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (_, name) = path.into_inner();
    let doc = t
        .schemas
        .resource_type(&name, &t.base)
        .ok_or_else(|| ScimError::not_found(format!("no resource type \"{name}\"")))?;
    Ok(scim_json(200, &doc))
}

pub async fn schemas(t: Tenant) -> HttpResponse {
    scim_json(200, &t.schemas.schemas_list(&t.base))
}

pub async fn schema(t: Tenant, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (_, urn) = path.into_inner();
    let doc = t.schemas.schema(&urn, &t.base).ok_or_else(|| ScimError::not_found(format!("no schema \"{urn}\"")))?;
    Ok(scim_json(200, &doc))
}
