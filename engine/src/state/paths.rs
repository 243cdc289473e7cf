//! Lexical path handling: joining a relative path to a directory and
//! normalising `.`, `..` and repeated slashes, without touching the file
//! system (the process's view of the file system is not ours: different
//! mount namespace, chroot, or a capture replayed elsewhere).

/// Normalises an absolute path: collapses `//`, drops `.`, resolves `..`
/// (never above `/`), removes a trailing slash. A relative input is
/// returned relative but normalised (leading `..` kept).
pub fn normalize(path: &[u8]) -> Vec<u8> {
    let absolute = path.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if parts.last().is_some_and(|p| *p != b"..") {
                    parts.pop();
                } else if !absolute {
                    parts.push(comp);
                }
            }
            _ => parts.push(comp),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    if absolute {
        out.push(b'/');
    }
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(p);
    }
    out
}

/// Whether `path` is absolute and already what [`normalize`] makes of it:
/// it starts with `/`, has no empty, `.` or `..` component and no trailing
/// slash (the root `/` itself is normal).
pub fn is_normal_absolute(path: &[u8]) -> bool {
    if path.first() != Some(&b'/') {
        return false;
    }
    if path.len() == 1 {
        return true;
    }
    if path.last() == Some(&b'/') {
        return false;
    }
    // Most paths have no "//" and no "/." at all: one word-at-a-time pass
    // says so (about a quarter of the instructions of a memchr per
    // component). A "/." may still be a name like ".bashrc": the exact
    // walk below decides.
    if !has_slash_then_dot_or_slash(path) {
        return true;
    }
    normal_components(path)
}

/// Whether some `/` in `path` is followed by `/` or `.`, eight bytes at a
/// time.
fn has_slash_then_dot_or_slash(path: &[u8]) -> bool {
    use crate::util::swar::{eq_mask, word_at};
    let hit = |w: u64| {
        let slash = eq_mask(w, b'/');
        // Byte i+1 is the next byte of byte i (little-endian words).
        (slash << 8) & (slash | eq_mask(w, b'.')) != 0
    };
    let n = path.len();
    if n < 8 {
        return path
            .windows(2)
            .any(|p| p[0] == b'/' && matches!(p[1], b'/' | b'.'));
    }
    // Words overlap by one byte, so every pair of neighbours lies inside
    // one word; the last word is the path's last eight bytes.
    let mut at = 0;
    loop {
        if hit(word_at(path, at.min(n - 8))) {
            return true;
        }
        if at + 8 >= n {
            return false;
        }
        at += 7;
    }
}

/// The exact component check of [`is_normal_absolute`] for an absolute
/// path without a trailing slash.
fn normal_components(path: &[u8]) -> bool {
    // Every component follows a '/': check the bytes after each one.
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'/', &path[i..]) {
        let at = i + off + 1;
        match path.get(at) {
            None | Some(b'/') => return false,
            Some(b'.') => match path.get(at + 1) {
                None | Some(b'/') => return false,
                Some(b'.') if matches!(path.get(at + 2), None | Some(b'/')) => return false,
                _ => {}
            },
            _ => {}
        }
        i = at;
    }
    true
}

/// Resolves `path` against the directory `base`: absolute paths are only
/// normalised; relative ones are joined to `base` first. `None` when the
/// path is relative and `base` is unknown (empty or itself relative).
pub fn resolve(base: &[u8], path: &[u8]) -> Option<Vec<u8>> {
    if path.first() == Some(&b'/') {
        return Some(normalize(path));
    }
    if base.first() != Some(&b'/') {
        return None;
    }
    let mut joined = Vec::with_capacity(base.len() + 1 + path.len());
    joined.extend_from_slice(base);
    joined.push(b'/');
    joined.extend_from_slice(path);
    Some(normalize(&joined))
}

/// Directory part of a normalised absolute file path (`/` for top-level
/// files).
pub fn dirname(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => b"/",
        Some(i) => &path[..i],
        None => b"",
    }
}

/// Component after the last `/`.
pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_absolute_paths_are_those_normalize_keeps() {
        let cases = [
            "/",
            "/etc",
            "/etc/shadow",
            "/a/b/c",
            "/a/.b",
            "/a/..b",
            "/a/b.",
            "/a/b..",
            "/...",
            "//",
            "/etc/",
            "/etc//shadow",
            "/etc/./shadow",
            "/etc/../shadow",
            "/.",
            "/..",
            "/a/.",
            "/a/..",
            "etc/shadow",
            "",
            "./x",
            "/a/./",
            "/.a/..",
        ];
        for c in cases {
            let b = c.as_bytes();
            let keeps = b.first() == Some(&b'/') && normalize(b) == b;
            assert_eq!(is_normal_absolute(b), keeps, "{c:?}");
        }
    }

    fn n(s: &str) -> String {
        String::from_utf8(normalize(s.as_bytes())).unwrap()
    }

    #[test]
    fn normalises() {
        assert_eq!(n("/etc//passwd"), "/etc/passwd");
        assert_eq!(n("/etc/./x/../passwd"), "/etc/passwd");
        assert_eq!(n("/../../etc"), "/etc");
        assert_eq!(n("/"), "/");
        assert_eq!(n("//"), "/");
        assert_eq!(n("/tmp/"), "/tmp");
        assert_eq!(n("a/../../b"), "../b");
    }

    proptest::proptest! {
        #[test]
        fn fast_normal_check_agrees_with_normalize(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["", ".", "..", "a", ".b", "c.", "..d", "etc", "x/"]),
                0..12,
            ),
            lead in proptest::bool::ANY,
        ) {
            let mut p = if lead { "/".to_string() } else { String::new() };
            p.push_str(&parts.join("/"));
            let b = p.as_bytes();
            let want = b.first() == Some(&b'/') && normalize(b) == b;
            proptest::prop_assert_eq!(is_normal_absolute(b), want, "{:?}", p);
        }
    }

    #[test]
    fn resolves_against_base() {
        let r = |b: &str, p: &str| {
            resolve(b.as_bytes(), p.as_bytes()).map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(
            r("/home/u", "../../etc/shadow").as_deref(),
            Some("/etc/shadow")
        );
        assert_eq!(r("/", "x").as_deref(), Some("/x"));
        assert_eq!(r("", "x"), None);
        assert_eq!(r("", "/abs//x").as_deref(), Some("/abs/x"));
        assert_eq!(dirname(b"/etc/passwd"), b"/etc");
        assert_eq!(dirname(b"/passwd"), b"/");
        assert_eq!(basename(b"/etc/passwd"), b"passwd");
    }
}
