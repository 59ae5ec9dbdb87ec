//! `/assets/…` and `/images/…`: files from one root each, resolved by [`crate::served_root`] (so a link
//! out of the root is refused exactly as over TFTP), then served by tower-http's `ServeFile` from their
//! canonical path, with Range, conditional requests and HEAD. `..` and encoded forms of it (`%2e%2e`,
//! `..%2f`) arrive here decoded by the `Path` extractor and are refused as components. Plain GET and HEAD
//! never arrive: the connection loop serves them by `sendfile` (`sendfile.rs`, the same resolution and
//! answers); what it leaves to the router (If-Range, If-Match, a body) is served here.

use std::path::{Path, PathBuf};

use axum::extract::{Path as Tail, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower_http::services::ServeFile;

use super::file_response::Plan;
use super::{AppState, FILE_CHUNK};
use crate::served_root;

pub async fn asset(State(state): State<AppState>, Tail(path): Tail<String>, request: Request) -> Response {
    serve(&state.config.boot.assets_dir, path, request).await
}

pub async fn image(State(state): State<AppState>, Tail(path): Tail<String>, request: Request) -> Response {
    serve(&state.config.boot.images_dir, path, request).await
}

async fn serve(root: &Path, requested: String, request: Request) -> Response {
    let root = root.to_owned();
    let requested = PathBuf::from(requested);
    let shown = requested.display().to_string();
    let resolved = tokio::task::spawn_blocking(move || served_root::resolve_under(&root, &requested)).await;
    let full = match resolved {
        Ok(Ok(full)) => full,
        Ok(Err(refused)) => {
            let plan = Plan::refused(&refused, &shown);
            let status = StatusCode::from_u16(plan.status).unwrap_or(StatusCode::NOT_FOUND);
            return (status, plan.body).into_response();
        }
        Err(err) => {
            tracing::error!(%err, path = %shown, "resolving a served path panicked");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    match ServeFile::new(&full).with_buf_chunk_size(FILE_CHUNK).try_call(request).await {
        Ok(response) => response.into_response(),
        Err(err) => {
            tracing::error!(%err, path = %full.display(), "reading a served file failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
