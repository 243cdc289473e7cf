//! [`EventTypeSet`]: the event types a ruleset needs, for the probe's
//! in-kernel filter and for listings.

use std::collections::BTreeSet;

use crate::event::table::EVENT_ID_LIMIT;
use crate::event::EventType;

const WORDS: usize = EVENT_ID_LIMIT.div_ceil(64);

/// A set of event types: the types kestrel captures, by id, plus names of
/// event types it does not capture (a rule may name any syscall; such
/// types only ever arrive through JSON replay). `all` stands for every
/// event type (a rule without an `evt.type` restriction is enabled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventTypeSet {
    all: bool,
    ids: [u64; WORDS],
    uncaptured: BTreeSet<String>,
}

impl EventTypeSet {
    /// The empty set.
    pub fn new() -> EventTypeSet {
        EventTypeSet::default()
    }

    /// The set of every event type.
    pub fn all() -> EventTypeSet {
        EventTypeSet {
            all: true,
            ..EventTypeSet::default()
        }
    }

    /// Whether the set stands for every event type.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether nothing is in the set.
    pub fn is_empty(&self) -> bool {
        !self.all && self.ids.iter().all(|w| *w == 0) && self.uncaptured.is_empty()
    }

    /// Adds a captured event type (ids beyond the table are ignored).
    pub fn insert(&mut self, ty: EventType) {
        let i = ty.0 as usize;
        if i < EVENT_ID_LIMIT {
            self.ids[i / 64] |= 1 << (i % 64);
        }
    }

    /// Adds an event type by name: by id if kestrel captures it, else as
    /// an uncaptured name.
    pub fn insert_name(&mut self, name: &str) {
        match EventType::from_name(name) {
            Some(ty) => self.insert(ty),
            None => {
                self.uncaptured.insert(name.to_string());
            }
        }
    }

    /// Whether `ty` is in the set.
    pub fn contains(&self, ty: EventType) -> bool {
        let i = ty.0 as usize;
        self.all || (i < EVENT_ID_LIMIT && self.ids[i / 64] & (1 << (i % 64)) != 0)
    }

    /// Whether the event type called `name` is in the set.
    pub fn contains_name(&self, name: &str) -> bool {
        self.all
            || match EventType::from_name(name) {
                Some(ty) => self.contains(ty),
                None => self.uncaptured.contains(name),
            }
    }

    /// The captured event types explicitly in the set, in id order (empty
    /// iteration does not mean empty set when [`Self::is_all`]).
    pub fn iter(&self) -> impl Iterator<Item = EventType> + '_ {
        (0..EVENT_ID_LIMIT)
            .filter(|&i| self.ids[i / 64] & (1 << (i % 64)) != 0)
            .map(|i| EventType(i as u16))
    }

    /// Names of event types in the set that kestrel does not capture.
    pub fn uncaptured(&self) -> impl Iterator<Item = &str> {
        self.uncaptured.iter().map(String::as_str)
    }

    /// Names of every explicit member, captured ones first, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.iter().map(|t| t.name().to_string()).collect();
        v.sort();
        v.extend(self.uncaptured.iter().cloned());
        v
    }

    /// Adds every member of `other`.
    pub fn union_with(&mut self, other: &EventTypeSet) {
        self.all |= other.all;
        for (a, b) in self.ids.iter_mut().zip(other.ids.iter()) {
            *a |= *b;
        }
        self.uncaptured.extend(other.uncaptured.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members() {
        let mut s = EventTypeSet::new();
        assert!(s.is_empty());
        s.insert_name("openat");
        s.insert_name("uselib");
        assert!(s.contains(EventType::from_name("openat").unwrap()));
        assert!(s.contains_name("openat"));
        assert!(s.contains_name("uselib"));
        assert!(!s.contains_name("execve"));
        assert_eq!(s.iter().count(), 1);
        assert_eq!(s.uncaptured().collect::<Vec<_>>(), ["uselib"]);
        let all = EventTypeSet::all();
        assert!(all.contains(EventType::EXECVE) && all.contains_name("anything"));
    }
}
