//! A small CRI client that does what a kubelet does to run a pod: run a
//! pod sandbox with Kubernetes metadata and labels, create and start
//! containers in it, exec into them (with a tty through the runtime's
//! streaming server, as `kubectl exec -it` does, or synchronously), and
//! tear it all down. kestrel's tests drive real containerd with it; crictl
//! is not packaged by Debian.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::runtime::{self, runtime_service_client::RuntimeServiceClient};
use crate::Status;

/// A pod to run.
#[derive(Debug, Clone, Default)]
pub struct PodSpec {
    /// Pod name (`metadata.name`).
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Pod uid.
    pub uid: String,
    /// Pod labels (the kubelet adds its `io.kubernetes.pod.*` labels).
    pub labels: Vec<(String, String)>,
    /// Parent cgroup of the pod (`/kubepods/besteffort/pod<uid>` with the
    /// cgroupfs driver).
    pub cgroup_parent: String,
    /// Share the node's network namespace (no CNI needed).
    pub host_network: bool,
    /// Pod annotations (`kubectl.kubernetes.io/last-applied-configuration`,
    /// ...), passed to the runtime as a kubelet does.
    pub annotations: Vec<(String, String)>,
}

impl PodSpec {
    fn config(&self) -> runtime::PodSandboxConfig {
        let mut labels: HashMap<String, String> = self.labels.iter().cloned().collect();
        labels.insert("io.kubernetes.pod.name".into(), self.name.clone());
        labels.insert("io.kubernetes.pod.namespace".into(), self.namespace.clone());
        labels.insert("io.kubernetes.pod.uid".into(), self.uid.clone());
        let network = if self.host_network {
            runtime::NamespaceMode::Node
        } else {
            runtime::NamespaceMode::Pod
        };
        runtime::PodSandboxConfig {
            metadata: Some(runtime::PodSandboxMetadata {
                name: self.name.clone(),
                uid: self.uid.clone(),
                namespace: self.namespace.clone(),
                attempt: 0,
            }),
            // A pod on the node's network has the node's hostname.
            hostname: if self.host_network {
                String::new()
            } else {
                self.name.clone()
            },
            labels,
            annotations: self.annotations.iter().cloned().collect(),
            linux: Some(runtime::LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.clone(),
                security_context: Some(runtime::LinuxSandboxSecurityContext {
                    namespace_options: Some(runtime::NamespaceOption {
                        network: network as i32,
                        pid: runtime::NamespaceMode::Container as i32,
                        ipc: runtime::NamespaceMode::Pod as i32,
                        target_id: String::new(),
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }
}

/// A container to create in a pod.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Name in the pod.
    pub name: String,
    /// Image reference (must be present in the runtime's store).
    pub image: String,
    /// Entry point and arguments.
    pub command: Vec<String>,
    /// Labels.
    pub labels: Vec<(String, String)>,
    /// Run privileged.
    pub privileged: bool,
    /// Capabilities to add (`SYS_ADMIN`, ...).
    pub add_capabilities: Vec<String>,
}

/// The kubelet-like client, blocking (it owns a small tokio runtime).
pub struct Kubelet {
    rt: tokio::runtime::Runtime,
    ch: tonic::transport::Channel,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet").finish_non_exhaustive()
    }
}

impl Kubelet {
    /// A client of the CRI socket `socket` (connected at the first call).
    pub fn new(socket: &Path) -> std::io::Result<Kubelet> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let ch = {
            let _g = rt.enter();
            crate::channel(socket, Some(Duration::from_secs(60)))
        };
        Ok(Kubelet { rt, ch })
    }

    fn client(&self) -> RuntimeServiceClient<tonic::transport::Channel> {
        RuntimeServiceClient::new(self.ch.clone())
    }

    /// The runtime's name and versions.
    pub fn version(&self) -> Result<runtime::VersionResponse, Status> {
        self.rt.block_on(async {
            self.client()
                .version(runtime::VersionRequest {
                    version: "v1".into(),
                })
                .await
                .map(|r| r.into_inner())
        })
    }

    /// Runs a pod sandbox; its id.
    pub fn run_pod(&self, pod: &PodSpec) -> Result<String, Status> {
        self.rt.block_on(async {
            self.client()
                .run_pod_sandbox(runtime::RunPodSandboxRequest {
                    config: Some(pod.config()),
                    runtime_handler: String::new(),
                })
                .await
                .map(|r| r.into_inner().pod_sandbox_id)
        })
    }

    /// Creates a container in the pod's sandbox; its id.
    pub fn create_container(
        &self,
        sandbox: &str,
        pod: &PodSpec,
        c: &ContainerSpec,
    ) -> Result<String, Status> {
        let mut labels: HashMap<String, String> = c.labels.iter().cloned().collect();
        labels.insert("io.kubernetes.pod.name".into(), pod.name.clone());
        labels.insert("io.kubernetes.pod.namespace".into(), pod.namespace.clone());
        labels.insert("io.kubernetes.pod.uid".into(), pod.uid.clone());
        labels.insert("io.kubernetes.container.name".into(), c.name.clone());
        let config = runtime::ContainerConfig {
            metadata: Some(runtime::ContainerMetadata {
                name: c.name.clone(),
                attempt: 0,
            }),
            image: Some(runtime::ImageSpec {
                image: c.image.clone(),
                ..Default::default()
            }),
            command: c.command.clone(),
            labels,
            linux: Some(runtime::LinuxContainerConfig {
                security_context: Some(runtime::LinuxContainerSecurityContext {
                    privileged: c.privileged,
                    capabilities: (!c.add_capabilities.is_empty()).then(|| runtime::Capability {
                        add_capabilities: c.add_capabilities.clone(),
                        drop_capabilities: vec![],
                    }),
                    namespace_options: Some(runtime::NamespaceOption {
                        network: if pod.host_network {
                            runtime::NamespaceMode::Node as i32
                        } else {
                            runtime::NamespaceMode::Pod as i32
                        },
                        pid: runtime::NamespaceMode::Container as i32,
                        ipc: runtime::NamespaceMode::Pod as i32,
                        target_id: String::new(),
                    }),
                    run_as_user: None,
                }),
            }),
            ..Default::default()
        };
        self.rt.block_on(async {
            self.client()
                .create_container(runtime::CreateContainerRequest {
                    pod_sandbox_id: sandbox.to_string(),
                    config: Some(config),
                    sandbox_config: Some(pod.config()),
                })
                .await
                .map(|r| r.into_inner().container_id)
        })
    }

    /// Starts a created container.
    pub fn start_container(&self, id: &str) -> Result<(), Status> {
        self.rt.block_on(async {
            self.client()
                .start_container(runtime::StartContainerRequest {
                    container_id: id.to_string(),
                })
                .await
                .map(|_| ())
        })
    }

    /// A container's status (verbose).
    pub fn container_status(&self, id: &str) -> Result<runtime::ContainerStatusResponse, Status> {
        self.rt.block_on(async {
            self.client()
                .container_status(runtime::ContainerStatusRequest {
                    container_id: id.to_string(),
                    verbose: true,
                })
                .await
                .map(|r| r.into_inner())
        })
    }

    /// Runs `cmd` in the container without a tty and waits for it.
    pub fn exec_sync(
        &self,
        id: &str,
        cmd: &[&str],
        timeout: Duration,
    ) -> Result<runtime::ExecSyncResponse, Status> {
        self.rt.block_on(async {
            self.client()
                .exec_sync(runtime::ExecSyncRequest {
                    container_id: id.to_string(),
                    cmd: cmd.iter().map(|s| s.to_string()).collect(),
                    timeout: timeout.as_secs() as i64,
                })
                .await
                .map(|r| r.into_inner())
        })
    }

    /// Runs `cmd` in the container with a tty and stdin, as
    /// `kubectl exec -it` does: asks the runtime for an exec session, opens
    /// it on the runtime's streaming server (WebSocket, Kubernetes'
    /// `channel.k8s.io` framing), types `input`, and returns what the
    /// terminal showed when the session ends or `timeout` passes.
    pub fn exec_tty(
        &self,
        id: &str,
        cmd: &[&str],
        input: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, Status> {
        let url = self.rt.block_on(async {
            self.client()
                .exec(runtime::ExecRequest {
                    container_id: id.to_string(),
                    cmd: cmd.iter().map(|s| s.to_string()).collect(),
                    tty: true,
                    stdin: true,
                    stdout: true,
                    stderr: false,
                })
                .await
                .map(|r| r.into_inner().url)
        })?;
        stream_session(&url, input, timeout)
            .map_err(|e| Status::unavailable(format!("exec stream {url}: {e}")))
    }

    /// Stops a container (`timeout` seconds before SIGKILL).
    pub fn stop_container(&self, id: &str, timeout: i64) -> Result<(), Status> {
        self.rt.block_on(async {
            self.client()
                .stop_container(runtime::StopContainerRequest {
                    container_id: id.to_string(),
                    timeout,
                })
                .await
                .map(|_| ())
        })
    }

    /// Removes a container.
    pub fn remove_container(&self, id: &str) -> Result<(), Status> {
        self.rt.block_on(async {
            self.client()
                .remove_container(runtime::RemoveContainerRequest {
                    container_id: id.to_string(),
                })
                .await
                .map(|_| ())
        })
    }

    /// Stops and removes a pod sandbox and its containers. Stopping is
    /// retried, as a kubelet does: containerd 1.6 can fail it when a
    /// container exits while being stopped ("ttrpc: closed").
    pub fn remove_pod(&self, sandbox: &str) -> Result<(), Status> {
        self.rt.block_on(async {
            let mut c = self.client();
            let mut attempt = 0;
            loop {
                attempt += 1;
                match c
                    .stop_pod_sandbox(runtime::StopPodSandboxRequest {
                        pod_sandbox_id: sandbox.to_string(),
                    })
                    .await
                {
                    Ok(_) => break,
                    Err(e) if attempt < 5 => {
                        eprintln!("StopPodSandbox {sandbox} (attempt {attempt}): {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            c.remove_pod_sandbox(runtime::RemovePodSandboxRequest {
                pod_sandbox_id: sandbox.to_string(),
            })
            .await
            .map(|_| ())
        })
    }
}

/// One WebSocket frame to the server (clients mask their frames).
fn ws_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one server frame: (opcode, payload). `None` at end of stream.
fn ws_read(s: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 2];
    match s.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut len = u64::from(h[1] & 0x7f);
    if len == 126 {
        let mut b = [0u8; 2];
        s.read_exact(&mut b)?;
        len = u64::from(u16::from_be_bytes(b));
    } else if len == 127 {
        let mut b = [0u8; 8];
        s.read_exact(&mut b)?;
        len = u64::from_be_bytes(b);
    }
    if len > 16 << 20 {
        return Err(std::io::Error::other("websocket frame too large"));
    }
    let mut mask = [0u8; 4];
    if h[1] & 0x80 != 0 {
        s.read_exact(&mut mask)?;
    }
    let mut p = vec![0u8; len as usize];
    s.read_exact(&mut p)?;
    if h[1] & 0x80 != 0 {
        for (i, b) in p.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok(Some((h[0] & 0x0f, p)))
}

/// Opens an exec session URL (`http://host:port/exec/<token>`) over
/// WebSocket, sends `input` on the stdin channel once the session is
/// open, and collects the stdout channel until the server closes.
fn stream_session(url: &str, input: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// exec URLs are supported"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: a2VzdHJlbC1leGVjLXRlc3Q=\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: channel.k8s.io\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    // The 101 response head, byte by byte so no frame is swallowed.
    let deadline = Instant::now() + timeout;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Ok(0) => return Err(bad("exec stream closed during the handshake")),
            Ok(_) => head.push(b[0]),
            Err(e) if is_timeout(&e) && Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
    }
    let status = String::from_utf8_lossy(&head);
    if !status.starts_with("HTTP/1.1 101") {
        return Err(bad(&format!(
            "exec stream refused: {}",
            status.lines().next().unwrap_or("")
        )));
    }
    let mut out = Vec::new();
    let mut sent = false;
    let opened = Instant::now();
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if Instant::now() >= deadline {
            return Ok(out);
        }
        // Type once the shell has had a moment to start.
        if !sent && opened.elapsed() > Duration::from_millis(500) {
            let mut p = vec![0u8]; // channel 0: stdin
            p.extend_from_slice(input);
            s.write_all(&ws_frame(0x2, &p, [0x5a, 0x13, 0xc7, 0x81]))?;
            sent = true;
        }
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(e),
        }
        // Parse whole frames out of `pending`.
        loop {
            let mut cur = std::io::Cursor::new(&pending[..]);
            match ws_read(&mut cur) {
                Ok(Some((op, p))) => {
                    let used = cur.position() as usize;
                    pending.drain(..used);
                    match op {
                        0x8 => return Ok(out),
                        0x1 | 0x2 if p.first() == Some(&1) => out.extend_from_slice(&p[1..]),
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_frames_round_trip() {
        let f = ws_frame(0x2, b"\x00ls\n", [1, 2, 3, 4]);
        assert_eq!(f[0], 0x82);
        assert_eq!(f[1], 0x80 | 4);
        let mut c = std::io::Cursor::new(&f[..]);
        let (op, p) = ws_read(&mut c).unwrap().unwrap();
        assert_eq!(op, 2);
        assert_eq!(p, b"\x00ls\n");
        let big = vec![7u8; 300];
        let f = ws_frame(0x2, &big, [9, 9, 9, 9]);
        assert_eq!(f[1], 0x80 | 126);
        let (_, p) = ws_read(&mut std::io::Cursor::new(&f[..])).unwrap().unwrap();
        assert_eq!(p, big);
        assert!(ws_read(&mut std::io::Cursor::new(&[][..]))
            .unwrap()
            .is_none());
    }
}
