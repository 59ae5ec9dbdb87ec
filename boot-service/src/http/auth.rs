//! Bearer tokens: the admin token from the config for mutating admin calls, and the credentials minted
//! for each node (node token, deploy credential, agent token) for its own calls, checked by the node
//! service against the stored hash. Tokens are never logged: the extractors keep them out of every span
//! and error message.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::token::Secret;

/// The bearer credential a node presented; the node service decides whether it is valid for the call.
pub struct Bearer(pub Secret);

/// Proof that the request carried the admin token.
pub struct Admin;

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    let value = value.to_str().map_err(|_| ApiError::unauthorized("Authorization header is not text"))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Authorization header must be `Bearer <token>`"))
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        Ok(Bearer(Secret::new(bearer(parts)?.to_owned())))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.admin_token.matches(bearer(parts)?) {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized("admin token is wrong"))
        }
    }
}
