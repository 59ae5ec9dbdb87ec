//! HTTP: iPXE scripts, assets and images (with Range), the node API under `/api/v1`, the technicians'
//! dashboard (`/` and `/nodes/{id}`), `/metrics` and `/healthz`. The server takes its listener and a shutdown future, so tests bind port 0.

mod api;
mod auth;
mod boot;
mod connection;
mod dashboard;
mod error;
mod file_request;
mod file_response;
mod files;
mod handoff;
mod idle;
mod power;
mod sendfile;
mod server;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use tracing::Instrument;

use crate::config::Config;
use crate::metrics::{self, HttpLabels, ServiceMetrics};
use crate::nodes::Nodes;

pub use error::ApiError;

/// Read size of the router's file routes (`files.rs`), which now serve only the requests the sendfile path
/// (`sendfile.rs`) leaves to them (If-Range, If-Match, a body): 128 KiB, a syscall and a body frame each.
const FILE_CHUNK: usize = 128 << 10;

/// Everything a request handler may need.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub nodes: Arc<Nodes>,
    pub registry: Arc<Registry>,
    pub metrics: ServiceMetrics,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(render_metrics))
        .route("/boot/{file}", get(boot::script))
        .nest(rackhand_api::API_PREFIX, api::routes().merge(power::routes()))
        .merge(dashboard::routes())
        .route("/assets/{*path}", get(files::asset))
        .route("/images/{*path}", get(files::image))
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .with_state(state)
}

/// Serve until `shutdown` resolves, within the limits of `[http]` (see `http/server.rs`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.config.clone();
    let files = sendfile::FileRoots {
        assets: config.boot.assets_dir.clone(),
        images: config.boot.images_dir.clone(),
        metrics: state.metrics.clone(),
    };
    server::serve(listener, router(state), files, &config.http, shutdown).await
}

async fn render_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let nodes = state.nodes.clone();
    let list = tokio::task::spawn_blocking(move || nodes.list()).await??;
    state.metrics.set_node_counts(&list);
    let body = metrics::render(&state.registry);
    Ok(([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response())
}

/// One span and one counter per request, labelled with the route pattern (never the raw path, which
/// would make a label per MAC).
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<MatchedPath>().map(MatchedPath::as_str) {
        Some(path) => known_route(path),
        None => "unmatched",
    };
    let span = tracing::info_span!("http", method = %request.method(), route);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    state.metrics.http_requests.get_or_create(&HttpLabels { route, status }).inc();
    span.in_scope(|| tracing::debug!(status, "response"));
    response
}

/// Route patterns as `'static` labels; the file trees as their prefix.
fn known_route(path: &str) -> &'static str {
    match path {
        "/assets/{*path}" => return "/assets",
        "/images/{*path}" => return "/images",
        _ => {}
    }
    const ROUTES: &[&str] = &[
        "/",
        "/nodes/{id}",
        "/healthz",
        "/metrics",
        "/boot/{file}",
        "/api/v1/nodes",
        "/api/v1/nodes/{id}",
        "/api/v1/nodes/{id}/inventory",
        "/api/v1/nodes/{id}/events",
        "/api/v1/nodes/{id}/deploy",
        "/api/v1/nodes/{id}/installed",
        "/api/v1/nodes/{id}/failed",
        "/api/v1/nodes/{id}/ready",
        "/api/v1/nodes/{id}/health",
        "/api/v1/nodes/{id}/reprovision",
        "/api/v1/nodes/{id}/bmc",
        "/api/v1/nodes/{id}/power",
        "/api/v1/nodes/{id}/boot-device",
    ];
    ROUTES.iter().find(|r| **r == path).copied().unwrap_or("other")
}

#[cfg(test)]
mod bmc_health_tests;
#[cfg(test)]
mod limit_tests;
#[cfg(test)]
pub(crate) mod power_tests;
#[cfg(test)]
mod script_tests;
#[cfg(test)]
mod sendfile_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod wire_tests;
