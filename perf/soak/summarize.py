#!/usr/bin/env python3
"""Writes a soak run's summary.md (perf/soak/run.sh) from its samples.csv,
env.txt, loadgen reports and final metrics scrape.

    python3 perf/soak/summarize.py perf/runs/<stamp>-soak > summary.md
"""

import csv
import gzip
import json
import os
import re
import sys


def read_env(run):
    env = {}
    with open(os.path.join(run, "env.txt")) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition(": ")
            if sep:
                env[k] = v
    return env


def read_prom(path):
    """{(name, labels-string): value} of a Prometheus text scrape."""
    opener = gzip.open if path.endswith(".gz") else open
    out = {}
    with opener(path, "rt") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$", line.strip())
            if m:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def total(prom, name, label=None):
    return sum(v for (n, l), v in prom.items() if n == name and (label is None or label in l))


def slope_per_hour(ts, ys):
    """Least-squares slope of ys over ts (seconds), per hour."""
    n = len(ts)
    if n < 3:
        return float("nan")
    mt, my = sum(ts) / n, sum(ys) / n
    den = sum((t - mt) ** 2 for t in ts)
    if den == 0:
        return float("nan")
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den * 3600


def fnum(v):
    return f"{v:,.0f}"


def main():
    run = sys.argv[1]
    env = read_env(run)
    rows = list(csv.DictReader(open(os.path.join(run, "samples.csv"))))
    if not rows:
        sys.exit("no samples")
    prom_path = os.path.join(run, "metrics.end.prom")
    if not os.path.exists(prom_path):
        prom_path += ".gz"
    prom = read_prom(prom_path)
    cpu = env.get("cpu_model", "?")
    t = [float(r["t_s"]) for r in rows]
    rss = [int(r["rss_kib"]) / 1024 for r in rows]
    anon = [int(r["rss_anon_kib"]) / 1024 for r in rows]
    heap = [int(r["heap_kib"]) / 1024 for r in rows]
    cpus = [float(r["cpu_pct"]) for r in rows if r["cpu_pct"]]
    eps = [float(r["events_per_s"]) for r in rows if r["events_per_s"]]
    load = [float(r["load1"]) for r in rows]
    # Warm-up: the first 10 % of the run (process table seeding, first
    # reloads, allocator growth) is left out of the steady-state slope.
    warm = t[-1] * 0.1
    steady = [i for i, x in enumerate(t) if x >= warm]

    def mx(col):
        return max(float(r[col]) for r in rows)

    print(f"# Soak ({cpu}, {env.get('cpus', '?')} CPUs, shared machine)\n")
    print(f"- command: `{env.get('command', '?')}`")
    print(f"- commit: {env.get('commit', '?')}")
    print(f"- started {env.get('date', '?')}; {len(rows)} samples over {t[-1]:.0f} s")
    print(f"- machine load (1-min load average): start {env.get('load_at_start', '?')}, "
          f"end {env.get('load_at_end', '?')}; over the samples mean {sum(load) / len(load):.2f}, "
          f"max {max(load):.2f} (other helpers' builds and daemons ran on the same 2 vCPUs; "
          f"at start: {env.get('others_at_start', '') or 'none'})")
    print(f"- disturbances: {env.get('disturbances', '?')} (bursts: exec scenario; triggers: "
          f"one pass of the trigger scenario, raising alerts; SIGUSR1 after renaming the file output)\n")

    print(f"## Load and reconciliation ({cpu})\n")
    print(f"| {cpu}: load generator | target ops/s | achieved ops/s | seconds | issued | observed | lost | dropped | surplus | passed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    all_pass = True
    for name in ("loadgen-mixed.json", "loadgen-iouring.json"):
        p = os.path.join(run, name)
        if not os.path.exists(p):
            continue
        try:
            d = json.load(open(p))
        except ValueError:
            print(f"| {name} | unreadable report | | | | | | | | no |")
            all_pass = False
            continue
        all_pass &= bool(d.get("passed"))
        print(f"| {d.get('scenario')} | {fnum(d.get('target_rate_per_s') or 0)} | {fnum(d.get('rate_per_s') or 0)} | "
              f"{d.get('duration_s', 0):.0f} | {fnum(d.get('issued', 0))} | {fnum(d.get('observed', 0))} | "
              f"{d.get('lost')} | {d.get('dropped')} | {d.get('surplus')} | {'yes' if d.get('passed') else 'NO'} |")
    print(f"\nReconciliation: **{'PASS' if all_pass else 'FAIL'}** (every traced syscall of the "
          "load generators observed exactly once, no drop anywhere in the daemon over their window).\n")

    sent = total(prom, "kestrel_kernel_events_sent_total")
    dropped = total(prom, "kestrel_kernel_events_dropped_total")
    processed = total(prom, "kestrel_worker_events_processed_total")
    overflow = total(prom, "kestrel_worker_deferred_dropped_total")
    decode = total(prom, "kestrel_worker_decode_errors_total")
    alerts = total(prom, "kestrel_worker_alerts_total")
    delivered_file = total(prom, "kestrel_output_alerts_delivered_total", 'sink="file"')
    out_dropped = total(prom, "kestrel_output_alerts_dropped_total")
    reloads_ok = total(prom, "kestrel_reloads_total", 'result="ok"')
    reloads = total(prom, "kestrel_reloads_total")
    print(f"## Events ({cpu})\n")
    print(f"| {cpu}: whole run | value |")
    print("|---|---|")
    print(f"| kernel events sent to the rings | {fnum(sent)} |")
    print(f"| kernel drops (ring full) | {fnum(dropped)} |")
    print(f"| events processed by the workers | {fnum(processed)} |")
    print(f"| deferral overflows / decode errors | {fnum(overflow)} / {fnum(decode)} |")
    print(f"| events/s processed, mean / max over samples | {fnum(sum(eps) / len(eps))} / {fnum(max(eps))} |")
    print(f"| alerts raised / in the file output (all rotations) / delivered to it per metrics | "
          f"{fnum(alerts)} / {env.get('file_output_lines', '?')} / {fnum(delivered_file)} |")
    print(f"| alerts dropped by outputs | {fnum(out_dropped)} |")
    print(f"| reloads (ok / all) | {fnum(reloads_ok)} / {fnum(reloads)} |\n")

    print(f"## Memory and CPU ({cpu})\n")
    print(f"| {cpu} | start | end | max | slope, whole run | slope after the first 10 % |")
    print("|---|---|---|---|---|---|")
    for name, ys in (("RSS (VmRSS), MiB", rss), ("RssAnon, MiB", anon), ("heap, MiB", heap)):
        s_all = slope_per_hour(t, ys)
        s_steady = slope_per_hour([t[i] for i in steady], [ys[i] for i in steady])
        print(f"| {name} | {ys[0]:.1f} | {ys[-1]:.1f} | {max(ys):.1f} | {s_all:+.2f} MiB/h | {s_steady:+.2f} MiB/h |")
    print(f"\nCPU (utime+stime, % of one core): mean {sum(cpus) / len(cpus):.1f}, max {max(cpus):.1f} "
          f"(5-s samples). Threads: {rows[0]['threads']} at start, {rows[-1]['threads']} at end.\n")

    print(f"## Queue depths ({cpu})\n")
    print("Read at each sample (every 5 s) from /metrics: instantaneous values, so a "
          "short spike between two samples is not seen.\n")
    print(f"| {cpu}: queue | max over samples | samples non-zero |")
    print("|---|---|---|")
    for col, name in (("ring_used_max_bytes", "ring bytes pending (max over CPUs)"),
                      ("ring_fill_max_ratio", "ring fill ratio (max over CPUs)"),
                      ("deferral_queue", None),
                      ("front_queue", "output front queue (alerts)"),
                      ("sink_queue_max", "output sink queues (alerts, max)")):
        if col == "deferral_queue":
            col, name = "deferred_queue_sum", "deferral queues (records, sum over workers)"
        nz = sum(1 for r in rows if float(r[col]) > 0)
        v = mx(col)
        print(f"| {name} | {v:.4f} | {nz} / {len(rows)} |" if col == "ring_fill_max_ratio"
              else f"| {name} | {v:,.0f} | {nz} / {len(rows)} |")
    print("\nPlot: [soak.png](soak.png).")


if __name__ == "__main__":
    main()
