//! UTF-8 validation of a text message piece by piece (RFC 6455 §8.1).

use super::Error;

/// Validates a byte stream given in pieces, failing in the piece where an
/// invalid sequence starts (as soon as its bytes so far cannot begin a
/// valid one), not at the end.
///
/// Between pieces it keeps at most the 3 bytes of an unfinished sequence,
/// so each byte is checked once (by `core::str::from_utf8`, which also
/// rejects overlong forms, surrogates and code points past U+10FFFF, and
/// stops short of the end only on a valid prefix of a sequence).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Utf8 {
    partial: [u8; 4],
    len: u8,
}

/// The length of the sequence a valid lead byte starts.
fn width(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

impl Utf8 {
    /// Checks the next piece.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Result<(), Error> {
        if self.len > 0 {
            let have = usize::from(self.len);
            let take = (width(self.partial[0]) - have).min(data.len());
            self.partial[have..have + take].copy_from_slice(&data[..take]);
            let now = have + take;
            match core::str::from_utf8(&self.partial[..now]) {
                Ok(_) => self.len = 0,
                // Still a valid prefix, and `data` is used up.
                Err(e) if e.error_len().is_none() => {
                    self.len = now as u8;
                    return Ok(());
                }
                Err(_) => return Err(Error::InvalidUtf8),
            }
            data = &data[take..];
        }
        match core::str::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                // A valid prefix of a sequence, at most 3 bytes, ends `data`.
                let tail = &data[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Error::InvalidUtf8),
        }
    }

    /// The message ended: an unfinished sequence is an error.
    pub(crate) fn finish(&mut self) -> Result<(), Error> {
        let ended_inside = self.len > 0;
        *self = Utf8::default();
        if ended_inside { Err(Error::InvalidUtf8) } else { Ok(()) }
    }
}
