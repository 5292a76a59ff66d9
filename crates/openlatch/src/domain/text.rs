//! Free text shown to people (names, labels, locations): no characters that
//! change how the text around them reads.
//!
//! A display name with U+202E (right-to-left override) shows in the audit
//! log and the admin UI reversed; zero-width characters make two names that
//! look equal differ. Such characters have no place in a name or a label.
//!
//! The same character tables give the `pattern` the OpenAPI document states
//! for each such field, so that the document and the check cannot drift.

use std::fmt::Write;

/// Characters refused in names and labels besides the C0/C1 controls.
pub(crate) const SPOOFING: &[(char, char)] = &[
    // Bidirectional controls: embeddings, overrides, isolates, marks.
    ('\u{061C}', '\u{061C}'),
    ('\u{200E}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2066}', '\u{2069}'),
    // Zero-width and invisible formatting characters.
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200D}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{FEFF}', '\u{FEFF}'),
    // Line and paragraph separators, interlinear annotation.
    ('\u{2028}', '\u{2029}'),
    ('\u{FFF9}', '\u{FFFB}'),
    // Blank fillers that render as nothing.
    ('\u{115F}', '\u{1160}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FFA0}', '\u{FFA0}'),
    // Tag characters (invisible, used to smuggle text).
    ('\u{E0000}', '\u{E007F}'),
];

/// Unicode's control characters (general category Cc), as `char::is_control`.
pub(crate) const CONTROLS: &[(char, char)] = &[('\u{0}', '\u{1F}'), ('\u{7F}', '\u{9F}')];

/// Unicode's White_Space characters, which `str::trim` removes at either end.
pub(crate) const WHITESPACE: &[(char, char)] = &[
    ('\u{9}', '\u{D}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{A0}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Whether `c` may appear in a name or a label.
pub fn is_allowed(c: char) -> bool {
    !c.is_control() && !in_ranges(SPOOFING, c)
}

/// The lengths (in characters, after trimming) a free-text field allows.
#[derive(Clone, Copy, Debug)]
pub struct TextField {
    pub min: usize,
    pub max: usize,
}

impl TextField {
    /// `min` is 0 (may be blank) or 1 (must not be): the only two the
    /// document's pattern is built for.
    pub const fn new(min: usize, max: usize) -> Self {
        assert!(min <= 1 && max >= 2);
        Self { min, max }
    }

    pub fn parse(self, raw: &str) -> Result<String, String> {
        parse_text(raw, self.min, self.max)
    }

    /// The ECMA-262 and Python `re` compatible pattern that matches exactly
    /// the inputs [`TextField::parse`] accepts: any surrounding whitespace,
    /// then `min..=max` allowed characters that neither start nor end with
    /// whitespace.
    pub fn pattern(self) -> String {
        let space = class("", &[WHITESPACE]);
        let allowed = class("^", &[CONTROLS, SPOOFING]);
        let edge = class("^", &[CONTROLS, SPOOFING, WHITESPACE]);
        let inner = format!("{edge}(?:{allowed}{{0,{}}}{edge})?", self.max - 2);
        let optional = if self.min == 0 { "?" } else { "" };
        format!("^{space}*(?:{inner}){optional}{space}*$")
    }
}

/// A character escape both ECMA-262 and Python `re` (and Rust's `regex`) read.
fn escape(out: &mut String, c: char) {
    let code = u32::from(c);
    // Infallible: writing to a String.
    let _ = if code <= 0xFFFF {
        write!(out, "\\u{code:04X}")
    } else {
        write!(out, "\\U{code:08X}")
    };
}

/// A character class of the ranges in `tables`; `negation` is `"^"` or `""`.
pub(crate) fn class(negation: &str, tables: &[&[(char, char)]]) -> String {
    let mut out = format!("[{negation}");
    for &(lo, hi) in tables.iter().flat_map(|t| t.iter()) {
        escape(&mut out, lo);
        if hi != lo {
            out.push('-');
            escape(&mut out, hi);
        }
    }
    out.push(']');
    out
}

/// Trims `raw` and checks its length (in characters) and its characters.
pub fn parse_text(raw: &str, min: usize, max: usize) -> Result<String, String> {
    let t = raw.trim();
    let len = t.chars().count();
    let length_ok = (min..=max).contains(&len);
    if !length_ok || !t.chars().all(is_allowed) {
        let length = if min == 0 {
            format!("at most {max} characters")
        } else {
            format!("{min} to {max} characters")
        };
        return Err(format!(
            "must be {length} without control, bidirectional-override or invisible characters"
        ));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoofing_characters_are_refused_and_ordinary_text_is_kept() {
        for bad in [
            "abc\u{202E}gnp.exe",
            "a\u{200B}dmin",
            "\u{2066}x\u{2069}",
            "x\u{FEFF}",
            "tag\u{E0041}",
            "line\u{2028}break",
            "nul\u{0}",
        ] {
            assert!(parse_text(bad, 1, 100).is_err(), "{bad:?}");
        }
        for good in [
            "Zoë Müller",
            "王小明",
            "Front door, ground floor",
            "🔑 blue tag",
        ] {
            assert_eq!(parse_text(good, 1, 100).as_deref(), Ok(good));
        }
        assert!(parse_text("  ", 1, 100).is_err());
        assert_eq!(parse_text("  ", 0, 100).as_deref(), Ok(""));
    }

    #[test]
    fn the_tables_are_unicodes_own() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            assert_eq!(in_ranges(WHITESPACE, c), c.is_whitespace(), "{c:?}");
            assert_eq!(in_ranges(CONTROLS, c), c.is_control(), "{c:?}");
        }
    }

    /// The document's pattern and the check agree on every character, at
    /// the edges and inside, and on the length bounds.
    #[test]
    fn the_pattern_accepts_exactly_what_parse_accepts() {
        for field in [TextField::new(1, 5), TextField::new(0, 5)] {
            let re = regex::Regex::new(&field.pattern()).expect("pattern compiles");
            let agree = |s: &str| {
                assert_eq!(re.is_match(s), field.parse(s).is_ok(), "{field:?} {s:?}");
            };
            for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
                agree(&c.to_string());
                agree(&format!("a{c}b"));
                agree(&format!(" {c}"));
                agree(&format!("ab{c} "));
            }
            for s in [
                "",
                " ",
                "\t\n",
                "abcde",
                " abcde\u{3000}",
                "abcdef",
                "a   b",
                " a    b ",
            ] {
                agree(s);
            }
        }
    }
}
