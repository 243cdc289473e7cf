/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * kestrel's probe: one BPF object holding every hook, so that all programs
 * share one set of maps (rings, scratch, counters, filters). aya loads one
 * object at a time and cannot share maps between objects without pinning,
 * hence one translation unit that includes one file per hook family.
 */
#include "kestrel_common.h"
#include "filter.h"

#include "hook_self.c"
#include "hook_sys_exit.c"
#include "hook_sched.c"
#include "hook_exec.c"
#include "hook_io_uring.c"

char LICENSE[] SEC("license") = "GPL";
