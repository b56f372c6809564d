//! Liveness and readiness: live answers while the process runs; ready checks that the database
//! answers and every migration is applied.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live_get))
        .route("/health/ready", get(ready_get))
}

async fn live_get() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready_get(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.engine.store.ready().await {
        Ok(true) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "migrations are not applied" })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
            )
        }
    }
}
