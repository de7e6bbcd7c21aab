//! End-to-end tests of the `crossgate` binary: each runs the real executable and checks its
//! output and exit status. One test binary for everything that needs only the binary and
//! loopback servers written here: the subcommands with more to test have a module under `cli/`.
//! The tests that run real nginx, Apache, Caddy, Node.js and Python servers are the `peers`
//! target (`tests/peers.rs`), which `cargo test` leaves out and `scripts/test` runs.

#[path = "cli/audit.rs"]
mod audit;
#[path = "cli/check.rs"]
mod check;
#[path = "cli/check_policy.rs"]
mod check_policy;
#[path = "cli/export.rs"]
mod export;
#[path = "cli/input.rs"]
mod input;
#[path = "cli/proxy.rs"]
mod proxy;
#[path = "cli/servers.rs"]
mod servers;
#[path = "cli/simulate.rs"]
mod simulate;
#[path = "cli/support.rs"]
mod support;
#[path = "cli/zoo.rs"]
mod zoo;

use std::process::{Command, Stdio};

use serde_json::Value;
use support::{Run, TempDir, crossgate, crossgate_with_stdin, json, path_str};

/// The cells of a table line (columns are at least two spaces apart).
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

const REFERENCE: &str = "http://www.example.com/dir/page.html";

/// The classic same-origin table (RFC 6454 / MDN / Wikipedia): URL, same origin, why, same site.
const CLASSIC: [(&str, bool, &str, bool); 8] = [
    (
        "http://www.example.com/dir2/other.html",
        true,
        "same scheme, host and port",
        true,
    ),
    (
        "http://www.example.com/dir/inner/another.html",
        true,
        "same scheme, host and port",
        true,
    ),
    (
        "https://www.example.com/secure.html",
        false,
        "scheme differs (http vs https), port differs (80 vs 443)",
        false,
    ),
    (
        "http://www.example.com:81/dir/etc.html",
        false,
        "port differs (80 vs 81)",
        true,
    ),
    (
        "http://en.example.com/dir/other.html",
        false,
        "host differs (www.example.com vs en.example.com)",
        true,
    ),
    (
        "http://example.com/dir/other.html",
        false,
        "host differs (www.example.com vs example.com)",
        true,
    ),
    (
        "http://v2.www.example.com/dir/other.html",
        false,
        "host differs (www.example.com vs v2.www.example.com)",
        true,
    ),
    (
        "http://www.example.com:80/dir/other.html",
        true,
        "same scheme, host and port",
        true,
    ),
];

fn classic_args(json: bool) -> Vec<&'static str> {
    let mut args = vec!["origin", REFERENCE];
    args.extend(CLASSIC.iter().map(|c| c.0));
    if json {
        args.push("--json");
    }
    args
}

#[test]
fn origin_classic_table() {
    let run = crossgate(&classic_args(false));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2 + CLASSIC.len(), "{}", run.stdout);
    assert_eq!(
        cells(lines[0]),
        ["URL", "ORIGIN", "SAME ORIGIN", "SAME SITE", "WHY"]
    );
    assert_eq!(
        cells(lines[1]),
        [
            REFERENCE,
            "http://www.example.com",
            "(reference)",
            "site http://example.com"
        ]
    );
    for (line, (url, same_origin, why, same_site)) in lines[2..].iter().zip(CLASSIC) {
        let c = cells(line);
        assert_eq!(c.len(), 5, "{line}");
        assert_eq!(c[0], url);
        assert_eq!(c[2], if same_origin { "yes" } else { "no" }, "{line}");
        assert_eq!(c[3], if same_site { "yes" } else { "no" }, "{line}");
        assert_eq!(c[4], why, "{line}");
    }
    assert_eq!(cells(lines[5])[1], "http://www.example.com:81");
    // Aligned: every column starts at the same offset on every line.
    let why_at = lines[0].find("WHY").expect("header has WHY");
    for (line, (_, _, why, _)) in lines[2..].iter().zip(CLASSIC) {
        assert_eq!(&line[why_at..], why, "{line}");
    }
}

#[test]
fn origin_classic_json() {
    let run = crossgate(&classic_args(true));
    assert_eq!(run.code, 0, "{run:?}");
    let report = json(&run);
    let reference = &report["reference"];
    assert_eq!(reference["url"], REFERENCE);
    assert_eq!(reference["origin"], "http://www.example.com");
    assert_eq!(reference["site"], "http://example.com");
    assert_eq!(reference["opaque"], false);
    let comparisons = report["comparisons"].as_array().expect("an array");
    assert_eq!(comparisons.len(), CLASSIC.len());
    for (c, (url, same_origin, why, same_site)) in comparisons.iter().zip(CLASSIC) {
        assert_eq!(c["url"], url);
        assert_eq!(c["same_origin"], same_origin, "{url}");
        assert_eq!(c["why"], why, "{url}");
        assert_eq!(c["same_site"], same_site, "{url}");
        assert_eq!(c["opaque"], false, "{url}");
        let differs = &c["differs"];
        assert_eq!(
            differs["scheme"].as_bool().expect("bool")
                || differs["host"].as_bool().expect("bool")
                || differs["port"].as_bool().expect("bool"),
            !same_origin,
            "{url}"
        );
    }
    let secure = &comparisons[2];
    assert_eq!(secure["origin"], "https://www.example.com");
    assert_eq!(secure["site"], "https://example.com");
    assert_eq!(
        secure["differs"],
        serde_json::json!({"scheme": true, "host": false, "port": true})
    );
}

#[test]
fn origin_single_url() {
    let run = crossgate(&["origin", "HTTPS://Sub.Example.CO.UK:443/path?q#f"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<Vec<&str>> = run.stdout.lines().map(cells).collect();
    assert_eq!(
        lines,
        [
            vec!["url", "HTTPS://Sub.Example.CO.UK:443/path?q#f"],
            vec!["origin", "https://sub.example.co.uk"],
            vec!["site", "https://example.co.uk"],
        ]
    );

    let run = crossgate(&["origin", "http://127.0.0.1:8080/", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = json(&run);
    assert_eq!(report["reference"]["origin"], "http://127.0.0.1:8080");
    assert_eq!(report["reference"]["site"], "http://127.0.0.1");
    assert_eq!(report["comparisons"], serde_json::json!([]));
}

#[test]
fn origin_opaque() {
    let run = crossgate(&["origin", "data:text/plain,hi"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("origin  null (data: URLs have an opaque origin)"),
        "{}",
        run.stdout
    );

    let args = [
        "origin",
        "http://example.com/",
        "data:text/plain,hi",
        "file:///etc/hosts",
        "about:blank",
    ];
    let run = crossgate(&args);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    for (line, reason) in lines[2..].iter().zip([
        "data: URLs have an opaque origin",
        "file: URLs have an opaque origin in browsers",
        "about:blank alone has an opaque origin",
    ]) {
        let c = cells(line);
        assert_eq!(c[1..4], ["null", "no", "no"], "{line}");
        assert!(c[4].starts_with(reason), "{line}");
    }

    let mut with_json = args.to_vec();
    with_json.push("--json");
    let report = json(&crossgate(&with_json));
    for c in report["comparisons"].as_array().expect("an array") {
        assert_eq!(c["origin"], "null");
        assert_eq!(c["site"], Value::Null);
        assert_eq!(c["opaque"], true);
        assert!(c["opaque_reason"].is_string());
        assert_eq!(c["same_origin"], false);
        assert_eq!(c["same_site"], false);
        assert_eq!(c["differs"], Value::Null);
        assert_eq!(c["why"], "an opaque origin is same-origin only with itself");
    }
}

#[test]
fn origin_not_a_url() {
    let run = crossgate(&["origin", "http://example.com/", "http://"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "", "nothing printed before the error");
    assert_eq!(run.stderr, "crossgate: http://: not a URL: empty host\n");

    let run = crossgate(&["origin", "not a url", "--json"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "crossgate: \"not a url\": not a URL: relative URL without a base\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["origin"][..],
        &[],
        &["bogus"],
        &["validate"],
        &["origin", "--nope", "x"],
    ] {
        let run = crossgate(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn help_lists_subcommands_and_json_schemas() {
    let run = crossgate(&["--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    for word in ["origin", "validate", "Exit status"] {
        assert!(run.stdout.contains(word), "{word}: {}", run.stdout);
    }
    let run = crossgate(&["origin", "--help"]);
    assert!(
        run.stdout.contains("\"same_origin\": bool"),
        "{}",
        run.stdout
    );
    let run = crossgate(&["validate", "--help"]);
    assert!(run.stdout.contains("\"problems\": ["), "{}", run.stdout);
}

/// `SUBCOMMAND --help` shows the subcommand's long description, not only its one-line summary.
#[test]
fn help_shows_each_long_description() {
    for (subcommand, phrase) in [
        ("origin", "Public Suffix List"),
        ("validate", "every error and warning at once"),
        ("check", "--repeat N runs the same fetch N times"),
        ("simulate", "Nothing goes on the\nnetwork"),
    ] {
        let run = crossgate(&[subcommand, "--help"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains(phrase), "{subcommand}: {}", run.stdout);
    }
}

/// A reader that goes away (`| head -1`) ends the run quietly with status 0.
#[test]
fn broken_pipe_exits_0_quietly() {
    // Enough rows to overflow any pipe buffer, so some write happens after the reader is gone.
    let urls: Vec<String> = (0..3000)
        .map(|i| format!("http://host{i}.example.com/"))
        .collect();
    for json in [false, true] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_crossgate"));
        command.arg("origin").args(&urls);
        if json {
            command.arg("--json");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("crossgate starts");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("crossgate runs");
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    }
}

const VALID: &str = r#"
allow_origins = ["https://app.example.com", "https://*.example.org"]
allow_methods = ["GET", "PUT"]
allow_headers = ["content-type", "x-request-id"]
allow_credentials = true
max_age = 600
"#;

const VALID_WITH_WARNING: &str = r#"
allow_origins = ["https://app.example.com"]
max_age = 10000
"#;

const INVALID: &str = r#"
allow_origins = ["*"]
allow_credentials = true
max_age = 100000
"#;

#[test]
fn validate_valid() {
    let dir = TempDir::new("valid");
    let path = dir.file("policy.toml", VALID);
    let run = crossgate(&["validate", &path]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], format!("{path}: valid"));
    let summary: Vec<Vec<&str>> = lines[1..].iter().map(|l| cells(l)).collect();
    assert_eq!(
        summary,
        [
            vec!["origins:", "https://app.example.com, https://*.example.org"],
            vec!["methods:", "GET, HEAD, POST, PUT"],
            vec!["headers:", "CORS-safelisted, content-type, x-request-id"],
            vec!["exposes:", "CORS-safelisted only"],
            vec!["credentials:", "allowed (cookies, HTTP authentication)"],
            vec!["max_age:", "600 seconds"],
        ]
    );

    let path = dir.file("warning.toml", VALID_WITH_WARNING);
    let run = crossgate(&["validate", &path]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..4],
        [
            format!("{path}: warning[ignored-by-browsers] max_age = 10000").as_str(),
            "  Chromium caps preflight caching at 7200 seconds",
            "  fix: max_age = 7200, unless you target Firefox's longer cache",
            format!("{path}: valid (1 warning)").as_str(),
        ]
    );
}

#[test]
fn validate_invalid() {
    let dir = TempDir::new("invalid");
    let path = dir.file("policy.toml", INVALID);
    let run = crossgate(&["validate", &path]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("{path}: error[wildcard-with-credentials] allow_origins[0] = \"*\"")
    );
    assert!(
        lines[1].starts_with("  for security reasons"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("  fix: list the origins"),
        "{}",
        lines[2]
    );
    assert_eq!(
        lines[3],
        format!("{path}: error[max-age-out-of-range] max_age = 100000")
    );
    assert_eq!(lines[5], "  fix: max_age = 7200 (Chromium's cap, 2 hours)");
    assert_eq!(
        lines.last(),
        Some(&format!("{path}: invalid: 2 errors").as_str())
    );
}

#[test]
fn validate_unknown_key_and_bad_toml() {
    let dir = TempDir::new("unknown");
    let path = dir.file(
        "policy.toml",
        "origins = [\"https://app.example.com\"]\nallow_origins = [\"https://app.example.com\"]\n",
    );
    let run = crossgate(&["validate", &path]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "{path}: error[unknown-key] origins\n  unknown key\n  fix: did you mean `allow_origins`?\n\
             {path}: invalid: 1 error\n"
        )
    );

    let path = dir.file("broken.toml", "allow_origins = [\n");
    let run = crossgate(&["validate", &path]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("{path}: error[syntax] line 1")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("not valid TOML"), "{}", run.stdout);
    assert!(run.stdout.ends_with(&format!("{path}: invalid: 1 error\n")));
}

#[test]
fn validate_unreadable() {
    let dir = TempDir::new("unreadable");
    let missing = path_str(&dir.0.join("missing.toml"));
    for args in [
        vec!["validate", &missing],
        vec!["validate", &missing, "--json"],
    ] {
        let run = crossgate(&args);
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(run.stdout, "");
        assert_eq!(
            run.stderr,
            format!("crossgate: cannot read {missing}: No such file or directory (os error 2)\n")
        );
    }
    let directory = path_str(&dir.0);
    let run = crossgate(&["validate", &directory]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("crossgate: cannot read {directory}: ")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1);
}

#[test]
fn validate_json() {
    let dir = TempDir::new("json");
    let path = dir.file("bad.toml", INVALID);
    let run = crossgate(&["validate", &path, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let report = json(&run);
    assert_eq!(report["file"], path.as_str());
    assert_eq!(report["valid"], false);
    assert_eq!(report["policy"], Value::Null);
    let problems = report["problems"].as_array().expect("an array");
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0]["severity"], "error");
    assert_eq!(problems[0]["code"], "wildcard-with-credentials");
    assert_eq!(problems[0]["key"], "allow_origins[0]");
    assert_eq!(problems[0]["value"], "*");
    assert!(problems[0]["reason"].is_string());
    assert!(problems[0]["fix"].is_string());
    assert_eq!(problems[1]["code"], "max-age-out-of-range");
    assert_eq!(problems[1]["value"], 100000);

    let path = dir.file("good.toml", VALID_WITH_WARNING);
    let run = crossgate(&["validate", &path, "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let report = json(&run);
    assert_eq!(report["valid"], true);
    assert_eq!(report["problems"][0]["severity"], "warning");
    assert_eq!(report["problems"][0]["code"], "ignored-by-browsers");
    assert_eq!(
        report["policy"]["allow_origins"],
        serde_json::json!(["https://app.example.com"])
    );
    assert_eq!(report["policy"]["max_age"], 10000);
}

#[test]
fn validate_stdin() {
    let run = crossgate_with_stdin(&["validate", "-"], VALID);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("<stdin>: valid\n"), "{}", run.stdout);

    let run = crossgate_with_stdin(&["validate", "-", "--json"], INVALID);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(json(&run)["file"], "-");
}
