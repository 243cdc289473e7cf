#!/usr/bin/env python3
"""The statistics of perf/compare (see that script for the method).

    python3 perf/compare.py runs A B [--floor F] [--single-floor F]
    python3 perf/compare.py samples DIR [--floor F]

`runs`: A and B are two run folders of perf/run-suite.sh; their raw tables
(loadgen reports, loop outputs, metrics scrapes, probe-overhead's raw.csv)
are compared metric by metric. `samples`: DIR is the output of a commit
comparison (samples/r<round>-<A|B|A2>.json and scrapes); writes DIR/raw.tsv.

Prints a markdown table and exits 1 when a metric regressed beyond the
noise, 0 otherwise (2 on a usage error).
"""

import glob
import math
import os
import re
import statistics
import sys

# No __pycache__ in the checkout when one script imports another.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promtext import prom, prom_has, prom_sum, quantiles_ns  # noqa: E402
import summarize as S  # noqa: E402

HIGHER = "higher"  # higher is better (throughput)
LOWER = "lower"    # lower is better (CPU per event, latency, RSS, ns per operation)


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "ops/s":
        return S.fmt_rate(v)
    if unit == "ns":
        return S.fmt_ns(v)
    if unit == "MiB":
        return f"{v / 2**20:.1f} MiB"
    if unit == "x":
        return f"{v:.3f}x"
    if unit == "count":
        return f"{v:.0f}"
    return f"{v:.3f}"


def worse(direction, log_ratio):
    """Positive when the change is for the worse."""
    return -log_ratio if direction == HIGHER else log_ratio


def verdict_row(name, direction, unit, a_med, b_med, lr, noise, note=""):
    """lr: log(B / A); noise: as a |log| bound."""
    w = worse(direction, lr) if lr is not None else None
    change = math.exp(lr) - 1 if lr is not None else None
    if w is None or noise is None:
        v = "n/a"
    elif w > noise:
        v = "**REGRESSED**"
    elif w < -noise:
        v = "improved"
    else:
        v = "within noise"
    return {"metric": name, "better": direction, "a": fmt(a_med, unit), "b": fmt(b_med, unit),
            "change": f"{change * 100:+.1f}%" if change is not None else "n/a",
            "noise": f"±{(math.exp(noise) - 1) * 100:.1f}%" if noise is not None else "n/a",
            "verdict": v, "note": note, "regressed": v == "**REGRESSED**"}


def table(rows, cpu, title_a, title_b):
    out = [f"| metric ({cpu}) | better | A: {title_a} | B: {title_b} | B vs A | noise | verdict | notes |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['metric']} | {r['better']} | {r['a']} | {r['b']} | {r['change']} | {r['noise']} | "
                   f"{r['verdict']} | {r['note']} |")
    return out


def pos(xs):
    return [x for x in xs if x is not None and x > 0]


# ------------------------------------------------------------------ samples (commit mode)

def sample_metrics(stem):
    """Metrics of one commit-mode sample: {name: (direction, unit, value)}."""
    j = S.load_json(stem + ".json") or {}
    final = prom(stem + ".metrics.prom.gz") or {}
    dm = j.get("daemon") or {}
    m = {}
    if j.get("rate_per_s"):
        m["throughput (ops/s)"] = (HIGHER, "ops/s", j["rate_per_s"])
    if dm.get("events_processed"):
        m["CPU s per M events"] = (LOWER, "", dm.get("cpu_seconds", 0) / dm["events_processed"] * 1e6)
    ev = quantiles_ns(final, "kestrel_event_latency_seconds") or dm.get("event_latency_ns") or {}
    al = quantiles_ns(final, "kestrel_alert_latency_seconds") or dm.get("alert_latency_ns") or {}
    for k, label in (("p50", "p50"), ("p99", "p99")):
        if ev.get(k):
            m[f"event latency {label}"] = (LOWER, "ns", ev[k])
        if al.get(k):
            m[f"alert latency {label}"] = (LOWER, "ns", al[k])
    if final and prom_has(final, "kestrel_process_resident_memory_bytes"):
        m["RSS"] = (LOWER, "MiB", prom_sum(final, "kestrel_process_resident_memory_bytes"))
    m["_dropped"] = j.get("dropped")
    m["_passed"] = j.get("passed")
    return m


def analyze_samples(d, floor):
    files = sorted(glob.glob(os.path.join(d, "samples", "r*-*.json")))
    by = {}  # (round, slot) -> metrics
    for f in files:
        mm = re.match(r"r(\d+)-(A2|A|B)\.json$", os.path.basename(f))
        if mm:
            by[(int(mm.group(1)), mm.group(2))] = sample_metrics(f[:-len(".json")])
    rounds = sorted({r for r, _ in by})
    control = any(s == "A2" for _, s in by)
    names = []
    for m in by.values():
        for k in m:
            if not k.startswith("_") and k not in names:
                names.append(k)
    # raw.tsv: one row per sample and metric.
    with open(os.path.join(d, "raw.tsv"), "w") as f:
        f.write("round\tslot\tmetric\tvalue\n")
        for (r, s), m in sorted(by.items()):
            for k in names + ["_dropped", "_passed"]:
                v = m.get(k)
                val = v[2] if isinstance(v, tuple) else v
                f.write(f"{r}\t{s}\t{k.lstrip('_')}\t{val}\n")
    rows = []
    floor_l = math.log1p(floor)
    for k in names:
        direction = unit = None
        ratios, controls, a_vals, b_vals = [], [], [], []
        for r in rounds:
            get = lambda s: (by.get((r, s)) or {}).get(k)
            a1, a2, b = get("A"), get("A2"), get("B")
            for x in (a1, a2, b):
                if x:
                    direction, unit = x[0], x[1]
            av = [x[2] for x in (a1, a2) if x and x[2] > 0]
            a_vals += av
            if b and b[2] > 0:
                b_vals.append(b[2])
            if av and b and b[2] > 0:
                ratios.append(math.log(b[2]) - sum(math.log(x) for x in av) / len(av))
            if a1 and a2 and a1[2] > 0 and a2[2] > 0:
                controls.append(math.log(a2[2] / a1[2]))
        if not ratios:
            rows.append(verdict_row(k, direction or "?", unit or "", S.med(a_vals), S.med(b_vals), None, None,
                                    "no paired rounds"))
            continue
        lr = statistics.median(ratios)
        if control and controls:
            noise = max(max(abs(c) for c in controls), floor_l)
            how = f"A-vs-A: largest A2/A1 deviation of {len(controls)} rounds"
        else:
            noise = max(max(abs(x - lr) for x in ratios), floor_l)
            how = f"spread of {len(ratios)} per-round B/A ratios"
        if noise == floor_l:
            how += f" below the floor {floor:.0%}"
        worse_by = [worse(direction, x) > 0 for x in ratios]
        note = f"{how}; B worse in {sum(worse_by)} of {len(ratios)} rounds"
        rows.append(verdict_row(k, direction, unit, S.med(a_vals), S.med(b_vals), lr, noise, note))
    # Drops and reconciliation: absolute, not relative.
    a_bad = [(r, s) for (r, s), m in by.items() if s != "B" and (m.get("_dropped") or m.get("_passed") is False)]
    b_bad = [(r, s) for (r, s), m in by.items() if s == "B" and (m.get("_dropped") or m.get("_passed") is False)]
    a_drops = sum((m.get("_dropped") or 0) for (r, s), m in by.items() if s != "B")
    b_drops = sum((m.get("_dropped") or 0) for (r, s), m in by.items() if s == "B")
    n_a = sum(1 for (_, s) in by if s != "B")
    n_b = sum(1 for (_, s) in by if s == "B")
    v = "**REGRESSED**" if b_bad and not a_bad else ("improved" if a_bad and not b_bad else
                                                       ("within noise" if not b_bad else "n/a (both failed)"))
    rows.append({"metric": "drops / failed reconciliations", "better": LOWER,
                 "a": f"{a_drops} dropped, {len(a_bad)} of {n_a} samples failed",
                 "b": f"{b_drops} dropped, {len(b_bad)} of {n_b} samples failed", "change": "",
                 "noise": "none allowed", "verdict": v, "note": "any drop or lost event in B that no A sample had",
                 "regressed": v == "**REGRESSED**"})
    env = S.read_env(d)
    cpu = S.cpu_label(d)
    out = [f"# perf/compare: {S.env_value(env, 'A') or 'A'} vs {S.env_value(env, 'B') or 'B'} — {cpu}\n", "```"]
    out += [l for l in env if l.split(":")[0] in ("date", "A", "B", "noisy", "settings", "cpu_model", "cpus",
                                                   "hypervisor", "kernel", "loadavg at start", "loadavg at end")]
    out += ["```\n"]
    if S.env_value(env, "noisy") == "1":
        out.append("**NOISY: the machine was busy; the noise estimate covers what it could.**\n")
    out.append(f"Measured on **{cpu}**. {len(rounds)} rounds; in each, samples of A, B"
               f"{' and A again (A2, the control)' if control else ''}, order rotated every round. "
               "A's column: median of its samples; B vs A: median over rounds of B over the round's A "
               "samples (geometric mean); noise: how far two samples of the same build differ within a "
               "round. REGRESSED: B worse than A by more than the noise.\n")
    out += table(rows, cpu, "A", "B")
    return out, rows


# ------------------------------------------------------------------ run folders

def run_metrics(run):
    """{metric: (direction, unit, [samples])} from a suite run folder."""
    m = {}

    def add(name, direction, unit, xs):
        xs = pos(xs)
        if xs:
            m[name] = (direction, unit, xs)

    base = os.path.join(run, "ratio")
    if os.path.isdir(base):
        for w in S.WORKLOADS:
            d = os.path.join(base, w)
            if not os.path.isdir(d):
                continue
            by = {}
            for c in S.CONDS:
                files = sorted(glob.glob(os.path.join(d, f"r*-{c}.json")) + glob.glob(os.path.join(d, f"r*-{c}.txt")))
                files = [f for f in files if not f.endswith((".bpftrace.txt", ".alert_load.txt"))]
                if files:
                    by[c] = [S.sample(run, w, f) for f in files]
            rates = {c: {s["round"]: s["rate"] for s in ss if s["rate"]} for c, ss in by.items()}
            for c in ("kestrel", "kestrel-probe"):
                if c not in by:
                    continue
                add(f"ratio {w}: {c} rate", HIGHER, "ops/s", [s["rate"] for s in by[c]])
                if "bare" in rates:
                    add(f"ratio {w}: {c} vs bare (paired)", HIGHER, "x", S.paired(rates[c], rates["bare"]))
                if "empty-hook" in rates:
                    add(f"ratio {w}: {c} vs empty hook (paired)", HIGHER, "x", S.paired(rates[c], rates["empty-hook"]))
            if "kestrel" in by:
                add(f"ratio {w}: kestrel CPU s per M events", LOWER, "", [s["cpu_per_m"] for s in by["kestrel"]])
                add(f"ratio {w}: kestrel event latency p99", LOWER, "ns",
                    [(s["lat"] or {}).get("p99") for s in by["kestrel"]])
    base = os.path.join(run, "zero-drop")
    if os.path.isdir(base):
        out = []
        zd = S.zero_drop_section(run, out, "")
        for cfg, i in zd.items():
            if cfg.startswith("_") or not isinstance(i, dict):
                continue
            if "runs" in i:  # a reference
                add(f"zero-drop {cfg}: rate", HIGHER, "ops/s", [x["rate"] for x in i["runs"]])
                continue
            b = i.get("best")
            m[f"zero-drop {cfg}: zero drops flat out"] = ("pass", "", [1 if i["flat"] else 0])
            if b:
                add(f"zero-drop {cfg}: zero-drop rate", HIGHER, "ops/s", [b["rate"]])
                add(f"zero-drop {cfg}: CPU s per M events", LOWER, "", [b["cpu_m"]])
                add(f"zero-drop {cfg}: event latency p99", LOWER, "ns", [(b["event_lat"] or {}).get("p99")])
                add(f"zero-drop {cfg}: alert latency p99", LOWER, "ns", [(b["alert_lat"] or {}).get("p99")])
                add(f"zero-drop {cfg}: RSS", LOWER, "MiB", [b["rss"]])
    for f in sorted(glob.glob(os.path.join(run, "probe-overhead", "attempt*", "raw.csv")))[-1:]:
        ns = {}
        for line in list(open(f))[1:]:
            p = line.strip().split(",")
            if len(p) == 4:
                ns.setdefault((p[1], p[2]), {})[int(p[0])] = float(p[3])
        for (mode, loop), v in sorted(ns.items()):
            add(f"probe-overhead {loop}: {mode} ns per op", LOWER, "ns", list(v.values()))
        for loop in ("getppid", "openclose"):
            if ("kestrel", loop) in ns and ("empty", loop) in ns:
                add(f"probe-overhead {loop}: probe vs empty hook (paired)", HIGHER, "x",
                    S.paired(ns[("empty", loop)], ns[("kestrel", loop)]))
            if ("kestrel", loop) in ns and ("bare", loop) in ns:
                add(f"probe-overhead {loop}: probe vs bare (paired)", HIGHER, "x",
                    S.paired(ns[("bare", loop)], ns[("kestrel", loop)]))
    return m


def spread(xs):
    """Largest deviation of one sample from the median, as |log|."""
    md = statistics.median(xs)
    return max(abs(math.log(x / md)) for x in xs)


def analyze_runs(a, b, floor, single_floor):
    ma, mb = run_metrics(a), run_metrics(b)
    rows = []
    for k in [k for k in ma if k in mb] + [k for k in mb if k not in ma]:
        if k not in ma:
            continue
        da, ua, xa = ma[k]
        _, _, xb = mb[k]
        if da == "pass":
            ok_a, ok_b = bool(xa[0]), bool(xb[0])
            v = "**REGRESSED**" if ok_a and not ok_b else ("improved" if ok_b and not ok_a else "same")
            rows.append({"metric": k, "better": "PASS", "a": "PASS" if ok_a else "FAIL", "b": "PASS" if ok_b else "FAIL",
                         "change": "", "noise": "", "verdict": v, "note": "", "regressed": v == "**REGRESSED**"})
            continue
        lr = math.log(statistics.median(xb) / statistics.median(xa))
        parts, single = [], False
        for side, xs in (("A", xa), ("B", xb)):
            if len(xs) >= 2:
                parts.append(spread(xs))
            else:
                single = True
        noise = max(parts + [math.log1p(floor)] + ([math.log1p(single_floor)] if single else []))
        note = (f"{len(xa)} vs {len(xb)} samples" + ("; single sample: noise unknown, floor used" if single else
                                                     "; noise: largest sample deviation from its run's median"))
        rows.append(verdict_row(k, da, ua, statistics.median(xa), statistics.median(xb), lr, noise, note))
    only = sorted(set(ma) ^ set(mb))
    cpu_a, cpu_b = S.cpu_label(a), S.cpu_label(b)
    cpu = cpu_a if cpu_a == cpu_b else f"A: {cpu_a}; B: {cpu_b}"
    out = [f"# perf/compare: {os.path.basename(a.rstrip('/'))} vs {os.path.basename(b.rstrip('/'))} — {cpu}\n"]
    for side, run in (("A", a), ("B", b)):
        env = S.read_env(run)
        out.append(f"- {side}: `{run}`, commit {S.env_value(env, 'commit') or 'not recorded'}, CPU {S.cpu_label(run)}"
                   + (", **noisy run**" if S.env_value(env, "noisy") == "1" else ""))
    out.append("")
    if cpu_a != cpu_b:
        out.append("**The two runs were measured on different CPUs: differences are not regressions of the code.**\n")
    out.append("Two separate runs: the machine's speed may have drifted between them, which no within-run "
               "noise estimate covers; ratios paired within a run (vs bare, vs empty hook) are the robust "
               "figures. Noise: the largest deviation of a sample from its run's median, on either side, "
               f"at least {floor:.0%} ({single_floor:.0%} when a side has one sample).\n")
    out += table(rows, cpu, os.path.basename(a.rstrip("/")), os.path.basename(b.rstrip("/")))
    if only:
        out.append(f"\nIn one run only (not compared): {', '.join(only)}")
    return out, rows


def main():
    args = sys.argv[1:]

    def opt(name, default):
        if name in args:
            i = args.index(name)
            v = float(args[i + 1])
            del args[i:i + 2]
            return v
        return default

    floor = opt("--floor", 0.03)
    single_floor = opt("--single-floor", 0.05)
    if len(args) == 3 and args[0] == "runs":
        out, rows = analyze_runs(args[1], args[2], floor, single_floor)
        if not rows:
            print(f"compare: {args[1]} and {args[2]} have no metric in common (run folders of "
                  "perf/run-suite.sh are expected; a commit comparison is re-read with --analyze)",
                  file=sys.stderr)
            return 2
    elif len(args) == 2 and args[0] == "samples":
        out, rows = analyze_samples(args[1], floor)
    else:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    reg = [r["metric"] for r in rows if r["regressed"]]
    out.append("")
    if reg:
        out.append(f"**Result: REGRESSION** in {len(reg)} metric(s): {', '.join(reg)}.")
    else:
        out.append("**Result: no regression** beyond the measured noise.")
    print("\n".join(out))
    return 1 if reg else 0


if __name__ == "__main__":
    sys.exit(main())
