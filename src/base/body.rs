//! A body read piece by piece into one `Bytes`. Most bodies arrive in one piece: that piece is
//! kept as it came, and only a second one starts a buffer that both are copied into.

use bytes::{Bytes, BytesMut};

#[derive(Default)]
pub struct Gathered {
    /// The body while it is one piece; `rest` is empty then.
    piece: Option<Bytes>,
    rest: BytesMut,
}

impl Gathered {
    pub fn len(&self) -> usize {
        self.piece.as_ref().map_or(self.rest.len(), Bytes::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, chunk: Bytes) {
        match self.piece.take() {
            None if self.rest.is_empty() => self.piece = Some(chunk),
            held => {
                self.rest.extend_from_slice(&held.unwrap_or_default());
                self.rest.extend_from_slice(&chunk);
            }
        }
    }

    pub fn finish(self) -> Bytes {
        self.piece.unwrap_or_else(|| self.rest.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(pieces: &[&'static [u8]]) -> Gathered {
        let mut g = Gathered::default();
        for p in pieces {
            g.push(Bytes::from_static(p));
        }
        g
    }

    #[test]
    fn pieces_come_out_whole_and_in_order() {
        let cases: &[&[&[u8]]] = &[
            &[],
            &[b""],
            &[b"abc"],
            &[b"ab", b"c"],
            &[b"", b"a", b"", b"bc"],
        ];
        for pieces in cases {
            let g = gather(pieces);
            let whole = pieces.concat();
            assert_eq!(g.len(), whole.len());
            assert_eq!(g.finish(), whole);
        }
    }

    #[test]
    fn one_piece_is_not_copied() {
        let piece: &'static [u8] = b"the whole body";
        let whole = gather(&[piece]).finish();
        assert_eq!(whole.as_ptr(), piece.as_ptr());
    }
}
