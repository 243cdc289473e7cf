#!/usr/bin/env python3
"""summary.md of a perf/idle run folder (stdout).

    python3 perf/idle/summarize.py perf/runs/<stamp>-idle
    python3 perf/idle/summarize.py --rebuild-raw perf/runs/<stamp>-idle

--rebuild-raw first recomputes raw.tsv's metric columns (parks, idle polls,
alerts, alert p50/p99) from the metrics scrapes kept in the folder
(<tag>.before.prom[.gz], <tag>.after.prom[.gz]) and rewrites raw.tsv; the CPU
columns (measured from /proc, not in the scrapes) are kept. Runs before this
fix split the scrape on blanks and read alerts=0 for rule names with spaces.
"""

import csv
import os
import statistics
import sys

# No __pycache__ in the checkout when one script imports another.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from promtext import prom, prom_has, prom_q, prom_sum  # noqa: E402
from summarize import cpu_label  # noqa: E402

COLS = ["round", "variant", "secs", "cpu_ns", "cpu_share", "parks", "idle_polls", "alerts",
        "alert_p50_s", "alert_p99_s"]


def rebuild_raw(out):
    path = os.path.join(out, "raw.tsv")
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    for r in rows:
        tag = f"r{r['round']}-{r['variant']}"
        before = prom(os.path.join(out, f"{tag}.before.prom"))
        after = prom(os.path.join(out, f"{tag}.after.prom"))
        if after is None:
            print(f"{tag}: no after scrape, row kept as it was", file=sys.stderr)
            continue
        b = before or {}
        r["parks"] = int(prom_sum(after, "kestrel_worker_parks_total") - prom_sum(b, "kestrel_worker_parks_total"))
        r["idle_polls"] = int(prom_sum(after, "kestrel_worker_idle_polls_total")
                              - prom_sum(b, "kestrel_worker_idle_polls_total"))
        r["alerts"] = int(prom_sum(after, "kestrel_alerts_total")) if prom_has(after, "kestrel_alerts_total") else 0
        for col, q in (("alert_p50_s", "0.5"), ("alert_p99_s", "0.99")):
            v = prom_q(after, "kestrel_alert_latency_seconds", q)
            r[col] = repr(v) if v is not None else "nan"
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in COLS})
    os.replace(path + ".tmp", path)


def med(xs):
    xs = [float(x) for x in xs if x not in ("", "nan")]
    return statistics.median(xs) if xs else float("nan")


def main():
    args = sys.argv[1:]
    rebuild = "--rebuild-raw" in args
    args = [a for a in args if a != "--rebuild-raw"]
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = args[0].rstrip("/")
    if rebuild:
        rebuild_raw(out)
    rows = list(csv.DictReader(open(os.path.join(out, "raw.tsv")), delimiter="\t"))
    env = open(os.path.join(out, "env.txt")).read().strip()
    cpu = cpu_label(out)
    print(f"# kestrel idle cost: {os.path.basename(out)} — {cpu}\n\n```\n{env}\n```\n")
    print(f"Measured on **{cpu}**. Medians over rounds (variants alternated within each round). CPU: all of "
          "the daemon's threads over the window, as a share of one core. Alerts: raised over the daemon's "
          "life (one `/etc/shadow` read a second). Alert latency: kernel timestamp to alert, from the "
          "scrape after the window.\n")
    print(f"| variant ({cpu}) | rounds | daemon CPU (share of one core) | worker parks/s | idle polls/s | "
          "alerts (median per sample) | alert latency p50 / p99 |")
    print("|---|---|---|---|---|---|---|")
    for label in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == label]
        secs = float(rs[0]["secs"])
        print(f"| {label} | {len(rs)} | {100 * med(r['cpu_share'] for r in rs):.2f}% "
              f"| {med(r['parks'] for r in rs) / secs:.1f} | {med(r['idle_polls'] for r in rs) / secs:.0f} "
              f"| {med(r['alerts'] for r in rs):.0f} "
              f"| {1e6 * med(r['alert_p50_s'] for r in rs):.0f} µs / {1e6 * med(r['alert_p99_s'] for r in rs):.0f} µs |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
