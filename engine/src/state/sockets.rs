//! A small per-socket cache, keyed by (tgid, fd), for what the kernel's
//! socket tuple alone cannot tell: which side connected (client/server
//! direction of `fd.name`), whether a datagram socket is connected, and
//! whether a `sendto`/`sendmsg` went to a new peer (`fd.name_changed`).
//!
//! Updated by [`SocketCache::apply`] (called from the process table's
//! `apply`) and read by field extraction. A descriptor copy (dup, dup2,
//! dup3, fcntl `F_DUPFD*`) copies the entry to the new number, and a fork
//! copies the parent's entries to the child ([`SocketCache::inherit`]): a
//! server that accepts, forks and puts the connection on the child's stdio
//! (sshd, inetd) keeps its server role through both. A process's entries
//! go when the process table forgets it ([`SocketCache::forget`]).
//!
//! It is bounded: when full it is cleared and the loss counted; an entry
//! then missing only weakens the direction heuristic and makes the next
//! datagram look like a new peer.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::table::fcntl_cmd;
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
    /// Processes that have (or had, until the map was last cleared)
    /// entries: a fork or a forget scans the map only for them.
    owners: papaya::HashSet<u32, crate::util::IdBuild>,
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
            owners: papaya::HashSet::with_hasher(crate::util::IdBuild::default()),
            cap: cap.max(1),
            evicted: AtomicU64::new(0),
        }
    }

    /// Sockets held now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds no socket.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Most sockets held before the cache starts over.
    pub fn capacity(&self) -> usize {
        self.cap
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
            self.owners.pin().clear();
            self.evicted.fetch_add(n, Ordering::Relaxed);
        }
        g.update_or_insert_with(key, |old| f(*old), || f(SockState::default()));
        self.owners.pin().insert(key.0);
    }

    /// Descriptor `old` of `tgid` was copied onto `new`: `new` is now the
    /// same socket (or, when nothing is known of `old`, something the
    /// cache knows nothing of).
    fn copy_fd(&self, tgid: u32, old: i32, new: i32) {
        if old == new || self.map.is_empty() {
            return;
        }
        match self.get(tgid, old) {
            Some(s) => self.put((tgid, new), |_| s),
            None => {
                self.map.pin().remove(&(tgid, new));
            }
        }
    }

    /// A fork: `child` holds the same sockets under the same numbers as
    /// `parent`, so it inherits what is known of them (a server forking
    /// per connection hands the child the socket it accepted, whose
    /// direction would otherwise be guessed from the ports). Entries a
    /// reused `child` pid left behind are dropped first.
    pub fn inherit(&self, parent: u32, child: u32) {
        if parent == child {
            return;
        }
        self.forget(child);
        if !self.owners.pin().contains(&parent) {
            return;
        }
        let theirs: Vec<(i32, SockState)> = self
            .map
            .pin()
            .iter()
            .filter(|((t, _), _)| *t == parent)
            .map(|((_, fd), s)| (*fd, *s))
            .collect();
        for (fd, s) in theirs {
            // The child has sent nothing yet: no peer change of its own.
            self.put((child, fd), |_| SockState {
                peer: None,
                changed_ts: 0,
                changed_tid: 0,
                ..s
            });
        }
    }

    /// The process table forgot `tgid` (its exit grace ended): its entries
    /// go, so that a later process with the same pid starts with none.
    pub fn forget(&self, tgid: u32) {
        if self.owners.pin().remove(&tgid) {
            self.map.pin().retain(|(t, _), _| *t != tgid);
        }
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
            // dup, dup2, dup3: the result is a copy of the first argument
            138..=140 if h.ret >= 0 => {
                if let Some(old) = ev.param_i64(0) {
                    self.copy_fd(tgid, old as i32, h.ret as i32);
                }
            }
            // fcntl F_DUPFD, F_DUPFD_CLOEXEC: likewise
            141 if h.ret >= 0 => {
                if let (Some(old), Some(cmd)) = (ev.param_i64(0), ev.param_u64(1)) {
                    if fcntl_cmd::is_dup(cmd) {
                        self.copy_fd(tgid, old as i32, h.ret as i32);
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::wire::EventHdr;
    use crate::event::{EventBuilder, EventType};

    fn server(_: SockState) -> SockState {
        SockState {
            role: Role::Server,
            connected: true,
            ..SockState::default()
        }
    }

    fn client(s: SockState) -> SockState {
        SockState {
            role: Role::Client,
            ..s
        }
    }

    /// A record of `ty` by `tgid` returning `ret`, with integer parameters
    /// and the hidden fdinfo last.
    fn rec(ty: u16, tgid: u32, ret: i64, ints: &[i64]) -> Vec<u8> {
        let h = EventHdr {
            tgid,
            tid: tgid,
            ret,
            ..Default::default()
        };
        let mut b = EventBuilder::new(EventType(ty), h);
        for &i in ints {
            b.i64(i);
        }
        b.fdinfo(&FdInfo::default(), b"");
        b.finish()
    }

    fn apply(c: &SocketCache, r: &[u8]) {
        c.apply(&RawEvent::parse(r).expect("record parses"));
    }

    #[test]
    fn a_fork_inherits_the_parents_socket_roles() {
        let c = SocketCache::new(1024);
        c.put((100, 5), server);
        c.put((100, 6), client);
        c.put((300, 5), server);
        c.inherit(100, 200);
        assert_eq!(c.get(200, 5).map(|s| s.role), Some(Role::Server));
        assert_eq!(c.get(200, 6).map(|s| s.role), Some(Role::Client));
        // Only the parent's sockets, and the parent keeps its own.
        assert_eq!(c.map.len(), 5);
        assert_eq!(c.get(100, 5).map(|s| s.role), Some(Role::Server));
        // A parent with no entries copies nothing.
        c.inherit(400, 401);
        assert!(c.get(401, 5).is_none());
        // Forgotten processes take their entries with them.
        c.forget(100);
        assert!(c.get(100, 5).is_none() && c.get(100, 6).is_none());
        c.inherit(100, 500);
        assert!(c.get(500, 5).is_none());
        assert_eq!(c.get(200, 5).map(|s| s.role), Some(Role::Server));
    }

    #[test]
    fn a_reused_child_pid_starts_without_stale_entries() {
        let c = SocketCache::new(1024);
        c.put((200, 7), server);
        c.put((100, 5), client);
        c.inherit(100, 200);
        assert!(c.get(200, 7).is_none());
        assert_eq!(c.get(200, 5).map(|s| s.role), Some(Role::Client));
    }

    #[test]
    fn descriptor_copies_carry_the_role() {
        let c = SocketCache::new(1024);
        c.put((100, 4), server);
        // dup2(4, 0), then dup(0) -> 9, fcntl(0, F_DUPFD_CLOEXEC) -> 10.
        apply(&c, &rec(139, 100, 0, &[4, 0]));
        apply(&c, &rec(138, 100, 9, &[0]));
        apply(
            &c,
            &rec(141, 100, 10, &[0, fcntl_cmd::DUPFD_CLOEXEC as i64, 0]),
        );
        for fd in [0, 9, 10] {
            assert_eq!(
                c.get(100, fd).map(|s| s.role),
                Some(Role::Server),
                "fd {fd}"
            );
        }
        // F_SETFL returns 0 and copies nothing onto fd 0's entry.
        c.put((100, 3), client);
        apply(&c, &rec(141, 100, 0, &[3, 4, 0]));
        assert_eq!(c.get(100, 0).map(|s| s.role), Some(Role::Server));
        // A copy of something unknown makes the target unknown.
        apply(&c, &rec(140, 100, 0, &[42, 0, 0]));
        assert!(c.get(100, 0).is_none());
        // A failed copy changes nothing.
        apply(&c, &rec(139, 100, -9, &[3, 9]));
        assert_eq!(c.get(100, 9).map(|s| s.role), Some(Role::Server));
    }
}
