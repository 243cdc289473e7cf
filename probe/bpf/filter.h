/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * The interest filter: a predicate per event type, derived by userspace
 * from the loaded rules (kestrel_engine::kfilter), that an event must pass
 * to enter the ring. An event no enabled rule could match, and that no
 * process or socket state needs, costs the kernel-side test and nothing
 * else: no reservation, no header, no userspace work.
 *
 * Per type (kst_tfilter, struct kst_tfilter in kestrel_wire.h): pass all,
 * drop all, or up to KST_FILTER_CLAUSES clauses, any of which must hold.
 * A clause tests the return value, the open flags (open family) or the
 * command class (fcntl: whether it copies the descriptor), the
 * path's membership in path sets (an LPM trie of prefixes and exact paths)
 * and the comm's membership in comm sets (a hash map). A path the filter
 * cannot judge exactly as userspace will (relative, too long, or not
 * plain: "//", "/./", "../", a trailing "/", "/." or "/..") passes every
 * path test; so does the comm of a thread that is not its process's main
 * thread. Userspace proves the derivation conservative (every event a
 * rule matches passes) with property tests over Falco's rules files.
 *
 * Two slots: a reload fills the slot not in force and flips kst_fcfg.
 * A program reads the slot once per run.
 *
 * Filtered events are counted per type (kst_filtered) and, for processes
 * a load generator asked the daemon to track, per process and type
 * (kst_track_filtered), so that its reconciliation stays exact.
 *
 * Measured on the development VM (BPF run-time statistics, openat of a
 * short absolute path): see perf/probe-overhead/README.md.
 */
#ifndef KESTREL_FILTER_H
#define KESTREL_FILTER_H

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kst_fcfg);
} kst_fcfg SEC(".maps");

/* [slot * KST_EV_MAX + type] */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * KST_EV_MAX);
	__type(key, __u32);
	__type(value, struct kst_tfilter);
} kst_tfilter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kst_fpath_key);
	__type(value, __u64);
} kst_fpath SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, struct kst_fcomm_key);
	__type(value, __u64);
} kst_fcomm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KST_EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} kst_filtered SEC(".maps");

/* tgid -> tracking slot */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KST_TRACK_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} kst_track SEC(".maps");

/* [(slot * 2 + rel) * KST_EV_MAX + type], rel 0 = the process, 1 = a child */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KST_TRACK_SLOTS * 2 * KST_EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} kst_track_filtered SEC(".maps");

/* (tgid << 32 | fd) of sockets whose connect or accept was emitted: their
 * close is socket state userspace needs (KST_TFF_SOCKFD). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} kst_sockfds SEC(".maps");

/* `tracking`: kst_fcfg.tracking, as the caller read it. */
static __always_inline void kst_count_filtered(struct task_struct *t, __u32 type, __u32 tracking)
{
	__u32 k = type & (KST_EV_MAX - 1);
	__u64 *c = bpf_map_lookup_elem(&kst_filtered, &k);
	if (c)
		*c += 1;
	if (!tracking)
		return;
	__u32 tgid = t->tgid;
	__u32 ptgid = t->real_parent->tgid;
	__u32 *slot = bpf_map_lookup_elem(&kst_track, &tgid);
	if (slot) {
		__u32 i = ((*slot & (KST_TRACK_SLOTS - 1)) * 2) * KST_EV_MAX + k;
		__u64 *n = bpf_map_lookup_elem(&kst_track_filtered, &i);
		if (n)
			*n += 1;
	}
	slot = bpf_map_lookup_elem(&kst_track, &ptgid);
	if (slot) {
		__u32 i = ((*slot & (KST_TRACK_SLOTS - 1)) * 2 + 1) * KST_EV_MAX + k;
		__u64 *n = bpf_map_lookup_elem(&kst_track_filtered, &i);
		if (n)
			*n += 1;
	}
}

/* 0x80 in every byte of w equal to the corresponding byte of pat, 0
 * elsewhere (exact: no false positives from borrows). */
static __always_inline __u64 kst_bytes_eq(__u64 w, __u64 pat)
{
	const __u64 low7 = 0x7f7f7f7f7f7f7f7fULL;
	__u64 x = w ^ pat;
	__u64 t = (x & low7) + low7;
	return ~(t | x | low7);
}

/*
 * Reads the path argument into the scratch trie key and returns its sets,
 * or ~0 (every set) when the path cannot be judged.
 */
static __always_inline __u64 kst_path_sets(__u64 uptr, __u32 slot)
{
	struct kst_scratch *s = kst_scratch_get();
	if (!s || !uptr)
		return ~0ULL;
	s->fpath_len = 0;
	struct kst_fpath_key *k = &s->fkey;
	/* Room for KST_FPATH_MAX bytes and the NUL; a longer path fills the
	 * buffer (r == KST_FPATH_DATA) and is not judged. */
	long r = bpf_probe_read_user_str(&k->data[1], KST_FPATH_DATA, (void *)uptr);
	if (r < 2 || r > KST_FPATH_MAX + 1)
		return ~0ULL;
	/* Whole: the record may reuse it (same bytes the filter judged). */
	s->fpath_len = r;
	__u32 len = r - 1;
	if (k->data[1] != '/')
		return ~0ULL;
	/* Plain: no "//", "/./" or "../", no trailing "/", "/." or "..".
	 * Eight bytes at a time in windows that overlap by two, so that every
	 * three-byte pattern lies wholly in some window: a byte mask per
	 * character of interest, then the patterns by shifting the masks. */
	for (__u32 i = 0; i < (KST_FPATH_MAX + 5) / 6; i++) {
		__u32 off = 1 + i * 6;
		if (off > len)
			break;
		__u64 w = *(__u64 *)&k->data[off & (KST_FPATH_DATA - 1)];
		__u32 nvalid = len + 1 - off;
		__u64 valid = nvalid >= 8 ? ~0ULL : (1ULL << (nvalid * 8)) - 1;
		__u64 sl = kst_bytes_eq(w, 0x2f2f2f2f2f2f2f2fULL) & valid;
		__u64 dot = kst_bytes_eq(w, 0x2e2e2e2e2e2e2e2eULL) & valid;
		if ((sl & (sl >> 8)) | (sl & (dot >> 8) & (sl >> 16)) | (dot & (dot >> 8) & (sl >> 16)))
			return ~0ULL;
	}
	__u8 last = k->data[len & (KST_FPATH_DATA - 1)];
	__u8 before = k->data[(len - 1) & (KST_FPATH_DATA - 1)];
	if (len > 1 && (last == '/' || (last == '.' && (before == '/' || before == '.'))))
		return ~0ULL;
	k->data[0] = slot;
	/* slot byte + path + its NUL: an exact entry (pattern and NUL) or any
	 * prefix entry (pattern only) of the path matches. */
	k->prefixlen = (len + 2) * 8;
	__u64 *m = bpf_map_lookup_elem(&kst_fpath, k);
	return m ? *m : 0;
}

static __always_inline __u64 kst_comm_sets(struct task_struct *t, __u32 slot)
{
	struct kst_fcomm_key k = { .slot = slot };
	/* task->comm is NUL terminated and zero padded (strscpy_pad); copy it
	 * up to the NUL anyway so that the key never holds stale bytes. */
	int end = 0;
#pragma unroll
	for (int i = 0; i < KST_COMM_LEN; i++) {
		char c = t->comm[i];
		if (c == 0)
			end = 1;
		k.comm[i] = end ? 0 : c;
	}
	__u64 *m = bpf_map_lookup_elem(&kst_fcomm, &k);
	return m ? *m : 0;
}

/* The path and flags arguments of an open-family call. */
static __always_inline void kst_open_args(struct pt_regs *regs, __u32 type, __u64 *path, __u32 *flags)
{
	switch (type) {
	case KST_EV_OPEN:
		*path = regs->di;
		*flags = (__u32)regs->si;
		break;
	case KST_EV_CREAT:
		*path = regs->di;
		*flags = 01 | 0100 | 01000; /* O_WRONLY | O_CREAT | O_TRUNC */
		break;
	case KST_EV_OPENAT:
		*path = regs->si;
		*flags = (__u32)regs->dx;
		break;
	case KST_EV_OPENAT2: {
		__u64 f = 0;
		*path = regs->si;
		bpf_probe_read_user(&f, sizeof(f), (void *)regs->dx);
		*flags = (__u32)f;
		break;
	}
	}
}

static __always_inline int kst_is_open_family(__u32 type)
{
	return type == KST_EV_OPEN || type == KST_EV_OPENAT || type == KST_EV_OPENAT2 ||
	       type == KST_EV_CREAT;
}

#define KST_F_DUPFD 0
#define KST_F_DUPFD_CLOEXEC 1030

/* 1 for the fcntl commands that copy the descriptor, else 0
 * (kestrel_event::table::fcntl_cmd::class). */
static __always_inline __u32 kst_fcntl_class(__u32 cmd)
{
	return cmd == KST_F_DUPFD || cmd == KST_F_DUPFD_CLOEXEC;
}

/* The header flags an emitted event carries (kst_fill_hdr reads them). */
static __always_inline int kst_filter_pass(__u32 hflags)
{
	struct kst_scratch *s = kst_scratch_get();
	if (s)
		s->hflags = hflags;
	return 1;
}

/*
 * The per-type filter in force for `type` (NULL when none is installed)
 * and the install counter it was found under (*active: its low bit is the
 * slot, its low byte the generation marks carry). kst_fcfg.active is read
 * once, so that the slot's tables and the generation an event is marked
 * with come from the same install even when a reload flips it meanwhile.
 */
static __always_inline struct kst_tfilter *kst_tfilter_get(__u32 type, struct kst_fcfg **cfgp,
							   __u32 *active)
{
	__u32 zero = 0;
	struct kst_fcfg *cfg = bpf_map_lookup_elem(&kst_fcfg, &zero);
	*cfgp = cfg;
	if (!cfg)
		return 0;
	__u32 a = cfg->active;
	*active = a;
	__u32 idx = (a & 1) * KST_EV_MAX + (type & (KST_EV_MAX - 1));
	return bpf_map_lookup_elem(&kst_tfilter, &idx);
}

/* Whether the filter in force passes every event of `type` (or none is
 * installed): the common case for types the rules need whole, tested
 * inline so that such an event skips the call into kst_filter (12 ns per
 * close on the development VM, where every call pays the kernel's
 * return-thunk mitigation). kst_filter_pass(0) has nothing to do for
 * them: the header flags are already 0 between events. */
static __always_inline int kst_filter_passes_whole(__u32 type)
{
	struct kst_fcfg *cfg;
	__u32 active = 0;
	struct kst_tfilter *tf = kst_tfilter_get(type, &cfg, &active);
	return !tf || tf->mode == KST_TF_PASS;
}

/*
 * Whether the event of `type` should be emitted. Counts it when it is
 * not. An emitted event whose clauses were evaluated carries KST_HF_KEVAL,
 * the filter's generation, and KST_HF_KSEL when one held (in KST_TFF_MARK mode the event
 * is emitted either way). Not inlined: its locals would add to the deepest
 * call chain's stack, which the record builders already bring close to
 * 512 bytes.
 */
static __noinline int kst_filter(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_fcfg *cfg;
	__u32 active = 0;
	struct kst_tfilter *tf = kst_tfilter_get(type, &cfg, &active);
	if (!cfg || !tf || tf->mode == KST_TF_PASS)
		return kst_filter_pass(0);
	if ((tf->flags & KST_TFF_SOCKFD) && type == KST_EV_CLOSE && ret == 0) {
		__u64 key = ((__u64)t->tgid << 32) | (__u32)regs->di;
		if (bpf_map_lookup_elem(&kst_sockfds, &key)) {
			bpf_map_delete_elem(&kst_sockfds, &key);
			return kst_filter_pass(0);
		}
	}
	__u32 slot = active & 1;
	__u32 keval = KST_HF_KEVAL | ((active & 0xff) << KST_HF_KGEN_SHIFT);
	if (tf->mode != KST_TF_CLAUSES)
		goto filtered;

	int open = kst_is_open_family(type);
	/* fcntl's command class takes the place of the access mode (bit 1:
	 * F_DUPFD or F_DUPFD_CLOEXEC, bit 0: any other command), so that rules
	 * on descriptor copies do not bring every F_SETFL into the ring. */
	int fcntl = type == KST_EV_FCNTL;
	__u64 upath = 0;
	__u32 flags = 0;
	if (open)
		kst_open_args(regs, type, &upath, &flags);
	else if (fcntl)
		flags = kst_fcntl_class((__u32)regs->si);
	__u64 psets = ~0ULL, csets = ~0ULL;
	if (open && (tf->flags & KST_TFF_PATH))
		psets = kst_path_sets(upath, slot);
	/* Comm tests apply to a process's main thread only: another thread
	 * may have renamed itself, and proc.name is the process's name. */
	if ((tf->flags & KST_TFF_COMM) && t->pid == t->tgid)
		csets = kst_comm_sets(t, slot);
	__u32 n = tf->nclauses;
	for (int i = 0; i < KST_FILTER_CLAUSES; i++) {
		if (i >= n)
			break;
		struct kst_fclause *c = &tf->c[i];
		if (c->ret == KST_FR_SUCCESS && ret < 0)
			continue;
		if (c->ret == KST_FR_FAILURE && ret >= 0)
			continue;
		if (open || fcntl) {
			if (!(c->acc_modes & (1 << (flags & 3))))
				continue;
			if (c->flags_any && !(flags & c->flags_any))
				continue;
			if (flags & c->flags_none)
				continue;
		}
		if (c->path_mask && !(psets & c->path_mask))
			continue;
		if (c->comm_mask && !(csets & c->comm_mask))
			continue;
		return kst_filter_pass(keval | KST_HF_KSEL);
	}
	if (tf->flags & KST_TFF_MARK)
		return kst_filter_pass(keval);
	if (open && (tf->flags & KST_TFF_PATH)) {
		/* The path read is this event's: no later event may reuse it. */
		struct kst_scratch *s = kst_scratch_get();
		if (s)
			s->fpath_len = 0;
	}
filtered:
	kst_count_filtered(t, type, cfg->tracking);
	return 0;
}

/* After an emitted connect or accept: its socket's close is state. */
static __always_inline void kst_note_sockfd(struct task_struct *t, __u32 type, long ret, __u64 fd_arg)
{
	__u64 fd;
	if (type == KST_EV_CONNECT && (ret == 0 || ret == -115 /* EINPROGRESS */))
		fd = (__u32)fd_arg;
	else if ((type == KST_EV_ACCEPT || type == KST_EV_ACCEPT4) && ret >= 0)
		fd = (__u32)ret;
	else if (type == KST_EV_SOCKET && ret >= 0) {
		/* A fresh fd: whatever socket had this number is gone. */
		__u64 key = ((__u64)t->tgid << 32) | (__u32)ret;
		bpf_map_delete_elem(&kst_sockfds, &key);
		return;
	} else
		return;
	__u64 key = ((__u64)t->tgid << 32) | fd;
	__u8 one = 1;
	bpf_map_update_elem(&kst_sockfds, &key, &one, BPF_ANY);
}

#endif /* KESTREL_FILTER_H */
