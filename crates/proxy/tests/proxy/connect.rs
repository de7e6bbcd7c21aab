//! The guarded connector: refusals happen before any socket is opened, every resolved address is
//! checked, and allowed targets really connect (through hyper-util's client).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use crossgate_proxy::connect::{ConnectError, GuardedConnector, Ports, TargetRules};
use crossgate_proxy::ssrf::Range;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::support::{MapResolver, RecordingDialer};

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

/// An upstream on 127.0.0.1 answering "upstream says hi".
async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|_: Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                            "upstream says hi",
                        ))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    local
}

fn connector(
    rules: TargetRules,
    resolver: &MapResolver,
    dialer: &RecordingDialer,
) -> GuardedConnector {
    GuardedConnector::with_hooks(rules, resolver.clone(), dialer.clone())
}

fn any_port(allow_private: bool) -> TargetRules {
    TargetRules {
        allow_private,
        ports: Ports::Any,
        hosts: None,
    }
}

async fn connect(c: &GuardedConnector, uri: &str) -> Result<TcpStream, ConnectError> {
    c.connect(&uri.parse::<Uri>().expect("a URI")).await
}

fn refused_range(result: Result<TcpStream, ConnectError>) -> (Range, String) {
    match result {
        Err(ConnectError::Refused { refusal, host }) => {
            let e = ConnectError::Refused { refusal, host };
            (refusal.range, e.to_string())
        }
        Err(other) => panic!("expected an address refusal, got {other}"),
        Ok(_) => panic!("expected an address refusal, got a connection"),
    }
}

#[tokio::test]
async fn loopback_is_refused_before_any_socket_unless_private_networks_are_allowed() {
    let up = upstream().await;
    let (resolver, dialer) = (MapResolver::default(), RecordingDialer::default());
    let guarded = connector(any_port(false), &resolver, &dialer);
    for uri in [
        format!("http://127.0.0.1:{}/", up.port()),
        format!("http://2130706433:{}/", up.port()),
        format!("http://0x7f.1:{}/", up.port()),
        format!("http://127.1:{}/", up.port()),
        format!("http://[::1]:{}/", up.port()),
        format!("http://[::ffff:127.0.0.1]:{}/", up.port()),
        format!("http://0.0.0.0:{}/", up.port()),
    ] {
        let (range, message) = refused_range(connect(&guarded, &uri).await);
        assert!(
            matches!(range, Range::Loopback | Range::Unspecified),
            "{uri}: {range:?}"
        );
        assert!(message.contains("--allow-private"), "{message}");
    }
    assert_eq!(
        dialer.dialled(),
        Vec::<SocketAddr>::new(),
        "nothing was dialled"
    );
    assert_eq!(
        resolver.asked.lock().expect("not poisoned").len(),
        0,
        "numeric hosts are not looked up"
    );

    // The same target with private networks allowed: a real connection, and a real answer.
    let open = connector(any_port(true), &resolver, &dialer);
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(open);
    let response = client
        .get(
            format!("http://127.0.0.1:{}/", up.port())
                .parse()
                .expect("URI"),
        )
        .await
        .expect("allowed");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body, "upstream says hi");
    assert_eq!(dialer.dialled(), vec![up]);
}

#[tokio::test]
async fn every_resolved_address_is_checked_so_rebinding_cannot_slip_through() {
    let up = upstream().await;
    let mut resolver = MapResolver::default();
    resolver.names.insert("rebind.test", vec![up]);
    resolver
        .names
        .insert("metadata.test", vec![addr("169.254.169.254:80")]);
    resolver
        .names
        .insert("mixed.test", vec![addr("8.8.8.8:80"), addr("10.0.0.1:80")]);
    resolver
        .names
        .insert("mapped.test", vec![addr("[::ffff:192.168.1.1]:80")]);
    resolver
        .names
        .insert("nat64.test", vec![addr("[64:ff9b::a9fe:a9fe]:80")]);
    resolver
        .names
        .insert("cgnat.test", vec![addr("100.64.1.1:80")]);
    resolver
        .names
        .insert("ula.test", vec![addr("[fd00::1]:80")]);
    let dialer = RecordingDialer::default();
    let guarded = connector(any_port(false), &resolver, &dialer);
    for (host, expected) in [
        ("rebind.test", Range::Loopback),
        ("metadata.test", Range::LinkLocal),
        ("mixed.test", Range::Private),
        ("mapped.test", Range::Private),
        ("nat64.test", Range::LinkLocal),
        ("cgnat.test", Range::SharedAddressSpace),
        ("ula.test", Range::Private),
    ] {
        let (range, message) =
            refused_range(connect(&guarded, &format!("http://{host}:{}/", up.port())).await);
        assert_eq!(range, expected, "{host}: {message}");
        assert!(message.starts_with(host), "{message}");
    }
    assert_eq!(
        dialer.dialled(),
        Vec::<SocketAddr>::new(),
        "nothing was dialled"
    );
}

#[tokio::test]
async fn a_public_address_passes_the_guard_and_is_dialled() {
    // The recording dialer stands in for the network: it records the dial and refuses to send.
    let mut resolver = MapResolver::default();
    resolver
        .names
        .insert("api.example.com", vec![addr("93.184.216.34:443")]);
    let dialer = RecordingDialer::default();
    let guarded = connector(TargetRules::default(), &resolver, &dialer);
    match connect(&guarded, "https://api.example.com/v1").await {
        Err(ConnectError::Dial(a, _)) => assert_eq!(a, addr("93.184.216.34:443")),
        Err(other) => panic!("expected the test dialer's refusal, got {other}"),
        Ok(_) => panic!("the test dialer never connects outside loopback"),
    }
    assert_eq!(dialer.dialled(), vec![addr("93.184.216.34:443")]);
}

#[tokio::test]
async fn scheme_port_and_host_rules_come_first() {
    let mut resolver = MapResolver::default();
    resolver
        .names
        .insert("api.example.com", vec![addr("93.184.216.34:80")]);
    let dialer = RecordingDialer::default();
    let default_rules = connector(TargetRules::default(), &resolver, &dialer);
    let error = |r: Result<TcpStream, ConnectError>| match r {
        Err(e) => (e.code(), e.is_refusal(), e.to_string()),
        Ok(_) => panic!("expected an error"),
    };
    let (code, refusal, message) = error(connect(&default_rules, "ftp://api.example.com/").await);
    assert_eq!((code, refusal), ("scheme-not-allowed", true), "{message}");
    let (code, _, message) = error(connect(&default_rules, "http://api.example.com:6379/").await);
    assert_eq!(code, "port-not-allowed", "{message}");
    assert!(message.contains("6379"), "{message}");

    let allowlisted = connector(
        TargetRules {
            hosts: Some(BTreeSet::from(["api.example.com".to_owned()])),
            ..TargetRules::default()
        },
        &resolver,
        &dialer,
    );
    let (code, _, message) = error(connect(&allowlisted, "http://other.example.com/").await);
    assert_eq!(code, "host-not-allowed", "{message}");
    let (code, refusal, _) = error(connect(&allowlisted, "http://API.example.com/").await);
    assert_eq!(
        (code, refusal),
        ("connect-failed", false),
        "allowlisted, then dialled"
    );
    assert_eq!(dialer.dialled(), vec![addr("93.184.216.34:80")]);

    let (code, refusal, message) = error(connect(&default_rules, "http://nowhere.test/").await);
    assert_eq!((code, refusal), ("dns-failure", false), "{message}");
}
