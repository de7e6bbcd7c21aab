//! `crossgate simulate`: the recorded examples, --explain, --browser, and files it refuses.

use std::path::PathBuf;

use serde_json::Value;

use super::{TempDir, crossgate, crossgate_with_stdin, json, path_str};

fn scenarios(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    path_str(&path)
}

/// The JSON results are what headless Chromium did with the examples, exactly.
#[test]
fn simulate_examples_match_chromium() {
    let run = crossgate(&["simulate", &scenarios("examples.json")]);
    assert_eq!(run.code, 1, "two of the four are blocked: {run:?}");
    assert_eq!(run.stderr, "");
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(scenarios("examples.chromium.json")).expect("the recording"),
    )
    .expect("the recording is JSON");
    assert_eq!(json(&run), recorded);
    assert!(run.stdout.starts_with("[\n  {\n"), "pretty-printed");
}

#[test]
fn simulate_explain_gives_steps_console_and_fix() {
    let run = crossgate(&["simulate", &scenarios("examples.json"), "--explain"]);
    assert_eq!(run.code, 1, "{run:?}");
    let out = &run.stdout;
    for expected in [
        "example-simple-expose: allowed\n",
        "GET http://127.0.0.1:8002/items from origin http://127.0.0.1:8001 (credentials: omit, chromium)\n",
        "  script can read: x-total\n",
        "> OPTIONS http://127.0.0.1:8002/items  (preflight)\n",
        ">   Access-Control-Request-Headers: content-type\n",
        "< 204 No Content\n",
        "  ✓ Access-Control-Allow-Methods: PUT allowed\n",
        "example-credentials-wildcard: blocked\n",
        "console: Access to fetch at 'http://127.0.0.1:8002/me' from origin 'http://127.0.0.1:8001' has been \
         blocked by CORS policy: The value of the 'Access-Control-Allow-Origin' header in the response must not \
         be the wildcard '*' when the request's credentials mode is 'include'.\n",
        "fix: `*` never allows a request with credentials\n  server:\n    \
         Access-Control-Allow-Origin: http://127.0.0.1:8001\n    Access-Control-Allow-Credentials: true\n    \
         Vary: Origin\n  policy:\n    allow_origins = [\"http://127.0.0.1:8001\"]\n    allow_credentials = true\n",
        ">   Origin: null\n",
        "(redirected from 'http://127.0.0.1:8002/old')",
        "\n4 scenarios: 2 allowed, 2 blocked\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // Scenarios in input order.
    let order: Vec<usize> = [
        "example-simple-expose:",
        "example-preflight-json:",
        "example-credentials-wildcard:",
        "example-redirect-taints-origin:",
    ]
    .iter()
    .map(|name| out.find(name).expect("each scenario is explained"))
    .collect();
    assert!(order.is_sorted(), "{order:?}");
}

/// A scenario where Chromium and the standard disagree: Chromium 156 lets
/// `Access-Control-Allow-Headers: *` cover `Authorization`; the standard does not.
const AUTHORIZATION_UNDER_STAR: &str = r#"{
  "name": "authorization-under-star",
  "request": {"origin": "http://127.0.0.1:8001", "url": "http://127.0.0.1:8002/r",
              "method": "PUT", "headers": [["Authorization", "Bearer t"]], "credentials": "omit"},
  "server": {"http://127.0.0.1:8002/r": {
    "preflight": {"status": 204, "headers": [["Access-Control-Allow-Origin", "http://127.0.0.1:8001"],
                                           ["Access-Control-Allow-Methods", "PUT"],
                                           ["Access-Control-Allow-Headers", "*"]]},
    "response": {"status": 200, "headers": [["Access-Control-Allow-Origin", "http://127.0.0.1:8001"]]}}}
}"#;

#[test]
fn simulate_one_scenario_from_stdin_and_browser_profiles() {
    let run = crossgate_with_stdin(&["simulate", "-"], AUTHORIZATION_UNDER_STAR);
    assert_eq!(run.code, 0, "{run:?}");
    let results = json(&run);
    assert_eq!(results.as_array().map(Vec::len), Some(1), "an array of one");
    assert_eq!(results[0]["name"], "authorization-under-star");
    assert_eq!(results[0]["outcome"], "allowed");
    assert_eq!(results[0]["requests"][0]["acrh"], "authorization");

    let run = crossgate_with_stdin(
        &["simulate", "-", "--browser", "spec"],
        AUTHORIZATION_UNDER_STAR,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        json(&run)[0]["console"][0],
        "Access to fetch at 'http://127.0.0.1:8002/r' from origin 'http://127.0.0.1:8001' has been blocked \
         by CORS policy: Request header field authorization is not allowed by Access-Control-Allow-Headers in preflight response."
    );

    let run = crossgate_with_stdin(
        &["simulate", "-", "--browser", "spec", "--explain"],
        AUTHORIZATION_UNDER_STAR,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("(credentials: omit, spec)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "fix: the preflight does not allow the request header authorization (the standard's `*` never covers Authorization, and Chromium is phasing that out: list it by name)\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("scenarios:"),
        "no summary for a single scenario"
    );
}

#[test]
fn simulate_refuses_invalid_files() {
    let dir = TempDir::new("simulate-invalid");
    let cases = [
        (
            "syntax.json",
            "[\n  {\"name\": \"a\",\n   \"request\": }\n]",
            "not a valid scenario file: expected value at line 3 column 15",
        ),
        (
            "missing.json",
            "{\"name\": \"a\", \"request\": {\"url\": \"http://127.0.0.1:8002/\"}}",
            "not a valid scenario file: missing field `origin` at line 1 column 58",
        ),
        (
            "unknown.json",
            "[{\"name\": \"a\", \"request\": {\"origin\": \"http://a.test\", \"url\": \"http://b.test/\"}, \"servers\": {}}]",
            "not a valid scenario file: unknown field `servers`",
        ),
        (
            "twice.json",
            "[{\"name\": \"a\", \"request\": {\"origin\": \"http://a.test\", \"url\": \"http://b.test/\"}},\
              {\"name\": \"a\", \"request\": {\"origin\": \"http://a.test\", \"url\": \"http://c.test/\"}}]",
            "scenario name \"a\" appears twice (names are unique in a file)",
        ),
        (
            "origin.json",
            "[{\"name\": \"ok\", \"request\": {\"origin\": \"http://a.test\", \"url\": \"http://b.test/\"}},\
              {\"name\": \"bad-origin\", \"request\": {\"origin\": \"not an origin\", \"url\": \"http://b.test/\"}}]",
            "scenario \"bad-origin\": page origin",
        ),
        (
            "url.json",
            "{\"name\": \"bad-url\", \"request\": {\"origin\": \"http://a.test\", \"url\": \"/relative\"}}",
            "scenario \"bad-url\": URL \"/relative\": relative URL without a base",
        ),
        // Both were reported allowed.
        (
            "status-zero.json",
            "[{\"name\": \"ok\", \"request\": {\"origin\": \"http://a.test\", \"url\": \"http://b.test/\"}},\
              {\"name\": \"status-zero\", \"request\": {\"origin\": \"http://a.test\", \"url\": \"http://b.test/\"},\
               \"server\": {\"http://b.test/\": {\"response\": {\"status\": 0, \"headers\": [[\"Access-Control-Allow-Origin\", \"*\"]]}}}}]",
            "scenario \"status-zero\": server[\"http://b.test/\"].response.status = 0: not an HTTP status \
             (100 to 599): write the status the server answers, e.g. 200",
        ),
        (
            "status-1000.json",
            "{\"name\": \"status-1000\", \"request\": {\"origin\": \"http://a.test\", \"url\": \"http://b.test/\", \"method\": \"PUT\"},\
              \"server\": {\"http://b.test/\": {\"preflight\": {\"status\": 1000, \"headers\": [[\"Access-Control-Allow-Origin\", \"*\"], [\"Access-Control-Allow-Methods\", \"PUT\"]]},\
                                            \"response\": {\"status\": 200, \"headers\": [[\"Access-Control-Allow-Origin\", \"*\"]]}}}}",
            "scenario \"status-1000\": server[\"http://b.test/\"].preflight.status = 1000: not an HTTP status \
             (100 to 599)",
        ),
    ];
    for (file, text, message) in cases {
        let path = dir.file(file, text);
        for explain in [false, true] {
            let mut args = vec!["simulate", path.as_str()];
            if explain {
                args.push("--explain");
            }
            let run = crossgate(&args);
            assert_eq!(run.code, 2, "{file}: {run:?}");
            assert_eq!(run.stdout, "", "{file}: nothing printed before the error");
            let prefix = format!("crossgate: {path}: ");
            assert!(
                run.stderr.starts_with(&prefix) && run.stderr.contains(message),
                "{file}: expected {message:?} in {:?}",
                run.stderr
            );
            assert_eq!(run.stderr.lines().count(), 1, "{file}: {:?}", run.stderr);
        }
    }

    let missing = path_str(&dir.0.join("absent.json"));
    let run = crossgate(&["simulate", &missing]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!("crossgate: cannot read {missing}: No such file or directory (os error 2)\n")
    );

    let run = crossgate_with_stdin(&["simulate", "-"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("crossgate: <stdin>: not a valid scenario file: EOF while parsing"),
        "{}",
        run.stderr
    );
}
