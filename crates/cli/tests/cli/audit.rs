//! `crossgate audit` against the zoo (`zoo.rs`): one server per classic CORS mistake, answers
//! browsers refuse, and correct configurations.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use super::zoo::{HOST, Kind, PATH, Zoo};
use super::{Run, TempDir, crossgate, json};

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

/// An HTTPS zoo with a server per kind: the args that reach them all (`--resolve` for each,
/// `--cacert`), the URLs.
struct Audit {
    zoo: Zoo,
    dir: TempDir,
    cacert: String,
    ports: Vec<(Kind, u16)>,
}

impl Audit {
    fn new(name: &str, kinds: &[Kind]) -> Audit {
        let zoo = Zoo::https();
        let dir = TempDir::new(name);
        let cacert = dir.file("ca.pem", zoo.cert_pem().expect("an https zoo"));
        let ports = kinds.iter().map(|&k| (k, zoo.spawn(k))).collect();
        Audit {
            zoo,
            dir,
            cacert,
            ports,
        }
    }

    fn url(&self, kind: Kind) -> String {
        let port = self.port(kind);
        self.zoo.url(port)
    }

    fn port(&self, kind: Kind) -> u16 {
        self.ports
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| *p)
            .expect("spawned")
    }

    /// `crossgate audit` with the client flags for every server, then `args`; fast (no rate
    /// limit to speak of) unless `args` set `--rate`.
    fn run(&self, args: &[&str]) -> Run {
        let mut all: Vec<String> = vec!["audit".into(), "--cacert".into(), self.cacert.clone()];
        for (_, port) in &self.ports {
            all.push("--resolve".into());
            all.push(Zoo::resolve(*port));
        }
        if !args.contains(&"--rate") {
            all.extend(["--rate".into(), "100000/s".into()]);
        }
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        crossgate(&all)
    }
}

/// `(class, severity)` of a target's findings in `--json`, each pair once, in order.
fn found(target: &Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for f in target["findings"].as_array().expect("findings") {
        let pair = (
            f["class"].as_str().expect("class").to_owned(),
            f["severity"].as_str().expect("severity").to_owned(),
        );
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    pairs
}

/// Every kind of the zoo, in one run: each mistake found with its severity and nothing else;
/// nothing at all on the correct configurations and on what browsers refuse.
#[test]
fn audit_finds_each_mistake_and_nothing_else() {
    let audit = Audit::new("audit-zoo", &Kind::ALL);
    let urls: Vec<String> = Kind::ALL.iter().map(|&k| audit.url(k)).collect();
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.push("--json");
    let run = audit.run(&args);
    assert_eq!(run.stderr, "", "{run:?}");
    assert_eq!(run.code, 1, "{run:?}");
    let targets = json(&run);
    let targets = targets.as_array().expect("an array");
    assert_eq!(targets.len(), Kind::ALL.len());
    let mut wrong = Vec::new();
    for (kind, target) in Kind::ALL.iter().zip(targets) {
        assert_eq!(target["url"], audit.url(*kind));
        assert_eq!(target["status"], "ok", "{kind:?}: {target}");
        let want: Vec<(String, String)> = kind
            .expected()
            .iter()
            .map(|(c, s)| ((*c).to_owned(), (*s).to_owned()))
            .collect();
        let got = found(target);
        if got != want {
            wrong.push(format!("{kind:?}: found {got:?}, expected {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn urls_of(audit: &Audit, kinds: &[Kind]) -> Vec<String> {
    kinds.iter().map(|&k| audit.url(k)).collect()
}

fn with<'a>(urls: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    args
}

/// Text: per target, each class once with its origins, evidence, why and fix; a summary; no
/// progress bar when stderr is not a terminal.
#[test]
fn audit_text_output() {
    let kinds = [Kind::PrefixMatch, Kind::ExactList, Kind::WildcardPrivate];
    let audit = Audit::new(
        "audit-text",
        &[
            Kind::PrefixMatch,
            Kind::ExactList,
            Kind::WildcardPrivate,
            Kind::SpecialCharacters,
        ],
    );
    let urls = urls_of(&audit, &kinds);
    let run = audit.run(&with(&urls, &[]));
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "", "no progress bar on a pipe");
    let prefix = &urls[0];
    let port = audit.port(Kind::PrefixMatch);
    let evil = "https://www.target.test.crossgate-evil.example";
    let expected_start = format!(
        "{prefix}: 18 findings in 2 classes
  critical  prefix-match: origins that start with the target's host are trusted
    origin:   {evil}
    evidence: access-control-allow-origin: {evil}
              access-control-allow-credentials: true
              vary: Origin
    why:      a page on {evil} can read this response with the user's cookies: the browser's CORS check passes (origins that start with the target's host are trusted)
    fix:      compare the Origin against an exact list of allowed origins (e.g. https://www.target.test:{port}), or against subdomain patterns matched on label boundaries; never with startsWith, endsWith, includes or an unanchored regex
  critical  special-characters: special characters after the host are accepted
    origins:  https://www.target.test_.crossgate-evil.example, https://www.target.test-.crossgate-evil.example, https://www.target.test~.crossgate-evil.example and 14 more (--json lists them all)
"
    );
    assert!(
        run.stdout.starts_with(&expected_start),
        "{}\n---- expected the start:\n{expected_start}",
        run.stdout
    );
    let rest = &run.stdout[expected_start.len()..];
    assert!(
        rest.contains(&format!("\n\n{}: no finding\n\n{}: 1 finding\n  high      wildcard-private: `*` on a response that looks private\n", urls[1], urls[2])),
        "{rest}"
    );
    let special = audit.url(Kind::SpecialCharacters);
    let one = audit.run(&[&special]);
    assert!(
        one.stdout
            .starts_with(&format!("{special}: 16 findings in 1 class\n")),
        "{}",
        one.stdout
    );
    assert!(
        run.stdout
            .ends_with("\n3 targets: 3 audited; 19 findings (18 critical, 1 high)\n"),
        "{}",
        run.stdout
    );
}

/// SARIF 2.1.0: the fields the schema requires, a rule per class, results at the target URL,
/// levels from severities, and the target that could not be audited as a notification.
#[test]
fn audit_sarif() {
    let kinds = [Kind::NullOrigin, Kind::ReflectWithoutVary, Kind::ExactList];
    let audit = Audit::new("audit-sarif", &kinds);
    let urls = urls_of(&audit, &kinds);
    let refused = format!("http://{}/", super::servers::closed_port());
    let run = audit.run(&with(&urls, &[&refused, "--sarif"]));
    assert_eq!(run.code, 1, "{run:?}");
    let log = json(&run);
    // Required by the SARIF 2.1.0 schema: version, runs; run.tool.driver.name; result.message
    // (text); reportingDescriptor.id; invocation.executionSuccessful; notification.message.
    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "crossgate");
    assert!(
        driver["informationUri"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{driver}"
    );
    let rules = driver["rules"].as_array().expect("rules");
    let ids: Vec<&str> = rules
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    // Every class the auditor checks is a rule, found or not.
    let all: Vec<&str> = crossgate::audit::Class::ALL
        .iter()
        .map(|c| c.id())
        .collect();
    assert_eq!(ids, all);
    assert_eq!(
        rules[5]["shortDescription"]["text"],
        "the null origin is trusted"
    );
    let results = runs[0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for result in results {
        let id = result["ruleId"].as_str().expect("ruleId");
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(ids[index], id);
        assert!(
            result["message"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        let uri = &result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        assert!(urls[..2].iter().any(|u| u == uri), "{uri}");
        let severity = result["properties"]["severity"].as_str().expect("severity");
        let level = match severity {
            "critical" | "high" => "error",
            "medium" => "warning",
            _ => "note",
        };
        assert_eq!(result["level"], level, "{result}");
        assert!(result["properties"]["origin"].is_string());
        assert!(result["properties"]["evidence"][0]["name"].is_string());
    }
    let null = results
        .iter()
        .find(|r| r["ruleId"] == "null-origin")
        .expect("null-origin");
    assert_eq!(null["properties"]["origin"], "null");
    assert_eq!(null["level"], "error");
    let vary = results
        .iter()
        .find(|r| r["ruleId"] == "missing-vary-origin")
        .expect("missing-vary-origin");
    assert_eq!(vary["level"], "warning");
    assert_eq!(
        vary["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        urls[1]
    );
    let invocation = &runs[0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notes = invocation["toolExecutionNotifications"]
        .as_array()
        .expect("notifications");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["level"], "error");
    assert!(
        notes[0]["message"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!(
                "{refused} could not be audited: connection refused"
            ))),
        "{}",
        notes[0]
    );
}

/// A target that cannot be audited is reported with its reason and the run goes on; the exit
/// status says findings (1) before failures (2).
#[test]
fn audit_failed_targets_and_exit_status() {
    let kinds = [
        Kind::ExactList,
        Kind::InsecureOrigin,
        Kind::WildcardWithCredentials,
        Kind::NullOrigin,
    ];
    let audit = Audit::new("audit-exit", &kinds);
    let url = |k| audit.url(k);
    let refused = format!("http://{}/", super::servers::closed_port());
    let silent = format!("http://{}/slow", super::servers::silent());

    let run = audit.run(&[
        &refused,
        "ftp://x.test/",
        &url(Kind::ExactList),
        &silent,
        "--timeout",
        "0.5",
        "--json",
    ]);
    assert_eq!(run.code, 2, "{run:?}");
    let targets = json(&run);
    let status: Vec<&str> = targets
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| t["status"].as_str().expect("status"))
        .collect();
    assert_eq!(status, ["error", "error", "ok", "error"]);
    assert!(
        targets[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("connection refused: ")),
        "{}",
        targets[0]
    );
    assert_eq!(
        targets[1]["reason"],
        "\"ftp://x.test/\": only http and https URLs can be audited"
    );
    assert_eq!(targets[2]["findings"], Value::Array(Vec::new()));
    assert_eq!(targets[2].get("reason"), None);
    assert_eq!(targets[3]["reason"], "timed out: no response within 0.5 s");

    // Text: each failure on its own line, the summary counts them.
    let run = audit.run(&[&refused, &url(Kind::ExactList)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("{refused}: error: connection refused: ")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .ends_with("\n2 targets: 1 audited, 1 could not be audited; 0 findings\n"),
        "{}",
        run.stdout
    );

    // A finding at --fail-on or above wins over failures.
    let run = audit.run(&[&refused, &url(Kind::NullOrigin)]);
    assert_eq!(run.code, 1, "{run:?}");
    // Below --fail-on (default low): an info finding, a high one under --fail-on critical.
    let run = audit.run(&[&url(Kind::WildcardWithCredentials)]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = audit.run(&[&url(Kind::WildcardWithCredentials), "--fail-on", "info"]);
    assert_eq!(run.code, 1, "{run:?}");
    let run = audit.run(&[&url(Kind::InsecureOrigin), "--fail-on", "critical"]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = audit.run(&[&url(Kind::InsecureOrigin), "--fail-on", "high"]);
    assert_eq!(run.code, 1, "{run:?}");
    let run = audit.run(&[&url(Kind::ExactList)]);
    assert_eq!(run.code, 0, "{run:?}");
}

/// Without `--cacert`, a self-signed target fails with a hint, and the others go on.
#[test]
fn audit_tls_failure_hints_at_cacert() {
    let zoo = Zoo::https();
    let port = zoo.spawn(Kind::ExactList);
    let url = zoo.url(port);
    let resolve = Zoo::resolve(port);
    let run = crossgate(&["audit", &url, "--resolve", &resolve, "--json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let reason = json(&run)[0]["reason"]
        .as_str()
        .expect("a reason")
        .to_owned();
    assert!(
        reason.starts_with("TLS error: invalid peer certificate"),
        "{reason}"
    );
    assert!(
        reason.ends_with("pass its certificate with --cacert FILE)"),
        "{reason}"
    );
}

/// `--poc DIR`: a page per read class (the most severe finding of each), none for findings
/// that are not reads; the JSON and the text name them.
#[test]
fn audit_writes_proof_of_concept_pages() {
    let kinds = [Kind::NullOrigin, Kind::PrefixMatch, Kind::WildcardPrivate];
    let audit = Audit::new("audit-poc", &kinds);
    let urls = urls_of(&audit, &kinds);
    let dir = audit.dir.0.join("pocs");
    let dir_arg = super::path_str(&dir);
    let run = audit.run(&with(&urls, &["--poc", &dir_arg, "--json"]));
    assert_eq!(run.code, 1, "{run:?}");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("the directory is made")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .collect();
    files.sort();
    let null_port = audit.port(Kind::NullOrigin);
    let prefix_port = audit.port(Kind::PrefixMatch);
    let null_page = format!("www.target.test_{null_port}-null-origin.html");
    let prefix_page = format!("www.target.test_{prefix_port}-prefix-match.html");
    let special_page = format!("www.target.test_{prefix_port}-special-characters.html");
    // `*` on a private-looking answer is a read too: its page fetches without credentials.
    let wildcard_page = format!(
        "www.target.test_{}-wildcard-private.html",
        audit.port(Kind::WildcardPrivate)
    );
    let mut expected = [
        null_page.clone(),
        prefix_page.clone(),
        special_page.clone(),
        wildcard_page.clone(),
    ];
    expected.sort();
    assert_eq!(files, expected);
    let page = std::fs::read_to_string(dir.join(&null_page)).expect("the page");
    assert!(page.contains("<iframe sandbox=\"allow-scripts\""), "{page}");
    assert!(page.contains(&urls[0]), "{page}");
    let page = std::fs::read_to_string(dir.join(&prefix_page)).expect("the page");
    assert!(
        page.contains("Serve this page from https://www.target.test.crossgate-evil.example"),
        "{page}"
    );
    assert!(page.contains("credentials: \"include\""), "{page}");

    let targets = json(&run);
    let pocs: Vec<&Value> = targets[1]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f.get("poc"))
        .collect();
    assert_eq!(
        pocs,
        [
            &Value::from(super::path_str(&dir.join(&prefix_page))),
            &Value::from(super::path_str(&dir.join(&special_page))),
        ],
        "one page per class"
    );
    assert_eq!(targets[2]["findings"][0]["class"], "wildcard-private");
    assert_eq!(
        targets[2]["findings"][0]["poc"],
        Value::from(super::path_str(&dir.join(&wildcard_page)))
    );
    let page = std::fs::read_to_string(dir.join(&wildcard_page)).expect("the page");
    assert!(
        page.contains("credentials: \"omit\""),
        "`*` never allows credentials: {page}"
    );

    // The page fetches the URL as the parser serializes it: a query cannot close the script.
    let hostile = format!("{}?q=</script><script>alert(1)</script>", urls[0]);
    let run = audit.run(&[&hostile, "--poc", &dir_arg, "--json"]);
    let path = json(&run)[0]["findings"][0]["poc"]
        .as_str()
        .expect("a page")
        .to_owned();
    let page = std::fs::read_to_string(path).expect("the page");
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("?q=%3C/script%3E%3Cscript%3Ealert(1)%3C/script%3E"),
        "{page}"
    );

    // The same again: the text says where, and names stay unique within a run.
    let run = audit.run(&[&urls[0], &urls[0], "--poc", &dir_arg]);
    assert!(
        run.stdout.contains(&format!(
            "    poc:      {}\n",
            super::path_str(&dir.join(format!("www.target.test_{null_port}-null-origin-2.html")))
        )),
        "{}",
        run.stdout
    );
}

/// `--input FILE`: one URL a line, `#` comments and blank lines skipped, after the arguments;
/// `--input -` reads standard input.
#[test]
fn audit_input_file() {
    let kinds = [Kind::NullOrigin, Kind::ExactList, Kind::ThirdPartyHosting];
    let audit = Audit::new("audit-input", &kinds);
    let urls = urls_of(&audit, &kinds);
    let list = format!("# targets\n{}\n\n   {}  \n# done\n", urls[1], urls[2]);
    let file = audit.dir.file("urls.txt", &list);
    let run = audit.run(&[&urls[0], "--input", &file, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let audited: Vec<Value> = json(&run)
        .as_array()
        .expect("an array")
        .iter()
        .map(|t| t["url"].clone())
        .collect();
    assert_eq!(
        audited,
        urls.iter()
            .map(|u| Value::from(u.as_str()))
            .collect::<Vec<_>>()
    );

    let mut args: Vec<String> = vec!["audit".into(), "--cacert".into(), audit.cacert.clone()];
    for (_, port) in &audit.ports {
        args.extend(["--resolve".to_owned(), Zoo::resolve(*port)]);
    }
    args.extend(["--rate", "100000/s", "--input", "-", "--json"].map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = super::crossgate_with_stdin(&args, &list);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(json(&run).as_array().map(Vec::len), Some(2));

    let missing = audit.run(&["--input", "/nonexistent/urls.txt"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .starts_with("crossgate: cannot read /nonexistent/urls.txt: "),
        "{}",
        missing.stderr
    );
    let empty = audit.dir.file("empty.txt", "# nothing\n");
    let none = audit.run(&["--input", &empty]);
    assert_eq!(none.code, 2);
    assert_eq!(
        none.stderr,
        "crossgate: no URL to audit: give URLs, or --input FILE\n"
    );
}

/// `-H Cookie`: sent with every request but preflights (as a browser does), and the answers
/// graded as a logged-in user's.
#[test]
fn audit_with_cookies() {
    let server = super::servers::fixed(200, &[("Access-Control-Allow-Origin", "*")]);
    let url = server.url("http", "/me");
    let run = crossgate(&["audit", &url, "--rate", "100000/s", "--json"]);
    assert_eq!(run.code, 0, "public data under `*`: {run:?}");
    assert_eq!(json(&run)[0]["findings"], Value::Array(Vec::new()));
    let before = server.seen().len();

    let run = crossgate(&[
        "audit",
        &url,
        "--rate",
        "100000/s",
        "-H",
        "Cookie: session=alice",
        "--json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        found(&json(&run)[0]),
        [("wildcard-private".to_owned(), "high".to_owned())]
    );
    let seen = &server.seen()[before..];
    assert!(
        seen.iter().any(|s| s.method == "OPTIONS"),
        "a preflight probe"
    );
    for s in seen {
        let cookie = s.headers.get("cookie").map(|v| v.to_str().expect("ASCII"));
        if s.method == "OPTIONS" {
            assert_eq!(cookie, None, "no cookie on a preflight");
        } else {
            assert_eq!(cookie, Some("session=alice"), "{} {}", s.method, s.path);
        }
    }

    // A public API reflecting every origin without credentials: with the user's cookies, each
    // read is high.
    let zoo = Zoo::http();
    let port = zoo.spawn(Kind::ReflectWithoutCredentials);
    let dir = TempDir::new("audit-cookies");
    let dir_arg = super::path_str(&dir.0);
    let run = crossgate(&[
        "audit",
        &zoo.url(port),
        "--resolve",
        &Zoo::resolve(port),
        "--rate",
        "100000/s",
        "-H",
        "Cookie: session=alice",
        "--poc",
        &dir_arg,
        "--json",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let target = &json(&run)[0];
    let found = found(target);
    assert!(
        found.contains(&("arbitrary-origin".to_owned(), "high".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("any-subdomain".to_owned(), "low".to_owned())),
        "{found:?}"
    );
    let page = std::fs::read_to_string(
        dir.0
            .join(format!("www.target.test_{port}-arbitrary-origin.html")),
    )
    .expect("a page");
    // This read works only without credentials (no Access-Control-Allow-Credentials): the page
    // must not ask for them, or its own fetch would be blocked.
    assert!(page.contains("credentials: \"omit\""), "{page}");
}

/// Redirects are followed by the browser engine: the findings are the final resource's.
#[test]
fn audit_follows_redirects() {
    let audit = Audit::new("audit-redirect", &[Kind::PrefixMatch]);
    let port = audit.port(Kind::PrefixMatch);
    let url = format!("https://{HOST}:{port}{}", super::zoo::REDIRECT);
    let run = audit.run(&[&url, "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let target = &json(&run)[0];
    assert_eq!(target["url"], url);
    let want: Vec<(String, String)> = Kind::PrefixMatch
        .expected()
        .iter()
        .map(|(c, s)| ((*c).to_owned(), (*s).to_owned()))
        .collect();
    assert_eq!(
        found(target),
        want,
        "the redirect trusts everyone; the target does not"
    );
    // The evidence is the first answer's: the redirect.
    assert_eq!(
        target["findings"][0]["evidence"][0]["name"],
        "access-control-allow-origin"
    );
}

/// `--rate` holds for every worker together: two targets on one host, 40 requests a second.
#[test]
fn audit_rate_limit_per_host() {
    let kinds = [Kind::ExactList, Kind::PublicWildcard];
    let audit = Audit::new("audit-rate", &kinds);
    let urls = urls_of(&audit, &kinds);
    let start = std::time::Instant::now();
    let run = audit.run(&with(&urls, &["--concurrency", "2", "--rate", "40/s"]));
    let elapsed = start.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    // About 90 requests: 40 at once, the other 50 at 40/s.
    assert!(elapsed.as_secs_f64() > 1.0, "{elapsed:?}");
}

#[test]
fn audit_usage_errors() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["audit"],
            "crossgate: no URL to audit: give URLs, or --input FILE\n",
        ),
        (
            &[
                "audit",
                "http://127.0.0.1:1/",
                "-H",
                "Origin: https://a.test",
            ],
            "crossgate: -H Origin: the audit sets Origin itself",
        ),
        (
            &["audit", "http://127.0.0.1:1/", "--json", "--sarif"],
            "error: the argument '--json' cannot be used with '--sarif'",
        ),
        (
            &["audit", "http://127.0.0.1:1/", "--rate", "0"],
            "error: invalid value '0' for '--rate <N/s>'",
        ),
        (
            &[
                "audit",
                "http://127.0.0.1:1/",
                "--resolve",
                "a.test:80:localhost",
            ],
            "error: invalid value 'a.test:80:localhost' for '--resolve <HOST:PORT:ADDR>'",
        ),
    ];
    for (args, message) in cases {
        let run = crossgate(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with(message), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{args:?}");
    }
    let run = crossgate(&["audit", "--help"]);
    assert_eq!(run.code, 0);
    for expected in [
        "--fail-on <SEVERITY>",
        "--resolve <HOST:PORT:ADDR>",
        "\"evidence\"",
        "String matching is never enough",
    ] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
    }
}

/// `check --resolve`: the connection goes to the address, the Host header and the TLS name
/// stay the URL's (the zoo's certificate is for www.target.test only).
#[test]
fn check_resolve() {
    let zoo = Zoo::https();
    let port = zoo.spawn(Kind::ExactList);
    let dir = TempDir::new("check-resolve");
    let cacert = dir.file("ca.pem", zoo.cert_pem().expect("https"));
    let app = format!("https://app.target.test:{port}");
    let run = crossgate(&[
        "check",
        &zoo.url(port),
        "--origin",
        &app,
        "--credentials",
        "include",
        "--resolve",
        &Zoo::resolve(port),
        "--cacert",
        &cacert,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("allowed: fetch() resolves with status 200"),
        "{}",
        run.stdout
    );

    let server = super::servers::cors(None);
    let url = format!("http://api.target.test:{}/items", server.addr.port());
    let resolve = format!("api.target.test:{}:127.0.0.1", server.addr.port());
    let run = crossgate(&[
        "check",
        &url,
        "--origin",
        super::servers::PAGE,
        "--resolve",
        &resolve,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let seen = server.seen();
    assert_eq!(
        seen[0].headers["host"],
        format!("api.target.test:{}", server.addr.port())
    );
}

/// Each target's probes go to one host, one after another on its pooled connections: a server
/// that closes each connection after its answer (without `Connection: close`) must not cost a
/// probe (`check.rs` has the server). 100 targets, 25 at a time, about 20 probes each.
#[test]
fn audit_of_a_server_that_closes_after_each_answer_loses_no_probe() {
    let server = super::check::closing_redirects();
    let urls: Vec<String> = (0..100)
        .map(|i| format!("http://{server}/hop/0?target={i}"))
        .collect();
    let mut args = vec![
        "audit",
        "--json",
        "--rate",
        "100000/s",
        "--concurrency",
        "25",
    ];
    args.extend(urls.iter().map(String::as_str));
    let run = crossgate(&args);
    let results = json(&run);
    let failed: Vec<&Value> = results
        .as_array()
        .expect("one result per target")
        .iter()
        .filter(|target| target["status"] != "ok")
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 100 targets failed, the first: {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(run.code, 0, "{run:?}");
}
