//! Real containerd through the CRI, end to end (root): each test starts its
//! own `containerd` (its own root, state and socket, the CRI plugin on),
//! imports images made from busybox-static (an application image and a
//! pause image for the sandboxes; no registry), and drives it as a kubelet
//! does (kestrel_cri::kubelet: RunPodSandbox with Kubernetes metadata and
//! labels, CreateContainer, StartContainer, Exec, ExecSync) while a real
//! kestrel daemon watches with its default rules.
//!
//! What it shows (issue: real containers and Kubernetes):
//! - an alert from a process in a pod carries `k8s.pod.name`,
//!   `k8s.ns.name`, the pod's labels and uid from the CRI sandbox, and the
//!   container's name and image, from its first event; with the event
//!   stream (containerd 1.6 has no CRI event stream: its own event service
//!   is followed) and with the synchronous lookup alone;
//! - an exec with a tty (what `kubectl exec -it` asks for, through the
//!   runtime's streaming server) raises "Terminal Shell in Container", and
//!   Falco's "Terminal shell in container" fires on it too; an exec
//!   without one (ExecSync) is visible as "Exec Session in Container";
//! - removed pods leave the metadata cache;
//! - a containerd restart is survived: the event stream is lost (counted as
//!   a gap), followed again, and pods started afterwards alert with their
//!   metadata.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{container_alert, field, nonce, require_root, serial, short_id, Daemon, DaemonOpts};
use kestrel_cri::kubelet::{ContainerSpec, Kubelet, PodSpec};
use serde_json::Value;

const IMAGE: &str = "kestrel.local/busybox:1.0";
const PAUSE: &str = "kestrel.local/pause:1.0";

/// A containerd of the test's own, with the pods it started.
struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
    sock: PathBuf,
    kubelet: Kubelet,
    pods: std::cell::RefCell<Vec<String>>,
}

impl Containerd {
    fn start() -> Containerd {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("kestrel-containerd")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let d = dir.path();
        let sock = d.join("containerd.sock");
        let config = d.join("config.toml");
        // restrict_oom_score_adj: this VM does not let runc lower a
        // process's OOM score below its parent's, which the sandbox asks
        // for (-998). Pods use the node's network, so no CNI is needed.
        std::fs::write(
            &config,
            format!(
                r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    conf_dir = "{cni}"
"#,
                root = d.join("root").display(),
                state = d.join("state").display(),
                sock = sock.display(),
                cni = d.join("cni").display(),
            ),
        )
        .expect("write containerd config");
        let child = spawn_containerd(d, &config);
        let kubelet = Kubelet::new(&sock).expect("CRI client");
        let c = Containerd {
            child,
            dir,
            sock,
            kubelet,
            pods: Default::default(),
        };
        c.wait_ready();
        c.import_images();
        c
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.sock.exists() && self.kubelet.version().is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not answer within 60 s; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops containerd (SIGTERM; running containers keep running under
    /// their shims, as on a node whose runtime is upgraded) and starts it
    /// again on the same state.
    fn restart(&mut self) {
        common::stop_runtime("containerd", &mut self.child);
        eprintln!("containerd stopped; starting it again");
        self.child = spawn_containerd(self.dir.path(), &self.dir.path().join("config.toml"));
        self.wait_ready();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The test images, as Docker image archives (`docker save` layout)
    /// built from a busybox-static root filesystem and imported with
    /// `ctr images import` into the Kubernetes namespace.
    fn import_images(&self) {
        self.import_images_into("k8s.io");
    }

    /// The test images imported into containerd namespace `ns`.
    fn import_images_into(&self, ns: &str) {
        let img = self.dir.path().join(format!("img-{ns}"));
        std::fs::create_dir_all(&img).expect("mkdir");
        let rootfs = common::busybox_rootfs_tar(&img, &["sh", "cat", "ls", "sleep", "id", "true"]);
        std::fs::rename(&rootfs, img.join("layer.tar")).expect("rename");
        let sum = Command::new("sha256sum")
            .arg(img.join("layer.tar"))
            .output()
            .expect("sha256sum");
        let diff_id = String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .expect("digest")
            .to_string();
        for (name, entry) in [
            (IMAGE, r#"["/bin/sh"]"#),
            (PAUSE, r#"["/bin/sleep","2147483647"]"#),
        ] {
            std::fs::write(
                img.join("config.json"),
                format!(
                    r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/bin"],"Entrypoint":{entry},"WorkingDir":"/"}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}}}}"#
                ),
            )
            .unwrap();
            std::fs::write(
                img.join("manifest.json"),
                format!(
                    r#"[{{"Config":"config.json","RepoTags":["{name}"],"Layers":["layer.tar"]}}]"#
                ),
            )
            .unwrap();
            let tar = img.join("image.tar");
            common::run_ok(
                Command::new("tar")
                    .arg("-C")
                    .arg(&img)
                    .arg("-cf")
                    .arg(&tar)
                    .args(["manifest.json", "config.json", "layer.tar"]),
            );
            let o = Command::new("ctr")
                .arg("-a")
                .arg(&self.sock)
                .args(["-n", ns, "images", "import"])
                .arg(&tar)
                .output()
                .expect("run ctr");
            assert!(
                o.status.success(),
                "ctr images import {name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }

    /// A kestrel configuration that reads this containerd through the CRI
    /// (and no other runtime), with the event stream on or off.
    fn kestrel_config(&self, events: bool) -> PathBuf {
        common::runtime_config(self.dir.path(), "cri", &self.sock, events)
    }

    /// A pod in namespace `ns` with label app=`app`, on the node's network,
    /// in the cgroup a kubelet with the cgroupfs driver gives a
    /// best-effort pod; its spec and sandbox id.
    fn pod(&self, name: &str, ns: &str, app: &str) -> (PodSpec, String) {
        let uid = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            nonce_n()
        );
        let spec = PodSpec {
            name: name.to_string(),
            namespace: ns.to_string(),
            uid: uid.clone(),
            labels: vec![
                ("app".into(), app.into()),
                ("tier".into(), "backend".into()),
            ],
            cgroup_parent: format!("/kubepods/besteffort/pod{uid}"),
            host_network: true,
            // As `kubectl apply` leaves it: the pod spec, with a liveness
            // probe for a container named "reader".
            annotations: vec![(
                kestrel_cri::LAST_APPLIED_ANNOTATION.into(),
                format!(
                    r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"{ns}"}},"spec":{{"containers":[{{"name":"reader","image":"{IMAGE}","livenessProbe":{{"exec":{{"command":["cat","/tmp/healthy"]}},"periodSeconds":5}}}}]}}}}"#
                ),
            )],
        };
        let sb = self
            .kubelet
            .run_pod(&spec)
            .unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", self.log()));
        self.pods.borrow_mut().push(sb.clone());
        (spec, sb)
    }

    /// Creates and starts a container `name` running `cmd` in the pod.
    fn container(&self, pod: &(PodSpec, String), name: &str, cmd: &[&str]) -> String {
        let id = self
            .kubelet
            .create_container(
                &pod.1,
                &pod.0,
                &ContainerSpec {
                    name: name.to_string(),
                    image: IMAGE.to_string(),
                    command: cmd.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                },
            )
            .unwrap_or_else(|e| panic!("CreateContainer: {e}\n{}", self.log()));
        self.kubelet
            .start_container(&id)
            .unwrap_or_else(|e| panic!("StartContainer: {e}\n{}", self.log()));
        id
    }

    fn remove_pod(&self, sb: &str) {
        self.kubelet
            .remove_pod(sb)
            .unwrap_or_else(|e| panic!("remove pod {sb}: {e}"));
        self.pods.borrow_mut().retain(|p| p != sb);
    }
}

fn spawn_containerd(dir: &Path, config: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("containerd.log"))
        .expect("log file");
    Command::new("containerd")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn containerd (apt-get install containerd)")
}

fn nonce_n() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (t << 8) ^ N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Pods first (their tasks and shims end), then the daemon.
        for sb in self.pods.borrow().iter() {
            if let Err(e) = self.kubelet.remove_pod(sb) {
                eprintln!("clean-up: remove pod {sb}: {e}");
            }
        }
        common::stop_runtime("containerd", &mut self.child);
    }
}

fn kestrel(c: &Containerd, events: bool, rules: Vec<PathBuf>, options: Vec<String>) -> Daemon {
    Daemon::start_with(DaemonOpts {
        rules,
        options,
        config: Some(c.kestrel_config(events)),
        ..DaemonOpts::default()
    })
}

/// A rule beside the defaults that prints every pod field.
fn pod_fields_rule(dir: &Path) -> PathBuf {
    let p = dir.join("pod-fields.yaml");
    std::fs::write(
        &p,
        "- rule: Shadow Read in Labelled Pod (test)\n  desc: t\n  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and k8s.pod.label[app] exists\n  output: >\n    shadow read in pod (pod=%k8s.pod.name ns=%k8s.ns.name uid=%k8s.pod.uid app=%k8s.pod.label[app]\n    labels=%k8s.pod.labels sandbox=%k8s.pod.sandbox_id full_sandbox=%k8s.pod.full_sandbox_id\n    type=%container.type image=%container.image image_id=%container.image.id\n    host_network=%container.host_network host_pid=%container.host_pid host_ipc=%container.host_ipc\n    liveness=%container.liveness_probe readiness=%container.readiness_probe cni=%k8s.pod.cni.json)\n  priority: WARNING\n",
    )
    .unwrap();
    p
}

fn shadow_read_in_a_pod(events: bool) {
    let _g = serial();
    let c = Containerd::start();
    let d = kestrel(
        &c,
        events,
        vec![common::default_rules(), pod_fields_rule(c.dir.path())],
        vec!["rule_matching=all".into()],
    );
    let ns = nonce("shop");
    let pod = c.pod("web-0", &ns, "web");
    // A short-lived container: its first and only process reads the file.
    let id = c.container(&pod, "reader", &["/bin/cat", "/etc/shadow"]);
    let a = container_alert(&d, "Read Sensitive File", &id, |a| {
        field(a, "fd.name") == "/etc/shadow"
    });
    assert_eq!(field(&a, "k8s.pod.name"), "web-0", "{a}");
    assert_eq!(field(&a, "k8s.ns.name"), ns.as_str(), "{a}");
    assert_eq!(field(&a, "container.name"), "reader", "{a}");
    assert_eq!(
        field(&a, "container.image.repository"),
        "kestrel.local/busybox",
        "{a}"
    );
    assert_eq!(field(&a, "container.image.tag"), "1.0", "{a}");
    assert_eq!(field(&a, "proc.name"), "cat", "{a}");

    let b = container_alert(&d, "Shadow Read in Labelled Pod (test)", &id, |_| true);
    assert_eq!(field(&b, "k8s.pod.uid"), pod.0.uid.as_str(), "{b}");
    assert_eq!(field(&b, "k8s.pod.label[app]"), "web", "{b}");
    assert_eq!(field(&b, "k8s.pod.labels"), "app:web, tier:backend", "{b}");
    assert_eq!(field(&b, "k8s.pod.sandbox_id"), short_id(&pod.1), "{b}");
    assert_eq!(field(&b, "k8s.pod.full_sandbox_id"), pod.1.as_str(), "{b}");
    assert_eq!(field(&b, "container.type"), "containerd", "{b}");
    // The pod's namespace options: the node's network, its own PID and IPC.
    assert_eq!(field(&b, "container.host_network"), true, "{b}");
    assert_eq!(field(&b, "container.host_pid"), false, "{b}");
    assert_eq!(field(&b, "container.host_ipc"), false, "{b}");
    assert_eq!(
        field(&b, "container.liveness_probe"),
        "cat /tmp/healthy",
        "{b}"
    );
    assert_eq!(field(&b, "container.readiness_probe"), "NONE", "{b}");
    // On the node's network: no CNI result.
    assert_eq!(field(&b, "k8s.pod.cni.json"), "", "{b}");
    assert_eq!(field(&b, "container.image"), IMAGE, "{b}");
    assert_eq!(
        field(&b, "container.image.id").as_str().map(str::len),
        Some(64),
        "{b}"
    );

    let m = d.metrics();
    if events {
        assert!(m.sum("kestrel_container_stream_events_total", &[]) >= 1.0);
    } else {
        assert_eq!(m.sum("kestrel_container_stream_events_total", &[]), 0.0);
        assert!(m.sum("kestrel_container_lookup_waits_total", &[]) >= 1.0);
    }
    assert_eq!(m.sum("kestrel_container_lookup_timeouts_total", &[]), 0.0);
    d.stop();
}

#[test]
fn pod_alert_has_pod_name_and_namespace_from_the_sandbox_via_the_event_stream() {
    shadow_read_in_a_pod(true);
}

#[test]
fn pod_alert_has_pod_name_and_namespace_from_the_sandbox_via_the_synchronous_lookup() {
    shadow_read_in_a_pod(false);
}

#[test]
fn cri_exec_with_a_tty_alerts_and_exec_sync_is_visible() {
    let _g = serial();
    let c = Containerd::start();
    let d = kestrel(&c, true, common::default_rules_with_audit(), Vec::new());
    let ns = nonce("ops");
    let pod = c.pod("api-0", &ns, "api");
    let id = c.container(&pod, "api", &["/bin/sleep", "600"]);
    // What kubectl exec -it asks for: a shell with a terminal, typed into.
    let out = c
        .kubelet
        .exec_tty(
            &id,
            &["sh"],
            b"echo typed-$((6*7)); exit\n",
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("exec -it: {e}\n{}", c.log()));
    assert!(
        String::from_utf8_lossy(&out).contains("typed-42"),
        "the shell did not run what was typed: {:?}",
        String::from_utf8_lossy(&out)
    );
    let a = container_alert(&d, "Terminal Shell in Container", &id, |_| true);
    assert_eq!(field(&a, "proc.name"), "sh", "{a}");
    assert_ne!(field(&a, "proc.tty"), &Value::from(0), "{a}");
    assert_eq!(field(&a, "k8s.pod.name"), "api-0", "{a}");
    assert_eq!(field(&a, "k8s.ns.name"), ns.as_str(), "{a}");
    assert_eq!(field(&a, "container.name"), "api", "{a}");

    // Without a terminal (ExecSync, as probes and kubectl exec without -t).
    let r = c
        .kubelet
        .exec_sync(&id, &["ls", "/"], Duration::from_secs(10))
        .expect("ExecSync");
    assert_eq!(r.exit_code, 0);
    let b = container_alert(&d, "Exec Session in Container", &id, |a| {
        field(a, "proc.name") == "ls"
    });
    assert_eq!(field(&b, "k8s.pod.name"), "api-0", "{b}");
    d.stop();
}

#[test]
fn falco_terminal_shell_rule_fires_on_cri_exec() {
    let _g = serial();
    let c = Containerd::start();
    let d = kestrel(&c, true, vec![common::falco_rules()], Vec::new());
    let ns = nonce("falco");
    let pod = c.pod("shell-0", &ns, "shell");
    let id = c.container(&pod, "main", &["/bin/sleep", "600"]);
    c.kubelet
        .exec_tty(&id, &["sh"], b"exit\n", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("exec -it: {e}\n{}", c.log()));
    let a = container_alert(&d, "Terminal shell in container", &id, |_| true);
    assert_eq!(field(&a, "container.name"), "main", "{a}");
    assert_eq!(field(&a, "k8s.pod.name"), "shell-0", "{a}");
    assert_eq!(field(&a, "k8s.ns.name"), ns.as_str(), "{a}");
    d.stop();
}

#[test]
fn removed_pods_leave_the_metadata_cache() {
    let _g = serial();
    let c = Containerd::start();
    let d = kestrel(
        &c,
        true,
        Vec::new(),
        vec!["container_engines.evict_after_s=1".into()],
    );
    let n = 3;
    for i in 0..n {
        let pod = c.pod(&format!("churn-{i}"), "churn", "churn");
        let id = c.container(&pod, "main", &["/bin/cat", "/etc/shadow"]);
        container_alert(&d, "Read Sensitive File", &id, |_| true);
        c.remove_pod(&pod.1);
    }
    // Each pod is two containerd containers: the sandbox and "main".
    common::wait_container_cache_empty(&d, 2 * n);
    d.stop();
}

#[test]
fn containerd_restart_is_survived_and_counted() {
    let _g = serial();
    let mut c = Containerd::start();
    let d = kestrel(&c, true, Vec::new(), Vec::new());
    let before = c.pod("before-0", "restart", "before");
    let id = c.container(&before, "main", &["/bin/cat", "/etc/shadow"]);
    container_alert(&d, "Read Sensitive File", &id, |a| {
        field(a, "k8s.pod.name") == "before-0"
    });
    let m = d.metrics();
    let gaps0 = m.sum("kestrel_container_stream_gaps_total", &[]);
    let events0 = m.sum("kestrel_container_stream_events_total", &[]);

    c.restart();
    // The stream's end is a gap; the stream is followed again.
    let gaps = common::wait_metric_above(
        &d,
        "kestrel_container_stream_gaps_total",
        gaps0,
        "the lost stream was not counted",
    );
    // The stream is dialled again a second after it was lost; what the
    // runtime reports before that is the gap (the lookup covers it).
    std::thread::sleep(Duration::from_millis(2500));
    let after = c.pod("after-0", "restart", "after");
    let id = c.container(&after, "main", &["/bin/cat", "/etc/shadow"]);
    let a = container_alert(&d, "Read Sensitive File", &id, |_| true);
    assert_eq!(field(&a, "k8s.pod.name"), "after-0", "{a}");
    assert_eq!(field(&a, "container.name"), "main", "{a}");
    let events = common::wait_metric_above(
        &d,
        "kestrel_container_stream_events_total",
        events0,
        "no stream event after the restart: the stream was not followed again",
    );
    eprintln!(
        "gaps {gaps0} -> {gaps}, stream events {events0} -> {events}, lookup waits {}",
        d.metrics().sum("kestrel_container_lookup_waits_total", &[]),
    );
    d.stop();
}

/// `ctr run` of a container with a nerdctl-style name label in namespace
/// `ns` of this containerd, removed when it exits; `id` is its full id.
fn ctr_run(c: &Containerd, ns: &str, id: &str, name: &str, cmd: &[&str]) {
    let o = Command::new("ctr")
        .arg("-a")
        .arg(&c.sock)
        .args(["-n", ns, "run", "--rm", "--label"])
        .arg(format!("nerdctl/name={name}"))
        .args([IMAGE, id])
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("run ctr");
    assert!(
        o.status.success(),
        "ctr run: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        c.log()
    );
}

#[test]
fn ctr_run_container_outside_kubernetes_alerts_with_name_and_image() {
    let _g = serial();
    let c = Containerd::start();
    let ns = "kestrel-test";
    c.import_images_into(ns);
    for events in [true, false] {
        let d = kestrel(&c, events, Vec::new(), Vec::new());
        // containerd's own ids are free-form; kestrel knows a container in
        // a containerd namespace's cgroup (/<ns>/<id>) by a 64-hex id, as
        // nerdctl makes them.
        let id = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            nonce_n(),
            nonce_n(),
            nonce_n(),
            nonce_n()
        );
        let name = nonce("ctr");
        ctr_run(&c, ns, &id, &name, &["/bin/cat", "/etc/shadow"]);
        let a = container_alert(&d, "Read Sensitive File", &id, |_| true);
        assert_eq!(field(&a, "container.id"), short_id(&id), "{a}");
        assert_eq!(
            field(&a, "container.name"),
            name.as_str(),
            "{a}\n{}",
            d.stderr()
        );
        assert_eq!(
            field(&a, "container.image.repository"),
            "kestrel.local/busybox",
            "{a}"
        );
        assert_eq!(field(&a, "container.image.tag"), "1.0", "{a}");
        // No pod: the Kubernetes fields are missing, not guessed.
        assert!(field(&a, "k8s.pod.name").is_null(), "{a}");
        let m = d.metrics();
        eprintln!(
            "events {events}: stream events {}, lookups {}, waits {}",
            m.sum("kestrel_container_stream_events_total", &[]),
            m.sum("kestrel_container_lookups_total", &[]),
            m.sum("kestrel_container_lookup_waits_total", &[]),
        );
        d.stop();
    }
}
