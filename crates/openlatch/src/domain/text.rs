//! Free text shown to people (names, labels, locations): no characters that
//! change how the text around them reads.
//!
//! A display name with U+202E (right-to-left override) shows in the audit
//! log and the admin UI reversed; zero-width characters make two names that
//! look equal differ. Such characters have no place in a name or a label.

/// Characters refused in names and labels besides the C0/C1 controls.
fn is_spoofing(c: char) -> bool {
    matches!(
        c,
        // Bidirectional controls: embeddings, overrides, isolates, marks.
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        // Zero-width and invisible formatting characters.
        | '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
        // Line and paragraph separators, interlinear annotation.
        | '\u{2028}' | '\u{2029}' | '\u{FFF9}'..='\u{FFFB}'
        // Blank fillers that render as nothing.
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
        // Tag characters (invisible, used to smuggle text).
        | '\u{E0000}'..='\u{E007F}'
    )
}

/// Whether `c` may appear in a name or a label.
pub fn is_allowed(c: char) -> bool {
    !c.is_control() && !is_spoofing(c)
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
}
