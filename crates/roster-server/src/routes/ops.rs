//! Operations endpoints: liveness and readiness.

use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// The revision the decision index has reached.
    pub revision: u64,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ok`.
    pub status: &'static str,
    /// The revision the decision index has reached.
    pub revision: u64,
    /// The revision committed in the database.
    pub database_revision: u64,
    /// How many revisions this process is behind the database (a replica
    /// following other replicas' writes; 0 when current).
    pub lag: u64,
}

/// Liveness: the process answers (no database round trip).
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    security(),
    responses((status = 200, body = Health, description = "The process answers."))
)]
pub async fn healthz(State(s): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        revision: s.engine.revision(),
    })
}

/// Readiness: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    security(),
    responses(
        (status = 200, body = Readiness, description = "The database answers; how far behind it this process is."),
        (status = 503, body = Problem, description = "The database does not answer."),
    )
)]
pub async fn readyz(State(s): State<AppState>) -> Result<axum::Json<Readiness>, ApiError> {
    let database_revision = s
        .store
        .current_revision()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database: {e}")))?;
    let revision = s.engine.revision();
    Ok(axum::Json(Readiness {
        status: "ok",
        revision,
        database_revision,
        lag: database_revision.saturating_sub(revision),
    }))
}
