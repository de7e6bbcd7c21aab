//! An axum API behind crossgate-tower: the policy from a TOML file (or a built-in one), debug
//! mode on, and `tracing` output so that every refused request says why.
//!
//! ```text
//! cargo run -p crossgate-tower --example axum                 # listens on 127.0.0.1:3000
//! cargo run -p crossgate-tower --example axum -- policy.toml  # your policy
//! curl -i -X OPTIONS http://127.0.0.1:3000/api/items/1 \
//!   -H 'origin: http://localhost:5173' -H 'access-control-request-method: PUT' \
//!   -H 'access-control-request-headers: content-type'
//! ```

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use crossgate::Policy;
use crossgate_tower::CorsLayer;

/// Used when no policy file is given: a Vite dev server and the production app.
const DEFAULT_POLICY: &str = r#"
allow_origins = ["http://localhost:5173", "https://app.example.com"]
allow_methods = ["PUT", "DELETE"]
allow_headers = ["content-type", "authorization"]
expose_headers = ["x-request-id"]
allow_credentials = true
max_age = 600
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .init();

    let text = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the policy file {path}: {e}"))?,
        None => DEFAULT_POLICY.to_owned(),
    };
    // Every problem of the policy at once, each with the value, why and the fix.
    let policy = Policy::from_toml(&text)?;
    for warning in policy.warnings() {
        tracing::warn!("policy: {warning}");
    }

    let app =
        Router::new()
            .route(
                "/api/items/{id}",
                get(|Path(id): Path<u32>| async move { format!("item {id}") })
                    .put(|Path(id): Path<u32>, body: String| async move {
                        format!("stored {id}: {body}")
                    })
                    .delete(|| async { axum::http::StatusCode::NO_CONTENT }),
            )
            .layer(CorsLayer::new(policy).debug(true));

    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
