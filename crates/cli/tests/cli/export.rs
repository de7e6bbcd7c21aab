//! `crossgate export`: the configuration on stdout or in a file, differences on stderr and in
//! JSON, refusals and invalid policies exit 1 without writing anything. What the exports do on
//! the real servers (`nginx -t`, Apache in front of a CGI script, every target held to its
//! policy) is in the `peers` target (`tests/peers/export.rs`, `tests/peers.rs`).

use super::{TempDir, crossgate, json, path_str};

/// Exact, subdomain and any-port origins, methods, headers, exposed headers, credentials, max-age.
const POLICY: &str = include_str!("export_policy.toml");

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

/// Found in review: origins of other schemes were only checked for white space and `%`, so
/// quotes and `;` reached the exported configurations. Now the policy is invalid, nothing is
/// exported, and the error names every character and the fix.
#[test]
fn regression_export_refuses_config_syntax_in_an_origin() {
    let dir = TempDir::new("export-syntax");
    let policy = dir.file(
        "policy.toml",
        "allow_origins = [\"x://*.a\\\"if\\\"\\\"else\\\"b\", \"x://a\\\"+b;c\"]\n",
    );
    for target in ["nginx", "apache", "fastapi"] {
        let run = crossgate(&["export", "--to", target, &policy]);
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(run.stdout, "", "{target}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(
            lines[0].starts_with(&format!(
                "{policy}: error[not-an-origin] allow_origins[0] = 'x://*.a\"if\"\"else\"b'"
            )),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("`\"` in the host: browsers never send it")
                && run.stderr.contains("`\"` and `;` in the host")
                && run.stderr.contains("e.g. \"x://*.aifelseb\"")
                && run.stderr.contains("e.g. \"x://a+bc\""),
            "{}",
            run.stderr
        );
    }
}
