//! Trigger -> expect for the socket syscalls: socket tuples come from the
//! kernel socket (or, for an unconnected datagram socket, from the address
//! the caller passed), unix socket paths from the bound address.

mod common;

use std::mem::size_of;

use common::*;

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

fn sin(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(LOOPBACK),
        },
        sin_zero: [0; 8],
    }
}

fn sin6(port: u16) -> libc::sockaddr_in6 {
    let mut a = [0u8; 16];
    a[15] = 1;
    libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as u16,
        sin6_port: port.to_be(),
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr { s6_addr: a },
        sin6_scope_id: 0,
    }
}

fn socket(domain: i32, ty: i32) -> i32 {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(domain, ty, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    fd
}

fn bind4(fd: i32, port: u16) {
    let a = sin(port);
    // SAFETY: a valid sockaddr_in of the given size.
    let rc = unsafe {
        libc::bind(
            fd,
            &a as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_in>() as u32,
        )
    };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
}

fn local_port(fd: i32) -> u16 {
    // sockaddr_in6 is large enough for both families.
    // SAFETY: zeroed plain data, then filled by the kernel.
    let mut a: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_in6>() as u32;
    // SAFETY: valid out pointers.
    let rc = unsafe { libc::getsockname(fd, &mut a as *mut _ as *mut libc::sockaddr, &mut len) };
    assert_eq!(rc, 0);
    u16::from_be(a.sin6_port)
}

fn close(fd: i32) {
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
}

fn v4(a: &[u8; 16]) -> [u8; 4] {
    [a[0], a[1], a[2], a[3]]
}

#[test]
fn tcp_over_ipv4() {
    let _g = serial();
    let h = harness();
    let tid = gettid();

    let l = socket(libc::AF_INET, libc::SOCK_STREAM);
    let r = h.wait("socket", |r| by(tid, "socket")(r) && r.ret() == l as i64);
    assert_eq!(r.u("domain"), libc::AF_INET as u64);
    assert_eq!(r.u("type"), libc::SOCK_STREAM as u64);
    assert_eq!(r.u("proto"), 0);

    bind4(l, 0);
    let port = local_port(l);
    let r = h.wait("bind", |r| by(tid, "bind")(r) && r.i("fd") == l as i64);
    assert_eq!(r.ret(), 0);
    let (addr, _) = r.sockaddr("addr");
    assert_eq!(addr.family, 2);
    assert_eq!(v4(&addr.daddr), LOOPBACK);
    assert_eq!(addr.dport, 0);
    let (fi, _) = r.fdinfo("fdinfo");
    assert_eq!(fi.kind, b'4');
    assert_eq!(fi.tuple.sport, port);
    assert_eq!(v4(&fi.tuple.saddr), LOOPBACK);

    // SAFETY: our socket.
    assert_eq!(unsafe { libc::listen(l, 7) }, 0);
    let r = h.wait("listen", |r| by(tid, "listen")(r) && r.i("fd") == l as i64);
    assert_eq!(r.i("backlog"), 7);
    let (fi, _) = r.fdinfo("fdinfo");
    assert_eq!((fi.kind, fi.tuple.sport, fi.tuple.l4proto), (b'4', port, 6));

    let c = socket(libc::AF_INET, libc::SOCK_STREAM);
    let dst = sin(port);
    // SAFETY: a valid sockaddr_in.
    let rc = unsafe {
        libc::connect(
            c,
            &dst as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_in>() as u32,
        )
    };
    assert_eq!(rc, 0);
    let cport = local_port(c);
    let r = h.wait("connect", |r| {
        by(tid, "connect")(r) && r.i("fd") == c as i64
    });
    assert_eq!(r.ret(), 0);
    let (addr, _) = r.sockaddr("addr");
    assert_eq!(
        (addr.family, addr.dport, v4(&addr.daddr)),
        (2, port, LOOPBACK)
    );
    let (fi, _) = r.fdinfo("tuple");
    assert_eq!(fi.fd, c);
    assert_eq!(fi.kind, b'4');
    assert_eq!(fi.tuple.family, 2);
    assert_eq!(fi.tuple.l4proto, 6);
    assert_eq!(fi.tuple.sock_type, libc::SOCK_STREAM as u16);
    assert_eq!((fi.tuple.sport, fi.tuple.dport), (cport, port));
    assert_eq!(v4(&fi.tuple.saddr), LOOPBACK);
    assert_eq!(v4(&fi.tuple.daddr), LOOPBACK);

    // accept: the tuple of the new connection, seen from the server.
    // SAFETY: raw accept on our listening socket.
    let a = unsafe {
        libc::syscall(
            libc::SYS_accept,
            l,
            std::ptr::null_mut::<u8>(),
            std::ptr::null_mut::<u8>(),
        )
    } as i32;
    assert!(a >= 0);
    let r = h.wait("accept", |r| by(tid, "accept")(r) && r.ret() == a as i64);
    let (fi, _) = r.fdinfo("tuple");
    assert_eq!(fi.fd, a);
    assert_eq!(
        (fi.kind, fi.tuple.sport, fi.tuple.dport),
        (b'4', port, cport)
    );

    // sendto on a connected socket: the kernel's tuple and the data.
    let msg = b"kestrel-sendto";
    // SAFETY: a valid buffer.
    let n = unsafe { libc::sendto(c, msg.as_ptr().cast(), msg.len(), 0, std::ptr::null(), 0) };
    assert_eq!(n, msg.len() as isize);
    let r = h.wait("sendto", |r| by(tid, "sendto")(r) && r.i("fd") == c as i64);
    assert_eq!(r.u("size"), msg.len() as u64);
    assert_eq!(r.ret(), n as i64);
    assert_eq!(r.p("data"), msg);
    let (fi, _) = r.fdinfo("tuple");
    assert_eq!((fi.tuple.sport, fi.tuple.dport), (cport, port));

    // sendmsg with two iovecs: size sums them, data is the first one.
    let (p1, p2) = (b"first-".as_slice(), b"second".as_slice());
    let mut iov = [
        libc::iovec {
            iov_base: p1.as_ptr() as *mut _,
            iov_len: p1.len(),
        },
        libc::iovec {
            iov_base: p2.as_ptr() as *mut _,
            iov_len: p2.len(),
        },
    ];
    // SAFETY: zeroed plain data.
    let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
    mh.msg_iov = iov.as_mut_ptr();
    mh.msg_iovlen = 2;
    // SAFETY: msghdr points at valid iovecs.
    let n = unsafe { libc::sendmsg(c, &mh, 0) };
    assert_eq!(n, 12);
    let r = h.wait("sendmsg", |r| {
        by(tid, "sendmsg")(r) && r.i("fd") == c as i64
    });
    assert_eq!(r.u("size"), 12);
    assert_eq!(r.p("data"), p1);
    assert_eq!(r.fdinfo("tuple").0.tuple.dport, port);

    // recvfrom on the server side: the bytes that arrived.
    let mut buf = [0u8; 64];
    // SAFETY: a valid buffer.
    let n = unsafe {
        libc::recvfrom(
            a,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert!(n > 0);
    let r = h.wait("recvfrom", |r| {
        by(tid, "recvfrom")(r) && r.i("fd") == a as i64
    });
    assert_eq!(r.u("size"), 64);
    assert_eq!(r.p("data"), &buf[..n as usize]);
    assert_eq!(r.fdinfo("tuple").0.tuple.sport, port);

    // dup of a socket: kind and tuple of the old fd.
    // SAFETY: our socket.
    let d = unsafe { libc::dup(c) };
    assert!(d >= 0);
    let r = h.wait("dup", |r| by(tid, "dup")(r) && r.ret() == d as i64);
    assert_eq!(r.i("oldfd"), c as i64);
    let (fi, _) = r.fdinfo("fdinfo");
    assert_eq!(
        (fi.kind, fi.tuple.sport, fi.tuple.dport),
        (b'4', cport, port)
    );

    // fcntl(F_DUPFD_CLOEXEC) of a socket (python's os.dup): the command,
    // the new fd and the old fd's tuple; F_GETFL too (the filter, not the
    // probe, decides what reaches userspace).
    // SAFETY: our socket.
    let d2 = unsafe { libc::fcntl(c, libc::F_DUPFD_CLOEXEC, 5) };
    assert!(d2 >= 5);
    let r = h.wait("fcntl", |r| by(tid, "fcntl")(r) && r.ret() == d2 as i64);
    assert_eq!(
        (r.i("fd"), r.u("cmd"), r.u("arg")),
        (c as i64, libc::F_DUPFD_CLOEXEC as u64, 5)
    );
    let (fi, _) = r.fdinfo("fdinfo");
    assert_eq!(
        (fi.kind, fi.tuple.sport, fi.tuple.dport),
        (b'4', cport, port)
    );
    // SAFETY: our socket.
    let fl = unsafe { libc::fcntl(c, libc::F_GETFL) };
    assert!(fl >= 0);
    let r = h.wait("fcntl F_GETFL", |r| {
        by(tid, "fcntl")(r) && r.u("cmd") == libc::F_GETFL as u64
    });
    assert_eq!(r.ret(), fl as i64);

    for fd in [d2, d, a, c, l] {
        close(fd);
    }
}

#[test]
fn udp_unconnected_sendto_uses_the_callers_address() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let srv = socket(libc::AF_INET, libc::SOCK_DGRAM);
    bind4(srv, 0);
    let port = local_port(srv);
    let cl = socket(libc::AF_INET, libc::SOCK_DGRAM);
    let dst = sin(port);
    let msg = b"ping";
    // SAFETY: valid buffer and address.
    let n = unsafe {
        libc::sendto(
            cl,
            msg.as_ptr().cast(),
            msg.len(),
            0,
            &dst as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_in>() as u32,
        )
    };
    assert_eq!(n, 4);
    let cport = local_port(cl);
    let r = h.wait("sendto", |r| by(tid, "sendto")(r) && r.i("fd") == cl as i64);
    let (fi, _) = r.fdinfo("tuple");
    assert_eq!(fi.kind, b'4');
    assert_eq!(fi.tuple.l4proto, 17);
    assert_eq!(fi.tuple.sock_type, libc::SOCK_DGRAM as u16);
    assert_eq!(fi.tuple.sport, cport);
    assert_eq!(fi.tuple.dport, port);
    assert_eq!(v4(&fi.tuple.daddr), LOOPBACK);
    assert_eq!(r.p("data"), msg);

    // recvfrom fills in the source: it becomes the peer of the tuple.
    let mut buf = [0u8; 16];
    // SAFETY: zeroed plain data, then filled by the kernel.
    let mut src: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut slen = size_of::<libc::sockaddr_in>() as u32;
    // SAFETY: valid buffers.
    let n = unsafe {
        libc::recvfrom(
            srv,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            &mut src as *mut _ as *mut libc::sockaddr,
            &mut slen,
        )
    };
    assert_eq!(n, 4);
    let r = h.wait("recvfrom", |r| {
        by(tid, "recvfrom")(r) && r.i("fd") == srv as i64
    });
    let (fi, _) = r.fdinfo("tuple");
    assert_eq!((fi.tuple.sport, fi.tuple.dport), (port, cport));
    assert_eq!(r.p("data"), msg);

    // recvmsg on the same socket.
    // SAFETY: valid buffer.
    let n = unsafe {
        libc::sendto(
            cl,
            msg.as_ptr().cast(),
            msg.len(),
            0,
            &dst as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_in>() as u32,
        )
    };
    assert_eq!(n, 4);
    let mut iov = [libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    }];
    // SAFETY: zeroed plain data.
    let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
    mh.msg_iov = iov.as_mut_ptr();
    mh.msg_iovlen = 1;
    // SAFETY: msghdr points at a valid iovec.
    let n = unsafe { libc::recvmsg(srv, &mut mh, 0) };
    assert_eq!(n, 4);
    let r = h.wait("recvmsg", |r| {
        by(tid, "recvmsg")(r) && r.i("fd") == srv as i64
    });
    assert_eq!(r.u("size"), 16);
    assert_eq!(r.p("data"), msg);
    close(cl);
    close(srv);
}

#[test]
fn tcp_over_ipv6() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let l = socket(libc::AF_INET6, libc::SOCK_STREAM);
    let any = sin6(0);
    // SAFETY: a valid sockaddr_in6.
    let rc = unsafe {
        libc::bind(
            l,
            &any as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_in6>() as u32,
        )
    };
    assert_eq!(rc, 0, "bind ::1: {}", std::io::Error::last_os_error());
    // SAFETY: our socket.
    assert_eq!(unsafe { libc::listen(l, 1) }, 0);
    let port = local_port(l);
    let c = socket(libc::AF_INET6, libc::SOCK_STREAM);
    let dst = sin6(port);
    // SAFETY: a valid sockaddr_in6.
    let rc = unsafe {
        libc::connect(
            c,
            &dst as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_in6>() as u32,
        )
    };
    assert_eq!(rc, 0);
    let cport = local_port(c);
    let r = h.wait("connect", |r| {
        by(tid, "connect")(r) && r.i("fd") == c as i64
    });
    let (addr, _) = r.sockaddr("addr");
    assert_eq!((addr.family, addr.dport), (10, port));
    assert_eq!(addr.daddr, dst.sin6_addr.s6_addr);
    let (fi, _) = r.fdinfo("tuple");
    assert_eq!(fi.kind, b'6');
    assert_eq!(fi.tuple.family, 10);
    assert_eq!((fi.tuple.sport, fi.tuple.dport), (cport, port));
    assert_eq!(fi.tuple.saddr, dst.sin6_addr.s6_addr);
    assert_eq!(fi.tuple.daddr, dst.sin6_addr.s6_addr);
    close(c);
    close(l);
}

#[test]
fn unix_sockets_carry_their_path() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = std::fs::canonicalize(dir.path())
        .expect("canonical")
        .join(unique("sock"));
    let ps = path.to_string_lossy().into_owned();
    // SAFETY: zeroed plain data.
    let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sun.sun_family = libc::AF_UNIX as u16;
    for (i, b) in ps.bytes().enumerate() {
        sun.sun_path[i] = b as libc::c_char;
    }
    let slen = (2 + ps.len() + 1) as u32;

    let l = socket(libc::AF_UNIX, libc::SOCK_STREAM);
    // SAFETY: a valid sockaddr_un.
    let rc = unsafe { libc::bind(l, &sun as *const _ as *const libc::sockaddr, slen) };
    assert_eq!(rc, 0);
    let r = h.wait("bind", |r| by(tid, "bind")(r) && r.i("fd") == l as i64);
    let (addr, apath) = r.sockaddr("addr");
    assert_eq!(addr.family, 1);
    assert_eq!(apath, ps);
    let (fi, fpath) = r.fdinfo("fdinfo");
    assert_eq!(fi.kind, b'u');
    assert_eq!(fpath, ps);
    // SAFETY: our socket.
    assert_eq!(unsafe { libc::listen(l, 1) }, 0);

    let c = socket(libc::AF_UNIX, libc::SOCK_STREAM);
    // SAFETY: a valid sockaddr_un.
    let rc = unsafe { libc::connect(c, &sun as *const _ as *const libc::sockaddr, slen) };
    assert_eq!(rc, 0);
    let r = h.wait("connect", |r| {
        by(tid, "connect")(r) && r.i("fd") == c as i64
    });
    let (addr, apath) = r.sockaddr("addr");
    assert_eq!((addr.family, apath.as_str()), (1, ps.as_str()));
    // The client is not bound: its fd shows the peer's path.
    let (fi, fpath) = r.fdinfo("tuple");
    assert_eq!(fi.kind, b'u');
    assert_eq!(fi.tuple.family, 1);
    assert_eq!(fpath, ps);

    // dup2 and dup3 of the unix socket.
    // SAFETY: our fds; 200/201 are free in a test process.
    let d2 = unsafe { libc::dup2(c, 200) };
    assert_eq!(d2, 200);
    let r = h.wait("dup2", |r| by(tid, "dup2")(r) && r.i("newfd") == 200);
    assert_eq!(r.i("oldfd"), c as i64);
    assert_eq!(r.ret(), 200);
    assert_eq!(r.fdinfo("fdinfo").0.kind, b'u');
    // SAFETY: as above.
    let d3 = unsafe { libc::dup3(c, 201, libc::O_CLOEXEC) };
    assert_eq!(d3, 201);
    let r = h.wait("dup3", |r| by(tid, "dup3")(r) && r.i("newfd") == 201);
    assert_eq!(r.u("flags"), libc::O_CLOEXEC as u64);
    assert_eq!(r.fdinfo("fdinfo").1, ps);
    for fd in [d3, d2, c, l] {
        close(fd);
    }
}

#[test]
fn dup_of_a_file_shows_its_path() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let f = tempfile::NamedTempFile::new().expect("tempfile");
    let path = std::fs::canonicalize(f.path()).expect("canonical");
    let fd = std::os::fd::AsRawFd::as_raw_fd(f.as_file());
    // SAFETY: our fd.
    let d = unsafe { libc::dup(fd) };
    assert!(d >= 0);
    let r = h.wait("dup", |r| by(tid, "dup")(r) && r.ret() == d as i64);
    let (fi, p) = r.fdinfo("fdinfo");
    assert_eq!(fi.fd, fd);
    assert_eq!(fi.kind, b'f');
    assert_eq!(p, path.to_string_lossy());
    close(d);
}
