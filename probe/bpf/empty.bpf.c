/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * Reference programs for the overhead benchmarks (perf/probe-overhead):
 *
 *   kst_empty_sys_exit  an empty tp_btf/sys_exit program: the floor every
 *                       syscall hook pays;
 *   kst_clock_sys_exit  the same hook reading the clock the probe stamps
 *                       events with KST_CLOCK_READS times: the difference
 *                       from the empty program, divided by KST_CLOCK_READS,
 *                       is what one timestamp costs (perf/probe-overhead/clock.sh).
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define KST_CLOCK_READS 10

/* Written so that the reads cannot be optimised away. */
volatile __u64 kst_clock_sink = 0;

SEC("tp_btf/sys_exit")
int kst_empty_sys_exit(void *ctx)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int kst_clock_sys_exit(void *ctx)
{
	__u64 s = 0;
#pragma unroll
	for (int i = 0; i < KST_CLOCK_READS; i++)
		s += bpf_ktime_get_boot_ns();
	kst_clock_sink = s;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
