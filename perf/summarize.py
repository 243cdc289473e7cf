#!/usr/bin/env python3
"""Summarise one run folder of perf/run-suite.sh as markdown (stdout).

    python3 perf/summarize.py perf/runs/<timestamp> > summary.md

Reads only the raw files the suite wrote (loadgen --json reports, loop
outputs, metrics scrapes, attempts.tsv, probe-overhead's raw.csv, criterion's
output), so a summary can be rebuilt from a committed run folder.

Rules it follows, so that a number is never quoted more kindly than it was
measured:

- every heading and every table names the CPU model (lscpu "Model name" in
  env.txt) the numbers come from;
- a ratio between two conditions is the median of per-round ratios, each
  taken within one round (paired), with their min..max; never a ratio of
  medians;
- latency quantiles, alert counts and RSS come from the daemon's final
  metrics scrape, taken after the load and the alert side load ended;
- references (bare, probe alone) are repeated: median and min..max;
- every verdict (PASS / FAIL / n/a) is computed here from the numbers next
  to it; quote it as is.
"""

import glob
import json
import os
import re
import statistics
import sys

# No __pycache__ in the checkout when one script imports another.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promtext import prom, prom_by, prom_has, prom_q, prom_sum, quantiles_ns  # noqa: E402

CONDS = ["bare", "kestrel", "kestrel-probe", "empty-hook", "bpftrace", "audit-rules", "audit-opens"]
WORKLOADS = ["open", "exec", "connect", "getppid", "mixed", "getppid-loop", "openclose-loop"]

# Zero-drop: references first, then the kestrel configurations by load, then
# by rule set.
ZD_REFS = ["bare-1t", "probe-1t", "bare-2t"]
ZD_LOADS = ["1t", "2t", "2t-hup", "1t-uring", "2t-uring"]
ZD_RULES = ["default", "stable", "adv"]
ZD_RULES_LABEL = {
    "default": "default rules",
    "stable": "Falco's stable rules",
    "adv": "default rules + adversarial ancestor rule",
}
ZD_LOAD_LABEL = {
    "1t": "1 pinned thread",
    "2t": "2 pinned threads",
    "2t-hup": "2 pinned threads, SIGHUP every 0.5 s",
    "1t-uring": "1 pinned thread, io_uring opens, closes and connects",
    "2t-uring": "2 pinned threads, io_uring opens, closes and connects",
}
# Goals of issue 9 (item 1 and item 4).
GOAL_PROBE_RATIO = 0.9
GOAL_CPU_PER_M = {"default": 0.15, "adv": 0.30}
GOAL_ALERT_P99_NS = 1e6


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


DROP_METRICS = ("kestrel_kernel_events_dropped_total", "kestrel_worker_deferred_dropped_total",
                "kestrel_worker_decode_errors_total")


def drops_by_cpu(path):
    """Kernel drops per CPU from a metrics scrape: 'cpu0 12, cpu1 3' or ''."""
    p = prom(path) if path else None
    if not p:
        return ""
    by = {k: v for k, v in prom_by(p, "kestrel_kernel_events_dropped_total", "cpu").items() if v}
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


def fmt_lat(q):
    if not q:
        return "n/a"
    return " / ".join(fmt_ns(q.get(k)) for k in ("p50", "p99", "p999"))


def fmt_x(v):
    return f"{v:.3f}x" if v is not None else "n/a"


def fmt_range_x(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return f"{fmt_x(med(xs))} ({min(xs):.3f}..{max(xs):.3f}, {len(xs)} round{'s' if len(xs) != 1 else ''})"


def verdict(ok):
    if ok is None:
        return "n/a"
    return "PASS" if ok else "FAIL"


def read_env(run):
    try:
        return open(os.path.join(run, "env.txt")).read().splitlines()
    except OSError:
        return []


def env_value(lines, key):
    for l in lines:
        if l.startswith(key + ":"):
            return l.split(":", 1)[1].strip()
    return None


def cpu_label(run):
    """'AMD EPYC, 2 CPUs, KVM' from env.txt: the cpu_model/cpus/hypervisor
    lines the scripts write, or lscpu's output recorded there, or
    probe-overhead's cpu line. Without any: says so."""
    lines = read_env(run)
    for sub in ("probe-overhead/attempt1/env.txt", "probe-overhead/attempt2/env.txt"):
        try:
            lines += open(os.path.join(run, sub)).read().splitlines()
        except OSError:
            pass
    model = env_value(lines, "cpu_model") or env_value(lines, "Model name") or env_value(lines, "cpu")
    cpus = env_value(lines, "cpus") or env_value(lines, "CPU(s)")
    hyp = env_value(lines, "hypervisor") or env_value(lines, "Hypervisor vendor")
    if not model:
        return "CPU model not recorded"
    s = model
    if cpus:
        s += f", {cpus} CPUs"
    if hyp and hyp != "none":
        s += f", {hyp} guest"
    return s


def round_of(path):
    m = re.match(r"r(\d+)-", os.path.basename(path))
    return int(m.group(1)) if m else None


def paired(a, b):
    """Per-round ratios a[r] / b[r] over the rounds both have."""
    return [a[r] / b[r] for r in sorted(set(a) & set(b)) if a[r] and b[r]]


def sample(run, workload, path):
    """One ratio sample: achieved rate plus the daemon's view if any."""
    s = {"rate": None, "dropped": None, "passed": None, "cpu_per_m": None, "round": round_of(path),
         "share": None, "lat": None, "rss": None, "file": os.path.relpath(path, run),
         "metrics": re.sub(r"\.(json|txt)$", ".metrics.prom.gz", path)}
    p = prom(s["metrics"]) if os.path.exists(s["metrics"]) else None
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
            if (d.get("issued") and dm.get("cpu_seconds") is not None
                    and d["issued"] / max(d.get("duration_s") or 1, 1e-3) >= 1_000):
                s["cpu_per_m_issued"] = dm["cpu_seconds"] / d["issued"] * 1e6
            s["share"] = dm.get("cpu_share_of_one_core")
            s["lat"] = dm.get("event_latency_ns")
            s["rss"] = dm.get("rss_bytes")
    else:
        try:
            ns = float(open(path).read().split()[0])
            s["rate"] = 1e9 / ns
        except (OSError, ValueError, IndexError):
            return s
        if p:
            s["dropped"] = int(sum(prom_sum(p, n) for n in DROP_METRICS))
    if p:
        # The scrape taken after the workload: the final word on latency and RSS.
        s["lat"] = quantiles_ns(p, "kestrel_event_latency_seconds") or s["lat"]
        if prom_has(p, "kestrel_process_resident_memory_bytes"):
            s["rss"] = prom_sum(p, "kestrel_process_resident_memory_bytes")
    return s


def ratio_section(run, out, cpu):
    base = os.path.join(run, "ratio")
    if not os.path.isdir(base):
        return {}
    res = {}
    out.append(f"## Workload rate: bare vs under each condition ({cpu})\n")
    out.append("One thread pinned to CPU 0, flat out; conditions alternated within each round. "
               "Rate: median over rounds (min..max). Ratios are paired: within each round the rate "
               "under the condition over the rate of the reference in that same round; the table "
               "gives the median of those per-round ratios and their min..max. `*-loop` rows are "
               "perf/probe-overhead's tight C loops (no per-operation bookkeeping).\n")
    out.append(f"| workload ({cpu}) | condition | rounds | median rate | min..max | vs bare (paired) | vs empty hook (paired) |")
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
            res[w][c] = [sample(run, w, f) for f in files]
        by_round = {c: {s["round"]: s["rate"] for s in ss if s["rate"]} for c, ss in res[w].items()}
        for c, ss in res[w].items():
            rates = [s["rate"] for s in ss if s["rate"] is not None]
            rng = f"{fmt_rate(min(rates))}..{fmt_rate(max(rates))}" if rates else "n/a"
            vb = fmt_range_x(paired(by_round[c], by_round.get("bare", {}))) if c != "bare" else ""
            ve = (fmt_range_x(paired(by_round[c], by_round["empty-hook"]))
                  if c not in ("bare", "empty-hook") and "empty-hook" in by_round else "")
            out.append(f"| {w} | {c} | {len(rates)} | {fmt_rate(med(rates))} | {rng} | {vb} | {ve} |")
    out.append("")
    out.append(f"### kestrel (default rules) during those runs ({cpu})\n")
    out.append("Per sample from loadgen's reconciliation (loops: from the metrics scrape); "
               "medians over rounds. Latency and RSS from the metrics scrape taken after the "
               "workload (kernel timestamp to event processed, over the daemon's whole life: it is "
               "started fresh for each sample).\n")
    out.append("CPU s per M events: over the events the daemon processed (when at least 10 K/s "
               "flowed); per M issued: over the traced syscalls the load generator issued (when at "
               "least 1 K/s), whether they reached userspace or the kernel filter kept them out.\n")
    out.append(f"| workload ({cpu}) | dropped (sum; by CPU) | reconciled | CPU s per M events | CPU s per M issued | CPU (share of one core) | event latency p50 / p99 / p99.9 | RSS |")
    out.append("|---|---|---|---|---|---|---|---|")
    for w, conds in res.items():
        ss = conds.get("kestrel")
        if not ss:
            continue
        drops = [s["dropped"] for s in ss if s["dropped"] is not None]
        passed = [s["passed"] for s in ss if s["passed"] is not None]
        cpu_m = med([s["cpu_per_m"] for s in ss])
        cpu_mi = med([s.get("cpu_per_m_issued") for s in ss])
        lats = [s["lat"] for s in ss if s["lat"]]
        lat = " / ".join(fmt_ns(med([l.get(k) for l in lats])) for k in ("p50", "p99", "p999")) if lats else "n/a"
        rss = med([s["rss"] for s in ss])
        share = med([s["share"] for s in ss])
        by = "; ".join(f"{os.path.basename(s['file']).split('-')[0]}: {b}"
                       for s in ss for b in [drops_by_cpu(s["metrics"])] if b)
        out.append(f"| {w} | {sum(drops) if drops else 'n/a'}{f' ({by})' if by else ''} | "
                   f"{f'{sum(1 for p in passed if p)}/{len(passed)}' if passed else 'n/a'} | "
                   f"{f'{cpu_m:.3f}' if cpu_m is not None else 'n/a'} | "
                   f"{f'{cpu_mi:.3f}' if cpu_mi is not None else 'n/a'} | "
                   f"{f'{share:.2f}' if share is not None else 'n/a'} | {lat} | "
                   f"{f'{rss / 2**20:.0f} MiB' if rss else 'n/a'} |")
    out.append("")
    return res


def settings(run):
    """The suite's settings line of env.txt as a dict."""
    v = env_value(read_env(run), "settings")
    if not v:
        return {}
    return dict(kv.split("=", 1) for kv in v.split() if "=" in kv)


def zd_order(names):
    known = list(ZD_REFS) + [f"{r}-{l}" for l in ZD_LOADS for r in ZD_RULES]
    return [n for n in known if n in names] + sorted(n for n in names if n not in known)


def zd_label(cfg):
    if cfg == "bare-1t":
        return "bare, 1 pinned thread (no kestrel)"
    if cfg == "bare-2t":
        return "bare, 2 pinned threads (no kestrel)"
    if cfg == "probe-1t":
        return "kestrel's probe alone + bare drain thread, 1 pinned thread"
    rules, _, load = cfg.partition("-")
    return f"{ZD_RULES_LABEL.get(rules, rules)}, {ZD_LOAD_LABEL.get(load, load)}"


def hold_counters(path):
    """seen/sent/dropped/drained printed by overhead_hold at the end."""
    try:
        text = open(path).read()
    except OSError:
        return None
    m = re.search(r"seen=(\d+) sent=(\d+) dropped=(\d+) drained=(\d+)", text)
    return {k: int(v) for k, v in zip(("seen", "sent", "dropped", "drained"), m.groups())} if m else None


def zd_reference(d):
    """A repeated reference: every loadgen report in the folder."""
    runs = []
    for js in sorted(glob.glob(os.path.join(d, "*.json"))):
        j = load_json(js)
        if not j or not j.get("rate_per_s"):
            continue
        ev = j["issued"] / j["duration_s"] if j.get("issued") and j.get("duration_s") else None
        hold = hold_counters(js[:-len(".json")] + ".hold.log")
        runs.append({"rate": j["rate_per_s"], "events": ev, "hold": hold, "file": js,
                     "duration": j.get("duration_s")})
    if not runs:
        return None
    rates = [r["rate"] for r in runs]
    return {"runs": runs, "rate": med(rates), "min": min(rates), "max": max(rates),
            "events": med([r["events"] for r in runs]),
            "hold_dropped": sum((r["hold"] or {}).get("dropped", 0) for r in runs)}


def zd_attempt_info(run, d, row):
    """Everything reported about one zero-drop attempt."""
    js = glob.glob(os.path.join(d, f"a{row[0]}-*.json"))
    if not js:
        return None
    js = sorted(js)[0]
    stem = js[:-len(".json")]
    j = load_json(js) or {}
    dm = j.get("daemon") or {}
    before = prom(stem + ".metrics.before.prom.gz") or {}
    final = prom(stem + ".metrics.prom.gz") or {}
    info = {"attempt": row[0], "target": row[1], "secs": row[2], "verdict": row[3],
            "rate": j.get("rate_per_s"), "file": os.path.relpath(js, run), "json": j}
    dur = j.get("duration_s")
    info["events"] = j["issued"] / dur if j.get("issued") and dur else None
    info["processed_s"] = dm["events_processed"] / dur if dm.get("events_processed") and dur else None
    info["window_dropped"] = j.get("dropped")
    info["passed"] = j.get("passed")
    info["lost"] = j.get("lost")

    def delta(name, **lab):
        if not final or not prom_has(final, name):
            return None
        return prom_sum(final, name, **lab) - (prom_sum(before, name, **lab) if before else 0)

    info["attempt_dropped"] = (sum(delta(n) or 0 for n in DROP_METRICS)
                               if final and prom_has(final, DROP_METRICS[0]) else None)
    # CPU per event over loadgen's window: its baseline and final scrapes
    # bracket the load (the suite's own first scrape can fall while the
    # daemon is still seeding its process table); over the suite's scrapes
    # when loadgen has no daemon figures.
    cpu = delta("kestrel_process_cpu_seconds_total")
    processed = delta("kestrel_worker_events_processed_total")
    if dm.get("events_processed") and dm.get("cpu_seconds") is not None:
        info["cpu_m"] = dm["cpu_seconds"] / dm["events_processed"] * 1e6
        info["cpu_m_src"] = "loadgen window"
    elif cpu is not None and processed:
        info["cpu_m"] = cpu / processed * 1e6
        info["cpu_m_src"] = "attempt scrapes"
    else:
        info["cpu_m"] = None
    # Per million traced syscalls the load issued: the daemon's cost per
    # event of the workload, whether the event reached userspace or the
    # kernel filter kept it out (before the filter, every one was processed).
    info["cpu_m_issued"] = (dm["cpu_seconds"] / j["issued"] * 1e6
                            if dm.get("cpu_seconds") is not None and j.get("issued") else None)
    info["share"] = dm.get("cpu_share_of_one_core")
    info["event_lat"] = quantiles_ns(final, "kestrel_event_latency_seconds") or dm.get("event_latency_ns")
    info["alert_lat"] = quantiles_ns(final, "kestrel_alert_latency_seconds") or dm.get("alert_latency_ns")
    info["lat_src"] = "final scrape" if final else "loadgen's last scrape"
    info["alerts"] = int(prom_sum(final, "kestrel_alerts_total")) if final else None
    info["rss"] = (prom_sum(final, "kestrel_process_resident_memory_bytes")
                   if final and prom_has(final, "kestrel_process_resident_memory_bytes") else dm.get("rss_bytes"))
    info["seen"] = delta("kestrel_kernel_events_seen_total")
    info["sent"] = delta("kestrel_kernel_events_sent_total")
    info["filtered"] = delta("kestrel_kernel_events_filtered_total")
    if info["filtered"] is not None:
        fb = prom_by(final, "kestrel_kernel_events_filtered_total", "event_type")
        bb = prom_by(before, "kestrel_kernel_events_filtered_total", "event_type") if before else {}
        info["filtered_by"] = {k: v - bb.get(k, 0) for k, v in fb.items() if v - bb.get(k, 0) > 0}
    info["reloads_ok"] = delta("kestrel_reloads_total", result="ok")
    info["reloads_failed"] = delta("kestrel_reloads_total", result="failed")
    hups = stem + ".hups.tsv"
    info["hups"] = (sum(1 for l in open(hups) if l.strip()) if os.path.exists(hups) else None)
    info["drops_by_cpu"] = drops_by_cpu(stem + ".metrics.prom.gz")
    return info


def zero_drop_section(run, out, cpu):
    base = os.path.join(run, "zero-drop")
    full = settings(run).get("zd_duration", "60")
    if not os.path.isdir(base):
        return {}
    res = {"_full": full}
    names = [n for n in os.listdir(base) if os.path.isdir(os.path.join(base, n))]
    cfgs = zd_order(names)
    out.append(f"## Zero drops: `open`, {full} s, with a 100/s alert side load ({cpu})\n")
    out.append("An `open` operation is two traced syscalls (openat, close); syscalls/s counts every "
               "syscall the load generator issued in its window. A run passes when no event was "
               "dropped (kernel reserve failures, deferral overflow, decode errors) and every traced "
               "syscall of the load generator was observed (exact reconciliation). Flat out first; "
               "after a drop the rate steps down. A fresh daemon per attempt. References (bare, probe "
               "alone) are the same load without the daemon, repeated: median (min..max).\n")

    # References.
    refs = [c for c in cfgs if c in ZD_REFS or c.startswith(("bare-", "probe-"))]
    if refs:
        out.append(f"| reference ({cpu}) | runs | ops/s: median (min..max) | syscalls/s (median) | notes |")
        out.append("|---|---|---|---|---|")
    for cfg in refs:
        r = zd_reference(os.path.join(base, cfg))
        res[cfg] = r
        if not r:
            out.append(f"| {zd_label(cfg)} | 0 | n/a | n/a | no report |")
            continue
        secs = {f"{x['duration']:.0f} s" for x in r["runs"] if x.get("duration")}
        notes = [f"{', '.join(sorted(secs))} each"] if secs else []
        if len(r["runs"]) < 2:
            notes.append("single run: no spread")
        if cfg.startswith("probe-"):
            held = [x["hold"] for x in r["runs"] if x["hold"]]
            notes.append(f"probe dropped {r['hold_dropped']} records in {len(held)} runs"
                         if held else "probe counters not recorded")
        out.append(f"| {zd_label(cfg)} | {len(r['runs'])} | **{fmt_rate(r['rate'])}** "
                   f"({fmt_rate(r['min'])}..{fmt_rate(r['max'])}) | {fmt_rate(r['events'])} | {'; '.join(notes)} |")
    if refs:
        out.append("")

    kcfgs = [c for c in cfgs if c not in refs]
    infos = {}
    for cfg in kcfgs:
        t = os.path.join(base, cfg, "attempts.tsv")
        if not os.path.exists(t):
            continue
        rows = [l.rstrip("\n").split("\t") for l in open(t)][1:]
        rows = [r for r in rows if len(r) >= 5]
        atts = [zd_attempt_info(run, os.path.join(base, cfg), r) for r in rows]
        atts = [a for a in atts if a]
        best = None
        for a in atts:
            if a["verdict"] == "pass" and a["secs"] == full:
                best = a
        first = atts[0] if atts else None
        flat = bool(first and first["target"] == "max" and first["verdict"] == "pass" and first["secs"] == full)
        infos[cfg] = {"attempts": atts, "best": best, "flat": flat,
                      "shown": best or first, "rules": cfg.split("-", 1)[0], "load": cfg.split("-", 1)[-1]}
    res.update(infos)
    if not infos:
        return res

    def ref_for(cfg, kind):
        load = cfg.split("-", 1)[-1]
        threads = load.split("-")[0]  # 1t, 2t
        return res.get(f"{kind}-{threads}")

    out.append(f"### Rate ({cpu})\n")
    out.append("Highest rate sustained for the full duration with zero drops. *vs probe alone*: "
               "that rate over the median rate of the same load under kestrel's probe alone with a "
               f"bare drain thread (goal ≥ {GOAL_PROBE_RATIO}x, 1-thread loads). *vs bare*: over the "
               "median bare rate. Verdict: zero drops flat out for the full duration.\n")
    out.append(f"| configuration ({cpu}) | attempts: target (s) → result at achieved ops/s | zero-drop ops/s (syscalls/s) | "
               "events processed/s | vs probe alone | vs bare | zero drops flat out |")
    out.append("|---|---|---|---|---|---|---|")
    for cfg, i in infos.items():
        att = "; ".join(f"{a['target']} ({a['secs']} s) → {a['verdict']} {fmt_rate(a['rate'])}"
                        + (f" (drops {a['drops_by_cpu']})" if a["drops_by_cpu"] else "") for a in i["attempts"])
        b = i["best"]
        probe = ref_for(cfg, "probe")
        bare = ref_for(cfg, "bare")
        vp = fmt_x(b["rate"] / probe["rate"]) if b and probe and b.get("rate") else ("n/a" if not probe else "no zero-drop rate")
        vb = fmt_x(b["rate"] / bare["rate"]) if b and bare and b.get("rate") else ("n/a" if not bare else "no zero-drop rate")
        i["vs_probe"] = b["rate"] / probe["rate"] if b and probe and b.get("rate") else None
        i["vs_bare"] = b["rate"] / bare["rate"] if b and bare and b.get("rate") else None
        rate = f"**{fmt_rate(b['rate'])}** ({fmt_rate(b['events'])})" if b else "none found"
        out.append(f"| {cfg}: {zd_label(cfg)} | {att} | {rate} | {fmt_rate(b['processed_s']) if b else 'n/a'} | "
                   f"{vp} | {vb} | **{verdict(i['flat'])}** |")
    out.append("")

    out.append(f"### Cost and latency ({cpu})\n")
    out.append("Of the zero-drop run above (or, when there is none, of the first attempt, marked). "
               "Drops: reconciled over loadgen's window / whole attempt from the metrics scrapes "
               "before and after. CPU s per M events: increase of `kestrel_process_cpu_seconds_total` "
               "over the increase of events processed (`kestrel_worker_events_processed_total`) "
               "between loadgen's baseline and final scrapes, which bracket the load; *per M issued*: the same CPU "
               "over the traced syscalls the load generator issued (events that reached userspace or that the "
               "kernel filter kept out: the cost per event of the workload). Latency quantiles (kernel timestamp to event processed / to alert), "
               "alerts and RSS: the final scrape, after the load and the alert side load ended "
               "(cumulative over the daemon's life, which is the attempt).\n")
    out.append(f"| configuration ({cpu}) | attempt | drops (window / attempt) | reconciled | CPU s per M events processed | "
               "CPU s per M issued | kestrel CPU (share of one core) | event latency p50 / p99 / p99.9 | alert latency p50 / p99 / p99.9 (alerts) | "
               "RSS | SIGHUP reloads ok / failed (sent) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for cfg, i in infos.items():
        a = i["shown"]
        if not a:
            out.append(f"| {cfg} | none | | | | | | | | | |")
            continue
        which = f"a{a['attempt']}" + ("" if a is i["best"] else " (no zero-drop run)")
        wd = a["window_dropped"]
        ad = a["attempt_dropped"]
        rec = "yes" if a["passed"] else ("no" if a["passed"] is False else "n/a")
        hup = (f"{int(a['reloads_ok'] or 0)} / {int(a['reloads_failed'] or 0)} ({a['hups']})"
               if a.get("hups") is not None else "")
        # Per million processed events only means something when events
        # flow (the kernel filter can leave a few hundred per second).
        few = a.get("processed_s") is not None and a["processed_s"] < 10_000
        cpu_m = ("n/a (few events)" if few else f"{a['cpu_m']:.3f}") if a["cpu_m"] is not None else "n/a"
        cpu_mi = f"{a['cpu_m_issued']:.3f}" if a.get("cpu_m_issued") is not None else "n/a"
        share = f"{a['share']:.2f}" if a["share"] is not None else "n/a"
        rss = f"{a['rss'] / 2**20:.0f} MiB" if a["rss"] else "n/a"
        alerts = a["alerts"] if a["alerts"] is not None else "n/a"
        alat = fmt_lat(a["alert_lat"]) if a["alerts"] else "no alerts"
        out.append(f"| {cfg} | {which} | {wd if wd is not None else 'n/a'} / {int(ad) if ad is not None else 'n/a'} | "
                   f"{rec} | {cpu_m} | {cpu_mi} | {share} | {fmt_lat(a['event_lat'])} | {alat} ({alerts}) | {rss} | {hup} |")
    out.append("")

    out.append(f"### Kernel events: seen, sent, filtered ({cpu})\n")
    out.append("Increase over the attempt (scrape after start-up to final scrape), all CPUs. *filtered*: "
               "`kestrel_kernel_events_filtered_total`, events the rule-derived kernel filter kept out "
               "of the ring; n/a when the daemon does not export it.\n")
    out.append(f"| configuration ({cpu}) | seen | sent | filtered | filtered by event type | sent / seen |")
    out.append("|---|---|---|---|---|---|")
    for cfg, i in infos.items():
        a = i["shown"]
        if not a:
            continue
        fb = a.get("filtered_by") or {}
        top = ", ".join(f"{k} {int(v)}" for k, v in sorted(fb.items(), key=lambda kv: -kv[1])[:5])
        n = lambda v: f"{int(v):,}" if v is not None else "n/a"
        share = f"{a['sent'] / a['seen']:.3f}" if a["seen"] and a["sent"] is not None else "n/a"
        out.append(f"| {cfg} | {n(a['seen'])} | {n(a['sent'])} | {n(a['filtered'])} | "
                   f"{top if a['filtered'] is not None else 'n/a'} | {share} |")
    out.append("")
    return res


KF_RULES = ["default", "stable"]
KF_RULES_LABEL = {"default": "default", "stable": "Falco stable"}


def kfilter_sample(run, js):
    """One kfilter sample: loadgen's report and the kernel counters over the
    sample (scrape after start-up to scrape after the load)."""
    stem = js[:-len(".json")]
    j = load_json(js) or {}
    before = prom(stem + ".metrics.before.prom.gz") or {}
    after = prom(stem + ".metrics.prom.gz") or {}

    def delta(name):
        if not after or not prom_has(after, name):
            return None
        return prom_sum(after, name) - (prom_sum(before, name) if before else 0)

    s = {"file": os.path.relpath(js, run), "ops": j.get("ops"), "issued": j.get("issued"),
         "observed": j.get("observed"), "own_filtered": j.get("filtered_by_kernel_filter"),
         "passed": j.get("passed"), "window_dropped": j.get("dropped"), "lost": j.get("lost"),
         "surplus": j.get("surplus"), "scraped": bool(after and before),
         "seen": delta("kestrel_kernel_events_seen_total"),
         "sent": delta("kestrel_kernel_events_sent_total"),
         "filtered": delta("kestrel_kernel_events_filtered_total"),
         "dropped": (sum(delta(n) or 0 for n in DROP_METRICS)
                     if after and prom_has(after, DROP_METRICS[0]) else None),
         "filtered_by": {}}
    if s["filtered"] is not None:
        fa = prom_by(after, "kestrel_kernel_events_filtered_total", "event_type")
        fb = prom_by(before, "kestrel_kernel_events_filtered_total", "event_type") if before else {}
        s["filtered_by"] = {k: v - fb.get(k, 0) for k, v in fa.items() if v - fb.get(k, 0) > 0}
    return s


def kfilter_section(run, out, cpu):
    base = os.path.join(run, "kfilter")
    if not os.path.isdir(base):
        return {}
    res = {}
    for rules in sorted(os.listdir(base)):
        for w in sorted(os.listdir(os.path.join(base, rules)) if os.path.isdir(os.path.join(base, rules)) else []):
            js = sorted(glob.glob(os.path.join(base, rules, w, "*.json")))
            if js:
                res[(w, rules)] = kfilter_sample(run, js[0])
    if not res:
        return res
    secs = settings(run).get("kf_duration")
    ws = [w for w in WORKLOADS if any(k[0] == w for k in res)] + sorted({k[0] for k in res} - set(WORKLOADS))
    rs = [r for r in KF_RULES if any(k[1] == r for k in res)] + sorted({k[1] for k in res} - set(KF_RULES))
    out.append(f"## Kernel filter: events seen vs sent per scenario ({cpu})\n")
    out.append(f"Each loadgen scenario flat out on one pinned thread{f' for {secs} s' if secs else ''} under a fresh "
               "daemon with the default rules or Falco's stable rules; one sample each. Kernel counters: "
               "increase between a scrape after the daemon's start-up and one after the load, all CPUs "
               "and all processes (not just the load generator). The probe counts an event as *seen* "
               "only once it passed the interest filter (seen = sent + dropped); *filtered* "
               "(`kestrel_kernel_events_filtered_total`) are the events the rule-derived filter kept out "
               "of the ring, so the events of traced types the kernel handled are seen + filtered and "
               "*into ring* = sent / (seen + filtered). Ops: the load generator's operations "
               "(its reconciled traced syscalls in parentheses: its own, and its children's execve). "
               "*loadgen filtered*: of those, the ones the filter removed (counted per process in the "
               "kernel, so the reconciliation stays exact); *reconciled*: loadgen's verdict (every traced syscall "
               "observed exactly once, no drop). Dropped: loadgen's window / the whole sample "
               "(kernel reserve failures, deferral overflows, decode errors).\n")
    out.append(f"| scenario ({cpu}) | rules | ops (traced syscalls) | seen | sent | filtered | sent / seen | "
               "into ring: sent / (seen + filtered) | filtered by event type (top 5) | loadgen filtered | "
               "reconciled | dropped (window / sample) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    n = lambda v: f"{int(v):,}" if v is not None else "n/a"
    for w in ws:
        for r in rs:
            s = res.get((w, r))
            if not s:
                continue
            top = ", ".join(f"{k} {int(v):,}" for k, v in
                            sorted(s["filtered_by"].items(), key=lambda kv: -kv[1])[:5])
            if s["filtered"] is None:
                top = "n/a"
            ratio = f"{s['sent'] / s['seen']:.3f}" if s["seen"] and s["sent"] is not None else "n/a"
            tot = (s["seen"] or 0) + (s["filtered"] or 0)
            into = (f"{s['sent'] / tot:.3f}" if s["sent"] is not None and s["filtered"] is not None and tot
                    else "n/a")
            own = (f"{n(s['own_filtered'])} of {n(s['observed'])}" if s["own_filtered"] is not None else "n/a")
            rec = "yes" if s["passed"] else ("no" if s["passed"] is False else "n/a")
            if s["passed"] is False and (s["lost"] or s["surplus"]):
                rec += f" (lost {n(s['lost'])}, surplus {n(s['surplus'])})"
            out.append(f"| {w} | {KF_RULES_LABEL.get(r, r)} | {n(s['ops'])} ({n(s['issued'])}) | {n(s['seen'])} | "
                       f"{n(s['sent'])} | {n(s['filtered'])} | {ratio} | {into} | {top or 'none'} | {own} | "
                       f"{rec} | {n(s['window_dropped'])} / {n(s['dropped'])} |")
    out.append("")
    return res


def goals(out, ratios, zd, po, cpu):
    out.append(f"## Goals ({cpu})\n")
    out.append("Every verdict below is computed by perf/summarize.py from the figure next to it; "
               "quote it as is.\n")
    out.append(f"| goal ({cpu}) | measured | verdict |")
    out.append("|---|---|---|")
    full = zd.get("_full", "60")

    for cfg in [c for c in zd if not c.startswith("_") and isinstance(zd.get(c), dict) and "flat" in zd[c]]:
        i = zd[cfg]
        b = i["best"]
        if b:
            ev = f" ({fmt_rate(b['events'])} syscalls)" if b.get("events") else ""
            m = (f"{fmt_rate(b['rate'])} operations{ev} for {full} s with zero drops"
                 + (" (flat out)" if i["flat"] else " (after stepping down from flat out)"))
        else:
            m = "no zero-drop rate found"
        wl = "iouring" if cfg.endswith("-uring") else "open"
        out.append(f"| zero drops for {full} s flat out, `{wl}`, {zd_label(cfg)} | {m} | {verdict(i['flat'])} |")
        if cfg.endswith("-uring"):
            # io_uring loads: the zero-drop verdict only (the CPU and
            # latency goals are defined on the open load).
            continue
        if cfg.endswith("-1t"):
            probe = zd.get("probe-1t")
            if not probe:
                out.append(f"| ... rate ≥ {GOAL_PROBE_RATIO}x of the same load under the probe alone ({cfg}) | "
                           "no probe-1t reference in this run | n/a |")
            else:
                v = i.get("vs_probe")
                m = (f"{fmt_x(v)}: {fmt_rate(b['rate'])} against {fmt_rate(probe['rate'])} (median of "
                     f"{len(probe['runs'])} probe-alone runs, {fmt_rate(probe['min'])}..{fmt_rate(probe['max'])})"
                     if v is not None else "no zero-drop rate")
                out.append(f"| ... rate ≥ {GOAL_PROBE_RATIO}x of the same load under the probe alone ({cfg}) | {m} | "
                           f"{verdict(v >= GOAL_PROBE_RATIO if v is not None else False)} |")
        lim = GOAL_CPU_PER_M.get(i["rules"])
        if lim is not None and not i["load"].endswith("hup"):
            a = i["shown"]
            v = a.get("cpu_m_issued") if a else None
            out.append(f"| daemon CPU s per M traced syscalls of the load ≤ {lim:.2f} ({cfg}) | "
                       f"{f'{v:.3f}' if v is not None else 'n/a'}{'' if a is b else ' (attempt with drops)'} | "
                       f"{verdict(v <= lim if v is not None else None)} |")
        if i["rules"] == "default" and not i["load"].endswith("hup") and b:
            if b["alerts"]:
                p99 = (b["alert_lat"] or {}).get("p99")
                out.append(f"| kernel→alert latency p99 < 1 ms at that rate ({cfg}, final scrape) | "
                           f"{fmt_ns(p99)} ({b['alerts']} alerts) | "
                           f"{verdict(p99 < GOAL_ALERT_P99_NS if p99 is not None else None)} |")
            else:
                out.append(f"| kernel→alert latency p99 < 1 ms at that rate ({cfg}) | no alerts recorded | n/a |")

    b1 = (zd.get("default-1t") or {}).get("best")
    bare = zd.get("bare-1t")
    if b1 and b1.get("events") and bare and bare.get("events"):
        v = b1["events"] / bare["events"]
        out.append(f"| default rules, 1 thread: zero drops at the whole rate one core can issue bare (≥ 0.95x) | "
                   f"{fmt_rate(b1['events'])} syscalls = {v:.2f}x of the {fmt_rate(bare['events'])} syscalls "
                   f"one core issues bare (median of {len(bare['runs'])} run(s)) | {verdict(v >= 0.95)} |")
    b2 = (zd.get("default-2t") or {}).get("best")
    bare2 = zd.get("bare-2t")
    if b2 and b2.get("events"):
        rel = (f" = {b2['events'] / bare2['events']:.2f}x of the {fmt_rate(bare2['events'])} syscalls two cores "
               f"issue bare (median of {len(bare2['runs'])} run(s))" if bare2 and bare2.get("events") else "")
        out.append(f"| default rules, 2 threads: rate reached with both cores saturated | {fmt_rate(b2['events'])} syscalls{rel} | info |")

    def ratio(w, c, ref):
        ss = ratios.get(w, {})
        a = {s["round"]: s["rate"] for s in ss.get(c, []) if s["rate"]}
        r = {s["round"]: s["rate"] for s in ss.get(ref, []) if s["rate"]}
        xs = paired(a, r)
        return (med(xs), xs) if xs else (None, [])

    for w in ("getppid-loop", "getppid"):
        v, xs = ratio(w, "kestrel", "empty-hook")
        if v is not None:
            out.append(f"| `{w}` under kestrel ≥ 0.95x of the empty tp_btf hook (paired per round) | "
                       f"{fmt_range_x(xs)} | {verdict(v >= 0.95)} |")
    if po.get("getppid_vs_empty") is not None:
        v = po["getppid_vs_empty"]
        out.append(f"| getppid under kestrel's probe ≥ 0.95x of the empty hook (probe-overhead, {po['how']}) | "
                   f"{po.get('getppid_vs_empty_text', fmt_x(v))} | {verdict(v >= 0.95)} |")
    for w in ("openclose-loop", "open"):
        v, xs = ratio(w, "kestrel", "bare")
        if v is not None:
            out.append(f"| `{w}` under kestrel ≥ 0.75x of bare (paired per round) | {fmt_range_x(xs)} | {verdict(v >= 0.75)} |")
    if po.get("open_vs_bare") is not None:
        v = po["open_vs_bare"]
        out.append(f"| openat+close under kestrel's probe ≥ 0.75x of bare (probe-overhead, {po['how']}) | "
                   f"{po.get('open_vs_bare_text', fmt_x(v))} | {verdict(v >= 0.75)} |")
    out.append("")


def probe_overhead(run, out, cpu):
    d = os.path.join(run, "probe-overhead")
    if not os.path.isdir(d):
        return {}
    out.append(f"## Probe overhead (perf/probe-overhead/run.sh) ({cpu})\n")
    # The last attempt that has raw rounds (an attempt is retried once).
    raws = [f for f in sorted(glob.glob(os.path.join(d, "attempt*", "raw.csv")))]
    rows, src = [], None
    for f in raws:
        rs = [l.strip().split(",") for l in open(f)][1:]
        rs = [r for r in rs if len(r) == 4]
        if rs:
            rows, src = rs, f
    sums = sorted(glob.glob(os.path.join(d, "attempt*", "summary.txt")))
    res = {}
    if rows:
        ns = {}
        for r in rows:
            try:
                ns.setdefault((r[1], r[2]), {})[int(r[0])] = float(r[3])
            except ValueError:
                pass
        done = {}
        for (mode, loop), v in ns.items():
            done.setdefault(loop, set()).update(v)
        if not sums:
            out.append("perf/probe-overhead/run.sh failed in every attempt (see its output in logs); "
                       "the rounds that completed:\n")
        out.append(f"From `{os.path.relpath(src, run)}` ({max(len(v) for v in ns.values())} rounds). ns per "
                   "operation: median (min..max). Ratios are throughput ratios paired per round "
                   "(reference ns / mode ns within the round): median (min..max).\n")
        out.append(f"| loop ({cpu}) | bare ns | empty hook ns | kestrel probe ns | probe vs empty hook (paired) | probe vs bare (paired) | empty hook vs bare (paired) |")
        out.append("|---|---|---|---|---|---|---|")
        for loop in ("getppid", "openclose"):
            b, e, k = (ns.get((m, loop), {}) for m in ("bare", "empty", "kestrel"))
            if not (b and e and k):
                continue
            cell = lambda v: f"{med(v.values()):.1f} ({min(v.values()):.1f}..{max(v.values()):.1f})"
            ke, kb, eb = paired(e, k), paired(b, k), paired(b, e)
            out.append(f"| {loop} | {cell(b)} | {cell(e)} | {cell(k)} | {fmt_range_x(ke)} | {fmt_range_x(kb)} | {fmt_range_x(eb)} |")
            if loop == "getppid" and ke:
                res["getppid_vs_empty"], res["getppid_vs_empty_text"] = med(ke), fmt_range_x(ke)
            if loop == "openclose" and kb:
                res["open_vs_bare"], res["open_vs_bare_text"] = med(kb), fmt_range_x(kb)
        res["how"] = "paired per round"
        out.append("")
    if sums:
        text = open(sums[-1]).read()
        out.append(f"The script's own summary, `{os.path.relpath(sums[-1], run)}`:\n")
        out.append("```")
        out.append(text.rstrip())
        out.append("```\n")
        if not res:
            m = re.search(r"getppid under kestrel >= 0.95x of the empty hook:\s+([0-9.]+)x", text)
            if m:
                res["getppid_vs_empty"] = float(m.group(1))
            m = re.search(r"traced openat\+close >= 0.75x of bare:\s+([0-9.]+)x", text)
            if m:
                res["open_vs_bare"] = float(m.group(1))
            res["how"] = "its summary.txt"
    return res


def audit_residue(run, out, cpu):
    p = os.path.join(run, "audit-residue.txt")
    if not os.path.exists(p):
        return
    rows = [l.split() for l in open(p) if l.strip() and not l.startswith("#")]
    armed = med([float(r[1]) for r in rows])
    clean = med([float(r[2]) for r in rows])
    if armed is None or clean is None:
        return
    out.append(f"## Audit residue ({cpu})\n")
    out.append(f"getppid loop after auditd ran, auditing disabled and no rules: {armed:.1f} ns "
               f"per call with new processes armed for syscall auditing, {clean:.1f} ns with a "
               f"`never,task` rule ({len(rows)} rounds, medians; audit-residue.txt; {cpu}).\n")


def criterion(run, out, cpu):
    p = os.path.join(run, "criterion.txt")
    if not os.path.exists(p):
        return
    out.append(f"## Criterion engine benches ({cpu})\n")
    out.append("`cargo bench -p kestrel --bench engine_match --bench engine_compile` "
               f"(time and throughput lines as printed; measured on {cpu}):\n")
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
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 2)
    run = sys.argv[1].rstrip("/")
    cpu = cpu_label(run)
    out = [f"# kestrel benchmark run {os.path.basename(run)} — {cpu}\n"]
    lines = read_env(run)
    if lines:
        pick = [l for l in lines if l.split(":")[0] in
                ("date", "commit", "perf scripts", "noisy", "waited_for_quiet_min", "settings", "cpu_model",
                 "cpu_model_note", "cpus", "hypervisor", "kernel", "loadavg at start", "loadavg at end")
                or l.startswith("correction")]
        mdl = [l for l in lines if l.startswith("Model name") and not env_value(lines, "cpu_model")]
        out.append("```")
        out.extend(pick + mdl)
        out.append("```\n")
        out.append(f"Every figure below was measured on **{cpu}**; results depend on the CPU.\n")
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
    po = probe_overhead(run, out, cpu)
    ratios = ratio_section(run, out, cpu)
    audit_residue(run, out, cpu)
    kfilter_section(run, out, cpu)
    zd = zero_drop_section(run, out, cpu)
    criterion(run, out, cpu)
    g = []
    goals(g, ratios, zd, po, cpu)
    # Goals first after the header: they are what a reader wants.
    idx = next((i for i, l in enumerate(out) if l.startswith("## ")), len(out))
    # Only when some goal has a figure (a run of the kfilter section alone has none).
    if any(l.startswith("| ") and not l.startswith("| goal") for l in g):
        out[idx:idx] = g
    print("\n".join(out))


if __name__ == "__main__":
    main()
