//! Field semantics of kernel events (RULES.md §7) through `LiveEvent`.

use kestrel_engine::event::flags::kernel_o;
use kestrel_engine::event::raw::comm_from;
use kestrel_engine::event::wire::{af, EventHdr, FdInfo, SockTuple, HF_SYNTHETIC};
use kestrel_engine::event::{EventBuilder, EventType, RawEvent};
use kestrel_engine::fields::live::LiveEvent;
use kestrel_engine::fields::{render, resolve, Extract, FieldRef, Value, CATALOG};
use kestrel_engine::state::container::{
    ContainerInfo, Containers, HealthProbe, Mount, PodInfo, ProbeKind,
};
use kestrel_engine::state::users::{parse_accounts, parse_id_file, NameDb};
use kestrel_engine::state::{Context, ProcessTable, Users};

const CID: &str = "3f1e5b2c9d8a7f6e5d4c3b2a19081726354a5b6c7d8e9f0a1b2c3d4e5f607182";

fn hdr(tgid: u32, ptgid: u32, comm: &str, ret: i64) -> EventHdr {
    EventHdr {
        ts_ns: 2_000_000_000,
        tid: tgid,
        tgid,
        ptgid,
        ret,
        exec_gen: 3,
        uid: 1000,
        euid: 1000,
        gid: 100,
        egid: 100,
        loginuid: u32::MAX,
        cap_effective: (1 << 21) | 1,
        cap_permitted: 1 << 12,
        cpu: 1,
        comm: comm_from(comm.as_bytes()),
        ..Default::default()
    }
}

#[allow(clippy::too_many_arguments, reason = "one argument per wire parameter")]
fn image(
    ty: EventType,
    h: EventHdr,
    argv: &[&str],
    exepath: &str,
    cwd: &str,
    cgroup: &str,
    sid: u32,
    flags: u64,
) -> Vec<u8> {
    let vpid = h.tgid;
    image_v(ty, h, argv, exepath, cwd, cgroup, sid, flags, vpid)
}

/// [`image`] with the pid the process has in its own pid namespace.
#[allow(clippy::too_many_arguments, reason = "one argument per wire parameter")]
fn image_v(
    ty: EventType,
    h: EventHdr,
    argv: &[&str],
    exepath: &str,
    cwd: &str,
    cgroup: &str,
    sid: u32,
    flags: u64,
    vpid: u32,
) -> Vec<u8> {
    let mut a = Vec::new();
    for s in argv {
        a.extend_from_slice(s.as_bytes());
        a.push(0);
    }
    EventBuilder::new(ty, h)
        .bytes(&a)
        .bytes(cwd.as_bytes())
        .bytes(exepath.as_bytes())
        .bytes(exepath.as_bytes())
        .bytes(b"HOME=/home/u\0HTTP_PROXY= http://p:3128 \0")
        .bytes(format!("0::{cgroup}\0").as_bytes())
        .u64(34816)
        .u64(sid as u64)
        .u64(vpid as u64)
        .u64(h.tgid as u64)
        .u64(h.tgid as u64)
        .u64(flags)
        .u64(77)
        .u64(1_600_000_000_000_000_000)
        .u64(1_600_000_001_000_000_000)
        .u64(1_000_000_000)
        .u64(500_000_000)
        .u64(0)
        .finish()
}

fn scanned(tgid: u32, ptgid: u32, comm: &str, exe: &str, sid: u32, cgroup: &str) -> Vec<u8> {
    let mut h = hdr(tgid, ptgid, comm, 0);
    h.flags = HF_SYNTHETIC;
    image(EventType::PROCINFO, h, &[exe], exe, "/", cgroup, sid, 0)
}

struct World {
    table: ProcessTable,
    ctx: Context,
}

fn world() -> World {
    let table = ProcessTable::new(1024);
    let db = NameDb {
        users: parse_id_file(
            "root:x:0:0::/:/bin/sh\nalice:x:1000:100::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n",
        ),
        groups: parse_id_file("root:x:0:\nusers:x:100:\n"),
        accounts: parse_accounts(
            "root:x:0:0::/root:/bin/bash\nalice:x:1000:100::/home/alice:/bin/zsh\n",
        ),
    };
    let containers = Containers::disabled();
    containers.insert(ContainerInfo {
        id: CID.into(),
        name: "web".into(),
        image: "nginx:1.25".into(),
        image_repository: "nginx".into(),
        image_tag: "1.25".into(),
        privileged: true,
        mounts: vec![Mount {
            source: "/proc".into(),
            dest: "/host/proc".into(),
            mode: "ro".into(),
            rw: false,
            propagation: "rprivate".into(),
        }],
        labels: [(
            "io.kubernetes.pod.namespace".to_string(),
            "prod".to_string(),
        )]
        .into(),
        ..Default::default()
    });
    let ctx = Context {
        users: Users::fixed(db),
        containers,
        hostname: "node-1".into(),
        boot_to_epoch_ns: 1_700_000_000_000_000_000,
        ..Default::default()
    };
    for r in [
        scanned(
            1,
            0,
            "systemd",
            "/usr/lib/systemd/systemd",
            1,
            "/init.scope",
        ),
        scanned(
            10,
            1,
            "sshd",
            "/usr/sbin/sshd",
            10,
            "/system.slice/ssh.service",
        ),
        scanned(20, 10, "bash", "/bin/bash", 20, "/user.slice"),
        scanned(30, 20, "sh", "/bin/sh", 20, "/user.slice"),
        scanned(
            40,
            1,
            "nginx",
            "/usr/sbin/nginx",
            40,
            &format!("/system.slice/docker-{CID}.scope"),
        ),
    ] {
        table.apply(&RawEvent::parse(&r).unwrap());
    }
    World { table, ctx }
}

fn fref(s: &str) -> FieldRef {
    match s.find('[') {
        Some(i) if s.ends_with(']') => resolve(&s[..i], Some(&s[i + 1..s.len() - 1])).unwrap(),
        _ => resolve(s, None).unwrap(),
    }
}

fn text(v: Value<'_>) -> String {
    match v {
        Value::Str(s) | Value::Bytes(s) => String::from_utf8_lossy(&s).into_owned(),
        Value::Bool(b) => b.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::Ip(a) => a.to_string(),
    }
}

impl World {
    fn ev<'a>(&'a self, rec: &'a [u8]) -> LiveEvent<'a> {
        let raw = RawEvent::parse(rec).unwrap();
        self.table.apply(&raw);
        LiveEvent::new(raw, &self.table, &self.ctx, 7)
    }
}

fn get(e: &LiveEvent<'_>, f: &str) -> Option<String> {
    e.extract(&fref(f)).map(text)
}

fn each(e: &LiveEvent<'_>, f: &str) -> Option<Vec<String>> {
    let mut v = Vec::new();
    e.extract_each(&fref(f), &mut |x| {
        v.push(text(x));
        false
    })
    .then_some(v)
}

#[allow(clippy::too_many_arguments, reason = "one argument per wire parameter")]
fn openat(
    tgid: u32,
    ptgid: u32,
    comm: &str,
    ret: i64,
    dirfd: i64,
    path: &str,
    flags: u64,
    mode: u64,
    dirpath: &str,
) -> Vec<u8> {
    EventBuilder::new(EventType(65), hdr(tgid, ptgid, comm, ret))
        .i64(dirfd)
        .bytes(path.as_bytes())
        .u64(flags)
        .u64(mode)
        .bytes(dirpath.as_bytes())
        .finish()
}

fn ipv4(a: [u8; 4]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&a);
    b
}

fn tuple(l4: u8, s: [u8; 4], sp: u16, d: [u8; 4], dp: u16) -> SockTuple {
    SockTuple {
        family: af::INET,
        l4proto: l4,
        sock_type: if l4 == 6 { 1 } else { 2 },
        sport: sp,
        dport: dp,
        saddr: ipv4(s),
        daddr: ipv4(d),
    }
}

fn fdinfo(fd: i32, kind: u8, t: SockTuple) -> FdInfo {
    FdInfo {
        fd,
        kind,
        pad: [0; 3],
        tuple: t,
    }
}

#[test]
fn exec_event_describes_the_new_program() {
    let w = world();
    let mut h = hdr(30, 20, "python3", 0);
    h.exec_gen = 4;
    let rec = image(
        EventType::EXECVE,
        h,
        &["python3", "-c", "print(1)"],
        "/usr/bin/python3.12",
        "/home/u",
        "/user.slice",
        20,
        1 | 2,
    );
    let e = w.ev(&rec);
    assert_eq!(get(&e, "evt.type").as_deref(), Some("execve"));
    assert_eq!(get(&e, "proc.name").as_deref(), Some("python3"));
    assert_eq!(get(&e, "proc.exe").as_deref(), Some("python3"));
    assert_eq!(
        get(&e, "proc.exepath").as_deref(),
        Some("/usr/bin/python3.12")
    );
    assert_eq!(get(&e, "proc.args").as_deref(), Some("-c print(1)"));
    assert_eq!(
        get(&e, "proc.cmdline").as_deref(),
        Some("python3 -c print(1)")
    );
    assert_eq!(
        get(&e, "proc.exeline").as_deref(),
        Some("python3 -c print(1)")
    );
    assert_eq!(get(&e, "proc.cmdnargs").as_deref(), Some("2"));
    assert_eq!(get(&e, "proc.cmdlenargs").as_deref(), Some("10"));
    assert_eq!(get(&e, "proc.cwd").as_deref(), Some("/home/u"));
    assert_eq!(get(&e, "proc.env[HOME]").as_deref(), Some("/home/u"));
    assert_eq!(
        get(&e, "proc.env[HTTP_PROXY]").as_deref(),
        Some("http://p:3128")
    );
    assert_eq!(get(&e, "proc.env[NOPE]").as_deref(), Some(""));
    assert!(get(&e, "proc.env")
        .unwrap()
        .starts_with("HOME=/home/u HTTP_PROXY="));
    assert_eq!(
        get(&e, "evt.arg.flags").as_deref(),
        Some("EXE_WRITABLE|EXE_UPPER_LAYER")
    );
    assert_eq!(get(&e, "proc.is_exe_upper_layer").as_deref(), Some("true"));
    assert_eq!(get(&e, "proc.is_exe_from_memfd").as_deref(), Some("false"));
    assert_eq!(get(&e, "proc.tty").as_deref(), Some("34816"));
    assert_eq!(get(&e, "proc.pname").as_deref(), Some("bash"));
    assert_eq!(get(&e, "proc.pexepath").as_deref(), Some("/bin/bash"));
    assert_eq!(get(&e, "proc.pcmdline").as_deref(), Some("bash"));
    assert_eq!(get(&e, "proc.aname[0]").as_deref(), Some("python3"));
    assert_eq!(get(&e, "proc.aname[2]").as_deref(), Some("sshd"));
    assert_eq!(get(&e, "proc.aname[3]").as_deref(), Some("systemd"));
    assert_eq!(get(&e, "proc.aname[4]"), None);
    assert_eq!(
        get(&e, "proc.aexepath[2]").as_deref(),
        Some("/usr/sbin/sshd")
    );
    assert_eq!(get(&e, "proc.apid[1]").as_deref(), Some("20"));
    assert_eq!(get(&e, "proc.aname").as_deref(), Some("bash sshd systemd"));
    assert_eq!(
        each(&e, "proc.aname"),
        Some(vec!["bash".into(), "sshd".into(), "systemd".into()])
    );
    assert_eq!(get(&e, "proc.sname").as_deref(), Some("bash"));
    assert_eq!(get(&e, "proc.duration").as_deref(), Some("1000000000"));
    assert_eq!(
        get(&e, "proc.exe_ino.ctime").as_deref(),
        Some("1600000000000000000")
    );
    assert_eq!(
        get(&e, "proc.exe_ino.ctime_duration_proc_start").as_deref(),
        Some(
            (1_700_000_001_000_000_000u64 - 1_600_000_000_000_000_000)
                .to_string()
                .as_str()
        )
    );
    assert_eq!(get(&e, "user.uid").as_deref(), Some("1000"));
    assert_eq!(get(&e, "user.name").as_deref(), Some("alice"));
    assert_eq!(get(&e, "user.loginuid").as_deref(), Some("-1"));
    assert_eq!(get(&e, "user.loginname").as_deref(), Some("<NA>"));
    assert_eq!(get(&e, "group.name").as_deref(), Some("users"));
    assert_eq!(
        get(&e, "thread.cap_effective").as_deref(),
        Some("CAP_CHOWN CAP_SYS_ADMIN")
    );
    assert_eq!(
        get(&e, "thread.cap_permitted").as_deref(),
        Some("CAP_NET_ADMIN")
    );
    assert_eq!(get(&e, "container.id").as_deref(), Some("host"));
    assert_eq!(get(&e, "container.name").as_deref(), Some("host"));
    assert_eq!(get(&e, "container.image.repository").as_deref(), Some(""));
    assert_eq!(get(&e, "k8s.ns.name"), None);
    assert_eq!(get(&e, "container.mount.dest[/proc*]"), None);
    assert_eq!(
        get(&e, "container.start_ts").as_deref(),
        Some("1700000000500000000")
    );
    assert_eq!(get(&e, "fd.name"), None, "no fd on exec events");
    assert_eq!(get(&e, "fd.num"), None);
    assert_eq!(get(&e, "evt.res").as_deref(), Some("SUCCESS"));
    assert_eq!(get(&e, "evt.num").as_deref(), Some("7"));
    assert_eq!(get(&e, "evt.hostname").as_deref(), Some("node-1"));
    assert_eq!(get(&e, "evt.time").as_deref(), Some("1700000002000000000"));
    assert_eq!(get(&e, "evt.dir").as_deref(), Some("<"));
    assert_eq!(get(&e, "evt.arg.exe").as_deref(), Some("python3"));
    assert_eq!(get(&e, "evt.arg[0]").as_deref(), Some("0"), "res first");
    // The table now holds the new image for later events.
    let p = w.table.get(30).unwrap();
    assert_eq!(&*p.image().unwrap().exepath, b"/usr/bin/python3.12");
}

#[test]
fn container_process_fields() {
    let w = world();
    let rec = openat(40, 1, "nginx", 5, -100, "/etc/passwd", 0, 0, "");
    let e = w.ev(&rec);
    assert_eq!(get(&e, "container.id").as_deref(), Some(&CID[..12]));
    assert_eq!(get(&e, "container.full_id").as_deref(), Some(CID));
    assert_eq!(get(&e, "container.type").as_deref(), Some("docker"));
    assert_eq!(get(&e, "container.name").as_deref(), Some("web"));
    assert_eq!(get(&e, "container.image.tag").as_deref(), Some("1.25"));
    assert_eq!(get(&e, "container.privileged").as_deref(), Some("true"));
    assert_eq!(
        get(&e, "container.mount.dest[/proc*]").as_deref(),
        Some("/host/proc")
    );
    assert_eq!(
        get(&e, "container.mount.dest[0]").as_deref(),
        Some("/host/proc")
    );
    assert_eq!(get(&e, "container.mount.dest[/var/run/docker.sock]"), None);
    assert_eq!(
        get(&e, "container.mount.source[/host]").as_deref(),
        Some("/proc")
    );
    assert_eq!(
        get(&e, "container.mounts").as_deref(),
        Some("/proc:/host/proc:ro:false:rprivate")
    );
    assert_eq!(get(&e, "k8s.ns.name").as_deref(), Some("prod"));
    assert_eq!(get(&e, "k8s.pod.name"), None);
    assert_eq!(
        get(&e, "container.label[io.kubernetes.pod.namespace]").as_deref(),
        Some("prod")
    );
    assert_eq!(
        get(&e, "container.labels").as_deref(),
        Some("io.kubernetes.pod.namespace:prod")
    );
    // No pod and no uid label: the older name is as missing as the new.
    assert_eq!(get(&e, "k8s.pod.id"), get(&e, "k8s.pod.uid"));
    // The event's time (epoch 1700000002 s) since the init's start.
    assert_eq!(
        get(&e, "container.start_ts").as_deref(),
        Some("1700000000500000000")
    );
    assert_eq!(get(&e, "container.duration").as_deref(), Some("1500000000"));
}

#[test]
fn container_mount_fields_by_index_and_source() {
    let w = world();
    w.ctx.containers.insert(ContainerInfo {
        id: CID.into(),
        name: "web".into(),
        mounts: vec![
            Mount {
                source: "/var/run/docker.sock".into(),
                dest: "/var/run/docker.sock".into(),
                mode: "".into(),
                rw: true,
                propagation: "rprivate".into(),
            },
            Mount {
                source: "/srv/config".into(),
                dest: "/etc/app".into(),
                mode: "ro".into(),
                rw: false,
                propagation: "rslave".into(),
            },
        ],
        host_network: true,
        ..Default::default()
    });
    let rec = openat(40, 1, "nginx", 5, -100, "/etc/passwd", 0, 0, "");
    let e = w.ev(&rec);
    let g = |f: &str| get(&e, f);
    assert_eq!(
        g("container.mount[1]").as_deref(),
        Some("/srv/config:/etc/app:ro:false:rslave")
    );
    assert_eq!(
        g("container.mount[/srv/*]").as_deref(),
        Some("/srv/config:/etc/app:ro:false:rslave")
    );
    assert_eq!(
        g("container.mount.mode[/srv/config]").as_deref(),
        Some("ro")
    );
    assert_eq!(g("container.mount.mode[0]").as_deref(), Some(""));
    assert_eq!(g("container.mount.rdwr[0]").as_deref(), Some("true"));
    assert_eq!(g("container.mount.rdwr[/srv]").as_deref(), Some("false"));
    assert_eq!(
        g("container.mount.propagation[docker.sock]").as_deref(),
        Some("rprivate")
    );
    // mount.source is looked up by destination, the others by source.
    assert_eq!(
        g("container.mount.source[/etc/app]").as_deref(),
        Some("/srv/config")
    );
    assert_eq!(g("container.mount.mode[/etc/app]"), None);
    // No such mount: missing (Falco's code sets no value).
    assert_eq!(g("container.mount[2]"), None);
    assert_eq!(g("container.mount.rdwr[/nowhere]"), None);
    assert_eq!(g("container.host_network").as_deref(), Some("true"));
    assert_eq!(g("container.host_pid").as_deref(), Some("false"));
    assert_eq!(g("container.host_ipc").as_deref(), Some("false"));
    assert_eq!(g("container.healthcheck").as_deref(), Some("NONE"));
    // Not a pod: the container's CNI result is empty, the pod's missing.
    assert_eq!(g("container.cni.json").as_deref(), Some(""));
    assert_eq!(g("k8s.pod.cni.json"), None);
    // Host processes: the host entry.
    let rec = openat(30, 20, "sh", 5, -100, "/etc/passwd", 0, 0, "");
    let e = w.ev(&rec);
    assert_eq!(get(&e, "container.host_pid").as_deref(), Some("false"));
    assert_eq!(get(&e, "container.mount[0]"), None);
    assert_eq!(
        get(&e, "proc.is_container_healthcheck").as_deref(),
        Some("false")
    );
}

/// A container whose health check and liveness probe run commands, its
/// init, and processes the runtime execs into it or its init starts.
#[test]
fn health_probe_processes_are_told_from_the_containers_own() {
    const PID: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
    let w = world();
    let cg = format!("/kubepods/besteffort/podu1/{PID}");
    let sh = |s: &str| s.to_string();
    w.ctx.containers.insert(ContainerInfo {
        id: PID.into(),
        name: "app".into(),
        probes: vec![
            HealthProbe::from_docker_test(&[sh("CMD-SHELL"), sh("curl -f http://localhost/")])
                .unwrap(),
            HealthProbe::from_command(ProbeKind::Liveness, &[sh("cat"), sh("/tmp/healthy")])
                .unwrap(),
        ],
        pod: Some(PodInfo {
            name: "web-0".into(),
            cni_result: r#"{"eth0":{"IPConfigs":[{"Gateway":"10.244.0.1","IP":"10.244.0.5"}]}}"#
                .into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    let proc = |tgid: u32, ptgid: u32, argv: &[&str], cgroup: &str, vpid: u32| {
        let mut h = hdr(tgid, ptgid, argv[0].rsplit('/').next().unwrap(), 0);
        h.flags = HF_SYNTHETIC;
        let r = image_v(
            EventType::PROCINFO,
            h,
            argv,
            argv[0],
            "/",
            cgroup,
            tgid,
            0,
            vpid,
        );
        w.table.apply(&RawEvent::parse(&r).unwrap());
    };
    // The shim on the host; the container's init under it.
    proc(
        100,
        1,
        &["containerd-shim"],
        "/system.slice/containerd.service",
        100,
    );
    proc(101, 100, &["sleep", "600"], &cg, 1);
    // The health check, exec'd by the runtime (its parent the shim), and
    // its child.
    proc(
        102,
        100,
        &["/bin/sh", "-c", "curl -f http://localhost/"],
        &cg,
        7,
    );
    proc(103, 102, &["curl", "-f", "http://localhost/"], &cg, 8);
    // The same command line, started by the container's init.
    proc(
        104,
        101,
        &["/bin/sh", "-c", "curl -f http://localhost/"],
        &cg,
        9,
    );
    // The liveness probe; and a command that is no probe.
    proc(105, 100, &["cat", "/tmp/healthy"], &cg, 10);
    proc(106, 100, &["cat", "/etc/hostname"], &cg, 11);
    let is = |tgid: u32| {
        let ptgid = w.table.get(tgid).unwrap().ptgid;
        let rec = openat(tgid, ptgid, "x", 5, -100, "/etc/hosts", 0, 0, "");
        let e = w.ev(&rec);
        [
            "proc.is_container_healthcheck",
            "proc.is_container_liveness_probe",
            "proc.is_container_readiness_probe",
        ]
        .map(|f| get(&e, f).unwrap() == "true")
    };
    assert_eq!(is(101), [false, false, false], "the container's init");
    assert_eq!(is(102), [true, false, false], "the health check");
    assert_eq!(is(103), [true, false, false], "the health check's child");
    assert_eq!(is(104), [false, false, false], "started inside");
    assert_eq!(is(105), [false, true, false], "the liveness probe");
    assert_eq!(is(106), [false, false, false], "no probe");
    let rec = openat(102, 100, "sh", 5, -100, "/etc/hosts", 0, 0, "");
    let e = w.ev(&rec);
    assert_eq!(
        get(&e, "container.healthcheck").as_deref(),
        Some("/bin/sh -c curl -f http://localhost/")
    );
    assert_eq!(
        get(&e, "container.liveness_probe").as_deref(),
        Some("cat /tmp/healthy")
    );
    assert_eq!(
        get(&e, "container.readiness_probe").as_deref(),
        Some("NONE")
    );
    assert_eq!(
        get(&e, "k8s.pod.cni.json").as_deref(),
        get(&e, "container.cni.json").as_deref()
    );
    assert!(get(&e, "k8s.pod.cni.json").unwrap().contains("10.244.0.5"));
}

#[test]
fn open_family_paths_and_flags() {
    let w = world();
    // cwd of 30 is "/" from the scan; chdir to /home/u/work first.
    let rec = EventBuilder::new(EventType::CHDIR, hdr(30, 20, "sh", 0))
        .bytes(b"/home/u/work")
        .finish();
    w.ev(&rec);
    let rec = openat(
        30,
        20,
        "sh",
        3,
        -100,
        "../.ssh//id_rsa",
        kernel_o::WRONLY | kernel_o::CREAT | kernel_o::TRUNC,
        0o755,
        "",
    );
    let e = w.ev(&rec);
    assert_eq!(get(&e, "fd.num").as_deref(), Some("3"));
    assert_eq!(get(&e, "fd.name").as_deref(), Some("/home/u/.ssh/id_rsa"));
    assert_eq!(get(&e, "fd.nameraw").as_deref(), Some("../.ssh//id_rsa"));
    assert_eq!(get(&e, "fd.directory").as_deref(), Some("/home/u/.ssh"));
    assert_eq!(get(&e, "fd.filename").as_deref(), Some("id_rsa"));
    assert_eq!(get(&e, "fd.typechar").as_deref(), Some("f"));
    assert_eq!(get(&e, "fd.type").as_deref(), Some("file"));
    assert_eq!(get(&e, "fd.l4proto").as_deref(), Some("<NA>"));
    assert_eq!(get(&e, "fd.sip"), None);
    assert_eq!(get(&e, "fd.sockfamily"), None);
    assert_eq!(
        get(&e, "evt.arg.flags").as_deref(),
        Some("O_TRUNC|O_CREAT|O_WRONLY")
    );
    assert_eq!(
        get(&e, "evt.rawarg.flags").as_deref(),
        Some(
            (kernel_o::WRONLY | kernel_o::CREAT | kernel_o::TRUNC)
                .to_string()
                .as_str()
        )
    );
    assert_eq!(
        get(&e, "evt.arg.name").as_deref(),
        Some("/home/u/.ssh/id_rsa")
    );
    assert_eq!(
        get(&e, "evt.arg.fd").as_deref(),
        Some("<f>/home/u/.ssh/id_rsa")
    );
    assert_eq!(get(&e, "evt.arg.dirfd").as_deref(), Some("AT_FDCWD"));
    assert_eq!(get(&e, "evt.arg.mode").as_deref(), Some("0755"));
    assert_eq!(get(&e, "evt.is_open_write").as_deref(), Some("true"));
    assert_eq!(get(&e, "evt.is_open_read").as_deref(), Some("false"));
    assert_eq!(get(&e, "evt.is_open_exec").as_deref(), Some("true"));
    assert_eq!(get(&e, "proc.cwd").as_deref(), Some("/home/u/work"));
    assert_eq!(
        get(&e, "evt.args").as_deref(),
        Some("fd=3(<f>/home/u/.ssh/id_rsa) dirfd=-100(AT_FDCWD) name=../.ssh//id_rsa(/home/u/.ssh/id_rsa) flags=577(O_TRUNC|O_CREAT|O_WRONLY) mode=0755")
    );
    // Relative to a directory fd the kernel resolved.
    let rec = openat(30, 20, "sh", 4, 7, "x/./y", 0, 0, "/var/lib");
    let e = w.ev(&rec);
    assert_eq!(get(&e, "fd.name").as_deref(), Some("/var/lib/x/y"));
    assert_eq!(get(&e, "evt.arg.dirfd").as_deref(), Some("<d>/var/lib"));
    assert_eq!(get(&e, "evt.is_open_read").as_deref(), Some("true"));
    assert_eq!(get(&e, "evt.arg.flags").as_deref(), Some("O_RDONLY"));
    // Directory open.
    let rec = openat(30, 20, "sh", 5, -100, "/etc/", kernel_o::DIRECTORY, 0, "");
    let e = w.ev(&rec);
    assert_eq!(get(&e, "fd.typechar").as_deref(), Some("d"));
    assert_eq!(get(&e, "fd.directory").as_deref(), Some("/etc"));
    assert_eq!(get(&e, "fd.filename"), None);
}

#[test]
fn failed_opens_fall_back_to_parameters() {
    let w = world();
    let rec = openat(30, 20, "sh", -2, -100, "nope/../shadow", 0, 0, "");
    let e = w.ev(&rec);
    assert_eq!(get(&e, "fd.num").as_deref(), Some("-1"));
    assert_eq!(get(&e, "fd.typechar").as_deref(), Some("f"));
    assert_eq!(get(&e, "fd.name").as_deref(), Some("/shadow"));
    assert_eq!(get(&e, "fd.nameraw").as_deref(), Some("nope/../shadow"));
    assert_eq!(get(&e, "fd.directory").as_deref(), Some("/"));
    assert_eq!(get(&e, "fd.type"), None, "no fd entry");
    assert_eq!(get(&e, "fd.l4proto"), None);
    assert_eq!(get(&e, "fd.connected"), None);
    assert_eq!(get(&e, "evt.res").as_deref(), Some("ENOENT"));
    assert_eq!(get(&e, "evt.rawres").as_deref(), Some("-2"));
    assert_eq!(get(&e, "evt.failed").as_deref(), Some("true"));
    assert_eq!(get(&e, "evt.arg.fd").as_deref(), Some("ENOENT"));
    // Failed open(2): typechar 'o' (quirk), name as passed.
    let rec = EventBuilder::new(EventType(64), hdr(30, 20, "sh", -13))
        .bytes(b"rel/./x")
        .u64(0)
        .u64(0)
        .finish();
    let e = w.ev(&rec);
    assert_eq!(get(&e, "fd.typechar").as_deref(), Some("o"));
    assert_eq!(get(&e, "fd.name").as_deref(), Some("rel/./x"));
    assert_eq!(get(&e, "evt.res").as_deref(), Some("EACCES"));
}

#[test]
fn sockets_connect_accept_and_datagrams() {
    let w = world();
    let t = tuple(6, [10, 0, 0, 5], 43210, [10, 0, 0, 9], 22);
    let rec = EventBuilder::new(EventType(129), hdr(30, 20, "ssh", -115))
        .i64(3)
        .sockaddr(&SockTuple {
            daddr: ipv4([10, 0, 0, 9]),
            dport: 22,
            family: af::INET,
            ..Default::default()
        })
        .fdinfo(&fdinfo(3, b'4', t), b"")
        .finish();
    let e = w.ev(&rec);
    assert_eq!(get(&e, "evt.res").as_deref(), Some("EINPROGRESS"));
    assert_eq!(
        get(&e, "fd.name").as_deref(),
        Some("10.0.0.5:43210->10.0.0.9:22")
    );
    assert_eq!(get(&e, "fd.cip").as_deref(), Some("10.0.0.5"));
    assert_eq!(get(&e, "fd.sip").as_deref(), Some("10.0.0.9"));
    assert_eq!(get(&e, "fd.sport").as_deref(), Some("22"));
    assert_eq!(get(&e, "fd.lport").as_deref(), Some("43210"));
    assert_eq!(get(&e, "fd.rport").as_deref(), Some("22"));
    assert_eq!(get(&e, "fd.l4proto").as_deref(), Some("tcp"));
    assert_eq!(get(&e, "fd.typechar").as_deref(), Some("4"));
    assert_eq!(get(&e, "fd.sockfamily").as_deref(), Some("ip"));
    assert_eq!(get(&e, "fd.connected").as_deref(), Some("true"));
    assert_eq!(get(&e, "fd.num").as_deref(), Some("3"));
    assert_eq!(
        get(&e, "evt.arg.fd").as_deref(),
        Some("<4t>10.0.0.5:43210->10.0.0.9:22")
    );
    assert_eq!(get(&e, "fd.ip"), None, "filter only");
    assert_eq!(
        each(&e, "fd.ip"),
        Some(vec!["10.0.0.5".into(), "10.0.0.9".into()])
    );
    assert_eq!(each(&e, "fd.port"), Some(vec!["43210".into(), "22".into()]));
    assert_eq!(get(&e, "fd.sip.name"), None);

    // accept: the local end is the server.
    let t = tuple(6, [10, 0, 0, 9], 8080, [192, 168, 1, 2], 50000);
    let rec = EventBuilder::new(EventType(130), hdr(40, 1, "nginx", 7))
        .fdinfo(&fdinfo(7, b'4', t), b"")
        .finish();
    let e = w.ev(&rec);
    assert_eq!(
        get(&e, "fd.name").as_deref(),
        Some("192.168.1.2:50000->10.0.0.9:8080")
    );
    assert_eq!(get(&e, "fd.sport").as_deref(), Some("8080"));
    assert_eq!(get(&e, "fd.lip").as_deref(), Some("10.0.0.9"));
    assert_eq!(get(&e, "fd.rip").as_deref(), Some("192.168.1.2"));
    assert_eq!(get(&e, "fd.num").as_deref(), Some("7"));

    // UDP sendto on an unconnected socket: first peer and a new peer
    // change the name, the same peer again does not.
    let send = |peer: [u8; 4], ts: u64| {
        let mut h = hdr(30, 20, "dig", 40);
        h.ts_ns = ts;
        EventBuilder::new(EventType(134), h)
            .i64(5)
            .u64(40)
            .fdinfo(
                &fdinfo(5, b'4', tuple(17, [10, 0, 0, 5], 40000, peer, 53)),
                b"",
            )
            .bytes(b"\x12\x34query")
            .finish()
    };
    let r1 = send([8, 8, 8, 8], 10);
    let e = w.ev(&r1);
    assert_eq!(get(&e, "fd.name_changed").as_deref(), Some("true"));
    assert_eq!(get(&e, "fd.connected").as_deref(), Some("false"));
    assert_eq!(get(&e, "fd.l4proto").as_deref(), Some("udp"));
    assert_eq!(get(&e, "evt.buffer").as_deref(), Some("\u{12}4query"));
    // Extracting twice gives the same answer.
    assert_eq!(get(&e, "fd.name_changed").as_deref(), Some("true"));
    let r2 = send([8, 8, 8, 8], 11);
    assert_eq!(get(&w.ev(&r2), "fd.name_changed").as_deref(), Some("false"));
    let r3 = send([1, 1, 1, 1], 12);
    assert_eq!(get(&w.ev(&r3), "fd.name_changed").as_deref(), Some("true"));
}

/// A server that accepts, forks, and puts the connection on the child's
/// stdio (sshd, inetd): the child's copies keep the server end, whatever
/// the ports say (61022 is above the client's ephemeral port).
#[test]
fn a_forked_server_keeps_the_role_of_the_socket_it_accepted() {
    let w = world();
    let t = tuple(6, [127, 0, 0, 1], 61022, [127, 0, 0, 1], 40000);
    let rec = EventBuilder::new(EventType(131), hdr(40, 1, "sshd", 5))
        .fdinfo(&fdinfo(5, b'4', t), b"")
        .u64(0)
        .finish();
    w.ev(&rec);
    let rec = EventBuilder::new(EventType::PROCFORK, hdr(40, 1, "sshd", 0))
        .u64(41)
        .u64(41)
        .u64(40)
        .u64(41)
        .u64(2_000_000_000)
        .finish();
    w.ev(&rec);
    let copy = |ty: u16, ret: i64, args: &[i64]| {
        let mut b = EventBuilder::new(EventType(ty), hdr(41, 40, "sshd", ret));
        for &a in args {
            b.i64(a);
        }
        b.fdinfo(&fdinfo(args[0] as i32, b'4', t), b"").finish()
    };
    // dup2(5, 0), then dup2(0, 1): the second reads fd 0's entry.
    for (rec, fd) in [(copy(139, 0, &[5, 0]), "0"), (copy(139, 1, &[0, 1]), "1")] {
        let e = w.ev(&rec);
        assert_eq!(get(&e, "evt.rawres").as_deref(), Some(fd));
        assert_eq!(get(&e, "fd.sport").as_deref(), Some("61022"));
        assert_eq!(get(&e, "fd.lport").as_deref(), Some("61022"));
        assert_eq!(
            get(&e, "fd.name").as_deref(),
            Some("127.0.0.1:40000->127.0.0.1:61022")
        );
    }
    // fcntl(1, F_DUPFD_CLOEXEC) -> 2: Falco's names, and the role again.
    let rec = copy(141, 2, &[1, 1030, 0]);
    let e = w.ev(&rec);
    assert_eq!(get(&e, "evt.arg.cmd").as_deref(), Some("F_DUPFD_CLOEXEC"));
    assert_eq!(get(&e, "evt.rawarg.cmd").as_deref(), Some("1030"));
    assert_eq!(get(&e, "evt.arg.res").as_deref(), Some("2"));
    assert_eq!(
        get(&e, "evt.arg.fd").as_deref(),
        Some("<4t>127.0.0.1:40000->127.0.0.1:61022")
    );
    assert_eq!(get(&e, "fd.num").as_deref(), Some("1"));
    assert_eq!(get(&e, "fd.sport").as_deref(), Some("61022"));
    // Without the accept (a process kestrel saw no accept of), the ends
    // are guessed from the ports: the lower one is the server's.
    let rec = EventBuilder::new(EventType(139), hdr(30, 20, "sh", 0))
        .i64(9)
        .i64(0)
        .fdinfo(&fdinfo(9, b'4', t), b"")
        .finish();
    assert_eq!(get(&w.ev(&rec), "fd.sport").as_deref(), Some("40000"));
}

#[test]
fn enumerations_uids_and_args() {
    let w = world();
    let rec = EventBuilder::new(EventType(23), hdr(30, 20, "gdb", 0))
        .u64(16)
        .u64(40)
        .u64(0)
        .u64(0)
        .finish();
    let e = w.ev(&rec);
    assert_eq!(get(&e, "evt.arg.request").as_deref(), Some("PTRACE_ATTACH"));
    assert_eq!(
        get(&e, "evt.arg.pid").as_deref(),
        Some("nginx"),
        "pids resolve to comm"
    );
    assert_eq!(get(&e, "evt.rawarg.pid").as_deref(), Some("40"));
    assert_eq!(get(&e, "fd.name"), None);
    let rec = EventBuilder::new(EventType(128), hdr(30, 20, "tcpdump", 4))
        .u64(17)
        .u64(3)
        .u64(768)
        .finish();
    let e = w.ev(&rec);
    assert_eq!(get(&e, "evt.arg.domain").as_deref(), Some("AF_PACKET"));
    assert_eq!(get(&e, "fd.typechar").as_deref(), Some("o"));
    let rec = EventBuilder::new(EventType(10), hdr(30, 20, "su", 0))
        .u64(65534)
        .finish();
    let e = w.ev(&rec);
    assert_eq!(get(&e, "evt.arg.uid").as_deref(), Some("nobody"));
    assert_eq!(
        get(&e, "evt.args").as_deref(),
        Some("res=0 uid=65534(nobody)")
    );
    let rec = EventBuilder::new(EventType(194), hdr(30, 20, "bpftool", 3))
        .u64(5)
        .finish();
    assert_eq!(
        get(&w.ev(&rec), "evt.arg.cmd").as_deref(),
        Some("BPF_PROG_LOAD")
    );
    let rec = EventBuilder::new(EventType(81), hdr(30, 20, "chmod", 0))
        .bytes(b"/tmp/x")
        .u64(0o4755)
        .finish();
    let e = w.ev(&rec);
    assert!(get(&e, "evt.arg.mode").unwrap().contains("S_ISUID"));
    assert_eq!(get(&e, "evt.arg.filename").as_deref(), Some("/tmp/x"));
    let rec = EventBuilder::new(EventType(69), hdr(30, 20, "ln", 0))
        .bytes(b"/etc/shadow")
        .bytes(b"s")
        .finish();
    let e = w.ev(&rec);
    assert_eq!(get(&e, "evt.arg.target").as_deref(), Some("/etc/shadow"));
    assert_eq!(get(&e, "evt.arg.linkpath").as_deref(), Some("/s"));
}

#[test]
fn unknown_process_keeps_header_fields_only() {
    let w = world();
    let rec = openat(999, 1, "ghost", 3, -100, "/etc/x", 0, 0, "");
    let e = w.ev(&rec);
    assert_eq!(get(&e, "proc.name").as_deref(), Some("ghost"));
    assert_eq!(get(&e, "proc.pid").as_deref(), Some("999"));
    assert_eq!(get(&e, "proc.pname").as_deref(), Some("systemd"));
    assert_eq!(get(&e, "proc.exe"), None);
    assert_eq!(get(&e, "proc.cwd"), None);
    assert_eq!(get(&e, "proc.tty"), None);
    assert_eq!(get(&e, "container.id"), None);
    assert_eq!(get(&e, "fd.name").as_deref(), Some("/etc/x"));
    assert_eq!(get(&e, "user.name").as_deref(), Some("alice"));
}

#[test]
fn render_json_and_text() {
    let w = world();
    let rec = openat(30, 20, "cat", 3, -100, "/etc/shadow", 0, 0, "");
    let e = w.ev(&rec);
    let j = render::to_json(&e);
    assert_eq!(j["evt.type"], "openat");
    assert_eq!(j["fd.name"], "/etc/shadow");
    assert_eq!(j["proc.pid"], 30);
    assert_eq!(j["evt.arg.flags"], "O_RDONLY");
    assert_eq!(j["evt.arg.fd"], "<f>/etc/shadow");
    assert_eq!(j["container.id"], "host");
    assert!(j.get("fd.sip").is_none());
    let line = render::text_line(&e);
    assert!(line.contains(" 1 cat (30) < openat fd=3(<f>/etc/shadow) dirfd=-100(AT_FDCWD) name=/etc/shadow flags=0(O_RDONLY) mode=0"), "{line}");
}

#[test]
fn every_field_extracts_on_every_event_type_without_panicking() {
    let w = world();
    let mut refs: Vec<FieldRef> = Vec::new();
    for d in CATALOG {
        let args: &[Option<&str>] = match d.arg {
            kestrel_engine::fields::ArgKind::None => &[None],
            kestrel_engine::fields::ArgKind::OptIndex => &[None, Some("0"), Some("1"), Some("3")],
            kestrel_engine::fields::ArgKind::Key => &[Some("/proc*"), Some("0"), Some("(bad")],
            kestrel_engine::fields::ArgKind::OptKey => &[None, Some("HOME")],
            kestrel_engine::fields::ArgKind::Param => &[
                Some("fd"),
                Some("res"),
                Some("flags"),
                Some("name"),
                Some("0"),
                Some("9"),
            ],
        };
        for a in args {
            if let Ok(f) = resolve(d.name, *a) {
                refs.push(f);
            }
        }
    }
    let mut seed = 0xdead_beef_u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for info in kestrel_engine::event::EVENTS {
        for round in 0..40 {
            let mut h = hdr(
                if round % 2 == 0 { 30 } else { 12345 },
                20,
                "fuzz",
                (rnd() % 7) as i64 - 3,
            );
            h.exec_gen = rnd() % 6;
            let mut b = EventBuilder::new(info.ty, h);
            for _ in info.params {
                let n = (rnd() % 70) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rnd() as u8).collect();
                match rnd() % 3 {
                    0 => b.u64(rnd()),
                    1 => b.bytes(&bytes),
                    _ => b.bytes(b""),
                };
            }
            let rec = b.finish();
            let raw = RawEvent::parse(&rec).unwrap();
            w.table.apply(&raw);
            let e = LiveEvent::new(raw, &w.table, &w.ctx, 1);
            for f in &refs {
                let _ = e.extract(f);
                e.extract_each(f, &mut |_| false);
            }
            let _ = render::to_json_line(&e);
            let _ = render::text_line(&e);
        }
    }
    // Pure random bytes: whatever parses must extract.
    for _ in 0..3000 {
        let n = 100 + (rnd() % 300) as usize;
        let mut bytes: Vec<u8> = (0..n).map(|_| rnd() as u8).collect();
        // Give the header a plausible length and type so some records parse.
        bytes[48..52].copy_from_slice(&(n as u32).to_le_bytes());
        let ty = kestrel_engine::event::EVENTS
            [(rnd() % 60) as usize % kestrel_engine::event::EVENTS.len()];
        bytes[52..54].copy_from_slice(&ty.ty.0.to_le_bytes());
        bytes[54..56].copy_from_slice(&(ty.params.len() as u16).to_le_bytes());
        if let Ok(raw) = RawEvent::parse(&bytes) {
            w.table.apply(&raw);
            let e = LiveEvent::new(raw, &w.table, &w.ctx, 1);
            for f in &refs {
                let _ = e.extract(f);
            }
        }
    }
}

/// Regression: events from a thread that renamed itself (loadgen's
/// `loadgen-0` workers) named the thread, not the process, and the rename
/// leaked into the process entry that children see as `proc.pname`.
#[test]
fn proc_name_is_the_main_threads_name() {
    let w = world();
    // A thread (tid 31) of process 30 ("sh") renamed to "worker-0".
    let mut h = hdr(30, 20, "worker-0", 3);
    h.tid = 31;
    let rec = EventBuilder::new(EventType(65), h)
        .i64(-100)
        .bytes(b"/etc/x")
        .u64(0)
        .u64(0)
        .bytes(b"")
        .finish();
    let e = w.ev(&rec);
    assert_eq!(get(&e, "proc.name").as_deref(), Some("sh"));
    assert_eq!(get(&e, "thread.tid").as_deref(), Some("31"));
    assert_eq!(
        get(&e, "proc.cmdline").map(|c| c.starts_with("sh")),
        Some(true)
    );
    // The main thread's own events still update and show its name.
    let rec = openat(30, 20, "sh", 3, -100, "/etc/y", 0, 0, "");
    assert_eq!(get(&w.ev(&rec), "proc.name").as_deref(), Some("sh"));
    assert_eq!(
        w.table.get(30).map(|p| p.comm.to_vec()),
        Some(b"sh".to_vec())
    );
}

#[test]
fn falco_0_44_fields_from_the_process_table_users_and_fds() {
    let w = world();
    let rec = openat(30, 20, "sh", 3, -100, "/etc/passwd", 0, 0, "");
    let e = w.ev(&rec);
    // Session, group and login shell from the table: sh (30) under bash
    // (20, the session leader) under sshd.
    assert_eq!(get(&e, "proc.is_sid_leader").as_deref(), Some("false"));
    assert_eq!(get(&e, "proc.sid.exe").as_deref(), Some("/bin/bash"));
    assert_eq!(get(&e, "proc.sid.exepath").as_deref(), Some("/bin/bash"));
    assert_eq!(get(&e, "proc.loginshellid").as_deref(), Some("20"));
    assert_eq!(get(&e, "proc.pvpid").as_deref(), Some("20"));
    assert_eq!(get(&e, "thread.ismain").as_deref(), Some("true"));
    let pid_ts: u64 = get(&e, "proc.pid.ts").unwrap().parse().unwrap();
    let ppid_ts: u64 = get(&e, "proc.ppid.ts").unwrap().parse().unwrap();
    assert!(pid_ts >= 1_700_000_000_000_000_000 && ppid_ts >= 1_700_000_000_000_000_000);
    assert_eq!(
        get(&e, "proc.pidns_init_start_ts").as_deref(),
        Some("1700000000500000000")
    );
    // The executable changed (ctime 1.6e18) before the namespace's init
    // started: no value, as Falco.
    assert_eq!(get(&e, "proc.exe_ino.ctime_duration_pidns_start"), None);
    // Falco's form: a space after argv[0] even without arguments.
    assert_eq!(get(&e, "proc.exeline").as_deref(), Some("/bin/sh "));
    assert_eq!(get(&e, "proc.cmdnargs").as_deref(), Some("0"));
    assert_eq!(get(&e, "proc.cmdlenargs").as_deref(), Some("0"));
    // euid 1000 is alice in the passwd file.
    assert_eq!(get(&e, "user.homedir").as_deref(), Some("/home/alice"));
    assert_eq!(get(&e, "user.shell").as_deref(), Some("/bin/zsh"));
    // fds and paths.
    assert_eq!(get(&e, "fd.uid").as_deref(), Some("303"));
    assert_eq!(get(&e, "fd.containername").as_deref(), Some(":/etc/passwd"));
    assert_eq!(get(&e, "fd.containerdirectory").as_deref(), Some(":/etc"));
    assert_eq!(get(&e, "fd.is_server").as_deref(), Some("false"));
    assert_eq!(get(&e, "fs.path.name").as_deref(), Some("/etc/passwd"));
    assert_eq!(get(&e, "fs.path.source"), None);
    assert_eq!(get(&e, "evt.abspath").as_deref(), Some("/etc/passwd"));
    assert_eq!(get(&e, "evt.type.is[openat]").as_deref(), Some("1"));
    assert_eq!(get(&e, "evt.type.is.execve").as_deref(), Some("0"));
    assert_eq!(get(&e, "k8s.deployment.name"), None);
    // A failed open has no fs.path.
    let rec = openat(30, 20, "sh", -2, -100, "/etc/nope", 0, 0, "");
    let e = w.ev(&rec);
    assert_eq!(get(&e, "fs.path.name"), None);
    assert_eq!(get(&e, "evt.count.error.file").as_deref(), Some("1"));

    // The session leader itself.
    let rec = openat(20, 10, "bash", 4, -100, "/etc/hosts", 0, 0, "");
    let e = w.ev(&rec);
    assert_eq!(get(&e, "proc.is_sid_leader").as_deref(), Some("true"));
    assert_eq!(
        get(&e, "proc.is_pgid_leader"),
        get(&e, "proc.pgid").map(|g| (g == "20").to_string())
    );

    // A container process: fd.containername carries the container id.
    let rec = openat(40, 1, "nginx", 5, -100, "/etc/nginx/nginx.conf", 0, 0, "");
    let e = w.ev(&rec);
    assert_eq!(
        get(&e, "fd.containername").as_deref(),
        Some("3f1e5b2c9d8a:/etc/nginx/nginx.conf")
    );
    assert_eq!(
        get(&e, "fd.containerdirectory").as_deref(),
        Some("3f1e5b2c9d8a:/etc/nginx")
    );
    // An argument with spaces is one argument.
    let mut h = hdr(31, 30, "sh", 0);
    h.exec_gen = 4;
    let rec = image(
        EventType::EXECVE,
        h,
        &["sh", "-c", "echo a  b"],
        "/bin/sh",
        "/",
        "/user.slice",
        20,
        0,
    );
    let e = w.ev(&rec);
    assert_eq!(get(&e, "proc.cmdnargs").as_deref(), Some("2"));
    assert_eq!(get(&e, "proc.cmdlenargs").as_deref(), Some("11"));
    assert_eq!(get(&e, "proc.aargs[0]").as_deref(), Some("-c echo a  b"));
    // proc.aenv: own environment, an ancestor's, a variable's first
    // non-empty value from the parent up, every ancestor's in conditions.
    let own = "HOME=/home/u HTTP_PROXY= http://p:3128 ";
    assert_eq!(get(&e, "proc.aenv").as_deref(), Some(own));
    assert_eq!(get(&e, "proc.aenv[0]").as_deref(), Some(own));
    assert_eq!(get(&e, "proc.aenv[1]").as_deref(), Some(own));
    assert_eq!(
        get(&e, "proc.aenv[HTTP_PROXY]").as_deref(),
        Some("http://p:3128")
    );
    assert_eq!(get(&e, "proc.aenv[NOPE]").as_deref(), Some(""));
    assert_eq!(get(&e, "proc.aenv[9]"), None);
    assert_eq!(each(&e, "proc.aenv").map(|v| v.len()), Some(4));
    // The parent (sh, 30, scanned with no arguments) and any ancestor.
    assert_eq!(get(&e, "proc.aargs[1]").as_deref(), Some(""));
    assert_eq!(
        each(&e, "proc.aargs").map(|v| v.len()),
        Some(4),
        "sh, bash, sshd, systemd"
    );
}

/// Regression (issue 14): `fd.proto` never matched in JSON replay while it
/// matched live. The same connect, as a live event and as the JSON line of
/// its endpoint fields, gives the same `fd.proto` values.
#[test]
fn fd_proto_never_matched_in_json_replay() {
    use kestrel_engine::fields::json::JsonEvent;
    let services = std::fs::read_to_string("/etc/services")
        .expect("/etc/services (Debian package netbase) is needed: fd.proto names ports with it");
    assert!(
        services.lines().any(|l| l.starts_with("ssh")),
        "no ssh in /etc/services"
    );
    let mut w = world();
    // The daemon's context reads /etc/services (Context::default has none).
    w.ctx.services = kestrel_engine::state::Services::system();
    for (l4, port, name) in [(6u8, 22u16, "ssh"), (6, 8080, "http-alt"), (17, 22, "")] {
        let t = tuple(l4, [10, 0, 0, 5], 43210, [10, 0, 0, 9], port);
        let rec = EventBuilder::new(EventType(129), hdr(30, 20, "ssh", 0))
            .i64(3)
            .sockaddr(&SockTuple {
                daddr: ipv4([10, 0, 0, 9]),
                dport: port,
                family: af::INET,
                ..Default::default()
            })
            .fdinfo(&fdinfo(3, b'4', t), b"")
            .finish();
        let live = w.ev(&rec);
        let live_names = each(&live, "fd.proto").expect("live fd.proto exists");
        let want: Vec<String> = if name.is_empty() {
            vec![]
        } else {
            vec![name.to_string()]
        };
        assert_eq!(live_names, want, "live, port {port} l4 {l4}");
        // The JSON line replay reads: the live event's own field values.
        let mut obj = serde_json::Map::new();
        obj.insert("evt.type".into(), "connect".into());
        for f in ["fd.cip", "fd.sip", "fd.cport", "fd.sport", "fd.l4proto"] {
            let v = get(&live, f).unwrap_or_else(|| panic!("{f} live"));
            obj.insert(f.into(), v.into());
        }
        let line = serde_json::Value::Object(obj).to_string();
        let json = JsonEvent::parse(&line).unwrap();
        let mut replay_names = Vec::new();
        assert!(json.extract_each(&fref("fd.proto"), &mut |x| {
            replay_names.push(text(x));
            false
        }));
        assert_eq!(replay_names, live_names, "replay of {line}");
    }
}
