//! Where rules come from: the embedded default rules, or the files and
//! directories of `-r` / `rules_files` (Falco's loading semantics).

use std::path::PathBuf;

use anyhow::{bail, Result};
use kestrel_engine::rules::loader::{load_sources, Loader, RuleSource};
use kestrel_engine::rules::report::{file_result_text, warnings_text};
use kestrel_engine::rules::Rule;

/// kestrel's default rules, embedded in the binary.
pub const EMBEDDED_RULES: &str = include_str!("../rules/kestrel_rules.yaml");
/// The name the embedded rules carry in messages.
pub const EMBEDDED_NAME: &str = "kestrel_rules.yaml";
/// A `rules_files` / `-r` entry that stands for the embedded rules, so a
/// list can hold them and other files (the Helm chart's custom rules).
pub const EMBEDDED_ENTRY: &str = "embedded:kestrel_rules.yaml";

/// Loaded rules.
pub struct Loaded {
    /// The loader (lists, macros, details for listings).
    pub loader: Loader,
    /// The compiled rules, in definition order.
    pub rules: Vec<Rule>,
    /// Where they came from, for messages.
    pub origin: String,
    /// The files loaded, in order (`--support` lists them with their
    /// content).
    pub files: Vec<RulesFile>,
}

/// One loaded rules file.
pub struct RulesFile {
    /// The name messages give it (the path as given, or the embedded
    /// rules' name).
    pub name: String,
    /// The text, for the embedded rules; files are read again on demand.
    pub embedded: Option<&'static str>,
}

impl RulesFile {
    /// The file's content as it is now (empty if it cannot be read, as
    /// upstream's `--support` does).
    pub fn content(&self) -> String {
        match self.embedded {
            Some(text) => text.to_string(),
            None => std::fs::read_to_string(&self.name).unwrap_or_default(),
        }
    }
}

/// Loads `files` in order (the embedded rules when empty). A failing file
/// stops the load with Falco's verbose error report; warnings are logged.
pub fn load(files: &[PathBuf]) -> Result<Loaded> {
    if files.is_empty() {
        let mut loader = Loader::new();
        let r = loader.load_str(EMBEDDED_NAME, EMBEDDED_RULES);
        if !r.successful() {
            bail!("the embedded rules do not load:\n{}", file_result_text(&r));
        }
        let plugin = loader.check_plugin_requirements();
        if !plugin.is_empty() {
            bail!("the embedded rules require plugins kestrel does not provide: {plugin:?}");
        }
        log_warnings(&warnings_text(&r), &r.name);
        let rules = loader.rules().to_vec();
        return Ok(Loaded {
            loader,
            rules,
            origin: format!("{EMBEDDED_NAME} (embedded)"),
            files: vec![RulesFile {
                name: EMBEDDED_NAME.to_string(),
                embedded: Some(EMBEDDED_RULES),
            }],
        });
    }
    let sources: Vec<RuleSource<'_>> = files
        .iter()
        .map(|f| {
            if f.as_os_str() == EMBEDDED_ENTRY {
                RuleSource::Text {
                    name: EMBEDDED_NAME,
                    text: EMBEDDED_RULES,
                }
            } else {
                RuleSource::Path(f)
            }
        })
        .collect();
    match load_sources(&sources) {
        Ok(l) => {
            for r in &l.results {
                log_warnings(&warnings_text(r), &r.name);
            }
            let origin = l
                .results
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
                .join(", ");
            if l.results.is_empty() {
                bail!(
                    "no rules files found in {} (only *.yaml and *.yml files are loaded)",
                    crate::daemon::describe_paths(files)
                );
            }
            let with_embedded = files.iter().any(|f| f.as_os_str() == EMBEDDED_ENTRY);
            let files = l
                .results
                .iter()
                .map(|r| RulesFile {
                    name: r.name.clone(),
                    embedded: (with_embedded && r.name == EMBEDDED_NAME).then_some(EMBEDDED_RULES),
                })
                .collect();
            let rules = l.loader.rules().to_vec();
            Ok(Loaded {
                loader: l.loader,
                rules,
                origin,
                files,
            })
        }
        Err(f) => {
            let mut msg = String::from("invalid rules:\n");
            if let Some(e) = &f.io_error {
                msg.push_str(e);
                msg.push('\n');
            }
            for r in &f.results {
                msg.push_str(&file_result_text(r));
            }
            bail!("{}", msg.trim_end())
        }
    }
}

fn log_warnings(text: &str, name: &str) {
    if !text.is_empty() {
        log::warn!("{name}: loaded with warnings\n{}", text.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_entry_loads_the_defaults_beside_other_files() {
        let defaults = load(&[]).expect("embedded rules").rules.len();
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("extra.yaml");
        std::fs::write(
            &extra,
            "- rule: Extra\n  desc: d\n  condition: evt.type = openat and fd.name = /x\n  output: x\n  priority: INFO\n",
        )
        .unwrap();
        let both = load(&[PathBuf::from(EMBEDDED_ENTRY), extra.clone()]).expect("both");
        assert_eq!(both.rules.len(), defaults + 1);
        assert!(both.origin.starts_with(EMBEDDED_NAME), "{}", both.origin);
        let alone = load(&[extra]).expect("extra alone");
        assert_eq!(alone.rules.len(), 1);
    }
}
