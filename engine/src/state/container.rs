//! Containers: the container id of a process from its cgroup paths, and
//! container metadata (name, image, mounts, labels) from the runtime.
//!
//! The id is available at once (it is in every exec event's `cgroups`
//! parameter and in `/proc/<pid>/cgroup`). Metadata comes from the Docker
//! Engine API (`GET /containers/<id>/json`, plain HTTP/1.1 over a Unix
//! stream; podman serves the same API on its own socket). It is there from a
//! container's first event in two ways: each socket's event stream
//! (`GET /events`) is followed, so metadata is fetched when the container is
//! created, before its first process runs; and the first events of a
//! container still unknown wait for a lookup, up to a bounded time (100 ms
//! by default), counted when it runs out. Entries leave the cache a while
//! after the runtime reports the container destroyed. Runtimes that only
//! speak gRPC (containerd's CRI, CRI-O) are not queried yet: their
//! containers keep an id and a runtime type but no metadata, a known gap
//! reported rather than papered over.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The container runtime a cgroup path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// Not in a container.
    Host,
    /// Docker (`/docker/<id>`, `docker-<id>.scope`).
    Docker,
    /// containerd / CRI (`cri-containerd-<id>.scope`, `/kubepods/.../<id>`).
    Containerd,
    /// CRI-O (`crio-<id>.scope`).
    CriO,
    /// Podman (`libpod-<id>.scope`, `/libpod_parent/libpod-<id>`).
    Podman,
}

impl Runtime {
    /// The name `container.type` shows.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Host => "host",
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
        }
    }
}

/// Which container a process runs in: the full id (or `host`) and the
/// runtime that the cgroup path named.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerRef {
    /// Full 64-hex id, or `host`.
    pub id: Arc<str>,
    /// Runtime from the cgroup naming scheme.
    pub runtime: Runtime,
}

impl ContainerRef {
    /// The host "container".
    pub fn host() -> ContainerRef {
        static HOST: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
        ContainerRef {
            id: HOST.get_or_init(|| Arc::from("host")).clone(),
            runtime: Runtime::Host,
        }
    }

    /// Whether this is the host.
    pub fn is_host(&self) -> bool {
        self.runtime == Runtime::Host
    }

    /// The 12-character id `container.id` shows (`host` for the host).
    pub fn short_id(&self) -> &str {
        if self.is_host() {
            return &self.id;
        }
        self.id.get(..12).unwrap_or(&self.id)
    }
}

fn is_hex64(s: &[u8]) -> bool {
    s.len() == 64 && s.iter().all(|b| b.is_ascii_hexdigit())
}

/// The container named by one cgroup path, if any.
pub fn container_from_cgroup_path(path: &[u8]) -> Option<ContainerRef> {
    let in_kubepods = memchr::memmem::find(path, b"kubepods").is_some();
    let mut found: Option<(Vec<u8>, Runtime)> = None;
    let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    for (i, comp) in comps.iter().enumerate() {
        let c = comp.strip_suffix(b".scope").unwrap_or(comp);
        let hit = if let Some(id) = c.strip_prefix(b"docker-") {
            is_hex64(id).then_some((id, Runtime::Docker))
        } else if let Some(id) = c.strip_prefix(b"cri-containerd-") {
            is_hex64(id).then_some((id, Runtime::Containerd))
        } else if let Some(id) = c.strip_prefix(b"crio-") {
            // crio-conmon-<id> is the monitor, not the container.
            is_hex64(id).then_some((id, Runtime::CriO))
        } else if let Some(id) = c.strip_prefix(b"libpod-") {
            is_hex64(id).then_some((id, Runtime::Podman))
        } else if is_hex64(c) {
            let prev = if i > 0 { comps[i - 1] } else { b"" };
            let rt = if prev == b"docker" {
                Runtime::Docker
            } else if in_kubepods {
                Runtime::Containerd
            } else if prev == b"libpod_parent" {
                Runtime::Podman
            } else {
                Runtime::Docker
            };
            Some((c, rt))
        } else {
            None
        };
        // The deepest match wins: a container nested in another names its
        // own id last.
        if let Some((id, rt)) = hit {
            found = Some((id.to_ascii_lowercase(), rt));
        }
    }
    found.map(|(id, runtime)| ContainerRef {
        id: Arc::from(String::from_utf8_lossy(&id).as_ref()),
        runtime,
    })
}

/// The container of a process from its cgroup entries (`<controllers>=<path>`
/// as in the exec event's `cgroups` parameter, or bare paths). `host` when
/// no entry names a container.
pub fn container_from_cgroups<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> ContainerRef {
    for e in entries {
        let path = match memchr::memchr(b'=', e) {
            Some(i) => &e[i + 1..],
            None => e,
        };
        if let Some(c) = container_from_cgroup_path(path) {
            return c;
        }
    }
    ContainerRef::host()
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    /// Host path.
    pub source: String,
    /// Path in the container.
    pub dest: String,
    /// Mode string as Docker reports it (`ro`, `z`, ...; empty for CRI
    /// mounts, which have none).
    pub mode: String,
    /// Read-write.
    pub rw: bool,
    /// Propagation (`rprivate`, ...).
    pub propagation: String,
}

/// Which health probe a command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// Docker's (or podman's) `HEALTHCHECK`.
    Healthcheck,
    /// A Kubernetes liveness probe.
    Liveness,
    /// A Kubernetes readiness probe.
    Readiness,
}

/// A health probe that runs a command in the container: the command line
/// the runtime execs, split as Falco's thread table holds it (`exe` is
/// `argv[0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthProbe {
    /// Which probe.
    pub kind: ProbeKind,
    /// `argv[0]`.
    pub exe: String,
    /// `argv[1..]`.
    pub args: Vec<String>,
}

/// The space-separated words of `b`, empty ones left out.
fn words(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split(|&c| c == b' ').filter(|w| !w.is_empty())
}

impl HealthProbe {
    /// A probe from an exec command line; `None` if it is empty.
    pub fn from_command(kind: ProbeKind, cmd: &[String]) -> Option<HealthProbe> {
        let (exe, args) = cmd.split_first()?;
        Some(HealthProbe {
            kind,
            exe: exe.clone(),
            args: args.to_vec(),
        })
    }

    /// Docker's `Config.Healthcheck.Test`: `["CMD", exe, args...]` runs the
    /// command, `["CMD-SHELL", line]` runs `/bin/sh -c line`; `["NONE"]`
    /// (a disabled inherited check) and anything else is no probe.
    pub fn from_docker_test(test: &[String]) -> Option<HealthProbe> {
        let kind = ProbeKind::Healthcheck;
        match test.split_first()? {
            (first, rest) if first == "CMD" => HealthProbe::from_command(kind, rest),
            (first, [line, ..]) if first == "CMD-SHELL" => Some(HealthProbe {
                kind,
                exe: "/bin/sh".into(),
                args: vec!["-c".into(), line.clone()],
            }),
            _ => None,
        }
    }

    /// The command line Falco shows: exe and args joined by spaces.
    pub fn text(&self) -> String {
        let mut s = self.exe.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// Whether a process image (`exe` = `argv[0]`, `args` = `argv[1..]`
    /// joined by single spaces, as [`Image`](crate::state::process::Image)
    /// keeps them) runs this probe's command line. Falco compares the
    /// argument lists (empty arguments left out); kestrel keeps them
    /// joined and compares words, so arguments that differ only in where
    /// their spaces fall compare equal.
    pub fn matches(&self, exe: &[u8], args: &[u8]) -> bool {
        let want = self.args.iter().flat_map(|a| words(a.as_bytes()));
        exe == self.exe.as_bytes() && want.eq(words(args))
    }
}

impl Mount {
    /// `source:dest:mode:rdrw:propagation`, as Falco prints a mount.
    pub fn text(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.source, self.dest, self.mode, self.rw, self.propagation
        )
    }
}

/// What the runtime knows about a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerInfo {
    /// Full id (`host` for the host entry).
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Image as configured (`docker.io/library/nginx:1.25`).
    pub image: String,
    /// Repository part of the image.
    pub image_repository: String,
    /// Tag part of the image.
    pub image_tag: String,
    /// Image id (`sha256:...` stripped).
    pub image_id: String,
    /// Runs privileged.
    pub privileged: bool,
    /// Mounts in runtime order.
    pub mounts: Vec<Mount>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Image digest (`sha256:...`), when the runtime reports one.
    pub image_digest: String,
    /// The container's IP address (its pod's, for CRI containers).
    pub ip: String,
    /// The Kubernetes pod, for containers a CRI runtime runs.
    pub pod: Option<PodInfo>,
    /// Runs in the host's PID namespace (Docker `--pid host`, a pod with
    /// `hostPID`).
    pub host_pid: bool,
    /// Runs in the host's network namespace.
    pub host_network: bool,
    /// Runs in the host's IPC namespace.
    pub host_ipc: bool,
    /// Health probes that run a command in the container.
    pub probes: Vec<HealthProbe>,
}

/// A container's Kubernetes pod, from its CRI sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodInfo {
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
    /// Pod uid.
    pub uid: String,
    /// Full sandbox id.
    pub sandbox_id: String,
    /// Pod labels (without the kubelet's `io.kubernetes.pod.*`).
    pub labels: BTreeMap<String, String>,
    /// Pod IP (empty with host networking).
    pub ip: String,
    /// The pod's CNI result (`k8s.pod.cni.json`), empty if none.
    pub cni_result: String,
}

/// Labels as `key:value` pairs joined with `, `, as Falco prints them.
fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let v: Vec<String> = labels.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    v.join(", ")
}

impl PodInfo {
    /// `k8s.pod.labels`.
    pub fn labels_text(&self) -> String {
        labels_text(&self.labels)
    }
}

impl ContainerInfo {
    /// The built-in entry for host processes (RULES.md §7.6): name `host`,
    /// empty image fields, no mounts, no labels.
    pub fn host() -> ContainerInfo {
        ContainerInfo {
            id: "host".into(),
            name: "host".into(),
            ..Default::default()
        }
    }

    /// `container.labels`.
    pub fn labels_text(&self) -> String {
        labels_text(&self.labels)
    }

    /// All mounts joined with `,` (Falco's code joins with commas).
    pub fn mounts_text(&self) -> String {
        let v: Vec<String> = self.mounts.iter().map(Mount::text).collect();
        v.join(",")
    }

    /// The command line of the container's probe of `kind`, or `NONE`, as
    /// Falco's container plugin showed it before 0.7.
    pub fn probe_text(&self, kind: ProbeKind) -> String {
        self.probes
            .iter()
            .find(|p| p.kind == kind)
            .map_or_else(|| "NONE".to_string(), HealthProbe::text)
    }

    /// The probe whose command line a process image runs, if any.
    pub fn probe_of(&self, exe: &[u8], args: &[u8]) -> Option<ProbeKind> {
        self.probes
            .iter()
            .find(|p| p.matches(exe, args))
            .map(|p| p.kind)
    }
}

/// Splits an image reference into repository and tag. A digest
/// (`@sha256:...`) is dropped; no tag and no digest means `latest`.
pub fn split_image(image: &str) -> (String, String) {
    let (name, has_digest) = match image.find('@') {
        Some(i) => (&image[..i], true),
        None => (image, false),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (name[..at].to_string(), name[at + 1..].to_string())
        }
        None if has_digest => (name.to_string(), String::new()),
        None => (name.to_string(), "latest".to_string()),
    }
}

/// Why a docker inspect response could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// Talking to the runtime socket failed.
    #[error("container runtime socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP response was malformed.
    #[error("container runtime: malformed HTTP response: {0}")]
    Http(String),
    /// The runtime answered with an error status.
    #[error("container runtime: status {status} for container {id}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The container id asked for.
        id: String,
    },
    /// The JSON body did not parse.
    #[error("container runtime: bad JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Parses the body of docker's `GET /containers/<id>/json`.
pub fn parse_docker_inspect(body: &[u8]) -> Result<ContainerInfo, ContainerError> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let image = s(&v["Config"]["Image"]);
    let (image_repository, image_tag) = split_image(&image);
    let image_id = s(&v["Image"]);
    let image_id = image_id
        .strip_prefix("sha256:")
        .unwrap_or(&image_id)
        .to_string();
    let mounts = v["Mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| Mount {
                    source: s(&m["Source"]),
                    dest: s(&m["Destination"]),
                    mode: s(&m["Mode"]),
                    rw: m["RW"].as_bool().unwrap_or(false),
                    propagation: s(&m["Propagation"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let labels = v["Config"]["Labels"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, val)| (k.clone(), val.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let name = s(&v["Name"]);
    let host = |mode: &str| v["HostConfig"][mode].as_str() == Some("host");
    let test: Vec<String> = v["Config"]["Healthcheck"]["Test"]
        .as_array()
        .map(|a| a.iter().map(s).collect())
        .unwrap_or_default();
    Ok(ContainerInfo {
        id: s(&v["Id"]),
        name: name.strip_prefix('/').unwrap_or(&name).to_string(),
        image,
        image_repository,
        image_tag,
        image_id,
        privileged: v["HostConfig"]["Privileged"].as_bool().unwrap_or(false),
        mounts,
        labels,
        ip: s(&v["NetworkSettings"]["IPAddress"]),
        host_pid: host("PidMode"),
        host_network: host("NetworkMode"),
        host_ipc: host("IpcMode"),
        probes: HealthProbe::from_docker_test(&test).into_iter().collect(),
        ..Default::default()
    })
}

/// A CRI or containerd record as a [`ContainerInfo`].
pub fn info_from_cri(m: kestrel_cri::ContainerMeta) -> ContainerInfo {
    let (image_repository, image_tag) = if m.image.is_empty() {
        (String::new(), String::new())
    } else {
        split_image(&m.image)
    };
    let (host_pid, host_network, host_ipc) = m.pod.as_ref().map_or((false, false, false), |p| {
        (p.host_pid, p.host_network, p.host_ipc)
    });
    let pod = m.pod.map(|p| PodInfo {
        name: p.name,
        namespace: p.namespace,
        uid: p.uid,
        sandbox_id: p.sandbox_id,
        labels: p.labels,
        ip: p.ip,
        cni_result: p.cni_result,
    });
    let probes = [
        (ProbeKind::Liveness, m.liveness_probe),
        (ProbeKind::Readiness, m.readiness_probe),
    ]
    .into_iter()
    .filter_map(|(kind, cmd)| HealthProbe::from_command(kind, &cmd?))
    .collect();
    ContainerInfo {
        id: m.id,
        name: m.name,
        image: m.image,
        image_repository,
        image_tag,
        image_id: m.image_id,
        privileged: m.privileged,
        mounts: m
            .mounts
            .into_iter()
            .map(|x| Mount {
                // CRI has no mode string; Falco leaves it empty.
                mode: String::new(),
                source: x.source,
                dest: x.dest,
                rw: x.rw,
                propagation: x.propagation,
            })
            .collect(),
        labels: m.labels,
        image_digest: m.image_digest,
        ip: pod.as_ref().map(|p| p.ip.clone()).unwrap_or_default(),
        pod,
        host_pid,
        host_network,
        host_ipc,
        probes,
    }
}

/// The parts of an HTTP/1.1 response head kestrel reads.
struct HttpHead {
    status: u16,
    chunked: bool,
    length: Option<usize>,
}

fn http_error(m: &str) -> ContainerError {
    ContainerError::Http(m.to_string())
}

/// Parses a response head (status line and headers, without the blank
/// line that ends them).
fn parse_http_head(head: &[u8]) -> Result<HttpHead, ContainerError> {
    let head = std::str::from_utf8(head).map_err(|_| http_error("header not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| http_error("empty response"))?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| http_error("bad status line"))?;
    let mut out = HttpHead {
        status,
        chunked: false,
        length: None,
    };
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                out.chunked = true;
            } else if k == "content-length" {
                out.length = v.parse::<usize>().ok();
            }
        }
    }
    Ok(out)
}

/// The chunk that starts `rest` (chunked transfer encoding): where its data
/// starts and its size; `None` while its size line is incomplete.
fn chunk_at(rest: &[u8]) -> Result<Option<(usize, usize)>, ContainerError> {
    let Some(line_end) = memchr::memmem::find(rest, b"\r\n") else {
        return Ok(None);
    };
    let size_txt = std::str::from_utf8(&rest[..line_end]).map_err(|_| http_error("chunk size"))?;
    let size_txt = size_txt.split(';').next().unwrap_or("").trim();
    let size = usize::from_str_radix(size_txt, 16).map_err(|_| http_error("chunk size"))?;
    Ok(Some((line_end + 2, size)))
}

/// Splits a raw HTTP/1.1 response into status and body, decoding chunked
/// transfer encoding.
pub fn parse_http_response(raw: &[u8]) -> Result<(u16, Vec<u8>), ContainerError> {
    let hdr_end =
        memchr::memmem::find(raw, b"\r\n\r\n").ok_or_else(|| http_error("no header end"))?;
    let head = parse_http_head(&raw[..hdr_end])?;
    let body = &raw[hdr_end + 4..];
    if !head.chunked {
        let body = match head.length {
            Some(n) if n <= body.len() => &body[..n],
            Some(_) => return Err(http_error("body shorter than Content-Length")),
            None => body,
        };
        return Ok((head.status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let (start, size) = chunk_at(rest)?.ok_or_else(|| http_error("chunk size line"))?;
        rest = &rest[start..];
        if size == 0 {
            break;
        }
        if rest.len() < size {
            return Err(http_error("truncated chunk"));
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
    Ok((head.status, out))
}

/// Fetches one container's metadata from a docker-API socket.
pub fn docker_inspect(
    socket: &Path,
    id: &str,
    timeout: Duration,
) -> Result<ContainerInfo, ContainerError> {
    let io = |source| ContainerError::Io {
        path: socket.to_path_buf(),
        source,
    };
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let req = format!(
        "GET /containers/{id}/json HTTP/1.1\r\nHost: docker\r\nUser-Agent: kestrel\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    // The response is small (a few KiB); cap it so a broken peer cannot
    // make us buffer without bound.
    s.take(16 << 20).read_to_end(&mut raw).map_err(io)?;
    let (status, body) = parse_http_response(&raw)?;
    if status != 200 {
        return Err(ContainerError::Status {
            status,
            id: id.to_string(),
        });
    }
    parse_docker_inspect(&body)
}

/// Counters of the metadata cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerStats {
    /// Containers whose metadata is known.
    pub known: u64,
    /// Lookups queued for the background thread.
    pub requested: u64,
    /// Lookups dropped because the queue was full.
    pub request_dropped: u64,
    /// Lookups that failed (socket, HTTP or JSON errors, unknown id).
    pub fetch_failed: u64,
    /// Events that waited for a container's metadata (its first events).
    pub lookup_waits: u64,
    /// Waits that ended at the lookup timeout without metadata (counted
    /// once per container).
    pub lookup_timeouts: u64,
    /// Container create and destroy events read from the runtimes' event
    /// streams.
    pub stream_events: u64,
    /// Event-stream connections lost or refused (each is a gap during
    /// which new containers are only found by lookup).
    pub stream_gaps: u64,
    /// Entries removed after their container was destroyed.
    pub evicted: u64,
}

/// Where and how container metadata is fetched (`container_engines` in the
/// configuration; Falco's container plugin settings are the model).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Docker Engine API sockets (`container_engines.docker.sockets`).
    pub docker_sockets: Vec<PathBuf>,
    /// Podman API sockets, which serve the Docker-compatible API
    /// (`container_engines.podman.sockets`).
    pub podman_sockets: Vec<PathBuf>,
    /// CRI sockets: containerd, CRI-O (`container_engines.cri.sockets`).
    pub cri_sockets: Vec<PathBuf>,
    /// How long the first event of a container waits for its metadata
    /// (`container_engines.lookup_timeout_ms`); zero: never wait.
    pub lookup_timeout: Duration,
    /// Subscribe to each socket's event stream (`container_engines.events`):
    /// metadata fetched at create, entries dropped after destroy.
    pub events: bool,
    /// How long a destroyed container's entry stays (its last events may
    /// still be queued).
    pub evict_after: Duration,
}

impl Default for ContainerConfig {
    fn default() -> Self {
        ContainerConfig {
            docker_sockets: vec!["/var/run/docker.sock".into()],
            podman_sockets: vec!["/run/podman/podman.sock".into()],
            cri_sockets: vec![
                "/run/containerd/containerd.sock".into(),
                "/run/crio/crio.sock".into(),
                "/run/k3s/containerd/containerd.sock".into(),
            ],
            lookup_timeout: Duration::from_millis(100),
            events: true,
            evict_after: Duration::from_secs(30),
        }
    }
}

/// How long a failed or pending lookup waits before it is asked again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// First delay before a created container that no runtime described yet
/// is asked for again (doubling each time), and how many times.
const CREATE_RETRY: Duration = Duration::from_millis(100);
const CREATE_RETRIES: u32 = 4;

/// A lookup request: the id and the runtime its cgroup named.
type Request = (Arc<str>, Runtime);

struct Inner {
    infos: papaya::HashMap<Arc<str>, Arc<ContainerInfo>>,
    /// Ids asked for, with when, so a lookup is queued at most once per
    /// [`RETRY_AFTER`] and its waiters know their deadline.
    requested: papaya::HashMap<Arc<str>, Instant>,
    /// Ids whose last lookup ended without metadata (it failed, or an
    /// event's wait for it ran out), with when: no event waits for them
    /// until the next lookup is queued.
    gave_up: papaya::HashMap<Arc<str>, Instant>,
    /// Bumped (under the lock) after every lookup; waiters sleep on it.
    done: std::sync::Mutex<u64>,
    done_cv: std::sync::Condvar,
    requested_n: AtomicU64,
    request_dropped: AtomicU64,
    fetch_failed: AtomicU64,
    lookup_waits: AtomicU64,
    lookup_timeouts: AtomicU64,
    stream_events: AtomicU64,
    stream_gaps: AtomicU64,
    evicted: AtomicU64,
}

impl Inner {
    fn finished(&self) {
        let mut g = self.done.lock().unwrap_or_else(|e| e.into_inner());
        *g = g.wrapping_add(1);
        self.done_cv.notify_all();
    }
}

/// The container metadata cache, shared by all workers.
pub struct Containers {
    inner: Arc<Inner>,
    tx: Option<crossbeam_channel::Sender<Request>>,
    host: Arc<ContainerInfo>,
    lookup_timeout: Duration,
    /// Set when the cache is dropped: the background threads end.
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Called with each evicted container's id (other per-container
    /// caches drop their entries).
    hooks: Arc<std::sync::Mutex<Vec<EvictHook>>>,
}

/// See [`Containers::on_evict`].
pub type EvictHook = Arc<dyn Fn(&str) + Send + Sync>;

impl std::fmt::Debug for Containers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Containers")
            .field("stats", &self.stats())
            .field("fetching", &self.tx.is_some())
            .finish()
    }
}

impl Default for Containers {
    fn default() -> Self {
        Containers::disabled()
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Containers {
    /// A cache without a runtime: metadata of containers stays missing
    /// unless inserted with [`Containers::insert`].
    pub fn disabled() -> Containers {
        Containers {
            inner: Arc::new(Inner {
                infos: papaya::HashMap::new(),
                requested: papaya::HashMap::new(),
                gave_up: papaya::HashMap::new(),
                done: std::sync::Mutex::new(0),
                done_cv: std::sync::Condvar::new(),
                requested_n: AtomicU64::new(0),
                request_dropped: AtomicU64::new(0),
                fetch_failed: AtomicU64::new(0),
                lookup_waits: AtomicU64::new(0),
                lookup_timeouts: AtomicU64::new(0),
                stream_events: AtomicU64::new(0),
                stream_gaps: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
            }),
            tx: None,
            host: Arc::new(ContainerInfo::host()),
            lookup_timeout: Duration::ZERO,
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            hooks: Arc::default(),
        }
    }

    /// A cache that fetches metadata from the docker-API socket `socket`
    /// with the default settings otherwise.
    pub fn with_docker_socket(socket: impl Into<PathBuf>) -> std::io::Result<Containers> {
        Containers::start(&ContainerConfig {
            docker_sockets: vec![socket.into()],
            podman_sockets: Vec::new(),
            cri_sockets: Vec::new(),
            ..ContainerConfig::default()
        })
    }

    /// A cache that fetches metadata from the configured runtimes' sockets
    /// in a background thread (`kestrel-containers`), and follows each
    /// socket's event stream in one more (`kestrel-ctr-events`). Sockets
    /// that do not exist are skipped (logged); with none, this is
    /// [`Containers::disabled`].
    pub fn start(cfg: &ContainerConfig) -> std::io::Result<Containers> {
        let mut c = Containers::disabled();
        let present = |v: &[PathBuf]| -> Vec<PathBuf> {
            v.iter()
                .filter(|p| {
                    let ok = p.exists();
                    if !ok {
                        log::info!("container runtime socket {} not found", p.display());
                    }
                    ok
                })
                .cloned()
                .collect()
        };
        let mut cri = Vec::new();
        for s in present(&cfg.cri_sockets) {
            match kestrel_cri::Client::new(&s, Duration::from_secs(2)) {
                Ok(cl) => cri.push(cl),
                Err(e) => log::warn!("CRI socket {}: {e}", s.display()),
            }
        }
        let backends = Arc::new(Backends {
            docker: present(&cfg.docker_sockets),
            podman: present(&cfg.podman_sockets),
            cri,
            namespaces: papaya::HashMap::new(),
        });
        if backends.is_empty() {
            log::info!("no container runtime socket: container metadata will be missing");
            return Ok(c);
        }
        c.lookup_timeout = cfg.lookup_timeout;
        let (tx, rx) = crossbeam_channel::bounded::<Request>(1024);
        let inner = c.inner.clone();
        let b = backends.clone();
        std::thread::Builder::new()
            .name("kestrel-containers".into())
            .spawn(move || loop {
                match rx.recv_timeout(Duration::from_secs(1)) {
                    Ok((id, rt)) => {
                        fetch_into(&inner, &b, &b.order(rt, None), &id);
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                }
                // Lookups of ids that never became known are forgotten
                // after a while, so the bookkeeping stays bounded with or
                // without an event stream.
                let now = Instant::now();
                let stale = |t: &Instant| now.duration_since(*t) > RETRY_AFTER * 6;
                inner.requested.pin().retain(|_, t| !stale(t));
                inner.gave_up.pin().retain(|_, t| !stale(t));
            })?;
        if cfg.events {
            let inner = c.inner.clone();
            let stop = c.stop.clone();
            let hooks = c.hooks.clone();
            let evict_after = cfg.evict_after;
            std::thread::Builder::new()
                .name("kestrel-ctr-events".into())
                .spawn(move || follow_events(&inner, &backends, evict_after, &stop, &hooks))?;
        }
        c.tx = Some(tx);
        Ok(c)
    }

    /// Registers `f` to be called with the id of every container whose
    /// entry is evicted after the runtime reported it destroyed.
    pub fn on_evict(&self, f: EvictHook) {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner()).push(f);
    }

    /// Records metadata (tests, capture replay, other providers).
    pub fn insert(&self, info: ContainerInfo) {
        let id: Arc<str> = Arc::from(info.id.as_str());
        self.inner.infos.pin().insert(id, Arc::new(info));
        self.inner.finished();
    }

    /// Metadata of `c`: the built-in entry for the host, the cached entry
    /// for a container, or `None` (missing) while unknown. An unknown
    /// container's lookup is queued (at most once per 10 s per id), and
    /// the first events of a container wait for it, up to the lookup
    /// timeout counted from when it was queued: a container's metadata is
    /// there from its first event unless the runtime is slower than that
    /// (counted in [`ContainerStats::lookup_timeouts`]).
    pub fn get(&self, c: &ContainerRef) -> Option<Arc<ContainerInfo>> {
        if c.is_host() {
            return Some(self.host.clone());
        }
        if let Some(i) = self.inner.infos.pin().get(&c.id) {
            return Some(i.clone());
        }
        let tx = self.tx.as_ref()?;
        let since = self.request(tx, c)?;
        if self.lookup_timeout.is_zero() || self.inner.gave_up.pin().contains_key(&c.id) {
            return None;
        }
        self.wait_for(c, since + self.lookup_timeout)
    }

    /// Queues a lookup of `c` if it is a container whose metadata is not
    /// known yet, without waiting for it. The workers call it on each
    /// successful exec, so a container's lookup starts with its first
    /// program whatever the rules read (a container no rule ever asks
    /// about is still known, and evicted, like the others).
    pub fn prefetch(&self, c: &ContainerRef) {
        if c.is_host() || self.inner.infos.pin().contains_key(&c.id) {
            return;
        }
        if let Some(tx) = self.tx.as_ref() {
            self.request(tx, c);
        }
    }

    /// Waits until `c`'s lookup ends or `deadline`.
    fn wait_for(&self, c: &ContainerRef, deadline: Instant) -> Option<Arc<ContainerInfo>> {
        self.inner.lookup_waits.fetch_add(1, Ordering::Relaxed);
        let mut g = self.inner.done.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(i) = self.inner.infos.pin().get(&c.id) {
                return Some(i.clone());
            }
            if self.inner.gave_up.pin().contains_key(&c.id) {
                return None;
            }
            let now = Instant::now();
            if now >= deadline {
                if self.inner.gave_up.pin().insert(c.id.clone(), now).is_none() {
                    self.inner.lookup_timeouts.fetch_add(1, Ordering::Relaxed);
                    log::debug!("container {}: metadata lookup timed out", c.short_id());
                }
                return None;
            }
            g = self
                .inner
                .done_cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Queues a lookup of `c` unless one was queued in the last
    /// [`RETRY_AFTER`]; returns when the current one was queued (`None`:
    /// the queue was full).
    fn request(
        &self,
        tx: &crossbeam_channel::Sender<Request>,
        c: &ContainerRef,
    ) -> Option<Instant> {
        let now = Instant::now();
        let req = self.inner.requested.pin();
        if let Some(t) = req.get(&c.id) {
            if now.duration_since(*t) < RETRY_AFTER {
                return Some(*t);
            }
        }
        req.insert(c.id.clone(), now);
        self.inner.gave_up.pin().remove(&c.id);
        match tx.try_send((c.id.clone(), c.runtime)) {
            Ok(()) => {
                self.inner.requested_n.fetch_add(1, Ordering::Relaxed);
                Some(now)
            }
            Err(_) => {
                self.inner.request_dropped.fetch_add(1, Ordering::Relaxed);
                // Let a later lookup try again.
                req.remove(&c.id);
                None
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> ContainerStats {
        let i = &self.inner;
        ContainerStats {
            known: i.infos.len() as u64,
            requested: i.requested_n.load(Ordering::Relaxed),
            request_dropped: i.request_dropped.load(Ordering::Relaxed),
            fetch_failed: i.fetch_failed.load(Ordering::Relaxed),
            lookup_waits: i.lookup_waits.load(Ordering::Relaxed),
            lookup_timeouts: i.lookup_timeouts.load(Ordering::Relaxed),
            stream_events: i.stream_events.load(Ordering::Relaxed),
            stream_gaps: i.stream_gaps.load(Ordering::Relaxed),
            evicted: i.evicted.load(Ordering::Relaxed),
        }
    }
}

/// Where metadata can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A Docker Engine API socket of docker (index into `Backends::docker`).
    Docker(usize),
    /// A Docker-compatible API socket of podman.
    Podman(usize),
    /// A CRI runtime (index into `Backends::cri`).
    Cri(usize),
}

impl Source {
    /// The runtime kind whose sources are asked first after this one.
    fn runtime(self) -> Runtime {
        match self {
            Source::Docker(_) => Runtime::Docker,
            Source::Podman(_) => Runtime::Podman,
            Source::Cri(_) => Runtime::Containerd,
        }
    }
}

/// The runtimes a cache reads.
struct Backends {
    docker: Vec<PathBuf>,
    podman: Vec<PathBuf>,
    cri: Vec<kestrel_cri::Client>,
    /// containerd namespaces of containers that an event stream showed
    /// outside Kubernetes' namespace: they are read from containerd's
    /// container records, not through the CRI. Entries leave with their
    /// container.
    namespaces: papaya::HashMap<Arc<str>, String>,
}

impl Backends {
    fn is_empty(&self) -> bool {
        self.docker.is_empty() && self.podman.is_empty() && self.cri.is_empty()
    }

    /// Every source, the runtime's own kind first (a cgroup path does not
    /// always name its runtime: a containerd container outside Kubernetes
    /// looks like Docker's), then `first` ahead of all.
    fn order(&self, rt: Runtime, first: Option<Source>) -> Vec<Source> {
        let d = (0..self.docker.len()).map(Source::Docker);
        let p = (0..self.podman.len()).map(Source::Podman);
        let c = (0..self.cri.len()).map(Source::Cri);
        let mut v: Vec<Source> = match rt {
            Runtime::Podman => p.chain(d).chain(c).collect(),
            Runtime::Containerd | Runtime::CriO => c.chain(d).chain(p).collect(),
            _ => d.chain(p).chain(c).collect(),
        };
        if let Some(f) = first {
            v.retain(|s| *s != f);
            v.insert(0, f);
        }
        v
    }

    /// `id`'s metadata from one source: `Ok(None)` when it does not know
    /// the id.
    fn fetch(&self, src: Source, id: &str) -> Result<Option<ContainerInfo>, String> {
        let api = |sock: &Path| match docker_inspect(sock, id, Duration::from_secs(2)) {
            Ok(info) => Ok(Some(info)),
            Err(ContainerError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        match src {
            Source::Docker(i) => api(&self.docker[i]),
            Source::Podman(i) => api(&self.podman[i]),
            Source::Cri(i) => {
                let cl = &self.cri[i];
                let ns = self.namespaces.pin().get(id).cloned();
                let r = match ns {
                    Some(ns) => cl.containerd_lookup(&ns, id),
                    None => cl.lookup_any(id),
                };
                r.map(|m| m.map(info_from_cri))
                    .map_err(|e| format!("{}: {}", cl.socket().display(), e.message()))
            }
        }
    }
}

/// One lookup: the first source that knows the id wins. A failed lookup
/// is counted and stops waiters unless `retry_later` (then it returns
/// false and the caller asks again).
fn fetch_into(inner: &Inner, b: &Backends, order: &[Source], id: &Arc<str>) -> bool {
    fetch_or_retry(inner, b, order, id, false)
}

fn fetch_or_retry(
    inner: &Inner,
    b: &Backends,
    order: &[Source],
    id: &Arc<str>,
    retry_later: bool,
) -> bool {
    let mut last = None;
    for &src in order {
        match b.fetch(src, id) {
            Ok(Some(info)) => {
                inner.infos.pin().insert(id.clone(), Arc::new(info));
                inner.gave_up.pin().remove(id);
                inner.finished();
                return true;
            }
            Ok(None) => {}
            Err(e) => last = Some(e),
        }
    }
    if retry_later {
        return false;
    }
    inner.fetch_failed.fetch_add(1, Ordering::Relaxed);
    inner.gave_up.pin().insert(id.clone(), Instant::now());
    match last {
        Some(e) => log::debug!("container {id}: {e}"),
        None => log::debug!("container {id}: no runtime knows it"),
    }
    inner.finished();
    false
}

/// A container event of a Docker-API event stream: (action, full id).
pub fn parse_docker_event(line: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    if v["Type"].as_str() != Some("container") {
        return None;
    }
    let action = v["Action"].as_str().or_else(|| v["status"].as_str())?;
    let id = v["Actor"]["ID"].as_str().or_else(|| v["id"].as_str())?;
    Some((action.to_string(), id.to_string()))
}

/// A container lifecycle event from any runtime's stream.
#[derive(Debug)]
enum StreamEvent {
    /// Created (or its task created): fetch, with the containerd namespace
    /// when it is not Kubernetes'.
    Created(Arc<str>, Source, Option<String>),
    /// Destroyed: evict later.
    Destroyed(Arc<str>),
}

/// Spawns a thread that runs `stream` again a second after each time it
/// ends, counting each end as a gap, until the cache is dropped.
fn keep_streaming(
    inner: &Arc<Inner>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    what: String,
    mut stream: impl FnMut() -> Result<(), String> + Send + 'static,
) {
    let inner = inner.clone();
    let stop = Arc::clone(stop);
    let w = what.clone();
    let spawned = std::thread::Builder::new()
        .name("kestrel-ctr-stream".into())
        .spawn(move || loop {
            if let Err(e) = stream() {
                log::debug!("container events on {w}: {e}");
            }
            inner.stream_gaps.fetch_add(1, Ordering::Relaxed);
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        });
    if let Err(e) = spawned {
        log::warn!("container events on {what}: {e}");
    }
}

/// Follows every runtime's event stream, one connection each, reconnecting
/// after a second; fetches metadata at create and drops the entry
/// `evict_after` after destroy.
fn follow_events(
    inner: &Arc<Inner>,
    b: &Arc<Backends>,
    evict_after: Duration,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    hooks: &std::sync::Mutex<Vec<EvictHook>>,
) {
    let (ev_tx, ev_rx) = crossbeam_channel::unbounded::<StreamEvent>();
    let api = b
        .docker
        .iter()
        .enumerate()
        .map(|(i, s)| (Source::Docker(i), s))
        .chain(
            b.podman
                .iter()
                .enumerate()
                .map(|(i, s)| (Source::Podman(i), s)),
        );
    for (src, s) in api {
        let tx = ev_tx.clone();
        let sock = s.clone();
        keep_streaming(inner, stop, s.display().to_string(), move || {
            stream_events(&sock, |action, id| {
                let id: Arc<str> = Arc::from(id.as_str());
                match action.as_str() {
                    "create" => tx.send(StreamEvent::Created(id, src, None)).is_ok(),
                    // Docker says destroy; podman's compatible API, remove.
                    "destroy" | "remove" => tx.send(StreamEvent::Destroyed(id)).is_ok(),
                    _ => true,
                }
            })
            .map_err(|e| e.to_string())
        });
    }
    for (i, cl) in b.cri.iter().enumerate() {
        let tx = ev_tx.clone();
        let cl = cl.clone();
        let what = cl.socket().display().to_string();
        let w = what.clone();
        keep_streaming(inner, stop, what, move || {
            cl.follow(
                |kind| log::info!("container events on {w}: following the {kind:?} stream"),
                |ev| match ev {
                    // Docker's own containers (containerd namespace moby)
                    // are read through Docker's API, which knows more.
                    kestrel_cri::Lifecycle::Created { namespace, .. } if namespace == "moby" => {
                        true
                    }
                    kestrel_cri::Lifecycle::Created { namespace, id } => {
                        let ns = (namespace != kestrel_cri::K8S_NAMESPACE).then_some(namespace);
                        tx.send(StreamEvent::Created(Arc::from(id), Source::Cri(i), ns))
                            .is_ok()
                    }
                    kestrel_cri::Lifecycle::Deleted { id } => {
                        tx.send(StreamEvent::Destroyed(Arc::from(id))).is_ok()
                    }
                },
            )
            .map_err(|e| e.message().to_string())
        });
    }
    drop(ev_tx);
    let mut doomed: std::collections::VecDeque<(Instant, Arc<str>)> = Default::default();
    // Creations a runtime announced before it could describe them (CRI
    // runtimes add a pod sandbox to their store only after its task
    // started): asked again a little later, a few times.
    let mut retries: Vec<(Instant, Arc<str>, Source, u32)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let wait = retries
            .iter()
            .map(|(t, ..)| t.saturating_duration_since(Instant::now()))
            .fold(Duration::from_secs(1), Duration::min);
        match ev_rx.recv_timeout(wait) {
            Ok(ev) => {
                inner.stream_events.fetch_add(1, Ordering::Relaxed);
                match ev {
                    StreamEvent::Created(id, src, ns) => {
                        if let Some(ns) = ns {
                            b.namespaces.pin().insert(id.clone(), ns);
                        }
                        if !fetch_or_retry(inner, b, &b.order(src.runtime(), Some(src)), &id, true)
                        {
                            retries.push((Instant::now() + CREATE_RETRY, id, src, 1));
                        }
                    }
                    StreamEvent::Destroyed(id) => {
                        doomed.push_back((Instant::now() + evict_after, id));
                    }
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = retries.drain(..).partition(|(t, ..)| *t <= now);
        retries.extend(later);
        for (_, id, src, n) in due {
            let last = n >= CREATE_RETRIES;
            if !fetch_or_retry(inner, b, &b.order(src.runtime(), Some(src)), &id, !last) && !last {
                retries.push((now + CREATE_RETRY * 2u32.pow(n), id, src, n + 1));
            }
        }
        while doomed.front().is_some_and(|(t, _)| *t <= now) {
            let (_, id) = doomed.pop_front().expect("front");
            if inner.infos.pin().remove(&id).is_some() {
                inner.evicted.fetch_add(1, Ordering::Relaxed);
            }
            inner.requested.pin().remove(&id);
            inner.gave_up.pin().remove(&id);
            b.namespaces.pin().remove(&id);
            for h in hooks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                h(&id);
            }
        }
    }
}

/// Reads one socket's container event stream (`GET /events` filtered to
/// containers, chunked JSON lines) until it ends or `on` returns false.
fn stream_events(
    socket: &Path,
    mut on: impl FnMut(String, String) -> bool,
) -> Result<(), ContainerError> {
    let io = |source| ContainerError::Io {
        path: socket.to_path_buf(),
        source,
    };
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(io)?;
    // {"type":["container"]}
    let req = "GET /events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D HTTP/1.1\r\nHost: docker\r\nUser-Agent: kestrel\r\nAccept: application/json\r\n\r\n";
    s.write_all(req.as_bytes()).map_err(io)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    // Headers.
    let hdr_end = loop {
        let n = s.read(&mut chunk).map_err(io)?;
        if n == 0 {
            return Err(ContainerError::Http(
                "event stream closed in headers".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 << 10 {
            return Err(ContainerError::Http("event stream headers too long".into()));
        }
    };
    let head = parse_http_head(&buf[..hdr_end])?;
    if head.status != 200 {
        return Err(ContainerError::Http(format!(
            "event stream refused (status {})",
            head.status
        )));
    }
    let chunked = head.chunked;
    let mut body: Vec<u8> = buf[hdr_end + 4..].to_vec();
    let mut lines: Vec<u8> = Vec::new();
    loop {
        // Move whole chunks (or raw bytes) from `body` into `lines`.
        if chunked {
            while let Some((start, size)) = chunk_at(&body)? {
                if size == 0 {
                    return Ok(());
                }
                if body.len() < start + size + 2 {
                    break;
                }
                lines.extend_from_slice(&body[start..start + size]);
                body.drain(..start + size + 2);
            }
        } else {
            lines.append(&mut body);
        }
        while let Some(nl) = memchr::memchr(b'\n', &lines) {
            let line: Vec<u8> = lines.drain(..=nl).collect();
            if let Some((action, id)) = parse_docker_event(&line) {
                if !on(action, id) {
                    return Ok(());
                }
            }
        }
        if lines.len() > 1 << 20 || body.len() > 1 << 20 {
            return Err(ContainerError::Http("event stream line too long".into()));
        }
        let n = s.read(&mut chunk).map_err(io)?;
        if n == 0 {
            return Ok(());
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1e5b2c9d8a7f6e5d4c3b2a19081726354a5b6c7d8e9f0a1b2c3d4e5f607182";

    fn parse(p: &str) -> Option<(String, Runtime)> {
        container_from_cgroup_path(p.as_bytes()).map(|c| (c.id.to_string(), c.runtime))
    }

    #[test]
    fn cgroup_naming_schemes() {
        let want = |rt| Some((ID.to_string(), rt));
        // docker, cgroup v1 cgroupfs driver
        assert_eq!(parse(&format!("/docker/{ID}")), want(Runtime::Docker));
        // docker, systemd driver (v1 and v2)
        assert_eq!(
            parse(&format!("/system.slice/docker-{ID}.scope")),
            want(Runtime::Docker)
        );
        // containerd / CRI, cgroupfs driver
        assert_eq!(
            parse(&format!("/kubepods/besteffort/pod1234-5678/{ID}")),
            want(Runtime::Containerd)
        );
        // containerd / CRI, systemd driver
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice/cri-containerd-{ID}.scope"
            )),
            want(Runtime::Containerd)
        );
        // cri-o
        assert_eq!(
            parse(&format!(
                "/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope"
            )),
            want(Runtime::CriO)
        );
        // cri-o's monitor process is not the container
        assert_eq!(
            parse(&format!("/system.slice/crio-conmon-{ID}.scope")),
            None
        );
        // podman, systemd and cgroupfs
        assert_eq!(
            parse(&format!("/machine.slice/libpod-{ID}.scope")),
            want(Runtime::Podman)
        );
        assert_eq!(
            parse(&format!("/libpod_parent/libpod-{ID}")),
            want(Runtime::Podman)
        );
        // a sub-cgroup inside the container scope
        assert_eq!(
            parse(&format!("/system.slice/docker-{ID}.scope/init")),
            want(Runtime::Docker)
        );
        // host paths
        assert_eq!(parse("/user.slice/user-1000.slice/session-2.scope"), None);
        assert_eq!(parse("/"), None);
        assert_eq!(parse("/docker/abc"), None);
        // upper-case hex is normalised
        assert_eq!(
            parse(&format!("/docker/{}", ID.to_uppercase())),
            want(Runtime::Docker)
        );
    }

    #[test]
    fn cgroup_entries_and_short_id() {
        let v1 = format!("cpu,cpuacct=/docker/{ID}");
        let entries: Vec<&[u8]> = vec![b"name=systemd=/init.scope", v1.as_bytes()];
        let c = container_from_cgroups(entries);
        assert_eq!(c.runtime, Runtime::Docker);
        assert_eq!(c.short_id(), &ID[..12]);
        let h = container_from_cgroups(vec![b"=/user.slice".as_slice()]);
        assert!(h.is_host());
        assert_eq!(h.short_id(), "host");
        // v2 lines straight from /proc/<pid>/cgroup work too
        let v2 = format!("0::/system.slice/docker-{ID}.scope");
        let c = container_from_cgroups(vec![v2.split_once("::").unwrap().1.as_bytes()]);
        assert_eq!(c.id.as_ref(), ID);
    }

    #[test]
    fn image_splitting() {
        assert_eq!(split_image("nginx"), ("nginx".into(), "latest".into()));
        assert_eq!(split_image("nginx:1.25"), ("nginx".into(), "1.25".into()));
        assert_eq!(
            split_image("registry:5000/team/app:v2"),
            ("registry:5000/team/app".into(), "v2".into())
        );
        assert_eq!(
            split_image("registry:5000/team/app"),
            ("registry:5000/team/app".into(), "latest".into())
        );
        assert_eq!(
            split_image("docker.io/calico/node@sha256:abcd"),
            ("docker.io/calico/node".into(), "".into())
        );
        assert_eq!(
            split_image("falcosecurity/falco:0.44.1@sha256:abcd"),
            ("falcosecurity/falco".into(), "0.44.1".into())
        );
    }

    /// A response shaped like docker 27's inspect output (trimmed to the
    /// keys kestrel reads plus some it ignores), chunked as dockerd sends it.
    fn recorded_response() -> Vec<u8> {
        let body = format!(
            r#"{{"Id":"{ID}","Created":"2025-01-01T00:00:00Z","Path":"nginx","Args":["-g","daemon off;"],
"State":{{"Status":"running","Running":true,"Pid":4242,"StartedAt":"2025-01-01T00:00:01.5Z"}},
"Image":"sha256:0123456789abcdef","Name":"/web-1",
"HostConfig":{{"Privileged":true,"NetworkMode":"host","PidMode":"host","IpcMode":"private","Memory":67108864,"CpuShares":512}},
"Mounts":[{{"Type":"bind","Source":"/var/run/docker.sock","Destination":"/var/run/docker.sock","Mode":"","RW":true,"Propagation":"rprivate"}},
{{"Type":"volume","Name":"data","Source":"/var/lib/docker/volumes/data/_data","Destination":"/data","Driver":"local","Mode":"z","RW":false,"Propagation":""}}],
"Config":{{"Hostname":"web","Image":"docker.io/library/nginx:1.25","Healthcheck":{{"Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"],"Interval":30000000000}},"Labels":{{"io.kubernetes.pod.namespace":"prod","io.kubernetes.pod.name":"web-7d9f","maintainer":"x"}}}}}}"#
        );
        let (a, b) = body.as_bytes().split_at(100);
        let mut raw = b"HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for part in [a, b] {
            raw.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            raw.extend_from_slice(part);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        raw
    }

    #[test]
    fn docker_inspect_response() {
        let (status, body) = parse_http_response(&recorded_response()).unwrap();
        assert_eq!(status, 200);
        let info = parse_docker_inspect(&body).unwrap();
        assert_eq!(info.id, ID);
        assert_eq!(info.name, "web-1");
        assert_eq!(info.image, "docker.io/library/nginx:1.25");
        assert_eq!(info.image_repository, "docker.io/library/nginx");
        assert_eq!(info.image_tag, "1.25");
        assert_eq!(info.image_id, "0123456789abcdef");
        assert!(info.privileged);
        assert_eq!(info.mounts.len(), 2);
        assert_eq!(
            info.mounts_text(),
            "/var/run/docker.sock:/var/run/docker.sock::true:rprivate,/var/lib/docker/volumes/data/_data:/data:z:false:"
        );
        assert_eq!(info.labels["io.kubernetes.pod.namespace"], "prod");
        assert_eq!(
            (info.host_pid, info.host_network, info.host_ipc),
            (true, true, false)
        );
        assert_eq!(
            info.probe_text(ProbeKind::Healthcheck),
            "/bin/sh -c curl -f http://localhost/ || exit 1"
        );
        assert_eq!(info.probe_text(ProbeKind::Liveness), "NONE");
    }

    #[test]
    fn docker_healthcheck_tests() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = HealthProbe::from_docker_test(&v(&["CMD", "curl", "-f", "http://x/"])).unwrap();
        assert_eq!(
            (p.exe.as_str(), p.text().as_str()),
            ("curl", "curl -f http://x/")
        );
        let p = HealthProbe::from_docker_test(&v(&["CMD-SHELL", "pg_isready -U app"])).unwrap();
        assert_eq!(p.args, v(&["-c", "pg_isready -U app"]));
        // Disabled (an image's check turned off), empty, or unknown.
        assert_eq!(HealthProbe::from_docker_test(&v(&["NONE"])), None);
        assert_eq!(HealthProbe::from_docker_test(&v(&["CMD"])), None);
        assert_eq!(HealthProbe::from_docker_test(&v(&[])), None);
        assert_eq!(HealthProbe::from_docker_test(&v(&["EXEC", "x"])), None);
    }

    #[test]
    fn probe_command_lines_match_process_images() {
        let sh = HealthProbe::from_docker_test(&[
            "CMD-SHELL".to_string(),
            "curl -f http://localhost/".to_string(),
        ])
        .unwrap();
        assert!(sh.matches(b"/bin/sh", b"-c curl -f http://localhost/"));
        assert!(!sh.matches(b"sh", b"-c curl -f http://localhost/"));
        assert!(!sh.matches(b"/bin/sh", b"-c curl -f http://localhost/x"));
        assert!(!sh.matches(b"/bin/sh", b"-c curl -f"));
        let cat = HealthProbe::from_command(
            ProbeKind::Liveness,
            &["cat".to_string(), "/tmp/healthy".to_string()],
        )
        .unwrap();
        assert!(cat.matches(b"cat", b"/tmp/healthy"));
        assert!(!cat.matches(b"cat", b""));
        let info = ContainerInfo {
            probes: vec![sh, cat],
            ..Default::default()
        };
        assert_eq!(
            info.probe_of(b"cat", b"/tmp/healthy"),
            Some(ProbeKind::Liveness)
        );
        assert_eq!(info.probe_of(b"cat", b"/etc/shadow"), None);
        assert_eq!(info.probe_text(ProbeKind::Readiness), "NONE");
        assert_eq!(info.probe_text(ProbeKind::Liveness), "cat /tmp/healthy");
    }

    #[test]
    fn cri_record_with_pod_namespaces_probes_and_cni() {
        let m = kestrel_cri::ContainerMeta {
            id: ID.into(),
            name: "app".into(),
            image: "registry.local/app:2".into(),
            mounts: vec![kestrel_cri::MountMeta {
                source: "/var/lib/kubelet/pods/u-1/volumes/cfg".into(),
                dest: "/etc/app".into(),
                rw: false,
                propagation: "private".into(),
            }],
            pod: Some(kestrel_cri::PodMeta {
                sandbox_id: "s1".into(),
                name: "web-0".into(),
                host_network: true,
                host_ipc: true,
                cni_result:
                    r#"{"eth0":{"IPConfigs":[{"Gateway":"10.244.0.1","IP":"10.244.0.5"}]}}"#.into(),
                ..Default::default()
            }),
            liveness_probe: Some(vec!["cat".into(), "/tmp/healthy".into()]),
            readiness_probe: None,
            ..Default::default()
        };
        let info = info_from_cri(m);
        assert_eq!(
            (info.host_pid, info.host_network, info.host_ipc),
            (false, true, true)
        );
        assert_eq!(info.probe_text(ProbeKind::Liveness), "cat /tmp/healthy");
        assert_eq!(info.probe_text(ProbeKind::Readiness), "NONE");
        assert_eq!(
            info.mounts_text(),
            "/var/lib/kubelet/pods/u-1/volumes/cfg:/etc/app::false:private"
        );
        assert!(info.pod.unwrap().cni_result.contains("10.244.0.5"));
    }

    #[test]
    fn http_errors_are_reported() {
        assert!(parse_http_response(b"garbage").is_err());
        let (st, body) =
            parse_http_response(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((st, body.as_slice()), (404, b"{}".as_slice()));
        assert!(parse_http_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab"
        )
        .is_err());
        assert!(parse_docker_inspect(b"{not json").is_err());
    }

    #[test]
    fn cache_semantics() {
        let c = Containers::disabled();
        let host = ContainerRef::host();
        let h = c.get(&host).unwrap();
        assert_eq!(h.name, "host");
        assert_eq!(h.image_repository, "");
        let r = container_from_cgroup_path(format!("/docker/{ID}").as_bytes()).unwrap();
        assert!(c.get(&r).is_none());
        c.insert(ContainerInfo {
            id: ID.into(),
            name: "x".into(),
            ..Default::default()
        });
        assert_eq!(c.get(&r).unwrap().name, "x");
    }

    /// A fake Docker socket: answers `GET /events` with `events` (one
    /// chunk each, then holds the stream open until `hold` ends) and every
    /// inspect with the recorded response, after `delay`. Returns the
    /// request lines it saw.
    fn fake_docker(
        sock: &Path,
        events: Vec<String>,
        delay: Duration,
        hold: Duration,
    ) -> std::sync::mpsc::Receiver<String> {
        let listener = std::os::unix::net::UnixListener::bind(sock).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { return };
                let tx = tx.clone();
                let events = events.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 2048];
                    let n = s.read(&mut buf).unwrap_or(0);
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let line = req.lines().next().unwrap_or("").to_string();
                    if tx.send(line.clone()).is_err() {
                        return;
                    }
                    if line.starts_with("GET /events") {
                        if s.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                        ).is_err() {
                            return;
                        }
                        for e in &events {
                            let body = format!("{e}\n");
                            let chunk = format!("{:x}\r\n{body}\r\n", body.len());
                            if s.write_all(chunk.as_bytes()).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        std::thread::sleep(hold);
                    } else {
                        std::thread::sleep(delay);
                        // The client may have given up: nothing to do then.
                        s.write_all(&recorded_response()).unwrap_or_default();
                    }
                });
            }
        });
        rx
    }

    fn cfg(sock: &Path, timeout_ms: u64, events: bool) -> ContainerConfig {
        ContainerConfig {
            docker_sockets: vec![sock.to_path_buf()],
            podman_sockets: Vec::new(),
            cri_sockets: Vec::new(),
            lookup_timeout: Duration::from_millis(timeout_ms),
            events,
            evict_after: Duration::from_millis(100),
        }
    }

    #[test]
    fn fetch_from_a_fake_docker_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let reqs = fake_docker(&sock, Vec::new(), Duration::ZERO, Duration::ZERO);
        // No wait: missing until the background fetch lands.
        let c = Containers::start(&cfg(&sock, 0, false)).unwrap();
        let r = container_from_cgroup_path(format!("/docker/{ID}").as_bytes()).unwrap();
        assert!(c.get(&r).is_none(), "missing until fetched");
        let req = reqs.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(req, format!("GET /containers/{ID}/json HTTP/1.1"));
        let deadline = Instant::now() + Duration::from_secs(5);
        let info = loop {
            if let Some(i) = c.get(&r) {
                break i;
            }
            assert!(Instant::now() < deadline, "metadata never arrived");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(info.name, "web-1");
        assert_eq!(c.stats().requested, 1);
        assert_eq!(c.stats().lookup_waits, 0);
    }

    #[test]
    fn first_event_waits_for_the_lookup_within_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let _reqs = fake_docker(&sock, Vec::new(), Duration::from_millis(50), Duration::ZERO);
        let c = Containers::start(&cfg(&sock, 2000, false)).unwrap();
        let r = container_from_cgroup_path(format!("/docker/{ID}").as_bytes()).unwrap();
        let t = Instant::now();
        let info = c.get(&r).expect("the first get waits for the answer");
        assert!(t.elapsed() >= Duration::from_millis(50));
        assert_eq!(info.name, "web-1");
        let st = c.stats();
        assert_eq!((st.lookup_waits, st.lookup_timeouts), (1, 0));
    }

    #[test]
    fn a_slow_runtime_times_out_once_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let _reqs = fake_docker(
            &sock,
            Vec::new(),
            Duration::from_millis(800),
            Duration::ZERO,
        );
        let c = Containers::start(&cfg(&sock, 100, false)).unwrap();
        let r = container_from_cgroup_path(format!("/docker/{ID}").as_bytes()).unwrap();
        let t = Instant::now();
        assert!(c.get(&r).is_none());
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(waited < Duration::from_millis(700), "{waited:?}");
        // Later events of the same container do not wait again.
        let t = Instant::now();
        assert!(c.get(&r).is_none());
        assert!(t.elapsed() < Duration::from_millis(50));
        assert_eq!(c.stats().lookup_timeouts, 1);
        // The answer still lands for the events after it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.get(&r).is_none() {
            assert!(Instant::now() < deadline, "metadata never arrived");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn event_stream_prefetches_at_create_and_evicts_after_destroy() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let ev = |action: &str| {
            format!(
                r#"{{"status":"{action}","id":"{ID}","Type":"container","Action":"{action}","Actor":{{"ID":"{ID}","Attributes":{{"name":"web-1"}}}},"scope":"local","time":1}}"#
            )
        };
        let other = r#"{"Type":"network","Action":"connect","Actor":{"ID":"n1"}}"#.to_string();
        let reqs = fake_docker(
            &sock,
            vec![other, ev("create"), ev("start"), ev("destroy")],
            Duration::ZERO,
            Duration::from_secs(5),
        );
        let c = Containers::start(&cfg(&sock, 0, true)).unwrap();
        let forgotten = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let f2 = forgotten.clone();
        c.on_evict(Arc::new(move |id: &str| {
            f2.lock().unwrap().push(id.to_string())
        }));
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.len() < 2 && Instant::now() < deadline {
            if let Ok(r) = reqs.recv_timeout(Duration::from_millis(100)) {
                seen.push(r);
            }
        }
        assert!(
            seen.iter().any(|r| r.starts_with("GET /events?filters=")),
            "{seen:?}"
        );
        assert!(
            seen.contains(&format!("GET /containers/{ID}/json HTTP/1.1")),
            "{seen:?}"
        );
        // Evicted 100 ms after the destroy event.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let st = c.stats();
            if st.evicted == 1 && st.known == 0 {
                assert_eq!(st.stream_events, 2, "create and destroy: {st:?}");
                assert_eq!(st.requested, 0, "prefetched, never looked up: {st:?}");
                assert_eq!(*forgotten.lock().unwrap(), [ID.to_string()]);
                break;
            }
            assert!(Instant::now() < deadline, "{st:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn docker_event_lines() {
        let line = format!(r#"{{"Type":"container","Action":"create","Actor":{{"ID":"{ID}"}}}}"#);
        assert_eq!(
            parse_docker_event(line.as_bytes()),
            Some(("create".to_string(), ID.to_string()))
        );
        // Old API shape: status and id only at the top.
        let old = format!(r#"{{"Type":"container","status":"destroy","id":"{ID}"}}"#);
        assert_eq!(
            parse_docker_event(old.as_bytes()).map(|(a, _)| a),
            Some("destroy".to_string())
        );
        assert_eq!(
            parse_docker_event(br#"{"Type":"image","Action":"pull"}"#),
            None
        );
        assert_eq!(parse_docker_event(b"not json"), None);
    }
}
