//! The Kubernetes manifest in deploy/ (no cluster needed): its documents
//! parse, the configuration it ships loads in kestrel (`--dry-run`), and
//! the DaemonSet has what a containerd or CRI-O node needs: the runtime
//! sockets under the node's /run, the node's /etc for user names
//! (HOST_ROOT), the node name as hostname (FALCO_HOSTNAME), least
//! capabilities and no privileged mode.

mod common;

fn docs() -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(common::repo().join("deploy/kestrel-daemonset.yaml"))
        .expect("read manifest");
    text.split("\n---\n")
        .map(|d| serde_yaml::from_str(d).expect("manifest document parses"))
        .collect()
}

fn kind<'a>(docs: &'a [serde_yaml::Value], k: &str) -> &'a serde_yaml::Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(k))
        .unwrap_or_else(|| panic!("no {k} in the manifest"))
}

#[test]
fn shipped_configuration_loads() {
    let docs = docs();
    let cfg = kind(&docs, "ConfigMap")["data"]["kestrel.yaml"]
        .as_str()
        .expect("kestrel.yaml in the ConfigMap")
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kestrel.yaml");
    std::fs::write(&path, &cfg).unwrap();
    common::dry_run_config(&path);
    for sock in [
        "/host/run/containerd/containerd.sock",
        "/host/run/crio/crio.sock",
        "/host/run/docker.sock",
    ] {
        assert!(cfg.contains(sock), "{sock} not configured:\n{cfg}");
    }
}

#[test]
fn daemonset_fits_containerd_and_crio_nodes() {
    let docs = docs();
    let pod = &kind(&docs, "DaemonSet")["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"].as_bool(), Some(true));
    let c = &pod["containers"][0];
    let env = c["env"].as_sequence().expect("env");
    let var = |n: &str| {
        env.iter()
            .find(|e| e["name"].as_str() == Some(n))
            .unwrap_or_else(|| panic!("no {n} in env"))
    };
    assert_eq!(
        var("FALCO_HOSTNAME")["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("spec.nodeName")
    );
    assert_eq!(var("HOST_ROOT")["value"].as_str(), Some("/host"));
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"].as_bool(), Some(false));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
    let caps: Vec<&str> = sc["capabilities"]["add"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(!caps.contains(&"SYS_ADMIN"), "{caps:?}");
    // Host paths behind each mount, read-only.
    let volumes = pod["volumes"].as_sequence().unwrap();
    let host_path_of = |mount: &str| -> String {
        let m = c["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(mount))
            .unwrap_or_else(|| panic!("nothing mounted at {mount}"));
        assert_eq!(m["readOnly"].as_bool(), Some(true), "{mount} writable");
        let v = volumes
            .iter()
            .find(|v| v["name"] == m["name"])
            .expect("volume");
        v["hostPath"]["path"].as_str().unwrap_or("").to_string()
    };
    assert_eq!(host_path_of("/host/etc"), "/etc");
    assert_eq!(host_path_of("/host/run"), "/run");
}
