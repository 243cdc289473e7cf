//! Loader, lists/macros, exceptions, overrides and report formats on
//! synthetic rules files (RULES.md §11.1, §11.2, §11.4, compile-time
//! parts of §11.3/§11.5, §11.8).

use std::path::PathBuf;

use kestrel_engine::rules::report;
use kestrel_engine::rules::{
    load_paths, Code, ErrorCode, FileResult, Loader, Priority, WarningCode,
};

fn load(s: &str) -> (Loader, FileResult) {
    let mut l = Loader::new();
    let r = l.load_str("t.yaml", s);
    (l, r)
}

fn ok(s: &str) -> Loader {
    let (l, r) = load(s);
    for d in &r.errors {
        eprintln!("{}", d.render_text());
    }
    assert!(r.errors.is_empty(), "unexpected error");
    l
}

fn error(s: &str) -> (ErrorCode, String) {
    let (_, r) = load(s);
    assert_eq!(
        r.errors.len(),
        1,
        "expected one error, warnings: {:?}",
        r.warnings
    );
    match r.errors[0].code {
        Code::Error(e) => (e, r.errors[0].message.clone()),
        Code::Warning(_) => unreachable!(),
    }
}

fn warnings(s: &str) -> Vec<(WarningCode, String)> {
    let (_, r) = load(s);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r.warnings
        .iter()
        .map(|d| match d.code {
            Code::Warning(w) => (w, d.message.clone()),
            Code::Error(_) => unreachable!(),
        })
        .collect()
}

fn rule(name: &str, cond: &str) -> String {
    format!("- rule: {name}\n  desc: d\n  condition: {cond}\n  output: o\n  priority: INFO\n")
}

const BASE: &str =
    "- macro: open_read\n  condition: evt.type in (open, openat) and evt.is_open_read=true\n";

// ---------------------------------------------------------------- §11.1

#[test]
fn documents_items_and_keys() {
    let src = format!(
        "{}---\n---\n{}",
        rule("a", "evt.type = open"),
        rule("b", "evt.type = close")
    );
    let l = ok(&src);
    assert_eq!(l.rules().len(), 2);
    assert_eq!(
        error("a: b\n"),
        (
            ErrorCode::YamlValidate,
            "Rules content is not yaml array of objects".into()
        )
    );
    assert_eq!(error("- [a]\n").0, ErrorCode::YamlValidate);
    assert_eq!(error("- a: [\n").0, ErrorCode::YamlParse);
    let w = warnings(&format!(
        "- foo: bar\n{}",
        rule("a", "evt.type = open").replace("  desc", "  descr: x\n  desc")
    ));
    assert_eq!(w[0].0, WarningCode::UnknownItem);
    assert_eq!(
        w[1],
        (
            WarningCode::UnknownKey,
            "Unknown key 'descr'. The key will be ignored.".into()
        )
    );
    // Loading stops at the first error: later items are not read.
    let (l, r) = load(&format!(
        "- list: x\n  items: 1\n{}",
        rule("a", "evt.type = open")
    ));
    assert_eq!(r.errors.len(), 1);
    assert!(l.rules().is_empty());
}

#[test]
fn required_keys_priorities_and_booleans() {
    assert_eq!(
        error("- rule: a\n  desc: d\n  condition: evt.type = open\n  priority: INFO\n"),
        (
            ErrorCode::YamlValidate,
            "Item has no mapping for key 'output'".into()
        )
    );
    assert_eq!(
        error(&rule("a", "evt.type = open").replace("INFO", "bogus")),
        (ErrorCode::YamlValidate, "Invalid priority".into())
    );
    assert_eq!(
        error(&rule("a", "evt.type = open").replace("desc: d", "desc: \"\"")),
        (ErrorCode::YamlValidate, "Value must be non-empty".into())
    );
    for p in ["info", "INFO", "Informational"] {
        let l = ok(&rule("a", "evt.type = open").replace("INFO", p));
        assert_eq!(l.rules()[0].priority, Priority::Informational);
        assert_eq!(l.rules()[0].priority as u8, 6);
    }
    for (v, want) in [("yes", true), ("Off", false), ("N", false), ("TRUE", true)] {
        let l = ok(&format!("{}  enabled: {v}\n", rule("a", "evt.type = open")));
        assert_eq!(l.rules()[0].enabled, want, "{v}");
    }
    assert_eq!(
        error(&format!(
            "{}  enabled: maybe\n",
            rule("a", "evt.type = open")
        ))
        .1,
        "Can't decode YAML scalar value"
    );
    let l = ok(&format!(
        "{}  tags: [b, a, b]\n",
        rule("a", "evt.type = open")
    ));
    assert_eq!(l.rules()[0].tags.iter().collect::<Vec<_>>(), ["a", "b"]);
    let l = ok(&rule("a", "evt.type = open").replace("output: o", "output: \"  o %proc.name  \""));
    assert_eq!(l.rules()[0].output, "o %proc.name");
}

#[test]
fn engine_and_plugin_versions() {
    for v in ["57", "\"0.57.0\"", "0.57.0"] {
        ok(&format!("- required_engine_version: {v}\n"));
    }
    assert_eq!(
        error("- required_engine_version: 0.99.0\n"),
        (
            ErrorCode::Validate,
            "Rules require engine version 0.99.0, but engine version is 0.62.0".into()
        )
    );
    assert_eq!(
        error("- required_engine_version: 1.0.0\n").1,
        "Rules require engine version 1.0.0, but engine version is 0.62.0"
    );
    assert_eq!(
        error("- required_engine_version: banana\n").1,
        "Unable to parse engine version 'banana' as a semver string. Expected \"x.y.z\" semver format."
    );
    let l = ok("- required_plugin_versions:\n  - name: container\n    version: 0.4.0\n");
    assert!(l.check_plugin_requirements().is_empty());
    let l = ok("- required_plugin_versions:\n  - name: container\n    version: 1.0.0\n");
    assert_eq!(
        l.check_plugin_requirements()[0].message,
        "Plugin requirement not satisfied, must load one of: container (>= 1.0.0)"
    );
    let l = ok("- required_plugin_versions:\n  - name: k8saudit\n    version: 0.1.0\n    alternatives:\n      - name: container\n        version: 0.3.0\n");
    assert!(l.check_plugin_requirements().is_empty());
    let l = ok("- required_plugin_versions:\n  - name: k8saudit\n    version: 0.1.0\n");
    assert!(l.check_plugin_requirements()[0]
        .message
        .contains("k8saudit (>= 0.1.0)"));
    assert_eq!(
        error("- required_plugin_versions:\n  - name: a\n    version: x\n").1,
        "Invalid required version 'x' for plugin 'a'"
    );
}

#[test]
fn list_items_keep_scalar_text() {
    let l = ok(&format!(
        "- list: nums\n  items: [1.10, 010, 0x10, true]\n{}",
        rule("a", "evt.type = open and proc.name in (nums)")
    ));
    assert_eq!(l.lists()[0].items, ["1.10", "010", "0x10", "true"]);
    assert!(l.rules()[0]
        .expanded_condition
        .contains("proc.name in (1.10, 010, 0x10, true)"));
}

#[test]
fn directories_and_multiple_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("b.yaml"), rule("b", "evt.type = open and m")).unwrap();
    std::fs::write(p("a.yml"), "- macro: m\n  condition: proc.name = x\n").unwrap();
    std::fs::write(p("c.txt"), "garbage: [").unwrap();
    std::fs::write(p("d.yaml.x.yaml"), "garbage: [").unwrap();
    let files = kestrel_engine::rules::expand_rule_paths(&[dir.path().to_path_buf()]).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.yml", "b.yaml"]);
    let loaded = load_paths(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(loaded.loader.rules().len(), 1);
    assert_eq!(loaded.results.len(), 2);
    // Explicit files are filtered too.
    assert!(load_paths(&[p("c.txt")]).unwrap().results.is_empty());
    // An earlier file cannot use a macro defined only in a later file.
    let fail = load_paths(&[p("b.yaml"), p("a.yml")]).err().unwrap();
    assert_eq!(fail.results.len(), 1);
    assert_eq!(
        fail.results[0].errors[0].message,
        "Undefined macro 'm' used in filter."
    );
    let r = Loader::new().load_file(&PathBuf::from("/nonexistent/x.yaml"));
    assert_eq!(r.errors[0].code, Code::Error(ErrorCode::FileRead));
}

// ---------------------------------------------------------------- §11.2

#[test]
fn parse_errors_are_reported_with_positions() {
    let (_, r) = load(&rule("a", "evt.type = open and proc.name = x andx"));
    let d = &r.errors[0];
    assert_eq!(d.code, Code::Error(ErrorCode::CompileCondition));
    assert_eq!(d.message, "expected blank or '(' after 'and'");
    let last = d.locations.last().unwrap();
    assert_eq!(last.item_type, "condition expression");
    assert_eq!(last.name, "\"evt.type = open a...\"");
    assert_eq!((last.pos.line, last.pos.column), (2, 50));
    assert_eq!(
        error(&rule("a", "evt.type = open and foo")),
        (
            ErrorCode::Validate,
            "Undefined macro 'foo' used in filter.".into()
        )
    );
    assert_eq!(
        error(&rule("a", "proc.name")).0,
        ErrorCode::CompileCondition
    );
    // An empty condition is already rejected by the YAML layer.
    assert_eq!(error(&rule("a", "\"\"")).1, "Value must be non-empty");
}

#[test]
fn block_scalar_positions_map_to_file_lines() {
    let src = "- rule: a\n  desc: d\n  condition: >\n    evt.type = open and\n    proc.nme = x\n  output: o\n  priority: INFO\n";
    let (_, r) = load(src);
    let d = &r.errors[0];
    assert_eq!(
        d.message,
        "filter_check called with nonexistent field proc.nme"
    );
    let last = d.locations.last().unwrap();
    assert_eq!((last.pos.line, last.pos.column), (4, 4));
    assert_eq!(d.snippet, "    proc.nme = x\n    ^\n");
    // Errors inside a macro name the macro and point into it.
    let src = format!(
        "- macro: m\n  condition: proc.nme = x\n{}",
        rule("a", "evt.type = open and m")
    );
    let (_, r) = load(&src);
    let d = &r.errors[0];
    let types: Vec<_> = d.locations.iter().map(|l| l.item_type).collect();
    assert_eq!(
        types,
        [
            "rules content",
            "rule",
            "rule condition",
            "macro",
            "condition expression"
        ]
    );
    assert_eq!(d.locations.last().unwrap().pos.line, 1);
}

// ---------------------------------------------------------------- §11.3

#[test]
fn compile_time_checks_and_skip_if_unknown_filter() {
    assert_eq!(
        error(&rule("a", "evt.type = nosuchcall")),
        (
            ErrorCode::CompileCondition,
            "unknown event type nosuchcall".into()
        )
    );
    let src = format!(
        "{}  skip-if-unknown-filter: true\n{}",
        rule("a", "evt.type = nosuchcall"),
        rule("b", "evt.type = open")
    );
    let (l, r) = load(&src);
    assert!(r.errors.is_empty());
    assert_eq!(
        r.warnings[0].code,
        Code::Warning(WarningCode::UnknownFilter)
    );
    assert_eq!(l.rules().len(), 1);
    assert_eq!(
        error(&rule("a", "evt.type = open and fd.num >= 0x10")).1,
        "0x10 is not a valid number"
    );
    assert!(
        error(&rule("a", "evt.type = open and proc.name regex \"(\""))
            .1
            .starts_with("invalid regex pattern")
    );
    assert!(
        error(&rule("a", "evt.type = open and tolower(proc.aname) = x"))
            .1
            .contains("transformers")
    );
    assert!(error(&rule(
        "a",
        "evt.type = open and proc.name pmatch val(proc.pname)"
    ))
    .1
    .contains("pmatch"));
    assert_eq!(
        error(&rule("a", "evt.type = open").replace("output: o", "output: o %")).0,
        ErrorCode::CompileOutput
    );
    let w = warnings(&rule("a", "evt.type = open and proc.name regex \"bash\""));
    assert_eq!(w[0].0, WarningCode::CompileCondition);
    let w = warnings(&rule("a", "evt.type = open and evt.dir = <"));
    assert_eq!(w[0].0, WarningCode::DeprecatedItem);
}

// ---------------------------------------------------------------- §11.4

#[test]
fn list_expansion_and_nesting() {
    let src = "- list: a\n  items: [x, \"b c\", '\"(systemd)\"']\n- list: e\n  items: []\n- list: n\n  items: [a, z]\n- list: later\n  items: [q]\n- list: n2\n  items: [later]\n";
    let l = ok(&format!(
        "{src}{}",
        rule(
            "r",
            "evt.type = open and proc.name in (n, e) and proc.pname in (e) and proc.aname in (n2)"
        )
    ));
    let c = &l.rules()[0].expanded_condition;
    assert!(c.contains("proc.name in (x, \"b c\", (systemd), z)"), "{c}");
    assert!(c.contains("proc.pname in ()"), "{c}");
    // `later` is defined after n2: n2's item stays literal, then the
    // textual expansion of `later` applies in the condition.
    assert!(c.contains("proc.aname in (q)"), "{c}");
    // Bare `x in list` with several items does not parse.
    let (e, _) = error(&format!(
        "{src}{}",
        rule("r", "evt.type = open and proc.name in a")
    ));
    assert_eq!(e, ErrorCode::CompileCondition);
    let l = ok(&format!(
        "- list: one\n  items: [bash]\n{}",
        rule("r", "evt.type = open and proc.name in one")
    ));
    assert!(l.rules()[0]
        .expanded_condition
        .contains("proc.name in bash"));
}

#[test]
fn macro_visibility_redefinition_and_loops() {
    // A macro cannot use a later macro.
    assert_eq!(
        error(&format!(
            "- macro: a\n  condition: b\n- macro: b\n  condition: proc.name = x\n{}",
            rule("r", "evt.type = open and a")
        ))
        .1,
        "Undefined macro 'b' used in filter."
    );
    // A rule can use a macro defined later.
    ok(&format!(
        "{}- macro: later\n  condition: proc.name = x\n",
        rule("r", "evt.type = open and later")
    ));
    // Redefinition keeps position and affects earlier rules.
    let l = ok(&format!(
        "- macro: m\n  condition: proc.name = x\n{}- macro: m\n  condition: proc.name = y\n",
        rule("r", "evt.type = open and m")
    ));
    assert!(l.rules()[0].expanded_condition.contains("proc.name = y"));
    assert_eq!(l.macros().len(), 1);
    // A loop through redefinition.
    let (e, m) = error(&format!(
        "- macro: a\n  condition: proc.name = x\n- macro: b\n  condition: a\n- macro: a\n  condition: b\n{}",
        rule("r", "evt.type = open and a")
    ));
    assert_eq!(
        (e, m.as_str()),
        (ErrorCode::Validate, "reference loop in macro 'b'")
    );
    // Macros substitute as nodes: `not m` negates the whole macro.
    let l = ok(&format!(
        "- macro: m\n  condition: proc.name = a or proc.name = b\n{}",
        rule("r", "evt.type = open and not m")
    ));
    assert!(l.rules()[0]
        .expanded_condition
        .contains("not (proc.name = a or proc.name = b)"));
    // An unused macro with a syntax error still fails.
    assert_eq!(
        error("- macro: bad\n  condition: proc.name =\n").0,
        ErrorCode::CompileCondition
    );
}

#[test]
fn unused_warnings() {
    let w = warnings(&format!(
        "- list: ul\n  items: [a]\n- macro: um\n  condition: proc.name = x\n{}",
        rule("r", "evt.type = open")
    ));
    assert!(w.contains(&(
        WarningCode::UnusedMacro,
        "Macro not referred to by any other rule/macro".into()
    )));
    assert!(w.contains(&(
        WarningCode::UnusedList,
        "List not referred to by any other rule/macro".into()
    )));
    let w = warnings(&format!(
        "- list: a\n  items: [x]\n- list: b\n  items: [a]\n{}",
        rule("r", "evt.type = open and proc.name in (b)")
    ));
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn exceptions_generate_exact_conditions() {
    let src = "- rule: R\n  desc: d\n  output: o\n  priority: INFO\n  condition: evt.type = open\n  exceptions:\n    - name: known\n      fields: [proc.name, fd.directory]\n      comps: [=, in]\n      values:\n        - [cat, [/tmp, \"/var/my dir\"]]\n    - name: single\n      fields: proc.pname\n      values: [a, b c]\n    - name: empty\n      fields: proc.name\n";
    let l = ok(src);
    assert_eq!(
        l.rules()[0].expanded_condition,
        "(evt.type = open and not (proc.name = cat and fd.directory in (/tmp, \"/var/my dir\")) and not proc.pname in (a, \"b c\"))"
    );
    let d = l.rule_details(0).unwrap();
    assert_eq!(
        d.exception_fields.iter().collect::<Vec<_>>(),
        ["fd.directory", "proc.name", "proc.pname"]
    );
    let bad = |ex: &str| {
        error(&format!("- rule: R\n  desc: d\n  output: o\n  priority: INFO\n  condition: evt.type = open\n  exceptions:\n{ex}")).1
    };
    assert_eq!(
        bad("    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=]\n"),
        "Fields and comps lists must have equal length"
    );
    assert_eq!(
        bad("    - name: e\n      fields: [proc.name]\n      values: [[a, b]]\n"),
        "Fields and values lists must have equal length"
    );
    assert_eq!(
        bad("    - name: e\n      fields: [proc.nme]\n"),
        "'proc.nme' is not a supported filter field"
    );
    assert_eq!(
        bad("    - name: e\n      fields: [proc.name]\n      comps: [foo]\n"),
        "'foo' is not a supported comparison operator"
    );
    assert_eq!(
        bad("    - name: e\n      fields: proc.name\n      comps: =\n"),
        "When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator"
    );
    ok("- rule: R\n  desc: d\n  output: o\n  priority: INFO\n  condition: evt.type = open\n  exceptions:\n    - name: e\n      fields: [tolower(proc.name), proc.name]\n      comps: [=, startswith anyof]\n      values: [[a, [b, c]]]\n");
    let w = warnings("- rule: R\n  desc: d\n  output: o\n  priority: INFO\n  condition: evt.type = open\n  exceptions:\n    - name: e\n      fields: proc.name\n    - name: e\n      fields: proc.name\n");
    assert_eq!(w[0].0, WarningCode::ExceptionNameNotUnique);
}

#[test]
fn overrides_and_appends() {
    let base = format!("{BASE}{}", rule("r", "open_read and proc.name = a"));
    let ov = |extra: &str| format!("{base}- rule: r\n{extra}");
    // Append condition: precedence follows the re-parsed text.
    let l = ok(&ov(
        "  condition: or proc.name = c\n  override:\n    condition: append\n",
    ));
    assert!(
        l.rules()[0]
            .expanded_condition
            .ends_with(" or proc.name = c)"),
        "{}",
        l.rules()[0].expanded_condition
    );
    assert!(l.rules()[0].expanded_condition.starts_with("(("));
    let l = ok(&ov("  output: more\n  desc: extra\n  tags: [t]\n  override:\n    output: append\n    desc: append\n    tags: append\n"));
    assert_eq!(l.rules()[0].output, "o more");
    assert_eq!(l.rules()[0].desc, "d extra");
    let l = ok(&ov("  priority: ERROR\n  enabled: false\n  condition: evt.type = close\n  override:\n    priority: replace\n    enabled: replace\n    condition: replace\n"));
    assert_eq!(l.rules()[0].priority, Priority::Error);
    assert!(!l.rules()[0].enabled);
    assert_eq!(l.rules()[0].condition_text, "evt.type = close");
    assert_eq!(
        error(&ov(
            "  priority: ERROR\n  override:\n    priority: append\n"
        ))
        .1,
        "Key 'priority' cannot be appended to, use 'replace' instead"
    );
    assert_eq!(
        error(&ov("  source: x\n  override:\n    source: replace\n")).1,
        "Key 'source' cannot be replaced"
    );
    assert_eq!(error(&ov("  condition: x\n  override:\n    condition: merge\n")).1, "Invalid override operation for key 'condition': 'merge'. Allowed values are: append replace ");
    assert_eq!(
        error(&ov(
            "  condition: x\n  output: y\n  override:\n    condition: append\n"
        ))
        .1,
        "Unexpected key 'output': no corresponding entry under 'override' is defined."
    );
    assert_eq!(
        error(&ov("  override:\n    condition: append\n")).1,
        "An append override for 'condition' was specified but 'condition' is not defined"
    );
    assert_eq!(
        error(&ov(
            "  condition: x\n  append: true\n  override:\n    condition: append\n"
        ))
        .1
        .split('.')
        .next()
        .unwrap(),
        "Keys 'override' and 'append: true' cannot be used together"
    );
    assert_eq!(
        error(&format!(
            "{BASE}- rule: nope\n  condition: x\n  override:\n    condition: append\n"
        ))
        .1,
        "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists"
    );
    assert_eq!(
        error(&format!("{BASE}- rule: nope\n  condition: x\n  override:\n    condition: replace\n")).1,
        "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists"
    );
    // Lists and macros.
    let l = ok(&format!(
        "- list: l\n  items: [a]\n- list: l\n  items: [b]\n  override:\n    items: append\n{}",
        rule("x", "evt.type = open and proc.name in (l)")
    ));
    assert_eq!(l.lists()[0].items, ["a", "b"]);
    assert_eq!(
        error("- list: l\n  items: [b]\n  override:\n    items: append\n").1,
        "List uses 'append' or 'override.items: append' but no list by that name already exists"
    );
    let l = ok(&format!("- macro: m\n  condition: proc.name = a\n- macro: m\n  condition: or proc.name = b\n  override:\n    condition: append\n{}", rule("x", "evt.type = open and m")));
    assert_eq!(l.macros()[0].condition, "proc.name = a or proc.name = b");
}

#[test]
fn legacy_append_and_enabled() {
    let base = format!("{BASE}{}", rule("r", "open_read"));
    let w = warnings(&format!(
        "{base}- rule: r\n  append: true\n  condition: and proc.name = x\n"
    ));
    assert_eq!(w[0].0, WarningCode::DeprecatedItem);
    let l = ok(&format!("{base}- rule: r\n  append: true\n  condition: and proc.name = x\n  exceptions:\n    - name: e\n      fields: proc.name\n      values: [y]\n"));
    assert!(l.rules()[0].expanded_condition.contains("proc.name = x"));
    assert!(l.rules()[0]
        .expanded_condition
        .contains("not proc.name in (y)"));
    let l = ok(&format!("{base}- list: l\n  items: [a]\n- list: l\n  append: true\n  items: [b]\n- macro: open_read\n  append: true\n  condition: or proc.name = z\n"));
    assert_eq!(
        l.macros()[0].condition,
        "evt.type in (open, openat) and evt.is_open_read=true or proc.name = z"
    );
    let (l, r) = load(&format!("{base}- rule: r\n  enabled: false\n"));
    assert!(!l.rules()[0].enabled);
    assert_eq!(
        r.warnings[0].code,
        Code::Warning(WarningCode::DeprecatedItem)
    );
    assert_eq!(
        error(&format!("{base}- rule: nope\n  enabled: false\n")).1,
        "Rule has 'enabled' key but no rule by that name already exists"
    );
    // Exception values appended to an existing exception.
    let ex = "- rule: e\n  desc: d\n  output: o\n  priority: INFO\n  condition: evt.type = open\n  exceptions:\n    - name: x\n      fields: proc.name\n      values: [a]\n";
    let l = ok(&format!("{ex}- rule: e\n  exceptions:\n    - name: x\n      values: [b]\n  override:\n    exceptions: append\n"));
    assert!(l.rules()[0]
        .expanded_condition
        .contains("proc.name in (a, b)"));
    assert_eq!(
        error(&format!("{ex}- rule: e\n  exceptions:\n    - name: x\n      fields: proc.pname\n      values: [b]\n  override:\n    exceptions: append\n")).1,
        "Can not append exception fields to existing exception, only values"
    );
    let w = warnings(&format!(
        "{ex}- rule: e\n  exceptions:\n    - name: x\n  override:\n    exceptions: append\n"
    ));
    assert!(
        w.iter().any(|(c, _)| *c == WarningCode::AppendNoValues),
        "{w:?}"
    );
}

#[test]
fn sources_and_event_type_warnings() {
    let (l, r) = load(&format!(
        "{}  source: k8s_audit\n",
        rule("a", "ka.verb = create")
    ));
    assert!(r.errors.is_empty());
    assert_eq!(
        r.warnings[0].code,
        Code::Warning(WarningCode::UnknownSource)
    );
    assert!(l.rules().is_empty());
    let w = warnings(&rule("a", "proc.name = x"));
    assert_eq!(w[0].0, WarningCode::NoEvttype);
    assert!(warnings(&format!(
        "{}  warn_evttypes: false\n",
        rule("a", "proc.name = x")
    ))
    .is_empty());
    let l = ok(&rule("a", "proc.name = x and not evt.type in (open)")
        .replace("INFO", "INFO\n  warn_evttypes: false"));
    let types = l.rules()[0].evttypes.as_ref().unwrap();
    assert!(!types.contains("open") && types.contains("close"));
    assert!(
        ok(&rule("a", "proc.name = x").replace("INFO", "INFO\n  warn_evttypes: false")).rules()[0]
            .evttypes
            .is_none()
    );
}

// ---------------------------------------------------------------- §11.8

#[test]
fn validate_text_and_json() {
    let good = rule("a", "evt.type = open");
    let warn = rule("b", "proc.name = x");
    let bad = rule("c", "evt.type = open and proc.nme = x");
    let rep = report::validate_strs(&[
        ("good.yaml", &good),
        ("warn.yaml", &warn),
        ("bad.yaml", &bad),
    ]);
    assert!(!rep.ok());
    let t = rep.render_text();
    assert!(t.starts_with("good.yaml: Ok\nwarn.yaml: Ok, with warnings\nbad.yaml: Invalid\n1 Errors:\nIn rules content: (bad.yaml:0:0)\n    rule 'c': (bad.yaml:0:2)\n    rule condition: (bad.yaml:2:13)\n    condition expression: (\"evt.type = open a...\":2:33)\n------\n  condition: evt.type = open and proc.nme = x\n                                 ^\n------\nLOAD_ERR_COMPILE_CONDITION (Error compiling condition): filter_check called with nonexistent field proc.nme\n"), "{t}");
    // Upstream prints the summary and one newline; the invalid file's
    // verbose text (its warnings after a blank line) already ends with
    // one, so the output ends with a blank line. The summary is also the
    // fatal error text.
    assert!(
        t.contains("proc.nme\n\n1 Warnings:\n") && t.ends_with("penalty.\n\n"),
        "{t:?}"
    );
    assert_eq!(t, format!("{}\n", rep.summary_text()));
    // The warnings of a valid file are in its verbose text (upstream logs
    // it), not in the summary.
    assert!(report::file_result_text(&rep.results[1])
        .starts_with("warn.yaml: Ok, with warnings\n1 Warnings:\n"));
    let j: serde_json::Value = serde_json::from_str(&rep.render_json()).unwrap();
    let r = &j["falco_load_results"];
    assert_eq!(r[0]["successful"], true);
    assert_eq!(r[1]["warnings"][0]["code"], "LOAD_NO_EVTTYPE");
    let e = &r[2]["errors"][0];
    assert_eq!(e["code"], "LOAD_ERR_COMPILE_CONDITION");
    assert_eq!(e["codedesc"], "Error compiling condition");
    assert_eq!(
        e["context"]["locations"][3]["item_type"],
        "condition expression"
    );
    assert_eq!(e["context"]["locations"][3]["position"]["line"], 2);
    assert!(e["context"]["snippet"].as_str().unwrap().ends_with("^\n"));
    let keys: Vec<_> = r[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["errors", "name", "successful", "warnings"]);
    // A later file may use an earlier file's macro.
    let rep = report::validate_strs(&[
        ("a.yaml", "- macro: m\n  condition: proc.name = x\n"),
        ("b.yaml", &rule("b", "evt.type = open and m")),
    ]);
    assert!(rep.ok(), "{}", rep.render_text());
    assert_eq!(
        report::counts_line(&rep.results[1]),
        "1 rules, 0 macros, 0 lists"
    );
}

#[test]
fn rule_listing_formats() {
    let long = "word ".repeat(30);
    let l = ok(&format!(
        "{}{}",
        rule("a", "evt.type = open").replace("desc: d", &format!("desc: {long}")),
        rule("b", "evt.type = open").replace("INFO", "INFO\n  enabled: false")
    ));
    let t = report::list_rules_text(l.rules());
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], format!("{:<50} Description", "Rule"));
    assert_eq!(lines[1], format!("{:<50} -----------", "----"));
    assert!(lines[2].starts_with(&format!("{:<50} word word", "a")));
    assert!(lines[2].len() <= 51 + 59);
    assert!(lines[3].starts_with(&" ".repeat(51)));
    assert!(t.contains(&format!("\n{:<50} d \n\n", "b")));
    let j: serde_json::Value = serde_json::from_str(&report::list_rules_json(&l)).unwrap();
    let keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "lists",
            "macros",
            "required_engine_version",
            "required_plugin_versions",
            "rules"
        ]
    );
    let r0 = &j["rules"][0];
    assert_eq!(r0["info"]["priority"], "Informational");
    assert_eq!(r0["details"]["events"][0], "open");
    assert_eq!(r0["details"]["condition_compiled"], "evt.type = open");
    let one: serde_json::Value =
        serde_json::from_str(&report::describe_rule(&l, "b", true).unwrap()).unwrap();
    assert_eq!(one["rules"][0]["info"]["enabled"], false);
    assert_eq!(
        report::describe_rule(&l, "zz", false).unwrap_err(),
        "Rule \"zz\" is not loaded"
    );
}
