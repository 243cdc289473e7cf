//! Real Docker, end to end (root): each test binary starts its own `dockerd`
//! (its own data root, exec root and socket; dockerd starts its own
//! containerd and runs containers with runc), imports an image made from
//! busybox-static, and runs real containers while a real kestrel daemon
//! watches with its default rules.
//!
//! What it shows (issue: real containers):
//! - a short-lived `docker run --rm IMG cat /etc/shadow` alerts with the
//!   container's name and image from its first event, both when the
//!   metadata comes from the runtime's event stream (fetched at `create`)
//!   and when it comes from the bounded synchronous lookup alone (event
//!   stream off);
//! - `docker exec -it C sh` (a shell with a terminal whose parent is the
//!   runtime's entry point) alerts, Falco's "Terminal shell in container"
//!   fires on it too, and a non-interactive `docker exec` is visible;
//! - a privileged container's escalation tool alerts, with
//!   `container.privileged` from the runtime (falling back to
//!   `--cap-add SYS_ADMIN`, said on stderr, where `--privileged` is refused);
//! - a container run with a health check, host network and IPC and a
//!   read-only bind mount has these in its fields, and its health check
//!   process is told from its own processes running the same command;
//! - destroyed containers' metadata is evicted;
//! - a dockerd restart is survived: the lost event stream is counted as a
//!   gap, followed again, and later containers alert with their metadata.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{container_alert, field, nonce, rule_of, serial, short_id, Daemon, DaemonOpts};
use serde_json::Value;

use common::docker::{docker_cli, Dockerd, IMAGE};

/// `docker create` + `docker start -a`: the id is known before the
/// container runs, and the container is removed when it exits (--rm).
fn run_rm(dk: &Dockerd, name: &str, cmd: &[&str]) -> String {
    let mut args = vec!["create", "--rm", "--network", "none", "--name", name, IMAGE];
    args.extend_from_slice(cmd);
    let id = dk.docker_ok(&args);
    dk.docker_ok(&["start", "-a", &id]);
    id
}

/// A kestrel daemon reading this test's dockerd (event stream on or off),
/// with `rules` (none: the embedded defaults) and `-o` options.
fn kestrel(dk: &Dockerd, events: bool, rules: Vec<PathBuf>, options: Vec<String>) -> Daemon {
    Daemon::start_with(DaemonOpts {
        rules,
        options,
        config: Some(dk.kestrel_config(events)),
        ..DaemonOpts::default()
    })
}

fn shadow_alert_with_metadata(events: bool) {
    let _g = serial();
    let dk = Dockerd::start();
    let d = kestrel(&dk, events, Vec::new(), Vec::new());
    let name = nonce("shadow");
    let id = run_rm(&dk, &name, &["cat", "/etc/shadow"]);
    let a = container_alert(&d, "Read Sensitive File", &id, |a| {
        field(a, "fd.name") == "/etc/shadow"
    });
    // The container's first and only process: its metadata was there.
    assert_eq!(field(&a, "container.name"), name.as_str(), "{a}");
    assert_eq!(
        field(&a, "container.image.repository"),
        "kestrel-test/busybox",
        "{a}"
    );
    assert_eq!(field(&a, "container.image.tag"), "1.0", "{a}");
    assert_eq!(field(&a, "proc.name"), "cat", "{a}");
    let m = d.metrics();
    if events {
        assert!(m.sum("kestrel_container_stream_events_total", &[]) >= 1.0);
    } else {
        // No event stream: the first event waited for the lookup.
        assert_eq!(m.sum("kestrel_container_stream_events_total", &[]), 0.0);
        assert!(m.sum("kestrel_container_lookups_total", &[]) >= 1.0);
        assert!(m.sum("kestrel_container_lookup_waits_total", &[]) >= 1.0);
    }
    assert_eq!(m.sum("kestrel_container_lookup_timeouts_total", &[]), 0.0);
    d.stop();
}

#[test]
fn short_lived_container_alert_has_name_and_image_from_the_event_stream() {
    shadow_alert_with_metadata(true);
}

#[test]
fn short_lived_container_alert_has_name_and_image_from_the_synchronous_lookup() {
    shadow_alert_with_metadata(false);
}

/// `docker exec -it` under script(1), which gives it a terminal.
fn exec_tty(dk: &Dockerd, container: &str, shell_cmd: &str) {
    let line = format!(
        "{} --host unix://{} exec -it {container} sh -c '{shell_cmd}'",
        docker_cli(),
        dk.sock.display()
    );
    let o = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script (apt-get install bsdutils)");
    assert!(
        o.status.success(),
        "{line}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn running_container(dk: &Dockerd, name: &str) -> String {
    dk.docker_ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        name,
        IMAGE,
        "sleep",
        "600",
    ])
}

/// A container running `sleep`, then `docker exec -it C sh -c 'exit 0'`;
/// returns (container name, id, the alert of `rule` for it).
fn terminal_shell_alert(dk: &Dockerd, d: &Daemon, rule: &str) -> (String, String, Value) {
    let name = nonce("tty");
    let id = running_container(dk, &name);
    exec_tty(dk, &name, "exit 0");
    let a = container_alert(d, rule, &id, |_| true);
    (name, id, a)
}

#[test]
fn interactive_exec_shell_alerts_and_plain_exec_is_visible() {
    let _g = serial();
    let dk = Dockerd::start();
    let d = kestrel(&dk, true, common::default_rules_with_audit(), Vec::new());
    let (name, id, a) = terminal_shell_alert(&dk, &d, "Terminal Shell in Container");
    assert_eq!(field(&a, "proc.name"), "sh", "{a}");
    assert_ne!(field(&a, "proc.tty"), &Value::from(0), "{a}");
    assert!(a["output"].as_str().unwrap_or("").contains(&name), "{a}");

    // Without a terminal: the exec session rule, not the terminal one.
    dk.docker_ok(&["exec", &name, "ls", "/"]);
    let b = container_alert(&d, "Exec Session in Container", &id, |a| {
        field(a, "proc.name") == "ls"
    });
    assert_eq!(field(&b, "container.name"), name.as_str(), "{b}");
    // The container's own first process raised neither.
    assert!(
        d.alerts_where(|a| {
            field(a, "container.id") == short_id(&id)
                && field(a, "proc.name") == "sleep"
                && rule_of(a) != "Process Spawned in Container"
        })
        .is_empty(),
        "{:?}",
        d.alerts()
    );
    d.stop();
}

#[test]
fn falco_terminal_shell_rule_fires_on_docker_exec() {
    let _g = serial();
    let dk = Dockerd::start();
    let d = kestrel(&dk, true, vec![common::falco_rules()], Vec::new());
    let (name, _, a) = terminal_shell_alert(&dk, &d, "Terminal shell in container");
    assert_eq!(field(&a, "container.name"), name.as_str(), "{a}");
    assert_eq!(
        field(&a, "container.image.repository"),
        "kestrel-test/busybox",
        "{a}"
    );
    d.stop();
}

#[test]
fn privileged_container_escalation_tool_alerts_with_real_metadata() {
    let _g = serial();
    let dk = Dockerd::start();
    // A rule on the runtime's own privileged flag, beside the defaults.
    let extra = dk.dir.path().join("privileged.yaml");
    std::fs::write(
        &extra,
        "- rule: Mount in Privileged Container (test)\n  desc: t\n  condition: evt.type in (execve, execveat) and evt.res = SUCCESS and container.privileged = true and proc.name = mount\n  output: privileged mount (container=%container.name privileged=%container.privileged)\n  priority: WARNING\n",
    )
    .unwrap();
    let d = kestrel(
        &dk,
        true,
        vec![common::default_rules(), extra],
        vec!["rule_matching=all".into()],
    );
    let name = nonce("priv");
    let create = |extra: &[&str]| {
        let mut args = vec!["create", "--network", "none", "--name", &name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "mount"]);
        dk.docker(&args)
    };
    // This VM's capability bounding set lacks CAP_SYS_RESOURCE, so runc
    // cannot give a --privileged container every capability and refuses to
    // start it ("unable to apply caps"); then the container gets
    // CAP_SYS_ADMIN alone, which the default rule also treats as
    // privileged.
    let out = create(&["--privileged"]);
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let privileged = out.status.success() && dk.docker(&["start", "-a", &id]).status.success();
    let id = if privileged {
        id
    } else {
        eprintln!(
            "this VM refuses --privileged containers: running with --cap-add SYS_ADMIN instead"
        );
        if !id.is_empty() {
            dk.docker_ok(&["rm", "-f", &id]);
        }
        let out = create(&["--cap-add", "SYS_ADMIN"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        dk.docker_ok(&["start", "-a", &id]);
        id
    };
    let a = container_alert(
        &d,
        "Privilege Escalation Tool in Privileged Container",
        &id,
        |_| true,
    );
    assert_eq!(field(&a, "proc.name"), "mount", "{a}");
    assert_eq!(
        field(&a, "container.image.repository"),
        "kestrel-test/busybox",
        "{a}"
    );
    assert!(
        a["output"].as_str().unwrap_or("").contains("CAP_SYS_ADMIN"),
        "{a}"
    );
    if privileged {
        let b = container_alert(&d, "Mount in Privileged Container (test)", &id, |_| true);
        assert_eq!(field(&b, "container.privileged"), true, "{b}");
    }
    dk.docker_ok(&["rm", "-f", &id]);
    d.stop();
}

#[test]
fn destroyed_containers_leave_the_metadata_cache() {
    let _g = serial();
    let dk = Dockerd::start();
    let d = kestrel(
        &dk,
        true,
        Vec::new(),
        vec!["container_engines.evict_after_s=1".into()],
    );
    let n = 5;
    for i in 0..n {
        run_rm(&dk, &nonce(&format!("churn{i}")), &["true"]);
    }
    common::wait_container_cache_empty(&d, n);
    d.stop();
}

/// A rule that prints the container fields read from the inspect response
/// (health check, namespaces, mounts) when a container process reads
/// /etc/hostname.
fn config_fields_rule(dir: &std::path::Path) -> PathBuf {
    let p = dir.join("config-fields.yaml");
    std::fs::write(
        &p,
        "- rule: Hostname Read in Container (test)\n  desc: t\n  condition: evt.type in (open, openat, openat2) and fd.name = /etc/hostname and container.id != host and container.mount.rdwr[kestrel-share] = false\n  output: >\n    hostname read (hc=%proc.is_container_healthcheck healthcheck=%container.healthcheck\n    liveness=%container.liveness_probe host_pid=%container.host_pid\n    host_network=%container.host_network host_ipc=%container.host_ipc mount=%container.mount[0]\n    mode=%container.mount.mode[kestrel-share] rdwr=%container.mount.rdwr[kestrel-share]\n    propagation=%container.mount.propagation[kestrel-share] dest=%container.mount.dest[0]\n    cni=%container.cni.json)\n  priority: WARNING\n",
    )
    .unwrap();
    p
}

/// `docker run --health-cmd ... --network host --ipc host -v SRC:/share:ro`:
/// the fields from the inspect response, and the health check's process
/// told from the same command line run by the container's own init.
#[test]
fn health_check_namespaces_and_mounts_from_the_inspect_response() {
    let _g = serial();
    let dk = Dockerd::start();
    let share = dk.dir.path().join("kestrel-share");
    std::fs::create_dir_all(&share).unwrap();
    let d = kestrel(
        &dk,
        true,
        vec![config_fields_rule(dk.dir.path())],
        Vec::new(),
    );
    let name = nonce("health");
    let volume = format!("{}:/share:ro", share.display());
    // The container's own loop runs the health check's command line too.
    let id = dk.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "--ipc",
        "host",
        "--health-cmd",
        "cat /etc/hostname",
        "--health-interval",
        "1s",
        "-v",
        &volume,
        IMAGE,
        "sh",
        "-c",
        "while :; do /bin/sh -c 'cat /etc/hostname' >/dev/null; sleep 1; done",
    ]);
    let rule = "Hostname Read in Container (test)";
    let hc = container_alert(&d, rule, &id, |a| {
        field(a, "proc.is_container_healthcheck") == true
    });
    assert_eq!(
        field(&hc, "container.healthcheck"),
        "/bin/sh -c cat /etc/hostname",
        "{hc}"
    );
    assert_eq!(field(&hc, "container.liveness_probe"), "NONE", "{hc}");
    assert_eq!(field(&hc, "container.host_network"), true, "{hc}");
    assert_eq!(field(&hc, "container.host_ipc"), true, "{hc}");
    assert_eq!(field(&hc, "container.host_pid"), false, "{hc}");
    assert_eq!(
        field(&hc, "container.mount[0]"),
        format!("{}:/share:ro:false:rprivate", share.display()).as_str(),
        "{hc}"
    );
    assert_eq!(
        field(&hc, "container.mount.mode[kestrel-share]"),
        "ro",
        "{hc}"
    );
    assert_eq!(
        field(&hc, "container.mount.rdwr[kestrel-share]"),
        "false",
        "{hc}"
    );
    assert_eq!(
        field(&hc, "container.mount.propagation[kestrel-share]"),
        "rprivate",
        "{hc}"
    );
    assert_eq!(field(&hc, "container.mount.dest[0]"), "/share", "{hc}");
    assert_eq!(field(&hc, "container.cni.json"), "", "{hc}");
    // The same command line under the container's init is no health check.
    let own = container_alert(&d, rule, &id, |a| {
        field(a, "proc.is_container_healthcheck") == false
    });
    assert_eq!(
        field(&own, "container.healthcheck"),
        "/bin/sh -c cat /etc/hostname",
        "{own}"
    );
    dk.docker_ok(&["rm", "-f", &id]);
    d.stop();
}

#[test]
fn dockerd_restart_is_survived_and_counted() {
    let _g = serial();
    let mut dk = Dockerd::start();
    let d = kestrel(&dk, true, Vec::new(), Vec::new());
    let name = nonce("before");
    let id = run_rm(&dk, &name, &["cat", "/etc/shadow"]);
    container_alert(&d, "Read Sensitive File", &id, |a| {
        field(a, "container.name") == name.as_str()
    });
    let m = d.metrics();
    let gaps0 = m.sum("kestrel_container_stream_gaps_total", &[]);
    let events0 = m.sum("kestrel_container_stream_events_total", &[]);

    dk.restart();
    // The stream's end is a gap; the stream is dialled again.
    let gaps = common::wait_metric_above(
        &d,
        "kestrel_container_stream_gaps_total",
        gaps0,
        "the lost stream was not counted",
    );
    // Redialled a second after it was lost; a container started before
    // that is found by the synchronous lookup instead.
    std::thread::sleep(Duration::from_millis(2500));
    let events1 = d
        .metrics()
        .sum("kestrel_container_stream_events_total", &[]);
    let name = nonce("after");
    let id = run_rm(&dk, &name, &["cat", "/etc/shadow"]);
    let a = container_alert(&d, "Read Sensitive File", &id, |_| true);
    assert_eq!(field(&a, "container.name"), name.as_str(), "{a}");
    assert_eq!(
        field(&a, "container.image.repository"),
        "kestrel-test/busybox",
        "{a}"
    );
    let events = common::wait_metric_above(
        &d,
        "kestrel_container_stream_events_total",
        events1,
        "no stream event after the restart: the stream was not followed again",
    );
    eprintln!(
        "gaps {gaps0} -> {gaps}, stream events {events0} -> {events1} -> {events}, lookup waits {}",
        d.metrics().sum("kestrel_container_lookup_waits_total", &[]),
    );
    d.stop();
}
