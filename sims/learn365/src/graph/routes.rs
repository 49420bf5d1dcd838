//! The Graph routes under `/v1.0` and the Entra ID token endpoint, parsed from the raw request path
//! (each segment percent-decoded, so `$ref` may arrive as `%24ref`), with their statistics templates.

use super::{GraphError, PREFIX};
use crate::api::routes::percent_decode;

/// Statistics template of the token endpoint.
pub const TOKEN_TEMPLATE: &str = "POST /{tenant}/oauth2/v2.0/token";

/// The tenant of a token request, `POST /{tenant}/oauth2/v2.0/token` (a GUID, a domain, or any other
/// name: the simulator has one tenant).
pub fn token_tenant<'a>(method: &str, path: &'a str) -> Option<&'a str> {
    if method != "POST" {
        return None;
    }
    match path.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().as_slice() {
        [tenant, "oauth2", "v2.0", "token"] => Some(tenant),
        _ => None,
    }
}

/// Every Graph route; ids are decoded but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphRoute {
    ListGroups,
    CreateGroup,
    GetGroup(String),
    UpdateGroup(String),
    DeleteGroup(String),
    ListMembers(String),
    AddMember(String),
    /// (group id, member id)
    RemoveMember(String, String),
}

/// Why a path under `/v1.0` matches no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// A known resource, a method it does not take here: `405`.
    Method,
    /// An unknown segment: `400 BadRequest` naming it, as Graph answers.
    Segment(String),
}

impl Miss {
    pub fn into_error(self) -> GraphError {
        match self {
            Miss::Method => GraphError::new(
                405,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request target.",
            ),
            Miss::Segment(s) => {
                GraphError::new(400, "BadRequest", format!("Resource not found for the segment '{s}'."))
            }
        }
    }
}

impl GraphRoute {
    pub fn parse(method: &str, path: &str) -> Result<Self, Miss> {
        let rest = path.strip_prefix(PREFIX).ok_or_else(|| Miss::Segment(path.to_string()))?;
        let raw: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let segs: Vec<String> =
            raw.iter().map(|s| percent_decode(s)).collect::<Option<_>>().ok_or_else(|| Miss::Segment(rest.into()))?;
        let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
        let id = |s: &str| s.to_string();
        let route = match seg.as_slice() {
            ["groups"] => match method {
                "GET" => GraphRoute::ListGroups,
                "POST" => GraphRoute::CreateGroup,
                _ => return Err(Miss::Method),
            },
            ["groups", g] => match method {
                "GET" => GraphRoute::GetGroup(id(g)),
                "PATCH" => GraphRoute::UpdateGroup(id(g)),
                "DELETE" => GraphRoute::DeleteGroup(id(g)),
                _ => return Err(Miss::Method),
            },
            ["groups", g, "members"] if method == "GET" => GraphRoute::ListMembers(id(g)),
            ["groups", g, "members", "$ref"] if method == "POST" => GraphRoute::AddMember(id(g)),
            ["groups", g, "members", m, "$ref"] if method == "DELETE" => GraphRoute::RemoveMember(id(g), id(m)),
            ["groups", _, "members"] | ["groups", _, "members", "$ref"] | ["groups", _, "members", _, "$ref"] => {
                return Err(Miss::Method);
            }
            [] => return Err(Miss::Segment("v1.0".into())),
            ["groups", _, other, ..] | [other, ..] => return Err(Miss::Segment(other.to_string())),
        };
        Ok(route)
    }

    /// The route template used as the statistics key.
    pub fn template(&self) -> &'static str {
        match self {
            GraphRoute::ListGroups => "GET /v1.0/groups",
            GraphRoute::CreateGroup => "POST /v1.0/groups",
            GraphRoute::GetGroup(_) => "GET /v1.0/groups/{id}",
            GraphRoute::UpdateGroup(_) => "PATCH /v1.0/groups/{id}",
            GraphRoute::DeleteGroup(_) => "DELETE /v1.0/groups/{id}",
            GraphRoute::ListMembers(_) => "GET /v1.0/groups/{id}/members",
            GraphRoute::AddMember(_) => "POST /v1.0/groups/{id}/members/$ref",
            GraphRoute::RemoveMember(..) => "DELETE /v1.0/groups/{id}/members/{id}/$ref",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_with_encoded_segments() {
        let g = "0b7c5d2e-0000-4000-8000-000000000001";
        let m = "0b7c5d2e-0000-4000-8000-000000000002";
        assert_eq!(GraphRoute::parse("GET", "/v1.0/groups"), Ok(GraphRoute::ListGroups));
        assert_eq!(GraphRoute::parse("POST", "/v1.0/groups/"), Ok(GraphRoute::CreateGroup));
        assert_eq!(GraphRoute::parse("GET", &format!("/v1.0/groups/{g}")), Ok(GraphRoute::GetGroup(g.into())));
        assert_eq!(
            GraphRoute::parse("POST", &format!("/v1.0/groups/{g}/members/%24ref")),
            Ok(GraphRoute::AddMember(g.into()))
        );
        assert_eq!(
            GraphRoute::parse("DELETE", &format!("/v1.0/groups/{g}/members/{m}/$ref")),
            Ok(GraphRoute::RemoveMember(g.into(), m.into()))
        );
        assert_eq!(GraphRoute::parse("PUT", "/v1.0/groups"), Err(Miss::Method));
        assert_eq!(GraphRoute::parse("GET", &format!("/v1.0/groups/{g}/members/$ref")), Err(Miss::Method));
        assert_eq!(GraphRoute::parse("GET", &format!("/v1.0/groups/{g}/owners")), Err(Miss::Segment("owners".into())));
        assert_eq!(GraphRoute::parse("GET", "/v1.0/users"), Err(Miss::Segment("users".into())));
        assert_eq!(token_tenant("POST", "/contoso.onmicrosoft.com/oauth2/v2.0/token"), Some("contoso.onmicrosoft.com"));
        assert_eq!(token_tenant("GET", "/t/oauth2/v2.0/token"), None);
        assert_eq!(token_tenant("POST", "/t/oauth2/token"), None);
    }
}
