//! What an HTTP/1 answer's head says about its body and its connection (RFC 9112 6.3), for
//! every reader of answers: the lean path's exchange, and the gateway's own calls to
//! providers.

use super::chunked::Scanner;
use super::head::digits;

/// How the answer's body is delimited (RFC 9112 6.3).
pub enum Framing {
    Empty,
    Length(u64),
    Chunked(Scanner),
    /// Until the upstream closes the connection.
    Close,
}

/// What an answer's fields say about its framing and its connection.
pub struct Fields {
    pub length: Option<u64>,
    /// A `Transfer-Encoding` is present; `chunked`: its last coding is chunked.
    pub coded: bool,
    pub chunked: bool,
    /// `Connection: close`.
    pub close: bool,
    /// `Connection` names other fields as hop-by-hop.
    pub names: bool,
}

impl Fields {
    /// The fields of an answer head; `None` when its lengths disagree or are not numbers.
    pub fn of(headers: &[httparse::Header<'_>]) -> Option<Fields> {
        let mut f = Fields {
            length: None,
            coded: false,
            chunked: false,
            close: false,
            names: false,
        };
        for h in headers {
            if h.name.eq_ignore_ascii_case("content-length") {
                // Repeated or listed lengths must all agree (RFC 9110 8.6).
                for part in h.value.split(|b| *b == b',') {
                    let n = digits(part.trim_ascii())?;
                    if f.length.is_some_and(|l| l != n) {
                        return None;
                    }
                    f.length = Some(n);
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                f.coded = true;
                let last = h.value.rsplit(|b| *b == b',').next().unwrap_or(b"");
                f.chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                for option in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                    if option.eq_ignore_ascii_case(b"close") {
                        f.close = true;
                    } else if !option.eq_ignore_ascii_case(b"keep-alive") && !option.is_empty() {
                        f.names = true;
                    }
                }
            }
        }
        Some(f)
    }
}

impl Fields {
    /// How the body of an answer with status `code` is delimited; `no_body`: the request was
    /// `HEAD`, so the answer has no body whatever its fields say.
    pub fn framing(&self, code: u16, no_body: bool) -> Framing {
        if code < 200 || no_body || code == 204 || code == 304 {
            Framing::Empty
        } else if self.coded {
            match self.chunked {
                true => Framing::Chunked(Scanner::default()),
                false => Framing::Close,
            }
        } else {
            self.length.map_or(Framing::Close, Framing::Length)
        }
    }

    /// Whether the connection can carry another request once this answer (HTTP/1.`version`)
    /// has been read by its `framing`.
    pub fn reusable(&self, version: u8, framing: &Framing) -> bool {
        // RFC 9112 6.3: a message with both codings and a length is suspect; its connection ends.
        let suspect = self.coded && self.length.is_some();
        version == 1 && !self.close && !matches!(framing, Framing::Close) && !suspect
    }
}
