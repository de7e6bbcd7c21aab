//! The auditor against servers that implement the classic mistakes, in-process.

use super::*;

/// A server whose origin check is `allows`, answering like real code does: the origin reflected
/// with credentials when it passes, `Vary: Origin` unless told otherwise.
struct Buggy {
    allows: fn(&str) -> bool,
    vary: bool,
    extra: Vec<(String, String)>,
}

impl Transport for Buggy {
    fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
        let origin = request.header("origin").unwrap_or_default();
        let mut headers = Vec::new();
        if (self.allows)(origin) {
            headers.push(("Access-Control-Allow-Origin".to_owned(), origin.to_owned()));
            headers.push((
                "Access-Control-Allow-Credentials".to_owned(),
                "true".to_owned(),
            ));
        }
        if self.vary {
            headers.push(("Vary".to_owned(), "Origin".to_owned()));
        }
        headers.extend(self.extra.iter().cloned());
        let status = if request.preflight { 204 } else { 200 };
        Ok(WireResponse { status, headers })
    }
}

fn audit(allows: fn(&str) -> bool) -> Vec<(String, String)> {
    audit_with(Buggy {
        allows,
        vary: true,
        extra: Vec::new(),
    })
}

fn audit_with(mut server: Buggy) -> Vec<(String, String)> {
    let plan = plan("https://www.target.test/api/me").unwrap();
    let results: Vec<ProbeResult> = plan
        .probes
        .iter()
        .map(|p| run_probe(&plan, p, &mut server).unwrap())
        .collect();
    let mut found: Vec<(String, String)> = judge(&plan, &results, Context::default())
        .into_iter()
        .map(|f| (f.class.id().to_owned(), f.severity.as_str().to_owned()))
        .collect();
    found.dedup();
    found
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn probes_of_a_target() {
    let plan = plan("https://www.target.test:8443/api").unwrap();
    let origins: Vec<String> = plan
        .probes
        .iter()
        .filter(|p| !p.preflight)
        .map(|p| format!("{} {}", p.class.id(), p.origin))
        .collect();
    for want in [
        "arbitrary-origin https://crossgate-evil.example",
        "prefix-match https://www.target.test.crossgate-evil.example",
        "suffix-match https://crossgateeviltarget.test:8443",
        "suffix-match https://crossgateevilwww.target.test:8443",
        "unescaped-dot https://wwwxtarget.test:8443",
        "substring-match https://arget.test:8443",
        "null-origin null",
        "insecure-origin http://www.target.test:8443",
        "any-subdomain https://crossgate-probe.www.target.test:8443",
        "third-party-hosting https://crossgate-probe.github.io",
        "special-characters https://www.target.test_.crossgate-evil.example",
    ] {
        assert!(
            origins.iter().any(|o| o == want),
            "{want} missing from {origins:#?}"
        );
    }
    // Only what a browser can send: Chromium percent-encodes `*` in a host.
    assert!(!origins.iter().any(|o| o.contains("test*")), "{origins:#?}");
    assert!(origins.iter().any(|o| o.contains("test{.")), "{origins:#?}");
    assert!(super::plan("ftp://x.test/").is_err());
    assert!(super::plan("not a url").is_err());
}

#[test]
fn each_mistake_is_found_with_its_severity() {
    let reflect = audit(|_| true);
    assert!(
        reflect.contains(&("arbitrary-origin".into(), "critical".into())),
        "{reflect:?}"
    );
    let prefix = audit(|o| o.starts_with("https://www.target.test"));
    assert_eq!(
        prefix,
        pairs(&[
            ("prefix-match", "critical"),
            ("special-characters", "critical")
        ]),
        "{prefix:?}"
    );
    let suffix = audit(|o| o.ends_with("target.test"));
    assert!(
        suffix.contains(&("suffix-match".into(), "critical".into())),
        "{suffix:?}"
    );
    assert!(
        suffix.contains(&("any-subdomain".into(), "high".into())),
        "{suffix:?}"
    );
    let null = audit(|o| o == "null" || o == "https://www.target.test");
    assert_eq!(null, pairs(&[("null-origin", "critical")]));
    let http = audit(|o| o == "http://www.target.test" || o == "https://www.target.test");
    assert_eq!(http, pairs(&[("insecure-origin", "high")]));
    let github = audit(|o| o.ends_with(".github.io"));
    assert_eq!(github, pairs(&[("third-party-hosting", "critical")]));
}

#[test]
fn correct_configurations_have_no_findings() {
    assert_eq!(
        audit(|o| o == "https://www.target.test" || o == "https://app.target.test"),
        Vec::<(String, String)>::new()
    );
    assert_eq!(audit(|_| false), Vec::<(String, String)>::new());
}

#[test]
fn what_a_browser_refuses_is_no_finding() {
    // The origin upper-cased: a string-matching scanner flags it, browsers refuse it.
    struct Upper;
    impl Transport for Upper {
        fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
            let origin = request
                .header("origin")
                .unwrap_or_default()
                .to_ascii_uppercase();
            Ok(WireResponse {
                status: 200,
                headers: vec![
                    ("Access-Control-Allow-Origin".into(), origin),
                    ("Access-Control-Allow-Credentials".into(), "true".into()),
                    ("Vary".into(), "Origin".into()),
                ],
            })
        }
    }
    let plan = plan("https://www.target.test/").unwrap();
    let results: Vec<ProbeResult> = plan
        .probes
        .iter()
        .map(|p| run_probe(&plan, p, &mut Upper).unwrap())
        .collect();
    let findings = judge(&plan, &results, Context::default());
    assert!(
        findings.iter().all(|f| f.severity <= Severity::Medium),
        "{findings:#?}"
    );
    assert!(!findings.iter().any(|f| f.class == Class::ArbitraryOrigin));
}

#[test]
fn missing_vary_on_a_dynamic_origin() {
    let found = audit_with(Buggy {
        allows: |o| o == "https://crossgate-evil.example" || o == "https://www.target.test",
        vary: false,
        extra: Vec::new(),
    });
    assert!(
        found.contains(&("missing-vary-origin".into(), "medium".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("arbitrary-origin".into(), "critical".into())),
        "{found:?}"
    );
}

#[test]
fn wildcard_findings() {
    struct Star(Vec<(String, String)>);
    impl Transport for Star {
        fn send(&mut self, _: &WireRequest) -> Result<WireResponse, TransportError> {
            Ok(WireResponse {
                status: 200,
                headers: self.0.clone(),
            })
        }
    }
    let run = |headers: &[(&str, &str)], context: Context| {
        let mut server = Star(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        );
        let plan = plan("https://www.target.test/").unwrap();
        let results: Vec<ProbeResult> = plan
            .probes
            .iter()
            .map(|p| run_probe(&plan, p, &mut server).unwrap())
            .collect();
        judge(&plan, &results, context)
            .into_iter()
            .map(|f| format!("{} {}", f.class.id(), f.severity))
            .collect::<Vec<_>>()
    };
    assert!(
        run(&[("Access-Control-Allow-Origin", "*")], Context::default()).is_empty(),
        "public data under * is fine"
    );
    assert_eq!(
        run(
            &[
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Credentials", "true")
            ],
            Context::default()
        ),
        ["wildcard-with-credentials info"]
    );
    assert_eq!(
        run(
            &[
                ("Access-Control-Allow-Origin", "*"),
                ("Cache-Control", "private")
            ],
            Context::default()
        ),
        ["wildcard-private high"]
    );
    assert_eq!(
        run(
            &[("Access-Control-Allow-Origin", "*")],
            Context {
                sent_credentials: true
            }
        ),
        ["wildcard-private high"]
    );
}

#[test]
fn preflight_findings() {
    let found = audit_with(Buggy {
        allows: |o| o == "https://www.target.test",
        vary: true,
        extra: vec![
            ("Access-Control-Allow-Methods".into(), "*".into()),
            ("Access-Control-Allow-Headers".into(), "*".into()),
            ("Access-Control-Max-Age".into(), "31536000".into()),
        ],
    });
    assert_eq!(
        found,
        pairs(&[
            ("preflight-any-method", "low"),
            ("preflight-any-header", "low"),
            ("authorization-under-wildcard", "info"),
            ("long-max-age", "info"),
        ])
    );
}

#[test]
fn poc_pages() {
    let finding = Finding {
        class: Class::NullOrigin,
        severity: Severity::Critical,
        origin: "null".into(),
        credentialed: true,
        evidence: Vec::new(),
        why: String::new(),
        fix: String::new(),
    };
    let page = poc_html("https://www.target.test/api/me", &finding);
    assert!(page.contains("<iframe sandbox=\"allow-scripts\""), "{page}");
    assert!(page.contains("credentials: &quot;include&quot;"), "{page}");
}

#[test]
fn an_exact_list_without_vary_is_found_through_the_own_origin_probe() {
    let found = audit_with(Buggy {
        allows: |o| o == "https://www.target.test",
        vary: false,
        extra: Vec::new(),
    });
    assert_eq!(found, pairs(&[("missing-vary-origin", "medium")]));
    // A fixed value that never depends on the request needs no Vary.
    struct Fixed;
    impl Transport for Fixed {
        fn send(&mut self, _: &WireRequest) -> Result<WireResponse, TransportError> {
            Ok(WireResponse {
                status: 200,
                headers: vec![(
                    "Access-Control-Allow-Origin".into(),
                    "https://www.target.test".into(),
                )],
            })
        }
    }
    let plan = plan("https://www.target.test/").unwrap();
    let results: Vec<ProbeResult> = plan
        .probes
        .iter()
        .map(|p| run_probe(&plan, p, &mut Fixed).unwrap())
        .collect();
    assert!(judge(&plan, &results, Context::default()).is_empty());
}

#[test]
fn origins_on_the_targets_own_site_need_a_subdomain() {
    // `endsWith("www.target.test")`: `crossgateevilwww.target.test` is a subdomain of the
    // target's site, which no attacker registers: high, not critical.
    let found = audit(|o| o.ends_with("www.target.test"));
    // The http origin and any subdomain pass too; the suffix probe adds nothing to "any
    // subdomain" then, and is not reported twice.
    assert_eq!(
        found,
        pairs(&[("insecure-origin", "high"), ("any-subdomain", "high")]),
        "{found:?}"
    );
    let found = audit(|o| o.ends_with("evilwww.target.test"));
    assert_eq!(found, pairs(&[("suffix-match", "high")]), "{found:?}");
}

#[test]
fn reflection_without_credentials_is_a_finding_only_on_private_data() {
    struct Reflect(bool);
    impl Transport for Reflect {
        fn send(&mut self, request: &WireRequest) -> Result<WireResponse, TransportError> {
            let mut headers = vec![
                (
                    "Access-Control-Allow-Origin".to_owned(),
                    request.header("origin").unwrap_or_default().to_owned(),
                ),
                ("Vary".to_owned(), "Origin".to_owned()),
            ];
            if self.0 {
                headers.push(("Cache-Control".to_owned(), "private".to_owned()));
            }
            Ok(WireResponse {
                status: 200,
                headers,
            })
        }
    }
    let run = |private: bool| {
        let plan = plan("https://www.target.test/").unwrap();
        let results: Vec<ProbeResult> = plan
            .probes
            .iter()
            .map(|p| run_probe(&plan, p, &mut Reflect(private)).unwrap())
            .collect();
        judge(&plan, &results, Context::default())
    };
    let public = run(false);
    assert!(
        !public.is_empty() && public.iter().all(|f| f.severity == Severity::Info),
        "public data readable by every origin is `*` by another name: {public:#?}"
    );
    let private = run(true);
    let arbitrary = private
        .iter()
        .find(|f| f.class == Class::ArbitraryOrigin)
        .unwrap();
    assert_eq!(
        (arbitrary.severity, arbitrary.credentialed),
        (Severity::High, false)
    );
    let page = poc_html("https://www.target.test/?q=</script>", arbitrary);
    assert!(page.contains("credentials: \"omit\""), "{page}");
    assert!(
        !page.contains("</script>\""),
        "the URL cannot close the script: {page}"
    );
}
