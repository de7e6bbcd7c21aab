//! `crossgate audit` against the zoo (`zoo.rs`): one server per classic CORS mistake, answers
//! browsers refuse, and correct configurations.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::zoo::{HOST, Kind, PATH, Zoo};

/// The zoo's servers apply their rule: a raw request from an origin, the
/// `Access-Control-Allow-Origin` lines of the answer.
#[test]
fn zoo_servers_apply_their_rule() {
    let zoo = Zoo::http();
    let allow_origin = |port: u16, origin: &str| -> Vec<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the zoo listens");
        write!(
            stream,
            "GET {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
        )
        .expect("a request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("an answer");
        answer
            .lines()
            .filter_map(|l| l.strip_prefix("access-control-allow-origin: "))
            .map(str::to_owned)
            .collect()
    };
    let evil = "https://www.target.test.crossgate-evil.example";
    let cases: [(Kind, &str, &[&str]); 6] = [
        (Kind::ReflectAny, evil, &[evil]),
        (Kind::PrefixMatch, evil, &[evil]),
        (Kind::SpecialCharacters, evil, &[]),
        (Kind::UpperCase, "https://a.test", &["HTTPS://A.TEST"]),
        (
            Kind::OtherPort,
            "https://a.test:1",
            &["https://a.test:8443"],
        ),
        (Kind::PublicWildcard, evil, &["*"]),
    ];
    for (kind, origin, want) in cases {
        let port = zoo.spawn(kind);
        assert_eq!(allow_origin(port, origin), want, "{kind:?}");
    }
    for kind in Kind::ALL {
        let port = zoo.spawn(kind);
        let _ = allow_origin(port, "null");
    }
}
