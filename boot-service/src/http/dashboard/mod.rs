//! The technicians' web dashboard: `GET /` lists every node, failures with their fixes first, and reloads
//! itself; `GET /nodes/{id}` shows one node and its history. Read-only and open, like the node API's reads.
//! The pages are pure functions of the records ([`render`]); this file only fetches them.

mod advice;
mod built;
mod hardware;
mod os;
mod render;

#[cfg(test)]
mod tests;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use maud::Markup;
use rackhand_api::{NodeId, NodeState};
use tower_http::set_header::SetResponseHeaderLayer;

use super::api::on_nodes;
use super::{ApiError, AppState};
use render::NodeView;

/// No script, nothing loaded from elsewhere, no framing: the pages are static HTML with one inline
/// stylesheet, which `style-src 'unsafe-inline'` allows (with nothing else allowed, CSS cannot fetch).
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The pages with their security headers: CSP, no MIME sniffing, no framing.
pub fn routes() -> Router<AppState> {
    let set = |name, value| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    Router::new()
        .route("/", get(list))
        .route("/nodes/{id}", get(detail))
        .layer(set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
}

/// An error as a page a person reads (the API's own errors are JSON for programs).
struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let ApiError { status, message } = self.0;
        if status.is_server_error() {
            tracing::error!(%status, error = %message, "dashboard page failed");
        }
        (status, render::error_page(status.canonical_reason().unwrap_or("Error"), &message)).into_response()
    }
}

async fn list(State(state): State<AppState>) -> Result<Markup, PageError> {
    let views = on_nodes(&state, |nodes| {
        nodes
            .list()?
            .into_iter()
            .map(|record| {
                // Only a node being worked on has a step worth showing; its history says which.
                let progress = if matches!(record.state, NodeState::Inspecting | NodeState::Installing) {
                    render::latest_progress(&nodes.store().events(record.id)?).cloned()
                } else {
                    None
                };
                Ok(NodeView { record, progress })
            })
            .collect()
    })
    .await?;
    Ok(render::node_list(views, Timestamp::now()))
}

async fn detail(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Markup, PageError> {
    let record = on_nodes(&state, move |nodes| nodes.get(NodeId(id))).await?;
    Ok(render::node_detail(&record, Timestamp::now()))
}
