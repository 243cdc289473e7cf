#!/usr/bin/env python3
"""Summarise one run folder of perf/run-suite.sh as markdown (stdout).

    python3 perf/summarize.py perf/runs/<timestamp> > summary.md

Reads only the raw files the suite wrote (loadgen --json reports, loop
outputs, metrics scrapes, attempts.tsv, probe-overhead's summary, criterion's
output), so a summary can be rebuilt from a committed run folder.
"""

import glob
import gzip
import json
import os
import re
import statistics
import sys

CONDS = ["bare", "kestrel", "kestrel-probe", "empty-hook", "bpftrace", "audit-rules", "audit-opens"]
WORKLOADS = ["open", "exec", "connect", "getppid", "mixed", "getppid-loop", "openclose-loop"]


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def prom(path):
    """Parses a Prometheus text scrape (optionally gzipped) into
    {(name, frozenset(labels)): value}."""
    opener = gzip.open if path.endswith(".gz") else open
    out = {}
    try:
        with opener(path, "rt") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$", line.strip())
                if not m:
                    continue
                labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
                try:
                    out[(m.group(1), labels)] = float(m.group(4))
                except ValueError:
                    pass
    except OSError:
        return None
    return out


def prom_sum(p, name):
    return sum(v for (n, _), v in p.items() if n == name)


def prom_q(p, name, q):
    for (n, labels), v in p.items():
        if n == name and ("quantile", q) in labels:
            return v
    return None


def drops_by_cpu(path):
    """Kernel drops per CPU from a metrics scrape: 'cpu0 12, cpu1 3' or ''."""
    p = prom(path) if path and os.path.exists(path) else None
    if not p:
        return ""
    by = {}
    for (n, labels), v in p.items():
        if n == "kestrel_kernel_events_dropped_total" and v:
            cpu = dict(labels).get("cpu", "?")
            by[cpu] = by.get(cpu, 0) + v
    return ", ".join(f"cpu{c} {int(v)}" for c, v in sorted(by.items()))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_rate(r):
    if r is None:
        return "n/a"
    if r >= 1e6:
        return f"{r / 1e6:.3f} M/s"
    return f"{r / 1e3:.1f} K/s"


def fmt_ns(ns):
    if ns is None:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def sample(run, workload, path):
    """One ratio sample: achieved rate plus the daemon's view if any."""
    s = {"rate": None, "dropped": None, "passed": None, "cpu_per_m": None,
         "share": None, "lat": None, "rss": None, "file": os.path.relpath(path, run),
         "metrics": re.sub(r"\.(json|txt)$", ".metrics.prom.gz", path)}
    if path.endswith(".json"):
        d = load_json(path)
        if not d:
            return s
        s["rate"] = d.get("rate_per_s")
        if d.get("issued") and d.get("duration_s"):
            s["events"] = d["issued"] / d["duration_s"]
        s["dropped"] = d.get("dropped")
        s["passed"] = d.get("passed")
        dm = d.get("daemon")
        if dm:
            ev = dm.get("events_processed") or 0
            # Per million events only means something when events flow.
            if ev and ev / max(d.get("duration_s") or 1, 1e-3) >= 10_000:
                s["cpu_per_m"] = dm.get("cpu_seconds", 0) / ev * 1e6
            s["share"] = dm.get("cpu_share_of_one_core")
            s["lat"] = dm.get("event_latency_ns")
            s["rss"] = dm.get("rss_bytes")
    else:
        try:
            ns = float(open(path).read().split()[0])
            s["rate"] = 1e9 / ns
        except (OSError, ValueError, IndexError):
            return s
        m = re.sub(r"\.txt$", ".metrics.prom.gz", path)
        p = prom(m) if os.path.exists(m) else None
        if p:
            s["dropped"] = int(prom_sum(p, "kestrel_kernel_events_dropped_total")
                               + prom_sum(p, "kestrel_worker_deferred_dropped_total")
                               + prom_sum(p, "kestrel_worker_decode_errors_total"))
            s["rss"] = prom_sum(p, "kestrel_process_resident_memory_bytes")
    return s


def ratio_section(run, out):
    base = os.path.join(run, "ratio")
    if not os.path.isdir(base):
        return {}
    res = {}
    out.append("## Workload rate: bare vs under each condition\n")
    out.append("One thread pinned to CPU 0, flat out. Median over rounds of the "
               "achieved rate; ratio = median under the condition / median bare "
               "(same run, conditions alternated every round). `*-loop` rows are "
               "perf/probe-overhead's tight C loops (no per-operation bookkeeping).\n")
    out.append("| workload | condition | rounds | median rate | min..max | ratio vs bare | ratio vs empty hook |")
    out.append("|---|---|---|---|---|---|---|")
    for w in WORKLOADS:
        d = os.path.join(base, w)
        if not os.path.isdir(d):
            continue
        res[w] = {}
        for c in CONDS:
            files = sorted(glob.glob(os.path.join(d, f"r*-{c}.json")) +
                           glob.glob(os.path.join(d, f"r*-{c}.txt")))
            files = [f for f in files if not f.endswith((".bpftrace.txt", ".alert_load.txt"))]
            if not files:
                continue
            ss = [sample(run, w, f) for f in files]
            res[w][c] = ss
        bare = med([s["rate"] for s in res[w].get("bare", [])])
        empty = med([s["rate"] for s in res[w].get("empty-hook", [])])
        for c, ss in res[w].items():
            rates = [s["rate"] for s in ss if s["rate"] is not None]
            m = med(rates)
            rb = f"{m / bare:.3f}x" if m and bare else "n/a"
            re_ = f"{m / empty:.3f}x" if m and empty and c != "bare" else ""
            rng = f"{fmt_rate(min(rates))}..{fmt_rate(max(rates))}" if rates else "n/a"
            out.append(f"| {w} | {c} | {len(rates)} | {fmt_rate(m)} | {rng} | {rb} | {re_} |")
    out.append("")
    # The daemon's side of the kestrel condition.
    out.append("### kestrel (default rules) during those runs\n")
    out.append("Per sample from loadgen's reconciliation (loops: from the metrics scrape); "
               "medians over rounds. Latency is the daemon's kernel-timestamp-to-event "
               "summary over the daemon's whole life (started fresh for each sample).\n")
    out.append("| workload | dropped (sum; by CPU) | reconciled | CPU s per M events | CPU (share of one core) | event latency p50 / p99 / p99.9 | RSS |")
    out.append("|---|---|---|---|---|---|---|")
    for w, conds in res.items():
        ss = conds.get("kestrel")
        if not ss:
            continue
        drops = [s["dropped"] for s in ss if s["dropped"] is not None]
        passed = [s["passed"] for s in ss if s["passed"] is not None]
        cpu = med([s["cpu_per_m"] for s in ss])
        lats = [s["lat"] for s in ss if s["lat"]]
        lat = " / ".join(fmt_ns(med([l.get(k) for l in lats])) for k in ("p50", "p99", "p999")) if lats else "n/a"
        rss = med([s["rss"] for s in ss])
        share = med([s["share"] for s in ss])
        by = "; ".join(f"{os.path.basename(s['file']).split('-')[0]}: {b}"
                       for s in ss for b in [drops_by_cpu(s["metrics"])] if b)
        out.append(f"| {w} | {sum(drops) if drops else 'n/a'}{f' ({by})' if by else ''} | "
                   f"{f'{sum(1 for p in passed if p)}/{len(passed)}' if passed else 'n/a'} | "
                   f"{f'{cpu:.3f}' if cpu is not None else 'n/a'} | "
                   f"{f'{share:.2f}' if share is not None else 'n/a'} | {lat} | "
                   f"{f'{rss / 2**20:.0f} MiB' if rss else 'n/a'} |")
    out.append("")
    return res


def settings(run):
    """The suite's settings line of env.txt as a dict."""
    try:
        for l in open(os.path.join(run, "env.txt")):
            if l.startswith("settings:"):
                return dict(kv.split("=", 1) for kv in l.split(":", 1)[1].split())
    except OSError:
        pass
    return {}


def zero_drop_section(run, out):
    base = os.path.join(run, "zero-drop")
    full = settings(run).get("zd_duration", "60")
    if not os.path.isdir(base):
        return {}
    res = {}
    out.append(f"## Zero-drop rate: `open`, {full} s, with a 100/s alert side load\n")
    out.append("An `open` operation is two traced syscalls (openat, close); syscalls/s counts every "
               "syscall the load generator issued in its window. "
               "Highest rate sustained with no event dropped (kernel reserve failures, "
               "deferral overflow, decode errors) and every traced syscall of the load "
               "generator observed. A fresh daemon per attempt, so latency and CPU cover "
               "that attempt only.\n")
    out.append(f"| configuration | attempts (target → verdict at achieved rate) | highest zero-drop rate ({full} s): operations/s (syscalls/s) | event latency p50 / p99 / p99.9 | alert latency p50 / p99 / p99.9 (alerts) | kestrel CPU s per M events | kestrel CPU (share of one core) | RSS |")
    out.append("|---|---|---|---|---|---|---|---|")
    for cfg in ["bare-1t", "default-1t", "stable-1t", "bare-2t", "default-2t", "stable-2t"]:
        d = os.path.join(base, cfg)
        if cfg.startswith("bare"):
            js = glob.glob(os.path.join(d, "bare-*.json"))
            j = load_json(js[0]) if js else None
            if j:
                ev_s = j["issued"] / j["duration_s"] if j.get("issued") and j.get("duration_s") else None
                res[cfg] = {"bare": True, "rate": j.get("rate_per_s"), "events": ev_s}
                out.append(f"| {cfg} (no kestrel) | one flat-out run | {fmt_rate(j.get('rate_per_s'))} "
                           f"({fmt_rate(ev_s)}) | | | | | |")
            continue
        t = os.path.join(d, "attempts.tsv")
        if not os.path.exists(t):
            continue
        rows = [l.rstrip("\n").split("\t") for l in open(t)][1:]
        def cell(r):
            js = glob.glob(os.path.join(d, f"a{r[0]}-*.json"))
            by = drops_by_cpu(js[0].replace(".json", ".metrics.prom.gz")) if js else ""
            return f"{r[1]} ({r[2]} s) → {r[3]} {fmt_rate(float(r[4]))}" + (f" (drops {by})" if by else "")
        att = "; ".join(cell(r) for r in rows)
        best = None
        for r in rows:
            if r[3] == "pass" and r[2] == full:
                js = glob.glob(os.path.join(d, f"a{r[0]}-*.json"))
                if js:
                    best = (r, js[0])
        info = {"attempts": rows, "best": None}
        if best is None:
            out.append(f"| {cfg} | {att} | none found | | | | | |")
            res[cfg] = info
            continue
        r, js = best
        j = load_json(js)
        dm = j.get("daemon") or {}
        el = dm.get("event_latency_ns") or {}
        al = dm.get("alert_latency_ns") or {}
        p = prom(js.replace(".json", ".metrics.prom.gz")) or {}
        alerts = int(prom_sum(p, "kestrel_alerts_total")) if p else None
        ev = dm.get("events_processed") or 0
        cpu_m = dm.get("cpu_seconds", 0) / ev * 1e6 if ev else None
        ev_s = j["issued"] / j["duration_s"] if j.get("issued") and j.get("duration_s") else None
        info["best"] = {"rate": j.get("rate_per_s"), "events": ev_s, "event": el, "alert": al, "alerts": alerts,
                        "cpu_m": cpu_m, "share": dm.get("cpu_share_of_one_core"),
                        "rss": dm.get("rss_bytes"), "file": os.path.relpath(js, run)}
        res[cfg] = info
        lat = lambda l: " / ".join(fmt_ns(l.get(k)) for k in ("p50", "p99", "p999")) if l else "n/a"
        out.append(f"| {cfg} | {att} | **{fmt_rate(j.get('rate_per_s'))}** ({fmt_rate(ev_s)}) | {lat(el)} | "
                   f"{lat(al) if alerts else 'no alerts'} ({alerts}) | "
                   f"{f'{cpu_m:.3f}' if cpu_m else 'n/a'} | "
                   f"{dm.get('cpu_share_of_one_core', 0):.2f} | "
                   f"{(dm.get('rss_bytes') or 0) / 2**20:.0f} MiB |")
    out.append("")
    res["_full"] = full
    return res


def goals(out, ratios, zd, po):
    out.append("## Goals\n")
    out.append("| goal | measured | verdict |")
    out.append("|---|---|---|")
    full = zd.get("_full", "60")

    def zd_goal(cfg, label):
        i = zd.get(cfg)
        if not i:
            return
        b = i["best"]
        first = i["attempts"][0] if i["attempts"] else None
        flat = first and first[1] == "max" and first[3] == "pass"
        if b:
            ev = f" ({fmt_rate(b['events'])} syscalls)" if b.get("events") else ""
            m = f"{fmt_rate(b['rate'])} operations{ev} for {full} s with zero drops" + (" (flat out)" if flat else " (after stepping down from flat out)")
        else:
            m = "no zero-drop rate found"
        out.append(f"| {label} | {m} | {'PASS' if flat and b else 'FAIL'} |")

    zd_goal("default-1t", f"zero drops for {full} s, `open` saturating one core, default rules")
    b1 = (zd.get("default-1t") or {}).get("best")
    bare = [x for x in ratios.get("open", {}).get("bare", []) if x.get("events")]
    src = "ratio section, `open` bare"
    if (zd.get("bare-1t") or {}).get("events"):
        bare = [zd["bare-1t"]]
        src = "zero-drop bare-1t"
    if b1 and b1.get("events") and bare:
        whole = med([x["events"] for x in bare])
        v = b1["events"] / whole
        out.append(f"| ... at the whole rate one core can issue (~1 M events/s expected) | "
                   f"{fmt_rate(b1['events'])} syscalls = {v:.2f}x of the {fmt_rate(whole)} syscalls one core issues "
                   f"bare ({src}) | {'PASS' if v >= 0.95 else 'FAIL'} |")
    zd_goal("default-2t", f"zero drops for {full} s, both cores saturated, default rules")
    b2 = (zd.get("default-2t") or {}).get("best")
    if b2 and b2.get("events"):
        ref = (zd.get("bare-2t") or {}).get("events")
        rel = f" = {b2['events'] / ref:.2f}x of the {fmt_rate(ref)} syscalls two cores issue bare" if ref else ""
        out.append(f"| ... (rate reached with both cores saturated) | {fmt_rate(b2['events'])} syscalls{rel} | info |")
    b = (zd.get("default-1t") or {}).get("best")
    if b:
        al = b["alert"] or {}
        if b["alerts"]:
            p99 = al.get("p99")
            out.append(f"| kernel→alert latency p99 < 1 ms at that rate | {fmt_ns(p99)} ({b['alerts']} alerts) | {'PASS' if p99 is not None and p99 < 1e6 else 'FAIL'} |")
        else:
            out.append("| kernel→alert latency p99 < 1 ms at that rate | no alerts recorded | n/a |")

    def ratio(w, c, ref):
        ss = ratios.get(w, {})
        a = med([s["rate"] for s in ss.get(c, [])])
        r = med([s["rate"] for s in ss.get(ref, [])])
        return a / r if a and r else None

    for w in ("getppid-loop", "getppid"):
        v = ratio(w, "kestrel", "empty-hook")
        if v is not None:
            out.append(f"| `{w}` under kestrel ≥ 0.95x of the empty tp_btf hook | {v:.3f}x | {'PASS' if v >= 0.95 else 'FAIL'} |")
    if po.get("getppid_vs_empty") is not None:
        v = po["getppid_vs_empty"]
        out.append(f"| getppid under kestrel's probe ≥ 0.95x of the empty hook (probe-overhead) | {v:.3f}x | {'PASS' if v >= 0.95 else 'FAIL'} |")
    for w in ("openclose-loop", "open"):
        v = ratio(w, "kestrel", "bare")
        if v is not None:
            out.append(f"| `{w}` under kestrel ≥ 0.75x of bare | {v:.3f}x | {'PASS' if v >= 0.75 else 'FAIL'} |")
    if po.get("open_vs_bare") is not None:
        v = po["open_vs_bare"]
        out.append(f"| openat+close under kestrel's probe ≥ 0.75x of bare (probe-overhead) | {v:.3f}x | {'PASS' if v >= 0.75 else 'FAIL'} |")
    out.append("")


def probe_overhead(run, out):
    d = os.path.join(run, "probe-overhead")
    if not os.path.isdir(d):
        return {}
    out.append("## Probe overhead (perf/probe-overhead/run.sh)\n")
    sums = sorted(glob.glob(os.path.join(d, "attempt*", "summary.txt")))
    if not sums:
        # Every attempt failed: medians of the rounds that completed.
        rows = []
        for f in sorted(glob.glob(os.path.join(d, "attempt*", "raw.csv"))):
            rows += [l.strip().split(",") for l in open(f)][1:]
        out.append("perf/probe-overhead/run.sh failed in every attempt (see attempt*/output.txt); "
                   f"medians of the {len(rows) // 6} rounds that completed:\n")
        if not rows:
            return {}
        m = {}
        for mode in ("bare", "empty", "kestrel"):
            for loop in ("getppid", "openclose"):
                m[(mode, loop)] = med([float(r[3]) for r in rows if r[1] == mode and r[2] == loop])
        out.append("| loop | bare ns | empty hook ns | kestrel probe ns | probe vs empty | probe vs bare |")
        out.append("|---|---|---|---|---|---|")
        for loop in ("getppid", "openclose"):
            b, e, k = m[("bare", loop)], m[("empty", loop)], m[("kestrel", loop)]
            if b and e and k:
                out.append(f"| {loop} | {b:.1f} | {e:.1f} | {k:.1f} | {e / k:.3f}x | {b / k:.3f}x |")
        out.append("")
        res = {}
        if m[("empty", "getppid")] and m[("kestrel", "getppid")]:
            res["getppid_vs_empty"] = m[("empty", "getppid")] / m[("kestrel", "getppid")]
        if m[("bare", "openclose")] and m[("kestrel", "openclose")]:
            res["open_vs_bare"] = m[("bare", "openclose")] / m[("kestrel", "openclose")]
        return res
    p = sums[-1]
    text = open(p).read()
    out.append(f"From `{os.path.relpath(p, run)}`:\n")
    out.append("```")
    out.append(text.rstrip())
    out.append("```\n")
    res = {}
    m = re.search(r"getppid under kestrel >= 0.95x of the empty hook:\s+([0-9.]+)x", text)
    if m:
        res["getppid_vs_empty"] = float(m.group(1))
    m = re.search(r"traced openat\+close >= 0.75x of bare:\s+([0-9.]+)x", text)
    if m:
        res["open_vs_bare"] = float(m.group(1))
    return res


def audit_residue(run, out):
    p = os.path.join(run, "audit-residue.txt")
    if not os.path.exists(p):
        return
    rows = [l.split() for l in open(p) if l.strip() and not l.startswith("#")]
    armed = med([float(r[1]) for r in rows])
    clean = med([float(r[2]) for r in rows])
    if armed is None or clean is None:
        return
    out.append("## Audit residue\n")
    out.append(f"getppid loop after auditd ran, auditing disabled and no rules: {armed:.1f} ns "
               f"per call with new processes armed for syscall auditing, {clean:.1f} ns with a "
               f"`never,task` rule ({len(rows)} rounds, medians; audit-residue.txt).\n")


def criterion(run, out):
    p = os.path.join(run, "criterion.txt")
    if not os.path.exists(p):
        return
    out.append("## Criterion engine benches\n")
    out.append("`cargo bench -p kestrel --bench engine_match --bench engine_compile` "
               "(time and throughput lines as printed):\n")
    out.append("```")
    keep = []
    for line in open(p):
        s = line.rstrip()
        if not s or s.startswith(("Benchmarking", "Found", "  ")) and not re.search(r"time:|thrpt:", s):
            continue
        if re.search(r"time:|thrpt:", s) or re.match(r"^\S", s):
            keep.append(s)
    out.extend(keep)
    out.append("```\n")


def main():
    run = sys.argv[1].rstrip("/")
    out = [f"# kestrel benchmark run {os.path.basename(run)}\n"]
    env = os.path.join(run, "env.txt")
    if os.path.exists(env):
        lines = open(env).read().splitlines()
        pick = [l for l in lines if l.split(":")[0] in
                ("date", "commit", "noisy", "waited_for_quiet_min", "settings", "kernel",
                 "loadavg at start", "loadavg at end")]
        mdl = [l for l in lines if l.startswith("Model name")]
        out.append("```")
        out.extend(pick + mdl)
        out.append("```\n")
        if any(l.strip() == "noisy: 1" for l in lines):
            out.append("**NOISY RUN: the machine was busy during this run; do not quote these numbers as clean.**\n")
    st = os.path.join(run, "samples.tsv")
    if os.path.exists(st):
        lines = [l.rstrip("\n").split("\t") for l in open(st)]
        rows = lines[1:]
        loads = [float(r[2]) for r in rows if len(r) > 2]
        if loads and lines[0][3:] == ["others"]:
            busy = [r for r in rows if len(r) > 3 and r[3]]
            out.append(f"Load average at sample starts (mostly the suite's own load): median "
                       f"{statistics.median(loads):.2f}, max {max(loads):.2f}; {len(busy)} of {len(rows)} "
                       f"samples started while someone else's compiler or kestrel ran (samples.tsv).\n")
        elif loads:
            out.append(f"Load average at sample starts (mostly the suite's own load): median "
                       f"{statistics.median(loads):.2f}, max {max(loads):.2f} (samples.tsv).\n")
    mt = os.path.join(run, "monitor.tsv")
    if os.path.exists(mt):
        rows = [l.rstrip("\n").split("\t") for l in open(mt)][1:]
        busy = [r for r in rows if len(r) > 2 and r[2]]
        out.append(f"monitor.tsv: {len(busy)} of {len(rows)} five-second ticks saw a compiler or cargo "
                   f"running (the criterion section's own cargo included).\n")
    po = probe_overhead(run, out)
    ratios = ratio_section(run, out)
    audit_residue(run, out)
    zd = zero_drop_section(run, out)
    criterion(run, out)
    g = []
    goals(g, ratios, zd, po)
    # Goals first after the header: they are what a reader wants.
    idx = next((i for i, l in enumerate(out) if l.startswith("## ")), len(out))
    out[idx:idx] = g
    print("\n".join(out))


if __name__ == "__main__":
    main()
