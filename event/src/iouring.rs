//! io_uring requests on the wire: the events of their syscall equivalents
//! (openat, connect, renameat2, ...) marked by [`HF_IOURING`] in the
//! header flags, with the request's opcode in bits 16..24.
//!
//! [`HF_IOURING`]: crate::wire::HF_IOURING

use crate::wire::{EventHdr, HF_IOOP_SHIFT, HF_IOURING};

/// `IORING_OP_*` names (uapi `enum io_uring_op`, Linux 6.18), by opcode.
const OPS: &[&str] = &[
    "NOP",
    "READV",
    "WRITEV",
    "FSYNC",
    "READ_FIXED",
    "WRITE_FIXED",
    "POLL_ADD",
    "POLL_REMOVE",
    "SYNC_FILE_RANGE",
    "SENDMSG",
    "RECVMSG",
    "TIMEOUT",
    "TIMEOUT_REMOVE",
    "ACCEPT",
    "ASYNC_CANCEL",
    "LINK_TIMEOUT",
    "CONNECT",
    "FALLOCATE",
    "OPENAT",
    "CLOSE",
    "FILES_UPDATE",
    "STATX",
    "READ",
    "WRITE",
    "FADVISE",
    "MADVISE",
    "SEND",
    "RECV",
    "OPENAT2",
    "EPOLL_CTL",
    "SPLICE",
    "PROVIDE_BUFFERS",
    "REMOVE_BUFFERS",
    "TEE",
    "SHUTDOWN",
    "RENAMEAT",
    "UNLINKAT",
    "MKDIRAT",
    "SYMLINKAT",
    "LINKAT",
    "MSG_RING",
    "FSETXATTR",
    "SETXATTR",
    "FGETXATTR",
    "GETXATTR",
    "SOCKET",
    "URING_CMD",
    "SEND_ZC",
    "SENDMSG_ZC",
    "READ_MULTISHOT",
    "WAITID",
    "FUTEX_WAIT",
    "FUTEX_WAKE",
    "FUTEX_WAITV",
    "FIXED_FD_INSTALL",
    "FTRUNCATE",
    "BIND",
    "LISTEN",
    "RECV_ZC",
    "EPOLL_WAIT",
];

/// The name of an `IORING_OP_*` opcode without its prefix (`OPENAT`), or
/// `None` for an opcode newer than this table.
pub fn op_name(op: u8) -> Option<&'static str> {
    OPS.get(op as usize).copied()
}

/// The opcode of an io_uring event, `None` for a system call.
pub fn op_of(h: &EventHdr) -> Option<u8> {
    (h.flags & HF_IOURING != 0).then_some((h.flags >> HF_IOOP_SHIFT) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_uapi_numbering() {
        assert_eq!(op_name(0), Some("NOP"));
        assert_eq!(op_name(13), Some("ACCEPT"));
        assert_eq!(op_name(16), Some("CONNECT"));
        assert_eq!(op_name(18), Some("OPENAT"));
        assert_eq!(op_name(28), Some("OPENAT2"));
        assert_eq!(op_name(35), Some("RENAMEAT"));
        assert_eq!(op_name(39), Some("LINKAT"));
        assert_eq!(op_name(59), Some("EPOLL_WAIT"));
        assert_eq!(op_name(200), None);
    }

    #[test]
    fn op_comes_from_the_header_flags() {
        let mut h = EventHdr::default();
        assert_eq!(op_of(&h), None);
        h.flags = HF_IOURING | (18 << HF_IOOP_SHIFT) | 0x4;
        assert_eq!(op_of(&h), Some(18));
    }
}
