"""moto's S3 server (moto[server]) on 127.0.0.1, for crates/cli/tests/cli/peers.rs.

Run: MOTO_DISABLE_GLOBAL_CORS=true python s3_server.py -H 127.0.0.1 -p PORT

moto keeps the buckets, the objects and their CORS rules, and decides from the rules whether an
Origin, a method and the requested headers are allowed and what Access-Control-Allow-Methods,
-Allow-Headers, -Expose-Headers and -Max-Age say. Where moto 5.2 departs from what the Amazon S3
user guide says S3 answers ("How Amazon S3 evaluates the CORS configuration"), this file puts S3's
behaviour back, so that what the tests check is the exported configuration, not moto:

- origin matching: moto's `cors_matches_origin` runs `re.match` on the rule without an end
  anchor, so the rule `https://app.example.com` also allows `https://app.example.com.attacker.net`;
  S3 matches the whole origin (at most one `*`, matching any characters).
- the answer to an allowed origin: S3 echoes it with `Access-Control-Allow-Credentials: true`, or
  answers `*` (without credentials) when the rule that matched allows `*`; moto always echoes the
  origin and never sends credentials.
- `Vary: Origin, Access-Control-Request-Headers, Access-Control-Request-Method` on every answer to
  a request with an Origin (S3 sends it for a bucket with a CORS configuration); moto sends none.
- an actual request's answer: S3 evaluates the rules on every request (the first rule that allows
  the origin and the method) and puts its CORS headers on the answer; moto adds them to some
  answers only (not to errors, such as a missing object's 404, nor to a DELETE's 204). That S3
  also puts them on error answers is this file's assumption (the user guide does not say
  otherwise); a real bucket is the place to confirm it.
- MOTO_DISABLE_GLOBAL_CORS keeps moto's own flask-cors layer (which reflects every origin) off.

Still moto's own, not S3's (the tests allow for it): CORS rules are read on state shared by
concurrent requests (they race: check it with --concurrency 1); moto decides preflights itself
(which origins, and the method and header lists it answers with).
"""

import re
import sys

import moto.s3.responses
import moto.s3.utils
import moto.server
from moto.s3.models import s3_backends
from moto.server import main


def cors_matches_origin(origin_header, allowed_origins):
    return any(origin_matches(origin_header or "", allowed) for allowed in allowed_origins)


def origin_matches(origin, allowed):
    if allowed == "*" or allowed == origin:
        return True
    pattern = ".*".join(re.escape(part) for part in allowed.split("*", 1))
    return re.fullmatch(pattern, origin) is not None


moto.s3.utils.cors_matches_origin = cors_matches_origin
moto.s3.responses.cors_matches_origin = cors_matches_origin

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


def bucket_rules(name):
    """The CORS rules of the bucket called `name`, whichever account and region holds it."""
    for account in s3_backends.values():
        for backend in account.values():
            bucket = backend.buckets.get(name)
            if bucket is not None:
                return bucket.cors
    return []


def first_rule(bucket, origin, method):
    """The first of the bucket's CORS rules that allows `origin` and `method`, or None."""
    for rule in bucket_rules(bucket):
        if cors_matches_origin(origin, rule.allowed_origins or []) and method in (rule.allowed_methods or []):
            return rule
    return None


CORS_ANSWER = ("access-control-allow-origin", "access-control-allow-credentials", "access-control-expose-headers")


def with_s3_answers(app):
    """The WSGI app, with S3's Vary on every answer to a request that carries Origin, and on an
    actual (non-OPTIONS) request's answer, whatever its status, the CORS headers of the first
    rule that allows its origin and method: Allow-Origin (`*`, or the origin with
    Allow-Credentials) and Expose-Headers."""

    def wrapped(environ, start_response):
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        bucket = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]

        def start(status, headers, exc_info=None):
            headers = [(n, v) for n, v in headers if n.lower() != "vary"]
            headers.append(("Vary", VARY))
            if method == "OPTIONS":
                # moto's preflight answer, with S3's Allow-Origin and Allow-Credentials.
                if any(n.lower() == "access-control-allow-origin" for n, _ in headers):
                    rule = next(
                        (r for r in bucket_rules(bucket) if cors_matches_origin(origin, r.allowed_origins or [])),
                        None,
                    )
                    headers = [(n, v) for n, v in headers if n.lower() not in CORS_ANSWER[:2]]
                    headers.extend(allow_origin(rule, origin))
                return start_response(status, headers, exc_info)
            headers = [(n, v) for n, v in headers if n.lower() not in CORS_ANSWER]
            rule = first_rule(bucket, origin, method)
            if rule is not None:
                headers.extend(allow_origin(rule, origin))
                if rule.exposed_headers:
                    headers.append(("Access-Control-Expose-Headers", ", ".join(rule.exposed_headers)))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


def allow_origin(rule, origin):
    if rule is not None and "*" in (rule.allowed_origins or []):
        return [("Access-Control-Allow-Origin", "*")]
    return [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]


serve = moto.server.run_simple
moto.server.run_simple = lambda host, port, app, **kwargs: serve(host, port, with_s3_answers(app), **kwargs)

if __name__ == "__main__":
    main(sys.argv[1:])
