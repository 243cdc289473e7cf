//! gRPC clients for container runtimes that do not speak the Docker API:
//! the Kubernetes Container Runtime Interface (CRI v1: containerd's CRI
//! plugin, CRI-O) and containerd's own event and container services.
//!
//! The daemon uses [`lookup`] (a container's metadata and its pod's) and
//! [`follow`] (each runtime's container lifecycle stream). Tests use
//! [`kubelet::Kubelet`], which starts pods and containers the way a kubelet
//! does. Everything here is async on tokio; callers without a runtime
//! drive it with [`Runtime::block_on`](tokio::runtime::Runtime::block_on).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod kubelet;

/// CRI v1 messages and the RuntimeService/ImageService clients.
#[allow(missing_docs, clippy::all)]
pub mod runtime {
    tonic::include_proto!("runtime.v1");
}

/// containerd's event service and event payloads.
#[allow(missing_docs, clippy::all)]
pub mod events {
    tonic::include_proto!("containerd.services.events.v1");
}

/// containerd's container records.
#[allow(missing_docs, clippy::all)]
pub mod containers {
    tonic::include_proto!("containerd.services.containers.v1");
}

/// containerd's namespaces service (list).
#[allow(missing_docs, clippy::all)]
pub mod namespaces {
    tonic::include_proto!("containerd.services.namespaces.v1");
}

use runtime::image_service_client::ImageServiceClient;
use runtime::runtime_service_client::RuntimeServiceClient;

/// A gRPC error (status and message).
pub type Status = tonic::Status;

/// The containerd namespace of Kubernetes pods.
pub const K8S_NAMESPACE: &str = "k8s.io";

/// A lazily connected channel to a runtime's Unix socket: the connection
/// is made at the first call and remade after the runtime restarts. Each
/// call gives up after `timeout` (`None`: no limit, for streams: the
/// deadline would travel to the server and end the stream). Must be
/// called inside a tokio runtime.
pub fn channel(socket: &Path, timeout: Option<Duration>) -> tonic::transport::Channel {
    let path: PathBuf = socket.to_path_buf();
    // The URI is required by the API and never resolved: the connector
    // dials the socket.
    let mut ep = tonic::transport::Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(2));
    if let Some(t) = timeout {
        ep = ep.timeout(t);
    }
    ep.connect_with_connector_lazy(tower::service_fn(move |_: tonic::transport::Uri| {
        let path = path.clone();
        async move {
            let s = tokio::net::UnixStream::connect(path).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
        }
    }))
}

/// The runtime all [`Client`]s share: one worker thread
/// (`kestrel-grpc`), created at first use.
fn shared_runtime() -> std::io::Result<&'static tokio::runtime::Runtime> {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kestrel-grpc")
        .enable_all()
        .build()?;
    Ok(RT.get_or_init(|| rt))
}

/// A blocking client of one runtime socket for callers outside tokio (the
/// daemon's metadata threads). Calls run on a shared one-thread runtime.
#[derive(Clone)]
pub struct Client {
    rt: &'static tokio::runtime::Runtime,
    calls: tonic::transport::Channel,
    socket: PathBuf,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `socket` whose calls give up after `timeout`. Nothing
    /// is dialled until the first call.
    pub fn new(socket: &Path, timeout: Duration) -> std::io::Result<Client> {
        let rt = shared_runtime()?;
        let _g = rt.enter();
        Ok(Client {
            rt,
            calls: channel(socket, Some(timeout)),
            socket: socket.to_path_buf(),
        })
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// [`lookup`], blocking.
    pub fn lookup(&self, id: &str) -> Result<Option<ContainerMeta>, Status> {
        self.rt.block_on(lookup(&self.calls, id))
    }

    /// [`lookup`], and for a container the CRI does not know, containerd's
    /// own record in whichever namespace holds it ([`containerd_find`]),
    /// blocking: for containers started with `ctr` or nerdctl whose
    /// namespace no event has named.
    pub fn lookup_any(&self, id: &str) -> Result<Option<ContainerMeta>, Status> {
        self.rt.block_on(async {
            match lookup(&self.calls, id).await? {
                Some(m) => Ok(Some(m)),
                None => containerd_find(&self.calls, id).await,
            }
        })
    }

    /// [`containerd_lookup`], blocking.
    pub fn containerd_lookup(&self, ns: &str, id: &str) -> Result<Option<ContainerMeta>, Status> {
        self.rt.block_on(containerd_lookup(&self.calls, ns, id))
    }

    /// [`follow`], blocking until the stream ends or `on` returns false.
    /// Each call dials a connection of its own: a stream outlives the
    /// runtime process it was opened on (a restart), and its successor
    /// starts clean.
    pub fn follow(
        &self,
        started: impl FnMut(StreamKind),
        on: impl FnMut(Lifecycle) -> bool,
    ) -> Result<(), Status> {
        let ch = {
            let _g = self.rt.enter();
            channel(&self.socket, None)
        };
        self.rt.block_on(follow(&ch, started, on))
    }
}

/// A container's pod, from its CRI sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodMeta {
    /// Sandbox id.
    pub sandbox_id: String,
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
    /// Pod uid.
    pub uid: String,
    /// The pod's labels (the kubelet's own `io.kubernetes.pod.*` labels
    /// left out).
    pub labels: BTreeMap<String, String>,
    /// Pod IP (empty with host networking).
    pub ip: String,
    /// The pod shares the node's PID namespace.
    pub host_pid: bool,
    /// The pod shares the node's network namespace.
    pub host_network: bool,
    /// The pod shares the node's IPC namespace.
    pub host_ipc: bool,
    /// The pod's CNI result as Falco shows it (`k8s.pod.cni.json`), from
    /// the verbose sandbox status; empty when the runtime reports none.
    pub cni_result: String,
    /// The pod's `kubectl.kubernetes.io/last-applied-configuration`
    /// annotation (the pod spec as last applied), empty if absent.
    pub last_applied: String,
}

/// One mount of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountMeta {
    /// Host path.
    pub source: String,
    /// Path in the container.
    pub dest: String,
    /// Read-write.
    pub rw: bool,
    /// Propagation as Falco names the CRI values (`private`, `rslave`,
    /// `rshared`), or as the OCI spec names it for plain containerd.
    pub propagation: String,
}

/// What a runtime knows about a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerMeta {
    /// Full id.
    pub id: String,
    /// Container name (the name in the pod spec for CRI containers, the
    /// pod name for a sandbox, the id for plain containerd containers).
    pub name: String,
    /// Image reference as configured.
    pub image: String,
    /// Image id (`sha256:` stripped).
    pub image_id: String,
    /// Image digest (`sha256:...`), when the runtime reports one.
    pub image_digest: String,
    /// Runs privileged.
    pub privileged: bool,
    /// Mounts.
    pub mounts: Vec<MountMeta>,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time, ns since the epoch (0: unknown).
    pub created_ns: u64,
    /// The pod, for CRI containers and sandboxes.
    pub pod: Option<PodMeta>,
    /// The exec command of the container's liveness probe, from its pod's
    /// last-applied configuration.
    pub liveness_probe: Option<Vec<String>>,
    /// The exec command of the container's readiness probe, likewise.
    pub readiness_probe: Option<Vec<String>>,
}

fn is_not_found(s: &Status) -> bool {
    s.code() == tonic::Code::NotFound
        || (s.code() == tonic::Code::Unknown && s.message().contains("not found"))
}

/// A CRI mount propagation by the names Falco gives it (the container
/// plugin's CRI engine; libsinsp's before it).
fn propagation(p: i32) -> &'static str {
    match runtime::MountPropagation::try_from(p) {
        Ok(runtime::MountPropagation::PropagationPrivate) => "private",
        Ok(runtime::MountPropagation::PropagationHostToContainer) => "rslave",
        Ok(runtime::MountPropagation::PropagationBidirectional) => "rshared",
        Err(_) => "unknown",
    }
}

/// The pod annotation `kubectl apply` leaves: the pod as last applied.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Falco's cap on a CNI result's length.
const MAX_CNI_RESULT: usize = 4096;

/// `k8s.pod.cni.json` from a verbose sandbox status's `info` document, as
/// libsinsp made it: containerd's `cniResult.Interfaces` without the
/// loopback and `veth*` interfaces and without each interface's `Mac` and
/// `Sandbox`, as compact JSON with sorted keys; else CRI-O's
/// `io.kubernetes.cri-o.CNIResult` annotation; cut at 4096 bytes. Empty
/// when neither is there (a pod on the node's network has no CNI result).
pub fn cni_result(info: &std::collections::HashMap<String, String>) -> String {
    let Some(v) = info
        .get("info")
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
    else {
        return String::new();
    };
    let mut out = match v["cniResult"]["Interfaces"].as_object() {
        Some(ifaces) => {
            let kept: serde_json::Map<String, serde_json::Value> = ifaces
                .iter()
                .filter(|(name, _)| *name != "lo" && !name.starts_with("veth"))
                .map(|(name, cfg)| {
                    let mut cfg = cfg.clone();
                    if let Some(o) = cfg.as_object_mut() {
                        o.remove("Mac");
                        o.remove("Sandbox");
                    }
                    (name.clone(), cfg)
                })
                .collect();
            serde_json::Value::Object(kept).to_string()
        }
        None => v["runtimeSpec"]["annotations"]["io.kubernetes.cri-o.CNIResult"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('\n')
            .to_string(),
    };
    if out.len() > MAX_CNI_RESULT {
        let mut end = MAX_CNI_RESULT;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

/// The exec commands of container `name`'s liveness and readiness probes
/// in a pod spec as `kubectl apply` recorded it (the
/// [`LAST_APPLIED_ANNOTATION`] of its pod). Probes of other kinds (HTTP,
/// TCP, gRPC) run no process and are left out.
pub fn probes_from_last_applied(
    doc: &str,
    name: &str,
) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(doc) else {
        return (None, None);
    };
    let Some(c) = v["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
    else {
        return (None, None);
    };
    let exec = |probe: &serde_json::Value| {
        let cmd: Vec<String> = probe["exec"]["command"]
            .as_array()?
            .iter()
            .map(|a| a.as_str().unwrap_or_default().to_string())
            .collect();
        (!cmd.is_empty()).then_some(cmd)
    };
    (exec(&c["livenessProbe"]), exec(&c["readinessProbe"]))
}

/// The pod of a sandbox status and the `info` of its verbose form (empty
/// when not asked for).
fn pod_meta(
    s: runtime::PodSandboxStatus,
    info: &std::collections::HashMap<String, String>,
) -> PodMeta {
    let node = |m: i32| m == runtime::NamespaceMode::Node as i32;
    let ns = s
        .linux
        .as_ref()
        .and_then(|l| l.namespaces.as_ref())
        .and_then(|n| n.options.as_ref())
        .cloned()
        .unwrap_or_default();
    let m = s.metadata.unwrap_or_default();
    let label = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
    let or = |a: String, b: String| if a.is_empty() { b } else { a };
    PodMeta {
        name: or(m.name, label("io.kubernetes.pod.name")),
        namespace: or(m.namespace, label("io.kubernetes.pod.namespace")),
        uid: or(m.uid, label("io.kubernetes.pod.uid")),
        labels: s
            .labels
            .iter()
            .filter(|(k, _)| !k.starts_with("io.kubernetes.pod."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ip: s.network.map(|n| n.ip).unwrap_or_default(),
        sandbox_id: s.id,
        host_pid: node(ns.pid),
        host_network: node(ns.network),
        host_ipc: node(ns.ipc),
        cni_result: cni_result(info),
        last_applied: s
            .annotations
            .get(LAST_APPLIED_ANNOTATION)
            .cloned()
            .unwrap_or_default(),
    }
}

/// The sandbox id and privileged flag from a verbose status's `info`
/// document (containerd: `sandboxID` and `config.linux.security_context.
/// privileged`; CRI-O: `sandboxID` and `privileged`).
fn verbose_info(info: &std::collections::HashMap<String, String>) -> (Option<String>, bool) {
    let Some(doc) = info.get("info") else {
        return (None, false);
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(doc) else {
        return (None, false);
    };
    let sandbox = v["sandboxID"].as_str().map(str::to_string);
    let privileged = v["privileged"].as_bool().unwrap_or(false)
        || v["config"]["linux"]["security_context"]["privileged"]
            .as_bool()
            .unwrap_or(false);
    (sandbox, privileged)
}

/// A container's metadata from a CRI runtime: its status, its image and
/// its pod. `Ok(None)` when the runtime does not know the id. A pod's
/// sandbox (pause) container is reported as a container named after the
/// pod.
pub async fn lookup(
    ch: &tonic::transport::Channel,
    id: &str,
) -> Result<Option<ContainerMeta>, Status> {
    let mut rt = RuntimeServiceClient::new(ch.clone());
    let resp = match rt
        .container_status(runtime::ContainerStatusRequest {
            container_id: id.to_string(),
            verbose: true,
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(e) if is_not_found(&e) => return sandbox_lookup(&mut rt, id).await,
        Err(e) => return Err(e),
    };
    let Some(st) = resp.status else {
        return Ok(None);
    };
    let (sandbox, privileged) = verbose_info(&resp.info);
    let sandbox = match sandbox {
        Some(s) => Some(s),
        None => rt
            .list_containers(runtime::ListContainersRequest {
                filter: Some(runtime::ContainerFilter {
                    id: id.to_string(),
                    ..Default::default()
                }),
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().containers.into_iter().next())
            .map(|c| c.pod_sandbox_id),
    };
    // Verbose: the sandbox's info document carries its CNI result.
    let pod = match sandbox {
        Some(s) if !s.is_empty() => rt
            .pod_sandbox_status(runtime::PodSandboxStatusRequest {
                pod_sandbox_id: s,
                verbose: true,
            })
            .await
            .ok()
            .map(|r| r.into_inner())
            .and_then(|r| Some(pod_meta(r.status?, &r.info))),
        _ => None,
    };
    let name = st.metadata.map(|m| m.name).unwrap_or_default();
    let (liveness_probe, readiness_probe) = match &pod {
        Some(p) if !p.last_applied.is_empty() => probes_from_last_applied(&p.last_applied, &name),
        _ => (None, None),
    };
    let mut image = st.image.map(|i| i.image).unwrap_or_default();
    let (mut image_id, mut image_digest) = (st.image_id.clone(), String::new());
    match st.image_ref.split_once('@') {
        Some((_, d)) => image_digest = d.to_string(),
        None if image_id.is_empty() => image_id = st.image_ref.clone(),
        None => {}
    }
    // containerd reports the image by id when it was created from one; the
    // image service knows its name and digest.
    if image.is_empty() || image.starts_with("sha256:") || image_digest.is_empty() {
        let spec = if image.is_empty() {
            image_id.clone()
        } else {
            image.clone()
        };
        let mut is = ImageServiceClient::new(ch.clone());
        if let Ok(r) = is
            .image_status(runtime::ImageStatusRequest {
                image: Some(runtime::ImageSpec {
                    image: spec,
                    ..Default::default()
                }),
                verbose: false,
            })
            .await
        {
            if let Some(img) = r.into_inner().image {
                if image.is_empty() || image.starts_with("sha256:") {
                    if let Some(t) = img.repo_tags.first() {
                        image = t.clone();
                    }
                }
                if image_digest.is_empty() {
                    if let Some((_, d)) = img.repo_digests.first().and_then(|d| d.split_once('@')) {
                        image_digest = d.to_string();
                    }
                }
                if image_id.is_empty() {
                    image_id = img.id;
                }
            }
        }
    }
    let image_id = image_id
        .strip_prefix("sha256:")
        .unwrap_or(&image_id)
        .to_string();
    Ok(Some(ContainerMeta {
        id: st.id,
        name,
        image,
        image_id,
        image_digest,
        privileged,
        mounts: st
            .mounts
            .iter()
            .map(|m| MountMeta {
                source: m.host_path.clone(),
                dest: m.container_path.clone(),
                rw: !m.readonly,
                propagation: propagation(m.propagation).to_string(),
            })
            .collect(),
        labels: st.labels.into_iter().collect(),
        created_ns: u64::try_from(st.created_at).unwrap_or(0),
        pod,
        liveness_probe,
        readiness_probe,
    }))
}

async fn sandbox_lookup(
    rt: &mut RuntimeServiceClient<tonic::transport::Channel>,
    id: &str,
) -> Result<Option<ContainerMeta>, Status> {
    let r = match rt
        .pod_sandbox_status(runtime::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_string(),
            verbose: true,
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let info = r.info;
    Ok(r.status.map(|s| {
        let created_ns = u64::try_from(s.created_at).unwrap_or(0);
        let labels = s.labels.clone().into_iter().collect();
        let pod = pod_meta(s, &info);
        ContainerMeta {
            id: id.to_string(),
            name: pod.name.clone(),
            labels,
            created_ns,
            pod: Some(pod),
            ..Default::default()
        }
    }))
}

/// `id` in any containerd namespace but Kubernetes' (the CRI's) and
/// Docker's (`moby`, read through Docker's API): `Ok(None)` when none
/// holds it or the socket is not containerd's (CRI-O has no namespaces
/// service).
pub async fn containerd_find(
    ch: &tonic::transport::Channel,
    id: &str,
) -> Result<Option<ContainerMeta>, Status> {
    let mut c = namespaces::namespaces_client::NamespacesClient::new(ch.clone());
    let list = match c.list(namespaces::ListNamespacesRequest::default()).await {
        Ok(r) => r.into_inner().namespaces,
        Err(e) if e.code() == tonic::Code::Unimplemented || is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    for ns in list {
        if ns.name == K8S_NAMESPACE || ns.name == "moby" {
            continue;
        }
        if let Some(m) = containerd_lookup(ch, &ns.name, id).await? {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

/// A plain containerd container (started outside Kubernetes, e.g. by
/// `ctr run` or nerdctl) in namespace `ns`: name (nerdctl's name label,
/// else the id), image, labels, privileged from its OCI spec.
pub async fn containerd_lookup(
    ch: &tonic::transport::Channel,
    ns: &str,
    id: &str,
) -> Result<Option<ContainerMeta>, Status> {
    let mut c = containers::containers_client::ContainersClient::new(ch.clone());
    let mut req = tonic::Request::new(containers::GetContainerRequest { id: id.to_string() });
    let ns = ns
        .parse()
        .map_err(|_| Status::invalid_argument("bad namespace"))?;
    req.metadata_mut().insert("containerd-namespace", ns);
    let ctr = match c.get(req).await {
        Ok(r) => r.into_inner().container,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(ctr.map(|ctr| {
        let spec: serde_json::Value = ctr
            .spec
            .as_ref()
            .and_then(|a| serde_json::from_slice(&a.value).ok())
            .unwrap_or_default();
        // A privileged container has every capability in its bounding set.
        let privileged = spec["process"]["capabilities"]["bounding"]
            .as_array()
            .is_some_and(|caps| caps.iter().any(|c| c == "CAP_SYS_ADMIN") && caps.len() >= 38);
        let mounts = spec["mounts"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter(|m| m["type"] == "bind")
                    .map(|m| {
                        let opts: Vec<&str> = m["options"]
                            .as_array()
                            .map(|o| o.iter().filter_map(|x| x.as_str()).collect())
                            .unwrap_or_default();
                        MountMeta {
                            source: m["source"].as_str().unwrap_or_default().to_string(),
                            dest: m["destination"].as_str().unwrap_or_default().to_string(),
                            rw: !opts.contains(&"ro"),
                            propagation: opts
                                .iter()
                                .find(|o| {
                                    o.contains("private")
                                        || o.contains("slave")
                                        || o.contains("shared")
                                })
                                .map_or("rprivate", |s| s)
                                .to_string(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let name = ctr
            .labels
            .get("nerdctl/name")
            .cloned()
            .unwrap_or_else(|| ctr.id.clone());
        let created_ns = ctr.created_at.map_or(0, |t| {
            u64::try_from(t.seconds).unwrap_or(0) * 1_000_000_000
                + u64::try_from(t.nanos).unwrap_or(0)
        });
        ContainerMeta {
            id: ctr.id,
            name,
            image: ctr.image,
            privileged,
            mounts,
            labels: ctr.labels.into_iter().collect(),
            created_ns,
            ..Default::default()
        }
    }))
}

/// A container lifecycle event from a runtime's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// The container exists (created, or its task created): fetch it.
    Created {
        /// containerd namespace (`k8s.io` for CRI events).
        namespace: String,
        /// Full id.
        id: String,
    },
    /// The container is gone.
    Deleted {
        /// Full id.
        id: String,
    },
}

/// Which stream [`follow`] is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// CRI `GetContainerEvents` (containerd 1.7+, CRI-O).
    Cri,
    /// containerd's own event service (any containerd).
    Containerd,
}

/// Follows a runtime's container lifecycle: CRI `GetContainerEvents` when
/// the runtime implements it, else containerd's event service. Calls `on`
/// with each event until the stream ends (an error) or `on` returns false
/// (`Ok`). `started` is told which stream was opened, when its first
/// event arrives (containerd sends a stream's headers with its first
/// message).
pub async fn follow(
    ch: &tonic::transport::Channel,
    mut started: impl FnMut(StreamKind),
    mut on: impl FnMut(Lifecycle) -> bool,
) -> Result<(), Status> {
    let mut rt = RuntimeServiceClient::new(ch.clone());
    // No deadline on opening: a Go gRPC server sends a stream's headers
    // with its first message, so opening completes at the first event.
    let open = rt.get_container_events(runtime::GetEventsRequest {}).await;
    match open {
        Ok(s) => {
            started(StreamKind::Cri);
            let mut s = s.into_inner();
            while let Some(ev) = s.message().await? {
                use runtime::ContainerEventType as T;
                let l = match T::try_from(ev.container_event_type) {
                    Ok(T::ContainerCreatedEvent | T::ContainerStartedEvent) => Lifecycle::Created {
                        namespace: K8S_NAMESPACE.into(),
                        id: ev.container_id,
                    },
                    Ok(T::ContainerDeletedEvent) => Lifecycle::Deleted {
                        id: ev.container_id,
                    },
                    _ => continue,
                };
                if !on(l) {
                    return Ok(());
                }
            }
            Ok(())
        }
        Err(e) if e.code() == tonic::Code::Unimplemented => {
            let mut ev = events::events_client::EventsClient::new(ch.clone());
            let filters = ["/tasks/create", "/containers/delete"]
                .iter()
                .map(|t| format!("topic==\"{t}\""))
                .collect();
            let mut s = ev
                .subscribe(events::SubscribeRequest { filters })
                .await?
                .into_inner();
            started(StreamKind::Containerd);
            while let Some(env) = s.message().await? {
                let Some(any) = env.event else { continue };
                let l = match env.topic.as_str() {
                    "/tasks/create" => {
                        let Ok(t) = <events::TaskEvent as prost::Message>::decode(&any.value[..])
                        else {
                            continue;
                        };
                        Lifecycle::Created {
                            namespace: env.namespace,
                            id: t.container_id,
                        }
                    }
                    "/containers/delete" => {
                        let Ok(d) =
                            <events::ContainerDelete as prost::Message>::decode(&any.value[..])
                        else {
                            continue;
                        };
                        Lifecycle::Deleted { id: d.id }
                    }
                    _ => continue,
                };
                if !on(l) {
                    return Ok(());
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_info_of_containerd_and_crio() {
        let mut info = std::collections::HashMap::new();
        info.insert(
            "info".to_string(),
            r#"{"sandboxID":"abc","config":{"linux":{"security_context":{"privileged":true}}}}"#
                .to_string(),
        );
        assert_eq!(verbose_info(&info), (Some("abc".into()), true));
        info.insert(
            "info".to_string(),
            r#"{"sandboxID":"def","privileged":false}"#.to_string(),
        );
        assert_eq!(verbose_info(&info), (Some("def".into()), false));
        assert_eq!(verbose_info(&Default::default()), (None, false));
    }

    #[test]
    fn pod_from_sandbox_status() {
        let mut labels = std::collections::HashMap::new();
        labels.insert("app".to_string(), "web".to_string());
        labels.insert("io.kubernetes.pod.name".to_string(), "ignored".to_string());
        let p = pod_meta(
            runtime::PodSandboxStatus {
                id: "s1".into(),
                metadata: Some(runtime::PodSandboxMetadata {
                    name: "web-0".into(),
                    uid: "u-1".into(),
                    namespace: "prod".into(),
                    attempt: 0,
                }),
                labels,
                network: Some(runtime::PodSandboxNetworkStatus {
                    ip: "10.1.2.3".into(),
                    additional_ips: vec![],
                }),
                linux: Some(runtime::LinuxPodSandboxStatus {
                    namespaces: Some(runtime::Namespace {
                        options: Some(runtime::NamespaceOption {
                            network: runtime::NamespaceMode::Node as i32,
                            pid: runtime::NamespaceMode::Container as i32,
                            ipc: runtime::NamespaceMode::Node as i32,
                            target_id: String::new(),
                        }),
                    }),
                }),
                ..Default::default()
            },
            &Default::default(),
        );
        assert_eq!(
            (p.host_network, p.host_pid, p.host_ipc),
            (true, false, true)
        );
        assert_eq!(p.cni_result, "");
        assert_eq!(p.name, "web-0");
        assert_eq!(p.namespace, "prod");
        assert_eq!(p.uid, "u-1");
        assert_eq!(p.ip, "10.1.2.3");
        assert_eq!(p.sandbox_id, "s1");
        assert_eq!(p.labels.len(), 1);
        assert_eq!(p.labels["app"], "web");
    }

    /// The `info` of containerd 1.6's verbose PodSandboxStatus for a pod
    /// on a bridge network (trimmed: its runtimeSpec and config omitted).
    const CONTAINERD_SANDBOX_INFO: &str = r#"{"pid":4242,"processStatus":"running","netNamespaceClosed":false,"image":"registry.k8s.io/pause:3.6","snapshotKey":"0e5c","snapshotter":"overlayfs","runtimeHandler":"","runtimeType":"io.containerd.runc.v2","runtimeOptions":{},"config":{"metadata":{"name":"web-0","uid":"u-1","namespace":"prod"}},"cniResult":{"Interfaces":{"cni0":{"IPConfigs":null,"Mac":"0a:58:0a:f4:00:01","Sandbox":""},"eth0":{"IPConfigs":[{"IP":"10.244.0.5","Gateway":"10.244.0.1"}],"Mac":"ca:2e:11:4b:8c:d0","Sandbox":"/var/run/netns/cni-1a2b"},"lo":{"IPConfigs":[{"IP":"127.0.0.1","Gateway":""}],"Mac":"00:00:00:00:00:00","Sandbox":"/var/run/netns/cni-1a2b"},"vethb3c5a1f2":{"IPConfigs":null,"Mac":"6e:1d:70:aa:10:02","Sandbox":""}},"DNS":[{},{}],"Routes":[{"dst":"0.0.0.0/0"}]}}"#;

    #[test]
    fn cni_result_of_containerd_and_crio() {
        let mut info = std::collections::HashMap::new();
        info.insert("info".to_string(), CONTAINERD_SANDBOX_INFO.to_string());
        assert_eq!(
            cni_result(&info),
            r#"{"cni0":{"IPConfigs":null},"eth0":{"IPConfigs":[{"Gateway":"10.244.0.1","IP":"10.244.0.5"}]}}"#
        );
        // CRI-O: the plugin's result, as an annotation of the runtime spec.
        info.insert(
            "info".to_string(),
            r#"{"runtimeSpec":{"annotations":{"io.kubernetes.cri-o.CNIResult":"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.85.0.7/16\"}]}\n"}}}"#
                .to_string(),
        );
        assert_eq!(
            cni_result(&info),
            r#"{"cniVersion":"1.0.0","ips":[{"address":"10.85.0.7/16"}]}"#
        );
        // Host network: no CNI result.
        info.insert("info".to_string(), r#"{"pid":1,"config":{}}"#.to_string());
        assert_eq!(cni_result(&info), "");
        assert_eq!(cni_result(&Default::default()), "");
    }

    #[test]
    fn probes_from_the_last_applied_pod_spec() {
        let doc = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{},"name":"web-0","namespace":"prod"},"spec":{"containers":[{"image":"nginx:1.25","name":"proxy","readinessProbe":{"httpGet":{"path":"/","port":80}}},{"image":"app:2","livenessProbe":{"exec":{"command":["cat","/tmp/healthy"]},"initialDelaySeconds":5,"periodSeconds":5},"name":"app","readinessProbe":{"exec":{"command":["/bin/sh","-c","test -e /tmp/ready"]}}}]}}"#;
        assert_eq!(
            probes_from_last_applied(doc, "app"),
            (
                Some(vec!["cat".to_string(), "/tmp/healthy".to_string()]),
                Some(vec![
                    "/bin/sh".to_string(),
                    "-c".to_string(),
                    "test -e /tmp/ready".to_string()
                ])
            )
        );
        // An HTTP probe runs no process.
        assert_eq!(probes_from_last_applied(doc, "proxy"), (None, None));
        assert_eq!(probes_from_last_applied(doc, "nosuch"), (None, None));
        assert_eq!(probes_from_last_applied("{", "app"), (None, None));
    }

    #[test]
    fn propagation_names() {
        assert_eq!(propagation(0), "private");
        assert_eq!(propagation(1), "rslave");
        assert_eq!(propagation(2), "rshared");
        assert_eq!(propagation(99), "unknown");
    }
}
