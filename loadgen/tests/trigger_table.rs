//! The trigger table against kestrel's default rules file.

use std::collections::BTreeSet;
use std::path::Path;

use kestrel_loadgen::trigger::ACTIONS;

/// The `- rule:` names of rules/kestrel_rules.yaml, read from the file
/// itself (not through the loader under test).
fn yaml_rule_names() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/kestrel_rules.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("- rule:"))
        .map(|n| n.trim().trim_matches('"').to_string())
        .collect();
    assert!(
        names.len() >= 20,
        "suspiciously few rules in {}: {names:?}",
        path.display()
    );
    names
}

#[test]
fn every_default_rule_is_targeted_by_an_action() {
    let targeted: BTreeSet<&str> = ACTIONS
        .iter()
        .flat_map(|a| a.rules.iter().copied())
        .collect();
    let missing: Vec<String> = yaml_rule_names()
        .into_iter()
        .filter(|r| !targeted.contains(r.as_str()))
        .collect();
    assert!(missing.is_empty(), "no trigger action targets {missing:?}");
}

#[test]
fn the_embedded_default_rules_are_the_file() {
    assert_eq!(kestrel_loadgen::rules::default_rules(), yaml_rule_names());
}

#[test]
fn each_action_names_a_rule_once() {
    for a in ACTIONS {
        let set: BTreeSet<&str> = a.rules.iter().copied().collect();
        assert_eq!(set.len(), a.rules.len(), "{} repeats a rule", a.name);
    }
}
