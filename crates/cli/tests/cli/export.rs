//! `crossgate export`: the configuration on stdout or in a file, differences on stderr and in
//! JSON, refusals and invalid policies exit 1 without writing anything, and the nginx snippet
//! passes `nginx -t` when included in a minimal configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{TempDir, crossgate, json, path_str};

const POLICY: &str = r#"
allow_origins = ["https://app.example.com", "https://*.example.org", "http://localhost:*"]
allow_methods = ["PUT", "DELETE"]
allow_headers = ["content-type", "x-request-id"]
expose_headers = ["x-total-count"]
allow_credentials = true
max_age = 600
"#;

/// The nginx snippet's two parts, as the header comment tells users to split them.
const PART_2: &str = "# === part 2: inside the location { } that serves the API ===";

#[test]
fn export_nginx_to_stdout_and_to_a_file() {
    let dir = TempDir::new("export-nginx");
    let policy = dir.file("policy.toml", POLICY);
    let run = crossgate(&["export", "--to", "nginx", &policy]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "nginx says this policy exactly");
    assert!(
        run.stdout.starts_with("# CORS for nginx\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("# === part 1: inside http { } ===\n"));
    assert!(run.stdout.contains(PART_2));
    assert!(
        run.stdout
            .contains(r#"    "~^https://(?:[a-z0-9_-]+\.)+example\.org$" $http_origin;"#),
        "{}",
        run.stdout
    );

    let out = path_str(&dir.0.join("cors.conf"));
    let written = crossgate(&["export", "--to", "nginx", &policy, "-o", &out]);
    assert_eq!(written.code, 0, "{written:?}");
    assert_eq!(written.stdout, "");
    assert_eq!(
        written.stderr,
        format!("crossgate: wrote {out} (0 warnings for nginx)\n")
    );
    assert_eq!(std::fs::read_to_string(&out).expect("written"), run.stdout);
}

#[test]
fn export_warnings_go_to_stderr_and_json() {
    let dir = TempDir::new("export-express");
    let policy = dir.file("policy.toml", POLICY);
    let run = crossgate(&["export", "--to", "express", &policy]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.ends_with("module.exports = corsOptions;\n"),
        "{}",
        run.stdout
    );
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{}", run.stderr);
    assert!(
        warnings[0].starts_with(
            "crossgate: warning[preflight-status]: Express (cors): cors answers every OPTIONS request itself with 204"
        ),
        "{}",
        warnings[0]
    );

    let run = crossgate(&["export", "--to", "express", &policy, "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let report = json(&run);
    assert_eq!(report["target"], "express");
    assert_eq!(report["exported"], true);
    assert!(
        report["text"]
            .as_str()
            .expect("text")
            .contains("  credentials: true,\n")
    );
    let codes: Vec<&str> = report["warnings"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|w| w["code"].as_str().expect("a code"))
        .collect();
    assert_eq!(codes, ["preflight-status", "headers-on-refused"]);
    assert_eq!(report["refusals"], serde_json::json!([]));
}

#[test]
fn export_refusal_writes_nothing_and_exits_1() {
    let dir = TempDir::new("export-s3");
    let policy = dir.file(
        "policy.toml",
        "allow_origins = [\"https://*.example.org:*\"]\nblock_disallowed_origins = true\n",
    );
    let out = dir.0.join("cors.json");
    let run = crossgate(&["export", "--to", "s3", &policy, "-o", &path_str(&out)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(!out.exists(), "nothing written on a refusal");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines[0],
        format!("crossgate: {policy}: cannot export to S3, nothing written:")
    );
    assert!(lines[1].starts_with("  refused[cannot-block]: S3 answers every request"));
    assert!(
        lines[2].starts_with(
            "  refused[origin-pattern]: S3 allows one * per origin, and https://*.example.org:* needs two"
        ),
        "{}",
        lines[2]
    );

    let run = crossgate(&["export", "--to", "s3", &policy, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = json(&run);
    assert_eq!(report["exported"], false);
    assert_eq!(report["text"], serde_json::Value::Null);
    assert_eq!(report["refusals"][1]["code"], "origin-pattern");
}

#[test]
fn export_invalid_policy_exits_1_with_its_errors() {
    let dir = TempDir::new("export-invalid");
    let policy = dir.file(
        "policy.toml",
        "allow_origins = [\"*\"]\nallow_credentials = true\n",
    );
    let run = crossgate(&["export", "--to", "caddy", &policy]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with(&format!(
            "{policy}: error[wildcard-with-credentials] allow_origins[0] = \"*\"\n"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.ends_with(&format!(
            "crossgate: {policy}: invalid policy, nothing exported\n"
        )),
        "{}",
        run.stderr
    );

    let run = crossgate(&["export", "--to", "caddy", &policy, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = json(&run);
    assert_eq!(report["exported"], false);
    assert_eq!(report["problems"][0]["code"], "wildcard-with-credentials");
}

#[test]
fn export_usage_and_io_errors_exit_2() {
    let dir = TempDir::new("export-usage");
    let policy = dir.file("policy.toml", POLICY);
    let run = crossgate(&["export", "--to", "iis", &policy]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "unknown export target \"iis\": expected one of nginx, caddy, apache, express, fastapi, s3"
        ),
        "{}",
        run.stderr
    );
    let missing = path_str(&dir.0.join("missing.toml"));
    let run = crossgate(&["export", "--to", "nginx", &missing]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("crossgate: cannot read {missing}: "))
    );
    let run = crossgate(&["export", "--to", "nginx", &policy, "-o", &path_str(&dir.0)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("crossgate: cannot write {}: ", path_str(&dir.0))),
        "{}",
        run.stderr
    );
}

/// nginx, from Debian's package (scripts/peers installs it).
fn nginx() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join("nginx");
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "nginx is missing: run scripts/peers (scripts/test does), which installs Debian's nginx"
    );
}

/// What a user does with the snippet: part 1 included in `http {}`, part 2 in a `location`, and
/// `nginx -t` on it; for several policies, block_disallowed_origins included.
#[test]
fn export_nginx_passes_nginx_t() {
    for (name, policy) in [
        ("full", POLICY),
        (
            "public",
            "allow_origins = [\"*\"]\nallow_methods = [\"*\"]\nallow_headers = [\"*\"]\nexpose_headers = [\"*\"]\n",
        ),
        (
            "blocking",
            "allow_origins = [\"https://app.example.com\"]\nblock_disallowed_origins = true\n",
        ),
        ("nothing", "allow_origins = []\n"),
    ] {
        let dir = TempDir::new(&format!("export-nginx-t-{name}"));
        let policy = dir.file("policy.toml", policy);
        let run = crossgate(&["export", "--to", "nginx", &policy]);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let (maps, location) = run.stdout.split_once(PART_2).expect("two parts");
        let maps = dir.file("maps.conf", maps);
        let location = dir.file("location.conf", location);
        let root = path_str(&dir.0);
        let conf = dir.file(
            "nginx.conf",
            &format!(
                "pid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{}}\nhttp {{\n\
                 client_body_temp_path {root};\nproxy_temp_path {root};\nfastcgi_temp_path {root};\n\
                 uwsgi_temp_path {root};\nscgi_temp_path {root};\naccess_log off;\n\
                 include {maps};\n\
                 server {{\n listen 127.0.0.1:1;\n location / {{\n  include {location};\n  \
                 proxy_pass http://127.0.0.1:2;\n }}\n}}\n}}\n"
            ),
        );
        let output = Command::new(nginx())
            .args(["-t", "-q", "-p", &root, "-c", &conf])
            .output()
            .expect("nginx runs");
        assert!(
            output.status.success(),
            "{name}: nginx -t refused the export:\n{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            run.stdout
        );
    }
}
