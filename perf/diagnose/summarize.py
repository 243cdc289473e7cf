#!/usr/bin/env python3
"""summary.md of a perf/diagnose run folder (stdout), from its raw.tsv and
loadgen reports:

    python3 perf/diagnose/summarize.py perf/runs/<stamp>-diagnose > summary.md
"""
import csv, json, os, statistics, sys
out = sys.argv[1].rstrip("/")
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from summarize import cpu_label
cpu = cpu_label(out)
rows = list(csv.DictReader(open(os.path.join(out, "raw.tsv")), delimiter="\t"))
m = statistics.median
def w(s, i):
    v = [int(x.split(":")[1]) for x in s.split()]
    return v[i] if i < len(v) else 0
def lat(x, k):
    try:
        d = json.load(open(os.path.join(out, f"r{x['round']}-{x['variant']}-{x['loop']}.json")))
        return d["daemon"]["event_latency_ns"][k] / 1e3, d["daemon"]["cpu_seconds"] / d["daemon"]["events_processed"] * 1e6
    except Exception:
        return None, None
print(f"# kestrel worker placement and scheduling: {os.path.basename(out)} — {cpu}\n")
print("```\n" + open(os.path.join(out, "env.txt")).read().strip() + "\n```\n")
print(f"Measured on **{cpu}**. Medians over rounds (variants alternated within each round). ops/s: loop iterations (one openat+close, or one getppid) or loadgen "
      "operations per second over all threads; (vs bare): the median of per-round ratios to bare in the same "
      "round, with their min..max. Worker columns per operation; worker 0 reads CPU 0's ring.\n")
print(f"| variant ({cpu}) | workload | ops/s (vs bare) | worker 0 ctx switches/op | worker 0 CPU µs/op | worker 1 CPU µs/op "
      "| kst_sys_exit ns/call | event latency p50 / p99 (µs) | kestrel CPU s per M events | drops (sum) |")
print("|---|---|---|---|---|---|---|---|---|---|")
keys = []
for r in rows:
    if (r["variant"], r["loop"]) not in keys:
        keys.append((r["variant"], r["loop"]))
for k in keys:
    rs = [x for x in rows if (x["variant"], x["loop"]) == k]
    per = lambda f, i: m(w(x[f], i) / max(int(x["ops"]), 1) for x in rs)
    rate = m(1e9 / float(x["ns_per_op"]) for x in rs if float(x["ns_per_op"]) > 0)
    l50 = [lat(x, "p50")[0] for x in rs]
    l99 = [lat(x, "p99")[0] for x in rs]
    cpu = [lat(x, "p50")[1] for x in rs]
    ls = f"{m(l50):.0f} / {m(l99):.0f}" if None not in l50 else ""
    cs = f"{m(cpu):.2f}" if None not in cpu else ""
    bare = [x for x in rows if (x["variant"], x["loop"]) == ("bare", k[1])]
    vs = ""
    if bare and k[0] != "bare":
        # Paired: the variant's rate over bare's in the same round.
        br = {x["round"]: float(x["ns_per_op"]) for x in bare if float(x["ns_per_op"]) > 0}
        xs = [br[x["round"]] / float(x["ns_per_op"]) for x in rs
              if float(x["ns_per_op"]) > 0 and x["round"] in br]
        vs = f" ({m(xs):.3f}x, {min(xs):.3f}..{max(xs):.3f})" if xs else ""
    print(f"| {k[0]} | {k[1]} | {rate / 1e3:.1f} K{vs} | {per('worker_ctxsw', 0):.3f} | {per('worker_cpu_us', 0):.3f} "
          f"| {per('worker_cpu_us', 1):.3f} | {'–' if k[0] == 'bare' or any(not x['bpf_ns_per_call'] for x in rs) else m(int(x['bpf_ns_per_call']) for x in rs)} | {ls} | {cs} "
          f"| {sum(int(x['drops']) for x in rs)} |")
