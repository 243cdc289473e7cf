//! Alert rendering: RULES.md §11.7 (text line, JSON shape, toggles,
//! format compilation cases) against a map-backed event.

mod output_support;

use kestrel_engine::fields::Value;
use kestrel_engine::output::alert::hostname;
use kestrel_engine::output::time;
use kestrel_engine::output::{
    AppendMatch, AppendOutput, CompileError, CompiledOutputs, ExtraField, FormatError,
    FormatWarning, OutputFormat, OutputsConfig,
};
use kestrel_engine::rules::Priority;
use output_support::{rule, s, MapEvent};

const T: u64 = 1_700_000_602_123_456_789;

const RSF_OUTPUT: &str = "Sensitive file opened for reading by non-trusted program | file=%fd.name gparent=%proc.aname[2] ggparent=%proc.aname[3] gggparent=%proc.aname[4] evt_type=%evt.type user=%user.name user_uid=%user.uid user_loginuid=%user.loginuid process=%proc.name proc_exepath=%proc.exepath parent=%proc.pname command=%proc.cmdline terminal=%proc.tty";

const RSF_TAGS: &[&str] = &[
    "maturity_stable",
    "host",
    "container",
    "filesystem",
    "mitre_credential_access",
    "T1555",
    "host",
];

fn shadow_event() -> MapEvent {
    MapEvent::new(&[
        ("evt.time", Value::U64(T)),
        ("fd.name", s("/etc/shadow")),
        ("proc.aname[2]", s("sshd")),
        ("proc.aname[3]", s("systemd")),
        ("evt.type", s("openat")),
        ("user.name", s("root")),
        ("user.uid", Value::U64(0)),
        ("user.loginuid", Value::I64(-1)),
        ("proc.name", s("cat")),
        ("proc.exepath", s("/usr/bin/cat")),
        ("proc.pname", s("bash")),
        ("proc.cmdline", s("cat /etc/shadow")),
        ("proc.tty", Value::U64(34816)),
        ("container.id", s("host")),
        ("container.name", s("host")),
        ("container.image.repository", s("")),
        ("container.image.tag", s("")),
    ])
}

fn local(ns: u64) -> String {
    let mut s = String::new();
    time::push_local_hms(&mut s, ns);
    s
}

fn compile(cfg: &OutputsConfig) -> CompiledOutputs {
    let rules = vec![rule(
        "Read sensitive file untrusted",
        Priority::Warning,
        RSF_OUTPUT,
        RSF_TAGS,
    )];
    CompiledOutputs::compile(&rules, cfg).unwrap().0
}

const MESSAGE: &str = "Sensitive file opened for reading by non-trusted program | file=/etc/shadow gparent=sshd ggparent=systemd gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat /etc/shadow terminal=34816 container_id=host container_name=host container_image_repository= container_image_tag= k8s_pod_name=<NA> k8s_ns_name=<NA>";

#[test]
fn text_line_matches_falco_example() {
    let out = compile(&OutputsConfig::default());
    let a = out.render(0, &shadow_event(), 42).unwrap();
    assert_eq!(a.message(), MESSAGE);
    assert_eq!(a.text(), format!("{}: Warning {MESSAGE}", local(T)));
    assert_eq!(a.line(), a.text());
    assert!(a.json().is_none());
    assert_eq!(a.rule(), "Read sensitive file untrusted");
    assert_eq!(a.priority(), Priority::Warning);
    assert_eq!(a.source(), "syscall");
    assert_eq!(a.time_ns(), T);
    assert_eq!(a.kernel_ts_ns(), 42);
    assert_eq!(a.repeat_count(), 0);
    assert!(out.render(1, &shadow_event(), 0).is_none());
}

#[test]
fn json_matches_falco_example_exactly() {
    let cfg = OutputsConfig {
        json_output: true,
        ..OutputsConfig::default()
    };
    let out = compile(&cfg);
    let a = out.render(0, &shadow_event(), 0).unwrap();
    let mut host = String::new();
    kestrel_engine::output::json::push_str(&mut host, &hostname());
    let text = format!("{}: Warning {MESSAGE}", local(T));
    let mut text_json = String::new();
    kestrel_engine::output::json::push_str(&mut text_json, &text);
    let expected = format!(
        concat!(
            "{{\"hostname\":{host},\"output\":{text},\"output_fields\":{{",
            "\"container.id\":\"host\",\"container.image.repository\":\"\",\"container.image.tag\":\"\",",
            "\"container.name\":\"host\",\"evt.time\":1700000602123456789,\"evt.type\":\"openat\",",
            "\"fd.name\":\"/etc/shadow\",\"k8s.ns.name\":null,\"k8s.pod.name\":null,",
            "\"proc.aname[2]\":\"sshd\",\"proc.aname[3]\":\"systemd\",\"proc.aname[4]\":null,",
            "\"proc.cmdline\":\"cat /etc/shadow\",\"proc.exepath\":\"/usr/bin/cat\",\"proc.name\":\"cat\",",
            "\"proc.pname\":\"bash\",\"proc.tty\":34816,\"user.loginuid\":-1,\"user.name\":\"root\",\"user.uid\":0}},",
            "\"priority\":\"Warning\",\"rule\":\"Read sensitive file untrusted\",\"source\":\"syscall\",",
            "\"tags\":[\"T1555\",\"container\",\"filesystem\",\"host\",\"maturity_stable\",\"mitre_credential_access\"],",
            "\"time\":\"2023-11-14T22:23:22.123456789Z\"}}"
        ),
        host = host,
        text = text_json
    );
    assert_eq!(a.json().unwrap(), expected);
    assert_eq!(a.line(), expected);
    // And it is valid JSON with the keys in lexicographic order.
    let v: serde_json::Value = serde_json::from_str(&expected).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "hostname",
            "output",
            "output_fields",
            "priority",
            "rule",
            "source",
            "tags",
            "time"
        ]
    );
}

#[test]
fn json_toggles() {
    let ev = shadow_event();
    let cfg = OutputsConfig {
        json_output: true,
        json_include_message_property: true,
        json_include_output_property: false,
        json_include_output_fields_property: false,
        json_include_tags_property: false,
        ..OutputsConfig::default()
    };
    let a = compile(&cfg).render(0, &ev, 0).unwrap();
    let v: serde_json::Value = serde_json::from_str(a.json().unwrap()).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["hostname", "message", "priority", "rule", "source", "time"]
    );
    assert_eq!(v["message"], MESSAGE);
    // Compact: re-serialising the parsed object (serde_json writes compact
    // JSON with the keys in the same sorted order) gives the same text.
    assert_eq!(serde_json::to_string(&v).unwrap(), a.json().unwrap());

    // Default: no message key.
    let cfg = OutputsConfig {
        json_output: true,
        ..OutputsConfig::default()
    };
    let a = compile(&cfg).render(0, &ev, 0).unwrap();
    let v: serde_json::Value = serde_json::from_str(a.json().unwrap()).unwrap();
    assert!(v.get("message").is_none());
    assert!(v.get("uuid").is_none());
}

#[test]
fn iso8601_prefix_and_key() {
    let cfg = OutputsConfig {
        json_output: true,
        time_format_iso_8601: true,
        ..OutputsConfig::default()
    };
    let a = compile(&cfg).render(0, &shadow_event(), 0).unwrap();
    assert_eq!(
        a.text(),
        format!("2023-11-14T22:23:22.123456789+0000: Warning {MESSAGE}")
    );
    let v: serde_json::Value = serde_json::from_str(a.json().unwrap()).unwrap();
    let f = v["output_fields"].as_object().unwrap();
    assert_eq!(f["evt.time.iso8601"], serde_json::json!(T));
    assert!(f.get("evt.time").is_none());
    assert_eq!(v["time"], "2023-11-14T22:23:22.123456789Z");
    assert_eq!(v["output"], a.text());
}

#[test]
fn typed_values_null_and_invalid_utf8() {
    let rules = vec![rule(
        "r",
        Priority::Informational,
        "%fd.connected %fd.sip %fd.sport %proc.cmdline %evt.buffer %toupper(user.name) %user.name %proc.pid",
        &[],
    )];
    let cfg = OutputsConfig {
        json_output: true,
        append_output: vec![],
        ..OutputsConfig::default()
    };
    let out = CompiledOutputs::compile(&rules, &cfg).unwrap().0;
    let ev = MapEvent::new(&[
        ("evt.time", Value::U64(5)),
        ("fd.connected", Value::Bool(false)),
        ("fd.sip", Value::Ip("10.1.2.3".parse().unwrap())),
        ("fd.sport", Value::U64(443)),
        ("proc.cmdline", Value::Str(b"a\xffb\"c".to_vec().into())),
        ("evt.buffer", Value::Bytes(b"x\x00y".to_vec().into())),
        ("user.name", s("<NA>")),
    ]);
    let a = out.render(0, &ev, 0).unwrap();
    assert_eq!(
        a.message(),
        r#"false 10.1.2.3 443 a\xffb"c x.y <NA> <NA> <NA>"#
    );
    assert!(a.text().contains(": Informational false"), "{}", a.text());
    let j = a.json().unwrap();
    assert!(
        j.contains(r#""output_fields":{"evt.buffer":"x.y","evt.time":5,"fd.connected":false,"fd.sip":"10.1.2.3","fd.sport":443,"proc.cmdline":"a\\xffb\"c","proc.pid":null,"user.name":"<NA>"}"#),
        "{j}"
    );
    assert!(j.contains(r#""tags":[]"#), "{j}");
    assert!(
        j.contains(r#""time":"1970-01-01T00:00:00.000000005Z""#),
        "{j}"
    );
}

#[test]
fn control_characters_cannot_forge_text_lines() {
    let rules = vec![rule("r", Priority::Warning, "open %fd.name", &[])];
    let ev = MapEvent::new(&[
        ("evt.time", Value::U64(5)),
        (
            "fd.name",
            Value::Str(
                b"/tmp/x\n00:00:00.000000000: Critical fake\x1b[2K\x7f"
                    .to_vec()
                    .into(),
            ),
        ),
    ]);
    for json_output in [false, true] {
        let cfg = OutputsConfig {
            json_output,
            append_output: vec![],
            ..OutputsConfig::default()
        };
        let out = CompiledOutputs::compile(&rules, &cfg).unwrap().0;
        let a = out.render(0, &ev, 0).unwrap();
        // The text line: one line, controls as \xNN.
        assert!(
            a.text()
                .ends_with(r"Warning open /tmp/x\x0a00:00:00.000000000: Critical fake\x1b[2K\x7f"),
            "{}",
            a.text()
        );
        assert!(!a.text().contains('\n'));
        if json_output {
            // JSON escapes them itself: the decoded values are the bytes.
            let v: serde_json::Value = serde_json::from_str(a.json().unwrap()).unwrap();
            let want = "/tmp/x\n00:00:00.000000000: Critical fake\u{1b}[2K\u{7f}";
            assert_eq!(v["output_fields"]["fd.name"], want);
            assert!(v["output"]
                .as_str()
                .unwrap()
                .ends_with(&format!("Warning open {want}")));
            assert!(!a.json().unwrap().contains('\n'));
        }
    }
}

#[test]
fn append_output_matching_and_order() {
    let mut web = rule(
        "Web",
        Priority::Error,
        "web %proc.name",
        &["network", "web"],
    );
    web.index = 0;
    let other = rule("Other", Priority::Debug, "other %proc.name", &["network"]);
    let cfg = OutputsConfig {
        json_output: true,
        append_output: vec![
            AppendOutput {
                matcher: AppendMatch {
                    tags: vec!["web".into(), "network".into()],
                    ..AppendMatch::default()
                },
                extra_output: Some("tagged=%proc.pid".into()),
                ..AppendOutput::default()
            },
            AppendOutput {
                matcher: AppendMatch {
                    rule: Some("Other".into()),
                    source: Some("syscall".into()),
                    ..AppendMatch::default()
                },
                extra_output: Some("named=%user.name".into()),
                extra_fields: vec![
                    ExtraField::Field("proc.aname[2]".into()),
                    ExtraField::Format {
                        key: "who".into(),
                        format: "%user.name@%proc.name".into(),
                    },
                ],
                ..AppendOutput::default()
            },
            AppendOutput {
                matcher: AppendMatch {
                    source: Some("k8s_audit".into()),
                    ..AppendMatch::default()
                },
                extra_output: Some("never=%proc.pid".into()),
                ..AppendOutput::default()
            },
            AppendOutput::suggested(),
        ],
        ..OutputsConfig::default()
    };
    let out = CompiledOutputs::compile(&[web, other], &cfg).unwrap().0;
    let suggested = " container_id=%container.id container_name=%container.name container_image_repository=%container.image.repository container_image_tag=%container.image.tag k8s_pod_name=%k8s.pod.name k8s_ns_name=%k8s.ns.name";
    assert_eq!(
        out.format(0).unwrap().source(),
        format!("web %proc.name tagged=%proc.pid{suggested}")
    );
    assert_eq!(
        out.format(1).unwrap().source(),
        format!("other %proc.name named=%user.name{suggested}")
    );
    let ev = MapEvent::new(&[
        ("proc.name", s("nginx")),
        ("user.name", s("www")),
        ("proc.aname[2]", s("init")),
        ("evt.time", Value::U64(T)),
    ]);
    let a = out.render(1, &ev, 0).unwrap();
    let v: serde_json::Value = serde_json::from_str(a.json().unwrap()).unwrap();
    let f = &v["output_fields"];
    assert_eq!(f["who"], "www@nginx");
    assert_eq!(f["proc.aname[2]"], "init");
    assert_eq!(f["user.name"], "www");
    // extra_fields are JSON only.
    assert!(!a.text().contains("init"));
    let a = out.render(0, &ev, 0).unwrap();
    let v: serde_json::Value = serde_json::from_str(a.json().unwrap()).unwrap();
    assert!(v["output_fields"].get("who").is_none());
    assert_eq!(v["output_fields"]["proc.pid"], serde_json::Value::Null);
}

#[test]
fn bad_append_output_is_reported() {
    let cfg = OutputsConfig {
        append_output: vec![AppendOutput {
            extra_output: Some("ip=%fd.ip".into()),
            ..AppendOutput::default()
        }],
        ..OutputsConfig::default()
    };
    let e = CompiledOutputs::compile(&[rule("R", Priority::Debug, "x", &[])], &cfg).unwrap_err();
    assert!(
        matches!(&e, CompileError::RuleOutput { rule, error: FormatError::FilterOnly(_), .. } if rule == "R"),
        "{e:?}"
    );
    let cfg = OutputsConfig {
        append_output: vec![AppendOutput {
            extra_fields: vec![ExtraField::Field("proc.nosuch".into())],
            ..AppendOutput::default()
        }],
        ..OutputsConfig::default()
    };
    let e = CompiledOutputs::compile(&[], &cfg).unwrap_err();
    assert!(matches!(e, CompileError::ExtraField { .. }), "{e:?}");
}

#[test]
fn priority_names_in_alerts() {
    for p in Priority::ALL {
        let out = CompiledOutputs::compile(&[rule("R", p, "x", &[])], &OutputsConfig::default())
            .unwrap()
            .0;
        let a = out.render(0, &MapEvent::default(), 0).unwrap();
        let name = a.text().split(' ').nth(1).unwrap().to_string();
        assert_eq!(name, p.name());
    }
    assert_eq!(Priority::Informational.name(), "Informational");
}

#[test]
fn missing_evt_time_uses_now() {
    let out = CompiledOutputs::compile(
        &[rule("R", Priority::Debug, "x", &[])],
        &OutputsConfig::default(),
    )
    .unwrap()
    .0;
    let before = time::now_epoch_ns();
    let a = out.render(0, &MapEvent::default(), 0).unwrap();
    assert!(a.time_ns() >= before);
}

#[test]
fn internal_alerts() {
    let cfg = OutputsConfig {
        json_output: true,
        ..OutputsConfig::default()
    };
    let out = CompiledOutputs::compile(&[], &cfg).unwrap().0;
    let a = out.internal(
        "syscall event drop",
        Priority::Debug,
        "Events dropped",
        &[
            ("n_drops", serde_json::json!(12)),
            ("cpu", serde_json::json!("all")),
        ],
    );
    assert_eq!(a.rule(), "kestrel internal: syscall event drop");
    assert_eq!(a.source(), "internal");
    assert!(
        a.text()
            .ends_with(": Debug Events dropped (n_drops=12 cpu=all)"),
        "{}",
        a.text()
    );
    let v: serde_json::Value = serde_json::from_str(a.json().unwrap()).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "hostname",
            "output",
            "output_fields",
            "priority",
            "rule",
            "source",
            "time"
        ]
    );
    assert_eq!(
        v["output_fields"],
        serde_json::json!({"cpu": "all", "n_drops": 12})
    );
    assert_eq!(v["source"], "internal");
    assert!(a
        .json()
        .unwrap()
        .contains(r#""output_fields":{"cpu":"all","n_drops":12}"#));
}

// ---- RULES.md §11.7 format compilation cases ----

#[test]
fn format_padding_and_longest_field() {
    let ev = MapEvent::new(&[("proc.name", s("bash")), ("fd.name", s("/tmp/x"))]);
    let r = |f: &str| OutputFormat::compile(f).unwrap().0.render_to_string(&ev);
    assert_eq!(r("%20proc.name|"), "bash                |");
    assert_eq!(r("%2proc.name|"), "ba|");
    assert_eq!(r("%proc.name,%fd.name"), "bash,/tmp/x");
    assert_eq!(r("(%fd.name)"), "(/tmp/x)");
}

#[test]
fn format_errors_and_warnings() {
    assert_eq!(
        OutputFormat::compile("x %").unwrap_err().to_string(),
        "formatting cannot end with a %"
    );
    assert!(matches!(
        OutputFormat::compile("x %12"),
        Err(FormatError::TrailingWidth(_))
    ));
    assert!(matches!(
        OutputFormat::compile("100%% done"),
        Err(FormatError::UnknownField { .. })
    ));
    assert_eq!(
        OutputFormat::compile("%fd.ip").unwrap_err().to_string(),
        "'fd.ip' is filter only and cannot be used as a display field"
    );
    let (f, w) = OutputFormat::compile("%proc.name %container.info").unwrap();
    assert_eq!(f.source(), "%proc.name");
    assert_eq!(w, vec![FormatWarning::ContainerInfoRemoved]);
}

#[test]
fn repeat_summary_shape_via_outputs() {
    // The summary form is produced by the outputs front; here we check
    // that a JSON consumer sees the same object plus `repeat_count`.
    use kestrel_engine::output::Outputs;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    let mut cfg = OutputsConfig {
        json_output: true,
        ..OutputsConfig::default()
    };
    cfg.stdout.enabled = false;
    cfg.syslog.enabled = false;
    cfg.file.enabled = true;
    cfg.file.filename = path.clone();
    cfg.repeat_window = std::time::Duration::from_millis(100);
    let out = compile(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    for _ in 0..3 {
        assert!(tx.send(out.render(0, &shadow_event(), 0).unwrap()));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let st = outputs.shutdown(std::time::Duration::from_secs(5));
    assert_eq!(st.repeats_suppressed, 2);
    assert_eq!(st.repeat_summaries, 1);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let summary: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(summary["repeat_count"], 2);
    let mut stripped = summary.clone();
    stripped.as_object_mut().unwrap().remove("repeat_count");
    assert_eq!(stripped, first);
    // Key order stays lexicographic with the extra key.
    assert!(lines[1].contains(r#""priority":"Warning","repeat_count":2,"rule":"#));
}
