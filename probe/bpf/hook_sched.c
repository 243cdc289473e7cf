/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * Process lifecycle: tp_btf/sched_process_fork (new processes, not threads)
 * and tp_btf/sched_process_exit (thread group leaders). Both records have a
 * fixed size and are reserved in place.
 *
 * Included by kestrel.bpf.c.
 */

static __always_inline int kst_on_fork(struct task_struct *parent, struct task_struct *child)
{
	struct task_struct *t = bpf_get_current_task_btf();
	if (t->tgid == kst_self_tgid) {
		/* Self-protection knows kestrel's threads by tid. */
		if (kst_self_protect && child->tgid == kst_self_tgid) {
			__u32 tid = child->pid;
			__u8 one = 1;
			bpf_map_update_elem(&kst_self_tids, &tid, &one, BPF_ANY);
		}
		return 0;
	}
	/* A thread shares its creator's tgid; a new process leads its own. */
	if (child->pid != child->tgid)
		return 0;
	if (!kst_event_wanted(KST_EV_PROCFORK))
		return 0;
	struct pid *cp = child->thread_pid;
	__u32 vpid = kst_pid_level_nr(cp, cp->level);
	return kst_emit_ints(t, KST_EV_PROCFORK, 0, 5, SX32(child->pid), SX32(child->tgid),
			     SX32(child->real_parent->tgid), SX32(vpid), child->start_boottime);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(kst_sched_fork, struct task_struct *parent, struct task_struct *child)
{
	return kst_on_fork(parent, child);
}

static __always_inline int kst_on_exit(struct task_struct *p)
{
	struct task_struct *t = bpf_get_current_task_btf();
	if (t->tgid == kst_self_tgid) {
		if (kst_self_protect) {
			__u32 tid = p->pid;
			bpf_map_delete_elem(&kst_self_tids, &tid);
		}
		return 0;
	}
	if (p->pid != p->tgid)
		return 0;
	if (!kst_event_wanted(KST_EV_PROCEXIT))
		return 0;
	return kst_emit_ints(t, KST_EV_PROCEXIT, 0, 1, SX32(p->exit_code), 0, 0, 0, 0);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(kst_sched_exit, struct task_struct *p)
{
	return kst_on_exit(p);
}
