/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * io_uring requests as the system calls they stand for.
 *
 * A process can open, connect, rename or unlink through io_uring without
 * making those system calls, so the sys_exit hook never sees them. Two
 * tp_btf programs close the gap:
 *
 *  - io_uring_submit_req fires in io_submit_sqe() right after io_init_req(),
 *    whose last step is the op's prep handler: the command struct inside the
 *    request (struct io_open, io_rename, ...) is filled and the paths are
 *    already kernel copies (struct filename). The program copies what the
 *    event needs into kst_uring_req, keyed by the request's address.
 *  - io_uring_complete fires when the CQE is filled, with the result. The
 *    program takes the captured submission, builds the record of the
 *    equivalent syscall (openat, connect, renameat2, ...) with the header
 *    flag KST_HF_IOURING and the opcode in bits 16-23, and submits it.
 *
 * The paths cannot be read at completion: io_openat2() and friends drop
 * their struct filename before the CQE is posted.
 *
 * Requests executed by io-wq workers (iou-wrk-<pid>) or submitted by an
 * SQPOLL thread (iou-sqp-<pid>) run in threads of the ring owner's process
 * (same tgid, files and fs): the header then describes the thread group
 * leader (comm, credentials), with tid the io thread and KST_HF_IOWORKER
 * set.
 *
 * Only wanted types are captured (the same evmask as every other event); a
 * request whose op has no decoded equivalent becomes KST_EV_IO_URING_OP
 * (op, fd, size) if that is wanted. An op whose command struct lacks a
 * member in the running kernel's BTF degrades to KST_EV_IO_URING_OP too
 * (CO-RE field checks, resolved at load).
 */

#define IORING_OP_ACCEPT 13
#define IORING_OP_CONNECT 16
#define IORING_OP_OPENAT 18
#define IORING_OP_CLOSE 19
#define IORING_OP_READ 22
#define IORING_OP_WRITE 23
#define IORING_OP_SEND 26
#define IORING_OP_RECV 27
#define IORING_OP_OPENAT2 28
#define IORING_OP_RENAMEAT 35
#define IORING_OP_UNLINKAT 36
#define IORING_OP_MKDIRAT 37
#define IORING_OP_SYMLINKAT 38
#define IORING_OP_LINKAT 39

#define KST_PF_IO_WORKER 0x00000010
#define KST_REQ_F_FIXED_FILE 1ULL
#define KST_CQE_F_MORE (1U << 1)

/* Path bytes kept per captured path (with the NUL); longer paths are cut,
 * end with "..." and are flagged KST_HF_TRUNCATED. */
#define KST_UPATH 1024

struct kst_uring_req {
	__s64 fd0;   /* dirfd, old dirfd, or the request's fd */
	__s64 fd1;   /* new dirfd */
	__u64 flags; /* open/rename/link/unlink/accept flags */
	__u64 mode;  /* open/mkdir mode, or the size of send/recv/read/write */
	__u64 resolve;
	__u64 uaddr; /* connect address, send/recv buffer */
	__u64 ulen;
	__u32 type;
	__u32 op;
	__u32 trunc;
	__u32 fixed; /* IOSQE_FIXED_FILE: fd0 indexes the registered files */
	char p0[KST_UPATH];
	char p1[KST_UPATH];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct kst_uring_req);
} kst_uring_req SEC(".maps");

/* Per-CPU staging for the map value (too large for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kst_uring_req);
} kst_uring_tmp SEC(".maps");

/* The event type an op is delivered as; KST_EV_IO_URING_OP when it has no
 * decoded equivalent or the kernel's layout lacks a member it reads. */
static __always_inline __u32 kst_uring_type(__u32 op)
{
	switch (op) {
	case IORING_OP_OPENAT:
	case IORING_OP_OPENAT2:
		if (!bpf_core_field_exists(struct io_open, filename) ||
		    !bpf_core_field_exists(struct io_open, how))
			return KST_EV_IO_URING_OP;
		return op == IORING_OP_OPENAT ? KST_EV_OPENAT : KST_EV_OPENAT2;
	case IORING_OP_CLOSE:
		if (!bpf_core_field_exists(struct io_close, fd))
			return KST_EV_IO_URING_OP;
		return KST_EV_CLOSE;
	case IORING_OP_CONNECT:
		if (!bpf_core_field_exists(struct io_connect, addr))
			return KST_EV_IO_URING_OP;
		return KST_EV_CONNECT;
	case IORING_OP_ACCEPT:
		if (!bpf_core_field_exists(struct io_accept, flags))
			return KST_EV_IO_URING_OP;
		return KST_EV_ACCEPT4;
	case IORING_OP_SEND:
	case IORING_OP_RECV:
		if (!bpf_core_field_exists(struct io_sr_msg, buf))
			return KST_EV_IO_URING_OP;
		return op == IORING_OP_SEND ? KST_EV_SENDTO : KST_EV_RECVFROM;
	case IORING_OP_RENAMEAT:
		if (!bpf_core_field_exists(struct io_rename, newpath))
			return KST_EV_IO_URING_OP;
		return KST_EV_RENAMEAT2;
	case IORING_OP_UNLINKAT:
		if (!bpf_core_field_exists(struct io_unlink, filename))
			return KST_EV_IO_URING_OP;
		return KST_EV_UNLINKAT;
	case IORING_OP_MKDIRAT:
		if (!bpf_core_field_exists(struct io_mkdir, filename))
			return KST_EV_IO_URING_OP;
		return KST_EV_MKDIRAT;
	case IORING_OP_SYMLINKAT:
	case IORING_OP_LINKAT:
		if (!bpf_core_field_exists(struct io_link, newpath))
			return KST_EV_IO_URING_OP;
		return op == IORING_OP_LINKAT ? KST_EV_LINKAT : KST_EV_SYMLINKAT;
	}
	return KST_EV_IO_URING_OP;
}

/* Copies a struct filename's kernel string into dst; sets trunc if cut. */
static __always_inline void kst_uring_name(struct kst_uring_req *v, char *dst, struct filename *fn)
{
	const char *name = BPF_CORE_READ(fn, name);
	long r = name ? bpf_probe_read_kernel_str(dst, KST_UPATH, name) : 0;
	if (r <= 0)
		dst[0] = 0;
	else if (r >= KST_UPATH) {
		/* Cut: the kept path ends with "..." (docs/RELIABILITY.md). */
		v->trunc = 1;
		dst[KST_UPATH - 4] = '.';
		dst[KST_UPATH - 3] = '.';
		dst[KST_UPATH - 2] = '.';
	}
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(kst_uring_submit, struct io_kiocb *req)
{
	__u32 op = req->opcode;
	__u32 type = kst_uring_type(op);
	if (!kst_event_wanted(type))
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if (t->tgid == kst_self_tgid)
		return 0;
	__u32 zero = 0;
	struct kst_uring_req *v = bpf_map_lookup_elem(&kst_uring_tmp, &zero);
	if (!v)
		return 0;
	v->type = type;
	v->op = op;
	v->trunc = 0;
	v->fd0 = req->cqe.fd;
	v->fd1 = 0;
	v->flags = 0;
	v->mode = 0;
	v->resolve = 0;
	v->uaddr = 0;
	v->ulen = 0;
	v->fixed = (BPF_CORE_READ(req, flags) & KST_REQ_F_FIXED_FILE) != 0;
	v->p0[0] = 0;
	v->p1[0] = 0;
	void *cmd = &req->cmd;
	switch (type) {
	case KST_EV_OPENAT:
	case KST_EV_OPENAT2: {
		struct io_open *o = cmd;
		v->fd0 = BPF_CORE_READ(o, dfd);
		v->flags = BPF_CORE_READ(o, how.flags);
		v->mode = BPF_CORE_READ(o, how.mode);
		v->resolve = BPF_CORE_READ(o, how.resolve);
		kst_uring_name(v, v->p0, BPF_CORE_READ(o, filename));
		break;
	}
	case KST_EV_CLOSE: {
		struct io_close *c = cmd;
		v->fd0 = BPF_CORE_READ(c, fd);
		break;
	}
	case KST_EV_CONNECT: {
		struct io_connect *c = cmd;
		v->uaddr = (__u64)BPF_CORE_READ(c, addr);
		v->ulen = (__u32)BPF_CORE_READ(c, addr_len);
		break;
	}
	case KST_EV_ACCEPT4: {
		struct io_accept *a = cmd;
		v->flags = (__u32)BPF_CORE_READ(a, flags);
		break;
	}
	case KST_EV_SENDTO:
	case KST_EV_RECVFROM: {
		struct io_sr_msg *m = cmd;
		v->uaddr = (__u64)BPF_CORE_READ(m, buf);
		v->mode = (__u32)BPF_CORE_READ(m, len);
		break;
	}
	case KST_EV_RENAMEAT2: {
		struct io_rename *r = cmd;
		v->fd0 = BPF_CORE_READ(r, old_dfd);
		v->fd1 = BPF_CORE_READ(r, new_dfd);
		v->flags = (__u32)BPF_CORE_READ(r, flags);
		kst_uring_name(v, v->p0, BPF_CORE_READ(r, oldpath));
		kst_uring_name(v, v->p1, BPF_CORE_READ(r, newpath));
		break;
	}
	case KST_EV_UNLINKAT: {
		struct io_unlink *u = cmd;
		v->fd0 = BPF_CORE_READ(u, dfd);
		v->flags = (__u32)BPF_CORE_READ(u, flags);
		kst_uring_name(v, v->p0, BPF_CORE_READ(u, filename));
		break;
	}
	case KST_EV_MKDIRAT: {
		struct io_mkdir *m = cmd;
		v->fd0 = BPF_CORE_READ(m, dfd);
		v->mode = BPF_CORE_READ(m, mode);
		kst_uring_name(v, v->p0, BPF_CORE_READ(m, filename));
		break;
	}
	case KST_EV_SYMLINKAT:
	case KST_EV_LINKAT: {
		struct io_link *l = cmd;
		v->fd0 = BPF_CORE_READ(l, old_dfd);
		v->fd1 = BPF_CORE_READ(l, new_dfd);
		v->flags = (__u32)BPF_CORE_READ(l, flags);
		kst_uring_name(v, v->p0, BPF_CORE_READ(l, oldpath));
		kst_uring_name(v, v->p1, BPF_CORE_READ(l, newpath));
		break;
	}
	default:
		if (op == IORING_OP_READ || op == IORING_OP_WRITE) {
			if (bpf_core_field_exists(struct io_rw, len))
				v->mode = BPF_CORE_READ((struct io_rw *)cmd, len);
		} else if (op == IORING_OP_SEND || op == IORING_OP_RECV) {
			if (bpf_core_field_exists(struct io_sr_msg, len))
				v->mode = (__u32)BPF_CORE_READ((struct io_sr_msg *)cmd, len);
		}
		break;
	}
	__u64 key = (__u64)req;
	bpf_map_update_elem(&kst_uring_req, &key, v, BPF_ANY);
	return 0;
}

/* A path captured at submission, without its NUL. */
static __always_inline void kst_put_cpath(struct kst_w *w, const char *src, __u32 *at, __u32 *len)
{
	__u32 off = w->off;
	kst_put_kstr(w, src, KST_UPATH);
	*at = off;
	*len = w->off - off;
}

/* The record of the equivalent syscall, from the captured submission. */
static __noinline int kst_uring_emit(struct task_struct *t, struct kst_uring_req *v, __u64 file,
				     long ret, __u32 extra)
{
	struct kst_w w;
	__u32 at0 = 0, len0 = 0, at1 = 0, len1 = 0;
	__u32 type = v->type;
	__u32 n;
	switch (type) {
	case KST_EV_OPENAT:
		n = 5;
		break;
	case KST_EV_SYMLINKAT:
		n = 4;
		break;
	case KST_EV_OPENAT2:
		n = 6;
		break;
	case KST_EV_CLOSE:
		n = 1;
		break;
	case KST_EV_CONNECT:
		n = 3;
		break;
	case KST_EV_ACCEPT4:
		n = 2;
		break;
	case KST_EV_SENDTO:
	case KST_EV_RECVFROM:
	case KST_EV_UNLINKAT:
	case KST_EV_MKDIRAT:
		n = 4;
		break;
	case KST_EV_RENAMEAT2:
	case KST_EV_LINKAT:
		n = 7;
		break;
	default:
		type = KST_EV_IO_URING_OP;
		n = 4;
		break;
	}
	if (kst_w_begin(&w, t, type, n, ret))
		return 0;
	w.flags = KST_HF_IOURING | extra | ((v->op & 0xff) << KST_HF_IOOP_SHIFT);
	if (v->trunc)
		w.flags |= KST_HF_TRUNCATED;
	if (extra & KST_HF_IOWORKER)
		((struct kst_event_hdr *)w.s->rec)->tid = (__u32)bpf_get_current_pid_tgid();
	w.file = file;
	switch (type) {
	case KST_EV_OPENAT:
	case KST_EV_OPENAT2:
		kst_put_int(&w, v->fd0);
		kst_put_cpath(&w, v->p0, &at0, &len0);
		kst_put_u64(&w, v->flags);
		kst_put_u64(&w, v->mode);
		if (type == KST_EV_OPENAT2)
			kst_put_u64(&w, v->resolve);
		w.file = 0;
		kst_put_dirpath(&w, t, v->fd0, at0, len0);
		break;
	case KST_EV_CLOSE:
		kst_put_int(&w, v->fd0);
		break;
	case KST_EV_CONNECT:
		kst_put_int(&w, v->fd0);
		kst_put_sockaddr(&w, v->uaddr, v->ulen);
		kst_put_fdinfo(&w, t, v->fd0, 0, 0);
		break;
	case KST_EV_ACCEPT4:
		w.file = 0;
		kst_put_fdinfo(&w, t, ret, 0, 0);
		kst_put_u64(&w, v->flags);
		break;
	case KST_EV_SENDTO:
	case KST_EV_RECVFROM:
		kst_put_int(&w, v->fd0);
		kst_put_u64(&w, v->mode);
		kst_put_fdinfo(&w, t, v->fd0, 0, 0);
		kst_put_iodata(&w, v->uaddr, ret);
		break;
	case KST_EV_UNLINKAT:
	case KST_EV_MKDIRAT:
		kst_put_int(&w, v->fd0);
		kst_put_cpath(&w, v->p0, &at0, &len0);
		kst_put_u64(&w, type == KST_EV_MKDIRAT ? v->mode : v->flags);
		w.file = 0;
		kst_put_dirpath(&w, t, v->fd0, at0, len0);
		break;
	case KST_EV_SYMLINKAT:
		kst_put_cpath(&w, v->p0, &at0, &len0);
		kst_put_int(&w, v->fd1);
		kst_put_cpath(&w, v->p1, &at1, &len1);
		w.file = 0;
		kst_put_dirpath(&w, t, v->fd1, at1, len1);
		break;
	case KST_EV_RENAMEAT2:
	case KST_EV_LINKAT:
		kst_put_int(&w, v->fd0);
		kst_put_cpath(&w, v->p0, &at0, &len0);
		kst_put_int(&w, v->fd1);
		kst_put_cpath(&w, v->p1, &at1, &len1);
		kst_put_u64(&w, v->flags);
		w.file = 0;
		kst_put_dirpath(&w, t, v->fd0, at0, len0);
		kst_put_dirpath(&w, t, v->fd1, at1, len1);
		break;
	default:
		/* op, fd, size, fdinfo */
		kst_put_u64(&w, v->op);
		kst_put_int(&w, v->fd0);
		kst_put_u64(&w, v->mode);
		kst_put_fdinfo(&w, t, v->fd0, 0, 0);
		break;
	}
	return kst_w_submit(&w);
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(kst_uring_complete, void *ctx_, void *req, struct io_uring_cqe *cqe)
{
	__u64 key = (__u64)req;
	if (!key)
		return 0;
	struct kst_uring_req *v = bpf_map_lookup_elem(&kst_uring_req, &key);
	if (!v)
		return 0;
	long ret = cqe->res;
	__u32 cflags = cqe->flags;
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 extra = 0;
	struct task_struct *ht = t;
	if (t->flags & KST_PF_IO_WORKER) {
		/* An io-wq worker or the SQPOLL thread: a thread of the ring
		 * owner's process; describe the process by its leader. */
		ht = t->group_leader;
		extra = KST_HF_IOWORKER;
	}
	/* The file the request used (assigned at issue, fixed files too). */
	__u64 file = (__u64)BPF_CORE_READ((struct io_kiocb *)req, file);
	if (!(ret < 0 && kst_drop_failed)) {
		/* As at sys_exit: the socket's later close(2) is state the
		 * interest filter must let through. */
		if ((v->type == KST_EV_CONNECT && !v->fixed) || v->type == KST_EV_ACCEPT4)
			kst_note_sockfd(ht, v->type, ret, v->fd0);
		kst_uring_emit(ht, v, file, ret, extra);
	}
	if (!(cflags & KST_CQE_F_MORE))
		bpf_map_delete_elem(&kst_uring_req, &key);
	return 0;
}
