//! The client's side of an LLM call: what the handler reads of the request and how it writes
//! the answer, on Pingora's path (its `Session`) or on the lean path (`proxy::lean::llm`).
//!
//! DESIGN: the LLM handler reads a request whole and writes its answer itself, so it needs of
//! the connection only its request line, one field, the body, and a way to write a head and
//! body pieces; both paths give exactly that, and the handler is written once over them.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

pub(crate) trait Downstream: Send {
    fn method(&self) -> &http::Method;
    fn path(&self) -> &str;
    /// Whether the request carries `anthropic-version` (see `client_format`).
    fn sends_anthropic_version(&self) -> bool;
    /// The client takes a chunked answer (HTTP/1.1; HTTP/1.0 reads to the close, HTTP/2
    /// frames the answer itself).
    fn chunked_answers(&self) -> bool;
    /// The next piece of the request's body; `None` at its end.
    async fn read_body(&mut self) -> pingora::Result<Option<Bytes>>;
    /// Reads and drops what is left of a refused body, so that its client reads the refusal;
    /// `false` when the connection cannot be reused after it.
    async fn drain_rest(&mut self) -> bool;
    /// The connection ends after this answer.
    fn end_connection(&mut self);
    async fn write_head(&mut self, head: ResponseHeader) -> pingora::Result<()>;
    /// A piece of the answer's body (`None`: no more), `end` when it is the last.
    async fn write_body(&mut self, body: Option<Bytes>, end: bool) -> pingora::Result<()>;
    /// Resolves when the client closes its connection (its request has been read whole).
    async fn gone(&mut self);
}

impl Downstream for Session {
    fn method(&self) -> &http::Method {
        &self.req_header().method
    }

    fn path(&self) -> &str {
        self.req_header().uri.path()
    }

    fn sends_anthropic_version(&self) -> bool {
        self.req_header()
            .headers
            .contains_key(super::ANTHROPIC_VERSION)
    }

    fn chunked_answers(&self) -> bool {
        self.req_header().version == http::Version::HTTP_11
    }

    async fn read_body(&mut self) -> pingora::Result<Option<Bytes>> {
        self.read_request_body().await
    }

    async fn drain_rest(&mut self) -> bool {
        crate::proxy::drain_rest(self).await
    }

    fn end_connection(&mut self) {
        self.set_keepalive(None);
    }

    async fn write_head(&mut self, head: ResponseHeader) -> pingora::Result<()> {
        self.write_response_header(Box::new(head), false).await
    }

    async fn write_body(&mut self, body: Option<Bytes>, end: bool) -> pingora::Result<()> {
        self.write_response_body(body, end).await
    }

    async fn gone(&mut self) {
        // The body is fully read, so any read result but pipelined bytes means the client left.
        if self
            .downstream_session
            .read_body_or_idle(true)
            .await
            .is_err()
        {
            return;
        }
        std::future::pending::<()>().await
    }
}
