//! `crossgate proxy` as a process: it prints where it listens once it does (the tests read that
//! line: no sleeping), serves, and exits 0 on SIGTERM after finishing; bad configurations exit 2
//! before listening.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};

use crate::crossgate;
use crate::servers;

/// A running `crossgate proxy`, killed if the test ends early.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    banner: String,
    /// The rest of its standard output (reload reports).
    stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Proxy {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossgate"))
        .arg("proxy")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("crossgate starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("the banner line");
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split([' ', '\n']).next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in the banner: {banner:?}"));
    Proxy {
        child,
        addr,
        banner,
        stdout,
    }
}

impl Proxy {
    /// The next line it prints that starts with `prefix` (blocks until then).
    fn line_starting(&mut self, prefix: &str) -> String {
        loop {
            let mut line = String::new();
            let n = self
                .stdout
                .read_line(&mut line)
                .expect("the proxy's output");
            assert!(n > 0, "the proxy ended before printing {prefix:?}");
            if line.starts_with(prefix) {
                return line;
            }
        }
    }
}

/// One HTTP/1.1 request over a fresh connection; the raw response.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the proxy");
    let mut text = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response.to_ascii_lowercase()
}

#[test]
fn upstream_mode_serves_and_stops_cleanly_on_sigterm() {
    let upstream = servers::fixed(
        200,
        &[("x-from", "upstream"), ("access-control-allow-origin", "*")],
    );
    let mut proxy = start(&[
        "--upstream",
        &format!("http://{}", upstream.addr),
        "--allow-origin",
        "http://localhost:5173",
        "--allow-methods",
        "PUT",
    ]);
    assert!(proxy.banner.contains("upstream mode"), "{}", proxy.banner);
    let response = request(
        proxy.addr,
        "GET",
        "/items?page=2",
        &[("origin", "http://localhost:5173")],
    );
    assert!(response.starts_with("http/1.1 200"), "{response}");
    assert!(
        response.contains("access-control-allow-origin: http://localhost:5173\r\n"),
        "{response}"
    );
    assert!(response.contains("x-from: upstream"), "{response}");
    assert_eq!(upstream.seen()[0].path, "/items");

    let preflight = request(
        proxy.addr,
        "OPTIONS",
        "/items",
        &[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "PUT"),
        ],
    );
    assert!(preflight.starts_with("http/1.1 204"), "{preflight}");
    assert_eq!(
        upstream.options(),
        0,
        "the upstream never saw the preflight"
    );

    let pid = proxy.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = proxy.child.wait().expect("the proxy exits");
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
}

#[test]
fn anywhere_mode_is_the_default_and_refuses_loopback_targets() {
    let upstream = servers::fixed(200, &[]);
    let proxy = start(&[]);
    assert!(proxy.banner.contains("anywhere mode"), "{}", proxy.banner);
    let usage = request(proxy.addr, "GET", "/", &[]);
    assert!(usage.contains("anywhere mode"), "{usage}");
    let refused = request(
        proxy.addr,
        "GET",
        &format!("/http://{}/", upstream.addr),
        &[("origin", "https://page.example")],
    );
    assert!(refused.starts_with("http/1.1 403"), "{refused}");
    assert!(
        refused.contains("\"error\":\"port-not-allowed\""),
        "{refused}"
    );
    assert!(
        refused.contains("access-control-allow-origin: *"),
        "{refused}"
    );
    assert!(upstream.seen().is_empty());
}

#[test]
fn configurations_that_would_be_unsafe_or_useless_exit_2_before_listening() {
    let run = crossgate(&[
        "proxy",
        "--upstream",
        "http://127.0.0.1:3000",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--allow-origin"), "{}", run.stderr);

    let run = crossgate(&["proxy", "--listen", "0.0.0.0:0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("open relay"), "{}", run.stderr);

    let run = crossgate(&["proxy", "--allow-credentials", "--listen", "127.0.0.1:0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("never forwards the page's cookies"),
        "{}",
        run.stderr
    );

    let run = crossgate(&[
        "proxy",
        "--upstream",
        "http://127.0.0.1:3000",
        "--allow-origin",
        "*",
        "--allow-credentials",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unusable policy"), "{}", run.stderr);
    assert!(run.stderr.contains("credentials"), "{}", run.stderr);
}

#[test]
fn rate_limits_answer_429_with_retry_after() {
    let proxy = start(&["--rate-per-ip", "2"]);
    for _ in 0..2 {
        assert!(request(proxy.addr, "GET", "/", &[]).starts_with("http/1.1 200"));
    }
    let limited = request(
        proxy.addr,
        "GET",
        "/",
        &[("origin", "https://page.example")],
    );
    assert!(limited.starts_with("http/1.1 429"), "{limited}");
    assert!(limited.contains("retry-after: "), "{limited}");
    assert!(limited.contains("\"error\":\"rate-limited\""), "{limited}");
    assert!(
        limited.contains("access-control-allow-origin: *"),
        "{limited}"
    );
}

#[test]
fn the_admin_listener_serves_metrics_and_health() {
    let mut proxy = start(&["--admin", "127.0.0.1:0"]);
    let line = proxy.line_starting("admin: ");
    let admin: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(request(proxy.addr, "GET", "/", &[]).starts_with("http/1.1 200"));
    assert!(request(admin, "GET", "/healthz", &[]).ends_with("ok\n"));
    let metrics = request(admin, "GET", "/metrics", &[]);
    assert!(
        metrics.contains(
            r#"crossgate_proxy_requests_total{route="anywhere",status="200",cors="not-cors"} 1"#
        ),
        "{metrics}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossgate"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crossgate starts");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut banner)
        .expect("the banner");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let output = child.wait_with_output().expect("the proxy exits");
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty(), "the stop is logged");
    for line in lines {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(object["target"], "crossgate_proxy", "{line}");
        assert!(object["fields"]["message"].is_string(), "{line}");
    }
}

#[test]
fn routes_from_a_file_or_every_problem_in_it() {
    let upstream = servers::fixed(200, &[("x-from", "routed")]);
    let dir = crate::TempDir::new("proxy-routes");
    let config = dir.file(
        "routes.toml",
        &format!(
            r#"
            [[route]]
            prefix = "/api"
            upstream = "http://{}"
            inject_headers = {{ "x-api-key" = "server-side" }}
            [route.policy]
            allow_origins = ["http://localhost:5173"]
            "#,
            upstream.addr
        ),
    );
    let proxy = start(&["--config", &config]);
    assert!(proxy.banner.contains("1 route(s)"), "{}", proxy.banner);
    let response = request(
        proxy.addr,
        "GET",
        "/api/items",
        &[("origin", "http://localhost:5173")],
    );
    assert!(response.starts_with("http/1.1 200"), "{response}");
    assert!(
        response.contains("access-control-allow-origin: http://localhost:5173"),
        "{response}"
    );
    let seen = upstream.seen();
    assert_eq!(seen[0].path, "/items");
    assert_eq!(seen[0].headers["x-api-key"], "server-side");
    assert!(request(proxy.addr, "GET", "/other", &[]).starts_with("http/1.1 404"));

    let bad = dir.file(
        "bad.toml",
        "[[route]]\nprefix = \"api\"\nupstream = \"ftp://x\"\n[route.policy]\nallow_origins = [\"null\"]\n",
    );
    let run = crossgate(&["proxy", "--config", &bad, "--listen", "127.0.0.1:0"]);
    assert_eq!(run.code, 2, "{run:?}");
    for expected in [
        "a path prefix starts with '/'",
        "not an http or https URL",
        "null-origin",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?} in {}",
            run.stderr
        );
    }
}

#[test]
fn sighup_reloads_the_policy_file_without_dropping_the_listener() {
    let upstream = servers::fixed(200, &[]);
    let dir = crate::TempDir::new("proxy-reload");
    let policy = dir.file("cors.toml", "allow_origins = [\"https://one.example\"]\n");
    let mut proxy = start(&[
        "--upstream",
        &format!("http://{}", upstream.addr),
        "--policy",
        &policy,
    ]);
    let acao = |response: &str| {
        response
            .lines()
            .find_map(|l| l.strip_prefix("access-control-allow-origin: "))
            .map(str::to_owned)
    };
    let before = request(proxy.addr, "GET", "/", &[("origin", "https://two.example")]);
    assert_eq!(acao(&before), None);

    std::fs::write(&policy, "allow_origins = [\"https://two.example\"]\n").expect("rewrite");
    let pid = proxy.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let reported = proxy.line_starting("reload");
    assert!(reported.starts_with("reloaded: "), "{reported}");
    let after = request(proxy.addr, "GET", "/", &[("origin", "https://two.example")]);
    assert_eq!(
        acao(&after).as_deref(),
        Some("https://two.example"),
        "{after}"
    );

    // A broken file keeps the running policy.
    std::fs::write(&policy, "allow_origins = [\"null\"]\n").expect("rewrite");
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    assert!(proxy.line_starting("reload").starts_with("reload failed"));
    let still = request(proxy.addr, "GET", "/", &[("origin", "https://two.example")]);
    assert_eq!(acao(&still).as_deref(), Some("https://two.example"));
}

/// An API on 127.0.0.1 that answers every request with JSON naming the path and query it got.
fn json_api() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a local address");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let target = head.split(' ').nth(1).unwrap_or("?");
            let body = format!("{{\"got\":\"{target}\"}}");
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn jsonp_wraps_a_routes_json_answer_but_not_where_the_route_injects_a_secret() {
    let api = json_api();
    let dir = crate::TempDir::new("proxy-routes-jsonp");
    let config = dir.file(
        "routes.toml",
        &format!(
            r#"
            [[route]]
            prefix = "/api"
            upstream = "http://{api}/v1"
            [route.policy]
            allow_origins = ["http://localhost:5173"]

            [[route]]
            prefix = "/keyed"
            upstream = "http://{api}"
            inject_headers = {{ "x-api-key" = "server-side" }}
            [route.policy]
            allow_origins = ["http://localhost:5173"]
            "#
        ),
    );
    let mut proxy = start(&["--config", &config, "--jsonp"]);
    assert!(proxy.banner.contains("2 route(s)"), "{}", proxy.banner);
    let keyed = proxy.line_starting("  /keyed");
    assert!(keyed.contains("no JSONP"), "{keyed}");

    // A <script> tag's request: no Origin, a callback.
    let script = request(
        proxy.addr,
        "GET",
        "/api/items?page=2&callback=app.done",
        &[],
    );
    assert!(script.starts_with("http/1.1 200"), "{script}");
    assert!(
        script.contains("content-type: text/javascript; charset=utf-8\r\n"),
        "{script}"
    );
    assert!(
        script.contains("x-content-type-options: nosniff\r\n"),
        "{script}"
    );
    assert!(
        script.ends_with(
            "\r\n\r\n/**/ typeof app.done === 'function' && app.done({\"got\":\"/v1/items?page=2\"});"
        ),
        "the route's answer, wrapped, without the callback parameter: {script}"
    );
    // Without a callback: the route's JSON as it is.
    let plain = request(proxy.addr, "GET", "/api/items", &[]);
    assert!(plain.contains("content-type: application/json"), "{plain}");
    assert!(plain.ends_with(r#"{"got":"/v1/items"}"#), "{plain}");
    // A bad callback is refused, as in the other modes.
    let bad = request(proxy.addr, "GET", "/api/items?callback=alert(1)//", &[]);
    assert!(bad.starts_with("http/1.1 400"), "{bad}");

    // Any page can read a JSONP answer: not where the route spends a server-side key.
    let refused = request(proxy.addr, "GET", "/keyed/items?callback=cb", &[]);
    assert!(refused.starts_with("http/1.1 400"), "{refused}");
    assert!(refused.contains("jsonp is not served here"), "{refused}");
    assert!(!refused.contains("typeof cb"), "{refused}");
}

#[test]
fn body_idle_timeout_cuts_off_an_upstream_that_stalls_mid_body() {
    // Sends its head and the start of a 1000-byte body, then holds the connection, silent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let stalling = listener.local_addr().expect("a local address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nthe start");
            held.push(stream);
        }
    });
    let proxy = start(&[
        "--upstream",
        &format!("http://{stalling}"),
        "--allow-origin",
        "http://localhost:5173",
        "--body-idle-timeout",
        "1",
    ]);
    let started = std::time::Instant::now();
    let mut stream = TcpStream::connect(proxy.addr).expect("connect to the proxy");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("a read timeout");
    stream
        .write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("send");
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    let ended = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break "closed",
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break "still open",
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break "still open",
            Err(_) => break "reset",
        }
    };
    let got = String::from_utf8_lossy(&got);
    assert_ne!(
        ended, "still open",
        "the proxy never cut the body off: {got}"
    );
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        got.ends_with("the start"),
        "the client saw a short body: {got}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    // And it keeps serving.
    let preflight = request(
        proxy.addr,
        "OPTIONS",
        "/big",
        &[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "GET"),
        ],
    );
    assert!(preflight.starts_with("http/1.1 204"), "{preflight}");
}

#[test]
fn send_timeout_closes_a_client_that_stops_reading() {
    // Answers with 64 MiB (more than loopback's socket buffers hold), and says when the proxy
    // stops taking them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let upstream = listener.local_addr().expect("a local address");
    let (cut, was_cut) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let cut = cut.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let chunk = vec![b'x'; 1 << 16];
                let whole = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 67108864\r\n\r\n")
                    .and_then(|()| (0..1024).try_for_each(|_| stream.write_all(&chunk)));
                if whole.is_err() {
                    let _ = cut.send(());
                }
            });
        }
    });
    let proxy = start(&[
        "--upstream",
        &format!("http://{upstream}"),
        "--allow-origin",
        "http://localhost:5173",
        "--send-timeout",
        "1",
    ]);
    let started = std::time::Instant::now();
    let mut stream = TcpStream::connect(proxy.addr).expect("connect to the proxy");
    stream
        .write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n")
        .expect("send");
    // It reads nothing; others are served all the while.
    let preflight = request(
        proxy.addr,
        "OPTIONS",
        "/big",
        &[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "GET"),
        ],
    );
    assert!(preflight.starts_with("http/1.1 204"), "{preflight}");
    was_cut
        .recv_timeout(std::time::Duration::from_secs(15))
        .expect("the proxy let go of a client that reads nothing within 15 s");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    // What the socket holds: the start of the answer, then the end of the connection.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .expect("a read timeout");
    let mut received = 0usize;
    let mut buffer = vec![0u8; 1 << 16];
    let ended = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break "closed",
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break "still open",
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break "still open",
            Err(_) => break "reset",
        }
    };
    assert_ne!(ended, "still open");
    assert!(received > 0, "the answer had begun");
    assert!(received < 64 << 20, "the whole body came: {received} bytes");
}

#[test]
fn idle_timeout_closes_a_connection_that_sends_no_request() {
    // The default (30 s) is longer than the read below waits: only --idle-timeout ends it in time.
    let proxy = start(&["--idle-timeout", "1"]);
    let mut stream = TcpStream::connect(proxy.addr).expect("connect to the proxy");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("a read timeout");
    // Sends nothing; whatever the proxy writes before closing, the connection must end.
    let mut buffer = [0u8; 4096];
    let ended = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break "closed",
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break "still open",
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break "still open",
            Err(_) => break "reset",
        }
    };
    assert_eq!(
        ended, "closed",
        "an idle connection outlived --idle-timeout 1"
    );
}

#[test]
fn idle_timeout_0_or_over_a_day_exits_2_before_listening() {
    for seconds in ["0", "86401"] {
        let run = crossgate(&[
            "proxy",
            "--idle-timeout",
            seconds,
            "--listen",
            "127.0.0.1:0",
        ]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stdout.is_empty(), "it listened: {run:?}");
        assert!(run.stderr.contains("--idle-timeout"), "{}", run.stderr);
        assert!(run.stderr.contains("from 1 to 86400"), "{}", run.stderr);
    }
    let run = crossgate(&["proxy", "--idle-timeout", "0", "--listen", "127.0.0.1:0"]);
    assert!(run.stderr.contains("at least 1"), "{}", run.stderr);
}

#[test]
fn every_number_flag_out_of_range_exits_2_naming_the_flag_and_its_range() {
    // A value past a flag's range used to be taken, then panic on each request (a duration
    // added to an instant overflowed).
    for (flag, value, range) in [
        ("--body-timeout", "9999999999999999999", "from 0 to 604800"),
        ("--body-idle-timeout", "86401", "from 0 to 86400"),
        ("--send-timeout", "18446744073709551616", "from 0 to 86400"),
        ("--timeout", "0", "from 1 to 86400"),
        ("--header-timeout", "0", "from 1 to 86400"),
        (
            "--max-request-body",
            "99999999999999999999",
            "from 0 to 1099511627776",
        ),
        (
            "--max-response-body",
            "1099511627777",
            "from 0 to 1099511627776",
        ),
        ("--rate-per-ip", "4294967296", "from 0 to 1000000"),
        ("--rate-per-origin", "x", "from 0 to 1000000"),
        ("--max-age", "-5", "from 0 to 86400"),
        ("--max-connections", "0", "from 1 to 1048576"),
        ("--max-connections-per-ip", "1048577", "from 1 to 1048576"),
        ("--max-upstream-requests", "0", "from 1 to 1048576"),
        ("--max-requests-per-ip", "0", "from 1 to 1048576"),
        ("--max-upstream-per-host", "0", "from 1 to 4096"),
        ("--max-streams", "0", "from 1 to 10000"),
    ] {
        let run = crossgate(&[
            "proxy",
            &format!("{flag}={value}"),
            "--listen",
            "127.0.0.1:0",
        ]);
        assert_eq!(run.code, 2, "{flag} {value}: {run:?}");
        assert!(
            run.stdout.is_empty(),
            "{flag} {value}: it listened: {run:?}"
        );
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.contains(flag), "{flag}: {}", run.stderr);
        assert!(first.contains(range), "{flag}: {}", run.stderr);
    }
}

/// `crossgate proxy ARGS` under a descriptor limit of `limit` (soft and hard).
fn under_descriptor_limit(limit: u32, args: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {limit} && exec \"$0\" proxy --listen 127.0.0.1:0 {args}"
        ))
        .arg(env!("CARGO_BIN_EXE_crossgate"))
        .output()
        .expect("sh runs")
}

#[test]
fn a_descriptor_limit_too_low_or_too_small_for_the_flags_exits_2_before_listening() {
    let run = under_descriptor_limit(64, "");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(run.stdout.is_empty(), "it listened: {run:?}");
    assert!(stderr.contains("descriptor limit is 64"), "{stderr}");
    assert!(stderr.contains("ulimit -n"), "{stderr}");

    let run = under_descriptor_limit(1024, "--max-connections 1000");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(run.stdout.is_empty(), "it listened: {run:?}");
    assert!(stderr.contains("--max-connections 1000"), "{stderr}");
    assert!(stderr.contains("may open 1024"), "{stderr}");
}
