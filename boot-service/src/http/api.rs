//! The node API under `/api/v1` (DESIGN.md "Node API"). Reads are open; admin calls take the admin
//! bearer token; the installer's calls take the node's one-time token (`inventory`, `events`, `deploy`,
//! `installed`, `failed`); the installed OS's first report (`ready`) takes the one-time deploy credential
//! that `installed` returned, and its later reports (`health`) the agent token that `ready` returned.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rackhand_api::{
    AgentCredential, DeploySettings, FailedReport, Installed, Inventory, NodeId, NodeRecord, OsReport, PlanResults,
    ProgressReport, RegisterNode,
};
use serde::de::DeserializeOwned;

use super::auth::{Admin, Bearer};
use super::{ApiError, AppState};
use crate::nodes::{NodeError, Nodes};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/nodes", get(list).post(register))
        .route("/nodes/{id}", get(show))
        .route("/nodes/{id}/reprovision", post(reprovision))
        .route("/nodes/{id}/inventory", post(inventory))
        .route("/nodes/{id}/events", post(event))
        .route("/nodes/{id}/deploy", get(deploy))
        .route("/nodes/{id}/installed", post(installed))
        .route("/nodes/{id}/failed", post(failed))
        .route("/nodes/{id}/ready", post(ready))
        .route("/nodes/{id}/health", post(health))
}

/// A JSON body whose rejection says what was wrong with it (field, line, column) as an API error.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    let status = match rejection {
        JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => rejection.status(),
    };
    ApiError::new(status, rejection.body_text())
}

/// Run a node-service call off the async threads (the store is synchronous).
pub(super) async fn on_nodes<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&Nodes) -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    let nodes = state.nodes.clone();
    Ok(tokio::task::spawn_blocking(move || call(&nodes)).await??)
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<NodeRecord>>, ApiError> {
    on_nodes(&state, Nodes::list).await.map(Json)
}

async fn show(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<NodeRecord>, ApiError> {
    on_nodes(&state, move |n| n.get(NodeId(id))).await.map(Json)
}

async fn register(
    State(state): State<AppState>,
    _: Admin,
    Body(req): Body<RegisterNode>,
) -> Result<(StatusCode, Json<NodeRecord>), ApiError> {
    let mac = req.mac;
    let node = on_nodes(&state, move |n| n.register(req)).await?;
    tracing::info!(%mac, node = %node.id, "node registered by admin");
    Ok((StatusCode::CREATED, Json(node)))
}

async fn reprovision(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Json<NodeRecord>, ApiError> {
    let node = on_nodes(&state, move |n| n.reprovision(NodeId(id))).await?;
    tracing::info!(node = %node.id, "reprovision requested");
    Ok(Json(node))
}

/// `?profile=NAME`: the profile the installer judged this inventory against.
#[derive(Debug, serde::Deserialize)]
struct InventoryQuery {
    profile: Option<String>,
}

async fn inventory(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<InventoryQuery>,
    Bearer(token): Bearer,
    Body(inventory): Body<Inventory>,
) -> Result<Json<NodeRecord>, ApiError> {
    on_nodes(&state, move |n| n.post_inventory(NodeId(id), token.expose(), inventory, query.profile)).await.map(Json)
}

async fn event(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Bearer(token): Bearer,
    Body(report): Body<ProgressReport>,
) -> Result<Json<NodeRecord>, ApiError> {
    on_nodes(&state, move |n| n.post_progress(NodeId(id), token.expose(), report)).await.map(Json)
}

/// The installer asks how to configure the installed OS (node token).
async fn deploy(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Bearer(token): Bearer,
) -> Result<Json<DeploySettings>, ApiError> {
    on_nodes(&state, move |n| n.deploy_settings(NodeId(id), token.expose())).await.map(Json)
}

/// The disk is written and the installer restarts the server (node token): `installing → rebooting`.
async fn installed(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Bearer(token): Bearer,
    Body(results): Body<PlanResults>,
) -> Result<Json<Installed>, ApiError> {
    let (node, installed) = on_nodes(&state, move |n| n.mark_installed(NodeId(id), token.expose(), results)).await?;
    let deadline = node.deadline.as_ref().map(|d| d.at);
    tracing::info!(node = %node.id, ?deadline, "install complete: waiting for the server to network-boot");
    Ok(Json(installed))
}

/// The installed OS's first report (deploy credential): `rebooting | first_boot → ready`.
async fn ready(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Bearer(credential): Bearer,
    Body(report): Body<OsReport>,
) -> Result<Json<AgentCredential>, ApiError> {
    let (node, agent) = on_nodes(&state, move |n| n.mark_ready(NodeId(id), credential.expose(), report)).await?;
    tracing::info!(node = %node.id, "the installed OS reported in: node is ready");
    Ok(Json(agent))
}

/// The running OS's later reports (agent token): the latest is kept.
async fn health(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Bearer(token): Bearer,
    Body(report): Body<OsReport>,
) -> Result<StatusCode, ApiError> {
    on_nodes(&state, move |n| n.post_health(NodeId(id), token.expose(), report)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn failed(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Bearer(token): Bearer,
    Body(report): Body<FailedReport>,
) -> Result<Json<NodeRecord>, ApiError> {
    let node = on_nodes(&state, move |n| n.mark_failed(NodeId(id), token.expose(), report)).await?;
    tracing::warn!(node = %node.id, reason = node.failure.as_ref().map(|f| f.reason.as_str()), "node failed");
    Ok(Json(node))
}
