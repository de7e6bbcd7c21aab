//! The real servers people configure CORS in, on 127.0.0.1: nginx, Apache and Caddy (Debian's
//! packages) in front of a small upstream app, Express with the `cors` npm package, FastAPI
//! (Starlette's `CORSMiddleware`) under uvicorn, and S3 bucket CORS on moto's S3 server put there
//! with boto3. `scripts/peers` installs them (`scripts/test` runs it first).
//!
//! Each launcher writes its configuration into a fresh temporary directory, starts the server in
//! the foreground on a free loopback port, polls until it accepts connections, and kills it when
//! dropped. Every server answers the same app: `/api/data` 200 JSON with `X-Total: 42` (any
//! method), `/api/error` 500 (404 on S3, where it is a missing object), anything else 404; so
//! the CORS headers on errors are tested too.
//!
//! Three groups of tests:
//! - hand-written correct configurations for [`CREDENTIALS`]
//!   (`tests/peers/policies/credentials.toml`) on every server: their answers asserted header by
//!   header, then `crossgate check --policy` finds no difference;
//! - the classic mistakes, hand-written (nginx's `add_header` without `always`, its `if` trap, a
//!   forgotten `Vary`, `$http_origin` echoed with credentials, Express's `origin: true` with
//!   credentials): `check --policy` exits 1 naming the difference (and for three of them the raw
//!   answers show the mistake);
//! - `crossgate export --to T` of every policy under `tests/peers/policies`, started on T's real
//!   server as the export's comments say, held to its policy by `check --policy`: no difference
//!   but those the export's own warnings announce ([`WARNED`]), or the refusal [`REFUSALS`]
//!   expects.
//!
//! Every server of a test starts at once (each on its own thread); the whole target takes about
//! 15 seconds. [`export`] has the exports' checks that are not a policy held by `check
//! --policy` (`nginx -t`, Apache in front of a CGI script).
//!
//! A test target of its own, declared with `test = false` in `Cargo.toml`: `cargo test` leaves it
//! out (it needs every program above), `scripts/test` runs it after the rest, by name:
//! `cargo test -p crossgate-cli --test peers`.
//!
//! S3 is moto's server, made to answer as S3 documents where moto does not
//! (`tests/peers/python/s3_server.py` lists each place: whole-origin matching, credentials, `*`,
//! `Vary`, CORS headers on every answer).

#[path = "peers/export.rs"]
mod export;
#[allow(
    dead_code,
    reason = "shared with the cli target; each uses a part of it"
)]
#[path = "cli/support.rs"]
mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use support::{Run, TempDir, crossgate, path_str};

/// The repository's root (the tests run with the CLI crate's directory as working directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `path` under the repository's root, which must exist: `scripts/peers` installs it.
fn installed(path: &str) -> PathBuf {
    let full = root().join(path);
    assert!(
        full.exists(),
        "{path} is missing: run scripts/peers (scripts/test does), which installs the servers \
         these tests run"
    );
    full
}

/// A program from a Debian package, which must be installed: `scripts/peers` installs it.
fn program(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
        let path = Path::new(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "{name} is missing: run scripts/peers (scripts/test does), which installs Debian's \
         {package}"
    );
}

/// A port on 127.0.0.1 for a server that takes its port on the command line or in a file: free
/// when checked, never handed out twice in this process (servers start in parallel), and below
/// the kernel's ephemeral range (32768 and up on Linux), where the other tests' `bind(:0)` and
/// every outgoing connection take theirs, so nothing else in the run takes it between the check
/// and the server's own bind. Each process starts at its own place in the range (by its id), so
/// that two test runs at once rarely meet; [`launch`] tries again if they do.
fn free_port() -> u16 {
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let start = std::process::id().wrapping_mul(7_919) % COUNT;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + n % COUNT).expect("below 32000");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!(
        "no free port on 127.0.0.1 between {FIRST} and {}",
        FIRST + COUNT
    );
}

/// A fresh temporary directory for one server (or one test), unique in the test process: tests
/// run in parallel and some start the same configuration.
fn fresh_dir(kind: &str, name: &str) -> TempDir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    TempDir::new(&format!("peer-{kind}-{name}-{n}"))
}

/// How long a server may take to listen (moto and uvicorn import a lot on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A real server, killed (and waited for) when dropped; its temporary directory goes with it.
pub(crate) struct Peer {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
    /// The upstream app nginx, Apache and Caddy proxy to, kept alive as long as they are.
    _app: Option<App>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The whole group (see `spawn`), then the server itself, which is waited for.
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// `http://127.0.0.1:PORT{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What the server printed (standard output and error, one file).
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default()
    }

    /// One HTTP/1.1 request on a fresh connection.
    pub(crate) fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        request(self.addr, method, path, headers)
            .unwrap_or_else(|e| panic!("{}: {method} {path}: {e}\n{}", self.name, self.log()))
    }
}

/// Starts the server `command` builds for a fresh directory and a free port, and waits until it
/// accepts connections there; tries again on another port if the server found its port taken
/// (by another test run at the same time), and panics with the server's output if it exits for
/// any other reason or takes too long. `app` lives as long as the server.
fn launch(
    name: &'static str,
    config: &str,
    app: Option<App>,
    command: impl Fn(&TempDir, u16) -> Command,
) -> Peer {
    let mut app = app;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let dir = fresh_dir(name, config);
        let port = free_port();
        let mut command = command(&dir, port);
        match spawn(name, dir, port, &mut command) {
            Ok(mut peer) => {
                peer._app = app.take();
                return peer;
            }
            Err(exited) => {
                if attempts < 3 && exited.to_ascii_lowercase().contains("in use") {
                    continue;
                }
                panic!("{exited}");
            }
        }
    }
}

/// Starts `command` (its output to `server.log` in `dir`) and waits until `port` on 127.0.0.1
/// accepts connections while the server runs; how it ended, and its output, if it exits first.
fn spawn(
    name: &'static str,
    dir: TempDir,
    port: u16,
    command: &mut Command,
) -> Result<Peer, String> {
    let log = File::create(dir.0.join("server.log")).expect("create server.log");
    // A process group of its own, so that dropping the peer kills what it started too (Apache's
    // mod_cgid daemon outlived a killed `apache2 -X`, one per run).
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log file"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
    let mut peer = Peer {
        name,
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
        _app: None,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let listening = TcpStream::connect_timeout(&peer.addr, Duration::from_secs(1)).is_ok();
        // Checked after the connection: a server that failed to bind and exited is not taken for
        // ready because something else answered on its port.
        if let Ok(Some(status)) = peer.child.try_wait() {
            return Err(format!(
                "{name} exited ({status}) before listening on {}:\n{}",
                peer.addr,
                peer.log()
            ));
        }
        if listening {
            return Ok(peer);
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on {} within {START_TIMEOUT:?}:\n{}",
            peer.addr,
            peer.log()
        );
        // Polling, not synchronising: the next connect attempt says whether it is up.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a server answered: the status and every header (names in lower case, in order).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
}

impl Answer {
    /// The values of every `name` header.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the one `name` header, `None` without one (and a panic with two).
    pub(crate) fn one(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} sent {} times: {self:?}", all.len());
        all.first().copied()
    }

    /// Whether `Vary` names `Origin` (in any of its lines, any case).
    pub(crate) fn varies_on_origin(&self) -> bool {
        self.all("vary").iter().any(|v| {
            v.split(',')
                .any(|name| name.trim().eq_ignore_ascii_case("origin"))
        })
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes())?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    let response = String::from_utf8_lossy(&bytes);
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Answer { status, headers })
}

/// The upstream app behind nginx, Apache and Caddy, on 127.0.0.1: the same routes as the
/// Express and FastAPI apps, for any method, one request per connection. It knows nothing of
/// CORS; the server in front adds it.
struct App {
    addr: SocketAddr,
}

impl App {
    fn start() -> App {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a local address");
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || App::answer(stream));
            }
        });
        App { addr }
    }

    fn answer(mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut request_line = head.lines().next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default();
        let path = request_line.next().unwrap_or_default();
        let length: usize = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        let (status, extra, body) = match path.split('?').next().unwrap_or_default() {
            "/api/data" => ("200 OK", "X-Total: 42\r\n", r#"{"data": [1, 2, 3]}"#),
            "/api/error" => ("500 Internal Server Error", "", r#"{"error": "boom"}"#),
            _ => ("404 Not Found", "", r#"{"error": "not found"}"#),
        };
        let body = if method == "HEAD" { "" } else { body };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// nginx with `http` (inside `http {}`: where `map`s go) and `location` (inside the
/// `location /api/` that proxies to the app).
pub(crate) fn nginx(name: &str, http: &str, location: &str) -> Peer {
    let nginx = program("nginx", "nginx-light");
    let app = App::start();
    let upstream = app.addr;
    launch("nginx", name, Some(app), |dir, port| {
        let d = path_str(&dir.0);
        let config = format!(
            "master_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log stderr warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n\
           client_body_temp_path {d}/client_body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         {http}\n\
           server {{\n    listen 127.0.0.1:{port};\n\
             location /api/ {{\n{location}\n      proxy_pass http://{upstream};\n    }}\n  }}\n}}\n",
        );
        let conf = dir.file("nginx.conf", &config);
        let mut command = Command::new(&nginx);
        command.args(["-e", "stderr", "-p", &d, "-c", &conf]);
        command
    })
}

/// Apache (event MPM, one process: `-X`) with mod_headers, mod_setenvif, mod_rewrite and
/// mod_proxy_http; `cors` goes in the server's configuration, after `ProxyPass /api/` to the app.
pub(crate) fn apache(name: &str, cors: &str) -> Peer {
    let apache = program("apache2", "apache2");
    let app = App::start();
    let upstream = app.addr;
    launch("apache", name, Some(app), |dir, port| {
        let d = path_str(&dir.0);
        let modules: String = [
            ("mpm_event", "mpm_event"),
            ("authz_core", "authz_core"),
            ("headers", "headers"),
            ("setenvif", "setenvif"),
            ("rewrite", "rewrite"),
            ("proxy", "proxy"),
            ("proxy_http", "proxy_http"),
        ]
        .iter()
        .map(|(module, file)| {
            format!("LoadModule {module}_module /usr/lib/apache2/modules/mod_{file}.so\n")
        })
        .collect();
        // As root, Apache serves as www-data (Debian's user for it); otherwise as whoever runs it.
        let config = format!(
            "ServerRoot {d}\nDefaultRuntimeDir {d}\nPidFile {d}/httpd.pid\n\
         Listen 127.0.0.1:{port}\nServerName 127.0.0.1\nErrorLog /dev/stderr\nLogLevel warn\n\
         {modules}User www-data\nGroup www-data\nDocumentRoot {d}\n\
         ProxyPass /api/ http://{upstream}/api/\n{cors}\n",
        );
        let conf = dir.file("httpd.conf", &config);
        let mut command = Command::new(&apache);
        command.args(["-X", "-f", &conf]);
        command
    })
}

/// Caddy (`caddy run`, no admin endpoint, no automatic HTTPS) with `top` at the top level of
/// the Caddyfile (where snippets are defined) and `site` in the site block, before
/// `reverse_proxy` to the app.
pub(crate) fn caddy(name: &str, top: &str, site: &str) -> Peer {
    let caddy = program("caddy", "caddy");
    let app = App::start();
    let upstream = app.addr;
    launch("caddy", name, Some(app), |dir, port| {
        let d = path_str(&dir.0);
        let config = format!(
            "{{\n  admin off\n  auto_https off\n  storage file_system {d}/data\n}}\n{top}\n\
         http://127.0.0.1:{port} {{\n  bind 127.0.0.1\n{site}\n  reverse_proxy {upstream}\n}}\n",
        );
        let conf = dir.file("Caddyfile", &config);
        let mut command = Command::new(&caddy);
        command
            .args(["run", "--adapter", "caddyfile", "--config", &conf])
            .env("HOME", &d)
            .env("XDG_DATA_HOME", &d)
            .env("XDG_CONFIG_HOME", &d);
        command
    })
}

/// Express (`tests/peers/node/server.js`) with `cors(options)`, `options` being the module
/// `options_js` (a CommonJS file whose export is the options object).
pub(crate) fn express(name: &str, options_js: &str) -> Peer {
    let node = program("node", "nodejs");
    installed("tests/peers/node/node_modules/cors");
    let server = installed("tests/peers/node/server.js");
    launch("express", name, None, |dir, port| {
        let options = dir.file("cors-options.js", options_js);
        let mut command = Command::new(&node);
        command.arg(&server).arg(port.to_string()).arg(options);
        command
    })
}

/// FastAPI (`tests/peers/python/app.py`) under uvicorn, `cors_py` run with `app` and
/// `CORSMiddleware` in scope.
pub(crate) fn fastapi(name: &str, cors_py: &str) -> Peer {
    let python = installed("tests/peers/python/.venv/bin/python");
    launch("fastapi", name, None, |dir, port| {
        let cors = dir.file("cors.py", cors_py);
        let mut command = Command::new(&python);
        command
            .args(["-m", "uvicorn", "app:app", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--no-access-log", "--log-level", "warning"])
            .current_dir(root().join("tests/peers/python"))
            .env("CROSSGATE_CORS", cors);
        command
    })
}

/// moto's S3 server (`tests/peers/python/s3_server.py`); buckets come with [`Peer::bucket`].
pub(crate) fn s3(name: &str) -> Peer {
    let python = installed("tests/peers/python/.venv/bin/python");
    let server = installed("tests/peers/python/s3_server.py");
    launch("s3", name, None, |_, port| {
        let mut command = Command::new(&python);
        command
            .arg(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_DISABLE_GLOBAL_CORS", "true");
        command
    })
}

impl Peer {
    /// Creates `bucket` on this S3 server with boto3, puts `cors_json` as its CORS configuration
    /// and a public-read object `api/data`; returns the bucket's path (`/BUCKET`).
    pub(crate) fn bucket(&self, bucket: &str, cors_json: &str) -> String {
        let python = installed("tests/peers/python/.venv/bin/python");
        let put = installed("tests/peers/python/s3_put.py");
        let cors = self.dir.file(&format!("{bucket}.cors.json"), cors_json);
        let output = Command::new(python)
            .arg(put)
            .arg(self.addr.port().to_string())
            .arg(bucket)
            .arg(cors)
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "s3_put.py {bucket}: {}\n{}\nserver:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        format!("/{bucket}")
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-written configurations.

/// The policy the hand-written configurations say (`tests/peers/policies/credentials.toml`).
const CREDENTIALS: &str = "credentials.toml";

/// Reads `tests/peers/policies/NAME`.
fn policy(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/peers/policies").join(name))
        .unwrap_or_else(|e| panic!("tests/peers/policies/{name}: {e}"))
}

const ALLOWED: &str = "https://app.example.com";
const ALLOWED_BY_PATTERN: &str = "https://a.b.example.org";
const REFUSED: &str = "https://evil.example.net";
/// An allowed origin with more after it: what an unanchored match lets in.
const NEAR_MISS: &str = "https://app.example.com.evil.example.net";

/// The `map`s for nginx: the allowed origin (or nothing) and, for it, credentials.
const NGINX_MAPS: &str = r#"
  map $http_origin $cors_origin {
    default "";
    "https://app.example.com" $http_origin;
    "~^https://([a-z0-9-]+\.)+example\.org$" $http_origin;
  }
  map $cors_origin $cors_credentials {
    "" "";
    default "true";
  }
"#;

/// The headers for every answer (`always`: 4xx and 5xx too), and preflights answered at once.
const NGINX_LOCATION: &str = r#"
      if ($request_method = OPTIONS) {
        add_header Access-Control-Allow-Origin $cors_origin always;
        add_header Access-Control-Allow-Credentials $cors_credentials always;
        add_header Access-Control-Allow-Methods "GET, PUT" always;
        add_header Access-Control-Allow-Headers "x-request-id" always;
        add_header Access-Control-Max-Age 600 always;
        add_header Vary Origin always;
        return 204;
      }
      add_header Access-Control-Allow-Origin $cors_origin always;
      add_header Access-Control-Allow-Credentials $cors_credentials always;
      add_header Access-Control-Expose-Headers "x-total" always;
      add_header Vary Origin always;
"#;

/// The classic mistake: no `always`, so nginx drops every one of these on a 4xx or 5xx.
const NGINX_WITHOUT_ALWAYS: &str = r#"
      if ($request_method = OPTIONS) {
        add_header Access-Control-Allow-Origin $cors_origin;
        add_header Access-Control-Allow-Credentials $cors_credentials;
        add_header Access-Control-Allow-Methods "GET, PUT";
        add_header Access-Control-Allow-Headers "x-request-id";
        add_header Access-Control-Max-Age 600;
        add_header Vary Origin;
        return 204;
      }
      add_header Access-Control-Allow-Origin $cors_origin;
      add_header Access-Control-Allow-Credentials $cors_credentials;
      add_header Access-Control-Expose-Headers "x-total";
      add_header Vary Origin;
"#;

/// nginx's `if` trap: an `add_header` inside `if` makes nginx forget every `add_header` of the
/// enclosing level, so the preflight's answer has the methods but no Allow-Origin.
const NGINX_IF_TRAP: &str = r#"
      add_header Access-Control-Allow-Origin $cors_origin always;
      add_header Access-Control-Allow-Credentials $cors_credentials always;
      add_header Access-Control-Expose-Headers "x-total" always;
      add_header Vary Origin always;
      if ($request_method = OPTIONS) {
        add_header Access-Control-Allow-Methods "GET, PUT" always;
        add_header Access-Control-Allow-Headers "x-request-id" always;
        add_header Access-Control-Max-Age 600 always;
        return 204;
      }
"#;

/// The other classic: whatever `Origin` says, echoed, with credentials.
const NGINX_ECHO_ORIGIN: &str = r#"
      if ($request_method = OPTIONS) {
        add_header Access-Control-Allow-Origin $http_origin always;
        add_header Access-Control-Allow-Credentials true always;
        add_header Access-Control-Allow-Methods "GET, PUT" always;
        add_header Access-Control-Allow-Headers "x-request-id" always;
        add_header Access-Control-Max-Age 600 always;
        return 204;
      }
      add_header Access-Control-Allow-Origin $http_origin always;
      add_header Access-Control-Allow-Credentials true always;
      add_header Access-Control-Expose-Headers "x-total" always;
"#;

const APACHE: &str = r#"
SetEnvIf Origin "^(https://app\.example\.com|https://([a-z0-9-]+\.)+example\.org)$" CORS_ORIGIN=$0
Header always set Access-Control-Allow-Origin "%{CORS_ORIGIN}e" env=CORS_ORIGIN
Header always set Access-Control-Allow-Credentials "true" env=CORS_ORIGIN
Header always set Access-Control-Expose-Headers "x-total" env=CORS_ORIGIN
Header always set Access-Control-Allow-Methods "GET, PUT" "expr=-n reqenv('CORS_ORIGIN') && %{REQUEST_METHOD} == 'OPTIONS'"
Header always set Access-Control-Allow-Headers "x-request-id" "expr=-n reqenv('CORS_ORIGIN') && %{REQUEST_METHOD} == 'OPTIONS'"
Header always set Access-Control-Max-Age "600" "expr=-n reqenv('CORS_ORIGIN') && %{REQUEST_METHOD} == 'OPTIONS'"
Header always merge Vary Origin
RewriteEngine On
RewriteCond %{REQUEST_METHOD} =OPTIONS
RewriteCond %{HTTP:Access-Control-Request-Method} !^$
RewriteRule ^ - [R=204,L]
"#;

const CADDY: &str = r#"
  @cors_origin header_regexp Origin ^(https://app\.example\.com|https://([a-z0-9-]+\.)+example\.org)$
  @cors_preflight {
    method OPTIONS
    header Access-Control-Request-Method *
  }
  header Vary Origin
  header @cors_origin {
    Access-Control-Allow-Origin {http.request.header.Origin}
    Access-Control-Allow-Credentials true
    Access-Control-Expose-Headers x-total
  }
  handle @cors_preflight {
    header @cors_origin {
      Access-Control-Allow-Methods "GET, PUT"
      Access-Control-Allow-Headers x-request-id
      Access-Control-Max-Age 600
    }
    respond 204
  }
"#;

const EXPRESS: &str = r#"
module.exports = {
  origin: ["https://app.example.com", /^https:\/\/([a-z0-9-]+\.)+example\.org$/],
  methods: ["GET", "PUT"],
  allowedHeaders: ["x-request-id"],
  exposedHeaders: ["x-total"],
  credentials: true,
  maxAge: 600,
};
"#;

/// The mistake the `cors` package makes easy: `origin: true` reflects any origin.
const EXPRESS_ORIGIN_TRUE: &str = "module.exports = { origin: true, credentials: true };\n";

const FASTAPI: &str = r#"
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://app.example.com"],
    allow_origin_regex=r"https://([a-z0-9-]+\.)+example\.org",
    allow_methods=["GET", "PUT"],
    allow_headers=["x-request-id"],
    expose_headers=["x-total"],
    allow_credentials=True,
    max_age=600,
)
"#;

/// S3 has no setting for credentials: it always allows them for an origin it echoes.
const S3: &str = r#"{"CORSRules": [{
  "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
  "AllowedMethods": ["GET", "PUT"],
  "AllowedHeaders": ["x-request-id"],
  "ExposeHeaders": ["x-total"],
  "MaxAgeSeconds": 600
}]}"#;

/// What a correct server for [`CREDENTIALS`] answers, header by header: the allowed origins
/// (exact and by pattern) read `/api/data` and `error` with credentials, a refused origin and
/// a near miss get no `Access-Control-Allow-Origin`, an allowed preflight for PUT with
/// `x-request-id` is answered.
fn assert_correct(peer: &Peer, base: &str, error: (&str, u16)) {
    let data = format!("{base}/api/data");
    for origin in [ALLOWED, ALLOWED_BY_PATTERN] {
        let answer = peer.request("GET", &data, &[("Origin", origin)]);
        assert_eq!(answer.status, 200, "{}: {answer:?}", peer.name);
        assert_eq!(
            answer.one("access-control-allow-origin"),
            Some(origin),
            "{}: {answer:?}",
            peer.name
        );
        assert_eq!(
            answer.one("access-control-allow-credentials"),
            Some("true"),
            "{}: {answer:?}",
            peer.name
        );
        assert!(
            answer
                .one("access-control-expose-headers")
                .is_some_and(|v| v.eq_ignore_ascii_case("x-total")),
            "{}: {answer:?}",
            peer.name
        );
    }
    let (error_path, error_status) = error;
    let answer = peer.request(
        "GET",
        &format!("{base}{error_path}"),
        &[("Origin", ALLOWED)],
    );
    assert_eq!(answer.status, error_status, "{}: {answer:?}", peer.name);
    assert_eq!(
        answer.one("access-control-allow-origin"),
        Some(ALLOWED),
        "{}: CORS headers on errors too: {answer:?}",
        peer.name
    );
    for origin in [REFUSED, NEAR_MISS] {
        let answer = peer.request("GET", &data, &[("Origin", origin)]);
        assert_eq!(answer.status, 200, "{}: {answer:?}", peer.name);
        assert_eq!(
            answer.one("access-control-allow-origin"),
            None,
            "{}: {origin}: {answer:?}",
            peer.name
        );
    }
    let preflight = peer.request(
        "OPTIONS",
        &data,
        &[
            ("Origin", ALLOWED),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "x-request-id"),
        ],
    );
    assert!(
        (200..300).contains(&preflight.status),
        "{}: {preflight:?}",
        peer.name
    );
    assert_eq!(
        preflight.one("access-control-allow-origin"),
        Some(ALLOWED),
        "{}: {preflight:?}",
        peer.name
    );
    let methods = preflight
        .one("access-control-allow-methods")
        .unwrap_or_default();
    assert!(
        methods.split(',').any(|m| m.trim() == "PUT"),
        "{}: {preflight:?}",
        peer.name
    );
    let headers = preflight
        .one("access-control-allow-headers")
        .unwrap_or_default();
    assert!(
        headers
            .split(',')
            .any(|h| h.trim().eq_ignore_ascii_case("x-request-id")),
        "{}: {preflight:?}",
        peer.name
    );
}

/// Starts every hand-written correct configuration at once (each server takes its own time to
/// start; together they take the slowest's), as [`start_all`] does.
fn correct_peers() -> Vec<(Peer, String, (&'static str, u16))> {
    let started = start_all(vec![
        Box::new(|| (nginx("correct", NGINX_MAPS, NGINX_LOCATION), String::new())),
        Box::new(|| (apache("correct", APACHE), String::new())),
        Box::new(|| (caddy("correct", "", CADDY), String::new())),
        Box::new(|| (express("correct", EXPRESS), String::new())),
        Box::new(|| (fastapi("correct", FASTAPI), String::new())),
        Box::new(|| {
            let s3 = s3("correct");
            let bucket = s3.bucket("credentials", S3);
            (s3, bucket)
        }),
    ]);
    started
        .into_iter()
        .map(|(peer, base)| {
            let error = if peer.name == "s3" {
                ("/api/error", 404)
            } else {
                ("/api/error", 500)
            };
            (peer, base, error)
        })
        .collect()
}

type Start = Box<dyn FnOnce() -> (Peer, String) + Send>;

/// Runs each start on a thread of its own and returns the servers in the same order.
fn start_all(starts: Vec<Start>) -> Vec<(Peer, String)> {
    let handles: Vec<_> = starts.into_iter().map(std::thread::spawn).collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect()
}

#[test]
fn peers_answer_hand_written_correct_configs() {
    let policy = policy(CREDENTIALS);
    assert!(policy.contains("allow_credentials = true"), "{policy}");
    for (peer, base, error) in correct_peers() {
        assert_correct(&peer, &base, error);
    }
}

/// nginx's `add_header` without `always` is dropped on 4xx and 5xx: the 500 has no CORS header,
/// so the browser hides the error from the page.
#[test]
fn nginx_without_always_drops_cors_headers_on_errors() {
    let peer = nginx("without-always", NGINX_MAPS, NGINX_WITHOUT_ALWAYS);
    let answer = peer.request("GET", "/api/data", &[("Origin", ALLOWED)]);
    assert_eq!(answer.one("access-control-allow-origin"), Some(ALLOWED));
    let answer = peer.request("GET", "/api/error", &[("Origin", ALLOWED)]);
    assert_eq!(answer.status, 500, "{answer:?}");
    assert_eq!(
        answer.one("access-control-allow-origin"),
        None,
        "{answer:?}"
    );
    assert!(!answer.varies_on_origin(), "{answer:?}");
}

/// Echoing `$http_origin` with credentials lets any site read with the user's cookies.
#[test]
fn nginx_echoing_origin_allows_any_site_with_credentials() {
    let peer = nginx("echo-origin", "", NGINX_ECHO_ORIGIN);
    for origin in [REFUSED, NEAR_MISS, "null"] {
        let answer = peer.request("GET", "/api/data", &[("Origin", origin)]);
        assert_eq!(
            answer.one("access-control-allow-origin"),
            Some(origin),
            "{answer:?}"
        );
        assert_eq!(answer.one("access-control-allow-credentials"), Some("true"));
    }
}

/// The `cors` package's `origin: true` reflects every origin, credentials included.
#[test]
fn express_origin_true_allows_any_site_with_credentials() {
    let peer = express("origin-true", EXPRESS_ORIGIN_TRUE);
    for origin in [REFUSED, NEAR_MISS] {
        let answer = peer.request("GET", "/api/data", &[("Origin", origin)]);
        assert_eq!(
            answer.one("access-control-allow-origin"),
            Some(origin),
            "{answer:?}"
        );
        assert_eq!(answer.one("access-control-allow-credentials"), Some("true"));
    }
}

// ---------------------------------------------------------------------------------------------
// `crossgate check --policy` against them.

/// The path of `tests/peers/policies/NAME`.
fn policy_path(name: &str) -> String {
    path_str(&root().join("tests/peers/policies").join(name))
}

/// What `crossgate check --policy POLICY URL [--error-path PATH] --json` said.
struct Checked {
    run: Run,
    /// One object per request, each with its `differences`.
    results: Vec<Value>,
}

impl Checked {
    /// Every difference's `kind`, with the request's `purpose`, in the order reported.
    fn differences(&self) -> Vec<(String, String)> {
        self.results
            .iter()
            .flat_map(|r| {
                let purpose = r["purpose"].as_str().unwrap_or_default().to_owned();
                r["differences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |d| {
                        (
                            d["kind"].as_str().unwrap_or_default().to_owned(),
                            purpose.clone(),
                        )
                    })
            })
            .collect()
    }

    /// The differing requests, one line each, for a failure message.
    fn report(&self) -> String {
        let mut lines = Vec::new();
        for r in &self.results {
            let Some(differences) = r["differences"].as_array() else {
                continue;
            };
            if differences.is_empty() {
                continue;
            }
            let kinds: Vec<String> = differences
                .iter()
                .map(|d| format!("{} ({})", d["kind"], d["detail"]))
                .collect();
            lines.push(format!(
                "{} {} {} from {} credentials {} headers {}: policy {} server {}: {}",
                r["purpose"],
                r["method"],
                r["url"],
                r["origin"],
                r["credentials"],
                r["headers"],
                r["expected"],
                r["actual"],
                kinds.join("; ")
            ));
        }
        format!(
            "exit {}; stderr {:?}; {} of {} requests differ:\n{}",
            self.run.code,
            self.run.stderr,
            lines.len(),
            self.results.len(),
            lines.join("\n")
        )
    }
}

/// `crossgate check --policy`. S3 takes one request at a time (moto's handlers share state
/// across threads, and concurrent requests read each other's).
fn check_policy(peer: &Peer, policy: &str, path: &str, error_path: Option<&str>) -> Checked {
    let url = peer.url(path);
    let mut args = vec!["check", "--policy", policy, &url, "--json"];
    if let Some(path) = error_path {
        args.extend(["--error-path", path]);
    }
    if peer.name == "s3" {
        args.extend(["--concurrency", "1"]);
    }
    let run = crossgate(&args);
    let results = serde_json::from_str::<Vec<Value>>(&run.stdout).unwrap_or_default();
    assert!(
        run.code == 2 || !results.is_empty(),
        "check --policy printed no result: {run:?}"
    );
    Checked { run, results }
}

/// The hand-written correct configurations: no difference, on every request the policy implies.
#[test]
fn check_policy_finds_no_difference_on_hand_written_correct_configs() {
    let policy = policy_path(CREDENTIALS);
    let mut failures = Vec::new();
    for (peer, base, _) in correct_peers() {
        let checked = check_policy(
            &peer,
            &policy,
            &format!("{base}/api/data"),
            Some(&format!("{base}/api/error")),
        );
        if checked.run.code != 0 {
            failures.push(format!("{}: {}", peer.name, checked.report()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `add_header` without `always`: the policy allows reading the error, nginx refuses it.
#[test]
fn check_policy_reports_nginx_without_always() {
    let peer = nginx("check-without-always", NGINX_MAPS, NGINX_WITHOUT_ALWAYS);
    let checked = check_policy(
        &peer,
        &policy_path(CREDENTIALS),
        "/api/data",
        Some("/api/error"),
    );
    assert_eq!(checked.run.code, 1, "{}", checked.report());
    let differences = checked.differences();
    assert!(
        differences
            .iter()
            .any(|(kind, purpose)| kind == "refuses-allowed" && purpose == "error-status"),
        "{}",
        checked.report()
    );
    assert!(
        differences
            .iter()
            .all(|(_, purpose)| purpose == "error-status"),
        "only the error answers differ: {}",
        checked.report()
    );
}

/// Echoing `$http_origin` with credentials: every refused origin reads with the user's cookies.
#[test]
fn check_policy_reports_nginx_echoing_origin() {
    let peer = nginx("check-echo-origin", "", NGINX_ECHO_ORIGIN);
    let checked = check_policy(
        &peer,
        &policy_path(CREDENTIALS),
        "/api/data",
        Some("/api/error"),
    );
    assert_eq!(checked.run.code, 1, "{}", checked.report());
    assert!(
        checked
            .differences()
            .iter()
            .any(|(kind, _)| kind == "allows-refused"),
        "{}",
        checked.report()
    );
}

/// Express's `origin: true` with credentials: the same hole, one line of JavaScript.
#[test]
fn check_policy_reports_express_origin_true() {
    let peer = express("check-origin-true", EXPRESS_ORIGIN_TRUE);
    let checked = check_policy(
        &peer,
        &policy_path(CREDENTIALS),
        "/api/data",
        Some("/api/error"),
    );
    assert_eq!(checked.run.code, 1, "{}", checked.report());
    assert!(
        checked
            .differences()
            .iter()
            .any(|(kind, _)| kind == "allows-refused"),
        "{}",
        checked.report()
    );
}

/// The `if` trap: every preflight loses its Allow-Origin, so nothing but simple requests works.
#[test]
fn check_policy_reports_nginx_if_trap() {
    let peer = nginx("check-if-trap", NGINX_MAPS, NGINX_IF_TRAP);
    let checked = check_policy(
        &peer,
        &policy_path(CREDENTIALS),
        "/api/data",
        Some("/api/error"),
    );
    assert_eq!(checked.run.code, 1, "{}", checked.report());
    let differences = checked.differences();
    assert!(
        differences
            .iter()
            .any(|(kind, purpose)| kind == "refuses-allowed" && purpose == "preflight"),
        "{}",
        checked.report()
    );
    assert!(
        differences
            .iter()
            .all(|(kind, _)| kind == "refuses-allowed"),
        "{}",
        checked.report()
    );
}

/// `Vary: Origin` forgotten: a cache may serve one origin's answer to another.
#[test]
fn check_policy_reports_a_forgotten_vary() {
    let location = NGINX_LOCATION.replace("add_header Vary Origin always;", "");
    let peer = nginx("check-no-vary", NGINX_MAPS, &location);
    let checked = check_policy(
        &peer,
        &policy_path(CREDENTIALS),
        "/api/data",
        Some("/api/error"),
    );
    assert_eq!(checked.run.code, 1, "{}", checked.report());
    let differences = checked.differences();
    assert!(
        !differences.is_empty()
            && differences
                .iter()
                .all(|(kind, _)| kind == "missing-vary-origin"),
        "{}",
        checked.report()
    );
}

/// Regression: nginx tries no `map` regex on an empty value, so the first nginx export, whose
/// headers map had only a regex, refused every preflight without Access-Control-Request-Headers
/// (a PUT or DELETE with no custom header). The export's `"" 1;` entry is what makes them work.
#[test]
fn nginx_export_allows_preflights_without_request_headers() {
    let dir = fresh_dir("export", "empty-map-value");
    let Exported::Config(config, _) = export("nginx", "custom.toml", &dir) else {
        panic!("nginx can say custom.toml");
    };
    let entry = "\n    \"\" 1;\n";
    assert!(config.contains(entry), "{config}");
    let (http, location) = nginx_parts(&config);
    for (http, works) in [(http.clone(), true), (http.replacen(entry, "\n", 1), false)] {
        let peer = nginx("empty-map-value", &http, &location);
        let preflight = peer.request(
            "OPTIONS",
            "/api/data",
            &[
                ("Origin", ALLOWED),
                ("Access-Control-Request-Method", "DELETE"),
            ],
        );
        let allowed = preflight.status == 204
            && preflight.one("access-control-allow-origin") == Some(ALLOWED);
        assert_eq!(allowed, works, "{preflight:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// `crossgate export`'s output on the real servers, held to its policy by `check --policy`.

/// The policies under `tests/peers/policies`, by file name.
fn policies() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("tests/peers/policies"))
        .expect("tests/peers/policies")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    names.sort();
    names
}

/// The (target, policy) pairs `export` refuses, and what its reason must mention.
const REFUSALS: &[(&str, &str, &str)] = &[
    // The cors package, CORSMiddleware and S3 answer every request, whatever its origin.
    ("express", "blocking.toml", "cannot-block"),
    ("fastapi", "blocking.toml", "cannot-block"),
    ("s3", "blocking.toml", "cannot-block"),
    // One `*` per origin in S3.
    ("s3", "ports.toml", "origin-pattern"),
];

/// The differences an export's warning announces, by the warning's code: `check --policy` must
/// find no other. Each is what the warning says, as a predicate on one `--json` result and one
/// of its differences' kinds.
const WARNED: &[(&str, &str, Explains)] = &[
    // S3 has no setting for credentials: it allows them to every origin it allows.
    ("s3", "credentials", |result, kind| {
        kind == "allows-refused" && result["credentials"] == "include"
    }),
    // S3 takes only GET, PUT, POST, DELETE and HEAD: the others are dropped.
    ("s3", "methods", |result, kind| {
        kind == "refuses-allowed"
            && !["GET", "HEAD", "POST", "PUT", "DELETE"]
                .contains(&result["method"].as_str().unwrap_or_default())
    }),
];

type Explains = fn(&Value, &str) -> bool;

/// Whether `code` is among an export's warnings (`warning[CODE]` on standard error).
fn warned(warnings: &str, code: &str) -> bool {
    warnings.contains(&format!("[{code}]")) || warnings.contains(&format!("code: \"{code}\""))
}

/// The differences that no warning of the export announces.
fn unannounced(target: &str, warnings: &str, checked: &Checked) -> Vec<String> {
    let mut left = Vec::new();
    for result in &checked.results {
        for difference in result["differences"].as_array().into_iter().flatten() {
            let kind = difference["kind"].as_str().unwrap_or_default();
            let explained = WARNED.iter().any(|(t, code, explains)| {
                *t == target && warned(warnings, code) && explains(result, kind)
            });
            if !explained {
                left.push(format!(
                    "{kind}: {} {} from {} credentials {}",
                    result["method"], result["url"], result["origin"], result["credentials"]
                ));
            }
        }
    }
    left
}

/// What `crossgate export --to TARGET POLICY -o FILE` made of a policy.
enum Exported {
    /// The file it wrote, and what it said on standard error (warnings).
    Config(String, String),
    /// Its refusal (exit 1): everything it printed.
    Refused(String),
}

fn export(target: &str, policy: &str, dir: &TempDir) -> Exported {
    let out = path_str(&dir.0.join(format!("{policy}.{target}")));
    let run = crossgate(&["export", "--to", target, &policy_path(policy), "-o", &out]);
    match run.code {
        0 => Exported::Config(
            std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{out}: {e}: {run:?}")),
            run.stderr,
        ),
        1 => Exported::Refused(format!("{}{}", run.stdout, run.stderr)),
        _ => panic!("export --to {target} {policy}: {run:?}"),
    }
}

/// nginx's export in its two parts: what goes in `http {}` and what goes in the `location`.
fn nginx_parts(config: &str) -> (String, String) {
    let location = "# === part 2: inside the location { } that serves the API ===";
    let (http, location) = config
        .split_once(location)
        .unwrap_or_else(|| panic!("no {location:?} line in the nginx export:\n{config}"));
    (http.to_owned(), location.to_owned())
}

/// Starts `target`'s server with `config`, as the export's own comments say to use it; returns
/// it and the path that leads to `/api/data` on it.
fn start_exported(target: &'static str, policy: &str, config: &str) -> (Peer, String) {
    let name = policy.trim_end_matches(".toml");
    match target {
        "nginx" => {
            let (http, location) = nginx_parts(config);
            (nginx(name, &http, &location), String::new())
        }
        "apache" => (apache(name, config), String::new()),
        "caddy" => (
            caddy(name, config, "  import crossgate_cors"),
            String::new(),
        ),
        "express" => (express(name, config), String::new()),
        "fastapi" => (fastapi(name, config), String::new()),
        "s3" => {
            let s3 = s3(name);
            let bucket = s3.bucket(&name.replace('_', "-"), config);
            (s3, bucket)
        }
        _ => panic!("no launcher for {target}"),
    }
}

/// Exports every policy to `target`, starts the real server with each output (all at once), and
/// runs `check --policy` against each: no difference, or the refusal [`REFUSALS`] expects.
fn exports_do_what_their_policies_say(target: &'static str) {
    let dir = fresh_dir("export", target);
    let mut failures = Vec::new();
    let mut starts: Vec<Start> = Vec::new();
    let mut started = Vec::new();
    for policy in policies() {
        let refusal = REFUSALS
            .iter()
            .find(|(t, p, _)| *t == target && *p == policy);
        match (export(target, &policy, &dir), refusal) {
            (Exported::Refused(text), Some((_, _, reason))) => {
                if !text.contains(reason) {
                    failures.push(format!(
                        "{policy}: refused, but not for {reason:?}:\n{text}"
                    ));
                }
            }
            (Exported::Refused(text), None) => {
                failures.push(format!("{policy}: export refused it:\n{text}"));
            }
            (Exported::Config(config, _), Some((_, _, reason))) => {
                failures.push(format!(
                    "{policy}: exported, where a refusal ({reason}) was expected:\n{config}"
                ));
            }
            (Exported::Config(config, warnings), None) => {
                let for_start = config.clone();
                let name = policy.clone();
                starts.push(Box::new(move || start_exported(target, &name, &for_start)));
                started.push((policy, config, warnings));
            }
        }
    }
    for ((peer, base), (policy, config, warnings)) in start_all(starts).into_iter().zip(started) {
        let checked = check_policy(
            &peer,
            &policy_path(&policy),
            &format!("{base}/api/data"),
            Some(&format!("{base}/api/error")),
        );
        if checked.run.code == 2 || !unannounced(target, &warnings, &checked).is_empty() {
            failures.push(format!(
                "{policy}: {}\nexport's warnings: {warnings}\nthe export:\n{config}",
                checked.report()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the exports to {target}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn export_nginx_does_what_the_policy_says() {
    exports_do_what_their_policies_say("nginx");
}

#[test]
fn export_apache_does_what_the_policy_says() {
    exports_do_what_their_policies_say("apache");
}

#[test]
fn export_caddy_does_what_the_policy_says() {
    exports_do_what_their_policies_say("caddy");
}

#[test]
fn export_express_does_what_the_policy_says() {
    exports_do_what_their_policies_say("express");
}

#[test]
fn export_fastapi_does_what_the_policy_says() {
    exports_do_what_their_policies_say("fastapi");
}

#[test]
fn export_s3_does_what_the_policy_says() {
    exports_do_what_their_policies_say("s3");
}
