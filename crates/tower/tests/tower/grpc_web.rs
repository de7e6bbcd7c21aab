//! gRPC-Web from a browser page through tonic: the layer around a tonic server (tonic-web for the
//! protocol, tonic-health for a real generated service), on loopback.

use std::net::SocketAddr;

use crossgate::Policy;
use crossgate_tower::CorsLayer;
use tonic_web::GrpcWebLayer;

use crate::support::{send, send_bytes};

const PAGE: &str = "http://localhost:5173";

/// What gRPC-Web clients need: POST with their headers, and the status headers readable.
fn grpc_web_policy() -> Policy {
    Policy::from_toml(
        r#"
        allow_origins = ["http://localhost:5173"]
        allow_headers = ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"]
        expose_headers = ["grpc-status", "grpc-message"]
        max_age = 600
        "#,
    )
    .expect("valid")
}

async fn serve_tonic() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let router = tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(CorsLayer::new(grpc_web_policy()))
        .layer(GrpcWebLayer::new())
        .add_service(health);
    tokio::spawn(async move {
        router
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .expect("serve");
    });
    addr
}

const CHECK: &str = "/grpc.health.v1.Health/Check";

#[tokio::test]
async fn grpc_web_preflight_and_call_through_tonic() {
    let addr = serve_tonic().await;
    let preflight = send(
        addr,
        "OPTIONS",
        CHECK,
        &[
            ("origin", PAGE),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,x-grpc-web,x-user-agent",
            ),
        ],
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin").as_deref(),
        Some(PAGE)
    );
    assert_eq!(
        preflight.header("access-control-allow-headers").as_deref(),
        Some("content-type, x-grpc-web, x-user-agent, grpc-timeout")
    );

    // HealthCheckRequest { service: "" }: an empty message in one uncompressed frame.
    let request = [0u8, 0, 0, 0, 0];
    let (parts, body) = send_bytes(
        addr,
        "POST",
        CHECK,
        &[
            ("origin", PAGE),
            ("content-type", "application/grpc-web+proto"),
            ("x-grpc-web", "1"),
        ],
        &request,
    )
    .await;
    assert_eq!(parts.status, 200);
    assert_eq!(parts.headers["access-control-allow-origin"], PAGE);
    assert_eq!(
        parts.headers["access-control-expose-headers"],
        "grpc-status, grpc-message"
    );
    // HealthCheckResponse { status: SERVING (1) }, then the trailers frame with grpc-status 0.
    assert_eq!(&body[..7], &[0u8, 0, 0, 0, 2, 0x08, 0x01], "{body:?}");
    let trailers = String::from_utf8_lossy(&body[7..]);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

#[tokio::test]
async fn grpc_web_from_a_refused_origin_is_refused_at_the_preflight() {
    let addr = serve_tonic().await;
    let preflight = send(
        addr,
        "OPTIONS",
        CHECK,
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type,x-grpc-web"),
        ],
    )
    .await;
    assert_eq!(preflight.status, 403);
    assert_eq!(preflight.cors_headers(), Vec::<String>::new());
}
