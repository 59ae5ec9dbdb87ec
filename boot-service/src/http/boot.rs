//! `GET /boot/<mac>.ipxe`: the per-node iPXE script that DHCP points iPXE at.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use rackhand_api::MacAddr;

use super::{ApiError, AppState};
use crate::boot_script;
use crate::nodes::{BootAction, NodeError};

pub async fn script(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let mac: MacAddr = file
        .strip_suffix(".ipxe")
        .ok_or_else(|| ApiError::bad_request(format!("`{file}`: expected /boot/<mac>.ipxe")))?
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{e}")))?;
    if !mac.is_unicast() {
        return Err(ApiError::bad_request(format!(
            "{mac} is a broadcast, multicast or all-zero MAC: no NIC boots from it"
        )));
    }
    let client_ip = match peer.ip() {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(ip) => ip.to_ipv4_mapped(),
    };
    let enrol = state.config.dhcp.enrols_strangers_from(peer.ip());

    let nodes = state.nodes.clone();
    let action = match tokio::task::spawn_blocking(move || nodes.script_request(mac, client_ip, enrol)).await? {
        Ok(action) => action,
        Err(NodeError::NotSeenBooting(why)) => {
            tracing::warn!(%mac, client = %peer.ip(), %why, "refused a script request no DHCP boot backs");
            return Err(NodeError::NotSeenBooting(why).into());
        }
        Err(other) => return Err(other.into()),
    };

    let config = &state.config;
    let body = match &action {
        Some(BootAction::Install { node, token }) => {
            tracing::info!(%mac, node = %node.id, "serving installer script");
            boot_script::install(&config.http, &config.boot, node, mac, token)
        }
        Some(BootAction::Handover { node }) => {
            tracing::info!(%mac, node = %node.id, state = %node.state, "install done: serving the handover to its disk");
            boot_script::handover(node, mac)
        }
        None => {
            tracing::warn!(%mac, client = ?client_ip, "iPXE script asked for by an unregistered MAC");
            boot_script::not_enrolled(mac)
        }
    };
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}
