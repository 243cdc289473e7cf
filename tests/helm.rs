//! The Helm chart in deploy/helm/kestrel, rendered without a cluster and
//! without helm (Debian does not package it): its templates are Go
//! templates, executed here by the gtmpl crate (Go's text/template in
//! Rust) with the chart's values merged under `.Values`, `.Release` and
//! `.Chart` as helm sets them, and the few Sprig functions the chart uses
//! (`toYaml`, `nindent`, `omit`) written to helm's definitions. Each
//! rendering is parsed as YAML and checked; the configuration it produces
//! is loaded by kestrel (`--dry-run`), with the custom rules it mounts.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gtmpl::{FuncError, Template, Value};

fn chart() -> PathBuf {
    common::repo().join("deploy/helm/kestrel")
}

fn to_gtmpl(v: &serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::Null => Value::Nil,
        serde_yaml::Value::Bool(b) => Value::Bool(*b),
        serde_yaml::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or(0.0)),
        },
        serde_yaml::Value::String(s) => Value::String(s.clone()),
        serde_yaml::Value::Sequence(s) => Value::Array(s.iter().map(to_gtmpl).collect()),
        serde_yaml::Value::Mapping(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_gtmpl(v)))
                .collect(),
        ),
        serde_yaml::Value::Tagged(t) => to_gtmpl(&t.value),
    }
}

fn to_yaml(v: &Value) -> serde_yaml::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_yaml::Value::Null,
        Value::Bool(b) => serde_yaml::Value::Bool(*b),
        Value::String(s) => serde_yaml::Value::String(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => serde_yaml::Value::from(i),
            None => serde_yaml::Value::from(n.as_f64().unwrap_or(0.0)),
        },
        Value::Array(a) => serde_yaml::Value::Sequence(a.iter().map(to_yaml).collect()),
        // Go's YAML encoder writes map keys sorted, and so does helm.
        Value::Map(m) | Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_yaml::Mapping::new();
            for k in keys {
                out.insert(serde_yaml::Value::String(k.clone()), to_yaml(&m[k]));
            }
            serde_yaml::Value::Mapping(out)
        }
    }
}

/// helm's `toYaml`: the YAML of the value without its final newline.
fn to_yaml_fn(args: &[Value]) -> Result<Value, FuncError> {
    let v = args
        .first()
        .ok_or_else(|| FuncError::AtLeastXArgs("toYaml".into(), 1))?;
    let text = serde_yaml::to_string(&to_yaml(v)).map_err(|e| FuncError::Generic(e.to_string()))?;
    Ok(Value::String(text.trim_end_matches('\n').to_string()))
}

/// Sprig's `nindent N TEXT`: a newline, then TEXT with every line
/// indented by N spaces.
fn nindent_fn(args: &[Value]) -> Result<Value, FuncError> {
    let [n, text] = args else {
        return Err(FuncError::ExactlyXArgs("nindent".into(), 2));
    };
    let n = match n {
        Value::Number(n) => n.as_i64().unwrap_or(0) as usize,
        _ => return Err(FuncError::UnableToConvertFromValue),
    };
    let text = match text {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let pad = " ".repeat(n);
    let lines: Vec<String> = text.split('\n').map(|l| format!("{pad}{l}")).collect();
    Ok(Value::String(format!("\n{}", lines.join("\n"))))
}

/// Sprig's `omit MAP KEY...`: the map without those keys.
fn omit_fn(args: &[Value]) -> Result<Value, FuncError> {
    let Some((Value::Map(m) | Value::Object(m), keys)) = args.split_first() else {
        return Err(FuncError::AtLeastXArgs("omit".into(), 1));
    };
    let drop: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    Ok(Value::Map(
        m.iter()
            .filter(|(k, _)| !drop.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ))
}

/// Merges `over` into `base` (maps recursively, anything else replaced),
/// as `helm --set` / `-f` do.
fn merge(base: &mut serde_yaml::Value, over: &serde_yaml::Value) {
    match (base, over) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) => merge(bv, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Renders every template with the chart's values and `overrides`;
/// returns the documents that are not empty.
fn render(overrides: &str) -> Vec<serde_yaml::Value> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    let mut values: serde_yaml::Value =
        serde_yaml::from_str(&read(&chart().join("values.yaml"))).expect("values.yaml");
    let over: serde_yaml::Value = serde_yaml::from_str(overrides).expect("overrides");
    if !over.is_null() {
        merge(&mut values, &over);
    }
    let meta: serde_yaml::Value =
        serde_yaml::from_str(&read(&chart().join("Chart.yaml"))).expect("Chart.yaml");
    let mut ctx = HashMap::new();
    ctx.insert("Values".to_string(), to_gtmpl(&values));
    let mut release = HashMap::new();
    release.insert("Name".to_string(), Value::from("kestrel"));
    release.insert("Namespace".to_string(), Value::from("security"));
    ctx.insert("Release".to_string(), Value::Map(release));
    let mut chart_ctx = HashMap::new();
    chart_ctx.insert("Name".to_string(), to_gtmpl(&meta["name"]));
    chart_ctx.insert("Version".to_string(), to_gtmpl(&meta["version"]));
    chart_ctx.insert("AppVersion".to_string(), to_gtmpl(&meta["appVersion"]));
    ctx.insert("Chart".to_string(), Value::Map(chart_ctx));
    let ctx = gtmpl::Context::from(Value::Map(ctx));

    let mut names: Vec<PathBuf> = std::fs::read_dir(chart().join("templates"))
        .expect("templates")
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut docs = Vec::new();
    for path in names {
        let mut t = Template::default();
        t.add_func("toYaml", to_yaml_fn);
        t.add_func("nindent", nindent_fn);
        t.add_func("omit", omit_fn);
        t.parse(read(&path))
            .unwrap_or_else(|e| panic!("{path:?} does not parse: {e}"));
        let out = t
            .render(&ctx)
            .unwrap_or_else(|e| panic!("{path:?} does not render: {e}"));
        if out.trim().is_empty() {
            continue;
        }
        let doc: serde_yaml::Value = serde_yaml::from_str(&out)
            .unwrap_or_else(|e| panic!("{path:?} renders invalid YAML: {e}\n{out}"));
        docs.push(doc);
    }
    docs
}

fn kind<'a>(docs: &'a [serde_yaml::Value], k: &str, name: &str) -> Option<&'a serde_yaml::Value> {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(k) && d["metadata"]["name"].as_str() == Some(name))
}

/// Runs `kestrel --dry-run` on the rendered configuration, with the
/// rendered rules files where the pod would mount them; returns stderr.
fn dry_run(docs: &[serde_yaml::Value]) -> String {
    let cfg = kind(docs, "ConfigMap", "kestrel-config").expect("config map")["data"]
        ["kestrel.yaml"]
        .as_str()
        .expect("kestrel.yaml")
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let rules_d = dir.path().join("rules.d");
    std::fs::create_dir_all(&rules_d).unwrap();
    if let Some(r) = kind(docs, "ConfigMap", "kestrel-rules") {
        for (k, v) in r["data"].as_mapping().expect("rules data") {
            std::fs::write(rules_d.join(k.as_str().unwrap()), v.as_str().unwrap()).unwrap();
        }
    }
    // The pod's path of the rules directory, here.
    let cfg = cfg.replace("/etc/kestrel/rules.d", rules_d.to_str().unwrap());
    let path = dir.path().join("kestrel.yaml");
    std::fs::write(&path, &cfg).unwrap();
    common::dry_run_config(&path)
}

#[test]
fn default_values_render_a_daemonset_for_every_runtime() {
    let docs = render("");
    assert!(kind(&docs, "ConfigMap", "kestrel-rules").is_none());
    let ds = kind(&docs, "DaemonSet", "kestrel").expect("daemonset");
    assert_eq!(ds["metadata"]["namespace"].as_str(), Some("security"));
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"].as_bool(), Some(true));
    assert_eq!(pod["tolerations"][0]["operator"].as_str(), Some("Exists"));
    let c = &pod["containers"][0];
    assert_eq!(c["image"].as_str(), Some("kestrel:latest"));
    assert_eq!(c["securityContext"]["privileged"].as_bool(), Some(false));
    assert_eq!(c["resources"]["limits"]["memory"].as_str(), Some("512Mi"));
    assert_eq!(c["ports"][0]["containerPort"].as_i64(), Some(8765));
    let cfg: serde_yaml::Value = serde_yaml::from_str(
        kind(&docs, "ConfigMap", "kestrel-config").unwrap()["data"]["kestrel.yaml"]
            .as_str()
            .unwrap(),
    )
    .expect("kestrel.yaml is YAML");
    assert_eq!(cfg["json_output"].as_bool(), Some(false));
    assert_eq!(cfg["http_output"]["enabled"].as_bool(), Some(false));
    assert_eq!(
        cfg["rules_files"][0].as_str(),
        Some("embedded:kestrel_rules.yaml")
    );
    let cri: Vec<&str> = cfg["container_engines"]["cri"]["sockets"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(
        cri,
        [
            "/host/run/containerd/containerd.sock",
            "/host/run/crio/crio.sock",
            "/host/run/k3s/containerd/containerd.sock"
        ]
    );
    let err = dry_run(&docs);
    assert!(err.contains("kestrel_rules.yaml"), "{err}");
}

#[test]
fn falco_chart_values_json_sidekick_custom_rules_resources_tolerations() {
    let docs = render(
        r#"
falco:
  json_output: true
falcosidekick:
  enabled: true
customRules:
  my-rules.yaml: |-
    - rule: Chart Custom Rule
      desc: from customRules
      condition: evt.type = openat and fd.name = /etc/chart-test
      output: custom (file=%fd.name)
      priority: WARNING
resources:
  limits:
    memory: 1Gi
tolerations:
  - key: dedicated
    operator: Equal
    value: security
    effect: NoSchedule
collectors:
  docker:
    enabled: false
  crio:
    enabled: false
"#,
    );
    let cfg: serde_yaml::Value = serde_yaml::from_str(
        kind(&docs, "ConfigMap", "kestrel-config").unwrap()["data"]["kestrel.yaml"]
            .as_str()
            .unwrap(),
    )
    .expect("kestrel.yaml is YAML");
    assert_eq!(cfg["json_output"].as_bool(), Some(true));
    assert_eq!(cfg["http_output"]["enabled"].as_bool(), Some(true));
    assert_eq!(
        cfg["http_output"]["url"].as_str(),
        Some("http://kestrel-falcosidekick:2801/")
    );
    assert_eq!(
        cfg["container_engines"]["docker"]["enabled"].as_bool(),
        Some(false)
    );
    assert_eq!(
        cfg["container_engines"]["cri"]["sockets"]
            .as_sequence()
            .map(Vec::len),
        Some(2)
    );
    let rules = kind(&docs, "ConfigMap", "kestrel-rules").expect("rules config map");
    assert!(rules["data"]["my-rules.yaml"]
        .as_str()
        .unwrap()
        .contains("Chart Custom Rule"));
    let pod = &kind(&docs, "DaemonSet", "kestrel").unwrap()["spec"]["template"]["spec"];
    assert_eq!(pod["tolerations"][0]["key"].as_str(), Some("dedicated"));
    assert_eq!(
        pod["containers"][0]["resources"]["limits"]["memory"].as_str(),
        Some("1Gi")
    );
    assert!(pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|v| v["configMap"]["name"].as_str() == Some("kestrel-rules")));
    // The defaults and the custom file both load.
    let err = dry_run(&docs);
    assert!(err.contains("my-rules.yaml"), "{err}");
    assert!(err.contains("kestrel_rules.yaml"), "{err}");
}
