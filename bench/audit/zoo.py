#!/usr/bin/env python3
"""A zoo of CORS configurations on ONE loopback port, routed by the Host header.

Every endpoint (`t017.prefix.test`, …) runs one origin check the way real code does: it parses
the `Origin` with urllib, takes the host name and compares it (so the port in the Origin does not
matter), and writes the CORS headers. Some checks are buggy (reflection, startswith, endswith,
unescaped dots, substring, null…), some headers are mangled in ways a string-matching scanner
accepts but a browser refuses (upper case, another port, two values, a trailing slash), and some
configurations are correct.

The same port speaks HTTP and HTTPS: the first byte of a connection decides (0x16 is a TLS
handshake). The https endpoints use a leaf certificate for all their names, signed by a CA made
here with `openssl` (pass the CA to the scanner: `--cacert`).

This module is also the ground truth's oracle: `browser_read(endpoint, origin)` answers whether a
page on `origin` could read the endpoint's response in a browser (the Fetch standard's CORS
check: Access-Control-Allow-Origin byte-equal to the serialized origin, or `*` without
credentials; Access-Control-Allow-Credentials exactly `true` for credentialed reads).

    python3 zoo.py --dir OUT [--port 0] [--ready-stdout]

writes OUT/truth.json (host → kind, expected classes, what a browser can read), OUT/urls.txt,
OUT/ca.pem, then serves until SIGTERM/SIGINT; with --ready-stdout it prints `READY <port>` on
stdout once the socket listens. `GET /__stats` with `Host: zoo.control` returns the request counts
since the last call (and resets them).

Nothing here opens a connection: it only listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PER_KIND = 10
ATTACKER = "attacker.example"

# ---------------------------------------------------------------------------------------------
# The kinds of endpoint.


@dataclass
class Endpoint:
    index: int
    kind: str
    scheme: str
    host: str
    domain: str  # the registrable domain (the .test TLD counts as a public suffix)
    port: int = 0
    variant: str = ""

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/api/me"

    @property
    def own_origin(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def exact(self) -> set[str]:
        """The origins a correct exact list allows: its own and an app on the same site."""
        return {self.own_origin, f"https://app.{self.domain}"}


def hostname(origin: str) -> str | None:
    """The host of an Origin, parsed as most server code does (urllib, lower-cased)."""
    if origin == "null":
        return None
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return None


def raw_dots(host: str) -> str:
    """The host as a regex written by hand without escaping its dots."""
    return host  # the dots stay unescaped: each matches any character


@dataclass
class Kind:
    name: str
    what: str  # one line: the rule
    # The read classes are derived from the rule by the oracle; these are the configuration
    # classes the kind has on purpose (headers a browser does not need to read anything for).
    config: set[str] = field(default_factory=set)
    scheme: str = "http"
    trap: bool = False  # a string matcher may flag it; a browser refuses every read
    correct: bool = False


KINDS: list[Kind] = [
    Kind("reflect", "reflects any Origin (null too) with credentials"),
    Kind("prefix", "allowed if host.startswith(target_host)"),
    Kind("suffix", "allowed if host.endswith(registrable_domain)"),
    Kind("dot", "allowed if re.search(target_host with raw dots, host) (unanchored)"),
    Kind("dot-anchored", "allowed if re.fullmatch(target_host with raw dots, host)"),
    Kind("substring", "allowed if host in target_host (a substring test)"),
    Kind("null", "allowed if Origin is `null` or in an exact list"),
    Kind("insecure", "https site; allowed if host == target_host (scheme ignored)", scheme="https"),
    Kind("any-subdomain", "allowed if host == domain or host.endswith('.' + domain)"),
    Kind("third-party", "trusts *.github.io (odd endpoints: codepen.io) and its own origin"),
    Kind("special", "host taken with re.match('^https?://([a-z0-9.-]+)', origin) == target_host"),
    Kind("wildcard-credentials", "`*` with Access-Control-Allow-Credentials: true",
         config={"wildcard-with-credentials"}),
    Kind("wildcard-private", "`*` on a Cache-Control: private response", config={"wildcard-private"}),
    Kind("no-vary", "reflects any Origin, no credentials, no Vary: Origin",
         config={"missing-vary-origin"}),
    Kind("exact-no-vary", "exact list with credentials, but no Vary: Origin",
         config={"missing-vary-origin"}),
    Kind("preflight-wildcard", "exact list; preflight: Allow-Methods *, Allow-Headers *, Max-Age one year",
         config={"preflight-any-method", "preflight-any-header", "authorization-under-wildcard",
                 "long-max-age"}),
    Kind("preflight-reflect", "exact list; preflight reflects the requested method and headers, "
         "credentials true even for refused origins",
         config={"preflight-any-method", "preflight-any-header",
                 "preflight-credentials-for-refused-origin"}),
    Kind("trap-upper", "reflects any Origin UPPER-CASED, credentials", trap=True),
    Kind("trap-port", "reflects any Origin with another port, credentials", trap=True),
    Kind("trap-multi", "reflects any Origin plus a second value (`origin, https://partner…`)", trap=True),
    Kind("trap-slash", "reflects any Origin with a trailing slash, credentials", trap=True),
    Kind("acac-upper", "reflects any Origin, Access-Control-Allow-Credentials: TRUE (so no credentialed read)"),
    Kind("exact", "exact list of origins with credentials (half of them https)", correct=True),
    Kind("public", "`*` without credentials on public data", correct=True),
]
KIND_BY_NAME = {k.name: k for k in KINDS}


def endpoints(port: int) -> list[Endpoint]:
    out = []
    i = 0
    for kind in KINDS:
        for j in range(PER_KIND):
            scheme = kind.scheme
            if kind.name == "exact" and j % 2 == 1:
                scheme = "https"
            variant = ""
            if kind.name == "third-party":
                variant = "codepen.io" if j % 2 else "*.github.io"
            host = f"t{i:03d}.{kind.name}.test"
            out.append(Endpoint(i, kind.name, scheme, host, f"{kind.name}.test", port, variant))
            i += 1
    return out


def allowed(ep: Endpoint, origin: str) -> bool:
    """The endpoint's origin check (what the server believes it allows)."""
    k = ep.kind
    h = hostname(origin)
    if k in ("reflect",):
        return True
    if k in ("trap-upper", "trap-port", "trap-multi", "trap-slash", "acac-upper", "no-vary"):
        return h is not None  # reflects every parsable Origin
    if k == "null":
        return origin == "null" or origin in ep.exact
    if k in ("exact", "exact-no-vary", "preflight-wildcard", "preflight-reflect"):
        return origin in ep.exact
    if h is None:
        return False
    if k == "prefix":
        return h.startswith(ep.host)
    if k == "suffix":
        return h.endswith(ep.domain)
    if k == "dot":
        return re.search(raw_dots(ep.host), h) is not None
    if k == "dot-anchored":
        return re.fullmatch(raw_dots(ep.host), h) is not None
    if k == "substring":
        return h in ep.host
    if k == "insecure":
        return h == ep.host
    if k == "any-subdomain":
        return h == ep.domain or h.endswith("." + ep.domain)
    if k == "third-party":
        if h == ep.host:
            return True
        return h.endswith(".github.io") if ep.variant == "*.github.io" else h == "codepen.io"
    if k == "special":
        m = re.match(r"^https?://([a-z0-9.-]+)", origin)
        return m is not None and m.group(1) == ep.host
    return False


def other_port(origin: str) -> str:
    u = urlsplit(origin)
    port = u.port or (443 if u.scheme == "https" else 80)
    new = 8443 if port != 8443 else 8444
    return f"{u.scheme}://{u.hostname}:{new}"


def cors_headers(ep: Endpoint, method: str, origin: str | None,
                 acrm: str | None = None, acrh: str | None = None) -> list[tuple[str, str]]:
    """The response headers (CORS, Vary, Cache-Control) for a GET or an OPTIONS."""
    k = ep.kind
    hs: list[tuple[str, str]] = []
    if k == "wildcard-credentials":
        return [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Credentials", "true")]
    if k == "wildcard-private":
        return [("Access-Control-Allow-Origin", "*"), ("Cache-Control", "private, max-age=60")]
    if k == "public":
        return [("Access-Control-Allow-Origin", "*"), ("Cache-Control", "public, max-age=300")]
    preflight_kind = k.startswith("preflight-")
    if method == "OPTIONS" and not preflight_kind:
        # A framework's automatic OPTIONS (Flask-like): the CORS code lives in the GET handler.
        return [("Allow", "GET, HEAD, OPTIONS")]
    if method == "OPTIONS" and preflight_kind:
        if origin is not None and allowed(ep, origin):
            hs += [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
        if k == "preflight-wildcard":
            hs += [("Access-Control-Allow-Methods", "*"), ("Access-Control-Allow-Headers", "*"),
                   ("Access-Control-Max-Age", "31536000")]
        else:
            if not any(n == "Access-Control-Allow-Credentials" for n, _ in hs):
                hs.append(("Access-Control-Allow-Credentials", "true"))
            if acrm:
                hs.append(("Access-Control-Allow-Methods", acrm))
            if acrh:
                hs.append(("Access-Control-Allow-Headers", acrh))
            hs.append(("Access-Control-Max-Age", "600"))
        hs.append(("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"))
        return hs
    vary = [] if k in ("no-vary", "exact-no-vary") else [("Vary", "Origin")]
    if origin is None or not allowed(ep, origin):
        return vary
    if k == "trap-upper":
        acao = origin.upper()
    elif k == "trap-port":
        acao = other_port(origin)
    elif k == "trap-multi":
        acao = f"{origin}, https://partner.{ep.domain}"
    elif k == "trap-slash":
        acao = origin + "/"
    else:
        acao = origin
    hs.append(("Access-Control-Allow-Origin", acao))
    if k == "acac-upper":
        hs.append(("Access-Control-Allow-Credentials", "TRUE"))
    elif k != "no-vary":
        hs.append(("Access-Control-Allow-Credentials", "true"))
    return hs + vary


# ---------------------------------------------------------------------------------------------
# The oracle: what a browser allows.


def browser_read(ep: Endpoint, origin: str) -> tuple[str, bool]:
    """What a page on `origin` can read with fetch(url, {credentials}) for a GET: ("credentials" |
    "plain" | "none", whether only through `*`). The CORS check of the Fetch standard."""
    hs = cors_headers(ep, "GET", origin)
    acao = [v for n, v in hs if n.lower() == "access-control-allow-origin"]
    acac = [v for n, v in hs if n.lower() == "access-control-allow-credentials"]
    if len(acao) != 1:
        return "none", False
    value = acao[0]
    if value == "*":
        return "plain", True  # never with credentials
    if value != origin:  # byte for byte
        return "none", False
    if acac == ["true"]:
        return "credentials", False
    return "plain", False


# Who can own an origin, for the classes that claim "an attacker can": a registrable domain of
# their own (under a real TLD), a page on a shared hosting service, or `null` (a sandboxed
# iframe on any site); the target's own site (a subdomain: needs an XSS or a takeover); the
# target's http origin (needs a network attacker); or nobody (a TLD that does not exist).
TLDS = {"test", "example", "com", "net", "org", "io", "app", "dev", "me", "sh"}
HOSTING_SUFFIXES = ("github.io", "gitlab.io", "herokuapp.com", "netlify.app", "vercel.app",
                    "pages.dev", "web.app", "firebaseapp.com", "glitch.me", "surge.sh",
                    "onrender.com", "azurewebsites.net", "ngrok.io")
HOSTING_HOSTS = {"codepen.io", "cdpn.io", "jsfiddle.net", "jsbin.com", "repl.it", "www.webdevout.net"}


def registrable(host: str) -> str:
    labels = host.split(".")
    for suffix in HOSTING_SUFFIXES:
        if host.endswith("." + suffix):
            return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def owner(ep: Endpoint, origin: str) -> str:
    """"anyone" (null, hosting), "attacker" (own domain), "site" (the target's registrable
    domain: a subdomain), "network" (the target's own http origin) or "nobody"."""
    if origin == "null":
        return "anyone"
    h = hostname(origin)
    if h is None:
        return "nobody"
    if h in HOSTING_HOSTS or any(h.endswith("." + s) for s in HOSTING_SUFFIXES):
        return "anyone"
    if h.rsplit(".", 1)[-1] not in TLDS:
        return "nobody"
    if registrable(h) == ep.domain:
        if h == ep.host and urlsplit(origin).scheme == "http" and ep.scheme == "https":
            return "network"
        return "site"
    return "attacker"


# The read classes: canonical origins for each (the class definitions, not any scanner's exact
# probes: the attacker's domain is ATTACKER, ports vary), each one an origin of the owner the
# class stands for.
SPECIAL = ["_", "-", "~", "!", "$"]
THIRD_PARTY = ["https://someone.github.io", "https://codepen.io", "https://someone.gitlab.io",
               "https://jsfiddle.net"]
ATTACKER_OWNED = {"arbitrary-origin", "prefix-match", "suffix-match", "unescaped-dot",
                  "substring-match", "null-origin", "third-party-hosting", "special-characters"}


def canonical_origins(ep: Endpoint) -> dict[str, list[str]]:
    s, h, d, p = ep.scheme, ep.host, ep.domain, ep.port
    dots = [i for i, c in enumerate(h) if c == "."][:-1]  # the last dot would make a TLD up
    return {
        "arbitrary-origin": [f"{s}://{ATTACKER}", f"https://{ATTACKER}:4443"],
        "prefix-match": [f"{s}://{h}.{ATTACKER}"],
        "suffix-match": [f"{s}://attacker{d}:{p}"],
        "unescaped-dot": [f"{s}://{h[:i]}x{h[i + 1:]}:{p}" for i in dots],
        "substring-match": [f"{s}://{d[1:]}:{p}"],
        "null-origin": ["null"],
        "insecure-origin": [f"http://{h}:{p}"] if s == "https" else [],
        "any-subdomain": [f"{s}://evil.{h}:{p}", f"{s}://evil.{d}"],
        "third-party-hosting": THIRD_PARTY,
        "special-characters": [f"{s}://{h}{c}.{ATTACKER}" for c in SPECIAL],
    }


LEVELS = {"none": 0, "plain": 1, "credentials": 2}


def truth_for(ep: Endpoint) -> dict:
    kind = KIND_BY_NAME[ep.kind]
    read = {}
    for cls, origins in canonical_origins(ep).items():
        best = "none"
        for o in origins:
            level, wildcard = browser_read(ep, o)
            if not wildcard and LEVELS[level] > LEVELS[best]:
                best = level
        if best != "none":
            read[cls] = best
    levels = [LEVELS[v] for v in read.values()]
    readable = {0: "none", 1: "plain", 2: "credentials"}[max(levels, default=0)]
    if kind.name in ("wildcard-credentials", "wildcard-private", "public"):
        readable = "plain (`*`)"
    # A read is a finding when it carries the user's cookies, or when an attacker can own the
    # origin (an uncredentialed read of a public answer from the target's own subdomain is not).
    owned = {cls for cls in read if read[cls] == "credentials" or cls in ATTACKER_OWNED}
    return {
        "kind": ep.kind,
        "url": ep.url,
        "scheme": ep.scheme,
        "rule": kind.what + (f" [{ep.variant}]" if ep.variant else ""),
        "read_classes": read,  # class -> "credentials" | "plain"
        "config_classes": sorted(kind.config),
        "expected": sorted(owned | kind.config),
        "readable": readable,
        "trap": kind.trap,
        "correct": kind.correct,
    }


# ---------------------------------------------------------------------------------------------
# The server.

STATS = {"requests": 0, "by_method": {}, "tls_connections": 0, "connections": 0, "unknown_host": 0}


def reset_stats() -> dict:
    snap = json.loads(json.dumps(STATS))
    STATS.update(requests=0, by_method={}, tls_connections=0, connections=0, unknown_host=0)
    return snap


class HttpProtocol(asyncio.Protocol):
    MAX_HEAD = 64 * 1024

    def __init__(self, routes: dict[str, Endpoint], tls: bool):
        self.routes = routes
        self.tls = tls
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        STATS["connections"] += 1
        if self.tls:
            STATS["tls_connections"] += 1

    def data_received(self, data: bytes):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > self.MAX_HEAD:
                    self.transport.close()
                return
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            keep = self.handle(head)
            if not keep:
                self.transport.close()
                return

    def handle(self, head: bytes) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self.respond(400, [], b"", False)
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            if name in headers:  # repeated headers combine (Origin is never repeated by clients)
                headers[name] += ", " + value
            else:
                headers[name] = value
        length = int(headers.get("content-length", "0") or 0)
        if length:
            # Request bodies are not expected; drop what came (bounded by MAX_HEAD).
            self.buf = self.buf[length:]
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        STATS["requests"] += 1
        STATS["by_method"][method] = STATS["by_method"].get(method, 0) + 1
        host = headers.get("host", "").lower()
        if host.startswith("["):
            host = host.split("]")[0] + "]"
        else:
            host = host.rsplit(":", 1)[0] if ":" in host else host
        if host == "zoo.control":
            body = json.dumps(reset_stats()).encode() if target.startswith("/__stats") else b"{}"
            self.respond(200, [("Content-Type", "application/json")], body, keep)
            return keep
        ep = self.routes.get(host)
        if ep is None or (ep.scheme == "https") != self.tls:
            STATS["unknown_host"] += 1
            self.respond(404, [("Content-Type", "text/plain")], b"no such endpoint\n", keep)
            return keep
        origin = headers.get("origin")
        if method == "OPTIONS":
            hs = cors_headers(ep, "OPTIONS", origin, headers.get("access-control-request-method"),
                              headers.get("access-control-request-headers"))
            self.respond(204 if ep.kind.startswith("preflight-") else 200, hs, b"", keep)
            return keep
        hs = cors_headers(ep, "GET", origin) + [("Content-Type", "application/json")]
        body = b"" if method == "HEAD" else json.dumps({"user": "alice", "host": ep.host}).encode()
        self.respond(200, hs, body, keep)
        return keep

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes, keep: bool):
        reason = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found"}[status]
        out = [f"HTTP/1.1 {status} {reason}"]
        out += [f"{n}: {v}" for n, v in headers]
        if status != 204:
            out.append(f"Content-Length: {len(body)}")
        out.append("Connection: keep-alive" if keep else "Connection: close")
        self.transport.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body)


def make_certs(directory: str, names: list[str]) -> tuple[str, str, str]:
    """A CA and a leaf (EC P-256) for `names`, with openssl. Returns (ca.pem, leaf.pem, leaf.key)."""
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr, crt = (os.path.join(directory, n) for n in ("leaf.key", "leaf.csr", "leaf.pem"))
    ext = os.path.join(directory, "leaf.ext")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=crossgate bench zoo CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=crossgate bench zoo")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=" + ",".join(f"DNS:{n}" for n in names) + "\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca, crt, key


async def serve(args) -> None:
    loop = asyncio.get_running_loop()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(2048)
    lsock.setblocking(False)
    port = lsock.getsockname()[1]

    eps = endpoints(port)
    routes = {ep.host: ep for ep in eps}
    os.makedirs(args.dir, exist_ok=True)
    https_names = [ep.host for ep in eps if ep.scheme == "https"]
    ca, crt, key = make_certs(args.dir, https_names)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    truth = {"port": port, "per_kind": PER_KIND, "cacert": ca,
             "kinds": {k.name: {"rule": k.what, "trap": k.trap, "correct": k.correct,
                                "config": sorted(k.config)} for k in KINDS},
             "endpoints": {ep.host: truth_for(ep) for ep in eps}}
    with open(os.path.join(args.dir, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1, sort_keys=True)
    with open(os.path.join(args.dir, "urls.txt"), "w") as f:
        f.write("".join(ep.url + "\n" for ep in eps))

    def first_byte(conn: socket.socket) -> None:
        loop.remove_reader(conn.fileno())
        try:
            b = conn.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            loop.add_reader(conn.fileno(), first_byte, conn)
            return
        except OSError:
            conn.close()
            return
        if not b:
            conn.close()
            return
        tls = b[0] == 0x16
        coro = loop.connect_accepted_socket(lambda: HttpProtocol(routes, tls), conn,
                                            ssl=ctx if tls else None)
        task = loop.create_task(coro)
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def accept() -> None:
        for _ in range(256):
            try:
                conn, _ = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            loop.add_reader(conn.fileno(), first_byte, conn)

    loop.add_reader(lsock.fileno(), accept)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.ready_stdout:
        print(f"READY {port}", flush=True)
    print(f"zoo: {len(eps)} endpoints on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    await stop.wait()
    loop.remove_reader(lsock.fileno())
    lsock.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="where truth.json, urls.txt and the certificates go")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    ap.add_argument("--ready-stdout", action="store_true", help="print READY <port> once listening")
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
