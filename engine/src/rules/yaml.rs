//! A YAML document tree that remembers where everything came from.
//!
//! Built from yaml-rust2's event parser so that scalars keep their source
//! text (`80`, `1.10` and `0x10` stay strings, RULES.md §1.1) and every
//! node carries the position it starts at. Aliases are resolved by copying
//! the anchored node, as yaml-cpp does.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a source text: byte offset, 0-based line and 0-based
/// column (in characters), the convention of yaml-cpp marks that Falco's
/// diagnostics print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    /// Byte offset.
    pub offset: usize,
    /// Line, 0-based.
    pub line: usize,
    /// Column in characters, 0-based.
    pub col: usize,
}

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unquoted.
    Plain,
    /// `'...'`.
    SingleQuoted,
    /// `"..."`.
    DoubleQuoted,
    /// `|` or `>` block.
    Block,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `~`, `null`, or nothing.
    Null,
    /// A scalar with its decoded text.
    Scalar(String, Style),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it is.
    pub kind: Kind,
    /// Where it starts (for mappings: the first key).
    pub mark: Mark,
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// yaml-rust2's description.
    pub message: String,
    /// Where it was detected.
    pub mark: Mark,
}

impl Node {
    /// The value of mapping key `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, Kind::Scalar(s, _) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The scalar text, if this is a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a null node.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// Whether this is a mapping.
    pub fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map(_))
    }

    /// Whether this is a sequence.
    pub fn is_seq(&self) -> bool {
        matches!(self.kind, Kind::Seq(_))
    }

    /// The elements if this is a sequence.
    pub fn seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(v) => Some(v),
            _ => None,
        }
    }

    /// The keys of a mapping that are scalars, with their nodes.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &Node)> {
        let entries: &[(Node, Node)] = match &self.kind {
            Kind::Map(e) => e,
            _ => &[],
        };
        entries
            .iter()
            .filter_map(|(k, _)| k.scalar().map(|s| (s, k)))
    }
}

/// Converts yaml-rust2 markers (character index, 1-based line, 0-based
/// character column) to byte offsets.
struct MarkConv<'a> {
    src: &'a str,
    line_starts: Vec<usize>,
    /// Spaces inserted at the start of each line (see `parse_documents`).
    extra: &'a [usize],
    /// Prefix sums of `extra`.
    extra_before: Vec<usize>,
    /// Whether each line (its newline included) is plain ASCII, where a
    /// column is a byte count.
    ascii_line: Vec<bool>,
    /// The last conversion off the ASCII path: (line, column, offset).
    /// Markers mostly come in source order, so the next one on the same
    /// line continues from here: a line of n flow items (a list of
    /// 100,000 entries on one line) costs O(n), not O(n²).
    last: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a> MarkConv<'a> {
    fn new(src: &'a str, extra: &'a [usize]) -> Self {
        let mut line_starts = vec![0];
        for (i, b) in src.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        let mut extra_before = Vec::with_capacity(extra.len() + 1);
        let mut acc = 0;
        for e in extra {
            extra_before.push(acc);
            acc += e;
        }
        extra_before.push(acc);
        let ascii_line = (0..line_starts.len())
            .map(|i| {
                let end = line_starts.get(i + 1).copied().unwrap_or(src.len());
                src.as_bytes()[line_starts[i]..end].is_ascii()
            })
            .collect();
        MarkConv {
            src,
            line_starts,
            extra,
            extra_before,
            ascii_line,
            last: std::cell::Cell::new((usize::MAX, 0, 0)),
        }
    }

    /// The byte offset of character `col` counted from `start`, the start
    /// of line `line` (past the line's end, counting on into the next).
    fn char_offset(&self, line: usize, start: usize, col: usize) -> usize {
        let end = self
            .line_starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.src.len());
        if self.ascii_line.get(line).copied().unwrap_or(false) && start + col < end {
            return start + col;
        }
        let (l, c, off) = self.last.get();
        let (from_col, from_off) = if l == line && c <= col {
            (c, off)
        } else {
            (0, start)
        };
        let offset = self.src[from_off..]
            .char_indices()
            .nth(col - from_col)
            .map_or(self.src.len(), |(i, _)| from_off + i);
        if offset < self.src.len() {
            self.last.set((line, col, offset));
        }
        offset
    }

    fn conv(&self, m: &Marker) -> Mark {
        let line = m.line().saturating_sub(1);
        let Some(&start) = self.line_starts.get(line) else {
            return Mark {
                offset: self.src.len(),
                line,
                col: m.col(),
            };
        };
        let offset = self.char_offset(line, start, m.col());
        if self.extra.is_empty() {
            return Mark {
                offset,
                line,
                col: m.col(),
            };
        }
        let k = self.extra.get(line).copied().unwrap_or(0);
        let before = self
            .extra_before
            .get(line)
            .copied()
            .unwrap_or(*self.extra_before.last().unwrap_or(&0));
        Mark {
            offset: offset - before - k.min(m.col()),
            line,
            col: m.col().saturating_sub(k),
        }
    }
}

enum Frame {
    Seq(Vec<Node>, Mark, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Mark, usize),
}

fn is_null_plain(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// Parses every document of `src`. An empty document is `Kind::Null`.
///
/// yaml-rust2 rejects a closing `]`/`}` on its own line at the indentation
/// of the enclosing mapping when the flow collection's last element was
/// quoted (the sandbox reference file does this); yaml-cpp accepts it. Such
/// lines are indented by one more space and the text parsed again; marks
/// are mapped back to the original text. Indenting a line that holds only
/// flow closers cannot change the document's meaning.
pub fn parse_documents(src: &str) -> Result<Vec<Node>, YamlError> {
    // Spaces added per line. The common trigger (a closer-only line right
    // after a line ending in a quoted scalar) is fixed up front so the
    // reference files parse once; anything else is found by retrying.
    let mut extra: Vec<usize> = prescan_closers(src);
    let mut patched: Option<String> = if extra.iter().any(|e| *e > 0) {
        Some(apply_extra(src, &extra))
    } else {
        None
    };
    for _ in 0..256 {
        let text = patched.as_deref().unwrap_or(src);
        match parse_documents_raw(text, &extra) {
            Ok(docs) => return Ok(docs),
            Err((e, raw_line)) => {
                let line_text = src.lines().nth(raw_line).unwrap_or("");
                let closer = line_text.trim_start().starts_with([']', '}']);
                if e.message != "invalid indentation" || !closer {
                    return Err(e);
                }
                if extra.len() <= raw_line {
                    extra.resize(raw_line + 1, 0);
                }
                extra[raw_line] += 1;
                patched = Some(apply_extra(src, &extra));
            }
        }
    }
    parse_documents_raw(src, &[]).map_err(|(e, _)| e)
}

fn apply_extra(src: &str, extra: &[usize]) -> String {
    let mut out = String::with_capacity(src.len() + 16);
    for (i, l) in src.split_inclusive('\n').enumerate() {
        for _ in 0..extra.get(i).copied().unwrap_or(0) {
            out.push(' ');
        }
        out.push_str(l);
    }
    out
}

/// Lines made only of flow closers (`]`, `}`, `,`) that follow a line
/// ending in a quoted scalar, outside block scalars.
fn prescan_closers(src: &str) -> Vec<usize> {
    let mut extra = Vec::new();
    let mut block_indent: Option<usize> = None;
    let mut prev_quoted = false;
    for (i, line) in src.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let code = line.split(" #").next().unwrap_or("").trim();
        if let Some(k) = block_indent {
            if code.is_empty() || indent > k {
                continue;
            }
            block_indent = None;
        }
        if code.is_empty() {
            continue;
        }
        let closer_only = code.starts_with([']', '}'])
            && code.chars().all(|c| matches!(c, ']' | '}' | ',' | ' '));
        if closer_only && prev_quoted {
            if extra.len() <= i {
                extra.resize(i + 1, 0);
            }
            extra[i] = 1;
        }
        let t = code.trim_end_matches(',');
        prev_quoted = t.ends_with('"') || t.ends_with('\'');
        let last = code.trim_end_matches(|c: char| c.is_ascii_digit() || c == '+' || c == '-');
        if (last.ends_with('|') || last.ends_with('>'))
            && (last.len() == 1 || last[..last.len() - 1].ends_with([' ', ':', '-']))
        {
            block_indent = Some(indent);
        }
    }
    extra
}

fn parse_documents_raw(src: &str, extra: &[usize]) -> Result<Vec<Node>, (YamlError, usize)> {
    let conv = MarkConv::new(src, extra);
    let mut parser = Parser::new_from_str(src);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Node> = std::collections::HashMap::new();
    let mut doc: Option<Node> = None;
    loop {
        let (ev, marker) = parser.next_token().map_err(|e| {
            (
                YamlError {
                    message: e.info().to_string(),
                    mark: conv.conv(e.marker()),
                },
                e.marker().line().saturating_sub(1),
            )
        })?;
        let mark = conv.conv(&marker);
        let finished: Option<(Node, usize)> = match ev {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => None,
            Event::DocumentStart => {
                doc = None;
                None
            }
            Event::DocumentEnd => {
                docs.push(doc.take().unwrap_or(Node {
                    kind: Kind::Null,
                    mark,
                }));
                None
            }
            Event::Alias(id) => {
                let node = anchors.get(&id).cloned().ok_or_else(|| {
                    (
                        YamlError {
                            message: "unknown anchor".into(),
                            mark,
                        },
                        mark.line,
                    )
                })?;
                Some((Node { mark, ..node }, 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                let kind = match style {
                    TScalarStyle::Plain if tag.is_none() && is_null_plain(&text) => Kind::Null,
                    TScalarStyle::Plain => Kind::Scalar(text, Style::Plain),
                    TScalarStyle::SingleQuoted => Kind::Scalar(text, Style::SingleQuoted),
                    TScalarStyle::DoubleQuoted => Kind::Scalar(text, Style::DoubleQuoted),
                    TScalarStyle::Literal | TScalarStyle::Folded => {
                        Kind::Scalar(text, Style::Block)
                    }
                };
                Some((Node { kind, mark }, anchor))
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), mark, anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(Vec::new(), None, mark, anchor));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, m, anchor)) => Some((
                    Node {
                        kind: Kind::Seq(items),
                        mark: m,
                    },
                    anchor,
                )),
                _ => {
                    return Err((
                        YamlError {
                            message: "unbalanced sequence".into(),
                            mark,
                        },
                        mark.line,
                    ))
                }
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, _, m, anchor)) => {
                    let m = entries.first().map_or(m, |(k, _)| k.mark);
                    Some((
                        Node {
                            kind: Kind::Map(entries),
                            mark: m,
                        },
                        anchor,
                    ))
                }
                _ => {
                    return Err((
                        YamlError {
                            message: "unbalanced mapping".into(),
                            mark,
                        },
                        mark.line,
                    ))
                }
            },
        };
        if let Some((node, anchor)) = finished {
            if anchor != 0 {
                anchors.insert(anchor, node.clone());
            }
            match stack.last_mut() {
                Some(Frame::Seq(items, _, _)) => items.push(node),
                Some(Frame::Map(entries, pending, _, _)) => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                None => doc = Some(node),
            }
        }
    }
    Ok(docs)
}

/// Maps an offset in a scalar's decoded text back to the source, by
/// aligning decoded characters with source characters from the scalar's
/// start (quotes, escapes, indentation and folded line breaks are skipped
/// over). Falls back to the scalar's start when the alignment drifts.
pub fn scalar_offset_mark(src: &str, start: Mark, decoded: &str, decoded_offset: usize) -> Mark {
    let Some(region) = src.get(start.offset..) else {
        return start;
    };
    // An offset inside a multi-byte character (a parser error position
    // can land there) means that character.
    let mut target = decoded_offset.min(decoded.len());
    while !decoded.is_char_boundary(target) {
        target -= 1;
    }
    let mut src_iter = region.char_indices().peekable();
    let mut src_pos = 0usize;
    for (di, dc) in decoded.char_indices() {
        if di >= target {
            break;
        }
        // Find dc in the source, allowing a bounded skip.
        let mut skipped = 0usize;
        loop {
            let Some(&(si, sc)) = src_iter.peek() else {
                return start;
            };
            src_iter.next();
            let matched = sc == dc || (dc == ' ' && (sc == '\n' || sc == '\r'));
            if matched {
                src_pos = si + sc.len_utf8();
                break;
            }
            skipped += 1;
            if skipped > 256 {
                return start;
            }
        }
    }
    // Skip source characters that do not appear in the decoded text (the
    // indentation in front of the target character).
    if let Some(tc) = decoded[target..].chars().next() {
        let mut look = region[src_pos..].char_indices();
        let mut n = 0;
        for (i, c) in look.by_ref() {
            if c == tc {
                src_pos += i;
                break;
            }
            n += 1;
            if n > 256 {
                break;
            }
        }
    }
    offset_to_mark(src, start.offset + src_pos)
}

/// The mark (line, column) of a byte offset.
pub fn offset_to_mark(src: &str, offset: usize) -> Mark {
    let offset = offset.min(src.len());
    let before = &src.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = src
        .get(line_start..offset)
        .map_or(offset - line_start, |s| s.chars().count());
    Mark { offset, line, col }
}

#[cfg(test)]
mod tests {

    /// The naive conversion the cached one must equal: walk `col`
    /// characters from the line start.
    fn naive(src: &str, start: usize, col: usize) -> usize {
        src[start..]
            .char_indices()
            .nth(col)
            .map_or(src.len(), |(i, _)| start + i)
    }

    #[test]
    fn mark_conversion_matches_the_naive_walk_in_any_order() {
        let src = "ab: [x, y]\nné: [é, ü, 日本]\n\nlast é line";
        let conv = MarkConv::new(src, &[]);
        let mut cases = Vec::new();
        for (line, &start) in conv.line_starts.iter().enumerate() {
            for col in 0..30 {
                cases.push((line, start, col));
            }
        }
        // In order, reversed, and interleaved across lines.
        let mut order = cases.clone();
        order.extend(cases.iter().rev().copied());
        order.extend(cases.iter().step_by(7).copied());
        for (line, start, col) in order {
            assert_eq!(
                conv.char_offset(line, start, col),
                naive(src, start, col),
                "line {line} col {col}"
            );
        }
    }

    /// A list of n entries on one line was O(n²) to load: every marker
    /// walked the line from its start (100,000 entries took 50 s).
    #[test]
    fn long_flow_line_marks_are_linear() {
        let line: String = (0..200_000).map(|i| format!("é{i}, ")).collect();
        let src = format!("items: [{line}]\n");
        let conv = MarkConv::new(&src, &[]);
        let t = std::time::Instant::now();
        let mut col = 0;
        let mut last = 0;
        for (k, c) in src.chars().enumerate().take(src.chars().count() - 1) {
            if c == ',' {
                let off = conv.char_offset(0, 0, k);
                assert!(off > last || k == 0);
                assert_eq!(&src[off..off + 1], ",");
                last = off;
                col += 1;
            }
        }
        assert_eq!(col, 200_000);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }
    use super::*;

    #[test]
    fn scalars_keep_text_and_marks() {
        let src = "# c\n- rule: \"héllo\"\n  k:\n  n: 80\n  v: [1.10, 010, 0x10]\n";
        let docs = parse_documents(src).unwrap();
        assert_eq!(docs.len(), 1);
        let item = &docs[0].seq().unwrap()[0];
        assert_eq!(item.mark.line, 1);
        assert_eq!(item.mark.col, 2);
        assert_eq!(item.get("rule").unwrap().scalar(), Some("héllo"));
        assert!(item.get("k").unwrap().is_null());
        assert_eq!(item.get("n").unwrap().scalar(), Some("80"));
        let v: Vec<_> = item
            .get("v")
            .unwrap()
            .seq()
            .unwrap()
            .iter()
            .map(|n| n.scalar().unwrap())
            .collect();
        assert_eq!(v, ["1.10", "010", "0x10"]);
        let n = item.get("n").unwrap();
        assert_eq!(&src[n.mark.offset..n.mark.offset + 2], "80");
        let r = item.get("rule").unwrap();
        assert_eq!(&src[r.mark.offset..r.mark.offset + 1], "\"");
    }

    #[test]
    fn documents_aliases_and_errors() {
        let docs = parse_documents("- &a x\n- *a\n---\n---\n- y\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].seq().unwrap()[1].scalar(), Some("x"));
        assert!(docs[1].is_null());
        let e = parse_documents("- a\n b: [\n").unwrap_err();
        assert!(!e.message.is_empty());
    }

    #[test]
    fn flow_closer_after_quoted_scalar_at_mapping_indent() {
        let src = "- list: a\n  items: [\n    \"x\",\n    \"y\"\n  ]\n- list: b\n  items: []\n";
        let docs = parse_documents(src).unwrap();
        let items = docs[0].seq().unwrap();
        let v: Vec<_> = items[0]
            .get("items")
            .unwrap()
            .seq()
            .unwrap()
            .iter()
            .map(|n| n.scalar().unwrap())
            .collect();
        assert_eq!(v, ["x", "y"]);
        let b = &items[1];
        assert_eq!((b.mark.line, b.mark.col), (5, 2));
        assert_eq!(&src[b.mark.offset..b.mark.offset + 4], "list");
    }

    #[test]
    fn block_scalar_offsets_map_to_source_lines() {
        let src = "- macro: m\n  condition: >\n    proc.name = a and\n    fd.nme = b\n";
        let docs = parse_documents(src).unwrap();
        let c = docs[0].seq().unwrap()[0].get("condition").unwrap();
        let text = c.scalar().unwrap();
        let off = text.find("fd.nme").unwrap();
        let m = scalar_offset_mark(src, c.mark, text, off);
        assert_eq!((m.line, m.col), (3, 4));
        assert_eq!(&src[m.offset..m.offset + 6], "fd.nme");
    }
}
