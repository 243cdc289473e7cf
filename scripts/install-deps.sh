#!/usr/bin/env bash
# Installs the system packages kestrel needs to build (and with --test, to
# run its tests), and mounts the kernel filesystems the probe uses. Safe to
# run again.
set -euo pipefail
tests=0
[ "${1:-}" = --test ] && tests=1

need=()
command -v clang >/dev/null || need+=(clang)
command -v llvm-strip >/dev/null || need+=(llvm)
[ -e /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v bpftool >/dev/null || need+=(bpftool)
[ -e /usr/include/linux/bpf.h ] || need+=(linux-libc-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
# protoc generates the gRPC clients of cri/ (containerd, CRI-O).
command -v protoc >/dev/null || need+=(protobuf-compiler)
# For the tests only: real container runtimes for the container tests
# (tests/containers_docker.rs starts its own dockerd, which starts its own
# containerd; tests/containers_cri.rs starts a containerd with its CRI
# plugin and drives it as a kubelet would; tests/containers_podman.rs runs
# podman and its API service), busybox-static for the images they build, and script(1) for
# a terminal.
if [ "$tests" = 1 ]; then
    command -v dockerd >/dev/null || need+=(docker.io)
    command -v containerd >/dev/null || need+=(containerd)
    command -v runc >/dev/null || need+=(runc)
    command -v podman >/dev/null || need+=(podman)
    dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
    command -v script >/dev/null || need+=(bsdutils)
    # The detection corpus (detection/corpus.yaml, tests/detection.rs):
    # the tools its attacks and its benign admin and developer work use.
    command -v strace >/dev/null || need+=(strace)
    command -v ssh >/dev/null || need+=(openssh-client)
    [ -x /usr/sbin/sshd ] || need+=(openssh-server)
    command -v perl >/dev/null || need+=(perl)
    command -v cc >/dev/null || need+=(gcc)
    command -v git >/dev/null || need+=(git)
    command -v logrotate >/dev/null || need+=(logrotate)
    command -v useradd >/dev/null || need+=(passwd)
    command -v nsenter >/dev/null || need+=(util-linux)
    # kestrel-loadgen's trigger actions (loadgen/tests/cli.rs fails when
    # one of their tools is missing): crontab and modprobe; the others
    # come with the packages above or with every Debian system.
    command -v crontab >/dev/null || need+=(cron)
    command -v modprobe >/dev/null || need+=(kmod)
    command -v shred >/dev/null || need+=(coreutils)
    command -v find >/dev/null || need+=(findutils)
    command -v scp >/dev/null || need+=(openssh-client)
    python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
fi

if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "kestrel: missing packages: ${need[*]}; run this script as root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "$(id -u)" -eq 0 ]; then
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
    mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
