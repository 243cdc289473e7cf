//! `pmatch`: component-wise path prefix search (RULES.md §3.7).
//!
//! The listed paths are split on `/` (empty components dropped) and stored
//! in a tree of components. A value matches when walking its components
//! from the root reaches a node where some listed path ends. At each level
//! the exact child is tried first, then each glob child (a component with
//! `*`, `?` or `[`, matched with fnmatch semantics and never crossing `/`);
//! the search backtracks, so the result is "some listed path is a
//! component prefix of the value" whatever the order of siblings.
//!
//! Upstream (falcosecurity/libs prefix_search.h) advances its component
//! iterator once per matching glob sibling inside the sibling loop, so with
//! two glob siblings that both match one component and the first failing
//! deeper, the second is tried one component too far. That depends on
//! unordered-map iteration order and cannot be reproduced deterministically;
//! kestrel does not reproduce it.

use std::collections::HashMap;

use super::glob::Glob;

#[derive(Debug, Default)]
struct Node {
    /// Some listed path ends here: everything below matches.
    terminal: bool,
    exact: HashMap<Box<[u8]>, Node>,
    globs: Vec<(Glob, Node)>,
}

impl Node {
    fn insert(&mut self, comps: &[&[u8]]) {
        if self.terminal {
            // A shorter listed path already covers this one.
            return;
        }
        let Some((first, rest)) = comps.split_first() else {
            self.terminal = true;
            self.exact.clear();
            self.globs.clear();
            return;
        };
        let is_glob = first.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        let child = if is_glob {
            // Identical glob components share a node.
            let idx = self.glob_index(first);
            &mut self.globs[idx].1
        } else {
            self.exact.entry((*first).into()).or_default()
        };
        child.insert(rest);
    }

    fn glob_index(&mut self, pattern: &[u8]) -> usize {
        if let Some(i) = self.globs.iter().position(|(g, _)| g.source() == pattern) {
            return i;
        }
        self.globs
            .push((Glob::new(pattern, false), Node::default()));
        self.globs.len() - 1
    }

    fn matches(&self, comps: &[&[u8]]) -> bool {
        if self.terminal {
            return true;
        }
        let Some((first, rest)) = comps.split_first() else {
            return false;
        };
        if let Some(child) = self.exact.get(*first) {
            if child.matches(rest) {
                return true;
            }
        }
        self.globs
            .iter()
            .any(|(g, child)| g.is_match(first) && child.matches(rest))
    }
}

/// The non-empty `/`-separated components of a path.
pub(crate) fn components(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    p.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

/// A compiled `pmatch` list.
#[derive(Debug, Default)]
pub(crate) struct PathSet {
    root: Node,
}

impl PathSet {
    /// Builds the tree from the listed paths.
    pub(crate) fn new<'a>(paths: impl IntoIterator<Item = &'a [u8]>) -> PathSet {
        let mut root = Node::default();
        for p in paths {
            let comps: Vec<&[u8]> = components(p).collect();
            root.insert(&comps);
        }
        PathSet { root }
    }

    /// Whether `v` is equal to or below one of the listed paths.
    pub(crate) fn is_match(&self, v: &[u8]) -> bool {
        if self.root.terminal {
            return true;
        }
        // Paths are short; a small on-stack-sized Vec is cheaper than a
        // recursive iterator clone per level.
        let comps: Vec<&[u8]> = components(v).collect();
        self.root.matches(&comps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ps(paths: &[&str]) -> PathSet {
        PathSet::new(paths.iter().map(|p| p.as_bytes()))
    }

    #[test]
    fn component_prefixes() {
        let s = ps(&["/tmp/hello"]);
        assert!(s.is_match(b"/tmp/hello"));
        assert!(s.is_match(b"/tmp/hello/world"));
        assert!(!s.is_match(b"/tmp/hello_world"));
        assert!(s.is_match(b"//tmp//hello/"));
        assert!(s.is_match(b"tmp/hello"));
        assert!(!s.is_match(b"/tmp"));
        assert!(!s.is_match(b""));
    }

    #[test]
    fn root_matches_everything() {
        let s = ps(&["/"]);
        assert!(s.is_match(b"/anything/at/all"));
        assert!(s.is_match(b""));
        let s = ps(&["/etc", "/"]);
        assert!(s.is_match(b"/usr"));
    }

    #[test]
    fn glob_components() {
        let s = ps(&["/var/*/log"]);
        assert!(s.is_match(b"/var/x/log"));
        assert!(s.is_match(b"/var/x/log/y"));
        assert!(!s.is_match(b"/var/x/y/log"));
        assert!(!s.is_match(b"/var/log"));
    }

    #[test]
    fn exact_then_glob_backtracks() {
        let s = ps(&["/var/lib/x", "/var/*/y"]);
        assert!(s.is_match(b"/var/lib/y"));
        assert!(s.is_match(b"/var/lib/x/z"));
        assert!(!s.is_match(b"/var/lib/z"));
    }

    #[test]
    fn shorter_path_wins_in_any_order() {
        for order in [["/usr", "/usr/lib"], ["/usr/lib", "/usr"]] {
            let s = ps(&order);
            assert!(s.is_match(b"/usr/share"));
        }
    }
}
