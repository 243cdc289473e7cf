#!/usr/bin/env python3
"""summary.md of a perf/memory-churn run folder (raw.tsv, peaks.tsv,
durations.tsv, env.txt); exit status 3 when a churn is not back at baseline.

    python3 perf/memory-churn/summarize.py RUN_DIR HEAP_TOL_KIB ANON_TOL_KIB ENTRY_TOL
"""
import csv
import sys


def main():
    out = sys.argv[1]
    heap_tol, anon_tol, entry_tol = (int(a) for a in sys.argv[2:5])
    rows = list(csv.DictReader(open(f"{out}/raw.tsv"), delimiter="\t"))
    peaks = list(csv.DictReader(open(f"{out}/peaks.tsv"), delimiter="\t"))
    durs = dict(l.split("\t") for l in open(f"{out}/durations.tsv").read().splitlines())
    env = dict(l.split(": ", 1) for l in open(f"{out}/env.txt").read().splitlines() if ": " in l)

    def i(r, k):
        return int(r[k]) if r.get(k) not in ("", None) else 0

    def mib(k):
        return f"{k / 1024:.1f}"

    base = rows[0]
    print(f"# Memory churn ({env.get('cpu_model', '?')}, {env.get('cpus', '?')} CPUs, "
          f"hypervisor {env.get('hypervisor', '?')}, shared machine)\n")
    print(f"processes: {env.get('procs', '')}\n")
    print(f"rules: {env.get('rules', '')}; tolerances: {env.get('tolerances', '')}.\n")
    print(f"kestrel: {env.get('kestrel', '?')}\n")
    print(f"others running at start: {env.get('others running at start', '') or 'none'}\n")
    print("| churn | took | baseline RSS / anon (MiB) | peak RSS / anon | settled RSS / anon "
          "| heap baseline → end → settled (MiB) | processes baseline → end → settled "
          "| exited processes evicted during the churn | sockets held → closed → settled "
          "| kernel drops | back at baseline |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ok_all = True
    for churn in ("procs", "files", "sockets"):
        rs = {r["phase"]: r for r in rows if r["churn"] == churn}
        if "settled" not in rs:
            continue
        ps = [p for p in peaks if p["churn"] == churn and p["rss_kib"]]
        b, e, s = rs["before"], rs["end"], rs["settled"]
        peak_rss = max([i(p, "rss_kib") for p in ps] + [i(e, "rss_kib")])
        peak_anon = max([i(p, "rss_anon_kib") for p in ps] + [i(e, "rss_anon_kib")])
        held = rs.get("held", {}).get("sockets", "-")
        closed = rs.get("closed", {}).get("sockets", "-")
        drops = i(s, "kernel_drops") - i(base, "kernel_drops")
        evicted = i(s, "proc_evicted") - i(b, "proc_evicted")
        checks = {
            "heap": i(s, "heap_kib") <= i(base, "heap_kib") + heap_tol,
            "anon": i(s, "rss_anon_kib") <= i(base, "rss_anon_kib") + anon_tol,
            "processes": i(s, "processes") <= i(base, "processes") + entry_tol,
            "sockets": i(s, "sockets") <= i(base, "sockets") + entry_tol,
            "sockets after close": closed == "-" or int(closed) <= i(base, "sockets") + entry_tol,
            "deferred": i(s, "deferred") == 0,
            "drops": drops == 0,
        }
        failed = [k for k, v in checks.items() if not v]
        ok_all &= not failed
        print(f"| {churn} | {durs.get(churn, '?')} s "
              f"| {mib(i(base, 'rss_kib'))} / {mib(i(base, 'rss_anon_kib'))} "
              f"| {mib(peak_rss)} / {mib(peak_anon)} | {mib(i(s, 'rss_kib'))} / {mib(i(s, 'rss_anon_kib'))} "
              f"| {mib(i(base, 'heap_kib'))} → {mib(i(e, 'heap_kib'))} → {mib(i(s, 'heap_kib'))} "
              f"| {base['processes']} → {e['processes']} → {s['processes']} | {evicted} "
              f"| {held} → {closed} → {s['sockets']} "
              f"| {drops} | {'yes' if not failed else 'NO: ' + ', '.join(failed)} |")
    print("\nAll samples (raw.tsv; heap in KiB, table sizes in entries, evictions, "
          "drops and events cumulative; secs from the baseline):\n")
    cols = list(rows[0].keys())
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(r[c] for c in cols) + " |")
    verdict = ("every churn back at baseline within the tolerances" if ok_all
               else "NOT back at baseline (see the last column)")
    print(f"\nResult: {verdict}.")
    return 0 if ok_all else 3


if __name__ == "__main__":
    sys.exit(main())
