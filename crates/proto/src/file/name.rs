//! File names: what a header may name, and what the receiver calls its
//! partial files.

use alloc::string::String;
use core::fmt;

use crate::text::{BadChar, check_name_chars};

/// The longest name, in bytes of UTF-8.
pub const MAX_NAME: usize = 255;

/// Why a name is not a plain file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("the name is empty")]
    Empty,
    /// Over [`MAX_NAME`] bytes.
    #[error("the name is {0} bytes long (at most 255)")]
    TooLong(usize),
    /// Not UTF-8.
    #[error("the name is not UTF-8")]
    NotUtf8,
    /// Holds `/` or `\`: a path, not a name.
    #[error("the name holds a path separator")]
    Separator,
    /// Holds NUL or another control character.
    #[error("the name holds a control character")]
    Control,
    /// Holds a character no name may hold (see
    /// [`check_name_chars`](crate::text::check_name_chars)): a bidirectional
    /// control, a line or paragraph separator, an invisible character, or
    /// whitespace at either end.
    #[error("the name holds {0}")]
    Hidden(BadChar),
    /// `.` or `..`.
    #[error("the name is . or ..")]
    Dots,
}

/// Checks that `name` is a plain file name: UTF-8, 1 to 255 bytes, no `/`,
/// `\`, NUL or other control character (C0, DEL, C1), not `.` or `..`,
/// and none of what no name may hold
/// ([`check_name_chars`](crate::text::check_name_chars), the rules chat
/// names follow too): no bidirectional control (`U+202E` makes
/// `invoice\u{202e}fdp.exe` show as `invoiceexe.pdf`), line separator or
/// invisible character, no whitespace at either end. Returns it as text.
///
/// ```
/// use sansnet_proto::file::{check_name, NameError};
///
/// assert_eq!(check_name(b"report.pdf"), Ok("report.pdf"));
/// assert_eq!(check_name(b"../x"), Err(NameError::Separator));
/// assert_eq!(check_name(b".."), Err(NameError::Dots));
/// assert_eq!(check_name(&[b'a'; 300]), Err(NameError::TooLong(300)));
/// assert!(matches!(check_name("a\u{202e}fdp.exe".as_bytes()), Err(NameError::Hidden(_))));
/// assert!(matches!(check_name(b"report.pdf "), Err(NameError::Hidden(_))));
/// ```
pub fn check_name(name: &[u8]) -> Result<&str, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong(name.len()));
    }
    let text = core::str::from_utf8(name).map_err(|_| NameError::NotUtf8)?;
    if text.contains(['/', '\\']) {
        return Err(NameError::Separator);
    }
    match check_name_chars(text) {
        Ok(()) => {}
        Err(BadChar::Control) => return Err(NameError::Control),
        Err(bad) => return Err(NameError::Hidden(bad)),
    }
    if text == "." || text == ".." {
        return Err(NameError::Dots);
    }
    Ok(text)
}

/// What the receiver calls its files for a transfer of `name` while it is
/// incomplete: `.NAME.part` (the data) and `.NAME.part.size` (the size the
/// sender announced, in decimal, so that only a transfer of the same name
/// **and size** resumes it).
///
/// Those are too long for most file systems (255 bytes) when NAME is over
/// 244 bytes; then NAME is cut (at a character boundary) and 16 hex digits
/// of its BLAKE3 hash are added, so different names keep different files:
/// `.NAMEPREFIX~0123456789abcdef.part`.
///
/// ```
/// use sansnet_proto::file::Stash;
///
/// let s = Stash::for_name("a.txt");
/// assert_eq!(s.part(), ".a.txt.part");
/// assert_eq!(s.size_note(), ".a.txt.part.size");
/// let long = "é".repeat(120); // 240 bytes: fits
/// assert_eq!(Stash::for_name(&long).part().len(), 246);
/// let longer = "x".repeat(255);
/// assert!(Stash::for_name(&longer).size_note().len() <= 255);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stash {
    stem: String,
}

impl Stash {
    /// The longest NAME kept whole.
    const KEEP: usize = MAX_NAME - ".".len() - ".part.size".len();

    /// The partial files of a transfer of `name`.
    pub fn for_name(name: &str) -> Stash {
        let mut stem = String::with_capacity(MAX_NAME);
        stem.push('.');
        if name.len() <= Self::KEEP {
            stem.push_str(name);
        } else {
            let room = Self::KEEP - 17; // `~` and 16 hex digits
            let mut cut = room;
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            stem.push_str(&name[..cut]);
            stem.push('~');
            let hash = blake3::hash(name.as_bytes());
            let hex = hash.to_hex();
            stem.push_str(&hex[..16]);
        }
        Stash { stem }
    }

    /// The partial data file: `.NAME.part`.
    pub fn part(&self) -> String {
        let mut s = self.stem.clone();
        s.push_str(".part");
        s
    }

    /// The size note beside it: `.NAME.part.size`.
    pub fn size_note(&self) -> String {
        let mut s = self.part();
        s.push_str(".size");
        s
    }
}

impl fmt::Display for Stash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.part", self.stem)
    }
}
