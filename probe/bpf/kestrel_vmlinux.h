/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * The few kernel types kestrel's probe reads, declared by hand for CO-RE.
 *
 * Only the members the probe touches are listed, in any order: every record
 * carries preserve_access_index, so clang emits a BTF relocation for each
 * access and the loader (aya) rewrites the offsets against the running
 * kernel's /sys/kernel/btf/vmlinux. Nothing here assumes a kernel layout.
 * A generated vmlinux.h is deliberately not used: it is 130k lines, ties the
 * build to one kernel, and clashes with the uapi headers we include.
 *
 * Member types matter only where the verifier or CO-RE compares them:
 * pointers must point at a struct of the same name, integers must have the
 * kernel's size when read directly.
 */
#ifndef KESTREL_VMLINUX_H
#define KESTREL_VMLINUX_H

#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

typedef struct {
	__u32 val;
} kuid_t;

typedef struct {
	__u32 val;
} kgid_t;

/* Since 6.3 a single u64; older kernels had u32 cap[2], which reads the
 * same on little-endian machines. */
typedef struct {
	__u64 val;
} kernel_cap_t;

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t euid;
	kgid_t egid;
	kernel_cap_t cap_inheritable;
	kernel_cap_t cap_permitted;
	kernel_cap_t cap_effective;
};

struct qstr {
	union {
		struct {
			__u32 hash;
			__u32 len;
		};
		__u64 hash_len;
	};
	const unsigned char *name;
};

struct super_block {
	unsigned long s_magic;
};

struct proc_ns_operations {
	const char *name;
};

struct inode {
	unsigned short i_mode;
	kuid_t i_uid;
	kgid_t i_gid;
	unsigned long i_ino;
	struct super_block *i_sb;
	/* 6.11+ */
	__s64 i_ctime_sec;
	__s64 i_mtime_sec;
	__u32 i_ctime_nsec;
	__u32 i_mtime_nsec;
	void *i_private;
};

struct timespec64 {
	__s64 tv_sec;
	long tv_nsec;
};

/* 6.7 - 6.10 */
struct inode___v67 {
	struct timespec64 __i_ctime;
	struct timespec64 __i_mtime;
};

/* before 6.6 */
struct inode___old {
	struct timespec64 i_ctime;
	struct timespec64 i_mtime;
};

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
	struct super_block *d_sb;
};

struct vfsmount {
	struct dentry *mnt_root;
	struct super_block *mnt_sb;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
	struct inode *f_inode;
	void *private_data;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct fs_struct {
	struct path root;
	struct path pwd;
};

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
	unsigned long env_start;
	unsigned long env_end;
	struct file *exe_file;
};

struct ns_common {
	const struct proc_ns_operations *ops;
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct task_struct;

struct pid_namespace {
	struct task_struct *child_reaper;
	unsigned int level;
	struct ns_common ns;
};

struct upid {
	int nr;
	struct pid_namespace *ns;
};

/* numbers[] is a flexible array: index it by computed offsets only. */
struct pid {
	unsigned int level;
	struct upid numbers[1];
};

struct nsproxy {
	struct mnt_namespace *mnt_ns;
	struct pid_namespace *pid_ns_for_children;
};

struct tty_driver {
	int major;
	int minor_start;
};

struct tty_struct {
	struct tty_driver *driver;
	int index;
};

struct signal_struct {
	struct pid *pids[4];
	struct tty_struct *tty;
};

struct kernfs_node {
	struct kernfs_node *__parent; /* 6.15+ */
	const char *name;
	__u64 id;
};

struct kernfs_node___old {
	struct kernfs_node *parent;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct cgroup_subsys {
	const char *name;
};

struct cgroup_subsys_state {
	struct cgroup *cgroup;
	struct cgroup_subsys *ss;
};

struct css_set {
	struct cgroup_subsys_state *subsys[12];
	struct cgroup *dfl_cgrp;
};

struct thread_info {
	__u32 status;
};

struct task_struct {
	struct thread_info thread_info;
	unsigned int flags;
	int pid;
	int tgid;
	int exit_code;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	__u64 start_boottime;
	const struct cred *cred;
	struct mm_struct *mm;
	struct fs_struct *fs;
	struct files_struct *files;
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
	kuid_t loginuid;
	__u64 self_exec_id;
	struct css_set *cgroups;
	char comm[16];
};

/* kernel-internal BPF objects (self-protection reads their ids) */
struct bpf_map {
	u32 id;
};

struct bpf_link {
	u32 id;
};

struct kernel_siginfo;

struct linux_binprm {
	struct file *file;
	const char *filename;
};

struct in6_addr {
	__u8 s6_addr[16];
};

struct sock_common {
	__u32 skc_daddr;
	__u32 skc_rcv_saddr;
	__u16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
	__u16 sk_type;
};

struct socket {
	short type;
	struct file *file;
	struct sock *sk;
};

struct sockaddr_un {
	unsigned short sun_family;
	char sun_path[108];
};

struct unix_address {
	int len;
	struct sockaddr_un name[0];
};

struct unix_sock {
	struct sock sk;
	struct unix_address *addr;
	struct sock *peer;
};

/* Overlayfs keeps the upper dentry right after the embedded VFS inode. */
struct ovl_inode {
	struct inode vfs_inode;
	struct dentry *__upperdentry;
};

/* io_uring (hook_io_uring.c): the request and the command structs its
 * prep step fills, one per op family; only the members read. */
struct filename {
	const char *name;
};

struct open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

struct io_cqe {
	__u64 user_data;
	__s32 res;
	union {
		__u32 flags;
		int fd;
	};
};

struct io_cmd_data {
	struct file *file;
	__u8 data[56];
};

struct io_ring_ctx {
	unsigned int flags;
};

struct io_kiocb {
	union {
		struct file *file;
		struct io_cmd_data cmd;
	};
	u8 opcode;
	__u64 flags;
	struct io_cqe cqe;
	struct io_ring_ctx *ctx;
};

struct io_uring_cqe {
	__u64 user_data;
	__s32 res;
	__u32 flags;
};

struct io_open {
	int dfd;
	struct filename *filename;
	struct open_how how;
};

struct io_close {
	int fd;
};

struct io_rename {
	int old_dfd;
	int new_dfd;
	struct filename *oldpath;
	struct filename *newpath;
	int flags;
};

struct io_unlink {
	int dfd;
	int flags;
	struct filename *filename;
};

struct io_mkdir {
	int dfd;
	unsigned short mode;
	struct filename *filename;
};

struct io_link {
	int old_dfd;
	int new_dfd;
	struct filename *oldpath;
	struct filename *newpath;
	int flags;
};

struct io_accept {
	int flags;
};

struct io_connect {
	void *addr;
	int addr_len;
};

struct io_sr_msg {
	void *buf;
	int len;
};

struct io_rw {
	__u64 addr;
	__u32 len;
};

#pragma clang attribute pop

/* Userspace structures read from syscall arguments (stable uapi layouts). */
struct kst_user_iovec {
	__u64 iov_base;
	__u64 iov_len;
};

struct kst_user_msghdr {
	__u64 msg_name;
	__s32 msg_namelen;
	__u32 pad;
	__u64 msg_iov;
	__u64 msg_iovlen;
};

struct kst_open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

#endif /* KESTREL_VMLINUX_H */
