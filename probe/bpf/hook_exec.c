/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * tp_btf/sched_process_exec: the successful exec, described with the NEW
 * image (argv and env from the new mm, comm, credentials and exec_gen
 * already switched). The sys_exit of a successful execve is not reported
 * again.
 *
 * Included by kestrel.bpf.c.
 */

#define PIDTYPE_PGID 2
#define PIDTYPE_SID 3
#define CAP_DAC_OVERRIDE 1

/* ---- cgroups: "<controller>=<path>" entries, NUL separated ----
 *
 * Both loops are bpf_loop callbacks, verified once each: unrolled, the
 * subsystem loop times the kernfs walk exceeded the verifier's budget. The
 * callbacks find the scratch buffer themselves and keep only integers in
 * their context.
 */

struct kst_kn_walk {
	__u64 kn;
	__u32 pos;
	__u32 trunc;
};

static __always_inline struct kernfs_node *kst_kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

static long kst_kn_step(__u64 i, void *ctx)
{
	struct kst_kn_walk *wk = ctx;
	struct kernfs_node *kn = (void *)wk->kn;
	if (!kn)
		return 1;
	struct kernfs_node *parent = kst_kn_parent(kn);
	if (!parent)
		return 1; /* the root's name is not part of the path */
	struct kst_scratch *s = kst_scratch_get();
	if (!s)
		return 1;
	const char *name = BPF_CORE_READ(kn, name);
	long r = bpf_probe_read_kernel_str(s->name, KST_NAME_MAX + 1, name);
	if (r <= 0)
		return 1;
	__u32 len = r - 1;
	KST_HIDE(len);
	len &= KST_NAME_MAX;
	__u32 pos = wk->pos;
	if (pos > KST_PATH_MAX || pos < len + 1) {
		wk->trunc = 1;
		return 1;
	}
	pos = kst_pidx(pos - len);
	if (len)
		bpf_probe_read_kernel(&s->path[pos], len, s->name);
	pos = kst_pidx(pos - 1);
	s->path[pos] = '/';
	wk->pos = pos;
	wk->kn = (__u64)parent;
	return 0;
}

struct kst_cg_loop {
	__u64 cset;
	__u64 dfl;
	__u32 nsub;
	__u32 off;  /* next byte of the parameter in rec */
	__u32 end;  /* cap: the parameter ends before this offset */
	__u32 trunc;
};

/* Appends "name=path\0" for cgroup cg at c->off. */
static __always_inline void kst_cgroup_entry(struct kst_cg_loop *c, const char *name, struct cgroup *cg)
{
	struct kst_scratch *s = kst_scratch_get();
	__u32 off = c->off;
	if (!s || off > KST_REC_MAX - (KST_PATH_MAX + 64) || off + 64 > c->end) {
		c->trunc = 1;
		return;
	}
	__u32 n = 0;
	long r = bpf_probe_read_kernel_str(&s->rec[KST_IDX(off)], 32, name);
	if (r > 0)
		n = r - 1;
	s->rec[KST_IDX(off + n)] = '=';
	n++;
	struct kst_kn_walk wk = { .kn = (__u64)BPF_CORE_READ(cg, kn), .pos = KST_PATH_MAX };
	bpf_loop(32, kst_kn_step, &wk, 0);
	__u32 pos = wk.pos > KST_PATH_MAX ? KST_PATH_MAX : wk.pos;
	__u32 plen = KST_PATH_MAX - pos;
	__u32 at = off + n;
	if (wk.trunc || at + plen + 1 > c->end) {
		c->trunc = 1;
		return;
	}
	if (plen == 0) {
		s->rec[KST_IDX(at)] = '/';
		plen = 1;
	} else if (bpf_probe_read_kernel(&s->rec[KST_IDX(at)], kst_len(plen), &s->path[kst_pidx(pos)])) {
		return;
	}
	n += plen;
	s->rec[KST_IDX(off + n)] = 0;
	c->off = off + n + 1;
}

/* Entry 0 is the unified (v2) hierarchy; entry i > 0 is controller i - 1
 * when it lives in another (v1) hierarchy. On a v2-only host every
 * controller is in the unified one, which is then the only entry. */
static long kst_cg_step(__u64 i, void *ctx)
{
	struct kst_cg_loop *c = ctx;
	if (i == 0) {
		kst_cgroup_entry(c, "unified", (struct cgroup *)c->dfl);
		return 0;
	}
	if (i > c->nsub)
		return 1;
	struct css_set *cset = (void *)c->cset;
	struct cgroup_subsys_state *css = 0;
	__u64 slot = c->cset + bpf_core_field_offset(struct css_set, subsys) + (i - 1) * sizeof(void *);
	if (bpf_probe_read_kernel(&css, sizeof(css), (void *)slot) || !css)
		return 0;
	struct cgroup *cg = BPF_CORE_READ(css, cgroup);
	if (!cg || (__u64)cg == c->dfl)
		return 0;
	kst_cgroup_entry(c, BPF_CORE_READ(css, ss, name), cg);
	(void)cset;
	return 0;
}

static __noinline void kst_put_cgroups(struct kst_w *w, struct task_struct *t)
{
	__u32 start = w->off;
	if (start > KST_REC_MAX - (KST_CGROUPS_MAX + KST_PATH_MAX + 64)) {
		kst_w_len(w, 0);
		return;
	}
	struct css_set *cset = t->cgroups;
	struct kst_cg_loop c = {
		.cset = (__u64)cset,
		.dfl = (__u64)cset->dfl_cgrp,
		.nsub = bpf_core_field_size(cset->subsys) / sizeof(void *),
		.off = start,
		.end = start + KST_CGROUPS_MAX,
	};
	bpf_loop(17, kst_cg_step, &c, 0);
	if (c.trunc)
		w->flags |= KST_HF_TRUNCATED;
	__u32 len = c.off > start ? c.off - start : 0;
	/* Entries are NUL terminated; drop the final one (strings carry no
	 * terminator on the wire). */
	if (len > 0)
		len--;
	if (len > KST_CGROUPS_MAX)
		len = KST_CGROUPS_MAX;
	w->off = start + len;
	kst_w_len(w, len);
}

/* ---- the exec record ---- */

static __always_inline __u64 kst_inode_time(struct inode *ino, int mtime)
{
	__s64 sec = 0;
	__u64 nsec = 0;
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		sec = mtime ? BPF_CORE_READ(ino, i_mtime_sec) : BPF_CORE_READ(ino, i_ctime_sec);
		nsec = mtime ? BPF_CORE_READ(ino, i_mtime_nsec) : BPF_CORE_READ(ino, i_ctime_nsec);
		/* Since 6.13 (multigrain timestamps) bit 31 of i_ctime_nsec
		 * records that the ctime was queried; it is no part of the time. */
		nsec &= ~(1ULL << 31);
	} else if (bpf_core_field_exists(((struct inode___v67 *)ino)->__i_ctime)) {
		struct inode___v67 *i2 = (void *)ino;
		sec = mtime ? BPF_CORE_READ(i2, __i_mtime.tv_sec) : BPF_CORE_READ(i2, __i_ctime.tv_sec);
		nsec = mtime ? BPF_CORE_READ(i2, __i_mtime.tv_nsec) : BPF_CORE_READ(i2, __i_ctime.tv_nsec);
	} else {
		struct inode___old *i3 = (void *)ino;
		sec = mtime ? BPF_CORE_READ(i3, i_mtime.tv_sec) : BPF_CORE_READ(i3, i_ctime.tv_sec);
		nsec = mtime ? BPF_CORE_READ(i3, i_mtime.tv_nsec) : BPF_CORE_READ(i3, i_ctime.tv_nsec);
	}
	return (__u64)sec * 1000000000ULL + nsec;
}

static __always_inline __u64 kst_exe_flags(struct task_struct *t, struct file *exe, struct inode *ino)
{
	__u64 flags = 0;
	if (!exe || !ino)
		return 0;
	unsigned long magic = BPF_CORE_READ(ino, i_sb, s_magic);
	if (magic == OVERLAYFS_SUPER_MAGIC) {
		struct ovl_inode *oi = (void *)((__u64)ino - bpf_core_field_offset(struct ovl_inode, vfs_inode));
		struct dentry *upper = BPF_CORE_READ(oi, __upperdentry);
		flags |= upper ? 2 /* EXE_UPPER_LAYER */ : 8 /* EXE_LOWER_LAYER */;
	} else if (magic == TMPFS_MAGIC || magic == HUGETLBFS_MAGIC) {
		const unsigned char *nm = BPF_CORE_READ(exe, f_path.dentry, d_name.name);
		__u64 n8 = 0;
		bpf_probe_read_kernel(&n8, 6, nm);
		if (n8 == 0x3a64666d656dULL) /* "memfd:" */
			flags |= 4; /* EXE_FROM_MEMFD */
	}
	/* Writable by the exec'ing user: the permission bits for its euid/egid,
	 * or CAP_DAC_OVERRIDE. Read-only mounts and ACLs are not considered. */
	const struct cred *c = t->cred;
	unsigned short mode = BPF_CORE_READ(ino, i_mode);
	__u32 iuid = BPF_CORE_READ(ino, i_uid.val), igid = BPF_CORE_READ(ino, i_gid.val);
	if ((c->cap_effective.val >> CAP_DAC_OVERRIDE) & 1)
		flags |= 1;
	else if (iuid == c->euid.val ? (mode & 0200) : igid == c->egid.val ? (mode & 0020) : (mode & 0002))
		flags |= 1;
	return flags;
}

static __always_inline __u64 kst_tty(struct task_struct *t)
{
	struct tty_struct *tty = t->signal->tty;
	if (!tty)
		return 0;
	int index = BPF_CORE_READ(tty, index);
	int major = BPF_CORE_READ(tty, driver, major);
	int minor = BPF_CORE_READ(tty, driver, minor_start) + index;
	/* new_encode_dev(), the dev_t userspace sees. */
	return (__u64)((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12));
}

static __noinline int kst_exec(struct task_struct *t, struct linux_binprm *bprm)
{
	struct kst_w w;
	if (kst_w_begin(&w, t, KST_EV_EXECVE, 18, 0))
		return 0;
	struct mm_struct *mm = t->mm;
	struct file *exe = mm->exe_file;
	struct inode *ino = exe ? exe->f_inode : 0;

	kst_put_ustrlist(&w, mm->arg_start, mm->arg_end, KST_ARGS_MAX);
	struct fs_struct *fs = t->fs;
	kst_put_dpath(&w, t, (__u64)fs->pwd.dentry, (__u64)fs->pwd.mnt);
	if (exe)
		kst_put_dpath(&w, t, (__u64)exe->f_path.dentry, (__u64)exe->f_path.mnt);
	else
		kst_put_empty(&w);
	kst_put_kstr(&w, bprm->filename, KST_PATH_MAX);
	kst_put_ustrlist(&w, mm->env_start, mm->env_end, KST_ENV_MAX);
	kst_put_cgroups(&w, t);
	kst_put_u64(&w, kst_tty(t));

	struct signal_struct *sig = t->signal;
	struct pid *tp = t->thread_pid;
	__u32 level = tp->level;
	struct pid *pg = sig->pids[PIDTYPE_PGID];
	kst_put_int(&w, kst_pid_level_nr(sig->pids[PIDTYPE_SID], 0));
	kst_put_int(&w, kst_pid_level_nr(tp, level));
	kst_put_int(&w, pg && pg->level >= level ? kst_pid_level_nr(pg, level) : 0);
	kst_put_int(&w, pg ? kst_pid_level_nr(pg, 0) : 0);
	kst_put_u64(&w, kst_exe_flags(t, exe, ino));
	kst_put_u64(&w, ino ? ino->i_ino : 0);
	kst_put_u64(&w, ino ? kst_inode_time(ino, 0) : 0);
	kst_put_u64(&w, ino ? kst_inode_time(ino, 1) : 0);
	kst_put_u64(&w, t->group_leader->start_boottime);
	struct pid_namespace *ns = kst_task_pidns(t);
	kst_put_u64(&w, ns ? BPF_CORE_READ(ns, child_reaper, start_boottime) : 0);
	kst_put_u64(&w, t->cred->cap_inheritable.val);
	return kst_w_submit(&w);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(kst_sched_exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	struct task_struct *t = bpf_get_current_task_btf();
	if (t->tgid == kst_self_tgid)
		return 0;
	if (!kst_event_wanted(KST_EV_EXECVE) && !kst_event_wanted(KST_EV_EXECVEAT))
		return 0;
	return kst_exec(t, bprm);
}
