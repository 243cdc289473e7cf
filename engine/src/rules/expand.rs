//! Textual transformations applied to conditions before parsing: the
//! exception clauses (RULES.md §5.2) and list expansion (§4.2), both
//! byte-for-byte as upstream builds them. The expanded text keeps a map
//! from each byte back to the text it was built from, for diagnostics.

use aho_corasick::AhoCorasick;

/// Marker for bytes that were inserted rather than copied.
pub const UNMAPPED: u32 = u32::MAX;

/// A text and, for each byte, the offset of the source byte it came from.
#[derive(Debug, Clone, Default)]
pub struct MappedText {
    /// The text.
    pub text: String,
    /// `map[i]`: source offset of byte `i`, or [`UNMAPPED`].
    pub map: Vec<u32>,
}

impl MappedText {
    /// The identity mapping of `s`.
    pub fn identity(s: &str) -> Self {
        MappedText {
            text: s.to_string(),
            map: (0..s.len() as u32).collect(),
        }
    }

    fn push_unmapped(&mut self, s: &str) {
        self.text.push_str(s);
        self.map.extend(std::iter::repeat_n(UNMAPPED, s.len()));
    }

    /// The source offset for byte `i` of the text: its own mapping, else
    /// the nearest mapped byte before it.
    pub fn source_offset(&self, i: usize) -> Option<usize> {
        let i = i.min(self.map.len().saturating_sub(1));
        self.map
            .get(..=i)?
            .iter()
            .rev()
            .find(|m| **m != UNMAPPED)
            .map(|m| *m as usize)
    }
}

/// `quote_item`: wrap in double quotes if it contains a space and does not
/// start with a quote.
pub fn quote_item(s: &str) -> String {
    if s.contains(' ') && !s.starts_with('"') && !s.starts_with('\'') {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

fn paren_item(s: &str) -> String {
    if s.starts_with('(') {
        s.to_string()
    } else {
        format!("({s})")
    }
}

/// An exception value: a string or a list of them.
#[derive(Debug, Clone, PartialEq)]
pub enum ExValue {
    /// A scalar.
    Item(String),
    /// A sequence.
    List(Vec<ExValue>),
}

/// Whether a comp takes a list operand: `in`, `intersects`, `pmatch`, or
/// an operator with a modifier.
pub fn comp_takes_list(comp: &str) -> bool {
    matches!(comp, "in" | "intersects" | "pmatch") || comp.split_whitespace().count() == 2
}

/// Builds one exception's clause (empty if it has no values).
/// `fields`/`comps` are either one string each (single form) or lists.
/// Returns `Err` with upstream's message on shape errors.
pub fn exception_clause(
    fields: &ExValue,
    comps: &ExValue,
    values: &[ExValue],
    exception_fields: &mut Vec<String>,
) -> Result<String, String> {
    match (fields, comps) {
        (ExValue::Item(f), ExValue::Item(c)) => {
            let mut icond = String::new();
            for v in values {
                let ExValue::Item(v) = v else {
                    return Err("Expected values array to contain a list of strings".into());
                };
                if icond.is_empty() {
                    icond = format!("({f} {c} (");
                } else {
                    icond.push_str(", ");
                }
                if !exception_fields.contains(f) {
                    exception_fields.push(f.clone());
                }
                icond.push_str(&quote_item(v));
            }
            if !icond.is_empty() {
                icond.push_str("))");
            }
            Ok(icond)
        }
        (ExValue::List(fs), ExValue::List(cs)) => {
            let mut icond = String::from("(");
            for tuple in values {
                let items: &[ExValue] = match tuple {
                    ExValue::List(items) => items,
                    ExValue::Item(_) => std::slice::from_ref(tuple),
                };
                if items.len() != fs.len() {
                    return Err("Fields and values lists must have equal length".into());
                }
                if icond != "(" {
                    icond.push_str(" or ");
                }
                icond.push('(');
                for (k, (f, v)) in fs.iter().zip(items).enumerate() {
                    let f = match f {
                        ExValue::Item(s) => s.as_str(),
                        ExValue::List(_) => "",
                    };
                    let c = match cs.get(k) {
                        Some(ExValue::Item(s)) => s.as_str(),
                        _ => "",
                    };
                    if k > 0 {
                        icond.push_str(" and ");
                    }
                    let istr = match v {
                        ExValue::List(vs) => {
                            let mut s = String::from("(");
                            for (j, x) in vs.iter().enumerate() {
                                if j > 0 {
                                    s.push_str(", ");
                                }
                                if let ExValue::Item(x) = x {
                                    s.push_str(&quote_item(x));
                                }
                            }
                            s.push(')');
                            s
                        }
                        ExValue::Item(x) if comp_takes_list(c) => paren_item(x),
                        ExValue::Item(x) => quote_item(x),
                    };
                    icond.push(' ');
                    icond.push_str(f);
                    icond.push(' ');
                    icond.push_str(c);
                    icond.push(' ');
                    icond.push_str(&istr);
                    if !exception_fields.iter().any(|e| e == f) {
                        exception_fields.push(f.to_string());
                    }
                }
                icond.push(')');
            }
            icond.push(')');
            if icond == "()" {
                icond.clear();
            }
            Ok(icond)
        }
        _ => Err("Fields and comps must both be strings or both be lists".into()),
    }
}

/// `"(" + cond + ")"` followed by `" and not " + clause` per clause.
pub fn wrap_with_exceptions(cond: &str, clauses: &[String]) -> MappedText {
    let mut m = MappedText::default();
    m.push_unmapped("(");
    m.text.push_str(cond);
    m.map.extend(0..cond.len() as u32);
    m.push_unmapped(")");
    for c in clauses.iter().filter(|c| !c.is_empty()) {
        m.push_unmapped(" and not ");
        m.push_unmapped(c);
    }
    m
}

/// A list ready for expansion.
#[derive(Debug, Clone)]
pub struct ListDef {
    /// Name.
    pub name: String,
    /// Items after one-level nesting resolution (§4.1).
    pub items: Vec<String>,
}

/// Expands lists in conditions. Built once per compile; `expand` is then
/// called for every macro and rule condition.
pub struct ListExpander {
    lists: Vec<ListDef>,
    subs: Vec<String>,
    finder: Option<AhoCorasick>,
    /// For each list, the lists (by index) whose names occur in its
    /// substitution text.
    nested: Vec<Vec<usize>>,
    /// Lists whose names contain delimiter characters are always scanned
    /// (the prefilter cannot see matches that span inserted text).
    always: Vec<usize>,
}

const BLANKS: &[u8] = b" \t\n\r";

fn is_delim(b: u8) -> bool {
    BLANKS.contains(&b) || matches!(b, b'(' | b')' | b',' | b'=')
}

impl ListExpander {
    /// Prepares expansion for `lists`, in definition order.
    pub fn new(lists: Vec<ListDef>) -> Self {
        let subs: Vec<String> = lists
            .iter()
            .map(|l| {
                l.items
                    .iter()
                    .map(|i| quote_item(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        let names: Vec<&str> = lists.iter().map(|l| l.name.as_str()).collect();
        let finder = AhoCorasick::new(&names).ok();
        let mut nested = Vec::with_capacity(lists.len());
        for s in &subs {
            let mut v = Vec::new();
            if let Some(f) = &finder {
                for m in f.find_overlapping_iter(s.as_str()) {
                    v.push(m.pattern().as_usize());
                }
            }
            v.sort_unstable();
            v.dedup();
            nested.push(v);
        }
        let always = lists
            .iter()
            .enumerate()
            .filter(|(_, l)| l.name.bytes().any(is_delim))
            .map(|(i, _)| i)
            .collect();
        ListExpander {
            lists,
            subs,
            finder,
            nested,
            always,
        }
    }

    /// The lists, in order.
    pub fn lists(&self) -> &[ListDef] {
        &self.lists
    }

    /// Expands every list in `input`, in definition order; sets `used[i]`
    /// for each list expanded.
    pub fn expand(&self, input: MappedText, used: &mut [bool]) -> MappedText {
        let n = self.lists.len();
        let mut candidate = vec![false; n];
        if let Some(f) = &self.finder {
            for m in f.find_overlapping_iter(input.text.as_str()) {
                candidate[m.pattern().as_usize()] = true;
            }
        }
        for &i in &self.always {
            candidate[i] = true;
        }
        let mut cur = input;
        for i in 0..n {
            if !candidate[i] {
                continue;
            }
            if self.resolve_list(&mut cur, i) {
                used[i] = true;
                for &j in &self.nested[i] {
                    candidate[j] = true;
                }
            }
        }
        cur
    }

    /// Upstream's `resolve_list`, including its quirks (the search restarts
    /// one byte after the inserted text; an empty list eats a comma).
    fn resolve_list(&self, cnd: &mut MappedText, li: usize) -> bool {
        let name = self.lists[li].name.as_bytes();
        if name.is_empty() {
            return false;
        }
        let sub = self.subs[li].as_bytes();
        let mut used = false;
        let mut start_opt = find(cnd.text.as_bytes(), name, 0);
        while let Some(found) = start_opt {
            let mut start = found;
            let b = cnd.text.as_bytes();
            let len = b.len();
            let mut end = start + name.len();
            if (start == 0 || is_delim(b[start - 1])) && (end >= len || is_delim(b[end])) {
                let origin = cnd.map.get(found).copied().unwrap_or(UNMAPPED);
                while start > 0 && BLANKS.contains(&b[start - 1]) {
                    start -= 1;
                }
                while end < len && BLANKS.contains(&b[end]) {
                    end += 1;
                }
                if sub.is_empty() {
                    if start > 0 && b[start - 1] == b',' {
                        start -= 1;
                    } else if end < len && b[end] == b',' {
                        end += 1;
                    }
                }
                let mut text = Vec::with_capacity(len + sub.len() + 2);
                let mut map = Vec::with_capacity(len + sub.len() + 2);
                if start > 0 {
                    text.extend_from_slice(&b[..start]);
                    text.push(b' ');
                    map.extend_from_slice(&cnd.map[..start]);
                    map.push(origin);
                }
                text.extend_from_slice(sub);
                text.push(b' ');
                map.extend(std::iter::repeat_n(origin, sub.len() + 1));
                text.extend_from_slice(&b[end..]);
                map.extend_from_slice(&cnd.map[end..]);
                // Only whole list items and ASCII delimiters were spliced.
                cnd.text = String::from_utf8(text)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                cnd.map = map;
                start += sub.len() + 1;
                used = true;
            }
            start_opt = find(cnd.text.as_bytes(), name, start + 1);
        }
        used
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    memchr::memmem::find(&hay[from..], needle).map(|p| p + from)
}

/// One-level nesting of list items (§4.1): an item naming a list with a
/// lower definition index than this list's visibility is replaced by that
/// list's items as written. Returns the compiled items and the referenced
/// list positions.
pub fn compile_list_items(
    items: &[String],
    visibility: u64,
    lookup: impl Fn(&str) -> Option<(usize, u64, Vec<String>)>,
) -> (Vec<String>, Vec<usize>) {
    let mut out = Vec::with_capacity(items.len());
    let mut refs = Vec::new();
    for item in items {
        match lookup(item) {
            Some((pos, index, ref_items)) if index < visibility => {
                refs.push(pos);
                out.extend(ref_items);
            }
            _ => out.push(item.clone()),
        }
    }
    (out, refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(lists: &[(&str, &[&str])], cond: &str) -> String {
        let defs = lists
            .iter()
            .map(|(n, items)| ListDef {
                name: n.to_string(),
                items: items.iter().map(|s| s.to_string()).collect(),
            })
            .collect();
        let e = ListExpander::new(defs);
        let mut used = vec![false; lists.len()];
        e.expand(MappedText::identity(cond), &mut used).text
    }

    #[test]
    fn expansion_quirks() {
        assert_eq!(
            exp(
                &[("shell_binaries", &["ash", "bash", "dash"])],
                "proc.name in (shell_binaries, sh)"
            ),
            "proc.name in ( ash, bash, dash , sh)"
        );
        assert_eq!(exp(&[("empty", &[])], "x.y in (empty)"), "x.y in (  )");
        assert_eq!(exp(&[("empty", &[])], "x.y in (a, empty)"), "x.y in (a  )");
        assert_eq!(exp(&[("empty", &[])], "x.y in (empty, a)"), "x.y in (   a)");
        assert_eq!(
            exp(&[("l", &["a b", "'c d'", "\"(systemd)\""])], "x.y in (l)"),
            "x.y in ( \"a b\", 'c d', \"(systemd)\" )"
        );
        assert_eq!(exp(&[("l", &["a", "b"])], "x.y in l"), "x.y in a, b ");
        assert_eq!(exp(&[("l", &["a"])], "x.y=l"), "x.y= a ");
        assert_eq!(exp(&[("l", &["a"])], "\"foo l\""), "\"foo l\"");
        assert_eq!(exp(&[("l", &["a"])], "\"foo l bar\""), "\"foo a bar\"");
        assert_eq!(
            exp(&[("l", &["a"])], "x.y in (ll, l_x, xl)"),
            "x.y in (ll, l_x, xl)"
        );
        // The search restarts one byte after the insertion: at position 0
        // the next occurrence right after is missed.
        assert_eq!(exp(&[("l", &["a"])], "l l"), "a l");
        // Later lists expand names inserted by earlier ones.
        assert_eq!(
            exp(&[("a", &["b"]), ("b", &["x"])], "x.y in (a)"),
            "x.y in ( x )"
        );
    }

    #[test]
    fn mapping_follows_edits() {
        let defs = vec![ListDef {
            name: "l".into(),
            items: vec!["aaa".into()],
        }];
        let e = ListExpander::new(defs);
        let mut used = vec![false];
        let m = e.expand(MappedText::identity("x.y in (l) and z.w = 1"), &mut used);
        assert!(used[0]);
        let z = m.text.find("z.w").unwrap();
        assert_eq!(m.source_offset(z), Some(15));
        let a = m.text.find("aaa").unwrap();
        assert_eq!(m.source_offset(a), Some(8));
    }

    #[test]
    fn exception_strings() {
        let mut ef = Vec::new();
        let c = exception_clause(
            &ExValue::List(vec![
                ExValue::Item("proc.name".into()),
                ExValue::Item("fd.directory".into()),
            ]),
            &ExValue::List(vec![ExValue::Item("=".into()), ExValue::Item("in".into())]),
            &[ExValue::List(vec![
                ExValue::Item("cat".into()),
                ExValue::List(vec![
                    ExValue::Item("/tmp".into()),
                    ExValue::Item("/var/my dir".into()),
                ]),
            ])],
            &mut ef,
        )
        .unwrap();
        let w = wrap_with_exceptions("evt.type = open", &[c]);
        assert_eq!(
            w.text,
            "(evt.type = open) and not (( proc.name = cat and  fd.directory in (/tmp, \"/var/my dir\")))"
        );
        assert_eq!(ef, ["proc.name", "fd.directory"]);
        let c = exception_clause(
            &ExValue::Item("proc.name".into()),
            &ExValue::Item("in".into()),
            &[ExValue::Item("a".into()), ExValue::Item("b c".into())],
            &mut ef,
        )
        .unwrap();
        assert_eq!(c, "(proc.name in (a, \"b c\"))");
        let c = exception_clause(
            &ExValue::Item("proc.name".into()),
            &ExValue::Item("in".into()),
            &[],
            &mut ef,
        )
        .unwrap();
        assert_eq!(c, "");
        let err = exception_clause(
            &ExValue::Item("proc.name".into()),
            &ExValue::Item("in".into()),
            &[ExValue::List(vec![])],
            &mut ef,
        )
        .unwrap_err();
        assert_eq!(err, "Expected values array to contain a list of strings");
        let c = exception_clause(
            &ExValue::List(vec![ExValue::Item("proc.name".into())]),
            &ExValue::List(vec![ExValue::Item("in".into())]),
            &[ExValue::List(vec![ExValue::Item("shell_binaries".into())])],
            &mut ef,
        )
        .unwrap();
        assert_eq!(c, "(( proc.name in (shell_binaries)))");
    }
}
