//! A small per-socket cache, keyed by (tgid, fd), for what the kernel's
//! socket tuple alone cannot tell: which side connected (client/server
//! direction of `fd.name`), whether a datagram socket is connected, and
//! whether a `sendto`/`sendmsg` went to a new peer (`fd.name_changed`).
//!
//! Updated by [`SocketCache::apply`] (called from the process table's
//! `apply`) and read by field extraction. It is bounded: when full it is
//! cleared and the loss counted; an entry then missing only weakens the
//! direction heuristic and makes the next datagram look like a new peer.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::wire::{af, FdInfo, SockTuple};
use crate::event::RawEvent;

/// Which side of a connection a socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not known.
    Unknown,
    /// It connected (`connect`).
    Client,
    /// It accepted or listens.
    Server,
}

/// What the cache knows about one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockState {
    /// Direction.
    pub role: Role,
    /// A `connect` succeeded or is in progress, or it came from `accept`.
    pub connected: bool,
    /// Last peer (address, port) a datagram was sent to.
    pub peer: Option<([u8; 16], u16)>,
    /// Event time of the send that changed `peer`.
    pub changed_ts: u64,
    /// Thread of that send.
    pub changed_tid: u32,
}

impl Default for SockState {
    fn default() -> Self {
        SockState {
            role: Role::Unknown,
            connected: false,
            peer: None,
            changed_ts: 0,
            changed_tid: 0,
        }
    }
}

/// `IPPROTO_TCP`.
pub const IPPROTO_TCP: u8 = 6;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: u8 = 17;
/// `EINPROGRESS` as a negative return value.
const EINPROGRESS: i64 = -115;

/// Whether a tuple has a peer (non-zero address or port).
pub fn has_peer(t: &SockTuple) -> bool {
    t.dport != 0 || t.daddr.iter().any(|&b| b != 0)
}

/// The per-socket cache.
pub struct SocketCache {
    map: papaya::HashMap<(u32, i32), SockState, crate::util::IdBuild>,
    cap: usize,
    evicted: AtomicU64,
}

impl std::fmt::Debug for SocketCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketCache")
            .field("len", &self.map.len())
            .field("cap", &self.cap)
            .finish()
    }
}

fn is_ip(fi: &FdInfo) -> bool {
    matches!(fi.kind, b'4' | b'6') || matches!(fi.tuple.family, af::INET | af::INET6)
}

impl SocketCache {
    /// A cache of at most `cap` sockets.
    pub fn new(cap: usize) -> SocketCache {
        SocketCache {
            map: papaya::HashMap::with_hasher(crate::util::IdBuild::default()),
            cap: cap.max(1),
            evicted: AtomicU64::new(0),
        }
    }

    /// Entries dropped to stay within the bound.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// What is known about socket `fd` of process `tgid`.
    pub fn get(&self, tgid: u32, fd: i32) -> Option<SockState> {
        self.map.pin().get(&(tgid, fd)).copied()
    }

    fn put(&self, key: (u32, i32), f: impl Fn(SockState) -> SockState) {
        let g = self.map.pin();
        if g.len() >= self.cap && g.get(&key).is_none() {
            let n = g.len() as u64;
            g.clear();
            self.evicted.fetch_add(n, Ordering::Relaxed);
        }
        g.update_or_insert_with(key, |old| f(*old), || f(SockState::default()));
    }

    /// Updates the cache from one event (no-op for events that do not
    /// concern sockets).
    pub fn apply(&self, ev: &RawEvent<'_>) {
        let h = &ev.hdr;
        let tgid = h.tgid;
        match h.ty {
            // socket: a fresh fd, forget whatever an old fd of that number was.
            128 if h.ret >= 0 => {
                self.map.pin().remove(&(tgid, h.ret as i32));
            }
            // close (most closes are of files: skip the map when it is empty)
            68 if h.ret == 0 && !self.map.is_empty() => {
                if let Some(fd) = ev.param_i64(0) {
                    self.map.pin().remove(&(tgid, fd as i32));
                }
            }
            // connect
            129 if h.ret == 0 || h.ret == EINPROGRESS => {
                if let Some(fd) = ev.param_i64(0) {
                    self.put((tgid, fd as i32), |s| SockState {
                        role: Role::Client,
                        connected: true,
                        ..s
                    });
                }
            }
            // accept, accept4: the new fd is the server side of a connection
            130 | 131 if h.ret >= 0 => {
                self.put((tgid, h.ret as i32), |_| SockState {
                    role: Role::Server,
                    connected: true,
                    ..SockState::default()
                });
            }
            // listen
            133 if h.ret == 0 => {
                if let Some(fd) = ev.param_i64(0) {
                    self.put((tgid, fd as i32), |s| SockState {
                        role: Role::Server,
                        ..s
                    });
                }
            }
            // sendto, sendmsg: a datagram to a new peer renames the fd
            134 | 135 if h.ret >= 0 => {
                let (Some(fd), Some((fi, _))) = (ev.param_i64(0), ev.param_fdinfo(2)) else {
                    return;
                };
                if !is_ip(&fi) || fi.tuple.l4proto == IPPROTO_TCP || !has_peer(&fi.tuple) {
                    return;
                }
                let peer = (fi.tuple.daddr, fi.tuple.dport);
                let key = (tgid, fd as i32);
                if self.get(tgid, fd as i32).and_then(|s| s.peer) == Some(peer) {
                    return;
                }
                let (ts, tid) = (h.ts_ns, h.tid);
                self.put(key, |s| SockState {
                    peer: Some(peer),
                    changed_ts: ts,
                    changed_tid: tid,
                    ..s
                });
            }
            _ => {}
        }
    }

    /// Whether the event (identified by time and thread) is the send that
    /// last changed the peer of socket `fd`.
    pub fn name_changed(&self, tgid: u32, fd: i32, ts: u64, tid: u32) -> bool {
        self.get(tgid, fd)
            .is_some_and(|s| s.peer.is_some() && s.changed_ts == ts && s.changed_tid == tid)
    }
}
