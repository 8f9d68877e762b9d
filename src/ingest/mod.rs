//! The ingest HTTP API (Segment-compatible).
use std::sync::Arc;

use axum::{routing::get, Router};

use crate::app::AppState;

/// The full router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}
