#!/usr/bin/env python3
"""Runs CORScanner (PyPI `corscanner`) on the zoo, offline and loopback-only.

    .venv/bin/python run_corscanner.py --truth OUT/truth.json --urls OUT/urls.txt --out OUT/corscanner.json

Before CORScanner is imported:
  1. gevent's monkey patching is done first (CORScanner's own `patch_all()` is then a no-op, so it
     cannot put back an unguarded resolver), and a network guard goes over it: `getaddrinfo`
     maps the zoo's host names (and 127.0.0.1 / localhost) to 127.0.0.1 and raises for every other
     name; `create_connection` and every socket's `connect` refuse any address outside
     127.0.0.0/8. Every refusal is recorded, and the run fails if any happened.
  2. `tldextract.extract` becomes an offline `TLDExtract(suffix_list_urls=())` that uses the
     snapshot of the Public Suffix List bundled with tldextract, never the internet. `test` is
     added as an extra suffix: the zoo's names are `tNNN.KIND.test`, and without it tldextract
     finds no registrable domain in them, so CORScanner's suffix and substring probes would
     degenerate to `http://evil` and `http://` (on a real `.com` site they do not). crossgate's
     Public Suffix List crate treats an unknown TLD as a suffix already (the PSL's `*` rule).
  3. Proxy variables are dropped from the environment (requests would honour them).

Then it scans every URL the way `corscanner -i FILE -t 50` does (a gevent pool of 50, each URL
through `cors_check(url, headers)`, which stops at the first misconfiguration found), times the
scan, and writes the results: [{url, host, type, origin, credentials, status_code}].
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time

T0 = time.perf_counter()

# --- 0. No proxies -----------------------------------------------------------------------------
for var in list(os.environ):
    if var.lower() in ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy"):
        del os.environ[var]
os.environ["NO_PROXY"] = "*"

# --- 1. gevent first, then the network guard ---------------------------------------------------
import gevent.monkey  # noqa: E402

gevent.monkey.patch_all()

import socket  # noqa: E402  (gevent's cooperative functions by now)

BLOCKED: list[str] = []
ALLOWED_NAMES: set[str] = {"127.0.0.1", "localhost"}
_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = socket.create_connection
_socket_class = socket.socket
_real_connect = _socket_class.connect
_real_connect_ex = _socket_class.connect_ex


class NetworkGuard(OSError):
    pass


def _loopback(addr) -> bool:
    if isinstance(addr, tuple) and addr:
        try:
            return ipaddress.ip_address(addr[0]).is_loopback
        except ValueError:
            return False
    return isinstance(addr, (str, bytes))  # AF_UNIX paths: local by definition


def guarded_getaddrinfo(host, port, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name.lower().rstrip(".") not in ALLOWED_NAMES:
        BLOCKED.append(f"getaddrinfo({name!r}, {port!r})")
        raise socket.gaierror(socket.EAI_NONAME, f"network guard: {name!r} is not a zoo host")
    return _real_getaddrinfo("127.0.0.1", port, *args, **kwargs)


def guarded_create_connection(address, *args, **kwargs):
    host, port = address[0], address[1]
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host.lower().rstrip(".") in ALLOWED_NAMES
    if not ok:
        BLOCKED.append(f"create_connection({address!r})")
        raise NetworkGuard(f"network guard: refusing to connect to {address!r}")
    return _real_create_connection(address, *args, **kwargs)


def guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
        BLOCKED.append(f"connect({address!r})")
        raise NetworkGuard(f"network guard: refusing to connect to {address!r}")
    return _real_connect(self, address)


def guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
        BLOCKED.append(f"connect_ex({address!r})")
        raise NetworkGuard(f"network guard: refusing to connect to {address!r}")
    return _real_connect_ex(self, address)


def install_guard() -> None:
    socket.getaddrinfo = guarded_getaddrinfo
    socket.create_connection = guarded_create_connection
    _socket_class.connect = guarded_connect
    _socket_class.connect_ex = guarded_connect_ex


def guard_installed() -> bool:
    return (socket.getaddrinfo is guarded_getaddrinfo
            and socket.create_connection is guarded_create_connection
            and socket.socket.connect is guarded_connect
            and socket.socket.connect_ex is guarded_connect_ex)


install_guard()

# --- 2. tldextract offline -----------------------------------------------------------------------
import tldextract  # noqa: E402

OFFLINE = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True,
                                extra_suffixes=["test"])
tldextract.extract = OFFLINE
tldextract.tldextract.extract = OFFLINE

# --- 3. CORScanner ---------------------------------------------------------------------------------
import CORScanner  # noqa: E402,F401  (its __init__ puts its own directory on sys.path)

sys.path.insert(0, os.path.dirname(os.path.abspath(CORScanner.__file__)))
import cors_scan  # noqa: E402  (CORScanner's cors_scan.py: imports common.corscheck, patch_all again)
import common.corscheck as corscheck  # noqa: E402

if not guard_installed():  # CORScanner's import must not have replaced the guard
    raise SystemExit("network guard was replaced while importing CORScanner")
assert corscheck.tldextract.extract is OFFLINE, "CORScanner does not see the offline tldextract"

from gevent.pool import Pool  # noqa: E402


def self_test() -> None:
    """The guard refuses the outside world, and tldextract answers offline. The real resolver and
    connect are swapped for tripwires meanwhile, so even a broken guard sends nothing anywhere."""
    global _real_getaddrinfo, _real_create_connection, _real_connect, _real_connect_ex
    saved = (_real_getaddrinfo, _real_create_connection, _real_connect, _real_connect_ex)
    leaks: list[str] = []

    def tripwire(name):
        def f(*a, **k):
            leaks.append(name)
            raise NetworkGuard(f"tripwire {name}")
        return f

    _real_getaddrinfo, _real_create_connection, _real_connect, _real_connect_ex = (
        tripwire("getaddrinfo"), tripwire("create_connection"), tripwire("connect"),
        tripwire("connect_ex"))
    try:
        for probe in (lambda: socket.getaddrinfo("publicsuffix.org", 443),
                      lambda: socket.create_connection(("192.0.2.1", 80), timeout=1),
                      lambda: socket.socket().connect(("192.0.2.1", 53))):
            try:
                probe()
            except OSError:
                pass
        if leaks or len(BLOCKED) != 3:
            raise SystemExit(f"network guard does not hold: passed {leaks}, blocked {BLOCKED}")
        del BLOCKED[:]
        r = tldextract.extract("https://www.bbc.co.uk/news")
        assert r.top_domain_under_public_suffix == "bbc.co.uk", r
        r = tldextract.extract("http://t017.prefix.test:8080/api/me")
        assert r.top_domain_under_public_suffix == "prefix.test", r
        if BLOCKED or leaks:
            raise SystemExit(f"tldextract tried the network: {BLOCKED} {leaks}")
    finally:
        _real_getaddrinfo, _real_create_connection, _real_connect, _real_connect_ex = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", required=True, help="the zoo's truth.json (for its host names)")
    ap.add_argument("--urls", required=True, help="one URL a line")
    ap.add_argument("--out", required=True, help="results JSON")
    ap.add_argument("--threads", type=int, default=50, help="gevent pool size (CORScanner's default: 50)")
    args = ap.parse_args()

    with open(args.truth) as f:
        truth = json.load(f)
    ALLOWED_NAMES.update(truth["endpoints"])
    self_test()
    with open(args.urls) as f:
        urls = [u.strip() for u in f if u.strip()]

    results: list[dict] = []
    errors: list[str] = []

    def one(url: str) -> None:
        try:
            msg = cors_scan.cors_check(url, None)
        except Exception as e:  # noqa: BLE001  (CORScanner's own scan() prints and moves on)
            errors.append(f"{url}: {e!r}")
            return
        if msg:
            results.append(dict(msg))

    t_scan = time.perf_counter()
    pool = Pool(args.threads)
    for url in urls:
        pool.spawn(one, url)
    pool.join(timeout=600)
    scan_seconds = time.perf_counter() - t_scan
    pending = len(pool)
    pool.kill(timeout=5)

    from urllib.parse import urlsplit
    for r in results:
        r["host"] = urlsplit(r["url"]).hostname
    results.sort(key=lambda r: r["host"])
    out = {
        "tool": "corscanner",
        "version": __import__("importlib.metadata").metadata.version("corscanner"),
        "threads": args.threads,
        "urls": len(urls),
        "scan_seconds": scan_seconds,
        "process_seconds": time.perf_counter() - T0,
        "unfinished": pending,
        "errors": errors,
        "network_guard_blocked": list(BLOCKED),
        "results": results,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"corscanner: {len(urls)} URLs in {scan_seconds:.2f} s, {len(results)} findings, "
          f"{len(errors)} errors, guard blocked {len(BLOCKED)}", file=sys.stderr)
    if BLOCKED or pending:
        raise SystemExit(f"network guard blocked {BLOCKED} / {pending} scans unfinished")


if __name__ == "__main__":
    main()
