//! The `validate` and rule-listing reports (RULES.md §10.2, §10.3), as
//! library functions: the CLI prints what they return and derives its
//! exit status from [`ValidateReport::ok`].

use std::path::PathBuf;

use serde_json::{json, Value as Json};

use super::diag::Diagnostic;
use super::loader::{FileResult, Loader};
use super::Rule;

/// The result of validating files in order into one collection.
pub struct ValidateReport {
    /// One result per file, in order.
    pub results: Vec<FileResult>,
    /// Unsatisfied plugin requirements (checked after the last file).
    pub plugin_errors: Vec<Diagnostic>,
    /// The loader, for a listing that follows a successful validation.
    pub loader: Loader,
}

/// Loads each file in order into the same collection (a later file sees
/// the earlier files' lists and macros); every file is loaded even after a
/// failure, as `-V` reports each one.
pub fn validate(paths: &[PathBuf]) -> ValidateReport {
    let mut loader = Loader::new();
    let results = paths.iter().map(|p| loader.load_file(p)).collect();
    let plugin_errors = loader.check_plugin_requirements();
    ValidateReport {
        results,
        plugin_errors,
        loader,
    }
}

/// `validate` on in-memory contents `(name, content)`.
pub fn validate_strs(files: &[(&str, &str)]) -> ValidateReport {
    let mut loader = Loader::new();
    let results = files.iter().map(|(n, c)| loader.load_str(n, c)).collect();
    let plugin_errors = loader.check_plugin_requirements();
    ValidateReport {
        results,
        plugin_errors,
        loader,
    }
}

fn blocks(title: &str, ds: &[Diagnostic]) -> String {
    let mut s = format!("{} {title}:\n", ds.len());
    for d in ds {
        s.push_str(&d.render_text());
    }
    s
}

/// The verbose text of one file's result (upstream `as_verbose_string`,
/// plus a final newline when it has no blocks): `<name>: Ok`, `<name>: Ok,
/// with warnings` or `<name>: Invalid`, then the error blocks and the
/// warning blocks, if any.
pub fn file_result_text(r: &FileResult) -> String {
    let mut s = format!("{}: {}\n", r.name, status(r));
    if !r.successful() {
        s.push_str(&blocks("Errors", &r.errors));
    }
    if !r.warnings.is_empty() {
        if !r.successful() {
            s.push('\n');
        }
        s.push_str(&blocks("Warnings", &r.warnings));
    }
    s
}

/// `Ok`, `Ok, with warnings` or `Invalid`.
fn status(r: &FileResult) -> &'static str {
    match (r.successful(), r.warnings.is_empty()) {
        (true, true) => "Ok",
        (true, false) => "Ok, with warnings",
        (false, _) => "Invalid",
    }
}

/// The warning blocks of a result (for the log), empty if none.
pub fn warnings_text(r: &FileResult) -> String {
    if r.warnings.is_empty() {
        String::new()
    } else {
        blocks("Warnings", &r.warnings)
    }
}

/// One file result as Falco's JSON object.
pub fn file_result_json(r: &FileResult) -> Json {
    json!({
        "errors": r.errors.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
        "name": r.name,
        "successful": r.successful(),
        "warnings": r.warnings.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
    })
}

impl ValidateReport {
    /// Every file valid and every plugin requirement satisfied.
    pub fn ok(&self) -> bool {
        self.results.iter().all(FileResult::successful) && self.plugin_errors.is_empty()
    }

    /// Falco's `-V` summary: per file `<name>: Ok` or `<name>: Ok, with
    /// warnings` (the warnings themselves go to the log), or the verbose
    /// text of an invalid file (which ends with a newline); joined by
    /// newlines, with no final one. Upstream also returns this text as the
    /// fatal error of a failed validation.
    pub fn summary_text(&self) -> String {
        self.results
            .iter()
            .map(|r| {
                if r.successful() {
                    format!("{}: {}", r.name, status(r))
                } else {
                    file_result_text(r)
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Text mode, as `falco -V` prints it on stdout: the summary and a
    /// newline; then one `Error: ...` line per unsatisfied plugin
    /// requirement (upstream stops before the summary instead).
    pub fn render_text(&self) -> String {
        let mut s = self.summary_text();
        s.push('\n');
        for e in &self.plugin_errors {
            s.push_str(&format!("Error: {}\n", e.message));
        }
        s
    }

    /// JSON mode: `{"falco_load_results":[...]}` (keys sorted).
    /// Plugin requirement errors are added to the last file's errors.
    pub fn to_json(&self) -> Json {
        let mut results: Vec<Json> = self.results.iter().map(file_result_json).collect();
        if !self.plugin_errors.is_empty() {
            if let Some(last) = results.last_mut() {
                if let Some(errs) = last["errors"].as_array_mut() {
                    errs.extend(self.plugin_errors.iter().map(Diagnostic::to_json));
                }
                last["successful"] = json!(false);
            }
        }
        json!({ "falco_load_results": results })
    }

    /// [`ValidateReport::to_json`] on one line.
    pub fn render_json(&self) -> String {
        self.to_json().to_string()
    }
}

/// Falco's `wrap_text`: words each followed by a space; before a word that
/// would take the line past `line_len - indent` characters, a newline and
/// `indent` spaces.
pub fn wrap_text(text: &str, indent: usize, line_len: usize) -> String {
    let mut out = String::new();
    let mut len = 0usize;
    for word in text.split_whitespace() {
        let wl = word.chars().count();
        if len + wl < line_len.saturating_sub(indent) {
            len += wl + 1;
        } else {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            len = wl + 1;
        }
        out.push_str(word);
        out.push(' ');
    }
    out
}

fn rule_text(r: &Rule) -> String {
    format!("{:<50} {}\n\n", r.name, wrap_text(&r.desc, 51, 110))
}

/// `-L` text mode: header, then every rule (definition order, disabled
/// ones included) as `%-50s %s` with the description wrapped at 59
/// columns, each followed by an empty line.
pub fn list_rules_text(rules: &[Rule]) -> String {
    let mut s = format!("{:<50} {}\n", "Rule", "Description");
    s.push_str(&format!("{:<50} {}\n", "----", "-----------"));
    for r in rules {
        s.push_str(&rule_text(r));
    }
    s
}

fn set(v: &std::collections::BTreeSet<String>) -> Json {
    json!(v.iter().collect::<Vec<_>>())
}

fn rule_json(l: &Loader, i: usize) -> Json {
    let r = &l.rules()[i];
    let d = l.rule_details(i).cloned().unwrap_or_default();
    json!({
        "details": {
            "condition_compiled": r.expanded_condition,
            "condition_fields": set(&d.condition_fields),
            "condition_operators": set(&d.condition_operators),
            "events": set(&d.events),
            "exception_fields": set(&d.exception_fields),
            "exception_names": set(&d.exception_names),
            "exception_operators": set(&d.exception_operators),
            "lists": set(&d.lists),
            "macros": set(&d.macros),
            "output_compiled": d.output_compiled,
            "output_fields": set(&d.output_fields),
            "plugins": Vec::<String>::new(),
        },
        "info": {
            "capture": d.capture,
            "capture_duration": d.capture_duration,
            "condition": r.condition_text,
            "description": r.desc,
            "enabled": r.enabled,
            "name": r.name,
            "output": r.output,
            "priority": r.priority.name(),
            "source": r.source,
            "tags": r.tags.iter().collect::<Vec<_>>(),
        }
    })
}

/// `-L` / `-l` JSON mode as a value (upstream `describe_rule`): for all
/// rules, an object with lists, macros, required versions and rules; for
/// one rule, `{"rules":[...]}`, or the error `Rule "<name>" is not loaded`.
pub fn describe_rules_json(l: &Loader, rule: Option<&str>) -> Result<Json, String> {
    if let Some(name) = rule {
        let Some(i) = l.rules().iter().position(|r| r.name == name) else {
            return Err(not_loaded(name));
        };
        return Ok(json!({ "rules": [rule_json(l, i)] }));
    }
    let lists: Vec<Json> = l
        .lists()
        .iter()
        .map(|x| {
            json!({
                "details": {"items_compiled": x.compiled_items, "lists": set(&x.lists), "used": x.used},
                "info": {"items": x.items, "name": x.name},
            })
        })
        .collect();
    let macros: Vec<Json> = l
        .macros()
        .iter()
        .map(|m| {
            json!({
                "details": {
                    "condition_compiled": m.condition_compiled,
                    "condition_fields": set(&m.condition_fields),
                    "condition_operators": set(&m.condition_operators),
                    "lists": set(&m.lists),
                    "macros": set(&m.macros),
                    "used": m.used,
                },
                "info": {"condition": m.condition, "name": m.name},
            })
        })
        .collect();
    let plugins: Vec<Json> = l
        .required_plugin_versions()
        .iter()
        .map(|p| {
            let (name, version) = &p.alternatives[0];
            let alts: Vec<Json> = p.alternatives[1..]
                .iter()
                .map(|(n, v)| json!({"name": n, "version": v}))
                .collect();
            json!({"alternatives": alts, "name": name, "version": version})
        })
        .collect();
    let rules: Vec<Json> = (0..l.rules().len()).map(|i| rule_json(l, i)).collect();
    Ok(json!({
        "lists": lists,
        "macros": macros,
        "required_engine_version": l.required_engine_version().map(|v| v.to_string()).unwrap_or_else(|| "0.0.0".into()),
        "required_plugin_versions": plugins,
        "rules": rules,
    }))
}

/// `-L` JSON mode: one line with lists, macros, required versions and
/// rules.
pub fn list_rules_json(l: &Loader) -> String {
    describe_rules_json(l, None)
        .map(|j| j.to_string())
        .unwrap_or_default()
}

/// `-l <rule>`: that rule only, text or JSON (`{"rules":[...]}`); error
/// `Rule "<name>" is not loaded` if unknown.
pub fn describe_rule(l: &Loader, name: &str, json_output: bool) -> Result<String, String> {
    if json_output {
        return describe_rules_json(l, Some(name)).map(|j| j.to_string());
    }
    match l.rules().iter().find(|r| r.name == name) {
        Some(r) => Ok(list_rules_text(std::slice::from_ref(r))),
        None => Err(not_loaded(name)),
    }
}

fn not_loaded(name: &str) -> String {
    format!("Rule \"{name}\" is not loaded")
}

/// `N rules, M macros, K lists` for one file result.
pub fn counts_line(r: &FileResult) -> String {
    format!(
        "{} rules, {} macros, {} lists",
        r.counts.rules, r.counts.macros, r.counts.lists
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_matches_upstream() {
        let w = wrap_text("aaa bbb", 51, 110);
        assert_eq!(w, "aaa bbb ");
        let long = "word ".repeat(20);
        let w = wrap_text(&long, 51, 110);
        let first = w.lines().next().unwrap();
        assert!(first.len() <= 59, "{first:?}");
        assert!(w.lines().nth(1).unwrap().starts_with(&" ".repeat(51)));
        // A first word longer than the line starts with a line break.
        let w = wrap_text(&"x".repeat(60), 51, 110);
        assert!(w.starts_with('\n'));
    }
}
