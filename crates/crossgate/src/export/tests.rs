//! Shared helpers and cross-target tests: snapshots of whole outputs, and the regexes held to the
//! engine's own origin matcher.

use expect_test::expect;

use super::{Export, Model, Refusal, Target, render};
use crate::Policy;

pub(super) fn policy(toml: &str) -> Policy {
    Policy::from_toml(toml).unwrap_or_else(|e| panic!("valid policy: {e}\n{toml}"))
}

pub(super) fn export(toml: &str, target: Target) -> Export {
    render(&policy(toml), target).unwrap_or_else(|r| panic!("{r}"))
}

pub(super) fn refusal(toml: &str, target: Target) -> Refusal {
    match render(&policy(toml), target) {
        Ok(e) => panic!("exported, expected a refusal:\n{}", e.text),
        Err(r) => r,
    }
}

#[test]
fn target_names_round_trip() {
    for target in Target::ALL {
        assert_eq!(target.as_str().parse::<Target>(), Ok(target));
    }
    assert_eq!("NGINX".parse::<Target>(), Ok(Target::Nginx));
    assert_eq!(
        "iis".parse::<Target>().unwrap_err().to_string(),
        "unknown export target \"iis\": expected one of nginx, caddy, apache, express, fastapi, s3"
    );
}

/// A tiny backtracking matcher for the regex subset the exports use, so that the generated
/// origin regexes can be held to `Policy::allows_origin` without a regex crate.
mod mini_regex {
    #[derive(Debug, Clone)]
    enum Node {
        Char(char),
        Class(Vec<(char, char)>, bool),
        Group(Vec<Vec<Node>>),
        Repeat(Box<Node>, usize, usize),
        Start,
        End,
    }

    pub(super) fn is_match(pattern: &str, text: &str) -> bool {
        let chars: Vec<char> = pattern.chars().collect();
        let mut at = 0;
        let alternatives = parse_alternatives(&chars, &mut at);
        let text: Vec<char> = text.chars().collect();
        alternatives
            .iter()
            .any(|seq| matches(seq, &text, 0, &mut |end| end == text.len()))
    }

    fn parse_alternatives(p: &[char], at: &mut usize) -> Vec<Vec<Node>> {
        let mut alternatives = vec![Vec::new()];
        while *at < p.len() {
            let c = p[*at];
            *at += 1;
            let node = match c {
                '|' => {
                    alternatives.push(Vec::new());
                    continue;
                }
                ')' => return alternatives,
                '(' => {
                    if p.get(*at) == Some(&'?') {
                        *at += 2;
                    }
                    Node::Group(parse_alternatives(p, at))
                }
                '[' => {
                    let negated = p.get(*at) == Some(&'^');
                    if negated {
                        *at += 1;
                    }
                    let mut ranges = Vec::new();
                    while p[*at] != ']' {
                        let mut lo = p[*at];
                        if lo == '\\' {
                            *at += 1;
                            lo = if p[*at] == 't' { '\t' } else { p[*at] };
                        }
                        *at += 1;
                        if p[*at] == '-' && p[*at + 1] != ']' {
                            ranges.push((lo, p[*at + 1]));
                            *at += 2;
                        } else {
                            ranges.push((lo, lo));
                        }
                    }
                    *at += 1;
                    Node::Class(ranges, negated)
                }
                '\\' => {
                    *at += 1;
                    Node::Char(p[*at - 1])
                }
                '^' => Node::Start,
                '$' => Node::End,
                c => Node::Char(c),
            };
            let node = match p.get(*at) {
                Some('+') => {
                    *at += 1;
                    Node::Repeat(Box::new(node), 1, usize::MAX)
                }
                Some('*') => {
                    *at += 1;
                    Node::Repeat(Box::new(node), 0, usize::MAX)
                }
                Some('?') => {
                    *at += 1;
                    Node::Repeat(Box::new(node), 0, 1)
                }
                Some('{') => {
                    let close = p[*at..].iter().position(|&c| c == '}').expect("}") + *at;
                    let inside: String = p[*at + 1..close].iter().collect();
                    let (lo, hi) = inside.split_once(',').expect("{m,n}");
                    *at = close + 1;
                    Node::Repeat(
                        Box::new(node),
                        lo.parse().expect("m"),
                        hi.parse().expect("n"),
                    )
                }
                _ => node,
            };
            alternatives.last_mut().expect("one").push(node);
        }
        alternatives
    }

    fn matches(seq: &[Node], text: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        let Some((first, rest)) = seq.split_first() else {
            return k(i);
        };
        let mut next = |j: usize| matches(rest, text, j, k);
        one(first, text, i, &mut next)
    }

    fn one(node: &Node, text: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        match node {
            Node::Char(c) => text.get(i) == Some(c) && k(i + 1),
            Node::Class(ranges, negated) => {
                text.get(i).is_some_and(|c| {
                    ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&c)) != *negated
                }) && k(i + 1)
            }
            Node::Start => i == 0 && k(i),
            Node::End => i == text.len() && k(i),
            Node::Group(alternatives) => alternatives.iter().any(|seq| matches(seq, text, i, k)),
            Node::Repeat(node, lo, hi) => repeat(node, *lo, *hi, text, i, k),
        }
    }

    fn repeat(
        node: &Node,
        lo: usize,
        hi: usize,
        text: &[char],
        i: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        if hi > 0
            && one(node, text, i, &mut |j| {
                j > i && repeat(node, lo.saturating_sub(1), hi - 1, text, j, k)
            })
        {
            return true;
        }
        lo == 0 && k(i)
    }
}

/// Every origin regex the exports use agrees with the engine's matcher on allowed origins and on
/// the near misses an attacker would try (suffixes, prefixes, unescaped dots, other ports).
#[test]
fn origin_regexes_agree_with_the_engine() {
    let p = policy(
        r#"allow_origins = [
            "https://app.example.com",
            "https://*.example.org",
            "http://localhost:*",
            "https://*.example.net:8443",
            "http://[::1]:3000",
            "chrome-extension://abcdefghijklmnop",
        ]"#,
    );
    let regex = Model::new(&p).origin_regex().expect("listed");
    for origin in [
        "https://app.example.com",
        "https://appxexample.com",
        "https://app.example.com.evil.com",
        "https://evilapp.example.com",
        "http://app.example.com",
        "https://app.example.com:443",
        "https://app.example.com:8443",
        "https://APP.example.com",
        "https://a.example.org",
        "https://a.b.example.org",
        "https://example.org",
        "https://.example.org",
        "https://aexample.org",
        "https://a.example.org.evil.com",
        "https://a.example.org:8443",
        "http://a.example.org",
        "https://a_b-c.example.org",
        "http://localhost",
        "http://localhost:5173",
        "http://localhost:",
        "http://localhost:5173x",
        "http://localhost.evil.com",
        "https://localhost:5173",
        "https://x.example.net:8443",
        "https://x.example.net",
        "https://x.example.net:8444",
        "http://[::1]:3000",
        "http://[::1]:3001",
        "chrome-extension://abcdefghijklmnop",
        "chrome-extension://abcdefghijklmnopq",
        "null",
        "",
    ] {
        assert_eq!(
            mini_regex::is_match(&regex, origin),
            p.allows_origin(origin),
            "{origin:?} against {regex}"
        );
    }
}

#[test]
fn header_regex_reads_lists_as_the_engine_does() {
    let p = policy(
        r#"allow_origins = ["https://app.example.com"]
           allow_headers = ["x-a", "x-ab"]"#,
    );
    let regex = Model::new(&p).headers_regex().expect("listed");
    // The exports match header names ignoring case; lower-case the input as `(?i)` would.
    for (value, allowed) in [
        ("", true),
        ("x-a", true),
        ("X-AB", true),
        ("x-a,x-ab", true),
        ("x-a, x-ab", true),
        (" x-ab ,\tx-a ", true),
        ("x-a,,x-ab,", true),
        ("x-abc", false),
        ("x-a,x-b", false),
        ("x-a x-ab", false),
        ("content-type", false),
    ] {
        assert_eq!(
            mini_regex::is_match(&regex, &value.to_ascii_lowercase()),
            allowed,
            "{value:?} against {regex:?}"
        );
    }
}

#[test]
fn method_regex_is_case_sensitive_and_includes_the_safelisted() {
    let p = policy(
        r#"allow_origins = ["https://app.example.com"]
           allow_methods = ["PATCH", "x.y"]"#,
    );
    let regex = Model::new(&p).method_regex();
    assert_eq!(regex, r"^(?:GET|HEAD|POST|PATCH|x\.y)$");
    for (method, allowed) in [
        ("GET", true),
        ("PATCH", true),
        ("patch", false),
        ("x.y", true),
        ("xzy", false),
        ("DELETE", false),
    ] {
        assert_eq!(mini_regex::is_match(&regex, method), allowed, "{method}");
    }
}

const FULL: &str = r#"
allow_origins = ["https://app.example.com", "https://*.example.org"]
allow_methods = ["PUT", "DELETE"]
allow_headers = ["content-type", "x-request-id"]
expose_headers = ["x-total-count"]
allow_credentials = true
max_age = 600
"#;

#[test]
fn snapshot_nginx() {
    let e = export(FULL, Target::Nginx);
    assert!(e.warnings.is_empty(), "{:?}", e.warnings);
    expect![[r##"
        # CORS for nginx
        # Generated by `crossgate export` from a crossgate policy: change the policy and export
        # again rather than editing this by hand. The policy allows:
        #   origins:     https://app.example.com, https://*.example.org
        #   methods:     GET, HEAD, POST, PUT, DELETE
        #   headers:     content-type, x-request-id
        #   exposes:     x-total-count
        #   credentials: yes
        #   max_age:     600
        #
        # Two parts, marked below. nginx allows `map` only inside `http { }`, so part 1 goes
        # there (once, e.g. in conf.d/crossgate-cors-maps.conf); part 2 goes inside the
        # `location` that serves the API (e.g. `include snippets/crossgate-cors.conf;`).
        # The variables are named $crossgate_…: one exported policy per nginx configuration.

        # === part 1: inside http { } ===

        # The answer's Access-Control-Allow-Origin for an allowed Origin, else "" (nginx sends no
        # header whose value is empty). Every entry is an anchored, case-sensitive regex (`~`):
        # nginx compares plain strings in a map ignoring case, and browsers send origins exactly.
        map $http_origin $crossgate_origin {
            default "";
            "~^https://app\.example\.com$" $http_origin;  # https://app.example.com
            "~^https://(?:[a-z0-9_-]+\.)+example\.org$" $http_origin;  # https://*.example.org
        }

        # 1 when the preflight asks for an allowed method (case-sensitive, as browsers compare).
        map $http_access_control_request_method $crossgate_method_ok {
            default 0;
            "~^(?:GET|HEAD|POST|PUT|DELETE)$" 1;
        }

        map $http_access_control_request_headers $crossgate_headers_ok {
            # 1 when every name listed (comma-separated, any case) is allowed, or none is.
            default 0;
            # nginx tries no regex on an empty value: no Access-Control-Request-Headers at all.
            "" 1;
            "~*^[\\t ,]*(?:(?:content-type|x-request-id)[\\t ]*(?:,[\\t ,]*|$))*$" 1;
        }

        map $http_origin $crossgate_has_origin {
            default 1;
            "" 0;
        }

        map $http_access_control_request_method $crossgate_has_request_method {
            default 1;
            "" 0;
        }

        map $crossgate_origin $crossgate_origin_ok {
            default 1;
            "" 0;
        }

        # What the request is to CORS:
        #   preflight          OPTIONS with Origin and Access-Control-Request-Method, origin, method
        #                      and headers allowed: answered 204 here
        #   refused-preflight  any other preflight: answered 403, without CORS headers
        #   actual             any other request from an allowed origin: passed on, CORS headers added
        #   ""                 no Origin, or another origin: passed on without CORS headers
        # Key: method:[has Origin][has request method][origin ok][method ok][headers ok]:Sec-Fetch-Site
        map "$request_method:$crossgate_has_origin$crossgate_has_request_method$crossgate_origin_ok$crossgate_method_ok$crossgate_headers_ok:$http_sec_fetch_site" $crossgate_cors {
            default "";
            "~^OPTIONS:11111:" preflight;
            "~^OPTIONS:11" refused-preflight;
            "~^[^:]*:1.1" actual;
        }

        # Access-Control-Allow-Origin: allowed preflights and requests only.
        map $crossgate_cors $crossgate_allow_origin {
            default "";
            preflight $crossgate_origin;
            actual $crossgate_origin;
        }

        # Access-Control-Allow-Credentials: allowed origins only.
        map $crossgate_cors $crossgate_allow_credentials {
            default "";
            preflight "true";
            actual "true";
        }

        # Access-Control-Allow-Methods: allowed preflights (GET, HEAD and POST need no mention).
        map $crossgate_cors $crossgate_allow_methods {
            default "";
            preflight "PUT, DELETE";
        }

        # Access-Control-Allow-Headers: allowed preflights.
        map $crossgate_cors $crossgate_allow_headers {
            default "";
            preflight "content-type, x-request-id";
        }

        # Access-Control-Max-Age: allowed preflights.
        map $crossgate_cors $crossgate_max_age {
            default "";
            preflight "600";
        }

        # Access-Control-Expose-Headers: allowed requests (not preflights).
        map $crossgate_cors $crossgate_expose_headers {
            default "";
            actual "x-total-count";
        }

        # Vary: a cache must not answer one origin with what another was told.
        map $crossgate_cors $crossgate_vary {
            default "Origin";
            preflight "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
            refused-preflight "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
        }

        # === part 2: inside the location { } that serves the API ===

        # The policy is the only authority on CORS: drop the CORS headers a proxied application
        # sets itself (use fastcgi_hide_header, uwsgi_hide_header… for other upstreams).
        proxy_hide_header Access-Control-Allow-Origin;
        proxy_hide_header Access-Control-Allow-Credentials;
        proxy_hide_header Access-Control-Allow-Methods;
        proxy_hide_header Access-Control-Allow-Headers;
        proxy_hide_header Access-Control-Max-Age;
        proxy_hide_header Access-Control-Expose-Headers;

        # `always`: without it nginx leaves these headers off 4xx and 5xx answers, and the browser
        # reports a CORS error instead of the real status. An add_header here also means that the
        # add_header lines of the enclosing server { } no longer apply in this location: repeat
        # them here if you need them.
        add_header Access-Control-Allow-Origin $crossgate_allow_origin always;
        add_header Access-Control-Allow-Credentials $crossgate_allow_credentials always;
        add_header Access-Control-Allow-Methods $crossgate_allow_methods always;
        add_header Access-Control-Allow-Headers $crossgate_allow_headers always;
        add_header Access-Control-Max-Age $crossgate_max_age always;
        add_header Access-Control-Expose-Headers $crossgate_expose_headers always;
        add_header Vary $crossgate_vary always;

        # Preflights are answered here, never by the application. Keep these `if` blocks free of
        # add_header: an `if` with an add_header of its own silently discards every add_header above
        # (the classic trap that loses CORS headers). `return` is safe inside `if`.
        if ($crossgate_cors = preflight) {
            return 204;
        }
        if ($crossgate_cors = refused-preflight) {
            return 403;
        }
    "##]]
    .assert_eq(&e.text);
}

#[test]
fn snapshot_express() {
    let e = export(FULL, Target::Express);
    expect![[r#"
        // CORS for Express, with the npm `cors` package (2.8)
        // Generated by `crossgate export` from a crossgate policy: change the policy and export
        // again rather than editing this by hand. The policy allows:
        //   origins:     https://app.example.com, https://*.example.org
        //   methods:     GET, HEAD, POST, PUT, DELETE
        //   headers:     content-type, x-request-id
        //   exposes:     x-total-count
        //   credentials: yes
        //   max_age:     600
        //
        // Use: const cors = require('cors');
        //      app.use(cors(require('./cors-options.js')));
        // before your routes, so that it answers preflights and adds the headers to every answer.
        'use strict';

        const corsOptions = {
          // Exact strings, and anchored regular expressions for the patterns.
          origin: [
            'https://app.example.com',
            /^https:\/\/(?:[a-z0-9_-]+\.)+example\.org$/,  // https://*.example.org
          ],
          // GET, HEAD and POST need no mention: browsers always allow them.
          methods: ['PUT', 'DELETE'],
          allowedHeaders: ['content-type', 'x-request-id'],
          exposedHeaders: ['x-total-count'],
          credentials: true,
          maxAge: 600,
          preflightContinue: false,
          optionsSuccessStatus: 204,
        };

        module.exports = corsOptions;
    "#]]
    .assert_eq(&e.text);
}

#[test]
fn snapshot_fastapi() {
    let e = export(FULL, Target::Fastapi);
    expect![[r##"
        # CORS for FastAPI / Starlette (CORSMiddleware)
        # Generated by `crossgate export` from a crossgate policy: change the policy and export
        # again rather than editing this by hand. The policy allows:
        #   origins:     https://app.example.com, https://*.example.org
        #   methods:     GET, HEAD, POST, PUT, DELETE
        #   headers:     content-type, x-request-id
        #   exposes:     x-total-count
        #   credentials: yes
        #   max_age:     600
        #
        # Use: from fastapi.middleware.cors import CORSMiddleware  # or starlette.middleware.cors
        #      from cors_settings import CORS_KWARGS
        #      app.add_middleware(CORSMiddleware, **CORS_KWARGS)

        CORS_KWARGS = dict(
            allow_origins=["https://app.example.com"],
            # https://*.example.org
            allow_origin_regex="^(?:https://(?:[a-z0-9_-]+\\.)+example\\.org)$",
            # GET, HEAD and POST listed: Starlette checks every preflight's method against this.
            allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE"],
            allow_headers=["content-type", "x-request-id"],
            expose_headers=["x-total-count"],
            allow_credentials=True,
            max_age=600,
        )
    "##]]
    .assert_eq(&e.text);
}

#[test]
fn snapshot_caddy_public() {
    let e = export(
        r#"allow_origins = ["*"]
           allow_methods = ["*"]
           allow_headers = ["*"]
           expose_headers = ["*"]
           max_age = 7200"#,
        Target::Caddy,
    );
    expect![[r##"
        # CORS for Caddy 2
        # Generated by `crossgate export` from a crossgate policy: change the policy and export
        # again rather than editing this by hand. The policy allows:
        #   origins:     * (any origin)
        #   methods:     any
        #   headers:     any
        #   exposes:     *
        #   credentials: no
        #   max_age:     7200
        #
        # Paste at the top level of your Caddyfile, then `import crossgate_cors` first in the
        # site block that serves the API (before reverse_proxy, file_server…).
        (crossgate_cors) {
        	# A preflight: OPTIONS with Origin and Access-Control-Request-Method.
        	@crossgate_preflight {
        		method OPTIONS
        		header Origin *
        		header Access-Control-Request-Method *
        	}
        	# A preflight whose origin, method (case-sensitive) and request headers (any case) are allowed.
        	@crossgate_preflight_allowed {
        		method OPTIONS
        		header Origin *
        		header_regexp Access-Control-Request-Method "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
        	}
        	# An allowed preflight that lists request headers (any are allowed: reflected).
        	@crossgate_preflight_allowed_headers {
        		method OPTIONS
        		header Origin *
        		header_regexp Access-Control-Request-Method "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
        		header Access-Control-Request-Headers *
        	}
        	# Any other request from an allowed origin.
        	@crossgate_allowed {
        		header Origin *
        		not {
        			method OPTIONS
        			header Access-Control-Request-Method *
        		}
        	}
        	route {
        		header @crossgate_preflight_allowed {
        			Access-Control-Allow-Origin "*"
        			Access-Control-Allow-Methods "{http.request.header.Access-Control-Request-Method}"
        			Access-Control-Max-Age 7200
        		}
        		header @crossgate_preflight_allowed_headers Access-Control-Allow-Headers "{http.request.header.Access-Control-Request-Headers}"
        		header @crossgate_preflight Vary "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        		respond @crossgate_preflight_allowed 204
        		respond @crossgate_preflight 403
        		# The headers of an allowed request, set twice: now, so that Caddy's own error answers
        		# (a 502 when the upstream is down) carry them, and deferred, after the line below has
        		# removed the application's.
        		header @crossgate_allowed {
        			Access-Control-Allow-Origin "*"
        			Access-Control-Expose-Headers "*"
        		}
        		header @crossgate_allowed {
        			defer
        			Access-Control-Allow-Origin "*"
        			Access-Control-Expose-Headers "*"
        		}
        		# The policy is the only authority on CORS: the application's CORS headers are removed.
        		# Deferred operations run last-listed first, so this runs before the block above.
        		header {
        			defer
        			-Access-Control-Allow-Origin
        			-Access-Control-Allow-Credentials
        			-Access-Control-Allow-Methods
        			-Access-Control-Allow-Headers
        			-Access-Control-Max-Age
        			-Access-Control-Expose-Headers
        		}
        	}
        }
    "##]]
    .assert_eq(&e.text);
}

#[test]
fn snapshot_apache() {
    let e = export(FULL, Target::Apache);
    expect![[r##"
        # CORS for Apache httpd 2.4
        # Generated by `crossgate export` from a crossgate policy: change the policy and export
        # again rather than editing this by hand. The policy allows:
        #   origins:     https://app.example.com, https://*.example.org
        #   methods:     GET, HEAD, POST, PUT, DELETE
        #   headers:     content-type, x-request-id
        #   exposes:     x-total-count
        #   credentials: yes
        #   max_age:     600
        #
        # Needs mod_setenvif, mod_headers and mod_rewrite (a2enmod setenvif headers rewrite).
        # Put all of it in one place: inside the <VirtualHost>, or inside one <Directory> or
        # <Location> (the variables set here must exist before the rewrite rules run).

        # 1. What the request is to CORS, as environment variables.
        # The allowed Origin, echoed (anchored and case-sensitive): https://app.example.com, https://*.example.org
        SetEnvIf Origin "^(https://app\.example\.com|https://(?:[a-z0-9_-]+\.)+example\.org)$" CROSSGATE_ORIGIN=$1
        # The preflight's method (case-sensitive, as browsers compare), and its request headers
        # (every comma-separated name allowed, in any case; none at all passes too).
        SetEnvIf Access-Control-Request-Method "^(?:GET|HEAD|POST|PUT|DELETE)$" CROSSGATE_METHOD_OK
        SetEnvIfNoCase Access-Control-Request-Headers "^[\t ,]*(?:(?:content-type|x-request-id)[\t ]*(?:,[\t ,]*|$))*$" CROSSGATE_HEADERS_OK
        SetEnvIfExpr "%{REQUEST_METHOD} == 'OPTIONS' && -n req('Origin') && -n req('Access-Control-Request-Method')" CROSSGATE_PREFLIGHT
        SetEnvIfExpr "-n reqenv('CROSSGATE_PREFLIGHT') && -n reqenv('CROSSGATE_ORIGIN') && -n reqenv('CROSSGATE_METHOD_OK') && -n reqenv('CROSSGATE_HEADERS_OK')" CROSSGATE_CORS=preflight
        SetEnvIfExpr "-n reqenv('CROSSGATE_PREFLIGHT') && reqenv('CROSSGATE_CORS') != 'preflight'" CROSSGATE_CORS=refused-preflight
        SetEnvIfExpr "-z reqenv('CROSSGATE_PREFLIGHT') && -n reqenv('CROSSGATE_ORIGIN')" CROSSGATE_CORS=actual

        # 2. The headers. The policy is the only authority on CORS: the application's own CORS
        # headers are removed, from both of mod_headers' tables: a proxied answer's are in the
        # default one, those of CGI scripts and mod_proxy_fcgi (PHP-FPM) in the `always` one.
        # `always`: error answers (4xx, 5xx) carry the policy's headers too.
        Header unset Access-Control-Allow-Origin
        Header always unset Access-Control-Allow-Origin
        Header unset Access-Control-Allow-Credentials
        Header always unset Access-Control-Allow-Credentials
        Header unset Access-Control-Allow-Methods
        Header always unset Access-Control-Allow-Methods
        Header unset Access-Control-Allow-Headers
        Header always unset Access-Control-Allow-Headers
        Header unset Access-Control-Max-Age
        Header always unset Access-Control-Max-Age
        Header unset Access-Control-Expose-Headers
        Header always unset Access-Control-Expose-Headers
        Header always set Access-Control-Allow-Origin "%{CROSSGATE_ORIGIN}e" "expr=reqenv('CROSSGATE_CORS') in {'preflight', 'actual'}"
        Header always set Access-Control-Allow-Credentials "true" "expr=reqenv('CROSSGATE_CORS') in {'preflight', 'actual'}"
        Header always set Access-Control-Allow-Methods "PUT, DELETE" "expr=reqenv('CROSSGATE_CORS') == 'preflight'"
        Header always set Access-Control-Allow-Headers "content-type, x-request-id" "expr=reqenv('CROSSGATE_CORS') == 'preflight'"
        Header always set Access-Control-Max-Age "600" "expr=reqenv('CROSSGATE_CORS') == 'preflight'"
        Header always set Access-Control-Expose-Headers "x-total-count" "expr=reqenv('CROSSGATE_CORS') == 'actual'"
        Header always merge Vary "Origin, Access-Control-Request-Method, Access-Control-Request-Headers" "expr=-n reqenv('CROSSGATE_PREFLIGHT')"
        Header always merge Vary "Origin" "expr=-z reqenv('CROSSGATE_PREFLIGHT')"

        # 3. Preflights are answered here, never by the application.
        RewriteEngine On
        RewriteCond %{ENV:CROSSGATE_CORS} =preflight
        RewriteRule ^ - [R=204,L]
        RewriteCond %{ENV:CROSSGATE_CORS} =refused-preflight
        RewriteRule ^ - [R=403,L]
    "##]]
    .assert_eq(&e.text);
}

#[test]
fn snapshot_caddy() {
    let e = export(FULL, Target::Caddy);
    expect![[r##"
        # CORS for Caddy 2
        # Generated by `crossgate export` from a crossgate policy: change the policy and export
        # again rather than editing this by hand. The policy allows:
        #   origins:     https://app.example.com, https://*.example.org
        #   methods:     GET, HEAD, POST, PUT, DELETE
        #   headers:     content-type, x-request-id
        #   exposes:     x-total-count
        #   credentials: yes
        #   max_age:     600
        #
        # Paste at the top level of your Caddyfile, then `import crossgate_cors` first in the
        # site block that serves the API (before reverse_proxy, file_server…).
        (crossgate_cors) {
        	# A preflight: OPTIONS with Origin and Access-Control-Request-Method.
        	@crossgate_preflight {
        		method OPTIONS
        		header Origin *
        		header Access-Control-Request-Method *
        	}
        	# A preflight whose origin, method (case-sensitive) and request headers (any case) are allowed.
        	@crossgate_preflight_allowed {
        		method OPTIONS
        		header_regexp Origin "^(?:https://app\.example\.com|https://(?:[a-z0-9_-]+\.)+example\.org)$"
        		header_regexp Access-Control-Request-Method "^(?:GET|HEAD|POST|PUT|DELETE)$"
        		not {
        			header Access-Control-Request-Headers *
        			not header_regexp Access-Control-Request-Headers "(?i)^[\t ,]*(?:(?:content-type|x-request-id)[\t ]*(?:,[\t ,]*|$))*$"
        		}
        	}
        	# Any other request from an allowed origin.
        	@crossgate_allowed {
        		header_regexp Origin "^(?:https://app\.example\.com|https://(?:[a-z0-9_-]+\.)+example\.org)$"
        		not {
        			method OPTIONS
        			header Access-Control-Request-Method *
        		}
        	}
        	route {
        		header @crossgate_preflight_allowed {
        			Access-Control-Allow-Origin "{http.request.header.Origin}"
        			Access-Control-Allow-Credentials true
        			Access-Control-Allow-Methods "PUT, DELETE"
        			Access-Control-Allow-Headers "content-type, x-request-id"
        			Access-Control-Max-Age 600
        		}
        		header @crossgate_preflight Vary "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        		respond @crossgate_preflight_allowed 204
        		respond @crossgate_preflight 403
        		# The headers of an allowed request, set twice: now, so that Caddy's own error answers
        		# (a 502 when the upstream is down) carry them, and deferred, after the line below has
        		# removed the application's.
        		header @crossgate_allowed {
        			Access-Control-Allow-Origin "{http.request.header.Origin}"
        			Access-Control-Allow-Credentials true
        			Access-Control-Expose-Headers "x-total-count"
        		}
        		header @crossgate_allowed {
        			defer
        			Access-Control-Allow-Origin "{http.request.header.Origin}"
        			Access-Control-Allow-Credentials true
        			Access-Control-Expose-Headers "x-total-count"
        		}
        		# The policy is the only authority on CORS: the application's CORS headers are removed.
        		# Deferred operations run last-listed first, so this runs before the block above.
        		header {
        			defer
        			-Access-Control-Allow-Origin
        			-Access-Control-Allow-Credentials
        			-Access-Control-Allow-Methods
        			-Access-Control-Allow-Headers
        			-Access-Control-Max-Age
        			-Access-Control-Expose-Headers
        		}
        		header +Vary Origin
        	}
        }
    "##]]
    .assert_eq(&e.text);
}

#[test]
fn snapshot_s3() {
    let e = export(FULL, Target::S3);
    expect![[r#"
        {
          "CORSRules": [
            {
              "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
              "AllowedMethods": ["GET", "HEAD", "POST", "PUT", "DELETE"],
              "AllowedHeaders": ["content-type", "x-request-id"],
              "ExposeHeaders": ["x-total-count"],
              "MaxAgeSeconds": 600
            }
          ]
        }
    "#]]
    .assert_eq(&e.text);
}

/// Origins that reach no renderer through validation (quotes, `;`, `$`, `{`, `\`…: refused by
/// `policy::allow_origin` for the schemes other than http(s), ws(s) and ftp), put in a model past
/// validation: every renderer must write them so that its target reads back exactly the regex or
/// string meant, nothing more (found in review: the FastAPI export turned policy text into Python
/// code, nginx's and Apache's quoted strings ended early).
mod hostile {
    use super::super::{Model, Origins, Rendered, Target};
    use super::policy;
    use crate::policy::OriginRule;

    const ORIGINS: [&str; 8] = [
        "x://*.a\"if\"\"else\"b",
        "x://a\"+b;c",
        "x://a'b\\c;d{e}f$g`h<i>j^k|l",
        "x://*.q\"\\",
        "x://a\\",
        "x://${home}{$HOME}%{x}e",
        "x://a\\\"b\\\\\"c\\t\\n",
        "https://a\"b;c{d}$e'f`g.example.com",
    ];

    fn model() -> Model {
        let mut model = Model::new(&policy(
            r#"allow_origins = ["https://placeholder.example"]
               allow_methods = ["PUT"]
               allow_headers = ["x-id"]"#,
        ));
        model.origins = Origins::List(ORIGINS.iter().map(|o| rule(o)).collect());
        model
    }

    fn rendered(target: Target) -> String {
        let model = model();
        let mut out = Rendered::default();
        match target {
            Target::Nginx => super::super::nginx::render(&model, &mut out),
            Target::Caddy => super::super::caddy::render(&model, &mut out),
            Target::Apache => super::super::apache::render(&model, &mut out),
            Target::Express => super::super::express::render(&model, &mut out),
            Target::Fastapi => super::super::fastapi::render(&model, &mut out),
            Target::S3 => super::super::s3::render(&model, &mut out),
        }
        assert_eq!(out.refusals, [], "{target}");
        // Comments show the origins percent-encoded, so that none ends early or goes on.
        let mut commented = false;
        for line in out.text.lines() {
            let trimmed = line.trim_start();
            let comment = if trimmed.starts_with('#') || trimmed.starts_with("//") {
                Some(trimmed)
            } else {
                line.rfind("  # ")
                    .or_else(|| line.rfind("  // "))
                    .map(|at| &line[at..])
            };
            let Some(comment) = comment else { continue };
            for raw in ["\"if\"", "+b;c", "a'b", "q\"", "a\\", "${", "{$", "b;c{d}"] {
                assert!(
                    !comment.contains(raw),
                    "{target}: {raw} in a comment: {line}"
                );
            }
            commented |= comment.contains("x://a%22+b%3Bc");
        }
        // JSON has no comments.
        assert!(
            commented || target == Target::S3,
            "{target}: the origins are in a comment:\n{}",
            out.text
        );
        out.text
    }

    /// An entry past validation, as it is written.
    fn rule(entry: &str) -> OriginRule {
        OriginRule::unchecked(entry).expect("scheme://…")
    }

    fn regexes() -> Vec<String> {
        model().entries().iter().map(OriginRule::regex).collect()
    }

    /// One double-quoted token at the start of `s`, as a configuration reads it: `\` followed
    /// by a character of `escapes` (or `"`) is that escape, with `escaped` saying what it
    /// stands for; any other `\` is itself (and, when `consumes`, takes the next character with
    /// it, as nginx's and Caddy's lexers do). Returns the token and what follows it.
    fn token(
        s: &str,
        escaped: impl Fn(char) -> Option<String>,
        consumes: bool,
    ) -> Option<(String, &str)> {
        let rest = s.strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Some((out, &rest[i + 1..])),
                '\\' => {
                    let &(_, n) = chars.peek()?;
                    if let Some(text) = escaped(n) {
                        chars.next();
                        out.push_str(&text);
                    } else {
                        out.push('\\');
                        if consumes {
                            chars.next();
                            out.push(n);
                        }
                    }
                }
                c => out.push(c),
            }
        }
        None
    }

    #[test]
    fn nginx_map_keys_are_the_regexes() {
        let text = rendered(Target::Nginx);
        let map = text
            .split("map $http_origin $crossgate_origin {\n    default \"\";\n")
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .expect("the origin map");
        let nginx = |n: char| match n {
            '"' | '\'' | '\\' => Some(n.to_string()),
            't' => Some("\t".to_owned()),
            'r' => Some("\r".to_owned()),
            'n' => Some("\n".to_owned()),
            _ => None,
        };
        let mut keys = Vec::new();
        for line in map.lines() {
            let (key, rest) =
                token(line.trim_start(), nginx, true).unwrap_or_else(|| panic!("{line}"));
            assert!(rest.starts_with(" $http_origin;  # "), "{line}");
            keys.push(key);
        }
        let want: Vec<String> = regexes().iter().map(|r| format!("~^{r}$")).collect();
        assert_eq!(keys, want, "{map}");
    }

    #[test]
    fn apache_regex_is_one_argument() {
        let text = rendered(Target::Apache);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("SetEnvIf Origin "))
            .expect("the origin line");
        let apache = |n: char| matches!(n, '"' | '\\').then(|| n.to_string());
        let (regex, rest) = token(line, apache, false).expect("a quoted argument");
        assert_eq!(rest, " CROSSGATE_ORIGIN=$1");
        assert_eq!(regex, format!("^({})$", regexes().join("|")));
        assert!(
            !text.contains("${"),
            "Apache reads ${{…}} as a Define:\n{text}"
        );
        assert!(
            !text.lines().any(|l| l.ends_with('\\')),
            "a continued line:\n{text}"
        );
    }

    /// Caddy reads `\"` in a quoted token as `"`, keeps every other `\` with the character after
    /// it, then, importing a snippet, reads `\{` and `\}` as escaped braces (found by running
    /// `caddy adapt`): a brace of the policy's text must reach RE2 as something else than `{`.
    #[test]
    fn caddy_regex_is_one_token() {
        let text = rendered(Target::Caddy);
        let caddy = |n: char| (n == '"').then(|| n.to_string());
        let want = format!("^(?:{})$", regexes().join("|"))
            .replace("\\{", "\\x7b")
            .replace("\\}", "\\x7d");
        let mut seen = 0;
        for line in text.lines() {
            if let Some(line) = line.trim_start().strip_prefix("header_regexp Origin ") {
                let (regex, rest) = token(line, caddy, true).expect("a quoted token");
                let imported = regex.replace("\\{", "{").replace("\\}", "}");
                assert_eq!((imported.as_str(), rest), (want.as_str(), ""));
                // The only braces left are the port's repetition.
                let ports = imported.matches(super::super::ANY_PORT).count();
                assert_eq!(imported.matches('{').count(), ports, "{imported}");
                seen += 1;
            }
        }
        assert_eq!(seen, 2, "{text}");
        assert!(
            !text.contains("{$"),
            "Caddy reads {{$…}} as an environment variable:\n{text}"
        );
    }

    /// A Python or JavaScript string literal: `\\`, the quote, `\uXXXX`.
    fn script_string(s: &str, quote: char) -> Option<(String, &str)> {
        let rest = s.strip_prefix(quote)?;
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => return Some((out, &rest[i + 1..])),
                '\\' => match chars.next()?.1 {
                    'u' => {
                        let hex: String =
                            (0..4).filter_map(|_| chars.next()).map(|x| x.1).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    n if n == quote || n == '\\' => out.push(n),
                    _ => return None,
                },
                '\n' | '\r' | '\u{2028}' | '\u{2029}' => return None,
                c => out.push(c),
            }
        }
        None
    }

    #[test]
    fn fastapi_regex_and_origins_are_python_strings() {
        let text = rendered(Target::Fastapi);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("    allow_origin_regex="))
            .expect("the regex line");
        let (regex, rest) = script_string(line, '"').expect("a string");
        assert_eq!(rest, ",");
        let patterns: Vec<String> = model()
            .entries()
            .iter()
            .filter(|e| !matches!(e, OriginRule::Exact { .. }))
            .map(OriginRule::regex)
            .collect();
        assert_eq!(regex, format!("^(?:{})$", patterns.join("|")));
        let mut list = text
            .lines()
            .find_map(|l| l.strip_prefix("    allow_origins=["))
            .expect("the list");
        let mut exact = Vec::new();
        while let Some((s, rest)) = script_string(list, '"') {
            exact.push(s);
            list = rest.strip_prefix(", ").unwrap_or(rest);
        }
        assert_eq!(list, "],");
        let want: Vec<&str> = ORIGINS
            .iter()
            .copied()
            .filter(|o| !o.contains('*'))
            .collect();
        assert_eq!(exact, want);
    }

    #[test]
    fn express_origins_are_javascript_literals() {
        let text = rendered(Target::Express);
        let list = text
            .split("  origin: [\n")
            .nth(1)
            .and_then(|rest| rest.split("\n  ],\n").next())
            .expect("the origin list");
        let mut got = Vec::new();
        for line in list.lines() {
            let line = line.trim_start();
            if line.starts_with('\'') {
                let (s, rest) = script_string(line, '\'').unwrap_or_else(|| panic!("{line}"));
                assert_eq!(rest, ",", "{line}");
                got.push(s);
            } else {
                // A regex literal: up to the first `/` no `\` escapes.
                let body = line.strip_prefix('/').expect("a regex literal");
                let mut end = None;
                let mut escaped = false;
                for (i, c) in body.char_indices() {
                    match c {
                        '/' if !escaped => {
                            end = Some(i);
                            break;
                        }
                        '\\' => escaped = !escaped,
                        _ => escaped = false,
                    }
                }
                let end = end.unwrap_or_else(|| panic!("unterminated: {line}"));
                assert!(body[end + 1..].starts_with(",  // "), "{line}");
                // `\/` is `/` to a regex; nothing else is written differently here.
                got.push(body[..end].replace("\\/", "/"));
            }
        }
        let want: Vec<String> = model()
            .entries()
            .iter()
            .map(|e| match e {
                OriginRule::Exact { .. } => e.to_string(),
                pattern => format!("^{}$", pattern.regex()),
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn s3_origins_are_json_strings() {
        let text = rendered(Target::S3);
        let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let origins: Vec<&str> = json["CORSRules"][0]["AllowedOrigins"]
            .as_array()
            .expect("origins")
            .iter()
            .map(|o| o.as_str().expect("a string"))
            .collect();
        assert_eq!(origins, ORIGINS);
    }

    #[test]
    fn control_characters_are_refused_for_every_target() {
        for target in Target::ALL {
            let mut model = model();
            model.origins = Origins::List(vec![rule("x://a\nb"), rule("x://c\u{2028}")]);
            let mut out = Rendered::default();
            super::super::refuse_unwritable_origins(&model, &mut out);
            let codes: Vec<&str> = out.refusals.iter().map(|r| r.code).collect();
            assert_eq!(
                codes,
                ["origin-characters", "origin-characters"],
                "{target}"
            );
            assert!(
                out.refusals[0].message.contains("x://a\\nb"),
                "{:?}",
                out.refusals
            );
        }
    }

    /// The escapes themselves, for what the renderers above write no example of.
    #[test]
    fn escaping_helpers() {
        assert_eq!(super::super::double_quoted(r"a\.b", "'\\trn"), r#""a\.b""#);
        assert_eq!(
            super::super::double_quoted(r"a\tb\", "'\\trn"),
            r#""a\\tb\\""#
        );
        assert_eq!(super::super::double_quoted(r#"a\"b"#, "\\"), r#""a\\\"b""#);
        assert_eq!(
            super::super::express::js_regex("a/b\\/c\u{2028}\\\u{2029}"),
            r"/a\/b\/c\u2028\u2029/"
        );
    }
}
