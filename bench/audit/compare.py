#!/usr/bin/env python3
"""Grades CORScanner's and crossgate's findings on the zoo against the ground truth, and prints
the Markdown table (also written to --results).

    python3 compare.py --dir OUT [--port PORT] [--results RESULTS.md]

OUT holds truth.json (zoo.py), corscanner.json (run_corscanner.py), crossgate.json (`crossgate
audit --json`) and run.json (run.sh: wall times, request counts, versions, commands).

Every finding is checked by its own Origin against the zoo's oracle (zoo.browser_read: the Fetch
standard's CORS check on the header the endpoint sends for that Origin):
  - a read finding is a true positive when a browser lets a page on that origin read the answer,
    a false positive when the browser refuses (or the endpoint is a correct configuration);
  - a configuration finding (`*` with credentials, `*` on a private answer, no Vary: Origin,
    preflight laxness) is a true positive when the endpoint has that configuration on purpose;
  - a claim of a credentialed read (CORScanner's "credentials": "true", crossgate's "with the
    user's cookies") that the browser refuses is a credential over-claim;
  - a class that says "an attacker can own the origin" (prefix, suffix…) whose readable origins
    are all on the target's own site (a subdomain) or under a TLD that does not exist is a class
    over-claim.
Missed: an expected (endpoint, class) of the ground truth that the scanner did not report.

With --port (the zoo still running), the raw answers behind every false positive example and
every miss are fetched again from 127.0.0.1:PORT and shown.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import ssl
import sys
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo  # noqa: E402

CORSCANNER_CLASS = {
    "reflect_origin": "arbitrary-origin",
    "prefix_match": "prefix-match",
    "suffix_match": "suffix-match",
    "trust_null": "null-origin",
    "include_match": "substring-match",
    "not_escape_dot": "unescaped-dot",
    "custom_third_parties": "third-party-hosting",
    "special_characters_bypass": "special-characters",
    "trust_any_subdomain": "any-subdomain",
    "https_trust_http": "insecure-origin",
}
READ_CLASSES = set(CORSCANNER_CLASS.values())
PREFLIGHT_CLASSES = {"preflight-any-method", "preflight-any-header", "authorization-under-wildcard",
                     "preflight-credentials-for-refused-origin", "long-max-age"}
SEVERITY_ORDER = ["critical", "high", "medium", "low", "info"]


def load(path):
    with open(path) as f:
        return json.load(f)


def endpoint_of(truth: dict, host: str) -> zoo.Endpoint:
    e = truth["endpoints"][host]
    index = int(host.split(".")[0][1:])
    ep = zoo.endpoints(truth["port"])[index]
    assert ep.host == host and ep.kind == e["kind"]
    return ep


def why_refused(ep: zoo.Endpoint, origin: str) -> str:
    hs = zoo.cors_headers(ep, "GET", origin)
    acao = [v for n, v in hs if n.lower() == "access-control-allow-origin"]
    if not acao:
        return "no Access-Control-Allow-Origin in the answer"
    v = acao[0]
    if v == "*":
        return "`*`: a wildcard, readable by every site without credentials only (not a reflection)"
    if v.lower() == origin.lower():
        return f"`{v}` differs from the page's origin `{origin}` only in case; browsers compare byte for byte"
    if v.rstrip("/") == origin:
        return f"`{v}` has a trailing slash; an origin has none, and browsers compare byte for byte"
    if "," in v:
        return f"`{v}` is two values; browsers require exactly one origin (or `*`)"
    if zoo.hostname(v) == zoo.hostname(origin):
        return f"`{v}` names another port than the page's origin `{origin}`: another origin"
    return f"`{v}` is not the page's origin `{origin}`"


def raw_answer(truth: dict, host: str, origin: str, port: int | None, ca: str | None,
               preflight: bool = False) -> str:
    """The zoo's answer to GET url with this Origin (or to a preflight for a PUT with an
    unusual header), fetched again (loopback only): the request line, then the answer's head."""
    ep = endpoint_of(truth, host)
    method, extra = "GET", ""
    if preflight:
        method = "OPTIONS"
        extra = "Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: x-probe\r\n"
    if port is None:
        hs = zoo.cors_headers(ep, method, origin, "PUT" if preflight else None, "x-probe" if preflight else None)
        return (f"{method} with Origin: {origin} (zoo not running; headers computed by zoo.cors_headers)\n"
                + "\n".join(f"{n}: {v}" for n, v in hs))
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if ep.scheme == "https":
            ctx = ssl.create_default_context(cafile=ca)
            sock = ctx.wrap_socket(sock, server_hostname=host)
        req = (f"{method} {urlsplit(ep.url).path} HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: {origin}\r\n"
               f"{extra}Connection: close\r\n\r\n")
        sock.sendall(req.encode("latin-1"))
        data = b""
        for _ in range(64):  # bounded: the answers are a few hundred bytes
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    asked = f"> {method} {ep.url}\n> Origin: {origin}\n" + "".join(f"> {h}\n" for h in extra.split("\r\n") if h)
    return asked + head.replace("\r\n", "\n")


def grade(truth: dict, cs: dict, cg: list) -> dict:
    """Per endpoint: what each scanner reported and how it grades."""
    out = {}
    cs_by_host = {r["host"]: r for r in cs["results"]}
    cg_by_host = {}
    for r in cg:
        host = urlsplit(r["url"]).hostname
        cg_by_host[host] = r
    for host, t in truth["endpoints"].items():
        ep = endpoint_of(truth, host)
        expected = set(t["expected"])
        g = {"kind": t["kind"], "expected": expected, "cs": None, "cg": {}, "cg_error": None}
        # CORScanner: at most one result (it stops at the first misconfiguration found).
        r = cs_by_host.get(host)
        if r:
            cls = CORSCANNER_CLASS.get(r["type"], r["type"])
            level, wildcard = zoo.browser_read(ep, r["origin"])
            readable = level != "none" and not wildcard
            g["cs"] = {
                "type": r["type"], "class": cls, "origin": r["origin"], "credentials": r["credentials"],
                "tp": readable and not t["correct"],
                "level": level,
                "cred_overclaim": r["credentials"] == "true" and level != "credentials",
                "why": None if readable else why_refused(ep, r["origin"]),
            }
        # crossgate: findings grouped by class.
        r = cg_by_host.get(host)
        if r is None:
            g["cg_error"] = "not in crossgate's output"
        elif r.get("status") != "ok":
            g["cg_error"] = r.get("reason", "error")
        else:
            by_class = collections.defaultdict(list)
            for f in r["findings"]:
                by_class[f["class"]].append(f)
            for cls, fs in by_class.items():
                severity = min((f["severity"] for f in fs), key=SEVERITY_ORDER.index)
                claims_cookies = any("with the user's cookies" in f["why"] for f in fs)
                if cls in READ_CLASSES:
                    levels = {f["origin"]: zoo.browser_read(ep, f["origin"]) for f in fs}
                    readable = [o for o, (lv, wc) in levels.items() if lv != "none" and not wc]
                    best = max((levels[o][0] for o in readable), key=zoo.LEVELS.get, default="none")
                    owners = {o: zoo.owner(ep, o) for o in readable}
                    class_overclaim = (cls in zoo.ATTACKER_OWNED and readable
                                       and not any(w in ("anyone", "attacker") for w in owners.values()))
                    tp = bool(readable) and not t["correct"]
                    g["cg"][cls] = {
                        "severity": severity, "tp": tp, "origins": [f["origin"] for f in fs],
                        "cred_overclaim": claims_cookies and best != "credentials",
                        "class_overclaim": class_overclaim,
                        "owners": owners,
                        "why": None if readable else why_refused(ep, fs[0]["origin"]),
                    }
                else:
                    g["cg"][cls] = {
                        "severity": severity, "tp": cls in t["config_classes"],
                        "origins": [f["origin"] for f in fs], "cred_overclaim": False,
                        "class_overclaim": False, "owners": {},
                        "why": None if cls in t["config_classes"] else "not a configuration this endpoint has",
                    }
        g["cg_missed"] = sorted(expected - {c for c, v in g["cg"].items() if v["tp"]})
        out[host] = g
    return out


def fmt_seconds(s: float) -> str:
    return f"{s:.2f} s"


def render(truth: dict, cs: dict, cg: list, run: dict, graded: dict, port, ca) -> str:
    L: list[str] = []
    kinds = [k.name for k in zoo.KINDS if k.name in truth["kinds"]]
    by_kind = collections.defaultdict(list)
    for host, g in graded.items():
        by_kind[g["kind"]].append((host, g))

    cs_wall = run["corscanner"]["wall_seconds"]
    cg_wall = run["crossgate"]["wall_seconds"]
    ratio = cs_wall / cg_wall if cg_wall else float("inf")

    L.append("| kind | n | the endpoint's origin check | a browser lets an attacker read | expected (ground truth) | CORScanner found | crossgate found (class, severity) |")
    L.append("|---|---|---|---|---|---|---|")
    for kind in kinds:
        rows = by_kind[kind]
        n = len(rows)
        tk = truth["kinds"][kind]
        readable = collections.Counter(truth["endpoints"][h]["readable"] for h, _ in rows)
        read_txt = ", ".join(
            {"credentials": "yes, with cookies", "plain": "yes, without cookies", "none": "no",
             "plain (`*`)": "public only (`*`, no cookies)"}.get(k, k) + (f" ×{v}" if v != n else "")
            for k, v in readable.items())
        exp = collections.Counter(c for _, g in rows for c in g["expected"])
        exp_txt = ", ".join(c + (f" ×{v}" if v != n else "") for c, v in sorted(exp.items())) or "nothing"
        # CORScanner
        cs_c = collections.Counter()
        for _, g in rows:
            r = g["cs"]
            if r:
                tag = "" if r["tp"] else " **FP**"
                cred = f"credentials {r['credentials']}"
                if r["cred_overclaim"] and r["tp"]:
                    cred += " (over-claim)"
                cs_c[f"{r['type']} ({cred}){tag}"] += 1
        cs_txt = "<br>".join(f"{k} ×{v}" for k, v in cs_c.items()) or "nothing"
        if cs_c and sum(cs_c.values()) < n:
            cs_txt += f"<br>nothing ×{n - sum(cs_c.values())}"
        # crossgate
        cg_c = collections.Counter()
        errors = sum(1 for _, g in rows if g["cg_error"])
        for _, g in rows:
            for cls, v in g["cg"].items():
                tag = ""
                if not v["tp"]:
                    tag = " **FP**"
                elif v["class_overclaim"]:
                    tag = " (class over-claim)"
                elif v["cred_overclaim"]:
                    tag = " (credential over-claim)"
                cg_c[(cls, v["severity"], tag)] += 1
        parts = [f"{cls} ({sev}){tag}" + (f" ×{c}" if c != n else "")
                 for (cls, sev, tag), c in sorted(cg_c.items(), key=lambda kv: (SEVERITY_ORDER.index(kv[0][1]), kv[0][0]))]
        missed = collections.Counter(c for _, g in rows for c in g["cg_missed"])
        if missed:
            parts.append("**missed** " + ", ".join(f"{c} ×{v}" for c, v in missed.items()))
        if errors:
            parts.append(f"**not audited ×{errors}**")
        cg_txt = ", ".join(parts) or "nothing"
        label = kind + (" (trap)" if tk["trap"] else "") + (" (correct)" if tk["correct"] else "")
        L.append(f"| {label} | {n} | {tk['rule'].replace('|', '/')} | {read_txt} | {exp_txt} | {cs_txt} | {cg_txt} |")

    # Totals.
    def totals(tool: str) -> dict:
        T = collections.Counter()
        for host, g in graded.items():
            t = truth["endpoints"][host]
            exp = g["expected"]
            exp_read = exp & READ_CLASSES
            vulnerable_read = bool(exp_read)
            if tool == "cs":
                r = g["cs"]
                found = {r["class"]} if r and r["tp"] else set()
                fps = [] if not r or r["tp"] else [r["class"]]
                cred_over = 1 if r and r["tp"] and r["cred_overclaim"] else 0
                class_over = 0
            else:
                found = {c for c, v in g["cg"].items() if v["tp"]}
                fps = [c for c, v in g["cg"].items() if not v["tp"]]
                cred_over = sum(1 for v in g["cg"].values() if v["tp"] and v["cred_overclaim"])
                class_over = sum(1 for v in g["cg"].values() if v["tp"] and v["class_overclaim"])
            T["endpoints"] += 1
            T["vulnerable_read"] += vulnerable_read
            T["vulnerable_read_found"] += vulnerable_read and bool(found & exp_read)
            only_cfg = bool(exp) and not exp_read
            T["config_only"] += only_cfg
            T["config_only_found"] += only_cfg and bool(found & exp)
            T["expected_pairs"] += len(exp)
            T["expected_pairs_found"] += len(found & exp)
            T["tp_pairs"] += len(found)
            T["fp_pairs"] += len(fps)
            T["fp_endpoints"] += bool(fps)
            clean = not exp
            T["clean"] += clean
            T["clean_flagged"] += clean and bool(fps)
            T["missed_pairs"] += len(exp - found)
            T["cred_overclaims"] += cred_over
            T["class_overclaims"] += class_over
        return T

    tc, tg = totals("cs"), totals("cg")
    L.append("")
    L.append("| totals | CORScanner | crossgate |")
    L.append("|---|---|---|")
    rows = [
        ("endpoints", "endpoints", None),
        ("endpoints an attacker can read (ground truth) — detected", "vulnerable_read_found", "vulnerable_read"),
        ("endpoints with only preflight / configuration mistakes — detected", "config_only_found", "config_only"),
        ("expected (endpoint, class) pairs reported", "expected_pairs_found", "expected_pairs"),
        ("**true positives** ((endpoint, class) pairs a browser confirms)", "tp_pairs", None),
        ("**false positives** ((endpoint, class) pairs a browser refuses, or on a correct config)", "fp_pairs", None),
        ("trap and correct endpoints flagged", "clean_flagged", "clean"),
        ("**missed** (expected pairs not reported)", "missed_pairs", None),
        ("credential over-claims among true positives (cookies claimed, the browser refuses the credentialed read)", "cred_overclaims", None),
        ("class over-claims (attacker-owned class; only a subdomain of the target can read)", "class_overclaims", None),
    ]
    for label, key, of in rows:
        a = f"{tc[key]}" + (f" / {tc[of]}" if of else "")
        b = f"{tg[key]}" + (f" / {tg[of]}" if of else "")
        L.append(f"| {label} | {a} | {b} |")
    csr, cgr = run["corscanner"].get("requests"), run["crossgate"].get("requests")
    L.append(f"| requests sent to the zoo | {csr} | {cgr} |")
    L.append(f"| wall time (whole process) | {fmt_seconds(cs_wall)} | {fmt_seconds(cg_wall)} |")
    L.append(f"| CPU time of the scanner (user + system) | {fmt_seconds(run['corscanner']['cpu_seconds'])} | "
             f"{fmt_seconds(run['crossgate']['cpu_seconds'])} |")
    L.append(f"| **crossgate is faster by** | | **{ratio:.1f}×** |")
    polite = run.get("crossgate_defaults")
    if polite:
        same = ""
        path = run.get("_defaults_path")
        if path and os.path.exists(path):
            def pairs(report):
                return {(urlsplit(r["url"]).hostname, f["class"], f["severity"])
                        for r in report if r.get("status") == "ok" for f in r["findings"]}
            same = "; same findings" if pairs(load(path)) == pairs(cg) else "; **findings differ**"
        L.append(f"| crossgate at its defaults (`--concurrency 8 --rate 20/s` per host; not in the ratio) | | "
                 f"{fmt_seconds(polite['wall_seconds'])}, {polite['requests']} requests{same} |")

    L.append("")
    L.append("CORScanner stops at the first misconfiguration it finds on a URL (`check_one_by_one`), so it "
             "reports at most one class per endpoint, and it sends no preflight: its missed pairs are mostly "
             "that" + (", not endpoints it overlooked (it detects every endpoint an attacker can read)."
                       if tc["vulnerable_read_found"] == tc["vulnerable_read"] else "."))
    # The brief's checks.
    L.append("")
    L.append("Checks:")
    miss_cs = []
    for host, g in graded.items():
        r = g["cs"]
        if r and r["tp"]:
            v = g["cg"].get(r["class"])
            if not v or not v["tp"]:
                miss_cs.append(f"{host}: {r['class']}")
    L.append(f"- crossgate finds every class CORScanner finds (per endpoint): "
             + ("**yes**" if not miss_cs else f"**no**, missing {len(miss_cs)}: " + "; ".join(miss_cs)))
    pf = sum(1 for g in graded.values() for c, v in g["cg"].items() if c in PREFLIGHT_CLASSES and v["tp"])
    pf_exp = sum(1 for g in graded.values() for c in g["expected"] if c in PREFLIGHT_CLASSES)
    L.append(f"- preflight classes (CORScanner sends no preflight): crossgate reports {pf} of {pf_exp} expected "
             f"(endpoint, class) pairs, CORScanner 0")
    cs_fp_hosts = [h for h, g in graded.items() if g["cs"] and not g["cs"]["tp"]]
    repeated = [h for h in cs_fp_hosts if graded[h]["cg"]]
    L.append(f"- crossgate reports none of CORScanner's {len(cs_fp_hosts)} false positives: "
             + ("**yes**" if not repeated else f"**no**, it reports something on {len(repeated)}: {', '.join(repeated)}"))
    L.append(f"- at least 10× faster: {'**yes**' if ratio >= 10 else '**no**'} ({ratio:.1f}×: "
             f"{fmt_seconds(cs_wall)} vs {fmt_seconds(cg_wall)})")

    # Details.
    L.append("")
    L.append("CORScanner's false positives (one raw answer per kind; every endpoint of the kind answers alike):")
    seen = set()
    for host in cs_fp_hosts:
        g = graded[host]
        r = g["cs"]
        n = sum(1 for h in cs_fp_hosts if graded[h]["kind"] == g["kind"])
        if g["kind"] in seen:
            continue
        seen.add(g["kind"])
        L.append(f"- {g['kind']} ×{n}, e.g. `{host}`: {r['type']} with Origin `{r['origin']}`, credentials "
                 f"{r['credentials']} — a browser refuses: {r['why']}")
        L.append("  ```")
        L.extend("  " + line for line in raw_answer(truth, host, r["origin"], port, ca).splitlines())
        L.append("  ```")
    if not cs_fp_hosts:
        L.append("- none")

    L.append("")
    L.append("crossgate's false positives:")
    any_fp = False
    for host, g in graded.items():
        for cls, v in g["cg"].items():
            if not v["tp"]:
                any_fp = True
                L.append(f"- `{host}` ({g['kind']}): {cls} ({v['severity']}) from {v['origins'][0]} — {v['why']}")
                L.append("  ```")
                L.extend("  " + line for line in raw_answer(truth, host, v["origins"][0], port, ca).splitlines())
                L.append("  ```")
    if not any_fp:
        L.append("- none")

    L.append("")
    L.append("crossgate's misses (expected by the ground truth, not reported; one raw answer per kind and "
             "class, every endpoint of the kind answers alike):")
    misses = collections.defaultdict(list)
    for host, g in graded.items():
        if g["cg_error"]:
            misses[(g["kind"], "not audited: " + g["cg_error"])].append(host)
        for cls in g["cg_missed"]:
            misses[(g["kind"], cls)].append(host)
    for (kind, cls), hosts in misses.items():
        host = hosts[0]
        ep = endpoint_of(truth, host)
        L.append(f"- {cls} on {len(hosts)} {kind} endpoint(s) ({truth['endpoints'][host]['rule']}): "
                 + ", ".join(f"`{h}`" for h in hosts))
        if cls.startswith("not audited"):
            continue
        preflight = cls in PREFLIGHT_CLASSES
        origins = zoo.canonical_origins(ep).get(cls, [])
        readable = [o for o in origins if zoo.browser_read(ep, o)[0] != "none"]
        if readable:
            o = readable[0]
            L.append(f"  a page on `{o}` can read it ({zoo.browser_read(ep, o)[0]}):")
        elif preflight:
            o = f"{ep.scheme}://{zoo.ATTACKER}"
        else:
            o = ep.own_origin  # configuration classes: the answer to the site's own origin
        L.append("  ```")
        L.extend("  " + line for line in raw_answer(truth, host, o, port, ca, preflight).splitlines())
        L.append("  ```")
    if not misses:
        L.append("- none")

    L.append("")
    L.append("crossgate's over-claims (true reads, reported as more than they are):")
    any_over = False
    over = collections.defaultdict(list)
    for host, g in graded.items():
        for cls, v in g["cg"].items():
            if v["tp"] and (v["class_overclaim"] or v["cred_overclaim"]):
                over[(g["kind"], cls, v["severity"], v["class_overclaim"], v["cred_overclaim"])].append((host, v))
    for (kind, cls, sev, clo, cro), items in over.items():
        any_over = True
        host, v = items[0]
        owners = ", ".join(f"`{o}` ({w})" for o, w in v["owners"].items())
        what = []
        if clo:
            what.append(f"{cls} ({sev}) says an attacker can own the origin, but the only origins read are {owners}: "
                        "a subdomain of the target's own site needs an XSS or a takeover first (that is any-subdomain)")
        if cro:
            what.append(f"{cls} claims a read with the user's cookies, which the browser refuses")
        L.append(f"- {kind} ×{len(items)}, e.g. `{host}`: " + "; ".join(what))
        if v["owners"]:
            L.append("  ```")
            L.extend("  " + line for line in raw_answer(truth, host, next(iter(v["owners"])), port, ca).splitlines())
            L.append("  ```")
    if not any_over:
        L.append("- none")
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=None, help="the zoo's port, if it still runs")
    ap.add_argument("--results", default=None, help="also write RESULTS.md here")
    args = ap.parse_args()
    truth = load(os.path.join(args.dir, "truth.json"))
    cs = load(os.path.join(args.dir, "corscanner.json"))
    cg = load(os.path.join(args.dir, "crossgate.json"))
    run = load(os.path.join(args.dir, "run.json"))
    run["_defaults_path"] = os.path.join(args.dir, "crossgate-defaults.json")
    graded = grade(truth, cs, cg)
    body = render(truth, cs, cg, run, graded, args.port, truth.get("cacert"))
    print(body)
    if args.results:
        m = run["meta"]
        head = [
            "# crossgate audit vs CORScanner on the zoo: results",
            "",
            f"- date: {m['date']}",
            f"- machine: {m['nproc']} cores ({m['cpu']}), {m['mem']}; {m['os']}",
            f"- versions: corscanner {cs['version']} (PyPI, Python {m['python']}, gevent pool of {cs['threads']}); "
            f"crossgate {m['crossgate_version']} at git {m['git_rev']} (release build)",
            f"- zoo: {len(truth['endpoints'])} endpoints ({truth['per_kind']} per kind) on one port of 127.0.0.1, "
            f"http and https; {m.get('netns', '')}",
            f"- command: `{m['command']}`",
            f"- CORScanner: `{run['corscanner']['command']}`",
            f"- crossgate: `{run['crossgate']['command']}`",
            "",
            "Per kind (10 endpoints each; every finding checked by its own Origin against the zoo's oracle, "
            "the Fetch standard's CORS check):",
            "",
        ]
        with open(args.results, "w") as f:
            f.write("\n".join(head) + "\n" + body)


if __name__ == "__main__":
    main()
