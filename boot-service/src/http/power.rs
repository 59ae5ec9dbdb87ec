//! The node API's BMC routes (admin only): set or remove a node's BMC, its power state, power actions,
//! the next boot device. The BMC's credentials come in and never go out: the record answered says only
//! where the BMC is, nothing here logs a request body, and a body that does not parse is refused without
//! echoing its values.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use rackhand_api::{BootDeviceRequest, NodeId, NodeRecord, PowerRequest, PowerStatus, SetBmc};

use super::api::{Body, on_nodes};
use super::auth::Admin;
use super::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/nodes/{id}/bmc", put(set_bmc).delete(remove_bmc))
        .route("/nodes/{id}/power", get(power_state).post(power))
        .route("/nodes/{id}/boot-device", axum::routing::post(boot_device))
}

async fn set_bmc(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<NodeRecord>, ApiError> {
    let set = parse_set_bmc(&body)?;
    let node = on_nodes(&state, move |n| n.set_bmc(NodeId(id), Some(set))).await?;
    tracing::info!(node = %node.id, bmc = %node.bmc.as_ref().map(ToString::to_string).unwrap_or_default(), "BMC set by admin");
    Ok(Json(node))
}

/// The BMC settings, or a refusal that names the field (unknown, missing) or the place, never a value:
/// serde's other messages quote what was sent, which may be the password.
fn parse_set_bmc(body: &[u8]) -> Result<SetBmc, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        let names_only = text.starts_with("unknown field") || text.starts_with("missing field");
        let message = if names_only {
            format!("BMC settings: {text}")
        } else {
            format!(
                "BMC settings: not a JSON object of host, port, username and password (strings; port a number) \
                 at line {} column {}",
                e.line(),
                e.column()
            )
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    })
}

async fn remove_bmc(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Json<NodeRecord>, ApiError> {
    let node = on_nodes(&state, move |n| n.set_bmc(NodeId(id), None)).await?;
    tracing::info!(node = %node.id, "BMC removed by admin");
    Ok(Json(node))
}

async fn power_state(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Json<PowerStatus>, ApiError> {
    on_nodes(&state, move |n| n.power_state(NodeId(id))).await.map(Json)
}

async fn power(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<i64>,
    Body(request): Body<PowerRequest>,
) -> Result<Json<PowerStatus>, ApiError> {
    tracing::info!(node = id, action = request.action.as_str(), "power action requested");
    on_nodes(&state, move |n| n.power(NodeId(id), request.action)).await.map(Json)
}

async fn boot_device(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<i64>,
    Body(request): Body<BootDeviceRequest>,
) -> Result<StatusCode, ApiError> {
    tracing::info!(node = id, device = request.device.as_str(), "next boot device requested");
    on_nodes(&state, move |n| n.next_boot(NodeId(id), request.device)).await?;
    Ok(StatusCode::NO_CONTENT)
}
