//! Compiled shell patterns for `glob`, `iglob` and `pmatch` components:
//! POSIX `fnmatch` with no flags (RULES.md §3.6).
//!
//! Semantics: `*` matches any sequence of bytes, `/` included; `?` one
//! byte; `[...]` a bracket expression (ranges, `!`/`^` negation, a leading
//! `]` taken literally, `[:class:]`, `[=c=]`, `[.c.]`, backslash escapes
//! inside); `\c` the byte `c`. A `[` without a closing `]` is an ordinary
//! byte. A trailing lone backslash makes the pattern match nothing (glibc
//! says "trailing \ loses"); so does an unknown `[:class:]`. A leading `.`
//! is not special. Matching is byte-wise (Falco runs in the C locale).
//! `iglob` is defined as `glob` on the ASCII-lowercased pattern and value.
//!
//! The pattern is parsed once into tokens. Common shapes get a cheaper
//! strategy than the general matcher: a literal is an equality test,
//! `lit*` a prefix test, `*lit` a suffix test, `*lit*` a memmem search.

use memchr::memmem;

/// A 256-bit byte set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ByteSet([u64; 4]);

impl ByteSet {
    fn empty() -> ByteSet {
        ByteSet([0; 4])
    }
    fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
    }
    fn insert_range(&mut self, lo: u8, hi: u8) {
        if lo <= hi {
            for b in lo..=hi {
                self.insert(b);
            }
        }
    }
    pub(crate) fn contains(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] & (1 << (b & 63)) != 0
    }
    fn negate(&mut self) {
        for w in &mut self.0 {
            *w = !*w;
        }
    }
}

/// The POSIX character classes, by name; `None` for an unknown name.
pub(crate) fn class_contains(name: &[u8], c: u8) -> Option<bool> {
    Some(match name {
        b"alpha" => c.is_ascii_alphabetic(),
        b"digit" => c.is_ascii_digit(),
        b"alnum" => c.is_ascii_alphanumeric(),
        b"upper" => c.is_ascii_uppercase(),
        b"lower" => c.is_ascii_lowercase(),
        b"space" => matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
        b"blank" => matches!(c, b' ' | b'\t'),
        b"punct" => c.is_ascii_punctuation(),
        b"print" => (0x20..0x7f).contains(&c),
        b"graph" => (0x21..0x7f).contains(&c),
        b"cntrl" => c < 0x20 || c == 0x7f,
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(Box<[u8]>),
    One,
    Star,
    Class(Box<ByteSet>),
}

/// How a compiled pattern is matched.
#[derive(Debug, Clone)]
enum Strategy {
    /// The pattern can never match (trailing backslash, bad class).
    Never,
    /// Whole-value equality.
    Exact(Box<[u8]>),
    /// `lit*`.
    Prefix(Box<[u8]>),
    /// `*lit`.
    Suffix(Box<[u8]>),
    /// `*lit*`.
    Contains(Box<memmem::Finder<'static>>),
    /// `*`: any value.
    Any,
    /// The general token matcher.
    General(Box<[Tok]>),
}

/// A compiled `glob`/`iglob` pattern.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    strategy: Strategy,
    fold: bool,
    /// The literal bytes every match starts with (before any wildcard),
    /// for the prefilter; empty when unknown.
    prefix: Box<[u8]>,
    /// The pattern as written.
    source: Box<[u8]>,
}

/// Parses a bracket expression whose `[` is at `p[start]`. Returns the set
/// and the index after the closing `]`, `Ok(None)` when there is no closing
/// `]` (the `[` is then literal), `Err(())` for an invalid class name.
#[allow(clippy::result_unit_err)]
fn parse_bracket(p: &[u8], start: usize) -> Result<Option<(ByteSet, usize)>, ()> {
    let mut j = start + 1;
    let mut set = ByteSet::empty();
    let neg = matches!(p.get(j), Some(b'!' | b'^'));
    if neg {
        j += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = p.get(j) else { return Ok(None) };
        if c == b']' && !first {
            j += 1;
            break;
        }
        first = false;
        if c == b'[' && matches!(p.get(j + 1), Some(b':' | b'=' | b'.')) {
            let kind = p[j + 1];
            let body = j + 2;
            let close =
                (body..p.len().saturating_sub(1)).find(|&k| p[k] == kind && p[k + 1] == b']');
            if let Some(k) = close {
                let name = &p[body..k];
                match kind {
                    b':' => {
                        for b in 0..=255u8 {
                            match class_contains(name, b) {
                                Some(true) => set.insert(b),
                                Some(false) => {}
                                None => return Err(()),
                            }
                        }
                    }
                    _ => {
                        if name.len() != 1 {
                            return Err(());
                        }
                        set.insert(name[0]);
                    }
                }
                j = k + 2;
                continue;
            }
            // No terminator: the `[` is an ordinary member.
        }
        let mut lo = c;
        j += 1;
        if c == b'\\' {
            let Some(&e) = p.get(j) else { return Ok(None) };
            lo = e;
            j += 1;
        }
        if p.get(j) == Some(&b'-') && p.get(j + 1).is_some_and(|&n| n != b']') {
            let mut hi = p[j + 1];
            j += 2;
            if hi == b'\\' {
                let Some(&e) = p.get(j) else { return Ok(None) };
                hi = e;
                j += 1;
            }
            set.insert_range(lo, hi);
        } else {
            set.insert(lo);
        }
    }
    if neg {
        set.negate();
    }
    Ok(Some((set, j)))
}

/// Tokenises a pattern; `None` when it can never match.
fn tokenize(p: &[u8]) -> Option<Vec<Tok>> {
    let mut toks: Vec<Tok> = Vec::new();
    let mut lit: Vec<u8> = Vec::new();
    let flush = |lit: &mut Vec<u8>, toks: &mut Vec<Tok>| {
        if !lit.is_empty() {
            toks.push(Tok::Lit(std::mem::take(lit).into()));
        }
    };
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' => {
                flush(&mut lit, &mut toks);
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star);
                }
                i += 1;
            }
            b'?' => {
                flush(&mut lit, &mut toks);
                toks.push(Tok::One);
                i += 1;
            }
            b'[' => match parse_bracket(p, i) {
                Err(()) => return None,
                Ok(Some((set, next))) => {
                    flush(&mut lit, &mut toks);
                    toks.push(Tok::Class(Box::new(set)));
                    i = next;
                }
                Ok(None) => {
                    lit.push(b'[');
                    i += 1;
                }
            },
            b'\\' => {
                let e = *p.get(i + 1)?;
                lit.push(e);
                i += 2;
            }
            c => {
                lit.push(c);
                i += 1;
            }
        }
    }
    flush(&mut lit, &mut toks);
    Some(toks)
}

impl Glob {
    /// Compiles `pattern`; `fold` for `iglob`.
    pub(crate) fn new(pattern: &[u8], fold: bool) -> Glob {
        let lowered;
        let p = if fold {
            lowered = pattern.to_ascii_lowercase();
            &lowered[..]
        } else {
            pattern
        };
        let Some(toks) = tokenize(p) else {
            return Glob {
                strategy: Strategy::Never,
                fold,
                prefix: Box::default(),
                source: pattern.into(),
            };
        };
        let prefix: Box<[u8]> = match toks.first() {
            Some(Tok::Lit(l)) if !fold => l.clone(),
            _ => Box::default(),
        };
        let strategy = match &toks[..] {
            [] => Strategy::Exact(Box::default()),
            [Tok::Lit(l)] => Strategy::Exact(l.clone()),
            [Tok::Star] => Strategy::Any,
            [Tok::Lit(l), Tok::Star] => Strategy::Prefix(l.clone()),
            [Tok::Star, Tok::Lit(l)] => Strategy::Suffix(l.clone()),
            [Tok::Star, Tok::Lit(l), Tok::Star] => {
                Strategy::Contains(Box::new(memmem::Finder::new(&l[..]).into_owned()))
            }
            _ => Strategy::General(toks.into()),
        };
        Glob {
            strategy,
            fold,
            prefix,
            source: pattern.into(),
        }
    }

    /// The pattern as written.
    pub(crate) fn source(&self) -> &[u8] {
        &self.source
    }

    /// A short name of the strategy, for debug logs.
    pub(crate) fn strategy_name(&self) -> &'static str {
        match self.strategy {
            Strategy::Never => "never",
            Strategy::Exact(_) => "exact",
            Strategy::Prefix(_) => "prefix",
            Strategy::Suffix(_) => "suffix",
            Strategy::Contains(_) => "memmem",
            Strategy::Any => "any",
            Strategy::General(_) => "general",
        }
    }

    /// The literal prefix every match starts with (empty if none known).
    pub(crate) fn literal_prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Whether the whole of `v` matches.
    pub(crate) fn is_match(&self, v: &[u8]) -> bool {
        if self.fold && v.iter().any(u8::is_ascii_uppercase) {
            return self.is_match_raw(&v.to_ascii_lowercase());
        }
        self.is_match_raw(v)
    }

    fn is_match_raw(&self, v: &[u8]) -> bool {
        match &self.strategy {
            Strategy::Never => false,
            Strategy::Exact(l) => v == &l[..],
            Strategy::Prefix(l) => v.starts_with(l),
            Strategy::Suffix(l) => v.ends_with(l),
            Strategy::Contains(f) => f.find(v).is_some(),
            Strategy::Any => true,
            Strategy::General(toks) => general_match(toks, v),
        }
    }
}

/// Greedy matching with backtracking to the most recent `*` only: when a
/// later `*` is reached, earlier ones never need to consume more, so the
/// search is O(pattern × value).
fn general_match(toks: &[Tok], s: &[u8]) -> bool {
    let (mut ti, mut si) = (0usize, 0usize);
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if let Some(t) = toks.get(ti) {
            let step = match t {
                Tok::Star => {
                    resume = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Tok::Lit(l) => s[si..].starts_with(l).then_some(l.len()),
                Tok::One => (si < s.len()).then_some(1),
                Tok::Class(set) => s.get(si).is_some_and(|&c| set.contains(c)).then_some(1),
            };
            if let Some(n) = step {
                si += n;
                ti += 1;
                continue;
            }
        } else if si == s.len() {
            return true;
        }
        match resume {
            Some((t, from)) if from < s.len() => {
                resume = Some((t, from + 1));
                ti = t;
                si = from + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str, v: &str) -> bool {
        Glob::new(p.as_bytes(), false).is_match(v.as_bytes())
    }

    #[test]
    fn star_crosses_slash() {
        assert!(g("/home/*/.ssh/*", "/home/a/b/.ssh/x"));
        assert!(g("*../*../*", "/a/../b/../c"));
        assert!(!g("*../*../*", "/a/../b/c"));
    }

    #[test]
    fn brackets() {
        assert!(g("[a-c]x", "bx"));
        assert!(!g("[a-c]x", "dx"));
        assert!(g("[!a-c]x", "dx"));
        assert!(g("[^a-c]x", "dx"));
        assert!(g("[]]", "]"));
        assert!(g("[!]]", "a"));
        assert!(g("[a-]", "-"));
        assert!(g("[[:digit:]]*", "7up"));
        assert!(!g("[[:digit:]]*", "up"));
        assert!(g("[", "["));
        assert!(g("a[b", "a[b"));
        assert!(g("[\\]]", "]"));
        assert!(!g("[[:nosuch:]]", "a"));
    }

    #[test]
    fn escapes_and_wildcards() {
        assert!(g("\\*", "*"));
        assert!(!g("\\*", "a"));
        assert!(!g("abc\\", "abc\\"));
        assert!(!g("abc\\", "abc"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "ac"));
        assert!(g(".bashrc", ".bashrc"));
        assert!(g("*", ""));
        assert!(g("", ""));
        assert!(!g("", "a"));
        assert!(g("a*b*c", "aXbYbZc"));
        assert!(!g("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn strategies() {
        assert_eq!(Glob::new(b"/etc/*", false).strategy_name(), "prefix");
        assert_eq!(Glob::new(b"*.pem", false).strategy_name(), "suffix");
        assert_eq!(Glob::new(b"*id_rsa*", false).strategy_name(), "memmem");
        assert_eq!(Glob::new(b"a\\*b", false).strategy_name(), "exact");
        assert_eq!(
            Glob::new(b"/home/*/.ssh/*", false).literal_prefix(),
            b"/home/"
        );
    }

    #[test]
    fn iglob_folds_case() {
        let p = Glob::new(b"*.PEM", true);
        assert!(p.is_match(b"/x/KEY.pem"));
        assert!(p.is_match(b"/x/key.PeM"));
        assert!(!Glob::new(b"*.PEM", false).is_match(b"key.pem"));
    }
}
