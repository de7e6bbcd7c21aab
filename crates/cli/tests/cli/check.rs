//! `crossgate check` against real servers on 127.0.0.1: a correct CORS server, fixed answers,
//! a closed port, a server that never answers, HTTPS with a self-signed certificate.

use serde_json::{Value, json as j};

use super::servers::{self, PAGE, Tls};
use super::{Run, TempDir, crossgate, json};

fn check(url: &str, extra: &[&str]) -> Run {
    let mut args = vec!["check", url];
    args.extend_from_slice(extra);
    crossgate(&args)
}

fn assert_has(run: &Run, expected: &str) {
    assert!(
        run.stdout.contains(expected),
        "missing {expected:?} in:\n{}",
        run.stdout
    );
}

#[test]
fn check_allowed_get() {
    let server = servers::cors(None);
    let url = server.url("http", "/items");
    let run = check(&url, &["--origin", PAGE, "--credentials", "omit"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..5],
        [
            format!("GET {url} from origin {PAGE} (credentials: omit, chromium)").as_str(),
            "",
            format!("> GET {url}").as_str(),
            format!(">   Origin: {PAGE}").as_str(),
            "< 200 OK",
        ]
    );
    assert_has(&run, &format!("<   access-control-allow-origin: {PAGE}\n"));
    assert_has(&run, "<   access-control-expose-headers: x-total\n");
    assert_has(&run, "<   vary: Origin\n");
    assert_has(
        &run,
        &format!("  ✓ Access-Control-Allow-Origin: \"{PAGE}\" for origin {PAGE}\n"),
    );
    assert_has(&run, "\nallowed: fetch() resolves with status 200\n");
    assert_has(&run, "  script can read: content-length, x-total\n");

    // Exactly what the browser sends: Origin, and what HTTP needs; no cookie, no user agent.
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/items");
    let mut names: Vec<&str> = seen[0].headers.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["host", "origin"]);
    assert_eq!(seen[0].headers["origin"], PAGE);

    let run = check(&url, &["--origin", PAGE, "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        json(&run),
        j!({
            "name": url,
            "outcome": "allowed",
            "status": 200,
            "preflight_sent": false,
            "requests": [{"method": "GET", "url": url, "origin": PAGE, "acrm": null, "acrh": null}],
            "readable_headers": ["content-length", "x-total"],
            "console": [],
        })
    );
}

#[test]
fn check_blocked_origin() {
    let server = servers::cors(None);
    let url = server.url("http", "/items");
    let evil = "http://127.0.0.1:8666";
    let console = format!(
        "Access to fetch at '{url}' from origin '{evil}' has been blocked by CORS policy: \
         No 'Access-Control-Allow-Origin' header is present on the requested resource."
    );
    let run = check(&url, &["--origin", evil]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "");
    assert_has(
        &run,
        "\nblocked: fetch() rejects with TypeError: Failed to fetch\n",
    );
    assert_has(&run, &format!("\nconsole: {console}\n"));
    // Regression: the failed check used to be marked passed.
    assert_has(
        &run,
        &format!("\n  ✗ Access-Control-Allow-Origin: missing for origin {evil}\n"),
    );
    assert_has(
        &run,
        &format!(
            "fix: the response does not allow any origin to read it.\n  server:\n    \
             Access-Control-Allow-Origin: {evil}\n    Vary: Origin\n  policy:\n    \
             allow_origins = [\"{evil}\"]\n"
        ),
    );

    let run = check(&url, &["--origin", evil, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let result = json(&run);
    assert_eq!(result["outcome"], "blocked");
    assert_eq!(result["status"], Value::Null);
    assert_eq!(result["console"], j!([console]));
}

#[test]
fn check_preflighted_put_with_custom_header() {
    let server = servers::cors(None);
    let url = server.url("http", "/items");
    let args = [
        "--origin",
        PAGE,
        "-X",
        "PUT",
        "-H",
        "X-Foo: 1",
        "-H",
        "Content-Type: application/json",
        "--body",
        "{}",
    ];
    let run = check(&url, &args);
    assert_eq!(run.code, 0, "{run:?}");
    for expected in [
        format!("PUT {url} from origin {PAGE} (credentials: same-origin, chromium)\n"),
        format!("> OPTIONS {url}  (preflight)\n"),
        format!(">   Origin: {PAGE}\n"),
        ">   Access-Control-Request-Method: PUT\n".to_owned(),
        ">   Access-Control-Request-Headers: content-type,x-foo\n".to_owned(),
        "< 204 No Content\n".to_owned(),
        "<   access-control-allow-methods: PUT\n".to_owned(),
        "<   access-control-max-age: 600\n".to_owned(),
        "  ✓ preflight status: 204\n".to_owned(),
        "  ✓ Access-Control-Allow-Methods: PUT allowed\n".to_owned(),
        "  ✓ Access-Control-Allow-Headers: content-type,x-foo allowed\n".to_owned(),
        format!("> PUT {url}\n"),
        ">   X-Foo: 1\n".to_owned(),
        ">   (2 bytes of body)\n".to_owned(),
        "allowed: fetch() resolves with status 200\n".to_owned(),
    ] {
        assert_has(&run, &expected);
    }
    let seen = server.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["OPTIONS", "PUT"]);
    assert_eq!(
        seen[0].headers["access-control-request-headers"],
        "content-type,x-foo"
    );
    assert_eq!(seen[1].headers["x-foo"], "1");
    assert_eq!(seen[1].headers["content-type"], "application/json");
    assert_eq!(seen[1].headers["content-length"], "2");

    // A header the policy does not allow: crossgate refuses the preflight outright (403, no
    // CORS headers), and Chromium says so.
    let run = check(&url, &["--origin", PAGE, "-X", "PUT", "-H", "X-Bar: 1"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_has(&run, "< 403 Forbidden\n");
    assert_has(
        &run,
        &format!(
            "console: Access to fetch at '{url}' from origin '{PAGE}' has been blocked by CORS policy: \
             Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' \
             header is present on the requested resource.\n"
        ),
    );
}

/// A server whose preflight answer allows the origin and the method but not the header.
#[test]
fn check_preflight_disallows_a_header() {
    let server = servers::fixed(
        204,
        &[
            ("Access-Control-Allow-Origin", PAGE),
            ("Access-Control-Allow-Methods", "PUT"),
            ("Access-Control-Allow-Headers", "x-foo"),
        ],
    );
    let url = server.url("http", "/items");
    let run = check(&url, &["--origin", PAGE, "-X", "PUT", "-H", "X-Bar: 1"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_has(&run, "  ✓ Access-Control-Allow-Methods: PUT allowed\n");
    assert_has(&run, "  ✗ Access-Control-Allow-Headers: \"x-foo\"\n");
    assert_has(
        &run,
        &format!(
            "console: Access to fetch at '{url}' from origin '{PAGE}' has been blocked by CORS policy: \
             Request header field x-bar is not allowed by Access-Control-Allow-Headers in preflight response.\n"
        ),
    );
    assert_has(
        &run,
        "fix: the preflight does not allow the request header x-bar\n  server:\n    \
         Access-Control-Allow-Headers: x-bar\n  policy:\n    allow_headers = [\"x-bar\"]\n",
    );
    let methods: Vec<String> = server.seen().into_iter().map(|s| s.method).collect();
    assert_eq!(methods, ["OPTIONS"], "the PUT is never sent");
}

/// With `Access-Control-Max-Age`, the second fetch finds the preflight in the cache.
#[test]
fn check_repeat_uses_the_preflight_cache() {
    let server = servers::cors(None);
    let url = server.url("http", "/items");
    let args = [
        "--origin", PAGE, "-X", "PUT", "-H", "X-Foo: 1", "--repeat", "2",
    ];
    let run = check(&url, &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(server.options(), 1, "one preflight for two fetches");
    let runs: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("run "))
        .collect();
    assert_eq!(runs.len(), 2, "{}", run.stdout);
    assert!(runs[0].starts_with("run 1 of 2, at 0.0"), "{}", runs[0]);
    assert!(runs[0].ends_with(": preflight sent"), "{}", runs[0]);
    assert!(runs[1].starts_with("run 2 of 2, at "), "{}", runs[1]);
    assert!(
        runs[1].ends_with(": no preflight (preflight cache)"),
        "{}",
        runs[1]
    );
    let second = &run.stdout[run.stdout.find("run 2 of 2").expect("run 2")..];
    assert!(
        second.contains(&format!(
            "  ✓ preflight cache: a cached preflight for {url} allows PUT x-foo\n> PUT {url}\n"
        )),
        "the cache check comes before the request it spares a preflight for:\n{second}"
    );
    assert!(!second.contains("> OPTIONS"), "{second}");
    assert!(
        run.stdout
            .ends_with("\n2 runs: 2 allowed, 0 blocked; 1 preflight sent\n"),
        "{}",
        run.stdout
    );

    let server = servers::cors(None);
    let url = server.url("http", "/items");
    let run = check(
        &url,
        &[
            "--origin", PAGE, "-X", "PUT", "-H", "X-Foo: 1", "--repeat", "3", "--json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let results = json(&run);
    let sent: Vec<&Value> = results
        .as_array()
        .expect("an array with --repeat")
        .iter()
        .map(|r| &r["preflight_sent"])
        .collect();
    assert_eq!(sent, [true, false, false]);
    assert_eq!(results[1]["requests"].as_array().map(Vec::len), Some(1));
    assert_eq!(server.options(), 1);
}

#[test]
fn check_credentials_with_wildcard() {
    let server = servers::fixed(
        200,
        &[
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Credentials", "true"),
        ],
    );
    let url = server.url("http", "/me");
    let run = check(&url, &["--origin", PAGE, "--credentials", "include"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_has(
        &run,
        &format!(
            "console: Access to fetch at '{url}' from origin '{PAGE}' has been blocked by CORS policy: \
             The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard \
             '*' when the request's credentials mode is 'include'.\n"
        ),
    );
    assert_has(&run, "fix: `*` never allows a request with credentials\n");

    // Without credentials the same answer is fine.
    let run = check(&url, &["--origin", PAGE, "--credentials", "omit"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn check_connection_refused() {
    let url = format!("http://{}/", servers::closed_port());
    for json in [false, true] {
        let mut args = vec!["--origin", PAGE];
        if json {
            args.push("--json");
        }
        let run = check(&url, &args);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .starts_with(&format!("crossgate: {url}: connection refused: ")),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert_eq!(run.stdout, "", "nothing was exchanged");
    }
}

#[test]
fn check_timed_out() {
    let url = format!("http://{}/slow", servers::silent());
    let run = check(&url, &["--origin", PAGE, "--timeout", "1"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!("crossgate: {url}: timed out: no response within 1 s\n")
    );
}

#[test]
fn check_https_with_self_signed_certificate() {
    let tls = Tls::self_signed();
    let server = servers::cors(Some(&tls));
    let url = server.url("https", "/items");
    let dir = TempDir::new("check-https");
    let cacert = dir.file("ca.pem", &tls.cert_pem);

    let run = check(&url, &["--origin", PAGE, "--cacert", &cacert]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_has(&run, "allowed: fetch() resolves with status 200\n");
    assert_eq!(server.seen().len(), 1);

    let run = check(&url, &["--origin", PAGE]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "crossgate: {url}: TLS error: invalid peer certificate"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--cacert"), "a hint: {}", run.stderr);
    assert_eq!(server.seen().len(), 1, "no request without a handshake");

    let not_pem = dir.file("not.pem", "hello\n");
    let run = check(&url, &["--origin", PAGE, "--cacert", &not_pem]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "crossgate: {not_pem}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)\n"
        )
    );
}

#[test]
fn check_usage_errors() {
    // Refused before anything is sent: the address is never contacted.
    let url = format!("http://{}/", servers::closed_port());
    let cases: [(&[&str], &str); 3] = [
        (
            &["--origin", PAGE, "-H", "NoColon"],
            "crossgate: -H NoColon: expected 'Name: value'\n",
        ),
        (&["--origin", "not an origin"], "crossgate: page origin "),
        (
            &["--origin", PAGE, "--cacert", "/nonexistent/ca.pem"],
            "crossgate: cannot read /nonexistent/ca.pem: ",
        ),
    ];
    for (args, message) in cases {
        let run = check(&url, args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with(message), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
    for args in [
        &["check", "http://127.0.0.1:1/"][..],
        &[
            "check",
            "http://127.0.0.1:1/",
            "--origin",
            PAGE,
            "--timeout",
            "0",
        ],
        &[
            "check",
            "http://127.0.0.1:1/",
            "--origin",
            PAGE,
            "--repeat",
            "0",
        ],
        &[
            "check",
            "http://127.0.0.1:1/",
            "--origin",
            PAGE,
            "--credentials",
            "all",
        ],
    ] {
        let run = crossgate(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn help_describes_check_and_simulate() {
    let run = crossgate(&["--help"]);
    assert!(run.stdout.contains("check"), "{}", run.stdout);
    assert!(run.stdout.contains("simulate"), "{}", run.stdout);
    let run = crossgate(&["check", "--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("\"preflight_sent\": bool"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("--cacert <PEM>"), "{}", run.stdout);
    // The long description, not only the one-line summary.
    assert!(
        run.stdout
            .contains("--repeat N runs the same fetch N times"),
        "{}",
        run.stdout
    );
    let run = crossgate(&["simulate", "--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("\"readable_headers\""),
        "{}",
        run.stdout
    );
}

/// The engine follows redirects, as the browser does; the transport never does on its own.
#[test]
fn check_redirect_is_followed_by_the_browser_with_a_tainted_origin() {
    let target = servers::cors(None);
    let final_url = target.url("http", "/new");
    let redirect = servers::fixed(
        302,
        &[
            ("Location", &final_url),
            ("Access-Control-Allow-Origin", "*"),
        ],
    );
    let url = redirect.url("http", "/old");
    let run = check(&url, &["--origin", PAGE, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let result = json(&run);
    assert_eq!(
        result["requests"],
        j!([
            {"method": "GET", "url": url, "origin": PAGE, "acrm": null, "acrh": null},
            {"method": "GET", "url": final_url, "origin": "null", "acrm": null, "acrh": null},
        ])
    );
    assert_eq!(
        result["console"][0],
        format!(
            "Access to fetch at '{final_url}' (redirected from '{url}') from origin '{PAGE}' has been \
             blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested \
             resource."
        )
    );
    assert_eq!(redirect.seen().len(), 1);
    let seen = target.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/new");
    assert_eq!(seen[0].headers["origin"], "null");
}

/// A server on 127.0.0.1 that answers each request with keep-alive semantics (HTTP/1.1,
/// `Content-Length: 0`, no `Connection: close`) and then closes the connection, as some servers
/// do after every answer: `/hop/N` redirects (302) to `/hop/N-1`, and `/hop/0` is a 200 any
/// origin may read. `curl -L` follows such a chain; a client that takes the closed connection
/// from its pool for the next hop fails ("connection reset by peer") unless it notices. A thread
/// per connection, as a real server serves them at once.
pub(crate) fn closing_redirects() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a local address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut chunk = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let hop: u32 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|path| path.strip_prefix("/hop/"))
                    .and_then(|n| n.split('?').next()?.parse().ok())
                    .unwrap_or(0);
                let answer = match hop {
                    0 => "HTTP/1.1 200 OK\r\naccess-control-allow-origin: *\r\ncontent-length: 0\r\n\r\n"
                        .to_owned(),
                    _ => format!(
                        "HTTP/1.1 302 Found\r\nlocation: /hop/{}\r\naccess-control-allow-origin: *\r\n\
                         content-length: 0\r\n\r\n",
                        hop - 1
                    ),
                };
                let _ = stream.write_all(answer.as_bytes());
                // Dropped: closed without a word.
            });
        }
    });
    addr
}

/// 100 redirect chains of 5 hops: each hop would take the connection the server closed after the
/// one before, as far as the client's pool knows. (Not more: each hop is a new connection, and
/// thousands of them disturb the other tests' loopback servers.)
#[test]
fn check_follows_redirects_from_a_server_that_closes_after_each_answer() {
    let server = closing_redirects();
    let url = format!("http://{server}/hop/5");
    let failures: Vec<Run> = (0..100)
        .map(|_| check(&url, &["--origin", PAGE, "--json"]))
        .filter(|run| run.code != 0)
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 100 chains failed, the first: {:?}",
        failures.len(),
        failures.first()
    );
}
