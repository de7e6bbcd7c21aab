//! Reading `allow_origins` entries: what is accepted, corrected, or refused, and why.

use super::*;
use crate::policy::error::Severity;

fn read(raw: &str, credentials: bool) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    let cx = EntryContext {
        key: "allow_origins[0]",
        credentials,
        insecure_ok: false,
    };
    match read_entry(raw, &cx, &mut problems) {
        Some(rule) if problems.is_empty() => Ok(rule.to_string()),
        _ => Err(problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .map(|p| format!("{}: {} / {}", p.kind.code(), p.reason, p.fix))
            .collect()),
    }
}

#[test]
fn accepted_entries() {
    for ok in [
        "*",
        "https://app.example.com",
        "https://app.example.com:8443",
        "http://localhost:5173",
        "http://localhost:*",
        "http://127.0.0.1:*",
        "http://[::1]:3000",
        "https://*.example.com",
        "https://*.example.co.uk",
        "https://*.example.com:8443",
        "https://*.example.com:*",
        "chrome-extension://abcdefghijklmnop",
        "https://xn--bcher-kva.example",
        // What browsers send for the schemes they give a real origin.
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
        "moz-extension://2c127fa4-62c7-7e4f-90e5-472b45eecfdc",
        "capacitor://localhost",
        "ionic://localhost",
        "tauri://localhost",
        "app://my_app.local:8080",
        "x-app://*.example.com",
        "x-app://localhost:*",
    ] {
        assert_eq!(read(ok, false), Ok(ok.to_owned()), "{ok}");
    }
}

#[test]
fn non_canonical_entries_suggest_the_origin() {
    let cases = [
        (
            "https://example.com/",
            "a trailing slash",
            "https://example.com",
        ),
        ("https://example.com/app", "a path", "https://example.com"),
        ("https://example.com?x=1", "a query", "https://example.com"),
        (
            "https://example.com#top",
            "a fragment",
            "https://example.com",
        ),
        (
            "https://user:pw@example.com",
            "userinfo",
            "https://example.com",
        ),
        (
            "HTTPS://example.com",
            "an upper-case scheme",
            "https://example.com",
        ),
        (
            "https://Example.COM",
            "an upper-case host",
            "https://example.com",
        ),
        (
            "https://example.com:443",
            "an explicit default port",
            "https://example.com",
        ),
        (
            "http://example.com:80",
            "an explicit default port",
            "http://example.com",
        ),
        (
            "https://bücher.example",
            "a non-ASCII host",
            "https://xn--bcher-kva.example",
        ),
        (
            "http://127.1:8080",
            "a host that browsers serialize differently",
            "http://127.0.0.1:8080",
        ),
        (
            " https://example.com",
            "surrounding whitespace",
            "https://example.com",
        ),
        (
            "https://*.Example.com",
            "an upper-case host",
            "https://*.example.com",
        ),
        (
            "HTTPS://Example.com:443/",
            "an upper-case scheme, a trailing slash, an explicit default port and an upper-case host",
            "https://example.com",
        ),
    ];
    for (raw, why, fix) in cases {
        let errs = read(raw, false).unwrap_err();
        assert_eq!(errs.len(), 1, "{raw}: {errs:?}");
        assert!(
            errs[0].starts_with("non-canonical-origin"),
            "{raw}: {errs:?}"
        );
        assert!(errs[0].contains(why), "{raw}: {errs:?}");
        assert!(
            errs[0].ends_with(&format!("write {fix:?}")),
            "{raw}: {errs:?}"
        );
    }
}

#[test]
fn refused_entries() {
    let cases = [
        ("null", "null-origin"),
        ("NULL", "null-origin"),
        ("file://", "file-origin"),
        ("file:///home/me/index.html", "file-origin"),
        (
            "example.com",
            "not-an-origin: not an origin: expected scheme://host[:port], `*`, or a pattern / write the scheme too: \"https://example.com\"",
        ),
        ("https://", "not-an-origin: no host"),
        (
            "https://example.com:99999",
            "not-an-origin: \"99999\" is not a port",
        ),
        (
            "ht tp://example.com",
            "not-an-origin: \"ht tp\" is not a URL scheme",
        ),
        ("https://exa mple.com", "not-an-origin: invalid host"),
        (
            "https://*example.com",
            "malformed-pattern: the wildcard must be a whole label: `*example.com` would also admit `evilexample.com` / write \"https://*.example.com\"",
        ),
        (
            "https://a.*.example.com",
            "malformed-pattern: the wildcard may only be the leftmost label (`*.example.com`: one or more labels) / write \"https://*.example.com\"",
        ),
        (
            "https://*",
            "malformed-pattern: this admits every https origin",
        ),
        (
            "https://*.*",
            "malformed-pattern: this admits every https origin",
        ),
        (
            "https://*.com",
            "public-suffix-pattern: the names directly under \"com\" are public suffixes",
        ),
        (
            "https://*.co.uk",
            "public-suffix-pattern: the names directly under \"co.uk\" are public suffixes",
        ),
        (
            "https://*.github.io",
            "public-suffix-pattern: the names directly under \"github.io\" are public suffixes",
        ),
        (
            "http://*.127.0.0.1",
            "malformed-pattern: a subdomain pattern needs a domain",
        ),
        // Wildcard rules of the Public Suffix List: every name under these is a suffix.
        (
            "https://*.np",
            "public-suffix-pattern: the names directly under \"np\"",
        ),
        (
            "https://*.kawasaki.jp",
            "public-suffix-pattern: the names directly under \"kawasaki.jp\"",
        ),
        ("https://*.ck", "public-suffix-pattern"),
        // Found in review: multi-byte text where the `file:` check used to slice bytes.
        ("中中", "not-an-origin"),
        ("abcdé", "not-an-origin"),
        ("fileé", "not-an-origin"),
        (
            "日本.jp",
            "not-an-origin: not an origin: expected scheme://host[:port], `*`, or a pattern / write the scheme too: \"https://日本.jp\"",
        ),
        (
            "https://*.[::1]",
            "malformed-pattern: a subdomain pattern needs a domain",
        ),
        (
            "https://*.example.com.",
            "malformed-pattern: a trailing dot",
        ),
        // The fix never suggests a value that is refused in turn.
        (
            " *",
            "non-canonical-origin: surrounding whitespace / write \"*\"",
        ),
        ("https://*.COM", "public-suffix-pattern"),
        ("https://*.Github.io", "public-suffix-pattern"),
        ("https://*.*.com", "public-suffix-pattern"),
        ("https://*com", "public-suffix-pattern"),
        (
            "https://*.*.np",
            "public-suffix-pattern: the names directly under \"np\" are public suffixes (each registered by a different owner), so this admits sites an attacker can register / name your own registrable domain, e.g. \"https://*.example.com\"",
        ),
        // A backslash starts the path of a special URL: the host here is evil.com.
        (
            "https://evil.com\\@example.com",
            "non-canonical-origin: browsers never send an Origin with a path, so this entry would match nothing / write \"https://evil.com\"",
        ),
        (
            "https://a.example.com:08443",
            "non-canonical-origin: browsers never send an Origin with a port with leading zeros, so this entry would match nothing / write \"https://a.example.com:8443\"",
        ),
    ];
    for (raw, want) in cases {
        let errs = read(raw, false).unwrap_err();
        assert_eq!(errs.len(), 1, "{raw}: {errs:?}");
        assert!(errs[0].starts_with(want), "{raw}: {errs:?}");
    }
}

/// Found in review: a non-special scheme's host was checked only for white space and `%`, so
/// quotes, `;`, `$`… reached the exported configurations (Python code from a FastAPI export).
#[test]
fn regression_config_syntax_in_a_non_special_host_is_refused() {
    let cases = [
        (
            "x://*.a\"if\"\"else\"b",
            "not-an-origin: `\"` in the host: browsers never send it in the Origin of a x: URL (its host \
             is sent as a domain: letters, digits, `-`, `.`, `_`), and it is syntax in the server \
             configurations `crossgate export` writes / copy the origin from the Origin header the \
             browser sends (developer tools, network tab), e.g. \"x://*.aifelseb\"",
        ),
        ("x://a\"+b;c", "not-an-origin: `\"` and `;` in the host"),
        (
            "x://a'b\\c;d{e}f$g`h<i>j^k|l",
            "not-an-origin: `'`, `\\`, `;`, `{`, `}`, `$`, `` ` ``, `<`, `>`, `^` and `|` in the host: \
             browsers never send them in the Origin of a x: URL (its host is sent as a domain: letters, \
             digits, `-`, `.`, `_`), and they are syntax",
        ),
        ("x://a\u{1}b", "not-an-origin: `\\u{1}` in the host"),
        ("x://a\u{7f}b", "not-an-origin: `\\u{7f}` in the host"),
        ("x://bücher", "not-an-origin: `\\u{fc}` in the host"),
        ("x://localhost\"", "e.g. \"x://localhost\""),
        (
            "x://\"\"",
            "e.g. \"chrome-extension://abcdefghijklmnopabcdefghijklmnop\"",
        ),
        ("x://a$b:*", "not-an-origin: `$` in the host"),
        ("x://*.a{b}:8080", "not-an-origin: `{` and `}` in the host"),
    ];
    for (raw, want) in cases {
        let errs = read(raw, false).unwrap_err();
        assert_eq!(errs.len(), 1, "{raw}: {errs:?}");
        assert!(
            errs[0].starts_with(want) || errs[0].ends_with(want),
            "{raw}:\n{}\n{want}",
            errs[0]
        );
    }
    // Each entry is reported, all at once.
    let problems = crate::Policy::from_toml(
        "allow_origins = [\"x://a\\\"b\", \"https://ok.example\", \"y://c;d\"]",
    )
    .unwrap_err();
    let keys: Vec<&str> = problems
        .errors()
        .filter(|p| p.kind == ProblemKind::NotAnOrigin)
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(keys, ["allow_origins[0]", "allow_origins[2]"], "{problems}");
}

#[test]
fn insecure_origins_with_credentials() {
    let err = read("http://app.example.com/", true).unwrap_err();
    assert!(
        err[0].starts_with("insecure-origin-with-credentials"),
        "the fix must not be refused in turn: {err:?}"
    );
    assert!(
        err[0].contains("use \"https://app.example.com\""),
        "{err:?}"
    );
    let err = read("http://app.example.com", true).unwrap_err();
    assert!(
        err[0].starts_with("insecure-origin-with-credentials"),
        "{err:?}"
    );
    assert!(
        err[0].contains("use \"https://app.example.com\""),
        "{err:?}"
    );
    assert!(read("http://*.example.com", true).is_err());
    for loopback in [
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "http://[::1]:1",
        "http://*.localhost:*",
        "http://localhost:*",
    ] {
        assert!(read(loopback, true).is_ok(), "{loopback}");
    }
    let mut problems = Vec::new();
    let cx = EntryContext {
        key: "k",
        credentials: true,
        insecure_ok: true,
    };
    assert!(read_entry("http://app.example.com", &cx, &mut problems).is_some());
    assert!(problems.is_empty());
}
