//! The request-line (RFC 9112 §3): `method SP request-target SP
//! HTTP-version CRLF`, after any empty lines (§2.2), scanned incrementally.

use super::super::chars;
use super::super::{Error, TargetForm, Version};
use super::{HeadParser, Phase, Span, scan_token, word};

impl HeadParser {
    /// The request-line, resumed at `self.phase`. One arm per phase: each
    /// runs the steps left in the line from there as a straight run (a
    /// whole line costs no dispatch between its steps); each step moves
    /// `self.pos`, and the phase once it completes. `Ok(false)`: out of
    /// bytes; `Ok(true)`: the line is complete and the phase is
    /// [`Phase::Fields`].
    #[inline(always)]
    pub(super) fn request_line(&mut self, b: &[u8]) -> Result<bool, Error> {
        Ok(match self.phase {
            Phase::Start | Phase::StartLf => {
                self.empty_lines(b)? && self.method(b)? && self.target(b)? && self.version(b)?
            }
            Phase::Method => self.method(b)? && self.target(b)? && self.version(b)?,
            Phase::Target => self.target(b)? && self.version(b)?,
            Phase::Version => self.version(b)?,
            Phase::Fields | Phase::Done => true,
        })
    }

    /// The request-line found whole at `self.pos` in its common shape, in
    /// one pass in locals: a method, SP, a target within `max_target` whose
    /// form fits the method, SP, `HTTP/1.1` or `HTTP/1.0`, CR LF. Then the
    /// state is as the steps would leave it and the phase is
    /// [`Phase::Fields`]. Anything else (out of bytes, an empty line, an
    /// error, another version) is `false` with nothing changed: the steps
    /// then judge the line from its start.
    #[inline(always)]
    pub(super) fn whole_request_line(&mut self, b: &[u8]) -> bool {
        let p = self.pos;
        let m = match word::<4>(b, p) {
            Some(w) if w == *b"GET " => p + 3,
            _ => scan_token(b, p),
        };
        if m == p || b.get(m) != Some(&b' ') {
            return false;
        }
        let t = m + 1;
        // Not capped at the limit: a target over it is judged by the steps.
        let e = chars::scan_target(b, t);
        if e == t || e - t > self.max_target || b.get(e) != Some(&b' ') {
            return false;
        }
        let version = match word::<10>(b, e + 1) {
            Some([v0, v1, v2, v3, v4, v5, v6, v7, b'\r', b'\n']) => {
                match u64::from_le_bytes([v0, v1, v2, v3, v4, v5, v6, v7]) {
                    HTTP_1_1 => Version::Http11,
                    HTTP_1_0 => Version::Http10,
                    _ => return false,
                }
            }
            _ => return false,
        };
        let (method, target) = (Span::new(p, m), Span::new(t, e));
        self.form = match (b[t], m - p) {
            // Any method but CONNECT (the one of seven bytes that matters).
            (b'/', len) if len != 7 => TargetForm::Origin,
            _ => match target_form(method.get(b), target.get(b)) {
                Ok(form) => form,
                Err(_) => return false,
            },
        };
        (self.method, self.target, self.version) = (method, target, version);
        self.pos = e + 11;
        self.phase = Phase::Fields;
        true
    }

    /// Empty lines before the request-line, ignored (RFC 9112 §2.2).
    #[inline(always)]
    fn empty_lines(&mut self, b: &[u8]) -> Result<bool, Error> {
        loop {
            let p = self.pos;
            let Some(&c) = b.get(p) else { return Ok(false) };
            match (self.phase, c) {
                (Phase::StartLf, b'\n') => self.phase = Phase::Start,
                (Phase::StartLf, _) => return Err(Error::BareCr),
                (_, b'\r') => self.phase = Phase::StartLf,
                _ => {
                    self.mark = p;
                    self.phase = Phase::Method;
                    return Ok(true);
                }
            }
            self.pos = p + 1;
        }
    }

    /// `method SP`.
    #[inline(always)]
    fn method(&mut self, b: &[u8]) -> Result<bool, Error> {
        // `GET ` by one word compare; any other method by the scan.
        let i = match b.get(self.pos..self.pos + 4) {
            Some(b"GET ") if self.pos == self.mark => self.pos + 3,
            _ => scan_token(b, self.pos),
        };
        self.pos = i;
        let Some(&c) = b.get(i) else { return Ok(false) };
        if c != b' ' || i == self.mark {
            return Err(match c {
                b'\n' => Error::BareLf,
                0 => Error::Nul,
                _ if i == self.mark => Error::BadMethod,
                _ => Error::BadRequestLine,
            });
        }
        self.method = Span::new(self.mark, i);
        self.pos = i + 1;
        self.mark = i + 1;
        self.phase = Phase::Target;
        Ok(true)
    }

    /// `request-target SP`, within `max_target`, its form checked against
    /// the method.
    #[inline(always)]
    fn target(&mut self, b: &[u8]) -> Result<bool, Error> {
        // Look at most one byte past the target limit.
        let cap = b.len().min(self.mark.saturating_add(self.max_target + 1));
        let i = chars::scan_target(&b[..cap], self.pos);
        self.pos = i;
        if i - self.mark > self.max_target {
            return Err(Error::TargetTooLong);
        }
        let Some(&c) = b.get(i) else { return Ok(false) };
        if c != b' ' || i == self.mark {
            return Err(match c {
                0 => Error::Nul,
                b'\n' => Error::BareLf,
                b' ' | b'\r' => Error::BadRequestLine,
                _ => Error::BadTarget,
            });
        }
        self.target = Span::new(self.mark, i);
        self.form = target_form(self.method.get(b), self.target.get(b))?;
        self.pos = i + 1;
        self.phase = Phase::Version;
        Ok(true)
    }

    /// `HTTP/d.d` CR LF, judged byte by byte as the bytes come, so a short
    /// or wrong version fails at its first wrong byte, whatever follows and
    /// however the input is split. `Ok(false)`: out of bytes.
    #[inline(always)]
    fn version(&mut self, b: &[u8]) -> Result<bool, Error> {
        let p = self.pos;
        // The common versions: one word compare and the line end.
        let common = match b.get(p..p + 10) {
            Some(&[v0, v1, v2, v3, v4, v5, v6, v7, b'\r', b'\n']) => {
                match u64::from_le_bytes([v0, v1, v2, v3, v4, v5, v6, v7]) {
                    HTTP_1_1 => Some(Version::Http11),
                    HTTP_1_0 => Some(Version::Http10),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(version) = common {
            self.version = version;
            self.pos = p + 10;
            self.phase = Phase::Fields;
            return Ok(true);
        }
        let v = &b[p..b.len().min(p + 10)];
        for (i, &c) in v.iter().enumerate().take(8) {
            let fits = match i {
                0..=4 => c == b"HTTP/"[i],
                6 => c == b'.',
                _ => c.is_ascii_digit(),
            };
            if !fits {
                return Err(match c {
                    0 => Error::Nul,
                    b'\n' => Error::BareLf,
                    _ => Error::BadVersion,
                });
            }
        }
        let Some(version) = v.get(..8) else { return Ok(false) };
        self.version = parse_version(version)?;
        match (v.get(8), v.get(9)) {
            (Some(b'\r'), Some(b'\n')) => {}
            (Some(b'\r'), Some(_)) => return Err(Error::BareCr),
            (Some(b'\n'), _) => return Err(Error::BareLf),
            (Some(b'\r') | None, _) => return Ok(false),
            (Some(_), _) => return Err(Error::BadVersion),
        }
        self.pos = p + 10;
        self.phase = Phase::Fields;
        Ok(true)
    }
}

const HTTP_1_1: u64 = u64::from_le_bytes(*b"HTTP/1.1");
const HTTP_1_0: u64 = u64::from_le_bytes(*b"HTTP/1.0");

fn parse_version(v: &[u8]) -> Result<Version, Error> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if *major == b'1' {
                Ok(Version::Http11)
            } else {
                Err(Error::VersionNotSupported)
            }
        }
        _ if v.contains(&0) => Err(Error::Nul),
        _ => Err(Error::BadVersion),
    }
}

fn target_form(method: &[u8], target: &[u8]) -> Result<TargetForm, Error> {
    let form = match target[0] {
        b'/' => TargetForm::Origin,
        b'*' if target.len() == 1 => TargetForm::Asterisk,
        _ if method == b"CONNECT" => TargetForm::Authority,
        _ => TargetForm::Absolute,
    };
    let ok = match form {
        TargetForm::Origin => method != b"CONNECT",
        TargetForm::Asterisk => method == b"OPTIONS",
        TargetForm::Authority => authority_ok(target),
        TargetForm::Absolute => scheme_len(target).is_some(),
    };
    if ok { Ok(form) } else { Err(Error::BadTarget) }
}

/// `scheme ":"` at the start of an absolute-URI: its length.
fn scheme_len(t: &[u8]) -> Option<usize> {
    let colon = t.iter().position(|&b| b == b':')?;
    let scheme = &t[..colon];
    let ok = scheme.first()?.is_ascii_alphabetic()
        && scheme.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    ok.then_some(colon)
}

/// authority-form: `host:port`, no path.
fn authority_ok(t: &[u8]) -> bool {
    let Some(colon) = t.iter().rposition(|&b| b == b':') else { return false };
    let port = &t[colon + 1..];
    colon > 0 && !port.is_empty() && port.iter().all(u8::is_ascii_digit) && chars::host_ok(t)
}
