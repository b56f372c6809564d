//! Prometheus metrics: requests by route and status, latency histograms, and whatever the engine
//! counts (tokens issued by grant). One recorder per process.
//!
//! Memory: every label set is bounded — routes are the router's templates, methods the ones
//! HTTP names (anything else is `other`), statuses the codes the server answers — and the
//! recorder is kept up every few seconds by the server's upkeep (`upkeep`): without that, each latency sample
//! waits in memory (about 16 bytes) until a scrape folds it into the histogram's buckets, so a
//! server nobody scrapes grows with every request.

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls answer the same handle.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}

/// Folds the latency samples recorded since the last call into their buckets (the server's
/// upkeep calls it every few seconds; a scrape does the same).
pub fn upkeep(handle: &PrometheusHandle) {
    handle.run_upkeep();
}

/// The `method` label: a client may send any token as a method, and each would be a new label
/// set; the methods HTTP defines keep their name, the rest are `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics_get))
}

async fn metrics_get(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            )],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable",
        )
            .into_response(),
    }
}

/// Counts every request by method, matched route (never the raw path, which can hold ids) and
/// status, and records its latency.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let start = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("tessera_http_requests_total", "method" => method, "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("tessera_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_http_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let labels: std::collections::BTreeSet<&str> = (0..1_000)
            .map(|i| Method::from_bytes(format!("M{i}").as_bytes()).unwrap())
            .map(|m| method_label(&m))
            .collect();
        assert_eq!(labels.into_iter().collect::<Vec<_>>(), ["other"]);
    }
}
