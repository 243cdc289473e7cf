/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * tp_btf/sys_exit: one program for every traced system call.
 *
 * The untraced path (getppid and every syscall no rule needs) is a register
 * load, an inlined array lookup and a compare: no helper runs before the
 * syscall number is known to be wanted. Arguments come from the saved user
 * registers (di, si, dx, r10, r8, r9) at exit; the return value from the
 * tracepoint.
 *
 * Included by kestrel.bpf.c (one object, so that all hooks share the maps).
 */

/* open, creat: name, [flags,] mode */
static __noinline int kst_sc_open(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	int creat = type == KST_EV_CREAT;
	if (kst_w_begin(&w, t, type, creat ? 2 : 3, ret))
		return 0;
	kst_put_ustr(&w, regs->di, KST_PATH_MAX);
	if (!creat)
		kst_put_u64(&w, ZX32(regs->si));
	kst_put_u64(&w, ZX32(creat ? regs->si : regs->dx));
	return kst_w_submit(&w);
}

/*
 * openat, the hottest traced call, without the scratch buffer: the record
 * is reserved in the ring with room for a path of up to KST_INLINE_PATH
 * bytes and filled in place; hdr.len is the used part (the reader trims the
 * ring record to it). A longer path, or a relative one that needs the
 * kernel-resolved dirpath, discards the reservation and takes the general
 * path. Measured: 26 ns less per openat than scratch + bpf_ringbuf_output.
 */
#define KST_INLINE_PATH 256

static __always_inline int kst_openat_inline(struct task_struct *t, struct pt_regs *regs, long ret)
{
	const __u32 n = 5;
	const __u32 fixed = KST_HDR_LEN + 2 * n + 8 * 3;
	long dirfd = (int)regs->di;
	void *rb = kst_ring();
	struct kst_event_hdr *h = rb ? bpf_ringbuf_reserve(rb, fixed + KST_INLINE_PATH, 0) : 0;
	if (!h) {
		kst_count(KST_EV_OPENAT, 0);
		return 0;
	}
	__u8 *lens = (__u8 *)(h + 1);
	__u8 *data = lens + 2 * n;
	*(__u64 *)data = SX32(dirfd);
	/* The filter read this path already (same pointer) when it tested
	 * it: copy those bytes rather than read user memory a second time. */
	struct kst_scratch *s = kst_scratch_get();
	__u32 flen = s ? s->fpath_len : 0;
	long r;
	if (flen > 0 && flen < KST_INLINE_PATH) {
		KST_HIDE(flen);
		flen &= KST_INLINE_PATH - 1;
		/* Word copies between two maps' memory, no helper call (the
		 * source has slack past KST_FPATH_DATA, the record room for
		 * KST_INLINE_PATH bytes; bytes past flen are overwritten
		 * below or lie past hdr.len). */
		const __u8 *src = &s->fkey.data[1];
#pragma unroll
		for (__u32 i = 0; i < KST_INLINE_PATH / 8; i++) {
			if (i * 8 >= flen)
				break;
			*(__u64 *)(data + 8 + 8 * i) = *(const __u64 *)(src + 8 * i);
		}
		r = flen;
	} else {
		r = bpf_probe_read_user_str(data + 8, KST_INLINE_PATH, (void *)regs->si);
	}
	__u32 plen = r > 0 ? r - 1 : 0;
	if (r >= KST_INLINE_PATH || ((int)dirfd != AT_FDCWD && (plen == 0 || data[8] != '/'))) {
		bpf_ringbuf_discard(h, BPF_RB_NO_WAKEUP);
		return -1;
	}
	KST_HIDE(plen);
	plen &= KST_INLINE_PATH - 1;
	*(__u64 *)(data + 8 + plen) = ZX32(regs->dx);
	*(__u64 *)(data + 16 + plen) = ZX32(regs->r10);
	*(__u16 *)(lens + 0) = 8;
	*(__u16 *)(lens + 2) = plen;
	*(__u16 *)(lens + 4) = 8;
	*(__u16 *)(lens + 6) = 8;
	*(__u16 *)(lens + 8) = 0;
	kst_fill_hdr(h, t, KST_EV_OPENAT, n, ret);
	h->len = fixed + plen;
	bpf_ringbuf_submit(h, kst_wake_flags());
	kst_count(KST_EV_OPENAT, 1);
	return 0;
}

/* openat, openat2: dirfd, name, flags, mode, [resolve,] dirpath */
static __noinline int kst_sc_openat(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	__u32 at, len;
	long dirfd = (int)regs->di;
	int two = type == KST_EV_OPENAT2;
	if (kst_w_begin(&w, t, type, two ? 6 : 5, ret))
		return 0;
	kst_put_int(&w, dirfd);
	kst_put_upath(&w, regs->si, &at, &len);
	if (two) {
		struct kst_open_how how = {};
		bpf_probe_read_user(&how, sizeof(how), (void *)regs->dx);
		kst_put_u64(&w, how.flags);
		kst_put_u64(&w, how.mode);
		kst_put_u64(&w, how.resolve);
	} else {
		kst_put_u64(&w, ZX32(regs->dx));
		kst_put_u64(&w, ZX32(regs->r10));
	}
	kst_put_dirpath(&w, t, dirfd, at, len);
	return kst_w_submit(&w);
}

/* One user path: unlink, rmdir, chdir, chroot. */
static __noinline int kst_sc_path1(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	if (kst_w_begin(&w, t, type, 1, ret))
		return 0;
	kst_put_ustr(&w, regs->di, KST_PATH_MAX);
	return kst_w_submit(&w);
}

/* Two user paths (symlink's target is a string, stored the same way):
 * symlink, link, rename. */
static __noinline int kst_sc_path2(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	if (kst_w_begin(&w, t, type, 2, ret))
		return 0;
	kst_put_ustr(&w, regs->di, KST_PATH_MAX);
	kst_put_ustr(&w, regs->si, KST_PATH_MAX);
	return kst_w_submit(&w);
}

/* A user path and integers: mkdir, chmod, umount2 (path, x), truncate
 * (path, 64-bit length); chown, lchown (path, uid, gid). */
static __noinline int kst_sc_path_ints(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	int three = type == KST_EV_CHOWN || type == KST_EV_LCHOWN;
	if (kst_w_begin(&w, t, type, three ? 3 : 2, ret))
		return 0;
	kst_put_ustr(&w, regs->di, KST_PATH_MAX);
	kst_put_u64(&w, type == KST_EV_TRUNCATE ? regs->si : ZX32(regs->si));
	if (three)
		kst_put_u64(&w, ZX32(regs->dx));
	return kst_w_submit(&w);
}

/* dirfd, path, [ints...], dirpath: unlinkat (flags), mkdirat (mode),
 * fchmodat (mode), fchmodat2 (mode, flags), fchownat (uid, gid, flags). */
static __noinline int kst_sc_at1(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	__u32 at, len;
	long dirfd = (int)regs->di;
	int chown = type == KST_EV_FCHOWNAT;
	int chmod2 = type == KST_EV_FCHMODAT2;
	if (kst_w_begin(&w, t, type, chown ? 6 : chmod2 ? 5 : 4, ret))
		return 0;
	kst_put_int(&w, dirfd);
	kst_put_upath(&w, regs->si, &at, &len);
	kst_put_u64(&w, ZX32(regs->dx));
	if (chown) {
		kst_put_u64(&w, ZX32(regs->r10));
		kst_put_u64(&w, ZX32(regs->r8));
	} else if (chmod2) {
		kst_put_u64(&w, ZX32(regs->r10));
	}
	kst_put_dirpath(&w, t, dirfd, at, len);
	return kst_w_submit(&w);
}

/* symlinkat: target, linkdirfd, linkpath, linkdirpath */
static __noinline int kst_sc_symlinkat(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	__u32 at, len;
	long dirfd = (int)regs->si;
	if (kst_w_begin(&w, t, type, 4, ret))
		return 0;
	kst_put_ustr(&w, regs->di, KST_PATH_MAX);
	kst_put_int(&w, dirfd);
	kst_put_upath(&w, regs->dx, &at, &len);
	kst_put_dirpath(&w, t, dirfd, at, len);
	return kst_w_submit(&w);
}

/* linkat, renameat, renameat2: olddirfd, oldpath, newdirfd, newpath,
 * [flags,] olddirpath, newdirpath */
static __noinline int kst_sc_at2(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	__u32 at1, len1, at2, len2;
	long d1 = (int)regs->di, d2 = (int)regs->dx;
	int flags = type != KST_EV_RENAMEAT;
	if (kst_w_begin(&w, t, type, flags ? 7 : 6, ret))
		return 0;
	kst_put_int(&w, d1);
	kst_put_upath(&w, regs->si, &at1, &len1);
	kst_put_int(&w, d2);
	kst_put_upath(&w, regs->r10, &at2, &len2);
	if (flags)
		kst_put_u64(&w, ZX32(regs->r8));
	kst_put_dirpath(&w, t, d1, at1, len1);
	kst_put_dirpath(&w, t, d2, at2, len2);
	return kst_w_submit(&w);
}

/* fd, [ints...], fdinfo: fchmod (mode), fchown (uid, gid), fchdir,
 * setns (nstype), ftruncate (64-bit length), finit_module (uargs string,
 * flags). */
static __noinline int kst_sc_fd(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	long fd = (int)regs->di;
	__u32 n = type == KST_EV_FCHDIR ? 2
		: type == KST_EV_FCHMOD || type == KST_EV_SETNS || type == KST_EV_FTRUNCATE ? 3
		: 4;
	if (kst_w_begin(&w, t, type, n, ret))
		return 0;
	kst_put_int(&w, fd);
	if (type == KST_EV_FINIT_MODULE) {
		kst_put_ustr(&w, regs->si, KST_DATA_MAX);
		kst_put_u64(&w, ZX32(regs->dx));
	} else if (type == KST_EV_FCHOWN) {
		kst_put_u64(&w, ZX32(regs->si));
		kst_put_u64(&w, ZX32(regs->dx));
	} else if (type == KST_EV_FTRUNCATE) {
		kst_put_u64(&w, regs->si);
	} else if (type != KST_EV_FCHDIR) {
		kst_put_u64(&w, ZX32(regs->si));
	}
	kst_put_fdinfo(&w, t, fd, 0, 0);
	return kst_w_submit(&w);
}

/* dup: oldfd, fdinfo; dup2: oldfd, newfd, fdinfo; dup3: + flags;
 * fcntl: fd, cmd, arg, fdinfo */
static __noinline int kst_sc_dup(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	long fd = (int)regs->di;
	__u32 n = type == KST_EV_DUP ? 2 : type == KST_EV_DUP3 || type == KST_EV_FCNTL ? 4 : 3;
	if (kst_w_begin(&w, t, type, n, ret))
		return 0;
	kst_put_int(&w, fd);
	if (type == KST_EV_FCNTL) {
		kst_put_u64(&w, ZX32(regs->si));
		kst_put_u64(&w, regs->dx);
	} else if (type != KST_EV_DUP)
		kst_put_int(&w, regs->si);
	if (type == KST_EV_DUP3)
		kst_put_u64(&w, ZX32(regs->dx));
	kst_put_fdinfo(&w, t, fd, 0, 0);
	return kst_w_submit(&w);
}

/* mount: dev, dir, type, flags */
static __noinline int kst_sc_mount(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	if (kst_w_begin(&w, t, type, 4, ret))
		return 0;
	kst_put_ustr(&w, regs->di, KST_PATH_MAX);
	kst_put_ustr(&w, regs->si, KST_PATH_MAX);
	kst_put_ustr(&w, regs->dx, KST_DATA_MAX);
	kst_put_u64(&w, regs->r10);
	return kst_w_submit(&w);
}

/* memfd_create: name, flags; init_module: length, uargs */
static __noinline int kst_sc_str_int(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	if (kst_w_begin(&w, t, type, 2, ret))
		return 0;
	if (type == KST_EV_INIT_MODULE) {
		kst_put_u64(&w, regs->si);
		kst_put_ustr(&w, regs->dx, KST_DATA_MAX);
	} else {
		kst_put_ustr(&w, regs->di, KST_DATA_MAX);
		kst_put_u64(&w, ZX32(regs->si));
	}
	return kst_w_submit(&w);
}

#define PR_SET_NAME 15
#define PR_GET_NAME 16

/* prctl: option, arg2_str (PR_SET_NAME/PR_GET_NAME), arg2_int (others) */
static __noinline int kst_sc_prctl(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	int option = (int)regs->di;
	if (kst_w_begin(&w, t, type, 3, ret))
		return 0;
	kst_put_int(&w, option);
	if (option == PR_SET_NAME || option == PR_GET_NAME) {
		kst_put_ustr(&w, regs->si, KST_COMM_LEN);
		kst_put_empty(&w);
	} else {
		kst_put_empty(&w);
		kst_put_u64(&w, regs->si);
	}
	return kst_w_submit(&w);
}

/* A failed execve/execveat: only the filename is known (the process image
 * did not change); the other exec parameters are empty. */
static __noinline int kst_sc_exec_failed(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	if (kst_w_begin(&w, t, type, 18, ret))
		return 0;
	kst_put_empty(&w); /* argv */
	kst_put_empty(&w); /* cwd */
	kst_put_empty(&w); /* trusted_exepath */
	kst_put_ustr(&w, type == KST_EV_EXECVEAT ? regs->si : regs->di, KST_PATH_MAX);
#pragma unroll
	for (int i = 0; i < 14; i++)
		kst_put_empty(&w);
	return kst_w_submit(&w);
}

/* connect, bind: fd, addr, fdinfo */
static __noinline int kst_sc_sockaddr(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	long fd = (int)regs->di;
	if (kst_w_begin(&w, t, type, 3, ret))
		return 0;
	kst_put_int(&w, fd);
	kst_put_sockaddr(&w, regs->si, ZX32(regs->dx));
	kst_put_fdinfo(&w, t, fd, 0, 0);
	return kst_w_submit(&w);
}

/* accept: tuple of the new fd; accept4: + flags */
static __noinline int kst_sc_accept(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	int four = type == KST_EV_ACCEPT4;
	if (kst_w_begin(&w, t, type, four ? 2 : 1, ret))
		return 0;
	kst_put_fdinfo(&w, t, ret, 0, 0);
	if (four)
		kst_put_u64(&w, ZX32(regs->r10));
	return kst_w_submit(&w);
}

/* listen: fd, backlog, fdinfo */
static __noinline int kst_sc_listen(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	long fd = (int)regs->di;
	if (kst_w_begin(&w, t, type, 3, ret))
		return 0;
	kst_put_int(&w, fd);
	kst_put_int(&w, regs->si);
	kst_put_fdinfo(&w, t, fd, 0, 0);
	return kst_w_submit(&w);
}

/* sendto, recvfrom: fd, size, tuple, data. For an unconnected socket the
 * peer comes from the address argument (r8, r9): the destination for
 * sendto, the source the kernel wrote back for recvfrom. */
static __noinline int kst_sc_sendto(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	long fd = (int)regs->di;
	__u64 ualen = regs->r9;
	if (kst_w_begin(&w, t, type, 4, ret))
		return 0;
	if (type == KST_EV_RECVFROM && ualen) {
		/* r9 points at the socklen_t the kernel updated. */
		__u32 l = 0;
		bpf_probe_read_user(&l, sizeof(l), (void *)ualen);
		ualen = l;
	}
	kst_put_int(&w, fd);
	kst_put_u64(&w, regs->dx);
	kst_put_fdinfo(&w, t, fd, regs->r8, ualen);
	kst_put_iodata(&w, regs->si, ret);
	return kst_w_submit(&w);
}

/* sendmsg, recvmsg: fd, size (sum of the first 8 iovecs), tuple, data
 * (from the first iovec). */
static __noinline int kst_sc_sendmsg(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	long fd = (int)regs->di;
	struct kst_user_msghdr mh = {};
	struct kst_user_iovec iov[8] = {};
	__u64 size = 0;
	if (kst_w_begin(&w, t, type, 4, ret))
		return 0;
	if (bpf_probe_read_user(&mh, sizeof(mh), (void *)regs->si) == 0 && mh.msg_iov) {
		__u64 n = mh.msg_iovlen > 8 ? 8 : mh.msg_iovlen;
		bpf_probe_read_user(iov, sizeof(iov[0]) * 8, (void *)mh.msg_iov);
#pragma unroll
		for (int i = 0; i < 8; i++)
			if (i < n)
				size += iov[i].iov_len;
	}
	kst_put_int(&w, fd);
	kst_put_u64(&w, size);
	kst_put_fdinfo(&w, t, fd, mh.msg_name, mh.msg_namelen > 0 ? mh.msg_namelen : 0);
	__u64 first = iov[0].iov_len;
	kst_put_iodata(&w, iov[0].iov_base, ret < (long)first ? ret : (long)first);
	return kst_w_submit(&w);
}

/* ------------------------------------------------------------------ */
/* generic capture: one routine for every event the table describes by  */
/* parameter sources (struct kst_gdesc, KST_GD_*)                        */

static __always_inline __u64 kst_gd_reg(struct pt_regs *regs, __u32 r)
{
	switch (r) {
	case 0:
		return regs->di;
	case 1:
		return regs->si;
	case 2:
		return regs->dx;
	case 3:
		return regs->r10;
	case 4:
		return regs->r8;
	default:
		return regs->r9;
	}
}

/* The iovec array at uiov (cnt entries): the total length of the first 8
 * (size_only) or the first iovec's data, as many bytes as moved (ret). */
static __noinline void kst_put_iov(struct kst_w *w, __u64 uiov, __u64 cnt, long ret, int size_only)
{
	struct kst_user_iovec iov[8] = {};
	__u64 n = cnt > 8 ? 8 : cnt;
	if (uiov && n)
		bpf_probe_read_user(iov, sizeof(iov[0]) * n, (void *)uiov);
	if (size_only) {
		__u64 size = 0;
#pragma unroll
		for (int i = 0; i < 8; i++)
			if (i < n)
				size += iov[i].iov_len;
		kst_put_u64(w, size);
		return;
	}
	__u64 first = iov[0].iov_len;
	kst_put_iodata(w, iov[0].iov_base, ret < (long)first ? ret : (long)first);
}

/* The hidden dirpath of the relative path in parameter pidx (written
 * already): found from the parameter lengths, so that the generic loop
 * carries no extra state. */
static __noinline void kst_gd_dirpath(struct kst_w *w, struct task_struct *t, long dirfd, __u32 pidx)
{
	struct kst_event_hdr *h = (struct kst_event_hdr *)w->s->rec;
	__u32 at = KST_HDR_LEN + 2 * (h->nparams & 31);
	__u32 len = 0;
	for (__u32 i = 0; i < KST_GD_MAX; i++) {
		__u16 l = *(__u16 *)&w->s->rec[KST_HDR_LEN + 2 * i];
		if (i == pidx) {
			len = l;
			break;
		}
		at += l;
	}
	if (at > KST_REC_MAX)
		at = KST_REC_MAX;
	kst_put_dirpath(w, t, dirfd, at, len);
}

/* Values read from user memory after the call: a C int or a u64 at
 * uaddr + off, or a struct timespec as nanoseconds. */
static __noinline void kst_gd_user(struct kst_w *w, __u32 kind, __u64 uaddr, __u32 off, long ret)
{
	if (kind == KST_GD_TIMESPEC) {
		__s64 ts[2] = {};
		if (uaddr)
			bpf_probe_read_user(ts, sizeof(ts), (void *)uaddr);
		kst_put_u64(w, (__u64)(ts[0] * 1000000000LL + ts[1]));
		return;
	}
	if (kind == KST_GD_USERINT) {
		__s32 v = 0;
		if (ret >= 0 && uaddr)
			bpf_probe_read_user(&v, sizeof(v), (void *)(uaddr + off));
		kst_put_u64(w, (__u64)(__s64)v);
		return;
	}
	__u64 v = 0;
	if (ret >= 0 && uaddr)
		bpf_probe_read_user(&v, sizeof(v), (void *)(uaddr + off));
	kst_put_u64(w, v);
}

static __noinline int kst_sc_generic(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_gdesc *d = bpf_map_lookup_elem(&kst_gdesc, &type);
	if (!d || !d->n)
		return 0;
	__u32 n = d->n > KST_GD_MAX ? KST_GD_MAX : d->n;
	struct kst_w w;
	if (kst_w_begin(&w, t, type, n, ret))
		return 0;
	for (__u32 i = 0; i < KST_GD_MAX; i++) {
		if (i >= n)
			break;
		/* Launder the offset through the scratch map: every path into
		 * the next iteration then has the same (unknown) offset and the
		 * verifier prunes them as one. */
		w.s->gd_off = w.off;
		w.off = w.s->gd_off;
		w.flags &= KST_HF_TRUNCATED;
		__u64 a = kst_gd_reg(regs, d->a[i]);
		__u32 b = d->b[i];
		__u32 kind = d->kind[i];
		switch (kind) {
		case KST_GD_INT:
			kst_put_int(&w, a);
			break;
		case KST_GD_U32:
			kst_put_u64(&w, ZX32(a));
			break;
		case KST_GD_U64:
			kst_put_u64(&w, a);
			break;
		case KST_GD_RET:
			kst_put_u64(&w, ret);
			break;
		case KST_GD_NR:
			kst_put_u64(&w, regs->orig_ax);
			break;
		case KST_GD_STR:
			kst_put_ustr(&w, a, KST_PATH_MAX);
			break;
		case KST_GD_BUF:
			kst_put_iodata(&w, a, ret < 0 ? 0 : (long)kst_gd_reg(regs, b));
			break;
		case KST_GD_BUFRET:
			kst_put_iodata(&w, a, ret);
			break;
		case KST_GD_IOVDATA:
			kst_put_iov(&w, a, kst_gd_reg(regs, b), ret, 0);
			break;
		case KST_GD_IOVSIZE:
			kst_put_iov(&w, a, kst_gd_reg(regs, b), ret, 1);
			break;
		case KST_GD_FDINFO:
			kst_put_fdinfo(&w, t, (int)a, 0, 0);
			break;
		case KST_GD_FDINFORET:
			kst_put_fdinfo(&w, t, ret < 0 ? -1 : ret, 0, 0);
			break;
		case KST_GD_USERINT:
		case KST_GD_USERU64:
		case KST_GD_TIMESPEC:
			kst_gd_user(&w, kind, a, b, ret);
			break;
		case KST_GD_DIRPATH:
			kst_gd_dirpath(&w, t, (int)a, b);
			break;
		default:
			kst_put_empty(&w);
			break;
		}
	}
	return kst_w_submit(&w);
}

/* Integer-only events: the arguments per type, then one in-place
 * reservation per parameter count. */
static __always_inline int kst_sys_exit_ints(struct task_struct *t, struct pt_regs *regs, long ret,
					     __u32 type)
{
	__u64 a0 = 0, a1 = 0, a2 = 0, a3 = 0;
	__u32 n;
	switch (type) {
	case KST_EV_CLOSE:
	case KST_EV_BPF:
		n = 1;
		a0 = SX32(regs->di);
		break;
	case KST_EV_CLONE:
		n = 1;
		a0 = regs->di;
		break;
	case KST_EV_SETUID:
	case KST_EV_SETGID:
	case KST_EV_UNSHARE:
	case KST_EV_USERFAULTFD:
		n = 1;
		a0 = ZX32(regs->di);
		break;
	case KST_EV_CLONE3:
		n = 1;
		bpf_probe_read_user(&a0, sizeof(a0), (void *)regs->di);
		break;
	case KST_EV_SETREUID:
	case KST_EV_SETREGID:
		n = 2;
		a0 = ZX32(regs->di);
		a1 = ZX32(regs->si);
		break;
	case KST_EV_SETPGID:
		n = 2;
		a0 = SX32(regs->di);
		a1 = SX32(regs->si);
		break;
	case KST_EV_SETRESUID:
	case KST_EV_SETRESGID:
	case KST_EV_SOCKET:
		n = 3;
		a0 = ZX32(regs->di);
		a1 = ZX32(regs->si);
		a2 = ZX32(regs->dx);
		break;
	case KST_EV_CAPSET: {
		/* The sets in force after the call. */
		const struct cred *c = t->cred;
		n = 3;
		a0 = c->cap_inheritable.val;
		a1 = c->cap_permitted.val;
		a2 = c->cap_effective.val;
		break;
	}
	case KST_EV_PTRACE:
		n = 4;
		a0 = SX32(regs->di);
		a1 = SX32(regs->si);
		a2 = regs->dx;
		a3 = regs->r10;
		break;
	case KST_EV_IO_URING_ENTER: /* fd, to_submit, min_complete, flags */
		n = 4;
		a0 = SX32(regs->di);
		a1 = ZX32(regs->si);
		a2 = ZX32(regs->dx);
		a3 = ZX32(regs->r10);
		break;
	case KST_EV_IO_URING_REGISTER: /* fd, opcode, arg, nr_args */
		n = 4;
		a0 = SX32(regs->di);
		a1 = ZX32(regs->si);
		a2 = regs->dx;
		a3 = ZX32(regs->r10);
		break;
	default: /* fork, vfork, setsid */
		n = 0;
		break;
	}
	switch (n) {
	case 0:
		return kst_emit_ints(t, type, ret, 0, 0, 0, 0, 0, 0);
	case 1:
		return kst_emit_ints(t, type, ret, 1, a0, 0, 0, 0, 0);
	case 2:
		return kst_emit_ints(t, type, ret, 2, a0, a1, 0, 0, 0);
	case 3:
		return kst_emit_ints(t, type, ret, 3, a0, a1, a2, 0, 0);
	default:
		return kst_emit_ints(t, type, ret, 4, a0, a1, a2, a3, 0);
	}
}

/* io_uring_setup: entries, then the io_uring_params the kernel filled in
 * (sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle,
 * features: the first six u32 of the uapi struct). */
static __noinline int kst_sc_uring_setup(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	struct kst_w w;
	__u32 p[6] = {};
	if (kst_w_begin(&w, t, type, 7, ret))
		return 0;
	bpf_probe_read_user(p, sizeof(p), (void *)regs->si);
	kst_put_u64(&w, ZX32(regs->di));
#pragma unroll
	for (int i = 0; i < 6; i++)
		kst_put_u64(&w, i == 3 ? SX32(p[i]) : ZX32(p[i]));
	return kst_w_submit(&w);
}

static __noinline int kst_sc_ints(struct task_struct *t, struct pt_regs *regs, long ret, __u32 type)
{
	return kst_sys_exit_ints(t, regs, ret, type);
}

static __always_inline int kst_sys_exit_dispatch(struct task_struct *t, struct pt_regs *regs, long ret,
						 __u32 type)
{
	switch (type) {
	/* process */
	case KST_EV_EXECVE:
	case KST_EV_EXECVEAT:
		/* A successful exec was reported by sched_process_exec with
		 * the new image. */
		if (ret == 0)
			return 0;
		return kst_sc_exec_failed(t, regs, ret, type);
	case KST_EV_CLONE:
	case KST_EV_CLONE3:
	case KST_EV_FORK:
	case KST_EV_VFORK:
	case KST_EV_SETUID:
	case KST_EV_SETGID:
	case KST_EV_SETRESUID:
	case KST_EV_SETRESGID:
	case KST_EV_SETREUID:
	case KST_EV_SETREGID:
	case KST_EV_SETSID:
	case KST_EV_SETPGID:
	case KST_EV_CAPSET:
	case KST_EV_PTRACE:
	case KST_EV_UNSHARE:
	case KST_EV_SOCKET:
	case KST_EV_BPF:
	case KST_EV_USERFAULTFD:
	case KST_EV_IO_URING_ENTER:
	case KST_EV_IO_URING_REGISTER:
		return kst_sc_ints(t, regs, ret, type);
	case KST_EV_IO_URING_SETUP:
		return kst_sc_uring_setup(t, regs, ret, type);
	case KST_EV_CLOSE:
		/* On the hot path of every open/close loop: inline, no call. */
		return kst_emit_ints(t, type, ret, 1, SX32(regs->di), 0, 0, 0, 0);
	case KST_EV_PRCTL:
		return kst_sc_prctl(t, regs, ret, type);
	case KST_EV_CHDIR:
	case KST_EV_CHROOT:
	case KST_EV_UNLINK:
	case KST_EV_RMDIR:
		return kst_sc_path1(t, regs, ret, type);
	case KST_EV_FCHDIR:
	case KST_EV_SETNS:
	case KST_EV_FCHMOD:
	case KST_EV_FCHOWN:
	case KST_EV_FTRUNCATE:
	case KST_EV_FINIT_MODULE:
		return kst_sc_fd(t, regs, ret, type);
	/* file */
	case KST_EV_OPEN:
	case KST_EV_CREAT:
		return kst_sc_open(t, regs, ret, type);
	case KST_EV_OPENAT:
		if (kst_openat_inline(t, regs, ret) == 0)
			return 0;
		return kst_sc_openat(t, regs, ret, type);
	case KST_EV_OPENAT2:
		return kst_sc_openat(t, regs, ret, type);
	case KST_EV_SYMLINK:
	case KST_EV_LINK:
	case KST_EV_RENAME:
		return kst_sc_path2(t, regs, ret, type);
	case KST_EV_SYMLINKAT:
		return kst_sc_symlinkat(t, regs, ret, type);
	case KST_EV_LINKAT:
	case KST_EV_RENAMEAT:
	case KST_EV_RENAMEAT2:
		return kst_sc_at2(t, regs, ret, type);
	case KST_EV_UNLINKAT:
	case KST_EV_MKDIRAT:
	case KST_EV_FCHMODAT:
	case KST_EV_FCHMODAT2:
	case KST_EV_FCHOWNAT:
		return kst_sc_at1(t, regs, ret, type);
	case KST_EV_MKDIR:
	case KST_EV_CHMOD:
	case KST_EV_CHOWN:
	case KST_EV_LCHOWN:
	case KST_EV_UMOUNT2:
	case KST_EV_TRUNCATE:
		return kst_sc_path_ints(t, regs, ret, type);
	case KST_EV_MOUNT:
		return kst_sc_mount(t, regs, ret, type);
	case KST_EV_MEMFD_CREATE:
	case KST_EV_INIT_MODULE:
		return kst_sc_str_int(t, regs, ret, type);
	/* network */
	case KST_EV_CONNECT:
	case KST_EV_BIND:
		return kst_sc_sockaddr(t, regs, ret, type);
	case KST_EV_ACCEPT:
	case KST_EV_ACCEPT4:
		return kst_sc_accept(t, regs, ret, type);
	case KST_EV_LISTEN:
		return kst_sc_listen(t, regs, ret, type);
	case KST_EV_SENDTO:
	case KST_EV_RECVFROM:
		return kst_sc_sendto(t, regs, ret, type);
	case KST_EV_SENDMSG:
	case KST_EV_RECVMSG:
		return kst_sc_sendmsg(t, regs, ret, type);
	case KST_EV_DUP:
	case KST_EV_DUP2:
	case KST_EV_DUP3:
	case KST_EV_FCNTL:
		return kst_sc_dup(t, regs, ret, type);
	}
	/* Every other traced type is described by its kst_gdesc entry. */
	return kst_sc_generic(t, regs, ret, type);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(kst_sys_exit, struct pt_regs *regs, long ret)
{
	/* Filter first: nothing but the table lookup runs for an untraced
	 * syscall. orig_ax is -1 outside a syscall, far beyond the table. */
	__u32 nr = regs->orig_ax;
	__u16 *ty = bpf_map_lookup_elem(&kst_sc_type, &nr);
	if (!ty || !*ty)
		return 0;
	__u32 type = *ty;

	struct task_struct *t = bpf_get_current_task_btf();
	if (t->tgid == kst_self_tgid)
		return 0;
	/* The table is keyed by x86-64 numbers; a 32-bit task's numbers mean
	 * other calls. */
	if (t->thread_info.status & TS_COMPAT)
		return 0;
	if (kst_self_protect && (type & KST_SC_SELF)) {
		/* Failed attempts count too: checked before kst_drop_failed. */
		kst_self_check(t, regs, ret, nr);
		type &= ~KST_SC_SELF;
		if (!type)
			return 0;
	}
	if (ret < 0 && kst_drop_failed)
		return 0;
	if (!kst_filter_passes_whole(type) && !kst_filter(t, regs, ret, type))
		return 0;
	if (type == KST_EV_CONNECT || type == KST_EV_ACCEPT || type == KST_EV_ACCEPT4 ||
	    type == KST_EV_SOCKET)
		kst_note_sockfd(t, type, ret, regs->di);
	kst_sys_exit_dispatch(t, regs, ret, type);
	/* The filter's header flags and path belong to this event only. */
	struct kst_scratch *s = kst_scratch_get();
	if (s) {
		s->hflags = 0;
		s->fpath_len = 0;
	}
	return 0;
}
