#!/usr/bin/env bash
# Container churn: N short-lived Docker containers in a row under a kestrel
# daemon with its default rules, and what that leaves behind in the daemon.
# The script starts its own dockerd (own data root, exec root and socket;
# Debian's docker.io, containerd and runc), imports an image made from
# busybox-static, starts kestrel reading that dockerd with the event stream
# on and `evict_after_s` = EVICT (default 5), and records, before the churn,
# every STEP containers, and EVICT+5 s after the last one:
#
#   kestrel's RSS (VmRSS), threads, open file descriptors and Unix sockets;
#   the metadata table (kestrel_container_metadata_entries), lookups,
#   waits, timeouts, stream events and gaps, evictions.
#
# Each container is `docker run --rm --network none IMG cat /etc/shadow`, so
# every one raises a Read Sensitive File alert; the alerts are counted and
# those without container.name or container.image.repository are counted
# apart (metadata missing at the container's first event).
#
#   sudo perf/container-churn/run.sh [containers] [step]
#
# Writes perf/runs/<stamp>-container-churn/ (raw.tsv, summary.md, metrics
# scrapes, logs). Uses the binaries in CARGO_TARGET_DIR (default target/).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../lib.sh"
cd "$REPO_DIR"

N=${1:-1000}
STEP=${2:-100}
EVICT=${EVICT:-5}
IMAGE=kestrel-churn/busybox:1.0
[ "$(id -u)" -eq 0 ] || die "run as root"
[ -x "$KESTREL" ] || die "$KESTREL missing: cargo build --release -p kestrel"
command -v dockerd > /dev/null || die "dockerd missing: apt-get install docker.io"
DOCKER=docker
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker

OUT=$PERF_DIR/runs/$(date -u +%Y%m%dT%H%M%SZ)-container-churn
perf_init "$OUT"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "kestrel: $KESTREL (built from the working tree at $(worktree_desc))"
    env_cpu
    echo "containers: $N, sampled every $STEP; evict_after_s: $EVICT"
} > "$OUT/env.txt"

DK=$(mktemp -d /var/tmp/kestrel-churn.XXXXXX)
SOCK=$DK/docker.sock
DOCKERD_PID=""
stop_dockerd() {
    if [ -n "$DOCKERD_PID" ]; then
        kill -TERM "$DOCKERD_PID" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DOCKERD_PID" 2>/dev/null || true
        wait "$DOCKERD_PID" 2>/dev/null || true
        DOCKERD_PID=""
    fi
    rm -rf "$DK"
}
trap 'stop_dockerd; perf_cleanup' EXIT

dk() { "$DOCKER" --host "unix://$SOCK" "$@"; }

log "starting dockerd on $SOCK"
dockerd --host "unix://$SOCK" --data-root "$DK/data" --exec-root "$DK/exec" \
    --pidfile "$DK/dockerd.pid" --iptables=false --ip6tables=false --bridge=none \
    > "$OUT/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 1 300); do dk version > /dev/null 2>&1 && break; sleep 0.2; done
dk version > /dev/null || die "dockerd did not answer (see $OUT/dockerd.log)"

mkdir -p "$DK/rootfs/bin" "$DK/rootfs/etc"
cp /bin/busybox "$DK/rootfs/bin/busybox"
for a in sh cat true; do ln -s busybox "$DK/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$DK/rootfs/etc/passwd"
echo 'root:*:19000:0:99999:7:::' > "$DK/rootfs/etc/shadow"
tar -C "$DK/rootfs" -cf "$DK/rootfs.tar" .
dk import "$DK/rootfs.tar" "$IMAGE" > /dev/null

cat > "$DK/kestrel.yaml" <<EOF
container_engines:
  docker:
    enabled: true
    sockets: [$SOCK]
  podman:
    enabled: false
    sockets: []
  events: true
  evict_after_s: $EVICT
EOF

daemon_start "$OUT" kestrel -c "$DK/kestrel.yaml" -o json_output=true
# daemon_start's alert file, read for the summary before daemon_stop drops it.
ALERTS=$PERF_TMP/kestrel.alerts
sleep 3

metric() { # file name
    awk -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }' "$1"
}
printf 'containers\tphase\trss_kib\trss_anon_kib\trss_file_kib\theap_kib\tthreads\tfds\tunix_sockets\tentries\tuser_dbs\tprocesses\tlookups\twaits\ttimeouts\tstream_events\tstream_gaps\tevicted\n' > "$OUT/raw.tsv"
sample() { # containers phase
    local f="$OUT/metrics.$1.$2.prom"
    scrape "$DAEMON_URL" "$f"
    local rss anon file threads fds socks
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status")
    anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$DAEMON_PID/status")
    file=$(awk '/^RssFile:/ { print $2 }' "/proc/$DAEMON_PID/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$DAEMON_PID/status")
    fds=$(find "/proc/$DAEMON_PID/fd" -mindepth 1 | wc -l)
    socks=$(ss -xp 2>/dev/null | grep -c "pid=$DAEMON_PID," || true)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rss" "$anon" "$file" \
        "$(metric "$f" kestrel_memory_heap_bytes | awk '{ printf "%d", $1 / 1024 }')" "$threads" "$fds" "$socks" \
        "$(metric "$f" kestrel_container_metadata_entries)" \
        "$(metric "$f" kestrel_container_user_databases)" \
        "$(metric "$f" kestrel_process_table_entries)" \
        "$(metric "$f" kestrel_container_lookups_total)" \
        "$(metric "$f" kestrel_container_lookup_waits_total)" \
        "$(metric "$f" kestrel_container_lookup_timeouts_total)" \
        "$(metric "$f" kestrel_container_stream_events_total)" \
        "$(metric "$f" kestrel_container_stream_gaps_total)" \
        "$(metric "$f" kestrel_container_metadata_evicted_total)" >> "$OUT/raw.tsv"
    gzip -9f "$f"
}

sample 0 baseline
log "running $N containers"
t0=$(date +%s)
for i in $(seq 1 "$N"); do
    dk run --rm --network none "$IMAGE" cat /etc/shadow > /dev/null
    if [ $((i % STEP)) = 0 ]; then
        sample "$i" churn
        log "$i containers"
    fi
done
t1=$(date +%s)
sleep $((EVICT + 5))
sample "$N" settled

python3 - "$OUT" "$N" "$((t1 - t0))" "$ALERTS" > "$OUT/summary.md" <<'PY'
import csv, json, sys
out, n, secs, alerts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = list(csv.DictReader(open(f"{out}/raw.tsv"), delimiter="\t"))
env = dict(l.split(": ", 1) for l in open(f"{out}/env.txt").read().splitlines() if ": " in l)
shadow = missing = 0
for line in open(alerts):
    try:
        a = json.loads(line)
    except ValueError:
        continue
    if a.get("rule") != "Read Sensitive File":
        continue
    f = a.get("output_fields", {})
    if f.get("container.id") in (None, "host"):
        continue
    shadow += 1
    if not f.get("container.name") or not f.get("container.image.repository"):
        missing += 1
cpu = {}
for line in open("/proc/cpuinfo"):
    k, _, v = line.partition(":")
    cpu.setdefault(k.strip(), v.strip())
print(f"# Container churn ({env.get('cpu_model', '?')}, family {cpu.get('cpu family', '?')} "
      f"model {cpu.get('model', '?')}, {env.get('cpus', '?')} CPUs)\n")
print(f"{n} containers (`docker run --rm IMG cat /etc/shadow`) in {secs} s; "
      f"Read Sensitive File alerts from containers: {shadow}, "
      f"of which without name or image: {missing}.\n")
cols = list(rows[0].keys())
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for r in rows:
    print("| " + " | ".join(r[c] for c in cols) + " |")
base, last = rows[0], rows[-1]
print(f"\nRSS: {int(base['rss_kib'])/1024:.1f} MiB before, {int(last['rss_kib'])/1024:.1f} MiB "
      f"after the churn settled ({int(last['rss_kib']) / int(base['rss_kib']):.2f}x); "
      f"metadata entries {base['entries']} -> "
      f"{last['entries']}; fds {base['fds']} -> {last['fds']}; threads {base['threads']} -> {last['threads']}.")
PY
daemon_stop
archive_logs "$OUT"
cat "$OUT/summary.md"
