#!/usr/bin/env python3
"""Prometheus text format, read properly: label values are quoted and may
hold spaces, commas and escaped quotes (rule names do), so a scrape cannot be
split on whitespace.

As a module (perf/summarize.py, perf/compare, perf/idle): prom(path) parses a
scrape, plain or gzipped, into {(name, frozenset(labels)): value}.

As a command, the sum of the samples of one metric whose labels match:

    python3 perf/promtext.py FILE NAME [label=value ...]

    python3 perf/promtext.py after.prom kestrel_alerts_total
    python3 perf/promtext.py after.prom kestrel_alert_latency_seconds quantile=0.99

prints the sum, or `nan` when no sample matches.
"""

import gzip
import os
import re
import sys


def prom(path):
    """Parses a Prometheus text scrape (optionally gzipped) into
    {(name, frozenset(labels)): value}. Label values are quoted and may hold
    spaces, commas and escaped quotes."""
    if not path:
        return None
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    out = {}
    try:
        with opener(path, "rt") as f:
            for line in f:
                p = parse_prom_line(line)
                if p:
                    out[(p[0], frozenset(p[1].items()))] = p[2]
    except OSError:
        return None
    return out


_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_prom_line(line):
    """One sample line: (name, {label: value}, float) or None."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", line)
    if not m:
        return None
    name, rest = m.group(1), line[m.end():]
    labels = {}
    if rest.startswith("{"):
        rest = rest[1:]
        while True:
            rest = rest.lstrip()
            if rest.startswith("}"):
                rest = rest[1:]
                break
            lm = _LABEL.match(rest)
            if not lm:
                return None
            labels[lm.group(1)] = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), lm.group(2))
            rest = rest[lm.end():]
    parts = rest.split()
    if not parts:
        return None
    try:
        return name, labels, float(parts[0])
    except ValueError:
        return None


def prom_has(p, name):
    return any(n == name for (n, _) in p)


def prom_sum(p, name, **want):
    return sum(v for (n, labels), v in p.items()
               if n == name and all((k, w) in labels for k, w in want.items()))


def prom_q(p, name, q):
    for (n, labels), v in p.items():
        if n == name and ("quantile", q) in labels:
            return v
    return None


def prom_by(p, name, label):
    by = {}
    for (n, labels), v in p.items():
        if n == name:
            k = dict(labels).get(label, "?")
            by[k] = by.get(k, 0) + v
    return by


def quantiles_ns(p, name):
    """p50/p99/p999 of a summary metric in ns, or None when it has none."""
    if not p:
        return None
    q = {k: prom_q(p, name, s) for k, s in (("p50", "0.5"), ("p99", "0.99"), ("p999", "0.999"))}
    if all(v is None for v in q.values()):
        return None
    return {k: (v * 1e9 if v is not None else None) for k, v in q.items()}


def main():
    if len(sys.argv) < 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 2
    p = prom(sys.argv[1])
    if p is None:
        print(f"promtext: cannot read {sys.argv[1]}", file=sys.stderr)
        return 1
    want = dict(a.split("=", 1) for a in sys.argv[3:])
    vals = [v for (n, labels), v in p.items()
            if n == sys.argv[2] and all((k, w) in labels for k, w in want.items())]
    print(repr(sum(vals)) if vals else "nan")
    return 0


if __name__ == "__main__":
    sys.exit(main())
