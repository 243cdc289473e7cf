/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * Maps, configuration and the record-writing primitives shared by every
 * kestrel hook.
 *
 * Two ways to write a record:
 *  - fixed-size records (integer-only events, procfork, procexit) are
 *    reserved in the ring and filled in place (no copy);
 *  - variable-size records are built in a per-CPU scratch buffer and copied
 *    into the ring with one bpf_ringbuf_output() of the exact size.
 * Every attempt to emit is counted once as seen, then as sent or dropped, in
 * the same program run: seen == sent + dropped holds exactly.
 *
 * Records are not followed by a wakeup (BPF_RB_NO_WAKEUP): a wakeup is an
 * irq_work per record, and a busy reader polls in batches instead. Only a
 * reader that found its ring idle and went to sleep in poll(2) (it sets its
 * CPU's kst_park slot first) is woken, once, by the next record.
 */
#ifndef KESTREL_COMMON_H
#define KESTREL_COMMON_H

#include "kestrel_vmlinux.h"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "kestrel_wire.h"

#define KST_HDR_LEN ((__u32)sizeof(struct kst_event_hdr))
#define KST_FDINFO_LEN ((__u32)sizeof(struct kst_fdinfo))
#define KST_TUPLE_LEN ((__u32)sizeof(struct kst_sock_tuple))

/* Syscall numbers covered by the syscall -> event type table. */
#define KST_NR_SYSCALLS 512
/* Largest record; the scratch buffer has slack beyond it so that every
 * bounded write the verifier can prove stays inside the map value. */
#define KST_REC_MAX 32768
#define KST_REC_BUF (2 * KST_REC_MAX)
/*
 * Bounds the verifier can follow. clang drops an AND it can prove useless
 * (after a range check) and then indexes with a register whose bounds the
 * verifier never saw; the empty asm hides the value from clang so the AND
 * stays. The masks never change a value: every offset is range-checked
 * against KST_REC_MAX first, and the buffers have slack beyond it.
 */
#define KST_HIDE(v) asm volatile("" : "+r"(v))
static __always_inline __u32 kst_idx(__u32 x)
{
	KST_HIDE(x);
	return x & (KST_REC_MAX - 1);
}
#define KST_IDX(x) kst_idx(x)
/* A length for a helper writing at KST_IDX(off): at most 8191 bytes, which
 * the slack after KST_REC_MAX absorbs. Callers clamp to the real cap
 * first. */
static __always_inline __u32 kst_len(__u32 x)
{
	KST_HIDE(x);
	return x & 8191;
}
/* Same for positions in the path area ([0, KST_PATH_MAX], slack beyond). */
static __always_inline __u32 kst_pidx(__u32 x)
{
	KST_HIDE(x);
	return x & (2 * KST_PATH_MAX - 1);
}
/* Paths are assembled backwards in [0, KST_PATH_MAX) of the path area. */
#define KST_PATH_BUF (2 * KST_PATH_MAX + 512)
/* Components walked per path (mount crossings included). */
#define KST_PATH_DEPTH 96
/* Longest single name component copied; longer ones are cut. */
#define KST_NAME_MAX 255

/* Integer arguments: C ints sign-extended (AT_FDCWD stays -100), unsigned
 * ones zero-extended. */
#define SX32(v) ((__u64)(__s64)(__s32)(v))
#define ZX32(v) ((__u64)(__u32)(v))

#define AT_FDCWD -100
#define TS_COMPAT 0x0002

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFLNK 0120000
#define S_IFREG 0100000
#define S_IFBLK 0060000
#define S_IFDIR 0040000
#define S_IFCHR 0020000
#define S_IFIFO 0010000

#define KST_AF_NETLINK 16

#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define TMPFS_MAGIC 0x01021994
#define HUGETLBFS_MAGIC 0x958458f6
#define ANON_INODE_FS_MAGIC 0x09041934
#define PID_FS_MAGIC 0x50494446
#define BPF_FS_MAGIC 0xcafe4a11
#define NSFS_MAGIC 0x6e736673

struct kst_scratch {
	__u8 rec[KST_REC_BUF];
	__u8 path[KST_PATH_BUF];
	__u8 name[KST_NAME_MAX + 1 + 64];
	/* The interest filter's path-trie key (filter.h); the path is read
	 * at data[1] with room for KST_FPATH_DATA bytes, one beyond data, and
	 * scanned in 8-byte loads that may reach 7 bytes beyond. */
	struct kst_fpath_key fkey;
	__u8 fkey_slack[16];
	/* KST_HF_K* of the sys_exit event being recorded on this CPU (set by
	 * kst_filter, cleared once the event is handled; 0 for sched events). */
	__u32 hflags;
	/* Bytes (with the NUL) of the path the filter read into fkey.data[1]
	 * for this sys_exit event, 0 if none: the openat record copies it
	 * instead of reading user memory again (cleared with hflags). */
	__u32 fpath_len;
	/* The generic routine's write offset, stored and read back between
	 * parameters so the verifier sees one unknown offset at the top of
	 * its loop instead of one per path taken (see kst_sc_generic). */
	__u32 gd_off;
};

struct kst_evmask {
	__u64 bits[4];
};

/* The rings: one RINGBUF per possible CPU, created and inserted by the
 * loader (the inner definition is only the template the kernel checks
 * inserted maps against; ring maps of any size match it). */
struct kst_ring_inner {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* set to the number of possible CPUs */
	__type(key, __u32);
	__array(values, struct kst_ring_inner);
} kst_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs */
	__type(key, __u32);
	__type(value, struct kst_scratch);
} kst_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kst_counters);
} kst_counters SEC(".maps");

/* Syscall number -> event type; 0 = not traced. Filled by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KST_NR_SYSCALLS);
	__type(key, __u32);
	__type(value, __u16);
} kst_sc_type SEC(".maps");

/* Event type -> generic capture descriptor (n == 0: none). Filled by
 * userspace from the Rust event table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct kst_gdesc);
} kst_gdesc SEC(".maps");

/* Wanted non-syscall events (procfork, procexit, exec), a bitmap by type. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kst_evmask);
} kst_evmask SEC(".maps");

/* kst_park[cpu] != 0: the reader of that CPU's ring sleeps in poll(2)
 * and wants a wakeup with the next record. Set by the reader (the map is
 * mmapped), cleared by the first program that sees it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* set to the number of possible CPUs */
	__type(key, __u32);
	__type(value, __u64);
} kst_park SEC(".maps");

/* Set by the loader before the programs load. */
volatile const __u32 kst_self_tgid = 0;
volatile const __u32 kst_drop_failed = 0;
volatile const __u32 kst_snaplen = 80;

/* ------------------------------------------------------------------ */
/* counters and rings                                                  */

static __always_inline void kst_count(__u32 type, int ok)
{
	__u32 zero = 0;
	struct kst_counters *c = bpf_map_lookup_elem(&kst_counters, &zero);
	if (!c)
		return;
	__u32 cat = (type >> 6) & 3;
	c->seen[cat]++;
	if (ok)
		c->sent[cat]++;
	else
		c->dropped[cat]++;
}

static __always_inline void *kst_ring(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&kst_rings, &cpu);
}

/* The submit flags for a record about to be committed to this CPU's ring:
 * a wakeup if the reader is parked. Programs on one CPU are the only
 * writers of its slot besides the reader, so a plain clear suffices (two
 * programs racing on it at worst wake the reader twice). */
static __always_inline __u64 kst_wake_flags(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 *p = bpf_map_lookup_elem(&kst_park, &cpu);
	if (p && *p) {
		*p = 0;
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

static __always_inline struct kst_scratch *kst_scratch_get(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&kst_scratch, &cpu);
}

static __always_inline int kst_event_wanted(__u32 type)
{
	__u32 zero = 0;
	struct kst_evmask *m = bpf_map_lookup_elem(&kst_evmask, &zero);
	if (!m)
		return 0;
	return (m->bits[(type >> 6) & 3] >> (type & 63)) & 1;
}

/* ------------------------------------------------------------------ */
/* header                                                              */

static __always_inline __u32 kst_pid_level_nr(struct pid *p, __u32 level)
{
	/* numbers[] is a flexible array indexed by the namespace level: read
	 * the entry with a plain probe read at its computed address. */
	__u64 addr = (__u64)p + bpf_core_field_offset(struct pid, numbers) +
		     (__u64)level * bpf_core_type_size(struct upid) +
		     bpf_core_field_offset(struct upid, nr);
	int nr = 0;
	if (bpf_probe_read_kernel(&nr, sizeof(nr), (void *)addr))
		return 0;
	return nr;
}

/* The task's active pid namespace, by a probe read at its level (any
 * level; kst_task_pidns_ino has a faster path for level 0). */
static __always_inline struct pid_namespace *kst_task_pidns(struct task_struct *t)
{
	struct pid *p = t->thread_pid;
	__u32 level = p->level;
	__u64 addr = (__u64)p + bpf_core_field_offset(struct pid, numbers) +
		     (__u64)level * bpf_core_type_size(struct upid) +
		     bpf_core_field_offset(struct upid, ns);
	struct pid_namespace *ns = 0;
	bpf_probe_read_kernel(&ns, sizeof(ns), (void *)addr);
	return ns;
}

static __always_inline __u32 kst_task_pidns_ino(struct task_struct *t)
{
	struct pid *p = t->thread_pid;
	if (p->level == 0) {
		/* The common case without a helper call: a constant offset
		 * into the flexible array numbers[] is a plain load on the BTF
		 * pointer. (aya's CO-RE cannot relocate an index into a
		 * flexible array, so the offset is two field relocations.) */
		__u64 off = bpf_core_field_offset(struct pid, numbers) + bpf_core_field_offset(struct upid, ns);
		struct pid_namespace *ns = *(struct pid_namespace **)((void *)p + off);
		return ns->ns.inum;
	}
	struct pid_namespace *ns = kst_task_pidns(t);
	return ns ? BPF_CORE_READ(ns, ns.inum) : 0;
}

/*
 * Measured on the development VM (BPF run-time stats, openat+close loop,
 * per event): bpf_get_current_comm() cost 64 ns, bpf_get_current_cgroup_id()
 * 27 ns and a probe read for the pid namespace 40 ns; the direct loads that
 * replace them cost a few ns. bpf_ktime_get_boot_ns() (60 ns here) has no
 * cheaper equivalent without kfuncs.
 */
static __always_inline void kst_fill_hdr(struct kst_event_hdr *h, struct task_struct *t,
					 __u32 type, __u32 nparams, long ret)
{
	const struct cred *cred = t->cred;
	h->ts_ns = bpf_ktime_get_boot_ns();
	/* What bpf_get_current_cgroup_id() returns: the default hierarchy's
	 * cgroup, its kernfs node id. */
	h->cgroup_id = t->cgroups->dfl_cgrp->kn->id;
	h->cap_effective = cred->cap_effective.val;
	h->cap_permitted = cred->cap_permitted.val;
	h->ret = ret;
	h->exec_gen = t->self_exec_id;
	h->type = type;
	h->nparams = nparams;
	h->cpu = bpf_get_smp_processor_id();
	h->tid = t->pid;
	h->tgid = t->tgid;
	h->ptgid = t->real_parent->tgid;
	h->uid = cred->uid.val;
	h->euid = cred->euid.val;
	h->gid = cred->gid.val;
	h->egid = cred->egid.val;
	if (bpf_core_field_exists(t->loginuid))
		h->loginuid = t->loginuid.val;
	else
		h->loginuid = 0xffffffff;
	h->pidns_ino = kst_task_pidns_ino(t);
	h->mntns_ino = t->nsproxy->mnt_ns->ns.inum;
	struct kst_scratch *s = kst_scratch_get();
	h->flags = s ? s->hflags : 0;
	/* comm is always NUL terminated within its 16 bytes. */
	*(__u64 *)&h->comm[0] = *(__u64 *)&t->comm[0];
	*(__u64 *)&h->comm[8] = *(__u64 *)&t->comm[8];
}

/* ------------------------------------------------------------------ */
/* fixed-size records, reserved in place                               */

/* An event whose parameters are n integers. n is a constant at every call
 * site, so the reservation size is too. Callers keep one call site per n. */
static __always_inline int kst_emit_ints(struct task_struct *t, __u32 type, long ret,
					 const __u32 n, __u64 a0, __u64 a1, __u64 a2, __u64 a3,
					 __u64 a4)
{
	const __u32 size = KST_HDR_LEN + 2 * n + 8 * n;
	void *rb = kst_ring();
	struct kst_event_hdr *h = rb ? bpf_ringbuf_reserve(rb, size, 0) : 0;
	if (!h) {
		kst_count(type, 0);
		return 0;
	}
	kst_fill_hdr(h, t, type, n, ret);
	h->len = size;
	__u8 *p = (__u8 *)(h + 1);
	__u64 v[5] = { a0, a1, a2, a3, a4 };
#pragma unroll
	for (__u32 i = 0; i < n && i < 5; i++)
		*(__u16 *)(p + 2 * i) = 8;
#pragma unroll
	for (__u32 i = 0; i < n && i < 5; i++)
		*(__u64 *)(p + 2 * n + 8 * i) = v[i];
	bpf_ringbuf_submit(h, kst_wake_flags());
	kst_count(type, 1);
	return 0;
}

/* ------------------------------------------------------------------ */
/* variable-size records, built in scratch                             */

struct kst_w {
	struct kst_scratch *s;
	__u32 off; /* next free byte */
	__u32 n;   /* parameters written */
	__u32 flags;
	__u32 type;
	/* The struct file kst_put_fdinfo describes instead of looking its fd
	 * up (io_uring requests: the request's file, fixed files too); 0:
	 * look the fd up in the task's table. */
	__u64 file;
};

static __always_inline int kst_w_begin(struct kst_w *w, struct task_struct *t, __u32 type,
				       __u32 nparams, long ret)
{
	w->s = kst_scratch_get();
	w->type = type;
	w->n = 0;
	w->flags = 0;
	w->file = 0;
	w->off = KST_HDR_LEN + 2 * nparams;
	if (!w->s) {
		kst_count(type, 0);
		return -1;
	}
	kst_fill_hdr((struct kst_event_hdr *)w->s->rec, t, type, nparams, ret);
	return 0;
}

static __always_inline void kst_w_len(struct kst_w *w, __u32 len)
{
	__u32 i = w->n;
	KST_HIDE(i);
	/* n < KST_MAX_PARAMS by construction (the table test checks every
	 * schema); the mask only shows the verifier. */
	i &= 31;
	*(__u16 *)&w->s->rec[KST_HDR_LEN + 2 * i] = len;
	w->n = i + 1;
}

static __always_inline int kst_w_submit(struct kst_w *w)
{
	struct kst_event_hdr *h = (struct kst_event_hdr *)w->s->rec;
	__u32 len = w->off;
	if (len > KST_REC_MAX)
		len = KST_REC_MAX;
	KST_HIDE(len);
	len &= KST_REC_BUF - 1;
	h->len = len;
	h->flags |= w->flags;
	void *rb = kst_ring();
	long err = rb ? bpf_ringbuf_output(rb, h, len, kst_wake_flags()) : -1;
	kst_count(w->type, err == 0);
	return 0;
}

/* Marks a value cut at its cap: its last three bytes, at [end - 3, end)
 * of the record, become "..." (docs/RELIABILITY.md: truncation is visible in
 * the value, and HF_TRUNCATED is set on the record). */
static __always_inline void kst_mark_cut(struct kst_w *w, __u32 end)
{
	if (end < 3)
		return;
	w->s->rec[KST_IDX(end - 3)] = '.';
	w->s->rec[KST_IDX(end - 2)] = '.';
	w->s->rec[KST_IDX(end - 1)] = '.';
}

static __always_inline void kst_put_empty(struct kst_w *w)
{
	kst_w_len(w, 0);
}

static __always_inline void kst_put_u64(struct kst_w *w, __u64 v)
{
	__u32 off = w->off;
	if (off > KST_REC_MAX - 8) {
		w->flags |= KST_HF_TRUNCATED;
		kst_w_len(w, 0);
		return;
	}
	*(__u64 *)&w->s->rec[KST_IDX(off)] = v;
	w->off = off + 8;
	kst_w_len(w, 8);
}

/* A fd, pid or other C int: sign-extended so that -100 stays -100. */
static __always_inline void kst_put_int(struct kst_w *w, __u64 v)
{
	kst_put_u64(w, (__u64)(__s64)(__s32)v);
}

/* A NUL-terminated string from user memory, without its NUL. */
static __always_inline void kst_put_ustr(struct kst_w *w, __u64 uptr, const __u32 cap)
{
	__u32 off = w->off;
	__u32 len = 0;
	if (off > KST_REC_MAX - cap) {
		w->flags |= KST_HF_TRUNCATED;
	} else if (uptr) {
		long r = bpf_probe_read_user_str(&w->s->rec[KST_IDX(off)], cap, (void *)uptr);
		if (r > 0) {
			len = r - 1;
			if (r >= cap) {
				w->flags |= KST_HF_TRUNCATED;
				kst_mark_cut(w, off + len);
			}
		}
	}
	w->off = off + len;
	kst_w_len(w, len);
}

/* A NUL-terminated string from kernel memory, without its NUL. */
static __always_inline void kst_put_kstr(struct kst_w *w, const void *kptr, const __u32 cap)
{
	__u32 off = w->off;
	__u32 len = 0;
	if (off > KST_REC_MAX - cap) {
		w->flags |= KST_HF_TRUNCATED;
	} else if (kptr) {
		long r = bpf_probe_read_kernel_str(&w->s->rec[KST_IDX(off)], cap, kptr);
		if (r > 0) {
			len = r - 1;
			if (r >= cap) {
				w->flags |= KST_HF_TRUNCATED;
				kst_mark_cut(w, off + len);
			}
		}
	}
	w->off = off + len;
	kst_w_len(w, len);
}

/* Up to cap bytes of user memory. */
static __always_inline void kst_put_ubytes(struct kst_w *w, __u64 uptr, __u64 size, const __u32 cap)
{
	__u32 off = w->off;
	__u32 len = size > cap ? cap : (__u32)size;
	if (size > cap)
		w->flags |= KST_HF_TRUNCATED;
	if (off > KST_REC_MAX - cap || !uptr) {
		len = 0;
	} else if (len > 0 && bpf_probe_read_user(&w->s->rec[KST_IDX(off)], kst_len(len), (void *)uptr)) {
		len = 0;
	}
	w->off = off + len;
	kst_w_len(w, len);
}

/* NUL-separated strings from user memory [start, end), without the final NUL. */
static __always_inline void kst_put_ustrlist(struct kst_w *w, __u64 start, __u64 end, const __u32 cap)
{
	__u64 size = end > start ? end - start : 0;
	__u32 off = w->off;
	__u32 len = size > cap ? cap : (__u32)size;
	if (size > cap)
		w->flags |= KST_HF_TRUNCATED;
	if (off > KST_REC_MAX - cap || !start) {
		len = 0;
	} else if (len > 0) {
		if (bpf_probe_read_user(&w->s->rec[KST_IDX(off)], kst_len(len), (void *)start))
			len = 0;
		else if (size > cap)
			kst_mark_cut(w, off + len);
		else if (w->s->rec[KST_IDX(off + len - 1)] == 0)
			len--;
	}
	w->off = off + len;
	kst_w_len(w, len);
}

/* ------------------------------------------------------------------ */
/* paths: walk dentries and mounts up to the task's root                */

struct kst_walk {
	__u64 dentry;
	__u64 vfsmnt;
	__u64 root_dentry;
	__u64 root_mnt;
	__u32 pos; /* first byte of the path in scratch->path */
	__u32 trunc;
};

static __always_inline int kst_prepend(struct kst_walk *wk, const void *name, __u32 len, int slash)
{
	struct kst_scratch *s = kst_scratch_get();
	if (!s)
		return 1;
	if (len > KST_NAME_MAX) {
		len = KST_NAME_MAX;
		wk->trunc = 1;
	}
	KST_HIDE(len);
	len &= KST_NAME_MAX;
	__u32 pos = wk->pos;
	if (pos > KST_PATH_MAX || pos < len + 1) {
		wk->trunc = 1;
		return 1;
	}
	pos = kst_pidx(pos - len);
	if (len)
		bpf_probe_read_kernel(&s->path[pos], len, name);
	if (slash) {
		pos = kst_pidx(pos - 1);
		s->path[pos] = '/';
	}
	wk->pos = pos;
	return 0;
}

static long kst_walk_step(__u64 i, void *ctx)
{
	struct kst_walk *wk = ctx;
	struct dentry *d = (void *)wk->dentry;
	struct vfsmount *vm = (void *)wk->vfsmnt;

	if (!d || !vm)
		return 1;
	if (wk->dentry == wk->root_dentry && wk->vfsmnt == wk->root_mnt)
		return 1;
	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == mnt_root || d == parent) {
		struct qstr q;
		if (d != mnt_root) {
			/* A dentry that belongs to no directory (memfd, nsfs,
			 * anon inodes): its name is all there is. */
			if (bpf_core_read(&q, sizeof(q), &d->d_name))
				return 1;
			kst_prepend(wk, q.name, q.len, 0);
			return 1;
		}
		struct mount *m = (void *)((__u64)vm - bpf_core_field_offset(struct mount, mnt));
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);
		if (!mp || mp == m)
			return 1;
		wk->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
		wk->vfsmnt = (__u64)mp + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	struct qstr q;
	if (bpf_core_read(&q, sizeof(q), &d->d_name))
		return 1;
	if (kst_prepend(wk, q.name, q.len, 1))
		return 1;
	wk->dentry = (__u64)parent;
	return 0;
}

/* Resolves (dentry, vfsmnt) into scratch->path[wk->pos, KST_PATH_MAX). */
static __always_inline void kst_walk_path(struct kst_walk *wk, struct task_struct *t,
					  __u64 dentry, __u64 vfsmnt)
{
	struct fs_struct *fs = t->fs;
	wk->dentry = dentry;
	wk->vfsmnt = vfsmnt;
	wk->root_dentry = (__u64)fs->root.dentry;
	wk->root_mnt = (__u64)fs->root.mnt;
	wk->pos = KST_PATH_MAX;
	wk->trunc = 0;
	bpf_loop(KST_PATH_DEPTH, kst_walk_step, wk, 0);
}

/* Copies the walked path into the record at off; returns its length. */
static __always_inline __u32 kst_copy_walked(struct kst_w *w, struct kst_walk *wk, __u32 off)
{
	__u32 pos = wk->pos;
	if (pos > KST_PATH_MAX)
		pos = KST_PATH_MAX;
	if (wk->trunc) {
		/* The path's head did not fit: "..." stands for it, so the
		 * value never looks like a whole absolute path. */
		w->flags |= KST_HF_TRUNCATED;
		if (pos >= 3)
			pos -= 3;
		w->s->path[kst_pidx(pos)] = '.';
		w->s->path[kst_pidx(pos + 1)] = '.';
		w->s->path[kst_pidx(pos + 2)] = '.';
	}
	__u32 len = KST_PATH_MAX - pos;
	if (off > KST_REC_MAX - KST_PATH_MAX)
		return 0;
	if (len == 0) {
		w->s->rec[KST_IDX(off)] = '/';
		return 1;
	}
	if (bpf_probe_read_kernel(&w->s->rec[KST_IDX(off)], kst_len(len),
				  &w->s->path[kst_pidx(pos)]))
		return 0;
	return len;
}

/* A path parameter resolved from (dentry, vfsmnt). */
static __noinline void kst_put_dpath(struct kst_w *w, struct task_struct *t, __u64 dentry, __u64 vfsmnt)
{
	struct kst_walk wk;
	__u32 off = w->off;
	__u32 len = 0;
	if (dentry && vfsmnt && off <= KST_REC_MAX - KST_PATH_MAX) {
		kst_walk_path(&wk, t, dentry, vfsmnt);
		len = kst_copy_walked(w, &wk, off);
	}
	w->off = off + len;
	kst_w_len(w, len);
}

/* ------------------------------------------------------------------ */
/* fds                                                                 */

static __always_inline struct file *kst_fd_file(struct task_struct *t, long fd)
{
	if (fd < 0)
		return 0;
	struct fdtable *fdt = t->files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return 0;
	struct file **fds = fdt->fd;
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* The dirpath hidden parameter: the directory dirfd refers to, only when
 * the path (already written, starting at path_off with path_len bytes) is
 * relative and dirfd is not AT_FDCWD. */
static __noinline void kst_put_dirpath_slow(struct kst_w *w, struct task_struct *t, long dirfd)
{
	struct file *f = kst_fd_file(t, (int)dirfd);
	if (!f) {
		kst_w_len(w, 0);
		return;
	}
	struct path p;
	if (bpf_core_read(&p, sizeof(p), &f->f_path)) {
		kst_w_len(w, 0);
		return;
	}
	kst_put_dpath(w, t, (__u64)p.dentry, (__u64)p.mnt);
}

static __always_inline void kst_put_dirpath(struct kst_w *w, struct task_struct *t, long dirfd,
					    __u32 path_off, __u32 path_len)
{
	/* Inline: the common case (AT_FDCWD or an absolute path) makes no
	 * call. */
	if ((int)dirfd == AT_FDCWD || (path_len > 0 && w->s->rec[KST_IDX(path_off)] == '/'))
		kst_w_len(w, 0);
	else
		kst_put_dirpath_slow(w, t, dirfd);
}

/* Path argument from user memory; remembers where it went for dirpath. */
static __always_inline void kst_put_upath(struct kst_w *w, __u64 uptr, __u32 *at, __u32 *len)
{
	__u32 off = w->off;
	kst_put_ustr(w, uptr, KST_PATH_MAX);
	*at = off;
	*len = w->off - off;
}

static __always_inline __u8 kst_anon_kind(__u64 name8)
{
	/* Anon inode names, compared on their first 8 bytes (little endian,
	 * NUL padded for the shorter ones). */
	switch (name8) {
	case 0x6466746e6576655bULL: /* "[eventfd" */
		return KST_FD_EVENT;
	case 0x6f70746e6576655bULL: /* "[eventpo" */
		return KST_FD_EVENTPOLL;
	case 0x666c616e6769735bULL: /* "[signalf" */
		return KST_FD_SIGNALFD;
	case 0x646672656d69745bULL: /* "[timerfd" */
		return KST_FD_TIMERFD;
	case 0x00796669746f6e69ULL: /* "inotify" */
		return KST_FD_INOTIFY;
	case 0x756166726573755bULL: /* "[userfau" */
		return KST_FD_USERFAULTFD;
	case 0x6e6972755f6f695bULL: /* "[io_urin" */
		return KST_FD_IOURING;
	case 0x005d64666469705bULL: /* "[pidfd]" (before pidfs) */
		return KST_FD_PIDFD;
	}
	/* "bpf-map", "bpf-prog", "bpf_link", "bpf_iter", ... */
	if ((name8 & 0xffffff) == 0x667062)
		return KST_FD_BPF;
	return KST_FD_UNKNOWN;
}

static __always_inline void kst_fill_tuple_sock(struct kst_sock_tuple *tu, struct sock *sk, __u8 *kind)
{
	unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
	tu->sock_type = BPF_CORE_READ(sk, sk_type);
	tu->l4proto = BPF_CORE_READ(sk, sk_protocol);
	if (family == 2 /* AF_INET */) {
		*kind = KST_FD_IPV4;
		tu->family = KST_AF_INET;
		__u32 sa = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 da = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(tu->saddr, &sa, 4);
		__builtin_memcpy(tu->daddr, &da, 4);
		tu->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
		tu->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	} else if (family == 10 /* AF_INET6 */) {
		*kind = KST_FD_IPV6;
		tu->family = KST_AF_INET6;
		bpf_core_read(tu->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(tu->daddr, 16, &sk->__sk_common.skc_v6_daddr);
		tu->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
		tu->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	} else if (family == 1 /* AF_UNIX */) {
		*kind = KST_FD_UNIX;
		tu->family = KST_AF_UNIX;
		tu->l4proto = 0;
	} else if (family == KST_AF_NETLINK) {
		*kind = KST_FD_NETLINK;
	} else {
		*kind = KST_FD_UNKNOWN;
	}
}

/* Copies a unix socket's bound path (or its peer's) to rec[off]. */
static __always_inline __u32 kst_unix_path(struct kst_w *w, struct sock *sk, __u32 off)
{
	struct unix_sock *us = (void *)sk;
	struct unix_address *ua = BPF_CORE_READ(us, addr);
	if (!ua) {
		struct unix_sock *peer = (void *)BPF_CORE_READ(us, peer);
		if (peer)
			ua = BPF_CORE_READ(peer, addr);
	}
	if (!ua || off > KST_REC_MAX - 128)
		return 0;
	int alen = BPF_CORE_READ(ua, len);
	/* len counts sun_family (2 bytes); abstract names start with NUL. */
	__u32 plen = alen > 2 ? alen - 2 : 0;
	if (plen > 108)
		plen = 108;
	if (!plen)
		return 0;
	/* name[] is a flexible array; sun_path follows the 2-byte family. */
	__u64 src = (__u64)ua + bpf_core_field_offset(struct unix_address, name) + 2;
	if (bpf_probe_read_kernel(&w->s->rec[KST_IDX(off)], kst_len(plen), (void *)src))
		return 0;
	/* Filesystem names carry their NUL in len; drop it. */
	if (w->s->rec[KST_IDX(off + plen - 1)] == 0 && w->s->rec[KST_IDX(off)] != 0)
		plen--;
	return plen;
}

/* Parses a user sockaddr into the d-side of tu (and a unix path at
 * rec[path_off], returning its length). */
static __always_inline __u32 kst_user_sockaddr(struct kst_w *w, struct kst_sock_tuple *tu, __u64 uaddr,
					       __u64 ulen, __u32 path_off)
{
	unsigned short fam = 0;
	if (!uaddr || ulen < 2 || bpf_probe_read_user(&fam, sizeof(fam), (void *)uaddr))
		return 0;
	if (fam == 2 && ulen >= 8) {
		struct {
			__u16 family;
			__u16 port;
			__u32 addr;
		} sin;
		if (bpf_probe_read_user(&sin, sizeof(sin), (void *)uaddr))
			return 0;
		tu->family = KST_AF_INET;
		tu->dport = bpf_ntohs(sin.port);
		__builtin_memcpy(tu->daddr, &sin.addr, 4);
	} else if (fam == 10 && ulen >= 24) {
		struct {
			__u16 family;
			__u16 port;
			__u32 flowinfo;
			__u8 addr[16];
		} sin6;
		if (bpf_probe_read_user(&sin6, sizeof(sin6), (void *)uaddr))
			return 0;
		tu->family = KST_AF_INET6;
		tu->dport = bpf_ntohs(sin6.port);
		__builtin_memcpy(tu->daddr, sin6.addr, 16);
	} else if (fam == 1) {
		tu->family = KST_AF_UNIX;
		__u64 plen = ulen - 2;
		if (plen > 108)
			plen = 108;
		if (!plen || path_off > KST_REC_MAX - 128)
			return 0;
		if (bpf_probe_read_user(&w->s->rec[KST_IDX(path_off)], kst_len(plen), (void *)(uaddr + 2)))
			return 0;
		if (w->s->rec[KST_IDX(path_off)] != 0) {
			/* A filesystem name: stop at its NUL. */
			long r = bpf_probe_read_user_str(&w->s->rec[KST_IDX(path_off)], kst_len(plen + 1 > 108 ? 108 : plen + 1),
							  (void *)(uaddr + 2));
			if (r <= 0)
				return 0;
			return r - 1 > plen ? plen : r - 1;
		}
		return plen;
	} else {
		tu->family = fam > 255 ? 255 : fam;
	}
	return 0;
}

/* A kst_sock_tuple parameter holding a caller-supplied address (in the
 * d-side), followed by the unix path if any. */
static __noinline void kst_put_sockaddr(struct kst_w *w, __u64 uaddr, __u64 ulen)
{
	__u32 off = w->off;
	if (off > KST_REC_MAX - (KST_TUPLE_LEN + 128)) {
		kst_w_len(w, 0);
		return;
	}
	struct kst_sock_tuple *tu = (void *)&w->s->rec[KST_IDX(off)];
	__builtin_memset(tu, 0, sizeof(*tu));
	__u32 plen = kst_user_sockaddr(w, tu, uaddr, ulen, off + KST_TUPLE_LEN);
	__u32 len = KST_TUPLE_LEN + plen;
	w->off = off + len;
	kst_w_len(w, len);
}

/* "<type>:[<inode>]" for a namespace file (what readlink shows; nsfs
 * dentries are anonymous, their name comes from d_dname). Returns the
 * length written at rec[off]. */
static __always_inline __u32 kst_nsfs_name(struct kst_w *w, struct inode *ino, __u32 off)
{
	if (off > KST_REC_MAX - 64)
		return 0;
	struct ns_common *ns = BPF_CORE_READ(ino, i_private);
	const char *name = BPF_CORE_READ(ns, ops, name);
	long r = bpf_probe_read_kernel_str(&w->s->rec[KST_IDX(off)], 16, name);
	if (r <= 0)
		return 0;
	__u32 n = r - 1;
	w->s->rec[KST_IDX(off + n)] = ':';
	w->s->rec[KST_IDX(off + n + 1)] = '[';
	n += 2;
	__u64 v = BPF_CORE_READ(ino, i_ino);
	__u64 t = v / 10;
	__u32 nd = 1;
#pragma unroll
	for (int i = 0; i < 19; i++) {
		if (t) {
			nd++;
			t /= 10;
		}
	}
#pragma unroll
	for (__u32 i = 0; i < 20; i++) {
		if (i < nd) {
			w->s->rec[KST_IDX(off + n + nd - 1 - i)] = '0' + v % 10;
			v /= 10;
		}
	}
	n += nd;
	w->s->rec[KST_IDX(off + n)] = ']';
	return n + 1;
}

/*
 * A kst_fdinfo parameter for fd, resolved in the kernel, followed by the
 * file's path (files, directories, unix sockets, memfds). For an
 * unconnected socket a caller-supplied address (uaddr, ulen) fills the
 * peer side.
 */
static __noinline void kst_put_fdinfo(struct kst_w *w, struct task_struct *t, long fd, __u64 uaddr,
				      __u64 ulen)
{
	__u32 off = w->off;
	if (off > KST_REC_MAX - (KST_FDINFO_LEN + KST_PATH_MAX)) {
		w->flags |= KST_HF_TRUNCATED;
		kst_w_len(w, 0);
		return;
	}
	struct kst_fdinfo *fi = (void *)&w->s->rec[KST_IDX(off)];
	__builtin_memset(fi, 0, sizeof(*fi));
	fi->fd = (int)fd;
	__u32 len = KST_FDINFO_LEN;
	__u32 poff = off + KST_FDINFO_LEN;
	struct file *f = w->file ? (struct file *)w->file : kst_fd_file(t, (int)fd);
	if (!f)
		goto out;
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	unsigned short mode = BPF_CORE_READ(ino, i_mode);
	unsigned long magic = BPF_CORE_READ(ino, i_sb, s_magic);
	struct path p;
	int walk = 0;
	switch (mode & S_IFMT) {
	case S_IFSOCK: {
		struct socket *sock = BPF_CORE_READ(f, private_data);
		struct sock *sk = BPF_CORE_READ(sock, sk);
		if (!sk) {
			fi->kind = KST_FD_UNKNOWN;
			goto out;
		}
		__u8 kind = KST_FD_UNKNOWN;
		kst_fill_tuple_sock(&fi->tuple, sk, &kind);
		fi->kind = kind;
		if (kind == KST_FD_UNIX) {
			len += kst_unix_path(w, sk, poff);
		} else if ((kind == KST_FD_IPV4 || kind == KST_FD_IPV6) && uaddr) {
			/* Unconnected datagram socket: the peer is the address
			 * the caller gave for this one call. */
			int zero = 1;
			for (int i = 0; i < 16; i++)
				if (fi->tuple.daddr[i])
					zero = 0;
			if (zero && fi->tuple.dport == 0) {
				struct kst_sock_tuple tmp = {};
				kst_user_sockaddr(w, &tmp, uaddr, ulen, poff);
				if (tmp.family == fi->tuple.family) {
					__builtin_memcpy(fi->tuple.daddr, tmp.daddr, 16);
					fi->tuple.dport = tmp.dport;
				}
			}
		}
		goto out;
	}
	case S_IFDIR:
		fi->kind = KST_FD_DIRECTORY;
		walk = 1;
		break;
	case S_IFIFO:
		fi->kind = KST_FD_PIPE;
		break;
	case S_IFREG:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFLNK:
		fi->kind = KST_FD_FILE;
		walk = 1;
		if (magic == PID_FS_MAGIC) {
			fi->kind = KST_FD_PIDFD;
			walk = 0;
		} else if (magic == NSFS_MAGIC) {
			len += kst_nsfs_name(w, ino, poff);
			walk = 0;
		} else if (magic == TMPFS_MAGIC || magic == HUGETLBFS_MAGIC) {
			const unsigned char *nm = BPF_CORE_READ(f, f_path.dentry, d_name.name);
			__u64 n8 = 0;
			bpf_probe_read_kernel(&n8, 6, nm);
			if (n8 == 0x3a64666d656dULL) /* "memfd:" */
				fi->kind = KST_FD_MEMFD;
		}
		break;
	default: {
		const unsigned char *nm = BPF_CORE_READ(f, f_path.dentry, d_name.name);
		__u64 n8 = 0;
		bpf_probe_read_kernel(&n8, 8, nm);
		fi->kind = magic == ANON_INODE_FS_MAGIC ? kst_anon_kind(n8) : KST_FD_UNKNOWN;
		if (magic == BPF_FS_MAGIC)
			fi->kind = KST_FD_BPF;
		break;
	}
	}
	if (walk && !bpf_core_read(&p, sizeof(p), &f->f_path)) {
		struct kst_walk wk;
		kst_walk_path(&wk, t, (__u64)p.dentry, (__u64)p.mnt);
		len += kst_copy_walked(w, &wk, poff);
	}
out:
	w->off = off + len;
	kst_w_len(w, len);
}

/* User buffer contents for send/recv: at most snaplen bytes of what moved. */
static __always_inline void kst_put_iodata(struct kst_w *w, __u64 ubuf, long ret)
{
	__u32 snap = kst_snaplen;
	if (snap > KST_DATA_MAX)
		snap = KST_DATA_MAX;
	__u64 n = ret > 0 ? (__u64)ret : 0;
	if (n > snap)
		n = snap;
	__u32 off = w->off;
	__u32 len = n;
	if (off > KST_REC_MAX - KST_DATA_MAX || !ubuf) {
		len = 0;
	} else if (len > 0 && bpf_probe_read_user(&w->s->rec[KST_IDX(off)], kst_len(len), (void *)ubuf)) {
		len = 0;
	}
	w->off = off + len;
	kst_w_len(w, len);
}

#endif /* KESTREL_COMMON_H */
