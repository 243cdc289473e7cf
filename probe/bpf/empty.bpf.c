/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * An empty tp_btf/sys_exit program: the floor every syscall hook pays,
 * for the overhead benchmark (perf/probe-overhead).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tp_btf/sys_exit")
int kst_empty_sys_exit(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
