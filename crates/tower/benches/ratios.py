#!/usr/bin/env python3
"""The table of crossgate-tower's and tower-http's added time per request, from criterion's
estimates of `cargo bench -p crossgate-tower --bench layer` (median of each benchmark).

Added time = the layer's median minus the bare service's median, in the same run. The target
(crossgate-tower issue) is crossgate's added time at most a quarter of tower-http's in every case.
Usage: python3 crates/tower/benches/ratios.py [--json] [target/criterion]
"""
import json
import os
import sys

CASES = [
    "preflight_allowed",
    "preflight_refused",
    "actual_allowed",
    "actual_refused",
    "no_origin",
    "thousand_origins",
    "hostile_64k_acrh",
]


def median_ns(root, case, who):
    path = os.path.join(root, f"layer_{case}", who, "new", "estimates.json")
    if not os.path.exists(path):
        path = os.path.join(root, "layer", case, who, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def main():
    args = [a for a in sys.argv[1:] if a != "--json"]
    as_json = "--json" in sys.argv[1:]
    here = os.path.dirname(os.path.abspath(__file__))
    root = args[0] if args else os.path.join(here, "..", "..", "..", "target", "criterion")
    rows = []
    for case in CASES:
        try:
            bare = median_ns(root, case, "bare")
            ours = median_ns(root, case, "crossgate")
            theirs = median_ns(root, case, "tower-http")
        except FileNotFoundError as e:
            sys.exit(f"ratios.py: no estimate for {case} ({e.filename}); run the benchmark first")
        added_ours, added_theirs = ours - bare, theirs - bare
        # A layer cannot be faster than no layer: a negative added time is noise, counted as 0.
        # If tower-http's added time is not positive the ratio means nothing: reported as such.
        ratio = max(added_ours, 0.0) / added_theirs if added_theirs > 0 else float("nan")
        rows.append(dict(case=case, bare_ns=bare, crossgate_ns=ours, tower_http_ns=theirs,
                         crossgate_added_ns=added_ours, tower_http_added_ns=added_theirs,
                         ratio=ratio, meets_target=ratio == ratio and ratio <= 0.25))
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print("| case | bare | crossgate-tower (added) | tower-http (added) | added ratio | ≤ 1/4 |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['case']} | {r['bare_ns']:.0f} ns | {r['crossgate_ns']:.0f} ns "
                  f"(+{r['crossgate_added_ns']:.0f}) | {r['tower_http_ns']:.0f} ns "
                  f"(+{r['tower_http_added_ns']:.0f}) | {r['ratio']:.2f} | "
                  f"{'yes' if r['meets_target'] else 'NO'} |")
    return 0 if all(r["meets_target"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
