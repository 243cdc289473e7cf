/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * Self-protection: records (KST_EV_KESTREL_TAMPER) of attempts by another process
 * on kestrel itself: bpf(2) on kestrel's programs, maps and links,
 * ptrace, process_vm_readv/writev and pidfd_getfd on its threads (all
 * checked in tp_btf/sys_exit, see kst_self_check), and stop/control
 * signals sent to it (tp_btf/signal_generate).
 *
 * Off unless the loader sets kst_self_protect (a read-only global: the
 * verifier removes the checks when it is 0). The syscalls checked carry
 * KST_SC_SELF in kst_sc_type, so an untraced syscall costs nothing more
 * and a traced one one bit test.
 *
 * Included by kestrel.bpf.c, before hook_sys_exit.c.
 */

volatile const __u32 kst_self_protect = 0;

/* kestrel's own BPF objects, keyed obj << 32 | id (KST_SO_*). Filled by
 * the loader after attach. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u64);
	__type(value, __u8);
} kst_self_ids SEC(".maps");

/* kestrel's threads (kernel tids). The loader enters those alive at load;
 * the fork and exit hooks add and remove the later ones. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} kst_self_tids SEC(".maps");

#define KST_NR_PTRACE 101
#define KST_NR_PROCESS_VM_READV 310
#define KST_NR_PROCESS_VM_WRITEV 311
#define KST_NR_BPF 321
#define KST_NR_PIDFD_GETFD 438

static __always_inline int kst_self_tid(__s64 tid)
{
	if (tid <= 0)
		return 0;
	__u32 k = tid;
	return k == kst_self_tgid || bpf_map_lookup_elem(&kst_self_tids, &k) != 0;
}

static __always_inline int kst_self_obj(__u64 obj, __u64 id)
{
	__u64 k = obj << 32 | (id & 0xffffffff);
	return id != 0 && bpf_map_lookup_elem(&kst_self_ids, &k) != 0;
}

/* The id of the BPF map or link the caller's fd refers to (0 if none).
 * The command decides which kind the fd should be; a wrong kind makes the
 * call fail and reads an unrelated id, which matches kestrel's only by
 * chance. */
static __always_inline __u32 kst_fd_bpf_id(struct task_struct *t, long fd, int link)
{
	struct file *f = kst_fd_file(t, fd);
	if (!f)
		return 0;
	void *pd = BPF_CORE_READ(f, private_data);
	if (!pd)
		return 0;
	if (link)
		return BPF_CORE_READ((struct bpf_link *)pd, id);
	return BPF_CORE_READ((struct bpf_map *)pd, id);
}

static __noinline int kst_self_check(struct task_struct *t, struct pt_regs *regs, long ret, __u32 nr)
{
	__u64 kind, target, op = 0, obj = 0;
	if (nr == KST_NR_BPF) {
		/* union bpf_attr: the id or fd is the first u32 for every
		 * command checked but the batch ones (map_fd at 36). */
		__u32 attr[10] = {};
		__u32 cmd = regs->di;
		if (bpf_probe_read_user(attr, sizeof(attr), (void *)regs->si))
			bpf_probe_read_user(attr, sizeof(attr[0]), (void *)regs->si);
		op = cmd;
		switch (cmd) {
		case BPF_PROG_GET_FD_BY_ID:
			kind = KST_TK_BPF_GET_FD;
			obj = KST_SO_PROG;
			target = attr[0];
			break;
		case BPF_MAP_GET_FD_BY_ID:
			kind = KST_TK_BPF_GET_FD;
			obj = KST_SO_MAP;
			target = attr[0];
			break;
		case BPF_LINK_GET_FD_BY_ID:
			kind = KST_TK_BPF_GET_FD;
			obj = KST_SO_LINK;
			target = attr[0];
			break;
		case BPF_MAP_UPDATE_ELEM:
		case BPF_MAP_DELETE_ELEM:
		case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
		case BPF_MAP_FREEZE:
			kind = KST_TK_BPF_MAP_WRITE;
			obj = KST_SO_MAP;
			target = kst_fd_bpf_id(t, (int)attr[0], 0);
			break;
		case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
		case BPF_MAP_UPDATE_BATCH:
		case BPF_MAP_DELETE_BATCH:
			kind = KST_TK_BPF_MAP_WRITE;
			obj = KST_SO_MAP;
			target = kst_fd_bpf_id(t, (int)attr[9], 0);
			break;
		case BPF_LINK_UPDATE:
		case BPF_LINK_DETACH:
			kind = KST_TK_BPF_LINK;
			obj = KST_SO_LINK;
			target = kst_fd_bpf_id(t, (int)attr[0], 1);
			break;
		default:
			return 0;
		}
		if (!kst_self_obj(obj, target))
			return 0;
	} else if (nr == KST_NR_PTRACE) {
		kind = KST_TK_PTRACE;
		op = regs->di;
		target = (int)regs->si;
		if (!kst_self_tid(target))
			return 0;
	} else if (nr == KST_NR_PROCESS_VM_READV || nr == KST_NR_PROCESS_VM_WRITEV) {
		kind = KST_TK_PROCESS_VM;
		op = nr == KST_NR_PROCESS_VM_WRITEV;
		target = (int)regs->di;
		if (!kst_self_tid(target))
			return 0;
	} else if (nr == KST_NR_PIDFD_GETFD) {
		/* A pidfd's file holds its struct pid. */
		struct file *f = kst_fd_file(t, (int)regs->di);
		struct pid *p = f ? BPF_CORE_READ(f, private_data) : 0;
		if (!p)
			return 0;
		kind = KST_TK_PIDFD_GETFD;
		op = (int)regs->si;
		target = kst_pid_level_nr(p, 0);
		if (!kst_self_tid(target))
			return 0;
	} else {
		return 0;
	}
	return kst_emit_ints(t, KST_EV_KESTREL_TAMPER, ret, 4, kind, target, op, obj, 0);
}

SEC("tp_btf/signal_generate")
int BPF_PROG(kst_signal, int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
	     int result)
{
	if (!kst_self_protect || task->tgid != kst_self_tgid)
		return 0;
	if (sig <= 0 || sig >= 32 || !((KST_SELF_SIGMASK >> sig) & 1))
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if (t->tgid == kst_self_tgid)
		return 0;
	return kst_emit_ints(t, KST_EV_KESTREL_TAMPER, result, 4, KST_TK_SIGNAL, task->pid, sig, 0, 0);
}
