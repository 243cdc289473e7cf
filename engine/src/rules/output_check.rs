//! Load-time validation of rule output formats (RULES.md §9.1), raising
//! `LOAD_ERR_COMPILE_OUTPUT`.
//!
//! INTEGRATION POINT: the output formatter (`crate::output::format`,
//! `OutputFormat::compile`) is being written separately. Until it exists
//! this module validates formats itself with the same rules (`%` tokens,
//! optional width, longest field prefix that resolves, transformers,
//! filter-only fields). Once `OutputFormat::compile` lands, `check` should
//! call it so that load-time and render-time parsing cannot disagree.

use crate::fields::{self, flag};

/// Why a format does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputError {
    /// Message (upstream wording where known).
    pub message: String,
    /// Unknown field: downgraded under `skip-if-unknown-filter`.
    pub unknown: bool,
}

fn field_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

/// The length of the longest prefix of `s` that is a resolvable field
/// (with optional `[arg]`), and the field text.
fn longest_field(s: &str) -> Option<(usize, String, u32)> {
    let b = s.as_bytes();
    let run = b.iter().take_while(|c| field_char(**c)).count();
    let mut cands: Vec<usize> = Vec::new();
    if b.get(run) == Some(&b'[') {
        if let Some(close) = s[run..].find(']') {
            cands.push(run + close + 1);
        }
    }
    cands.extend((1..=run).rev());
    for end in cands {
        let text = &s[..end];
        let (name, arg) = match text.find('[') {
            Some(i) if text.ends_with(']') => (&text[..i], Some(&text[i + 1..text.len() - 1])),
            _ => (text, None),
        };
        if let Ok(f) = fields::resolve(name, arg) {
            return Some((end, text.to_string(), f.def().flags));
        }
    }
    None
}

/// Validates `fmt`; returns the fields it uses.
pub fn check(fmt: &str) -> Result<Vec<String>, OutputError> {
    let b = fmt.as_bytes();
    let mut fields_used = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i >= b.len() {
            return Err(OutputError {
                message: "invalid formatting token: formatting cannot end with a %".into(),
                unknown: false,
            });
        }
        let rest = &fmt[i..];
        // Transformer: name(field)
        let tr = super::parser::TRANSFORMERS
            .iter()
            .find(|t| rest.starts_with(*t) && rest.as_bytes().get(t.len()) == Some(&b'('));
        if let Some(t) = tr {
            let inner_start = t.len() + 1;
            let Some(close) = rest[inner_start..].find(')') else {
                return Err(OutputError {
                    message: format!("invalid formatting token {rest}"),
                    unknown: true,
                });
            };
            let inner = rest[inner_start..inner_start + close].trim();
            match longest_field(inner) {
                Some((n, text, _)) if n == inner.len() => fields_used.push(text),
                _ => {
                    return Err(OutputError {
                        message: format!(
                            "invalid formatting token {}",
                            &rest[..inner_start + close + 1]
                        ),
                        unknown: true,
                    })
                }
            }
            i += inner_start + close + 1;
            continue;
        }
        match longest_field(rest) {
            Some((n, text, flags)) => {
                if flags & flag::FILTER_ONLY != 0 {
                    return Err(OutputError {
                        message: format!(
                            "'{text}' is filter only and cannot be used as a display field"
                        ),
                        unknown: false,
                    });
                }
                fields_used.push(text);
                i += n;
            }
            None => {
                let tok: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                return Err(OutputError {
                    message: format!("invalid formatting token %{tok}"),
                    unknown: true,
                });
            }
        }
    }
    Ok(fields_used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            check("a %proc.name, b=%fd.name) (%proc.aname[2]) %20user.name").unwrap(),
            ["proc.name", "fd.name", "proc.aname[2]", "user.name"]
        );
        assert!(check("x %").is_err());
        assert!(check("x %20").is_err());
        assert!(check("x %%").unwrap_err().unknown);
        assert!(check("x %nosuch.field").unwrap_err().unknown);
        let e = check("x %fd.ip").unwrap_err();
        assert!(!e.unknown && e.message.contains("filter only"));
        assert_eq!(check("%toupper(user.name)").unwrap(), ["user.name"]);
        assert_eq!(check("%evt.type.foo").unwrap(), ["evt.type"]);
    }
}
