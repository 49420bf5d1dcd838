//! The Microsoft Graph subset ([`crate::graph`]) inside [`Sim::handle`]: the Entra ID token endpoint
//! and the `/v1.0` calls, counted in the same statistics as the OData API (with their own route
//! templates) and faulted by the same injector.
//!
//! Order for a `/v1.0` call: decide an injected fault (before anything else, so a faulted call never
//! changes state), check the bearer token (401), find the route (400/405), then serve. The token
//! endpoint is never faulted (it is Entra ID, not Graph) and needs no token. `--rate-limit` is the
//! Learn365 API's and does not apply to Graph.

use super::{Request, Response, Sim};
use crate::faults::Fault;
use crate::graph::{self, GraphRoute, TOKEN_TEMPLATE, error_response, token_tenant};

impl Sim {
    /// Serves a token request or a `/v1.0` call: its statistics key and the answer. `None` for any
    /// other path.
    pub(super) fn handle_graph(&mut self, req: &Request<'_>) -> Option<(&'static str, Response)> {
        if let Some(tenant) = token_tenant(req.method, req.path) {
            return Some((TOKEN_TEMPLATE, self.graph.token(req, tenant)));
        }
        if !graph::is_graph_path(req.path) {
            return None;
        }
        let route = GraphRoute::parse(req.method, req.path);
        let key = route.as_ref().map_or("unmatched", GraphRoute::template);
        Some((key, self.serve_graph(route, req)))
    }

    fn serve_graph(&mut self, route: Result<GraphRoute, graph::Miss>, req: &Request<'_>) -> Response {
        match self.injected_fault() {
            Some(Fault::Unavailable) => {
                return error_response(503, "serviceNotAvailable", "injected fault: service unavailable");
            }
            Some(Fault::TooManyRequests { retry_after_secs }) => {
                let mut resp = error_response(429, "TooManyRequests", "injected fault: too many requests");
                resp.retry_after = Some(retry_after_secs);
                return resp;
            }
            None => {}
        }
        if let Err(e) = self.graph.authenticate(req.authorization) {
            return e.into_response();
        }
        match route {
            Ok(route) => self.graph.serve(&mut self.state, route, req),
            Err(miss) => miss.into_error().into_response(),
        }
    }
}
