//! Mounting `/metrics` in the service's own axum router, next to its own routes.
//!
//! `cargo run --example axum_router [-- --listen 127.0.0.1:3000 --duration 30s]`, then
//! `curl http://127.0.0.1:3000/metrics` (or with `-H 'Accept: application/openmetrics-text'`).
//! `--duration 0` (the default) runs until Ctrl-C.

#[path = "common/args.rs"]
mod args;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use perf_instrument::{Histogram, Opts, Registry, Unit};
use std::time::Duration;

#[derive(Clone)]
struct App {
    registry: Registry,
    orders: Histogram,
}

/// The service's own route, timed into a histogram.
async fn create_order(State(app): State<App>) -> &'static str {
    let timer = app.orders.start_timer();
    tokio::time::sleep(Duration::from_millis(2)).await;
    drop(timer);
    "order accepted\n"
}

/// `/metrics`: rendering is CPU work, so it runs off the async worker threads.
async fn metrics(State(app): State<App>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let rendered = tokio::task::spawn_blocking(move || {
        perf_instrument::render(&app.registry, accept.as_deref())
    })
    .await;
    match rendered {
        Ok((content_type, body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args::Args::parse(
        "axum_router",
        &[("--listen", "ADDR"), ("--duration", "30s")],
    );
    let listen = args
        .string("--listen")
        .unwrap_or_else(|| "127.0.0.1:3000".to_string());
    let run_for = args.duration("--duration", Duration::ZERO);
    let registry = Registry::new();
    let orders = registry
        .register_histogram(
            Opts::new("order_create_duration_seconds", "Time to accept an order.")
                .unit(Unit::Seconds),
        )?
        .with_label_values(&[]);
    let app = App { registry, orders };
    let router = Router::new()
        .route("/orders", get(create_order))
        .route("/metrics", get(metrics))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "serving http://{}/metrics and /orders",
        listener.local_addr()?
    );
    let stop = async move {
        if run_for.is_zero() {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            tokio::time::sleep(run_for).await;
        }
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await?;
    Ok(())
}
