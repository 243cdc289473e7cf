//! Configuration: the embedded defaults (`kestrel.yaml` at the repository
//! root, every option documented there), an optional user file merged over
//! them, then `-o key=value` overrides with Falco's key syntax.
//!
//! The merged document is kept as a YAML tree; typed getters convert scalars
//! leniently because `-o` values arrive as text (`-o json_output=true`).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_yaml::{Mapping, Value};

/// The documented default configuration, embedded in the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../kestrel.yaml");

/// A merged configuration document.
#[derive(Debug, Clone)]
pub struct Config {
    tree: Value,
    /// Human-readable origin, for error messages.
    origin: String,
    /// The files read: `-c` and the `config_files` it included.
    files: Vec<std::path::PathBuf>,
}

impl Config {
    /// Embedded defaults, then `path` (if any, with the files its
    /// `config_files` names merged into it the way Falco merges them) over
    /// them, then the `-o` overrides in order. A key of the file that
    /// kestrel does not have is reported once through `warn` (as an
    /// unsupported Falco option when Falco 0.44's falco.yaml has it) and
    /// dropped; the topmost such key is reported, not each of its leaves.
    pub fn load(
        path: Option<&Path>,
        overrides: &[String],
        warn: &mut dyn FnMut(String),
    ) -> Result<Config> {
        let mut tree: Value =
            serde_yaml::from_str(DEFAULT_CONFIG).context("embedded default configuration")?;
        let mut origin = "built-in defaults".to_string();
        let mut files = Vec::new();
        // `-o config_files=...` adds includes, merged after the file's own
        // (Falco's load_cmdline_config_files).
        let is_include = |o: &String| {
            o.split_once('=').is_some_and(|(k, _)| {
                let k = k.trim();
                k == "config_files"
                    || k.starts_with("config_files[")
                    || k.starts_with("config_files.")
            })
        };
        let mut cmdline = Value::Mapping(Mapping::new());
        for o in overrides.iter().filter(|o| is_include(o)) {
            apply_override(&mut cmdline, o).with_context(|| format!("option -o {o}"))?;
        }
        let cmdline_includes = cmdline.get("config_files").cloned();
        if path.is_some() || cmdline_includes.is_some() {
            let main = path.unwrap_or(Path::new("-o config_files"));
            let mut user = match path {
                Some(p) => {
                    files.push(p.to_path_buf());
                    origin = p.display().to_string();
                    read_yaml_mapping(p)?
                }
                None => Value::Mapping(Mapping::new()),
            };
            let mut included = include_config_files(main, &mut user)?;
            if let Some(extra) = cmdline_includes {
                // The includes of -o, merged into the same document.
                if let Value::Mapping(u) = &mut user {
                    u.insert(Value::String("config_files".into()), extra);
                }
                included.extend(include_config_files(main, &mut user)?);
            }
            files.extend(included.iter().cloned());
            if !included.is_empty() {
                origin = format!(
                    "{origin} + {}",
                    included
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if let Value::Mapping(m) = &mut user {
                m.remove("config_files");
            }
            drop_unsupported(&tree, &mut user, "", &origin, warn);
            merge(&mut tree, user);
        }
        for o in overrides.iter().filter(|o| !is_include(o)) {
            apply_override(&mut tree, o).with_context(|| format!("option -o {o}"))?;
        }
        Ok(Config {
            tree,
            origin,
            files,
        })
    }

    /// The configuration files read (`-c`, then what its `config_files`
    /// included), for Falco's sha256 metrics.
    pub fn files(&self) -> &[std::path::PathBuf] {
        &self.files
    }

    /// Where the configuration came from (for messages).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The merged document as JSON (`--support`). Keys that are not
    /// strings are written as their YAML text; tags are dropped.
    pub fn to_json(&self) -> serde_json::Value {
        yaml_to_json(&self.tree)
    }

    /// The raw value at a dotted path (`file_output.filename`).
    pub fn get(&self, path: &str) -> Option<&Value> {
        let mut cur = &self.tree;
        for part in path.split('.') {
            cur = cur.as_mapping()?.get(part)?;
        }
        Some(cur)
    }

    /// A boolean (accepts YAML booleans and the yaml-cpp spellings as text).
    pub fn bool(&self, path: &str) -> Result<bool> {
        match self.get(path) {
            None | Some(Value::Null) => bail!("config key '{path}' is missing"),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => parse_bool(s)
                .ok_or_else(|| anyhow!("config key '{path}': '{s}' is not a boolean (true/false)")),
            Some(v) => bail!(
                "config key '{path}': expected a boolean, found {}",
                describe(v)
            ),
        }
    }

    /// A string (numbers and booleans are rendered as text).
    pub fn string(&self, path: &str) -> Result<String> {
        match self.get(path) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            Some(v) => bail!(
                "config key '{path}': expected a string, found {}",
                describe(v)
            ),
        }
    }

    /// An unsigned integer.
    pub fn u64(&self, path: &str) -> Result<u64> {
        match self.get(path) {
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| anyhow!("config key '{path}': {n} is not a non-negative integer")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| anyhow!("config key '{path}': '{s}' is not a non-negative integer")),
            None | Some(Value::Null) => bail!("config key '{path}' is missing"),
            Some(v) => bail!(
                "config key '{path}': expected an integer, found {}",
                describe(v)
            ),
        }
    }

    /// A floating point number.
    pub fn f64(&self, path: &str) -> Result<f64> {
        match self.get(path) {
            Some(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| anyhow!("config key '{path}': {n} is not a number")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| anyhow!("config key '{path}': '{s}' is not a number")),
            None | Some(Value::Null) => bail!("config key '{path}' is missing"),
            Some(v) => bail!(
                "config key '{path}': expected a number, found {}",
                describe(v)
            ),
        }
    }

    /// A list of strings (a scalar counts as a one-element list).
    pub fn strings(&self, path: &str) -> Result<Vec<String>> {
        match self.get(path) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    other => bail!(
                        "config key '{path}': list items must be strings, found {}",
                        describe(other)
                    ),
                })
                .collect(),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(v) => bail!(
                "config key '{path}': expected a list of strings, found {}",
                describe(v)
            ),
        }
    }

    /// The sequence at `path` (empty when absent).
    pub fn seq(&self, path: &str) -> Result<Vec<Value>> {
        match self.get(path) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Sequence(items)) => Ok(items.clone()),
            Some(v) => bail!(
                "config key '{path}': expected a list, found {}",
                describe(v)
            ),
        }
    }
}

fn yaml_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => serde_json::to_value(n).unwrap_or(J::Null),
        Value::String(s) => J::String(s.clone()),
        Value::Sequence(items) => J::Array(items.iter().map(yaml_to_json).collect()),
        Value::Mapping(m) => J::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim_end()
                            .to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Value::Tagged(t) => yaml_to_json(&t.value),
    }
}

/// yaml-cpp's boolean spellings.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
            Some(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
            Some(false)
        }
        _ => None,
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn yaml_error(path: &Path, e: &serde_yaml::Error) -> anyhow::Error {
    match e.location() {
        Some(l) => anyhow!(
            "{}:{}:{}: invalid YAML: {e}",
            path.display(),
            l.line(),
            l.column()
        ),
        None => anyhow!("{}: invalid YAML: {e}", path.display()),
    }
}

/// Reads a YAML file that must hold a mapping (or nothing).
fn read_yaml_mapping(p: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("reading config file {}", p.display()))?;
    let v: Value = serde_yaml::from_str(&text).map_err(|e| yaml_error(p, &e))?;
    match v {
        Value::Mapping(_) => Ok(v),
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        _ => bail!(
            "{}: the configuration must be a YAML mapping of keys to values",
            p.display()
        ),
    }
}

/// How an included file's top-level keys combine with the ones already
/// there (Falco's `config_files[].strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Lists are appended to; anything else replaces (the default).
    Append,
    /// Replaces.
    Override,
    /// Only keys not yet there are added.
    AddOnly,
}

/// Falco's `config_files`: each entry (a path, or `{path, strategy}`) is a
/// file, merged in, or a directory whose regular files are merged in
/// sorted order; entries that do not exist are skipped, as Falco does.
/// Included files may not have `config_files` themselves. Returns the
/// files merged.
fn include_config_files(main: &Path, user: &mut Value) -> Result<Vec<std::path::PathBuf>> {
    let entries = match user.get("config_files") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Sequence(s)) => s.clone(),
        Some(v @ (Value::String(_) | Value::Mapping(_))) => vec![v.clone()],
        Some(v) => bail!(
            "{}: config key 'config_files': expected a list, found {}",
            main.display(),
            describe(v)
        ),
    };
    let mut merged = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let ctx = || format!("{}: config key 'config_files[{i}]'", main.display());
        let (path, strategy) = match e {
            Value::String(s) => (s.clone(), Strategy::Append),
            Value::Mapping(m) => {
                let path = m
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or_else(|| anyhow!("{}: 'path' is missing", ctx()))?
                    .to_string();
                let strategy = match m.get("strategy").and_then(Value::as_str) {
                    None | Some("append") => Strategy::Append,
                    Some("override") => Strategy::Override,
                    Some("add-only") => Strategy::AddOnly,
                    Some(other) => bail!(
                        "{}: unknown strategy '{other}' (append, override, add-only)",
                        ctx()
                    ),
                };
                (path, strategy)
            }
            other => bail!("{}: expected a path, found {}", ctx(), describe(other)),
        };
        let p = std::path::PathBuf::from(&path);
        if p == main {
            bail!("{}: tries to include the main configuration file", ctx());
        }
        let files = if p.is_file() {
            vec![p]
        } else if p.is_dir() {
            let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(&p)
                .with_context(|| format!("{}: reading {path}", ctx()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .collect();
            v.sort();
            v
        } else {
            continue;
        };
        for f in files {
            let inc = read_yaml_mapping(&f)?;
            let Value::Mapping(inc) = inc else { continue };
            let Value::Mapping(root) = user else {
                unreachable!("read_yaml_mapping returns a mapping")
            };
            for (k, v) in inc {
                if k.as_str() == Some("config_files") {
                    bail!(
                        "{}: 'config_files' may not appear in an included file",
                        f.display()
                    );
                }
                match (strategy, root.get_mut(&k)) {
                    (Strategy::Append, Some(Value::Sequence(cur))) if v.is_sequence() => {
                        if let Value::Sequence(items) = v {
                            cur.extend(items);
                        }
                    }
                    (Strategy::AddOnly, Some(_)) => {}
                    _ => {
                        root.insert(k, v);
                    }
                }
            }
            merged.push(f);
        }
    }
    Ok(merged)
}

/// Falco 0.44's stock falco.yaml (its `rules_files`, `config_files` and
/// every other key), the reference for "a Falco option".
pub const FALCO_YAML: &str = include_str!("../tests/data/falco-0.44/falco.yaml");

/// Keys kestrel reads that its defaults leave out (no default value).
pub const EXTRA_KEYS: &[&str] = &[
    "config_files",
    "stdout_output.min_priority",
    "syslog_output.min_priority",
    "file_output.min_priority",
    "http_output.min_priority",
    "program_output.min_priority",
    "http_output.echo",
    "http_output.compress_uploads",
];

/// Removes from `user` the keys the defaults do not have, reporting each
/// topmost one once. Lists are not descended into (their items are
/// checked by whoever reads them).
fn drop_unsupported(
    known: &Value,
    user: &mut Value,
    prefix: &str,
    origin: &str,
    warn: &mut dyn FnMut(String),
) {
    let (Value::Mapping(k), Value::Mapping(u)) = (known, user) else {
        return;
    };
    let keys: Vec<Value> = u.keys().cloned().collect();
    for key in keys {
        let name = match key.as_str() {
            Some(s) => s.to_string(),
            None => serde_yaml::to_string(&key)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if EXTRA_KEYS.contains(&path.as_str()) {
            continue;
        }
        match k.get(&key) {
            Some(kv) => {
                if let Some(uv) = u.get_mut(&key) {
                    if kv.is_mapping() && uv.is_mapping() {
                        drop_unsupported(kv, uv, &path, origin, warn);
                    }
                }
            }
            None => {
                u.remove(&key);
                if is_falco_key(&path) {
                    warn(format!(
                        "{origin}: Falco configuration key '{path}' is not supported by kestrel and is ignored (see COMPATIBILITY.md)"
                    ));
                } else {
                    warn(format!(
                        "{origin}: unknown configuration key '{path}' ignored"
                    ));
                }
            }
        }
    }
}

/// Falco 0.44 keys its stock falco.yaml documents only in comments.
pub const FALCO_COMMENTED_KEYS: &[&str] = &["rules", "static_fields"];

/// Whether Falco 0.44's stock falco.yaml has `path` (a dotted key path), or
/// documents it in a comment ([`FALCO_COMMENTED_KEYS`]).
pub fn is_falco_key(path: &str) -> bool {
    if FALCO_COMMENTED_KEYS.contains(&path) {
        return true;
    }
    static TREE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let tree = TREE.get_or_init(|| serde_yaml::from_str(FALCO_YAML).unwrap_or(Value::Null));
    let mut cur = tree;
    for part in path.split('.') {
        match cur.as_mapping().and_then(|m| m.get(part)) {
            Some(v) => cur = v,
            None => return false,
        }
    }
    true
}

/// Every key path of Falco's stock falco.yaml, depth first in file order
/// (mappings descended, lists not), for COMPATIBILITY.md.
pub fn falco_key_paths() -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Mapping(m) = v {
            for (k, v) in m {
                let Some(k) = k.as_str() else { continue };
                let p = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(p.clone());
                walk(v, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_yaml::from_str::<Value>(FALCO_YAML) {
        walk(&v, "", &mut out);
    }
    out.extend(FALCO_COMMENTED_KEYS.iter().map(|k| k.to_string()));
    out
}

/// Whether kestrel's defaults have `path` (kestrel reads it).
pub fn is_kestrel_key(path: &str) -> bool {
    static TREE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let tree = TREE.get_or_init(|| serde_yaml::from_str(DEFAULT_CONFIG).unwrap_or(Value::Null));
    if EXTRA_KEYS.contains(&path) {
        return true;
    }
    let mut cur = tree;
    for part in path.split('.') {
        match cur.as_mapping().and_then(|m| m.get(part)) {
            Some(v) => cur = v,
            None => return false,
        }
    }
    true
}

/// Deep merge: mappings merge key by key, everything else is replaced.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// One step of a `-o` key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    Append,
}

/// Splits a key path: `.` separates keys, `[i]` indexes a list, `[]`
/// appends; `\.`, `\[`, `\]`, `\\` escape (RULES.md §10.5).
fn parse_key(key: &str) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let mut cur = String::new();
    let mut chars = key.chars().peekable();
    let mut pending_key = true;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('.' | '[' | ']' | '\\')) => cur.push(e),
                Some(e) => bail!("invalid escape '\\{e}' in key"),
                None => bail!("key ends with a backslash"),
            },
            '.' => {
                if pending_key {
                    if cur.is_empty() {
                        bail!("empty key component");
                    }
                    steps.push(Step::Key(std::mem::take(&mut cur)));
                }
                pending_key = true;
            }
            '[' => {
                if pending_key {
                    if cur.is_empty() {
                        bail!("index without a key");
                    }
                    steps.push(Step::Key(std::mem::take(&mut cur)));
                }
                let mut idx = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(d) => idx.push(d),
                        None => bail!("unterminated '[' in key"),
                    }
                }
                if idx.is_empty() {
                    steps.push(Step::Append);
                } else {
                    steps.push(Step::Index(
                        idx.parse()
                            .map_err(|_| anyhow!("invalid list index '{idx}'"))?,
                    ));
                }
                pending_key = false;
                if let Some(&n) = chars.peek() {
                    if n != '.' && n != '[' {
                        bail!("expected '.' or '[' after ']'");
                    }
                }
            }
            c => {
                if !pending_key {
                    bail!("expected '.' or '[' after ']'");
                }
                cur.push(c)
            }
        }
    }
    if pending_key {
        if cur.is_empty() {
            bail!("empty key");
        }
        steps.push(Step::Key(cur));
    }
    Ok(steps)
}

/// Applies one `-o key=value`: split at the first `=`; a value in braces is
/// parsed as a YAML mapping, any other value as a YAML scalar.
fn apply_override(tree: &mut Value, o: &str) -> Result<()> {
    let (key, value) = o
        .split_once('=')
        .ok_or_else(|| anyhow!("expected key=value"))?;
    let steps = parse_key(key.trim())?;
    let value = value.trim();
    let v: Value = if value.starts_with('{') && value.ends_with('}') {
        serde_yaml::from_str(value).map_err(|e| anyhow!("invalid YAML map '{value}': {e}"))?
    } else {
        match serde_yaml::from_str::<Value>(value) {
            Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::Null)) if !value.is_empty() => v,
            _ => Value::String(value.to_string()),
        }
    };
    let mut cur = tree;
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        cur = match step {
            Step::Key(k) => {
                if !cur.is_mapping() {
                    *cur = Value::Mapping(Mapping::new());
                }
                let m = cur.as_mapping_mut().expect("mapping");
                let kv = Value::String(k.clone());
                if !m.contains_key(&kv) {
                    m.insert(kv.clone(), Value::Null);
                }
                m.get_mut(&kv).expect("inserted")
            }
            Step::Index(n) => {
                let s = cur
                    .as_sequence_mut()
                    .ok_or_else(|| anyhow!("'{key}': not a list"))?;
                let len = s.len();
                s.get_mut(*n)
                    .ok_or_else(|| anyhow!("'{key}': index {n} out of range (list has {len})"))?
            }
            Step::Append => {
                if !cur.is_sequence() {
                    *cur = Value::Sequence(Vec::new());
                }
                let s = cur.as_sequence_mut().expect("sequence");
                s.push(Value::Null);
                s.last_mut().expect("pushed")
            }
        };
        if last {
            *cur = v.clone();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(overrides: &[&str]) -> Config {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Config::load(None, &o, &mut |_| {}).unwrap()
    }

    #[test]
    fn defaults_parse_and_have_the_documented_values() {
        let c = cfg(&[]);
        assert!(!c.bool("json_output").unwrap());
        assert_eq!(c.string("priority").unwrap(), "debug");
        assert_eq!(c.string("rule_matching").unwrap(), "first");
        assert_eq!(c.u64("webserver.listen_port").unwrap(), 8765);
        assert!(c.bool("stdout_output.enabled").unwrap());
    }

    #[test]
    fn overrides_follow_falco_syntax() {
        let c = cfg(&[
            "json_output=true",
            "priority=warning",
            "file_output.filename=/tmp/a=b.txt",
            "rules[].disable.rule=*",
            "rules[].enable.tag=maturity_stable",
            "append_output[].extra_output=pid=%proc.pid",
            "http_output={enabled: true, url: 'http://127.0.0.1:1/'}",
        ]);
        assert!(c.bool("json_output").unwrap());
        assert_eq!(c.string("priority").unwrap(), "warning");
        assert_eq!(c.string("file_output.filename").unwrap(), "/tmp/a=b.txt");
        let rules = c.seq("rules").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["disable"]["rule"].as_str(), Some("*"));
        assert_eq!(rules[1]["enable"]["tag"].as_str(), Some("maturity_stable"));
        let ao = c.seq("append_output").unwrap();
        assert_eq!(
            ao.last().unwrap()["extra_output"].as_str(),
            Some("pid=%proc.pid")
        );
        assert!(c.bool("http_output.enabled").unwrap());
        assert_eq!(c.string("http_output.url").unwrap(), "http://127.0.0.1:1/");
    }

    #[test]
    fn key_escapes_and_errors() {
        assert_eq!(
            parse_key(r"a\.b.c[2].d[]").unwrap(),
            vec![
                Step::Key("a.b".into()),
                Step::Key("c".into()),
                Step::Index(2),
                Step::Key("d".into()),
                Step::Append
            ]
        );
        assert!(parse_key("a..b").is_err());
        assert!(parse_key("a[x]").is_err());
        assert!(parse_key("a[1").is_err());
        let o: Vec<String> = vec!["novalue".into()];
        assert!(Config::load(None, &o, &mut |_| {}).is_err());
    }

    #[test]
    fn bad_types_are_clear_errors() {
        let c = cfg(&["json_output=maybe", "webserver.listen_port=http"]);
        let e = c.bool("json_output").unwrap_err().to_string();
        assert!(e.contains("json_output") && e.contains("maybe"), "{e}");
        let e = c.u64("webserver.listen_port").unwrap_err().to_string();
        assert!(e.contains("listen_port"), "{e}");
    }

    #[test]
    fn config_files_strategies_follow_falco() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("a.yaml"),
            "rules_files: [/a.yaml]\npriority: error\n",
        )
        .unwrap();
        std::fs::write(d.join("o.yaml"), "rules_files: [/o.yaml]\n").unwrap();
        std::fs::write(d.join("n.yaml"), "priority: notice\nlog_level: debug\n").unwrap();
        let main = d.join("main.yaml");
        let p = |f: &str| d.join(f).display().to_string();
        std::fs::write(
            &main,
            format!(
                "rules_files: [/main.yaml]\nconfig_files:\n  - {}\n  - {}\n  - path: {}\n    strategy: add-only\n",
                p("a.yaml"),
                p("missing.yaml"),
                p("n.yaml")
            ),
        )
        .unwrap();
        let mut w = Vec::new();
        let c = Config::load(Some(&main), &[], &mut |x| w.push(x)).unwrap();
        // append: lists grow, scalars are replaced; add-only: only new keys.
        assert_eq!(c.strings("rules_files").unwrap(), ["/main.yaml", "/a.yaml"]);
        assert_eq!(c.string("priority").unwrap(), "error");
        assert_eq!(c.string("log_level").unwrap(), "debug");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.files().len(), 3, "main, a.yaml, n.yaml");
        // override replaces lists too.
        std::fs::write(
            &main,
            format!(
                "rules_files: [/main.yaml]\nconfig_files:\n  - path: {}\n    strategy: override\n",
                p("o.yaml")
            ),
        )
        .unwrap();
        let c = Config::load(Some(&main), &[], &mut |_| {}).unwrap();
        assert_eq!(c.strings("rules_files").unwrap(), ["/o.yaml"]);
        // Bad strategy and self-inclusion are errors.
        std::fs::write(
            &main,
            format!(
                "config_files:\n  - path: {}\n    strategy: merge\n",
                p("o.yaml")
            ),
        )
        .unwrap();
        let e = format!(
            "{:#}",
            Config::load(Some(&main), &[], &mut |_| {}).unwrap_err()
        );
        assert!(e.contains("unknown strategy 'merge'"), "{e}");
        std::fs::write(&main, format!("config_files: [{}]\n", main.display())).unwrap();
        assert!(Config::load(Some(&main), &[], &mut |_| {}).is_err());
    }

    #[test]
    fn user_file_merges_and_unknown_keys_warn() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.yaml");
        std::fs::write(
            &p,
            "json_output: true\nstdout_output:\n  enabled: false\nbogus_key: 1\n",
        )
        .unwrap();
        let mut warnings = Vec::new();
        let c = Config::load(Some(&p), &[], &mut |w| warnings.push(w)).unwrap();
        assert!(c.bool("json_output").unwrap());
        assert!(!c.bool("stdout_output.enabled").unwrap());
        assert_eq!(c.u64("webserver.listen_port").unwrap(), 8765);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("bogus_key"));
        std::fs::write(&p, "json_output: [unclosed\n").unwrap();
        let e = Config::load(Some(&p), &[], &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("k.yaml:"), "{e}");
    }
}
