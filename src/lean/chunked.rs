//! Chunked message bodies (RFC 9112 7.1), followed byte by byte across the pieces they arrive
//! in. The lean path passes a chunked answer through unchanged and needs only its last byte
//! (`feed`), to keep the upstream connection and to end the client's answer there; the
//! gateway's own provider calls need its data (`decode`).

/// A chunk size over this many hex digits is refused: 15 keep the size within a `u64`.
const MAX_SIZE_DIGITS: u8 = 15;
/// A chunk extension or trailer line longer than this is refused.
const MAX_LINE: u32 = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk size's hex digits (`digits` so far).
    Size {
        size: u64,
        digits: u8,
    },
    /// After the size: an extension up to the line's CR.
    Extension {
        size: u64,
        len: u32,
    },
    /// The LF ending a size line.
    SizeLf {
        size: u64,
    },
    /// A chunk's data, this many bytes left.
    Data(u64),
    /// The CR, then the LF, after a chunk's data.
    DataCr,
    DataLf,
    /// A trailer line (`len` bytes so far; 0: the line is empty so far).
    Trailer {
        len: u32,
    },
    /// The LF ending a trailer line (`empty`: the line was empty, so the message ends).
    TrailerLf {
        empty: bool,
    },
}

/// The body is not valid chunked coding.
#[derive(Debug, PartialEq, Eq)]
pub struct BadChunk;

/// What one call of [`Scanner::decode`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The bytes of the piece read.
    pub used: usize,
    /// Where the data found lies in the piece (empty when there was none).
    pub data: std::ops::Range<usize>,
    /// The body ended at `used`.
    pub done: bool,
}

/// Follows a chunked body across the pieces it arrives in.
#[derive(Debug)]
pub struct Scanner {
    state: State,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::Size { size: 0, digits: 0 },
        }
    }
}

impl Scanner {
    /// Reads the next piece of the body: `Some(n)` when the body ends after its first `n`
    /// bytes, `None` when all of it belongs to the body and more is to come.
    pub fn feed(&mut self, piece: &[u8]) -> Result<Option<usize>, BadChunk> {
        let mut i = 0;
        while i < piece.len() {
            if let State::Data(left) = self.state {
                let take = left.min((piece.len() - i) as u64);
                i += take as usize;
                self.state = match left - take {
                    0 => State::DataCr,
                    rest => State::Data(rest),
                };
                continue;
            }
            let done = self.step(piece[i])?;
            i += 1;
            if done {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Decodes `piece` up to the end of its first run of chunk data, or of the body: what it
    /// used of `piece`, where that data lies in it, and whether the body ended there.
    pub fn decode(&mut self, piece: &[u8]) -> Result<Decoded, BadChunk> {
        let mut i = 0;
        while i < piece.len() {
            if let State::Data(left) = self.state {
                let take = left.min((piece.len() - i) as u64);
                self.state = match left - take {
                    0 => State::DataCr,
                    rest => State::Data(rest),
                };
                let data = i..i + take as usize;
                return Ok(Decoded {
                    used: data.end,
                    data,
                    done: false,
                });
            }
            let done = self.step(piece[i])?;
            i += 1;
            if done {
                return Ok(Decoded {
                    used: i,
                    data: i..i,
                    done: true,
                });
            }
        }
        Ok(Decoded {
            used: i,
            data: i..i,
            done: false,
        })
    }

    /// One byte outside a chunk's data; `true` when it was the body's last.
    fn step(&mut self, b: u8) -> Result<bool, BadChunk> {
        self.state = match (self.state, b) {
            (State::Size { size, digits }, _) if b.is_ascii_hexdigit() => {
                if digits >= MAX_SIZE_DIGITS {
                    return Err(BadChunk);
                }
                let digit = (b as char).to_digit(16).ok_or(BadChunk)? as u64;
                State::Size {
                    size: size << 4 | digit,
                    digits: digits + 1,
                }
            }
            (State::Size { digits: 0, .. }, _) => return Err(BadChunk),
            (State::Size { size, .. }, b';' | b' ' | b'\t') => State::Extension { size, len: 0 },
            (State::Size { size, .. }, b'\r') => State::SizeLf { size },
            (State::Extension { size, .. }, b'\r') => State::SizeLf { size },
            (State::Extension { size, len }, _) if len < MAX_LINE && b != b'\n' => {
                State::Extension { size, len: len + 1 }
            }
            (State::SizeLf { size: 0 }, b'\n') => State::Trailer { len: 0 },
            (State::SizeLf { size }, b'\n') => State::Data(size),
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { size: 0, digits: 0 },
            (State::Trailer { len }, b'\r') => State::TrailerLf { empty: len == 0 },
            (State::Trailer { len }, _) if len < MAX_LINE && b != b'\n' => {
                State::Trailer { len: len + 1 }
            }
            (State::TrailerLf { empty: true }, b'\n') => return Ok(true),
            (State::TrailerLf { empty: false }, b'\n') => State::Trailer { len: 0 },
            _ => return Err(BadChunk),
        };
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` in pieces of `step` bytes; the offset in `body` where it ended.
    fn end_of(body: &[u8], step: usize) -> Result<Option<usize>, BadChunk> {
        let mut s = Scanner::default();
        let mut at = 0;
        for piece in body.chunks(step) {
            if let Some(n) = s.feed(piece)? {
                return Ok(Some(at + n));
            }
            at += piece.len();
        }
        Ok(None)
    }

    #[test]
    fn the_end_is_found_whatever_the_pieces() {
        let body =
            b"5\r\nhello\r\n1a;name=v\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in 1..body.len() {
            assert_eq!(end_of(body, step), Ok(Some(body.len() - 4)), "step {step}");
        }
    }

    /// Decodes `body` in pieces of `step` bytes, as a reader whose buffer keeps what a call
    /// did not use: the data, and the bytes left after the body's end.
    fn decoded(body: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>), BadChunk> {
        let mut s = Scanner::default();
        let (mut data, mut buf, mut fed) = (Vec::new(), Vec::new(), 0);
        for piece in body.chunks(step) {
            buf.extend_from_slice(piece);
            fed += piece.len();
            while !buf.is_empty() {
                let d = s.decode(&buf)?;
                data.extend_from_slice(&buf[d.data]);
                buf.drain(..d.used);
                if d.done {
                    buf.extend_from_slice(&body[fed..]);
                    return Ok((data, buf));
                }
            }
        }
        Ok((data, b"unfinished".to_vec()))
    }

    #[test]
    fn the_data_is_decoded_whatever_the_pieces() {
        let body =
            b"5\r\nhello\r\n1a;name=v\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let want = b"helloabcdefghijklmnopqrstuvwxyz".to_vec();
        for step in 1..body.len() {
            assert_eq!(
                decoded(body, step),
                Ok((want.clone(), b"NEXT".to_vec())),
                "step {step}"
            );
        }
        assert_eq!(
            decoded(b"5\r\nhel", 3),
            Ok((b"hel".to_vec(), b"unfinished".to_vec()))
        );
        assert_eq!(decoded(b"5\r\nhelloX", 3), Err(BadChunk));
    }

    #[test]
    fn an_unfinished_body_asks_for_more() {
        assert_eq!(end_of(b"5\r\nhel", 2), Ok(None));
        assert_eq!(end_of(b"0\r\n\r", 1), Ok(None));
    }

    #[test]
    fn bad_codings_are_refused() {
        for bad in [
            &b"\r\n"[..],
            b"g\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX\r\n",
            b"1234567890abcdef0\r\n",
            b"0\r\n\n",
        ] {
            assert_eq!(
                end_of(bad, 1),
                Err(BadChunk),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_endless_extension_is_refused() {
        let mut body = b"5;".to_vec();
        body.extend(std::iter::repeat_n(b'a', MAX_LINE as usize + 1));
        assert_eq!(end_of(&body, 4096), Err(BadChunk));
    }
}
