//! Shared helpers for the output integration tests: a map-backed event and
//! rule construction.
#![allow(dead_code)] // each test file uses a subset

use std::collections::{BTreeSet, HashMap};

use kestrel_engine::fields::{Extract, FieldRef, Value};
use kestrel_engine::rules::{ir, Priority, Rule};

/// An event whose fields come from a map keyed by field text
/// (`proc.aname[2]`, `evt.arg.flags`).
#[derive(Default, Clone)]
pub struct MapEvent(pub HashMap<String, Value<'static>>);

impl MapEvent {
    pub fn new(pairs: &[(&str, Value<'static>)]) -> MapEvent {
        MapEvent(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    pub fn set(&mut self, k: &str, v: Value<'static>) -> &mut Self {
        self.0.insert(k.to_string(), v);
        self
    }
}

impl Extract for MapEvent {
    fn extract(&self, f: &FieldRef) -> Option<Value<'_>> {
        self.0.get(&f.text()).cloned()
    }

    fn extract_each(&self, f: &FieldRef, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        match self.extract(f) {
            Some(v) => {
                visit(v);
                true
            }
            None => false,
        }
    }
}

pub fn s(x: &str) -> Value<'static> {
    Value::string(x)
}

pub fn rule(name: &str, priority: Priority, output: &str, tags: &[&str]) -> Rule {
    Rule {
        name: name.into(),
        desc: String::new(),
        priority,
        tags: tags.iter().map(|t| t.to_string()).collect::<BTreeSet<_>>(),
        source: "syscall".into(),
        enabled: true,
        output: output.into(),
        condition_text: "evt.type = openat".into(),
        expanded_condition: "evt.type = openat".into(),
        condition: ir::Expr::And(Vec::new()),
        evttypes: None,
        index: 0,
    }
}
