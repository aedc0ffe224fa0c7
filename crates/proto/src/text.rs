//! Text from peers: the character rules every name follows (chat user names
//! and transferred file names alike), the key names are compared on, and
//! how to show peer text on a terminal.
//!
//! One place for the rules, so that the chat room and the file receiver
//! refuse the same characters:
//!
//! - [`check_name_chars`]: no control character (C0, DEL, C1), no
//!   bidirectional control (`U+202E` and the rest: text that reads
//!   backwards), no line or paragraph separator (`U+2028`, `U+2029`), no
//!   invisible character (the Default_Ignorable code points: zero-width
//!   space and joiners, word joiner, BOM, soft hyphen, Hangul fillers, tag
//!   characters...; variation selectors are allowed, they only pick a glyph
//!   of the character before them), and no whitespace at either end.
//! - [`name_keys`]: what names are compared on, so that names that look
//!   alike are one name: NFKC, then the confusable skeleton of UTS #39
//!   (`unicode-security`: Cyrillic `і` and Latin `i`, `0` and `O`...) with
//!   case folded before it and after it. `Victim`, `VICTIM` and `vіctim`
//!   (Cyrillic) all share a key with `victim`.
//! - [`escape`]: peer text made safe to print: control characters,
//!   bidirectional controls, separators and invisible characters are shown
//!   as escapes (`\n`, `\r`, `\t`, `\u{1b}`), so a message cannot clear the
//!   screen, set the window title, or start a line that looks like another
//!   event.
//!
//! ```
//! use sansnet_proto::text::{BadChar, check_name_chars, escape, name_keys};
//!
//! assert_eq!(check_name_chars("zoë 🎉"), Ok(()));
//! assert_eq!(check_name_chars("vic\u{200b}tim"), Err(BadChar::Invisible));
//! assert_eq!(check_name_chars("\u{202e}mitciv"), Err(BadChar::Bidi));
//! assert_eq!(check_name_chars("victim "), Err(BadChar::Edge));
//! assert_eq!(name_keys("Victim"), name_keys("victim"));
//! assert_eq!(name_keys("v\u{456}ctim"), name_keys("victim")); // Cyrillic і
//! assert_eq!(escape("hi\n* admin joined\u{1b}[2J").to_string(), r"hi\n* admin joined\u{1b}[2J");
//! ```

use alloc::string::String;
use core::fmt;

use unicode_normalization::UnicodeNormalization;

/// Why a name is refused: the first character class it breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadChar {
    /// A control character: C0 (`\n`, `\t`, ESC...), DEL or C1.
    #[error("a control character")]
    Control,
    /// A bidirectional control (`U+061C`, `U+200E`, `U+200F`,
    /// `U+202A`-`U+202E`, `U+2066`-`U+2069`).
    #[error("a bidirectional control character")]
    Bidi,
    /// A line or paragraph separator (`U+2028`, `U+2029`).
    #[error("a line or paragraph separator")]
    Separator,
    /// An invisible character (Default_Ignorable_Code_Point but for the
    /// variation selectors): zero-width space, joiners, BOM, soft hyphen...
    #[error("an invisible character")]
    Invisible,
    /// Whitespace at the start or the end.
    #[error("whitespace at the start or the end")]
    Edge,
}

/// Whether `c` is a bidirectional control (the Bidi_Control property).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `c` is a line or paragraph separator (`U+2028`, `U+2029`).
pub fn is_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Whether `c` is a variation selector (it picks a glyph for the character
/// before it: `❤️` is `U+2764 U+FE0F`).
fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{fe00}'..='\u{fe0f}' | '\u{e0100}'..='\u{e01ef}')
}

/// Whether `c` is invisible: a Default_Ignorable_Code_Point (Unicode's
/// DerivedCoreProperties; it includes the bidirectional controls) other
/// than a variation selector.
pub fn is_invisible(c: char) -> bool {
    !is_variation_selector(c)
        && matches!(c,
            '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}'..='\u{1160}' | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
            | '\u{ffa0}' | '\u{fff0}'..='\u{fff8}' | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
}

/// The class of `c` a name may not hold, if any (whitespace is checked at
/// the ends only, by [`check_name_chars`]).
fn bad_char(c: char) -> Option<BadChar> {
    if c.is_control() {
        Some(BadChar::Control)
    } else if is_bidi_control(c) {
        Some(BadChar::Bidi)
    } else if is_separator(c) {
        Some(BadChar::Separator)
    } else if is_invisible(c) {
        Some(BadChar::Invisible)
    } else {
        None
    }
}

/// Checks the characters of a name (see the [module](self) docs): no
/// control, bidirectional control, separator or invisible character, and
/// no whitespace at either end. Length and emptiness are the caller's.
///
/// # Errors
///
/// The class of the first offending character, in the order of the text.
pub fn check_name_chars(name: &str) -> Result<(), BadChar> {
    if let Some(bad) = name.chars().find_map(bad_char) {
        return Err(bad);
    }
    let edge = |c: Option<char>| c.is_some_and(char::is_whitespace);
    if edge(name.chars().next()) || edge(name.chars().next_back()) {
        return Err(BadChar::Edge);
    }
    Ok(())
}

/// The keys `name` is compared on: two names that share a key are the same
/// name. One key is the UTS #39 skeleton of the lowercased NFKC form, the
/// other the lowercased skeleton (each skeleton is lowercased and
/// skeletonised once more, so its case does not matter), since each catches
/// look-alikes the other misses: `VICTIM` needs the first (`I` is a
/// prototype of `l`), `Iohn` and `lohn` need the second. Both are equal for
/// most names.
///
/// ```
/// use sansnet_proto::text::name_keys;
///
/// let shared = |a: &str, b: &str| {
///     let (a, b) = (name_keys(a), name_keys(b));
///     a.iter().any(|k| b.contains(k))
/// };
/// assert!(shared("victim", "VICTIM"));
/// assert!(shared("paypal", "р\u{430}ypal")); // Cyrillic р and а
/// assert!(shared("Iohn", "lohn"));
/// assert!(!shared("alice", "bob"));
/// ```
pub fn name_keys(name: &str) -> [String; 2] {
    let nfkc: String = name.nfkc().collect();
    let lower_first: String = nfkc.chars().flat_map(char::to_lowercase).collect();
    let skeleton_first: String =
        unicode_security::skeleton(&nfkc).flat_map(char::to_lowercase).collect();
    [fold(&lower_first), fold(&skeleton_first)]
}

/// The skeleton of `s`, lowercased, skeletonised again (a lowercased
/// prototype may have a prototype of its own).
fn fold(s: &str) -> String {
    let once: String = unicode_security::skeleton(s).flat_map(char::to_lowercase).collect();
    unicode_security::skeleton(&once).collect()
}

/// Whether `c` is shown escaped by [`escape`]: a control, a bidirectional
/// control, a separator, or an invisible character other than the zero
/// width joiner and non-joiner (which hold emoji and some scripts
/// together).
pub fn is_hidden(c: char) -> bool {
    bad_char(c).is_some() && !matches!(c, '\u{200c}' | '\u{200d}')
}

/// `text` made safe to print on a terminal: see [`Escaped`].
pub fn escape(text: &str) -> Escaped<'_> {
    Escaped(text)
}

/// Peer text that displays without reaching the terminal's controls: each
/// character [`is_hidden`] is written as an escape (`\n`, `\r`, `\t`, else
/// `\u{XXXX}` in lowercase hex, as Rust writes it), the rest as is. The
/// result is one line with no control character in it.
///
/// ```
/// use sansnet_proto::text::escape;
///
/// assert_eq!(escape("a\r\nb\u{7}").to_string(), r"a\r\nb\u{7}");
/// assert_eq!(escape("\u{202e}txt.exe").to_string(), r"\u{202e}txt.exe");
/// assert_eq!(escape("zoë 🎉 {x} \\").to_string(), "zoë 🎉 {x} \\");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_hidden) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c => write!(f, "{}", c.escape_unicode())?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn shared(a: &str, b: &str) -> bool {
        let (a, b) = (name_keys(a), name_keys(b));
        a.iter().any(|k| b.contains(k))
    }

    #[test]
    fn the_issue_names() {
        // Look-alikes of a taken `victim`: one name.
        for alike in ["Victim", "VICTIM", "v\u{456}ctim", "\u{ff56}ictim", "victim\u{fe0f}"] {
            assert!(shared(alike, "victim"), "{alike:?}");
        }
        // Refused outright, whatever is taken.
        let refused = [
            ("vic\u{200b}tim", BadChar::Invisible),
            ("\u{202e}mitciv", BadChar::Bidi),
            ("victim ", BadChar::Edge),
            (" victim", BadChar::Edge),
            ("victim\u{a0}", BadChar::Edge),
            ("a\u{2028}b", BadChar::Separator),
            ("a\u{2029}b", BadChar::Separator),
            ("a\nb", BadChar::Control),
            ("\u{1b}[31mred", BadChar::Control),
            ("\u{85}", BadChar::Control),
            ("a\u{200d}b", BadChar::Invisible),
            ("\u{feff}bom", BadChar::Invisible),
            ("soft\u{ad}hyphen", BadChar::Invisible),
            ("\u{3164}", BadChar::Invisible),
            ("tag\u{e0041}", BadChar::Invisible),
            ("\u{2067}x", BadChar::Bidi),
        ];
        for (name, why) in refused {
            assert_eq!(check_name_chars(name), Err(why), "{name:?}");
        }
        for fine in ["victim", "zoë", "alice bob", "❤\u{fe0f}", "日本語", "a.b-c_d", "🎉"] {
            assert_eq!(check_name_chars(fine), Ok(()), "{fine:?}");
        }
        assert!(!shared("alice", "alicia"));
        assert!(!shared("bob", "rob"));
    }

    #[test]
    fn escaped_text_is_one_line_without_controls() {
        let evil = "\u{1b}[2J\u{7}\r\n* admin joined\u{2028}\u{202e}x\u{200b}\u{9b}\t";
        let shown = escape(evil).to_string();
        assert_eq!(shown, r"\u{1b}[2J\u{7}\r\n* admin joined\u{2028}\u{202e}x\u{200b}\u{9b}\t");
        assert!(!shown.chars().any(is_hidden));
        // Emoji sequences held by a joiner are left alone.
        assert_eq!(escape("👩\u{200d}💻").to_string(), "👩\u{200d}💻");
        assert_eq!(escape("").to_string(), "");
    }
}
