//! gRPC-Web for browser clients: a tonic server (the standard health service, generated in the
//! tonic-health crate) with tonic-web for the protocol and crossgate-tower for CORS.
//!
//! ```text
//! cargo run -p crossgate-tower --example tonic_web   # listens on 127.0.0.1:50051
//! # The preflight a grpc-web client in a page on http://localhost:5173 sends first:
//! curl -i -X OPTIONS http://127.0.0.1:50051/grpc.health.v1.Health/Check \
//!   -H 'origin: http://localhost:5173' -H 'access-control-request-method: POST' \
//!   -H 'access-control-request-headers: content-type,x-grpc-web,x-user-agent'
//! ```
//!
//! The order matters: CORS outside gRPC-Web, so that preflights are answered before tonic-web
//! sees them, and the `grpc-status` and `grpc-message` headers of every answer are readable by
//! the page (`expose_headers`).

use crossgate::Policy;
use crossgate_tower::CorsLayer;
use tonic_web::GrpcWebLayer;

const POLICY: &str = r#"
allow_origins = ["http://localhost:5173"]
allow_headers = ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization"]
expose_headers = ["grpc-status", "grpc-message", "grpc-status-details-bin"]
max_age = 600
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .init();
    let policy = Policy::from_toml(POLICY)?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    let addr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:50051".to_owned())
        .parse()?;
    tracing::info!("gRPC and gRPC-Web on http://{addr}");
    tonic::transport::Server::builder()
        // Browsers speak gRPC-Web over HTTP/1.1.
        .accept_http1(true)
        .layer(CorsLayer::new(policy))
        .layer(GrpcWebLayer::new())
        .add_service(health)
        .serve(addr)
        .await?;
    Ok(())
}
