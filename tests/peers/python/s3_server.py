"""moto's S3 server (moto[server]) on 127.0.0.1, for crates/cli/tests/cli/peers.rs.

Run: MOTO_DISABLE_GLOBAL_CORS=true python s3_server.py -H 127.0.0.1 -p PORT

One fix to moto before it starts, so that it matches an origin against a bucket's CORS rules as
S3 documents it (the whole origin; at most one `*`, which matches any characters): moto 5.2's
`cors_matches_origin` runs `re.match` on the rule without an end anchor, so the rule
`https://app.example.com` also allows `https://app.example.com.attacker.net`, which S3 does not.
Without the fix every policy's near-miss origins show as differences that belong to moto.
MOTO_DISABLE_GLOBAL_CORS keeps moto's own flask-cors layer (which reflects every origin) off.

And one header moto leaves out: S3 answers a request with an `Origin` to a bucket that has a CORS
configuration with `Vary: Origin, Access-Control-Request-Headers, Access-Control-Request-Method`
(whatever the rules say: the bucket's CORS JSON has no say over it); moto sends no `Vary`, which
`crossgate check --policy` reports, rightly, as a cache serving one origin's answer to another.

What is still moto's own, not S3's (the tests allow for it): CORS rules are read on shared state
by concurrent threads (requests race: check it with --concurrency 1), error answers (a missing
object's 404) carry no CORS headers, `Access-Control-Allow-Credentials` is never sent (S3 sends
`true` for an origin matched by a rule other than `*`), and a `*` rule echoes the origin.
"""

import re
import sys

import moto.s3.responses
import moto.s3.utils
import moto.server
from moto.server import main


def cors_matches_origin(origin_header, allowed_origins):
    for allowed in allowed_origins:
        if allowed == "*" or allowed == origin_header:
            return True
        pattern = ".*".join(re.escape(part) for part in allowed.split("*", 1))
        if re.fullmatch(pattern, origin_header or ""):
            return True
    return False


moto.s3.utils.cors_matches_origin = cors_matches_origin
moto.s3.responses.cors_matches_origin = cors_matches_origin

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


def with_vary(app):
    """The WSGI app, with S3's `Vary` on every answer to a request that carries `Origin`."""

    def wrapped(environ, start_response):
        if "HTTP_ORIGIN" not in environ:
            return app(environ, start_response)

        def start(status, headers, exc_info=None):
            headers = [(n, v) for n, v in headers if n.lower() != "vary"]
            headers.append(("Vary", VARY))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


serve = moto.server.run_simple
moto.server.run_simple = lambda host, port, app, **kwargs: serve(host, port, with_vary(app), **kwargs)

if __name__ == "__main__":
    main(sys.argv[1:])
