//! The REST/JSON API for frontends: every `google.api.http` binding of the public contracts,
//! served by one dispatcher that authenticates, checks the role matrix and the rate limit,
//! transcodes the request to the proto message, calls the owning service over gRPC with the
//! signed identity, and answers canonical proto3 JSON (or Server-Sent Events for streams,
//! RFC 9457 problems for errors).

pub(crate) mod api_keys;
pub(crate) mod carts;
pub(crate) mod catalog;
pub(crate) mod customers;
pub(crate) mod io;
pub(crate) mod notifications;
pub(crate) mod orders;
pub(crate) mod provisioning;
mod render;
pub(crate) mod routes;
pub(crate) mod sse;
pub(crate) mod subscriptions;
pub(crate) mod test_clocks;
pub(crate) mod transcode;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::{Method, StatusCode};
use platform::error::{ErrorCode, ServiceError};
use platform::identity::Principal;
use tracing::Instrument;

use self::io::{header_str, json_response, next_link, read_body, replayed, unquote, with_etag};
use crate::idempotency::{IDEMPOTENCY_KEY, Outcome};
use crate::problem::Problem;
use crate::rest::routes::Template;
use crate::state::Gateway;
use crate::upstream::{Call, Invoker, Registry};

/// Registers every REST operation's typed invoker.
pub(crate) fn registry() -> Registry {
    let mut registry = Registry::default();
    catalog::register(&mut registry);
    customers::register(&mut registry);
    carts::register(&mut registry);
    orders::register(&mut registry);
    subscriptions::register(&mut registry);
    test_clocks::register(&mut registry);
    provisioning::register(&mut registry);
    notifications::register(&mut registry);
    api_keys::register(&mut registry);
    registry
}

/// One REST route.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) template: Template,
    /// The template text (for logs).
    pub(crate) pattern: String,
    /// `/marketplace.<pkg>.v1.<Service>/<Method>`.
    pub(crate) grpc_path: String,
    /// RPC name, e.g. `GetPlan`.
    pub(crate) rpc: String,
    pub(crate) invoker: Invoker,
}

/// The routes of every bound method, most specific first. A binding without a registered
/// invoker (a contract grew ahead of the gateway) is left out, and out of the OpenAPI document,
/// with a warning; the unit tests insist on full coverage.
pub(crate) fn build_routes(
    api: &crate::descriptor::Api,
    registry: &Registry,
) -> anyhow::Result<Vec<Route>> {
    let mut routes = Vec::new();
    for (method, binding) in api.bound_methods() {
        let template = Template::parse(&binding.template)
            .ok_or_else(|| anyhow::anyhow!("bad path template {}", binding.template))?;
        let Some(invoker) = registry.invokers.get(&method.path).copied() else {
            tracing::warn!(rpc = %method.path, "no REST handler registered; route not served");
            continue;
        };
        if crate::roles::allowed_roles(&method.path).is_none() {
            tracing::warn!(rpc = %method.path, "operation missing from the role matrix; refused for everyone");
        }
        routes.push(Route {
            method: binding.method.clone(),
            template,
            pattern: binding.template.clone(),
            grpc_path: method.path.clone(),
            rpc: method.name.clone(),
            invoker,
        });
    }
    routes.sort_by_key(|r| std::cmp::Reverse(r.template.specificity()));
    Ok(routes)
}

/// What the access log records about a request.
#[derive(Default)]
struct Outline {
    /// The matched route's template.
    route: Option<String>,
    principal: Option<Principal>,
}

/// The fallback handler serving every `/v1/...` route.
pub(crate) async fn dispatch(State(gw): State<Arc<Gateway>>, mut request: Request) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let trace = crate::observe::trace_of(&mut request);
    let path = request.uri().path().to_string();
    let mut outline = Outline::default();
    let span = tracing::info_span!(
        "rest.server",
        http.method = %method,
        path = %path,
        trace_id = %trace.trace_id,
        otel.kind = "server"
    );
    platform::propagation::set_parent_from_headers(&span, request.headers());
    let mut response = match handle(&gw, request, &mut outline)
        .instrument(span.clone())
        .await
    {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    };
    crate::observe::answer_span(response.headers_mut(), &span, &trace);
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    crate::observe::record_request(
        "rest",
        outline.route.as_deref().unwrap_or("unmatched"),
        crate::observe::method_label(&method),
        &status.to_string(),
        elapsed,
    );
    let principal = outline.principal.as_ref();
    tracing::info!(
        target: "gateway::access",
        protocol = "rest",
        principal = principal.map(|p| p.subject.as_str()).unwrap_or("-"),
        role = principal.map(|p| p.role.as_str()).unwrap_or("-"),
        http.method = %method,
        route = %outline.route.as_deref().unwrap_or(&path),
        status,
        latency_us = elapsed.as_micros() as u64,
        trace_id = %trace.trace_id,
        request_id = %trace.request_id,
        "request"
    );
    response
}

/// Path variables of a matched route: `(field path, value)`.
type PathVars = Vec<(String, String)>;

fn resolve<'a>(
    gw: &'a Gateway,
    method: &Method,
    path: &str,
) -> Result<(&'a Route, PathVars), Problem> {
    let mut allowed = Vec::new();
    let parts = routes::split_path(path).unwrap_or_default();
    for route in &gw.routes {
        if let Some(vars) = route.template.matches_parts(&parts) {
            if route.method == method {
                return Ok((route, vars));
            }
            allowed.push(route.method.as_str());
        }
    }
    if allowed.is_empty() {
        Err(Problem::with_status(
            StatusCode::NOT_FOUND,
            "no_such_route",
            format!("no operation at {path}"),
        ))
    } else {
        allowed.dedup();
        Err(Problem::with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed here; use {}", allowed.join(", ")),
        ))
    }
}

async fn handle(
    gw: &Arc<Gateway>,
    request: Request,
    outline: &mut Outline,
) -> Result<Response, Problem> {
    let (parts, body) = request.into_parts();
    let (route, path_vars) = resolve(gw, &parts.method, parts.uri.path())?;
    outline.route = Some(route.pattern.clone());
    let principal = gw
        .auth
        .authenticate(&parts.headers)
        .await
        .map_err(Problem::from)?;
    outline.principal = Some(principal.clone());
    if !crate::roles::is_allowed(&route.grpc_path, principal.role) {
        return Err(Problem::from(ServiceError::permission_denied(format!(
            "role {} may not call {}",
            principal.role.as_str(),
            route.rpc
        ))));
    }
    gw.limiter
        .admit(&principal, "rest")
        .map_err(Problem::from)?;

    let body = read_body(gw, &parts.headers, body).await?;
    let method_info = gw
        .api
        .method(&route.grpc_path)
        .ok_or_else(|| Problem::new(ErrorCode::NotFound, "unknown operation"))?;
    let binding = method_info
        .http
        .as_ref()
        .ok_or_else(|| Problem::new(ErrorCode::NotFound, "unknown operation"))?;
    let upstream = gw
        .upstreams
        .for_path(&route.grpc_path)
        .ok_or_else(|| Problem::new(ErrorCode::NotFound, "unknown operation"))?
        .clone();
    let idempotency_key = header_str(&parts.headers, IDEMPOTENCY_KEY);
    let input = transcode::RestInput {
        path_vars,
        query: parts.uri.query(),
        body: &body,
        if_match: header_str(&parts.headers, "if-match")
            .map(|v| unquote(&v))
            .filter(|v| v != "*"),
        request_id: idempotency_key.clone(),
        last_event_id: header_str(&parts.headers, "last-event-id"),
    };
    let json = transcode::build(&gw.api, method_info, binding, input)?;

    // Only well-formed requests claim an Idempotency-Key; nothing can fail between the claim
    // and its completion except the call itself.
    let mut claim = None;
    if parts.method == Method::POST {
        if let Some(key) = &idempotency_key {
            let target = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or_default();
            match gw
                .idempotency
                .begin(&principal, key, parts.method.as_str(), target, &body)
                .await?
            {
                Outcome::Replay(replay) => {
                    crate::observe::record_replay();
                    return Ok(replayed(replay));
                }
                Outcome::Proceed(c) => claim = Some(c),
            }
        } else if gw.http.require_idempotency_key {
            return Err(Problem::invalid("Idempotency-Key", "required on POST"));
        }
    }

    let timeout = gw.http.timeout_for(&route.rpc);
    let call = Call {
        upstream,
        path: route.grpc_path.clone(),
        request: json,
        identity: gw.identity.sign(&principal),
        timeout: Some(timeout),
        traceparent: crate::observe::upstream_traceparent(&parts.headers),
    };

    match route.invoker {
        Invoker::Streaming(invoke) => {
            if let Some(claim) = claim {
                gw.idempotency.release(claim).await;
            }
            let stream = invoke(call).await.map_err(|error| {
                crate::observe::record_upstream(&route.grpc_path, error.code.grpc_code());
                Problem::from(error)
            })?;
            let (api, output) = (gw.clone(), method_info.output.clone());
            let stream = stream
                .map(move |item| {
                    item.map(|mut value| {
                        render::response(&api.api, &output, &mut value);
                        value
                    })
                })
                .boxed();
            Ok(sse::sse(gw, stream))
        }
        Invoker::Unary(invoke) => {
            let result = match tokio::time::timeout(timeout, invoke(call)).await {
                Ok(result) => result,
                Err(_) => Err(ServiceError::new(
                    ErrorCode::DeadlineExceeded,
                    format!(
                        "{} did not answer within {} ms",
                        route.rpc,
                        timeout.as_millis()
                    ),
                )),
            };
            let mut response_token = String::new();
            let (status, body, etag, stored) = match result {
                Ok(mut value) => {
                    render::response(&gw.api, &method_info.output, &mut value);
                    response_token = value
                        .get("nextPageToken")
                        .and_then(|t| t.as_str())
                        .unwrap_or_default()
                        .to_string();
                    let etag = value
                        .get("etag")
                        .and_then(|e| e.as_str())
                        .unwrap_or_default()
                        .to_string();
                    // Secrets are shown once: the stored idempotent replay never holds one.
                    let stored = match &value {
                        serde_json::Value::Object(map) if map.contains_key("secret") => {
                            let mut without = map.clone();
                            without.remove("secret");
                            serde_json::Value::Object(without).to_string()
                        }
                        _ => value.to_string(),
                    };
                    (StatusCode::OK, value.to_string(), etag, stored)
                }
                Err(error) => {
                    crate::observe::record_upstream(&route.grpc_path, error.code.grpc_code());
                    let problem = Problem::from(error);
                    let body = serde_json::to_string(&problem).unwrap_or_default();
                    (problem.status(), body.clone(), String::new(), body)
                }
            };
            if let Some(claim) = claim {
                gw.idempotency
                    .complete(claim, status.as_u16(), &stored, &etag)
                    .await;
            }
            if status == StatusCode::OK
                && parts.method == Method::GET
                && !etag.is_empty()
                && let Some(none_match) = header_str(&parts.headers, "if-none-match")
                && none_match
                    .split(',')
                    .any(|t| unquote(t.trim()) == etag || t.trim() == "*")
            {
                return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), &etag));
            }
            let mut response = json_response(status, body, &etag);
            if parts.method == Method::GET
                && let Some(link) = next_link(&parts.uri, &response_token)
            {
                response.headers_mut().insert(http::header::LINK, link);
            }
            Ok(response)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rest_binding_has_a_typed_handler() {
        let api = crate::descriptor::Api::decode(marketplace_proto::FILE_DESCRIPTOR_SET).unwrap();
        let registry = registry();
        for (method, _) in api.bound_methods() {
            assert!(
                registry.invokers.contains_key(&method.path),
                "no REST handler for {}",
                method.path
            );
        }
        assert_eq!(
            build_routes(&api, &registry).unwrap().len(),
            api.bound_methods().count()
        );
    }
}
